#!/usr/bin/python3
"""fault suite, `curate` and source files: failures injected by
tests/fault/faultshim.c (preloaded) into `curate` and the daemon.  Each
failure gives its errno's message in one line and a non-zero exit (or
the errno to the caller through the mount); what was committed stays, and
the store opens and works afterwards.

- the store's data file cannot be opened (EIO);
- the map fills during an import (MDB_MAP_FULL, a 256 KiB map):
  ENOSPC, committed samples stay, a later import completes them;
- fdatasync fails at an import's first commit (EIO): nothing is stored;
- a source image cannot be read (EIO from pread): reported as skipped,
  imported by the next run;
- every write to the store fails (ENOSPC) during a label import: labels
  unchanged;
- an allocation of the COCO file's size fails (ENOMEM): nothing changes;
- through the mount, reading a sample whose source read fails gives EIO
  and the next read works; a failed allocation while a label document is
  written gives ENOMEM and the labels stay.
"""
import errno
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
from faultlib import fault_env  # noqa: E402
from fslib import (CURATE, Mount, eq, expect_errno, make_jpegs,  # noqa
                   read, run_suite, write)

FAULTMALLOC = os.environ.get("FAULTMALLOC", "build/tests/libfaultmalloc.so")


def tool(args, env=None):
    p = subprocess.run([CURATE] + args, capture_output=True, text=True,
                       env=env, timeout=600)
    return p.returncode, p.stdout, p.stderr


def one_line_error(rc, err, want):
    if rc == 0:
        raise AssertionError("exit 0; expected a failure: " + want)
    lines = err.strip().split("\n")
    if len(lines) != 1 or not lines[0].startswith("curate: ") or \
            want not in lines[0]:
        raise AssertionError("expected one line with %r, got %r" % (want,
                                                                   err))


def samples(store):
    rc, out, err = tool(["info", "--store", store])
    if rc != 0:
        raise AssertionError("the store does not open: " + err)
    for line in out.split("\n"):
        if line.startswith("samples: "):
            return int(line.split()[1])
    raise AssertionError("no sample count: " + out)


def coco_export(store, out):
    rc, _, err = tool(["export", "--store", store, "--format", "coco", out])
    if rc != 0:
        raise AssertionError("export failed: " + err)
    return read(os.path.join(out, "annotations", "instances_default.json"))


