"""One file name in several folders, as in an Ultralytics tree whose
splits number their pictures alike (images/train/1.jpg, images/val/1.jpg):
every import of boxes finds each file's own sample by the rules of
core/formats/sample_match.h, through the real `curate` tool.

- `import-labels --format yolo` pairs labels/train/1.txt with
  images/train/1.jpg and labels/val/1.txt with images/val/1.jpg;
  labels/test/1.txt (no such split) is reported as ambiguous and changes
  nothing; each sample gets exactly its own file's boxes.
- `predictions --format yolo` over a copy of labels/ (a folder of its
  own, so its paths are train/1.txt) does the same.
- A COCO file written from another root (file_name "train/1.jpg") imports
  onto the same samples with `import --coco`, and as predictions.
- Names as other tools write them land on their samples: absolute paths
  under the dataset (FiftyOne's abs_paths), backslashes, "./", and
  another machine's absolute paths and drive letters (by their tails).
- LVIS's images, named by "coco_url" alone, land on the samples at the
  URL's path (or a tail of it), for labels and as --coco-gt.
- A file that vanished does not hand its boxes on to another file of its
  name: after images/val/1.jpg is removed and the folder imported again,
  labels/val/1.txt matches nothing and images/train/1.jpg keeps its own.
- Pictures whose names differ only by extension (x.jpg and x.png,
  samples x and x~N) come back from the project's own exports: the VOC
  export's Annotations/x.xml and the YOLO export's rows used as
  predictions land on x.jpg, x~N's on x.png (the export's name decides
  where the stem fits both).  A predictions file whose stem truly fits
  two pictures (sub/y.txt of sub/y.jpg and sub/y.png) is named in a line
  after the summary, not only counted as not in the store.
- An export's labels/train/1.txt, written from a root sample "1" beside
  a sample train/1.jpg, is ambiguous and lands on neither.
- In the Roboflow layout (train/images/1.jpg, train/labels/1.txt,
  valid/images/1.jpg, valid/labels/1.txt) each label file lands on the
  image Ultralytics pairs it with, also when a sub-folder is read; a
  model's labels/1.txt outside the dataset pairs with none.
- Two label files that name one sample fail the import, naming both, and
  change nothing; so do two YOLO prediction files.
- Names that differ from the files only in letter case (a camera's
  IMG_0001.JPG named IMG_0001.jpg by a file written on Windows) land on
  their samples, and the import says so in one line; two files equal but
  for case (a.jpg and A.jpg) make a name ambiguous; a name that matches
  as written never goes by case.  YOLO label files from outside the
  dataset find their pictures ignoring case; inside it, the Ultralytics
  pairing stays exact.
- A name found as written keeps its sample from a name of the same input
  found only ignoring letter case, in either order: IMG_1.jpg and
  img_1.jpg of one picture IMG_1.jpg in a COCO file, YOLO and VOC label
  files, CVAT <image>s and predictions (by file_name, through --coco-gt,
  YOLO files): the exact one's boxes land, the other is reported as
  matching no sample; never a failure, never a merge.  Two names by case
  alone still fail as one sample.  VOC tries its file's stem and its
  <filename> as written before either ignoring case.
"""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xlib  # noqa: E402
from xlib import W, H, MKJPEG, check, curate, run, write  # noqa: E402


def boxes(ds_store, field):
    """sample name -> sorted rounded boxes of field."""
    out = {}
    for b in xlib.dump(ds_store, field):
        out.setdefault(b["sample"], []).append(
            [round(v, 2) for v in b["box"]])
    return {k: sorted(v) for k, v in out.items()}


def coco_file(path, entries):
    """Writes a COCO file of one box per (file_name, bbox) of entries, all
    of class "ant", and returns its path."""
    coco = {"images": [], "annotations": [],
            "categories": [{"id": 1, "name": "ant"}]}
    for i, (fn, box) in enumerate(entries, 1):
        coco["images"].append({"id": i, "file_name": fn, "width": W,
                               "height": H})
        coco["annotations"].append({"id": i, "image_id": i,
                                    "category_id": 1, "bbox": box,
                                    "area": box[2] * box[3], "iscrowd": 0})
    with open(path, "w") as f:
        json.dump(coco, f)
    return path


def coco_preds(store, field, res, path, *opts):
    """Writes the COCO results res to path and imports them into field:
    the process and the field's boxes."""
    with open(path, "w") as f:
        json.dump(res, f)
    p = curate("predictions", "--store", store, "--format", "coco", *opts,
               "--field", field, path, ok=False)
    return p, boxes(store, field)


