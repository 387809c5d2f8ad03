"""COCO and prediction files are read in pieces, never parsed whole.

A COCO file of some 25 MB whose annotations carry long segmentation
polygons (each number an object in a parsed tree: the whole document would
take some 13 times its size) must import in no more peak memory than the
same file without the polygons, plus half its size: the import keeps the
same boxes either way, so the difference is what reading costs.  The same
for a predictions file.  What lands in the store is compared with the
file as Python's json module reads it.  Malformed files (cut short,
trailing bytes, a bad token or a number out of range late in the file, a
key twice, a root of the wrong type) fail with one line naming the line
and change nothing.  The same file in CVAT's "COCO 1.0" zip and in a
folder's annotations/ imports through import-labels within the same
bound (a zip's member is inflated to a file with no name in $TMPDIR,
which is left empty).

Under AddressSanitizer the child keeps at most 8 MB of freed memory in
quarantine (its default, 256 MB, would be counted as peak memory of a
reader that frees each element after use)."""
import json
import os
import random
import re
import sys
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xlib  # noqa: E402
from xlib import CLASSES, check  # noqa: E402

N_ANN = 8000       # annotations (and predictions) in the large files
POLY = 340         # numbers per segmentation polygon
KNOWN = {"id", "image_id", "category_id", "bbox", "iscrowd", "area",
         "segmentation", "score"}


timed = xlib.curate_peak   # (exit code, stderr, peak RSS, CPU seconds)


def write_lines(path, head, anns, tail):
    """A COCO object with one annotation a line: "images" and "info" on
    line 1, annotation i on line 3 + i, "categories" after them (as in
    COCO's own files).  Returns the text."""
    text = ('{"info": {"year": 2017}, "images": %s,\n"annotations": [\n'
            % json.dumps(head) +
            ",\n".join(json.dumps(a) for a in anns) +
            '\n],\n"categories": %s}\n' % json.dumps(tail))
    with open(path, "w") as f:
        f.write(text)
    return text


def big_annotations(coco, rnd, polygons):
    ids = [im["id"] for im in coco["images"]]
    anns = []
    for k in range(N_ANN):
        w = round(rnd.uniform(1, 120), 2)
        h = round(rnd.uniform(1, 100), 2)
        a = {"id": 10 ** 12 + k, "image_id": rnd.choice(ids),
             "category_id": rnd.choice(list(CLASSES)),
             "bbox": [round(rnd.uniform(0, 190), 2),
                      round(rnd.uniform(0, 130), 2), w, h],
             "area": round(w * h * 0.8, 3), "iscrowd": int(k % 9 == 0)}
        if polygons:
            a["segmentation"] = [polygons[k % len(polygons)]]
        if k % 5 == 0:
            a["score"] = round(rnd.random(), 3)
        if k % 7 == 0:
            a["attributes"] = {"color": "red", "n": k}
        anns.append(a)
    return anns


def expect_gt(ds, doc):
    """sample name -> boxes, from the document as json reads it."""
    name_of = {im["id"]: im["file_name"][:-4].replace("/", "__")
               for im in doc["images"]}
    cats = {c["id"]: c["name"] for c in doc["categories"]}
    out = {}
    for a in doc["annotations"]:
        extra = {k: v for k, v in a.items() if k not in KNOWN}
        out.setdefault(name_of[a["image_id"]], []).append(
            (cats[a["category_id"]], a["bbox"], a.get("score"),
             a["iscrowd"], extra or None))
    return out


def got_boxes(dump, with_attrs=True):
    out = {}
    for d in dump:
        conf = d["confidence"]
        conf = None if conf is None or conf != conf else conf
        out.setdefault(d["sample"], []).append(
            (d["label"], d["box"], conf, d["iscrowd"],
             d["attributes"] if with_attrs else None))
    return out


def same_boxes(got, want):
    if sorted(got) != sorted(want):
        return False
    for name, boxes in want.items():
        g = got[name]
        if len(g) != len(boxes):
            return False
        for x, y in zip(g, boxes):
            if x[0] != y[0] or x[3] != y[3] or x[4] != y[4]:
                return False
            if any(abs(p - q) > 1e-9 for p, q in zip(x[1], y[1])):
                return False
            if (x[2] is None) != (y[2] is None) or \
                    (x[2] is not None and abs(x[2] - y[2]) > 1e-9):
                return False
    return True


