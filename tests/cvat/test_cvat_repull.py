#!/usr/bin/python3
"""test_cvat_repull - a box an annotator moved (or drew partly outside the
image) is pulled once; pulling again with no edit in CVAT must report it
unchanged and leave the stored labels as they are.

CVAT keeps what the annotator's save sent: fractional points in the frame
CVAT shows (the image turned by its EXIF orientation).  The first pull
turns them back into the stored frame (and clips them to the image); the
box CVAT still holds is then not always bit for bit the stored box turned
again (120 - (120 - 47.63) is not 47.63 in doubles), and a clipped box is
never inside the image.  A second pull must still tell that nothing was
edited: no phantom "updated", no clip counted again.

The image is a JPEG with EXIF orientation 6 (stored 160 x 120, shown
120 x 160), one box, pushed to the strict test server."""
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
import cvat_server  # noqa: E402
import test_cvat_oldrun as base  # noqa: E402
from fslib import Checks, eq  # noqa: E402

PASSWORD = base.PASSWORD
H = base.H


def near(got, want, what):
    if len(got) != len(want) or any(abs(a - b) > 1e-9
                                    for a, b in zip(got, want)):
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def scenario(srv, root, shown, stored_want, clipped):
    """shown: the points an annotator's save leaves in CVAT (shown frame);
    stored_want: the stored box the pull must make of them; clipped: the
    first pull clips it to the image."""
    s = base.Store(root, srv)
    s.cvat("push", "--run", "r", "--wait")
    task = json.loads(s.cvat("status", "--json", "r").stdout)["task_id"]
    jid, shape = base.job_shape(srv, task)
    base.set_points(srv, jid, shape, shown)
    out = s.cvat("pull", "r").stdout
    if "1 updated, 0 deleted, 0 added, 0 unchanged" not in out or \
            ("clipped to the image: 1" in out) != clipped:
        raise AssertionError("first pull: %s" % out)
    box1, text1 = s.box("r")
    near(box1, stored_want, "stored box after the first pull")
    for k in range(2):
        out = s.cvat("pull", "r").stdout
        if "0 updated, 0 deleted, 0 added, 1 unchanged" not in out or \
                "clipped" in out:
            raise AssertionError("pull %d with no edit: %s" % (k + 2, out))
        box2, text2 = s.box("r")
        eq(text2, text1, "labels after pull %d with no edit" % (k + 2))


def main():
    ck = Checks()
    tmp = tempfile.mkdtemp(prefix="cvat-repull-")
    srv = cvat_server.CvatTestServer(password=PASSWORD).start()
    # Shown frame (orientation 6) x, y -> stored frame y, H - x.
    moved = [12.37, 31.91, 47.63, 70.13]
    moved_stored = [31.91, H - 47.63, 70.13, H - 12.37]
    outside = [-5.25, 100.5, 30.75, 170.25]     # past the bottom and left
    outside_stored = [100.5, H - 30.75, 160.0, H - 0.0]
    try:
        ck.run("a moved box with fractional points: a second pull reports "
               "it unchanged",
               lambda: scenario(srv, os.path.join(tmp, "moved"), moved,
                                moved_stored, False))
        ck.run("a box moved partly outside the image: clipped once, then "
               "unchanged",
               lambda: scenario(srv, os.path.join(tmp, "outside"), outside,
                                outside_stored, True))
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    ck.finish()


if __name__ == "__main__":
    main()
