#!/usr/bin/python3
"""test_store_eval.py - the store-backed evaluation end to end, against the
independent Python reference (reference_eval.py).

A generated detection set (the generator of test_eval_vs_reference.py,
ground truth with its COCO areas and predictions as generated, some of
both reaching past the 640x480 image, which the import keeps as given)
becomes real JPEG files (mkjpeg),
a COCO ground-truth JSON imported with `curate import --coco`, and a COCO
results JSON imported with `curate predictions --format coco --coco-gt`.
`curate eval --json` must then agree with the reference: the 12 COCO
summary numbers, mAP and per-class AP / AP50 / AP75 to 1e-12, per-class
tp/fp/fn/support exactly, precision/recall to 1e-12, at IoU 0.5 and 0.75:
the store keeps the imported areas and the predictions' coordinates.
With COCO image ids shuffled against the file order, the evaluation
must follow the id order (COCOeval's).  Two images of the ground-truth
file have no file on disk: as in pycocotools, which evaluates every image
of the ground-truth file, their boxes count as misses.  `curate eval --list` must give exactly the reference's per-image
mistakenness (mistakes), possible-missing and possible-spurious counts,
ranked.  A YOLO import of the same predictions (relative coordinates)
must agree with the reference run on the boxes as converted.

Usage: test_store_eval.py  (env: CURATE, MKJPEG)
Exit 0 = pass, 1 = mismatch.
"""

import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import reference_eval as ref  # noqa: E402
import test_eval_vs_reference as gen  # noqa: E402

W, H = 640, 480
N_IMAGES = 150
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        if len(failures) <= 20:
            print("MISMATCH", what)


def from_yolo(box):
    """The pixel box core/formats/predictions.c computes from the YOLO line (kept
    as is, even past the image)."""
    x, y, w, h = box
    cx, cy, wn, hn = (x + w / 2) / W, (y + h / 2) / H, w / W, h / H
    return ((cx - wn / 2) * W, (cy - hn / 2) * H, wn * W, hn * H)


def run(args, **kw):
    return subprocess.run(args, check=True, stdout=subprocess.PIPE,
                          universal_newlines=True, **kw).stdout


def compare_metrics(tag, m, r, names):
    check(abs((m["map"] if m["map"] is not None else -1) - r["map"]) <= 1e-12,
          "%s mAP %r vs %r" % (tag, m["map"], r["map"]))
    for key, v in r["stats"].items():
        got = m[key] if m[key] is not None else -1.0
        check(abs(got - v) <= 1e-12, "%s %s %r vs %r" % (tag, key, got, v))
    seen = set()
    for c in m["classes"]:
        k = names.index(c["name"])
        seen.add(k)
        rc = r["classes"][k]
        for key in ("ap", "ap50", "ap75"):
            ap = c[key] if c[key] is not None else -1.0
            check(abs(ap - rc[key]) <= 1e-12,
                  "%s %s %s %r vs %r" % (tag, c["name"], key, ap, rc[key]))
        for key in ("tp", "fp", "fn", "support", "num_gt"):
            check(c[key] == rc[key], "%s %s %s %r vs %r"
                  % (tag, c["name"], key, c[key], rc[key]))
        for key in ("precision", "recall"):
            check(abs(c[key] - rc[key]) <= 1e-12, "%s %s %s" %
                  (tag, c["name"], key))
    for k, rc in enumerate(r["classes"]):
        if k not in seen:
            check(rc["tp"] == rc["fp"] == rc["fn"] == 0,
                  "%s class %d missing from metrics.json" % (tag, k))