def main():
    import tempfile
    tmp = tempfile.TemporaryDirectory(prefix="curate-split-")
    d = tmp.name
    tree = os.path.join(d, "tree")
    store = os.path.join(d, "store")
    run(MKJPEG, "-n", 3, "-W", W, "-H", H, "-s", 11, os.path.join(d, "src"))
    srcs = sorted(os.listdir(os.path.join(d, "src")))
    for rel, src in (("images/train/1.jpg", srcs[0]),
                     ("images/val/1.jpg", srcs[1]),
                     ("images/val/2.jpg", srcs[2])):
        os.makedirs(os.path.dirname(os.path.join(tree, rel)), exist_ok=True)
        shutil.copyfile(os.path.join(d, "src", src), os.path.join(tree, rel))
    write(os.path.join(tree, "data.yaml"), "names: [ant, bee]\n")
    # one box each, centred at a different x per file: which sample got
    # which file's box shows in the x
    rows = {"train/1": 0.25, "val/1": 0.5, "val/2": 0.75, "test/1": 0.125}
    for stem, cx in rows.items():
        write(os.path.join(tree, "labels", stem + ".txt"),
              "0 %g 0.5 0.1 0.2\n" % cx)

    def want_box(cx):
        return [round(v, 2) for v in (W * (cx - 0.05), H * 0.4,
                                      W * 0.1, H * 0.2)]

    curate("import", "--store", store, tree)
    p = curate("import-labels", "--store", store, "--format", "yolo", tree,
               ok=False)
    err = p.stderr.decode()
    got = boxes(store, "ground_truth")
    check(p.returncode == 0, "import-labels yolo: exit %d %s" % (
        p.returncode, err))
    check(got == {"images__train__1": [want_box(0.25)],
                  "images__val__1": [want_box(0.5)],
                  "images__val__2": [want_box(0.75)]},
          "import-labels yolo: each split's 1.txt on its own 1.jpg: %r" % got)
    check("labels/test/1.txt" in err and "several samples" in err,
          "the label of no split is reported as ambiguous: %r" % err)

    # predictions: the labels folder on its own, with confidences
    preds = os.path.join(d, "preds")
    for stem, cx in rows.items():
        write(os.path.join(preds, stem + ".txt"),
              "1 %g 0.5 0.1 0.2 0.9\n" % cx)
    p = curate("predictions", "--store", store, "--format", "yolo",
               "--names", os.path.join(tree, "data.yaml"), preds, ok=False)
    got = boxes(store, "predictions")
    check(p.returncode == 0 and
          got == {"images__train__1": [want_box(0.25)],
                  "images__val__1": [want_box(0.5)],
                  "images__val__2": [want_box(0.75)]},
          "predictions yolo: train/1.txt and val/1.txt apart: %r %s" % (
              got, p.stderr.decode()))

    # COCO from another root: file_name "train/1.jpg"
    cj = coco_file(os.path.join(d, "gt.json"),
                   [("train/1.jpg", [1, 2, 30, 40]),
                    ("val/1.jpg", [5, 6, 30, 40])])
    curate("import", "--store", store, "--coco", cj, "--field", "coco",
           tree)
    got = boxes(store, "coco")
    check(got == {"images__train__1": [[1, 2, 30, 40]],
                  "images__val__1": [[5, 6, 30, 40]]},
          "import --coco: file_names of another root: %r" % got)
    res = [{"image_id": 1, "category_id": 1, "bbox": [1, 2, 30, 40],
            "score": 0.5, "file_name": "train/1.jpg"},
           {"image_id": 2, "category_id": 1, "bbox": [5, 6, 30, 40],
            "score": 0.5, "file_name": "val/1.jpg"}]
    rj = os.path.join(d, "res.json")
    p, got = coco_preds(store, "cocopred", res, rj, "--coco-gt", cj)
    check(p.returncode == 0 and
          got == {"images__train__1": [[1, 2, 30, 40]],
                  "images__val__1": [[5, 6, 30, 40]]},
          "predictions coco: file_names of another root: %r %s" % (
              got, p.stderr.decode()))

    # Names as other tools write them: FiftyOne's abs_paths (the dataset's
    # own absolute paths), a Windows script's backslashes, "./", and
    # predictions made on another machine (an absolute path elsewhere,
    # matched by its tail).  Each lands on its own sample.
    root = os.path.realpath(tree)
    cj3 = coco_file(os.path.join(d, "abs.json"),
                    [(root + "/images/train/1.jpg", [1, 2, 30, 40]),
                     ("images\\val\\1.jpg", [5, 6, 30, 40]),
                     ("./images/val/2.jpg", [9, 9, 30, 40])])
    p = curate("import", "--store", store, "--coco", cj3, "--field", "fo",
               tree, ok=False)
    got = boxes(store, "fo")
    check(p.returncode == 0 and
          got == {"images__train__1": [[1, 2, 30, 40]],
                  "images__val__1": [[5, 6, 30, 40]],
                  "images__val__2": [[9, 9, 30, 40]]},
          "import --coco: absolute, backslash and ./ names: %r %s" % (
              got, p.stderr.decode()))
    res = [{"image_id": 1, "category_id": 1, "bbox": [3, 3, 20, 20],
            "score": 0.5, "file_name": "/srv/elsewhere/ds/images/val/1.jpg"},
           {"image_id": 2, "category_id": 1, "bbox": [4, 4, 20, 20],
            "score": 0.5, "file_name": "C:\\ds\\images\\train\\1.jpg"}]
    p, got = coco_preds(store, "elsewhere", res, rj)
    check(p.returncode == 0 and
          got == {"images__val__1": [[3, 3, 20, 20]],
                  "images__train__1": [[4, 4, 20, 20]]},
          "predictions coco: another machine's paths by their tails: "
          "%r %s" % (got, p.stderr.decode()))

    # LVIS lists its images by "coco_url" alone (no "file_name"), its
    # annotations without "iscrowd", its categories with synsets: the
    # URL's path names the image ("images/val/2.jpg"), a longer one
    # through its tail, a file:// URL through the dataset's root; a
    # results file matched by image id through it as --coco-gt.
    lvis = {"images": [
        {"id": 7, "width": W, "height": H, "license": 1,
         "coco_url": "http://images.cocodataset.org/images/val/2.jpg",
         "flickr_url": "http://farm1.staticflickr.com/1/2_z.jpg",
         "neg_category_ids": [], "not_exhaustive_category_ids": [1]},
        {"id": 8, "width": W, "height": H,
         "coco_url": "https://example.org/mirror/images/train/1.jpg?v=2"},
        {"id": 9, "width": W, "height": H,
         "coco_url": "file://" + root + "/images/val/%31.jpg"}],
        "annotations": [
        {"id": 1, "image_id": 7, "category_id": 3, "bbox": [2, 3, 20, 10],
         "area": 200, "segmentation": [[2, 3, 22, 3, 22, 13, 2, 13]]},
        {"id": 2, "image_id": 8, "category_id": 3, "bbox": [4, 5, 20, 10],
         "area": 200, "segmentation": [[4, 5, 24, 5, 24, 15, 4, 15]]},
        {"id": 3, "image_id": 9, "category_id": 3, "bbox": [6, 7, 20, 10],
         "area": 200, "segmentation": [[6, 7, 26, 7, 26, 17, 6, 17]]}],
        "categories": [{"id": 3, "name": "aerosol_can", "synset":
                        "aerosol.n.02", "synonyms": ["aerosol_can"],
                        "def": "a dispenser", "frequency": "c",
                        "image_count": 3, "instance_count": 3}]}
    lj = os.path.join(d, "lvis.json")
    with open(lj, "w") as f:
        json.dump(lvis, f)
    p = curate("import", "--store", store, "--coco", lj, "--field", "lvis",
               tree, ok=False)
    got = boxes(store, "lvis")
    check(p.returncode == 0 and
          got == {"images__val__2": [[2, 3, 20, 10]],
                  "images__train__1": [[4, 5, 20, 10]],
                  "images__val__1": [[6, 7, 20, 10]]},
          "import --coco: LVIS images named by coco_url: %r %s" % (
              got, p.stderr.decode()))
    res = [{"image_id": i, "category_id": 3, "bbox": [1, 1, 9, 9],
            "score": 0.5} for i in (7, 8)]
    p, got = coco_preds(store, "lvispred", res, rj, "--coco-gt", lj)
    check(p.returncode == 0 and
          got == {"images__val__2": [[1, 1, 9, 9]],
                  "images__train__1": [[1, 1, 9, 9]]},
          "predictions coco: image ids through LVIS's coco_url: %r %s" % (
              got, p.stderr.decode()))

    # a vanished file keeps its name to itself
    os.remove(os.path.join(tree, "images", "val", "1.jpg"))
    curate("import", "--store", store, tree)
    write(os.path.join(tree, "labels", "val", "1.txt"), "1 0.9 0.5 0.1 0.2\n")
    p = curate("import-labels", "--store", store, "--format", "yolo", tree,
               ok=False)
    got = boxes(store, "ground_truth")
    check(p.returncode == 0 and
          got.get("images__train__1") == [want_box(0.25)] and
          "labels/val/1.txt" in p.stderr.decode(),
          "a vanished 1.jpg's labels land nowhere: %r %s" % (
              got, p.stderr.decode()))

    # An export's own rows: a sample "1" at the root and one at
    # train/1.jpg, both tagged train, export as labels/train/1.txt and
    # labels/train/train__1.txt.  The first could be either sample by the
    # rules (the tail finds train/1.jpg, the export name 1.jpg): it is
    # reported as ambiguous and lands on neither, never on the wrong one.
    t2 = os.path.join(d, "tree2")
    s2 = os.path.join(d, "store2")
    os.makedirs(os.path.join(t2, "train"))
    shutil.copyfile(os.path.join(d, "src", srcs[0]), os.path.join(t2, "1.jpg"))
    shutil.copyfile(os.path.join(d, "src", srcs[1]),
                    os.path.join(t2, "train", "1.jpg"))
    cj2 = coco_file(os.path.join(d, "gt2.json"),
                    [("1.jpg", [10, 20, 40, 40]),
                     ("train/1.jpg", [100, 120, 40, 40])])
    curate("import", "--store", s2, "--coco", cj2, t2)
    run(xlib.HELPER, "tag", s2, "train", "1", "train__1")
    out = os.path.join(d, "yolo2")
    curate("export", "--store", s2, "--format", "yolo", out)
    p = curate("import-labels", "--store", s2, "--format", "yolo",
               "--field", "rt", out, ok=False)
    got = boxes(s2, "rt")
    err = p.stderr.decode()
    check(p.returncode == 0 and got == {"train__1": [[100, 120, 40, 40]]}
          and "labels/train/1.txt" in err and "several samples" in err,
          "export round trip: the ambiguous file lands nowhere: %r %s" % (
              got, err))

    # The Roboflow layout: each split holds images/ and labels/, numbered
    # alike (train/images/1.jpg, valid/images/1.jpg).  Each label file is
    # paired with its image as Ultralytics pairs them (the image's last
    # images/ folder as labels/), for labels and predictions.
    t4 = os.path.join(d, "tree4")
    s4 = os.path.join(d, "store4")
    for split, src in (("train", srcs[0]), ("valid", srcs[1])):
        os.makedirs(os.path.join(t4, split, "images"))
        shutil.copyfile(os.path.join(d, "src", src),
                        os.path.join(t4, split, "images", "1.jpg"))
    write(os.path.join(t4, "data.yaml"), "names: [ant]\n")
    write(os.path.join(t4, "train", "labels", "1.txt"), "0 0.25 0.5 0.1 0.2\n")
    write(os.path.join(t4, "valid", "labels", "1.txt"), "0 0.5 0.5 0.1 0.2\n")
    curate("import", "--store", s4, t4)
    p = curate("import-labels", "--store", s4, "--format", "yolo", t4,
               ok=False)
    got = boxes(s4, "ground_truth")
    check(p.returncode == 0 and
          got == {"train__images__1": [want_box(0.25)],
                  "valid__images__1": [want_box(0.5)]},
          "import-labels yolo, Roboflow layout: each split's own: %r %s" % (
              got, p.stderr.decode()))
    # The pairing is on whole paths, as Ultralytics pairs them: the
    # labels/1.txt of a model's run outside the dataset (what `predict`
    # writes) pairs with no picture of it, and 1 is two pictures.
    p4 = os.path.join(d, "preds4")
    write(os.path.join(p4, "labels", "1.txt"), "0 0.25 0.5 0.1 0.2 0.9\n")
    os.makedirs(os.path.join(t4, "images"))
    shutil.copyfile(os.path.join(d, "src", srcs[2]),
                    os.path.join(t4, "images", "2.jpg"))
    curate("import", "--store", s4, t4)
    p = curate("predictions", "--store", s4, "--format", "yolo", "--names",
               os.path.join(t4, "data.yaml"), p4, ok=False)
    check(p.returncode == 1 and "none of the 1 predictions matched" in
          p.stderr.decode() and boxes(s4, "predictions") == {},
          "predictions yolo from outside: no pairing with the dataset's "
          "images/: %d %s" % (p.returncode, p.stderr.decode()))
    # A label folder given below the dataset pairs within it: labels of
    # train/ read from t4/train alone land on train/images/1.jpg.
    shutil.copyfile(os.path.join(t4, "data.yaml"),
                    os.path.join(t4, "train", "data.yaml"))
    p = curate("import-labels", "--store", s4, "--format", "yolo",
               "--field", "sub", os.path.join(t4, "train"), ok=False)
    got = boxes(s4, "sub")
    check(p.returncode == 0 and got == {"train__images__1": [want_box(0.25)]},
          "import-labels yolo of a sub-folder pairs within it: %r %s" % (
              got, p.stderr.decode()))

    # Two label files that name one sample: the import fails, naming
    # both, and changes nothing (the second would replace the first).
    t3 = os.path.join(d, "tree3")
    s3 = os.path.join(d, "store3")
    os.makedirs(os.path.join(t3, "images"))
    shutil.copyfile(os.path.join(d, "src", srcs[0]),
                    os.path.join(t3, "images", "x.jpg"))
    write(os.path.join(t3, "data.yaml"), "names: [ant]\n")
    write(os.path.join(t3, "labels", "train", "x.txt"), "0 0.5 0.5 0.1 0.1\n")
    write(os.path.join(t3, "labels", "val", "x.txt"), "0 0.2 0.2 0.1 0.1\n")
    curate("import", "--store", s3, t3)
    p = curate("import-labels", "--store", s3, "--format", "yolo", t3,
               ok=False)
    err = p.stderr.decode().strip().splitlines()
    last = err[-1] if err else ""
    check(p.returncode == 1 and "labels/train/x.txt and labels/val/x.txt "
          "are both labels of sample images__x" in last and
          "nothing changed" in last and boxes(s3, "ground_truth") == {},
          "two files on one sample: refused, nothing changed: %d %r" % (
              p.returncode, last))
    # The same for YOLO predictions: two files naming one picture fail
    # the import, naming both, where their rows would join.
    p5 = os.path.join(d, "preds5")
    write(os.path.join(p5, "a", "x.txt"), "0 0.5 0.5 0.1 0.1 0.9\n")
    write(os.path.join(p5, "b", "x.txt"), "0 0.2 0.2 0.1 0.1 0.8\n")
    p = curate("predictions", "--store", s3, "--format", "yolo", "--names",
               os.path.join(t3, "data.yaml"), p5, ok=False)
    err = p.stderr.decode()
    check(p.returncode == 1 and "a/x.txt and b/x.txt are both predictions "
          "of images/x.jpg" in err and boxes(s3, "predictions") == {},
          "two prediction files on one picture: refused: %d %r" % (
              p.returncode, err))
    letter_case(d, srcs)
    exact_beats_folded(d, srcs)
    coco_subsets(d, srcs)
    stem_collision(d, srcs)
    xlib.finish()


