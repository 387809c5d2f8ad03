#!/usr/bin/python3
"""Feature benchmarks; every figure is a ratio against a baseline measured in
the same run on the same files (warm page cache, best of 3 wall times).

  import with features (curate import: scan, hash, decode at the feature
  scale, features, store writes)  vs  benchtool decode: a bare TurboJPEG
  read+decode loop at the same scale on 2 threads (the decode limit)
  headers-only import (--no-hash --no-features)  vs  benchtool hdr: stat +
  16 KiB header read of the same files, single-threaded C

  and per other format (PNG, WebP, TIFF uncompressed and TIFF-LZW as
  OpenCV writes it, BMP, GIF; 640x480 pictures from
  mkimg, M files each): import with features  vs  benchtool decodeany, the
  format's own library in a bare read+decode loop on 2 threads at the same
  scale (PNG, TIFF, GIF, BMP full size; WebP scaled in the decoder like
  the import; TIFF strips decoded as stored, the import's own path for
  8-bit RGB); headers-only import  vs  stat + 16 KiB header read (N hard
  links to the pictures)

  An info row per format times the same import with --no-features (scan,
  read, hash, store writes) against the same decode loop: for a format
  whose decode is a copy (uncompressed TIFF), it shows what the import
  costs beside the feature work, which is the same for every format.

  Each "import with features" row also gives, in its detail, the same
  ratio in CPU time (user + system of the processes, best of 3), which a
  shared machine's load disturbs less than the wall clock.  Per format,
  an info row times feature extraction alone (bench_imgfeat: the 64
  distinct pictures decoded once as the import decodes them, then
  imgfeat_compute() on one thread, CPU time) against that decode, and
  gives the verification thumbnail's time beside it.  The load average
  is printed before and after.

usage: bench_features.py BUILD_DIR [--small]   (--small: 1,000 JPEG files,
                                                 200 per other format)
"""
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import print_rows  # noqa: E402

build = sys.argv[1]
small = "--small" in sys.argv
N = 1000 if small else 10000
M = 200 if small else 2000
# (row label, mkimg variant) of each non-JPEG format.
# TIFF twice: uncompressed, and LZW with the horizontal predictor in 8 KiB
# strips, as OpenCV's imwrite writes a TIFF by default.
FORMATS = [("PNG", "png_rgb8"), ("WebP", "webp_lossy"),
           ("TIFF", "tiff_strip8"), ("TIFF-LZW", "tiff_lzw8"),
           ("BMP", "bmp_24"), ("GIF", "gif_single")]
BIN = {k: os.path.join(build, v) for k, v in {
    "curate": "tools/curate", "mkjpeg": "tests/mkjpeg",
    "mkimg": "tests/mkimg", "bench_imgfeat": "tests/bench_imgfeat",
    "benchtool": "tests/benchtool"}.items()}


def timed(cmd, reps=3, fresh=None, cpu=None):
    """Best wall time of reps runs; with cpu (a list), also appends the
    best CPU time (user + system of the child)."""
    best = bcpu = None
    for _ in range(reps):
        if fresh:
            shutil.rmtree(fresh, ignore_errors=True)
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        dt = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        dc = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        best = dt if best is None else min(best, dt)
        bcpu = dc if bcpu is None else min(bcpu, dc)
    if cpu is not None:
        cpu.append(bcpu)
    return best


def feat_row(label, seed):
    """Feature extraction alone against the decode, per image (info)."""
    out = subprocess.run([BIN["bench_imgfeat"], seed, "10"], check=True,
                         stdout=subprocess.PIPE, text=True).stdout.split()
    dec, feat, thumb = float(out[1]), float(out[3]), float(out[-2])
    return ("%s: features per image vs its decode (CPU)" % label,
            feat / dec, "(info)", "%.0f vs %.0f us, %s px; thumbnail %.0f us"
            % (feat, dec, out[7], thumb))


