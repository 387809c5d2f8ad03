#!/usr/bin/python3
"""Near-duplicate quality on real photographs, side by side with
findimagedupes (Debian) and, optionally, another curatefs build.

Photographs: the JPEG photos of a few Debian packages (scratch, tuxpaint-data,
darknet, palapeli-data, labelme-examples, forensics-samples-files,
python3-sklearn, python-matplotlib-data, mate-backgrounds,
lomiri-wallpapers-16.04; fetched with apt-get download into
BUILD_DIR/neardup-debs once), or a folder given with --photos.  Files of
identical content are read once; a photograph shipped in several folders
under one name in different encodings (labelme's examples: the annotated
original and the dataset's re-encode), a wallpaper at several sizes, and
the five frames of labelme's video example are all kept, and each such
set counts as one photograph when scoring; annotation drawings are left
out.  Plus generated scenes (mkjpeg's gradients and blobs with a texture
of their own; 40, or 10 with --small).  Each is reduced to at most
1024 px (long side) and saved at quality 90: that is the original.
Edited copies (Pillow), each saved at quality 90:
  q40 (re-encode at 40), half (50 % resize), blur (Gaussian, radius 2),
  bright (x1.2), flip (left-right), crop5 (5 % off each side), crop10 (10 %
  off the left and the top), padK10 (10 % black, four sides), padW15 (15 %
  white, top and bottom), padM5 (5 % mid colour, four sides), padM12 (12 %
  mid colour, left and right), rot1 / rot3 (1 and 3 degrees, same canvas,
  black corners), rot2e (-2 degrees, canvas expanded, white corners), text
  (a caption in the lower right), gam0.8 / gam1.2, gray, warm (a colour
  cast: red x 1.1, blue x 0.88).

Scoring, for each tool's groups: the recall of each edit is the share of
(original, copy) pairs in one group; false pairs are pairs of files of
different photographs in one group.  Wall time: curatefs import (features
included) plus the table that lists the groups; findimagedupes at its
default threshold, from the files.  curatefs's false pairs are then listed
by pair of photographs, each with how much its two originals differ (the
share of pixels more than 40 grey levels apart, both at the smaller
size) beside how much the first one's own re-encode at 40 and caption copy
differ from it: pictures that differ less than a photograph's own copies
cannot be told apart by any rule that keeps those copies.

Then the pair check on a large group that fails it (tests/bench/
bench_verify.c: 3,000 pictures of one layout, 600 with --small): the
check's CPU time inside the grouping, and the same pairs scored with the
thumbnails prepared per pair (as before) against once per picture.

usage: bench_neardup.py BUILD_DIR [--small] [--photos DIR]
                        [--baseline CURATE_BINARY]
(--small: the first 60 photographs)
"""
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont, ImageOps

DEBS = ["scratch", "tuxpaint-data", "darknet", "palapeli-data",
        "labelme-examples", "forensics-samples-files", "python3-sklearn",
        "python-matplotlib-data", "mate-backgrounds",
        "lomiri-wallpapers-16.04"]
EDITS = ["q40", "half", "blur", "bright", "flip", "crop5", "crop10",
         "padK10", "padW15", "padM5", "padM12", "rot1", "rot2e", "rot3",
         "text", "gam0.8", "gam1.2", "gray", "warm"]
MID = (118, 132, 104)


def arg(name, default=None):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def photo_dir(build):
    """The extracted packages (fetched once into BUILD_DIR)."""
    root = os.path.join(build, "neardup-debs")
    x = os.path.join(root, "x")
    if not os.path.isdir(x):
        os.makedirs(root, exist_ok=True)
        subprocess.run(["apt-get", "download", "-q"] + DEBS, cwd=root,
                       check=True, stdout=subprocess.DEVNULL)
        for d in glob.glob(os.path.join(root, "*.deb")):
            subprocess.run(["dpkg", "-x", d, x], check=True)
    return x


