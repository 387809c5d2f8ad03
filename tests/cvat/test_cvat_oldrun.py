#!/usr/bin/python3
"""test_cvat_oldrun - the frame of a run's boxes on the server follows its
run record.  A run pushed by this build records "frame": "view": its boxes
are in the frame CVAT shows (the image turned by its EXIF orientation).  A
run recorded by an older build has no "frame" key: that build sent boxes
in the stored frame, and pulls of such a run must read them so.

For each kind of run, a JPEG with EXIF orientation 6 (made here) and one
box is imported and pushed; the old run's record then loses its "frame"
key (the store is edited with lmdb-utils, no daemon running) and its box
on the server is set back to the stored frame with a PATCH of the job's
annotations, as the old push left it.  A pull must count the box
unchanged and keep the stored label bytes; a box moved 10 px right in
CVAT must come back moved in the stored frame (the old run: as is; the
new run: turned back).  The expected boxes come from Pillow turning a
mask, not from our code."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
import cvat_server  # noqa: E402
from cvatlib import api  # noqa: E402
from fslib import Checks, eq  # noqa: E402
from test_cvat_sync import curate, sample_docs  # noqa: E402

PASSWORD = "oldrun-pw-%d" % os.getpid()
W, H = 160, 120            # stored size; CVAT shows 120 x 160
BOX = [10, 20, 40, 30]     # COCO x, y, w, h in the stored frame
RUN_NS = b"cvat.run\x00"   # records key: namespace, NUL, run name


def make_jpeg(path):
    from PIL import Image
    im = Image.new("RGB", (W, H), (200, 60, 30))
    im.paste((20, 90, 220), (0, 0, W // 2, H // 3))
    ex = Image.Exif()
    ex[0x0112] = 6
    im.save(path, "JPEG", quality=90, exif=ex.tobytes())


def turned(box, inverse=False):
    """[x1, y1, x2, y2] of the stored frame as Pillow shows the image
    (orientation 6), or a box of the shown frame back to the stored one:
    the bounding box of a turned mask."""
    from PIL import Image, ImageOps
    im = Image.new("L", (H, W) if inverse else (W, H), 0)
    im.paste(255, tuple(int(v) for v in box))
    if inverse:
        return list(im.transpose(Image.Transpose.ROTATE_90).getbbox())
    im.getexif()[0x0112] = 6
    return list(ImageOps.exif_transpose(im).getbbox())


def records_dump(store):
    """[(key, value)] of the store's records table, read with mdb_dump,
    and the dump's header lines."""
    p = subprocess.run(["mdb_dump", "-s", "records", store],
                       capture_output=True, text=True, check=True)
    lines = p.stdout.splitlines()
    end = lines.index("HEADER=END")
    body = [ln[1:] for ln in lines[end + 1:] if ln.startswith(" ")]
    pairs = [(bytes.fromhex(body[i]), bytes.fromhex(body[i + 1]))
             for i in range(0, len(body), 2)]
    return lines[:end + 1], pairs


def run_record(store, run):
    _hdr, pairs = records_dump(store)
    for k, v in pairs:
        if k == RUN_NS + run.encode():
            return json.loads(v)
    raise AssertionError("no cvat.run record for " + run)


def make_old(store, run):
    """Rewrites the run's record as a build before "frame" wrote it: the
    same JSON without that key, in one mdb_load transaction."""
    hdr, _pairs = records_dump(store)
    rec = run_record(store, run)
    eq(rec.get("frame"), "view", "frame recorded by a new push")
    del rec["frame"]
    val = json.dumps(rec, separators=(",", ":")).encode()
    doc = "\n".join(hdr + [" " + (RUN_NS + run.encode()).hex(),
                           " " + val.hex(), "DATA=END", ""])
    subprocess.run(["mdb_load", "-s", "records", store], input=doc,
                   text=True, check=True, capture_output=True)
    if "frame" in run_record(store, run):
        raise AssertionError("frame still recorded for " + run)


class Store:
    """One image with orientation 6 and one box, imported into its own
    store, and the config naming the server."""

    def __init__(self, root, srv):
        self.store = os.path.join(root, "store")
        imgs = os.path.join(root, "imgs")
        os.makedirs(imgs)
        make_jpeg(os.path.join(imgs, "turned.jpg"))
        coco = os.path.join(root, "coco.json")
        with open(coco, "w") as f:
            json.dump({"images": [{"id": 1, "file_name": "turned.jpg",
                                   "width": W, "height": H}],
                       "annotations": [{"id": 1, "image_id": 1,
                                        "category_id": 1, "bbox": BOX,
                                        "area": BOX[2] * BOX[3],
                                        "iscrowd": 0}],
                       "categories": [{"id": 1, "name": "cat"}]}, f)
        curate("import", "--store", self.store, "--coco", coco, imgs)
        self.conf = os.path.join(root, "cvat.conf")
        with open(self.conf, "w") as f:
            f.write("url = %s\nusername = admin\npassword = %s\n"
                    "poll_interval = 0.05\n" % (srv.url, PASSWORD))

    def cvat(self, *args):
        return curate("cvat", args[0], "--store", self.store, "--config",
                      self.conf, *args[1:], timeout=120)

    def box(self, run):
        """The stored box of the run's one sample as [x1, y1, x2, y2], and
        its whole labels text."""
        text = self.cvat("labels", run).stdout
        docs = sample_docs(text)
        eq(len(docs), 1, "samples of " + run)
        gt = list(docs.values())[0]["fields"]["ground_truth"]
        eq(len(gt), 1, "boxes of " + run)
        b = gt[0]["bbox"]
        return [b[0], b[1], b[0] + b[2], b[1] + b[3]], text


