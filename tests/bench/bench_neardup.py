#!/usr/bin/python3
"""Near-duplicate quality on real photographs, side by side with
findimagedupes (Debian) and, optionally, another curatefs build.

Photographs: the JPEG photos of Debian packages (the list DEBS; fetched
with apt-get download into BUILD_DIR/neardup-debs once, a package added
to the list later is fetched on the next run), or a folder given with
--photos.  Files of identical content and symbolic links are read once;
files that are no photograph of their own are left out (SKIP: drawings,
renders, tutorial figures, a calibration series, an edited copy of
another source).  Plus generated scenes (mkjpeg's gradients and blobs
with a texture of their own; 40, or 10 with --small).  Each is reduced to
at most 1024 px (long side) and saved at quality 90: that is the original.

Which files show one photograph, in two steps:
  declared: what the packages say (scene_of): labelme's annotated
    originals and their dataset re-encodes (one name in two folders) and
    the five frames of its video example, a wallpaper at several sizes or
    with its preview, opencv's stereo pairs, ImageMagick's tone curves of
    one photograph.  Each such set is kept and counts as one photograph.
  the pixel rule (same_picture), independent of any near-duplicate tool:
    two sources of one shape whose originals differ in no more pixels
    (more than APART = 40 grey levels apart, at the smaller size) than
    one of them differs from its own q40 copy are one photograph: either
    could pass for the other's q40 copy, which every tool must group with
    it.  Why 40: on the set of about 300, a tolerance of 32 to 48 gives
    the same verdicts; at 24 or less, two screenshots with different
    drawings on their canvas (1 % of the pixels) merge, because q40
    noise moves that many pixels by 24 levels; at 56 or more, q40 copies
    of most photographs move no pixel that far, so not even two
    screenshots apart by a moved mouse pointer merge.
    The run prints every merge with its figures, and how many of the
    declared same-picture pairs of one shape the rule finds too (the
    sizes and re-encodes: it is a check of the rule; frames, stereo
    pairs and tone curves change content, and the rule keeps them apart).
  screen sessions (SESSIONS): captures of one screen a few minutes
    apart count as one picture, as consecutive video frames do.  Only
    where the pictures themselves date them: the three desktop captures
    of Tux Paint's French tutorial show one document at one page behind
    the program's window, and the clock of their menu bar reads 20:33,
    20:35 and 20:36; they differ in strokes on the canvas, one button
    panel and the status line.  The tutorial's full-window captures show
    no clock and stay pictures of their own.
    Both earlier counts are printed too: each file as its package
    declares it ("raw"), and after the pixel rule alone ("pixel").

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
(original, copy) pairs whose copy shares a group with an original of its
photograph; false pairs are pairs of files of different photographs in
one group, printed both with the photographs as declared ("raw") and
after the pixel rule, each with its rate over all pairs of different
photographs.  Wall time: curatefs import (features included) plus the
table that lists the groups; findimagedupes at its default threshold,
from the files.  curatefs's false pairs are then listed by pair of
sources, each with how much its two originals differ beside how much each
differs from its own q40 copy.

Then the pair check on a large group that fails it (tests/bench/
bench_verify.c: 3,000 pictures of one layout, 600 with --small): the
check's CPU time inside the grouping with the number of pairs it scored
of those within the threshold, and the same kind of pairs scored with the
thumbnails prepared per pair (as before) against once per picture.

usage: bench_neardup.py BUILD_DIR [--small] [--photos DIR]
                        [--baseline CURATE_BINARY]
(--small: the first 60 photographs)
"""
import glob
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

DEBS = ["scratch", "tuxpaint-data", "darknet", "palapeli-data",
        "labelme-examples", "forensics-samples-files", "python3-sklearn",
        "python-matplotlib-data", "mate-backgrounds",
        "lomiri-wallpapers-16.04",
        # added for about 300 photographs; their computer-made pictures
        # are in SKIP
        "opencv-doc", "kalzium-data", "tuxtype-data", "scribus-template",
        "plasma-workspace-wallpapers", "lomiri-wallpapers-20.04",
        "sddm-theme-maldives", "kstars-data", "imagemagick-6-doc"]
