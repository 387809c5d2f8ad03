#!/usr/bin/python3
"""fs suite, the version of each ImageNet crop follows only what its bytes
follow (its box, its source photo, the export settings), not the rest of
its photo's labels, and the content cache's spill file stays bounded.

On a real mount (-d, so the daemon's log shows each READ), after one box
of a photo changes:
- the photo's other crops keep their inode, their kernel pages (a second
  pass sends no READ) and their cached content (no generation);
- the changed crop gets a new inode at its next open, one generation,
  the new box's size; a reader holding the old version reads it whole;
- a box moved to another class: its crop leaves the old class folder
  (ENOENT) and shows in the new one with the same pixels; the others
  keep their inodes;
- a box removed or added: the others keep their inodes, the removed
  crop is gone, the added one appears.
With -o cache_size=1M, over 1,200 crops read twice (pages dropped
between passes) the spill file's apparent size stays within the disk
bound plus a little: freed ranges are reused and a free tail cut off,
and the bytes read back from reused ranges are the crops' own."""
import errno
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (Mount, cache_status, coco_store, edit_boxes, eq,  # noqa
                   expect_errno, jpeg_size, log_settled, read, run_suite,
                   warm_pass, write, write_coco_boxes)

W, H = 160, 120


def boxes(i):
    """Four boxes a photo: ids 4i+1 .. 4i+4 in this order."""
    return [("cat", [10, 10, 40, 30]), ("dog", [60, 20, 50, 40 + i]),
            ("cat", [100, 60, 40, 40]), ("dog", [20, 70, 30, 30])]


def mount_cold(store, mnt, opts):
    """A mount with prewarm off, so only reads make crops (the setting is
    written, then the daemon started again with it)."""
    m = Mount(store, mnt).start()
    write(os.path.join(mnt, "config"), "export.prewarm = false\n")
    m.umount()
    return Mount(store, mnt, opts).start()


def misses(mnt):
    return cache_status(mnt)["misses"]


