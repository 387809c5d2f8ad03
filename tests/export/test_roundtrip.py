"""Exports and round trips on a real store: COCO -> store -> COCO -> store
gives identical labels; YOLO and VOC within their precision; subsets from
tags; the folder written by `curate export` is byte-identical to
export_generate and the source images; ImageNet crops.  Class names that
VOC's labelmap.txt cannot hold (a ':', a leading '#', a blank at an end)
are left out of it, named in comments and listed in dataset_meta.json,
so that datumaro's parser (transcribed below) and our own VOC import read
every class by its real name."""
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xlib  # noqa: E402
from xlib import check, curate, run  # noqa: E402
import check_formats  # noqa: E402


def key(d):
    return (d["sample"], d["i"])


def strip_field(rows):
    return [{k: v for k, v in r.items()} for r in rows]


def byte_identical(ds, fmt, out):
    bad = []
    for rel in xlib.tree(out):
        with open(os.path.join(out, rel), "rb") as f:
            data = f.read()
        st = run(xlib.HELPER, "stat", ds.store, fmt, rel).stdout.decode()
        if st.startswith("image"):
            name = os.path.basename(rel)[:-4]
            if data != ds.src_bytes(name):
                bad.append(rel)
        elif st.strip() == "file":
            if data != run(xlib.HELPER, "gen", ds.store, fmt, rel).stdout:
                bad.append(rel)
        else:
            bad.append(rel + " (" + st.strip() + ")")
    return bad


