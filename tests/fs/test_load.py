#!/usr/bin/python3
"""fs suite, load: `ls -lR` of a whole mount while a writer keeps changing
labels must take time proportional to the tree, and the daemon's memory
must come back to its idle level once the burst is over.

The tree holds an evaluation (views/mistakes, ...) and its exports: every
name looked up there used to re-run the whole evaluation when labels had
changed since the previous name, so the listing grew with the square of
the dataset (30 s instead of 2 s for 2,000 samples), and the memory freed
by the burst stayed with the daemon."""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import Mount, curate, make_jpegs, run_suite  # noqa

N = int(os.environ.get("LOAD_SAMPLES", "2000"))
TREES = os.environ.get("LOAD_TREES", "views eval export/views").split()


def rss_anon_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise RuntimeError("no RssAnon for %d" % pid)


def ls_lr(mnt):
    t0 = time.monotonic()
    p = subprocess.run(["ls", "-lR"] + [os.path.join(mnt, d) for d in TREES],
                       stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    # Exit 1: some entry vanished between readdir and stat (labels are
    # being rewritten, so crops and eval names come and go); 2 is serious.
    if p.returncode not in (0, 1):
        raise AssertionError("ls -lR failed: %d" % p.returncode)
    return time.monotonic() - t0


def body(ck, w):
    data = w.sub("data")
    make_jpegs(data, N, extra=["-W", "64", "-H", "48"])
    names = sorted(os.listdir(data))
    imgs = [{"id": i + 1, "file_name": n, "width": 64, "height": 48}
            for i, n in enumerate(names)]
    anns, preds = [], []
    for i in range(N):
        for j in range(3):
            anns.append({"id": len(anns) + 1, "image_id": i + 1,
                         "category_id": 1 + j, "bbox": [j * 5, j * 4, 10, 10],
                         "area": 100, "iscrowd": 0})
            preds.append({"image_id": i + 1, "category_id": 1 + j,
                          "bbox": [j * 5 + 1, j * 4, 10, 10], "score": 0.5})
    cats = [{"id": k, "name": "c%d" % k} for k in (1, 2, 3)]
    gt = w.sub("gt.json")
    pf = w.sub("preds.json")
    json.dump({"images": imgs, "annotations": anns, "categories": cats},
              open(gt, "w"))
    json.dump(preds, open(pf, "w"))
    store = w.sub("store")
    curate("import", "--store", store, "--coco", gt, "--predictions", pf,
           data)
    mnt = w.sub("mnt")
    m = Mount(store, mnt).start()
    with open(os.path.join(mnt, "eval", "run"), "w") as f:
        f.write("e1\n")
    os.mkdir(os.path.join(mnt, "tags", "train"))
    pid = m.proc.pid
    stems = [n[:-4] for n in names]

    # Idle: the listings after the first, once it generated what they
    # show.  Other processes on a shared machine only ever add to a
    # listing's time, so the shortest of several estimates its cost.
    ls_lr(mnt)
    time.sleep(1.5)
    idle = min(ls_lr(mnt), ls_lr(mnt))
    time.sleep(3)
    idle_mem = rss_anon_kb(pid)
    print("# idle ls -lR %.2f s, RssAnon %d KiB" % (idle, idle_mem))

    stop = threading.Event()
    writes = [0]

    def writer():
        i = 0
        while not stop.is_set():
            s = stems[i % 50]
            doc = {"fields": {"ground_truth": [
                {"label": "c1", "bbox": [1, 1, 5 + i % 7, 5]}]}}
            with open(os.path.join(mnt, "labels", s + ".json"), "w") as f:
                f.write(json.dumps(doc))
            i += 1
            writes[0] = i

    busy = []

    log = os.path.join(store, "curatefs.log")

    def reruns():
        return open(log).read().count("re-run after label changes")

    def t_listing_under_writes():
        th = threading.Thread(target=writer)
        th.start()
        r0 = reruns()
        try:
            for _ in range(3):
                busy.append(ls_lr(mnt))
        finally:
            stop.set()
            th.join()
        ran = reruns() - r0
        # The cause of the quadratic listing: the evaluation re-ran for
        # each name looked up.  Now a listing re-runs it when it starts,
        # and names looked up within a second share that run.
        print("# evaluation re-runs during the listings: %d" % ran)
        if ran > 2 * (20 + sum(busy)):
            raise AssertionError("the evaluation re-ran %d times in %.1f s "
                                 "of listings" % (ran, sum(busy)))
        print("# busy ls -lR %s s, %d label writes" % (
            ", ".join("%.2f" % b for b in busy), writes[0]))
        if writes[0] < 20:
            raise AssertionError("the writer made only %d writes" % writes[0])
        # Proportional: a few times the idle listing (every generated file
        # of a new version is generated again), never a re-run of the
        # evaluation per name.  Measured: 3-4x; before: 10-15x, in every
        # listing.  The cost is the shortest of the three listings under
        # writes, as for the idle one: on a loaded machine single listings
        # vary by 2-3x with no trend (4 in a row, plain build, load 14:
        # 5.2, 1.9, 3.8, 1.9 s against 1.2 s idle).
        limit = 8 * idle + 3
        if min(busy) > limit:
            raise AssertionError("ls -lR took %s s under writes, idle %.1f"
                                 " s (limit %.1f s)" % (
                                     ", ".join("%.1f" % b for b in busy),
                                     idle, limit))
    ck.run("ls -lR under concurrent label writes stays proportional",
           t_listing_under_writes)

    def t_memory_returns():
        # The warm thread trims once the store has been quiet for 1 s.
        # What a burst leaves legitimately is bounded, not zero: the FUSE
        # workers it started (each with its request buffer of over 1 MiB),
        # the sets of the births table it touched, the evaluation of the
        # new version.  Measured on the plain build, 2,000 samples: 3.2 to
        # 8.7 MiB over idle (the last failed an 8 MiB allowance in one CI
        # run).  16 MiB keeps that spread and fails a daemon that keeps
        # about 6 KB or more per label write (2,000 to 3,000 writes).  At
        # this size the burst peaks near the idle level, so the trim itself
        # is not what this decides (without it: +4.6 and +5.6 MiB).
        # Under AddressSanitizer freed memory is held in its quarantine
        # (256 MiB by default) on purpose: allow for it there.
        allowance = 16384
        if "libasan" in open("/proc/%d/maps" % pid).read():
            allowance += 256 * 1024
        deadline = time.monotonic() + 30
        mem = rss_anon_kb(pid)
        while time.monotonic() < deadline:
            mem = rss_anon_kb(pid)
            if mem <= idle_mem + allowance:
                break
            time.sleep(1)
        print("# RssAnon after the burst %d KiB (idle %d KiB)" % (mem,
                                                                  idle_mem))
        if mem > idle_mem + allowance:
            raise AssertionError("daemon memory %d KiB after the burst, idle "
                                 "%d KiB" % (mem, idle_mem))
    ck.run("daemon memory returns to its idle level after the burst",
           t_memory_returns)
    m.umount()


def main():
    run_suite("curatefs-load-", body)


if __name__ == "__main__":
    main()
