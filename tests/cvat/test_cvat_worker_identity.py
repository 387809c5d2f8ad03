#!/usr/bin/python3
"""test_cvat_worker_identity - the daemon's push thread works with the
daemon's own file-system identity, whoever asked for the push that started
it.  A real second user (useradd here, userdel whatever happens) owns the
store; the daemon runs as root with allow_other.  The owner's push command
is carried out with the owner's fsuid and groups on the FUSE worker thread
(access.h), and the push thread is started from there: it must not keep
the owner's identity for every later push (root's included).  After the
owner's push and after root's, every thread of the daemon has the
daemon's fsuid, fsgid and supplementary groups again."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
import cvat_server  # noqa: E402
from fslib import (Mount, coco_store, eq, real_users,  # noqa: E402
                   run_suite, write)
from cvatlib import cvat_env, push_as, wait_phase, write_coco  # noqa: E402

PASSWORD = "wi-Secr3t-%d" % os.getpid()
USER = "cfs-wi-%d" % os.getpid()
GROUP = "cfs-wig-%d" % os.getpid()


def identity(path):
    """(fsuid, fsgid, groups) of one thread from its status file."""
    uid = gid = None
    groups = ()
    with open(path) as f:
        for line in f:
            key, _, val = line.partition(":")
            if key == "Uid":
                uid = int(val.split()[3])
            elif key == "Gid":
                gid = int(val.split()[3])
            elif key == "Groups":
                groups = tuple(sorted(int(g) for g in val.split()))
    return uid, gid, groups


def check_threads(pid, what):
    """Every thread of the daemon has the identity of its main thread."""
    want = identity("/proc/%d/task/%d/status" % (pid, pid))
    if want[0] != 0:
        raise AssertionError("the daemon's main thread has fsuid %d" % want[0])
    tasks = os.listdir("/proc/%d/task" % pid)
    for tid in tasks:
        try:
            got = identity("/proc/%d/task/%s/status" % (pid, tid))
        except FileNotFoundError:
            continue  # a short-lived thread that ended meanwhile
        if got != want:
            raise AssertionError(
                "%s: daemon thread %s has fsuid %s, fsgid %s, groups %s; "
                "the daemon's are %s, %s, %s" % ((what, tid) + got + want))
    return len(tasks)


def body(ck, w):
    with real_users(USER, groups={USER: [GROUP]},
                    new_groups=[GROUP]) as (pw,):
        with cvat_server.CvatTestServer(password=PASSWORD) as srv:
            checks(ck, w, srv, pw)


def checks(ck, w, srv, pw):
    os.chmod(w.path, 0o755)
    data, names, store = coco_store(w, 3, 96, 64, write_coco)
    for dirpath, dirs, files in os.walk(store):
        for f in files + [""]:
            os.chown(os.path.join(dirpath, f), pw.pw_uid, pw.pw_gid)
    for p in [data] + [os.path.join(data, n) for n in names]:
        os.chown(p, pw.pw_uid, pw.pw_gid)
    mnt = w.sub("mnt")
    os.makedirs(mnt)
    os.chmod(mnt, 0o755)
    env = cvat_env(srv, PASSWORD, CVAT_RETRIES="1", CVAT_TIMEOUT="20")
    m = Mount(store, mnt, ["-o", "allow_other"], env=env).start()
    push = os.path.join(mnt, "cvat", "push")

    def t_owner_first():
        check_threads(m.proc.pid, "before any push")
        eq(push_as(pw, push, "samples u1"), 0, "errno of the owner's push")
        wait_phase(mnt, "u1")
        check_threads(m.proc.pid, "after the owner's push")
    ck.run("the owner's push starts the push thread: no daemon thread "
           "keeps the owner's fsuid, fsgid or groups", t_owner_first)

    def t_root_next():
        write(push, "samples r1\n")
        wait_phase(mnt, "r1")
        check_threads(m.proc.pid, "after root's push")
        eq(len(srv.snapshot()["tasks"]), 2, "tasks in CVAT")
    ck.run("root's push next: done, every thread still the daemon's",
           t_root_next)
    m.umount()


if __name__ == "__main__":
    run_suite("cvat-worker-identity", body)
