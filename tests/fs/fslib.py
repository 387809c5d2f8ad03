"""fslib - helpers for the fs suite: make a dataset of real JPEG files,
import it, mount curatefs in the foreground, run checks, always unmount.

Each check prints "ok N - name" or "not ok N - name" with the reason; the
program exits 1 if any check failed.  Paths to the binaries come from the
environment that meson sets (CURATEFS, CURATE, MKJPEG).
"""
import collections
import contextlib
import ctypes
import errno
import json
import mmap
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

CURATEFS = os.environ.get("CURATEFS", "build/fs/curatefs")
CURATE = os.environ.get("CURATE", "build/tools/curate")
MKJPEG = os.environ.get("MKJPEG", "build/tests/mkjpeg")
PAGE = os.sysconf("SC_PAGE_SIZE")


# The start of a probe script (python3 -c) run as another user: t(name, fn)
# tries a gesture and records 0 or its errno's name in res, which the
# script prints as JSON at its end; wr and rd write and read a file.
PROBE_HEAD = r'''
import errno, json, os, sys
res = {}
def t(name, fn):
    try:
        fn()
        res[name] = 0
    except OSError as e:
        res[name] = errno.errorcode.get(e.errno, e.errno)
def wr(p, text):
    with open(p, "w") as f:
        f.write(text)
def rd(p):
    with open(p, "rb") as f:
        return f.read()
'''


@contextlib.contextmanager
def real_users(*names, groups=None, new_groups=()):
    """Creates the groups new_groups (groupadd), then real users (useradd,
    no home, no login shell; groups maps a name to the extra groups it
    joins, new ones included) and yields their pwd entries; removes the
    users and their own groups, then the new groups, whatever happens,
    newest first."""
    made, made_groups = [], []
    try:
        for g in new_groups:
            subprocess.run(["groupadd", g], check=True)
            made_groups.append(g)
        for name in names:
            extra = (groups or {}).get(name)
            subprocess.run(["useradd", "--no-create-home", "--shell",
                            "/bin/false"] +
                           (["-G", ",".join(extra)] if extra else []) +
                           [name], check=True)
            made.append(name)
        yield [pwd.getpwnam(n) for n in names]
    finally:
        for name in reversed(made):
            subprocess.run(["userdel", name])
            subprocess.run(["groupdel", name], stderr=subprocess.DEVNULL)
        for g in reversed(made_groups):
            subprocess.run(["groupdel", g])

class Checks:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def run(self, name, fn, *args):
        self.n += 1
        try:
            fn(*args)
            print("ok %d - %s" % (self.n, name), flush=True)
        except Exception as e:  # a check failed or crashed: report both
            self.failed += 1
            print("not ok %d - %s: %s" % (self.n, name, e), flush=True)
            traceback.print_exc(file=sys.stdout)

    def finish(self):
        print("# %d checks, %d failed" % (self.n, self.failed), flush=True)
        sys.exit(1 if self.failed else 0)