def letter_case(d, srcs):
    """Names that differ from the files on disk only in letter case."""
    tree = os.path.join(d, "tree5")
    store = os.path.join(d, "store5")
    for rel, src in (("images/IMG_0001.JPG", srcs[0]),
                     ("images/IMG_0002.JPG", srcs[1]),
                     ("Train/b.jpg", srcs[2]),
                     ("c/a.jpg", srcs[0]), ("c/A.jpg", srcs[1]),
                     ("k/x.jpg", srcs[2]), ("K/X.jpg", srcs[0])):
        os.makedirs(os.path.dirname(os.path.join(tree, rel)), exist_ok=True)
        shutil.copyfile(os.path.join(d, "src", src), os.path.join(tree, rel))
    curate("import", "--store", store, tree)
    cj = coco_file(os.path.join(d, "case.json"),
                   [("images/IMG_0001.jpg", [1, 2, 30, 40]),
                    ("IMAGES/img_0002.jpg", [5, 6, 30, 40]),
                    ("train/B.JPG", [7, 8, 30, 40]),
                    ("c/a.JPG", [9, 9, 30, 40]),
                    ("k/x.jpg", [3, 3, 30, 40])])
    p = curate("import", "--store", store, "--coco", cj, "--field", "gt",
               tree, ok=False)
    err = p.stderr.decode()
    got = boxes(store, "gt")
    check(p.returncode == 0 and
          got == {"images__IMG_0001": [[1, 2, 30, 40]],
                  "images__IMG_0002": [[5, 6, 30, 40]],
                  "Train__b": [[7, 8, 30, 40]],
                  "k__x": [[3, 3, 30, 40]]},
          "import --coco: names that differ in letter case land on their "
          "files; c/a.JPG is two files, k/x.jpg its own: %r %s" % (got, err))
    check("coco: %s: 3 names matched a file only ignoring letter case "
          "(e.g. images/IMG_0001.jpg -> images/IMG_0001.JPG)" % cj in err,
          "import --coco says which names matched only ignoring case: %r"
          % err)
    check("c/a.JPG: file name matches several samples; skipped" in err,
          "two files equal but for case: the name is ambiguous: %r" % err)
    p = curate("import-labels", "--store", store, "--format", "coco",
               "--field", "il", cj, ok=False)
    out = p.stdout.decode()
    check(p.returncode == 0 and boxes(store, "il") == got and
          "3 names matched a file only ignoring letter case (e.g. "
          "images/IMG_0001.jpg -> images/IMG_0001.JPG)" in out,
          "import-labels coco: the same, and the line: %s %s" % (
              out, p.stderr.decode()))

    # predictions: one sample named twice by a name of another case is
    # one name matched so
    res = [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 9, 9],
            "score": 0.5, "file_name": "images/img_0001.jpg"},
           {"image_id": 1, "category_id": 1, "bbox": [2, 2, 9, 9],
            "score": 0.5, "file_name": "images/img_0001.jpg"},
           {"image_id": 2, "category_id": 1, "bbox": [3, 3, 9, 9],
            "score": 0.5, "file_name": "images/IMG_0002.JPG"}]
    p, got = coco_preds(store, "cp", res, os.path.join(d, "case-res.json"))
    out = p.stdout.decode()
    check(p.returncode == 0 and
          got == {"images__IMG_0001": [[1, 1, 9, 9], [2, 2, 9, 9]],
                  "images__IMG_0002": [[3, 3, 9, 9]]} and
          "1 name matched a file only ignoring letter case (e.g. "
          "images/img_0001.jpg -> images/IMG_0001.JPG)" in out,
          "predictions coco: a name of another case: %r %s %s" % (
              got, out, p.stderr.decode()))

    # YOLO labels from outside the dataset (an annotation tool's export,
    # its stems in lower case) find their pictures ignoring case
    yolo = os.path.join(d, "yolo5")
    write(os.path.join(yolo, "data.yaml"), "names: [ant]\n")
    write(os.path.join(yolo, "labels", "img_0001.txt"), "0 0.25 0.5 0.1 0.2\n")
    write(os.path.join(yolo, "labels", "Img_0002.txt"), "0 0.5 0.5 0.1 0.2\n")
    p = curate("import-labels", "--store", store, "--format", "yolo",
               "--field", "y", yolo, ok=False)
    out = p.stdout.decode()
    got = boxes(store, "y")
    want = {"images__IMG_0001": [[W * 0.2, H * 0.4, W * 0.1, H * 0.2]],
            "images__IMG_0002": [[W * 0.45, H * 0.4, W * 0.1, H * 0.2]]}
    want = {k: [[round(x, 2) for x in b] for b in v] for k, v in want.items()}
    check(p.returncode == 0 and got == want and
          "2 names matched a file only ignoring letter case (e.g. "
          "labels/Img_0002.txt -> images/IMG_0002.JPG)" in out,
          "import-labels yolo from outside: stems of another case: %r %s %s"
          % (got, out, p.stderr.decode()))
    # inside the dataset a label file pairs as Ultralytics pairs it on
    # Linux, exactly: labels/img_0001.txt is no label of images/IMG_0001.JPG
    shutil.copyfile(os.path.join(yolo, "data.yaml"),
                    os.path.join(tree, "data.yaml"))
    write(os.path.join(tree, "labels", "img_0001.txt"), "0 0.25 0.5 0.1 0.2\n")
    write(os.path.join(tree, "labels", "IMG_0002.txt"), "0 0.5 0.5 0.1 0.2\n")
    p = curate("import-labels", "--store", store, "--format", "yolo",
               "--field", "yin", tree, ok=False)
    out, err = p.stdout.decode(), p.stderr.decode()
    got = boxes(store, "yin")
    check(p.returncode == 0 and
          got == {"images__IMG_0002": want["images__IMG_0002"]} and
          "skipped labels/img_0001.txt: no sample with this name" in err and
          "letter case" not in out,
          "import-labels yolo inside the dataset: the pairing stays exact: "
          "%r %s %s" % (got, out, err))


