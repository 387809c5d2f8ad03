#!/usr/bin/python3
"""Foundation benchmarks; every figure is a ratio against a baseline measured
in the same run on the same files.

  ls -l samples/ of 100,000 samples  vs  ls -l of a tmpfs folder of 100,000
  read all of 10,000 ~150 KB JPEGs through samples/  vs  from the source
  import (curate import)  vs  stat + header read of the same files
  daemon resident memory after ls -l of 100,000 samples
  samples.csv of 100,000 samples: first read (generated)  vs  Python's
    csv.writer writing the same rows from memory; later reads  vs  cat of
    a copy on tmpfs
  COCO labels of 100,000 samples (two boxes each): curate import --coco
    vs  the same import without --coco plus Python's json.load of the file
  curate table of 100,000 samples, 50,000 of them with embeddings: the
    views' lists read from the store's folder  vs  computed (info)

usage: bench_fs.py BUILD_DIR [--small]   (--small: 10x fewer files)
"""
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

build = sys.argv[1]
# fslib picks the daemon from CURATEFS when it is imported: the benchmark
# must time the release build it was given, never a debug build/ nearby.
os.environ["CURATEFS"] = os.path.join(build, "fs", "curatefs")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fs"))
from fslib import Mount  # noqa: E402

from benchlib import print_rows  # noqa: E402

small = "--small" in sys.argv
N_LS = 10000 if small else 100000
N_READ = 1000 if small else 10000
N_VIEWS = 10000 if small else 50000
BIN = {k: os.path.join(build, v) for k, v in {
    "curate": "tools/curate", "curatefs": "fs/curatefs",
    "mkjpeg": "tests/mkjpeg", "benchtool": "tests/benchtool"}.items()}


def timed(cmd, reps=3, **kw):
    best = None
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best


