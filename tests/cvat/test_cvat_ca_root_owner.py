#!/usr/bin/python3
"""test_cvat_ca_root_owner - cvat.ca_bundle of a store root owns is read
with root's rights whoever writes the push command.  The daemon runs as
root with allow_other on root's store; the CVAT test server speaks HTTPS
with a certificate made here and cvat.ca_bundle names a copy only root may
read.  Root opens cvat/pull and hands the descriptor to a real second user
(useradd here, userdel whatever happens), as a shell does with `exec
3>cvat/pull` before dropping to another user: the command then runs with
that user's identity (access.h), and the CA file, the owner's setting,
must still be opened with the owner's (root's) rights: the pull goes
through, where reading it as the writer fails with EACCES."""
import os
import shutil
import ssl
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
import cvat_server  # noqa: E402
from fslib import (Mount, coco_store, eq, read, real_users,  # noqa
                   run_suite, write)
from cvatlib import cvat_env, wait_phase, write_coco  # noqa: E402
from test_cvat_tls import make_cert  # noqa: E402

PASSWORD = "cr-Secr3t-%d" % os.getpid()
USER = "cfs-cr-%d" % os.getpid()

# Run as the other user: writes one command to the descriptor it was
# given, prints the errno (0 = ok).
WRITE_FD = r'''
import os, sys
try:
    os.write(int(sys.argv[1]), (sys.argv[2] + "\n").encode())
    print(0)
except OSError as e:
    print(e.errno)
'''


def write_as(pw, path, cmd):
    """Root opens path, the other user writes cmd through the descriptor
    (and closes its copy), root closes.  Returns the errnos of the
    write and of root's close (0 = ok)."""
    fd = os.open(path, os.O_WRONLY)
    closed = 0
    try:
        p = subprocess.run(["/usr/bin/python3", "-c", WRITE_FD, str(fd),
                            cmd],
                           user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
                           pass_fds=(fd,), capture_output=True, text=True,
                           timeout=180)
    finally:
        try:
            os.close(fd)
        except OSError as e:
            closed = e.errno
    if p.returncode != 0:
        raise AssertionError("write as %s failed: %s" % (pw.pw_name,
                                                         p.stderr))
    return int(p.stdout), closed


def body(ck, w):
    with real_users(USER) as (pw,):
        os.chmod(w.path, 0o755)
        os.makedirs(w.sub("certs"))
        cert, key = make_cert(w.sub("certs"), "server")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        with cvat_server.CvatTestServer(password=PASSWORD, tls=ctx) as srv:
            checks(ck, w, srv, cert, pw)


def checks(ck, w, srv, cert, pw):
    data, names, store = coco_store(w, 3, 96, 64, write_coco)
    mnt = w.sub("mnt")
    os.makedirs(mnt)
    os.chmod(mnt, 0o755)
    os.makedirs(w.sub("ca"), 0o755)
    ca = w.sub("ca", "ca.pem")
    shutil.copy(cert, ca)
    os.chmod(ca, 0o600)  # root's only
    env = cvat_env(srv, PASSWORD, CVAT_RETRIES="1", CVAT_TIMEOUT="20")
    env.pop("CVAT_CA_BUNDLE", None)
    m = Mount(store, mnt, ["-o", "allow_other"], env=env).start()
    push = os.path.join(mnt, "cvat", "push")
    write(os.path.join(mnt, "config"), "cvat.ca_bundle = %s\n" % ca)

    def t_root_pushes():
        write(push, "samples r1\n")
        wait_phase(mnt, "r1")
    ck.run("root's store, a root-only CA file: root's push works",
           t_root_pushes)

    def t_other_writer():
        # A pull connects on the thread that carries out the command; a
        # new setting makes it build a new client, which opens the CA
        # file again.
        write(os.path.join(mnt, "config"), "cvat.segment_size = 11\n")
        eq(write_as(pw, os.path.join(mnt, "cvat", "pull"), "r1"), (0, 0),
           "errnos of the pull's write and close")
        st = read(os.path.join(mnt, "cvat", "status")).decode()
        if "pull r1: " not in st or "Permission denied" in st:
            raise AssertionError("cvat/status:\n" + st)
    ck.run("a pull written by another user through root's descriptor: "
           "the CA file is still read with root's rights", t_other_writer)
    m.umount()


if __name__ == "__main__":
    run_suite("cvat-ca-root-owner", body)
