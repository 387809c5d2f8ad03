"""The frame of exports and label imports for photos with an EXIF
orientation (export.frame, curate export --frame, import-labels --frame).

Every orientation 2..8 on a 160 x 120 JPEG, plus a square picture with
orientation 6 (its size cannot tell the frames apart).  The reference for
the turned frame is Pillow: the stored box painted on a mask of the
stored size, tagged with the orientation and turned by
ImageOps.exif_transpose, as CVAT, datumaro and detectron2 load pictures.
Then each export (COCO, VOC, YOLO) in the viewer's and in the stored frame
is read back by import-labels with the same --frame and must give the
stored boxes again; the viewer-frame COCO read with the default frame
must not, for exactly the pictures whose size cannot tell (2..4 and the
square one), which is why the option exists."""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xlib  # noqa: E402
from xlib import check, curate, run, with_orientation  # noqa: E402

W, H = 160, 120
BOX = [20, 10, 70, 40]     # x1, y1, x2, y2 in the stored frame


def pillow_turned(box, o, w, h):
    """box in the frame Pillow's exif_transpose makes of a w x h picture."""
    from PIL import Image, ImageOps
    im = Image.new("L", (w, h), 0)
    im.paste(255, tuple(box))
    im.getexif()[0x0112] = o
    return list(ImageOps.exif_transpose(im).getbbox())


def coco_boxes(path):
    """file name -> ((width, height), [x1, y1, x2, y2]) of a COCO file
    with one box per image."""
    doc = json.load(open(path))
    out = {}
    for im in doc["images"]:
        out[im["id"]] = [im["file_name"], (im["width"], im["height"]), None]
    for a in doc["annotations"]:
        x, y, w, h = a["bbox"]
        out[a["image_id"]][2] = [x, y, x + w, y + h]
    return {n: (s, b) for n, s, b in out.values()}


def field_boxes(store, field, tmp):
    """file name -> stored-frame box of `field`, through a stored export."""
    out = os.path.join(tempfile.mkdtemp(dir=tmp), "x")
    curate("export", "--store", store, "--format", "coco", "--frame",
           "stored", "--field", field, out)
    return {n: b for n, (_s, b) in coco_boxes(os.path.join(
        out, "annotations", "instances_default.json")).items()}


def near(a, b, tol):
    return a is not None and b is not None and \
        all(abs(x - y) <= tol for x, y in zip(a, b))


