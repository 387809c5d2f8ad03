#!/usr/bin/python3
"""fs suite, the class schema: the `classes` file of a mount (listing with
ids and box counts; add, rename with the boxes following, remove only
while unused) and `curate classes`, each refusal with its errno (exit
status and one line for the tool) and nothing changed; ids stable across
renames and removals and kept by the COCO export; labels/*.json writes
and the schema agree."""
import errno
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (Mount, coco_store, curate, eq, edit_boxes,  # noqa
                   expect_errno, read, run_suite, write, write_coco_boxes)

W, H = 160, 120
BOXES = {0: [("cat", [10, 10, 50, 40]), ("dog", [60, 20, 30, 30])],
         1: [("cat", [5, 5, 20, 20])],
         2: [("dog", [1, 2, 30, 40])]}


def write_coco(path, names):
    write_coco_boxes(path, names, W, H, lambda i: BOXES.get(i, ()))


def table(text):
    out = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        cid, n, name = line.split(None, 2)
        out.append((int(cid), name, int(n)))
    return out


def body(ck, w):
    data, names, store = coco_store(w, 4, W, H, write_coco)
    stems = [n[:-4] for n in names]
    mnt = w.sub("mnt")
    m = Mount(store, mnt).start()
    K = os.path.join(mnt, "classes")
    L = os.path.join(mnt, "labels")

    def cls():
        return table(read(K).decode())

    def labels():
        return {n: read(os.path.join(L, n)) for n in sorted(os.listdir(L))}

    def coco_cats():
        doc = json.loads(read(os.path.join(
            mnt, "export", "coco", "annotations", "instances_default.json")))
        return [(c["id"], c["name"]) for c in doc["categories"]]

    def write_bytes(p, raw):
        with open(p, "wb") as f:
            f.write(raw)

    def refused(code, text):
        before_c, before_l = read(K), labels()
        expect_errno(code, write_bytes if isinstance(text, bytes) else write,
                     K, text)
        eq(read(K), before_c, "classes unchanged after %r" % text)
        eq(labels(), before_l, "labels unchanged after %r" % text)

    def t_list():
        eq(cls(), [(1, "cat", 2), (2, "dog", 2)], "listing")
        if "classes" not in os.listdir(mnt):
            raise AssertionError("no classes at the root")
        if "classes" not in read(os.path.join(mnt, "README.txt")).decode():
            raise AssertionError("README.txt does not explain classes")
    ck.run("classes lists ids, names and box counts", t_list)

    def t_add():
        write(K, "add bird\n")
        write(K, "add big fish\n")
        eq(cls(), [(1, "cat", 2), (2, "dog", 2), (3, "bird", 0),
                   (4, "big fish", 0)], "added")
        refused(errno.EEXIST, "add cat\n")
        refused(errno.EINVAL, "add bad\x01name\n")
        refused(errno.EINVAL, "add " + "x" * 201 + "\n")
        refused(errno.EINVAL, "frobnicate cat\n")
        refused(errno.EINVAL, "add\n")
        # names go into JSON, YAML and CVAT labels: UTF-8 only
        refused(errno.EINVAL, b"add \xff\xfe\n")
        refused(errno.EINVAL, b"add caf\xe9\n")            # Latin-1
        refused(errno.EINVAL, b"add \xc0\xaf\n")           # overlong '/'
        refused(errno.EINVAL, b"add \xed\xa0\x80\n")       # a surrogate
        refused(errno.EINVAL, b"rename dog -> \xff\n")
        if "UTF-8" not in read(os.path.join(mnt, "status")).decode():
            raise AssertionError("status does not give the reason")
        # a document is one transaction: a bad second line undoes the first
        refused(errno.EEXIST, "add eel\nadd dog\n")
    ck.run("add; existing, bad (invalid UTF-8 too) and unknown commands "
           "refused, nothing changed", t_add)

    def t_rename():
        before = labels()
        write(K, "rename cat -> feline\n")
        eq(cls()[0], (1, "feline", 2), "id and count kept")
        after = labels()
        for n in before:
            eq(after[n], before[n].replace(b'"label": "cat"',
                                           b'"label": "feline"'),
               "boxes follow in " + n)
        eq(coco_cats()[0], (1, "feline"), "export keeps the category id")
        write(K, "rename big fish -> small fish\n")
        write(K, "rename bird robin\n")
        eq([c[1] for c in cls()], ["feline", "dog", "robin", "small fish"],
           "renamed")
        refused(errno.EEXIST, "rename feline -> dog\n")
        refused(errno.ENOENT, "rename nope -> other\n")
        refused(errno.EINVAL, "rename dog -> bad\x02\n")
        refused(errno.EINVAL, "rename a b c\n")
    ck.run("rename: boxes follow, id kept; EEXIST, ENOENT, EINVAL change "
           "nothing", t_rename)

    def t_remove():
        refused(errno.EBUSY, "remove dog\n")
        refused(errno.ENOENT, "remove nope\n")
        write(K, "remove robin\n")
        eq([c[:2] for c in cls()], [(1, "feline"), (2, "dog"),
                                    (4, "small fish")], "removed")
        write(K, "add eel\n")
        eq(cls()[-1], (5, "eel", 0), "a removed id is not handed out again")
        eq(coco_cats(), [(1, "feline"), (2, "dog"), (4, "small fish"),
                         (5, "eel")], "export categories follow")
        # once no box uses dog, it can go
        edit_boxes(mnt, stems[0], lambda b: b.__setitem__(
            slice(None), [x for x in b if x["label"] != "dog"]))
        edit_boxes(mnt, stems[2], lambda b: b.clear())
        write(K, "remove dog\n")
        eq([c[1] for c in cls()], ["feline", "small fish", "eel"],
           "dog removed once unused")
    ck.run("remove: EBUSY while boxes use it, ENOENT unknown; ids never "
           "reused", t_remove)

    def t_labels_agree():
        edit_boxes(mnt, stems[3], lambda b: b.append(
            {"label": "heron", "bbox": [1, 1, 5, 5]}))
        eq(cls()[-1], (6, "heron", 1), "a label write creates the class")
    ck.run("labels/*.json writes create classes the schema lists",
           t_labels_agree)

    def t_several_writes():
        # A shell group writes one line per write(2); every line runs.
        sh = subprocess.run(["sh", "-c", "{ echo 'add w1'; echo 'add w2'; "
                             "printf 'add w'; printf '3\\nadd w4'; } > '%s'"
                             % K], capture_output=True, text=True)
        eq(sh.returncode, 0, "shell group: " + sh.stderr)
        eq([c[1] for c in cls()[-4:]], ["w1", "w2", "w3", "w4"],
           "each write's lines ran, the last line at close")
        # A document larger than one write runs whole.
        doc = os.path.join(w.path, "big.txt")
        with open(doc, "w") as f:
            f.write("".join("add bulk_class_%06d\n" % i
                            for i in range(12000)))
        sh = subprocess.run(["sh", "-c", "cat '%s' > '%s'" % (doc, K)],
                            capture_output=True, text=True)
        eq(sh.returncode, 0, "cat of a large document: " + sh.stderr)
        names = [c[1] for c in cls()]
        eq(names[-12000:], ["bulk_class_%06d" % i for i in range(12000)],
           "every line of the large document")
        write(K, "".join("remove bulk_class_%06d\n" % i
                         for i in range(12000)) +
              "remove w1\nremove w2\nremove w3\nremove w4\n")
        # A refused write fails, and so do the writes after it.
        fd = os.open(K, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, b"add z1\n")
            expect_errno(errno.EEXIST, os.write, fd, b"add z1\n")
            expect_errno(errno.EEXIST, os.write, fd, b"add z2\n")
        finally:
            try:
                os.close(fd)
            except OSError:
                pass
        eq([c[1] for c in cls()][-1], "z1", "the first write ran")
        write(K, "remove z1\n")
    ck.run("a document in several write(2)s or larger than one runs every "
           "line", t_several_writes)
    listing = read(K)
    m.umount()

    def t_curate():
        p = curate("classes", "--store", store)
        eq(p.stdout.encode(), listing, "curate classes = the classes file")
        curate("classes", "--store", store, "add", "owl", "lark")
        owl = [c[0] for c in table(curate("classes", "--store", store)
                                   .stdout) if c[1] == "owl"]
        curate("classes", "--store", store, "rename", "owl", "tawny owl")
        curate("classes", "--store", store, "remove", "lark")
        got = table(curate("classes", "--store", store).stdout)
        eq([c[1] for c in got], ["feline", "small fish", "eel", "heron",
                                 "tawny owl"], "curate gestures")
        eq([got[-1][0]], owl, "id of owl kept by the rename")
        for args, word in ((["add", "eel"], "exists"),
                           (["add", "ok", "bad\x01"], "bad class name"),
                           # quoted up to 80 bytes, cut between characters
                           # (26 of 3 bytes), never inside one
                           (["add", "\u65e5" * 70],
                            "bad class name '%s' (" % ("\u65e5" * 26)),
                           (["rename", "nope", "x"], "no class"),
                           (["rename", "eel", "heron"], "exists"),
                           (["remove", "feline"], "used by 2 box"),
                           (["remove", "nope"], "no class")):
            before = curate("classes", "--store", store).stdout
            p = curate("classes", "--store", store, *args, check=False)
            eq(p.returncode, 1, "exit status of %s" % args)
            if word not in p.stderr or p.stderr.count("\n") != 1:
                raise AssertionError("one line naming the reason: %r"
                                     % p.stderr)
            eq(curate("classes", "--store", store).stdout, before,
               "nothing changed by %s" % args)
        p = curate("classes", "--store", store, "rename", "x", check=False)
        eq(p.returncode, 2, "usage error")
    ck.run("curate classes: list, add, rename, remove; refusals exit 1 with "
           "one line and change nothing", t_curate)


if __name__ == "__main__":
    run_suite("fs-classes-", body)
