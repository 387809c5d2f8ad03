#!/usr/bin/python3
"""fs suite, the kernel's retry of a refused open when its lookup is slow
(user guide "How a kept name follows a change").  On a normal mount the
open of a kept drawn view whose version is no longer current is refused
with ESTALE and the kernel looks the path up again, then opens what that
lookup found.  The lookup of a large drawn view draws it (its size), which
can take longer than a second; an annotator writing labels meanwhile must
not make the retried open fail: an open() never returns ESTALE,
however late the retried OPEN reaches the daemon after its lookup (a
library preloaded into the daemon, tests/fs/retryshim.c, holds it there
while labels change: on a loaded machine it came more than a second
after the lookup, and the open failed), and however much other content
passed through a small content cache meanwhile."""
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fault"))
from fslib import (Mount, coco_store, read, run_suite, write,  # noqa: E402
                   write_coco_boxes)
from faultlib import Pause  # noqa: E402

RETRYSHIM = os.environ.get("RETRYSHIM", "build/tests/libretryshim.so")

W, H = 12000, 9000   # one drawing of it takes about a second


def move_box(lab, x, side=2000):
    """A label write: the second box of the labels file lab moves to x."""
    doc = json.loads(read(lab))
    doc["fields"]["ground_truth"][1]["bbox"] = [x, 10, side, side]
    write(lab, json.dumps(doc))


def shim_mount(store, mnt, pause, opts=()):
    """A mount whose daemon holds the kernel's first retried OPEN until
    the test lets it go (libretryshim.so, through pause's FIFOs)."""
    env = dict(os.environ, LD_PRELOAD=RETRYSHIM,
               RETRYSHIM_PAUSE_DIR=pause.dir)
    asan = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + \
        "verify_asan_link_order=0"
    return Mount(store, mnt, opts, env=env).start()


def held_retry_open(m, pause, path, while_held):
    """Opens path (a kept name of a superseded version) in a thread of its
    own and reads it: the open is refused, the kernel looks the path up
    again and its second OPEN is held by m's daemon while while_held()
    runs.  Returns what the open read; raises if it failed."""
    got = {}

    def opener():
        got["tid"] = threading.get_native_id()
        try:
            with open(path, "rb") as f:
                got["data"] = f.read()
        except OSError as e:
            got["err"] = e
    th = threading.Thread(target=opener)
    th.start()
    tid = None
    try:
        tid = pause.wait(lambda: th.is_alive() and m.proc.poll() is None)
        while_held()
    finally:
        if tid is not None:  # (resume() waits for the held read)
            pause.resume()
        th.join(timeout=300)
    if tid != got["tid"]:
        raise AssertionError("held an OPEN of thread %d, not of the "
                             "opener %d" % (tid, got["tid"]))
    if "err" in got:
        raise AssertionError("the retried open of %s: %s" % (path,
                                                             got["err"]))
    if got["data"][:2] != b"\xff\xd8":
        raise AssertionError("the retried open read no JPEG")
    return got["data"]


class SubDir:
    """A folder of the suite's work folder, as coco_store() takes one."""

    def __init__(self, w, name):
        self.path = w.sub(name)
        os.makedirs(self.path)

    def sub(self, *p):
        return os.path.join(self.path, *p)


def write_coco(path, names):
    """One photo with two overlapping cat boxes (views/dupes shows it)."""
    anns = [{"id": k + 1, "image_id": 1, "category_id": 1,
             "bbox": [10 + 2 * k, 10, 2000, 2000], "iscrowd": 0}
            for k in range(2)]
    json.dump({"images": [{"id": 1, "file_name": names[0], "width": W,
                           "height": H}],
               "categories": [{"id": 1, "name": "cat"}],
               "annotations": anns}, open(path, "w"))


