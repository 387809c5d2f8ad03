"""Category ids through the store: a COCO import keeps each category's id
and supercategory (gapped ids as in COCO itself), the COCO export writes
them back, classes created later get ids above the largest, YOLO indices
are dense and name the same classes as data.yaml, VOC names agree, and
COCO -> store -> COCO export -> a fresh store gives the same labels, ids
and categories.  Image ids likewise: the COCO export writes the image ids
the dataset was imported with; an image without one gets (largest
imported id) + (its sample id); an id two samples were imported with
stays with the lower sample id."""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tempfile  # noqa: E402

import xlib  # noqa: E402
from xlib import check, curate, run  # noqa: E402

W, H = 160, 120
CATS = [{"id": 1, "name": "person", "supercategory": "person"},
        {"id": 3, "name": "car", "supercategory": "vehicle"},
        {"id": 18, "name": "dog", "supercategory": "animal"},
        {"id": 90, "name": "toothbrush", "supercategory": "indoor"}]


def export_json(store, out):
    curate("export", "--store", store, "--format", "coco", out)
    return json.load(open(os.path.join(out, "annotations",
                                       "instances_default.json")))


def boxes(doc):
    """(file name, category id, bbox) of every annotation."""
    files = {i["id"]: i["file_name"] for i in doc["images"]}
    return sorted((files[a["image_id"]], a["category_id"], a["bbox"])
                  for a in doc["annotations"])


def image_ids(doc):
    return {i["file_name"]: i["id"] for i in doc["images"]}


