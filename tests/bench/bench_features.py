#!/usr/bin/python3
"""Feature benchmarks; every figure is a ratio against a baseline measured in
the same run on the same files (warm page cache, best of 3 wall times).

  import with features (curate import: scan, hash, decode at the feature
  scale, features, store writes)  vs  benchtool decode: a bare TurboJPEG
  read+decode loop at the same scale on 2 threads (the decode limit)
  headers-only import (--no-hash --no-features)  vs  benchtool hdr: stat +
  16 KiB header read of the same files, single-threaded C

usage: bench_features.py BUILD_DIR [--small]   (--small: 1,000 files)
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import print_rows  # noqa: E402

build = sys.argv[1]
small = "--small" in sys.argv
N = 1000 if small else 10000
BIN = {k: os.path.join(build, v) for k, v in {
    "curate": "tools/curate", "mkjpeg": "tests/mkjpeg",
    "benchtool": "tests/benchtool"}.items()}


def timed(cmd, reps=3, fresh=None):
    best = None
    for _ in range(reps):
        if fresh:
            shutil.rmtree(fresh, ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best


def main():
    work = tempfile.mkdtemp(prefix="curatefs-bench-feat-", dir="/var/tmp")
    rows = []
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
        dec = timed([BIN["benchtool"], "decode", data, "2"])
        imp = timed([BIN["curate"], "import", "--store", store, data],
                    fresh=store)
        rows.append(("import with features vs decode loop (2 thr)",
                     dec / imp, ">= 0.85",
                     "%d x %.0f KB: %.0f vs %.0f img/s" % (
                         N, avg / 1024, N / imp, N / dec)))
        hdr = timed([BIN["benchtool"], "hdr", data])
        hon = timed([BIN["curate"], "import", "--no-hash", "--no-features",
                     "--store", store, data], fresh=store)
        rows.append(("import (headers only) vs stat+header read", hdr / hon,
                     ">= 0.8", "%.0f vs %.0f files/s" % (N / hon, N / hdr)))
        again = timed([BIN["curate"], "import", "--store", store, data])
        rows.append(("re-import, nothing changed, vs stat+header", hdr / again,
                     "(info)", "%.0f files/s" % (N / again)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_rows(rows)


if __name__ == "__main__":
    main()
