#!/usr/bin/python3
"""fs suite, near duplicates as a user meets them through a mount.

Generated scenes (mkjpeg), each with edited copies made by Pillow the way
image editors make them: solid borders in black, white and a mid colour on
one, two and four sides, rotations of 2 and 3 degrees, crops of 5 and 8 %,
a text overlay, gamma 0.8 and 1.2, a warm colour cast and a grey copy,
plus pictures with no copy.  Checked, after a real import:
- views/near-duplicates holds exactly one group per scene, with every copy;
- samples.csv, `curate table --format jsonl` and the user.curatefs.*
  attributes of the view's files give each sample its group and its
  distance to the nearest other sample, consistent with the view (grouped
  exactly when the distance is within neardup.threshold), and pandas sorts
  and filters on them;
- views/unique lists one member of every group before any second member,
  also with 2 and 3 samples (where every score is 1) and with unique.count
  smaller than the number of samples;
- importing unrelated pictures beside the mount (new scenes with their
  copies, pictures alone) leaves every existing entry of
  views/near-duplicates exactly as it was (same group numbers, same
  members); the newcomers form their own groups.
"""
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
from PIL import Image, ImageDraw, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import MKJPEG, Mount, curate, eq, read, run_suite, write  # noqa

K = 4          # scenes with copies at the start
SINGLES = 2    # pictures with no copy
NEW_K = 2      # scenes with copies added later
NEW_SINGLES = 2
MID = (118, 132, 104)


def pad(im, frac, sides, colour):
    """sides: a string of t, b, l, r."""
    bx, by = round(im.width * frac), round(im.height * frac)
    left, right = bx * ("l" in sides), bx * ("r" in sides)
    top, bottom = by * ("t" in sides), by * ("b" in sides)
    out = Image.new("RGB", (im.width + left + right,
                            im.height + top + bottom), colour)
    out.paste(im, (left, top))
    return out


def caption(im):
    out = im.copy()
    d = ImageDraw.Draw(out)
    x, y = int(im.width * 0.45), int(im.height * 0.85)
    for i, s in enumerate(("(c) 2026 photo", "curatefs")):
        d.text((x + 1, y + 1 + 12 * i), s, fill=(0, 0, 0))
        d.text((x, y + 12 * i), s, fill=(255, 255, 255))
    return out


def gamma(im, g):
    return im.point([round(255 * (i / 255.0) ** g) for i in range(256)] * 3)


def cast(im, f):
    return Image.merge("RGB", [c.point(lambda v, k=k: min(255, round(v * k)))
                               for c, k in zip(im.split(), f)])


