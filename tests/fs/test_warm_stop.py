#!/usr/bin/python3
"""fs suite, the warming thread gives up when it should: it prepares the
ImageNet crops one class folder after the other, at nice 19, and unmount
waits for it.  On a machine kept busy by other programs it may get almost
no CPU, so it must stop at the next file, not finish the folder it is in
and then start each remaining folder.

600 photos of 640 x 480, two boxes each, in 40 classes (30 crops a
folder): once the log says the first folder was prepared, the mount is
unmounted; at most the folder in progress may be reported after that
(the old thread went on with up to 32 crops of every remaining folder),
and the daemon exits cleanly."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import Mount, coco_store, run_suite, write_coco_boxes  # noqa

N, W, H = 600, 640, 480
CLASSES = ["c%02d" % k for k in range(40)]
PREPARED = re.compile(r"prepared \d+ files of export/imagenet/")


def boxes(i):
    return [(CLASSES[(2 * i) % 40], [10, 10, 300, 200]),
            (CLASSES[(2 * i + 1) % 40], [320, 240, 300, 200])]


def body(ck, w):
    def coco(path, names):
        write_coco_boxes(path, names, W, H, boxes, classes=CLASSES)
    data, names, store = coco_store(w, N, W, H, coco)
    mnt = w.sub("mnt")
    m = Mount(store, mnt).start()

    def t_stops_at_unmount():
        end = time.time() + 240
        while not PREPARED.search(m.logtext()):
            if time.time() > end:
                raise AssertionError("no crop folder was prepared")
            time.sleep(0.01)
        seen = len(m.logtext())
        m.umount()
        after = PREPARED.findall(m.logtext()[seen:])
        total = len(PREPARED.findall(m.logtext()))
        print("# folders prepared: %d in all, %d after unmount began"
              % (total, len(after)))
        if len(after) > 1:
            raise AssertionError("%d crop folders were prepared after the "
                                 "unmount" % len(after))
        if total >= len(CLASSES) // 2:  # the even folders; the odd come along
            raise AssertionError("every folder was prepared before the "
                                 "unmount: the test proves nothing")
    ck.run("unmount stops the warming thread at the next file",
           t_stops_at_unmount)


run_suite("curatefs-warmstop-", body)
