#!/usr/bin/python3
"""test_cvat_tls - cvat.ca_bundle through a real mount, with the CVAT test
server speaking HTTPS over loopback with a self-signed certificate made
here (openssl).  The CA file is read once, from the descriptor that was
checked, and libcurl verifies the server with those bytes: a push works
with the right CA file and fails with EPROTO without it or with another
one; a CA path swapped after it was set (for a FIFO, a directory, an
empty file, a file over 4 MiB) fails the next push at once with the
reason in cvat/status, and nothing blocks on the FIFO; a connection
reset during a push reconnects with the bytes read at connect."""
import errno
import os
import shutil
import ssl
import stat
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
import cvat_server  # noqa: E402
from cvatlib import cvat_env, wait_phase, write_coco  # noqa: E402
from fslib import (Mount, coco_store, eq, expect_errno, read,  # noqa
                   run_suite, write)

PASSWORD = "tls-Secr3t-%d" % os.getpid()


def make_cert(d, name):
    """A self-signed certificate for 127.0.0.1: (cert path, key path)."""
    cert, key = os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out",
                    cert], check=True, capture_output=True)
    return cert, key


def body(ck, w):
    os.makedirs(w.sub("certs"))
    os.makedirs(w.sub("ca"))
    cert, key = make_cert(w.sub("certs"), "server")
    other, _ = make_cert(w.sub("certs"), "other")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    with cvat_server.CvatTestServer(password=PASSWORD, tls=ctx) as srv:
        checks(ck, w, srv, cert, other)


def checks(ck, w, srv, cert, other):
    data, names, store = coco_store(w, 3, 96, 64, write_coco)
    mnt = w.sub("mnt")
    env = cvat_env(srv, PASSWORD, CVAT_RETRIES="1", CVAT_TIMEOUT="20")
    env.pop("CVAT_CA_BUNDLE", None)
    m = Mount(store, mnt, env=env).start()
    C = os.path.join(mnt, "cvat")
    push, cfg = os.path.join(C, "push"), os.path.join(mnt, "config")
    ca = w.sub("ca", "ca.pem")

    def put_back():
        if os.path.isdir(ca) and not os.path.islink(ca):
            os.rmdir(ca)
        elif os.path.lexists(ca):
            os.unlink(ca)
        shutil.copy(cert, ca)

    def status_has(text):
        st = read(os.path.join(C, "status")).decode()
        if text not in st:
            raise AssertionError("no %r in cvat/status:\n%s" % (text, st))

    def t_no_ca():
        expect_errno(errno.EPROTO, write, push, "samples s0\n")
    ck.run("HTTPS without the server's CA: EPROTO", t_no_ca)

    def t_right_ca():
        shutil.copy(cert, ca)
        write(cfg, "cvat.ca_bundle = %s\n" % ca)
        write(push, "samples s1\n")
        wait_phase(mnt, "s1")
        eq(len(srv.snapshot()["tasks"]), 1, "tasks in CVAT")
    ck.run("HTTPS with cvat.ca_bundle naming the server's certificate: the "
           "push is ready", t_right_ca)

    def fresh_client(n):
        # Another setting: the next connect makes a new client (a kept
        # session is only reused with identical settings), which reads the
        # CA path again.
        write(cfg, "cvat.segment_size = %d\n" % n)

    def swapped(make, err, reason, run, n):
        """ca.pem, checked when it was set, is replaced by make(); the
        next push reads what the path names now, once, and refuses it."""
        os.unlink(ca)
        make()
        try:
            pushed_with(err, reason, run, n)
        finally:
            put_back()

    def pushed_with(err, reason, run, n):
        fresh_client(n)
        done = []

        def go():
            try:
                write(push, "samples %s\n" % run)
                done.append(0)
            except OSError as e:
                done.append(e.errno)
        t = threading.Thread(target=go, daemon=True)
        t.start()
        t.join(120)
        if t.is_alive():
            if stat.S_ISFIFO(os.lstat(ca).st_mode):
                # Unblock a reader of the FIFO so the test can end.
                os.close(os.open(ca, os.O_WRONLY | os.O_NONBLOCK))
            raise AssertionError("the push blocked on the swapped CA path")
        eq(done, [err], "errno of the push")
        status_has(reason)
    ck.run("CA path swapped for a FIFO: EINVAL, nothing blocks", swapped,
           lambda: os.mkfifo(ca), errno.EINVAL,
           "cvat.ca_bundle: %s: not a regular file" % ca, "f1", 1)
    ck.run("CA path swapped for a directory: EINVAL", swapped,
           lambda: os.mkdir(ca), errno.EINVAL,
           "cvat.ca_bundle: %s: not a regular file" % ca, "f2", 2)
    ck.run("CA path swapped for an empty file: EBADMSG", swapped,
           lambda: open(ca, "w").close(), errno.EBADMSG,
           "cvat.ca_bundle: %s: empty file" % ca, "f3", 3)

    def big():
        with open(ca, "wb") as f:
            f.truncate((4 << 20) + 1)
    ck.run("CA path swapped for a file over 4 MiB: EFBIG", swapped, big,
           errno.EFBIG, "cvat.ca_bundle: %s: File too large" % ca, "f5", 5)

    def t_swap_mid_push():
        # The path is checked and read when the push connects; it is then
        # swapped for another certificate while the push waits on CVAT,
        # and the connection is reset so that libcurl must make a new TLS
        # connection.  That handshake verifies with the bytes read at
        # connect, not with what the path names now: the push finishes.
        fresh_client(7)
        srv.configure(hold_requests=True)
        fid = None
        try:
            write(push, "samples m1\n")
            wait_phase(mnt, "m1", "processing")
            os.unlink(ca)
            os.symlink(other, ca)
            fid = srv.add_fault("drop", method="GET", rst=True,
                                path=r"^/api/requests/", times=1)
            deadline = time.monotonic() + 120
            while not [f for f in srv.list_faults()
                       if f["id"] == fid and f["fired"]]:
                if time.monotonic() > deadline:
                    raise AssertionError("the reset never happened")
                time.sleep(0.05)
        finally:
            srv.configure(hold_requests=False)
            srv.release_requests()
            if fid is not None:
                srv.remove_fault(fid)
        wait_phase(mnt, "m1")
        put_back()
    ck.run("CA path swapped during a push, connection reset: the new TLS "
           "connection verifies with the bytes read at connect", t_swap_mid_push)

    def t_other_ca():
        os.unlink(ca)
        os.symlink(other, ca)
        fresh_client(4)
        try:
            expect_errno(errno.EPROTO, write, push, "samples f4\n")
        finally:
            put_back()
    ck.run("CA path swapped for a link to another certificate: EPROTO (the "
           "bytes read verify the peer)", t_other_ca)

    def t_again():
        # A directory left by the EISDIR case must not linger.
        if os.path.isdir(ca):
            raise AssertionError("ca.pem is still a directory")
        write(push, "samples s2\n")
        wait_phase(mnt, "s2")
    ck.run("the right CA file back: a push works again", t_again)
    m.umount()


if __name__ == "__main__":
    run_suite("cvat-tls", body)
