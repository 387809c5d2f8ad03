#!/usr/bin/python3
"""fs suite, what one open of an unchanged file costs the daemon, counted
from the requests it logs with -d:

- a warm pass over samples/ by a reader that stats what it opens (as a
  training loader or `ls -l` then `cat` does) sends one OPEN and one
  RELEASE per file: no READ (the page cache is kept across opens), no
  LOOKUP, no GETATTR;
- a sample opened and not read holds no descriptor of its source in the
  daemon: the source is opened at the first read that reaches it, with
  the same refusals as before (a deleted source: ENOENT, and status
  says why), and a later open after the source is back reads it;
- a source changed since the import (other bytes of the same size, or
  grown) reads ESTALE with the reason in status, and `curate export`
  fails naming it; one only touched (same bytes, another time) is served;
  on a -o readonly mount too once the file was read there (the daemon
  keeps its descriptor across opens);
- a warm pass over the ImageNet crops (generated files) on a default
  mount (no -o epoch) sends per file one OPEN and no LOOKUP (the kernel
  keeps their names; the OPEN of a superseded version fails with ESTALE
  and the kernel looks the path up again) and never READ: the kernel
  keeps the pages of an unchanged crop;
- reading labels/<n>.json sends no FLUSH at close (only a writer commits
  there);
- crops of a source changed since the import, made after the change,
  stay listed and read ESTALE;
- after a label change the next open of a crop reads the new crop, while
  a reader holding the old one keeps reading the old bytes."""
import errno
import json
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (Mount, coco_store, crop_of, curate, edit_boxes, eq,  # noqa
                   expect_errno, expect_no_requests, jpegs_under, read,
                   run_suite, warm_pass)

W, H = 320, 240
N = 12


def write_coco(path, names):
    json.dump({
        "images": [{"id": i + 1, "file_name": n, "width": W, "height": H}
                   for i, n in enumerate(names)],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": [{"id": 2 * i + k + 1, "image_id": i + 1,
                         "category_id": 1 + k,
                         "bbox": [10 + 40 * k, 20, 60, 50], "iscrowd": 0}
                        for i in range(len(names)) for k in range(2)]},
        open(path, "w"))


