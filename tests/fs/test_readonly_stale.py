#!/usr/bin/python3
"""fs suite, `-o readonly` versions (user guide §2): a generated file that
changes because of a change made next to the mount becomes a new inode at
its next lookup, while a descriptor opened on the old version keeps it as
long as the daemon's cache of 64 generated contents has that version; once
64 other contents have pushed it out, reading the old descriptor gives
ESTALE, and a fresh open reads the new version."""
import errno
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (Mount, coco_store, curate, eq, expect_errno,  # noqa
                   read, run_suite)

W, H = 64, 48
N = 80


def write_coco(path, names, shift=0):
    images, anns = [], []
    for i, n in enumerate(names):
        images.append({"id": i + 1, "file_name": n, "width": W, "height": H})
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 1,
                     "bbox": [2 + shift, 2, 10, 10], "iscrowd": 0,
                     "area": 100})
    json.dump({"images": images, "annotations": anns,
               "categories": [{"id": 1, "name": "cat"}]}, open(path, "w"))


def body(ck, w):
    data, names, store = coco_store(w, N, W, H, write_coco)
    mnt = w.sub("mnt")
    m = Mount(store, mnt, ["-o", "readonly"]).start()
    coco = os.path.join(mnt, "export", "coco", "annotations",
                        "instances_default.json")
    yolo = os.path.join(mnt, "export", "yolo", "labels", "default")

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
            eq(sorted({tuple(a["bbox"]) for a in old["annotations"]}),
               [(2, 2, 10, 10)], "the old version while cached")
            # 64 other generated contents push the old version out.
            pushed = 0
            for f in sorted(os.listdir(yolo)):
                read(os.path.join(yolo, f))
                pushed += 1
            if pushed < 65:
                raise AssertionError("only %d YOLO files" % pushed)
            # Drop the kernel's copy, so the read reaches the daemon.
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            expect_errno(errno.ESTALE, os.pread, fd, 4096, 0)
        finally:
            os.close(fd)
        new = json.loads(read(coco))
        if os.stat(coco).st_ino == old_ino:
            raise AssertionError("the new version kept the old inode")
        eq(sorted({tuple(a["bbox"]) for a in new["annotations"]}),
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
        new = json.loads(read(coco))
        eq(sorted({tuple(a["bbox"]) for a in new["annotations"]}),
           [(11, 2, 10, 10)], "the next open reads the new version")
    ck.run("-o readonly: a reader keeps its version across a change",
           t_held_version)
    m.umount()


if __name__ == "__main__":
    run_suite("curatefs-rostale-", body)
