#!/usr/bin/python3
"""fs suite, many readers and one writer: `curate snapshot` copies a store
while its mount keeps changing it; the copy mounted `-o readonly` at a
second mount point serves exactly the version of the moment of the copy
(tags, labels, samples), refuses writes, and passes `curate check`, while
the writer's mount goes on with its newer version.  A snapshot taken while
an import writes is consistent too."""
import errno
import os
import shutil
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (Mount, curate, edit_boxes, eq, expect_errno,  # noqa
                   make_jpegs, read, run_suite)

N = 40


def state(mnt):
    """What a reader sees: samples, tag members and every label file."""
    out = {"samples": sorted(os.listdir(os.path.join(mnt, "samples")))}
    tags = os.path.join(mnt, "tags")
    out["tags"] = {t: sorted(os.listdir(os.path.join(tags, t)))
                   for t in sorted(os.listdir(tags))}
    lab = os.path.join(mnt, "labels")
    out["labels"] = {f: read(os.path.join(lab, f))
                     for f in sorted(os.listdir(lab))}
    return out


def body(ck, w):
    src = w.sub("images")
    make_jpegs(src, N)
    store = w.sub("store")
    curate("import", "--store", store, src)
    mnt = w.sub("mnt")
    m = Mount(store, mnt).start()
    names = sorted(os.listdir(os.path.join(mnt, "samples")))
    os.mkdir(os.path.join(mnt, "tags", "keep"))
    for n in names[:5]:
        os.rename(os.path.join(mnt, "samples", n),
                  os.path.join(mnt, "tags", "keep", n))
    curate("classes", "--store", store, "add", "cat")
    edit_boxes(mnt, os.path.splitext(names[0])[0],
               lambda b: b.append({"label": "cat", "bbox": [1, 1, 8, 8]}))
    before = state(mnt)
    snap = w.sub("snap")

    def t_snapshot():
        out = curate("snapshot", "--store", store, snap).stdout
        if "written" not in out:
            raise AssertionError("no confirmation: %r" % out)
        eq(oct(os.stat(os.path.join(snap, "data.mdb")).st_mode & 0o777),
           "0o600", "the copy is the owner's alone")
        r = curate("snapshot", "--store", store, snap, check=False)
        if r.returncode != 1 or "exists" not in r.stderr:
            raise AssertionError("a second snapshot onto OUT: %r" %
                                 (r.returncode, r.stderr))
    ck.run("curate snapshot copies the store while it is mounted",
           t_snapshot)

    # The writer goes on.
    for n in names[5:8]:
        os.rename(os.path.join(mnt, "samples", n),
                  os.path.join(mnt, "tags", "keep", n))
    os.rename(os.path.join(mnt, "tags", "keep", names[0]),
              os.path.join(mnt, "samples", names[0]))
    after = state(mnt)
    if after == before:
        raise AssertionError("the writer's changes did not show")

    mnt2 = w.sub("mnt2")
    m2 = Mount(snap, mnt2, ["-o", "readonly"]).start()

    def t_replica():
        eq(state(mnt2), before, "the replica serves the snapshot's version")
        eq(state(mnt), after, "the writer serves its newer version")
        a = read(os.path.join(mnt2, "samples", names[1]))
        b = read(os.path.join(src, names[1]))
        eq(a == b, True, "sample bytes through the replica")
        expect_errno(errno.EROFS, os.rename,
                     os.path.join(mnt2, "samples", names[9]),
                     os.path.join(mnt2, "tags", "keep", names[9]))
    ck.run("a read-only mount of the snapshot serves its own version",
           t_replica)
    m2.umount()

    def t_check():
        r = curate("check", "--store", snap, check=False)
        if r.returncode != 0:
            raise AssertionError("check of the snapshot: %s %s" %
                                 (r.stdout, r.stderr))
    ck.run("the snapshot passes curate check", t_check)
    m.umount()

    def t_during_import():
        more = w.sub("more")
        make_jpegs(more, 150, seed=7)
        for f in os.listdir(src):
            shutil.copy(os.path.join(src, f), more)
        p = subprocess.Popen([os.environ.get("CURATE"), "import",
                              "--store", store, more],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        snaps = []
        try:
            for i in range(3):
                s = w.sub("snap-import-%d" % i)
                curate("snapshot", "--store", store, s)
                snaps.append(s)
        finally:
            p.wait()
        for s in snaps:
            r = curate("check", "--store", s, check=False)
            if r.returncode != 0:
                raise AssertionError("a snapshot during an import: %s" %
                                     r.stdout[-500:])
    ck.run("snapshots taken during an import are consistent",
           t_during_import)


if __name__ == "__main__":
    run_suite("curatefs-snapshot-", body)