# Files that are no photograph of their own: labelme's drawings, opencv's
# tutorial figures, its chessboard calibration series (28 views of one
# board), renders and synthetic test pictures, an edited copy of another
# source (ela_modified: ela_original with a logo pasted in), deblurring
# inputs, ImageMagick's screenshots and drawings, wallpapers that are
# drawings, a login screen shot and a map.
SKIP = ("Visualization", "/.readme/", "/draw_", "/annotation",
        "/opencv4/html/", "/data/left0", "/data/left1", "/data/right0",
        "/data/right1", "/Blender_Suzanne", "/ellipses.", "/ela_modified.",
        "/text_defocus.", "/text_motion.", "/html/images/configure.",
        "/html/images/examples.", "/html/images/wizard.",
        "/wallpapers/Autumn/", "/wallpapers/Flow/", "/wallpapers/Honeywave/",
        "/wallpapers/PastelHills/", "/wallpapers/SafeLanding/",
        "/wallpapers/Shell/", "/Fossa_by_", "/Painting-Colors_by_",
        "/maldives/maldives.", "/kstars/geomap.")
# Screen sessions: each a name and the ends of its captures' paths.
SESSIONS = [("tuxpaint:fr-desktop-session",
             tuple("/fr_fr.utf-8/html/images/captures/%s" % c for c in
                   ("forme-rotation", "forme_choix_taille", "ligne")))]
EDITS = ["q40", "half", "blur", "bright", "flip", "crop5", "crop10",
         "padK10", "padW15", "padM5", "padM12", "rot1", "rot2e", "rot3",
         "text", "gam0.8", "gam1.2", "gray", "warm"]
MID = (118, 132, 104)
# The pixel rule (same_picture): grey levels two pixels must be apart to
# count as differing, and the grid of block means of its quick test.
APART = 40
GRID = 16


def arg(name, default=None):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def photo_dir(build):
    """The extracted packages (each fetched once into BUILD_DIR)."""
    root = os.path.join(build, "neardup-debs")
    x = os.path.join(root, "x")
    os.makedirs(x, exist_ok=True)
    missing = [d for d in DEBS
               if not glob.glob(os.path.join(root, d + "_*.deb"))]
    if missing:
        subprocess.run(["apt-get", "download", "-q"] + missing, cwd=root,
                       check=True, stdout=subprocess.DEVNULL)
    for d in DEBS:
        done = os.path.join(root, d + ".extracted")
        if not os.path.exists(done):
            for f in glob.glob(os.path.join(root, d + "_*.deb")):
                subprocess.run(["dpkg", "-x", f, x], check=True)
            open(done, "w").close()
    return x


def scene_of(path):
    """The photograph a file shows, as its package declares it: labelme's
    annotated originals and their dataset re-encodes (one name in two
    folders), the five frames of its video example, a wallpaper at
    several sizes (a _WxH or @Nx suffix in one folder; a Plasma
    wallpaper's folder, its preview included), opencv's two stereo pairs
    and ImageMagick's tone curves of one photograph.  Any other file is a
    photograph of its own."""
    low = path.lower()
    stem = os.path.splitext(os.path.basename(low))[0]
    if "video_annotation" in low:
        return "video_annotation"
    if "/labelme-examples/" in low:
        return "labelme:" + stem
    m = re.search(r"/wallpapers/([^/]+)/contents/", low)
    if m:
        return "plasma:" + m.group(1)
    m = re.search(r"/examples/data/(aloe)[lr]\.jpg$|"
                  r"/examples/data/(left|right)\.jpg$", low)
    if m:
        return "opencv-stereo:" + (m.group(1) or "books")
    if "/bluebells_" in low:
        return "bluebells"
    stem = re.sub(r"(_\d+x\d+|@\dx)$", "", stem)
    if "/usr/" not in low:
        return stem
    return os.path.join(os.path.dirname(low).split("/usr/", 1)[1], stem)


