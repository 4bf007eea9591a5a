#!/usr/bin/env python3
"""Compares `berth render` with helm's expected output for the cases of a chart corpus.

usage: chart-compare.py BERTH CORPUS [CASE...]
Prints one line per case (ok / FAIL with the first differences) and exits 1 if any failed.
Objects are compared as sets keyed by (apiVersion, kind, namespace, name); fields named in
nondeterministic.txt only need to be present. A case with expected.txt must fail.
"""
import fnmatch, os, re, shlex, subprocess, sys, yaml


def docs(text):
    return [d for d in yaml.safe_load_all(text) if d is not None]


def key(o):
    m = o.get("metadata") or {}
    return (o.get("apiVersion"), o.get("kind"), m.get("namespace"), m.get("name"))


def norm(v):
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    return v


def parse_path(p):
    parts = []
    for m in re.finditer(r'\.([^.\[]+)|\["([^"]+)"\]', p):
        parts.append(m.group(1) or m.group(2))
    return parts


def blank(obj, path):
    cur = obj
    for p in path[:-1]:
        if not isinstance(cur, dict) or p not in cur:
            return False
        cur = cur[p]
    if isinstance(cur, dict) and path[-1] in cur:
        cur[path[-1]] = "<any>"
        return True
    return False


def diff(a, b, path=""):
    if type(a) != type(b):
        return [f"{path}: {a!r} != {b!r}"]
    if isinstance(a, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a:
                out.append(f"{path}.{k}: missing in berth")
            elif k not in b:
                out.append(f"{path}.{k}: extra in berth")
            else:
                out += diff(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: list length {len(a)} != {len(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff(x, y, f"{path}[{i}]")
        return out
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def run_case(berth, case):
    args = shlex.split(open(os.path.join(case, "args.txt")).read().strip())
    assert args[:2] == ["helm", "template"]
    rel, chart, rest = args[2], args[3], args[4:]
    cmd = [berth, "render", chart, "--release", rel] + rest
    p = subprocess.run(cmd, cwd=case, capture_output=True, text=True)
    if os.path.exists(os.path.join(case, "expected.txt")):
        if p.returncode == 0:
            return ["helm fails here, berth succeeded"]
        return []
    if p.returncode != 0:
        return ["berth failed: " + p.stderr.strip()[:1500]]
    got = docs(p.stdout)
    want = docs(open(os.path.join(case, "expected.yaml")).read())
    nd = []
    ndf = os.path.join(case, "nondeterministic.txt")
    if os.path.exists(ndf):
        for line in open(ndf):
            parts = line.split(None, 4)
            if len(parts) == 5:
                nd.append(parts)
    problems = []
    gk = {key(o): o for o in got}
    wk = {key(o): o for o in want}
    def match_nd(o):
        k = key(o)
        for api, kind, ns, name, field in nd:
            if api == k[0] and kind == k[1] and (ns == "-" or ns == k[2]) and fnmatch.fnmatchcase(k[3] or "", name):
                if not blank(o, parse_path(field.strip())):
                    problems.append(f"{k}: {field.strip()} missing")
    for o in got + want:
        match_nd(o)
    gk = {}
    for o in got:
        k = key(o)
        if any(fnmatch.fnmatchcase(k[3] or "", n) and n != k[3] for _, kd, _, n, _ in nd if kd == k[1]):
            k = (k[0], k[1], k[2], "<random>")
        gk.setdefault(k, []).append(o)
    wk = {}
    for o in want:
        k = key(o)
        if any(fnmatch.fnmatchcase(k[3] or "", n) and n != k[3] for _, kd, _, n, _ in nd if kd == k[1]):
            k = (k[0], k[1], k[2], "<random>")
        wk.setdefault(k, []).append(o)
    for k in sorted(set(gk) | set(wk), key=str):
        if k not in gk:
            problems.append(f"missing {k}")
        elif k not in wk:
            problems.append(f"extra {k}")
        elif len(gk[k]) != len(wk[k]):
            problems.append(f"{k}: {len(gk[k])} objects, helm has {len(wk[k])}")
        else:
            for g, w in zip(sorted(gk[k], key=repr), sorted(wk[k], key=repr)):
                problems += [f"{k}{d}" for d in diff(norm(g), norm(w))]
    return problems


def main():
    berth, corpus = sys.argv[1], sys.argv[2]
    cases = sys.argv[3:] or sorted(d for d in os.listdir(corpus) if os.path.isfile(os.path.join(corpus, d, "args.txt")))
    failed = 0
    for c in cases:
        problems = run_case(os.path.abspath(berth), os.path.join(corpus, c))
        if problems:
            failed += 1
            print(f"FAIL {c}")
            for p in problems[:8]:
                print("    " + p)
        else:
            print(f"ok   {c}")
    print(f"{len(cases) - failed} of {len(cases)} cases match helm")
    sys.exit(1 if failed else 0)


main()