def main():
    ds = xlib.Dataset(n=24, tags=False)
    rnd = random.Random(11)
    polygons = [[round(rnd.uniform(0, 320), 2) for _ in range(POLY)]
                for _ in range(64)]
    anns = big_annotations(ds.coco, rnd, polygons)
    big, small = ds.path("big.json"), ds.path("small.json")
    write_lines(big, ds.coco["images"], anns, ds.coco["categories"])
    write_lines(small, ds.coco["images"],
                [{k: v for k, v in a.items() if k != "segmentation"}
                 for a in anns], ds.coco["categories"])
    size = os.path.getsize(big)
    check(size > 20 << 20, "the large COCO file has %.1f MB" % (size / 2**20))

    # Peak memory: the file without polygons first (the same boxes kept).
    rc, err, rss_small, _ = timed("import", "--store", ds.store, "--coco",
                                  small, ds.photos)
    check(rc == 0, "import --coco of the file without polygons (%s)"
          % err.strip()[:200])
    rc, err, rss_big, cpu = timed("import", "--store", ds.store, "--coco",
                                  big, ds.photos)
    check(rc == 0, "import --coco of the %.0f MB file (%s)"
          % (size / 2**20, err.strip()[:200]))
    extra = rss_big - rss_small
    check(extra < size // 2, "the polygons cost %.1f MB of peak memory "
          "(%.1f MB against %.1f MB), less than half the file's %.1f MB; "
          "%.2f s CPU" % (extra / 2**20, rss_big / 2**20, rss_small / 2**20,
                          size / 2**20, cpu))
    with open(big) as f:
        doc = json.load(f)
    gt_before = ds.dump()
    check(same_boxes(got_boxes(gt_before), expect_gt(ds, doc)),
          "the %d boxes stored are the file's as json.load reads it"
          % len(doc["annotations"]))

    # The same through import-labels (the file is read in pieces there).
    fresh = ds.path("store2")
    xlib.curate("import", "--store", fresh, ds.photos)
    rc, err, rss_lab, _ = timed("import-labels", "--store", fresh,
                                "--format", "coco", big)
    check(rc == 0, "import-labels --format coco (%s)" % err.strip()[:200])
    out = xlib.run(xlib.HELPER, "dump", fresh, "ground_truth").stdout
    got = [json.loads(x) for x in out.decode().splitlines()]
    check(same_boxes(got_boxes(got), expect_gt(ds, doc)),
          "import-labels stores the same boxes")
    check(rss_lab - rss_small < size // 2, "import-labels: %.1f MB peak"
          % (rss_lab / 2**20))

    # The same file as CVAT's "COCO 1.0" zip and as a folder of
    # annotations/: the zip's member is inflated to a file with no name in
    # $TMPDIR and read in pieces from there (it was inflated into memory
    # whole), which closing frees.
    zpath = ds.path("coco10.zip")
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(big, "annotations/instances_default.json")
    fold = ds.path("coco-folder")
    os.makedirs(os.path.join(fold, "annotations"))
    os.link(big, os.path.join(fold, "annotations", "instances_default.json"))
    tmp = ds.path("tmpdir")
    os.mkdir(tmp)
    old_tmp = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = tmp
    try:
        for fmt, src in (("cvat-zip", zpath), ("coco", fold)):
            fresh = ds.path("store-" + fmt)
            xlib.curate("import", "--store", fresh, ds.photos)
            rc, err, rss_z, _ = timed("import-labels", "--store", fresh,
                                      "--format", fmt, src)
            check(rc == 0, "import-labels --format %s (%s)"
                  % (fmt, err.strip()[:200]))
            out = xlib.run(xlib.HELPER, "dump", fresh,
                           "ground_truth").stdout
            got = [json.loads(x) for x in out.decode().splitlines()]
            check(same_boxes(got_boxes(got), expect_gt(ds, doc)),
                  "import-labels --format %s stores the same boxes" % fmt)
            check(rss_z - rss_small < size // 2, "import-labels --format "
                  "%s of the %.0f MB file: %.1f MB peak against %.1f MB"
                  % (fmt, size / 2**20, rss_z / 2**20, rss_small / 2**20))
        check(os.listdir(tmp) == [], "nothing left in TMPDIR: %r"
              % os.listdir(tmp))
    finally:
        if old_tmp is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = old_tmp

    # Predictions: a list with polygons against the same list without.
    preds = [{"image_id": a["image_id"], "category_id": a["category_id"],
              "bbox": a["bbox"], "score": round(0.05 + (i % 90) / 100, 2),
              "segmentation": [polygons[i % len(polygons)]]}
             for i, a in enumerate(anns)]
    pbig, psmall = ds.path("preds-big.json"), ds.path("preds-small.json")
    with open(pbig, "w") as f:
        json.dump(preds, f)
    with open(psmall, "w") as f:
        json.dump([{k: v for k, v in p.items() if k != "segmentation"}
                   for p in preds], f)
    psize = os.path.getsize(pbig)
    gt = ds.path("gt.json")
    rc, err, prss_small, _ = timed("predictions", "--store", ds.store,
                                   "--format", "coco", "--coco-gt", gt,
                                   psmall)
    check(rc == 0, "predictions without polygons (%s)" % err.strip()[:200])
    rc, err, prss_big, pcpu = timed("predictions", "--store", ds.store,
                                    "--format", "coco", "--coco-gt", gt,
                                    pbig)
    check(rc == 0, "predictions of the %.0f MB file (%s)"
          % (psize / 2**20, err.strip()[:200]))
    pextra = prss_big - prss_small
    check(pextra < psize // 2, "prediction polygons cost %.1f MB of peak "
          "memory (%.1f MB against %.1f MB), less than half the file's "
          "%.1f MB; %.2f s CPU" % (pextra / 2**20, prss_big / 2**20,
                                   prss_small / 2**20, psize / 2**20, pcpu))
    name_of = {im["id"]: im["file_name"][:-4].replace("/", "__")
               for im in ds.coco["images"]}
    want = {}
    for p in preds:
        want.setdefault(name_of[p["image_id"]], []).append(
            (CLASSES[p["category_id"]], p["bbox"], p["score"], 0, None))
    got = got_boxes(ds.dump("predictions"), with_attrs=False)
    # the field keeps a sample's predictions in file order
    check(same_boxes(got, want), "the %d predictions stored are the file's"
          % len(preds))
    # Malformed files: one line naming the line, nothing changed (in a
    # store of their own, with few boxes: quicker to compare).
    few = anns[:50]
    text = write_lines(ds.path("few.json"), ds.coco["images"], few,
                       ds.coco["categories"])
    lines = text.split("\n")
    st3 = ds.path("store3")
    xlib.curate("import", "--store", st3, "--coco", ds.path("few.json"),
                ds.photos)
    with open(ds.path("few-preds.json"), "w") as f:
        json.dump(preds[:50], f)
    xlib.curate("predictions", "--store", st3, "--format", "coco",
                "--coco-gt", gt, ds.path("few-preds.json"))

    def dump3(field):
        out = xlib.run(xlib.HELPER, "dump", st3, field).stdout.decode()
        return [json.loads(x) for x in out.splitlines()]
    gt_before, pred_before = dump3("ground_truth"), dump3("predictions")
    check(len(gt_before) == 50 and len(pred_before) == 50,
          "the store of the malformed cases has 50 boxes and 50 predictions")

    def refused(name, text, line, what, kind="coco"):
        path = ds.path(name)
        with open(path, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode())
        if kind == "coco":
            rc, err, _, _ = timed("import", "--store", st3, "--coco",
                                  path, ds.photos)
        else:
            rc, err, _, _ = timed("predictions", "--store", st3,
                                  "--format", "coco", "--coco-gt", gt, path)
        lines = [x for x in err.splitlines() if x.strip()]
        tag = ("" if line is None else "line %d: " % line if line
               else "line N: ")
        pat = re.escape(tag + what).replace("N", r"\d+")
        ok = rc != 0 and any(re.search(pat, x) for x in lines)
        check(ok, "%s: refused with \"%s%s\" (exit %d: %s)"
              % (name, tag, what, rc, " | ".join(lines)[:300]))
        check(dump3("ground_truth") == gt_before and
              dump3("predictions") == pred_before,
              "%s: the store is unchanged" % name)

    # annotation i is on line 3 + i (1-based)
    cut = "\n".join(lines[:30]) + "\n" + lines[30][:40]
    refused("truncated.json", cut, 0, "premature end of input")
    refused("trailing.json", text + "\n\n x\n", len(lines) + 2,
            "end of file expected")
    bad = list(lines)
    bad[40] = bad[40].replace('"iscrowd": ', '"iscrowd": 01', 1)
    refused("bad-token.json", "\n".join(bad), 41, "invalid token")
    bad = list(lines)
    bad[45] = bad[45].replace('"area": ', '"area": 1e999, "x": ', 1)
    refused("overflow.json", "\n".join(bad), 46, "real number overflow")
    bad = list(lines)
    bad[47] = bad[47].replace('"iscrowd"', '"iscr\xff"', 1)
    refused("utf8.json", "\n".join(bad).encode("latin-1"), 48,
            "unable to decode byte 0xff")
    bad = list(lines)
    bad[49] = bad[49].rstrip(",")      # a missing comma between two
    refused("no-comma.json", "\n".join(bad), 51, "']' expected")
    refused("array-root.json", "[" + json.dumps(few[0]) + "]", None,
            "not a COCO detection file")
    refused("number-root.json", "42\n", 1, "'[' or '{' expected")
    dup = text.rstrip().rstrip("}") + ', "annotations": []}\n'
    refused("duplicate.json", dup, len(lines) - 1,
            "duplicate key \"annotations\"")
    ptext = json.dumps(preds[:40], indent=1)
    refused("preds-truncated.json", ptext[:len(ptext) * 2 // 3], 0,
            "premature end of input", "preds")
    refused("preds-trailing.json", ptext + "]", ptext.count("\n") + 1,
            "end of file expected", "preds")
    xlib.finish()


if __name__ == "__main__":
    main()
