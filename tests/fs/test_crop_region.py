#!/usr/bin/python3
"""fs suite, how a crop of export/imagenet is made at its first read:
from only the region of the source its photo's boxes need, and one decode
for all of them.

Two 8000 x 6000 photos (a whole decode is 144 MB of RGB), each with three
small boxes, near the top-left corner of one and the bottom-right corner
of the other (the rows before a region are skipped, not kept):
- the first read of a crop raises the daemon's peak resident size
  (VmHWM, reset through /proc/<pid>/clear_refs) by less than a quarter of
  a whole decode;
- it is one generation (a content cache miss); the photo's other crops
  are then hits, made from the same decode;
- every crop has its box's size and the pixels of Pillow's crop of the
  whole photo (mean difference within JPEG re-encoding)."""
import io
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (Mount, coco_store, eq, read, run_suite, write,  # noqa
                   write_coco_boxes)
from PIL import Image, ImageChops, ImageStat

W, H = 8000, 6000
WHOLE = W * H * 3


def boxes(i):
    if i == 0:
        return [("cat", [16, 16, 64, 48]), ("cat", [120, 40, 80, 60]),
                ("dog", [300, 8, 50, 90])]
    return [("cat", [W - 100, H - 70, 64, 48]),
            ("dog", [W - 400, H - 300, 80, 60]),
            ("dog", [W - 600, H - 120, 50, 90])]


def hwm(pid):
    text = open("/proc/%d/status" % pid).read()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1)) * 1024


def cache_reads(mnt):
    text = read(os.path.join(mnt, "status")).decode()
    m = re.search(r"generated content reads: (\d+) hits, (\d+) misses", text)
    if not m:
        raise AssertionError("status has no cache reads line:\n" + text)
    return int(m.group(1)), int(m.group(2))


def body(ck, w):
    def coco(path, names):
        write_coco_boxes(path, names, W, H, boxes)
    data, names, store = coco_store(w, 2, W, H, coco)
    mnt = w.sub("mnt")
    # No crop made ahead: the reads below make them.
    m = Mount(store, mnt).start()
    write(os.path.join(mnt, "config"), "export.prewarm = false\n")
    m.umount()
    m = Mount(store, mnt).start()
    top = os.path.join(mnt, "export", "imagenet")
    # The crops by name, not listed: a listing's sizes would make them
    # all (a generated file's size is its content's).  Box ids follow the
    # import order.
    eq(sorted(os.listdir(top)), ["cat", "dog"], "class folders")
    crops, bid = {}, 0
    for i, n in enumerate(names):
        for cls, _ in boxes(i):
            bid += 1
            crops.setdefault(n[:-4], []).append(
                os.path.join(top, cls, "%s_%d.jpg" % (n[:-4], bid)))

    for i, n in enumerate(names):
        stem = n[:-4]

        def t_region(i=i, n=n, stem=stem):
            pid = m.proc.pid
            with open("/proc/%d/clear_refs" % pid, "w") as f:
                f.write("5\n")   # reset VmHWM to the current size
            base = hwm(pid)
            h0, m0 = cache_reads(mnt)
            first = read(crops[stem][0])
            grew = hwm(pid) - base
            h1, m1 = cache_reads(mnt)
            print("# photo %d: peak grew %.1f MB for its first crop "
                  "(a whole decode is %.0f MB)" % (i, grew / 1e6,
                                                    WHOLE / 1e6))
            if grew > WHOLE // 4:
                raise AssertionError("the first crop raised the peak by "
                                     "%d bytes: the whole photo was "
                                     "decoded" % grew)
            eq(m1 - m0, 1, "generations for the first crop")
            rest = [read(p) for p in crops[stem][1:]]
            h2, m2 = cache_reads(mnt)
            eq(m2, m1, "generations for the photo's other crops")
            if h2 - h1 < len(rest):   # a lookup and an open may each hit
                raise AssertionError("%d hits for %d crops found made" %
                                     (h2 - h1, len(rest)))
            src = Image.open(os.path.join(data, n)).convert("RGB")
            got = [first] + rest
            want = {}
            for cls, (x, y, bw, bh) in boxes(i):
                want.setdefault((bw, bh), (x, y))
            for p, b in zip(crops[stem], got):
                im = Image.open(io.BytesIO(b)).convert("RGB")
                if im.size not in want:
                    raise AssertionError("%s: size %r, boxes %r" %
                                         (p, im.size, want))
                x, y = want[im.size]
                ref = src.crop((x, y, x + im.size[0], y + im.size[1]))
                diff = ImageStat.Stat(ImageChops.difference(im, ref)).mean
                if max(diff) > 4:
                    raise AssertionError("%s: mean difference %r from the "
                                         "photo's region" % (p, diff))
        ck.run("photo %d: its first crop decodes only its boxes' region, "
               "once for all of them" % i, t_region)
    m.umount()


run_suite("curatefs-cropregion-", body)
