#!/usr/bin/python3
"""fs suite, export/: the COCO, YOLO and VOC trees of the mount with
subsets from tags, image bytes equal to the sources, byte-identical to
`curate export`, tag and view scopes, coherence under change (a reader
holding instances_<subset>.json open while labels change reads one whole
version; the next open shows the new one), stat right after a label write
(a kept name: the old version by default, the new one with -o epoch), and
directories of more files than one readdir request carries."""
import json
import os
import time
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import VIEWS, Mount, coco_store, curate, eq, make_jpegs  # noqa
from fslib import edit_boxes, read, run_suite, write, write_coco_boxes  # noqa

W, H = 320, 240
N = 12


CLASSES = ("cat", "dog", "bird")


def write_coco(path, names):
    write_coco_boxes(path, names, W, H, lambda i: [
        (CLASSES[(i + j) % 3], [10 + 20 * j, 10 + 10 * j, 50 + j, 40])
        for j in range(1 + i % 3)], classes=CLASSES)


def tree(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = read(p)
    return out


def body(ck, w):
    data, names, store = coco_store(w, N, W, H, write_coco)
    stems = [n[:-4] for n in names]
    mnt = w.sub("mnt")
    m = Mount(store, mnt).start()
    X = os.path.join(mnt, "export")
    T = os.path.join(mnt, "tags")
    os.mkdir(os.path.join(T, "train"))
    os.mkdir(os.path.join(T, "val"))
    for i, n in enumerate(names):
        if i < 8:
            os.rename(os.path.join(mnt, "samples", n),
                      os.path.join(T, "train" if i < 6 else "val", n))

    def t_layout():
        eq(sorted(os.listdir(X)),
           ["coco", "imagenet", "tags", "views", "voc", "yolo"], "export/")
        eq(sorted(os.listdir(os.path.join(X, "coco", "annotations"))),
           ["instances_default.json", "instances_train.json",
            "instances_val.json"], "coco annotations")
        tr = json.loads(read(os.path.join(
            X, "coco", "annotations", "instances_train.json")))
        eq(sorted(i["file_name"] for i in tr["images"]),
           sorted(names[:6]), "train images")
        eq(sorted(os.listdir(os.path.join(X, "coco", "images", "val"))),
           sorted(names[6:8]), "val image files")
        for n in names[:6]:
            eq(read(os.path.join(X, "coco", "images", "train", n)),
               read(os.path.join(data, n)), "bytes of " + n)
        eq(sorted(os.listdir(os.path.join(X, "yolo", "labels", "train"))),
           sorted(s + ".txt" for s in stems[:6]), "yolo labels")
        ys = read(os.path.join(X, "yolo", "data.yaml")).decode()
        for k in ("train: images/train", "val: images/val"):
            if k not in ys:
                raise AssertionError("data.yaml lacks %r" % k)
        eq(sorted(os.listdir(os.path.join(X, "voc", "Annotations"))),
           sorted(s + ".xml" for s in stems), "voc annotations")
        tv = read(os.path.join(X, "voc", "ImageSets", "Main", "val.txt"))
        eq(tv.decode().split(), stems[6:8], "voc val set")
    ck.run("COCO, YOLO and VOC trees with subsets from tags", t_layout)

    def t_sizes_exact():
        for rel in ("coco/annotations/instances_train.json",
                    "yolo/data.yaml", "voc/labelmap.txt",
                    "yolo/labels/train/%s.txt" % stems[1]):
            p = os.path.join(X, rel)
            eq(os.stat(p).st_size, len(read(p)), "size of " + rel)
    ck.run("generated files have their exact size at lookup",
           t_sizes_exact)

    def t_identical_to_tool():
        for fmt in ("coco", "yolo", "voc", "imagenet"):
            out = w.sub("out-" + fmt)
            curate("export", "--store", store, "--format", fmt, out)
            a, b = tree(out), tree(os.path.join(X, fmt))
            eq(sorted(a), sorted(b), fmt + " file list")
            for k in a:
                if a[k] != b[k]:
                    raise AssertionError("%s/%s differs" % (fmt, k))
        out = w.sub("out-tag")
        curate("export", "--store", store, "--format", "yolo", "--tag",
               "val", out)
        a, b = tree(out), tree(os.path.join(X, "tags", "val", "yolo"))
        eq(a, b, "tag export")
        out = w.sub("out-view")
        curate("export", "--store", store, "--format", "coco", "--view",
               "unique", out)
        a, b = tree(out), tree(os.path.join(X, "views", "unique", "coco"))
        eq(sorted(a), sorted(b), "view export file list")
        if not any(k.startswith("images/") for k in a):
            raise AssertionError("view export has no images")
        eq(a, b, "view export")
    ck.run("the mounted trees equal `curate export` byte for byte",
           t_identical_to_tool)

    def t_scopes():
        eq(sorted(os.listdir(os.path.join(X, "tags"))), ["train", "val"],
           "export/tags")
        eq(sorted(os.listdir(os.path.join(X, "tags", "val", "coco",
                                          "images", "val"))),
           sorted(names[6:8]), "tag scope")
        eq(sorted(os.listdir(os.path.join(X, "views"))),
           sorted(VIEWS), "export/views")
    ck.run("tags/<t>/ and views/<v>/ scopes", t_scopes)

    def t_yaml_val_without_val_subset():
        # export/tags/train/ holds only train samples, as a project whose
        # every sample is tagged train: Ultralytics' check_det_dataset
        # (ultralytics/data/utils.py) raises "'val:' key missing" unless
        # both keys are there, and a val path must exist.
        import yaml
        root = os.path.join(X, "tags", "train", "yolo")
        text = read(os.path.join(root, "data.yaml")).decode()
        data = yaml.safe_load(text)
        for k in ("train", "val"):
            if not data.get(k):
                raise AssertionError("data.yaml has no %r:\n%s" % (k, text))
            if not os.path.isdir(os.path.join(root, data[k])):
                raise AssertionError("%s: %r is no folder" % (k, data[k]))
        eq(data["val"], "images/train", "val names the train images")
        if "# No sample is in subset val" not in text:
            raise AssertionError("no comment says so:\n" + text)
        eq(sorted(k for k in data if k not in ("path", "names")),
           ["train", "val"], "no other subset key")
        if "(tag val)" not in text:
            raise AssertionError("the comment does not name tag val:\n"
                                 + text)
        # With the val subset's tag configured, the comment names that tag
        # (the one to give samples), not the subset's folder name.
        cfg = os.path.join(mnt, "config")
        write(cfg, "export.val = validation\n")
        try:
            text = read(os.path.join(root, "data.yaml")).decode()
        finally:
            write(cfg, "export.val = val\n")
        if "(tag validation)" not in text:
            raise AssertionError("with export.val = validation the comment "
                                 "does not name that tag:\n" + text)
    ck.run("data.yaml of train samples alone still has val: (the train "
           "images, said in a comment), as Ultralytics requires",
           t_yaml_val_without_val_subset)

    def t_coherent_under_change():
        p = os.path.join(X, "coco", "annotations", "instances_train.json")
        before = read(p)
        f = open(p, "rb")
        head = f.read(64)
        edit_boxes(mnt, stems[0], lambda b: b.append(
            {"label": "dog", "bbox": [100, 100, 30, 30]}))
        rest = f.read()
        f.close()
        eq(head + rest, before, "open reader sees one version")
        after = json.loads(read(p))
        boxes = [a for a in after["annotations"] if a["image_id"] ==
                 json.loads(before)["images"][0]["id"]]
        if not any(a["bbox"] == [100, 100, 30, 30] for a in boxes):
            raise AssertionError("next open lacks the new box")
        eq(os.stat(p).st_size, len(read(p)), "new size")
    ck.run("an open export stays coherent; the next open is new",
           t_coherent_under_change)

    def t_mtime_follows_content():
        # rsync, make and backup tools skip a file whose size and mtime (in
        # whole seconds) did not change.  A YOLO row has fixed-width
        # numbers and a VOC corner often keeps its digit count, so a moved
        # box leaves those files at their size: their mtime must move on by
        # a whole second, and stay put while nothing changes.
        rels = ("yolo/labels/train/%s.txt" % stems[1],
                "voc/Annotations/%s.xml" % stems[1])

        def quick(rel):
            p = os.path.join(X, rel)
            os.listdir(os.path.dirname(p))  # as rsync: names looked up anew
            st = os.stat(p)
            return st.st_size, int(st.st_mtime), read(p)
        before = [quick(r) for r in rels]
        eq([quick(r) for r in rels], before, "unchanged: same size and time")
        edit_boxes(mnt, stems[1], lambda b: b[0].update(
            bbox=[b[0]["bbox"][0] + 1] + b[0]["bbox"][1:]))
        for rel, (size, sec, data) in zip(rels, before):
            size2, sec2, data2 = quick(rel)
            if data2 == data:
                raise AssertionError(rel + ": the box move is not shown")
            eq(size2, size, rel + " keeps its size (the case to catch)")
            if sec2 <= sec:
                raise AssertionError("%s changed but its mtime did not move "
                                     "on (%d, then %d)" % (rel, sec, sec2))
            eq(quick(rel)[:2], (size2, sec2), rel + ": read again, same")
    ck.run("a changed export file gets a newer mtime (rsync sees it)",
           t_mtime_follows_content)

    def t_mtime_not_ahead():
        # Only a file whose content changes more than once a second may get
        # times ahead of the clock; a file made after a burst of edits of
        # other samples is born now (a floor shared by every path put it a
        # second ahead per edit: 39 s after 40 edits).
        rel = "yolo/labels/train/%s.txt" % stems[1]
        p = os.path.join(X, rel)
        other = os.path.join(X, "yolo/labels/train/%s.txt" % stems[2])
        os.listdir(os.path.dirname(other))
        was = os.stat(other).st_mtime_ns
        for k in range(12):
            edit_boxes(mnt, stems[1], lambda b: b[0].update(
                bbox=[b[0]["bbox"][0] + 1] + b[0]["bbox"][1:]))
            os.listdir(os.path.dirname(p))
            os.stat(p)
        os.listdir(os.path.dirname(other))
        eq(os.stat(other).st_mtime_ns, was,
           "a label file whose bytes stayed keeps its mtime")
        ahead = os.stat(other).st_mtime - time.time()
        if ahead > 1:
            raise AssertionError("a file no edit touched is %.1f s ahead of "
                                 "the clock after 12 edits of another" % ahead)
        ahead = os.stat(p).st_mtime - time.time()
        if ahead > 13:
            raise AssertionError("the edited file is %.1f s ahead" % ahead)
    ck.run("a burst of edits moves no other file's mtime, nor puts it ahead "
           "of the clock",
           t_mtime_not_ahead)

    def t_prewarm():
        import time
        edit_boxes(mnt, stems[2], lambda b: b.append(
            {"label": "cat", "bbox": [1, 1, 9, 9]}))
        n0 = m.logtext().count("prepared export/coco/annotations/"
                               "instances_train.json")
        t0 = time.time()
        while time.time() - t0 < 10:
            if m.logtext().count("prepared export/coco/annotations/"
                                 "instances_train.json") > n0:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("not prepared after a change")
        p = os.path.join(X, "coco", "annotations", "instances_train.json")
        doc = read(p)
        if b"[1,1,9,9]" not in doc:
            raise AssertionError("prepared file lacks the change")
        eq(len(doc), os.stat(p).st_size, "size")
        json.loads(doc)
    ck.run("after a change the COCO JSON is prepared ahead", t_prewarm)

    # A sample of no tag: its boxes are in instances_default.json, which
    # grows by one annotation with each box added.
    J = os.path.join(X, "coco", "annotations", "instances_default.json")
    untagged = stems[N - 1]

    def add_box(k):
        edit_boxes(mnt, untagged, lambda b: b.append(
            {"label": "cat", "bbox": [1 + k, 2, 30, 40]}))

    def t_default_stat_kept():
        # The user guide's "How a kept name follows a change": a normal
        # mount keeps the names of versioned files and no request reaches
        # the daemon for the stat of a kept name, so it shows the version
        # the name led to until the next open (or a listing of the folder).
        for k in range(3):
            old = read(J)
            ino = os.stat(J).st_ino
            add_box(k)
            st = os.stat(J)
            eq((st.st_ino, st.st_size), (ino, len(old)),
               "stat right after the write (round %d)" % k)
            new = read(J)
            if len(new) <= len(old):
                raise AssertionError("the next open shows no new box")
            st = os.stat(J)
            if st.st_ino == ino:
                raise AssertionError("stat after the open: the old inode")
            eq(st.st_size, len(new), "stat after the open")
    ck.run("by default, stat of a kept export name right after a label "
           "write shows the old version until the next open",
           t_default_stat_kept)

    m.umount()

    m = Mount(store, mnt, ["-o", "epoch"]).start()

    def t_epoch_stat_exact():
        # With the name epoch, the FLUSH of the label document moves it
        # before close() returns: the stat right after sees the new size.
        # A move sent later would hide from a stat whose name was looked
        # up before it: the notify thread's tick (200 ms after the queue
        # was last busy) and the WRITE of a document (which moves the
        # epoch for a change not yet noticed) both come later than the
        # read of J only if the last change is not yet noticed, so each
        # round waits for that first, with the document ready.
        lab = os.path.join(mnt, "labels", untagged + ".json")
        stale = []
        for k in range(4):
            doc = json.loads(read(lab))
            doc["fields"]["ground_truth"].append(
                {"label": "cat", "bbox": [11 + k, 2, 30, 40]})
            text = json.dumps(doc)
            time.sleep(0.4)
            old = read(J)
            write(lab, text)
            size = os.stat(J).st_size
            new = read(J)
            if len(new) <= len(old):
                raise AssertionError("the next open shows no new box")
            if size != len(new):
                stale.append((k, size, len(new)))
        if stale:
            raise AssertionError("-o epoch: stat right after close() of a "
                                 "label write showed the old size "
                                 "(round, stat, read): %s" % stale)
    ck.run("-o epoch: stat right after a label write has the new size",
           t_epoch_stat_exact)

    m.umount()

    def t_many_files():
        # Listings longer than one kernel request: the kernel asks with
        # READDIRPLUS first, then plain READDIR, whose entries must carry
        # an inode number (readdir() drops entries numbered 0).
        n = 700
        data2 = w.sub("many")
        make_jpegs(data2, n, extra=["-W", "64", "-H", "48"])
        store2 = w.sub("store-many")
        curate("import", "--store", store2, "--no-features", data2)
        m2 = Mount(store2, mnt).start()
        try:
            for rel in ("coco/images/default", "yolo/images/default",
                        "yolo/labels/default", "voc/JPEGImages",
                        "voc/Annotations"):
                eq(len(os.listdir(os.path.join(X, rel))), n, rel)
            out = w.sub("out-many")
            curate("export", "--store", store2, "--format", "yolo", out)
            a, b = tree(out), tree(os.path.join(X, "yolo"))
            eq(sorted(a), sorted(b), "yolo file list")
            for k in a:
                if a[k] != b[k]:
                    raise AssertionError("yolo/%s differs" % k)
        finally:
            m2.umount()
    ck.run("export directories of 700 files list every file",
           t_many_files)


def main():
    run_suite("curatefs-export-", body)


if __name__ == "__main__":
    main()
