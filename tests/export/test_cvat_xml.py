"""CVAT's own XML ("CVAT for images 1.1") into a field through the real
`curate import-labels --format cvat` and `--format cvat-zip`.

The documents are written here as CVAT's two writers write them:
- the server's export (annotations.xml): shapes with source=, rotation=
  on a turned box, an ellipse (cx, cy, rx, ry), a mask (rle, left, top,
  width, height), a polygon, points, a polyline and tags after the shapes;
  a project's export names each image's subset, and two subsets hold an
  image of the same name;
- datumaro's "cvat" format (one <subset>.xml per subset, whose images do
  not name it), as a folder and as a zip.

Each box is checked against a box computed here: the rotated rectangle's
and the ellipse's bounds by their own formulas, the mask's pixels, the
polygon's vertices; a photo with EXIF orientation 6, whose boxes CVAT
gives in the turned frame, against Pillow's exif_transpose of a painted
box.  Attributes (occluded, rotation, checkbox values as booleans, text
kept as text, escapes decoded, a long UTF-8 name intact, white space in a
value kept) are checked too.  A subset's picture that is not in the
store does not take another subset's picture of its name (by the
folder of the other subset, or by its size).  Bad documents (not
<annotations>, a <track> of "CVAT for video", malformed XML, an entity
declaration, a box without coordinates, two <image>s of one picture, an
attribute given twice, an empty file) fail with the reason and change
nothing; an image of no sample is reported and the others imported.  A
file is streamed: a 31 MB document imports in about the memory of a
small one, also as a zip's annotations.xml (inflated to a file with no
name in $TMPDIR, left empty); with $TMPDIR full the zip is refused in
one line, nothing changed.
"""
import json
import math
import os
import struct
import shutil
import sys
import tempfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xlib  # noqa: E402
from xlib import MKJPEG, check, curate, run, with_orientation, write  # noqa: E402,E501


def boxes(store, field):
    """sample name -> sorted [(x1, y1, x2, y2) rounded, attributes]."""
    out = {}
    for b in xlib.dump(store, field):
        x, y, w, h = b["box"]
        out.setdefault(b["sample"], []).append(
            ([round(v, 2) for v in (x, y, x + w, y + h)],
             b.get("attributes")))
    return {k: sorted(v, key=lambda e: e[0]) for k, v in out.items()}


def rotated_bounds(x1, y1, x2, y2, deg):
    """Bounds of the rectangle turned by deg clockwise about its centre
    (y down)."""
    cx, cy, a = (x1 + x2) / 2, (y1 + y2) / 2, math.radians(deg)
    pts = [(cx + math.cos(a) * (x - cx) - math.sin(a) * (y - cy),
            cy + math.sin(a) * (x - cx) + math.cos(a) * (y - cy))
           for x, y in ((x1, y1), (x2, y1), (x2, y2), (x1, y2))]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return [min(xs), min(ys), max(xs), max(ys)]


def ellipse_bounds(cx, cy, rx, ry, deg):
    """Bounds of the ellipse turned by deg: the extremes of its
    parametric points, sampled finely (no closed form shared with the
    code under test)."""
    a = math.radians(deg)
    xs, ys = [], []
    for i in range(200000):
        t = 2 * math.pi * i / 200000
        x, y = rx * math.cos(t), ry * math.sin(t)
        xs.append(cx + math.cos(a) * x - math.sin(a) * y)
        ys.append(cy + math.sin(a) * x + math.cos(a) * y)
    return [min(xs), min(ys), max(xs), max(ys)]


def near(a, b, tol=0.02):
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b))


