#!/usr/bin/python3
"""test_coco_ids.py - each label field keeps the COCO image ids of its own
COCO import.

Two 100x100 JPEG files, a.jpg and b.jpg, one "cat" box each.  gt.json
gives a id 1 and b id 2; other.json is the same file with the ids
swapped.  Two predictions of score 0.9 (made against gt.json): a wrong
one on a, an exact one on b.  COCOeval walks images in id order, which
breaks that tie, so the AP differs with the order.

1. After `curate import --coco gt.json` and the predictions, `curate eval`
   must give the reference's numbers (reference_eval.py, images in
   gt.json's id order); then `curate import-labels --field other
   other.json` must change nothing: not the evaluation of ground_truth,
   not the image ids of its COCO export (those of gt.json), while the
   export of the field "other" has other.json's ids.
2. A store as an earlier build left it: one field-less record per sample
   in the records namespace coco.img (key: the bare be64 sample id),
   written here with lmdb-utils into the store of a real import, holding
   other.json's ids.  Evaluation and the COCO export of ground_truth must
   follow those ids, and still do after a COCO import into a third field
   with ids of the other order.

The expected ids come from the JSON files written here, the expected
numbers from the independent Python reference.

Usage: test_coco_ids.py  (env: CURATE, MKJPEG)
Exit 0 = pass, 1 = mismatch.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import reference_eval as ref  # noqa: E402
import test_eval_vs_reference as gen  # noqa: E402

W = H = 100
BOX = {"a": [10.0, 10.0, 40.0, 40.0], "b": [30.0, 30.0, 50.0, 50.0]}
WRONG_A = [60.0, 60.0, 30.0, 30.0]      # no overlap with a's box
IMG_NS = b"coco.img\x00"                # records key: namespace, NUL, key
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("MISMATCH", what)


def run(args):
    return subprocess.run(args, check=True, stdout=subprocess.PIPE,
                          universal_newlines=True).stdout


def write_gt(path, ids):
    """A COCO ground truth giving image x the id ids[x]."""
    doc = {"images": [], "annotations": [],
           "categories": [{"id": 1, "name": "cat"}]}
    for n, x in enumerate(("a", "b")):
        doc["images"].append({"id": ids[x], "file_name": x + ".jpg",
                              "width": W, "height": H})
        doc["annotations"].append({
            "id": n + 1, "image_id": ids[x], "category_id": 1,
            "bbox": BOX[x], "area": BOX[x][2] * BOX[x][3], "iscrowd": 0})
    with open(path, "w") as f:
        json.dump(doc, f)


def reference(order):
    """The reference's metrics with the images walked in `order`."""
    preds = {"a": WRONG_A, "b": BOX["b"]}
    images = [([(tuple(BOX[x]), 0, False, BOX[x][2] * BOX[x][3])],
               [(tuple(preds[x]), 0, 0.9)]) for x in order]
    with tempfile.TemporaryFile("w+") as f:
        gen.write_input(images, f)
        f.seek(0)
        n_classes, parsed = ref.read_input(f)
    return ref.evaluate(parsed, n_classes)


def compare(tag, m, r):
    check(m["map"] is not None and abs(m["map"] - r["map"]) <= 1e-12,
          "%s mAP %r vs reference %r" % (tag, m["map"], r["map"]))
    for key, v in r["stats"].items():
        got = m[key] if m[key] is not None else -1.0
        check(abs(got - v) <= 1e-12, "%s %s %r vs reference %r"
              % (tag, key, got, v))


def evaluate(curate, store, name):
    return json.loads(run([curate, "eval", "--store", store, "--name", name,
                           "--json"]))


def export_ids(curate, store, out, field=None):
    """{file stem: image id} of the COCO export of `field`."""
    args = [curate, "export", "--store", store, "--format", "coco"]
    if field:
        args += ["--field", field]
    run(args + [out])
    ann = os.path.join(out, "annotations")
    files = os.listdir(ann)
    check(len(files) == 1, "export annotation files %r" % files)
    with open(os.path.join(ann, files[0])) as f:
        doc = json.load(f)
    shutil.rmtree(out)
    return {os.path.splitext(im["file_name"])[0]: im["id"]
            for im in doc["images"]}


