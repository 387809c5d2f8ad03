#!/usr/bin/python3
"""fs suite, foundation: import of real JPEG files (with the problem files
the import must report), a real mount, listing, bytes, every tag gesture
with its errno, label JSON round trip and rejection, cache coherence after
mv, SIGKILL during a burst of tag moves, clean unmount by fusermount3 and
SIGTERM, and plain-folder mounts."""
import errno
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (ROOT_ENTRIES, Mount, curate, eq, expect_errno,  # noqa
                   make_12bit, make_jpegs, run_suite)

N = 24


def build_dataset(w):
    data = w.sub("data")
    make_jpegs(data, N, subdirs=3)
    make_jpegs(w.sub("data", "prog"), 2, seed=7, extra=["-p"])
    src = os.path.join(data, "d00", "img_000000.jpg")
    blob = open(src, "rb").read()
    os.makedirs(os.path.join(data, "broken"), exist_ok=True)
    open(os.path.join(data, "broken", "truncated.jpg"), "wb").write(
        blob[: len(blob) // 2])
    open(os.path.join(data, "broken", "empty.jpg"), "wb").close()
    # PNG data cut before its IEND chunk, named .jpg: the content decides
    # (a whole PNG would be imported as one, test_formats.py), and it is
    # refused as a truncated PNG.
    subprocess.run(["/usr/bin/python3", "-c", (
        "import zlib,struct,sys\n"
        "def c(t,d): return struct.pack('>I',len(d))+t+d+struct.pack('>I',zlib.crc32(t+d))\n"
        "raw=b''.join(b'\\0'+b'\\xff\\0\\0'*4 for _ in range(4))\n"
        "sys.stdout.buffer.write(b'\\x89PNG\\r\\n\\x1a\\n'+c(b'IHDR',struct.pack('>IIBBBBB',4,4,8,2,0,0,0))"
        "+c(b'IDAT',zlib.compress(raw)))")],
        stdout=open(os.path.join(data, "broken", "png.jpg"), "wb"), check=True)
    make_12bit(src, os.path.join(data, "broken", "twelve.jpg"))
    # A path longer than the store takes (LMDB keys): reported, skipped.
    deep = os.path.join(data, "broken", *(["d" * 60] * 9))
    os.makedirs(deep)
    open(os.path.join(deep, "long.jpg"), "wb").write(blob)
    open(os.path.join(data, "notes.txt"), "w").write("not an image\n")
    return data


def body(ck, w):
    data = build_dataset(w)
    store = w.sub("store")
    mnt = w.sub("mnt")
    imp = {}

    def t_import():
        p = curate("import", "--store", store, data)
        imp["out"], imp["err"] = p.stdout, p.stderr
        for f, why in (("truncated.jpg", "truncated"),
                       ("empty.jpg", "empty"),
                       ("png.jpg", "PNG"),
                       ("twelve.jpg", "12-bit")):
            line = [l for l in p.stderr.splitlines() if f in l]
            if len(line) != 1 or why not in line[0]:
                raise AssertionError("%s not reported as %s: %r" % (
                    f, why, p.stderr))
        if "%d new" % (N + 2) not in p.stdout:
            raise AssertionError("summary: " + p.stdout)
    ck.run("import reports each problem file and imports the rest",
           t_import)

    def t_reimport():
        p = curate("import", "--store", store, data)
        if "0 new" not in p.stdout or "%d unchanged" % (N + 2) not in p.stdout:
            raise AssertionError(p.stdout)
    ck.run("re-import touches only new or changed files", t_reimport)

    m = Mount(store, mnt).start()
    S = os.path.join(mnt, "samples")
    L = os.path.join(mnt, "labels")
    T = os.path.join(mnt, "tags")

    names = []

    def t_listing():
        eq(sorted(os.listdir(mnt)), ROOT_ENTRIES, "root")
        got = sorted(os.listdir(S))
        want = sorted(["d%02d__img_%06d.jpg" % (i % 3, i) for i in range(N)]
                      + ["prog__img_%06d.jpg" % i for i in range(2)])
        eq(got, want, "samples")
        eq(sorted(os.listdir(L)), sorted(x[:-4] + ".json" for x in want),
           "labels")
        names.extend(got)
    ck.run("listing of samples/ and labels/", t_listing)

    def t_bytes():
        for i in range(N):
            src = os.path.join(data, "d%02d" % (i % 3), "img_%06d.jpg" % i)
            p = os.path.join(S, "d%02d__img_%06d.jpg" % (i % 3, i))
            a = open(src, "rb").read()
            eq(os.stat(p).st_size, len(a), "size at lookup")
            eq(open(p, "rb").read(), a, "bytes of " + p)
        # random offsets
        p = os.path.join(S, names[0])
        a = open(os.path.join(data, "d00", "img_000000.jpg"), "rb").read()
        with open(p, "rb") as f:
            for _ in range(50):
                off = random.randrange(len(a))
                f.seek(off)
                eq(f.read(777), a[off:off + 777], "pread")
    ck.run("bytes read equal the source", t_bytes)

    def t_readonly():
        expect_errno(errno.EACCES, open, os.path.join(S, names[0]), "r+b")
        expect_errno(errno.EPERM, os.unlink, os.path.join(S, names[0]))
        expect_errno(errno.EPERM, os.mkdir, os.path.join(S, "x"))
        expect_errno(errno.ENOENT, os.stat, os.path.join(S, "nope.jpg"))
    ck.run("samples/ is read-only with precise errnos", t_readonly)

    a, b = names[0], names[1]

    def t_tags():
        os.mkdir(os.path.join(T, "x"))
        expect_errno(errno.EEXIST, os.mkdir, os.path.join(T, "x"))
        expect_errno(errno.EPERM, os.mkdir, os.path.join(T, "x", "sub"))
        eq(os.listdir(os.path.join(T, "x")), [], "new tag empty")
        # mv from samples/: the source keeps showing the sample
        os.rename(os.path.join(S, a), os.path.join(T, "x", a))
        eq(os.listdir(os.path.join(T, "x")), [a], "tagged")
        if a not in os.listdir(S):
            raise AssertionError("samples/ lost the sample after mv")
        eq(os.stat(os.path.join(S, a)).st_size,
           os.stat(os.path.join(T, "x", a)).st_size, "same file")
        # coreutils mv (renameat2 NOREPLACE first)
        subprocess.run(["mv", os.path.join(S, b), os.path.join(T, "x") + "/"],
                       check=True)
        eq(sorted(os.listdir(os.path.join(T, "x"))), sorted([a, b]), "mv(1)")
        # mv of an already tagged sample is fine
        subprocess.run(["mv", os.path.join(S, b), os.path.join(T, "x") + "/"],
                       check=True)
        eq(len(os.listdir(os.path.join(T, "x"))), 2, "idempotent tag")
        # from one tag to another moves the tag
        os.mkdir(os.path.join(T, "y"))
        subprocess.run(["mv", os.path.join(T, "x", a),
                        os.path.join(T, "y") + "/"], check=True)
        eq(os.listdir(os.path.join(T, "x")), [b], "moved out of x")
        eq(os.listdir(os.path.join(T, "y")), [a], "moved into y")
        # rmdir of a non-empty tag
        expect_errno(errno.ENOTEMPTY, os.rmdir, os.path.join(T, "x"))
        # rm untags, idempotently
        os.unlink(os.path.join(T, "x", b))
        eq(os.listdir(os.path.join(T, "x")), [], "untagged")
        # no longer tagged: the name is gone from the tag
        expect_errno(errno.ENOENT, os.unlink, os.path.join(T, "x", b))
        expect_errno(errno.ENOENT, os.unlink,
                     os.path.join(T, "x", "nosuch.jpg"))
        # a name that is not a sample
        expect_errno(errno.ENOENT, os.rename, os.path.join(S, "nosuch.jpg"),
                     os.path.join(T, "x", "nosuch.jpg"))
        # renaming a sample while tagging is refused
        expect_errno(errno.EINVAL, os.rename, os.path.join(S, a),
                     os.path.join(T, "x", "other.jpg"))
        # rename a tag
        os.rename(os.path.join(T, "y"), os.path.join(T, "z"))
        eq(sorted(os.listdir(T)), ["x", "z"], "tag renamed")
        eq(os.listdir(os.path.join(T, "z")), [a], "members follow rename")
        expect_errno(errno.EEXIST, os.rename, os.path.join(T, "x"),
                     os.path.join(T, "z"))
        # rm -r untags everything, then rmdir works
        subprocess.run(["rm", "-r", os.path.join(T, "z")], check=True)
        eq(sorted(os.listdir(T)), ["x"], "rm -r removed the tag")
        os.rmdir(os.path.join(T, "x"))
        expect_errno(errno.ENOENT, os.rmdir, os.path.join(T, "x"))
        eq(os.listdir(T), [], "no tags left")
        expect_errno(errno.EINVAL, os.mkdir, os.path.join(T, "bad\nname"))
    ck.run("tag gestures and their errnos", t_tags)

    def t_copy_refused():
        os.mkdir(os.path.join(T, "c"))
        src = os.path.join(data, "d00", "img_000000.jpg")
        p = subprocess.run(["cp", src, os.path.join(T, "c") + "/"],
                           capture_output=True, text=True)
        if p.returncode == 0:
            raise AssertionError("cp into a tag succeeded")
        p = subprocess.run(["mv", src, os.path.join(T, "c") + "/"],
                           capture_output=True, text=True)
        if p.returncode == 0 or not os.path.exists(src):
            raise AssertionError("cross-fs mv into a tag was not refused")
        status = open(os.path.join(mnt, "status")).read()
        if "copy into a tag refused" not in status:
            raise AssertionError("no refusal in status: " + status)
        if "copy into a tag refused" not in m.logtext():
            raise AssertionError("no refusal in the log")
        eq(os.listdir(os.path.join(T, "c")), [], "nothing added")
        os.rmdir(os.path.join(T, "c"))
    ck.run("copy from another filesystem into tags/ is refused and logged",
           t_copy_refused)

    def t_labels():
        p = os.path.join(L, a[:-4] + ".json")
        doc = json.load(open(p))
        eq(doc["fields"], {}, "no labels yet")
        eq((doc["width"], doc["height"]), (640, 480), "dims")
        doc["fields"]["ground_truth"] = [
            {"label": "cat", "bbox": [10, 20, 100.5, 50]},
            {"label": "dog", "bbox": [0, 0, 640, 480], "confidence": 0.25,
             "iscrowd": 1, "attributes": {"occluded": True, "n": 3}},
        ]
        with open(p, "w") as f:
            json.dump(doc, f)
        text = open(p).read()
        eq(os.stat(p).st_size, len(text.encode()), "exact size")
        got = json.loads(text)
        gt = got["fields"]["ground_truth"]
        eq([d["label"] for d in gt], ["cat", "dog"], "labels")
        eq(gt[0]["bbox"], [10, 20, 100.5, 50], "bbox")
        eq(gt[1]["confidence"], 0.25, "confidence")
        eq(gt[1]["iscrowd"], 1, "iscrowd")
        eq(gt[1]["attributes"], {"occluded": True, "n": 3}, "attributes")
        ids = [d["id"] for d in gt]
        if len(set(ids)) != 2 or min(ids) < 1:
            raise AssertionError("ids %r" % ids)
        # round trip: writing back what we read changes nothing
        with open(p, "w") as f:
            f.write(text)
        eq(open(p).read(), text, "round trip")
        # edit one box keeping its id
        got["fields"]["ground_truth"][0]["bbox"] = [11, 21, 5, 5]
        with open(p, "w") as f:
            json.dump(got, f)
        again = json.load(open(p))["fields"]["ground_truth"]
        eq(again[0]["id"], ids[0], "id kept")
        eq(again[0]["bbox"], [11, 21, 5, 5], "edited")
        before = open(p).read()
        bad_docs = [
            "{not json",
            '{"fields": {"gt": [{"label": "x", "bbox": [0, 0, 700, 10]}]}}',
            '{"fields": {"gt": [{"label": "x", "bbox": [0, 0, 1, 1], "colour": 1}]}}',
            '{"fields": {"gt": [{"label": 5, "bbox": [0, 0, 1, 1]}]}}',
            '{"fields": {"gt": [{"label": "x", "bbox": [0, 0, -1, 1]}]}}',
            '{"fields": {"gt": [{"label": "x", "bbox": "0 0 1 1"}]}}',
            '{"fields": {"gt": [{"id": 999999, "label": "x", "bbox": [0, 0, 1, 1]}]}}',
            '{"fields": {}, "extra": true}',
            '{"width": 1, "fields": {}}',
            '[]',
            '',
        ]
        for bad in bad_docs:
            try:
                with open(p, "w") as f:
                    f.write(bad)
            except OSError as e:
                eq(e.errno, errno.EINVAL, "errno for %r" % bad)
            else:
                raise AssertionError("bad write accepted: %r" % bad)
            eq(open(p).read(), before, "labels intact after %r" % bad)
        status = open(os.path.join(mnt, "status")).read()
        if "not inside the 640x480 image" not in status:
            raise AssertionError("reason missing from status")
        if 'unknown key "colour"' not in m.logtext():
            raise AssertionError("reason missing from the log")
        if "ground_truth" not in status or "cat" not in status:
            raise AssertionError("class counts missing from status")
    ck.run("label JSON round trip and rejection of bad writes", t_labels)

    def t_coherence():
        os.mkdir(os.path.join(T, "k"))
        for i, nm in enumerate(names[:10]):
            eq(len(os.listdir(os.path.join(T, "k"))), i, "before mv")
            os.rename(os.path.join(S, nm), os.path.join(T, "k", nm))
            eq(len(os.listdir(os.path.join(T, "k"))), i + 1, "after mv")
            eq(os.path.exists(os.path.join(T, "k", nm)), True, "stat")
        for nm in names[:10]:
            os.unlink(os.path.join(T, "k", nm))
            if nm in os.listdir(os.path.join(T, "k")):
                raise AssertionError("stale listing after rm")
            expect_errno(errno.ENOENT, os.stat, os.path.join(T, "k", nm))
        os.rmdir(os.path.join(T, "k"))
    ck.run("mv then ls shows the change at once", t_coherence)

    def t_sigkill():
        os.mkdir(os.path.join(T, "a"))
        os.mkdir(os.path.join(T, "b"))
        where = {nm: None for nm in names}  # None, "a" or "b"
        state = {"acked": 0, "inflight": None, "err": None, "killed": False}

        def burst():
            for i in range(1000):
                nm = names[i % len(names)]
                cur = where[nm]
                if cur is None:
                    src, dst = os.path.join(S, nm), "a"
                else:
                    src = os.path.join(T, cur, nm)
                    dst = "b" if cur == "a" else "a"
                state["inflight"] = (nm, cur, dst)
                try:
                    os.rename(src, os.path.join(T, dst, nm))
                except OSError as e:
                    state["err"] = (e, state["killed"])
                    return
                where[nm] = dst
                state["inflight"] = None
                state["acked"] += 1
        th = threading.Thread(target=burst)
        th.start()
        while state["acked"] < 400 and th.is_alive():
            time.sleep(0.001)
        state["killed"] = True
        # The dead mount stays in place until the burst has ended: a lazy
        # unmount before that would leave the burst renaming in the empty
        # mount-point folder, where the source is missing (ENOENT) - the
        # test's own doing, not the file system's.  Until the detach, the
        # kernel answers every request on the aborted connection itself:
        # ECONNABORTED for the one in flight, ENOTCONN for later ones.
        m.kill(signal.SIGKILL, detach=False)
        th.join()
        m.detach()
        if state["acked"] >= 1000:
            raise AssertionError("burst finished before the kill")
        # The burst ends on the kill, with the error of a dead connection,
        # and never failed before it.
        if state["err"] is None:
            raise AssertionError("burst ended with no error")
        err, after_kill = state["err"]
        if not after_kill or err.errno not in (errno.ENOTCONN,
                                               errno.ECONNABORTED):
            raise AssertionError("burst error %r (after the kill: %s)" % (
                err, after_kill))
        m.start()
        got = {nm: None for nm in names}
        for t in ("a", "b"):
            for nm in os.listdir(os.path.join(T, t)):
                if got[nm] is not None:
                    raise AssertionError("%s in two tags" % nm)
                got[nm] = t
        amb = state["inflight"]
        for nm in names:
            if amb and nm == amb[0]:
                if got[nm] not in (amb[1], amb[2]):
                    raise AssertionError("in-flight %s: %r" % (nm, got[nm]))
                continue
            eq(got[nm], where[nm], "acknowledged move of " + nm)
        print("# %d moves acknowledged before SIGKILL, all present" %
              state["acked"])
        subprocess.run(["rm", "-r", os.path.join(T, "a"),
                        os.path.join(T, "b")], check=True)
    ck.run("SIGKILL during 1,000 tag moves loses no acknowledged move",
           t_sigkill)

    def t_umount():
        m.umount()
        if os.path.ismount(mnt):
            raise AssertionError("still mounted")
        m.start()
        eq(sorted(os.listdir(T)), [], "state kept across remount")
        m.kill(signal.SIGTERM)
        eq(m.proc.returncode, 0, "exit code after SIGTERM")
        if os.path.ismount(mnt):
            raise AssertionError("SIGTERM left the mount")
        m.check_log()
    ck.run("fusermount3 -u and SIGTERM unmount cleanly", t_umount)

    def t_folder_mode():
        home = w.sub("storehome")
        os.environ["CURATEFS_STORE_HOME"] = home
        fm = Mount(data, w.sub("mnt2"))
        try:
            fm.start()
            t0 = time.time()
            while time.time() - t0 < 30:
                if len(os.listdir(os.path.join(fm.mnt, "samples"))) == N + 2:
                    break
                time.sleep(0.05)
            eq(len(os.listdir(os.path.join(fm.mnt, "samples"))), N + 2,
               "imported samples")
            st = open(os.path.join(fm.mnt, "status")).read()
            if "import:" not in st or "twelve.jpg" not in st:
                raise AssertionError("import state/errors not in status")
            if not os.listdir(home):
                raise AssertionError("store not in CURATEFS_STORE_HOME")
            fm.umount()
        finally:
            fm.cleanup()
    ck.run("mounting a plain folder imports it first", t_folder_mode)


def main():
    run_suite("curatefs-fs-", body)


if __name__ == "__main__":
    main()
