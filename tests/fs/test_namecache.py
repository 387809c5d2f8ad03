#!/usr/bin/python3
"""fs suite, names of generated files kept by the kernel (user guide "What
stays per open"; architecture §8, the name epoch).  The kernel keeps the
name of a crop, a drawn view or an export file until the store changes;
every change moves the kernel's name epoch before it is acknowledged (or,
for a change made next to the mount, when the daemon notices it).  For
each way the store changes, the next open and stat see the new content and
names, and a reader holding the old version keeps reading it:

- a warm pass over crops and drawn views sends no LOOKUP (the names are
  kept), and status says so;
- a label write: the crop and the drawn image of that sample change;
- mv samples/x tags/t/: the tag's export lists x;
- mv tags/t/x tags/u/: the moved name is the tag file of (u, x), the old
  name is gone, both exports follow;
- rm tags/u/x: the name is gone, the export follows;
- mv tags/u tags/v (a tag renamed): export/tags/u/ is gone, v is there;
- mv views/dupes/x tags/v/: the moved name shows the source image, the view
  still shows the drawn one;
- a setting (dupes.iou) that empties views/dupes: its cached names are
  gone, and come back with the setting;
- `curate import-labels` next to the mount, on a normal and on a -o
  readonly mount (which keeps names by default): the next open after the
  daemon noticed sees the new crop and drawn view;
- by default (without -o epoch) the kernel keeps the names of crops and
  drawn views too, with no epoch: a warm pass sends one OPEN per file and
  no LOOKUP, and the OPEN of a version that is no longer current fails
  with ESTALE, so the kernel walks the path again and a label change still
  reaches the next open.
"""
import errno
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (Mount, coco_store, crop_of, curate, edit_boxes,  # noqa
                   eq, expect_errno, expect_no_requests, jpegs_under, read,
                   run_suite, warm_pass, write)

W, H = 320, 240
N = 8


