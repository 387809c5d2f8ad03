#!/usr/bin/python3
"""test_cvat_upload_touch - a bucket sample uploaded from an object cache
that another mount shares (-o object_cache=DIR) goes up whole even when
that mount reads the same image while the batch is on the wire.

A cache file's bytes never change in place (a download is renamed into
place), but a reading daemon records the use in the file's modification
time (objcache.h); the upload's check that the file is still the one it
opened must not take that for a rewrite.  Real: awscli fills the
loopback S3 server, a bucket store and its snapshot are mounted on one
cache folder, the CVAT test server (in this process) reads the image
through the second mount before it reads the body (a 40 MiB object, so
the client is still sending).  The cache folder is left as a previous
session leaves it (its files last used five minutes ago), so the second
mount records its read.

  * the push is ready and CVAT got the object's bytes, and the second
    mount did touch the file during the upload (else the check proves
    nothing).

Fails when the upload compares the cache file's modification time
("source changed during upload")."""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
sys.path.insert(0, os.path.join(HERE, "..", "s3"))
import cvat_server  # noqa: E402
from fslib import Mount, eq, make_jpegs, read, run_suite, write  # noqa: E402
from test_s3_client import Server, aws, env_for  # noqa: E402

PASSWORD = "uto-Secr3t-%d" % os.getpid()


class HookServer(cvat_server.CvatTestServer):
    """The test server, calling on_body() before it reads the body of a
    request carrying files."""
    on_body = None

    def before_body(self, command, path, headers):
        if self.on_body and command == "POST" and \
                path.endswith("/data") and \
                headers.get("Upload-Multiple") and \
                not headers.get("Upload-Finish"):
            self.on_body()


def wait_end(mnt, run, timeout=120):
    deadline = time.monotonic() + timeout
    info = ""
    while time.monotonic() < deadline:
        try:
            info = read(os.path.join(mnt, "cvat", "runs", run,
                                     "info")).decode()
        except FileNotFoundError:
            info = ""
        if "phase: ready" in info or "phase: failed" in info:
            return info
        time.sleep(0.05)
    raise AssertionError("run %s did not end: %s\n%s" % (
        run, info, read(os.path.join(mnt, "cvat", "status")).decode()))


def body(ck, w):
    s3 = Server(w.path, region="us-east-1")
    srv = HookServer(password=PASSWORD).start()
    try:
        checks(ck, w, s3, srv)
    finally:
        srv.stop()
        s3.stop()


def curate(env, *args):
    p = subprocess.run([os.environ["CURATE"]] + list(args), env=env,
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("curate %s: %s" % (args, p.stderr))


def checks(ck, w, s3, srv):
    home = w.sub("home")
    os.makedirs(home)
    env = env_for(s3, home)
    src = w.sub("src")
    make_jpegs(src, 1, seed=3, extra=["-W", "96", "-H", "64"])
    name = os.listdir(src)[0]
    with open(os.path.join(src, name), "ab") as f:
        f.write(b"\0" * (40 << 20))
    want = read(os.path.join(src, name))
    aws(s3, home, "s3", "mb", "s3://media")
    aws(s3, home, "s3", "sync", "--only-show-errors", src, "s3://media/ds/")
    store, snap = w.sub("store"), w.sub("snap")
    curate(env, "import", "--store", store, "--no-features", "s3://media/ds")
    curate(env, "snapshot", "--store", store, snap)
    cache = w.sub("cache")
    # The cache as an earlier session left it: the object fetched, last
    # used five minutes ago.
    m = Mount(store, w.sub("fill"), ["-o", "object_cache=" + cache],
              env=env).start()
    sample = os.listdir(os.path.join(m.mnt, "samples"))[0]
    eq(read(os.path.join(m.mnt, "samples", sample)), want, "filled")
    m.umount()
    objs = os.path.join(cache, "objects")
    old = time.time() - 300
    for f in os.listdir(objs):
        os.utime(os.path.join(objs, f), (old, old))
    denv = dict(env, CVAT_URL=srv.url, CVAT_USERNAME="admin",
                CVAT_PASSWORD=PASSWORD, CVAT_RETRIES="1", CVAT_TIMEOUT="60")
    ma = Mount(store, w.sub("ma"), ["-o", "object_cache=" + cache],
               env=denv).start()
    mb = Mount(snap, w.sub("mb"), ["-o", "readonly,object_cache=" + cache],
               env=env).start()
    write(os.path.join(ma.mnt, "config"), "cvat.cloud_storage = off\n")

    def t_read_elsewhere():
        seen = {}

        def other_reader():
            f = os.path.join(objs, os.listdir(objs)[0])
            before = os.stat(f).st_mtime_ns
            seen["same"] = read(os.path.join(mb.mnt, "samples",
                                             sample)) == want
            seen["touched"] = os.stat(f).st_mtime_ns != before
        srv.on_body = other_reader
        try:
            try:
                write(os.path.join(ma.mnt, "cvat", "push"),
                      "samples t1 classes=cat\n")
            except OSError:
                pass    # the push's failure: its reason is in the run
            info = wait_end(ma.mnt, "t1")
        finally:
            srv.on_body = None
        if not seen.get("same") or not seen.get("touched"):
            raise AssertionError("the other mount did not read and touch "
                                 "the cache file during the upload: %s"
                                 % seen)
        if "phase: ready" not in info:
            raise AssertionError("push not ready: %s\n%s" % (
                info, read(os.path.join(ma.mnt, "cvat", "status")).decode()))
        tasks = [t for t in srv.tasks.values()
                 if (t.get("data") or {}).get("frames")]
        got = [bytes(f["bytes"]) for t in tasks
               for f in t["data"]["frames"]]
        eq(got, [want], "CVAT got the object's bytes")
    ck.run("another mount on the cache folder reads the image while it "
           "goes up: the push is ready, CVAT gets the bytes",
           t_read_elsewhere)


if __name__ == "__main__":
    run_suite("cvat-upload-touch", body)
