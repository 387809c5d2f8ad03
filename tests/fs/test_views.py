#!/usr/bin/python3
"""fs suite, views and config: the `config` file (read, write, refusals
that change nothing), views/dupes after import, after label edits, after
config changes and after tag moves, the drawn dupes image against the
original (same size, differences only around the boxes), max IoU in the
labels JSON, tagging from a view with mv, and the drawn image of photos
with an EXIF orientation turned upright with their boxes."""
import errno
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (VIEWS, Mount, coco_store, curate, eq,  # noqa
                   expect_errno, make_jpegs)
from fslib import (edit_boxes, read, run_suite, write,  # noqa: E402
                   write_coco_boxes)
from fslib import check_drawn_upright, oriented_jpeg  # noqa: E402

JPEGCMP = os.environ.get("JPEGCMP", "build/tests/jpegcmp")
W, H = 320, 240

# Boxes per image: img 0 has a same-class pair (IoU ~0.92), img 1 a pair of
# different classes (IoU ~0.94), img 2 one box, img 3 two far-apart boxes.
BOXES = {
    0: [("cat", [10, 10, 100, 100]), ("cat", [12, 12, 100, 100])],
    1: [("dog", [150, 60, 80, 80]), ("cat", [152, 60, 80, 80])],
    2: [("dog", [5, 5, 50, 50])],
    3: [("cat", [0, 0, 40, 40]), ("cat", [200, 150, 100, 80])],
}


def write_coco(path, names):
    write_coco_boxes(path, names, W, H, lambda i: BOXES.get(i, ()))


