#!/usr/bin/python3
"""Generated-file benchmark (export/imagenet crops, views/dupes drawn
images); every figure is a ratio against a baseline measured in the same
run on the same data.

  1,000 photos (640x480), 10,000 boxes, 10 classes; 500 photos carry a
  duplicate box, so views/dupes shows 500 drawn images.
  export/imagenet, through a default (read-write) mount, preparation
  ahead off:
      first pass (listing and reading every crop, one reader) vs the bare
      decode + crop + encode loop over the same boxes on 2 threads, one
      decode per box (goal >= 0.8x its speed); the same loop decoding each
      photo once (for reference)
      second and later passes vs `cat` of a copy, alternated (goal <= 1.3x)
      a torchvision ImageFolder epoch (2 workers, 64 px), second epoch,
      mount vs copy, best of three alternated rounds (goal <= 1.2x)
  views/dupes, drawn ahead after the import: second pass vs `cat` of a
  copy (goal <= 1.3x)
  the same later-pass, ImageFolder and views/dupes rows on a -o readonly
  mount (the mount for training jobs: no request per open, so it is the
  one that can reach page-cache speed; same goals)
  daemon peak RSS (for reference; the export goal is <= 128 MB)

usage: bench_generated.py BUILD_DIR [--small]   (--small: 10x fewer)
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import print_rows  # noqa: E402

build = sys.argv[1]
small = "--small" in sys.argv
N_IMG = 100 if small else 1000
PER = 10
W, H = 640, 480
CURATEFS = os.path.join(build, "fs", "curatefs")
CURATE = os.path.join(build, "tools", "curate")
MKJPEG = os.path.join(build, "tests", "mkjpeg")
BENCHTOOL = os.path.join(build, "tests", "benchtool")

EPOCH = r"""
import sys, time, torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms
torch.set_num_threads(1)
tf = transforms.Compose([transforms.Resize((64, 64)), transforms.ToTensor()])
roots = sys.argv[1:]
first, best, count = {}, {}, {}
# Three rounds, the order of mount and copy swapped each round, so a
# change of the machine's load in the middle weighs on both; each round
# runs two epochs per root and keeps the second.  The best second epoch
# of each root is reported, as the other rows report the best of three.
for rnd in range(3):
    for root in (roots if rnd % 2 == 0 else roots[::-1]):
        ds = datasets.ImageFolder(root, transform=tf)
        dl = DataLoader(ds, batch_size=64, num_workers=2)
        for epoch in range(2):
            t0 = time.perf_counter()
            n = 0
            for x, y in dl:
                n += len(y)
            t = time.perf_counter() - t0
            if rnd == 0 and epoch == 0:
                first[root] = t
            elif epoch == 1:
                best[root] = min(best.get(root, t), t)
        count[root] = n
