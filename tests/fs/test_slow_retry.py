#!/usr/bin/python3
"""fs suite, the kernel's retry of a refused open when its lookup is slow
(user guide "How a kept name follows a change").  On a normal mount the
open of a kept drawn view whose version is no longer current is refused
with ESTALE and the kernel looks the path up again, then opens what that
lookup found.  The lookup of a large drawn view draws it (its size), which
can take longer than a second; an annotator writing labels meanwhile must
not make the retried open fail: an open() never returns ESTALE."""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import Mount, coco_store, read, run_suite, write  # noqa: E402

W, H = 12000, 9000   # one drawing of it takes about a second


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
                doc = json.loads(read(lab))
                doc["fields"]["ground_truth"][1]["bbox"] = [
                    12 + writes[0] % 5, 10, 2000, 2000]
                write(lab, json.dumps(doc))
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


if __name__ == "__main__":
    run_suite("curatefs-slowretry-", body)
