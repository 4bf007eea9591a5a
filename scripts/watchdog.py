#!/usr/bin/env python3
"""A per-test timeout for `cargo test` (libtest has none on stable).

Follows cargo's log as it is written. libtest notes a test that has run for a minute ("test X has
been running for over 60 seconds"); when such a test has still not finished LIMIT seconds after
it started, the test binary running it is stopped (SIGKILL), so one hung test costs LIMIT seconds,
not the whole CI budget. cargo then reports that binary as ended by a signal, which the summary of
scripts/test.sh counts and names; this script says which test it was.

Usage: watchdog.py LOG LIMIT_SECONDS CARGO_PID REPORT (each stop is a line in REPORT)
"""
import os
import re
import signal
import sys
import time

log_path, limit, cargo_pid, report = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
running_re = re.compile(r"^\s+Running (?:unittests )?\S+ \((\S+)\)")
slow_re = re.compile(r"^test (\S+) has been running for over (\d+) seconds")
done_re = re.compile(r"^test (\S+) \.\.\. ")


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def pids_of(binary):
    """Processes whose executable is `binary` (a test binary under target/)."""
    found = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                exe = os.readlink(f"/proc/{p}/exe")
            except OSError:
                continue
            if exe.endswith(binary):
                found.append(int(p))
    return found


binary = None
slow = {}  # test name -> (binary, when it started)
position = 0
while alive(cargo_pid):
    try:
        with open(log_path, "r", errors="replace") as f:
            f.seek(position)
            chunk = f.read()
            position = f.tell()
    except OSError:
        chunk = ""
    for line in chunk.splitlines():
        if m := running_re.match(line):
            binary = m.group(1)
            slow.clear()
        elif m := slow_re.match(line):
            slow[m.group(1)] = (binary, time.time() - int(m.group(2)))
        elif m := done_re.match(line):
            slow.pop(m.group(1), None)
    for test, (bin_, started) in list(slow.items()):
        if bin_ and time.time() - started > limit:
            for pid in pids_of(bin_):
                os.kill(pid, signal.SIGKILL)
            print(
                f"watchdog: test {test} ran over {limit} s; its binary {bin_} was stopped",
                file=sys.stderr,
                flush=True,
            )
            with open(report, "a") as f:
                f.write(f"timed out: {test} ran over {limit} s; its binary {bin_} was stopped\n")
            slow.clear()
    time.sleep(2)