def body(ck, w):
    data, names, store = coco_store(w, 6, W, H, write_coco)
    mnt = w.sub("mnt")
    m = Mount(store, mnt).start()
    cfg = os.path.join(mnt, "config")
    D = os.path.join(mnt, "views", "dupes")
    stems = [n[:-4] for n in names]

    def dupes():
        return sorted(os.listdir(D))

    def t_config_read():
        text = read(cfg).decode()
        lines = [l for l in text.splitlines() if l and not l.startswith("#")]
        keys = {}
        for l in lines:
            mt = re.match(r"^([a-z_.]+) = (.*?)  # (.+)$", l)
            if not mt:
                raise AssertionError("bad config line %r" % l)
            keys[mt.group(1)] = mt.group(2)
        for k, v in (("dupes.iou", "0.75"), ("dupes.classes", "same"),
                     ("unique.count", "100")):
            eq(keys.get(k), v, k)
        eq(os.stat(cfg).st_size, len(text.encode()), "size at lookup")
    ck.run("config shows every key with value and comment", t_config_read)

    def t_config_refusals():
        before = read(cfg)
        for doc, why in (("bogus.key = 1\n", "unknown key"),
                         ("dupes.iou = 1.5\n", "not a number in"),
                         ("dupes.classes = some\n", "not one of"),
                         ("unique.count = -3\n", "not an integer"),
                         ("dupes.iou = 0.5\nno equals sign\n", "line 2")):
            expect_errno(errno.EINVAL, write, cfg, doc)
            eq(read(cfg), before, "config unchanged after %r" % doc)
            st = read(os.path.join(mnt, "status")).decode()
            if why not in st:
                raise AssertionError("reason %r not in status" % why)
        eq(dupes(), [stems[0] + ".jpg"], "dupes unchanged")
    ck.run("bad config writes fail with EINVAL and change nothing",
           t_config_refusals)

    def t_dupes_initial():
        eq(dupes(), [stems[0] + ".jpg"], "dupes")
    ck.run("views/dupes lists the sample with a same-class pair",
           t_dupes_initial)

    def t_dupes_image():
        got = os.path.join(D, stems[0] + ".jpg")
        size = os.stat(got).st_size
        blob = read(got)
        eq(len(blob), size, "size at lookup equals bytes read")
        if blob == read(os.path.join(data, names[0])):
            raise AssertionError("dupes file is the unchanged original")
        tmp = w.sub("d0.jpg")
        open(tmp, "wb").write(blob)
        boxes = ["%d,%d,%d,%d" % tuple(b) for _, b in BOXES[0]]
        out = subprocess.run([JPEGCMP, os.path.join(data, names[0]), tmp]
                             + boxes, capture_output=True, text=True,
                             check=True).stdout.split()
        eq(out[0], out[1], "same pixel size")
        eq(out[0], "%dx%d" % (W, H), "original size")
        outside = int(out[2].split("=")[1])
        inside = int(out[3].split("=")[1])
        if outside > 40:
            raise AssertionError("differs away from the boxes: %d" % outside)
        if inside < 100:
            raise AssertionError("boxes not drawn: %d pixels" % inside)
    ck.run("a dupes image decodes, has the original's size, differs only "
           "around the boxes", t_dupes_image)

    def t_config_classes():
        write(cfg, "dupes.classes = all\n")
        eq(dupes(), [stems[0] + ".jpg", stems[1] + ".jpg"], "all classes")
        write(cfg, "dupes.iou = 0.96\n")
        eq(dupes(), [], "higher threshold")
        write(cfg, "dupes.iou =\ndupes.classes =\n")
        eq(dupes(), [stems[0] + ".jpg"], "defaults restored")
        if "dupes.iou = 0.75" not in read(cfg).decode():
            raise AssertionError("default not shown")
    ck.run("views/dupes follows config changes at once", t_config_classes)

    def t_max_iou_json():
        lab = os.path.join(mnt, "labels", stems[0] + ".json")
        doc = json.loads(read(lab))
        boxes = doc["fields"]["ground_truth"]
        ids = [b["id"] for b in boxes]
        for b, other in zip(boxes, reversed(ids), strict=True):
            if abs(b["max_iou"] - (98 * 98) / (2 * 100 * 100 - 98 * 98)) > 1e-6:
                raise AssertionError("max_iou %r" % b["max_iou"])
            eq(b["max_iou_id"], other, "partner id")
        # Reading and writing back the same document works.
        write(lab, read(lab).decode())
        eq(json.loads(read(lab))["fields"]["ground_truth"], boxes,
           "round trip")
    ck.run("labels JSON shows max IoU and partner, and writes back",
           t_max_iou_json)

    def t_label_edits():
        edit_boxes(mnt, stems[3], lambda b: b[1].update(bbox=[1, 1, 40, 40]))
        eq(dupes(), [stems[0] + ".jpg", stems[3] + ".jpg"], "after edit")
        edit_boxes(mnt, stems[0], lambda b: b.pop(1))
        eq(dupes(), [stems[3] + ".jpg"], "after deleting a box")
    ck.run("views/dupes follows label edits at once", t_label_edits)

    def t_tag_from_view():
        os.mkdir(os.path.join(mnt, "tags", "reannotate"))
        os.rename(os.path.join(D, stems[3] + ".jpg"),
                  os.path.join(mnt, "tags", "reannotate", stems[3] + ".jpg"))
        eq(sorted(os.listdir(os.path.join(mnt, "tags", "reannotate"))),
           [stems[3] + ".jpg"], "tagged")
        eq(dupes(), [stems[3] + ".jpg"], "the view keeps the sample")
        expect_errno(errno.ENOENT, os.rename, os.path.join(D, "nope.jpg"),
                     os.path.join(mnt, "tags", "reannotate", "nope.jpg"))
    ck.run("mv from views/dupes into a tag tags the sample",
           t_tag_from_view)

    def t_views_listable():
        eq(sorted(os.listdir(os.path.join(mnt, "views"))),
           sorted(VIEWS), "views")
        for v in ("unique", "near-duplicates"):
            for n in os.listdir(os.path.join(mnt, "views", v)):
                if not re.match(r"^\d{4,}-.+\.jpg$", n):
                    raise AssertionError("%s/%s" % (v, n))
        expect_errno(errno.EACCES, open,
                     os.path.join(D, stems[3] + ".jpg"), "wb")
        expect_errno(errno.ENOENT, os.stat,
                     os.path.join(mnt, "views", "unique", "0001-nope.jpg"))
    ck.run("views/ lists its views; files are read-only", t_views_listable)

    def t_outside_changes():
        # `curate` changes the store next to the mount: new labels read
        # whole at once, a new image is listed within a few seconds.
        import time
        lab5 = os.path.join(mnt, "labels", stems[5] + ".json")
        small = read(lab5)   # the kernel now holds its (small) size
        extra = {5: [("dog", [30, 30, 40, 40]), ("dog", [31, 30, 40, 40])]}
        BOXES.update(extra)
        coco = w.sub("coco.json")
        write_coco(coco, names)
        make_jpegs(os.path.join(data, "more"), 1, seed=9,
                   extra=["-W", str(W), "-H", str(H)])
        curate("import", "--store", store, "--coco", coco, data)
        doc = json.loads(read(lab5))
        if len(read(lab5)) <= len(small):
            raise AssertionError("labels did not grow")
        eq([b["bbox"] for b in doc["fields"]["ground_truth"]],
           [[30, 30, 40, 40], [31, 30, 40, 40]], "labels written outside")
        t0 = time.time()
        while "more__img_000000.jpg" not in os.listdir(
                os.path.join(mnt, "samples")):
            if time.time() - t0 > 10:
                raise AssertionError("new sample not listed")
            time.sleep(0.1)
        if stems[5] + ".jpg" not in dupes():
            raise AssertionError("views/dupes ignores the outside change")
    ck.run("changes made by curate next to the mount show", t_outside_changes)

    def t_photo_replaced():
        # A photo replaced by another of the same size and imported again
        # keeps its labels: its drawing must show the new photo.
        import shutil
        p = os.path.join(D, stems[5] + ".jpg")
        before = read(p)
        alt = w.sub("alt")
        make_jpegs(alt, 1, seed=77, extra=["-W", str(W), "-H", str(H)])
        src = os.path.join(data, names[5])
        shutil.copyfile(os.path.join(alt, sorted(os.listdir(alt))[0]), src)
        st = os.stat(src)
        os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))
        curate("import", "--store", store, data)
        if read(p) == before:
            raise AssertionError("views/dupes draws the replaced photo")
    ck.run("a replaced photo is drawn anew in views/dupes", t_photo_replaced)

    def t_caption_cut():
        # A caption quotes the class name up to 80 bytes, cut between
        # characters, then the IoU: a 97-byte name of four-byte characters
        # is drawn as its first 19 characters and the IoU, exactly as the
        # class renamed (same id, same colour) to those 19 characters.
        # (The labels are written again after the rename, unchanged, so
        # that the image is drawn again.)
        long_name = "a" + "\U0001F600" * 24
        short_name = "a" + "\U0001F600" * 19
        edit_boxes(mnt, stems[4], lambda b: b.extend(
            [{"label": long_name, "bbox": [0, 20, 60, 60]},
             {"label": long_name, "bbox": [0, 20, 60, 60]}]))
        p = os.path.join(D, stems[4] + ".jpg")
        before = read(p)
        write(os.path.join(mnt, "classes"),
              "rename %s -> %s\n" % (long_name, short_name))
        edit_boxes(mnt, stems[4], lambda b: None)
        if read(p) != before:
            raise AssertionError("the drawn image differs after the rename")
        # A rename alone (labels unchanged) draws the new name, under a
        # newer mtime in whole seconds: the caption's length stays, so
        # rsync's quick check (size and seconds) sees the change by it.
        os.listdir(D)
        was = int(os.stat(p).st_mtime)
        write(os.path.join(mnt, "classes"),
              "rename %s -> b%s\n" % (short_name, short_name[1:]))
        if read(p) == before:
            raise AssertionError("views/dupes still shows the old class "
                                 "name after a rename")
        os.listdir(D)
        if int(os.stat(p).st_mtime) <= was:
            raise AssertionError("redrawn after a rename, same mtime %d" % was)
    ck.run("views/dupes captions cut long class names between characters "
           "and follow a class rename",
           t_caption_cut)

    m.umount()

    def t_oriented():
        # Photos stored sideways (6) and upside down (3), as cameras store
        # them: the drawn file shows them as a viewer shows the original,
        # boxes and all, and stays taggable.
        odata = w.sub("odata")
        os.makedirs(odata)
        orient = {"o3.jpg": 3, "o6.jpg": 6}
        names = sorted(orient)
        boxes = {0: [("dog", [180, 120, 90, 70]), ("dog", [182, 121, 90, 70])],
                 1: [("cat", [40, 30, 100, 80]), ("cat", [42, 30, 100, 80])]}
        for n in names:
            oriented_jpeg(os.path.join(odata, n), W, H, orient[n])
        coco = w.sub("ococo.json")
        write_coco_boxes(coco, names, W, H, lambda i: boxes[i])
        ostore = w.sub("ostore")
        curate("import", "--store", ostore, "--coco", coco, odata)
        om = Mount(ostore, w.sub("omnt")).start()
        od = os.path.join(om.mnt, "views", "dupes")
        eq(sorted(os.listdir(od)), names, "both photos in views/dupes")
        for i, n in enumerate(names):
            p = os.path.join(od, n)
            size = os.stat(p).st_size
            blob = read(p)
            eq(len(blob), size, "%s: size at lookup equals bytes read" % n)
            check_drawn_upright(blob, read(os.path.join(odata, n)),
                                orient[n], [b for _, b in boxes[i]])
        os.mkdir(os.path.join(om.mnt, "tags", "turned"))
        os.rename(os.path.join(od, "o6.jpg"),
                  os.path.join(om.mnt, "tags", "turned", "o6.jpg"))
        eq(os.listdir(os.path.join(om.mnt, "tags", "turned")), ["o6.jpg"],
           "tagged from views/dupes")
        om.umount()
    ck.run("views/dupes shows a photo with EXIF orientation 6 or 3 upright, "
           "its boxes turned with it", t_oriented)


def main():
    run_suite("curatefs-views-", body)


if __name__ == "__main__":
    main()
