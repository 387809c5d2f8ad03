"""Strict checkers for COCO and Ultralytics YOLO export trees, after the
rules of docs/EXPORT.md ("Layouts" and "What readers require"): key sets and
types, ids (integers >= 1, unique, 64-bit safe), file naming, references
between images, annotations and categories, class ranges, row format.
Each check_* function returns a list of problems (empty = valid).

load_coco_like_datumaro() is an importer that enforces what datumaro's COCO
importer (the one CVAT's "COCO 1.0" upload runs) requires, and fails the
same way: every annotation needs id, image_id, category_id, segmentation,
area, bbox and iscrowd; the layout is annotations/instances_<subset>.json
with images under images/<subset>/."""
import json
import os
import re

INT64_MAX = 2 ** 63 - 1
# Image file extensions both formats' readers accept (Ultralytics'
# IMG_FORMATS, pycocotools does not care): the exports use one per format.
IMAGE_EXTS = {".jpg", ".png", ".webp", ".tif", ".bmp", ".gif"}
# What Ultralytics takes for a picture in images/ (IMG_FORMATS of its
# data/utils.py, of the formats this tool reads): GIF is one of its video
# formats, and a .gif there is not trained on.
YOLO_EXTS = IMAGE_EXTS - {".gif"}


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_coco(root):
    p = []
    ann_dir = os.path.join(root, "annotations")
    img_root = os.path.join(root, "images")
    files = sorted(os.listdir(ann_dir))
    if not files:
        p.append("no annotation file")
    for fn in files:
        m = re.fullmatch(r"instances_([a-z]+)\.json", fn)
        if not m:
            p.append("%s: not named instances_<subset>.json" % fn)
            continue
        subset = m.group(1)
        with open(os.path.join(ann_dir, fn), "rb") as f:
            raw = f.read()
        try:
            d = json.loads(raw)
        except ValueError as e:
            p.append("%s: invalid JSON: %s" % (fn, e))
            continue
        keys = list(d.keys())
        want = ["info", "licenses", "categories", "images", "annotations"]
        if keys != want:
            p.append("%s: top-level keys %s, want %s" % (fn, keys, want))
            continue
        if not isinstance(d["info"], dict) or not isinstance(d["licenses"],
                                                             list):
            p.append("%s: info must be an object, licenses a list" % fn)
        cats = {}
        for c in d["categories"]:
            if set(c) != {"id", "name", "supercategory"}:
                p.append("%s: category keys %s" % (fn, sorted(c)))
            if not _is_int(c.get("id")) or not 1 <= c["id"] <= INT64_MAX:
                p.append("%s: category id %r" % (fn, c.get("id")))
            if not isinstance(c.get("name"), str) or not c["name"]:
                p.append("%s: category name %r" % (fn, c.get("name")))
            if c.get("id") in cats:
                p.append("%s: duplicate category id %r" % (fn, c["id"]))
            cats[c.get("id")] = c
        ids = [c["id"] for c in d["categories"]]
        if ids != sorted(ids):
            p.append("%s: categories not sorted by id" % fn)
        imgs = {}
        disk = set(os.listdir(os.path.join(img_root, subset))) \
            if os.path.isdir(os.path.join(img_root, subset)) else set()
        for im in d["images"]:
            for k in ("id", "file_name", "width", "height"):
                if k not in im:
                    p.append("%s: image without %s" % (fn, k))
            if not _is_int(im.get("id")) or not 1 <= im["id"] <= INT64_MAX:
                p.append("%s: image id %r" % (fn, im.get("id")))
            for k in ("width", "height"):
                if not _is_int(im.get(k)) or im[k] <= 0:
                    p.append("%s: image %s %r" % (fn, k, im.get(k)))
            name = im.get("file_name")
            if not isinstance(name, str) or "/" in name or \
                    os.path.splitext(name)[1] not in IMAGE_EXTS:
                p.append("%s: file_name %r" % (fn, name))
            elif name not in disk:
                p.append("%s: %s not in images/%s/" % (fn, name, subset))
            if im.get("id") in imgs:
                p.append("%s: duplicate image id %r" % (fn, im["id"]))
            imgs[im.get("id")] = im
        if {im["file_name"] for im in d["images"]} != disk:
            p.append("%s: images/%s/ and the images list differ" %
                     (fn, subset))
        seen = set()
        for a in d["annotations"]:
            for k in ("id", "image_id", "category_id", "segmentation", "area",
                      "bbox", "iscrowd"):
                if k not in a:
                    p.append("%s: annotation without %s" % (fn, k))
            seg = a.get("segmentation")
            if not (isinstance(seg, list) and all(
                    isinstance(poly, list) and len(poly) >= 6 and
                    len(poly) % 2 == 0 and all(_is_num(v) for v in poly)
                    for poly in seg)):
                p.append("%s: annotation %r: segmentation %r"
                         % (fn, a.get("id"), seg))
            aid = a.get("id")
            if not _is_int(aid) or not 1 <= aid <= INT64_MAX:
                p.append("%s: annotation id %r" % (fn, aid))
            if aid in seen:
                p.append("%s: duplicate annotation id %r" % (fn, aid))
            seen.add(aid)
            im = imgs.get(a.get("image_id"))
            if im is None:
                p.append("%s: annotation %r: unknown image_id" % (fn, aid))
                continue
            if a.get("category_id") not in cats:
                p.append("%s: annotation %r: unknown category_id" % (fn, aid))
            b = a.get("bbox")
            if not isinstance(b, list) or len(b) != 4 or \
                    not all(_is_num(v) for v in b):
                p.append("%s: annotation %r: bbox %r" % (fn, aid, b))
                continue
            x, y, w, h = b
            if w < 0 or h < 0 or x < 0 or y < 0 or \
                    x + w > im["width"] + 1e-6 or y + h > im["height"] + 1e-6:
                p.append("%s: annotation %r: bbox outside the image" %
                         (fn, aid))
            # The imported COCO area when the box came with one, else w*h.
            if not _is_num(a.get("area")) or a["area"] < 0:
                p.append("%s: annotation %r: area %r" % (fn, aid,
                                                         a.get("area")))
            if a.get("iscrowd") not in (0, 1) or \
                    isinstance(a.get("iscrowd"), bool):
                p.append("%s: annotation %r: iscrowd %r" %
                         (fn, aid, a.get("iscrowd")))
            if "score" in a and not _is_num(a["score"]):
                p.append("%s: annotation %r: score %r" % (fn, aid, a["score"]))
    return p