print(" ".join("%d %.4f %.4f" % (count[r], first[r], best[r]) for r in roots))
"""


def all_files(top):
    out = []
    for c in sorted(os.listdir(top)):
        d = os.path.join(top, c)
        if os.path.isdir(d):
            out += [os.path.join(d, f) for f in sorted(os.listdir(d))]
        else:
            out.append(d)
    return out


def cat(files):
    t0 = time.perf_counter()
    for i in range(0, len(files), 2000):
        subprocess.run(["cat"] + files[i:i + 2000], check=True,
                       stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def paired(a, b, reps=5):
    """Best times of cat over file lists a and b, run alternately."""
    ta, tb = [], []
    for _ in range(reps):
        ta.append(cat(a))
        tb.append(cat(b))
    return min(ta), min(tb)


def status_kb(pid, key):
    for line in open("/proc/%d/status" % pid):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class Mounted:
    def __init__(self, store, mnt, opts=()):
        self.mnt = mnt
        os.makedirs(mnt, exist_ok=True)
        self.log = open(os.path.join(tmp, "daemon.log"), "a")
        self.d = subprocess.Popen([CURATEFS, "-f"] + list(opts) +
                                  [store, mnt], stdout=self.log,
                                  stderr=subprocess.STDOUT)
        t0 = time.time()
        while not os.path.ismount(mnt):
            if time.time() - t0 > 30 or self.d.poll() is not None:
                raise RuntimeError("mount failed")
            time.sleep(0.05)

    def status(self):
        return open(os.path.join(self.mnt, "status")).read()

    def close(self):
        subprocess.run(["fusermount3", "-u", self.mnt])
        self.d.wait(timeout=60)
        self.log.close()


def wait_prepared(m, want, timeout=600):
    """Waits until the content cache holds `want` files and stops
    growing."""
    t0 = time.time()
    last = -1
    while time.time() - t0 < timeout:
        for ln in m.status().splitlines():
            if ln.startswith("generated content cache:"):
                n = int(ln.split()[3])
        if n >= want and n == last:
            return
        last = n
        time.sleep(1)
    raise RuntimeError("not prepared")


tmp = tempfile.mkdtemp(prefix="curate-bench-generated-")
rows = []
try:
    rnd = random.Random(1)
    data = os.path.join(tmp, "data")
    subprocess.run([MKJPEG, "-n", str(N_IMG), "-W", str(W), "-H", str(H),
                    data], check=True, stdout=subprocess.DEVNULL)
    names = sorted(os.listdir(data))
    anns, boxes = [], []
    for i, n in enumerate(names):
        first = None
        for k in range(PER):
            bw, bh = rnd.randint(32, 224), rnd.randint(32, 224)
            x, y = rnd.randint(0, W - bw), rnd.randint(0, H - bh)
            cls = 1 + k
            if k == PER - 1 and i % 2 == 0:
                # A duplicate of the first box: views/dupes shows half of
                # the photos.
                x, y, bw, bh = first[0] + 1, first[1], first[2], first[3]
                cls = 1
            if k == 0:
                first = (x, y, bw, bh)
            anns.append({"id": len(anns) + 1, "image_id": i + 1,
                         "category_id": cls, "bbox": [x, y, bw, bh],
                         "iscrowd": 0})
            boxes.append("%s %d %d %d %d" % (os.path.join(data, n), x, y,
                                             x + bw, y + bh))
    coco = os.path.join(tmp, "coco.json")
    json.dump({"images": [{"id": i + 1, "file_name": n, "width": W,
                           "height": H} for i, n in enumerate(names)],
               "categories": [{"id": c, "name": "class%02d" % c}
                              for c in range(1, PER + 1)],
               "annotations": anns}, open(coco, "w"))
    store = os.path.join(tmp, "store")
    subprocess.run([CURATE, "import", "--store", store, "--coco", coco, data],
                   check=True, capture_output=True)
    blist = os.path.join(tmp, "boxes.txt")
    open(blist, "w").write("\n".join(boxes) + "\n")
    print("%d photos %dx%d, %d boxes; load before: %s" % (
        N_IMG, W, H, len(boxes), open("/proc/loadavg").read().strip()))

    def bare(*extra):
        t0 = time.perf_counter()
        subprocess.run([BENCHTOOL, "crop", blist, "2"] + list(extra),
                       check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t0

    mnt = os.path.join(tmp, "mnt")
    m = Mounted(store, mnt)
    with open(os.path.join(mnt, "config"), "w") as f:
        f.write("export.prewarm = false\n")
    top = os.path.join(mnt, "export", "imagenet")
    t0 = time.perf_counter()
    files = all_files(top)
    cat(files)
    first = time.perf_counter() - t0
    base = bare()
    once = bare("once")
    copy = os.path.join(tmp, "copy-imagenet")
    shutil.copytree(top, copy)
    cfiles = all_files(copy)
    if len(files) != len(boxes) or len(cfiles) != len(files):
        raise RuntimeError("%d crops listed for %d boxes" % (len(files),
                                                             len(boxes)))
    later, catc = paired(files, cfiles)
    rows.append(("default mount: imagenet first pass vs bare loop (2 thr)", base / first,
                 ">= 0.8", "mount %.2f s, loop %.2f s (speed ratio)" %
                 (first, base)))
    rows.append(("  bare loop decoding each photo once", once / first,
                 "info", "loop %.2f s" % once))
    rows.append(("default mount: imagenet later passes vs cat of a copy",
                 later / catc,
                 "<= 1.3", "mount %.3f s, cat %.3f s" % (later, catc)))
    p = subprocess.run(["/usr/bin/python3", "-c", EPOCH, top, copy],
                       check=True, capture_output=True, text=True)
    (nm, m1, m2, nc, c1, c2) = p.stdout.split()
    rows.append(("default mount: ImageFolder 2nd epoch vs copy",
                 float(m2) / float(c2),
                 "<= 1.2", "mount %s s (1st %s), copy %s s (1st %s), %s "
                 "images" % (m2, m1, c2, c1, nm)))
    dupes = os.path.join(mnt, "views", "dupes")
    wait_prepared(m, len(files) + N_IMG // 2)
    dfiles = all_files(dupes)
    cat(dfiles)
    dcopy = os.path.join(tmp, "copy-dupes")
    shutil.copytree(dupes, dcopy)
    dl, dc = paired(dfiles, all_files(dcopy))
    rows.append(("default mount: views/dupes (%d) later passes vs cat"
                 % len(dfiles),
                 dl / dc, "<= 1.3", "mount %.3f s, cat %.3f s" % (dl, dc)))
    hwm = status_kb(m.d.pid, "VmHWM")
    cache = [ln for ln in m.status().splitlines()
             if ln.startswith("generated content")]
    m.close()

    # The mount training jobs should use: the kernel opens files and keeps
    # names itself, so a warm pass reaches no daemon at all.
    m = Mounted(store, mnt, ["-o", "readonly"])
    files = all_files(top)
    cat(files)
    rl, rc = paired(files, cfiles)
    rows.append(("readonly mount: imagenet later passes vs cat of a copy",
                 rl / rc, "<= 1.3", "mount %.3f s, cat %.3f s" % (rl, rc)))
    p = subprocess.run(["/usr/bin/python3", "-c", EPOCH, top, copy],
                       check=True, capture_output=True, text=True)
    (nm, m1, m2, nc, c1, c2) = p.stdout.split()
    rows.append(("readonly mount: ImageFolder 2nd epoch vs copy",
                 float(m2) / float(c2), "<= 1.2",
                 "mount %s s (1st %s), copy %s s (1st %s), %s images"
                 % (m2, m1, c2, c1, nm)))
    dfiles = all_files(dupes)
    cat(dfiles)
    dl, dc = paired(dfiles, all_files(dcopy))
    rows.append(("readonly mount: views/dupes (%d) later passes vs cat"
                 % len(dfiles), dl / dc, "<= 1.3",
                 "mount %.3f s, cat %.3f s" % (dl, dc)))
    m.close()
    rows.append(("daemon peak RSS (MB)", hwm / 1024, "info", ""))
    print("\n".join(cache))
    print("load after: %s" % open("/proc/loadavg").read().strip())
    print_rows(rows)
finally:
    for d in (os.path.join(tmp, "mnt"),):
        if os.path.ismount(d):
            subprocess.run(["fusermount3", "-uz", d])
    shutil.rmtree(tmp, ignore_errors=True)
