#!/usr/bin/python3
"""test_cvat_labels - project labels and shapes a CVAT project really has,
through a real mount and the CVAT test server:
- a skeleton whose point is named like a store class: a later push adds a
  top-level label of that name and uploads the class's boxes with it (not
  with the skeleton's point);
- rotated rectangles and rotated ellipses become their bounding
  rectangles (CVAT's rotation: degrees, clockwise, about the centre)
  without being reported as clipped when they lie inside the image;
- points, cuboids, skeletons, tracks and tags are named in the answer, and
  a label whose name cannot be a class (a tab) too; undo restores labels
  and classes byte for byte.

Loopback HTTP to cvat_server.py (in this process)."""
import errno  # noqa: F401
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
import cvat_server  # noqa: E402
from cvatlib import api, cvat_env, last_status_line, wait_phase  # noqa
from fslib import (Mount, eq, curate, make_jpegs, read,  # noqa: E402
                   run_suite, write)

PASSWORD = "labels-pw-%d" % os.getpid()
W, H = 200, 100


def all_labels(srv, pid):
    st, res = api(srv, PASSWORD, "GET",
                  "/api/labels?project_id=%d&page_size=all" % pid)
    eq(st, 200, "labels list")
    return res["results"]


def body(ck, w):
    with cvat_server.CvatTestServer(password=PASSWORD) as srv:
        run_checks(ck, w.path, srv)