def check_yolo(root):
    p = []
    yml = os.path.join(root, "data.yaml")
    if not os.path.isfile(yml):
        return ["no data.yaml"]
    names = {}
    splits = {}
    in_names = False
    with open(yml) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            if line.startswith("names:"):
                in_names = True
                continue
            if in_names and line.startswith("  "):
                m = re.fullmatch(r"  (\d+): (\".*\")", line)
                if not m:
                    p.append("data.yaml: bad names line %r" % line)
                    continue
                names[int(m.group(1))] = json.loads(m.group(2))
                continue
            in_names = False
            m = re.fullmatch(r"([a-z]+): (.*)", line)
            if not m:
                p.append("data.yaml: bad line %r" % line)
                continue
            if m.group(1) != "path":
                splits[m.group(1)] = m.group(2)
    if sorted(names) != list(range(len(names))):
        p.append("data.yaml: class indexes not dense from 0")
    for k in ("train", "val"):
        if k not in splits:
            p.append("data.yaml: no %s" % k)
    for k, v in splits.items():
        if not re.fullmatch(r"images/[a-z]+", v) or \
                not os.path.isdir(os.path.join(root, v)):
            p.append("data.yaml: %s -> %r is not an images folder" % (k, v))
    img_root = os.path.join(root, "images")
    for sub in sorted(os.listdir(img_root)):
        imgs = sorted(os.listdir(os.path.join(img_root, sub)))
        lab_dir = os.path.join(root, "labels", sub)
        labs = sorted(os.listdir(lab_dir)) if os.path.isdir(lab_dir) else []
        if [os.path.splitext(i)[0] for i in imgs] != \
                [os.path.splitext(x)[0] for x in labs] or \
                any(os.path.splitext(i)[1] not in YOLO_EXTS for i in imgs):
            p.append("labels/%s does not mirror images/%s" % (sub, sub))
        for x in labs:
            if not x.endswith(".txt"):
                p.append("labels/%s/%s: not .txt" % (sub, x))
                continue
            with open(os.path.join(lab_dir, x)) as f:
                for ln, row in enumerate(f, 1):
                    parts = row.rstrip("\n").split(" ")
                    where = "labels/%s/%s:%d" % (sub, x, ln)
                    if len(parts) != 5 or not row.endswith("\n"):
                        p.append("%s: %d fields" % (where, len(parts)))
                        continue
                    if not re.fullmatch(r"0|[1-9]\d*", parts[0]) or \
                            int(parts[0]) not in names:
                        p.append("%s: class %r out of range" %
                                 (where, parts[0]))
                    for v in parts[1:]:
                        if not re.fullmatch(r"\d\.\d{6}", v) or \
                                not 0 <= float(v) <= 1:
                            p.append("%s: value %r" % (where, v))
    return p


