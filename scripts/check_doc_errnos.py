#!/usr/bin/python3
"""Every errno the user guide documents is exercised by a test.

Lists each errno name written in docs/USER-GUIDE.md (a word E... that
Python's errno module knows) with the test files that assert it, and exits
1 naming those no test asserts.  A test "asserts" an errno when a test
source (tests/**/*.py or *.c, the test servers, helpers and benchmarks
left out) mentions it as errno.NAME (Python) or -NAME (C, the project's
negative errno convention).  Run by meson as the test doc-errnos.
"""
import errno
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SKIP = ("tests/cvat/cvat_server.py", "tests/fs/fslib.py",
        "tests/fault/faultlib.py", "tests/export/xlib.py")


def documented():
    text = open(os.path.join(ROOT, "docs", "USER-GUIDE.md"),
                encoding="utf-8").read()
    names = set(re.findall(r"\bE[A-Z0-9]{2,}\b", text))
    return sorted(n for n in names if hasattr(errno, n))


def test_files():
    for d, _, files in os.walk(os.path.join(ROOT, "tests")):
        rel = os.path.relpath(d, ROOT)
        if rel.startswith(os.path.join("tests", "bench")):
            continue
        for f in files:
            p = os.path.join(rel, f)
            if f.endswith((".py", ".c")) and p not in SKIP:
                yield p


def main():
    names = documented()
    where = {n: [] for n in names}
    for p in sorted(test_files()):
        src = open(os.path.join(ROOT, p), encoding="utf-8",
                   errors="replace").read()
        for n in names:
            pat = (r"errno\.%s\b" if p.endswith(".py") else r"-%s\b") % n
            if re.search(pat, src):
                where[n].append(p)
    missing = [n for n in names if not where[n]]
    for n in names:
        print("%-16s %s" % (n, ", ".join(where[n]) or "NO TEST"))
    if missing:
        print("not ok - documented errnos no test asserts: " +
              ", ".join(missing))
        return 1
    print("ok - each of the %d documented errnos is asserted by a test" %
          len(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
