#!/usr/bin/python3
"""test_missing_images.py - images of the COCO ground truth whose file is
not on disk count in evaluation, as pycocotools counts every image of the
ground-truth file: their boxes are misses.  Worked out by hand:

  image 1 (on disk): one "person" box, predicted exactly (score 0.9);
  image 2 (not on disk): one "person" box and one crowd "person" box.

pycocotools: 1 true positive over 2 non-crowd boxes at every IoU
threshold, so recall 0.5 and precision 1 up to it: AP = AP50 = AP75 =
51/101 (recall points 0, 0.01 ... 0.5) and AR100 = 0.5; the crowd is
ignored.  Without the missing image AP would be 1.  The same file with
image 2 renumbered 5 keeps its boxes once, not once per id.  Then the
file of image 2 appears and the COCO file is imported again: the record of the
missing image goes, its boxes are on the sample, and the numbers stay
the same (the sample has no prediction).  A file that lists only image
1 leaves the record of image 2 in place.

Usage: test_missing_images.py  (env: CURATE, MKJPEG)
Exit 0 = pass, 1 = mismatch.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

failures = []


def check(cond, what):
    print(("ok - " if cond else "not ok - ") + what)
    if not cond:
        failures.append(what)


def run(*args):
    return subprocess.run(list(args), check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE,
                          universal_newlines=True)


def evaluate(curate, store, name):
    return json.loads(run(curate, "eval", "--store", store, "--name", name,
                          "--json").stdout)


def main():
    curate, mkjpeg = os.environ["CURATE"], os.environ["MKJPEG"]
    W, H = 64, 48
    with tempfile.TemporaryDirectory() as tmp:
        data, spare = os.path.join(tmp, "data"), os.path.join(tmp, "spare")
        run(mkjpeg, "-n", "1", "-W", str(W), "-H", str(H), data)
        run(mkjpeg, "-n", "1", "-W", str(W), "-H", str(H), spare)
        on_disk = sorted(os.listdir(data))[0]
        gt = {"images": [{"id": 1, "file_name": on_disk, "width": W,
                          "height": H},
                         {"id": 2, "file_name": "later.jpg", "width": W,
                          "height": H}],
              "annotations": [
                  {"id": 1, "image_id": 1, "category_id": 1,
                   "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0},
                  {"id": 2, "image_id": 2, "category_id": 1,
                   "bbox": [5, 5, 10, 10], "area": 100, "iscrowd": 0},
                  {"id": 3, "image_id": 2, "category_id": 1,
                   "bbox": [0, 0, 60, 40], "area": 2400, "iscrowd": 1}],
              "categories": [{"id": 1, "name": "person"}]}
        res = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20],
                "score": 0.9}]
        gt_path = os.path.join(tmp, "gt.json")
        res_path = os.path.join(tmp, "res.json")
        json.dump(gt, open(gt_path, "w"))
        json.dump(res, open(res_path, "w"))
        store = os.path.join(tmp, "store")
        p = run(curate, "import", "--store", store, "--coco", gt_path, data)
        check("later.jpg: in the JSON but not on disk (image id 2): its 2 "
              "boxes are kept for evaluation" in p.stderr,
              "the import names the image not on disk: " + p.stderr.strip())
        check("1 not on disk with 2 boxes kept for evaluation" in p.stdout,
              "the summary counts it: " + p.stdout.strip())
        run(curate, "predictions", "--store", store, "--format", "coco",
            "--coco-gt", gt_path, res_path)

        ap = 51 / 101
        m = evaluate(curate, store, "a")
        for key, want in (("AP", ap), ("AP50", ap), ("AP75", ap),
                          ("AR1", 0.5), ("AR100", 0.5)):
            check(m[key] is not None and abs(m[key] - want) <= 1e-12,
                  "%s = %r (want %r)" % (key, m[key], want))
        person = [c for c in m["classes"] if c["name"] == "person"][0]
        check((person["tp"], person["fp"], person["fn"]) == (1, 0, 1),
              "person tp/fp/fn %r" % ((person["tp"], person["fp"],
                                      person["fn"]),))

        # A file that lists only image 1 leaves image 2's record alone.
        only1 = dict(gt, images=gt["images"][:1],
                     annotations=gt["annotations"][:1])
        only1_path = os.path.join(tmp, "only1.json")
        json.dump(only1, open(only1_path, "w"))
        run(curate, "import", "--store", store, "--coco", only1_path, data)
        m = evaluate(curate, store, "b")
        check(abs(m["AP"] - ap) <= 1e-12,
              "another file without image 2 keeps it: AP %r" % m["AP"])

        # The same file renumbered (image 2 is now 5, as when a split is
        # rebuilt): its file's boxes are kept once, under the new id, not
        # once per id the file ever had.
        renum = json.loads(json.dumps(gt))
        renum["images"][1]["id"] = 5
        for a in renum["annotations"]:
            if a["image_id"] == 2:
                a["image_id"] = 5
        renum_path = os.path.join(tmp, "renum.json")
        json.dump(renum, open(renum_path, "w"))
        p = run(curate, "import", "--store", store, "--coco", renum_path,
                data)
        check("(image id 5)" in p.stderr, "renumbered: " + p.stderr.strip())
        m = evaluate(curate, store, "r")
        person = [c for c in m["classes"] if c["name"] == "person"][0]
        check(person["fn"] == 1 and abs(m["AP"] - ap) <= 1e-12,
              "renumbered image counted once: fn %r, AP %r"
              % (person["fn"], m["AP"]))

        # The file appears: after the folder and the COCO file are
        # imported again (under its first id), its boxes are on its
        # sample and no record of it is left under any id; the same
        # numbers.
        shutil.copy(os.path.join(spare, sorted(os.listdir(spare))[0]),
                    os.path.join(data, "later.jpg"))
        p = run(curate, "import", "--store", store, "--coco", gt_path, data)
        check("not on disk" in p.stdout and "0 not on disk" in p.stdout,
              "now on disk: " + p.stdout.strip())
        m = evaluate(curate, store, "c")
        check(abs(m["AP"] - ap) <= 1e-12 and abs(m["AR100"] - 0.5) <= 1e-12,
              "the same numbers with the image on disk: AP %r" % m["AP"])
        person = [c for c in m["classes"] if c["name"] == "person"][0]
        check(person["fn"] == 1, "its box is a miss on the sample")
    if failures:
        print("FAILED: %d" % len(failures))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
