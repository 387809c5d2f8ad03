#!/usr/bin/python3
"""fs suite, import commits (user guide, Commits): the content pass commits
every 512 files with new features, and otherwise about once a second, so
that a pass of small files that only hashes them does not commit (an
fdatasync of the store, through LMDB) every 512 files.

Commits are counted as the fdatasync calls on the store's data.mdb that
tests/fault/faultshim.c logs (LMDB makes one per commit: it writes its
meta page with O_DSYNC), in a second import of a folder the first one
read with --no-hash --no-features, so only the content pass writes:
  - hashes alone for N files: at most one commit per second the whole
    run took, plus the last one;
  - features for N files (and no hashes): at least ceil(N / 512)."""
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
from faultlib import fault_env, log_lines  # noqa: E402
from fslib import CURATE, curate, eq, make_jpegs, run_suite  # noqa: E402

N = 1600
CONTENT_BATCH = 512


def counted(w, name, store, data, *opts):
    """Runs `curate import opts` logging the store's fdatasyncs: (summary
    numbers (hashed, with new features), commits, seconds)."""
    d = w.sub(name)
    os.makedirs(d)
    log = os.path.join(d, "fsync.log")
    env = fault_env(op="fsync", path="data.mdb", skip=10 ** 9, log=log)
    t0 = time.monotonic()
    p = subprocess.run([CURATE, "import", "--store", store] + list(opts) +
                       [data], env=env, capture_output=True, text=True)
    secs = time.monotonic() - t0
    eq(p.returncode, 0, "exit status (stderr %r)" % p.stderr)
    m = re.search(r"(\d+) hashed, (\d+) with new features", p.stdout)
    if not m:
        raise AssertionError("no summary: %r" % p.stdout)
    done = tuple(int(x) for x in m.groups())
    return done, len(log_lines(log)), secs


def body(ck, w):
    data = w.sub("photos")
    make_jpegs(data, N, extra=["-W", "32", "-H", "32"])
    store = w.sub("store")
    curate("import", "--no-hash", "--no-features", "--store", store, data)

    def hashes_only():
        done, commits, secs = counted(w, "hash", store, data,
                                      "--no-features")
        eq(done, (N, 0), "hashed, featured")
        if commits < 1 or commits > 1 + int(secs):
            raise AssertionError("%d commits for %d hashes in %.2f s: at "
                                 "most one a second plus the last" %
                                 (commits, N, secs))
    ck.run("a content pass of hashes alone commits about once a second",
           hashes_only)

    def features():
        done, commits, secs = counted(w, "feat", store, data, "--no-hash")
        eq(done, (0, N), "hashed, featured")
        want = -(-N // CONTENT_BATCH)
        if commits < want:
            raise AssertionError("%d commits for %d feature records in "
                                 "%.2f s: want at least %d" %
                                 (commits, N, secs, want))
    ck.run("a content pass with features commits every 512 records",
           features)


run_suite("curatefs-batches-", body)
