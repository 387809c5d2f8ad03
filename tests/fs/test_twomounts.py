#!/usr/bin/python3
"""fs suite, the training setup of the user guide ("Training beside
curation"): one store mounted twice at the same time, a normal mount for
the curation work and a -o readonly mount beside it for the training job,
each with its own daemon.

- both mounts show the same bytes;
- a label written through the normal mount reaches the next open on the
  read-only mount within the read-only daemon's poll (0.2 s; a bound of
  10 s here, for sanitizer builds on busy machines): the new label
  document, the new crop and the new drawn view, whole, equal to what the
  normal mount shows, and every later open keeps the new version;
- a reader holding a crop open on the read-only mount keeps reading the
  old version whole;
- a box moved to another class: the crop leaves the old class folder and
  appears in the new one on the read-only mount;
- a warm pass over the read-only mount's crops still sends no request to
  its daemon once the change has been seen;
- both daemons unmount cleanly, each exit 0.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (Mount, coco_store, crop_of, edit_boxes, eq,  # noqa
                   expect_no_requests, jpegs_under, read, run_suite,
                   warm_pass, write_coco_boxes)

W, H = 320, 240
N = 4
BOUND = 10.0  # seconds for the read-only daemon to notice a change


def boxes(i):
    """A cat and a dog box per photo; even photos get a duplicate cat box
    (views/dupes shows them)."""
    b = [("cat", [10, 20, 60, 50]), ("dog", [100, 20, 60, 50])]
    if i % 2 == 0:
        b.append(("cat", [11, 20, 60, 50]))
    return b


def is_jpeg(b):
    return b[:2] == b"\xff\xd8" and b[-2:] == b"\xff\xd9"


def until_new(path, old, what):
    """Opens path afresh until its bytes differ from old; the new bytes.
    Raises after BOUND seconds."""
    t0 = time.monotonic()
    while True:
        got = read(path)
        if got != old:
            return got
        if time.monotonic() - t0 > BOUND:
            raise AssertionError("%s: still the old version %.1f s after "
                                 "the change" % (what, BOUND))
        time.sleep(0.02)


def body(ck, w):
    _, names, store = coco_store(
        w, N, W, H, lambda p, ns: write_coco_boxes(p, ns, W, H, boxes))
    stem = names[0][:-4]
    rw = Mount(store, w.sub("rw")).start()
    ro = Mount(store, w.sub("ro"), opts=["-o", "readonly", "-d"]).start()
    rel = {"label": os.path.join("labels", stem + ".json"),
           "view": os.path.join("views", "dupes", names[0])}

    def crop(mnt, label):
        return crop_of(jpegs_under(os.path.join(mnt, "export", "imagenet")),
                       stem, label)

    def t_same_bytes():
        for p in rel.values():
            eq(read(os.path.join(ro.mnt, p)), read(os.path.join(rw.mnt, p)),
               p)
        c = os.path.relpath(crop(rw.mnt, "dog"), rw.mnt)
        eq(read(os.path.join(ro.mnt, c)), read(os.path.join(rw.mnt, c)), c)
    ck.run("both mounts of one store show the same bytes", t_same_bytes)

    def t_label_reaches_ro():
        dog = os.path.relpath(crop(ro.mnt, "dog"), ro.mnt)
        paths = {k: os.path.join(ro.mnt, p) for k, p in rel.items()}
        paths["crop"] = os.path.join(ro.mnt, dog)
        old = {k: read(p) for k, p in paths.items()}  # warm names and pages
        held = open(paths["crop"], "rb")

        def move(bs):
            for b in bs:
                if b["label"] == "dog":
                    b["bbox"] = [120, 40, 80, 60]
                elif b["label"] == "cat" and b["bbox"][0] == 11:
                    b["bbox"] = [12, 22, 60, 50]  # the drawn view changes
        edit_boxes(rw.mnt, stem, move)
        for k, p in paths.items():
            got = until_new(p, old[k], "read-only " + k)
            want = read(os.path.join(rw.mnt, os.path.relpath(p, ro.mnt)))
            eq(got, want, "read-only %s = normal mount's" % k)
            if k != "label" and not is_jpeg(got):
                raise AssertionError("read-only %s is not a whole JPEG" % k)
            for _ in range(5):
                eq(read(p), want, "a later open of the read-only " + k)
        doc = json.loads(read(paths["label"]))
        eq([b["bbox"] for b in doc["fields"]["ground_truth"]
            if b["label"] == "dog"], [[120, 40, 80, 60]], "label document")
        os.posix_fadvise(held.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        eq(os.pread(held.fileno(), len(old["crop"]) + 10, 0), old["crop"],
           "the crop held open across the change")
        held.close()
    ck.run("a label written on the normal mount reaches the next open on "
           "the read-only mount; a held crop keeps its version",
           t_label_reaches_ro)

    def t_class_move():
        old = crop(ro.mnt, "dog")

        def to_cat(bs):
            for b in bs:
                if b["label"] == "dog":
                    b["label"] = "cat"
        edit_boxes(rw.mnt, stem, to_cat)
        t0 = time.monotonic()
        while os.path.exists(old):
            if time.monotonic() - t0 > BOUND:
                raise AssertionError("%s still there %.1f s after the "
                                     "change" % (old, BOUND))
            time.sleep(0.02)
        mine = [p for p in jpegs_under(os.path.join(ro.mnt, "export",
                                                    "imagenet", "cat"))
                if os.path.basename(p).startswith(stem)]
        eq(len(mine), 3, "cat crops of %s on the read-only mount" % stem)
        for p in mine:
            eq(read(p), read(os.path.join(rw.mnt, os.path.relpath(p,
                                                                  ro.mnt))),
               p)
    ck.run("a box moved to another class moves its crop on the read-only "
           "mount", t_class_move)

    def t_warm_ro_quiet():
        files = jpegs_under(os.path.join(ro.mnt, "export", "imagenet"))
        c = warm_pass(ro, files, warmups=2)
        expect_no_requests(c, ("LOOKUP", "OPEN", "READ", "GETATTR"),
                           "a warm pass over the read-only mount's crops")
    ck.run("after the change, a warm pass on the read-only mount sends no "
           "request", t_warm_ro_quiet)

    def t_umount():
        ro.umount()
        rw.umount()
    ck.run("both daemons unmount cleanly", t_umount)


def main():
    run_suite("curatefs-two-", body)


if __name__ == "__main__":
    main()