def pick_photos(root, limit):
    md5s, out = set(), []
    for p in sorted(glob.glob(os.path.join(root, "**", "*"), recursive=True)):
        if not p.lower().endswith((".jpg", ".jpeg")) or any(
                s in p for s in SKIP) or os.path.islink(p) or \
                os.path.getsize(p) < 20000:
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


def make_copies(job):
    """The original and the edited copies of one source file."""
    i, p, data = job
    with Image.open(p) as src:
        im = ImageOps.exif_transpose(src).convert("RGB")
    im.thumbnail((1024, 1024), Image.LANCZOS)
    stem = "p%03d" % i
    meta = {stem + "__orig.jpg": (scene_of(p), stem, "orig")}
    im.save(os.path.join(data, stem + "__orig.jpg"), quality=90)
    for e in EDITS:
        name = "%s__%s.jpg" % (stem, e)
        meta[name] = (scene_of(p), stem, e)
        out = im if e == "q40" else edit(im, e)
        out.save(os.path.join(data, name), quality=40 if e == "q40" else 90)
    return meta


def build_corpus(photos, data):
    """Writes the originals and copies (one process per core); returns
    {file: (scene, orig, edit)}."""
    meta = {}
    os.makedirs(data)
    with multiprocessing.Pool(os.cpu_count() or 1) as pool:
        for m in pool.imap_unordered(
                make_copies, [(i, p, data) for i, p in enumerate(photos)]):
            meta.update(m)
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


def score(groups, meta, photo=None):
    """Per-edit recall and false pairs; photo maps each declared
    photograph to the one it counts as (the pixel rule), default itself."""
    def ph(f):
        return photo[meta[f][0]] if photo else meta[f][0]
    group_of, false_pairs = {}, 0
    for g, members in enumerate(groups):
        for m in members:
            group_of[m] = g
        scenes = {}
        for m in members:
            scenes[ph(m)] = scenes.get(ph(m), 0) + 1
        n = len(members)
        false_pairs += n * (n - 1) // 2 - sum(
            c * (c - 1) // 2 for c in scenes.values())
    # A copy is found when it shares a group with an original of its
    # photograph (its own, or another frame or size of the same picture).
    recall = {}
    origs = sorted({v[1] for v in meta.values()})
    orig_groups = {}
    for f, (_, _, e) in meta.items():
        if e == "orig" and f in group_of:
            orig_groups.setdefault(ph(f), set()).add(group_of[f])
    for e in EDITS:
        hit = 0
        for o in origs:
            f = "%s__%s.jpg" % (o, e)
            hit += f in group_of and group_of[f] in orig_groups.get(ph(f), ())
        recall[e] = hit / len(origs)
    return recall, false_pairs


def pairs_of(meta, photo):
    """Pairs of files of different photographs."""
    n = len(meta)
    count = {}
    for v in meta.values():
        count[photo[v[0]]] = count.get(photo[v[0]], 0) + 1
    return n * (n - 1) // 2 - sum(c * (c - 1) // 2 for c in count.values())


def grey(data, stem, e="orig"):
    with Image.open(os.path.join(data, "%s__%s.jpg" % (stem, e))) as im:
        return im.convert("L")


def apart(x, y, n=None):
    """Share of pixels more than n (default APART) grey levels apart
    between two grey pictures, the larger box-reduced to the smaller's
    size."""
    n = APART if n is None else n
    if x.size != y.size:
        if x.width * x.height > y.width * y.height:
            x = x.resize(y.size, Image.BOX)
        else:
            y = y.resize(x.size, Image.BOX)
    d = np.abs(np.asarray(x, np.int16) - np.asarray(y, np.int16))
    return np.count_nonzero(d > n) / float(d.size)


