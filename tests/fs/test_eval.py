#!/usr/bin/python3
"""fs suite, evaluation through the mount: predictions imported by
`curate import --predictions` and by writing eval/import-predictions (a
bare results list too, by the image ids of the ground truth's import), an
evaluation started by writing eval/run, eval/<name>/report.txt,
metrics.json and pr-curves.jpg against hand-computed values, the views
mistakes / possible-missing / possible-spurious with their drawn images,
and all of them following a label edit; the drawn image of a photo with an
EXIF orientation, upright with its boxes."""
import errno
import json
import os
import subprocess
import time
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (Mount, curate, eq, expect_errno,  # noqa
                   make_jpegs)
from fslib import edit_boxes, read, run_suite, write  # noqa: E402
from fslib import check_drawn_upright, oriented_jpeg  # noqa: E402

JPEGCMP = os.environ.get("JPEGCMP", "build/tests/jpegcmp")
W, H = 320, 240

# img0: a perfect cat; img1: a dog box and a confident dog prediction far
# away (possible missing + possible spurious); img2: a cat predicted with
# IoU 2400/2600 = 0.923; img3: nothing.
GT = {0: [(1, [10, 10, 100, 100])], 1: [(2, [50, 50, 80, 80])],
      2: [(1, [20, 20, 50, 50])]}
PRED = {0: [(1, [10, 10, 100, 100], 0.9)], 1: [(2, [200, 150, 60, 60], 0.99)],
        2: [(1, [22, 20, 50, 50], 0.8)]}
# cat: matched at IoU 0.50..0.90 with AP 1; at 0.95 the 0.8 prediction
# misses: AP = 51/101.  dog: AP 0.  mAP = mean of the two.
AP_CAT = (9 * 1.0 + 51 / 101) / 10
MAP = AP_CAT / 2


def near(a, b, what):
    if abs(a - b) > 1e-4:
        raise AssertionError("%s: %r != %r" % (what, a, b))


