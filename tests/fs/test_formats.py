#!/usr/bin/python3
"""fs suite, image formats: a corpus of every variant of JPEG, PNG, WebP,
TIFF, BMP and GIF (tests/gen/mkimg, written by each format's reference
library) imported with the right size, channels and orientation (checked
against Pillow, an independent reader), read back byte for byte through
samples/ with each format's own extension, tagged with mv, drawn in
views/dupes and the evaluation views (upright, as a viewer shows the
original, boxes turned with the picture; moved into a tag),
grouped across formats in views/near-duplicates, exported to
COCO, YOLO (own bytes and extension), VOC (JPEG, converted at quality 100)
and ImageNet (crops) and reloaded by torchvision, pushed to the test CVAT
server with the original bytes; a name that disagrees with the content is
imported by the content and reported.  Then a broken file per format and
kind (truncated, empty, wrong magic, decompression bomb, bad PNG CRC):
each reported with its reason and nothing else changes.  Then the import
hardening: a symbolic-link loop ends, FIFOs, sockets, device files,
dangling links and unreadable files (for a second, unprivileged user) are
counted and named by kind, and unmount stops a plain-folder import."""
import errno
import hashlib
import io
import json
import os
import re
import shutil
import socket
import stat
import struct
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "cvat"))
sys.path.insert(0, os.path.join(HERE, "..", "export"))
from fslib import (CURATE, CURATEFS, Mount, curate, eq, expect_errno,  # noqa: E402,E501
                   make_jpegs, read, run_suite, write)
import check_formats  # noqa: E402
import orient_cases  # noqa: E402

MKIMG = os.environ.get("MKIMG", "build/tests/mkimg")
EXPORT_HELPER = os.environ.get("EXPORT_HELPER", "build/tests/export_helper")
W, H = 160, 120
VAL = "jpeg_gray.jpg"   # the one sample of the `val` subset
EXT = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "tiff": ".tif",
       "bmp": ".bmp", "gif": ".gif"}


def corpus(dest, seed=1, extra=()):
    """Runs mkimg; returns {file: (format, w, h, orientation, channels)}."""
    p = subprocess.run([MKIMG, "-W", str(W), "-H", str(H), "-s", str(seed)]
                       + list(extra) + [dest], capture_output=True,
                       text=True, check=True)
    out = {}
    for line in p.stdout.splitlines():
        f, fmt, w, h, o, c = line.split()
        out[f] = (fmt, int(w), int(h), int(o), int(c))
    return out


def sha(b):
    return hashlib.sha256(b).hexdigest()


def pil_open(data):
    from PIL import Image
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def mad(a, b):
    """Mean absolute difference of two RGB Pillow images of one size."""
    if a.size != b.size:
        raise AssertionError("sizes %r != %r" % (a.size, b.size))
    pa, pb = a.convert("RGB").tobytes(), b.convert("RGB").tobytes()
    return sum(abs(x - y) for x, y in zip(pa, pb)) / len(pa)


def flat(im):
    """A Pillow image as the conversions draw it: alpha over white, 16-bit
    gray scaled to 8 bits (Pillow's own conversion clips it at 255)."""
    from PIL import Image
    if im.mode in ("RGBA", "LA", "PA") or \
            (im.mode == "P" and "transparency" in im.info):
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im.convert("RGBA"))
    if im.mode == "I;16" or im.mode == "I":
        im = im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    return im


def yolo_name(name):
    """The name of a picture in the YOLO export: its own, but a GIF's PNG
    (Ultralytics lists GIF among its video formats)."""
    stem, ext = os.path.splitext(name)
    return stem + (".png" if ext == ".gif" else ext)


def png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + \
        struct.pack(">I", zlib.crc32(t + d))