def make_old(store, renumber):
    """Rewrites the store as an earlier build left it: every coco.img
    record gone, one field-less record per sample (key: the bare be64
    sample id) holding renumber[its current id].  mdb_load cannot delete,
    so the whole environment is dumped and loaded into a fresh one."""
    dump = subprocess.run(["mdb_dump", "-a", store], check=True,
                          stdout=subprocess.PIPE,
                          universal_newlines=True).stdout.splitlines()
    out, i, db, new = [], 0, None, {}
    while i < len(dump):
        ln = dump[i]
        if ln.startswith("database="):
            db = ln[len("database="):]
        if db == "records" and ln.startswith(" ") and \
                bytes.fromhex(ln[1:]).startswith(IMG_NS):
            key = bytes.fromhex(ln[1:])[len(IMG_NS):]
            cid = int.from_bytes(bytes.fromhex(dump[i + 1][1:]), "big",
                                 signed=True)
            new[key[:8]] = renumber[cid]
            i += 2                      # key and value lines
            continue
        if db == "records" and ln == "DATA=END":
            for sid, cid in sorted(new.items()):
                out.append(" " + (IMG_NS + sid).hex())
                out.append(" " + cid.to_bytes(8, "big", signed=True).hex())
        out.append(ln)
        i += 1
    check(len(new) == len(renumber), "samples with a COCO id: %r" % new)
    for f in ("data.mdb", "lock.mdb"):
        if os.path.exists(os.path.join(store, f)):
            os.unlink(os.path.join(store, f))
    subprocess.run(["mdb_load", store], input="\n".join(out) + "\n",
                   universal_newlines=True, check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    left = subprocess.run(["mdb_dump", "-s", "records", store], check=True,
                          stdout=subprocess.PIPE,
                          universal_newlines=True).stdout.splitlines()
    body = [bytes.fromhex(ln[1:]) for ln in
            left[left.index("HEADER=END") + 1:] if ln.startswith(" ")]
    img = sorted(k for k in body[0::2] if k.startswith(IMG_NS))
    check(img == sorted(IMG_NS + s for s in new),
          "old-layout records %r" % img)


def main():
    curate, mkjpeg = os.environ["CURATE"], os.environ["MKJPEG"]
    ids = {"gt": {"a": 1, "b": 2}, "other": {"a": 2, "b": 1},
           "third": {"a": 5, "b": 7}}
    order = {k: sorted(("a", "b"), key=v.get) for k, v in ids.items()}
    check(order["gt"] != order["other"] and order["third"] == order["gt"],
          "test set-up: orders %r" % order)
    r_gt, r_other = reference(order["gt"]), reference(order["other"])
    check(abs(r_gt["map"] - r_other["map"]) > 0.1,
          "test set-up: the id order must change the AP (%r, %r)"
          % (r_gt["map"], r_other["map"]))
    with tempfile.TemporaryDirectory() as tmp:
        img = os.path.join(tmp, "img")
        run([mkjpeg, "-n", "2", "-W", str(W), "-H", str(H), img])
        for src, dst in zip(sorted(os.listdir(img)), ("a.jpg", "b.jpg")):
            os.rename(os.path.join(img, src), os.path.join(img, dst))
        for k in ids:
            write_gt(os.path.join(tmp, k + ".json"), ids[k])
        preds = [{"image_id": ids["gt"]["a"], "category_id": 1,
                  "bbox": WRONG_A, "score": 0.9},
                 {"image_id": ids["gt"]["b"], "category_id": 1,
                  "bbox": BOX["b"], "score": 0.9}]
        with open(os.path.join(tmp, "preds.json"), "w") as f:
            json.dump(preds, f)
        gt, other, third = (os.path.join(tmp, k + ".json")
                            for k in ("gt", "other", "third"))
        out = os.path.join(tmp, "out")

        # 1. An import into another field leaves the ground truth's ids.
        st = os.path.join(tmp, "st")
        run([curate, "import", "--store", st, "--coco", gt, img])
        run([curate, "predictions", "--store", st, "--format", "coco",
             "--coco-gt", gt, os.path.join(tmp, "preds.json")])
        compare("before", evaluate(curate, st, "before"), r_gt)
        check(export_ids(curate, st, out) == ids["gt"], "export before")
        run([curate, "import-labels", "--store", st, "--format", "coco",
             "--field", "other", other])
        compare("after import into other", evaluate(curate, st, "after"),
                r_gt)
        got = export_ids(curate, st, out)
        check(got == ids["gt"], "ground_truth export ids %r after an "
              "import into other, want %r" % (got, ids["gt"]))
        got = export_ids(curate, st, out, "other")
        check(got == ids["other"], "export ids of other %r, want %r"
              % (got, ids["other"]))
        # A field no COCO import wrote (predictions) exports with the
        # ground truth's ids, so its file lines up with the ground truth's
        # (other.json's ids are not the sample ids).
        st2 = os.path.join(tmp, "st2")
        run([curate, "import", "--store", st2, "--coco", other, img])
        run([curate, "predictions", "--store", st2, "--format", "coco",
             "--coco-gt", other, os.path.join(tmp, "preds.json")])
        got = export_ids(curate, st2, out, "predictions")
        check(got == ids["other"], "export ids of predictions %r, want the "
              "ground truth's %r" % (got, ids["other"]))

        # 2. An earlier build's field-less records (other.json's ids, as
        # that build left them after importing other.json last).
        old = os.path.join(tmp, "old")
        run([curate, "import", "--store", old, "--coco", gt, img])
        run([curate, "predictions", "--store", old, "--format", "coco",
             "--coco-gt", gt, os.path.join(tmp, "preds.json")])
        make_old(old, {ids["gt"][x]: ids["other"][x] for x in ("a", "b")})
        compare("old store", evaluate(curate, old, "old"), r_other)
        got = export_ids(curate, old, out)
        check(got == ids["other"], "old store export ids %r, want %r"
              % (got, ids["other"]))
        run([curate, "import-labels", "--store", old, "--format", "coco",
             "--field", "third", third])
        compare("old store after import into third",
                evaluate(curate, old, "old2"), r_other)
        got = export_ids(curate, old, out)
        check(got == ids["other"], "old store export ids %r after an "
              "import into third, want %r" % (got, ids["other"]))
        got = export_ids(curate, old, out, "third")
        check(got == ids["third"], "export ids of third %r, want %r"
              % (got, ids["third"]))
        # A YOLO import into ground_truth ends its COCO listing, also
        # where the ids came from field-less records: the export numbers
        # its images itself (in sample order), third keeps its ids.
        yolo = os.path.join(tmp, "yolo")
        run([curate, "export", "--store", old, "--format", "yolo", yolo])
        run([curate, "import-labels", "--store", old, "--format", "yolo",
             yolo])
        got = export_ids(curate, old, out)
        check(got == {"a": 1, "b": 2}, "old store export ids %r after a "
              "YOLO import into ground_truth, want the export's own"
              % got)
        got = export_ids(curate, old, out, "third")
        check(got == ids["third"], "export ids of third %r after it, want "
              "%r" % (got, ids["third"]))
        print("AP in gt.json's order %.6f, in other.json's %.6f"
              % (r_gt["map"], r_other["map"]))
    if failures:
        print("FAILED: %d mismatches" % len(failures))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
