#!/usr/bin/python3
"""fs suite, `-o readonly` versions (user guide §2): a generated file that
changes because of a change made next to the mount becomes a new inode at
its first lookup once the daemon noticed the change (it looks every 0.2 s
and then has the kernel drop the names it keeps), while a descriptor opened on the old version keeps it as
long as the daemon's content cache has that version; once other content
(twice the cache's byte bound, -o cache_size=1M) has pushed it out, reading
the old descriptor gives ESTALE, and a fresh open reads the new version."""
import errno
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (Mount, coco_store, curate, eq, expect_errno,  # noqa
                   read, run_suite)

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
           [(7, 2, 10, 10)], "a fresh open reads the new version")
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
        # The daemon notices a change next to the mount within a tick.
        t0 = time.monotonic()
        while moved(json.loads(read(coco))) == [(7, 2, 10, 10)]:
            if time.monotonic() - t0 > 5:
                break
            time.sleep(0.05)
        eq(moved(json.loads(read(coco))),
           [(11, 2, 10, 10)], "an open after the change was noticed")
    ck.run("-o readonly: a reader keeps its version across a change",
           t_held_version)
    m.umount()


if __name__ == "__main__":
    run_suite("curatefs-rostale-", body)
