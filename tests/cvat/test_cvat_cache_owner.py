#!/usr/bin/python3
"""test_cvat_cache_owner - `curate cvat push` run by root on another
user's bucket store, with cvat.cloud_storage = off, makes, opens and
removes its temporary object cache with the store owner's rights, as the
daemon does with its own cache.  A real second user (real_users: useradd
here, userdel whatever happens) owns the store; awscli fills the loopback
S3 server; the CVAT test server (in this process) looks into $TMPDIR when
the first batch of files arrives.

  * $TMPDIR a sticky folder anyone may write (as /tmp): the cache folder,
    its objects/ and tmp/ folders and its lock file belong to the owner;
    CVAT gets the objects' bytes; the folder is gone afterwards;
  * $TMPDIR a private folder of a third user's: the owner may not make a
    folder there, so the push fails with EACCES and its reason, and
    nothing is made in it (root could have);
  * $TMPDIR a private folder of root's own (the owner can place nothing
    there): used with root's rights, the push works, nothing is left;
  * $TMPDIR the owner's own folder, holding a private folder of root's:
    during the push the owner (a real process of that user) renames its
    cache folder away and root's folder into its name; root's folder and
    its file are still there after the push (the removal is the owner's,
    not root's judged by what the name holds at the end).

Each of the first two fails when the cache is made with root's rights,
the last when the folder is removed with root's rights because a folder
of root's is found at its name."""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
sys.path.insert(0, os.path.join(HERE, "..", "s3"))
import cvat_server  # noqa: E402
from fslib import eq, make_jpegs, read, real_users, run_suite  # noqa: E402
from test_s3_client import Server, aws, env_for  # noqa: E402

PASSWORD = "cco-Secr3t-%d" % os.getpid()
USER = "cfs-cco-%d" % os.getpid()
N = 4


class PeekServer(cvat_server.CvatTestServer):
    """The test server, calling on_batch() when a request carrying files
    arrives (before it is handled)."""
    on_batch = None

    def h_task_data_post(self, rq, tid):
        h = rq.headers
        if "upload-multiple" in h and "upload-finish" not in h and \
                self.on_batch:
            self.on_batch()
        return super().h_task_data_post(rq, tid)


def owners(top):
    """{path relative to top: uid} of every curate-push-* folder under
    top and of everything in it."""
    out = {}
    for d in os.listdir(top):
        if not d.startswith("curate-push-"):
            continue
        base = os.path.join(top, d)
        out["."] = os.lstat(base).st_uid
        for sub, dirs, files in os.walk(base):
            for n in dirs + files:
                p = os.path.join(sub, n)
                out[os.path.relpath(p, base)] = os.lstat(p).st_uid
    return out


def body(ck, w):
    os.chmod(w.path, 0o755)   # the owner reaches the store and $TMPDIR
    with real_users(USER) as (pw,):
        s3 = Server(w.path, region="us-east-1")
        srv = PeekServer(password=PASSWORD).start()
        try:
            checks(ck, w, s3, srv, pw)
        finally:
            srv.stop()
            s3.stop()


