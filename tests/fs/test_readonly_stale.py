#!/usr/bin/python3
"""fs suite, `-o readonly` versions (user guide §2): a generated file that
changes because of a change made next to the mount becomes a new inode at
its first lookup once the daemon noticed the change (it looks every 0.2 s
and then has the kernel drop the names it keeps), while a descriptor
opened on the old version keeps it as long as the daemon's content cache
has that version or one of the two store snapshots it keeps shows it; once
two more changes were noticed and other content (twice the cache's byte
bound, -o cache_size=1M) has pushed it out, reading the old descriptor
gives ESTALE, and a fresh open reads the new version.

The kernel keeps the names of generated files on a read-only mount (the
name epoch, on by default there): a warm pass over export/imagenet sends
no request at all.  A name kept across a change made next to the mount,
until the daemon notices it, leads to the version it named: its content
is generated again from the store as it was when needed, so a fresh open
right after a change, with the content cache flooded, reads whole old or
new bytes, never ESTALE (many rounds).  And after the change is noticed,
the old descriptor's version goes once the cache pushed it out: ESTALE
there (a descriptor, not an open)."""
import errno
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (Mount, coco_store, curate, eq, expect_errno,  # noqa
                   jpegs_under, read, run_suite, warm_pass)

W, H = 128, 96
N = 80
FLOOD = 10         # whole-picture boxes per image: ImageNet crops to read


def write_coco(path, names, shift=0):
    images, anns = [], []
    for i, n in enumerate(names):
        images.append({"id": i + 1, "file_name": n, "width": W, "height": H})
        anns.append({"id": len(anns) + 1, "image_id": i + 1,
                     "category_id": 1, "bbox": [2 + shift, 2, 10, 10],
                     "iscrowd": 0, "area": 100})
        for _ in range(FLOOD):
            anns.append({"id": len(anns) + 1, "image_id": i + 1,
                         "category_id": 2, "bbox": [0, 0, W, H],
                         "iscrowd": 0, "area": W * H})
    json.dump({"images": images, "annotations": anns,
               "categories": [{"id": 1, "name": "cat"},
                              {"id": 2, "name": "whole"}]}, open(path, "w"))


def whole_jpeg(b, what):
    if not (b.startswith(b"\xff\xd8") and b.rstrip(b"\0").endswith(
            b"\xff\xd9")):
        raise AssertionError("%s: not a whole JPEG (%d bytes)"
                             % (what, len(b)))


def stat_read(p):
    """stat, then open and read as cat does (Python's open() would ask
    whether the file is a terminal: an IOCTL request)."""
    os.stat(p)
    fd = os.open(p, os.O_RDONLY)
    try:
        while os.read(fd, 1 << 16):
            pass
    finally:
        os.close(fd)


