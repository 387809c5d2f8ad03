#!/usr/bin/python3
"""test_cvat_errnos - every errno the user guide documents for cvat/
commands (§10), through a real mount, with the CVAT test server over
loopback HTTP: ENODATA (empty source), EEXIST (run name taken), EAGAIN
(pull before the push finished), EIDRM (task deleted in CVAT), EPERM
(HTTP 403), EPROTONOSUPPORT (server older than 2.16), ECONNRESET
(connection dropped), ETIMEDOUT (no answer in CVAT_TIMEOUT), ECONNREFUSED
(nothing listening), EHOSTUNREACH (host name that does not resolve) and
EPROTO (TLS to a server that does not speak it).  Each failing write
changes no labels and leaves its reason in cvat/status."""
import errno
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
import cvat_server  # noqa: E402
from cvatlib import (cvat_env, labels_all, refusing_url,  # noqa
                     wait_phase, write_coco)
from fslib import (Mount, coco_store, eq, expect_errno, read,  # noqa
                   run_suite, write)

PASSWORD = "errno-Secr3t-%d" % os.getpid()


def body(ck, w):
    with cvat_server.CvatTestServer(password=PASSWORD) as srv:
        checks(ck, w, srv)


def checks(ck, w, srv):
    # A store with a class (a push needs one) and a box per sample.
    data, names, store = coco_store(w, 6, 96, 64, write_coco)
    mnt = w.sub("mnt")
    env = cvat_env(srv, PASSWORD, CVAT_RETRIES="1", CVAT_TIMEOUT="2")
    m = Mount(store, mnt, env=env).start()
    C = os.path.join(mnt, "cvat")
    push, pull = os.path.join(C, "push"), os.path.join(C, "pull")
    os.mkdir(os.path.join(mnt, "tags", "empty"))
    os.mkdir(os.path.join(mnt, "tags", "one"))
    os.rename(os.path.join(mnt, "samples", names[0]),
              os.path.join(mnt, "tags", "one", names[0]))

    def failed_with(err, path, line, reason=None):
        """The write fails with err, the labels stay, and cvat/status
        has the failure."""
        before = labels_all(mnt)
        expect_errno(err, write, path, line)
        eq(labels_all(mnt), before, "labels after %s" %
           errno.errorcode[err])
        st = read(os.path.join(C, "status")).decode()
        if "FAILED" not in st or (reason and reason not in st):
            raise AssertionError("no failure %r in cvat/status:\n%s" % (
                reason, st))

    ck.run("push of an empty tag: ENODATA", failed_with, errno.ENODATA,
           push, "tags/empty e0\n")

    def t_push_ready():
        write(push, "samples p1\n")
        wait_phase(mnt, "p1")
        write(push, "samples p2\n")
        wait_phase(mnt, "p2")
    ck.run("two runs pushed", t_push_ready)

    def t_eexist():
        failed_with(errno.EEXIST, push, "tags/one p1\n")
        failed_with(errno.EEXIST, push, "samples p1\n")
    ck.run("push to a run name already pushed: EEXIST", t_eexist)

    def t_eagain():
        srv.configure(hold_requests=True)
        try:
            write(push, "samples h1\n")
            failed_with(errno.EAGAIN, pull, "h1\n")
        finally:
            srv.configure(hold_requests=False)
            srv.release_requests()
        wait_phase(mnt, "h1")
        write(pull, "h1\n")
    ck.run("pull of a run whose push has not finished: EAGAIN", t_eagain)

    def pull_under_fault(err, kind, **fault):
        """A pull of p2 while every annotations GET meets the fault."""
        fid = srv.add_fault(kind, method="GET", times=-1,
                            path=r"^/api/tasks/\d+/annotations$", **fault)
        try:
            failed_with(err, pull, "p2\n")
        finally:
            srv.remove_fault(fid)

    ck.run("the server refuses the operation (403): EPERM",
           lambda: pull_under_fault(errno.EPERM, "error", status=403))
    ck.run("the connection drops at every try: ECONNRESET",
           lambda: pull_under_fault(errno.ECONNRESET, "drop", rst=True))
    ck.run("no answer within CVAT_TIMEOUT: ETIMEDOUT",
           lambda: pull_under_fault(errno.ETIMEDOUT, "delay", seconds=6))

    def t_eidrm():
        info = read(os.path.join(C, "runs", "p1", "info")).decode()
        tid = [t for t in srv.snapshot()["tasks"]
               if "/tasks/%d" % t in info][0]
        srv.delete_task(tid)
        failed_with(errno.EIDRM, pull, "p1\n")
        st = read(os.path.join(C, "status")).decode()
        if "task deleted in CVAT" not in st:
            raise AssertionError("run not marked:\n" + st)
    ck.run("pull of a run whose task was deleted in CVAT: EIDRM, marked",
           t_eidrm)

    cfg = os.path.join(mnt, "config")
    port = srv.url.rsplit(":", 1)[1].strip("/")

    def with_url(url, err, run):
        write(cfg, "cvat.url = %s\n" % url)
        try:
            failed_with(err, push, "samples %s\n" % run)
        finally:
            write(cfg, "cvat.url = %s\n" % srv.url)
    ck.run("nothing listening: ECONNREFUSED", with_url,
           refusing_url(), errno.ECONNREFUSED, "n1")
    ck.run("a host name that does not resolve: EHOSTUNREACH", with_url,
           "http://no-such-host.invalid:8080", errno.EHOSTUNREACH, "n2")
    ck.run("TLS to a server without it: EPROTO", with_url,
           "https://127.0.0.1:%s" % port, errno.EPROTO, "n3")

    def t_old_server():
        old = cvat_server.CvatTestServer(password=PASSWORD).start()
        try:
            old.configure(version="2.15.0")
            with_url(old.url, errno.EPROTONOSUPPORT, "o1")
        finally:
            old.stop()
    ck.run("a server older than 2.16: EPROTONOSUPPORT", t_old_server)

    def t_not_cvat():
        # An HTTP server that answers 404 to everything.
        nf = cvat_server.CvatTestServer(password=PASSWORD).start()
        fid = nf.add_fault("error", status=404, path=r"^/api/", times=-1)
        try:
            with_url(nf.url, errno.EPROTONOSUPPORT, "o2")
        finally:
            nf.remove_fault(fid)
            nf.stop()
    ck.run("a server that is not CVAT: EPROTONOSUPPORT", t_not_cvat)

    def t_push_across_unmount():
        nonlocal m
        tasks0 = len(srv.snapshot()["tasks"])
        srv.configure(hold_requests=True)
        try:
            write(push, "samples u9\n")
            wait_phase(mnt, "u9", "processing")
            m.umount()           # the daemon exits 0 with the push pending
        finally:
            srv.configure(hold_requests=False)
            srv.release_requests()
        m = Mount(store, mnt, env=env).start()
        info = wait_phase(mnt, "u9")
        eq(len(srv.snapshot()["tasks"]), tasks0 + 1, "one task for the run")
        tid = [t for t in srv.snapshot()["tasks"]
               if "/tasks/%d" % t in info][0]
        eq(len(srv.task_images(tid)), len(names), "frames")
    ck.run("a push interrupted by an unmount continues at the next mount",
           t_push_across_unmount)

    def t_still_works():
        write(push, "samples z1\n")
        wait_phase(mnt, "z1")
        write(pull, "z1\n")
    ck.run("after every failure a push and a pull work", t_still_works)
    m.umount()


if __name__ == "__main__":
    run_suite("curatefs-cvat-errnos-", body)