def main():
    ds = xlib.Dataset()
    gt = ds.dump()
    check(len(gt) > 40, "ground truth imported (%d boxes)" % len(gt))

    # ---- COCO ----
    out = ds.export("coco", ds.path("coco"))
    probs = check_formats.check_coco(out)
    check(not probs, "COCO export passes the strict checker %s" % probs[:3])
    ann = sorted(os.listdir(os.path.join(out, "annotations")))
    check(ann == ["instances_default.json", "instances_test.json",
                  "instances_train.json", "instances_val.json"],
          "one COCO file per subset: %s" % ann)
    for sub in ("train", "val", "test", "default"):
        got = sorted(f[:-4] for f in
                     os.listdir(os.path.join(out, "images", sub)))
        want = sorted(n for n in ds.names if ds.subset[n] == sub)
        check(got == want, "images/%s holds the %s-tagged samples" %
              (sub, sub))
    bad = byte_identical(ds, "coco", out)
    check(not bad, "curate export == export_generate / source bytes %s" %
          bad[:3])
    d = json.load(open(os.path.join(out, "annotations",
                                    "instances_train.json")))
    cats = {c["name"]: c["id"] for c in d["categories"]}
    check(sorted(cats.values())[0] == 1, "category ids start at 1")
    check(min(a["id"] for a in d["annotations"]) >= 1 and
          min(i["id"] for i in d["images"]) >= 1, "ids start at 1")
    check(any("score" in a for a in d["annotations"]) and
          any(a["iscrowd"] == 1 for a in d["annotations"]) and
          any("occluded" in a and a["attributes"].get("color")
              for a in d["annotations"] if "attributes" in a),
          "score, iscrowd and attributes carried")

    curate("import-labels", "--store", ds.store, "--format", "coco",
           "--field", "rt", out)
    rt = ds.dump("rt")
    check(rt == gt, "COCO -> store -> COCO -> store: identical labels "
          "(%d vs %d boxes)" % (len(rt), len(gt)))
    out2 = ds.export("coco", ds.path("coco2"), "--field", "rt")

    def norm(path):
        j = json.load(open(path))
        j["info"] = None
        for a in j["annotations"]:
            a["id"] = None
        return j
    same = all(norm(os.path.join(out, "annotations", f)) ==
               norm(os.path.join(out2, "annotations", f)) for f in ann)
    check(same, "second COCO export equals the first (but label ids)")

    # ---- YOLO ----
    out = ds.export("yolo", ds.path("yolo"))
    probs = check_formats.check_yolo(out)
    check(not probs, "YOLO export passes the strict checker %s" % probs[:3])
    bad = byte_identical(ds, "yolo", out)
    check(not bad, "YOLO folder byte-identical %s" % bad[:3])
    yaml = open(os.path.join(out, "data.yaml")).read()
    check("train: images/train\nval: images/val\ntest: images/test\n"
          "default: images/default\n" in yaml, "data.yaml names the subsets")
    curate("import-labels", "--store", ds.store, "--format", "yolo",
           "--field", "yrt", out)
    yrt = ds.dump("yrt")
    ok = len(yrt) == len(gt)
    for a, b in zip(gt, yrt, strict=True):
        tol = 1.5e-6 * max(a["w"], a["h"])
        ok = ok and key(a) == key(b) and a["label"] == b["label"] and \
            all(abs(p - q) <= tol for p, q in zip(a["box"], b["box"], strict=True))
    check(ok, "YOLO -> store: same boxes within 6-decimal precision")

    # ---- predictions of a model run over the export's own images ----
    # The samples sit in folders, so their export names ("d0__img.jpg")
    # are neither a source path nor a basename: COCO results by image id
    # with the export's JSON as --coco-gt, and YOLO txt files named like
    # the export's images, must still land on their samples.
    tj = os.path.join(ds.path("coco"), "annotations", "instances_train.json")
    d = json.load(open(tj))
    res = ds.path("results.json")
    with open(res, "w") as f:
        json.dump([{"image_id": a["image_id"], "category_id":
                    a["category_id"], "bbox": a["bbox"], "score": 0.5}
                   for a in d["annotations"]], f)
    p = curate("predictions", "--store", ds.store, "--format", "coco",
               "--field", "pc", "--coco-gt", tj, "--json", res, ok=False)
    st = json.loads(p.stdout or b"{}")
    train = {r["sample"] for r in gt if ds.subset[r["sample"]] == "train"}
    got = sorted((r["sample"], r["label"], r["box"]) for r in ds.dump("pc"))
    want = sorted((r["sample"], r["label"], r["box"]) for r in gt
                  if r["sample"] in train)
    check(p.returncode == 0 and st.get("unknown_images") == 0 and
          got == want, "COCO predictions through the export's images: "
          "every one on its sample (%r)" % (p.stderr or st))
    preds = ds.path("yolo-preds")
    os.makedirs(preds)
    rows = 0
    for f in os.listdir(os.path.join(out, "labels", "train")):
        lines = open(os.path.join(out, "labels", "train", f)).read().split(
            "\n")
        rows += sum(1 for ln in lines if ln)
        xlib.write(os.path.join(preds, f), "".join(
            ln + " 0.5\n" for ln in lines if ln))
    p = curate("predictions", "--store", ds.store, "--format", "yolo",
               "--field", "py", "--names", os.path.join(out, "data.yaml"),
               "--json", preds, ok=False)
    st = json.loads(p.stdout or b"{}")
    check(p.returncode == 0 and st.get("unknown_images") == 0 and
          st.get("boxes") == rows == len(want),
          "YOLO predictions named like the export's images: every row on "
          "its sample (%r)" % (p.stderr or st))

    # ---- VOC ----
    out = ds.export("voc", ds.path("voc"))
    bad = byte_identical(ds, "voc", out)
    check(not bad, "VOC folder byte-identical %s" % bad[:3])
    check(not os.path.exists(os.path.join(out, "dataset_meta.json")),
          "no dataset_meta.json where labelmap.txt holds every class")
    sets = sorted(os.listdir(os.path.join(out, "ImageSets", "Main")))
    check(sets == ["default.txt", "test.txt", "train.txt", "trainval.txt",
                   "val.txt"], "VOC image sets %s" % sets)
    curate("import-labels", "--store", ds.store, "--format", "voc",
           "--field", "vrt", out)
    vrt = ds.dump("vrt")
    ok = len(vrt) == len(gt)
    for a, b in zip(gt, vrt, strict=True):
        x, y, w, h = a["box"]
        want = [int(x), int(y), int(x + w) - int(x), int(y + h) - int(y)]
        attrs = {k: v for k, v in (a["attributes"] or {}).items()
                 if not isinstance(v, (dict, list))} or None
        ok = ok and key(a) == key(b) and a["label"] == b["label"] and \
            b["box"] == want and b["iscrowd"] == a["iscrowd"] and \
            b["attributes"] == attrs and \
            (b["confidence"] == a["confidence"] or
             (a["confidence"] is None and b["confidence"] is None))
    check(ok, "VOC -> store: integer corners, confidence, iscrowd, scalar "
          "attributes")
    out2 = ds.export("voc", ds.path("voc2"), "--field", "vrt")
    same = all(open(os.path.join(out, "Annotations", f), "rb").read() ==
               open(os.path.join(out2, "Annotations", f), "rb").read()
               for f in os.listdir(os.path.join(out, "Annotations")))
    check(same, "VOC -> store -> VOC: identical XML")

    # ---- ImageNet ----
    out = ds.export("imagenet", ds.path("inet"))
    files = xlib.tree(out)
    check(len(files) == len(gt), "one crop per box (%d)" % len(files))
    dirs = sorted(os.listdir(out))
    check("a%2Fb%25c" in dirs and "traffic light" in dirs,
          "class folders, '/' and '%%' encoded: %s" % dirs)
    ok = True
    by = {}
    for r in gt:
        by.setdefault(r["sample"], []).append(r)
    for f in files:
        cls, fn = f.split("/")
        data = open(os.path.join(out, f), "rb").read()
        name, lid = fn[:-4].rsplit("_", 1)
        w, h = xlib.jpeg_size(data)
        cands = [r for r in by[name]
                 if r["label"] == cls.replace("%2F", "/").replace("%25", "%")]
        sizes = set()
        for r in cands:
            x, y, bw, bh = r["box"]
            x0, y0 = math.floor(x), math.floor(y)
            x1 = max(x0 + 1, min(math.ceil(x + bw), r["w"]))
            y1 = max(y0 + 1, min(math.ceil(y + bh), r["h"]))
            sizes.add((x1 - x0, y1 - y0))
        ok = ok and (w, h) in sizes
    check(ok, "crop sizes match their boxes")
    bad = byte_identical(ds, "imagenet", out)
    check(not bad, "ImageNet folder byte-identical %s" % bad[:3])

    # ---- a tag as the selection ----
    out = ds.export("coco", ds.path("coco-val"), "--tag", "val")
    imgs = sorted(os.path.basename(f)[:-4] for f in xlib.tree(out)
                  if f.startswith("images/"))
    check(imgs == sorted(ds.names[10:16] + ds.names[0:1]) and
          os.path.isfile(os.path.join(out, "images", "train",
                                      ds.names[0] + ".jpg")),
          "--tag val exports the val members only (one also in train)")
    voc_labelmap_names()
    xlib.finish()


