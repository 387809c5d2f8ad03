#!/usr/bin/python3
"""Counts the results of one `meson test` run honestly.

Usage: testlog_totals.py BUILDDIR MESON_RC

Reads BUILDDIR/meson-logs/testlog.json (one JSON object per test) and the list
of registered tests (`meson test --list`), and prints one line
"PASSED FAILED SKIPPED" for scripts/test.sh, with the reason for every failure
on stderr. A failure is counted for: each test that failed, timed out, errored
or passed unexpectedly; each registered test of the run's suites that has no
result in the log (it never ran); a missing or unreadable log; a non-zero exit
of `meson test` with no failed test to explain it; and, when CI=true, each
skipped test (exit 77), since in CI every dependency is installed and nothing
may skip.
"""
import json
import os
import subprocess
import sys

SUITES = ("unit", "store", "fs", "cvat", "export", "quality", "s3")


def main():
    build, rc = sys.argv[1], int(sys.argv[2])
    ci = os.environ.get("CI", "") == "true"
    passed = failed = skipped = 0
    why = []
    results = {}
    path = os.path.join(build, "meson-logs", "testlog.json")
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    t = json.loads(line)
                    results[t["name"]] = t["result"]
    except (OSError, ValueError, KeyError) as e:
        why.append(f"{path}: no usable test log ({e})")
        failed += 1
    for name, res in results.items():
        if res == "OK":
            passed += 1
        elif res in ("SKIP", "EXPECTEDFAIL"):
            skipped += 1
            if ci:
                failed += 1
                why.append(f"{name}: {res} in CI (CI=true): counted as failed")
        else:
            failed += 1
            why.append(f"{name}: {res}")
    listed = subprocess.run(["meson", "test", "-C", build, "--list"],
                            capture_output=True, text=True)
    if listed.returncode != 0:
        failed += 1
        why.append(f"meson test --list failed: {listed.stderr.strip()}")
    else:
        for name in listed.stdout.split("\n"):
            name = name.strip()
            suite = name.split(":", 1)[-1].split(" / ")[0].strip()
            if name and suite in SUITES and name not in results:
                failed += 1
                why.append(f"{name}: registered but did not run")
    if rc != 0 and failed == 0:
        failed += 1
        why.append(f"meson test exited {rc} with no failed test in its log")
    for w in why:
        print(f"test.sh: {build}: {w}", file=sys.stderr)
    print(passed, failed, skipped)


if __name__ == "__main__":
    main()