def main():
    tmp = tempfile.mkdtemp(prefix="export-frame-")
    seed = os.path.join(tmp, "seed")
    run(xlib.MKJPEG, "-n", "1", "-W", str(W), "-H", str(H), seed)
    run(xlib.MKJPEG, "-n", "1", "-W", str(H), "-H", str(H), "-s", "9",
        os.path.join(tmp, "sq"))
    src = open(os.path.join(seed, os.listdir(seed)[0]), "rb").read()
    sq = open(os.path.join(tmp, "sq", os.listdir(os.path.join(
        tmp, "sq"))[0]), "rb").read()
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    pics = {}   # file name -> (orientation, stored w, stored h)
    for o in range(1, 9):
        n = "o%d.jpg" % o
        open(os.path.join(data, n), "wb").write(
            with_orientation(src, o) if o > 1 else src)
        pics[n] = (o, W, H)
    open(os.path.join(data, "square6.jpg"), "wb").write(
        with_orientation(sq, 6))
    pics["square6.jpg"] = (6, H, H)
    store = os.path.join(tmp, "store")
    curate("import", "--store", store, "--no-features", data)
    gt = os.path.join(tmp, "gt.json")
    json.dump({"images": [{"id": i + 1, "file_name": n, "width": w,
                           "height": h}
                          for i, (n, (_o, w, h)) in enumerate(
                              sorted(pics.items()))],
               "annotations": [{"id": i + 1, "image_id": i + 1,
                                "category_id": 1, "iscrowd": 0,
                                "bbox": [BOX[0], BOX[1], BOX[2] - BOX[0],
                                         BOX[3] - BOX[1]],
                                "area": 1500.0, "segmentation": []}
                               for i in range(len(pics))],
               "categories": [{"id": 1, "name": "dog"}]}, open(gt, "w"))
    curate("import-labels", "--store", store, "--format", "coco", gt)

    # The viewer frame against Pillow, for every orientation.
    out = os.path.join(tmp, "coco-viewer")
    curate("export", "--store", store, "--format", "coco", "--frame",
           "viewer", out)
    got = coco_boxes(os.path.join(out, "annotations",
                                  "instances_default.json"))
    for n, (o, w, h) in sorted(pics.items()):
        size = (h, w) if o >= 5 else (w, h)
        want = pillow_turned(BOX, o, w, h)
        check(got[n][0] == size and near(got[n][1], want, 1e-9),
              "COCO viewer frame of %s (orientation %d): %r, Pillow %r %r"
              % (n, o, got[n], size, want))
    out = os.path.join(tmp, "coco-stored")
    curate("export", "--store", store, "--format", "coco", "--frame",
           "stored", out)
    got = coco_boxes(os.path.join(out, "annotations",
                                  "instances_default.json"))
    check(all(got[n] == ((w, h), BOX) for n, (_o, w, h) in pics.items()),
          "COCO stored frame: the stored sizes and boxes")

    # Each export read back with the same frame gives the stored boxes.
    for fmt, tol in (("coco", 1e-9), ("voc", 0), ("yolo", 1e-3)):
        for frame in ("viewer", "stored"):
            out = os.path.join(tmp, "rt-%s-%s" % (fmt, frame))
            curate("export", "--store", store, "--format", fmt, "--frame",
                   frame, out)
            path = os.path.join(out, "annotations",
                                "instances_default.json") \
                if fmt == "coco" else out
            field = "%s_%s" % (fmt, frame)
            curate("import-labels", "--store", store, "--format", fmt,
                   "--frame", frame, "--field", field, path)
            back = field_boxes(store, field, tmp)
            bad = sorted(n for n in pics if not near(back.get(n), BOX, tol))
            check(not bad, "%s export, frame %s, read back with --frame %s: "
                  "stored boxes (wrong: %r)" % (fmt, frame, frame, bad))

    # The default frame reads a COCO file as stored where no size tells:
    # the viewer export comes back wrong for 2..4 and the square picture,
    # right for 5..8 (the size swapped says turned).
    curate("import-labels", "--store", store, "--format", "coco",
           "--field", "coco_auto",
           os.path.join(tmp, "coco-viewer", "annotations",
                        "instances_default.json"))
    back = field_boxes(store, "coco_auto", tmp)
    wrong = sorted(n for n in pics if not near(back.get(n), BOX, 1e-9))
    check(wrong == ["o2.jpg", "o3.jpg", "o4.jpg", "square6.jpg"],
          "default frame: only sizes that cannot tell are misread (%r)"
          % wrong)

    # The folder import's --coco takes the option too.
    curate("import", "--store", store, "--no-features", "--coco",
           os.path.join(tmp, "coco-viewer", "annotations",
                        "instances_default.json"),
           "--field", "imp_viewer", "--frame", "viewer", data)
    back = field_boxes(store, "imp_viewer", tmp)
    bad = sorted(n for n in pics if not near(back.get(n), BOX, 1e-9))
    check(not bad, "import --coco --frame viewer: stored boxes (wrong: %r)"
          % bad)

    # Predictions: a COCO results list against the viewer export as
    # --coco-gt, and YOLO rows of the stored export with a confidence.
    doc = json.load(open(os.path.join(tmp, "coco-viewer", "annotations",
                                      "instances_default.json")))
    res = os.path.join(tmp, "results.json")
    json.dump([{"image_id": a["image_id"], "category_id": a["category_id"],
                "bbox": a["bbox"], "score": 0.9} for a in doc["annotations"]],
              open(res, "w"))
    gtv = os.path.join(tmp, "coco-viewer", "annotations",
                       "instances_default.json")
    for frame, want in (("viewer", []), ("auto", ["o2.jpg", "o3.jpg",
                                                  "o4.jpg", "square6.jpg"])):
        curate("predictions", "--store", store, "--format", "coco",
               "--coco-gt", gtv, "--frame", frame, "--field", "p_" + frame,
               res)
        back = field_boxes(store, "p_" + frame, tmp)
        wrong = sorted(n for n in pics if not near(back.get(n), BOX, 1e-9))
        check(wrong == want, "COCO predictions of the viewer export, --frame "
              "%s: misread %r" % (frame, wrong))
    ydir = os.path.join(tmp, "rt-yolo-stored")
    preds = os.path.join(tmp, "ypreds")
    os.makedirs(preds)
    for f in os.listdir(os.path.join(ydir, "labels", "default")):
        rows = open(os.path.join(ydir, "labels", "default", f)).read()
        open(os.path.join(preds, f), "w").write(
            "".join(r + " 0.9\n" for r in rows.splitlines()))
    curate("predictions", "--store", store, "--format", "yolo", "--names",
           os.path.join(ydir, "data.yaml"), "--frame", "stored", "--field",
           "py_stored", preds)
    back = field_boxes(store, "py_stored", tmp)
    bad = sorted(n for n in pics if not near(back.get(n), BOX, 1e-3))
    check(not bad, "YOLO predictions of the stored export, --frame stored "
          "(wrong: %r)" % bad)

    # A turn moves a box without resizing it: a fractional box keeps its
    # exact size in the viewer frame (swapped for 5..8), not the
    # difference of two turned corners (30.30000000000001 for 30.3).
    frac = [10.1, 20.2, 30.3, 40.4]
    fj = os.path.join(tmp, "frac.json")
    doc = json.load(open(gt))
    for a in doc["annotations"]:
        a["bbox"] = frac
        a["area"] = frac[2] * frac[3]
    json.dump(doc, open(fj, "w"))
    curate("import-labels", "--store", store, "--format", "coco",
           "--field", "frac", fj)
    out = os.path.join(tmp, "coco-frac")
    curate("export", "--store", store, "--format", "coco", "--frame",
           "viewer", "--field", "frac", out)
    doc = json.load(open(os.path.join(out, "annotations",
                                      "instances_default.json")))
    names = {i["id"]: i["file_name"] for i in doc["images"]}
    bad = [(names[a["image_id"]], a["bbox"]) for a in doc["annotations"]
           if a["bbox"][2:] != (frac[3:1:-1] if pics[names[a["image_id"]]][0]
                                >= 5 else frac[2:])]
    check(not bad, "viewer frame keeps the exact box size: %r" % bad[:3])

    # A bad --frame: usage error, nothing written.
    before = field_boxes(store, "ground_truth", tmp)
    p = curate("import-labels", "--store", store, "--format", "coco",
               "--frame", "upright", gt, ok=False)
    check(p.returncode == 2 and b"unknown frame 'upright'" in p.stderr,
          "import-labels --frame upright: exit 2 (%d %r)"
          % (p.returncode, p.stderr))
    p = curate("predictions", "--store", store, "--format", "coco",
               "--frame", "upright", res, ok=False)
    check(p.returncode == 2 and b"unknown frame 'upright'" in p.stderr,
          "predictions --frame upright: exit 2")
    p = curate("export", "--store", store, "--format", "coco", "--frame",
               "upright", os.path.join(tmp, "bad"), ok=False)
    check(p.returncode == 2 and not os.path.exists(os.path.join(tmp, "bad")),
          "export --frame upright: exit 2, nothing written")
    check(field_boxes(store, "ground_truth", tmp) == before,
          "the store is unchanged")
    shutil.rmtree(tmp, ignore_errors=True)
    xlib.finish()


if __name__ == "__main__":
    main()