def expect_errno(code, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        if e.errno != code:
            raise AssertionError("expected %s, got %s" % (
                errno.errorcode[code], errno.errorcode.get(e.errno, e.errno)))
        return
    raise AssertionError("expected %s, call succeeded" % errno.errorcode[code])


# Every entry of the mount's root, sorted.
ROOT_ENTRIES = sorted(["README.txt", "config", "classes", "labels",
                       "samples", "status", "tags", "views", "export", "cvat",
                       "eval", "plots", "samples.csv"])


# Every directory of views/.
VIEWS = ["unique", "near-duplicates", "dupes", "mistakes", "possible-missing",
         "possible-spurious"]


def eq(a, b, what=""):
    if a != b:
        raise AssertionError("%s: %r != %r" % (what, a, b))


# Three JPEG files of one generated scene that the near-duplicate views
# group: the original, its quality-40 re-encode and its half-size copy.
NEAR_COPY_VARIANTS = (["-W", "320", "-H", "240", "-q", "92"],
                      ["-W", "320", "-H", "240", "-q", "40"],
                      ["-W", "160", "-H", "120", "-q", "85"])


def near_copy_groups(dest, k):
    """k scenes, each as the NEAR_COPY_VARIANTS, in dest/g<scene>_v<n>/
    (one file each)."""
    os.makedirs(dest, exist_ok=True)
    for g in range(k):
        for v, args in enumerate(NEAR_COPY_VARIANTS):
            subprocess.run([MKJPEG, "-n", "1", "-s", str(1000 + 7 * g)]
                           + args + [os.path.join(dest, "g%d_v%d" % (g, v))],
                           check=True, stdout=subprocess.DEVNULL)


def make_jpegs(dest, n, subdirs=0, seed=1, extra=()):
    args = [MKJPEG, "-n", str(n), "-s", str(seed)] + list(extra)
    if subdirs:
        args += ["-d", str(subdirs)]
    subprocess.run(args + [dest], check=True)


def coco_store(w, n, width, height, write_coco):
    """n real JPEG files of width x height in w/data, labelled by
    write_coco(path, names) and imported into w/store.  Returns (data
    folder, sorted file names, store)."""
    data = w.sub("data")
    make_jpegs(data, n, extra=["-W", str(width), "-H", str(height)])
    names = sorted(os.listdir(data))
    coco = w.sub("coco.json")
    write_coco(coco, names)
    store = w.sub("store")
    curate("import", "--store", store, "--coco", coco, data)
    return data, names, store


def write_coco_boxes(path, names, width, height, boxes,
                     classes=("cat", "dog")):
    """A COCO file for the images `names`, all width x height: boxes(i)
    gives image i's [(class, [x, y, w, h])], the classes get ids 1, 2, ...
    in their order, the annotations ids 1, 2, ... in image order and their
    area is w * h."""
    cats = {c: k + 1 for k, c in enumerate(classes)}
    images, anns = [], []
    for i, n in enumerate(names):
        images.append({"id": i + 1, "file_name": n, "width": width,
                       "height": height})
        for cls, b in boxes(i):
            anns.append({"id": len(anns) + 1, "image_id": i + 1,
                         "category_id": cats[cls], "bbox": b, "iscrowd": 0,
                         "area": b[2] * b[3]})
    json.dump({"images": images, "annotations": anns,
               "categories": [{"id": v, "name": k} for k, v in cats.items()]},
              open(path, "w"))


def oriented_jpeg(path, width, height, orientation):
    """A real JPEG of width x height pixels as stored, carrying EXIF
    Orientation `orientation`, with a picture that looks different under
    every turn and flip (a smooth gradient, red along x, green along y),
    so that drawn boxes are all that differs between two upright copies."""
    import io
    import numpy as np
    from PIL import Image
    x = np.linspace(60, 160, width)[None, :].repeat(height, 0)
    y = np.linspace(60, 160, height)[:, None].repeat(width, 1)
    px = np.dstack([x, y, np.full((height, width), 110.0)])
    ex = Image.Exif()
    ex[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(px.astype(np.uint8)).save(buf, "JPEG", quality=95,
                                              exif=ex.tobytes())
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def check_drawn_upright(drawn, original, orientation, boxes):
    """A drawn view (bytes) against the original file (bytes), both as
    Pillow's ImageOps.exif_transpose shows them (what viewers and CVAT
    do): the same size, and the outlines of `boxes` ([x, y, w, h] in the
    stored frame), turned by Pillow with the picture, covered by drawn
    pixels, while away from them (40 px, room for the captions) the two
    pictures agree."""
    import io
    import numpy as np
    from PIL import Image, ImageDraw, ImageOps
    d = ImageOps.exif_transpose(Image.open(io.BytesIO(drawn)))
    o = ImageOps.exif_transpose(Image.open(io.BytesIO(original)))
    eq(d.size, o.size, "upright size of the drawn file")
    # The outlines in the stored frame (the pixel columns floor(x) ..
    # ceil(x + w) - 1), turned by Pillow through a PNG that carries the
    # same orientation.
    stored = Image.open(io.BytesIO(original)).size
    mask = Image.new("L", stored, 0)
    for x, y, w, h in boxes:
        ImageDraw.Draw(mask).rectangle([x, y, x + w - 1, y + h - 1],
                                       outline=255)
    ex = Image.Exif()
    ex[0x0112] = orientation
    buf = io.BytesIO()
    mask.save(buf, "PNG", exif=ex.tobytes())
    mask = np.asarray(ImageOps.exif_transpose(Image.open(buf))) > 0
    # Re-encoding a smooth picture moves a channel by 6 at most; a drawn
    # line of one pixel, its colour halved by 4:2:0 subsampling, by 33 at
    # least (a blue line on the blue end of the gradient).
    diff = np.abs(np.asarray(d.convert("RGB"), dtype=np.int16) -
                  np.asarray(o.convert("RGB"), dtype=np.int16)).max(2) > 24
    covered = diff[mask].mean()
    if covered < 0.9:
        raise AssertionError("only %.0f %% of the turned box outlines "
                             "are drawn" % (100 * covered))
    ys, xs = np.nonzero(mask)
    near = np.zeros_like(mask)
    near[max(ys.min() - 40, 0):ys.max() + 41,
         max(xs.min() - 40, 0):xs.max() + 41] = True
    away = int(diff[~near].sum())
    if away > 20:
        raise AssertionError("%d pixels differ away from the boxes" % away)


def make_12bit(src, dst):
    """A copy of a baseline JPEG whose frame header says 12-bit (SOF1)."""
    b = bytearray(open(src, "rb").read())
    i = b.find(b"\xff\xc0")
    if i <= 0:
        raise AssertionError("no SOF0 marker in " + src)
    b[i + 1] = 0xC1
    b[i + 4] = 12
    open(dst, "wb").write(bytes(b))


def read(p):
    with open(p, "rb") as f:
        return f.read()


def jpeg_size(b):
    """(width, height) from a JPEG's frame header."""
    i = 2
    while i + 9 < len(b):
        if b[i] != 0xFF:
            raise AssertionError("not a JPEG marker at %d" % i)
        m = b[i + 1]
        ln = int.from_bytes(b[i + 2:i + 4], "big")
        if m in (0xC0, 0xC1, 0xC2):
            return (int.from_bytes(b[i + 7:i + 9], "big"),
                    int.from_bytes(b[i + 5:i + 7], "big"))
        i += 2 + ln
    raise AssertionError("no frame header")


def cache_status(mnt):
    """The generated-content cache lines of a mount's status, as numbers:
    files, mem, mem_max, disk, disk_max, hits, misses, evicted."""
    text = read(os.path.join(mnt, "status")).decode()
    m = re.search(r"generated content cache: (\d+) files, (\d+) of (\d+) "
                  r"bytes in memory, (\d+) of (\d+) bytes on disk", text)
    n = re.search(r"generated content reads: (\d+) hits, (\d+) misses, "
                  r"(\d+) evicted", text)
    if not m or not n:
        raise AssertionError("status has no cache lines:\n" + text)
    keys = ("files", "mem", "mem_max", "disk", "disk_max", "hits", "misses",
            "evicted")
    return dict(zip(keys, (int(x) for x in m.groups() + n.groups())))


def write(p, text):
    """Writes text to p in one open/write/close, as `echo ... >` does."""
    with open(p, "w") as f:
        f.write(text)


def edit_boxes(mnt, stem, fn, field="ground_truth"):
    """Rewrites labels/<stem>.json through the mount with fn(boxes) applied
    to the list of boxes of a field (fn edits the list in place)."""
    lab = os.path.join(mnt, "labels", stem + ".json")
    doc = json.loads(read(lab))
    fn(doc["fields"].setdefault(field, []))
    write(lab, json.dumps(doc))


# A request line of the daemon's -d log: its opcode and node id.
FUSE_REQ = re.compile(r"unique: \d+, opcode: (\w+) \(\d+\), nodeid: (\d+)")


def log_settled(m):
    """The length of m's log once the daemon has stopped logging (the
    RELEASEs of a pass arrive after its last close returned)."""
    last = -1
    for _ in range(50):
        n = len(m.logtext())
        if n == last:
            return n
        last = n
        time.sleep(0.2)
    return last


def fuse_requests(m, since):
    """Opcode counts of the requests m's daemon (mounted with -d) logged
    after log offset `since`, once the asynchronous RELEASEs have stopped
    arriving."""
    last = None
    for _ in range(50):
        text = m.logtext()[since:]
        c = collections.Counter(op for op, _ in FUSE_REQ.findall(text))
        if c == last:
            return c
        last = c
        time.sleep(0.1)
    return last


# Mounts started and not yet cleaned up, for run_suite().
_live = []


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                       ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mlock.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


def unpin_pages(pins):
    for a, n in pins:
        _libc.munmap(a, n)


def pin_pages(paths, resident=True):
    """Maps each file and locks its pages (mlock): [(address, length)] for
    unpin_pages().  While locked, the kernel's reclaim (which a loaded
    machine may do at any time) cannot drop them, but an invalidation by
    the file system (an open without keep_cache, new attributes) still
    does, so a pass that sends READ then means the file system dropped
    them.  With resident, raises unless every page is resident already
    (locking would read it in); without, locking reads in what is
    missing."""
    pins = []
    try:
        for p in paths:
            fd = os.open(p, os.O_RDONLY)
            n = os.fstat(fd).st_size
            if n == 0:
                os.close(fd)
                continue
            a = _libc.mmap(None, n, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
            err = ctypes.get_errno()
            os.close(fd)
            if a is None or a == ctypes.c_void_p(-1).value:
                if err == errno.ENODEV and not resident:
                    continue  # a direct_io file: no pages to keep
                raise OSError(err, "mmap " + p)
            pins.append((a, n))
            if resident:
                vec = ctypes.create_string_buffer((n + PAGE - 1) // PAGE)
                if _libc.mincore(a, n, vec) != 0:
                    raise OSError(ctypes.get_errno(), "mincore " + p)
                if any(b & 1 == 0 for b in vec.raw):
                    raise AssertionError(p + ": pages not resident before "
                                         "the pass")
            if _libc.mlock(a, n) != 0:
                raise OSError(ctypes.get_errno(), "mlock " + p)
    except BaseException:
        unpin_pages(pins)
        raise
    return pins


def warm_pass(m, paths, visit=read, warmups=1):
    """The opcode counts of the requests one warm pass of visit(p) over
    paths sends to m's daemon (mounted with -d): `warmups` passes fill the
    caches first, the files' pages are locked (pin_pages: reclaim on a
    loaded machine cannot pass for a dropped cache), then the log settles
    and one more pass is counted.  With warmups=0 the caller's own reads
    filled the caches and the pass is to show whether their pages are
    still there: the READs the lock sends to bring back pages dropped
    since (by the file system, or by reclaim as before the lock) are
    counted as the pass's, or a cache dropped between a change and the
    pass would pass for a kept one."""
    for _ in range(warmups):
        for p in paths:
            visit(p)
    before = log_settled(m) if warmups == 0 else None
    pins = pin_pages(paths, resident=False)
    try:
        since = log_settled(m)
        for p in paths:
            visit(p)
        c = fuse_requests(m, since)
        if before is not None:
            refill = sum(1 for op, _ in
                         FUSE_REQ.findall(m.logtext()[before:since])
                         if op == "READ")
            if refill:
                c["READ"] += refill
        return c
    finally:
        unpin_pages(pins)


def expect_no_requests(c, ops, what):
    """Raises if the opcode counts c hold any of ops; what names the pass
    in the message."""
    for op in ops:
        if c.get(op):
            raise AssertionError("%s sent %d %s: %s" % (
                what, c[op], op, dict(c)))


def jpegs_under(top):
    """The .jpg files below top, sorted."""
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(top)
                  for f in fs if f.endswith(".jpg"))


def crop_of(files, stem, label):
    """The one crop of image stem under a class folder named label."""
    mine = [p for p in files if os.path.basename(p).startswith(stem)
            and os.sep + label + os.sep in p]
    eq(len(mine), 1, "the %s crop of %s" % (label, stem))
    return mine[0]

def run_suite(prefix, body):
    """Runs body(ck, w) with fresh Checks and a Workdir named after
    prefix, then cleans up every mount the body started (whatever
    happened), removes the work folder and exits with the checks'
    status."""
    ck = Checks()
    w = Workdir(prefix)
    try:
        body(ck, w)
    except Exception as e:  # a crash outside a check is a failed check
        ck.n += 1
        ck.failed += 1
        print("not ok %d - suite aborted: %s" % (ck.n, e), flush=True)
        traceback.print_exc(file=sys.stdout)
    finally:
        while _live:
            _live.pop().cleanup()
        w.cleanup()
    ck.finish()


class Mount:
    """curatefs -f STORE MNT, with its log captured; always cleaned up."""

    def __init__(self, store, mnt, opts=(), env=None, preexec=None):
        self.store, self.mnt, self.opts = store, mnt, list(opts)
        self.env = env          # the daemon's environment; None: ours
        self.preexec = preexec  # run in the child before exec
        self.proc = None
        self.log = None
        self.conn = None

    def start(self):
        _live.append(self)
        os.makedirs(self.mnt, exist_ok=True)
        self.log = tempfile.NamedTemporaryFile(
            "w+", prefix="curatefs-log-", delete=False)
        self.proc = subprocess.Popen(
            [CURATEFS, "-f"] + self.opts + [self.store, self.mnt],
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env,
            preexec_fn=self.preexec)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("curatefs exited %d: %s" % (
                    self.proc.returncode, self.logtext()))
            if self.appeared():
                return self
            time.sleep(0.02)
        raise RuntimeError("mount did not appear")

    def appeared(self):
        """True once the mount is in place, its FUSE connection id (to
        abort a hung mount through fusectl) noted in self.conn."""
        if not os.path.ismount(self.mnt):
            return False
        self.check_single_mount()
        self.conn = os.minor(os.stat(self.mnt).st_dev)
        return True

    def check_single_mount(self):
        n = sum(1 for line in open("/proc/mounts")
                if line.split()[1] == os.path.realpath(self.mnt))
        if n != 1:
            raise RuntimeError("%d mounts stacked on %s" % (n, self.mnt))

    def logtext(self):
        if not self.log:
            return ""
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def umount(self):
        """fusermount3 -u; the daemon must exit 0."""
        subprocess.run(["fusermount3", "-u", self.mnt], check=True)
        rc = self.proc.wait(timeout=30)
        if rc != 0:
            raise RuntimeError("curatefs exited %d: %s" % (rc, self.logtext()))
        self.check_log()

    def check_log(self):
        text = self.logtext()
        for bad in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
            if bad in text:
                raise RuntimeError("sanitizer report in daemon log:\n" + text)

    def abort(self):
        """Abort the FUSE connection, as a last resort for a hung mount."""
        ctl = "/sys/fs/fuse/connections"
        if not os.listdir(ctl):
            subprocess.run(["mount", "-t", "fusectl", "none", ctl],
                           stderr=subprocess.DEVNULL)
        try:
            with open(os.path.join(ctl, str(self.conn), "abort"), "w") as f:
                f.write("1")
        except OSError:
            pass

    def kill(self, sig=signal.SIGKILL, detach=True):
        """Signals the daemon and waits for it to end.  detach=False
        leaves the dead mount in place (every request on it fails with
        ENOTCONN) until detach() is called: a thread still working in the
        mount then sees the dead connection, not the empty folder a lazy
        unmount would leave in its place."""
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.abort()
            self.proc.wait(timeout=20)
            raise RuntimeError("daemon hung after signal %d; aborted" % sig)
        finally:
            if detach:
                self.detach()

    def detach(self):
        """Lazy unmount (fusermount3 -uz) of a mount whose daemon ended."""
        subprocess.run(["fusermount3", "-uz", self.mnt],
                       stderr=subprocess.DEVNULL)

    def cleanup(self):
        if self in _live:
            _live.remove(self)
        if self.proc and self.proc.poll() is None:
            subprocess.run(["fusermount3", "-uz", self.mnt],
                           stderr=subprocess.DEVNULL)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.abort()
                    self.proc.wait(timeout=10)
        elif os.path.ismount(self.mnt):
            subprocess.run(["fusermount3", "-uz", self.mnt],
                           stderr=subprocess.DEVNULL)
        if self.log:
            os.unlink(self.log.name)
            self.log = None


class Workdir:
    def __init__(self, prefix):
        self.path = tempfile.mkdtemp(prefix=prefix)

    def sub(self, *p):
        return os.path.join(self.path, *p)

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


def curate(*args, check=True):
    p = subprocess.run([CURATE] + list(args), capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("curate %s failed (%d): %s" % (
            " ".join(args), p.returncode, p.stderr))
    return p