def datumaro_classes(root):
    """The classes datumaro's VOC extractor declares for export root
    (cvat-ai/datumaro, datumaro/plugins/voc_format: _load_categories reads
    dataset_meta.json's "labels" where that file exists, else labelmap.txt
    by VocLabelMap.parse_from_file: each line stripped, one starting with
    '#' skipped, exactly four ':'-separated fields or the import fails)."""
    meta = os.path.join(root, "dataset_meta.json")
    if os.path.isfile(meta):
        with open(meta) as f:
            return list(json.load(f).get("labels", []))
    names = []
    with open(os.path.join(root, "labelmap.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line[0] == "#":
                continue
            desc = line.split(":")
            if len(desc) != 4:
                raise ValueError("datumaro: %d fields in %r" % (len(desc),
                                                                line))
            names.append(desc[0])
    return names


def voc_labelmap_names():
    import tempfile
    tmp = tempfile.TemporaryDirectory(prefix="curate-labelmap-")
    d = tmp.name
    photos, store = os.path.join(d, "photos"), os.path.join(d, "store")
    run(xlib.MKJPEG, "-n", 1, "-W", xlib.W, "-H", xlib.H, "-s", 3, photos)
    fn = os.listdir(photos)[0]
    names = ["plain", "traffic sign:stop", "#1 pick", " padded ",
             "\u3000dog", "cat\u00a0"]
    coco = {"images": [{"id": 1, "file_name": fn, "width": xlib.W,
                        "height": xlib.H}],
            "categories": [{"id": i + 1, "name": n}
                           for i, n in enumerate(names)],
            "annotations": [{"id": i + 1, "image_id": 1, "category_id": i + 1,
                             "bbox": [10 + 30 * i, 10, 20, 20], "area": 400,
                             "iscrowd": 0} for i in range(len(names))]}
    with open(os.path.join(d, "gt.json"), "w") as f:
        json.dump(coco, f)
    curate("import", "--store", store, "--coco", os.path.join(d, "gt.json"),
           photos)
    out = os.path.join(d, "voc")
    p = curate("export", "--store", store, "--format", "voc", out)
    with open(os.path.join(out, "labelmap.txt")) as f:
        lines = f.read().splitlines()
    check([ln for ln in lines if not ln.startswith("#")] == ["plain:::"] and
          all(any(json.dumps(n, ensure_ascii=False) in ln for ln in lines)
              for n in names[1:]),
          "labelmap.txt lists the names it can hold and names the others "
          "in comments: %r" % lines)
    try:
        got = datumaro_classes(out)
    except ValueError as e:
        got = str(e)
    check(got == names, "datumaro's reading declares every class by its "
          "real name: %r" % got)
    check("dataset_meta.json" in p.stdout.decode(),
          "curate export says so: %r" % p.stdout.decode())
    p = curate("import-labels", "--store", store, "--format", "voc",
               "--field", "rt", out, ok=False)
    # (our VOC import trims the blanks of an XML <name>, datumaro does
    # not: " padded " is left out of this comparison)
    rt = sorted((r["label"], r["box"]) for r in xlib.dump(store, "rt")
                if r["label"] != "padded")
    want = sorted((r["label"], r["box"])
                  for r in xlib.dump(store, "ground_truth")
                  if r["label"] != " padded ")
    cls = curate("classes", "--store", store).stdout.decode()
    check(p.returncode == 0 and rt == want and len(rt) == len(names) - 1 and
          "  traffic sign\n" not in cls and "  #1\n" not in cls,
          "our VOC import reads them back, no bogus class: %r %r %s" % (
              rt, want, cls + p.stderr.decode()))


if __name__ == "__main__":
    main()
