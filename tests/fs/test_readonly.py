#!/usr/bin/python3
"""fs suite, read-only mounts (-o readonly): the same tree and bytes as a
normal mount (samples, labels, views with drawn images, exports, status),
every write refused with EROFS by the kernel, held versions of generated
files kept whole after a change made next to the mount, and a clean
unmount."""
import errno
import json
import os
import sys
import time

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

    def t_status_fresh():
        # The kernel opens status itself here (no direct_io) and reads it
        # through its page cache, dropped only when the size or the mtime
        # moves.  Reading a generated file not read before moves the
        # cache's counters, most often keeping status's size: the next
        # read of status must show them moved all the same.
        st = os.path.join(mnt, "status")

        def counters(text):
            return [ln for ln in text.decode().splitlines()
                    if ln.startswith("generated content ")]
        kept_size = 0
        for stem in [n[:-4] for n in names[1:]]:
            for p in ("export/yolo/labels/default/%s.txt" % stem,
                      "export/voc/Annotations/%s.xml" % stem):
                before = read(st)
                read(os.path.join(mnt, p))
                after = read(st)
                kept_size += len(after) == len(before)
                if counters(after) == counters(before):
                    raise AssertionError("status after reading %s still "
                                         "shows %s" % (p, counters(before)))
        if not kept_size:
            raise AssertionError("every read changed status's size: the "
                                 "case to check did not occur")
    ck.run("status read again shows the counters moved (page cache "
           "dropped)", t_status_fresh)

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

    def t_versions_held():
        # Labels change next to the mount: a reader holding a generated
        # file keeps its version (no handle reaches the daemon here, so its
        # inode must keep it), even once the kernel has dropped its pages;
        # a new open gets the new version.
        held = {}
        for p in ("views/dupes/" + names[0],
                  "export/coco/annotations/instances_default.json"):
            f = open(os.path.join(mnt, p), "rb")
            held[p] = (f, f.read(), os.fstat(f.fileno()))
        coco["annotations"].append({"id": 3, "image_id": 1,
                                    "category_id": 1, "iscrowd": 0,
                                    "bbox": [12, 12, 50, 50]})
        cj2 = w.sub("coco2.json")
        json.dump(coco, open(cj2, "w"))
        curate("import-labels", "--store", store, "--format", "coco", cj2)
        for d, _, files in os.walk(os.path.join(mnt, "export")):
            for fn in files:
                os.stat(os.path.join(d, fn))
        time.sleep(1.2)  # past the attribute timeout
        # The held files' pages dropped (their own, not the machine's:
        # other tests running beside this one count their page-cache hits).
        for f, _, _ in held.values():
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        for p, (f, old, st0) in held.items():
            st1 = os.fstat(f.fileno())
            eq((st1.st_size, st1.st_mtime_ns), (st0.st_size, st0.st_mtime_ns),
               "attributes of the held " + p)
            eq(os.pread(f.fileno(), len(old) + 10, 0), old, "held " + p)
            f.close()
            if read(os.path.join(mnt, p)) == old:
                raise AssertionError("a new open of %s is not new" % p)
    ck.run("held versions stay whole after a change made elsewhere",
           t_versions_held)
    m.umount()
    eval_beside(ck, w, data, names, coco)


def eval_beside(ck, w, data, names, coco):
    """An evaluation whose labels changed beside a read-only mount: the
    mount shows the stored run and writes nothing to the store (a normal
    mount re-runs it, a write of data.mdb)."""
    preds = [{"image_id": a["image_id"], "category_id": 1,
              "bbox": a["bbox"], "score": 0.9}
             for a in coco["annotations"][:1]]
    pf, gt = w.sub("preds.json"), w.sub("gt-eval.json")
    json.dump(preds, open(pf, "w"))
    json.dump(coco, open(gt, "w"))
    store = w.sub("store-eval")
    curate("import", "--store", store, "--coco", gt, "--predictions", pf,
           data)
    curate("eval", "--store", store, "--name", "e1")
    mnt = w.sub("mnt-eval")
    paths = ["eval/e1/metrics.json", "samples.csv"]
    views = ("mistakes", "possible-missing", "possible-spurious")
    m = Mount(store, mnt).start()
    try:
        want = {p: read(os.path.join(mnt, p)) for p in paths}
        listed = {v: sorted(os.listdir(os.path.join(mnt, "views", v)))
                  for v in views}
    finally:
        m.umount()
    # The first photo, a mistake of the run (its second box unmatched).
    stale = [n for n in listed["mistakes"] if n.endswith("-" + names[0])]
    eq(len(stale), 1, "the first photo among the mistakes")
    # A label change made beside: the stored run is now stale, and so is
    # its record of the first photo (another box there) and the second.
    coco = dict(coco, annotations=coco["annotations"] + [
        {"id": 99, "image_id": 2, "category_id": 1, "iscrowd": 0,
         "bbox": [30, 30, 40, 40]},
        {"id": 98, "image_id": 1, "category_id": 1, "iscrowd": 0,
         "bbox": [200, 150, 40, 40]}])
    json.dump(coco, open(gt, "w"))
    curate("import-labels", "--store", store, "--format", "coco", gt)

    def t_no_rerun():
        db = os.path.join(store, "data.mdb")
        before = os.stat(db)
        m = Mount(store, mnt, opts=["-o", "readonly"]).start()
        try:
            got = {p: read(os.path.join(mnt, p)) for p in paths}
            # The run's lists, but for the photo whose labels changed
            # since: its record no longer describes its boxes, so it
            # cannot be drawn (it was listed and failed ESTALE); every
            # file listed reads.
            for v in views:
                d = os.path.join(mnt, "views", v)
                eq(sorted(os.listdir(d)),
                   [n for n in listed[v] if n not in stale], "views/" + v)
                for n in os.listdir(d):
                    if not read(os.path.join(d, n)).startswith(b"\xff\xd8"):
                        raise AssertionError("views/%s/%s: no JPEG" % (v, n))
                expect_errno(errno.ENOENT, os.stat,
                             os.path.join(d, stale[0]))
            # The other readers of an evaluation view: its export and its
            # contact sheet (they re-ran the run into the store).
            read(os.path.join(mnt, "export", "views", "mistakes", "coco",
                              "annotations", "instances_default.json"))
            read(os.path.join(mnt, "plots", "views", "mistakes.jpg"))
        finally:
            m.umount()
        after = os.stat(db)
        eq((after.st_size, after.st_mtime_ns),
           (before.st_size, before.st_mtime_ns), "data.mdb")
        eq(got["eval/e1/metrics.json"], want["eval/e1/metrics.json"],
           "the stored run's metrics")
    ck.run("an evaluation gone stale beside a read-only mount is shown as "
           "stored, not re-run into the store", t_no_rerun)


def main():
    run_suite("curatefs-ro-", body)


if __name__ == "__main__":
    main()
