#!/usr/bin/python3
"""test_s3_cache_owner - a root daemon makes and opens the object cache
of a bucket dataset with the store owner's rights.  A real second user
(useradd here, userdel whatever happens) owns the store; the daemon runs
as root; awscli fills the loopback S3 server.

  * the default cache folder (STORE/objcache), its subfolders and lock
    file belong to the owner, and samples read through it;
  * object_cache= under a folder of the owner's in which a link leads to
    a folder only root may write: the mount refuses the cache, and
    nothing is made there;
  * the cache's lock file is a hard link to a root-only file (as the
    owner could make where fs.protected_hardlinks is off; root makes it
    here): the mount refuses the cache, and the file is not written;
  * a cached object is such a hard link: it is fetched again, and the
    root-only file is never served;
  * a cache folder of root's own (made by an older root daemon, which the
    owner can neither open nor fill) is still used.

Each fails when the daemon opens the cache with root's rights."""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
from test_s3_client import Server, aws, env_for  # noqa: E402
from fslib import Mount, eq, read, run_suite  # noqa: E402

USER = "cfs-oc-%d" % os.getpid()
PRECIOUS = b"root's own bytes %d\n" % os.getpid()


def curate(env, *args):
    r = subprocess.run([os.environ["CURATE"]] + list(args), env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("curate %s: %s" % (args, r.stderr))


def chown_tree(top, uid, gid):
    for d, dirs, files in os.walk(top):
        os.chown(d, uid, gid)
        for f in files:
            os.chown(os.path.join(d, f), uid, gid)


def refused(store, mnt, env, opts=()):
    """A mount with opts: True when it does not come up (its cache
    refused), else its samples are read and it is stopped."""
    m = Mount(store, mnt, opts=list(opts), env=env)
    try:
        m.start()
    except (AssertionError, RuntimeError) as e:
        print("# refused: %s" % str(e).splitlines()[0][:300])
        return True
    try:
        for n in os.listdir(os.path.join(mnt, "samples")):
            read(os.path.join(mnt, "samples", n))
    except OSError:
        pass
    m.umount()
    return False


def body(ck, w):
    import pwd
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/false",
                    USER], check=True)
    srv = Server(w.path, region="us-east-1")
    try:
        checks(ck, w, srv, pwd.getpwnam(USER))
    finally:
        srv.stop()
        subprocess.run(["userdel", USER])


def checks(ck, w, srv, pw):
    home = w.sub("home")
    os.makedirs(home)
    env = dict(os.environ, **env_for(srv, home))
    src = w.sub("src")
    subprocess.run([os.environ["MKJPEG"], "-n", "4", "-s", "3", src],
                   check=True, capture_output=True)
    aws(srv, home, "s3", "mb", "s3://media")
    aws(srv, home, "s3", "sync", "--only-show-errors", src, "s3://media/ds/")
    store = w.sub("store")
    curate(env, "import", "--store", store, "s3://media/ds")
    chown_tree(store, pw.pw_uid, pw.pw_gid)
    os.chmod(w.path, 0o755)
    mnt = w.sub("mnt")

    def t_default():
        m = Mount(store, mnt, env=env).start()
        names = sorted(os.listdir(os.path.join(mnt, "samples")))
        eq(len(names), 4, "samples")
        for n in names:
            read(os.path.join(mnt, "samples", n))
        m.umount()
        oc = os.path.join(store, "objcache")
        for p in (oc, os.path.join(oc, "objects"), os.path.join(oc, "tmp"),
                  os.path.join(oc, "lock")):
            st = os.lstat(p)
            if st.st_uid != pw.pw_uid:
                raise AssertionError("%s belongs to uid %d, not the owner"
                                     % (os.path.relpath(p, store),
                                        st.st_uid))
        if len(os.listdir(os.path.join(oc, "objects"))) != 4:
            raise AssertionError("the samples were not cached")
    ck.run("the default cache folder, its subfolders and lock are the "
           "owner's; samples read through it", t_default)

    def t_link_in_path():
        rootonly = w.sub("rootonly")
        os.makedirs(rootonly)
        os.chmod(rootonly, 0o700)
        ohome = w.sub("ownerhome")
        os.makedirs(ohome)
        os.chown(ohome, pw.pw_uid, pw.pw_gid)
        os.symlink(rootonly, os.path.join(ohome, "link"))
        os.lchown(os.path.join(ohome, "link"), pw.pw_uid, pw.pw_gid)
        cache = os.path.join(ohome, "link", "cache")
        if not refused(store, mnt, env, ["-o", "object_cache=" + cache]):
            raise AssertionError("the mount used the cache")
        eq(os.listdir(rootonly), [], "made in the root-only folder")
    ck.run("object_cache= through the owner's link to a root-only folder: "
           "refused, nothing made there", t_link_in_path)

    def t_lock_hardlink():
        precious = w.sub("precious")
        with open(precious, "wb") as f:
            f.write(PRECIOUS)
        os.chmod(precious, 0o600)
        lock = os.path.join(store, "objcache", "lock")
        os.unlink(lock)
        os.link(precious, lock)
        try:
            if not refused(store, mnt, env):
                raise AssertionError("the mount used the cache")
        finally:
            os.unlink(lock)
        eq(read(precious), PRECIOUS, "the root-only file")
    ck.run("the cache's lock is a hard link to a root-only file: refused, "
           "the file is not written", t_lock_hardlink)


    def t_object_hardlink():
        objs = os.path.join(store, "objcache", "objects")
        entry = os.path.join(objs, sorted(os.listdir(objs))[0])
        size = os.path.getsize(entry)
        secret = w.sub("secret.bin")
        with open(secret, "wb") as f:
            f.write((PRECIOUS * (size // len(PRECIOUS) + 1))[:size])
        os.chmod(secret, 0o600)
        os.unlink(entry)
        os.link(secret, entry)
        want = sorted(read(os.path.join(src, n)) for n in os.listdir(src))
        m = Mount(store, mnt, env=env).start()
        smp = os.path.join(mnt, "samples")
        got = sorted(read(os.path.join(smp, n)) for n in os.listdir(smp))
        m.umount()
        if any(PRECIOUS in g for g in got):
            raise AssertionError("a sample read the root-only file")
        if got != want:
            raise AssertionError("the samples are not their objects' bytes")
        eq(os.stat(secret).st_nlink, 1, "links of the root-only file")
    ck.run("a cached object replaced by a hard link to a root-only file of "
           "its size: fetched again, never served", t_object_hardlink)


    def t_roots_folder():
        oc = os.path.join(store, "objcache")
        chown_tree(oc, 0, 0)
        os.chmod(oc, 0o700)
        want = sorted(read(os.path.join(src, n)) for n in os.listdir(src))
        m = Mount(store, mnt, env=env).start()
        smp = os.path.join(mnt, "samples")
        got = sorted(read(os.path.join(smp, n)) for n in os.listdir(smp))
        m.umount()
        if got != want:
            raise AssertionError("the samples are not their objects' bytes")
        eq(os.stat(oc).st_uid, 0, "owner of the older cache folder")
    ck.run("a cache folder an older root daemon made (root's, 0700) is "
           "still used", t_roots_folder)


if __name__ == "__main__":
    run_suite("s3-cache-owner", body)