EDITS = {
    "padK4": lambda im: pad(im, 0.10, "tblr", (0, 0, 0)),
    "padW2": lambda im: pad(im, 0.15, "tb", (255, 255, 255)),
    "padM2": lambda im: pad(im, 0.12, "lr", MID),
    "padK1": lambda im: pad(im, 0.12, "b", (0, 0, 0)),
    "rot2e": lambda im: im.rotate(-2, Image.BILINEAR, expand=True,
                                  fillcolor=(255, 255, 255)),
    "rot3": lambda im: im.rotate(3, Image.BILINEAR),
    "crop5": lambda im: im.crop((im.width // 20, im.height // 20,
                                 im.width - im.width // 20,
                                 im.height - im.height // 20)),
    "crop8": lambda im: im.crop((0, 0, im.width * 92 // 100,
                                 im.height * 92 // 100)),
    "text": caption,
    "gam08": lambda im: gamma(im, 0.8),
    "gam12": lambda im: gamma(im, 1.2),
    "warm": lambda im: cast(im, (1.1, 1.0, 0.88)),
    "gray": lambda im: ImageOps.grayscale(im).convert("RGB"),
}


def texture(seed, w, h):
    """Value noise over four octaves (cells of 6 to 48 px), in [-1, 1]:
    the fine detail of a photograph (foliage, fabric, gravel)."""
    rng = np.random.default_rng(seed)
    t = np.zeros((h, w))
    for cell, amp in ((48, 0.4), (24, 0.3), (12, 0.2), (6, 0.1)):
        g = rng.uniform(-1, 1, (h // cell + 2, w // cell + 2))
        up = Image.fromarray(g.astype(np.float32), "F").resize(
            (g.shape[1] * cell, g.shape[0] * cell), Image.BILINEAR)
        t += amp * np.asarray(up)[:h, :w]
    return t


def scenes(w, first_seed, n, size=(480, 360)):
    """n distinct generated scenes as Pillow images: mkjpeg's gradients
    and blobs, each with its own texture (flat blobs alone make a cartoon,
    not a photograph: a grey copy of two blobs of equal luma, or a crop
    that cuts one of a handful of blobs, changes the picture itself)."""
    d = w.sub("gen-%d" % first_seed)
    subprocess.run([MKJPEG, "-n", str(n), "-s", str(first_seed), "-W",
                    str(size[0]), "-H", str(size[1]), "-q", "95", d],
                   check=True, stdout=subprocess.DEVNULL)
    out = []
    for i, f in enumerate(sorted(os.listdir(d))):
        with Image.open(os.path.join(d, f)) as im:
            a = np.asarray(im.convert("RGB"), dtype=np.float64)
        t = texture(first_seed + i, size[0], size[1])[:, :, None]
        out.append(Image.fromarray(np.clip(a * (1 + 0.35 * t), 0,
                                           255).astype(np.uint8)))
    shutil.rmtree(d)
    return out


def write_set(data, prefix, ims, ncopied):
    """<prefix>s<i>_orig.jpg and, for the first ncopied, every edit as
    <prefix>s<i>_<edit>.jpg; returns {stem: scene}."""
    scene_of = {}
    for i, im in enumerate(ims):
        sc = "%ss%d" % (prefix, i)
        im.save(os.path.join(data, sc + "_orig.jpg"), quality=90)
        scene_of[sc + "_orig"] = sc
        if i >= ncopied:
            continue
        for e, fn in EDITS.items():
            fn(im).save(os.path.join(data, "%s_%s.jpg" % (sc, e)),
                        quality=90)
            scene_of["%s_%s" % (sc, e)] = sc
    return scene_of


def entries(d):
    """{stem: group or rank} of a view listing '0003-stem.jpg'."""
    out = {}
    for e in os.listdir(d):
        pre, rest = e.split("-", 1)
        out[rest[:-4]] = int(pre)
    return out


def groups_of(listing):
    g = {}
    for stem, no in listing.items():
        g.setdefault(no, set()).add(stem)
    return g


def check_unique_tiers(U, group):
    """views/unique: no first member of a group (or sample in none) after
    a second member of any group."""
    names = sorted(os.listdir(U))
    seen, second = set(), None
    for e in names:
        stem = e.split("-", 1)[1][:-4]
        g = group.get(stem)
        if g is not None and g in seen:
            second = second or stem
        elif second is not None:
            raise AssertionError("%s (a first member) after %s (a second "
                                 "member)" % (stem, second))
        if g is not None:
            seen.add(g)
    return names


def body(ck, w):
    data = w.sub("data")
    os.makedirs(data)
    scene_of = write_set(data, "a", scenes(w, 5000, K + SINGLES), K)
    store = w.sub("store")
    p = curate("import", "--store", store, data)
    if "%d with new features" % len(scene_of) not in p.stdout:
        raise AssertionError(p.stdout)
    mnt = w.sub("mnt")
    m = Mount(store, mnt).start()
    ND = os.path.join(mnt, "views", "near-duplicates")
    U = os.path.join(mnt, "views", "unique")
    cfg = read(os.path.join(mnt, "config")).decode()
    thr = float(re.search(r"^neardup\.threshold\s*=\s*(\S+)", cfg,
                          re.M).group(1))

    def t_groups():
        nd = entries(ND)
        got = sorted(sorted(g) for g in groups_of(nd).values())
        want = {}
        for stem, sc in scene_of.items():
            want.setdefault(sc, set()).add(stem)
        want = sorted(sorted(g) for g in want.values() if len(g) > 1)
        if got != want:
            missing = [s for g in want for s in g if s not in nd]
            raise AssertionError("groups differ; not grouped: %r; got %r"
                                 % (missing, got))
    ck.run("near-duplicates: one group per scene with all %d edits "
           "(borders on 1/2/4 sides, rotations, crops, text, gamma, colour "
           "cast, grey)" % len(EDITS), t_groups)

    def t_numbers():
        nd = entries(ND)
        raw = read(os.path.join(mnt, "samples.csv")).decode()
        rows = {r["name"]: r for r in csv.DictReader(io.StringIO(
            raw, newline=""))}
        eq(sorted(rows), sorted(scene_of), "one row per sample")
        for stem, r in rows.items():
            d = float(r["nn_distance"])
            eq(r["neardup_group"], str(nd[stem]) if stem in nd else "",
               "neardup_group of " + stem)
            if (d <= thr) != (stem in nd):
                raise AssertionError("%s: nn_distance %r, threshold %r, "
                                     "grouped %s" % (stem, d, thr,
                                                     stem in nd))
        # The attributes of the view's files say the same.
        for e in os.listdir(ND):
            stem = e.split("-", 1)[1][:-4]
            p = os.path.join(ND, e)
            eq(os.getxattr(p, "user.curatefs.neardup_group").decode(),
               rows[stem]["neardup_group"], "xattr group of " + e)
            eq(os.getxattr(p, "user.curatefs.nn_distance").decode(),
               rows[stem]["nn_distance"], "xattr distance of " + e)
        # The JSON Lines of `curate table` (numbers as numbers).
        js = [json.loads(x) for x in curate(
            "table", "--store", store, "--format", "jsonl").stdout.split(
                "\n") if x]
        for o in js:
            r = rows[o["name"]]
            eq(o["neardup_group"], int(r["neardup_group"])
               if r["neardup_group"] else None, "jsonl group")
            eq(repr(float(o["nn_distance"])), repr(float(r["nn_distance"])),
               "jsonl distance")
        # Sorting and filtering in pandas.
        import pandas as pd
        df = pd.read_csv(os.path.join(mnt, "samples.csv"),
                         float_precision="round_trip")
        eq(sorted(df[df.nn_distance <= thr].name), sorted(nd),
           "filter nn_distance <= threshold = the grouped samples")
        far = df.sort_values("nn_distance", ascending=False).name.head(
            SINGLES).tolist()
        eq(sorted(far), sorted(s for s in scene_of if s not in nd),
           "the largest distances are the pictures with no copy")
        sizes = df.groupby("neardup_group").name.count()
        eq(sorted(sizes.tolist()), [len(EDITS) + 1] * K, "group sizes")
    ck.run("samples.csv, curate table and the attributes: group and "
           "nearest distance, as the view shows, sortable in pandas",
           t_numbers)

    def t_unique():
        nd = entries(ND)
        names = check_unique_tiers(U, nd)
        eq(len(names), len(scene_of), "every sample ranked")
        first = [n.split("-", 1)[1][:-4] for n in names[:K + SINGLES]]
        eq(sorted(scene_of[s] for s in first),
           sorted(set(scene_of.values())), "one per scene first")
        write(os.path.join(mnt, "config"), "unique.count = %d\n" %
              (K + SINGLES))
        kept = [n.split("-", 1)[1][:-4] for n in sorted(os.listdir(U))]
        eq(sorted(scene_of[s] for s in kept),
           sorted(set(scene_of.values())), "unique.count: one per scene")
        write(os.path.join(mnt, "config"), "unique.count = 0\n")
    ck.run("views/unique: one member of every group before any second",
           t_unique)

    def t_stable_when_added():
        before = entries(ND)
        rows_before = read(os.path.join(mnt, "samples.csv")).decode()
        added = write_set(data, "b", scenes(w, 9000, NEW_K + NEW_SINGLES),
                          NEW_K)
        curate("import", "--store", store, data)
        total = len(scene_of) + len(added)
        deadline = time.time() + 20
        while len(os.listdir(os.path.join(mnt, "samples"))) != total:
            if time.time() > deadline:
                raise AssertionError("the mount did not see the import")
            time.sleep(0.2)
        after = entries(ND)
        for stem, g in sorted(before.items()):
            eq(after.get(stem), g, "group number of " + stem)
        new = {s: g for s, g in after.items() if s not in before}
        for s in new:
            if s not in added:
                raise AssertionError("%s joined a group" % s)
        want = {}
        for stem, sc in added.items():
            want.setdefault(sc, set()).add(stem)
        eq(sorted(sorted(g) for g in groups_of(new).values()),
           sorted(sorted(g) for g in want.values() if len(g) > 1),
           "the newcomers' groups")
        # The old rows keep their group and nearest distance.
        old = {r["name"]: r for r in csv.DictReader(io.StringIO(
            rows_before, newline=""))}
        now = {r["name"]: r for r in csv.DictReader(io.StringIO(
            read(os.path.join(mnt, "samples.csv")).decode(), newline=""))}
        for n, r in old.items():
            eq(now[n]["neardup_group"], r["neardup_group"], "group of " + n)
            if r["neardup_group"]:
                eq(now[n]["nn_distance"], r["nn_distance"],
                   "distance of " + n)
        check_unique_tiers(U, after)
    ck.run("adding unrelated pictures leaves every existing group of "
           "views/near-duplicates exactly as it was", t_stable_when_added)
    m.umount()

    def t_small_sets():
        # A picture, its copy and another picture: every score is 1.
        small = w.sub("small")
        os.makedirs(small)
        a, b = scenes(w, 7000, 2)
        a.save(os.path.join(small, "p1.jpg"), quality=90)
        a.save(os.path.join(small, "p2.jpg"), quality=40)
        b.save(os.path.join(small, "p3.jpg"), quality=90)
        st = w.sub("store-small")
        curate("import", "--store", st, small)
        mnt2 = w.sub("mnt-small")
        m2 = Mount(st, mnt2).start()
        try:
            U2 = os.path.join(mnt2, "views", "unique")
            eq(sorted(os.listdir(os.path.join(mnt2, "views",
                                              "near-duplicates"))),
               ["0001-p1.jpg", "0001-p2.jpg"], "the pair")
            eq(sorted(os.listdir(U2)),
               ["0001-p1.jpg", "0002-p3.jpg", "0003-p2.jpg"],
               "3 samples: representatives first")
            write(os.path.join(mnt2, "config"), "unique.count = 2\n")
            eq(sorted(os.listdir(U2)), ["0001-p1.jpg", "0002-p3.jpg"],
               "unique.count = 2 of 3")
            write(os.path.join(mnt2, "config"), "unique.count = 1\n")
            eq(sorted(os.listdir(U2)), ["0001-p1.jpg"], "unique.count = 1")
            os.unlink(os.path.join(small, "p3.jpg"))
            curate("import", "--store", st, small)
            deadline = time.time() + 20
            while len(os.listdir(os.path.join(mnt2, "samples"))) != 2:
                if time.time() > deadline:
                    raise AssertionError("the mount did not see the import")
                time.sleep(0.2)
            eq(sorted(os.listdir(U2)), ["0001-p1.jpg"], "2 samples, count 1")
            write(os.path.join(mnt2, "config"), "unique.count = 0\n")
            eq(sorted(os.listdir(U2)), ["0001-p1.jpg", "0002-p2.jpg"],
               "2 samples")
        finally:
            m2.umount()
    ck.run("views/unique with 2 and 3 samples and a small unique.count",
           t_small_sets)


def main():
    run_suite("curatefs-ndviews-", body)


if __name__ == "__main__":
    main()
