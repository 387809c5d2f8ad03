#!/usr/bin/python3
"""fs suite, export/voc/ of samples whose names a VOC reader's line
handling would change: whitespace at either end of the name (a space,
a no-break space, an ideographic space), a leading '#', and '%' signs,
among plain names.

VOC readers read ImageSets/Main/<set>.txt a line at a time and strip
each line (torchvision's VOCDetection then opens JPEGImages/<line>.jpg and
Annotations/<line>.xml; datumaro, which CVAT's "PASCAL VOC 1.1" import
runs, also skips a line starting with '#').  So every line must be its
own strip() and must not start with '#'; torchvision's VOCDetection must
load every image with its boxes, from the mount as from `curate export`
(byte-identical); and the VOC label import must read the tree back to the
same boxes.  Each image has one box of a width of its own, which pairs a
loaded image with its sample without relying on the export's names."""
import errno
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import Mount, curate, eq, expect_errno, make_jpegs  # noqa
from fslib import read, run_suite  # noqa

W, H = 160, 120
NAMES = [" lead.jpg", "trail .jpg", "both  .jpg", "#hash.jpg", "a #b.jpg",
         "nbsp\u00a0.jpg", "\u3000ideo.jpg", "sub/ inner.jpg",
         "100%.jpg", "%20lead.jpg", "%zz.jpg", "plain.jpg", "%70lain.jpg",
         # 200-byte names (the longest a sample gets) whose encoding does
         # not fit in a file name: ids of the long form, the second cut
         # before a two-byte character
         "%20" * 66 + "ab.jpg", "%20" * 30 + "x" + "\u00e9" * 54 + "y.jpg"]


def box_of(i):
    return [5 + i, 6, 20 + 3 * i, 30]   # width 20 + 3i: unique per image