META = """  <version>1.1</version>
  <meta>
    <project>
      <id>3</id>
      <name>p</name>
      <labels>
        <label><name>car</name><attributes><attribute><name>parked</name>
        <input_type>checkbox</input_type></attribute><attribute>
        <name>plate</name><input_type>text</input_type></attribute>
        <attribute><name>speed</name><mutable>True</mutable>
        <input_type>number</input_type><default_value>0</default_value>
        <values>0
200
1</values></attribute><attribute><name>count</name>
        <input_type>number</input_type></attribute></attributes></label>
        <label><attributes><attribute><name>count</name>
        <input_type>select</input_type><values>07
08</values></attribute>
        <attribute><name>lamps</name><input_type>number</input_type>
        </attribute></attributes><name>traffic light</name></label>
      </labels>
    </project>
    <dumped>2026-12-01 10:00:00+00:00</dumped>
  </meta>
"""


def server_doc(turned_w, turned_h):
    """annotations.xml as CVAT's server writes a project's export."""
    return """<?xml version="1.0" encoding="utf-8"?>
<annotations>
%s  <image id="0" name="street/0001.jpg" subset="Train" task_id="4" width="320" height="240">
    <box label="car" source="manual" occluded="1" xtl="10.50" ytl="20.25" xbr="110.00" ybr="70.75" z_order="2" group_id="1">
      <attribute name="parked">true</attribute>
      <attribute name="plate">0003</attribute>
      <attribute name="note">a &amp; "b" &lt;c&gt;</attribute>
      <attribute name="speed">42.50</attribute>
      <attribute name="count">07</attribute>
    </box>
    <box label="car" source="manual" occluded="0" xtl="150.00" ytl="100.00" xbr="210.00" ybr="140.00" rotation="30.00" z_order="0">
      <attribute name="speed">n/a</attribute>
    </box>
    <ellipse label="traffic light" source="manual" occluded="0" cx="60.00" cy="150.00" rx="20.00" ry="10.00" rotation="45.00" z_order="0">
      <attribute name="count">07</attribute>
      <attribute name="lamps">3</attribute>
    </ellipse>
    <polygon label="traffic light" source="auto" occluded="0" points="200.00,10.00;250.50,30.00;230.00,60.25" z_order="0">
    </polygon>
    <mask label="car" source="manual" occluded="0" rle="3, 4, 5" left="5" top="6" width="7" height="8" z_order="0">
    </mask>
    <points label="car" source="manual" occluded="0" points="1.00,2.00" z_order="0">
    </points>
    <polyline label="car" source="manual" occluded="0" points="1.00,2.00;3.00,4.00" z_order="0">
    </polyline>
    <tag label="car" source="manual">
    </tag>
  </image>
  <image id="1" name="1.jpg" subset="Train" task_id="4" width="320" height="240">
    <box label="car" source="manual" occluded="0" xtl="1.00" ytl="1.00" xbr="11.00" ybr="11.00" z_order="0">
    </box>
  </image>
  <image id="0" name="1.jpg" subset="Validation" task_id="5" width="320" height="240">
    <box label="car" source="manual" occluded="0" xtl="2.00" ytl="2.00" xbr="22.00" ybr="22.00" z_order="0">
    </box>
  </image>
  <image id="1" name="turned.jpg" subset="Validation" task_id="5" width="%d" height="%d">
    <box label="car" source="manual" occluded="0" xtl="{T0}" ytl="{T1}" xbr="{T2}" ybr="{T3}" z_order="0">
    </box>
  </image>
  <image id="2" name="gone.jpg" subset="Validation" task_id="5" width="320" height="240">
    <box label="car" source="manual" occluded="0" xtl="1.00" ytl="1.00" xbr="2.00" ybr="2.00" z_order="0">
    </box>
  </image>
</annotations>
""" % (META, turned_w, turned_h)


def datumaro_doc(images):
    """One <subset>.xml of datumaro's "cvat" format."""
    body = ""
    for i, (name, box) in enumerate(images):
        body += ('  <image id="%d" name="%s" width="320" height="240">\n'
                 '    <box label="car" occluded="0" xtl="%.2f" ytl="%.2f" '
                 'xbr="%.2f" ybr="%.2f" z_order="0">\n'
                 '      <attribute name="rotation">30.0</attribute>\n'
                 '    </box>\n  </image>\n' % ((i, name) + tuple(box)))
    return ('<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n'
            '  <version>1.1</version>\n  <meta>\n    <task>\n'
            '      <z_order>True</z_order>\n      <mode>annotation</mode>\n'
            '    </task>\n  </meta>\n%s</annotations>' % body)