class DatumaroStyleError(Exception):
    """What datumaro raises as a malformed-file error."""


def load_coco_like_datumaro(root):
    """Imports a COCO tree the way datumaro's COCO importer reads it and
    returns {subset: (n_images, n_annotations, n_categories)}.  Raises
    DatumaroStyleError with datumaro's wording for a missing annotation field
    ("Missing annotation field 'segmentation'")."""
    out = {}
    ann_dir = os.path.join(root, "annotations")
    for fn in sorted(os.listdir(ann_dir)):
        m = re.fullmatch(r"instances_(.+)\.json", fn)
        if not m:
            continue
        subset = m.group(1)
        with open(os.path.join(ann_dir, fn)) as f:
            d = json.load(f)
        cats = {}
        for c in d.get("categories", []):
            for k in ("id", "name"):
                if k not in c:
                    raise DatumaroStyleError("Missing category field '%s'" % k)
            cats[c["id"]] = (c["name"], c.get("supercategory", ""))
        images = {}
        for im in d.get("images", []):
            for k in ("id", "file_name", "width", "height"):
                if k not in im:
                    raise DatumaroStyleError("Missing image field '%s'" % k)
            path = os.path.join(root, "images", subset, im["file_name"])
            if not os.path.isfile(path):
                path = os.path.join(root, "images", im["file_name"])
            if not os.path.isfile(path):
                raise DatumaroStyleError("Image '%s' not found" % im["file_name"])
            images[im["id"]] = im
        n_ann = 0
        for a in d.get("annotations", []):
            for k in ("id", "image_id", "category_id", "segmentation", "area",
                      "bbox", "iscrowd"):
                if k not in a:
                    raise DatumaroStyleError("Missing annotation field '%s'" % k)
            if a["image_id"] not in images:
                raise DatumaroStyleError("Unknown image id %r" % a["image_id"])
            if a["category_id"] not in cats:
                raise DatumaroStyleError("Unknown category id %r" %
                                   a["category_id"])
            seg = a["segmentation"]
            if isinstance(seg, dict):
                if "counts" not in seg or "size" not in seg:
                    raise DatumaroStyleError("Invalid RLE segmentation")
            elif not isinstance(seg, list):
                raise DatumaroStyleError("Invalid segmentation")
            b = a["bbox"]
            if not (isinstance(b, list) and len(b) == 4):
                raise DatumaroStyleError("Invalid bbox")
            if not isinstance(a["area"], (int, float)):
                raise DatumaroStyleError("Invalid area")
            n_ann += 1
        out[subset] = (len(images), n_ann, len(cats))
    return out

