"""Shared helpers of the export suite: a real dataset (mkjpeg JPEGs, a
seeded COCO file, `curate import`), tagging, label dumps, the tools."""
import json
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "..", "..", "build")
CURATE = os.environ.get("CURATE", os.path.join(BUILD, "tools", "curate"))
MKJPEG = os.environ.get("MKJPEG", os.path.join(BUILD, "tests", "mkjpeg"))
HELPER = os.environ.get("EXPORT_HELPER",
                        os.path.join(BUILD, "tests", "export_helper"))

W, H = 320, 240
CLASSES = {1: "person", 2: "car", 4: "traffic light", 7: "a/b%c"}

failures = 0
count = 0


def check(cond, what):
    global failures, count
    count += 1
    if cond:
        print("ok %d - %s" % (count, what))
    else:
        failures += 1
        print("not ok %d - %s" % (count, what))


def finish():
    print("%d checks, %d failed" % (count, failures))
    sys.exit(1 if failures else 0)


def run(*args, ok=True):
    p = subprocess.run([str(a) for a in args], capture_output=True)
    if ok and p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (
            " ".join(map(str, args)), p.returncode, p.stderr.decode()))
    return p


def curate(*args, ok=True):
    return run(CURATE, *args, ok=ok)


# A process's peak RSS counts the memory it had before exec(2), so curate
# is started from a small Python process, not from the test (which holds
# its documents): that one forks, execs curate and prints its rusage.
SPAWN = """import os, sys
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, ru = os.wait4(pid, 0)
print(ru.ru_maxrss, ru.ru_utime + ru.ru_stime)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def curate_peak(*args):
    """Runs curate: (exit code, stderr, peak RSS in bytes, CPU seconds).
    Under ASan the child's quarantine is capped at 8 MB, so its peak
    follows what the program holds."""
    env = dict(os.environ)
    asan = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + \
        "quarantine_size_mb=8"
    p = subprocess.run([sys.executable, "-c", SPAWN, CURATE] +
                       [str(a) for a in args], capture_output=True, env=env)
    rss, cpu = p.stdout.split()
    return (p.returncode, p.stderr.decode(), int(rss) * 1024, float(cpu))


def dump(store, field):
    """Every box of field in store, as export_helper dumps them (one dict
    each: sample, box [x, y, w, h], attributes, ...)."""
    out = run(HELPER, "dump", store, field).stdout.decode()
    return [json.loads(line) for line in out.splitlines()]


def with_orientation(jpeg, o):
    """The JPEG with an EXIF APP1 segment giving orientation o."""
    import struct
    ifd = struct.pack("<HHHII", 1, 0x0112, 3, 1, o) + struct.pack("<I", 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd
    body = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + \
        body + jpeg[2:]


def write(path, text):
    """Writes text to path, making its folder first."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def make_coco(names, seed=5):
    """A COCO file over the given relative paths: 2-decimal float boxes,
    gapped category ids, iscrowd, scores, areas other than w * h,
    attributes, 64-bit ids."""
    rnd = random.Random(seed)
    images, anns = [], []
    aid = 900100000257
    for i, rel in enumerate(names):
        iid = 40 + i * 3
        images.append({"id": iid, "file_name": rel, "width": W, "height": H})
        if i % 7 == 3:
            continue  # an image without boxes
        for _ in range(rnd.randint(1, 5)):
            w = round(rnd.uniform(1, 120), 2)
            h = round(rnd.uniform(1, 100), 2)
            x = round(rnd.uniform(0, W - w), 2)
            y = round(rnd.uniform(0, H - h), 2)
            a = {"id": aid, "image_id": iid,
                 "category_id": rnd.choice(list(CLASSES)),
                 "bbox": [x, y, w, h],
                 # some areas are a polygon's, below w * h
                 "area": w * h if rnd.random() < 0.7 else
                 round(w * h * rnd.uniform(0.3, 0.9), 3),
                 "iscrowd": 1 if rnd.random() < 0.15 else 0}
            if rnd.random() < 0.3:
                a["score"] = round(rnd.random(), 3)
            if rnd.random() < 0.4:
                a["occluded"] = rnd.random() < 0.5
                a["attributes"] = {"color": rnd.choice(["red", "blue"])}
            anns.append(a)
            aid += 1
    cats = [{"id": k, "name": v, "supercategory": "x"}
            for k, v in CLASSES.items()]
    return {"images": images, "annotations": anns, "categories": cats}


class Dataset:
    """photos/ (mkjpeg, in 3 sub-folders), store/, the COCO ground truth."""

    def __init__(self, n=24, tags=True):
        self.tmp = tempfile.TemporaryDirectory(prefix="curate-export-")
        self.dir = self.tmp.name
        self.photos = os.path.join(self.dir, "photos")
        self.store = os.path.join(self.dir, "store")
        run(MKJPEG, "-n", n, "-W", W, "-H", H, "-d", 3, "-s", 7, self.photos)
        rels = []
        for root, _, files in os.walk(self.photos):
            for f in files:
                rels.append(os.path.relpath(os.path.join(root, f),
                                            self.photos))
        self.rels = sorted(rels)
        self.coco = make_coco(self.rels)
        cj = os.path.join(self.dir, "gt.json")
        with open(cj, "w") as f:
            json.dump(self.coco, f)
        curate("import", "--store", self.store, "--coco", cj, self.photos)
        self.names = sorted(r[:-4].replace("/", "__") for r in self.rels)
        self.subset = {n: "default" for n in self.names}
        if tags:
            for tag, members in (("train", self.names[0:10]),
                                 ("val", self.names[10:16]),
                                 ("test", self.names[16:20])):
                run(HELPER, "tag", self.store, tag, *members)
                for m in members:
                    self.subset[m] = tag
            # a sample in two subset tags goes to the first (train)
            run(HELPER, "tag", self.store, "val", self.names[0])

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def dump(self, field="ground_truth"):
        out = run(HELPER, "dump", self.store, field).stdout.decode()
        return [json.loads(line) for line in out.splitlines()]

    def export(self, fmt, out, *extra):
        curate("export", "--store", self.store, "--format", fmt, *extra,
               out)
        return out

    def src_bytes(self, name):
        rel = [r for r in self.rels if r[:-4].replace("/", "__") == name][0]
        with open(os.path.join(self.photos, rel), "rb") as f:
            return f.read()


def jpeg_size(data):
    """(width, height) from a JPEG's SOF marker."""
    i = 2
    while i < len(data):
        if data[i] != 0xFF:
            raise ValueError("bad marker")
        m = data[i + 1]
        ln = int.from_bytes(data[i + 2:i + 4], "big")
        if m in (0xC0, 0xC1, 0xC2):
            return (int.from_bytes(data[i + 7:i + 9], "big"),
                    int.from_bytes(data[i + 5:i + 7], "big"))
        i += 2 + ln
    raise ValueError("no SOF")


def tree(root):
    out = []
    for r, _, files in os.walk(root):
        for f in files:
            out.append(os.path.relpath(os.path.join(r, f), root))
    return sorted(out)