def main():
    tmp = tempfile.TemporaryDirectory(prefix="curate-cvatxml-")
    d = tmp.name
    tree, store = os.path.join(d, "tree"), os.path.join(d, "store")
    run(MKJPEG, "-n", 4, "-W", 320, "-H", 240, "-s", 7,
        os.path.join(d, "src"))
    srcs = sorted(os.listdir(os.path.join(d, "src")))
    for rel, src in (("street/0001.jpg", srcs[0]),
                     ("Train/1.jpg", srcs[1]),
                     ("Validation/1.jpg", srcs[2]),
                     ("Train/only.jpg", srcs[2])):
        os.makedirs(os.path.dirname(os.path.join(tree, rel)), exist_ok=True)
        shutil.copyfile(os.path.join(d, "src", src), os.path.join(tree, rel))
    # a photo stored 320 x 240 with orientation 6: CVAT shows it 240 x 320
    with open(os.path.join(d, "src", srcs[3]), "rb") as f:
        jpeg = f.read()
    with open(os.path.join(tree, "Validation", "turned.jpg"), "wb") as f:
        f.write(with_orientation(jpeg, 6))
    curate("import", "--store", store, tree)

    # The turned photo's box, painted in the stored frame and turned by
    # Pillow as CVAT shows the picture.
    from PIL import Image, ImageOps
    stored = [40, 30, 100, 90]
    im = Image.new("L", (320, 240), 0)
    im.paste(255, tuple(stored))
    im.getexif()[0x0112] = 6
    turned = list(ImageOps.exif_transpose(im).getbbox())
    doc = server_doc(240, 320)
    for i in range(4):
        doc = doc.replace("{T%d}" % i, "%.2f" % turned[i])
    ann = os.path.join(d, "annotations.xml")
    write(ann, doc)

    p = curate("import-labels", "--store", store, "--format", "cvat",
               "--json", ann, ok=False)
    err = p.stderr.decode()
    got = boxes(store, "ground_truth")
    check(p.returncode == 0, "import-labels cvat: exit %d %s" % (
        p.returncode, err))
    st = got.get("street__0001", [])
    want = [
        # <meta>'s number attributes as numbers (per label: the traffic
        # light's count is a select, its "07" stays), a value that is no
        # number as its text, every other type as text
        ([10.5, 20.25, 110.0, 70.75],
         {"occluded": True, "parked": True, "plate": "0003",
          "note": 'a & "b" <c>', "speed": 42.5, "count": 7}),
        (rotated_bounds(150, 100, 210, 140, 30),
         {"occluded": False, "rotation": 30, "speed": "n/a"}),
        (ellipse_bounds(60, 150, 20, 10, 45),
         {"occluded": False, "rotation": 45, "count": "07", "lamps": 3}),
        ([200.0, 10.0, 250.5, 60.25], {"occluded": False}),
        ([5, 6, 12, 14], {"occluded": False}),   # mask: 7 x 8 pixels
    ]
    want.sort(key=lambda e: e[0])
    check(len(st) == len(want) and
          all(near(g[0], w[0]) and g[1] == w[1] for g, w in zip(st, want)),
          "server export: box, rotated box, ellipse, polygon and mask with "
          "their attributes: %r" % st)
    check(got.get("Train__1") == [([1, 1, 11, 11], {"occluded": False})] and
          got.get("Validation__1") == [([2, 2, 22, 22],
                                        {"occluded": False})],
          "a project's two subsets' 1.jpg each on its own sample: %r %r" % (
              got.get("Train__1"), got.get("Validation__1")))
    tb = got.get("Validation__turned", [([], None)])[0][0]
    check(near(tb, stored, 0.01),
          "orientation 6: CVAT's turned box back in the stored frame: %r "
          "(Pillow: %r stored)" % (tb, stored))
    check("gone.jpg" in err and "no sample" in err and
          "3 shapes without a box" in err,
          "an image of no sample and the boxless shapes are reported: %r"
          % err)
    counts = json.loads(p.stdout.decode() or "{}")
    check(counts.get("samples") == 4 and counts.get("unmatched_files") == 1
          and counts.get("boxes") == 8 and
          counts.get("turned") == 1,
          "counts: 4 samples, 8 boxes, 1 unmatched, 1 turned: %r" % counts)

    # datumaro's layout: train.xml and val.xml, images not naming their
    # subset; as a folder and as a zip.  Its rotation is an ordinary
    # attribute there (its boxes are not turned).
    dm = os.path.join(d, "dm")
    write(os.path.join(dm, "Train.xml"),
          datumaro_doc([("street/0001.jpg", (5, 6, 50, 60)),
                        ("1.jpg", (3, 3, 13, 13))]))
    write(os.path.join(dm, "Validation.xml"),
          datumaro_doc([("1.jpg", (4, 4, 14, 14))]))
    for fmt, path in (("cvat", dm), ("cvat-zip", os.path.join(d, "dm.zip"))):
        if fmt == "cvat-zip":
            with zipfile.ZipFile(path, "w") as z:
                for n in ("Train.xml", "Validation.xml"):
                    z.write(os.path.join(dm, n), n)
        p = curate("import-labels", "--store", store, "--format", fmt,
                   "--field", "dm", path, ok=False)
        got = boxes(store, "dm")
        rot = {"occluded": False, "rotation": "30.0"}
        check(p.returncode == 0 and got == {
            "street__0001": [([5, 6, 50, 60], rot)],
            "Train__1": [([3, 3, 13, 13], rot)],
            "Validation__1": [([4, 4, 14, 14], rot)]},
            "datumaro's <subset>.xml files (%s): %r %s" % (
                fmt, got, p.stderr.decode()))

    # A subset's picture that is not there does not take another
    # subset's picture of its name: by its folder (the project names both
    # subsets), or by its size where the file names one subset only.
    def img(name, subset, w, h, box):
        return ('<image id="0" name="%s" subset="%s" width="%d" height="%d">'
                '<box label="car" occluded="0" xtl="%d" ytl="%d" xbr="%d" '
                'ybr="%d"/></image>' % ((name, subset, w, h) + box))
    proj = os.path.join(d, "proj.xml")
    write(proj, "<annotations>%s%s</annotations>" % (
        img("only.jpg", "Train", 320, 240, (1, 1, 5, 5)),
        img("only.jpg", "Validation", 320, 240, (2, 2, 6, 6))))
    p = curate("import-labels", "--store", store, "--format", "cvat",
               "--field", "proj", proj, ok=False)
    got = boxes(store, "proj")
    err = p.stderr.decode()
    check(p.returncode == 0 and
          got == {"Train__only": [([1, 1, 5, 5], {"occluded": False})]} and
          "only.jpg: no sample" in err,
          "Validation's only.jpg is not Train's: %r %s" % (got, err))
    one = os.path.join(d, "one.xml")
    write(one, "<annotations>%s</annotations>" %
          img("only.jpg", "Validation", 400, 300, (2, 2, 6, 6)))
    p = curate("import-labels", "--store", store, "--format", "cvat",
               "--field", "one", one, ok=False)
    err = p.stderr.decode()
    check(p.returncode == 1 and boxes(store, "one") == {} and
          "its size 400x300 is not the sample's 320x240" in err,
          "another size is another picture: %d %s" % (p.returncode, err))

    # Attribute names and values as they are: a long UTF-8 name intact,
    # white space kept.
    long_name = "a" * 254 + "\u00e9"
    attrs = os.path.join(d, "attrs.xml")
    with open(attrs, "w", encoding="utf-8") as f:
        f.write('<annotations><image name="street/0001.jpg" width="320" '
                'height="240"><box label="car" occluded="0" xtl="1" '
                'ytl="1" xbr="9" ybr="9"><attribute name="%s">x</attribute>'
                '<attribute name="pad"> a </attribute></box></image>'
                '</annotations>' % long_name)
    p = curate("import-labels", "--store", store, "--format", "cvat",
               "--field", "attrs", attrs, ok=False)
    got = boxes(store, "attrs")
    check(p.returncode == 0 and got.get("street__0001", [([], {})])[0][1] ==
          {"occluded": False, long_name: "x", "pad": " a "},
          "a long UTF-8 attribute name intact, a value's spaces kept: %r %s"
          % (got, p.stderr.decode()))

    # Bad documents: a reason, exit 1, nothing changed.
    before = boxes(store, "ground_truth")
    bad = {
        "root.xml": ("<annotation><image name='1.jpg'/></annotation>",
                     "not <annotations>"),
        "video.xml": ("<annotations><track id='0' label='car'>"
                      "<box frame='0'/></track></annotations>",
                      "CVAT for images 1.1"),
        "broken.xml": ("<annotations>\n<image name='x.jpg'>\n</annotations>",
                       "line 3"),
        "entity.xml": ('<!DOCTYPE a [<!ENTITY e "x">]><annotations/>',
                       "entity"),
        "nocoord.xml": ('<annotations><image name="street/0001.jpg" '
                        'width="320" height="240"><box label="car" '
                        'xtl="1" ytl="1"/></image></annotations>',
                        "make no box"),
        "twice.xml": ('<annotations><image name="street/0001.jpg"/>'
                      '<image name="./street/0001.jpg"/></annotations>',
                      "both labels of sample street__0001"),
        "dupattr.xml": ('<annotations><image name="street/0001.jpg">'
                        '<box label="car" xtl="1" ytl="1" xbr="2" ybr="2">'
                        '<attribute name="x">1</attribute><attribute '
                        'name="x">2</attribute></box></image></annotations>',
                        "attribute 'x' given twice"),
        "empty.xml": ("", "empty file"),
    }
    for name, (text, reason) in bad.items():
        path = os.path.join(d, "bad", name)
        write(path, text)
        p = curate("import-labels", "--store", store, "--format", "cvat",
                   path, ok=False)
        err = p.stderr.decode()
        check(p.returncode == 1 and reason in err and
              boxes(store, "ground_truth") == before,
              "%s: refused (%s), nothing changed: %d %r" % (
                  name, reason, p.returncode, err))
    # CVAT's export zip given as its XML or as COCO, as it comes from
    # CVAT: the format to use, not expat's or the JSON reader's error.
    zpath = os.path.join(d, "bad", "task_export.zip")
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("annotations.xml", "<annotations/>")
    for fmt in ("cvat", "coco"):
        p = curate("import-labels", "--store", store, "--format", fmt, zpath,
                   ok=False)
        err = p.stderr.decode()
        check(p.returncode == 1 and "is a zip archive: import it with "
              "--format cvat-zip" in err and
              boxes(store, "ground_truth") == before,
              "a zip as --format %s: the format to use, nothing changed: "
              "%d %r" % (fmt, p.returncode, err))
    # A file is streamed, 256 KiB at a time: a document of 31 MB (one
    # picture's 300,000 points shapes, each counted, none kept) imports in
    # about the memory of a small one (read whole, it took 31 MB more).
    small = os.path.join(d, "small.xml")
    big = os.path.join(d, "big.xml")
    head = ('<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n%s'
            '  <image id="0" name="Train/only.jpg" width="320" height="240">'
            '\n' % META)
    pts = ('    <points label="car" source="manual" occluded="0" '
           'points="1.00,2.00;3.00,4.00" z_order="0">\n    </points>\n')
    tail = '  </image>\n</annotations>\n'
    write(small, head + pts + tail)
    with open(big, "w") as f:
        f.write(head)
        for _ in range(3000):
            f.write(pts * 100)
        f.write(tail)
    size = os.path.getsize(big)
    rc, err, rss_small, _ = xlib.curate_peak(
        "import-labels", "--store", store, "--format", "cvat",
        "--field", "pts", small)
    rc2, err2, rss_big, _ = xlib.curate_peak(
        "import-labels", "--store", store, "--format", "cvat",
        "--field", "pts", big)
    check(rc == 0 and rc2 == 0 and "300000 shapes without a box" in err2 and
          rss_big < rss_small + size // 4,
          "a %d MB file streamed: peak %.1f MB against %.1f MB for a small "
          "one: %d %d %s" % (size >> 20, rss_big / 2**20,
                             rss_small / 2**20, rc, rc2, err2.strip()))
    # The same document as a zip's annotations.xml: inflated to a file
    # with no name in $TMPDIR, then streamed (it was inflated into memory
    # whole); with $TMPDIR on a 1 MiB tmpfs, the import fails with the
    # reason and changes nothing.
    bigzip = os.path.join(d, "big.zip")
    with zipfile.ZipFile(bigzip, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(big, "annotations.xml")
    tmpd = os.path.join(d, "tmpdir")
    os.mkdir(tmpd)
    env_tmp = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = tmpd
    try:
        rc3, err3, rss_zip, _ = xlib.curate_peak(
            "import-labels", "--store", store, "--format", "cvat-zip",
            "--field", "pts", bigzip)
        check(rc3 == 0 and "300000 shapes without a box" in err3 and
              rss_zip < rss_small + size // 4 and os.listdir(tmpd) == [],
              "a %d MB annotations.xml in a zip: peak %.1f MB, TMPDIR left "
              "empty: %d %s %r" % (size >> 20, rss_zip / 2**20, rc3,
                                   err3.strip(), os.listdir(tmpd)))
        run("mount", "-t", "tmpfs", "-o", "size=1m", "none", tmpd)
        try:
            before = boxes(store, "ground_truth")
            p = curate("import-labels", "--store", store, "--format",
                       "cvat-zip", bigzip, ok=False)
            err4 = p.stderr.decode()
            check(p.returncode == 1 and "no room to inflate it in the temporary folder" in err4 and "No space left on device" in err4
                  and len(err4.strip().splitlines()) == 1 and
                  boxes(store, "ground_truth") == before and
                  os.listdir(tmpd) == [],
                  "TMPDIR full: refused in one line (%s), nothing changed, "
                  "nothing left" % err4.strip())
        finally:
            run("umount", tmpd)
    finally:
        if env_tmp is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = env_tmp
    # A member that inflates past the size its zip declares (1,000 bytes
    # declared, 4 MiB inside): refused as broken at the first piece past
    # that size, nothing changed (libzip does not check it: the whole
    # member was inflated to disk, up to 16 GiB, and imported).
    liar = os.path.join(d, "liar.zip")
    with zipfile.ZipFile(liar, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("annotations.xml", "<annotations>" + " " * (4 << 20) +
                   "</annotations>")
    raw = bytearray(open(liar, "rb").read())
    struct.pack_into("<I", raw, 22, 1000)   # the local header's size
    cdir = raw.find(b"PK\x01\x02")
    struct.pack_into("<I", raw, cdir + 24, 1000)   # the central one's
    with open(liar, "wb") as f:
        f.write(raw)
    before = boxes(store, "ground_truth")
    p = curate("import-labels", "--store", store, "--format", "cvat-zip",
               liar, ok=False)
    err5 = p.stderr.decode()
    check(p.returncode == 1 and "annotations.xml: a broken zip member" in err5
          and len(err5.strip().splitlines()) == 1 and
          boxes(store, "ground_truth") == before,
          "a member larger than its declared size: refused as broken, "
          "nothing changed: %d %s" % (p.returncode, err5.strip()))
    xlib.finish()


if __name__ == "__main__":
    main()