def checks(ck, w, s3, srv, pw):
    home = w.sub("home")
    os.makedirs(home)
    env = env_for(s3, home)
    src = w.sub("src")
    make_jpegs(src, N, seed=5, extra=["-W", "160", "-H", "120"])
    aws(s3, home, "s3", "mb", "s3://media")
    aws(s3, home, "s3", "sync", "--only-show-errors", src, "s3://media/ds/")
    store = w.sub("store")
    p = subprocess.run([os.environ["CURATE"], "import", "--store", store,
                        "s3://media/ds"], env=env, capture_output=True,
                       text=True)
    if p.returncode != 0:
        raise AssertionError("import: " + p.stderr)
    for d, dirs, files in os.walk(store):
        os.chown(d, pw.pw_uid, pw.pw_gid)
        for f in files:
            os.chown(os.path.join(d, f), pw.pw_uid, pw.pw_gid)
    conf = w.sub("cvat.conf")
    with open(conf, "w") as f:
        f.write("url = %s\nusername = admin\npassword = %s\n"
                "poll_interval = 0.05\ncloud_storage = off\n"
                % (srv.url, PASSWORD))
    want = sorted(read(os.path.join(src, f)) for f in os.listdir(src))
    state = {}

    def push(run, tmpdir, on_batch=None):
        state["seen"] = None
        srv.on_batch = on_batch or (lambda: state.update(
            seen=owners(tmpdir)))
        before = set(srv.snapshot()["tasks"])
        try:
            p = subprocess.run([os.environ["CURATE"], "cvat", "push",
                                "--store", store, "--config", conf,
                                "--classes", "cat", "--run", run, "--wait"],
                               env=dict(env, TMPDIR=tmpdir),
                               capture_output=True, text=True, timeout=120)
        finally:
            srv.on_batch = None
        new = [t for t in srv.snapshot()["tasks"] if t not in before]
        up = sorted(bytes(f["bytes"]) for f in
                    srv.tasks[new[0]]["data"]["frames"]) if new else []
        return p, up

    def t_sticky():
        tmpdir = w.sub("sticky")
        os.mkdir(tmpdir)
        os.chmod(tmpdir, 0o1777)
        p, up = push("s1", tmpdir)
        if p.returncode != 0:
            raise AssertionError("push failed: " + p.stderr)
        eq(up, want, "CVAT got the objects' bytes")
        seen = state["seen"] or {}
        for name in (".", "objects", "tmp", "lock"):
            if seen.get(name) != pw.pw_uid:
                raise AssertionError("%s of the cache folder: uid %s, not "
                                     "the owner's %d (%s)"
                                     % (name, seen.get(name), pw.pw_uid,
                                        seen))
        eq(os.listdir(tmpdir), [], "the cache folder removed")
    ck.run("a sticky $TMPDIR: the cache folder, objects/, tmp/ and lock "
           "are the owner's; the upload works; nothing is left", t_sticky)

    def t_third_party():
        tmpdir = w.sub("nobody")
        os.mkdir(tmpdir, 0o700)
        os.chown(tmpdir, 65534, 65534)
        p, up = push("s2", tmpdir)
        if p.returncode != 1 or "cannot make a cache folder" not in \
                p.stderr or "Permission denied" not in p.stderr:
            raise AssertionError("not refused with EACCES (exit %d): %s"
                                 % (p.returncode, p.stderr))
        eq(os.listdir(tmpdir), [], "nothing made there")
        eq(up, [], "nothing uploaded")
    ck.run("a $TMPDIR the owner may not write: refused with the reason, "
           "nothing made there", t_third_party)

    def t_roots_own():
        tmpdir = w.sub("rootonly")
        os.mkdir(tmpdir, 0o700)
        p, up = push("s3", tmpdir)
        if p.returncode != 0:
            raise AssertionError("push failed: " + p.stderr)
        eq(up, want, "CVAT got the objects' bytes")
        seen = state["seen"] or {}
        if seen.get(".") != 0:
            raise AssertionError("cache folder not made by root: %s" % seen)
        eq(os.listdir(tmpdir), [], "the cache folder removed")
    ck.run("a $TMPDIR of root's own: used with root's rights, nothing left",
           t_roots_own)

    def t_swapped_for_roots():
        tmpdir = w.sub("ownertmp")
        os.mkdir(tmpdir, 0o755)
        os.chown(tmpdir, pw.pw_uid, pw.pw_gid)
        roots = os.path.join(tmpdir, "roots")
        os.mkdir(roots, 0o700)
        keep = os.path.join(roots, "keep")
        with open(keep, "w") as f:
            f.write("root's\n")
        swap = ("import os, sys\n"
                "t = sys.argv[1]\n"
                "d = [n for n in os.listdir(t) if n.startswith("
                "'curate-push-')][0]\n"
                "os.rename(os.path.join(t, d), os.path.join(t, 'mine'))\n"
                "os.rename(os.path.join(t, 'roots'), os.path.join(t, d))\n"
                "print(d)\n")

        def as_owner():
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)

        def on_batch():
            if state["swap"]:
                return      # once, at the first batch
            q = subprocess.run(["/usr/bin/python3", "-c", swap, tmpdir],
                               preexec_fn=as_owner, capture_output=True,
                               text=True)
            state["swap"] = (q.returncode, q.stdout.strip(), q.stderr)
        state["swap"] = None
        p, up = push("s4", tmpdir, on_batch)
        rc, name, why = state["swap"] or (None, "", "no batch")
        if rc != 0:
            raise AssertionError("the owner could not swap the folders: %s"
                                 % why)
        if p.returncode != 0:
            raise AssertionError("push failed: " + p.stderr)
        eq(up, want, "CVAT got the objects' bytes")
        eq(os.path.exists(os.path.join(tmpdir, name, "keep")), True,
           "root's folder and file, put at the cache folder's name, kept")
        shutil.rmtree(os.path.join(tmpdir, name))
    ck.run("the owner puts a folder of root's at the cache folder's name "
           "during the push: not removed with root's rights",
           t_swapped_for_roots)
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    run_suite("cvat-cache-owner", body)