def main():
    tmp = tempfile.mkdtemp(prefix="export-class-ids-")
    data = os.path.join(tmp, "data")
    run(xlib.MKJPEG, "-n", "5", "-W", str(W), "-H", str(H), data)
    names = sorted(os.listdir(data))
    images, anns = [], []
    for i, n in enumerate(names):
        images.append({"id": 100 + i, "file_name": n, "width": W,
                       "height": H})
        for k, c in enumerate(CATS[:1 + i % 4]):
            anns.append({"id": len(anns) + 1, "image_id": 100 + i,
                         "category_id": c["id"], "iscrowd": 0,
                         "bbox": [10 + 5 * k, 10 + i, 30, 20],
                         "area": 600})
    src = os.path.join(tmp, "in.json")
    json.dump({"images": images, "annotations": anns, "categories": CATS},
              open(src, "w"))
    a = os.path.join(tmp, "a")
    curate("import", "--store", a, "--no-features", "--coco", src, data)

    listing = curate("classes", "--store", a).stdout.decode()
    got = [(int(l.split()[0]), l.split(None, 2)[2]) for l in
           listing.splitlines() if not l.startswith("#")]
    check(got == [(c["id"], c["name"]) for c in CATS],
          "the store's classes keep the COCO ids: %s" % got)

    doc = export_json(a, os.path.join(tmp, "x1"))
    check(doc["categories"] == CATS,
          "COCO export: the same ids, names and supercategories %s"
          % doc["categories"])
    want = sorted((n["file_name"], an["category_id"], an["bbox"])
                  for an in anns for n in images
                  if n["id"] == an["image_id"])
    check(boxes(doc) == want, "every box keeps its category id")
    check(image_ids(doc) == {n: 100 + i for i, n in enumerate(names)},
          "COCO export: the imported image ids %s" % image_ids(doc))

    # A fresh store from the export gives the same labels and categories.
    b = os.path.join(tmp, "b")
    curate("import", "--store", b, "--no-features", "--coco",
           os.path.join(tmp, "x1", "annotations", "instances_default.json"),
           data)
    doc2 = export_json(b, os.path.join(tmp, "x2"))
    check(doc2["categories"] == CATS and boxes(doc2) == boxes(doc) and
          image_ids(doc2) == image_ids(doc),
          "COCO -> store -> COCO -> fresh store -> COCO: same ids, "
          "image ids, categories and boxes")
    dumps = [run(xlib.HELPER, "dump", s, "ground_truth").stdout
             for s in (a, b)]
    check(dumps[0] == dumps[1] and dumps[0],
          "the same labels in both stores (classes, boxes, order)")

    # Later classes get ids above the largest.
    curate("classes", "--store", a, "add", "kite")
    doc = export_json(a, os.path.join(tmp, "x3"))
    check(doc["categories"][-1] == {"id": 91, "name": "kite",
                                    "supercategory": ""},
          "a later class gets id 91: %s" % doc["categories"][-1])

    # YOLO: dense indices in id order, rows and data.yaml agree.
    y = os.path.join(tmp, "y")
    curate("export", "--store", a, "--format", "yolo", y)
    yaml = open(os.path.join(y, "data.yaml")).read()
    names_y = yaml.split("names:\n", 1)[1].splitlines()
    want_y = ['  %d: "%s"' % (k, c) for k, c in
              enumerate(["person", "car", "dog", "toothbrush", "kite"])]
    check(names_y == want_y, "data.yaml names 0..4 in id order %s"
          % names_y)
    # Its comment must not claim index = id - 1 (ids here are 1, 3, 18,
    # 90, 91).
    check("id - 1: stable" not in yaml and "position" in yaml,
          "data.yaml explains its index: %s" % yaml.split("path:")[0])
    by_name = {c["id"]: k for k, c in enumerate(CATS)}
    ok = True
    for i, n in enumerate(names):
        rows = open(os.path.join(y, "labels", "default",
                                 n[:-4] + ".txt")).read().splitlines()
        idx = sorted(int(r.split()[0]) for r in rows)
        exp = sorted(by_name[c["id"]] for c in CATS[:1 + i % 4])
        ok = ok and idx == exp
    check(ok, "YOLO rows use the index data.yaml gives their class")
    curate("import-labels", "--store", a, "--format", "yolo", "--field",
           "yolo_rt", y)
    cats_after = [l.split(None, 2)[2] for l in curate(
        "classes", "--store", a).stdout.decode().splitlines()
        if not l.startswith("#")]
    check(cats_after == ["person", "car", "dog", "toothbrush", "kite"],
          "the YOLO import maps back to the same classes %s" % cats_after)

    # VOC: labelmap in id order; object names are the class names.
    v = os.path.join(tmp, "v")
    curate("export", "--store", a, "--format", "voc", v)
    lm = [l.split(":")[0] for l in open(os.path.join(v, "labelmap.txt"))
          .read().splitlines() if not l.startswith("#")]
    check(lm == ["person", "car", "dog", "toothbrush", "kite"],
          "VOC labelmap in id order %s" % lm)
    xml = open(os.path.join(v, "Annotations", names[3][:-4] + ".xml")).read()
    check(all("<name>%s</name>" % c["name"] in xml for c in CATS),
          "VOC objects named by class")

    # An id already taken by another class: the category gets a new id.
    c = os.path.join(tmp, "c")
    curate("import", "--store", c, "--no-features", data)
    curate("classes", "--store", c, "add", "zebra", "giraffe", "elephant")
    curate("import", "--store", c, "--no-features", "--coco", src, data)
    got = [(int(l.split()[0]), l.split(None, 2)[2]) for l in curate(
        "classes", "--store", c).stdout.decode().splitlines()
        if not l.startswith("#")]
    check(got == [(1, "zebra"), (2, "giraffe"), (3, "elephant"),
                  (4, "person"), (5, "car"), (18, "dog"), (90, "toothbrush")],
          "taken ids go to the next free id, free ones are kept: %s" % got)

    # Image ids, worked out by hand.  Samples 1..5 were imported with ids
    # 100..104.  A new image (sample 6) gets 104 + 6 = 110.  Then a second
    # COCO file imported into the same field (the exported one: ids are
    # kept per field) gives sample 1 the id 101, which sample 2 also has:
    # the lower sample id (1) keeps it, sample 2 gets 104 + 2 = 106.
    shutil.copy(os.path.join(data, names[0]), os.path.join(data, "zz.jpg"))
    curate("import", "--store", a, "--no-features", data)
    ids = image_ids(export_json(a, os.path.join(tmp, "x4")))
    check(ids == dict({n: 100 + i for i, n in enumerate(names)},
                      **{"zz.jpg": 110}),
          "a new image gets the largest imported id + its sample id: %s"
          % ids)
    other = os.path.join(tmp, "other.json")
    json.dump({"images": [{"id": 101, "file_name": names[0], "width": W,
                           "height": H}],
               "annotations": [], "categories": CATS}, open(other, "w"))
    curate("import", "--store", a, "--no-features", "--coco", other, data)
    ids = image_ids(export_json(a, os.path.join(tmp, "x5")))
    want = {n: 100 + i for i, n in enumerate(names)}
    want.update({names[0]: 101, names[1]: 106, "zz.jpg": 110})
    check(ids == want, "an id two samples have stays with the lower "
          "sample id: %s" % ids)
    # An id past 2^62 (past which (largest id) + (sample id) could
    # overflow) is not used: zz.jpg (sample 6) gets 104 + 6 = 110 again,
    # and every other sample keeps its imported id.
    huge = os.path.join(tmp, "huge.json")
    json.dump({"images": [{"id": 2 ** 62, "file_name": "zz.jpg",
                           "width": W, "height": H}],
               "annotations": [], "categories": CATS}, open(huge, "w"))
    curate("import", "--store", a, "--no-features", "--coco", huge, data)
    ids = image_ids(export_json(a, os.path.join(tmp, "x6")))
    check(ids == want, "an id past 2^62 is not used, the others stay: %s"
          % ids)
    shutil.rmtree(tmp, ignore_errors=True)
    xlib.finish()


if __name__ == "__main__":
    main()
