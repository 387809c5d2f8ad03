#!/usr/bin/python3
"""test_cvat_down - a whole mount copies, within a bounded time, while
the CVAT server it is configured for is down.

A run of two jobs is pushed; the files of the first job are read, those
of the second are not.  The server is stopped (connection refused): `ls
-lR` of the mount and `rsync -a` of it exit 0 within a bound, every
listed path stats, the first job's folder lists its four files with what
they showed before and the second lists none (named directly, its stage
fails with ECONNREFUSED); cvat/status says the server is unreachable and
why, and the daemon's log names ECONNREFUSED.  A second rsync copies
nothing: the kept bytes keep their time.  Then cvat.url names a server
that accepts connections and never answers: the copy still ends within
the bound of one request's timeout (curatefs before this waited up to
ten minutes for each file), status says ETIMEDOUT, and the job read
before lists no file (its bytes were the first server's).  Last, the
first server's state served at a new URL, the job's files read from it,
then 429 to every request: the same, with EAGAIN, and the job shows what
that URL gave.

Loopback HTTP to cvat_server.py (in this process)."""
import errno
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
import cvat_server  # noqa: E402
from cvatlib import (JOB_FILES, cvat_env, rsync, unstattable,  # noqa: E402
                     wait_phase)
from fslib import (Mount, curate, eq, expect_errno, make_jpegs,  # noqa: E402
                   read, run_suite, write)

PASSWORD = "down-Secr3t-%d" % os.getpid()
# A copy with the server refusing connections asks it once per 15 s at
# most and fails at once: seconds.  A stalled server costs one request's
# timeout (15 s) per period: the bound leaves room for two.
BOUND_REFUSED_S = 20
BOUND_STALLED_S = 50


def timed(argv, bound):
    """Runs argv; (exit code, seconds, output).  A run past twice the
    bound is killed: the check then fails on the time."""
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, capture_output=True, text=True,
                           timeout=2 * bound)
        rc, out = p.returncode, p.stdout[-2000:] + p.stderr[-2000:]
    except subprocess.TimeoutExpired:
        rc, out = "killed", "(still running after %d s)" % (2 * bound)
    return rc, time.monotonic() - t0, out


def bounded(what, argv, bound):
    rc, secs, out = timed(argv, bound)
    eq(rc, 0, "%s exit: %s" % (what, out))
    if secs > bound:
        raise AssertionError("%s took %.1f s (bound %d s)"
                             % (what, secs, bound))


def body(ck, w):
    srv = cvat_server.CvatTestServer(password=PASSWORD).start()
    try:
        run_checks(ck, w, srv)
    finally:
        srv.stop()


