"""Real readers and CVAT layouts: torchvision's VOCDetection loads the VOC
export with the right boxes and classes; the strict checkers accept the
COCO and YOLO exports of an untagged dataset (one `default` subset); zips
in CVAT's COCO 1.0, YOLO 1.1 (darknet layout) and PASCAL VOC 1.1 layouts
import back to the same labels."""
import json
import os
import sys
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xlib  # noqa: E402
from xlib import check, curate  # noqa: E402
import check_formats  # noqa: E402


def voc_expect(gt, name):
    return sorted((r["label"], int(r["box"][0]), int(r["box"][1]),
                   int(r["box"][0] + r["box"][2]),
                   int(r["box"][1] + r["box"][3]))
                  for r in gt if r["sample"] == name)


def zipdir(src, dst, members=None):
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
        for rel in xlib.tree(src):
            if members is None or members(rel):
                z.write(os.path.join(src, rel), rel)
    return dst


def main():
    from torchvision.datasets import VOCDetection

    ds = xlib.Dataset()
    gt = ds.dump()
    root = ds.path("vocroot")
    os.makedirs(os.path.join(root, "VOCdevkit"))
    ds.export("voc", os.path.join(root, "VOCdevkit", "VOC2012"))
    for image_set in ("train", "val", "trainval"):
        v = VOCDetection(root, year="2012", image_set=image_set)
        want_names = [n for n in ds.names
                      if ds.subset[n] in image_set.replace("trainval",
                                                           "train val")
                      .split()]
        ok = len(v) == len(want_names)
        for i in range(len(v)):
            img, t = v[i]
            a = t["annotation"]
            name = a["filename"][:-4]
            objs = a.get("object", [])
            got = sorted((o["name"], int(o["bndbox"]["xmin"]),
                          int(o["bndbox"]["ymin"]), int(o["bndbox"]["xmax"]),
                          int(o["bndbox"]["ymax"])) for o in objs)
            ok = ok and got == voc_expect(gt, name) and \
                img.size == (int(a["size"]["width"]),
                             int(a["size"]["height"])) and \
                name in want_names
        check(ok, "torchvision VOCDetection(%s): %d images, boxes and "
              "classes right" % (image_set, len(v)))

    plain = xlib.Dataset(n=10, tags=False)
    pgt = plain.dump()
    out = plain.export("coco", plain.path("coco"))
    probs = check_formats.check_coco(out)
    check(not probs and os.listdir(os.path.join(out, "annotations")) ==
          ["instances_default.json"],
          "untagged: one default subset, strict COCO check %s" % probs[:3])
    # What datumaro's COCO importer requires (segmentation on every
    # annotation, ...): the export loads with every image and box ...
    counts = check_formats.load_coco_like_datumaro(out)
    n_boxes = len(pgt)
    check(counts == {"default": (10, n_boxes, len(xlib.CLASSES))},
          "datumaro-style COCO import: %r, want 10 images, %d boxes"
          % (counts, n_boxes))
    # ... and the importer is strict: without segmentation it refuses.
    bad = plain.path("coco-noseg")
    os.makedirs(os.path.join(bad, "annotations"))
    os.symlink(os.path.join(out, "images"), os.path.join(bad, "images"))
    with open(os.path.join(out, "annotations", "instances_default.json")) as f:
        d = json.load(f)
    for a in d["annotations"][:1]:
        del a["segmentation"]
    with open(os.path.join(bad, "annotations", "instances_default.json"),
              "w") as f:
        json.dump(d, f)
    try:
        check_formats.load_coco_like_datumaro(bad)
        check(False, "datumaro-style import refuses a missing segmentation")
    except check_formats.DatumaroStyleError as e:
        check("Missing annotation field 'segmentation'" in str(e),
              "datumaro-style import refuses a missing segmentation: %s" % e)
    # The imported COCO areas come back, w * h where there was none.
    with open(os.path.join(out, "annotations", "instances_default.json")) as f:
        d = json.load(f)
    fname = {im["id"]: im["file_name"][:-4] for im in d["images"]}
    got = sorted((fname[a["image_id"]], tuple(a["bbox"]), a["area"])
                 for a in d["annotations"])
    want = sorted((r[:-4].replace("/", "__"), tuple(a["bbox"]), a["area"])
                  for a in plain.coco["annotations"]
                  for r in [plain.rels[(a["image_id"] - 40) // 3]])
    # exact where the area is not w * h; w * h itself to 1e-6 px^2
    ok = len(got) == len(want) and any(
        a["area"] != a["bbox"][2] * a["bbox"][3]
        for a in plain.coco["annotations"])
    for g, w in zip(got, want):
        wh = w[1][2] * w[1][3]
        ok = ok and g[:2] == w[:2] and (
            g[2] == w[2] if w[2] != wh else abs(g[2] - wh) <= 1e-6)
    check(ok, "COCO export keeps the imported areas")
    # VOC of an untagged dataset: trainval.txt lists the default subset,
    # so torchvision's VOCDetection loads it.
    vroot = plain.path("vocplain")
    os.makedirs(os.path.join(vroot, "VOCdevkit"))
    plain.export("voc", os.path.join(vroot, "VOCdevkit", "VOC2007"))
    sets = sorted(os.listdir(os.path.join(vroot, "VOCdevkit", "VOC2007",
                                          "ImageSets", "Main")))
    check(sets == ["default.txt", "trainval.txt"],
          "untagged VOC image sets %s" % sets)
    v = VOCDetection(vroot, year="2007", image_set="trainval")
    vok = len(v) == 10
    for i in range(len(v)):
        img, t = v[i]
        a = t["annotation"]
        name = a["filename"][:-4]
        got = sorted((o["name"], int(o["bndbox"]["xmin"]),
                      int(o["bndbox"]["ymin"]), int(o["bndbox"]["xmax"]),
                      int(o["bndbox"]["ymax"])) for o in a.get("object", []))
        vok = vok and got == voc_expect(pgt, name)
    check(vok, "untagged VOC: VOCDetection(image_set='trainval') loads %d "
          "images with their boxes" % len(v))
    yout = plain.export("yolo", plain.path("yolo"))
    probs = check_formats.check_yolo(yout)
    check(not probs, "untagged: strict YOLO check %s" % probs[:3])

    # CVAT COCO 1.0 zip
    z = zipdir(out, plain.path("coco.zip"))
    curate("import-labels", "--store", plain.store, "--format", "cvat-zip",
           "--field", "zc", z)
    check(plain.dump("zc") == pgt, "CVAT COCO 1.0 zip: identical labels")
    # CVAT YOLO 1.1 (darknet) zip, built from the YOLO export
    names = [ln.split(": ", 1)[1].strip().strip('"') for ln in
             open(os.path.join(yout, "data.yaml")) if ln.startswith("  ")]
    z = plain.path("yolo11.zip")
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("obj.names", "\n".join(names) + "\n")
        zf.writestr("obj.data", "classes = %d\ntrain = data/train.txt\n"
                    "names = data/obj.names\nbackup = backup/\n" % len(names))
        lst = []
        for f in sorted(os.listdir(os.path.join(yout, "labels", "default"))):
            zf.write(os.path.join(yout, "labels", "default", f),
                     "obj_train_data/" + f)
            lst.append("data/obj_train_data/" + f[:-4] + ".jpg")
        zf.writestr("train.txt", "\n".join(lst) + "\n")
    curate("import-labels", "--store", plain.store, "--format", "cvat-zip",
           "--field", "zy", z)
    zy = plain.dump("zy")
    ok = len(zy) == len(pgt) and all(
        a["label"] == b["label"] and
        all(abs(p - q) < 1e-3 for p, q in zip(a["box"], b["box"], strict=True))
        for a, b in zip(pgt, zy, strict=True))
    check(ok, "CVAT YOLO 1.1 zip (obj.names, obj_train_data/): same boxes")
    # PASCAL VOC 1.1 zip
    vout = plain.export("voc", plain.path("voc"))
    z = zipdir(vout, plain.path("voc.zip"),
               lambda r: not r.startswith("JPEGImages/"))
    curate("import-labels", "--store", plain.store, "--format", "cvat-zip",
           "--field", "zv", z)
    zv = plain.dump("zv")
    ok = len(zv) == len(pgt) and all(
        a["label"] == b["label"] and b["box"][0] == int(a["box"][0])
        for a, b in zip(pgt, zv, strict=True))
    check(ok, "CVAT PASCAL VOC 1.1 zip: same boxes (integer corners)")
    xlib.finish()


if __name__ == "__main__":
    main()
