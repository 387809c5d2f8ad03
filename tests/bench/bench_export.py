#!/usr/bin/python3
"""Export benchmark; every figure is a ratio against a baseline measured in
the same run on the same data.

  COCO JSON of 100,000 images and 1,000,000 boxes by export_generate
      vs Python's json.dump of the same structure (goal >= 10x faster)
      vs cat of a materialised copy of the same bytes (for reference)
  peak resident memory of the generator (goal <= 128 MB)
  through the mount (export/coco/annotations/instances_default.json),
  with kernel passthrough and again with -o nopassthrough for reference:
      first read after a change, prepared ahead (export.prewarm) vs cat of
      the copy (goal <= 3x)
      later reads vs cat, alternated (goal <= 1.2x)
      first read with preparation off, generated on demand, vs cat
      the daemon's peak resident memory (goal <= 128 MB)

usage: bench_export.py BUILD_DIR [--small]   (--small: 10x fewer)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

build = sys.argv[1]
small = "--small" in sys.argv
N_IMG = 10000 if small else 100000
N_BOX = 100000 if small else 1000000
BENCH = os.path.join(build, "tests", "bench_export")
CURATEFS = os.path.join(build, "fs", "curatefs")


def timed_cat(path, reps=1):
    best = None
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run(["cat", path], check=True, stdout=subprocess.DEVNULL)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best


def status_kb(pid, key):
    for line in open("/proc/%d/status" % pid):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def paired(a, b, reps=20):
    """Best times of cat a and cat b, run alternately so both see the same
    machine."""
    ta, tb = [], []
    for _ in range(reps):
        ta.append(timed_cat(a))
        tb.append(timed_cat(b))
    return min(ta), min(tb)


def mounted(store, copy, cat, opts=()):
    """Reads through a real mount of the same store; opts are extra mount
    options (the second run turns kernel passthrough off, for reference)."""
    mnt = os.path.join(tmp, "mnt")
    os.makedirs(mnt, exist_ok=True)
    log = open(os.path.join(tmp, "daemon.log"), "w")
    d = subprocess.Popen([CURATEFS, "-f"] + list(opts) + [store, mnt],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        t0 = time.time()
        while not os.path.ismount(mnt):
            if time.time() - t0 > 30 or d.poll() is not None:
                raise RuntimeError("mount failed")
            time.sleep(0.05)
        cfg = os.path.join(mnt, "config")
        with open(cfg, "w") as f:
            f.write("export.prewarm = false\n")
        p = os.path.join(mnt, "export", "coco", "annotations",
                         "instances_default.json")
        first = timed_cat(p)
        cat2, later = paired(copy, p)
        # A change, then the file is prepared ahead once the store settles.
        with open(cfg, "w") as f:
            f.write("export.prewarm = true\n")
        t0 = time.time()
        while "prepared export/coco" not in open(log.name).read():
            if time.time() - t0 > 120:
                raise RuntimeError("not prepared")
            time.sleep(0.1)
        warm = timed_cat(p)
        hwm = status_kb(d.pid, "VmHWM")
        pt = [ln for ln in open(os.path.join(mnt, "status"))
              if ln.startswith("kernel passthrough:")]
        print("through the mount (%s)%s, %s" % (
            os.path.relpath(p, mnt), " " + " ".join(opts) if opts else "",
            pt[0].strip() if pt else ""))
        print("  first read after a change, prepared ahead (export.prewarm) "
              "%.3f s: %.2fx cat (goal <= 3x)" % (warm, warm / cat))
        print("  later reads %.4f s vs cat %.4f s, alternated: %.2fx cat "
              "(goal <= 1.2x)" % (later, cat2, later / cat2))
        print("  first read with preparation off, generated on demand "
              "%.2f s: %.1fx cat (for reference)" % (first, first / cat))
        print("  daemon peak RSS %.1f MB (goal <= 128 MB)" % (hwm / 1024))
    finally:
        subprocess.run(["fusermount3", "-u", mnt])
        d.wait(timeout=60)
        log.close()


tmp = tempfile.mkdtemp(prefix="curate-bench-export-")
try:
    store = os.path.join(tmp, "store")
    out = os.path.join(tmp, "gen.json")
    t0 = time.perf_counter()
    subprocess.run([BENCH, "fill", store, str(N_IMG), str(N_BOX)], check=True)
    print("store of %d images, %d boxes built in %.1f s" %
          (N_IMG, N_BOX, time.perf_counter() - t0))

    best = None
    for _ in range(3):
        p = subprocess.run([BENCH, "coco", store, out], check=True,
                           capture_output=True, text=True)
        secs, size, hwm, anon, filekb = p.stdout.split()
        if best is None or float(secs) < best[0]:
            best = (float(secs), int(size), int(hwm), int(anon), int(filekb))
    gen, size, hwm, anon, filekb = best

    # Baseline 1: Python's json.dump of the same structure, to a file.
    with open(out) as f:
        doc = json.load(f)
    py_out = os.path.join(tmp, "py.json")
    t0 = time.perf_counter()
    with open(py_out, "w") as f:
        json.dump(doc, f)
    py = time.perf_counter() - t0
    del doc

    # Baseline 2: cat of a materialised copy of the same bytes (warm).
    copy = os.path.join(tmp, "copy.json")
    shutil.copyfile(out, copy)
    cat = None
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(["cat", copy], check=True, stdout=subprocess.DEVNULL)
        dt = time.perf_counter() - t0
        cat = dt if cat is None else min(cat, dt)

    print("COCO JSON %d images, %d boxes, %.1f MB: generate %.2f s" %
          (N_IMG, N_BOX, size / 1e6, gen))
    print("  vs Python json.dump %.2f s: %.1fx faster (goal >= 10x)" %
          (py, py / gen))
    print("  vs cat of the same bytes %.3f s: %.1fx the time of cat" %
          (cat, gen / cat))
    print("  generator peak RSS %.1f MB (goal <= 128 MB): %.1f MB anonymous,"
          " %.1f MB of mapped store pages at the end" %
          (hwm / 1024, anon / 1024, filekb / 1024))
    mounted(store, copy, cat)
    mounted(store, copy, cat, ["-o", "nopassthrough"])
finally:
    shutil.rmtree(tmp)