def run_checks(ck, w, srv):
    data = w.sub("data")
    make_jpegs(data, 6, extra=["-W", "160", "-H", "120"])
    store = w.sub("store")
    curate("import", "--store", store, data)
    mnt = w.sub("mnt")
    C = os.path.join(mnt, "cvat")
    m = Mount(store, mnt, env=cvat_env(srv, PASSWORD)).start()
    write(os.path.join(mnt, "config"), "cvat.segment_size = 4\n")
    jobs_dir = os.path.join(C, "runs", "d1", "jobs")
    jobs = []

    def t_push():
        write(os.path.join(C, "push"), "samples d1 classes=cat\n")
        wait_phase(mnt, "d1", timeout=60)
        jobs.extend(sorted(os.listdir(jobs_dir), key=int))
        eq(len(jobs), 2, "jobs of 4 frames")
        for f in JOB_FILES:
            read(os.path.join(jobs_dir, jobs[0], f))
        eq(read(os.path.join(jobs_dir, jobs[0], "stage")), b"annotation\n",
           "stage of the first job")
    ck.run("push; the first job's files are read, the second's are not",
           t_push)
    srv.stop()

    def t_refused():
        bounded("ls -lR of the mount", ["ls", "-lR", mnt], BOUND_REFUSED_S)
        eq(unstattable(mnt), [], "listed paths that do not stat")
        eq(sorted(os.listdir(os.path.join(jobs_dir, jobs[0]))), JOB_FILES,
           "files of the job read before")
        eq(read(os.path.join(jobs_dir, jobs[0], "stage")), b"annotation\n",
           "stage of the job read before, as it was")
        eq(os.listdir(os.path.join(jobs_dir, jobs[1])), [],
           "files of the job never read")
        expect_errno(errno.ECONNREFUSED, os.stat,
                     os.path.join(jobs_dir, jobs[1], "stage"))
        st = read(os.path.join(C, "status")).decode()
        if "\nserver unreachable since " not in st or \
                "ECONNREFUSED" not in st:
            raise AssertionError("cvat/status does not say why:\n" + st)
        if "server unreachable (ECONNREFUSED)" not in m.logtext():
            raise AssertionError("the log does not name the errno:\n"
                                 + m.logtext()[-3000:])
    ck.run("server stopped: ls -lR exits 0 in bounded time; the job read "
           "before shows its files, the other none; status and log say "
           "ECONNREFUSED", t_refused)

    def t_rsync():
        dst = w.sub("copy")
        bounded("rsync -a of the mount", ["rsync", "-a", mnt + "/",
                                          dst + "/"], BOUND_REFUSED_S)
        eq(read(os.path.join(dst, "cvat", "runs", "d1", "jobs", jobs[0],
                             "stage")), b"annotation\n", "copied stage")
        time.sleep(1.1)  # rsync compares whole seconds
        rc, files, out = rsync(os.path.join(mnt, "cvat"),
                               os.path.join(dst, "cvat"))
        eq(rc, 0, "second rsync of cvat/: " + out)
        eq(files, [], "files the second rsync of cvat/ copied")
    ck.run("server stopped: rsync -a of the mount exits 0 in bounded time; "
           "a second copy of cvat/ copies nothing", t_rsync)

    # Accepts connections (the kernel completes them) and never answers.
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(64)

    def t_stalled():
        write(os.path.join(mnt, "config"),
              "cvat.url = http://127.0.0.1:%d\n" % mute.getsockname()[1])
        bounded("ls -lR of the mount (server stalled)", ["ls", "-lR", mnt],
                BOUND_STALLED_S)
        bounded("rsync -a of the mount (server stalled)",
                ["rsync", "-a", mnt + "/", w.sub("copy2") + "/"],
                BOUND_STALLED_S)
        # What the job showed came from the first server: this one gave
        # nothing (test_cvat_switch.py).
        eq(os.listdir(os.path.join(jobs_dir, jobs[0])), [],
           "files of the job read from another server")
        st = read(os.path.join(C, "status")).decode()
        if "ETIMEDOUT" not in st:
            raise AssertionError("cvat/status does not say ETIMEDOUT:\n" + st)
    try:
        ck.run("a server that never answers: ls -lR and rsync -a end within "
               "one request's timeout; status says ETIMEDOUT", t_stalled)
    finally:
        mute.close()

    def t_busy():
        # The first server's state at a new URL: the job's files are read
        # from it, then it answers 429 to everything.
        srv.port = 0
        busy = srv.start()
        try:
            write(os.path.join(mnt, "config"), "cvat.url = %s\n" % busy.url)
            eq(read(os.path.join(jobs_dir, jobs[0], "stage")),
               b"annotation\n", "stage of the job from the new URL")
            busy.add_fault("throttle", times=-1)
            bounded("ls -lR of the mount (server answering 429)",
                    ["ls", "-lR", mnt], BOUND_REFUSED_S)
            eq(unstattable(mnt), [], "listed paths that do not stat")
            eq(read(os.path.join(jobs_dir, jobs[0], "stage")),
               b"annotation\n", "stage of the job read before")
            st = read(os.path.join(C, "status")).decode()
            if "EAGAIN" not in st:
                raise AssertionError("cvat/status does not say EAGAIN:\n"
                                     + st)
        finally:
            busy.stop()
    ck.run("a server answering 429 to everything: ls -lR exits 0 at once, "
           "the job read before shows its files; status says EAGAIN",
           t_busy)
    m.umount()


if __name__ == "__main__":
    run_suite("cvat-down-", body)