def voc_xml(filename, box):
    """A Pascal VOC annotation of one "ant" box [x0, y0, x1, y1]."""
    return ("<annotation><filename>%s</filename><size><width>%d</width>"
            "<height>%d</height><depth>3</depth></size><object><name>ant"
            "</name><bndbox><xmin>%d</xmin><ymin>%d</ymin><xmax>%d</xmax>"
            "<ymax>%d</ymax></bndbox></object></annotation>\n"
            % ((filename, W, H) + tuple(box)))


def coco_subsets(d, srcs):
    """CVAT's "COCO 1.0" of a project: one annotations/instances_<subset>
    .json per subset, whose file_names (1.jpg) the subsets share, each
    subset's pictures in a folder of its own."""
    tree = os.path.join(d, "tree8")
    store = os.path.join(d, "store8")
    for rel, src in (("train/1.jpg", srcs[0]), ("val/1.jpg", srcs[1]),
                     ("train/2.jpg", srcs[2])):
        os.makedirs(os.path.dirname(os.path.join(tree, rel)), exist_ok=True)
        shutil.copyfile(os.path.join(d, "src", src), os.path.join(tree, rel))
    curate("import", "--store", store, tree)
    ann = os.path.join(d, "coco8", "annotations")
    os.makedirs(ann)
    coco_file(os.path.join(ann, "instances_train.json"),
              [("1.jpg", [1, 1, 10, 10]), ("2.jpg", [3, 3, 10, 10])])
    # val's 2.jpg is not in the store: never train's 2.jpg
    coco_file(os.path.join(ann, "instances_val.json"),
              [("1.jpg", [2, 2, 10, 10]), ("2.jpg", [4, 4, 10, 10])])
    p = curate("import-labels", "--store", store, "--format", "coco",
               os.path.dirname(ann), ok=False)
    got = boxes(store, "ground_truth")
    check(p.returncode == 0 and got == {"train__1": [[1, 1, 10, 10]],
                                        "val__1": [[2, 2, 10, 10]],
                                        "train__2": [[3, 3, 10, 10]]},
          "import-labels coco: each document in its subset's folder (the "
          "shared names matched several samples before): %d %r %s" % (
              p.returncode, got, p.stderr.decode()))


