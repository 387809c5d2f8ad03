"""`curate import` that fails exits 1 with the store exactly as it was
(USER-GUIDE §17): a label file it cannot read or use, or a folder that is
not there, is found before the folder step commits anything, and a store
the failed run would have created is not left behind.  Also the messages
of a store that cannot be opened (not a store, a newer schema)."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xlib  # noqa: E402
from xlib import check, curate, run, write  # noqa: E402


def state(ds):
    """What a failed import must not change: counts, the per-sample table
    and every box."""
    info = curate("info", "--store", ds.store, "--json").stdout
    table = curate("table", "--store", ds.store, "--read-only", "--format",
                   "jsonl").stdout
    return (info, table, json.dumps(ds.dump(), sort_keys=True))


def refused(ds, label, args, text, before):
    p = curate("import", "--store", ds.store, "--no-features", *args,
               ok=False)
    err = p.stderr.decode()
    check(p.returncode == 1 and text in err and len(err.splitlines()) <= 2,
          "%s: exit %d, %r" % (label, p.returncode, err))
    check(state(ds) == before, "%s: the store is as it was" % label)


def main():
    ds = xlib.Dataset(n=6, tags=False)
    # A new photo the failed imports must not bring in.
    first = os.path.join(ds.photos, ds.rels[0])
    shutil.copy(first, os.path.join(ds.photos, "zz-new.jpg"))
    before = state(ds)

    refused(ds, "--coco missing", ["--coco", ds.path("nope.json"),
                                   ds.photos],
            "cannot read COCO file", before)
    bad = ds.path("broken.json")
    write(bad, '{"images": [')
    refused(ds, "--coco broken JSON", ["--coco", bad, ds.photos],
            "nothing imported", before)
    dup = ds.path("dup.json")
    write(dup, json.dumps({"images": [
        {"id": 1, "file_name": "a.jpg", "width": 4, "height": 4},
        {"id": 1, "file_name": "b.jpg", "width": 4, "height": 4}],
        "categories": [{"id": 1, "name": "x"}], "annotations": []}))
    refused(ds, "--coco duplicate image id", ["--coco", dup, ds.photos],
            "appears twice", before)
    refused(ds, "--predictions missing", ["--predictions",
                                          ds.path("nope-preds.json"),
                                          ds.photos],
            "cannot read predictions", before)
    os.mkdir(ds.path("yolo-preds"))
    refused(ds, "--names missing", ["--predictions", ds.path("yolo-preds"),
                                    "--names", ds.path("nope.yaml"),
                                    ds.photos],
            "cannot read names file", before)
    refused(ds, "YOLO predictions without --names",
            ["--predictions", ds.path("yolo-preds"), ds.photos],
            "need the class names", before)
    fifo = ds.path("fifo.json")
    os.mkfifo(fifo)
    refused(ds, "--coco a FIFO", ["--coco", fifo, ds.photos],
            "not a regular file", before)
    refused(ds, "--predictions a FIFO", ["--predictions", fifo, ds.photos],
            "not a regular file", before)
    refused(ds, "folder typo", [ds.path("phtoos")], "cannot read folder",
            before)
    refused(ds, "folder is a file", [first], "Not a directory", before)

    # A typo in DIR with a new --store: no store folder is made.
    new = ds.path("new-store")
    p = curate("import", "--store", new, ds.path("phtoos"), ok=False)
    check(p.returncode == 1 and not os.path.exists(new),
          "folder typo, new store: exit %d, store folder left: %s" % (
              p.returncode, os.path.exists(new)))
    # A new store whose import fails after the folder step (the COCO file
    # is read, but empties the field of matched images): removed again.
    empty = ds.path("empty-cats.json")
    write(empty, json.dumps({"images": [
        {"id": 1, "file_name": ds.rels[0], "width": 4, "height": 4}],
        "categories": [], "annotations": []}))
    p = curate("import", "--store", new, "--no-features", "--coco", empty,
               ds.photos, ok=False)
    check(p.returncode == 1 and not os.path.exists(new),
          "failing COCO step, new store: exit %d, store folder left: %s" % (
              p.returncode, os.path.exists(new)))

    # Opening what is not a store says so, and creates nothing in it.
    notastore = ds.path("notastore")
    os.mkdir(notastore)
    p = curate("info", "--store", notastore, ok=False)
    check(p.returncode == 1 and b"not a curatefs store" in p.stderr and
          os.listdir(notastore) == [],
          "not a store: exit %d, %r, %r" % (p.returncode, p.stderr,
                                            os.listdir(notastore)))
    # Nor does a command that writes (LMDB would make a store of it).
    for args in (["classes", "--store", notastore, "add", "x"],
                 ["table", "--store", notastore]):
        p = curate(*args, ok=False)
        check(p.returncode == 1 and b"not a curatefs store" in p.stderr and
              os.listdir(notastore) == [],
              "%s on a folder that is not a store: exit %d, %r, %r" % (
                  args[0], p.returncode, p.stderr, os.listdir(notastore)))
    # A store of a newer schema names the versions this build reads.
    # (mdb_dump and mdb_load come with lmdb-utils, which scripts/deps.sh
    # installs: a missing one fails the test rather than skip the case.)
    d = run("mdb_dump", "-a", ds.store).stdout.decode()
    d = d.replace("\n 0200000000000000\n", "\n 0300000000000000\n")
    s3 = ds.path("store3")
    os.mkdir(s3, 0o700)
    subprocess.run(["mdb_load", "-f", "/dev/stdin", s3],
                   input=d.encode(), capture_output=True, check=True)
    p = curate("info", "--store", s3, ok=False)
    check(p.returncode == 1 and b"newer curatefs" in p.stderr and
          b"reads schemas 1 to 2" in p.stderr,
          "newer schema: exit %d, %r" % (p.returncode, p.stderr))
    xlib.finish()


if __name__ == "__main__":
    main()