def job_shape(srv, task):
    """(job id, the task's one shape as the job's annotations hold it)."""
    st, jobs = api(srv, PASSWORD, "GET",
                   "/api/jobs?task_id=%d&page_size=all" % task)
    eq(st, 200, "jobs of task %d" % task)
    eq(len(jobs["results"]), 1, "jobs of task %d" % task)
    jid = jobs["results"][0]["id"]
    st, ann = api(srv, PASSWORD, "GET", "/api/jobs/%d/annotations" % jid)
    eq(st, 200, "annotations of job %d" % jid)
    eq(len(ann["shapes"]), 1, "shapes of job %d" % jid)
    return jid, ann["shapes"][0]


def set_points(srv, jid, shape, pts):
    """What an annotator's save does: the shape updated in place (same
    id and attributes), new points."""
    sh = dict(shape, points=[float(v) for v in pts])
    st, body = api(srv, PASSWORD, "PATCH",
                   "/api/jobs/%d/annotations?action=update" % jid,
                   {"version": 0, "tags": [], "shapes": [sh], "tracks": []})
    eq(st, 200, "PATCH of job %d: %r" % (jid, body))
    eq(job_shape(srv, task_of(srv, jid))[1]["points"], sh["points"],
       "points on the server")


def task_of(srv, jid):
    st, j = api(srv, PASSWORD, "GET", "/api/jobs/%d" % jid)
    eq(st, 200, "job %d" % jid)
    return j["task_id"]


def pull_says(s, run, want):
    out = s.cvat("pull", run).stdout
    if want not in out:
        raise AssertionError("pull of %s: want '%s' in: %s" % (run, want,
                                                               out))


def scenario(srv, root, old):
    run = "old" if old else "new"
    s = Store(root, srv)
    s.cvat("push", "--run", run, "--wait")
    task = json.loads(s.cvat("status", "--json", run).stdout)["task_id"]
    jid, shape = job_shape(srv, task)
    stored = [BOX[0], BOX[1], BOX[0] + BOX[2], BOX[1] + BOX[3]]
    shown = turned(stored)
    eq(shape["points"], shown, "box pushed in the frame CVAT shows")
    if old:
        # What the older build left: its record without "frame" and its
        # box in the stored frame on the server.
        make_old(s.store, run)
        set_points(srv, jid, shape, stored)
        shape = job_shape(srv, task)[1]
        on_server = stored
    else:
        eq(run_record(s.store, run).get("frame"), "view",
           "frame of a new run")
        on_server = shown
    box0, text0 = s.box(run)
    eq(box0, stored, "stored box after the push")

    # The box as the server holds it is the stored box: no edit.
    pull_says(s, run, "0 updated, 0 deleted, 0 added, 1 unchanged")
    box1, text1 = s.box(run)
    eq(text1, text0, "labels of %s after a pull of the same box" % run)

    # An annotator moves the box 10 px right in what CVAT holds.
    moved = [on_server[0] + 10, on_server[1], on_server[2] + 10,
             on_server[3]]
    set_points(srv, jid, shape, moved)
    pull_says(s, run, "1 updated, 0 deleted, 0 added, 0 unchanged")
    want = moved if old else turned(moved, inverse=True)
    box2, _ = s.box(run)
    eq(box2, want, "moved box of %s pulled into the stored frame" % run)
    if not old:
        eq(want, [stored[0], stored[1] - 10, stored[2], stored[3] - 10],
           "right in the shown frame is up in the stored one")
    # The old run stays old: a second pull of the same box edits nothing.
    pull_says(s, run, "0 updated, 0 deleted, 0 added, 1 unchanged")
    eq(s.box(run)[0], want, "box after a second pull")
    if old and "frame" in run_record(s.store, run):
        raise AssertionError("a pull gave the old run a frame")


def main():
    ck = Checks()
    tmp = tempfile.mkdtemp(prefix="cvat-oldrun-")
    srv = cvat_server.CvatTestServer(password=PASSWORD).start()
    try:
        ck.run("a run recorded before \"frame\" pulls boxes in the stored "
               "frame: the same box unchanged, a moved one as moved",
               lambda: scenario(srv, os.path.join(tmp, "old"), True))
        ck.run("a run recorded with \"frame\": \"view\" pulls boxes turned "
               "back from the frame CVAT shows",
               lambda: scenario(srv, os.path.join(tmp, "new"), False))
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    ck.finish()


if __name__ == "__main__":
    main()
