"""Real readers and CVAT layouts: torchvision's VOCDetection loads the VOC
export with the right boxes and classes; the strict checkers accept the
COCO and YOLO exports of an untagged dataset (one `default` subset); zips
laid out as CVAT writes COCO 1.0, YOLO 1.1 (darknet), Ultralytics YOLO
Detection 1.0 and PASCAL VOC 1.1 (cvat_layouts.py, built from the ground
truth, not from our exports) import to the same labels, also written again
in bzip2 or with backslashes in member names; --zip-format picks one label
set of a zip holding two."""
import json
import os
import sys
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xlib  # noqa: E402
from xlib import check, curate  # noqa: E402
import check_formats  # noqa: E402
import cvat_layouts  # noqa: E402


def voc_expect(gt, name):
    return sorted((r["label"], int(r["box"][0]), int(r["box"][1]),
                   int(r["box"][0] + r["box"][2]),
                   int(r["box"][1] + r["box"][3]))
                  for r in gt if r["sample"] == name)


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

    # Zips as CVAT writes them (cvat_layouts.py), built from the ground
    # truth, with CVAT's label order (not ours) and every image listed.
    items = []
    for n in plain.names:
        items.append((n, xlib.W, xlib.H, [
            (r["label"],) + tuple(r["box"]) for r in pgt
            if r["sample"] == n]))
    labels = sorted(xlib.CLASSES.values(), reverse=True)

    def same(got, tol, what):
        key = lambda r: (r["sample"], r["label"], r["box"])  # noqa: E731
        a, b = sorted(pgt, key=key), sorted(got, key=key)
        ok = len(a) == len(b) and all(
            x["sample"] == y["sample"] and x["label"] == y["label"] and
            all(abs(p - q) <= tol for p, q in zip(x["box"], y["box"],
                                                   strict=True))
            for x, y in zip(a, b, strict=True))
        check(ok and len(a) > 0, "%s: %d boxes, same samples, classes and "
              "boxes (to %g px)" % (what, len(b), tol))

    for fmt, build, tol in (
            ("COCO 1.0", cvat_layouts.coco10, 0),
            ("YOLO 1.1", cvat_layouts.yolo11, 1e-3),
            ("Ultralytics YOLO Detection 1.0", cvat_layouts.ultralytics,
             1e-3),
            ("PASCAL VOC 1.1", cvat_layouts.voc11, 1e-6)):
        field = "z" + "".join(c for c in fmt if c.isalnum()).lower()[:12]
        z = build(plain.path(field + ".zip"), items, labels)
        curate("import-labels", "--store", plain.store, "--format",
               "cvat-zip", "--field", field, z)
        same(plain.dump(field), tol, "CVAT %s zip in CVAT's layout" % fmt)
        # CVAT's VOC labelmap lists VOC's segmentation "background"
        # first; it is no box class and must not join the schema (it
        # would take a YOLO index and a COCO category in every export).
        names = [ln.split(None, 2)[2] for ln in curate(
            "classes", "--store", plain.store).stdout.decode().splitlines()
            if not ln.startswith("#")]
        check(sorted(names) == sorted(xlib.CLASSES.values()),
              "classes after the CVAT %s zip: %s" % (fmt, names))
    # CVAT's "YOLO 1.1" of a task whose frames keep their folders (made
    # from a shared or zipped folder tree): obj_train_data/<folder>/<n>.txt
    # (such files were never read: only a file directly in obj_*_data was
    # a label file).
    by_rel = {r[:-4].replace("/", "__"): r[:-4] for r in plain.rels}
    sub = [(by_rel[n],) + it[1:] for n, it in zip(plain.names, items)]
    check(all("/" in it[0] for it in sub), "frames in folders: %s"
          % [it[0] for it in sub][:3])
    z = cvat_layouts.yolo11(plain.path("zyolosub.zip"), sub, labels)
    curate("import-labels", "--store", plain.store, "--format", "cvat-zip",
           "--field", "zyolosub", z)
    same(plain.dump("zyolosub"), 1e-3, "CVAT YOLO 1.1 zip, frames in "
         "folders")
    # CVAT's COCO 1.0 zip written again with bzip2, a method Debian's
    # libzip reads (LZMA, which it lacks, is refused in test_bad_input.py).
    z = cvat_layouts.rezip(plain.path("zcoco10.zip"),
                           plain.path("zbzip2.zip"), zipfile.ZIP_BZIP2)
    curate("import-labels", "--store", plain.store, "--format", "cvat-zip",
           "--field", "zbzip2", z)
    same(plain.dump("zbzip2"), 0, "CVAT COCO 1.0 zip in bzip2")
    # The same zips with names in Windows' backslashes, as some Windows
    # tools store them ("annotations\\instances_default.json",
    # "obj_train_data\\<folder>\\<n>.txt"; Python keeps them as given).
    z_coco = plain.path("zcoco10.zip")
    for field, src in (("zbscoco", z_coco),
                       ("zbsyolo", plain.path("zyolosub.zip"))):
        z = cvat_layouts.rezip(src, plain.path(field + ".zip"),
                               rename=lambda n: n.replace("/", "\\"))
        with zipfile.ZipFile(z) as zf:
            names = zf.namelist()
        check(all("/" not in n for n in names) and
              any("\\" in n for n in names),
              "%s: names as written: %s" % (field, names[:3]))
        curate("import-labels", "--store", plain.store, "--format",
               "cvat-zip", "--field", field, z)
        same(plain.dump(field), 1e-3 if "yolo" in field else 0,
             "CVAT zip %s" % field)
    # A zip holding two label sets is read with --zip-format naming one
    # (test_bad_input.py: refused without it): each gives its own boxes.
    xml = ('<annotations><version>1.1</version><image id="0" name="%s" '
           'width="%d" height="%d"><box label="car" xtl="1" ytl="2" '
           'xbr="9" ybr="12" occluded="0"/></image></annotations>' % (
               plain.rels[0], xlib.W, xlib.H))
    z = cvat_layouts.rezip(z_coco, plain.path("zboth.zip"),
                           extra=[("annotations.xml", xml)])
    curate("import-labels", "--store", plain.store, "--format", "cvat-zip",
           "--zip-format", "coco", "--field", "zpickcoco", z)
    same(plain.dump("zpickcoco"), 0, "--zip-format coco of COCO and XML")
    curate("import-labels", "--store", plain.store, "--format", "cvat-zip",
           "--zip-format", "cvat", "--field", "zpickxml", z)
    got = [(r["sample"], r["label"], r["box"])
           for r in plain.dump("zpickxml")]
    check(got == [(plain.names[0], "car", [1, 2, 8, 10])],
          "--zip-format cvat of COCO and XML: the XML's box %s" % got)
    xlib.finish()


if __name__ == "__main__":
    main()
