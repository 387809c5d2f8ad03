#!/usr/bin/python3
"""fs suite: the store's curatefs.log when the store's owner may not open
it and the daemon runs as root.  A log an older root daemon left there is
given to the owner (fs-share-matrix); any other file root owns is not.  A
real second user (useradd here, userdel whatever happens) owns the store,
and so may move into it a file root owns from another folder of theirs
(one that `sudo` wrote in their home, say), named curatefs.log: the mount
works, but the file stays root's, unread by the owner and unwritten."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import Mount, coco_store, eq, run_suite, write_coco_boxes  # noqa

USER = "cfs-log-%d" % os.getpid()
SECRET = "root's private notes: not a log\n"


def coco(path, names):
    write_coco_boxes(path, names, 64, 48, lambda i: [("cat", [1, 2, 30, 20])])


def body(ck, w):
    import pwd
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/false",
                    USER], check=True)
    try:
        checks(ck, w, pwd.getpwnam(USER))
    finally:
        subprocess.run(["userdel", USER])


def checks(ck, w, pw):
    os.chmod(w.path, 0o755)
    data, names, store = coco_store(w, 2, 64, 48, coco)
    for dirpath, dirs, files in os.walk(store):
        os.chown(dirpath, pw.pw_uid, pw.pw_gid)
        for f in files:
            os.chown(os.path.join(dirpath, f), pw.pw_uid, pw.pw_gid)
    log = os.path.join(store, "curatefs.log")
    mnt = w.sub("mnt")

    def t_foreign_root_file():
        # The owner's other folder, holding a file only root may read.
        other = w.sub("home")
        os.makedirs(other)
        os.chown(other, pw.pw_uid, pw.pw_gid)
        secret = os.path.join(other, "notes")
        with open(secret, "w") as f:
            f.write(SECRET)
        os.chmod(secret, 0o600)
        if os.path.exists(log):
            os.unlink(log)
        # The owner moves it in (a rename: the same file, one name).
        subprocess.run(["mv", secret, log], user=pw.pw_uid, group=pw.pw_gid,
                       check=True)
        m = Mount(store, mnt, ["-o", "allow_other"]).start()
        if not os.listdir(os.path.join(mnt, "samples")):
            raise AssertionError("no samples")
        m.umount()
        st = os.stat(log)
        eq((st.st_uid, oct(st.st_mode & 0o777)), (0, "0o600"),
           "owner and mode of root's file")
        eq(open(log).read(), SECRET, "root's file")
    ck.run("a file of root's moved in as curatefs.log by the owner: the "
           "mount works, the file stays root's and unwritten",
           t_foreign_root_file)

    def t_old_log():
        # What an older root daemon left: its own lines, root's, 0600.
        os.unlink(log)
        with open(log, "w") as f:
            f.write("2026-01-02 03:04:05 info: mounted %s\n" % store)
        os.chmod(log, 0o600)
        m = Mount(store, mnt, ["-o", "allow_other"]).start()
        m.umount()
        st = os.stat(log)
        eq((st.st_uid, oct(st.st_mode & 0o777)), (pw.pw_uid, "0o600"),
           "owner and mode of the old log")
        if open(log).read().count("\n") < 2:
            raise AssertionError("nothing logged")
    ck.run("a log an older root daemon left: given to the owner, written",
           t_old_log)


if __name__ == "__main__":
    run_suite("fs-log-adopt", body)
