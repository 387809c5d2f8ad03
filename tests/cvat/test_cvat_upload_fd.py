#!/usr/bin/python3
"""test_cvat_upload_fd - a push uploads the very files it opened and
checked in the dataset folder, never a path opened again by name.

The daemon runs as root; whoever owns the dataset folder may change its
files at any moment.  The CVAT test server (in this process) is given a
hook that acts on the folder while a push is under way:

  * when the upload starts (Upload-Start), a sample is swapped for a
    link to a root-only file outside the folder: the push fails with the
    reason in the run, and no byte of that file reaches CVAT;
  * when the first batch arrives, a sample is replaced (rename over it)
    by another image and the batch is refused with 413: the batch sent
    again carries the bytes of the file that was opened, not the new
    one.

  * a sample (grown to 40 MiB) is cut to 1 MiB while its batch is on
    the wire (the server's hook runs before it reads the body): the push
    fails with ESTALE and "source changed during upload: NAME" in the
    run's info, cvat/status and the store's log (not libcurl's "aborted
    by callback"), and CVAT gets no file of that batch and no data;
  * the same sample's last MiB rewritten in place then (same size):
    the same failure, CVAT never gets a mix of the two versions;
  * a sample cut once its batch arrived, the batch refused with 413:
    the batch is not sent again with the shorter file, the push fails
    the same way;
  * a sample with one byte changed since the import (not imported
    again): the push fails with "its file changed since the import" in
    the run's info and cvat/status before any request to CVAT;
    its bytes back (another mtime), the next push is ready.
  * a sample replaced between that check and the open of its batch (by
    another picture, or by a hard link to a root-only file outside the
    folder): the push fails with the same reason, CVAT gets none of it;
  * a touched sample (same bytes, a new mtime) is read whole twice by
    its push (the daemon's rchar): the hash check before the task, then
    the upload; opening its batch trusts the check while the file's
    state (ctime included) is unchanged.

The first two fail when the upload reopens the path (libcurl's file
parts); the next three when the file's size is taken again at each send,
a short read ends the upload with libcurl's error, or a file is not
checked again once read; the sixth when the push does not hold the
file to the import's record; the seventh when the batch trusts a file
that changed after the check; the eighth when the batch hashes the file
again."""
import errno
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
import cvat_server  # noqa: E402
from fslib import (Mount, coco_store, curate, eq, make_jpegs,  # noqa: E402
                   read,
                   run_suite, write)

PASSWORD = "ufd-Secr3t-%d" % os.getpid()
SECRET = b"root-only secret %d\n" % os.getpid()


def write_coco(path, names):
    json.dump({"images": [{"id": i + 1, "file_name": n, "width": 96,
                           "height": 64} for i, n in enumerate(names)],
               "annotations": [],
               "categories": [{"id": 1, "name": "cat"}]}, open(path, "w"))


class HookServer(cvat_server.CvatTestServer):
    """The test server, calling on_start() at an Upload-Start request and
    on_batch() at each request that carries files (raising ApiError from
    it answers that request with the error); got lists (name, bytes) of
    every file part it accepted."""
    on_start = None
    on_batch = None
    on_body = None

    def before_body(self, command, path, headers):
        if self.on_body and command == "POST" and \
                path.endswith("/data") and \
                headers.get("Upload-Multiple") and \
                not headers.get("Upload-Finish"):
            self.on_body()

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.got = []

    def h_task_data_post(self, rq, tid):
        h = rq.headers
        if "upload-start" in h and "upload-finish" not in h and \
                self.on_start:
            self.on_start()
        elif "upload-multiple" in h and "upload-finish" not in h and \
                self.on_batch:
            self.on_batch()
        return super().h_task_data_post(rq, tid)

    def _add_files(self, rq, sess, files):
        self.got += [(f.filename, f.data) for f in files]
        return super()._add_files(rq, sess, files)


def wait_end(mnt, run, timeout=300):
    """The run's info once it is ready or failed (the deadline only ends
    a hang)."""
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
    raise AssertionError("run %s did not end: %s" % (run, info))


def wbytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def push(mnt, line):
    """Writes a push command; a refused write is the push's failure too
    (its reason is in the run's info and cvat/status)."""
    try:
        write(os.path.join(mnt, "cvat", "push"), line + "\n")
        return 0
    except OSError as e:
        return e.errno


def body(ck, w):
    srv = HookServer(password=PASSWORD).start()
    try:
        checks(ck, w, srv)
    finally:
        srv.stop()


def checks(ck, w, srv):
    data, names, store = coco_store(w, 4, 96, 64, write_coco)
    secret = w.sub("secret.bin")
    with open(secret, "wb") as f:
        f.write(SECRET)
    os.chmod(secret, 0o600)
    other = w.sub("other")
    make_jpegs(other, 1, seed=7, extra=["-W", "96", "-H", "64"])
    other_jpg = os.path.join(other, sorted(os.listdir(other))[0])
    mnt = w.sub("mnt")
    env = dict(os.environ, CVAT_URL=srv.url, CVAT_USERNAME="admin",
               CVAT_PASSWORD=PASSWORD, CVAT_RETRIES="1", CVAT_TIMEOUT="30")
    m = Mount(store, mnt, env=env).start()

    def t_link_swapped():
        victim = os.path.join(data, names[1])
        keep = read(victim)

        def swap():
            os.rename(victim, victim + ".bak")
            os.symlink(secret, victim)
        srv.on_start = swap
        srv.got = []
        try:
            e = push(mnt, "samples l1")
            info = wait_end(mnt, "l1")
        finally:
            srv.on_start = None
            if os.path.islink(victim):
                os.unlink(victim)
                os.rename(victim + ".bak", victim)
        eq(read(victim), keep, "sample restored")
        if any(SECRET in b for _, b in srv.got):
            raise AssertionError("the root-only file reached CVAT")
        if "phase: failed" not in info:
            raise AssertionError("push not failed (write errno %s): %s"
                                 % (e, info))
        st = read(os.path.join(mnt, "cvat", "status")).decode()
        if "leads out of the dataset folder" not in info + st:
            raise AssertionError("no reason in the run or cvat/status:\n"
                                 + info + st)
    ck.run("a sample swapped for a link to a root-only file once the "
           "upload started: the push fails, CVAT gets none of its bytes",
           t_link_swapped)

    def t_replaced_after_open():
        victim = os.path.join(data, names[2])
        orig, new = read(victim), read(other_jpg)
        if orig == new:
            raise AssertionError("the two images are the same")
        state = {"n": 0}

        def replace():
            state["n"] += 1
            if state["n"] == 1:
                tmp = victim + ".new"
                with open(tmp, "wb") as f:
                    f.write(new)
                os.rename(tmp, victim)
                raise cvat_server.ApiError(413, {"detail": "too large"})
        srv.on_batch = replace
        srv.got = []
        try:
            e = push(mnt, "samples r1")
            info = wait_end(mnt, "r1")
        finally:
            srv.on_batch = None
            with open(victim, "wb") as f:
                f.write(orig)
        if "phase: ready" not in info:
            raise AssertionError("push not ready (write errno %s): %s"
                                 % (e, info))
        if state["n"] < 2:
            raise AssertionError("the batch was not sent again")
        files = [b for _, b in srv.got]
        eq(len(files), len(names), "files accepted")
        if new in files:
            raise AssertionError("CVAT got the file put in after the open")
        if orig not in files:
            raise AssertionError("CVAT lacks the file as it was opened")
    ck.run("a sample replaced after its batch was opened, the batch sent "
           "again after a 413: CVAT gets the bytes that were opened",
           t_replaced_after_open)

    victim = os.path.join(data, names[0])
    orig = read(victim)

    def failed_changed(run, e, info, before):
        """The push failed with the reason, CVAT has no data from it."""
        st = read(os.path.join(mnt, "cvat", "status")).decode()
        log = open(os.path.join(store, "curatefs.log"),
                   errors="replace").read()
        why = "source changed during upload: " + names[0]
        if "phase: failed" not in info:
            raise AssertionError("push not failed (write errno %s): %s"
                                 % (e, info))
        for where, text in (("info", info), ("cvat/status", st),
                            ("curatefs.log", log)):
            if why not in text:
                raise AssertionError("no '%s' in %s:\n%s" % (why, where,
                                                              text))
        print("# " + "\n# ".join(l for l in info.splitlines()
                                  if why in l))
        if "aborted by" in info + st + log:
            raise AssertionError("libcurl's error shown:\n" + info + st)
        if srv.got:
            raise AssertionError("CVAT accepted files: %s"
                                 % [n for n, _ in srv.got])
        tasks = [t for t in srv.snapshot()["tasks"] if t not in before]
        if any((srv.tasks[t].get("data") or {}).get("frames")
               for t in tasks):
            raise AssertionError("a task got frames")

    def grow():
        """The sample grown to 40 MiB and imported so: the push sends
        the file the import recorded (one changed since is refused before
        any upload: t_changed_since_import)."""
        with open(victim, "ab") as f:
            f.write(b"\0" * (40 << 20))
        curate("import", "--store", store, data)

    def restore():
        with open(victim, "wb") as f:
            f.write(orig)
        curate("import", "--store", store, data)

    def t_shrunk_while_sent():
        grow()
        srv.on_body = lambda: os.truncate(victim, 1 << 20)
        srv.got = []
        before = srv.snapshot()["tasks"]
        try:
            e = push(mnt, "samples k1")
            info = wait_end(mnt, "k1")
        finally:
            srv.on_body = None
            restore()
        failed_changed("k1", e, info, before)
    ck.run("a sample cut while its batch is on the wire: ESTALE with "
           "'source changed during upload' in the run, cvat/status and the "
           "log; CVAT gets nothing", t_shrunk_while_sent)

    def t_rewritten_while_sent():
        grow()

        def rewrite():
            # Its last MiB in place: same size, other bytes, a new mtime.
            with open(victim, "r+b") as f:
                f.seek(-(1 << 20), os.SEEK_END)
                f.write(b"\xff" * (1 << 20))
        srv.on_body = rewrite
        srv.got = []
        before = srv.snapshot()["tasks"]
        try:
            e = push(mnt, "samples k3")
            info = wait_end(mnt, "k3")
        finally:
            srv.on_body = None
            restore()
        failed_changed("k3", e, info, before)
    ck.run("a sample rewritten in place (same size) while its batch is on "
           "the wire: the same failure, no mix of two versions reaches "
           "CVAT", t_rewritten_while_sent)

    def t_shrunk_before_resend():
        state = {"n": 0}

        def cut():
            state["n"] += 1
            if state["n"] == 1:
                os.truncate(victim, len(orig) // 2)
                raise cvat_server.ApiError(413, {"detail": "too large"})
        srv.on_batch = cut
        srv.got = []
        before = srv.snapshot()["tasks"]
        try:
            e = push(mnt, "samples k2")
            info = wait_end(mnt, "k2")
        finally:
            srv.on_batch = None
            with open(victim, "wb") as f:
                f.write(orig)
        failed_changed("k2", e, info, before)
        if state["n"] != 1:
            raise AssertionError("the batch went up again (%d times)"
                                 % state["n"])
    ck.run("a sample cut before its batch is sent again after a 413: not "
           "sent shorter, the push fails with the reason",
           t_shrunk_before_resend)

    def t_changed_since_import():
        # One byte of the sample changed after the import (same size, a
        # new mtime) and not imported again: CVAT would annotate another
        # picture than the one whose size and boxes the store holds.
        changed = bytearray(orig)
        changed[len(orig) // 2] ^= 0x55
        srv.got = []
        before = srv.snapshot()["tasks"]
        seq = max([x["seq"] for x in srv.get_log()] or [0])
        try:
            with open(victim, "wb") as f:
                f.write(changed)
            e = push(mnt, "samples k4")
            info = wait_end(mnt, "k4")
            st = read(os.path.join(mnt, "cvat", "status")).decode()
        finally:
            with open(victim, "wb") as f:
                f.write(orig)
        why = "sample %s: its file changed since the import" % names[0][:-4]
        if e not in (0, errno.ESTALE) or "phase: failed" not in info:
            raise AssertionError("push not failed (write errno %s): %s"
                                 % (e, info))
        for where, text in (("info", info), ("cvat/status", st)):
            if why not in text:
                raise AssertionError("no '%s' in %s:\n%s" % (why, where,
                                                              text))
        if srv.got or [t for t in srv.snapshot()["tasks"] if t not in
                       before]:
            raise AssertionError("CVAT got files or a task")
        asked = ["%s %s" % (x["method"], x["path"])
                 for x in srv.get_log(since=seq)]
        if asked:
            raise AssertionError("the push asked CVAT before it found the "
                                 "changed file: %s" % asked)
        # Its bytes back (another mtime, the recorded hash): pushed.
        e = push(mnt, "samples k5")
        info = wait_end(mnt, "k5")
        if "phase: ready" not in info:
            raise AssertionError("push after the bytes came back (errno "
                                 "%s): %s" % (e, info))
        if orig not in [b for _, b in srv.got]:
            raise AssertionError("CVAT lacks the sample's bytes")
    ck.run("a sample changed since the import: the push fails with the "
           "reason before any task or upload; its bytes back, it is "
           "pushed", t_changed_since_import)

    def t_changed_after_check():
        # Files are checked before the task is made; a batch opens its
        # files later (minutes later for the last batches of a large
        # push).  A sample replaced in between, by another picture or by
        # a hard link to a root-only file (a link no path check can see),
        # is checked again as its batch opens: CVAT gets none of it.
        victim2 = os.path.join(data, names[3])
        keep = read(victim2)
        for what, swap in (
                ("another picture", lambda: (
                    wbytes(victim2 + ".new", read(other_jpg)),
                    os.rename(victim2 + ".new", victim2))),
                ("a hard link to a root-only file", lambda: (
                    os.unlink(victim2), os.link(secret, victim2)))):
            srv.on_start = swap
            srv.got = []
            try:
                e = push(mnt, "samples a%d" % len(what))
                info = wait_end(mnt, "a%d" % len(what))
            finally:
                srv.on_start = None
                os.unlink(victim2)
                wbytes(victim2, keep)
            why = ("sample %s: its file changed since the import"
                   % names[3][:-4])
            if "phase: failed" not in info or why not in info:
                raise AssertionError("%s after the check: push not failed "
                                     "with the reason (write errno %s): %s"
                                     % (what, e, info))
            got = [b for _, b in srv.got]
            if read(other_jpg) in got or any(SECRET in b for b in got):
                raise AssertionError("%s after the check reached CVAT"
                                     % what)
        curate("import", "--store", store, data)   # the restored mtime
    ck.run("a sample replaced between the check and its batch (another "
           "picture, a hard link to a root-only file): the push fails with "
           "the reason, CVAT gets none of its bytes", t_changed_after_check)

    def t_touched_read_once():
        # A touched sample (same bytes, a later mtime) is read whole to
        # compare its hash before the task is made, and once more to go
        # up; its batch trusts the first check while the file stays as it
        # was then.  8 MiB so that the daemon's other reads (replies,
        # the log) are lost in it.
        def rchar():
            with open("/proc/%d/io" % m.proc.pid) as f:
                return int(f.read().split("rchar:")[1].split()[0])
        with open(victim, "ab") as f:
            f.write(b"\0" * (8 << 20))
        curate("import", "--store", store, data)
        size = os.path.getsize(victim)
        try:
            st = os.stat(victim)
            os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
            srv.got = []
            r0 = rchar()
            e = push(mnt, "samples t1")
            info = wait_end(mnt, "t1")
            r1 = rchar()
        finally:
            restore()
        if "phase: ready" not in info:
            raise AssertionError("push not ready (write errno %s): %s"
                                 % (e, info))
        if not any(len(b) == size for _, b in srv.got):
            raise AssertionError("CVAT lacks the touched sample")
        print("# the push read %d bytes; the touched sample has %d"
              % (r1 - r0, size))
        if not 2 * size <= r1 - r0 < 2.5 * size:
            raise AssertionError("the push read %d bytes for a touched "
                                 "sample of %d (expected a check and an "
                                 "upload: twice)" % (r1 - r0, size))
    ck.run("a touched sample (same bytes, new mtime) is read twice by its "
           "push, once for the check and once to go up, not checked again "
           "as its batch opens", t_touched_read_once)


if __name__ == "__main__":
    run_suite("cvat-upload-fd", body)