def body(ck, w):
    src = w.sub("gen")
    make_jpegs(src, len(NAMES), extra=["-W", str(W), "-H", str(H)])
    gen = sorted(os.listdir(src))
    data = w.sub("data")
    images, anns = [], []
    for i, n in enumerate(NAMES):
        os.makedirs(os.path.dirname(os.path.join(data, n)), exist_ok=True)
        shutil.copy(os.path.join(src, gen[i]), os.path.join(data, n))
        images.append({"id": i + 1, "file_name": n, "width": W,
                       "height": H})
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 1,
                     "bbox": box_of(i), "area": box_of(i)[2] * 30,
                     "iscrowd": 0})
    coco = w.sub("coco.json")
    with open(coco, "w") as f:
        json.dump({"images": images, "annotations": anns,
                   "categories": [{"id": 1, "name": "thing"}]}, f)
    store = w.sub("store")
    curate("import", "--store", store, "--no-features", "--coco", coco,
           data)
    by_width = {box_of(i)[2]: n for i, n in enumerate(NAMES)}
    mnt = w.sub("mnt")
    m = Mount(store, mnt).start()
    voc = os.path.join(mnt, "export", "voc")

    def t_lines():
        for s in sorted(os.listdir(os.path.join(voc, "ImageSets", "Main"))):
            lines = read(os.path.join(voc, "ImageSets", "Main", s)).decode(
                ).split("\n")
            eq(lines[-1], "", s + " ends with a newline")
            for ln in lines[:-1]:
                eq(ln, ln.strip(), "%s: line %r survives strip()" % (s, ln))
                eq(ln.startswith("#"), False, "%s: %r is no comment" % (s, ln))
            eq(len(set(lines[:-1])), len(NAMES), s + ": one line per image")
        # One file per image: a name spelled another way is not found.
        for alias in ("JPEGImages/ lead.jpg", "Annotations/#hash.xml",
                      "Annotations/%23h%61sh.xml", "JPEGImages/%25zz.jpg"):
            expect_errno(errno.ENOENT, os.stat, os.path.join(voc, alias))
    ck.run("ImageSets lines survive a reader's strip() and '#' comments",
           t_lines)

    def t_torchvision(root_of_voc, what):
        from torchvision.datasets import VOCDetection
        root = w.sub("vocroot-" + what)
        os.makedirs(os.path.join(root, "VOCdevkit"))
        os.symlink(root_of_voc, os.path.join(root, "VOCdevkit", "VOC2012"))
        v = VOCDetection(root, year="2012", image_set="trainval")
        eq(len(v), len(NAMES), "images in trainval")
        seen = set()
        for i in range(len(v)):
            img, t = v[i]     # raises if JPEGImages/<line>.jpg is missing
            objs = t["annotation"]["object"]
            eq(len(objs), 1, "one object")
            b = objs[0]["bndbox"]
            x0, y0 = int(b["xmin"]), int(b["ymin"])
            x1, y1 = int(b["xmax"]), int(b["ymax"])
            n = by_width.get(x1 - x0)
            eq(n is not None, True, "a box of a known width %d" % (x1 - x0))
            k = NAMES.index(n)
            eq([x0, y0, x1 - x0, y1 - y0], box_of(k), "box of %r" % n)
            eq(img.size, (W, H), "size of %r" % n)
            eq(read(v.images[i]), read(os.path.join(data, n)),
               "JPEGImages bytes of %r" % n)
            seen.add(n)
        eq(sorted(seen), sorted(NAMES), "every image loaded once")

    ck.run("torchvision VOCDetection loads every image of the mount's VOC "
           "tree with its box", t_torchvision, voc, "mount")
    out = w.sub("voc-export")
    curate("export", "--store", store, "--format", "voc", out)

    def t_same():
        for d, _, files in os.walk(out):
            for f in files:
                p = os.path.join(d, f)
                eq(read(p), read(os.path.join(voc, os.path.relpath(p, out))),
                   "mount and curate export: " + os.path.relpath(p, out))
    ck.run("curate export writes the same tree as the mount", t_same)
    ck.run("torchvision VOCDetection loads every image of curate export's "
           "VOC tree", t_torchvision, out, "export")

    def t_back():
        curate("import-labels", "--store", store, "--format", "voc",
               "--field", "back", out)
        for i, n in enumerate(NAMES):
            name = os.path.splitext(n)[0].replace("/", "__")
            doc = json.loads(read(os.path.join(mnt, "labels",
                                               name + ".json")))
            eq([d["bbox"] for d in doc["fields"]["back"]], [box_of(i)],
               "box of %r read back" % n)
    ck.run("the VOC label import reads the tree back to the same boxes",
           t_back)

    def t_foreign_ids():
        # A tree of another tool names files as they are.  "%70lain" is
        # no id the export writes for "plain" (that is "plain"), so it is
        # the sample "%70lain", not "plain"; "100%25" names no sample as
        # it is and is read decoded, "100%".
        fd = w.sub("voc-foreign")
        os.makedirs(os.path.join(fd, "Annotations"))
        boxes = {"%70lain": [1, 2, 11, 12], "100%25": [3, 4, 13, 14]}
        for stem, b in boxes.items():
            with open(os.path.join(fd, "Annotations", stem + ".xml"),
                      "w") as f:
                f.write("<annotation><filename>%s.jpg</filename><object>"
                        "<name>thing</name><bndbox><xmin>%d</xmin><ymin>%d"
                        "</ymin><xmax>%d</xmax><ymax>%d</ymax></bndbox>"
                        "</object></annotation>" % (stem, *b))
        curate("import-labels", "--store", store, "--format", "voc",
               "--field", "foreign", fd)
        got = {}
        for n in NAMES:
            name = os.path.splitext(n)[0].replace("/", "__")
            doc = json.loads(read(os.path.join(mnt, "labels",
                                               name + ".json")))
            if doc["fields"].get("foreign"):
                got[name] = [d["bbox"] for d in doc["fields"]["foreign"]]
        eq(got, {"%70lain": [[1, 2, 10, 10]], "100%": [[3, 4, 10, 10]]},
           "samples of the foreign ids")
    ck.run("a foreign VOC id that is no export's encoding names the sample "
           "spelled so first", t_foreign_ids)
    m.umount()

    def t_cut_utf8():
        # A file name with a cut UTF-8 sequence before a trailing space
        # (bytes, as Linux allows): the space is still encoded, not taken
        # for the rest of the sequence.
        d2 = w.sub("data-bytes")
        os.makedirs(d2)
        shutil.copy(os.path.join(src, gen[0]),
                    os.path.join(os.fsencode(d2), b"cut\xe2\x80 .jpg"))
        st2 = w.sub("store-bytes")
        curate("import", "--store", st2, "--no-features", d2)
        o2 = w.sub("voc-bytes")
        curate("export", "--store", st2, "--format", "voc", o2)
        with open(os.path.join(o2, "ImageSets", "Main", "default.txt"),
                  "rb") as f:
            lines = f.read().split(b"\n")[:-1]
        eq(lines, [b"cut\xe2\x80%20"], "image-set line of the cut name")
    ck.run("a space after a cut UTF-8 sequence is encoded too", t_cut_utf8)


if __name__ == "__main__":
    run_suite("curatefs-vocnames-", body)