def body(ck, w):
    def coco(path, names):
        write_coco_boxes(path, names, W, H, boxes)
    _, names, store = coco_store(w, 3, W, H, coco)
    mnt = w.sub("mnt")
    m = mount_cold(store, mnt, ["-d"])
    top = os.path.join(mnt, "export", "imagenet")
    stem = names[0][:-4]

    def crop(cls, bid):
        return os.path.join(top, cls, "%s_%d.jpg" % (stem, bid))

    cur = {1: crop("cat", 1), 2: crop("dog", 2), 3: crop("cat", 3),
           4: crop("dog", 4)}
    # The first read makes the photo's four crops (one decode, three
    # offered); the rest are hits.
    m0 = misses(mnt)
    data = {b: read(p) for b, p in cur.items()}
    eq(misses(mnt) - m0, 1, "generations for a photo's four crops")
    ino = {b: os.stat(p).st_ino for b, p in cur.items()}

    def expect_kept(bids, what):
        """The crops of bids keep inode and bytes; no generation and no
        READ (their pages served the pass)."""
        paths = [cur[b] for b in bids]
        m1 = misses(mnt)
        c = warm_pass(m, paths, warmups=0)
        if c.get("READ"):
            raise AssertionError("%s: unchanged crops sent %d READ: %r" %
                                 (what, c["READ"], dict(c)))
        eq(misses(mnt), m1, what + ": generations for unchanged crops")
        # After the opens (a name the kernel kept is looked up again at
        # an open once its version changed, so only then may stat show
        # another inode).
        for b in bids:
            eq(os.stat(cur[b]).st_ino, ino[b], "%s: inode of box %d" %
               (what, b))
            eq(read(cur[b]), data[b], "%s: bytes of box %d" % (what, b))

    def t_coords():
        held = open(cur[1], "rb", buffering=0)
        head = held.read(100)

        def fn(bs):
            for b in bs:
                if b["id"] == 1:
                    b["bbox"] = [12, 14, 44, 36]
        try:
            edit_boxes(mnt, stem, fn)
            expect_kept([2, 3, 4], "after box 1 moved")
            m1 = misses(mnt)
            s0 = log_settled(m)
            new = read(cur[1])
            eq(jpeg_size(new), (44, 36), "the moved box's new crop size")
            if os.stat(cur[1]).st_ino == ino[1]:
                raise AssertionError("the moved box's crop kept its inode")
            eq(misses(mnt) - m1, 1, "generations for the moved box's crop")
            if "READ" not in m.logtext()[s0:]:
                raise AssertionError("the new crop was not read from the "
                                     "daemon")
            os.posix_fadvise(held.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            eq(head + held.read(1 << 20), data[1], "a reader holding the "
               "old crop")
        finally:
            held.close()
        data[1], ino[1] = new, os.stat(cur[1]).st_ino
    ck.run("a moved box: its crop changes, the photo's other crops keep "
           "inode, pages and cached content", t_coords)

    def t_class():
        def fn(bs):
            for b in bs:
                if b["id"] == 2:
                    b["label"] = "cat"
        edit_boxes(mnt, stem, fn)
        expect_kept([1, 3, 4], "after box 2 changed class")
        # Its old name: not listed, and its open fails (stat of a name
        # the kernel keeps may still answer: USER-GUIDE "How a kept name
        # follows a change").
        if os.path.basename(cur[2]) in os.listdir(os.path.dirname(cur[2])):
            raise AssertionError("the reclassed crop is still listed")
        expect_errno(errno.ENOENT, read, cur[2])
        cur[2] = crop("cat", 2)
        eq(read(cur[2]), data[2], "the reclassed box's crop, same pixels")
        if os.stat(cur[2]).st_ino == ino[2]:
            raise AssertionError("the crop under its new class has the "
                                 "old inode")
        ino[2] = os.stat(cur[2]).st_ino
    ck.run("a box moved to another class: its crop moves folder, the "
           "others keep their inodes", t_class)

    def t_remove_add():
        def rm(bs):
            bs[:] = [b for b in bs if b["id"] != 3]
        edit_boxes(mnt, stem, rm)
        expect_kept([1, 2, 4], "after box 3 was removed")
        gone = cur.pop(3)
        if os.path.basename(gone) in os.listdir(os.path.dirname(gone)):
            raise AssertionError("the removed box's crop is still listed")
        expect_errno(errno.ENOENT, read, gone)

        def add(bs):
            bs.append({"label": "dog", "bbox": [5, 5, 20, 25]})
        edit_boxes(mnt, stem, add)
        expect_kept([1, 2, 4], "after a box was added")
        mine = [f for f in os.listdir(os.path.join(top, "dog"))
                if f.startswith(stem + "_")]
        new = [f for f in mine if f not in ("%s_4.jpg" % stem,)]
        eq(len(new), 1, "the added box's crop among %r" % mine)
        eq(jpeg_size(read(os.path.join(top, "dog", new[0]))), (20, 25),
           "the added box's crop size")
    ck.run("a box removed or added: the others keep their inodes",
           t_remove_add)

    def t_dropped_pages_show():
        # What expect_kept stands on: pages dropped between the reads and
        # a warm_pass(warmups=0) (here by posix_fadvise, as an
        # invalidation by the file system would) show as READ, although
        # warm_pass locks the pages before its counted pass.
        paths = list(cur.values())
        for p in paths:
            read(p)
        for p in paths:
            fd = os.open(p, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
        c = warm_pass(m, paths, warmups=0)
        if not c.get("READ"):
            raise AssertionError("crops whose pages were dropped: no READ "
                                 "counted: %r" % dict(c))
    ck.run("pages dropped before a warm pass of kept crops show as READ",
           t_dropped_pages_show)
    m.umount()

    # The spill file: 150 photos of eight boxes, crops of one block each,
    # through a 1 MiB cache (768 KiB on disk: about 190 crops).
    big = w.sub("big")
    os.makedirs(big)

    class Sub:
        def sub(self, *p):
            return os.path.join(big, *p)
    BW, BH = 64, 48

    def boxes8(i):
        return [("cat" if k % 2 else "dog", [k * 7, (k * 5 + i) % 30, 6, 8])
                for k in range(8)]

    def coco8(path, names8):
        write_coco_boxes(path, names8, BW, BH, boxes8)
    _, names8, store8 = coco_store(Sub(), 150, BW, BH, coco8)
    m = mount_cold(store8, mnt, ["-o", "cache_size=1M"])
    real = os.path.realpath(store8)

    def spill_size():
        """The apparent size of the daemon's unlinked files of the store
        directory (here only the spill file: every crop is small)."""
        fd_dir = "/proc/%d/fd" % m.proc.pid
        total = 0
        for fd in os.listdir(fd_dir):
            p = os.path.join(fd_dir, fd)
            try:
                t = os.readlink(p)
                if t.startswith(real + os.sep) and t.endswith("(deleted)"):
                    total += os.stat(p).st_size
            except FileNotFoundError:
                continue
        return total

    def t_spill_bound():
        btop = os.path.join(mnt, "export", "imagenet")
        paths = sorted(os.path.join(btop, c, f) for c in os.listdir(btop)
                       for f in os.listdir(os.path.join(btop, c)))
        eq(len(paths), 1200, "crops listed")
        first, peak = {}, 0
        for rnd in range(2):
            for k, p in enumerate(paths):
                with open(p, "rb") as f:
                    # Pages dropped: the second pass reads the daemon's
                    # copy (memory, a reused spill range, or made again).
                    os.posix_fadvise(f.fileno(), 0, 0,
                                     os.POSIX_FADV_DONTNEED)
                    b = f.read()
                if rnd == 0:
                    first[p] = b
                else:
                    eq(b, first[p], p + ": bytes read again")
                if k % 20 == 0:
                    peak = max(peak, spill_size())
        s = cache_status(mnt)
        print("# spill file: apparent size at most %d bytes, disk bound %d"
              % (peak, s["disk_max"]))
        if s["evicted"] == 0:
            raise AssertionError("nothing left the cache: %r" % s)
        if peak == 0:
            raise AssertionError("no spill file seen")
        # Live ranges stay within the disk bound (status checks that);
        # the file may pass it only by what is briefly in transit.
        if peak > s["disk_max"] + (256 << 10):
            raise AssertionError("spill file grew to %d bytes, disk bound "
                                 "%d" % (peak, s["disk_max"]))
    ck.run("the spill file's apparent size stays near the disk bound",
           t_spill_bound)
    m.umount()


run_suite("curatefs-cropver-", body)