def body(ck, w):
    data = w.sub("data")
    make_jpegs(data, 4, extra=["-W", str(W), "-H", str(H)])
    names = sorted(os.listdir(data))
    stems = [n[:-4] for n in names]
    gt = {"images": [{"id": i + 1, "file_name": n, "width": W,
                      "height": H} for i, n in enumerate(names)],
          "categories": [{"id": 1, "name": "cat"},
                         {"id": 2, "name": "dog"}],
          "annotations": []}
    for i, boxes in GT.items():
        for c, b in boxes:
            gt["annotations"].append({
                "id": len(gt["annotations"]) + 1, "image_id": i + 1,
                "category_id": c, "bbox": b, "area": b[2] * b[3],
                "iscrowd": 0})
    preds = [{"image_id": i + 1, "category_id": c, "bbox": b, "score": s}
             for i, bs in PRED.items() for c, b, s in bs]
    gtf, pf = w.sub("gt.json"), w.sub("preds.json")
    json.dump(gt, open(gtf, "w"))
    json.dump(preds, open(pf, "w"))
    store = w.sub("store")
    p = curate("import", "--store", store, "--coco", gtf,
               "--predictions", pf, data)
    if "predictions: 3 boxes on 3 samples" not in p.stdout:
        raise AssertionError(p.stdout)
    mnt = w.sub("mnt")
    m = Mount(store, mnt).start()
    E = os.path.join(mnt, "eval")
    V = os.path.join(mnt, "views")

    def t_run_and_report():
        eq(sorted(os.listdir(E)), ["import-predictions", "run"], "eval/")
        eq(os.listdir(os.path.join(V, "mistakes")), [], "no eval yet")
        write(os.path.join(E, "run"), "e1\n")
        eq(sorted(os.listdir(os.path.join(E, "e1"))),
           ["metrics.json", "pr-curves.jpg", "report.txt"], "files")
        mj = json.loads(read(os.path.join(E, "e1", "metrics.json")))
        near(mj["map"], MAP, "mAP")
        cls = {c["name"]: c for c in mj["classes"]}
        near(cls["cat"]["ap"], AP_CAT, "AP cat")
        near(cls["dog"]["ap"], 0.0, "AP dog")
        eq((mj["tp"], mj["fp"], mj["fn"]), (2, 1, 1), "counts")
        # COCO summary: AP50 / AP75 = mean(cat 1, dog 0); large: only the
        # 100 x 100 cat -> 1; no small GT -> null; AR100: cat recalls 1 at
        # 9 thresholds and 1/2 at 0.95, dog 0 -> (0.95 + 0) / 2.
        near(mj["AP"], MAP, "AP")
        near(mj["AP50"], 0.5, "AP50")
        near(mj["AP75"], 0.5, "AP75")
        near(mj["APl"], 1.0, "APl")
        eq(mj["APs"], None, "APs")
        near(mj["AR100"], 0.475, "AR100")
        near(cls["cat"]["ap50"], 1.0, "AP50 cat")
        eq(mj["method"], "pycocotools", "method")
        rep = read(os.path.join(E, "e1", "report.txt")).decode()
        for want in ("cat", "dog", "%.4f" % AP_CAT, "%.4f" % MAP,
                     "COCO summary", "AR100   0.4750", "APs          -"):
            if want not in rep:
                raise AssertionError("report lacks %r:\n%s" % (want, rep))
        out = subprocess.run([JPEGCMP] + [os.path.join(E, "e1",
                                                       "pr-curves.jpg")] * 2,
                             capture_output=True, text=True, check=True)
        # plot_pr_width() x plot_pr_height(): 1400 x at least 800.
        if not out.stdout.startswith("1400x800"):
            raise AssertionError("pr-curves.jpg: " + out.stdout)
    ck.run("eval/run, report.txt and metrics.json match hand-computed AP",
           t_run_and_report)

    def t_views():
        eq(sorted(os.listdir(os.path.join(V, "mistakes"))),
           sorted(["0001-%s.jpg" % stems[2], "0002-%s.jpg" % stems[0]]),
           "mistakes: matched samples, worst first")
        eq(os.listdir(os.path.join(V, "possible-missing")),
           ["0001-%s.jpg" % stems[1]], "possible-missing")
        eq(os.listdir(os.path.join(V, "possible-spurious")),
           ["0001-%s.jpg" % stems[1]], "possible-spurious")
        got = os.path.join(V, "possible-missing", "0001-%s.jpg" % stems[1])
        tmp = w.sub("pm.jpg")
        open(tmp, "wb").write(read(got))
        out = subprocess.run(
            [JPEGCMP, os.path.join(data, names[1]), tmp,
             "50,50,80,80", "200,150,60,60"],
            capture_output=True, text=True, check=True).stdout.split()
        eq(out[1], "%dx%d" % (W, H), "original size")
        if int(out[2].split("=")[1]) > 40 or int(out[3].split("=")[1]) < 50:
            raise AssertionError("boxes not drawn where expected: %r" % out)
        os.mkdir(os.path.join(mnt, "tags", "fix"))
        os.rename(got, os.path.join(mnt, "tags", "fix", names[1]))
        eq(os.listdir(os.path.join(mnt, "tags", "fix")), [names[1]],
           "tagged from an eval view")
    ck.run("mistakes, possible-missing and possible-spurious views",
           t_views)

    def t_drawn_eval_view_follows():
        # img1's drawn file in possible-missing (every ground-truth box
        # and the missing prediction drawn) keeps its name while its
        # ground truth moves 10 px (still missed): the next open shows the
        # new drawing, a reader holding the old one keeps it whole.  (In
        # views/mistakes a matched box is not drawn: same code path,
        # eval_generate.)
        p = os.path.join(V, "possible-missing", "0001-%s.jpg" % stems[1])
        with open(p, "rb") as held:
            old = held.read()
            edit_boxes(mnt, stems[1],
                       lambda b: b[0].update(bbox=[60, 50, 80, 80]))
            time.sleep(1.2)   # EVALRUN_LOOKUP_AGE, as below
            new = read(p)
            if new == old:
                raise AssertionError("the next open shows the old drawing")
            os.posix_fadvise(held.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            eq(os.pread(held.fileno(), len(old) + 10, 0), old,
               "a reader holding the old drawing")
        tmp = w.sub("pm2.jpg")
        open(tmp, "wb").write(new)
        out = subprocess.run(
            [JPEGCMP, os.path.join(data, names[1]), tmp, "60,50,80,80",
             "200,150,60,60"], capture_output=True, text=True,
            check=True).stdout.split()
        eq(out[1], "%dx%d" % (W, H), "drawn size")
        if int(out[2].split("=")[1]) > 40 or int(out[3].split("=")[1]) < 50:
            raise AssertionError("boxes not drawn where expected: %r" % out)
        eq(read(p), new, "reopened")
    ck.run("a label change reaches the next open of a drawn evaluation "
           "view, not its reader", t_drawn_eval_view_follows)

    def t_follow_labels():
        edit_boxes(mnt, stems[1],
                   lambda b: b[0].update(bbox=[200, 150, 60, 60]))
        # The first request after the edit already sees the re-run
        # evaluation: the export provider refreshes it before the request's
        # read transaction, not inside it (where the request would read
        # its older snapshot).  A refresh check stands for a second
        # (EVALRUN_LOOKUP_AGE), and the views above just made one.
        time.sleep(1.2)
        pmp = os.path.join(mnt, "export", "views", "possible-missing",
                           "coco", "annotations", "instances_default.json")
        images = json.loads(read(pmp))["images"] if os.path.exists(pmp) \
            else []
        eq(images, [], "export of possible-missing, first read after the "
           "fix")
        eq(os.listdir(os.path.join(V, "possible-missing")), [],
           "possible-missing after the fix")
        eq(os.listdir(os.path.join(V, "possible-spurious")), [],
           "possible-spurious after the fix")
        mj = json.loads(read(os.path.join(E, "e1", "metrics.json")))
        cls = {c["name"]: c for c in mj["classes"]}
        near(cls["dog"]["ap"], 1.0, "AP dog after the fix")
        eq((mj["tp"], mj["fp"], mj["fn"]), (3, 0, 0), "counts after")
    ck.run("evaluation and views follow a label edit", t_follow_labels)

    def t_import_through_mount():
        write(os.path.join(E, "import-predictions"),
              "%s coco_gt=%s field=preds2\n" % (pf, gtf))
        doc = json.loads(read(os.path.join(mnt, "labels",
                                           stems[0] + ".json")))
        eq([d["bbox"] for d in doc["fields"]["preds2"]],
           [[10, 10, 100, 100]], "imported field")
        # The README's loop: a bare results list (keyed by image_id, as
        # detectron2, mmdet and pycocotools write it) without coco_gt=
        # goes by the ids gt.json was imported with: image 1 is
        # img_000000.jpg, not the file numbered 1.
        write(os.path.join(E, "import-predictions"), "%s field=preds3\n" % pf)
        for k, want in ((0, [[10, 10, 100, 100]]),
                        (1, [[200, 150, 60, 60]]), (3, [])):
            doc = json.loads(read(os.path.join(mnt, "labels",
                                               stems[k] + ".json")))
            eq([d["bbox"] for d in doc["fields"].get("preds3", [])], want,
               "bare results list without coco_gt=, %s" % stems[k])
        write(os.path.join(E, "run"), "e2 pred=preds2 iou=0.5\n")
        mj = json.loads(read(os.path.join(E, "e2", "metrics.json")))
        eq(mj["pred_field"], "preds2", "field used")
        expect_errno(errno.ENOENT, write,
                     os.path.join(E, "import-predictions"),
                     "/nonexistent/preds.json\n")
        expect_errno(errno.EINVAL, write, os.path.join(E, "run"),
                     "bad/name\n")
        expect_errno(errno.EINVAL, write, os.path.join(E, "run"),
                     "e3 colour=blue\n")
        # (0, 1], as `curate eval --iou` and COCOeval (whose thresholds
        # are capped at 1 - 1e-10): iou=1 matches boxes equal to the GT.
        for bad_iou in ("0", "1.5", "-0.2", "nan", ""):
            expect_errno(errno.EINVAL, write, os.path.join(E, "run"),
                         "e3 iou=%s\n" % bad_iou)
        if "iou must be a number in (0, 1]" not in read(
                os.path.join(mnt, "status")).decode():
            raise AssertionError("eval/run iou range not said as (0, 1]")
        write(os.path.join(E, "run"), "e4 pred=preds2 iou=1\n")
        mj = json.loads(read(os.path.join(E, "e4", "metrics.json")))
        eq(mj["iou"], 1, "iou=1 runs, as with curate eval --iou 1")
        bad = w.sub("bad.json")
        write(bad, '[{"image_id": 1, "category_id": 1, "bbox": [1,2]}]')
        before = read(os.path.join(mnt, "labels", stems[0] + ".json"))
        expect_errno(errno.EINVAL, write,
                     os.path.join(E, "import-predictions"),
                     "%s coco_gt=%s field=preds2\n" % (bad, gtf))
        eq(read(os.path.join(mnt, "labels", stems[0] + ".json")), before,
           "labels unchanged by a bad import")
    ck.run("predictions through eval/import-predictions; bad commands "
           "fail and change nothing", t_import_through_mount)

    m.umount()

    def t_oriented():
        # A photo stored turned (EXIF orientation 8) with a missed cat and
        # a confident prediction far from it: views/possible-missing and
        # views/possible-spurious draw both on the upright picture, where a
        # viewer shows them on the original.
        odata = w.sub("odata")
        os.makedirs(odata)
        oriented_jpeg(os.path.join(odata, "o8.jpg"), W, H, 8)
        g, pr = [40, 30, 100, 80], [200, 150, 80, 60]
        ogt = {"images": [{"id": 1, "file_name": "o8.jpg", "width": W,
                           "height": H}],
               "categories": [{"id": 1, "name": "cat"}],
               "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                                "bbox": g, "area": g[2] * g[3],
                                "iscrowd": 0}]}
        opred = [{"image_id": 1, "category_id": 1, "bbox": pr,
                  "score": 0.99}]
        ogtf, opf = w.sub("ogt.json"), w.sub("opreds.json")
        json.dump(ogt, open(ogtf, "w"))
        json.dump(opred, open(opf, "w"))
        ostore = w.sub("ostore")
        curate("import", "--store", ostore, "--coco", ogtf, "--predictions",
               opf, odata)
        om = Mount(ostore, w.sub("omnt")).start()
        write(os.path.join(om.mnt, "eval", "run"), "o\n")
        for v in ("possible-missing", "possible-spurious"):
            vd = os.path.join(om.mnt, "views", v)
            eq(os.listdir(vd), ["0001-o8.jpg"], v)
            p = os.path.join(vd, "0001-o8.jpg")
            size = os.stat(p).st_size
            blob = read(p)
            eq(len(blob), size, "%s: size at lookup equals bytes read" % v)
            check_drawn_upright(blob, read(os.path.join(odata, "o8.jpg")),
                                8, [g, pr])
        om.umount()
    ck.run("the drawn evaluation views show a photo with EXIF orientation "
           "8 upright, its boxes turned with it", t_oriented)


def main():
    run_suite("curatefs-eval-", body)


if __name__ == "__main__":
    main()
