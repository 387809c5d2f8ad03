"""The YOLO and VOC label readers on the edges of their formats, through
`curate import-labels --field edge`: each refused input exits 1 with one
line naming the reason and "nothing changed", and leaves every label as
it was; each accepted variant imports exactly the boxes and classes it
spells (class names from data.yaml in its flow list and block forms,
obj.names, XML entities, comments, declarations and attributes)."""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xlib  # noqa: E402
from xlib import W, H, check, curate, write  # noqa: E402


def main():
    ds = xlib.Dataset(n=4, tags=False)
    yolo = ds.export("yolo", ds.path("yolo"))
    voc = ds.export("voc", ds.path("voc"))
    one = ds.names[0]
    seq = [0]

    def fresh_copy(src):
        seq[0] += 1
        d = ds.path("case-%d" % seq[0])
        shutil.copytree(src, d)
        return d

    def refused(label, fmt, path, what):
        before = ds.dump()
        before_edge = ds.dump("edge")
        p = curate("import-labels", "--store", ds.store, "--format", fmt,
                   "--field", "edge", path, ok=False)
        err = p.stderr.decode().strip().splitlines()
        last = err[-1] if err else ""
        check(p.returncode == 1 and what in last and
              "nothing changed" in last,
              "%s: exit %d, %r" % (label, p.returncode, last))
        check(ds.dump() == before and ds.dump("edge") == before_edge,
              "%s: labels unchanged" % label)

    def accepted(label, fmt, path, want):
        """want: sorted (label, rounded box) pairs of sample `one`."""
        p = curate("import-labels", "--store", ds.store, "--format", fmt,
                   "--field", "edge", path, ok=False)
        got = sorted((b["label"], [round(v, 3) for v in b["box"]])
                     for b in ds.dump("edge") if b["sample"] == one)
        check(p.returncode == 0 and got == want,
              "%s: exit %d, %r (want %r) %s" % (
                  label, p.returncode, got, want, p.stderr.decode()))

    def yolo_with(yaml=None, text=None, names_file=None, drop_yaml=False):
        d = fresh_copy(yolo)
        if drop_yaml:
            os.remove(os.path.join(d, "data.yaml"))
        if yaml is not None:
            write(os.path.join(d, "data.yaml"), yaml)
        if names_file is not None:
            write(os.path.join(d, "obj.names"), names_file)
        for f in os.listdir(os.path.join(d, "labels", "default")):
            write(os.path.join(d, "labels", "default", f), "")
        write(os.path.join(d, "labels", "default", one + ".txt"),
              "0 0.5 0.5 0.25 0.5\n" if text is None else text)
        return d

    box0 = [W * 0.375, H * 0.25, W * 0.25, H * 0.5]
    box0 = [round(v, 3) for v in box0]

    # ---- YOLO: class lists ----
    accepted("yaml flow list", "yolo",
             yolo_with("path: .\nnames: [ 'ant', \"bee\" ]\n"),
             [("ant", box0)])
    accepted("yaml block list with comments", "yolo",
             yolo_with("names:\n  # the classes\n  - ant\n\n  - bee\n"
                       "nc: 2\n"), [("ant", box0)])
    accepted("yaml block map", "yolo",
             yolo_with("names:\n  0: ant\n  1: bee\n"), [("ant", box0)])
    accepted("obj.names when there is no data.yaml", "yolo",
             yolo_with(names_file="ant\nbee\n", drop_yaml=True),
             [("ant", box0)])
    accepted("a confidence column", "yolo",
             yolo_with("names: [ant]\n", "0 0.5 0.5 0.25 0.5 0.75\n"),
             [("ant", box0)])
    accepted("blank lines and CRLF", "yolo",
             yolo_with("names: [ant]\n", "\r\n0 0.5 0.5 0.25 0.5\r\n\r\n"),
             [("ant", box0)])
    refused("yaml flow list not closed", "yolo",
            yolo_with("names: [ant, bee\n"), "while parsing a flow sequence")
    refused("yaml flow map with a bad key", "yolo",
            yolo_with("names: {x: ant}\n"), "not a class index")
    refused("yaml block entry without a colon", "yolo",
            yolo_with("names:\n  ant\n"), "neither a list nor a map")
    refused("an empty class list", "yolo",
            yolo_with("names: []\n"), "the class list is empty")
    refused("a class list with a hole", "yolo",
            yolo_with("names:\n  0: ant\n  2: bee\n"), "has no valid name")
    refused("yaml block map with a bad index", "yolo",
            yolo_with("names:\n  x1: ant\n"), "not a class index")
    refused("a confidence out of range", "yolo",
            yolo_with("names: [ant]\n", "0 0.5 0.5 0.25 0.5 1.5\n"),
            "confidence")
    refused("six values where the fifth is not a number", "yolo",
            yolo_with("names: [ant]\n", "0 0.5 0.5 0.25 x\n"),
            "not a number")
    refused("binary data in a label file", "yolo",
            yolo_with("names: [ant]\n", "0 0.5\x00 0.5 0.25 0.5\n"),
            "binary data")
    refused("too many values", "yolo",
            yolo_with("names: [ant]\n", "0 0.5 0.5 0.25 0.5 0.5 0.5\n"),
            "expected 5 values")

    # ---- VOC: XML ----
    def voc_with(body, labelmap=None):
        d = fresh_copy(voc)
        for f in os.listdir(os.path.join(d, "Annotations")):
            if f != one + ".xml":
                os.remove(os.path.join(d, "Annotations", f))
        write(os.path.join(d, "Annotations", one + ".xml"), body)
        if labelmap is not None:
            write(os.path.join(d, "labelmap.txt"), labelmap)
        return d

    def obj(name, extra=""):
        return ("<object>%s<name>%s</name><bndbox><xmin>10</xmin>"
                "<ymin>20</ymin><xmax>40</xmax><ymax>60</ymax></bndbox>"
                "</object>" % (extra, name))

    vbox = [10.0, 20.0, 30.0, 40.0]
    accepted("entities in a class name", "voc",
             voc_with("<annotation>%s</annotation>" %
                      obj("a&amp;b &lt;&gt; &#65;&#x42; &quot;&apos;")),
             [("a&b <> AB \"'", vbox)])
    accepted("a declaration, a comment, a doctype and attributes", "voc",
             voc_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                      "<!DOCTYPE annotation>\n<!-- a comment -->\n"
                      "<annotation verified=\"yes\" a='1'>"
                      "<!-- inside -->%s<empty/></annotation>" %
                      obj("cat", "<pose>Unspecified</pose>")),
             [("cat", vbox)])
    accepted("a confidence", "voc",
             voc_with("<annotation>%s</annotation>" %
                      obj("cat", "<confidence>0.5</confidence>")),
             [("cat", vbox)])
    # A crowd region as datumaro writes it in a VOC tree (CVAT's "PASCAL
    # VOC 1.1"): a boolean is_crowd attribute, Python-spelt, in CVAT's
    # <attributes> list or as an element.  It is the box's crowd flag
    # (which evaluation ignores), not an attribute; another value stays
    # an attribute.
    def crowd_case(label, extra, want_crowd, want_attrs):
        path = voc_with("<annotation>%s</annotation>" % obj("cat", extra))
        p = curate("import-labels", "--store", ds.store, "--format", "voc",
                   "--field", "edge", path, ok=False)
        got = [(b["iscrowd"], b["attributes"]) for b in ds.dump("edge")
               if b["sample"] == one]
        check(p.returncode == 0 and got == [(want_crowd, want_attrs)],
              "%s: exit %d, %r" % (label, p.returncode, got))

    def cvat_attr(k, v):
        return ("<attributes><attribute><name>%s</name><value>%s</value>"
                "</attribute></attributes>" % (k, v))
    crowd_case("is_crowd True in <attributes> is a crowd region",
               "<occluded>0</occluded>" + cvat_attr("is_crowd", "True"), 1,
               {"occluded": 0})
    crowd_case("is_crowd False in <attributes> is no crowd region",
               cvat_attr("is_crowd", "False"), 0, None)
    crowd_case("an <is_crowd>1</is_crowd> element is a crowd region",
               "<is_crowd>1</is_crowd>", 1, None)
    crowd_case("an is_crowd that is no boolean stays an attribute",
               cvat_attr("is_crowd", "maybe"), 0, {"is_crowd": "maybe"})
    accepted("a multi-byte character reference", "voc",
             voc_with("<annotation>%s</annotation>" % obj("&#x1F600;")),
             [("\U0001F600", vbox)])
    refused("an unterminated comment", "voc",
            voc_with("<annotation><!-- no end %s</annotation>" %
                     obj("cat")), "malformed XML: line 1: unclosed token")
    refused("an unterminated declaration", "voc",
            voc_with("<?xml version=\"1.0\""), "malformed XML: line 1: unclosed token")
    refused("a mismatched end tag", "voc",
            voc_with("<annotation>%s</annotatio>" % obj("cat")),
            "malformed XML")
    refused("a character reference to 0", "voc",
            voc_with("<annotation>%s</annotation>" % obj("&#0;")),
            "reference to invalid character number")
    refused("a character reference past U+10FFFF", "voc",
            voc_with("<annotation>%s</annotation>" % obj("&#x110000;")),
            "reference to invalid character number")
    refused("an object without a name", "voc",
            voc_with("<annotation>%s</annotation>" % obj("")),
            "has no valid <name>")
    refused("a non-numeric coordinate", "voc",
            voc_with("<annotation><object><name>cat</name><bndbox>"
                     "<xmin>a</xmin><ymin>1</ymin><xmax>5</xmax>"
                     "<ymax>6</ymax></bndbox></object></annotation>"),
            "needs a <bndbox>")
    refused("a bad confidence", "voc",
            voc_with("<annotation>%s</annotation>" %
                     obj("cat", "<confidence>high</confidence>")),
            "bad <confidence>")
    xlib.finish()


if __name__ == "__main__":
    main()