def body(ck, w):
    data, names, store = coco_store(w, 1, W, H, write_coco)
    stem = names[0][:-4]
    mnt = w.sub("mnt")
    m = Mount(store, mnt).start()
    drawn = os.path.join(mnt, "views", "dupes", stem + ".jpg")
    lab = os.path.join(mnt, "labels", stem + ".json")

    def t_slow_retry():
        t0 = time.monotonic()
        read(drawn)
        print("# one drawing: %.2f s" % (time.monotonic() - t0))
        stop = threading.Event()
        writes = [0]

        def annotator():
            while not stop.is_set():
                writes[0] += 1
                move_box(lab, 12 + writes[0] % 5)
                stop.wait(0.3)
        th = threading.Thread(target=annotator)
        th.start()
        failed, opens = [], 0
        try:
            end = time.monotonic() + 10
            while time.monotonic() < end:
                t1 = time.monotonic()
                try:
                    with open(drawn, "rb") as f:
                        f.read(64)
                    opens += 1
                except OSError as e:
                    failed.append("%s after %.2f s" % (e.strerror,
                                                       time.monotonic() - t1))
        finally:
            stop.set()
            th.join()
        print("# %d opens, %d label writes" % (opens, writes[0]))
        if failed:
            raise AssertionError("opens of %s failed: %s" % (drawn, failed))
        if writes[0] < 5:
            raise AssertionError("only %d label writes" % writes[0])
    ck.run("a normal mount: opens of a drawn view whose lookup draws it "
           "for a second, beside an annotator writing labels, never fail",
           t_slow_retry)
    m.umount()

    def t_late_retry():
        pause = Pause(w.sub("retry-pause"))
        m2 = shim_mount(store, mnt, pause)
        try:
            read(drawn)        # this version's name is kept by the kernel
            # ... and now superseded (a place the annotator never wrote)
            move_box(lab, 20)

            def held():
                move_box(lab, 22)  # what that lookup found is superseded
                time.sleep(1.5)    # longer than the old grace of 1 s
            data = held_retry_open(m2, pause, drawn, held)
            # The next open shows the latest labels, not the held version.
            if read(drawn) == data:
                raise AssertionError("an open after the label write still "
                                     "got the version of before it")
        finally:
            m2.umount()
            pause.remove()
    ck.run("a normal mount: the kernel's retry of a refused open, reaching "
           "the daemon 1.5 s after its lookup while labels change, opens "
           "the version its lookup found", t_late_retry)

    def t_retry_evicted():
        # 24 photos whose drawn views (about 60 KB each) are small content:
        # held in no cache file, and 1.4 MB of them fill a 1 MiB cache.
        sd = SubDir(w, "small")
        _, snames, sstore = coco_store(
            sd, 24, 800, 600, lambda path, names: write_coco_boxes(
                path, names, 800, 600, lambda i: [
                    ("cat", [10, 10, 200, 200]),
                    ("cat", [12, 10, 200, 200])]))
        pause = Pause(sd.sub("pause"))
        m3 = shim_mount(sstore, sd.sub("mnt"), pause,
                        ["-o", "cache_size=1M"])
        try:
            views = [os.path.join(sd.sub("mnt"), "views", "dupes", n)
                     for n in snames]
            slab = os.path.join(sd.sub("mnt"), "labels",
                                snames[0][:-4] + ".json")
            read(views[0])
            move_box(slab, 20, 200)

            def held():
                move_box(slab, 22, 200)
                for _ in range(2):     # the others, twice: 2.8 MB
                    for v in views[1:]:
                        read(v)
            held_retry_open(m3, pause, views[0], held)
        finally:
            m3.umount()
            pause.remove()
    ck.run("a normal mount with a 1 MiB content cache: the kernel's retry "
           "of a refused open of a small drawn view opens the version its "
           "lookup found after 2.8 MB of other drawn views passed through "
           "the cache while it waited", t_retry_evicted)


if __name__ == "__main__":
    run_suite("curatefs-slowretry-", body)