def broken_corpus(src, dest):
    """A broken file per format and kind; returns {file: words the report
    must contain}."""
    os.makedirs(dest)
    want = {}
    for f in sorted(os.listdir(src)):
        stem, ext = os.path.splitext(f)
        if stem not in ("jpeg_baseline", "png_rgb8", "webp_lossy",
                        "tiff_strip8", "bmp_24", "gif_single"):
            continue
        fmt = stem.split("_")[0]
        b = read(os.path.join(src, f))
        # truncated: the first half
        open(os.path.join(dest, fmt + "_truncated" + ext), "wb").write(
            b[:len(b) // 2])
        want[fmt + "_truncated" + ext] = "truncated"
        # zero bytes
        open(os.path.join(dest, fmt + "_empty" + ext), "wb").close()
        want[fmt + "_empty" + ext] = "empty file"
        # wrong magic: the right name, bytes of no known format
        open(os.path.join(dest, fmt + "_magic" + ext), "wb").write(
            b"\x00\x11junk" + b[6:])
        want[fmt + "_magic" + ext] = "unknown format"
        # decompression bomb: a huge declared size in a small file
        bomb = bytearray(b)
        if fmt == "jpeg":
            i = bomb.find(b"\xff\xc0")
            bomb[i + 5:i + 9] = struct.pack(">HH", 60000, 60000)
        elif fmt == "png":
            bomb[16:24] = struct.pack(">II", 100000, 100000)
            bomb[29:33] = struct.pack(">I", zlib.crc32(bytes(bomb[12:29])))
        elif fmt == "webp":
            # a VP8X container declaring a 100000 x 100000 canvas
            vp8 = bytes(b[12:])
            x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + \
                (99999).to_bytes(3, "little") + (99999).to_bytes(3, "little")
            body = b"WEBP" + x + vp8
            bomb = bytearray(b"RIFF" + struct.pack("<I", len(body)) + body)
        elif fmt == "tiff":
            le = bomb[:2] == b"II"
            e = "<" if le else ">"
            ifd = struct.unpack(e + "I", bomb[4:8])[0]
            n = struct.unpack(e + "H", bomb[ifd:ifd + 2])[0]
            for k in range(n):
                o = ifd + 2 + 12 * k
                tag, typ = struct.unpack(e + "HH", bomb[o:o + 4])
                if tag in (256, 257):
                    if typ == 3:
                        bomb[o + 8:o + 10] = struct.pack(e + "H", 65000)
                    else:
                        bomb[o + 8:o + 12] = struct.pack(e + "I", 100000)
        elif fmt == "bmp":
            bomb[18:26] = struct.pack("<ii", 100000, 100000)
        elif fmt == "gif":
            bomb[6:10] = struct.pack("<HH", 65535, 65535)
        open(os.path.join(dest, fmt + "_bomb" + ext), "wb").write(bomb)
        want[fmt + "_bomb" + ext] = "decompression bomb"
        if fmt == "png":
            bad = bytearray(b)
            bad[29] ^= 0xFF   # the IHDR chunk's CRC
            open(os.path.join(dest, "png_badcrc.png"), "wb").write(bad)
            want["png_badcrc.png"] = "bad CRC"
    return want


def body(ck, w):
    data = w.sub("data")
    man = corpus(data)
    # A name that disagrees with the content: PNG bytes named .jpg.
    os.makedirs(os.path.join(data, "odd"))
    shutil.copy(os.path.join(data, "png_rgb8.png"),
                os.path.join(data, "odd", "mislabeled.jpg"))
    # Another picture, the negative control of the near-duplicate group.
    make_jpegs(os.path.join(data, "other"), 1, seed=77,
               extra=["-W", str(W), "-H", str(H)])
    store = w.sub("store")
    mnt = w.sub("mnt")
    src_of = {}   # sample file name in the mount -> source path
    for f, (fmt, *_r) in man.items():
        src_of[os.path.splitext(f)[0] + EXT[fmt]] = os.path.join(data, f)
    src_of["odd__mislabeled.png"] = os.path.join(data, "odd",
                                                 "mislabeled.jpg")
    src_of["other__img_000000.jpg"] = os.path.join(data, "other",
                                                   "img_000000.jpg")

    def labels_of(name):
        """labels/<stem>.json of the sample file `name` (or stem), parsed."""
        return json.loads(read(os.path.join(
            mnt, "labels", os.path.splitext(name)[0] + ".json")))

    def corpus_samples():
        """(sample file name, manifest entry) of each mkimg file, by name."""
        for name in sorted(src_of):
            base = os.path.basename(src_of[name])
            if base in man:
                yield name, man[base]

    def t_corpus_vs_pillow():
        # The corpus is what it claims to be, by an independent reader.
        for f, (fmt, cw, chh, o, _c) in sorted(man.items()):
            im = pil_open(read(os.path.join(data, f)))
            eq(im.format.lower(), fmt, f + " format")
            # Pillow's libtiff path turns a TIFF to its orientation while
            # it loads, and reports the turned size.
            eq(im.size, (chh, cw) if fmt == "tiff" and o >= 5 else (cw, chh),
               f + " size")
            exif = im.getexif()
            eq(exif.get(0x0112, 1), o, f + " orientation")
    ck.run("the corpus: Pillow reads each variant as the manifest says",
           t_corpus_vs_pillow)

    def t_import():
        p = curate("import", "--store", store, data)
        n = len(man) + 2
        if "imported %d image files: %d new" % (n, n) not in p.stdout or \
                " 0 skipped" not in p.stdout:
            raise AssertionError("summary: %r %r" % (p.stdout, p.stderr))
        lines = [ln for ln in p.stderr.splitlines() if "mislabeled" in ln]
        if len(lines) != 1 or "named as JPEG but the content is PNG" \
                not in lines[0]:
            raise AssertionError("mismatch report: %r" % p.stderr)
        if "1 files imported by their content" not in p.stdout:
            raise AssertionError(p.stdout)
        if "with new features" not in p.stdout or \
                "%d with new features" % n not in p.stdout:
            raise AssertionError("features for every format: " + p.stdout)
    ck.run("import: every variant, the mislabeled file by its content",
           t_import)

    m = Mount(store, mnt).start()
    S = os.path.join(mnt, "samples")

    def t_samples():
        eq(sorted(os.listdir(S)), sorted(src_of), "samples/ names")
        for name, src in sorted(src_of.items()):
            a = read(src)
            p = os.path.join(S, name)
            eq(os.stat(p).st_size, len(a), "size of " + name)
            eq(sha(read(p)), sha(a), "bytes of " + name)
        # A sample is not reachable under another extension.
        if os.path.exists(os.path.join(S, "png_rgb8.jpg")):
            raise AssertionError("png_rgb8.jpg exists")
    ck.run("samples/<name>.<ext>: own extension, original bytes", t_samples)

    def t_sizes_orientation():
        # Sizes as stored, through labels/ (orientation is in the header
        # the import read: the manifest and Pillow agree on it above).
        for f, (fmt, cw, chh, o, c) in sorted(man.items()):
            stem = os.path.splitext(f)[0]
            doc = labels_of(stem)
            eq((doc["width"], doc["height"]), (cw, chh), stem + " size")
        # samples.csv names each sample's format and orientation.
        import csv
        rows = {r["name"]: r for r in csv.DictReader(io.StringIO(
            read(os.path.join(mnt, "samples.csv")).decode()))}
        for f, (fmt, cw, chh, o, c) in sorted(man.items()):
            stem = os.path.splitext(f)[0]
            want = "jpeg-progressive" if stem == "jpeg_progressive" else fmt
            eq(rows[stem]["format"], want, stem + " format in samples.csv")
            eq((int(rows[stem]["width"]), int(rows[stem]["height"])),
               (cw, chh), stem + " size in samples.csv")
            eq(int(rows[stem]["orientation"]), o,
               stem + " orientation in samples.csv (Pillow's, above)")
        eq(rows["odd__mislabeled"]["format"], "png", "mislabeled format")
    ck.run("each variant: the right size, format and orientation (labels/, "
           "samples.csv)",
           t_sizes_orientation)

    def t_tags():
        os.mkdir(os.path.join(mnt, "tags", "t"))
        for name in ("png_rgb8.png", "webp_lossless.webp", "tiff_tile16.tif",
                     "gif_animated.gif", "bmp_24.bmp"):
            os.rename(os.path.join(S, name),
                      os.path.join(mnt, "tags", "t", name))
            eq(sha(read(os.path.join(mnt, "tags", "t", name))),
               sha(read(src_of[name])), "tags/t/" + name)
            if name not in os.listdir(S):
                raise AssertionError("samples/ lost " + name)
        eq(len(os.listdir(os.path.join(mnt, "tags", "t"))), 5, "tagged")
        # Renaming to another extension is refused.
        try:
            os.rename(os.path.join(S, "jpeg_gray.jpg"),
                      os.path.join(mnt, "tags", "t", "jpeg_gray.png"))
            raise AssertionError("rename to another extension succeeded")
        except OSError:
            pass
    ck.run("mv samples/x.<ext> tags/t/ for every format", t_tags)

    def t_neardup():
        d = os.path.join(mnt, "views", "near-duplicates")
        files = os.listdir(d)
        group = {}
        for f in files:
            g, rest = f.split("-", 1)
            group[rest] = g
        for name in ("png_rgb8.png", "jpeg_baseline.jpg"):
            if name not in group:
                raise AssertionError("%s not in near-duplicates: %r" % (
                    name, files))
        eq(group["png_rgb8.png"], group["jpeg_baseline.jpg"],
           "PNG and its JPEG encoding in one group")
        for f in ("webp_lossy.webp", "tiff_strip16.tif", "bmp_24.bmp",
                  "png_rgb16.png", "jpeg_progressive.jpg"):
            eq(group.get(f), group["png_rgb8.png"], f + " in the group")
        if group.get("other__img_000000.jpg") == group["png_rgb8.png"]:
            raise AssertionError("another picture joined the group")
        # The view serves original bytes under the sample's extension.
        g = group["png_rgb8.png"]
        eq(sha(read(os.path.join(d, g + "-png_rgb8.png"))),
           sha(read(src_of["png_rgb8.png"])), "view bytes")
        os.rename(os.path.join(d, g + "-webp_lossy.webp"),
                  os.path.join(mnt, "tags", "t", "webp_lossy.webp"))
        if "webp_lossy.webp" not in os.listdir(os.path.join(mnt, "tags",
                                                            "t")):
            raise AssertionError("mv from the view did not tag")
    ck.run("near-duplicates across formats; mv from the view tags",
           t_neardup)

    DUPES = ("tiff_tile8", "png_palette", "webp_alpha", "gif_single",
             "bmp_32_topdown", "jpeg_cmyk")

    def t_dupes():
        drawn = {}
        for stem in DUPES:
            lab = os.path.join(mnt, "labels", stem + ".json")
            doc = json.loads(read(lab))
            doc["fields"]["ground_truth"] = [
                {"label": "cat", "bbox": [10, 10, 50, 40]},
                {"label": "cat", "bbox": [11, 11, 50, 40]}]
            write(lab, json.dumps(doc))
            drawn[stem] = doc
        d = os.path.join(mnt, "views", "dupes")
        eq(sorted(os.listdir(d)), sorted(s + ".jpg" for s in drawn),
           "views/dupes")
        for stem in drawn:
            b = read(os.path.join(d, stem + ".jpg"))
            im = pil_open(b)
            eq(im.format, "JPEG", stem + " drawn as JPEG")
            eq(im.size, (W, H), stem + " drawn size")
            eq(os.stat(os.path.join(d, stem + ".jpg")).st_size, len(b),
               "size at lookup")
    ck.run("views/dupes draws on any format (a JPEG named as today)",
           t_dupes)

    # Samples with a dog box and, at the evaluation, two predictions: a
    # cat on the dog (a mistake) and a confident dog elsewhere (possibly
    # missing).  The samples of t_dupes have ground truth and no
    # predictions (possibly spurious).  Orientation-carrying files of
    # every format among them: boxes are in the stored frame, and the
    # drawing is turned upright with them, as a viewer shows the original.
    EVAL = ("png_rgba16", "png_gray16", "tiff_orient6", "webp_lossless_alpha",
            "gif_interlaced", "bmp_8_palette", "png_orient6", "webp_orient8",
            "jpeg_orient6")
    GT_BOX, PRED_BOX = [20, 30, 40, 50], [100, 60, 40, 40]
    CAT_BOX = [26, 30, 40, 50]   # IoU 0.74 with GT_BOX, edges apart

    # How Pillow's ImageOps.exif_transpose turns each orientation for
    # viewing, and back.
    UPRIGHT = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM",
               5: "TRANSPOSE", 6: "ROTATE_270", 7: "TRANSVERSE",
               8: "ROTATE_90"}
    BACK = {**UPRIGHT, 6: "ROTATE_90", 8: "ROTATE_270"}

    def drawn_frame(stem, b):
        """Checks a drawn file: a JPEG of the original's upright size
        (width and height swapped for orientations 5..8) and no EXIF; turned
        back to the stored frame, the source's pixels away from the boxes,
        the ground truth's green edge and the prediction's magenta edge
        where the label says."""
        from PIL import Image
        im = pil_open(b)
        o = next(v[3] for f, v in man.items()
                 if os.path.splitext(f)[0] == stem)
        eq(im.format, "JPEG", stem + " drawn as JPEG")
        eq(im.size, (H, W) if o >= 5 else (W, H), stem + " drawn upright")
        eq(im.getexif().get(0x0112), None, stem + " drawn with no EXIF")
        if o in BACK:
            im = im.transpose(getattr(Image.Transpose, BACK[o]))
        src = pil_open(read(src_of[stem + EXT[man_fmt(stem)]]))
        if src.size != (W, H):   # Pillow turned the TIFF (6): turn it back
            src = src.transpose(Image.Transpose.ROTATE_90)
        if src.mode in ("RGBA", "LA", "PA", "P"):
            bg = Image.new("RGBA", src.size, (255, 255, 255, 255))
            src = Image.alpha_composite(bg, src.convert("RGBA"))
        if src.mode in ("I;16", "I"):
            src = src.convert("I").point(lambda v: v * (1 / 256)).convert(
                "L")
        rgb, ref = im.convert("RGB"), src.convert("RGB")
        # Away from both boxes and their captions: the picture itself
        # (blurred: the drawn JPEG's noise on a dithered GIF is 10 levels).
        from PIL import ImageFilter
        quiet = (65, 100, 95, 120)
        d = mad(rgb.filter(ImageFilter.BoxBlur(2)).crop(quiet),
                ref.filter(ImageFilter.BoxBlur(2)).crop(quiet))
        if d > 4.0:
            raise AssertionError("%s: drawn picture differs by %.2f away "
                                 "from the boxes" % (stem, d))

        def shift(x, y0, y1):
            """Colour the drawing added along column x (of x-1..x+1, the
            strongest): green minus magenta, averaged over the rows."""
            best = 0.0
            for xx in (x - 1, x, x + 1):
                d = [0.0, 0.0, 0.0]
                for y in range(y0, y1):
                    a, r = rgb.getpixel((xx, y)), ref.getpixel((xx, y))
                    for c in range(3):
                        d[c] += (a[c] - r[c]) / (y1 - y0)
                v = d[1] - (d[0] + d[2]) / 2
                best = v if abs(v) > abs(best) else best
            return best
        # The left or the right edge: drawn upright, a caption placed
        # below its box may cover one of them (a turned file's left edge
        # is a bottom edge in the upright picture).
        g = max(shift(x, GT_BOX[1] + 15, GT_BOX[1] + GT_BOX[3] - 5)
                for x in (GT_BOX[0], GT_BOX[0] + GT_BOX[2] - 1))
        if g < 25:
            raise AssertionError("%s: no green ground-truth edge at x=%d "
                                 "or %d (%.1f)" % (stem, GT_BOX[0], GT_BOX[0]
                                                   + GT_BOX[2] - 1, g))
        m = min(shift(x, PRED_BOX[1] + 15, PRED_BOX[1] + PRED_BOX[3] - 5)
                for x in (PRED_BOX[0], PRED_BOX[0] + PRED_BOX[2] - 1))
        if m > -25:
            raise AssertionError("%s: no magenta prediction edge at x=%d "
                                 "or %d (%.1f)" % (stem, PRED_BOX[0],
                                                   PRED_BOX[0] + PRED_BOX[2]
                                                   - 1, m))

    def man_fmt(stem):
        return next(v[0] for f, v in man.items()
                    if os.path.splitext(f)[0] == stem)

    def t_eval_views():
        for stem in EVAL:
            lab = os.path.join(mnt, "labels", stem + ".json")
            doc = json.loads(read(lab))
            doc["fields"]["ground_truth"] = [{"label": "dog",
                                              "bbox": GT_BOX}]
            doc["fields"]["predictions"] = [
                {"label": "cat", "bbox": CAT_BOX, "confidence": 0.9},
                {"label": "dog", "bbox": PRED_BOX, "confidence": 0.99}]
            write(lab, json.dumps(doc))
        write(os.path.join(mnt, "eval", "run"), "fmt\n")
        V = os.path.join(mnt, "views")
        shown = {}
        for view in ("mistakes", "possible-missing", "possible-spurious"):
            files = os.listdir(os.path.join(V, view))
            names = {f.split("-", 1)[1]: f for f in files}
            stems = DUPES if view == "possible-spurious" else EVAL
            eq(sorted(names), sorted(s + ".jpg" for s in stems), view)
            for stem in stems:
                p = os.path.join(V, view, names[stem + ".jpg"])
                b = read(p)
                eq(os.stat(p).st_size, len(b), "size at lookup of " + p)
                if view == "possible-spurious":
                    eq(pil_open(b).size, (W, H), p)
                else:
                    drawn_frame(stem, b)
            shown[view] = names
        # mv of a drawn file into a tag tags its sample, under the drawn
        # name or the sample's own name; the tag lists the sample.
        T = os.path.join(mnt, "tags", "drawn")
        os.mkdir(T)
        for i, stem in enumerate(EVAL):
            view = ("mistakes", "possible-missing")[i % 2]
            own, f = stem + EXT[man_fmt(stem)], shown[view][stem + ".jpg"]
            os.rename(os.path.join(V, view, f),
                      os.path.join(T, own if i % 3 else f))
            if shown[view][stem + ".jpg"] not in os.listdir(
                    os.path.join(V, view)):
                raise AssertionError("%s left %s" % (stem, view))
        for stem in ("png_palette", "gif_single"):   # from views/dupes
            os.rename(os.path.join(V, "dupes", stem + ".jpg"),
                      os.path.join(T, stem + ".jpg"))
        os.rename(os.path.join(V, "possible-spurious",
                               shown["possible-spurious"]["webp_alpha.jpg"]),
                  os.path.join(T, "webp_alpha.webp"))
        want = sorted(s + EXT[man_fmt(s)] for s in
                      EVAL + ("png_palette", "gif_single", "webp_alpha"))
        eq(sorted(os.listdir(T)), want, "tags/drawn")
        for name in want:
            eq(sha(read(os.path.join(T, name))), sha(read(src_of[name])),
               "tags/drawn/" + name)
        # Any other name is refused.
        import errno
        try:
            os.rename(os.path.join(V, "dupes", "bmp_32_topdown.jpg"),
                      os.path.join(T, "bmp_32_topdown.png"))
            raise AssertionError("rename to another name succeeded")
        except OSError as e:
            eq(e.errno, errno.EINVAL, "another name")
        if "bmp_32_topdown.bmp" in os.listdir(T):
            raise AssertionError("a refused mv tagged")
        # A VOC image converted from a PNG stands for its sample as an
        # exported JPEG does: mv tags the sample.
        os.rename(os.path.join(mnt, "export", "voc", "JPEGImages",
                               "png_rgb8.jpg"),
                  os.path.join(T, "png_rgb8.jpg"))
        if "png_rgb8.png" not in os.listdir(T):
            raise AssertionError("mv of a converted VOC file did not tag")
    ck.run("evaluation views draw on any format, upright; mv "
           "of drawn files (dupes, evaluation views) and of converted VOC "
           "images tags their samples", t_eval_views)

    def t_exports():
        # Every sample gets a box; one is in `val`, the others in `train`.
        os.mkdir(os.path.join(mnt, "tags", "train"))
        os.mkdir(os.path.join(mnt, "tags", "val"))
        for name in sorted(src_of):
            os.rename(os.path.join(S, name),
                      os.path.join(mnt, "tags",
                                   "val" if name == VAL else "train", name))
            stem = os.path.splitext(name)[0]
            lab = os.path.join(mnt, "labels", stem + ".json")
            doc = json.loads(read(lab))
            if not doc["fields"].get("ground_truth"):
                doc["fields"]["ground_truth"] = [
                    {"label": "dog", "bbox": [20, 30, 40, 50]}]
                write(lab, json.dumps(doc))
        X = os.path.join(mnt, "export")
        # Sizes are exact at lookup for every file of every tree.
        for fmt in ("coco", "yolo", "voc", "imagenet"):
            for dp, _dn, fn in os.walk(os.path.join(X, fmt)):
                for f in fn:
                    p = os.path.join(dp, f)
                    eq(os.stat(p).st_size, len(read(p)), "size of " + p)
        # COCO and YOLO: own bytes and extension; but YOLO's GIFs, which
        # Ultralytics takes for videos: a PNG of the first frame, exactly.
        train = sorted(n for n in src_of if n != VAL)
        for fmt, sub in (("coco", "images/train"), ("yolo", "images/train")):
            d = os.path.join(X, fmt, sub)
            eq(sorted(os.listdir(d)), sorted(yolo_name(n) if fmt == "yolo"
                                             else n for n in train),
               fmt + " images")
            for name in train:
                b = read(os.path.join(d, yolo_name(name) if fmt == "yolo"
                                      else name))
                if fmt == "coco" or not name.endswith(".gif"):
                    eq(sha(b), sha(read(src_of[name])),
                       fmt + " bytes of " + name)
                    continue
                pim = pil_open(b)
                eq(pim.format, "PNG", "YOLO image of " + name)
                # a GIF's frame has at most 256 colours: an indexed PNG
                # (or grey), not RGB at twice to three times the size
                if pim.mode not in ("P", "L"):
                    raise AssertionError("YOLO PNG of %s is %s" % (
                        name, pim.mode))
                d_ = mad(pim, flat(pil_open(read(src_of[name]))))
                if d_ != 0:
                    raise AssertionError("YOLO PNG of %s differs by %.3f" %
                                         (name, d_))
        if not any(n.endswith(".gif") for n in train):
            raise AssertionError("no GIF in the YOLO export's corpus")
        out = w.sub("xcopy")
        shutil.copytree(os.path.join(X, "coco"), os.path.join(out, "coco"))
        shutil.copytree(os.path.join(X, "yolo"), os.path.join(out, "yolo"))
        probs = check_formats.check_coco(os.path.join(out, "coco")) + \
            check_formats.check_yolo(os.path.join(out, "yolo"))
        if probs:
            raise AssertionError("; ".join(probs[:5]))
        coco = json.load(open(os.path.join(out, "coco", "annotations",
                                           "instances_train.json")))
        for im in coco["images"]:
            pim = pil_open(read(os.path.join(out, "coco", "images", "train",
                                             im["file_name"])))
            want = (im["width"], im["height"])
            if pim.format == "TIFF" and pim.getexif().get(0x0112, 1) >= 5:
                want = want[::-1]   # Pillow turns TIFFs as it loads them
            eq(pim.size, want, "COCO size of " + im["file_name"])
        # torchvision's COCO reader needs pycocotools (not in Debian 12);
        # its loader opens images/<subset>/<file_name> with Pillow: so
        # does this, for every image above.  YOLO: every image opens and
        # has a label file beside it (check_yolo).
        # VOC: JPEG bytes, converted at quality 100, loaded by torchvision.
        from torchvision.datasets import VOCDetection
        root = w.sub("vocroot")
        os.makedirs(os.path.join(root, "VOCdevkit"))
        shutil.copytree(os.path.join(X, "voc"),
                        os.path.join(root, "VOCdevkit", "VOC2012"))
        J = os.path.join(root, "VOCdevkit", "VOC2012", "JPEGImages")
        eq(sorted(os.listdir(J)),
           sorted(os.path.splitext(n)[0] + ".jpg" for n in src_of),
           "JPEGImages names")
        eq(pil_open(read(os.path.join(J, "jpeg_gray.jpg"))).format, "JPEG",
           "val image")
        for name, src in src_of.items():
            b = read(os.path.join(J, os.path.splitext(name)[0] + ".jpg"))
            if name.endswith(".jpg"):
                eq(sha(b), sha(read(src)), "VOC keeps JPEG bytes " + name)
                continue
            jim, sim = pil_open(b), flat(pil_open(read(src)))
            eq(jim.format, "JPEG", name + " converted")
            if sim.size != jim.size:   # Pillow turned an oriented TIFF
                eq(sim.size, jim.size[::-1], name + " turned size")
                continue
            d = mad(jim, sim)
            if d > 3.0:
                raise AssertionError("%s: converted JPEG differs by %.2f" %
                                     (name, d))
        v = VOCDetection(root, year="2012", image_set="trainval")
        eq(len(v), len(src_of), "VOCDetection images")
        for i in range(len(v)):
            img, t = v[i]
            a = t["annotation"]
            eq(img.size, (int(a["size"]["width"]), int(a["size"]["height"])),
               "VOC size " + a["filename"])
            if not a.get("object"):
                raise AssertionError("no boxes for " + a["filename"])
        # ImageNet: crops from every format.
        inet = os.path.join(X, "imagenet", "dog")
        crops = os.listdir(inet)
        stems = {c.rsplit("_", 1)[0] for c in crops}
        for name in src_of:
            stem = os.path.splitext(name)[0]
            if stem in ("tiff_tile8", "png_palette", "webp_alpha",
                        "gif_single", "bmp_32_topdown", "jpeg_cmyk"):
                continue   # these have cat boxes (t_dupes)
            if stem not in stems:
                raise AssertionError("no crop of " + name)
        turn = {os.path.splitext(n)[0]: m[3] for n, m in corpus_samples()}
        for c in crops:
            # Crops are drawn as a viewer shows the photo (export.frame
            # auto): turned by 90 degrees for EXIF orientations 5..8.
            eq(pil_open(read(os.path.join(inet, c))).size,
               (50, 40) if turn.get(c.rsplit("_", 1)[0], 1) >= 5
               else (40, 50), "crop size of " + c)
    ck.run("exports: COCO/YOLO own bytes, VOC JPEG (torchvision), "
           "ImageNet crops, exact sizes", t_exports)

    def attrs(p):
        return {a: os.getxattr(p, a).decode() for a in os.listxattr(p)}

    def t_export_xattrs():
        # Every image file of export/ has its sample's user.curatefs.*
        # attributes, those of samples/: an original JPEG, a converted
        # VOC image (from any other format), a COCO or YOLO copy.
        X = os.path.join(mnt, "export")
        for name in sorted(src_of):
            stem = os.path.splitext(name)[0]
            want = attrs(os.path.join(S, name))
            eq(want.get("user.curatefs.name"), stem, "samples/" + name)
            sub = "val" if name == VAL else "train"
            for p in (os.path.join(X, "voc", "JPEGImages", stem + ".jpg"),
                      os.path.join(X, "coco", "images", sub, name),
                      os.path.join(X, "yolo", "images", sub,
                                   yolo_name(name))):
                eq(attrs(p), want, "attributes of " + p)
        p = os.path.join(X, "voc", "JPEGImages", "png_rgb8.jpg")
        out = subprocess.run(["getfattr", "-d", "--absolute-names", p],
                             capture_output=True, text=True,
                             check=True).stdout
        if 'user.curatefs.format="png"' not in out:
            raise AssertionError("getfattr -d of a converted VOC image:\n"
                                 + out)
        # ImageNet crops show a box, not a sample: none.
        inet = os.path.join(X, "imagenet", "dog")
        eq(attrs(os.path.join(inet, sorted(os.listdir(inet))[0])), {},
           "attributes of a crop")
    ck.run("export images, converted VOC ones too, carry their sample's "
           "user.curatefs.* attributes", t_export_xattrs)

    def t_converted_versions():
        # A converted picture (a VOC JPEG, a YOLO PNG) depends on its
        # source file alone: a label edit of its sample leaves its inode,
        # so the kernel's pages and the cached conversion, while the
        # label file beside it shows the edit.
        X = os.path.join(mnt, "export")
        name = "gif_single.gif"
        sub = "val" if name == VAL else "train"
        conv = [os.path.join(X, "voc", "JPEGImages", "gif_single.jpg"),
                os.path.join(X, "yolo", "images", sub, "gif_single.png")]
        txt = os.path.join(X, "yolo", "labels", sub, "gif_single.txt")
        before = {p: (os.stat(p).st_ino, read(p)) for p in conv}
        rows = read(txt)
        lab = os.path.join(mnt, "labels", "gif_single.json")
        doc = json.loads(read(lab))
        doc["fields"]["ground_truth"].append({"label": "dog",
                                              "bbox": [1, 2, 3, 4]})
        write(lab, json.dumps(doc))
        if read(txt).count(b"\n") != rows.count(b"\n") + 1:
            raise AssertionError("the YOLO label file missed the edit")
        for p in conv:
            eq((os.stat(p).st_ino, read(p)), before[p],
               p + ": inode and bytes after a label edit")
    ck.run("converted export pictures (VOC JPEG, YOLO PNG) keep their "
           "inode and bytes across a label edit", t_converted_versions)

    def t_converted_sources():
        # A converted picture is made from its source as samples/ serves
        # it: a source replaced by a link out of the dataset folder is
        # refused (EACCES; the conversion read it before), a FIFO fails at
        # once (it hung a daemon thread); `curate export` of a tree whose
        # source vanished fails naming it, leaving no partial file (it
        # exited 0 with the tree cut short).
        d = w.sub("conv-src")
        ds, secret = os.path.join(d, "ds"), os.path.join(d, "secret")
        os.makedirs(ds)
        os.makedirs(secret)
        gif = os.path.join(data, "gif_single.gif")
        for n in ("x.gif", "f.gif", "g.gif"):
            shutil.copy(gif, os.path.join(ds, n))
        shutil.copy(os.path.join(data, "png_rgb8.png"),
                    os.path.join(ds, "y.png"))
        shutil.copy(gif, os.path.join(secret, "s.gif"))
        st2 = os.path.join(d, "store")
        curate("import", "--store", st2, ds)
        os.remove(os.path.join(ds, "x.gif"))
        os.symlink(os.path.join(secret, "s.gif"), os.path.join(ds, "x.gif"))
        os.remove(os.path.join(ds, "f.gif"))
        os.mkfifo(os.path.join(ds, "f.gif"))
        m2 = Mount(st2, os.path.join(d, "mnt")).start()
        try:
            X = os.path.join(m2.mnt, "export")
            for p in (os.path.join(X, "yolo", "images", "default", "x.png"),
                      os.path.join(X, "voc", "JPEGImages", "x.jpg")):
                expect_errno(errno.EACCES, read, p)
            for p in (os.path.join(X, "yolo", "images", "default", "f.png"),
                      os.path.join(X, "voc", "JPEGImages", "f.jpg")):
                # in a child: a hung FUSE request cannot be killed
                c = subprocess.Popen(["cat", p], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
                t0 = time.monotonic()
                while c.poll() is None and time.monotonic() - t0 < 10:
                    time.sleep(0.05)
                if c.returncode is None:
                    raise AssertionError(p + ": hangs on a FIFO source")
                if c.returncode == 0:
                    raise AssertionError(p + ": read from a FIFO source")
            eq(pil_open(read(os.path.join(X, "yolo", "images", "default",
                                          "g.png"))).format, "PNG",
               "an intact GIF's PNG beside them")
        finally:
            m2.umount()
        os.remove(os.path.join(ds, "x.gif"))
        os.remove(os.path.join(ds, "f.gif"))
        os.remove(os.path.join(ds, "y.png"))
        for fmt in ("coco", "voc", "yolo"):
            out = os.path.join(d, "out-" + fmt)
            p = curate("export", "--store", st2, "--format", fmt, out,
                       check=False)
            eq(p.returncode, 1, fmt + " export with sources gone")
            if not re.search(r"\b[xfy]\.(gif|png|jpg)\b", p.stderr):
                raise AssertionError("%s export: the reason names no "
                                     "source: %s" % (fmt, p.stderr))
            for dp, _dn, fn in os.walk(out):
                for f in fn:
                    if os.path.getsize(os.path.join(dp, f)) == 0 and \
                            f.endswith((".png", ".jpg", ".gif")):
                        raise AssertionError("%s export left an empty %s"
                                             % (fmt, f))
    ck.run("converted pictures read their sources as samples/ does (a link "
           "out of the folder refused, a FIFO at once); curate export fails "
           "on a missing source, no partial file", t_converted_sources)

    def turned_box(box, o, inverse=False):
        """A box [x1, y1, x2, y2] of a stored W x H frame in the frame
        Pillow's ImageOps.exif_transpose makes of it (as CVAT shows an
        image), or back with inverse: a mask turned by Pillow."""
        from PIL import Image, ImageOps
        size = (H, W) if inverse and o >= 5 else (W, H)
        im = Image.new("L", size, 0)
        im.paste(255, tuple(int(v) for v in box))
        if not inverse:
            im.getexif()[0x0112] = o
            return list(ImageOps.exif_transpose(im).getbbox())
        back = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270,
                2: Image.Transpose.FLIP_LEFT_RIGHT,
                3: Image.Transpose.ROTATE_180,
                4: Image.Transpose.FLIP_TOP_BOTTOM,
                5: Image.Transpose.TRANSPOSE,
                7: Image.Transpose.TRANSVERSE}
        return list(im.transpose(back[o]).getbbox()) if o in back else box

    def cvat_boxes_turned(srv, env, tid, imgs):
        # Each box as pushed: in the frame CVAT shows (Pillow's turn of
        # the stored frame), for the oriented files of every format.
        frame_of = {i["name"]: i["frame"] for i in imgs}
        shapes = srv.list_annotations(task_id=tid)["shapes"]
        by_frame = {}
        for sh in shapes:
            by_frame.setdefault(sh["frame"], []).append(sh)
        oriented = {n: o for n, o in (("jpeg_orient6.jpg", 6),
                                      ("png_orient6.png", 6),
                                      ("tiff_orient6.tif", 6),
                                      ("webp_orient8.webp", 8),
                                      ("png_rgb8.png", 1))}
        stored = [GT_BOX[0], GT_BOX[1], GT_BOX[0] + GT_BOX[2],
                  GT_BOX[1] + GT_BOX[3]]
        for name, o in oriented.items():
            sh = by_frame.get(frame_of[name], [])
            eq([s["points"] for s in sh], [turned_box(stored, o)],
               "box of %s in CVAT's frame (orientation %d)" % (name, o))
        # An annotator moves the box of each by 10 px right in what CVAT
        # shows; the pull brings it back to the stored frame, and every
        # other box is unchanged.
        for name, o in oriented.items():
            sh = by_frame[frame_of[name]][0]
            pts = [sh["points"][0] + 10, sh["points"][1],
                   sh["points"][2] + 10, sh["points"][3]]
            srv.edit_annotation("shapes", sh["id"], points=pts)
        before = {n: labels_of(n) for n in src_of}
        p = subprocess.run([CURATE, "cvat", "pull", "--store", store, "all"],
                           capture_output=True, text=True, env=env,
                           timeout=300)
        nbox = len(shapes)
        if p.returncode != 0 or "%d updated, 0 deleted, 0 added, %d " \
                "unchanged" % (len(oriented), nbox - len(oriented)) \
                not in p.stdout:
            raise AssertionError("pull: %s %s" % (p.stdout, p.stderr))
        for n in src_of:
            doc = labels_of(n)
            if n not in oriented:
                eq(doc["fields"], before[n]["fields"], "untouched " + n)
                continue
            o = oriented[n]
            shown = turned_box(stored, o)
            moved = turned_box([shown[0] + 10, shown[1], shown[2] + 10,
                                shown[3]], o, inverse=True)
            b = doc["fields"]["ground_truth"][0]["bbox"]
            eq([b[0], b[1], b[0] + b[2], b[1] + b[3]], moved,
               "pulled box of %s in the stored frame" % n)

    def t_cvat():
        import cvat_server
        pw = "fmt-pw-%d" % os.getpid()
        srv = cvat_server.CvatTestServer(password=pw).start()
        try:
            env = dict(os.environ, CVAT_URL=srv.url, CVAT_USERNAME="admin",
                       CVAT_PASSWORD=pw)
            p = subprocess.run([CURATE, "cvat", "push", "--store", store,
                                "--run", "all", "--wait"],
                               capture_output=True, text=True, env=env,
                               timeout=300)
            if p.returncode != 0:
                raise AssertionError("push: %s %s" % (p.stdout, p.stderr))
            tid = srv.snapshot()["tasks"][0]
            imgs = srv.task_images(tid)
            eq(sorted(i["name"] for i in imgs), sorted(src_of),
               "uploaded names")
            for i in imgs:
                eq(i["sha256"], sha(read(src_of[i["name"]])),
                   "uploaded bytes of " + i["name"])
                fmt, cw, chh, o, _c = man.get(
                    os.path.basename(src_of[i["name"]]),
                    ("", W, H, 1, 3))
                # CVAT reports a frame's size as displayed: Pillow's EXIF
                # orientation, for every format that carries it.
                want = (chh, cw) if o >= 5 else (cw, chh)
                eq((i["width"], i["height"]), want, "frame size " +
                   i["name"])
            cvat_boxes_turned(srv, env, tid, imgs)
        finally:
            srv.stop()
    ck.run("cvat push uploads the original bytes of every format; boxes "
           "follow the frames CVAT shows turned by EXIF orientation", t_cvat)

    def yolo_rows(path, vw, vh):
        """The boxes [x1, y1, x2, y2] of a YOLO label file, in pixels of a
        vw x vh picture, sorted."""
        out = []
        for ln in read(path).decode().splitlines():
            _c, cx, cy, bw, bh = (float(v) for v in ln.split())
            out.append([(cx - bw / 2) * vw, (cy - bh / 2) * vh,
                        (cx + bw / 2) * vw, (cy + bh / 2) * vh])
        return sorted(out)

    def near(a, b, what, tol=1e-3):
        if len(a) != len(b) or any(abs(x - y) > tol for p, q in zip(a, b)
                                   for x, y in zip(p, q)):
            raise AssertionError("%s: %r != %r" % (what, a, b))

    def t_yolo_view_frame():
        # Trainers read a YOLO tree's images turned by their EXIF
        # orientation (OpenCV's imread, which Ultralytics uses; Pillow
        # with exif_transpose; CVAT; datumaro), so its rows are relative
        # to the picture as a viewer shows it.  The reference is Pillow:
        # the size it shows the exported file at, and the stored box
        # painted on a mask and turned by exif_transpose.
        from PIL import ImageOps
        X = os.path.join(mnt, "export", "yolo")
        turned = 0
        for name, (fmt, cw, chh, o, _c) in corpus_samples():
            stem, sub = os.path.splitext(name)[0], \
                "val" if name == VAL else "train"
            im = pil_open(read(os.path.join(X, "images", sub,
                                            yolo_name(name))))
            # Pillow 9.4 turns a TIFF while loading it (and would turn it
            # again in exif_transpose, a bug fixed in Pillow 10.1).
            vw, vh = im.size if fmt == "tiff" else \
                ImageOps.exif_transpose(im).size
            eq((vw, vh), (chh, cw) if o >= 5 else (cw, chh),
               "size a viewer shows of " + name)
            doc = labels_of(stem)
            want = []
            for d in doc["fields"]["ground_truth"]:
                x, y, bw, bh = d["bbox"]
                if any(v != int(v) for v in d["bbox"]):
                    raise AssertionError("integer boxes expected: %r" % d)
                want.append(turned_box([x, y, x + bw, y + bh], o)
                            if o != 1 else [x, y, x + bw, y + bh])
            near(yolo_rows(os.path.join(X, "labels", sub, stem + ".txt"),
                           vw, vh), sorted(want),
                 "YOLO rows of %s (orientation %d)" % (name, o))
            turned += o != 1
        eq(turned >= 4, True, "oriented files checked (%d)" % turned)
        # Read back: import-labels of the tree, and the same rows with a
        # confidence as YOLO predictions, give the stored boxes again.
        tree = os.path.join(w.sub("yolo-back"), "yolo")
        shutil.copytree(X, tree)
        preds = w.sub("yolo-preds")
        os.makedirs(preds, exist_ok=True)
        for sub in os.listdir(os.path.join(tree, "labels")):
            for f in os.listdir(os.path.join(tree, "labels", sub)):
                rows = read(os.path.join(tree, "labels", sub, f)).decode()
                with open(os.path.join(preds, f), "w") as out:
                    out.write("".join(ln + " 0.9\n"
                                      for ln in rows.splitlines()))
        curate("import-labels", "--store", store, "--format", "yolo",
               "--field", "yolo_back", tree)
        curate("predictions", "--store", store, "--format", "yolo",
               "--names", os.path.join(tree, "data.yaml"), preds)
        # Through the mount: frame=stored takes the (turned) rows as
        # stored, so only the unturned samples come back; a bad frame is
        # refused and changes nothing.
        ip = os.path.join(mnt, "eval", "import-predictions")
        write(ip, "%s format=yolo names=%s field=pm_stored frame=stored"
              % (preds, os.path.join(tree, "data.yaml")))
        try:
            write(ip, "%s format=yolo names=%s field=pm_bad frame=sideways"
                  % (preds, os.path.join(tree, "data.yaml")))
            raise AssertionError("frame=sideways accepted")
        except OSError as e:
            eq(e.errno, errno.EINVAL, "import-predictions frame=sideways")
        for name, m in corpus_samples():
            doc = labels_of(name)
            gt = sorted([d["bbox"] for d in doc["fields"]["ground_truth"]])
            for field in ("yolo_back", "predictions"):
                near(sorted([d["bbox"] for d in doc["fields"][field]]), gt,
                     "%s of %s back in the stored frame" % (field, name))
            got = sorted([d["bbox"] for d in doc["fields"]["pm_stored"]])
            same = len(got) == len(gt) and all(
                abs(x - y) <= 1e-3 for p, q in zip(got, gt)
                for x, y in zip(p, q))
            eq(same, m[3] == 1, "frame=stored rows of %s (orientation %d) "
               "read as stored" % (name, m[3]))
            eq("pm_bad" in doc["fields"], False, "no pm_bad field")
    ck.run("YOLO rows are in the frame a viewer shows (EXIF orientation), "
           "and read back to the stored frame", t_yolo_view_frame)

    def t_export_frame():
        # export.frame: sizes, boxes and generated pixels of photos with an
        # EXIF orientation as a viewer shows them (viewer), as stored
        # (stored), or each format's usual reader (auto).  The reference
        # is Pillow's exif_transpose (what CVAT, detectron2 and mmdetection
        # load), and the stored box painted on a mask and turned by it.
        from PIL import ImageOps
        X = os.path.join(mnt, "export")
        cfg = os.path.join(mnt, "config")
        oriented = {n: m for n, m in corpus_samples()
                    if m[3] != 1 and n != VAL}
        eq(len(oriented) >= 4, True, "oriented files (%d)" % len(oriented))

        def gt(name):
            return [[b[0], b[1], b[0] + b[2], b[1] + b[3]] for b in
                    (d["bbox"] for d in
                     labels_of(name)["fields"]["ground_truth"])]

        def shown(name, fmt, b):
            # Pillow 9.4 turns a TIFF while it loads it (and again in
            # exif_transpose, a bug fixed in 10.1).
            im = pil_open(b)
            return im if fmt == "tiff" else ImageOps.exif_transpose(im)

        def coco_of():
            doc = json.loads(read(os.path.join(
                X, "coco", "annotations", "instances_train.json")))
            ims = {i["id"]: i for i in doc["images"]}
            boxes = {}
            for a in doc["annotations"]:
                x, y, bw, bh = a["bbox"]
                boxes.setdefault(ims[a["image_id"]]["file_name"], []) \
                    .append([x, y, x + bw, y + bh])
            return {i["file_name"]: i for i in doc["images"]}, boxes

        try:
            write(cfg, "export.frame = viewer\n")
            images, boxes = coco_of()
            for name, (fmt, cw, chh, o, _c) in sorted(oriented.items()):
                size = (chh, cw) if o >= 5 else (cw, chh)
                im = images[name]
                eq((im["width"], im["height"]), size, "COCO size " + name)
                near(sorted(boxes[name]),
                     sorted(turned_box(b, o) for b in gt(name)),
                     "COCO boxes of %s, viewer frame" % name, 1e-9)
                stem = os.path.splitext(name)[0]
                xml = read(os.path.join(X, "voc", "Annotations",
                                        stem + ".xml")).decode()
                eq("<width>%d</width>\n    <height>%d</height>" % size
                   in xml, True, "VOC size of " + name)
                for b in gt(name):
                    t = [int(v) for v in turned_box(b, o)]
                    eq(("<xmin>%d</xmin>\n      <ymin>%d</ymin>\n      "
                        "<xmax>%d</xmax>\n      <ymax>%d</ymax>" % tuple(t))
                       in xml, True, "VOC box of %s: %r" % (name, t))
                jpg = read(os.path.join(X, "voc", "JPEGImages",
                                        stem + ".jpg"))
                if fmt == "jpeg":
                    eq(sha(jpg), sha(read(src_of[name])),
                       "VOC keeps the JPEG bytes of " + name)
                else:
                    # Converted: no EXIF, pixels drawn turned.
                    jim = pil_open(jpg)
                    eq(jim.getexif().get(0x0112, 1), 1, "no EXIF " + name)
                    ref = shown(name, fmt, read(src_of[name]))
                    d = mad(jim, ref.convert("RGB"))
                    if d > 3.0:
                        raise AssertionError("%s: turned JPEG differs by "
                                             "%.2f" % (name, d))
            # ImageNet crops: by default (auto) and with viewer, the box of
            # the picture a viewer shows; with stored, the stored pixels.
            checked = set()
            for frame in ("viewer", "auto", "stored"):
                write(cfg, "export.frame = %s\n" % frame)
                crops = os.listdir(os.path.join(X, "imagenet", "dog"))
                for name, (fmt, cw, chh, o, _c) in sorted(oriented.items()):
                    stem = os.path.splitext(name)[0]
                    mine = [c for c in crops if c.rsplit("_", 1)[0] == stem]
                    if len(mine) != 1 or len(gt(name)) != 1:
                        continue   # the crops of t_exports: one dog box
                    b = gt(name)[0]
                    checked.add(name)
                    src = read(src_of[name])
                    if frame == "stored":
                        # Pillow gives no stored pixels of an oriented
                        # TIFF: its size is checked, not its pixels.
                        ref = None if fmt == "tiff" else pil_open(src)
                        box = b
                    else:
                        ref = shown(name, fmt, src)
                        box = turned_box(b, o)
                    crop = pil_open(read(os.path.join(X, "imagenet", "dog",
                                                      mine[0])))
                    eq(crop.size, (box[2] - box[0], box[3] - box[1]),
                       "%s crop size of %s" % (frame, name))
                    if ref is not None:
                        d = mad(crop, ref.convert("RGB").crop(box))
                        if d > 4.0:
                            raise AssertionError("%s crop of %s differs by "
                                                 "%.2f" % (frame, name, d))
            eq(len(checked) >= 3, True, "oriented crops checked: %r"
               % sorted(checked))
            # stored: COCO as before; YOLO rows relative to the stored size.
            images, boxes = coco_of()
            for name, (fmt, cw, chh, o, _c) in sorted(oriented.items()):
                eq((images[name]["width"], images[name]["height"]),
                   (cw, chh), "COCO stored size " + name)
                near(sorted(boxes[name]), sorted(gt(name)),
                     "COCO stored boxes of " + name, 1e-9)
                stem = os.path.splitext(name)[0]
                near(yolo_rows(os.path.join(X, "yolo", "labels", "train",
                                            stem + ".txt"), cw, chh),
                     sorted(gt(name)), "YOLO stored rows of " + name)
            # curate export reads the setting, or --frame over it; both
            # give the mount's bytes.
            write(cfg, "export.frame = viewer\n")
            mounted = read(os.path.join(X, "coco", "annotations",
                                        "instances_train.json"))
            xd = w.sub("xframe")
            os.makedirs(xd, exist_ok=True)
            for args, frame in (([], "viewer"), (["--frame", "stored"],
                                                 "stored")):
                out = os.path.join(xd, frame)
                curate("export", "--store", store, "--format", "coco",
                       *args, out)
                got = read(os.path.join(out, "annotations",
                                        "instances_train.json"))
                if frame == "viewer":
                    eq(sha(got), sha(mounted), "curate export = mount")
                else:
                    eq(got != mounted, True, "--frame stored differs")
            p = subprocess.run([CURATE, "export", "--store", store,
                                "--format", "coco", "--frame", "sideways",
                                os.path.join(xd, "bad")],
                               capture_output=True, text=True)
            eq((p.returncode, "unknown frame 'sideways'" in p.stderr,
                os.path.exists(os.path.join(xd, "bad"))),
               (2, True, False), "--frame sideways: %r" % p.stderr)
            try:
                write(cfg, "export.frame = sideways\n")
                raise AssertionError("export.frame = sideways accepted")
            except OSError as e:
                eq(e.errno, errno.EINVAL, "export.frame = sideways")
        finally:
            write(cfg, "export.frame = auto\n")
    ck.run("export.frame: COCO, VOC (its converted JPEGs too), ImageNet "
           "crops and YOLO in the viewer's or the stored frame",
           t_export_frame)

    def t_coco_turned_frame():
        # A COCO file from a tool that shows pictures turned by their EXIF
        # orientation (CVAT, a browser) gives the turned size and boxes in
        # that frame; a file in the stored frame gives the stored size.
        # The import tells them apart by the size, where it can (5..8).
        oriented = {n: m for n, m in corpus_samples() if m[3] != 1}
        eq(len(oriented) >= 4, True, "oriented files (%d)" % len(oriented))
        stored = [10, 20, 40, 30]   # x1, y1, x2, y2 in the stored frame

        def doc(turned, real=False):
            images, anns = [], []
            for i, (name, (_f, cw, chh, o, _c)) in enumerate(
                    sorted(oriented.items())):
                b = turned_box(stored, o) if turned else stored
                size = (chh, cw) if turned and o >= 5 else (cw, chh)
                if real:   # as tools keeping sizes in floats write them
                    size = (float(size[0]), float(size[1]))
                images.append({"id": i + 1, "file_name": name,
                               "width": size[0], "height": size[1]})
                anns.append({"id": i + 1, "image_id": i + 1,
                             "category_id": 1, "iscrowd": 0,
                             "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                             "area": 1.0, "segmentation": []})
            return {"images": images, "annotations": anns,
                    "categories": [{"id": 1, "name": "dog"}]}
        d = w.sub("coco-frames")
        os.makedirs(d, exist_ok=True)
        for field, turned in (("coco_turned", True), ("coco_stored", False),
                              ("coco_turned_real", True)):
            path = os.path.join(d, field + ".json")
            with open(path, "w") as f:
                json.dump(doc(turned, field.endswith("_real")), f)
            p = curate("import-labels", "--store", store, "--format", "coco",
                       "--field", field, path)
            n = sum(1 for v in oriented.values() if v[3] >= 5)
            said = "%d samples read in the frame turned" % (n if turned else 0)
            eq(said in p.stdout, True,
               "count of the turned frame (%s): %r" % (field, p.stdout))
        # The folder import's --coco says the same.
        p = curate("import", "--store", store, "--coco",
                   os.path.join(d, "coco_turned.json"), "--field",
                   "coco_turned_i", data)
        eq("%d images read in the frame turned" % n in p.stdout, True,
           "import --coco: %r" % p.stdout)
        # COCO predictions follow the same rule through the ground
        # truth's images: a bare results list of the turned-frame boxes,
        # with coco_turned.json as --coco-gt, reads back like it.
        gt_turned = os.path.join(d, "coco_turned.json")
        with open(gt_turned) as f:
            anns = json.load(f)["annotations"]
        preds = os.path.join(d, "preds_turned.json")
        with open(preds, "w") as f:
            json.dump([{"image_id": a["image_id"], "category_id": 1,
                        "bbox": a["bbox"], "score": 0.9} for a in anns], f)
        p = curate("predictions", "--store", store, "--format", "coco",
                   "--field", "pred_turned", "--coco-gt", gt_turned,
                   "--json", preds)
        eq(json.loads(p.stdout)["turned"], n,
           "COCO predictions read in the turned frame: %r" % p.stdout)
        for name, (_f, cw, chh, o, _c) in sorted(oriented.items()):
            lab = labels_of(name)
            b = lab["fields"]["coco_stored"][0]["bbox"]
            eq([b[0], b[1], b[0] + b[2], b[1] + b[3]], stored,
               "%s: a stored-frame file read as given" % name)
            # 2..4 keep the size: such a file cannot be told from a
            # stored-frame one, and is read as given.
            want = stored if o >= 5 else turned_box(stored, o)
            for field in ("coco_turned", "coco_turned_real", "pred_turned"):
                b = lab["fields"][field][0]["bbox"]
                eq([b[0], b[1], b[0] + b[2], b[1] + b[3]], want,
                   "%s (orientation %d): turned-frame file (%s)"
                   % (name, o, field))
        # The same rule for VOC (<size>), as CVAT's "PASCAL VOC 1.1" gives
        # the turned size and boxes.
        for field, turned in (("voc_turned", True), ("voc_stored", False)):
            ann = os.path.join(d, field, "Annotations")
            os.makedirs(ann)
            for name, (_f, cw, chh, o, _c) in sorted(oriented.items()):
                b = turned_box(stored, o) if turned else stored
                size = (chh, cw) if turned and o >= 5 else (cw, chh)
                with open(os.path.join(ann, os.path.splitext(name)[0] +
                                       ".xml"), "w") as f:
                    f.write("<annotation><filename>%s</filename><size>"
                            "<width>%d</width><height>%d</height><depth>3"
                            "</depth></size><object><name>dog</name><bndbox>"
                            "<xmin>%d</xmin><ymin>%d</ymin><xmax>%d</xmax>"
                            "<ymax>%d</ymax></bndbox></object></annotation>"
                            % (name, size[0], size[1], *b))
            p = curate("import-labels", "--store", store, "--format", "voc",
                       "--field", field, "--json",
                       os.path.join(d, field))
            eq(json.loads(p.stdout)["turned"], n if turned else 0,
               "VOC files read in the turned frame (%s)" % field)
        for name, (_f, cw, chh, o, _c) in sorted(oriented.items()):
            lab = labels_of(name)
            for field, want in (("voc_stored", stored), (
                    "voc_turned",
                    stored if o >= 5 else turned_box(stored, o))):
                b = lab["fields"][field][0]["bbox"]
                eq([b[0], b[1], b[0] + b[2], b[1] + b[3]], want,
                   "%s (orientation %d): %s" % (name, o, field))
    ck.run("COCO and VOC imports and COCO predictions: a file giving the "
           "turned size (EXIF 5..8) is read in the turned frame",
           t_coco_turned_frame)
    def t_cvat_zip_view_frame():
        # CVAT shows each frame turned by its EXIF orientation and writes
        # its dataset exports in that frame: a frame's size as displayed,
        # boxes where the annotator drew them on the turned picture.  Zips
        # laid out as CVAT writes "PASCAL VOC 1.1" and "YOLO 1.1", built
        # from the ground truth turned by Pillow (turned_box), import back
        # to the stored boxes for every format's oriented files.
        import cvat_layouts
        items, labels, turned = [], set(), 0
        for name, (_f, cw, chh, o, _c) in corpus_samples():
            stem = os.path.splitext(name)[0]
            doc = labels_of(stem)
            boxes = []
            for d in doc["fields"]["ground_truth"]:
                x, y, bw, bh = d["bbox"]
                b = turned_box([x, y, x + bw, y + bh], o) if o != 1 \
                    else [x, y, x + bw, y + bh]
                boxes.append((d["label"], b[0], b[1], b[2] - b[0],
                              b[3] - b[1]))
                labels.add(d["label"])
            turned += o != 1 and bool(boxes)
            items.append((stem, chh if o >= 5 else cw,
                          cw if o >= 5 else chh, boxes))
        eq(turned >= 4, True, "oriented files with boxes (%d)" % turned)
        zdir = w.sub("cvat-zips")
        os.makedirs(zdir, exist_ok=True)
        for field, build, tol in (("cvat_voc", cvat_layouts.voc11, 1e-9),
                                  ("cvat_yolo", cvat_layouts.yolo11, 1e-3),
                                  ("cvat_coco", cvat_layouts.coco10, 1e-9)):
            z = build(os.path.join(zdir, field + ".zip"), items,
                      sorted(labels), *(
                          [{os.path.splitext(n)[0]: n for n in src_of}]
                          if field == "cvat_coco" else []))
            curate("import-labels", "--store", store, "--format",
                   "cvat-zip", "--field", field, z)
        # The same VOC files as a folder (as datumaro writes a VOC tree of
        # pictures it loaded turned): a <size> that is the turned size of
        # an orientation 5..8 picture says the boxes are turned.  Our own
        # VOC export (stored size, stored frame) reads back unturned.
        vdir = os.path.join(zdir, "voc-folder")
        shutil.unpack_archive(os.path.join(zdir, "cvat_voc.zip"), vdir)
        curate("import-labels", "--store", store, "--format", "voc",
               "--field", "voc_turned", vdir)
        own = os.path.join(zdir, "voc-own")
        shutil.copytree(os.path.join(mnt, "export", "voc"), own)
        curate("import-labels", "--store", store, "--format", "voc",
               "--field", "voc_own", own)
        for name, _m in corpus_samples():
            doc = labels_of(name)
            gt = sorted([d["bbox"] for d in doc["fields"]["ground_truth"]])
            for field, tol in (("cvat_voc", 1e-9), ("cvat_yolo", 1e-3),
                               ("cvat_coco", 1e-9), ("voc_turned", 1e-9),
                               ("voc_own", 0)):
                near(sorted([d["bbox"] for d in doc["fields"][field]]), gt,
                     "%s of %s in the stored frame" % (field, name), tol)
    ck.run("CVAT zips (PASCAL VOC 1.1, YOLO 1.1, COCO 1.0) in the frame "
           "CVAT shows, "
           "and VOC folders of turned sizes, import to the stored frame",
           t_cvat_zip_view_frame)

    m.umount()

    def t_broken():
        bdir = os.path.join(data, "broken")
        want = broken_corpus(data, bdir)
        before = curate("info", "--store", store).stdout
        t0 = time.time()
        p = curate("import", "--store", store, data)
        if time.time() - t0 > 60:
            raise AssertionError("import of the broken files took too long")
        for f, words in sorted(want.items()):
            lines = [ln for ln in p.stderr.splitlines()
                     if "broken/" + f + ":" in ln]
            if len(lines) != 1 or words not in lines[0]:
                raise AssertionError("%s: want one report with %r: %r" % (
                    f, words, lines))
        if "%d skipped" % len(want) not in p.stdout or "0 new" not in \
                p.stdout:
            raise AssertionError(p.stdout)
        if "skipped %d: bad or unreadable image" % len(want) not in p.stdout:
            raise AssertionError(p.stdout)
        eq(curate("info", "--store", store).stdout, before, "store info")
        m2 = Mount(store, mnt).start()
        try:
            eq(sorted(os.listdir(os.path.join(mnt, "samples"))),
               sorted(src_of), "samples after the broken files")
        finally:
            m2.umount()
        shutil.rmtree(bdir)
    ck.run("broken files per format: each reported, nothing else changes",
           t_broken)

    def t_damaged_data():
        # Damage past the header (a bad CRC inside a PNG's image data,
        # bytes changed in the middle of the others): the header pass
        # imports each file, the content pass names it with a note (not
        # a skipped file), and it has no features: it stays out of the
        # near-duplicate group its intact copy is in.
        d = w.sub("damaged")
        os.makedirs(d)
        damaged = ("png_rgb8.png", "png_interlaced.png", "webp_lossy.webp",
                   "tiff_gray8_lzw.tif", "gif_single.gif")
        for f in damaged:
            b = bytearray(read(os.path.join(data, f)))
            if f.endswith(".png"):
                b[b.index(b"IDAT") + 200] ^= 0xFF
            else:
                for k in range(len(b) // 2, len(b) // 2 + 40):
                    b[k] ^= 0x5A
            open(os.path.join(d, "bad_" + f), "wb").write(b)
        shutil.copy(os.path.join(data, "png_rgb8.png"),
                    os.path.join(d, "good_png.png"))
        shutil.copy(os.path.join(data, "jpeg_baseline.jpg"),
                    os.path.join(d, "good_jpg.jpg"))
        st = w.sub("damaged-store")
        p = curate("import", "--store", st, d)
        n = len(damaged) + 2
        if "imported %d image files: %d new" % (n, n) not in p.stdout or \
                " 0 skipped" not in p.stdout or \
                "2 with new features" not in p.stdout:
            raise AssertionError(p.stdout + p.stderr)
        for f in damaged:
            lines = [ln for ln in p.stderr.splitlines() if "bad_" + f in ln]
            eq(lines, ["note bad_%s: no features: the image data cannot "
                       "be decoded" % f], "report of bad_" + f)
        if "skipped" in p.stderr:
            raise AssertionError("a file reported as skipped: " + p.stderr)
        import csv
        rows = {r["name"]: r for r in csv.DictReader(io.StringIO(
            curate("table", "--store", st).stdout))}
        eq(len(rows), n, "samples")
        if not rows["good_png"]["neardup_group"]:
            raise AssertionError("the intact pair is in no group")
        eq(rows["good_png"]["neardup_group"],
           rows["good_jpg"]["neardup_group"], "the intact pair")
        for f in damaged:
            stem = "bad_" + os.path.splitext(f)[0]
            eq((int(rows[stem]["width"]), int(rows[stem]["height"])), (W, H),
               stem + " size from its header")
            eq(rows[stem]["neardup_group"], "", stem + " in no group")
    ck.run("data damaged past the header: imported by its header, a note "
           "naming it, no features", t_damaged_data)

    def t_walk_hardening():
        d = w.sub("odd")
        os.makedirs(os.path.join(d, "sub"))
        shutil.copy(os.path.join(data, "jpeg_baseline.jpg"),
                    os.path.join(d, "sub", "a.jpg"))
        shutil.copy(os.path.join(data, "png_rgb8.png"),
                    os.path.join(d, "b.png"))
        # Two links back up: the old walk went 2^64 paths deep.
        os.symlink(".", os.path.join(d, "sub", "loop1"))
        os.symlink("..", os.path.join(d, "sub", "loop2"))
        os.symlink("selfloop", os.path.join(d, "selfloop"))
        os.mkfifo(os.path.join(d, "pipe.jpg"))
        os.symlink("/dev/null", os.path.join(d, "devlink.png"))
        os.mknod(os.path.join(d, "chardev.jpg"), stat.S_IFCHR | 0o600,
                 os.makedev(1, 3))
        os.symlink("nowhere.jpg", os.path.join(d, "dangling.jpg"))
        s = socket.socket(socket.AF_UNIX)
        s.bind(os.path.join(d, "sock.jpg"))
        locked = os.path.join(d, "locked.jpg")
        shutil.copy(os.path.join(data, "jpeg_gray.jpg"), locked)
        os.chmod(locked, 0)
        os.makedirs(os.path.join(d, "closed"))
        shutil.copy(os.path.join(data, "bmp_24.bmp"),
                    os.path.join(d, "closed", "c.bmp"))
        os.chmod(os.path.join(d, "closed"), 0)
        st2 = w.sub("store2")
        os.makedirs(st2)
        # A second, unprivileged user, for whom `locked.jpg` and `closed/`
        # are unreadable (root reads everything).
        os.chmod(w.path, 0o755)
        os.chmod(d, 0o755)
        os.chown(st2, 65534, 65534)
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                            "--clear-groups", CURATE, "import", "--store",
                            st2, d], capture_output=True, text=True,
                           timeout=60)
        s.close()
        if p.returncode != 0:
            raise AssertionError("import failed: %s %s" % (p.stdout,
                                                           p.stderr))
        if "imported 3 image files: 2 new" not in p.stdout:
            raise AssertionError(p.stdout)
        for kind, n in (("FIFO (named pipe)", 1), ("socket", 1),
                        ("device file", 2), ("dangling symbolic link", 1),
                        ("unreadable", 2), ("directory already walked", 3)):
            line = [ln for ln in p.stdout.splitlines()
                    if ln.startswith("skipped %d: %s" % (n, kind))]
            if len(line) != 1:
                raise AssertionError("%s x%d: %r" % (kind, n, p.stdout))
        for path, words in (("pipe.jpg", "FIFO"), ("sock.jpg", "socket"),
                            ("chardev.jpg", "device file"),
                            ("devlink.png", "device file"),
                            ("dangling.jpg", "dangling symbolic link"),
                            ("locked.jpg", "unreadable"),
                            ("closed", "unreadable"),
                            ("sub/loop1", "already walked"),
                            ("sub/loop2", "already walked"),
                            ("selfloop", "symbolic-link loop")):
            line = [ln for ln in p.stderr.splitlines()
                    if ln.split(":")[0].endswith(path)]
            if len(line) != 1 or words not in line[0]:
                raise AssertionError("%s: %r in %r" % (path, words,
                                                       p.stderr))
        os.chmod(os.path.join(d, "closed"), 0o755)
    ck.run("walk: link loops end; FIFOs, sockets, devices, dangling links, "
           "unreadable entries counted and named", t_walk_hardening)

    def t_unmount_cancels():
        # A plain-folder mount importing a folder with link loops and
        # enough images to still be busy: unmount stops the import.
        d = w.sub("big")
        corpus(d, seed=3, extra=["-n", "40", "-o", "png_rgb16"])
        os.symlink(".", os.path.join(d, "a"))
        os.symlink(".", os.path.join(d, "b"))
        home = w.sub("home")
        os.makedirs(home)
        os.environ["CURATEFS_STORE_HOME"] = home
        try:
            fm = Mount(d, w.sub("mnt2")).start()
        finally:
            del os.environ["CURATEFS_STORE_HOME"]
        t0 = time.time()
        fm.umount()
        if time.time() - t0 > 20:
            raise AssertionError("unmount took %.1f s" % (time.time() - t0))
        fm.cleanup()
    ck.run("unmount stops a plain-folder import (with link loops)",
           t_unmount_cancels)

    def t_long_headers():
        # The import reads the first 4 KiB of a file for its header, then
        # on from there: JPEGs whose frame header lies past 4 KiB and past
        # 16 KiB (behind a long APP2 segment), and a PNG whose eXIf chunk
        # lies past 4 KiB (behind a long tEXt chunk): each imported whole,
        # with its size and features.
        d = w.sub("longhdr")
        os.makedirs(d)
        jpg = read(os.path.join(data, "jpeg_baseline.jpg"))
        for pad in (6000, 40000):
            seg = b"\xff\xe2" + struct.pack(">H", pad + 2) + b"\x00" * pad
            with open(os.path.join(d, "pad%d.jpg" % pad), "wb") as f:
                f.write(jpg[:2] + seg + jpg[2:])
        png = read(os.path.join(data, "png_orient6.png"))
        i = png.index(b"eXIf") - 4
        text = b"Comment\x00" + b"x" * 9000
        with open(os.path.join(d, "text.png"), "wb") as f:
            f.write(png[:i] + png_chunk(b"tEXt", text) + png[i:])
        st = w.sub("longhdr-store")
        p = curate("import", "--store", st, d)
        if "imported 3 image files: 3 new" not in p.stdout or \
                "3 with new features" not in p.stdout:
            raise AssertionError(p.stdout + p.stderr)
        import csv
        rows = {r["name"]: r for r in csv.DictReader(io.StringIO(
            curate("table", "--store", st).stdout))}
        for name in ("pad6000", "pad40000", "text"):
            eq((int(rows[name]["width"]), int(rows[name]["height"])),
               (W, H), name + " size")
    ck.run("headers longer than the first read: sizes right", t_long_headers)

    def t_orientation_as_viewer():
        # The features see each picture as a viewer shows it: a file of
        # any format with EXIF orientation 6 groups with a copy whose
        # pixels Pillow turned 90 degrees clockwise, orientation 8 with
        # the anticlockwise copy, and neither with the unturned picture.
        d = w.sub("orient")
        os.makedirs(d)
        for f in ("jpeg_orient6.jpg", "png_orient6.png", "tiff_orient6.tif",
                  "webp_orient8.webp", "png_rgb8.png", "jpeg_baseline.jpg"):
            shutil.copy(os.path.join(data, f), os.path.join(d, f))
        from PIL import Image
        im = pil_open(read(os.path.join(data, "png_rgb8.png")))
        im.transpose(Image.Transpose.ROTATE_270).save(
            os.path.join(d, "turned_cw.png"))
        im.transpose(Image.Transpose.ROTATE_90).save(
            os.path.join(d, "turned_ccw.png"))
        st = w.sub("orient-store")
        p = curate("import", "--store", st, d)
        if "imported 8 image files: 8 new" not in p.stdout:
            raise AssertionError(p.stdout + p.stderr)
        import csv
        rows = {r["name"]: r for r in csv.DictReader(io.StringIO(
            curate("table", "--store", st).stdout))}
        g = {n: r["neardup_group"] for n, r in rows.items()}
        for n in ("jpeg_orient6", "png_orient6", "tiff_orient6"):
            eq(g[n], g["turned_cw"], n + " groups with the clockwise copy")
            eq((int(rows[n]["width"]), int(rows[n]["height"])), (W, H),
               n + " stored size")
        eq(g["webp_orient8"], g["turned_ccw"],
           "webp_orient8 groups with the anticlockwise copy")
        eq(g["png_rgb8"], g["jpeg_baseline"], "the unturned pair")
        if len({g["turned_cw"], g["turned_ccw"], g["png_rgb8"]}) != 3 or \
                "" in (g["turned_cw"], g["turned_ccw"], g["png_rgb8"]):
            raise AssertionError("three distinct groups: %r" % g)
    ck.run("EXIF orientation applied as a viewer would, for every format "
           "that carries it", t_orientation_as_viewer)


    def t_orientation_edges():
        # Awkward EXIF Orientation entries (every TIFF type, no value, two
        # values, values past the end, two entries, 0, 9, 65535) in JPEG,
        # PNG (eXIf before and after the image data), WebP and TIFF, and
        # PNG eXIf layouts, and PNG orientation from raw EXIF profile and
        # XMP text chunks: what the import records must be what Pillow
        # turns the picture by after loading it (CVAT's frame).
        d = w.sub("orient-edges")
        os.makedirs(d)
        files = orient_cases.corpus()
        for f, b in files.items():
            with open(os.path.join(d, f), "wb") as fh:
                fh.write(b)
        st = w.sub("orient-edges-store")
        p = curate("import", "--no-hash", "--no-features", "--store", st, d)
        if "imported %d image files: %d new" % (len(files), len(files)) \
                not in p.stdout or " 0 skipped" not in p.stdout:
            raise AssertionError(p.stdout + p.stderr)
        ours = {}
        for ln in subprocess.run([EXPORT_HELPER, "samples", st, "all"],
                                 capture_output=True, text=True,
                                 check=True).stdout.splitlines():
            name, _fmt, sw, sh, o = ln.split("\t")
            ours[name] = (int(sw), int(sh), int(o))
        diff, turned = [], 0
        for f, b in sorted(files.items()):
            po, psize = orient_cases.pillow_orientation(b)
            sw, sh, o = ours[os.path.splitext(f)[0]]
            if (sw, sh) != (orient_cases.W, orient_cases.H):
                diff.append("%s: stored size %dx%d" % (f, sw, sh))
            shown = (sh, sw) if o >= 5 else (sw, sh)
            if (o, shown) != (po, psize):
                diff.append("%s: ours %d %r, Pillow %d %r" % (
                    f, o, shown, po, psize))
            turned += po != 1
        if diff:
            raise AssertionError("%d of %d differ from Pillow:\n  %s" % (
                len(diff), len(files), "\n  ".join(diff)))
        # Not a vacuous match: most cases do turn the picture, in each
        # format, and the PNG layouts land as Pillow says.
        if turned < len(files) // 2:
            raise AssertionError("only %d of %d turned" % (turned,
                                                           len(files)))
        for f, want in (("pl_short6", 6), ("pp_before6_after8", 8),
                        ("pp_before6_after_none", 1),
                        ("pp_two_after_6_8", 8), ("pp_after6_bad_crc", 6),
                        ("pp_after6_text_3k", 6), ("p_exif_prefixed6", 1),
                        ("pp_after6_20k_dates", 6),
                        ("pp_before6_after8_20k", 8),
                        ("w_exif_prefixed6", 6), ("j_short9", 1),
                        ("x_raw6_zTXt", 6), ("x_xmp5_iTXt", 5),
                        ("x_raw8_after_tEXt", 8), ("x_exifnone_xmp8", 8),
                        ("x_raw_bad_hex_xmp8", 1), ("x_exif6_raw8", 6),
                        ("x_xmp6_20k_after_dates", 6),
                        ("a_xmp6_between_frames", 6),
                        ("a_xmp6_before_iend", 1),
                        ("t_rational12_2", 6), ("j_bad_entry_before", 1)):
            eq(ours[f][2], want, f + " orientation")
    ck.run("EXIF orientation edge cases, PNG eXIf after the image data, PNG "
           "raw profiles and XMP: as Pillow turns each picture",
           t_orientation_edges)


run_suite("curatefs-formats-", body)
