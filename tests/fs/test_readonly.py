#!/usr/bin/python3
"""fs suite, read-only mounts (-o readonly): the same tree and bytes as a
normal mount (samples, labels, views with drawn images, exports, status),
every write refused with EROFS by the kernel, and a clean unmount."""
import errno
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (ROOT_ENTRIES, Mount, curate, eq, expect_errno,  # noqa
                   make_jpegs, read, run_suite, write)

W, H = 320, 240


def body(ck, w):
    data = w.sub("data")
    make_jpegs(data, 5, extra=["-W", str(W), "-H", str(H)])
    names = sorted(os.listdir(data))
    coco = {"images": [{"id": i + 1, "file_name": n, "width": W, "height": H}
                       for i, n in enumerate(names)],
            "categories": [{"id": 1, "name": "cat"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                             "bbox": [10, 10, 50, 50], "iscrowd": 0},
                            {"id": 2, "image_id": 1, "category_id": 1,
                             "bbox": [11, 10, 50, 50], "iscrowd": 0}]}
    cj = w.sub("coco.json")
    json.dump(coco, open(cj, "w"))
    store = w.sub("store")
    curate("import", "--store", store, "--coco", cj, data)
    mnt = w.sub("mnt")
    paths = ["samples/" + names[0], "labels/%s.json" % names[0][:-4],
             "views/dupes/" + names[0], "README.txt",
             "export/coco/annotations/instances_default.json",
             "export/yolo/labels/default/%s.txt" % names[0][:-4]]
    m = Mount(store, mnt).start()
    want = {p: read(os.path.join(mnt, p)) for p in paths}
    m.umount()

    m = Mount(store, mnt, opts=["-o", "readonly"]).start()

    def t_same_tree():
        eq(sorted(os.listdir(mnt)), ROOT_ENTRIES, "root")
        eq(sorted(os.listdir(os.path.join(mnt, "samples"))), names, "samples")
        for p in paths:
            got = read(os.path.join(mnt, p))
            eq(got, want[p], p)
            eq(os.stat(os.path.join(mnt, p)).st_size, len(got), "size " + p)
        eq(read(os.path.join(mnt, "samples", names[3])),
           read(os.path.join(data, names[3])), "source bytes")
        if b"samples:" not in read(os.path.join(mnt, "status")):
            raise AssertionError("status")
    ck.run("a read-only mount shows the same tree and bytes", t_same_tree)

    def t_writes_refused():
        expect_errno(errno.EROFS, os.mkdir, os.path.join(mnt, "tags", "t"))
        expect_errno(errno.EROFS, os.rename,
                     os.path.join(mnt, "samples", names[0]),
                     os.path.join(mnt, "tags", names[0]))
        expect_errno(errno.EROFS, write, os.path.join(mnt, "config"),
                     "dupes.iou = 0.5\n")
        expect_errno(errno.EROFS, write,
                     os.path.join(mnt, "labels", names[0][:-4] + ".json"),
                     "{}")
        expect_errno(errno.EROFS, write, os.path.join(mnt, "cvat", "push"),
                     "samples\n")
        eq(read(os.path.join(mnt, "labels", names[0][:-4] + ".json")),
           want["labels/%s.json" % names[0][:-4]], "labels unchanged")
    ck.run("every write is refused with EROFS", t_writes_refused)
    m.umount()


def main():
    run_suite("curatefs-ro-", body)


if __name__ == "__main__":
    main()