def format_rows(work, label, variant):
    """The two rows of one non-JPEG format, on M files."""
    seed = os.path.join(work, "seed-" + variant)
    subprocess.run([BIN["mkimg"], "-n", "64", "-W", "640", "-H", "480",
                    "-o", variant, seed], check=True,
                   stdout=subprocess.DEVNULL)
    srcs = sorted(os.path.join(seed, f) for f in os.listdir(seed))
    ext = os.path.splitext(srcs[0])[1]
    data = os.path.join(work, "data-" + variant)
    os.makedirs(os.path.join(data, "p000"))
    for i in range(M):
        shutil.copyfile(srcs[i % len(srcs)],
                        os.path.join(data, "p000", "im%07d%s" % (i, ext)))
    avg = sum(os.path.getsize(s) for s in srcs) / len(srcs)
    store = os.path.join(work, "store-" + variant)
    subprocess.run([BIN["benchtool"], "read", data], check=True,
                   stdout=subprocess.DEVNULL)
    cpu = []
    dec = timed([BIN["benchtool"], "decodeany", data, "2"], cpu=cpu)
    imp = timed([BIN["curate"], "import", "--store", store, data],
                fresh=store, cpu=cpu)
    # The same import without features: scan, read, hash and store writes
    # only.  Where the decode is a copy (uncompressed TIFF, BMP), this is
    # the part of the import the decode loop can be compared with; the
    # feature work (the info row below) is the same for every format.
    nof = timed([BIN["curate"], "import", "--no-features", "--store", store,
                 data], fresh=store)
    shutil.rmtree(data, ignore_errors=True)
    # Headers: N files as the JPEG row, hard links to the seeds (a header
    # pass of 2,000 files is too short to time against process start).
    os.makedirs(os.path.join(data, "p000"))
    for i in range(N):
        os.link(srcs[i % len(srcs)],
                os.path.join(data, "p000", "im%07d%s" % (i, ext)))
    hdr = timed([BIN["benchtool"], "hdr", data])
    hon = timed([BIN["curate"], "import", "--no-hash", "--no-features",
                 "--store", store, data], fresh=store)
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(store, ignore_errors=True)
    return [("%s: import with features vs decode loop (2 thr)" % label,
             dec / imp, ">= 0.85",
             "%d x %.0f KB: %.0f vs %.0f img/s; CPU %.2f" % (
                 M, avg / 1024, M / imp, M / dec, cpu[0] / cpu[1])),
            ("%s: import --no-features vs decode loop (2 thr)" % label,
             dec / nof, "(info)", "%.0f img/s" % (M / nof)),
            feat_row(label, seed),
            ("%s: import (headers only) vs stat+header read" % label,
             hdr / hon, ">= 0.8", "%d files: %.0f vs %.0f files/s" % (
                 N, N / hon, N / hdr))]


def main():
    work = tempfile.mkdtemp(prefix="curatefs-bench-feat-", dir="/var/tmp")
    rows = []
    print("load average at start: %.2f %.2f %.2f" % os.getloadavg())
    try:
        # ~640x480 photos of COCO size: 64 distinct, replicated to N files
        seed = os.path.join(work, "seed")
        subprocess.run([BIN["mkjpeg"], "-n", "64", "-q", "97", "-W", "640",
                        "-H", "480", seed], check=True)
        srcs = sorted(os.path.join(seed, f) for f in os.listdir(seed))
        data = os.path.join(work, "data")
        os.makedirs(os.path.join(data, "p000"))
        for i in range(N):
            shutil.copyfile(srcs[i % len(srcs)],
                            os.path.join(data, "p000", "im%07d.jpg" % i))
        avg = sum(os.path.getsize(s) for s in srcs) / len(srcs)
        store = os.path.join(work, "store")

        subprocess.run([BIN["benchtool"], "read", data], check=True,
                       stdout=subprocess.DEVNULL)   # warm the page cache
        cpu = []
        dec = timed([BIN["benchtool"], "decode", data, "2"], cpu=cpu)
        imp = timed([BIN["curate"], "import", "--store", store, data],
                    fresh=store, cpu=cpu)
        rows.append(("import with features vs decode loop (2 thr)",
                     dec / imp, ">= 0.85",
                     "%d x %.0f KB: %.0f vs %.0f img/s; CPU %.2f" % (
                         N, avg / 1024, N / imp, N / dec, cpu[0] / cpu[1])))
        rows.append(feat_row("JPEG", seed))
        hdr = timed([BIN["benchtool"], "hdr", data])
        hon = timed([BIN["curate"], "import", "--no-hash", "--no-features",
                     "--store", store, data], fresh=store)
        rows.append(("import (headers only) vs stat+header read", hdr / hon,
                     ">= 0.8", "%.0f vs %.0f files/s" % (N / hon, N / hdr)))
        again = timed([BIN["curate"], "import", "--store", store, data])
        rows.append(("re-import, nothing changed, vs stat+header", hdr / again,
                     "(info)", "%.0f files/s" % (N / again)))
        for label, variant in FORMATS:
            rows += format_rows(work, label, variant)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_rows(rows)
    print("load average at end: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