def write_coco(tmp, tag, images, files, names, ids, gone=()):
    """Writes the GT and results JSON; image i (file files[i]) gets COCO
    image id ids[i]; the (id, file name, GT) of `gone` are images not on
    disk, with no prediction.  Returns both paths."""
    gt = {"images": [], "annotations": [],
          "categories": [{"id": k + 1, "name": n}
                         for k, n in enumerate(names)]}
    res = []
    for iid, fn, g in gone:
        gt["images"].append({"id": iid, "file_name": fn, "width": W,
                             "height": H})
        for b, l, crowd, area in g:
            gt["annotations"].append({
                "id": len(gt["annotations"]) + 1, "image_id": iid,
                "category_id": l + 1, "bbox": list(b),
                "iscrowd": int(crowd), "area": area})
    for i, (g, p) in enumerate(images):
        gt["images"].append({"id": ids[i], "file_name": files[i],
                             "width": W, "height": H})
        for b, l, crowd, area in g:
            gt["annotations"].append({
                "id": len(gt["annotations"]) + 1, "image_id": ids[i],
                "category_id": l + 1, "bbox": list(b),
                "iscrowd": int(crowd), "area": area})
        for b, l, s in p:
            res.append({"image_id": ids[i], "category_id": l + 1,
                        "bbox": list(b), "score": s})
    gt_path = os.path.join(tmp, "gt%s.json" % tag)
    res_path = os.path.join(tmp, "res%s.json" % tag)
    with open(gt_path, "w") as f:
        json.dump(gt, f)
    with open(res_path, "w") as f:
        json.dump(res, f)
    return gt_path, res_path


