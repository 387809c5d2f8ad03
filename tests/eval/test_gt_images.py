#!/usr/bin/python3
"""test_gt_images.py - predictions against a COCO ground truth that lists
only some of the pictures, as pycocotools sees them, through `curate`.

Four 100x100 pictures img_000000..img_000003.jpg; gt.json lists the first
two only, with image ids 11 and 12 (not the numbers in the file names),
one "cat" box each, and one image not on disk (id 13, one "cat" box).

1. Images outside the ground truth: predictions (by file_name) on all
   four pictures, exact boxes on the two listed ones at scores 0.9 and
   0.6 and confident ones (0.95, 0.97) on the two others.  pycocotools
   refuses results on image ids outside its ground-truth JSON (loadRes),
   so its numbers are those of the results filtered to ids 11, 12: by
   hand, 2 true positives over 3 boxes at every IoU threshold, precision
   1 up to recall 2/3: AP = AP50 = AP75 = 67/101, AR100 = 2/3, fp 0.
   The two others' 2 predictions on 2 images are left out and counted
   (metrics.json left_out_preds / left_out_images, a report.txt line).
   Counted as false positives, AP would be lower.
2. A standard results list (bare, keyed by image_id, as detectron2, mmdet
   and pycocotools write it) without --coco-gt: the ids are those
   gt.json was imported with, so id 11 is img_000000.jpg, not the file
   named with 11 or with nothing; the same numbers.  A list whose ids the
   ground truth never had is refused, naming coco_gt= as the way to give
   the ids.
3. Predictions whose category name differs from the ground truth's by
   letter case ("Cat" for "cat") are refused with one line that names
   the class and says only letter case differs; the store is unchanged
   (no class "Cat", the predictions field as it was).
5. The ground truth then replaced by a YOLO import of its own export
   (an empty label file for each picture without a box): the field is
   no longer the COCO file's, every picture is evaluated (AP 0.5 by
   hand, 2 false positives, nothing left out, gone.jpg not a miss).
6. A bare list's image id of a ground-truth image not on disk (id 5,
   gone.jpg) is skipped, never stored on the sample 5.jpg.
4. A store without classes (a folder imported alone) takes the class
   names of its first predictions: "cat" and "dog" become its classes
   and each box is stored under its own.

Usage: test_gt_images.py  (env: CURATE, MKJPEG)
Exit 0 = pass, 1 = mismatch.
"""

import json
import os
import subprocess
import sys
import tempfile

failures = []
W = H = 100
BOX = [10, 10, 50, 50]


def check(cond, what):
    print(("ok - " if cond else "not ok - ") + what)
    if not cond:
        failures.append(what)


