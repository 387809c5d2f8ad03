#!/usr/bin/python3
"""fs suite, kernel passthrough: a generated file larger than the daemon
keeps in memory (an export's COCO JSON over 1 MiB) is read by the kernel
straight from the daemon's cache file.  Checks that the mount negotiates
it where the kernel offers it (Linux 6.9+); that such reads (read and
mmap) equal `curate export`; that a reader holding one version keeps it
while the next open gets the new one (a fresh inode, since the kernel
allows one backing file per inode); that switching between cache-file and
in-memory versions under open readers works both ways; that readers
racing a stream of label changes always read whole versions; and that
-o nopassthrough, or a store whose files the kernel refuses as backing
files (on overlayfs), serves the same bytes the usual way."""
import errno
import fcntl
import gzip
import json
import mmap
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import Mount, coco_store, curate, eq, read  # noqa: E402
from fslib import edit_boxes, run_suite  # noqa: E402

W, H = 320, 240
N = 12
BOXES = 1300         # per image: ~1.6 MB of COCO JSON in all
GEN_MEM_MAX = 1 << 20


def kernel_has_passthrough():
    """Asks the kernel, not its version string: FUSE_DEV_IOC_BACKING_OPEN on
    a /dev/fuse descriptor not attached to a mount answers EPERM where the
    kernel has passthrough (the ioctl exists and wants a session) and ENOTTY
    where it has not; where the build configuration is readable,
    CONFIG_FUSE_PASSTHROUGH must be set too."""
    req = (1 << 30) | (16 << 16) | (229 << 8) | 1   # _IOW(229, 1, 16 bytes)
    fd = os.open("/dev/fuse", os.O_RDWR)
    try:
        fcntl.ioctl(fd, req, bytes(16))
        raise AssertionError("BACKING_OPEN without a session succeeded")
    except OSError as e:
        if e.errno == errno.ENOTTY:
            return False
        if e.errno != errno.EPERM:
            raise AssertionError("BACKING_OPEN probe: unexpected %s"
                                 % errno.errorcode.get(e.errno, e.errno))
    finally:
        os.close(fd)
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            return "CONFIG_FUSE_PASSTHROUGH=y" in f.read().splitlines()
    except OSError:
        return True


def write_coco(path, names):
    images, anns = [], []
    for i, n in enumerate(names):
        images.append({"id": i + 1, "file_name": n, "width": W, "height": H})
        for j in range(BOXES):
            b = [j % 200, (j * 7) % 150, 20 + j % 50, 15 + j % 40]
            anns.append({"id": len(anns) + 1, "image_id": i + 1,
                         "category_id": 1 + j % 3, "bbox": b,
                         "iscrowd": 0, "area": b[2] * b[3]})
    json.dump({"images": images, "annotations": anns, "categories": [
        {"id": 1, "name": "cat"}, {"id": 2, "name": "dog"},
        {"id": 3, "name": "bird"}]}, open(path, "w"))


def status(mnt):
    return read(os.path.join(mnt, "status")).decode()


def pt_opens(mnt):
    for line in status(mnt).splitlines():
        if line.startswith("kernel passthrough: on, "):
            return int(line.split()[3])
    raise AssertionError("passthrough not on: " + status(mnt))