def block_means(im):
    """Mean grey level of each cell of a GRID x GRID grid."""
    a = np.asarray(im, np.float64)
    ys = np.linspace(0, a.shape[0], GRID + 1).astype(int)
    xs = np.linspace(0, a.shape[1], GRID + 1).astype(int)
    s = np.add.reduceat(np.add.reduceat(a, ys[:-1], axis=0), xs[:-1], axis=1)
    return s / np.outer(np.diff(ys), np.diff(xs))


def same_picture(meta, data):
    """The pixel rule.  Two sources whose originals differ from each other
    in no more pixels (more than APART grey levels apart, at the smaller
    size) than either differs from its own q40 copy cannot be told apart
    by any measure that must keep q40 copies: they count as one
    photograph.  Pictures of different shapes (aspect ratios more than
    2 % apart) are never merged.  Most pairs are ruled out by their block
    means first: a cell whose means differ by m > APART has at least
    (m - APART) / (255 - APART) of its pixels more than APART apart, so the
    cells' sum is a lower bound of the share (2 levels are given for
    resampling).  Returns {declared photograph: photograph after the
    rule}, the merges as (source, source, share, own q40 shares), and
    for the sources that their packages declare one photograph, the
    number of such pairs of one shape and how many the rule finds too."""
    stems = sorted({v[1] for v in meta.values()})
    scene = {v[1]: v[0] for v in meta.values()}
    ratio, own, means = [], [], []
    for s in stems:
        o = grey(data, s)
        ratio.append(o.width / float(o.height))
        own.append(apart(o, grey(data, s, "q40")))
        means.append(block_means(o))
    ratio, own, means = np.array(ratio), np.array(own), np.array(means)
    parent = {sc: sc for sc in scene.values()}

    def find(sc):
        while parent[sc] != sc:
            sc = parent[sc]
        return sc
    merges, declared, agree = [], 0, 0
    for i, a in enumerate(stems):
        j = np.arange(i + 1, len(stems))
        bound = np.maximum(own[i], own[j])
        lower = (np.maximum(np.abs(means[j] - means[i]) - APART - 2, 0)
                 / (255.0 - APART)).mean(axis=(1, 2))
        shape = np.abs(ratio[j] - ratio[i]) <= 0.02 * ratio[i]
        for k in j[shape]:
            b = stems[k]
            same = scene[a] == scene[b]
            declared += same
            if lower[k - i - 1] > bound[k - i - 1]:
                continue
            d = apart(grey(data, a), grey(data, b))
            if d > bound[k - i - 1]:
                continue
            agree += same
            if not same:
                merges.append((a, b, d, own[i], own[k]))
                ra, rb = find(scene[a]), find(scene[b])
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    return {sc: find(sc) for sc in parent}, merges, (declared, agree)


def sessions(photo):
    """The pixel rule's map with each screen session's captures made one
    picture (the session's first capture, in sorted order, stands for
    it)."""
    out = dict(photo)
    for _, ends in SESSIONS:
        members = sorted({photo[sc] for sc in photo
                          if any(sc.endswith(e) for e in ends)})
        if len(members) < 2:
            continue
        for sc, p in photo.items():
            if p in members:
                out[sc] = members[0]
    return out


def differ(data, a, b):
    """Share of pixels more than APART grey levels apart between two files
    (the larger brought to the smaller's size)."""
    with Image.open(os.path.join(data, a)) as x, \
            Image.open(os.path.join(data, b)) as y:
        return apart(x.convert("L"), y.convert("L"))