def exact_beats_folded(d, srcs):
    """Two names of one input on one picture, one as written and one only
    ignoring letter case: the exact one keeps it, in either order."""
    tree = os.path.join(d, "tree7")
    store = os.path.join(d, "store7")
    os.makedirs(tree)
    for rel, src in (("IMG_1.jpg", srcs[0]), ("img_2.jpg", srcs[1]),
                     ("photo.jpg", srcs[2])):
        shutil.copyfile(os.path.join(d, "src", src), os.path.join(tree, rel))
    curate("import", "--store", store, tree)
    lost1 = "matches IMG_1.jpg only ignoring letter case, which %s names " \
            "exactly"
    lost2 = "matches img_2.jpg only ignoring letter case, which %s names " \
            "exactly"

    # COCO: exact first, folded first; two folded ones stay one failure
    for order, entries in (
            ("exact first", [("IMG_1.jpg", [1, 1, 10, 10]),
                             ("img_1.jpg", [2, 2, 10, 10])]),
            ("folded first", [("img_1.jpg", [2, 2, 10, 10]),
                              ("IMG_1.jpg", [1, 1, 10, 10])])):
        cj = coco_file(os.path.join(d, "fold7.json"), entries)
        field = "c" + order.split()[0]
        p = curate("import", "--store", store, "--coco", cj, "--field",
                   field, tree, ok=False)
        err = p.stderr.decode()
        got = boxes(store, field)
        check(p.returncode == 0 and got == {"IMG_1": [[1, 1, 10, 10]]} and
              "img_1.jpg: " + lost1 % "IMG_1.jpg" in err and
              "its 1 boxes are kept for evaluation" in err,
              "import --coco, %s: the exact name keeps the picture, the "
              "other matches none: %d %r %s" % (order, p.returncode, got,
                                                err))
    # Two documents of one import (a folder's annotations/*.json, as CVAT
    # writes one per subset) labelling one picture: refused, as two label
    # files of the other formats are (the second silently replaced the
    # first one's boxes).
    two = os.path.join(d, "coco-two")
    os.makedirs(os.path.join(two, "annotations"))
    coco_file(os.path.join(two, "annotations", "instances_default.json"),
              [("photo.jpg", [1, 1, 10, 10])])
    coco_file(os.path.join(two, "annotations", "instances_train.json"),
              [("photo.jpg", [2, 2, 10, 10])])
    p = curate("import-labels", "--store", store, "--format", "coco",
               "--field", "c3", two, ok=False)
    check(p.returncode == 1 and b"annotations/instances_default.json and "
          b"annotations/instances_train.json are both labels of sample "
          b"photo" in p.stderr and boxes(store, "c3") == {},
          "import-labels coco: two documents on one picture fail, nothing "
          "stored: %d %s" % (p.returncode, p.stderr.decode()))
    cj = coco_file(os.path.join(d, "fold7.json"),
                   [("img_1.jpg", [2, 2, 10, 10]),
                    ("Img_1.jpg", [3, 3, 10, 10])])
    p = curate("import", "--store", store, "--coco", cj, "--field", "c2",
               tree, ok=False)
    check(p.returncode == 1 and b"images 1 and 2 are the same sample" in
          p.stderr and boxes(store, "c2") == {},
          "import --coco: two names by case alone are one sample: %d %s" % (
              p.returncode, p.stderr.decode()))

    def want(cx):
        return [round(v, 2) for v in (W * (cx - 0.05), H * 0.4, W * 0.1,
                                      H * 0.2)]

    def import_labels(fmt, field, path):
        """import-labels of path into field: the process, its stderr and
        the field's boxes."""
        p = curate("import-labels", "--store", store, "--format", fmt,
                   "--field", field, path, ok=False)
        return p, p.stderr.decode(), boxes(store, field)

    # YOLO label files from outside the dataset: IMG_1.txt (exact) sorts
    # before img_1.txt, IMG_2.txt (by case) before img_2.txt (exact)
    yolo = os.path.join(d, "yolo7")
    write(os.path.join(yolo, "data.yaml"), "names: [ant]\n")
    rows = {"IMG_1": 0.25, "img_1": 0.5, "IMG_2": 0.125, "img_2": 0.75}
    for stem, cx in rows.items():
        write(os.path.join(yolo, "labels", stem + ".txt"),
              "0 %g 0.5 0.1 0.2\n" % cx)
    p, err, got = import_labels("yolo", "y", yolo)
    out = p.stdout.decode()
    check(p.returncode == 0 and
          got == {"IMG_1": [want(0.25)], "img_2": [want(0.75)]} and
          "labels/img_1.txt: " + lost1 % "labels/IMG_1.txt" in err and
          "labels/IMG_2.txt: " + lost2 % "labels/img_2.txt" in err and
          "letter case (e.g." not in out,
          "import-labels yolo: the exact file keeps the picture, in either "
          "order: %d %r %s %s" % (p.returncode, got, out, err))
    # Two files by case before the exact one (IMG_2.txt, Img_2.txt, then
    # img_2.txt): both lose to it (the second once failed the import as a
    # second label of the picture); without the exact one they still fail.
    yolo3 = os.path.join(d, "yolo7b")
    write(os.path.join(yolo3, "data.yaml"), "names: [ant]\n")
    for stem, cx in (("IMG_2", 0.125), ("Img_2", 0.375), ("img_2", 0.75)):
        write(os.path.join(yolo3, "labels", stem + ".txt"),
              "0 %g 0.5 0.1 0.2\n" % cx)
    p, err, got = import_labels("yolo", "y3", yolo3)
    check(p.returncode == 0 and got == {"img_2": [want(0.75)]} and
          "labels/IMG_2.txt: " + lost2 % "labels/img_2.txt" in err and
          "labels/Img_2.txt: " + lost2 % "labels/img_2.txt" in err,
          "import-labels yolo: two files by case, then the exact one: it "
          "keeps the picture, both reported: %d %r %s" % (p.returncode, got,
                                                          err))
    # A third file by case (iMG_2.txt) loses with them and is reported
    # too (it was dropped unreported, missing from the summary's count).
    write(os.path.join(yolo3, "labels", "iMG_2.txt"), "0 0.625 0.5 0.1 0.2\n")
    p, err, got = import_labels("yolo", "y3b", yolo3)
    out = p.stdout.decode()
    check(p.returncode == 0 and got == {"img_2": [want(0.75)]} and
          all("labels/%s.txt: " % stem + lost2 % "labels/img_2.txt" in err
              for stem in ("IMG_2", "Img_2", "iMG_2")) and
          "4 files, 1 samples, 1 boxes, 3 files without a sample" in out,
          "import-labels yolo: three files by case, then the exact one: "
          "all three reported and counted: %d %r %s %s" % (
              p.returncode, got, out, err))
    os.unlink(os.path.join(yolo3, "labels", "iMG_2.txt"))
    os.unlink(os.path.join(yolo3, "labels", "img_2.txt"))
    p, err, got = import_labels("yolo", "y4", yolo3)
    check(p.returncode == 1 and got == {} and
          "labels/IMG_2.txt and labels/Img_2.txt are both labels of sample "
          "img_2" in err,
          "import-labels yolo: two files by case alone fail, nothing "
          "stored: %d %r %s" % (p.returncode, got, err))

    # predictions from such files: no failure, no merge
    preds = os.path.join(d, "preds7")
    for stem, cx in rows.items():
        write(os.path.join(preds, stem + ".txt"),
              "0 %g 0.5 0.1 0.2 0.9\n" % cx)
    p = curate("predictions", "--store", store, "--format", "yolo",
               "--names", os.path.join(yolo, "data.yaml"), "--field", "yp",
               preds, ok=False)
    got = boxes(store, "yp")
    lost = "2 of those for images not in the store were named only " \
        "ignoring letter case, for a sample another name in the file " \
        "names as written (e.g. "
    check(p.returncode == 0 and
          got == {"IMG_1": [want(0.25)], "img_2": [want(0.75)]} and
          lost in p.stdout.decode(),
          "predictions yolo: the exact file's rows alone, the others "
          "reported: %d %r %s" % (p.returncode, got,
                                  p.stdout.decode() + p.stderr.decode()))

    # VOC: the same by the files' stems; and a <filename> found as
    # written beats a stem found only by case (IMG_2.xml of photo.jpg)
    voc = os.path.join(d, "voc7")
    for stem, box in (("IMG_1", [1, 1, 11, 11]), ("img_1", [2, 2, 12, 12]),
                      ("IMG_2", [3, 3, 13, 13]), ("img_2", [4, 4, 14, 14])):
        write(os.path.join(voc, "Annotations", stem + ".xml"),
              voc_xml(stem + ".jpg", box))
    p, err, got = import_labels("voc", "v", voc)
    check(p.returncode == 0 and
          got == {"IMG_1": [[1, 1, 10, 10]], "img_2": [[4, 4, 10, 10]]} and
          "Annotations/img_1.xml: " + lost1 % "Annotations/IMG_1.xml" in err
          and "Annotations/IMG_2.xml: " + lost2 % "Annotations/img_2.xml"
          in err,
          "import-labels voc: the exact file keeps the picture, in either "
          "order: %d %r %s" % (p.returncode, got, err))
    voc = os.path.join(d, "voc8")
    write(os.path.join(voc, "Annotations", "IMG_2.xml"),
          voc_xml("photo.jpg", [5, 5, 15, 15]))
    p, err, got = import_labels("voc", "v2", voc)
    check(p.returncode == 0 and got == {"photo": [[5, 5, 10, 10]]},
          "import-labels voc: <filename> as written before the stem by "
          "case: %d %r %s" % (p.returncode, got, err))

    # CVAT XML: two <image>s, each pair in both orders
    images = "".join(
        '<image id="%d" name="%s" width="%d" height="%d"><box label="ant" '
        'xtl="%d" ytl="%d" xbr="%d" ybr="%d" occluded="0" z_order="0" />'
        '</image>\n' % (i, n, W, H, x, x, x + 5, x + 5)
        for i, (n, x) in enumerate((("IMG_1.jpg", 1), ("img_1.jpg", 2),
                                    ("IMG_2.jpg", 3), ("img_2.jpg", 4))))
    cx = os.path.join(d, "cvat7.xml")
    write(cx, '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n'
          '<version>1.1</version>\n%s</annotations>\n' % images)
    p, err, got = import_labels("cvat", "cv", cx)
    check(p.returncode == 0 and
          got == {"IMG_1": [[1, 1, 5, 5]], "img_2": [[4, 4, 5, 5]]} and
          lost1 % ("%s: IMG_1.jpg" % cx) in err,
          "import-labels cvat: the exact <image> keeps the picture, in "
          "either order: %d %r %s" % (p.returncode, got, err))

    # COCO predictions by file_name, and through --coco-gt
    res = [{"image_id": 1, "category_id": 1, "bbox": [2, 2, 9, 9],
            "score": 0.5, "file_name": "img_1.jpg"},
           {"image_id": 2, "category_id": 1, "bbox": [1, 1, 9, 9],
            "score": 0.5, "file_name": "IMG_1.jpg"},
           {"image_id": 3, "category_id": 1, "bbox": [4, 4, 9, 9],
            "score": 0.5, "file_name": "img_2.jpg"},
           {"image_id": 4, "category_id": 1, "bbox": [3, 3, 9, 9],
            "score": 0.5, "file_name": "IMG_2.jpg"}]
    gt = coco_file(os.path.join(d, "gt7.json"),
                   [("img_1.jpg", [0, 0, 1, 1]), ("IMG_1.jpg", [0, 0, 1, 1]),
                    ("img_2.jpg", [0, 0, 1, 1]), ("IMG_2.jpg", [0, 0, 1, 1])])
    for how, rows, opts in (("by file_name", res, ()),
                            ("through --coco-gt",
                             [{k: v for k, v in r.items() if k != "file_name"}
                              for r in res], ("--coco-gt", gt))):
        p, got = coco_preds(store, "cp", rows,
                            os.path.join(d, "fold7-res.json"), *opts)
        check(p.returncode == 0 and
              got == {"IMG_1": [[1, 1, 9, 9]], "img_2": [[4, 4, 9, 9]]} and
              lost in p.stdout.decode(),
              "predictions coco %s: the exact name's rows alone, no merge, "
              "the others reported: %d %r %s" % (
                  how, p.returncode, got,
                  p.stdout.decode() + p.stderr.decode()))