def body(ck, w):
    data, names, store = coco_store(w, N, W, H, write_coco)
    stems = [n[:-4] for n in names]
    mnt = w.sub("mnt")
    m = Mount(store, mnt).start()
    rel = os.path.join("coco", "annotations", "instances_default.json")
    p = os.path.join(mnt, "export", rel)
    on = kernel_has_passthrough()
    if not on:
        print("# kernel %s has no passthrough: checking that the mount "
              "says so and serves the usual way" % os.uname().release)

    def tool_export():
        out = w.sub("out-%d" % len(os.listdir(w.sub())))
        curate("export", "--store", store, "--format", "coco", out)
        return read(os.path.join(out, "annotations",
                                 "instances_default.json"))

    def t_negotiated():
        st = status(mnt)
        if on:
            if "kernel passthrough: on" not in st:
                raise AssertionError("not negotiated: " + st)
        elif "kernel passthrough: off: the kernel does not offer" not in st:
            raise AssertionError("no reason given: " + st)
    ck.run("status says whether the kernel reads cache files directly",
           t_negotiated)

    def t_read_equals_tool():
        n0 = pt_opens(mnt) if on else 0
        got = read(p)
        if len(got) <= GEN_MEM_MAX:
            raise AssertionError("test file too small: %d" % len(got))
        eq(got, tool_export(), "bytes vs curate export")
        eq(os.stat(p).st_size, len(got), "size")
        with open(p, "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
            eq(mm[:], got, "mmap")
            mm.close()
        if on and pt_opens(mnt) < n0 + 2:
            raise AssertionError("opens were not served by passthrough")
    ck.run("a large export reads (and maps) as `curate export` writes it",
           t_read_equals_tool)

    def shrink(keep):
        for s in stems:
            edit_boxes(mnt, s, lambda b: b.__delitem__(slice(keep, None)))

    def t_held_version():
        before = read(p)
        f1 = open(p, "rb")
        head = f1.read(100)
        edit_boxes(mnt, stems[0], lambda b: b.append(
            {"label": "dog", "bbox": [100, 100, 30, 30]}))
        f2 = open(p, "rb")
        new = f2.read()
        eq(head + f1.read(), before, "held reader")
        if b"[100,100,30,30]" not in new or len(new) == len(before):
            raise AssertionError("next open lacks the change")
        if on and os.fstat(f1.fileno()).st_ino == \
                os.fstat(f2.fileno()).st_ino:
            raise AssertionError("one inode holds two backing files")
        f1.close()
        f2.close()
        eq(read(p), new, "after both closed")
        eq(os.stat(p).st_size, len(new), "new size")
        eq(new, tool_export(), "vs curate export")
    ck.run("a held version stays whole; the next open is the new one",
           t_held_version)

    def t_switch_modes():
        # Large (cache file) held; the file becomes small (memory).
        big = read(p)
        f1 = open(p, "rb")
        part = f1.read(4096)
        shrink(2)
        small = read(p)
        if len(small) >= GEN_MEM_MAX:
            raise AssertionError("not small: %d" % len(small))
        eq(small, tool_export(), "small vs curate export")
        # Small held (page cache); the file becomes large again.
        f2 = open(p, "rb")
        spart = f2.read(1000)
        edit_boxes(mnt, stems[1], lambda b: b.extend(
            {"label": "cat", "bbox": [k % 100, 5, 10, 10]}
            for k in range(16000)))
        big2 = read(p)
        if len(big2) <= GEN_MEM_MAX:
            raise AssertionError("not large: %d" % len(big2))
        eq(big2, tool_export(), "large again vs curate export")
        eq(part + f1.read(), big, "first reader")
        eq(spart + f2.read(), small, "second reader")
        f1.close()
        f2.close()
        json.loads(read(p))
    ck.run("large and in-memory versions alternate under open readers",
           t_switch_modes)

    def concurrent(path, edit_stems):
        # Readers open, read slowly and close while labels keep changing:
        # each read is one whole version, and no open fails.  Versions
        # open at the same time live on different inodes: they would
        # share a page cache (or a backing file) on one.
        # The run ends on counts, not on time; the deadline only stops a
        # hang (a failure) on a loaded machine.
        errs, reads, edits = [], [0], [0]
        deadline = time.monotonic() + 400

        def done():
            return (reads[0] >= 40 and edits[0] >= 30) or \
                time.monotonic() > deadline

        def reader():
            while not done():
                try:
                    with open(path, "rb") as f:
                        a = f.read(1000)
                        time.sleep(0.01)
                        doc = a + f.read()
                    json.loads(doc)
                    reads[0] += 1
                except Exception as e:  # collected, reported below
                    errs.append(repr(e))

        def writer():
            while not done():
                k = edits[0]
                try:
                    edit_boxes(mnt, edit_stems[k % len(edit_stems)],
                               lambda b: b.append({"label": "dog", "bbox":
                                                   [k % 90, 3, 9, 9]}))
                    edits[0] += 1
                except Exception as e:
                    errs.append("writer: " + repr(e))
        ts = [threading.Thread(target=reader) for _ in range(6)]
        ts.append(threading.Thread(target=writer))
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errs:
            raise AssertionError("%d errors, first: %s" % (len(errs),
                                                            errs[0]))
        if reads[0] < 40 or edits[0] < 30:
            raise AssertionError("%d reads, %d edits in 400 s" % (
                reads[0], edits[0]))

    def t_concurrent():
        concurrent(p, stems)
        eq(read(p), tool_export(), "settled")
    ck.run("readers under a stream of label changes read whole versions",
           t_concurrent)

    def t_concurrent_small():
        # The same for a file kept in memory (read through the page cache).
        os.mkdir(os.path.join(mnt, "tags", "one"))
        os.rename(os.path.join(mnt, "samples", names[3]),
                  os.path.join(mnt, "tags", "one", names[3]))
        small = os.path.join(mnt, "export", "tags", "one", "coco",
                             "annotations", "instances_default.json")
        if os.stat(small).st_size >= GEN_MEM_MAX:
            raise AssertionError("not small")
        concurrent(small, [stems[3]])
    ck.run("... and so do readers of an export kept in memory",
           t_concurrent_small)

    m.umount()

    def t_off():
        m2 = Mount(store, mnt, ["-o", "nopassthrough"]).start()
        try:
            if "kernel passthrough: off: not installed" not in status(mnt):
                raise AssertionError(status(mnt))
            eq(read(p), tool_export(), "bytes")
        finally:
            m2.umount()
    ck.run("-o nopassthrough serves the same bytes the usual way", t_off)

    def t_stacked_store():
        # A store on overlayfs: the kernel refuses its files as backing
        # files (stacking depth); the open that found out, and every later
        # one, is served the usual way.
        ov = w.sub("ov")
        dirs = {k: os.path.join(ov, k) for k in
                ("lower", "upper", "work", "merged")}
        for d in dirs.values():
            os.makedirs(d)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        "lowerdir=%(lower)s,upperdir=%(upper)s,"
                        "workdir=%(work)s" % dirs, dirs["merged"]],
                       check=True)
        try:
            st2 = os.path.join(dirs["merged"], "store")
            shutil.copytree(store, st2)
            m3 = Mount(st2, mnt).start()
            try:
                want = tool_export()
                eq(read(p), want, "first read")
                s = status(mnt)
                if on and "kernel passthrough: off: the store's " \
                        "filesystem is stacked" not in s:
                    raise AssertionError("no reason in status: " + s)
                eq(read(p), want, "later read")
            finally:
                m3.umount()
        finally:
            subprocess.run(["umount", dirs["merged"]], check=True)
    ck.run("a store the kernel refuses as backing is served the usual way",
           t_stacked_store)


def main():
    run_suite("curatefs-passthrough-", body)


if __name__ == "__main__":
    main()