def main():
    curate, mkjpeg = os.environ["CURATE"], os.environ["MKJPEG"]
    images = gen.generate(N_IMAGES, 7)
    # GT and predictions as generated (the import keeps coordinates past
    # the image), area kept (w * h of the box when the generator gave none).
    images = [([(b, l, c, a if a is not None else b[2] * b[3])
                for b, l, c, a in g], p) for g, p in images]
    outside = sum(1 for g, _ in images for b, _, _, _ in g
                  if b[0] < 0 or b[1] < 0 or b[0] + b[2] > W or
                  b[1] + b[3] > H)
    check(outside >= 20, "ground truth past the image: %d boxes" % outside)
    # Two images of the GT file that are not on disk (their boxes count
    # as misses): ids above the others, one with a crowd.
    gone = [(len(images) + 1, "gone/a.jpg",
             [((10.0, 20.0, 50.0, 40.0), 0, False, 2000.0),
              ((600.0, 400.0, 80.0, 120.0), 1, False, 9600.0)]),
            (len(images) + 2, "b-not-here.jpg",
             [((0.0, 0.0, 30.0, 30.0), 2, False, 900.0),
              ((5.0, 5.0, 300.0, 300.0), 0, True, 90000.0)])]
    names = ["c%d" % k for k in range(gen.N_CLASSES)]
    with tempfile.TemporaryDirectory() as tmp:
        photos = os.path.join(tmp, "photos")
        store = os.path.join(tmp, "store")
        run([mkjpeg, "-n", str(len(images)), "-W", str(W), "-H", str(H),
             photos])
        files = sorted(os.listdir(photos))
        check(len(files) == len(images), "mkjpeg file count")
        gt_path, res_path = write_coco(tmp, "", images, files, names,
                                       [i + 1 for i in range(len(images))],
                                       gone)
        out = run([curate, "import", "--store", store, "--coco", gt_path,
                   "--json", photos])
        cs = json.loads(out)["coco"]
        check(cs["not_on_disk"] == 2 and cs["not_on_disk_boxes"] == 4 and
              cs["outside"] == outside and cs["matched"] == len(images),
              "import summary %r" % cs)
        run([curate, "predictions", "--store", store, "--format", "coco",
             "--coco-gt", gt_path, res_path])

        # The reference reads the same numbers through its own parser.
        path = os.path.join(tmp, "set.txt")
        with open(path, "w") as f:
            gen.write_input(images + [(g, []) for _, _, g in gone], f)
        with open(path) as f:
            n_classes, parsed = ref.read_input(f)

        for iou in (0.5, 0.75):
            m = json.loads(run([curate, "eval", "--store", store, "--name",
                                "e", "--iou", str(iou), "--json"]))
            compare_metrics("iou %g" % iou, m,
                            ref.evaluate(parsed, n_classes, iou=iou), names)

        mk = ref.mistakenness(parsed, n_classes)
        stem = [os.path.splitext(f)[0] for f in files]
        for lst, key, want in (
                ("mistakes", "image_mistakenness", lambda v: v > -1),
                ("missing", "image_missing", lambda v: v > 0),
                ("spurious", "image_spurious", lambda v: v > 0)):
            out = run([curate, "eval", "--store", store, "--name", "e",
                       "--list", lst]).split("\n")
            got = [(ln.split()[0], float(ln.split()[1])) for ln in out if ln]
            exp = {stem[i]: float(v)
                   for i, v in enumerate(mk[key][:len(images)])
                   if want(v)}
            check(len(got) == len(exp), "%s list length %d vs %d"
                  % (lst, len(got), len(exp)))
            for name, v in got:
                check(name in exp and abs(exp[name] - v) <= 1e-12,
                      "%s %s %r vs %r" % (lst, name, v, exp.get(name)))
            scores = [v for _, v in got]
            check(scores == sorted(scores, reverse=True), lst + " ranked")

        # The same predictions as YOLO txt files give the same evaluation.
        ydir = os.path.join(tmp, "yolo")
        os.mkdir(ydir)
        with open(os.path.join(tmp, "names.txt"), "w") as f:
            f.write("\n".join(names) + "\n")
        for i, (g, p) in enumerate(images):
            with open(os.path.join(ydir, stem[i] + ".txt"), "w") as f:
                for (x, y, w, h), l, s in p:
                    f.write("%d %r %r %r %r %r\n" % (
                        l, (x + w / 2) / W, (y + h / 2) / H, w / W, h / H, s))
        run([curate, "predictions", "--store", store, "--format", "yolo",
             "--names", os.path.join(tmp, "names.txt"), "--field", "yolo",
             ydir])
        m = json.loads(run([curate, "eval", "--store", store, "--name", "y",
                            "--pred", "yolo", "--json"]))
        # Relative coordinates round: the reference gets the boxes as the
        # import computes them (same double operations, same clipping).
        yimages = [(g, [(from_yolo(b), l, s) for b, l, s in p])
                   for g, p in images] + [(g, []) for _, _, g in gone]
        ypath = os.path.join(tmp, "yset.txt")
        with open(ypath, "w") as f:
            gen.write_input(yimages, f)
        with open(ypath) as f:
            _, yparsed = ref.read_input(f)
        r = ref.evaluate(yparsed, n_classes)
        compare_metrics("yolo", m, r, names)

        # COCO image ids in another order than the file names, as in most
        # real COCO files: COCOeval walks the images in id order, and that
        # order breaks the (many) confidence ties across images.
        ids = list(range(1, len(images) + 1))
        random.Random(11).shuffle(ids)
        gt_path, res_path = write_coco(tmp, "-shuffled", images, files,
                                       names, ids)
        run([curate, "import", "--store", store, "--coco", gt_path, photos])
        run([curate, "predictions", "--store", store, "--format", "coco",
             "--coco-gt", gt_path, res_path])
        by_id = [images[i] for i in sorted(range(len(images)),
                                            key=lambda i: ids[i])] + \
            [(g, []) for _, _, g in gone]
        spath = os.path.join(tmp, "sset.txt")
        with open(spath, "w") as f:
            gen.write_input(by_id, f)
        with open(spath) as f:
            _, sparsed = ref.read_input(f)
        m = json.loads(run([curate, "eval", "--store", store, "--name",
                            "shuffled", "--json"]))
        compare_metrics("shuffled ids", m, ref.evaluate(sparsed, n_classes),
                        names)
        print("compared %d images, %d GT, %d predictions"
              % (len(images), sum(len(g) for g, _ in images),
                 sum(len(p) for _, p in images)))
    if failures:
        print("FAILED: %d mismatches" % len(failures))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