def stem_collision(d, srcs):
    """x.jpg and x.png (samples x and x~N) through the VOC and YOLO
    exports and back; sub/y.txt of sub/y.jpg and sub/y.png reported."""
    from PIL import Image
    tree = os.path.join(d, "tree9")
    store = os.path.join(d, "store9")
    os.makedirs(os.path.join(tree, "sub"))
    shutil.copyfile(os.path.join(d, "src", srcs[0]),
                    os.path.join(tree, "x.jpg"))
    shutil.copyfile(os.path.join(d, "src", srcs[1]),
                    os.path.join(tree, "sub", "y.jpg"))
    for rel in ("x.png", "sub/y.png"):
        Image.new("RGB", (W, H), (0, 90, 0)).save(os.path.join(tree, rel))
    gt = coco_file(os.path.join(d, "gt9.json"),
                   [("x.jpg", [10, 10, 40, 30]), ("x.png", [100, 50, 60, 40])])
    curate("import", "--store", store, "--coco", gt, tree)
    want = boxes(store, "ground_truth")
    check(len(want) == 2, "x.jpg and x.png: two samples with boxes: %r"
          % want)
    out = os.path.join(d, "out9")
    curate("export", "--store", store, "--format", "voc", out + "-voc")
    p = curate("import-labels", "--store", store, "--format", "voc",
               "--field", "rt", out + "-voc", ok=False)
    got = boxes(store, "rt")
    check(p.returncode == 0 and got == want,
          "VOC export of x.jpg and x.png read back onto both: %r %s" % (
              got, p.stderr.decode()))
    curate("export", "--store", store, "--format", "yolo", out + "-yolo")
    preds = os.path.join(d, "preds9")
    lab = os.path.join(out + "-yolo", "labels", "default")
    for fn in os.listdir(lab):
        with open(os.path.join(lab, fn)) as f:
            rows = f.read().split("\n")
        write(os.path.join(preds, fn),
              "".join(r + " 0.9\n" for r in rows if r))
    write(os.path.join(preds, "sub", "y.txt"), "0 0.5 0.5 0.1 0.1 0.9\n")
    p = curate("predictions", "--store", store, "--format", "yolo",
               "--names", os.path.join(out + "-yolo", "data.yaml"), preds,
               ok=False)
    got = boxes(store, "predictions")
    outp = p.stdout.decode()
    check(p.returncode == 0 and got == want,
          "YOLO export rows as predictions land on x.jpg and x.png: %r %s"
          % (got, outp + p.stderr.decode()))
    check("1 of those for images not in the store were named by a name "
          "that several samples could be (e.g. sub/y.txt): left out" in outp,
          "an ambiguous predictions file is named: %r" % outp)
    # A name that could be several samples in a results file's table of
    # images (as with --coco-gt), t/1.jpg of a/t/1.jpg and b/t/1.jpg: its
    # predictions are counted and the name given, as for a file_name.
    t10 = os.path.join(d, "tree10")
    s10 = os.path.join(d, "store10")
    for k, sub in enumerate(("a", "b")):
        os.makedirs(os.path.join(t10, sub, "t"))
        shutil.copyfile(os.path.join(d, "src", srcs[k]),
                        os.path.join(t10, sub, "t", "1.jpg"))
    shutil.copyfile(os.path.join(d, "src", srcs[2]),
                    os.path.join(t10, "solo.jpg"))
    curate("import", "--store", s10, "--coco",
           coco_file(os.path.join(d, "gt10.json"),
                     [("solo.jpg", [10, 10, 40, 30])]), t10)
    res = os.path.join(d, "preds10.json")
    with open(res, "w") as f:
        json.dump({"images": [{"id": 5, "file_name": "t/1.jpg"},
                              {"id": 6, "file_name": "solo.jpg"}],
                   "categories": [{"id": 1, "name": "ant"}],
                   "annotations": [{"image_id": k, "category_id": 1,
                                    "bbox": [1, 1, 5, 5], "score": 0.5}
                                   for k in (5, 6)]}, f)
    p = curate("predictions", "--store", s10, "--format", "coco", res,
               ok=False)
    outp = p.stdout.decode()
    check("1 of those for images not in the store were named by a name "
          "that several samples could be (e.g. t/1.jpg): left out" in outp,
          "an ambiguous name of a results file's images table is named: %r"
          % (outp + p.stderr.decode()))


if __name__ == "__main__":
    main()