def false_by_photo(groups, meta, data, photo, tool):
    """A tool's false pairs (as the packages declare photographs) by pair
    of sources, largest first, each with the share of pixels its two
    originals differ in and each one's own q40 share; '=' marks a pair
    that the pixel rule counts as one photograph."""
    by = {}
    for members in groups:
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                if meta[a][0] != meta[b][0]:
                    k = tuple(sorted((meta[a][1], meta[b][1])))
                    by[k] = by.get(k, 0) + 1
    if not by:
        return
    print("%s false pairs by pair of sources (%d pairs of sources; share "
          "of pixels > %d levels apart: the two originals | each one and "
          "its q40 copy):" % (tool, len(by), APART))
    for (a, b), c in sorted(by.items(), key=lambda kv: -kv[1]):
        oa, ob = a + "__orig.jpg", b + "__orig.jpg"
        print("  %5d %s %s (%s) / %s (%s): %.4f | %.4f %.4f" % (
            c, "=" if photo[meta[oa][0]] == photo[meta[ob][0]] else " ",
            a, meta[oa][0], b, meta[ob][0], differ(data, oa, ob),
            differ(data, oa, a + "__q40.jpg"),
            differ(data, ob, b + "__q40.jpg")))


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
        t0 = time.perf_counter()
        meta = build_corpus(photos, data)
        t1 = time.perf_counter()
        photo, merges, (declared, agree) = same_picture(meta, data)
        t2 = time.perf_counter()
        raw = {v[0]: v[0] for v in meta.values()}
        print("%d source files, %d photographs as their packages declare "
              "them (copies, sizes, frames), %d edits each: %d files "
              "(%.0f s to make)" % (len(photos), len(raw), len(EDITS),
                                    len(meta), t1 - t0))
        print("pixel rule (%d grey levels; %.1f s): %d pairs of sources "
              "that packages declare one picture have one shape, the rule "
              "finds %d of them; %d pairs of other sources merged, %d "
              "photographs left" % (APART, t2 - t1, declared, agree,
                                    len(merges), len(set(photo.values()))))
        for a, b, d, qa, qb in merges:
            print("  one photograph: %s (%s) / %s (%s): %.4f of the pixels "
                  "apart, own q40 copies %.4f / %.4f" % (
                      a, meta[a + "__orig.jpg"][0], b,
                      meta[b + "__orig.jpg"][0], d, qa, qb))
        pixel = photo
        photo = sessions(pixel)
        neg_raw, neg_px = pairs_of(meta, raw), pairs_of(meta, pixel)
        neg = pairs_of(meta, photo)
        print("screen sessions: %d captures made one picture with another"
              % (len(set(pixel.values())) - len(set(photo.values()))))
        print("pairs of different photographs: %d as declared, %d after "
              "the pixel rule, %d after the screen sessions too" % (
                  neg_raw, neg_px, neg))
        sys.stdout.flush()
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
        res = [(name, score(g, meta, photo), score(g, meta)[1], dt,
                score(g, meta, pixel)[1]) for name, (g, dt) in tools]
        print("%-12s" % "edit" + "".join("%16s" % r[0] for r in res))
        for e in EDITS:
            print("%-12s" % e + "".join("%16.3f" % r[1][0][e] for r in res))
        print("%-12s" % "lowest" + "".join(
            "%16.3f" % min(r[1][0].values()) for r in res))
        print("%-12s" % "mean" + "".join(
            "%16.3f" % (sum(r[1][0].values()) / len(EDITS)) for r in res))
        print("%-12s" % "false raw" + "".join("%16d" % r[2] for r in res))
        print("%-12s" % "rate raw" + "".join(
            "%16.2e" % (r[2] / neg_raw) for r in res))
        print("%-12s" % "false pixel" + "".join("%16d" % r[4] for r in res))
        print("%-12s" % "rate pixel" + "".join(
            "%16.2e" % (r[4] / neg_px) for r in res))
        print("%-12s" % "false pairs" + "".join(
            "%16d" % r[1][1] for r in res))
        print("%-12s" % "rate" + "".join(
            "%16.2e" % (r[1][1] / neg) for r in res))
        print("%-12s" % "wall s" + "".join("%16.1f" % r[3] for r in res))
        print("(recall and 'false pairs' count the pixel rule's merged "
              "sources and each screen session as one photograph; 'pixel' "
              "the pixel rule's alone; 'raw' each file as declared)")
        false_by_photo(tools[0][1][0], meta, data, photo, tools[0][0])
        print("pair check on a large group that fails it:")
        sys.stdout.flush()
        subprocess.run([os.path.join(build, "tests/bench_verify"),
                        "600" if small else "3000"], check=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