def run(*args, ok=True):
    p = subprocess.run(list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    if ok and p.returncode != 0:
        raise SystemExit("%s failed: %s" % (" ".join(args), p.stderr))
    return p


def evaluate(curate, store, name):
    return json.loads(run(curate, "eval", "--store", store, "--name", name,
                          "--json").stdout)


def near(a, b):
    return a is not None and abs(a - b) <= 1e-12


def check_numbers(m, what):
    ap = 67 / 101
    for key, want in (("AP", ap), ("AP50", ap), ("AP75", ap),
                      ("AR100", 2 / 3)):
        check(near(m.get(key), want),
              "%s: %s = %r (want %r)" % (what, key, m.get(key), want))
    check((m["tp"], m["fp"], m["fn"]) == (2, 0, 1),
          "%s: tp/fp/fn %r" % (what, (m["tp"], m["fp"], m["fn"])))
    check((m.get("left_out_preds"), m.get("left_out_images")) == (2, 2),
          "%s: 2 predictions on 2 images left out: %r" %
          (what, (m.get("left_out_preds"), m.get("left_out_images"))))


def main():
    curate, mkjpeg = os.environ["CURATE"], os.environ["MKJPEG"]
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        run(mkjpeg, "-n", "4", "-W", str(W), "-H", str(H), data)
        names = sorted(os.listdir(data))
        gt = {"images": [{"id": 11, "file_name": names[0], "width": W,
                          "height": H},
                         {"id": 12, "file_name": names[1], "width": W,
                          "height": H},
                         {"id": 13, "file_name": "gone.jpg", "width": W,
                          "height": H}],
              "categories": [{"id": 1, "name": "cat"}],
              "annotations": [{"id": k, "image_id": 10 + k,
                               "category_id": 1, "bbox": BOX,
                               "area": 2500, "iscrowd": 0}
                              for k in (1, 2, 3)]}
        gt_path = os.path.join(tmp, "gt.json")
        json.dump(gt, open(gt_path, "w"))
        store = os.path.join(tmp, "store")
        run(curate, "import", "--store", store, "--coco", gt_path, data)

        # 1. by file_name, on the listed and the other pictures
        scores = (0.9, 0.6, 0.95, 0.97)
        by_name = [{"file_name": n, "category_id": 1, "bbox": BOX,
                    "score": s} for n, s in zip(names, scores)]
        p1 = os.path.join(tmp, "by_name.json")
        json.dump(by_name, open(p1, "w"))
        run(curate, "predictions", "--store", store, "--format", "coco", p1)
        check_numbers(evaluate(curate, store, "a"), "by file_name")
        rep = run(curate, "eval", "--store", store, "--name", "a").stdout
        check("2 predictions on 2 images the ground truth does not list: "
              "left out" in rep, "report.txt says what was left out")

        # 2. a bare results list keyed by gt.json's image ids, no --coco-gt
        bare = [{"image_id": i, "category_id": 1, "bbox": BOX, "score": s}
                for i, s in ((11, 0.9), (12, 0.6))]
        p2 = os.path.join(tmp, "bare.json")
        json.dump(bare, open(p2, "w"))
        p = run(curate, "predictions", "--store", store, "--format", "coco",
                "--field", "bare", p2, ok=False)
        check(p.returncode == 0, "a bare results list without --coco-gt "
              "imports: " + p.stderr.strip())
        m = json.loads(run(curate, "eval", "--store", store, "--name", "b",
                           "--pred", "bare", "--json").stdout)
        ap = 67 / 101
        check(near(m["AP"], ap) and (m["tp"], m["fp"]) == (2, 0),
              "its ids are gt.json's: AP %r tp/fp %r" %
              (m["AP"], (m["tp"], m["fp"])))
        unknown = [{"image_id": 99, "category_id": 1, "bbox": BOX,
                    "score": 0.5}]
        p3 = os.path.join(tmp, "unknown.json")
        json.dump(unknown, open(p3, "w"))
        p = run(curate, "predictions", "--store", store, "--format", "coco",
                "--field", "bare", p3, ok=False)
        check(p.returncode != 0 and "coco_gt=" in p.stderr,
              "ids the ground truth never had: refused, naming coco_gt=: " +
              p.stderr.strip())

        # 3. "Cat" for "cat": refused, store unchanged
        classes0 = run(curate, "classes", "--store", store).stdout
        cased = {"images": [{"id": 11, "file_name": names[0]}],
                 "categories": [{"id": 7, "name": "Cat"}],
                 "annotations": [{"image_id": 11, "category_id": 7,
                                  "bbox": BOX, "score": 0.9}]}
        p4 = os.path.join(tmp, "cased.json")
        json.dump(cased, open(p4, "w"))
        p = run(curate, "predictions", "--store", store, "--format", "coco",
                p4, ok=False)
        err = p.stderr.strip()
        check(p.returncode != 0 and '"Cat"' in err and '"cat"' in err and
              "letter case" in err and "\n" not in err,
              "a class differing by letter case is refused in one line: " +
              err)
        check(run(curate, "classes", "--store", store).stdout == classes0,
              "no class created")
        check_numbers(evaluate(curate, store, "c"),
                      "predictions unchanged after the refusal")

        # 5. the ground truth replaced by a YOLO import (the COCO file's
        # own boxes, exported and read back: a label file per picture,
        # empty for the two without a box): its COCO listing ends, every
        # picture is evaluated, the two confident predictions are false
        # positives, gone.jpg's box is no longer a miss.  By hand: 0.97
        # fp, 0.95 fp, 0.9 tp, 0.6 tp over 2 boxes: precision 0.5 at
        # every recall point, AP 0.5.
        yolo = os.path.join(tmp, "yolo")
        run(curate, "export", "--store", store, "--format", "yolo", yolo)
        run(curate, "import-labels", "--store", store, "--format", "yolo",
            yolo)
        m = evaluate(curate, store, "y")
        check(near(m.get("AP"), 0.5) and near(m.get("AP50"), 0.5) and
              (m["tp"], m["fp"], m["fn"]) == (2, 2, 0) and
              not m.get("left_out_preds"),
              "a YOLO ground truth lists every picture: AP %r, tp/fp/fn %r, "
              "left out %r" % (m.get("AP"), (m["tp"], m["fp"], m["fn"]),
                               m.get("left_out_preds")))

        # 6. a bare list's id of an image not on disk (gone.jpg, id 5)
        # is that image's, never the sample whose file name holds 5
        t6 = os.path.join(tmp, "t6")
        os.makedirs(t6)
        for src, dst in ((names[0], "a.jpg"), (names[1], "b.jpg"),
                         (names[2], "5.jpg")):
            with open(os.path.join(data, src), "rb") as f, \
                    open(os.path.join(t6, dst), "wb") as g:
                g.write(f.read())
        gt6 = {"images": [{"id": i, "file_name": n, "width": W, "height": H}
                          for i, n in ((1, "a.jpg"), (2, "b.jpg"),
                                       (5, "gone.jpg"))],
               "categories": [{"id": 1, "name": "cat"}],
               "annotations": [{"id": k, "image_id": k, "category_id": 1,
                                "bbox": BOX, "area": 2500, "iscrowd": 0}
                               for k in (1, 5)]}
        json.dump(gt6, open(os.path.join(tmp, "gt6.json"), "w"))
        s6 = os.path.join(tmp, "s6")
        run(curate, "import", "--store", s6, "--coco",
            os.path.join(tmp, "gt6.json"), t6)
        bare6 = [{"image_id": i, "category_id": 1, "bbox": BOX, "score": sc}
                 for i, sc in ((1, 0.9), (5, 0.8))]
        json.dump(bare6, open(os.path.join(tmp, "bare6.json"), "w"))
        out = run(curate, "predictions", "--store", s6, "--format", "coco",
                  os.path.join(tmp, "bare6.json")).stdout
        check("1 stored on 1 samples" in out and
              "1 for images not in the store" in out,
              "the id of an image not on disk lands on no sample: " + out)

        # 4. a store without classes takes the predictions' names
        bare_store = os.path.join(tmp, "bare_store")
        run(curate, "import", "--store", bare_store, data)
        def class_rows():
            return {ln.split()[2]: int(ln.split()[1]) for ln in
                    run(curate, "classes", "--store", bare_store)
                    .stdout.splitlines() if not ln.startswith("#")}
        check(class_rows() == {}, "a folder imported alone has no class")
        first = {"images": [{"id": 1, "file_name": names[0]},
                            {"id": 2, "file_name": names[1]}],
                 "categories": [{"id": 3, "name": "dog"},
                                {"id": 5, "name": "cat"}],
                 "annotations": [{"image_id": 1, "category_id": 5,
                                  "bbox": BOX, "score": 0.9},
                                 {"image_id": 2, "category_id": 3,
                                  "bbox": BOX, "score": 0.8}]}
        p5 = os.path.join(tmp, "first.json")
        json.dump(first, open(p5, "w"))
        p = run(curate, "predictions", "--store", bare_store, "--format",
                "coco", p5, ok=False)
        check(p.returncode == 0, "predictions into a store without classes "
              "import: " + p.stderr.strip())
        check(class_rows() == {"cat": 1, "dog": 1},
              "their names became the classes, a box each: %r"
              % class_rows())
        # the same once a class was added and removed (the largest id
        # handed out stays, no class does)
        s7 = os.path.join(tmp, "s7")
        run(curate, "import", "--store", s7, data)
        run(curate, "classes", "--store", s7, "add", "tmp")
        run(curate, "classes", "--store", s7, "remove", "tmp")
        p = run(curate, "predictions", "--store", s7, "--format", "coco",
                p5, ok=False)
        check(p.returncode == 0, "predictions into a store whose every "
              "class was removed import: " + p.stderr.strip())
    if failures:
        print("FAILED: %d" % len(failures))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