def scene_of(path):
    """The photograph a file shows: its base name without a _WxH size
    suffix (a wallpaper shipped at several sizes); the video frames: one."""
    if "video_annotation" in path:
        return "video_annotation"
    return re.sub(r"_\d+x\d+$", "",
                  os.path.splitext(os.path.basename(path))[0].lower())


def pick_photos(root, limit):
    skip = ("Visualization", "/.readme/", "/draw_", "/annotation")
    md5s, out = set(), []
    for p in sorted(glob.glob(os.path.join(root, "**", "*"), recursive=True)):
        if not p.lower().endswith((".jpg", ".jpeg")) or any(
                s in p for s in skip) or os.path.getsize(p) < 20000:
            continue
        h = hashlib.md5(open(p, "rb").read()).hexdigest()
        if h in md5s:
            continue
        try:
            with Image.open(p) as im:
                im.load()
        except OSError:
            continue
        md5s.add(h)
        out.append(p)
    return out[:limit] if limit else out


def generated(build, n, dest):
    """n generated scenes (mkjpeg, with a texture each: flat blobs alone
    are a cartoon, not a photograph) as JPEG files in dest."""
    os.makedirs(dest)
    subprocess.run([os.path.join(build, "tests/mkjpeg"), "-n", str(n), "-s",
                    "31000", "-W", "800", "-H", "600", "-q", "95", dest],
                   check=True, stdout=subprocess.DEVNULL)
    out = []
    for i, f in enumerate(sorted(os.listdir(dest))):
        rng = np.random.default_rng(31000 + i)
        tex = np.zeros((600, 800))
        for cell, amp in ((64, 0.4), (32, 0.3), (16, 0.2), (8, 0.1)):
            g = rng.uniform(-1, 1, (600 // cell + 2, 800 // cell + 2))
            up = Image.fromarray(g.astype(np.float32), "F").resize(
                (g.shape[1] * cell, g.shape[0] * cell), Image.BILINEAR)
            tex += amp * np.asarray(up)[:600, :800]
        p = os.path.join(dest, f)
        with Image.open(p) as im:
            a = np.asarray(im.convert("RGB"), dtype=np.float64)
        a = np.clip(a * (1 + 0.35 * tex[:, :, None]), 0, 255)
        Image.fromarray(a.astype(np.uint8)).save(
            os.path.join(dest, "generated_%02d.jpg" % i), quality=95)
        os.unlink(p)
        out.append(os.path.join(dest, "generated_%02d.jpg" % i))
    return out


def pad(im, frac, lr, tb, colour):
    bx = round(im.width * frac) if lr else 0
    by = round(im.height * frac) if tb else 0
    out = Image.new("RGB", (im.width + 2 * bx, im.height + 2 * by), colour)
    out.paste(im, (bx, by))
    return out


def caption(im):
    out = im.copy()
    d = ImageDraw.Draw(out)
    size = max(10, im.height // 18)
    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", size)
    except OSError:
        font = ImageFont.load_default()
    x, y = im.width * 0.55, im.height - 2.2 * size
    d.text((x + 1, y + 1), "(c) curatefs 2026", font=font, fill=(0, 0, 0))
    d.text((x, y), "(c) curatefs 2026", font=font, fill=(255, 255, 255))
    return out


def gamma(im, g):
    return im.point([round(255 * (i / 255.0) ** g) for i in range(256)] * 3)


def edit(im, e):
    w, h = im.size
    return {
        "half": lambda: im.resize((w // 2, h // 2), Image.BOX),
        "blur": lambda: im.filter(ImageFilter.GaussianBlur(2)),
        "bright": lambda: im.point(lambda v: min(255, round(v * 1.2))),
        "flip": lambda: ImageOps.mirror(im),
        "crop5": lambda: im.crop((w // 20, h // 20, w - w // 20, h - h // 20)),
        "crop10": lambda: im.crop((w // 10, h // 10, w, h)),
        "padK10": lambda: pad(im, 0.10, 1, 1, (0, 0, 0)),
        "padW15": lambda: pad(im, 0.15, 0, 1, (255, 255, 255)),
        "padM5": lambda: pad(im, 0.05, 1, 1, MID),
        "padM12": lambda: pad(im, 0.12, 1, 0, MID),
        "rot1": lambda: im.rotate(1, Image.BILINEAR),
        "rot2e": lambda: im.rotate(-2, Image.BILINEAR, expand=True,
                                   fillcolor=(255, 255, 255)),
        "rot3": lambda: im.rotate(3, Image.BILINEAR),
        "text": lambda: caption(im),
        "gam0.8": lambda: gamma(im, 0.8),
        "gam1.2": lambda: gamma(im, 1.2),
        "gray": lambda: ImageOps.grayscale(im).convert("RGB"),
        "warm": lambda: Image.merge("RGB", [
            c.point(lambda v, k=k: min(255, round(v * k)))
            for c, k in zip(im.split(), (1.1, 1.0, 0.88))]),
    }[e]()


def build_corpus(photos, data):
    """Writes the originals and copies; returns {file: (scene, orig, edit)}."""
    meta = {}
    os.makedirs(data)
    for i, p in enumerate(photos):
        with Image.open(p) as src:
            im = ImageOps.exif_transpose(src).convert("RGB")
        im.thumbnail((1024, 1024), Image.LANCZOS)
        stem = "p%03d" % i
        meta[stem + "__orig.jpg"] = (scene_of(p), stem, "orig")
        im.save(os.path.join(data, stem + "__orig.jpg"), quality=90)
        for e in EDITS:
            name = "%s__%s.jpg" % (stem, e)
            meta[name] = (scene_of(p), stem, e)
            out = im if e == "q40" else edit(im, e)
            out.save(os.path.join(data, name), quality=40 if e == "q40" else 90)
    return meta


def curatefs_groups(curate, data, work):
    store = os.path.join(work, "store")
    shutil.rmtree(store, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run([curate, "import", "--store", store, data], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = subprocess.run([curate, "table", "--store", store, "--format",
                          "jsonl"], check=True, capture_output=True,
                         text=True).stdout
    dt = time.perf_counter() - t0
    groups = {}
    for line in out.splitlines():
        r = json.loads(line)
        if r.get("neardup_group") is not None:
            groups.setdefault(r["neardup_group"], []).append(
                os.path.basename(r["path"]))
    return list(groups.values()), dt


def fid_groups(data):
    files = sorted(glob.glob(os.path.join(data, "*.jpg")))
    t0 = time.perf_counter()
    out = subprocess.run(["findimagedupes", "-q", "--"] + files, check=True,
                         capture_output=True, text=True).stdout
    dt = time.perf_counter() - t0
    return [[os.path.basename(f) for f in line.split()]
            for line in out.splitlines() if line.strip()], dt


def score(groups, meta):
    group_of, false_pairs = {}, 0
    for g, members in enumerate(groups):
        for m in members:
            group_of[m] = g
        scenes = {}
        for m in members:
            scenes[meta[m][0]] = scenes.get(meta[m][0], 0) + 1
        n = len(members)
        false_pairs += n * (n - 1) // 2 - sum(
            c * (c - 1) // 2 for c in scenes.values())
    # A copy is found when it shares a group with an original of its
    # photograph (its own, or another frame or size of the same picture).
    recall = {}
    origs = sorted({v[1] for v in meta.values()})
    orig_groups = {}
    for f, (scene, _, e) in meta.items():
        if e == "orig" and f in group_of:
            orig_groups.setdefault(scene, set()).add(group_of[f])
    for e in EDITS:
        hit = 0
        for o in origs:
            f = "%s__%s.jpg" % (o, e)
            hit += f in group_of and group_of[f] in orig_groups.get(
                meta[f][0], ())
        recall[e] = hit / len(origs)
    return recall, false_pairs


def differ(data, a, b):
    """Share of pixels more than 40 grey levels apart between two files
    (the larger brought to the smaller's size)."""
    with Image.open(os.path.join(data, a)) as x, \
            Image.open(os.path.join(data, b)) as y:
        x, y = x.convert("L"), y.convert("L")
        if x.size != y.size:
            if x.width * x.height > y.width * y.height:
                x = x.resize(y.size, Image.BOX)
            else:
                y = y.resize(x.size, Image.BOX)
        hist = ImageChops.difference(x, y).histogram()
    return sum(hist[41:]) / float(sum(hist))


def false_by_photo(groups, meta, data, top=12):
    """curatefs's false pairs by pair of photographs, largest first."""
    by = {}
    for members in groups:
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                if meta[a][0] != meta[b][0]:
                    k = tuple(sorted((meta[a][1], meta[b][1])))
                    by[k] = by.get(k, 0) + 1
    if not by:
        return
    print("curatefs false pairs by pair of photographs (share of pixels "
          "> 40 levels apart: the two originals | the first one and its "
          "q40 and text copies)")
    for (a, b), c in sorted(by.items(), key=lambda kv: -kv[1])[:top]:
        oa, ob = a + "__orig.jpg", b + "__orig.jpg"
        print("  %5d  %s (%s) / %s (%s): %.4f | %.4f %.4f" % (
            c, a, meta[oa][0], b, meta[ob][0], differ(data, oa, ob),
            differ(data, oa, a + "__q40.jpg"),
            differ(data, oa, a + "__text.jpg")))


def main():
    build = sys.argv[1]
    small = "--small" in sys.argv
    root = arg("--photos") or photo_dir(build)
    photos = pick_photos(root, 60 if small else 0)
    work = tempfile.mkdtemp(prefix="curatefs-bench-nd-", dir="/var/tmp")
    try:
        photos += generated(build, 10 if small else 40,
                            os.path.join(work, "gen"))
        data = os.path.join(work, "data")
        meta = build_corpus(photos, data)
        scenes = {v[0] for v in meta.values()}
        n = len(meta)
        same = sum(1 for a in meta for b in meta
                   if a < b and meta[a][0] == meta[b][0])
        neg = n * (n - 1) // 2 - same
        tools = [("curatefs", curatefs_groups(
            os.path.join(build, "tools/curate"), data, work))]
        if arg("--baseline"):
            tools.append(("baseline", curatefs_groups(arg("--baseline"),
                                                      data, work)))
        if shutil.which("findimagedupes"):
            tools.append(("findimagedupes", fid_groups(data)))
        else:
            print("findimagedupes not installed (apt-get install "
                  "findimagedupes): curatefs alone")
        res = [(name, score(g, meta), dt) for name, (g, dt) in tools]
        print("%d files of %d photographs, %d edits each: %d files, %d pairs "
              "of different photographs" % (len(photos), len(scenes),
                                            len(EDITS), n, neg))
        print("%-10s" % "edit" + "".join("%16s" % r[0] for r in res))
        for e in EDITS:
            print("%-10s" % e + "".join("%16.3f" % r[1][0][e] for r in res))
        print("%-10s" % "mean" + "".join(
            "%16.3f" % (sum(r[1][0].values()) / len(EDITS)) for r in res))
        print("%-10s" % "falsepair" + "".join("%16d" % r[1][1] for r in res))
        print("%-10s" % "rate" + "".join(
            "%16.2e" % (r[1][1] / neg) for r in res))
        print("%-10s" % "wall s" + "".join("%16.1f" % r[2] for r in res))
        false_by_photo(tools[0][1][0], meta, data)
        print("pair check on a large group that fails it:")
        sys.stdout.flush()
        subprocess.run([os.path.join(build, "tests/bench_verify"),
                        "600" if small else "3000"], check=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