def coco_doc(names, dx=0):
    """Each photo: a cat box and a dog box; even photos also a second cat
    box one pixel off the first (a duplicate: views/dupes shows them).
    dx moves every dog box, and the duplicate by dx // 30."""
    anns = []
    for i in range(len(names)):
        boxes = [(1, [10, 20, 60, 50]), (2, [100 + dx, 20, 60, 50])]
        if i % 2 == 0:  # moved with dx too, so the drawn view changes
            boxes.append((1, [11 + dx // 30, 20, 60, 50]))
        for cls, bb in boxes:
            anns.append({"id": len(anns) + 1, "image_id": i + 1,
                         "category_id": cls, "bbox": bb, "iscrowd": 0})
    return {"images": [{"id": i + 1, "file_name": n, "width": W,
                        "height": H} for i, n in enumerate(names)],
            "categories": [{"id": 1, "name": "cat"},
                           {"id": 2, "name": "dog"}],
            "annotations": anns}


def write_coco(path, names):
    json.dump(coco_doc(names), open(path, "w"))


def held_keeps(path, change, differs=True):
    """Opens path, runs change(), then checks that the held descriptor
    still reads the old bytes and a new open reads new ones (or, with
    differs False, the same).  Returns (old, new)."""
    old = read(path)
    with open(path, "rb") as f:
        change()
        new = read(path)
        eq(f.read(), old, "a reader holding %s" % os.path.basename(path))
    if differs and new == old:
        raise AssertionError("the next open of %s shows the old content"
                             % path)
    return old, new


def eventually(fn, what, limit=15.0):
    """Polls fn() until it is true; the seconds it took."""
    t0 = time.monotonic()
    while not fn():
        if time.monotonic() - t0 > limit:
            raise AssertionError("%s: not seen within %.0f s" % (what, limit))
        time.sleep(0.05)
    return time.monotonic() - t0


def body(ck, w):
    data, names, store = coco_store(w, N, W, H, write_coco)
    stems = [n[:-4] for n in names]
    mnt = w.sub("mnt")
    m = Mount(store, mnt, ["-d", "-o", "epoch"]).start()
    P = lambda *a: os.path.join(mnt, *a)  # noqa: E731

    def crops():
        return jpegs_under(P("export", "imagenet"))

    def dog_crop(stem):
        return crop_of(crops(), stem, "dog")

    def tag_coco(tag):
        return P("export", "tags", tag, "coco", "annotations",
                 "instances_default.json")

    def coco_files(path):
        return sorted(im["file_name"] for im in json.loads(read(path))
                      ["images"])

    def t_names_kept():
        st = read(P("status")).decode()
        if "names of generated files: kept by the kernel" not in st:
            raise AssertionError("status: " + st)
        files = crops() + [P("views", "dupes", f)
                           for f in sorted(os.listdir(P("views", "dupes")))]
        if len(files) < 2 * N + N // 2:
            raise AssertionError("%d generated files" % len(files))
        def stat_read(p):
            os.stat(p)
            read(p)
        c = warm_pass(m, files, stat_read, warmups=2)
        expect_no_requests(c, ("LOOKUP", "GETATTR", "READ"), "warm pass")
    ck.run("a warm pass over crops and drawn views sends no LOOKUP; status "
           "says names are kept", t_names_kept)

    def t_label_write():
        stem = stems[0]
        drawn = P("views", "dupes", stem + ".jpg")
        read(drawn)
        crop = dog_crop(stem)

        def move_dog():
            def fn(boxes):
                for b in boxes:
                    if b["label"] == "dog":
                        b["bbox"] = [150, 60, 120, 90]
                    elif b["bbox"][0] == 11:  # still a duplicate
                        b["bbox"] = [14, 22, 60, 50]
            edit_boxes(mnt, stem, fn)
        with open(drawn, "rb") as fd:
            old_drawn = fd.read()
            held_keeps(crop, move_dog)
            os.lseek(fd.fileno(), 0, os.SEEK_SET)
            eq(fd.read(), old_drawn, "a reader holding the drawn image")
        if read(drawn) == old_drawn:
            raise AssertionError("the next open of the drawn image shows "
                                 "the old one")
        eq(os.stat(crop).st_size, len(read(crop)), "the crop's size")
    ck.run("a label write reaches the next open of a crop and of a drawn "
           "view, never a reader holding the old one", t_label_write)

    def t_tag_mv():
        os.mkdir(P("tags", "t"))
        os.mkdir(P("tags", "u"))
        src = P("samples", names[1])
        os.rename(src, P("tags", "t", names[1]))
        before = coco_files(tag_coco("t"))
        eq(before, [names[1]], "export of tag t")
        held_keeps(tag_coco("t"), lambda: os.rename(
            P("samples", names[2]), P("tags", "t", names[2])))
        eq(coco_files(tag_coco("t")), [names[1], names[2]],
           "export of tag t after the move")
    ck.run("mv samples/x tags/t/ reaches the next open of the tag's export",
           t_tag_mv)

    def t_tag_to_tag():
        a, b = P("tags", "t", names[2]), P("tags", "u", names[2])
        ino_a = os.stat(a).st_ino
        held_keeps(tag_coco("t"), lambda: os.rename(a, b))
        st = os.stat(b)
        if st.st_ino == ino_a:
            raise AssertionError("tags/u/x shows the inode of tags/t/x")
        eq(read(b), read(os.path.join(data, names[2])), "bytes of tags/u/x")
        expect_errno(errno.ENOENT, os.stat, a)
        eq(coco_files(tag_coco("t")), [names[1]], "export of t")
        eq(coco_files(tag_coco("u")), [names[2]], "export of u")
    ck.run("mv tags/t/x tags/u/: the moved name is (u, x), the old one is "
           "gone, both exports follow", t_tag_to_tag)

    def t_rm():
        os.rename(P("tags", "t", names[1]), P("tags", "u", names[1]))
        f = P("tags", "u", names[2])
        os.stat(f)
        held_keeps(tag_coco("u"), lambda: os.unlink(f))
        expect_errno(errno.ENOENT, os.stat, f)
        eq(coco_files(tag_coco("u")), [names[1]], "export of u after rm")
    ck.run("rm tags/u/x: the name is gone, the export follows", t_rm)

    def t_tag_rename():
        old_json = tag_coco("u")
        with open(old_json, "rb") as f:
            before = f.read()
            os.rename(P("tags", "u"), P("tags", "v"))
            os.lseek(f.fileno(), 0, os.SEEK_SET)
            eq(f.read(), before, "a reader holding export/tags/u")
        expect_errno(errno.ENOENT, os.stat, old_json)
        expect_errno(errno.ENOENT, os.stat, P("tags", "u"))
        eq(coco_files(tag_coco("v")), [names[1]], "export of v")
    ck.run("mv tags/u tags/v: export/tags/u/ is gone, v is there",
           t_tag_rename)

    def t_provider_rename():
        stem = stems[4]
        drawn = P("views", "dupes", stem + ".jpg")
        pic = read(drawn)
        src = read(os.path.join(data, names[4]))
        if pic == src:
            raise AssertionError("the drawn image is the source")
        os.rename(drawn, P("tags", "v", names[4]))
        moved = P("tags", "v", names[4])
        eq(os.stat(moved).st_size, len(src), "size of the moved name")
        eq(read(moved), src, "the moved name shows the source")
        eq(read(drawn), pic, "the view still shows the drawn image")
    ck.run("mv views/dupes/x tags/v/: the moved name is the tag's file",
           t_provider_rename)

    def t_config():
        d = P("views", "dupes")
        listed = sorted(os.listdir(d))
        eq(len(listed), N // 2, "views/dupes")
        first = os.path.join(d, listed[0])
        os.stat(first)
        with open(first, "rb") as f:
            old = f.read()
            write(P("config"), "dupes.iou = 0.99\n")
            try:
                expect_errno(errno.ENOENT, os.stat, first)
                expect_errno(errno.ENOENT, read, first)
                eq(os.listdir(d), [], "views/dupes at dupes.iou 0.99")
                os.lseek(f.fileno(), 0, os.SEEK_SET)
                eq(f.read(), old, "a reader holding a drawn image")
            finally:
                write(P("config"), "dupes.iou = 0.75\n")
        eq(read(first), old, "the drawn image back with the setting")
    ck.run("a setting that empties views/dupes: cached names are gone at "
           "once, and back with the setting", t_config)

    def import_next_to(dx):
        """New boxes (new ids, so new crop names) written by `curate`."""
        stem = stems[6]
        crop = dog_crop(stem)
        drawn = P("views", "dupes", stem + ".jpg")
        coco = w.sub("moved-%d.json" % dx)
        json.dump(coco_doc(names, dx), open(coco, "w"))
        old = read(crop)
        old_drawn = read(drawn)
        with open(crop, "rb") as f, open(drawn, "rb") as fd:
            curate("import-labels", "--store", store, "--format", "coco",
                   coco)
            took = eventually(lambda: not os.path.exists(crop),
                              "the old crop's name gone after an import "
                              "next to the mount")
            eventually(lambda: read(drawn) != old_drawn,
                       "the drawn view redrawn after an import next to "
                       "the mount", 2.0)
            eq(f.read(), old, "a reader holding the crop")
            eq(fd.read(), old_drawn, "a reader holding the drawn view")
        new = dog_crop(stem)
        if new == crop or read(new) == old:
            raise AssertionError("the new dog crop of %s: %s" % (stem, new))
        eq(os.stat(new).st_size, len(read(new)), "the new crop's size")
        print("# seen %.2f s after the import" % took)

    ck.run("an import next to the mount reaches the next open of a crop",
           import_next_to, 30)
    m.umount()

    ro = Mount(store, mnt, ["-o", "readonly"]).start()  # epoch by default
    ck.run("... and on a -o readonly mount", import_next_to, 60)
    ro.umount()

    m = Mount(store, mnt, ["-d"]).start()  # the default: no epoch

    def t_default_kept():
        st = read(P("status")).decode()
        if "names of generated files: kept by the kernel; an open after a " \
                "change finds the new version" not in st:
            raise AssertionError("status: " + st)
        files = crops() + [P("views", "dupes", f)
                           for f in sorted(os.listdir(P("views", "dupes")))]
        c = warm_pass(m, files, warmups=2)
        expect_no_requests(c, ("LOOKUP", "GETATTR", "READ"), "warm pass")
        eq(c.get("OPEN"), len(files), "one OPEN per file")
    ck.run("by default (no -o epoch): a warm pass over crops and drawn "
           "views sends no LOOKUP, one OPEN per file", t_default_kept)

    def t_default_change():
        for rnd, stem in enumerate((stems[3], stems[5], stems[3])):
            crop = dog_crop(stem)
            drawn = P("views", "dupes", stem + ".jpg") \
                if os.path.exists(P("views", "dupes", stem + ".jpg")) \
                else None
            old_drawn = read(drawn) if drawn else None
            fd = open(drawn, "rb") if drawn else None
            ino = os.stat(crop).st_ino

            def move_dog():
                def fn(boxes):
                    for b in boxes:
                        if b["label"] == "dog":
                            b["bbox"] = [30 + 7 * rnd, 100, 100, 80]
                        elif b["bbox"][0] in (11, 14):  # the duplicate
                            b["bbox"] = [12 + rnd, 21, 60, 50]
                edit_boxes(mnt, stem, fn)
            since = len(m.logtext())
            _, new = held_keeps(crop, move_dog)
            # The kept name leads the open to the new inode: ESTALE at
            # the open of the old one, the kernel walks the path again.
            log = m.logtext()[since:]
            if "error: -116" not in log or "opcode: LOOKUP" not in log:
                raise AssertionError("no OPEN refused with ESTALE and "
                                     "LOOKUP after it:\n" + log[-3000:])
            if os.stat(crop).st_ino == ino:
                raise AssertionError("stat after the open: the old inode")
            eq(os.stat(crop).st_size, len(new), "the new crop's size")
            if fd:
                new_drawn = read(drawn)
                eq(fd.read(), old_drawn, "a reader holding the drawn view")
                fd.close()
                if new_drawn == old_drawn:
                    raise AssertionError("the next open of the drawn view "
                                         "shows the old one")
    ck.run("by default: a label change through the mount reaches the next "
           "open of a kept crop and drawn view, never a reader holding the "
           "old one", t_default_change)
    rel = {stem: os.path.relpath(dog_crop(stem), mnt) for stem in stems}
    m.umount()

    m = Mount(store, mnt).start()  # no name known to the kernel yet

    def t_write_after_first_lookup():
        stale = []
        for k, stem in enumerate(stems):
            lab = P("labels", stem + ".json")
            doc = json.loads(read(lab))
            for b in doc["fields"]["ground_truth"]:
                if b["label"] == "dog":
                    b["bbox"] = [40 + k, 90, 110, 90]
            crop = P(rel[stem])
            old = read(crop)  # the name's first LOOKUP, an instant ago
            write(lab, json.dumps(doc))
            if read(crop) == old:
                stale.append(stem)
        if stale:
            raise AssertionError("the open right after a label write showed "
                                 "the old crop of %s" % stale)
    ck.run("by default: a label write reaches the next open of a crop "
           "whose name was looked up just before the write",
           t_write_after_first_lookup)
    m.umount()


def main():
    run_suite("curatefs-namecache-", body)


if __name__ == "__main__":
    main()