def run_checks(ck, tmp, srv):
    data = os.path.join(tmp, "data")
    make_jpegs(data, 4, extra=["-W", str(W), "-H", str(H)])
    store = os.path.join(tmp, "store")
    curate("import", "--store", store, data)
    mnt = os.path.join(tmp, "mnt")
    m = Mount(store, mnt, env=cvat_env(srv, PASSWORD)).start()
    C = os.path.join(mnt, "cvat")
    L = os.path.join(mnt, "labels")
    stems = sorted(n[:-5] for n in os.listdir(L))
    st = {}

    def labels_all():
        return {n: read(os.path.join(L, n)) for n in sorted(os.listdir(L))}

    def boxes(stem):
        doc = json.loads(read(os.path.join(L, stem + ".json")))
        return doc["fields"].get("ground_truth", [])

    def t_push():
        write(os.path.join(C, "push"), "samples r1 classes=cat,dog\n")
        wait_phase(mnt, "r1", timeout=60)
        st["pid"] = srv.snapshot()["projects"][0]
        st["tid"] = srv.snapshot()["tasks"][0]
        st["frame"] = {f["frame"]: f["name"][:-4]
                       for f in srv.task_images(st["tid"])}
        # An admin adds a skeleton whose points are "head" and "tail", and
        # a label whose name has a tab.
        status, res = api(srv, PASSWORD, "PATCH",
                          "/api/projects/%d" % st["pid"], {
            "labels": [{"name": "person", "type": "skeleton", "svg": "",
                        "sublabels": [{"name": "head"}, {"name": "tail"}]},
                       {"name": "a\tb"}]})
        eq(status, 200, "labels added in CVAT: " + str(res))
        st["labs"] = {(l["name"], bool(l.get("parent_id"))): l["id"]
                      for l in all_labels(srv, st["pid"])}
    ck.run("push classes=cat,dog; an admin adds a skeleton and a label "
           "named with a tab", t_push)

    def t_pull_shapes():
        lab = st["labs"]
        f = st["frame"]
        cat, dog = lab[("cat", False)], lab[("dog", False)]
        shapes = [
            # 40 x 20 about (30, 20), turned 90 degrees: 20 x 40
            {"type": "rectangle", "frame": 0, "label_id": cat,
             "points": [10, 10, 50, 30], "rotation": 90},
            # x radius 40, y radius 20 about (100, 50), turned 90 degrees
            {"type": "ellipse", "frame": 0, "label_id": dog,
             "points": [100, 50, 140, 30], "rotation": 90},
            # turned 45 degrees: half-widths sqrt((40^2 + 20^2) / 2)
            {"type": "ellipse", "frame": 1, "label_id": dog,
             "points": [100, 50, 140, 30], "rotation": 45},
            {"type": "points", "frame": 1, "label_id": cat,
             "points": [10, 10]},
            {"type": "cuboid", "frame": 2, "label_id": cat,
             "points": [0, 0, 10, 0, 10, 10, 0, 10,
                        2, 2, 12, 2, 12, 12, 2, 12]},
            {"type": "rectangle", "frame": 2, "label_id": lab[("a\tb",
                                                               False)],
             "points": [1, 1, 20, 20]},
            {"type": "skeleton", "frame": 3,
             "label_id": lab[("person", False)], "points": [],
             "elements": [{"type": "points", "frame": 3,
                           "label_id": lab[(n, True)], "points": [5 + i, 5]}
                          for i, n in enumerate(("head", "tail"))]},
        ]
        srv.add_annotations(task_id=st["tid"], shapes=shapes, tracks=[{
            "frame": 0, "label_id": cat, "shapes": [
                {"type": "rectangle", "frame": 0, "points": [1, 1, 9, 9],
                 "outside": False},
                {"type": "rectangle", "frame": 2, "points": [1, 1, 9, 9],
                 "outside": True}]}],
            tags=[{"frame": 1, "label_id": dog}])
        st["before"] = labels_all()
        st["classes_before"] = read(os.path.join(mnt, "classes"))
        write(os.path.join(C, "pull"), "r1\n")

        def got(frame):
            return sorted((b["label"], b["bbox"])
                          for b in boxes(f[frame]))
        eq(got(0), [("cat", [20, 0, 20, 40]), ("dog", [80, 10, 40, 80])],
           "rotated rectangle and ellipse")
        h = ((40 ** 2 + 20 ** 2) / 2) ** 0.5
        b1 = boxes(f[1])
        eq(len(b1), 1, "one box on frame 1")
        for a, want in zip(b1[0]["bbox"], [100 - h, 50 - h, 2 * h, 2 * h]):
            if abs(a - want) > 1e-3:
                raise AssertionError("ellipse at 45 degrees: %r" % b1)
        eq(got(2), [], "no box from a cuboid or an invalid name")
        eq(got(3), [], "no box from a skeleton")
        line = last_status_line(mnt, "pull r1")
        for part in ("boxes from other shapes: 2 ellipse",
                     "1 points (cat)", "1 cuboid (cat)",
                     "1 skeleton (person)", "1 track (cat)", "1 tag (dog)",
                     "label is no valid class name): 1 (a\tb)"):
            if part not in line:
                raise AssertionError("'%s' not in the answer: %s"
                                     % (part, line))
        if "clipped" in line:
            raise AssertionError("boxes inside the image reported as "
                                 "clipped: " + line)
        names = [ln.split(None, 2)[2] for ln in read(os.path.join(
            mnt, "classes")).decode().splitlines()
            if not ln.startswith("#")]
        eq(names, ["cat", "dog", "person"], "skeleton points are no class")
    ck.run("pull: rotated rectangle and ellipses boxed exactly, not "
           "clipped; points, cuboid, skeleton, track, tag and a bad label "
           "name named", t_pull_shapes)

    def t_undo():
        write(os.path.join(C, "undo"), "r1\n")
        eq(labels_all(), st["before"], "labels byte for byte")
        eq(read(os.path.join(mnt, "classes")), st["classes_before"],
           "classes byte for byte")
    ck.run("undo restores labels and classes", t_undo)

    def t_class_named_like_a_point():
        # The store gets a class "head" (a head detector's boxes) and a
        # box of it; a second round must add a top-level label "head".
        write(os.path.join(mnt, "classes"), "add head\n")
        p = os.path.join(L, stems[0] + ".json")
        doc = json.loads(read(p))
        doc["fields"]["ground_truth"] = [{"label": "head",
                                          "bbox": [5, 5, 30, 30]}]
        write(p, json.dumps(doc))
        T = os.path.join(mnt, "tags", "heads")
        os.mkdir(T)
        os.rename(os.path.join(mnt, "samples", stems[0] + ".jpg"),
                  os.path.join(T, stems[0] + ".jpg"))
        write(os.path.join(C, "push"), "tags/heads r2\n")
        wait_phase(mnt, "r2", timeout=60)
        labs = all_labels(srv, st["pid"])
        top = [l for l in labs if l["name"] == "head"
               and not l.get("parent_id")]
        eq(len(top), 1, "a top-level label head")
        tid2 = [t for t in srv.snapshot()["tasks"] if t != st["tid"]][0]
        shapes = srv.list_annotations(task_id=tid2)["shapes"]
        eq([(s["label_id"], s["points"]) for s in shapes],
           [(top[0]["id"], [5, 5, 35, 35])],
           "the box uploaded with the top-level label")
        write(os.path.join(C, "pull"), "r2\n")
        eq([(b["label"], b["bbox"]) for b in boxes(stems[0])],
           [("head", [5, 5, 30, 30])], "pulled back unchanged")
    ck.run("a class named like a skeleton's point: the push adds a "
           "top-level label and uploads its boxes with it",
           t_class_named_like_a_point)

    def t_many_new_labels():
        # More new labels than the answer has room for: the list says it
        # is cut instead of silently leaving names out.
        many = ["new_label_number_%02d" % i for i in range(30)]
        status, res = api(srv, PASSWORD, "PATCH",
                          "/api/projects/%d" % st["pid"], {
            "labels": [{"name": n} for n in many]})
        eq(status, 200, "labels added: " + str(res))
        write(os.path.join(C, "pull"), "r2\n")
        line = last_status_line(mnt, "pull r2")
        part = line.split("new classes from CVAT labels: ", 1)[1]
        part = part.split(";", 1)[0]
        if not part.endswith(",..."):
            raise AssertionError("a cut list must end with ',...': " + part)
        names = part[:-4].split(",")
        eq(names, many[:len(names)], "the names that fit, in order")
    ck.run("more new classes than the answer holds: the list ends with "
           "'...'", t_many_new_labels)

    m.umount()


def main():
    run_suite("cvat-labels-", body)


if __name__ == "__main__":
    main()