def replicate(src_dir, dst, n, per_dir=10000):
    srcs = sorted(os.path.join(src_dir, f) for f in os.listdir(src_dir))
    for i in range(n):
        d = os.path.join(dst, "p%03d" % (i // per_dir))
        if i % per_dir == 0:
            os.makedirs(d, exist_ok=True)
        shutil.copyfile(srcs[i % len(srcs)], os.path.join(d, "im%07d.jpg" % i))


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def rss_parts(pid, store):
    """What the daemon's RSS is made of, from /proc/PID/smaps: the store's
    map (clean pages of data.mdb, which the page cache holds whether the
    daemon maps them or not: the warm thread's pass over the store, and the
    kernel's fault-around, which maps a faulting page's cached neighbours
    of other tables too), anonymous memory, and the other files (the
    binary and its libraries)."""
    mdb = os.path.realpath(os.path.join(store, "data.mdb"))
    kb = {"map": 0, "anon": 0, "other": 0}
    path = ""
    for line in open("/proc/%d/smaps" % pid):
        f = line.split()
        if "-" in f[0] and not f[0].endswith(":"):
            path = f[5] if len(f) > 5 else ""
        elif f[0] == "Rss:":
            rss = int(f[1])
        elif f[0] == "Anonymous:":
            anon = int(f[1])
            kb["anon"] += anon
            kb["map" if path == mdb else "other"] += rss - anon
    return "store map %.1f, anonymous %.1f, other files %.1f MB" % (
        kb["map"] / 1024.0, kb["anon"] / 1024.0, kb["other"] / 1024.0)


def views_kept(st, work):
    """curate table with the lists of views/unique and near-duplicates
    kept in the store's folder by the run before, against the run that
    computes them (embeddings of 128 random floats for N_VIEWS samples,
    imported with curate embeddings)."""
    import numpy as np
    rows = subprocess.run([BIN["curate"], "table", "--store", st, "--format",
                           "jsonl"], check=True, capture_output=True,
                          text=True).stdout.splitlines()
    names = [json.loads(r)["name"] for r in rows[:N_VIEWS]]
    x = np.random.default_rng(5).normal(size=(len(names), 128))
    npy, nm = os.path.join(work, "emb.npy"), os.path.join(work, "emb.txt")
    np.save(npy, x.astype(np.float32))
    with open(nm, "w") as f:
        f.write("\n".join(names) + "\n")
    subprocess.run([BIN["curate"], "embeddings", "--store", st, "--npy", npy,
                    "--names", nm], check=True, stdout=subprocess.DEVNULL)
    table = [BIN["curate"], "table", "--store", st]
    computed = []
    for _ in range(2):
        for v in ("unique", "near-duplicates"):
            f = os.path.join(st, "views.%s.cache" % v)
            if os.path.exists(f):
                os.unlink(f)
        computed.append(timed(table, reps=1))
    kept = timed(table)
    subprocess.run([BIN["curate"], "embeddings", "--store", st, "--clear"],
                   check=True, stdout=subprocess.DEVNULL)
    return ("curate table: views kept vs computed", min(computed) / kept,
            "info", "%d rows, %d embeddings: %.2f s vs %.2f s" % (
                len(rows), len(names), kept, min(computed)))


def main():
    work = tempfile.mkdtemp(prefix="curatefs-bench-", dir="/var/tmp")
    tmpfs = tempfile.mkdtemp(prefix="curatefs-tmpfs-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2g", "tmpfs", tmpfs],
                   check=True)
    rows = []
    try:
        # --- data: ~150 KB COCO-sized photos, and small ones for listing
        subprocess.run([BIN["mkjpeg"], "-n", "64", "-q", "97", "-W", "640",
                        "-H", "480", os.path.join(work, "seed_big")],
                       check=True)
        subprocess.run([BIN["mkjpeg"], "-n", "64", "-W", "32", "-H", "32",
                        os.path.join(work, "seed_small")], check=True)
        big = os.path.join(work, "big")
        replicate(os.path.join(work, "seed_big"), big, N_READ)
        many = os.path.join(work, "many")
        replicate(os.path.join(work, "seed_small"), many, N_LS,
                  per_dir=N_LS)
        avg = sum(os.path.getsize(os.path.join(work, "seed_big", f))
                  for f in os.listdir(os.path.join(work, "seed_big"))) / 64

        # --- import vs stat + header read (warm page cache for both)
        timed([BIN["benchtool"], "hdr", big], reps=1)
        base = timed([BIN["benchtool"], "hdr", big])
        imps = []
        for i in range(3):
            st = os.path.join(work, "store_imp%d" % i)
            imps.append(timed([BIN["curate"], "import", "--no-hash",
                               "--no-features", "--store", st, big], reps=1))
        imp = min(imps)
        full = timed([BIN["curate"], "import", "--no-features", "--store",
                      os.path.join(work, "store_full"), big], reps=1)
        rows.append(("import rate (headers) vs stat+header read",
                     base / imp, ">= 0.8", "%d files: %.0f/s vs %.0f/s" % (
                         N_READ, N_READ / imp, N_READ / base)))
        rows.append(("import incl. content hash vs stat+header read",
                     base / full, "(info)", "%.0f files/s" % (N_READ / full)))

        # --- warm reads through samples/ vs the source folder
        mnt = os.path.join(work, "mnt_big")
        m = Mount(os.path.join(work, "store_full"), mnt).start()
        try:
            timed([BIN["benchtool"], "read", big], reps=1)
            timed([BIN["benchtool"], "read", os.path.join(mnt, "samples")],
                  reps=1)
            src = timed([BIN["benchtool"], "read", big])
            fus = timed([BIN["benchtool"], "read",
                         os.path.join(mnt, "samples")])
            rows.append(("warm read of every file: samples/ vs source",
                         src / fus, ">= 0.8", "%d x %.0f KB: %.0f vs %.0f "
                         "files/s" % (N_READ, avg / 1024, N_READ / fus,
                                      N_READ / src)))
            m.umount()
        finally:
            m.cleanup()
        # The same on a read-only mount: files open without a request.
        m = Mount(os.path.join(work, "store_full"), mnt,
                  opts=["-o", "readonly"]).start()
        try:
            timed([BIN["benchtool"], "read", os.path.join(mnt, "samples")],
                  reps=1)
            src = timed([BIN["benchtool"], "read", big])
            fus = timed([BIN["benchtool"], "read",
                         os.path.join(mnt, "samples")])
            rows.append(("  the same, mount -o readonly", src / fus,
                         ">= 0.8", "%.0f vs %.0f files/s" % (
                             N_READ / fus, N_READ / src)))
            m.umount()
        finally:
            m.cleanup()

        # --- ls -l of N_LS samples vs tmpfs
        st = os.path.join(work, "store_many")
        subprocess.run([BIN["curate"], "import", "--no-hash", "--no-features",
                        "--store", st, many], check=True, stdout=subprocess.DEVNULL)
        shutil.copytree(os.path.join(many, "p000"), os.path.join(tmpfs, "d"))
        # --- COCO labels for every sample: the store's side (read, match,
        # one transaction) against what any reader pays (the walk the
        # import makes anyway, and Python's parse of the file)
        coco = os.path.join(work, "many.json")
        with open(coco, "w") as f:
            json.dump({
                "images": [{"id": i + 1, "file_name": "p%03d/im%07d.jpg" % (
                    i // N_LS, i), "width": 32, "height": 32}
                    for i in range(N_LS)],
                "annotations": [{"id": 2 * i + k + 1, "image_id": i + 1,
                                 "category_id": 1 + (i + k) % 80,
                                 "bbox": [k * 8, 4, 12.5, 20], "area": 250,
                                 "iscrowd": 0}
                                for i in range(N_LS) for k in range(2)],
                "categories": [{"id": c, "name": "c%02d" % c}
                               for c in range(1, 81)]}, f)
        walk = timed([BIN["curate"], "import", "--no-hash", "--no-features",
                      "--store", st, many], reps=3)
        t0 = time.perf_counter()
        with open(coco) as f:
            json.load(f)
        parse = time.perf_counter() - t0
        lab = timed([BIN["curate"], "import", "--no-hash", "--no-features",
                     "--store", st, "--coco", coco, many], reps=1)
        rows.append(("COCO import vs walk + Python json.load",
                     (walk + parse) / lab, "info", "%d images, %d boxes, "
                     "%.0f MB: %.2f s vs %.2f + %.2f s" % (
                         N_LS, 2 * N_LS, os.path.getsize(coco) / 1e6, lab,
                         walk, parse)))
        rows.append(views_kept(st, work))
        mnt = os.path.join(work, "mnt_many")
        m = Mount(st, mnt).start()
        try:
            env = dict(os.environ, LC_ALL="C")
            cold = timed(["ls", "-l", os.path.join(mnt, "samples")], reps=1,
                         env=env)
            fus = timed(["ls", "-l", os.path.join(mnt, "samples")], env=env)
            tmp = timed(["ls", "-l", os.path.join(tmpfs, "d")], env=env)
            rows.append(("ls -l samples/ vs ls -l tmpfs (warm)", fus / tmp,
                         "<= 1.5", "%d entries: %.3f s vs %.3f s (first "
                         "listing %.3f s)" % (N_LS, fus, tmp, cold)))
            rows.append(("daemon RSS after ls -l (MB)",
                         rss_kb(m.proc.pid) / 1024.0, "<= 64",
                         rss_parts(m.proc.pid, st)))
            # --- samples.csv: generated at the first read, cached after
            csvp = os.path.join(mnt, "samples.csv")
            gen = timed(["cat", csvp], reps=1)
            copy = os.path.join(tmpfs, "samples.csv")
            shutil.copyfile(csvp, copy)
            warm = timed(["cat", csvp])
            cat = timed(["cat", copy])
            with open(copy, newline="") as f:
                table = list(csv.reader(f))
            t0 = time.perf_counter()
            out = io.StringIO()
            csv.writer(out).writerows(table)
            py = time.perf_counter() - t0
            # Info: the read also walks the store (tags, labels, views,
            # evaluation) where Python only formats rows held in memory.
            rows.append(("samples.csv first read vs Python csv.writer",
                         gen / py, "info", "%d rows: %.3f s vs %.3f s" % (
                             len(table) - 1, gen, py)))
            rows.append(("samples.csv later reads vs cat of a copy",
                         warm / cat, "<= 1.5", "%.4f s vs %.4f s, %d bytes"
                         % (warm, cat, os.path.getsize(copy))))
            m.umount()
        finally:
            m.cleanup()
    finally:
        subprocess.run(["umount", tmpfs])
        os.rmdir(tmpfs)
        shutil.rmtree(work, ignore_errors=True)
    print_rows(rows)


if __name__ == "__main__":
    main()