def stat_then_read(p):
    os.stat(p)
    with open(p, "rb") as f:
        while f.read(1 << 16):
            pass


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def body(ck, w):
    data, names, store = coco_store(w, N, W, H, write_coco)
    mnt = w.sub("mnt")
    m = Mount(store, mnt, ["-d"]).start()  # the default: no epoch
    S = os.path.join(mnt, "samples")
    samples = [os.path.join(S, n) for n in sorted(os.listdir(S))]
    eq(len(samples), N, "samples listed")

    def t_warm_samples():
        c = warm_pass(m, samples, stat_then_read, warmups=2)
        expect_no_requests(c, ("GETATTR", "READ", "LOOKUP"), "warm pass")
        eq(c.get("OPEN"), N, "one OPEN per file")
        eq(c.get("RELEASE"), N, "one RELEASE per file")
    ck.run("a warm stat-then-read pass over samples/ costs one OPEN and "
           "one RELEASE per file", t_warm_samples)

    def t_source_opened_at_first_read():
        before = open_fds(m.proc.pid)
        fds = [os.open(p, os.O_RDONLY) for p in samples]
        try:
            held = open_fds(m.proc.pid) - before
            if held > 2:
                raise AssertionError("%d opens, not read, hold %d source "
                                     "descriptors" % (N, held))
            # Cold pages: drop this file's cache, then read through the
            # daemon, which opens the source now.
            os.posix_fadvise(fds[0], 0, 0, os.POSIX_FADV_DONTNEED)
            eq(os.pread(fds[0], 1 << 20, 0),
               read(os.path.join(data, names[0])), "bytes at first read")
        finally:
            for fd in fds:
                os.close(fd)
    ck.run("an open that is never read holds no source descriptor",
           t_source_opened_at_first_read)

    def t_deleted_source_refused_at_read():
        victim = os.path.join(data, names[3])
        keep = w.sub("kept.jpg")
        shutil.move(victim, keep)
        try:
            p = os.path.join(S, names[3])
            with open(p, "rb") as f:
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                expect_errno(errno.ENOENT, f.read)
            status = read(os.path.join(mnt, "status")).decode()
            if "cannot open source" not in status:
                raise AssertionError("status gives no reason:\n" + status)
        finally:
            shutil.move(keep, victim)
        eq(read(os.path.join(S, names[3])), read(victim), "source back")
    ck.run("a deleted source: ENOENT at the read, with the reason in "
           "status; served again once back", t_deleted_source_refused_at_read)

    def t_changed_source_refused():
        # A source changed since the import is not served under the
        # recorded size and boxes: ESTALE at the read, the reason in
        # status, and `curate export` fails naming it; a touch that kept
        # the bytes is still served (the hash read again).
        victim = os.path.join(data, names[4])
        p = os.path.join(S, names[4])
        orig = read(victim)
        st = os.stat(victim)

        def read_dropped():
            with open(p, "rb") as f:
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                return f.read()
        def rchar():
            with open("/proc/%d/io" % m.proc.pid) as f:
                return int(f.read().split("rchar:")[1].split()[0])
        try:
            os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
            # The first read hashes the touched file (read(2) of all of
            # it); the next opens trust it while it stays as it was then
            # (its bytes go to the kernel by splice, which rchar does not
            # count).
            r0 = rchar()
            eq(read_dropped(), orig, "bytes after a touch")
            r1 = rchar()
            for _ in range(3):
                eq(read_dropped(), orig, "bytes after a touch, again")
            r2 = rchar()
            if r1 - r0 < len(orig) or r2 - r1 >= len(orig):
                raise AssertionError("the daemon read %d bytes at the first "
                                     "read after the touch and %d at three "
                                     "more (the file has %d)" % (
                                         r1 - r0, r2 - r1, len(orig)))
            changed = bytearray(orig)
            changed[len(orig) // 2] ^= 0x55
            with open(victim, "r+b") as f:
                f.write(changed)
            expect_errno(errno.ESTALE, read_dropped)
            status = read(os.path.join(mnt, "status")).decode()
            if "changed since the import" not in status:
                raise AssertionError("status gives no reason:\n" + status)
            # ... and counts: the touch read whole once, this refusal
            got = re.search(r"sources changed since the import \(counts "
                            r"since the mount started\): (\d+) reads "
                            r"refused, (\d+) checks of touched files by "
                            r"their bytes", status)
            if not got or int(got.group(1)) < 1 or int(got.group(2)) < 1:
                raise AssertionError("status counts no changed source:\n"
                                     + status)
            out = w.sub("export-changed")
            r = curate("export", "--store", store, "--format", "coco", out,
                       check=False)
            if r.returncode == 0 or "changed since the import" not in \
                    r.stderr or names[4] not in r.stderr:
                raise AssertionError("curate export of a changed source: "
                                     "%d %s" % (r.returncode, r.stderr))
            # No partial tree left to pass for an export (the folder was
            # made by the export: gone; one given empty: left empty).
            if os.path.exists(out):
                raise AssertionError("a failed export left %s: %r" % (
                    out, os.listdir(out)))
            # A picture made from it (an ImageNet crop): the reason and
            # the source file too, not a bare "Stale file handle".
            crops_out = w.sub("export-changed-crops")
            os.mkdir(crops_out)
            r = curate("export", "--store", store, "--format", "imagenet",
                       crops_out, check=False)
            if os.listdir(crops_out):
                raise AssertionError("a failed export left %r" %
                                     os.listdir(crops_out))
            if r.returncode == 0 or "its source %s changed since the " \
                    "import" % names[4] not in r.stderr:
                raise AssertionError("curate export of a changed source's "
                                     "crops: %d %s" % (r.returncode,
                                                       r.stderr))
            with open(victim, "ab") as f:
                f.write(b"\0")
            expect_errno(errno.ESTALE, read_dropped)
        finally:
            with open(victim, "wb") as f:
                f.write(orig)
            os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
        eq(read_dropped(), orig, "source back")
    ck.run("a source changed since the import: ESTALE at the read and from "
           "curate export, with the reason; a touch keeping the bytes is "
           "served", t_changed_source_refused)

    def t_changed_source_refused_readonly():
        # -o readonly: reads come without a handle and the daemon keeps
        # the source's descriptor across opens (fdcache.c); a file
        # changed in place after a first read is refused all the same,
        # and served again once its bytes are back.
        victim = os.path.join(data, names[5])
        orig = read(victim)
        st = os.stat(victim)
        ro = w.sub("mnt-ro")
        rm = Mount(store, ro, ["-o", "readonly"]).start()
        p = os.path.join(ro, "samples", names[5])

        def read_dropped():
            with open(p, "rb") as f:
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                return f.read()
        try:
            eq(read_dropped(), orig, "bytes before the change")
            changed = bytearray(orig)
            changed[len(orig) // 2] ^= 0x55
            with open(victim, "r+b") as f:
                f.write(changed)
            expect_errno(errno.ESTALE, read_dropped)
            with open(victim, "r+b") as f:
                f.write(orig)
            eq(read_dropped(), orig, "bytes back (another time, same hash)")
        finally:
            with open(victim, "wb") as f:
                f.write(orig)
            os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
            rm.umount()
    ck.run("-o readonly: a source changed in place after a first read is "
           "refused at the next read that reaches the daemon",
           t_changed_source_refused_readonly)

    def t_changed_during_check_readonly():
        # -o readonly again, the file changed while the daemon checks it:
        # a touched file, the daemon stopped (faultshim) right after the
        # pread of its hash, then a byte changed.  The first read gets
        # that descriptor; the next one must check the file again
        # (ESTALE).  The descriptor kept was recorded with an fstat taken
        # after the check, so the changed file was served from then on.
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(
            __file__)), "..", "fault"))
        import faultlib
        import threading
        victim = os.path.join(data, names[6])
        orig = read(victim)
        st = os.stat(victim)
        ro = w.sub("mnt-ro-race")
        pause = faultlib.Pause(w.sub("race-pause") + "/p")
        arm = w.sub("race-arm")
        env = faultlib.fault_env(op="pread", path=victim, when="after",
                                 pause_dir=pause.dir, arm=arm)
        rm = Mount(store, ro, ["-o", "readonly"], env=env).start()
        p = os.path.join(ro, "samples", names[6])

        def read_dropped():
            with open(p, "rb") as f:
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                return f.read()
        got = {}

        def first():
            try:
                got["r"] = read_dropped()
            except OSError as e:
                got["r"] = e
        try:
            os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
            open(arm, "w").close()
            t = threading.Thread(target=first)
            t.start()
            pause.wait(lambda: rm.proc.poll() is None, timeout=60)
            changed = bytearray(orig)
            changed[len(orig) // 2] ^= 0x55
            with open(victim, "r+b") as f:
                f.write(changed)
            pause.resume()
            t.join(60)
            if not isinstance(got.get("r"), bytes):
                raise AssertionError("first read: %r" % got.get("r"))
            expect_errno(errno.ESTALE, read_dropped)
        finally:
            with open(victim, "wb") as f:
                f.write(orig)
            os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
            rm.umount()
            pause.remove()
    ck.run("-o readonly: a source changed while the daemon checks it is "
           "refused at the next read", t_changed_during_check_readonly)

    crops_dir = os.path.join(mnt, "export", "imagenet")

    def crops():
        return jpegs_under(crops_dir)

    def t_warm_crops():
        files = crops()
        if len(files) != 2 * N:
            raise AssertionError("%d crops, not %d" % (len(files), 2 * N))
        c = warm_pass(m, files, warmups=2)
        expect_no_requests(c, ("READ", "GETATTR", "LOOKUP"),
                           "warm pass over crops")
        eq(c.get("OPEN"), len(files), "one OPEN per crop")
    ck.run("a warm pass over export/imagenet reads every crop from the page "
           "cache: one OPEN per file, no LOOKUP", t_warm_crops)

    def t_label_read_no_flush():
        labs = [os.path.join(mnt, "labels", n[:-4] + ".json")
                for n in names]
        c = warm_pass(m, labs)
        expect_no_requests(c, ("FLUSH",), "reading labels")
        eq(c.get("OPEN"), len(labs), "one OPEN per labels file")
    ck.run("reading labels/<n>.json sends no FLUSH", t_label_read_no_flush)

    def t_label_change_reaches_next_open():
        stem = names[0][:-4]
        crop = crop_of(crops(), stem, "cat")
        old = read(crop)
        held = open(crop, "rb")
        try:
            def grow(boxes):
                for b in boxes:
                    if b["label"] == "cat":
                        b["bbox"] = [5, 5, 200, 150]
            edit_boxes(mnt, stem, grow)
            new = read(crop)
            if new == old:
                raise AssertionError("the next open shows the old crop")
            eq(held.read(), old, "a reader holding the old crop")
        finally:
            held.close()
    ck.run("a label change reaches the next open of a crop, never a reader "
           "holding the old one", t_label_change_reaches_next_open)

    def t_changed_source_crops_listed():
        # Crops of a source changed since the import that are not made yet
        # (a new box): still listed (a listing with attributes once left
        # them out, so that a training set read from the folder came out
        # silently shorter), and refused at the read.
        victim = os.path.join(data, names[4])
        stem = names[4][:-4]
        orig = read(victim)
        st = os.stat(victim)
        cats = os.path.join(mnt, "export", "imagenet", "cat")
        before = set(os.listdir(cats))
        try:
            with open(victim, "ab") as f:
                f.write(b"\0")
            edit_boxes(mnt, stem, lambda b: b.append(
                {"label": "cat", "bbox": [5, 5, 30, 30]}))
            time.sleep(1.5)   # the warm thread tried to make it meanwhile
            now = set(os.listdir(cats))
            new = [f for f in now - before if f.startswith(stem)]
            eq(len(new), 1, "the new crop listed: %r" % sorted(now))
            eq(len([f for f in now if f.startswith(stem)]), 2,
               "the photo's crops listed: %r" % sorted(now))
            expect_errno(errno.ESTALE, read, os.path.join(cats, new[0]))
        finally:
            with open(victim, "wb") as f:
                f.write(orig)
            os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    ck.run("crops of a source changed since the import stay listed and read "
           "ESTALE", t_changed_source_crops_listed)

    m.umount()


def main():
    run_suite("curatefs-opencost-", body)


if __name__ == "__main__":
    main()
