"""Ground truth reaching past the image, through the store and every
export: a COCO import keeps the coordinates the file gives (pycocotools
scores them so), the COCO export writes them back unchanged, YOLO and VOC
clip them to the image and leave out a box with nothing inside it (their
coordinates are those of the picture), ImageNet cuts the clipped region.
The expected rows are worked out by hand below for a 160 x 120 image.
Also: images of the COCO file whose file is not on disk are counted and
named by the import."""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import xlib  # noqa: E402
from xlib import check, curate, run  # noqa: E402

W, H = 160, 120
CATS = [{"id": 1, "name": "person", "supercategory": ""},
        {"id": 2, "name": "car", "supercategory": ""}]
# (bbox, category): past the left and bottom edges; past the right edge;
# wholly outside (right of the image); inside.
BOXES = [([-10.0, 100.0, 40.0, 30.0], 1),
         ([150.5, 0.0, 20.0, 10.0], 2),
         ([170.0, 10.0, 20.0, 20.0], 1),
         ([20.0, 30.0, 40.0, 20.0], 2)]


def jpeg_size(path):
    return xlib.jpeg_size(open(path, "rb").read())


def main():
    tmp = tempfile.mkdtemp(prefix="export-outside-")
    data = os.path.join(tmp, "data")
    run(xlib.MKJPEG, "-n", "1", "-W", str(W), "-H", str(H), data)
    name = sorted(os.listdir(data))[0]
    stem = name[:-4]
    images = [{"id": 7, "file_name": name, "width": W, "height": H},
              {"id": 8, "file_name": "gone/not-here.jpg", "width": W,
               "height": H}]
    anns = [{"id": k + 1, "image_id": 7, "category_id": c, "bbox": b,
             "iscrowd": 0, "area": b[2] * b[3]}
            for k, (b, c) in enumerate(BOXES)]
    anns.append({"id": 9, "image_id": 8, "category_id": 1,
                 "bbox": [1, 2, 3, 4], "iscrowd": 0, "area": 12})
    src = os.path.join(tmp, "in.json")
    json.dump({"images": images, "annotations": anns, "categories": CATS},
              open(src, "w"))
    st = os.path.join(tmp, "s")
    p = curate("import", "--store", st, "--no-features", "--coco", src,
               data)
    out, err = p.stdout.decode(), p.stderr.decode()
    check("1 not on disk with 1 boxes kept for evaluation" in out and
          "3 reaching past the image, kept" in out,
          "the summary counts the image not on disk and the boxes past "
          "the image: %s" % out.strip())
    check("gone/not-here.jpg: in the JSON but not on disk (image id 8): "
          "its 1 boxes are kept for evaluation, where they count as "
          "misses" in err, "the image not on disk is named: %s"
          % err.strip())
    js = json.loads(curate("import", "--store", st, "--no-features",
                           "--coco", src, "--json", data).stdout)["coco"]
    check(js["not_on_disk"] == 1 and js["not_on_disk_boxes"] == 1 and
          js["outside"] == 3 and js["boxes"] == 4 and js["matched"] == 1,
          "--json counts: %s" % js)

    dump = [json.loads(l) for l in run(xlib.HELPER, "dump", st,
                                       "ground_truth").stdout.splitlines()]
    check([d["box"] for d in dump] == [b for b, _ in BOXES],
          "the store keeps every box as the file gives it: %s"
          % [d["box"] for d in dump])

    # COCO: written back as imported, so COCO -> store -> COCO is exact.
    c = os.path.join(tmp, "coco")
    curate("export", "--store", st, "--format", "coco", c)
    doc = json.load(open(os.path.join(c, "annotations",
                                      "instances_default.json")))
    check([a["bbox"] for a in doc["annotations"]] == [b for b, _ in BOXES],
          "COCO export: the imported coordinates")
    check([i["id"] for i in doc["images"]] == [7],
          "COCO export: the image keeps its imported id 7")

    # YOLO, by hand: box 1 clipped to x 0..30, y 100..120 -> centre
    # (15/160, 110/120), size (30/160, 20/120); box 2 to x 150.5..160,
    # y 0..10 -> centre (155.25/160, 5/120), size (9.5/160, 10/120); box 3
    # has nothing inside: left out; box 4 as it is.
    y = os.path.join(tmp, "yolo")
    curate("export", "--store", st, "--format", "yolo", y)
    rows = open(os.path.join(y, "labels", "default",
                             stem + ".txt")).read().splitlines()
    want = ["0 0.093750 0.916667 0.187500 0.166667",
            "1 0.970313 0.041667 0.059375 0.083333",
            "1 0.250000 0.333333 0.250000 0.166667"]
    check(rows == want, "YOLO rows clipped to [0, 1]: %s" % rows)

    # VOC, by hand: corners clipped, then truncated.
    v = os.path.join(tmp, "voc")
    curate("export", "--store", st, "--format", "voc", v)
    xml = open(os.path.join(v, "Annotations", stem + ".xml")).read()
    corners = []
    for obj in xml.split("<bndbox>")[1:]:
        corners.append(tuple(int(obj.split("<%s>" % k)[1].split("<")[0])
                             for k in ("xmin", "ymin", "xmax", "ymax")))
    check(corners == [(0, 100, 30, 120), (150, 0, 160, 10),
                      (20, 30, 60, 50)],
          "VOC corners inside the image, the outside box left out: %s"
          % corners)

    # ImageNet: the crop of box 1 is its part inside the image, 30 x 20.
    i = os.path.join(tmp, "imagenet")
    curate("export", "--store", st, "--format", "imagenet", i)
    crops = {}
    for cls in os.listdir(i):
        for f in os.listdir(os.path.join(i, cls)):
            crops[(cls, f)] = jpeg_size(os.path.join(i, cls, f))
    person = sorted(v for (cls, _), v in crops.items() if cls == "person")
    check((30, 20) in person, "ImageNet crop of the box past the edge is "
          "its clipped part: %s" % person)

    # A second import from the export gives the same boxes and image id.
    s2 = os.path.join(tmp, "s2")
    curate("import", "--store", s2, "--no-features", "--coco",
           os.path.join(c, "annotations", "instances_default.json"), data)
    c2 = os.path.join(tmp, "coco2")
    curate("export", "--store", s2, "--format", "coco", c2)
    doc2 = json.load(open(os.path.join(c2, "annotations",
                                       "instances_default.json")))
    check([a["bbox"] for a in doc2["annotations"]] ==
          [b for b, _ in BOXES] and [i["id"] for i in doc2["images"]] == [7],
          "COCO -> store -> COCO -> store -> COCO: same boxes and image id")
    shutil.rmtree(tmp, ignore_errors=True)
    xlib.finish()


if __name__ == "__main__":
    main()