def body(ck, w):
    data, names, store = coco_store(w, N, W, H, write_coco)
    mnt = w.sub("mnt")
    m = Mount(store, mnt, ["-o", "readonly,cache_size=1M"]).start()
    coco = os.path.join(mnt, "export", "coco", "annotations",
                        "instances_default.json")
    whole = os.path.join(mnt, "export", "imagenet", "whole")

    def moved(doc):
        """The boxes that move (class 1)."""
        return sorted({tuple(a["bbox"]) for a in doc["annotations"]
                       if a["category_id"] == 1})

    def noticed(x):
        """Waits until a fresh open of the COCO file shows the moved boxes
        at x: the daemon noticed the change next to the mount (it looks
        every 0.2 s)."""
        t0 = time.monotonic()
        while moved(json.loads(read(coco))) != [(x, 2, 10, 10)]:
            if time.monotonic() - t0 > 5:
                break
            time.sleep(0.05)
        eq(moved(json.loads(read(coco))),
           [(x, 2, 10, 10)], "an open after the change was noticed")

    def t_estale():
        old_ino = os.stat(coco).st_ino
        fd = os.open(coco, os.O_RDONLY)
        try:
            # A change next to the mount: every box moves by 5 pixels.
            cj = w.sub("moved.json")
            write_coco(cj, names, shift=5)
            curate("import-labels", "--store", store, "--format", "coco",
                   "--field", "ground_truth", cj)
            # The old descriptor still reads the old version.
            old = json.loads(os.pread(fd, 1 << 20, 0))
            eq(moved(old),
               [(2, 2, 10, 10)], "the old version while cached")
            # The daemon keeps the store as of the last two changes it
            # noticed, to make again what a kept name may still lead to:
            # two changes later, the old version is gone from there.
            noticed(7)
            cj = w.sub("moved-again.json")
            write_coco(cj, names, shift=6)
            curate("import-labels", "--store", store, "--format", "coco",
                   "--field", "ground_truth", cj)
            noticed(8)
            # Other generated content, more than the cache holds, pushes
            # the old version out.
            pushed = 0
            for f in sorted(os.listdir(whole)):
                pushed += len(read(os.path.join(whole, f)))
            if pushed < 2 << 20:
                raise AssertionError("only %d bytes of crops" % pushed)
            # Drop the kernel's copy, so the read reaches the daemon.
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            expect_errno(errno.ESTALE, os.pread, fd, 4096, 0)
        finally:
            os.close(fd)
        new = json.loads(read(coco))
        if os.stat(coco).st_ino == old_ino:
            raise AssertionError("the new version kept the old inode")
        eq(moved(new),
           [(8, 2, 10, 10)], "a fresh open reads the new version")
    ck.run("-o readonly: an old version pushed out of the cache gives "
           "ESTALE, a fresh open the new version", t_estale)

    def t_held_version():
        fd = os.open(coco, os.O_RDONLY)
        try:
            first = os.pread(fd, 1 << 20, 0)
            cj = w.sub("moved2.json")
            write_coco(cj, names, shift=9)
            curate("import-labels", "--store", store, "--format", "coco",
                   "--field", "ground_truth", cj)
            eq(os.pread(fd, 1 << 20, 0), first, "the held version")
        finally:
            os.close(fd)
        noticed(11)
    ck.run("-o readonly: a reader keeps its version across a change",
           t_held_version)
    m.umount()

    m = Mount(store, mnt, ["-d", "-o", "readonly,cache_size=1M"]).start()
    imagenet = os.path.join(mnt, "export", "imagenet")

    def t_warm_silent():
        st = read(os.path.join(mnt, "status")).decode()
        if "names of generated files: kept by the kernel until" not in st:
            raise AssertionError("status: " + st)
        files = jpegs_under(imagenet)
        eq(len(files), N * (FLOOD + 1), "crops listed")
        # Paced to last over a second: no attribute of a directory on
        # the way expires within a pass either.
        visit = lambda p: (time.sleep(0.002), stat_read(p))  # noqa: E731
        c = warm_pass(m, files, visit, warmups=2)
        tries = [dict(c)]
        # The kernel may reclaim a cached page between passes on a busy
        # machine (then a READ brings it back): another pass, for READs
        # only; any other request fails at once.
        while set(c) <= {"READ"} and sum(c.values()) and len(tries) < 3:
            c = warm_pass(m, files, visit, warmups=0)
            tries.append(dict(c))
        if sum(c.values()):
            raise AssertionError("warm passes sent %s" % tries)
    ck.run("-o readonly: a warm stat-and-read pass over export/imagenet "
           "sends no request at all", t_warm_silent)

    def t_fresh_never_estale():
        served = 0
        for rnd in range(12):
            files = jpegs_under(imagenet)
            # Kept names, and the kernel's pages of each crop.
            before = {p: read(p) for p in files}
            cj = w.sub("round%d.json" % rnd)
            write_coco(cj, names, shift=1 + rnd % 4)
            curate("import-labels", "--store", store, "--format", "coco",
                   "--field", "ground_truth", cj)
            # Fresh opens of the kept names, pages dropped so that each
            # read reaches the daemon, whose 1 MiB cache these 2+ MiB of
            # crops flood; the daemon notices the change meanwhile.
            for p in files:
                try:
                    fd = os.open(p, os.O_RDONLY)
                except FileNotFoundError:
                    continue  # noticed: the name went with its version
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    try:
                        got = os.pread(fd, 1 << 20, 0)
                    except OSError as e:
                        raise AssertionError("round %d: a fresh open of %s "
                                             "read: %s" % (rnd, p, e))
                finally:
                    os.close(fd)
                whole_jpeg(got, p)
                # A moved box, its old bytes: the version its kept name
                # led to, from the cache or generated again.
                served += got == before[p] and os.sep + "cat" + os.sep in p
        print("# %d reads served the version a kept name led to" % served)
        if not served:
            raise AssertionError("no read reached a kept version")
    ck.run("-o readonly: fresh opens right after changes next to the mount, "
           "cache flooded, never get ESTALE (12 rounds)",
           t_fresh_never_estale)
    m.umount()


if __name__ == "__main__":
    run_suite("curatefs-rostale-", body)
