#!/usr/bin/python3
"""test_cvat_ca_owner - cvat.ca_bundle is read with the store owner's
rights, never the daemon's.  A real second user (useradd here, userdel
whatever happens) owns the store; the daemon runs as root with
allow_other; the CVAT test server speaks HTTPS with a certificate made
here.  A CA file only root may read, set by root (who may read it when
setting it), fails every connection with EACCES and the reason in
cvat/status, whether root or the owner asks for the push, and CVAT gets
no task; the same file readable through a supplementary group of the
owner (from the group database) lets the push through, for root's and
the owner's requests alike."""
import errno
import os
import shutil
import ssl
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
import cvat_server  # noqa: E402
from fslib import (Mount, coco_store, eq, expect_errno, read,  # noqa
                   real_users, run_suite, write)
from cvatlib import cvat_env, push_as, wait_phase, write_coco  # noqa: E402
from test_cvat_tls import make_cert  # noqa: E402

PASSWORD = "ca-Secr3t-%d" % os.getpid()
USER = "cfs-ca-%d" % os.getpid()
GROUP = "cfs-cag-%d" % os.getpid()


def body(ck, w):
    import grp
    with real_users(USER, groups={USER: [GROUP]},
                    new_groups=[GROUP]) as (pw,):
        run_all(ck, w, pw, grp.getgrnam(GROUP).gr_gid)


def run_all(ck, w, pw, gid):
    os.chmod(w.path, 0o755)
    os.makedirs(w.sub("certs"))
    cert, key = make_cert(w.sub("certs"), "server")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    with cvat_server.CvatTestServer(password=PASSWORD, tls=ctx) as srv:
        checks(ck, w, srv, cert, pw, gid)


def checks(ck, w, srv, cert, pw, gid):
    data, names, store = coco_store(w, 3, 96, 64, write_coco)
    for dirpath, dirs, files in os.walk(store):
        for f in files + [""]:
            os.chown(os.path.join(dirpath, f), pw.pw_uid, pw.pw_gid)
    for p in [data] + [os.path.join(data, n) for n in names]:
        os.chown(p, pw.pw_uid, pw.pw_gid)
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
    push, cfg = os.path.join(mnt, "cvat", "push"), os.path.join(mnt, "config")
    size = [10]

    def fresh_client():
        # Other settings make the next connect build a new client, which
        # opens the CA file again.
        size[0] += 1
        write(cfg, "cvat.segment_size = %d\n" % size[0])

    def status_has(text):
        st = read(os.path.join(mnt, "cvat", "status")).decode()
        if text not in st:
            raise AssertionError("no %r in cvat/status:\n%s" % (text, st))

    def t_root_sets_root_only():
        # Root may read the file, so root may name it ...
        write(cfg, "cvat.ca_bundle = %s\n" % ca)
        if "ca_bundle = %s" % ca not in read(cfg).decode():
            raise AssertionError("cvat.ca_bundle was not set")
        # ... but the connection opens it as the owner, who may not.
        fresh_client()
        expect_errno(errno.EACCES, write, push, "samples r1\n")
        status_has("cvat.ca_bundle: %s: Permission denied" % ca)
        eq(len(srv.snapshot()["tasks"]), 0, "tasks in CVAT")
    ck.run("a root-only CA file set by root, push by root: EACCES (read "
           "with the owner's rights), no task", t_root_sets_root_only)

    def t_owner_pushes_root_only():
        fresh_client()
        eq(push_as(pw, push, "samples u1"), errno.EACCES, "errno of the push")
        status_has("cvat.ca_bundle: %s: Permission denied" % ca)
        eq(len(srv.snapshot()["tasks"]), 0, "tasks in CVAT")
    ck.run("the same file, push by the owner: EACCES, no task",
           t_owner_pushes_root_only)

    def t_group_readable():
        # Readable through a supplementary group of the owner only.
        os.chown(ca, 0, gid)
        os.chmod(ca, 0o640)
        fresh_client()
        write(push, "samples r2\n")
        wait_phase(mnt, "r2")
        fresh_client()
        eq(push_as(pw, push, "samples u2"), 0, "errno of the owner's push")
        wait_phase(mnt, "u2")
        eq(len(srv.snapshot()["tasks"]), 2, "tasks in CVAT")
    ck.run("the file readable through the owner's supplementary group: "
           "pushes by root and by the owner work", t_group_readable)

    def t_swapped_to_root_only():
        # The owner names its own file, then swaps it for a link to a
        # file only root may read: the next connect refuses it.
        own = w.sub("ca", "own.pem")
        shutil.copy(cert, own)
        os.chown(own, pw.pw_uid, pw.pw_gid)
        write(cfg, "cvat.ca_bundle = %s\n" % own)
        secret = w.sub("ca", "root.pem")
        shutil.copy(cert, secret)
        os.chmod(secret, 0o600)
        os.unlink(own)
        os.symlink(secret, own)
        fresh_client()
        eq(push_as(pw, push, "samples u3"), errno.EACCES, "errno of the push")
        status_has("cvat.ca_bundle: %s: Permission denied" % own)
    ck.run("a CA path swapped for a link to a root-only file: EACCES",
           t_swapped_to_root_only)
    m.umount()


if __name__ == "__main__":
    run_suite("cvat-ca-owner", body)
