#!/usr/bin/python3
"""fs suite, the warm open of a kept crop or drawn view on a normal mount
that is decided from memory (no store transaction) while no commit came
since the last open's check.  Every commit must send the next open
through the full check, whoever made it:

- two normal mounts of one store, each with its own daemon: after a
  label written through the first, the very next open on the second
  (whose opens of the same files were warm just before) reads the new
  crop and drawn view, equal to the first mount's, with no waiting;
  repeated over many changes, so that each change meets a warm open;
- `curate import-labels` in another process: the next open of the drawn
  view on the mount reads the new drawing at once;
- an unchanged file's warm opens still read its bytes (the quick open
  serves the right version);
- both daemons unmount cleanly, each exit 0.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (Mount, coco_store, crop_of, curate, edit_boxes, eq,  # noqa
                   jpegs_under, read, run_suite, write_coco_boxes)

W, H = 320, 240
N = 4
ROUNDS = 12


def boxes(i, dx=0):
    """A cat and a dog box per photo; even photos a duplicate cat box
    (views/dupes draws them); dx moves the duplicate."""
    b = [("cat", [10, 20, 60, 50]), ("dog", [100, 20, 60, 50])]
    if i % 2 == 0:
        b.append(("cat", [11 + dx, 20, 60, 50]))
    return b


def body(ck, w):
    _, names, store = coco_store(
        w, N, W, H, lambda p, ns: write_coco_boxes(p, ns, W, H, boxes))
    stem = names[0][:-4]
    a = Mount(store, w.sub("a")).start()
    b = Mount(store, w.sub("b")).start()
    view = os.path.join("views", "dupes", names[0])

    def dog(mnt):
        return os.path.relpath(crop_of(jpegs_under(
            os.path.join(mnt, "export", "imagenet")), stem, "dog"), mnt)

    def warm(mnt, rel, times=3):
        """Opens rel on mnt a few times; all the same bytes."""
        first = read(os.path.join(mnt, rel))
        for _ in range(times - 1):
            eq(read(os.path.join(mnt, rel)), first, "a warm open of " + rel)
        return first

    def t_other_daemon():
        crop = dog(b.mnt)
        for k in range(ROUNDS):
            before = {p: warm(b.mnt, p) for p in (crop, view)}

            def move(bs, k=k):
                for x in bs:
                    if x["label"] == "dog":
                        x["bbox"] = [100 + 3 * (k % 2 + 1), 20, 60, 50]
                    elif x["label"] == "cat" and x["bbox"][0] != 10:
                        # two places in turn: still a duplicate
                        x["bbox"] = [12 + k % 2, 21 + k % 2, 60, 50]
            edit_boxes(a.mnt, stem, move)
            for p in (crop, view):
                got = read(os.path.join(b.mnt, p))
                if got == before[p]:
                    raise AssertionError("round %d: %s on the second mount "
                                         "is the old version" % (k, p))
                eq(got, read(os.path.join(a.mnt, p)),
                   "round %d: %s on both mounts" % (k, p))
    ck.run("a label written through one daemon reaches the next open on a "
           "second normal mount at once, change after change",
           t_other_daemon)

    def t_import_labels():
        for k in range(4):
            before = warm(b.mnt, view)
            coco = w.sub("moved-%d.json" % k)
            write_coco_boxes(coco, names, W, H,
                             lambda i, k=k: boxes(i, 1 + k % 2))
            curate("import-labels", "--store", store, "--format", "coco",
                   coco)
            got = read(os.path.join(b.mnt, view))
            if got == before:
                raise AssertionError("round %d: the drawn view is the old "
                                     "one after curate import-labels" % k)
            eq(got, read(os.path.join(a.mnt, view)),
               "round %d: the drawn view on both mounts" % k)
    ck.run("curate import-labels in another process reaches the next open "
           "of a drawn view at once", t_import_labels)

    def t_umount():
        b.umount()
        a.umount()
    ck.run("both daemons unmount cleanly", t_umount)


def main():
    run_suite("curatefs-quickopen-", body)


if __name__ == "__main__":
    main()
