#!/usr/bin/python3
"""fs suite, which views are drawn ahead: the background thread draws the
images of a view small enough to be browsed whole (views/dupes with at
most 2,000 members) and leaves a larger one to its readers.

2,001 small photos, each with a box and its copy (all in views/dupes),
the crops not prepared ahead (export.prewarm = false):
- once the store has settled, nothing was drawn (no generation counted)
  and the log says why;
- a labels write through the mount takes one photo out of the view
  (2,000 members): the view's images are then drawn ahead, and reading
  them all afterwards makes none."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (Mount, cache_status, coco_store, edit_boxes, eq,  # noqa
                   read, run_suite, write, write_coco_boxes)

N = 2001
W, H = 32, 24


def boxes(i):
    return [("cat", [4, 4, 12, 10]), ("cat", [4, 4, 12, 10])]


def cache(mnt):
    """(files, misses) of the content cache."""
    s = cache_status(mnt)
    return s["files"], s["misses"]


def settle(mnt, quiet=6):
    """Waits until the cache counts have not moved for `quiet` polls of
    0.5 s (the warm thread starts a second after the store is still)."""
    last, still = None, 0
    end = time.time() + 300
    while time.time() < end and still < quiet:
        now = cache(mnt)
        still = still + 1 if now == last else 0
        last = now
        time.sleep(0.5)
    return last


def body(ck, w):
    def coco(path, names):
        write_coco_boxes(path, names, W, H, boxes)
    data, names, store = coco_store(w, N, W, H, coco)
    mnt = w.sub("mnt")
    m = Mount(store, mnt).start()
    write(os.path.join(mnt, "config"), "export.prewarm = false\n")
    m.umount()
    m = Mount(store, mnt).start()
    dupes = os.path.join(mnt, "views", "dupes")

    def t_large_not_drawn():
        # Not listed first: a listing's sizes draw the images it lists
        # (a generated file's size is its content's).  The warm thread
        # computes the view, then says it leaves its images.
        end = time.time() + 240
        while not re.search(r"not preparing views/dupes: more than 2000 "
                            r"files", m.logtext()):
            if time.time() > end:
                raise AssertionError("the log does not say why the view "
                                     "was not prepared")
            time.sleep(0.5)
        files, misses = settle(mnt)
        eq(misses, 0, "generations with no reader")
        eq(len(os.listdir(dupes)), N, "members of views/dupes")
    ck.run("a views/dupes of 2,001 images is not drawn ahead",
           t_large_not_drawn)

    def t_small_drawn():
        def drop_copy(bs):
            del bs[1:]
        edit_boxes(mnt, names[0][:-4], drop_copy)
        end = time.time() + 240
        while cache(mnt)[1] < N - 1 and time.time() < end:
            time.sleep(0.5)
        files, misses = settle(mnt)
        if misses < N - 1:
            raise AssertionError("%d generations after the view came "
                                 "down to %d members" % (misses, N - 1))
        members = os.listdir(dupes)
        eq(len(members), N - 1, "members after the edit")
        for f in members:
            read(os.path.join(dupes, f))
        eq(cache(mnt)[1], misses, "generations while reading the view")
    ck.run("at 2,000 images it is drawn ahead", t_small_drawn)
    m.umount()


run_suite("curatefs-warmbound-", body)
