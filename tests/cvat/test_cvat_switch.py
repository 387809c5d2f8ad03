#!/usr/bin/python3
"""test_cvat_switch - a CVAT job's files never show what another server,
or another login, gave them.

A run of one job is pushed to server A and the job's four files are read.
Then `cvat.url` names server B, which refuses connections: the job's
folder lists no file and each file, named directly, fails with
ECONNREFUSED (curatefs before this showed A's bytes as B's); cvat/status
says B is unreachable with none of its bytes kept.  Named back while A
answers (within B's down period), the files are A's live values at once:
B being down does not make A look down, and cvat/status says no server
is down even before A is asked.  A is stopped: the files show what
A gave last, and status says A is unreachable with four kept.  A's state
served on another port (a working server at another URL) answers at once
too, within A's down period, with the same status.  Last, with that server stopped, another
`cvat.username` on the same URL shows nothing of admin's bytes.

Loopback HTTP to cvat_server.py (in this process)."""
import errno
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
import cvat_server  # noqa: E402
from cvatlib import (JOB_FILES, cvat_env, refusing_url,  # noqa: E402
                     wait_phase)
from fslib import (Mount, curate, eq, expect_errno, make_jpegs,  # noqa: E402
                   read, run_suite, write)

PASSWORD = "switch-Secr3t-%d" % os.getpid()


def body(ck, w):
    srv = cvat_server.CvatTestServer(password=PASSWORD).start()
    try:
        run_checks(ck, w, srv)
    finally:
        srv.stop()


def run_checks(ck, w, srv):
    data = w.sub("data")
    make_jpegs(data, 3, extra=["-W", "160", "-H", "120"])
    store = w.sub("store")
    curate("import", "--store", store, data)
    mnt = w.sub("mnt")
    C = os.path.join(mnt, "cvat")
    cfg = os.path.join(mnt, "config")
    m = Mount(store, mnt, env=cvat_env(srv, PASSWORD)).start()
    jobs_dir = os.path.join(C, "runs", "s1", "jobs")
    job = []
    a_bytes = {}

    def files():
        return {f: read(os.path.join(jobs_dir, job[0], f))
                for f in sorted(os.listdir(os.path.join(jobs_dir, job[0])))}

    def status():
        return read(os.path.join(C, "status")).decode()

    def not_down(when):
        st = status()
        if "server unreachable" in st:
            raise AssertionError("cvat/status %s names a server down:\n%s"
                                 % (when, st))

    def shows_nothing(what, err):
        eq(os.listdir(os.path.join(jobs_dir, job[0])), [],
           "files listed " + what)
        for f in JOB_FILES:
            p = os.path.join(jobs_dir, job[0], f)
            expect_errno(err, os.stat, p)
            expect_errno(err, read, p)

    def t_push():
        write(os.path.join(C, "push"), "samples s1 classes=cat\n")
        wait_phase(mnt, "s1", timeout=60)
        job.extend(os.listdir(jobs_dir))
        eq(len(job), 1, "jobs of the run")
        srv.set_job(job[0], assignee="admin", stage="validation")
        srv.open_issue(job[0], 0, [1, 2, 30, 40], "from server A")
        a_bytes.update(files())
        eq(sorted(a_bytes), JOB_FILES, "files of the job on A")
        eq(a_bytes["stage"], b"validation\n", "stage on A")
        if b"from server A" not in a_bytes["issues.txt"]:
            raise AssertionError("issues.txt: %r" % a_bytes["issues.txt"])
    ck.run("push to A; the job's four files read from A", t_push)

    def t_other_down():
        write(cfg, "cvat.url = %s\n" % refusing_url())
        shows_nothing("while B refuses", errno.ECONNREFUSED)
        st = status()
        if "\nserver unreachable since " not in st or \
                "ECONNREFUSED" not in st or "(0 kept)" not in st:
            raise AssertionError("cvat/status while B is down:\n" + st)
    ck.run("cvat.url at B, which refuses: no file listed, each fails "
           "ECONNREFUSED, none of A's bytes; status: B unreachable, 0 kept",
           t_other_down)

    def t_back_up():
        srv.set_job(job[0], stage="acceptance")
        write(cfg, "cvat.url = %s/\n" % srv.url)
        not_down("before A is asked")
        got = files()
        eq(got["stage"], b"acceptance\n", "stage asked of A at once")
        eq(sorted(got), JOB_FILES, "files of the job on A")
        a_bytes.update(got)
        not_down("after A answered")
    ck.run("back at A (spelt with a slash at the end) within B's down "
           "period: A is asked at once", t_back_up)

    def t_a_down():
        srv.stop()
        eq(files(), a_bytes, "A's files while A is down")
        st = status()
        if "ECONNREFUSED" not in st or "(4 kept)" not in st:
            raise AssertionError("cvat/status while A is down:\n" + st)
    ck.run("A stopped: the files show what A gave last; status: 4 kept",
           t_a_down)

    def t_other_up():
        srv.set_job(job[0], stage="annotation")
        srv.port = 0           # the same state, served at another URL
        srv.start()
        write(cfg, "cvat.url = %s\n" % srv.url)
        not_down("before B is asked")
        got = files()
        eq(got["stage"], b"annotation\n", "stage asked of B at once")
        eq(sorted(got), JOB_FILES, "files of the job on B")
        not_down("after B answered")
    ck.run("cvat.url at B, which answers, within A's down period: B is "
           "asked at once", t_other_up)

    def t_other_user():
        srv.add_user("bob", PASSWORD)
        srv.stop()
        write(cfg, "cvat.username = bob\n")
        shows_nothing("to another user", errno.ECONNREFUSED)
        write(cfg, "cvat.username = admin\n")
        eq(files()["stage"], b"annotation\n", "admin's stage, kept")
    ck.run("B stopped, cvat.username changed: none of admin's bytes; "
           "admin's again when named back", t_other_user)
    m.umount()


if __name__ == "__main__":
    run_suite("cvat-switch-", body)