def body(ck, w):
    data = w.sub("data")
    make_jpegs(data, 12, extra=["-W", "96", "-H", "64"])
    names = sorted(os.listdir(data))
    many = w.sub("many")
    make_jpegs(many, 600, seed=4, extra=["-W", "64", "-H", "48"])
    seq = [0]

    def fresh(name):
        seq[0] += 1
        return w.sub("%s-%d" % (name, seq[0]))

    def t_open_eio():
        store = fresh("store")
        rc, _, err = tool(["import", "--store", store, data])
        eq(rc, 0, "import: " + err)
        rc, _, err = tool(["info", "--store", store],
                          fault_env(op="open", path="data.mdb"))
        one_line_error(rc, err, "cannot open store '%s': %s" % (
            store, os.strerror(errno.EIO)))
        eq(samples(store), len(names), "samples after the failed open")
    ck.run("the store file cannot be opened: one line, exit 1",
           t_open_eio)

    def t_map_full():
        store = fresh("store")
        env = dict(os.environ, CURATE_TEST_MAP_SIZE=str(256 * 1024))
        rc, _, err = tool(["import", "--store", store, many], env)
        one_line_error(rc, err, "import of '%s' failed: %s" % (
            many, os.strerror(errno.ENOSPC)))
        # A new store whose import committed nothing is removed again
        # (nothing imported, nothing created); one with batches stays.
        n = samples(store) if os.path.exists(store) else 0
        if n > 600:
            raise AssertionError("%d samples" % n)
        rc, out, err = tool(["import", "--store", store, many])
        eq(rc, 0, "import with the default map: " + err)
        if "imported 600 image files" not in out:
            raise AssertionError(out)
        eq(samples(store), 600, "samples after the second import")
    ck.run("a full map during import: ENOSPC, the store opens, the next "
           "import completes it", t_map_full)

    def t_sync_eio():
        store = fresh("store")
        logf = fresh("log")
        # Creating the store is one commit; the import's first batch is
        # the second.
        rc, _, err = tool(["import", "--store", store, data],
                          fault_env(op="fsync", path="data.mdb", skip=1,
                                    log=logf))
        one_line_error(rc, err, "import of '%s' failed: %s" % (
            data, os.strerror(errno.EIO)))
        # Nothing was committed: the store this import created is gone.
        eq(os.path.exists(store), False, "store after the failed commit")
        rc, out, err = tool(["import", "--store", store, data])
        eq(rc, 0, "second import: " + err)
        eq(samples(store), len(names), "samples after the second import")
    ck.run("fdatasync fails at the import's commit: EIO, nothing stored",
           t_sync_eio)

    def t_source_eio():
        store = fresh("store")
        bad = names[3]
        rc, out, err = tool(["import", "--store", store, data],
                            fault_env(op="pread", path=bad))
        eq(rc, 0, "an unreadable file does not stop the import: " + err)
        if "skipped %s: read error" % bad not in err + out:
            raise AssertionError("not reported: %r %r" % (out, err))
        if "%d new" % (len(names) - 1) not in out or "1 skipped" not in out:
            raise AssertionError(out)
        eq(samples(store), len(names) - 1, "samples")
        rc, out, err = tool(["import", "--store", store, data])
        eq(rc, 0, "re-import: " + err)
        if "1 new" not in out:
            raise AssertionError(out)
        eq(samples(store), len(names), "samples after re-import")
    ck.run("a source file that cannot be read is reported and skipped; "
           "the next import takes it", t_source_eio)

    # A store with labels for the label-import and mount cases.
    store = fresh("store")
    coco = {"images": [], "annotations": [],
            "categories": [{"id": 1, "name": "cat"}]}
    for i, n in enumerate(names):
        coco["images"].append({"id": i + 1, "file_name": n, "width": 96,
                               "height": 64})
        coco["annotations"].append({"id": i + 1, "image_id": i + 1,
                                    "category_id": 1, "iscrowd": 0,
                                    "bbox": [4, 4, 20 + i, 10],
                                    "area": 10 * (20 + i)})
    cj = w.sub("coco.json")
    json.dump(coco, open(cj, "w"))
    rc, _, err = tool(["import", "--store", store, "--coco", cj, data])
    eq(rc, 0, "import --coco: " + err)

    def t_label_import_enospc():
        before = coco_export(store, fresh("exp"))
        moved = json.loads(json.dumps(coco))
        for a in moved["annotations"]:
            a["bbox"][0] += 1
        mj = fresh("moved.json")
        json.dump(moved, open(mj, "w"))
        rc, _, err = tool(["import-labels", "--store", store, "--format",
                           "coco", "--field", "ground_truth", mj],
                          fault_env(op="write", path="data.mdb",
                                    errno="ENOSPC", count=0))
        one_line_error(rc, err, os.strerror(errno.ENOSPC))
        eq(coco_export(store, fresh("exp")), before, "labels unchanged")
    ck.run("every store write fails during import-labels: ENOSPC, labels "
           "unchanged", t_label_import_enospc)

    def t_cvat_folder_open_eio():
        # a folder's annotations.xml that will not open: named by its path,
        # as before it was opened through limp_src_open (its name alone)
        cv = fresh("cvat")
        os.makedirs(cv)
        with open(os.path.join(cv, "annotations.xml"), "w") as f:
            f.write("<annotations></annotations>\n")
        rc, _, err = tool(["import-labels", "--store", store, "--format",
                           "cvat", "--field", "cv", cv],
                          fault_env(op="open", path="annotations.xml"))
        one_line_error(rc, err, os.path.join(cv, "annotations.xml") + ": " +
                       os.strerror(errno.EIO))
    ck.run("a CVAT folder's annotations.xml that fails to open: EIO, named "
           "by its path", t_cvat_folder_open_eio)

    def t_coco_enomem():
        before = coco_export(store, fresh("exp"))
        big = json.loads(json.dumps(coco))
        big["info"] = {"description": "x" * (3 << 20)}
        bj = fresh("big.json")
        json.dump(big, open(bj, "w"))
        env = fault_env(op="malloc", min=2 << 20, count=0)
        env["LD_PRELOAD"] = FAULTMALLOC
        env["ASAN_OPTIONS"] += ":detect_leaks=0"
        rc, _, err = tool(["import-labels", "--store", store, "--format",
                           "coco", "--field", "ground_truth", bj], env)
        one_line_error(rc, err, os.strerror(errno.ENOMEM))
        eq(coco_export(store, fresh("exp")), before, "labels unchanged")
    ck.run("no memory for the COCO file: ENOMEM, labels unchanged",
           t_coco_enomem)

    mnt = w.sub("mnt")

    def t_mount_source_eio():
        bad = names[5]
        src = read(os.path.join(data, bad))
        m = Mount(store, mnt, ["-o", "nopassthrough"],
                  env=fault_env(op="pread", path=bad, count=2)).start()
        p = os.path.join(mnt, "samples", bad)
        # libfuse splices the source to the kernel and falls back to
        # pread when the splice fails: both fail here.
        expect_errno(errno.EIO, read, p)
        # Two failures (FAULT_COUNT=2): the next read gets the bytes.
        eq(read(p), src, "the next read")
        eq(read(os.path.join(mnt, "samples", names[0])),
           read(os.path.join(data, names[0])), "another sample")
        m.umount()
    ck.run("through the mount: a source read error gives EIO, the next "
           "read works", t_mount_source_eio)

    def t_mount_enomem():
        stem = names[2][:-4]
        env = fault_env(op="malloc", min=4 << 20, count=0)
        env["LD_PRELOAD"] = FAULTMALLOC
        env["ASAN_OPTIONS"] += ":detect_leaks=0"
        m = Mount(store, mnt, env=env).start()
        lab = os.path.join(mnt, "labels", stem + ".json")
        before = read(lab)
        doc = json.loads(before)
        doc["sample"] = "s" * (6 << 20)
        text = json.dumps(doc).encode()
        fd = os.open(lab, os.O_WRONLY | os.O_TRUNC)
        try:
            def write_all():
                off = 0
                while off < len(text):
                    off += os.write(fd, text[off:off + (1 << 20)])
            expect_errno(errno.ENOMEM, write_all)
        finally:
            # The descriptor is rejected: close() fails too, nothing stored.
            try:
                os.close(fd)
                raise AssertionError("close() after ENOMEM succeeded")
            except OSError:
                pass
        eq(read(lab), before, "labels after ENOMEM")
        doc["sample"] = "small"
        write(lab, json.dumps(doc))
        eq(json.loads(read(lab))["fields"], doc["fields"], "next write")
        m.umount()
    ck.run("through the mount: no memory for a label document gives "
           "ENOMEM, labels unchanged", t_mount_enomem)


if __name__ == "__main__":
    run_suite("curatefs-toolfault-", body)
