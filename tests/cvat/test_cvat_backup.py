#!/usr/bin/python3
"""test_cvat_backup - a whole mount copies like any folder, before and
after a remount that forgot the CVAT token.

A run is pushed with a token written to `config` (memory only); while
logged in, every job's files are listed and read.  After a remount the
token is gone: every path the mount lists stats (os.walk + os.lstat), the
jobs list no file (theirs ask the server even for their size) while a
job file named directly still fails with EINVAL and the reason in
cvat/status, and `rsync -a` of the whole mount exits 0 twice, the second
time copying nothing (--itemize-changes prints no file): `status`,
`cvat/status` and the run's `info` and `labels.json` keep their mtime
while what they say does not change (status: but for its caches'
counters, which every read moves).  The same holds for cvat/ while
logged in.

Loopback HTTP to cvat_server.py (in this process)."""
import errno
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
import cvat_server  # noqa: E402
from cvatlib import (JOB_FILES, rsync, unstattable,  # noqa: E402
                     wait_phase)
from fslib import (Mount, curate, eq, expect_errno, make_jpegs,  # noqa: E402
                   read, run_suite, write)

TOKEN = "tok%dSecr3t" % os.getpid()


def no_cvat_env():
    """Our environment without any CVAT_* variable: the daemon knows the
    server and the token only from `config`."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CVAT_")}


def twice(ck, what, src, dst):
    """rsync src twice: both exit 0, the second copies nothing.  A first
    read of the whole mount (a copy elsewhere) computes its views, which
    status then shows, and takes the caches' counters, which status shows
    too, past their first digits: status really changes then."""
    def t():
        rc, files, out = rsync(src, dst + "-warm")
        eq(rc, 0, "warm-up rsync exit: " + out)
        rc, files, out = rsync(src, dst)
        eq(rc, 0, "first rsync exit: " + out)
        if not files:
            raise AssertionError("first rsync copied nothing: " + out)
        # rsync compares whole seconds: a time of "now" would differ.
        time.sleep(1.1)
        rc, files, out = rsync(src, dst)
        eq(rc, 0, "second rsync exit: " + out)
        eq(files, [], "files the second rsync copied")
    ck.run(what, t)


def body(ck, w):
    with cvat_server.CvatTestServer(password="admin-pw", token=TOKEN) as srv:
        run_checks(ck, w, srv)


def run_checks(ck, w, srv):
    data = w.sub("data")
    make_jpegs(data, 6, extra=["-W", "160", "-H", "120"])
    store = w.sub("store")
    curate("import", "--store", store, data)
    mnt = w.sub("mnt")
    C = os.path.join(mnt, "cvat")
    m = Mount(store, mnt, env=no_cvat_env()).start()
    write(os.path.join(mnt, "config"),
          "cvat.url = %s\ncvat.token = %s\ncvat.segment_size = 4\n"
          % (srv.url, TOKEN))
    jobs_dir = os.path.join(C, "runs", "b1", "jobs")

    def t_push():
        write(os.path.join(C, "push"), "samples b1 classes=cat\n")
        wait_phase(mnt, "b1", timeout=60)
        jobs = sorted(os.listdir(jobs_dir))
        eq(len(jobs), 2, "jobs of 4 frames")
        if "not logged in" in read(os.path.join(C, "status")).decode():
            raise AssertionError("cvat/status says not logged in")
        for j in jobs:
            eq(sorted(os.listdir(os.path.join(jobs_dir, j))), JOB_FILES,
               "files of job %s while logged in" % j)
            eq(read(os.path.join(jobs_dir, j, "stage")).decode(),
               "annotation\n", "stage of job %s" % j)
    ck.run("push with the token from config; the jobs' files list and read",
           t_push)
    twice(ck, "logged in: rsync -a of cvat/ twice, the second copies "
          "nothing", C, w.sub("copy-cvat"))
    m.umount()

    m = Mount(store, mnt, env=no_cvat_env()).start()

    def t_walk():
        eq(unstattable(mnt), [], "listed paths that do not stat")
        jobs = sorted(os.listdir(jobs_dir))
        eq(len(jobs), 2, "jobs still listed")
        for j in jobs:
            eq(os.listdir(os.path.join(jobs_dir, j)), [],
               "files of job %s without a token" % j)
        for f in JOB_FILES:
            expect_errno(errno.EINVAL, os.stat,
                         os.path.join(jobs_dir, jobs[0], f))
        st = read(os.path.join(C, "status")).decode()
        if "\nnot logged in: " not in st:
            raise AssertionError("cvat/status does not say so:\n" + st)
        if "no CVAT credentials configured" not in st:
            raise AssertionError("reason missing from cvat/status:\n" + st)
    ck.run("remounted without the token: every listed path stats; a job "
           "file named directly fails EINVAL with the reason", t_walk)

    def t_mtimes():
        for p in ("status", "cvat/status", "cvat/runs/b1/info",
                  "cvat/runs/b1/labels.json"):
            a = os.stat(os.path.join(mnt, p))
            b = os.stat(os.path.join(mnt, p))
            eq(b.st_mtime_ns, a.st_mtime_ns, "mtime of unchanged " + p)
            eq(b.st_size, a.st_size, "size of unchanged " + p)
    ck.run("status, cvat/status, info and labels.json keep their mtime "
           "while unchanged", t_mtimes)
    twice(ck, "rsync -a of the whole mount twice: both exit 0, the second "
          "copies nothing", mnt, w.sub("copy"))

    def t_change():
        # A change of what status says moves its mtime to a later second.
        before = os.stat(os.path.join(mnt, "status")).st_mtime_ns
        os.mkdir(os.path.join(mnt, "tags", "keep"))
        after = os.stat(os.path.join(mnt, "status")).st_mtime_ns
        if after // 10**9 <= before // 10**9:
            raise AssertionError("status mtime %d not after %d"
                                 % (after, before))
        rc, files, out = rsync(mnt, w.sub("copy"))
        eq(rc, 0, "rsync exit: " + out)
        if "status" not in [x.split(" ", 1)[1] for x in files]:
            raise AssertionError("status not copied again: " + out)
    ck.run("a change of status gives it a later mtime; rsync copies it",
           t_change)
    m.umount()


if __name__ == "__main__":
    run_suite("cvat-backup-", body)
