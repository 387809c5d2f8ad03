#!/usr/bin/python3
"""test_cvat_scratch - annotation from an unlabeled store, through a real
mount and the CVAT test server: import raw photos, push views/unique with
classes=cat,dog,person, annotators draw boxes of two of them, an admin
adds a fourth label (bird) in the project and annotators use it, plus a
polygon, an ellipse, a mask, a polyline and a tag; pull.  Every drawn box
lands in labels/*.json with its class, views/dupes follows, the answer
counts per class and names what has no box; undo restores labels and
classes byte for byte; a second round (a tag pushed to the same project)
carries the boxes and lands exactly the annotators' move and delete;
export/coco lists the four classes.

Loopback HTTP to cvat_server.py (in this process)."""
import errno
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
import cvat_server  # noqa: E402
from cvatlib import (api, boxes, cvat_env, labels_all,  # noqa: E402
                     last_status_line, wait_phase)
from fslib import (Mount, eq, expect_errno, curate,  # noqa: E402
                   make_jpegs, read, run_suite, write)

PASSWORD = "scratch-pw-%d" % os.getpid()
W, H = 320, 240
N = 8


def classes_table(mnt):
    """{name: (id, boxes)} from the classes file."""
    out = {}
    for line in read(os.path.join(mnt, "classes")).decode().splitlines():
        if line.startswith("#"):
            continue
        cid, n, name = line.split(None, 2)
        out[name] = (int(cid), int(n))
    return out


def coco_body(raw):
    doc = json.loads(raw)
    return [doc[k] for k in ("categories", "images", "annotations")]


def project_labels(srv, pid):
    st, res = api(srv, PASSWORD, "GET",
                  "/api/labels?project_id=%d&page_size=all" % pid)
    eq(st, 200, "labels list")
    return {l["name"]: l for l in res["results"]}


def body(ck, w):
    with cvat_server.CvatTestServer(password=PASSWORD) as srv:
        run_checks(ck, w.path, srv)


def run_checks(ck, tmp, srv):
    data = os.path.join(tmp, "data")
    make_jpegs(data, N, extra=["-W", str(W), "-H", str(H)])
    store = os.path.join(tmp, "store")
    curate("import", "--store", store, data)
    mnt = os.path.join(tmp, "mnt")
    m = Mount(store, mnt, env=cvat_env(srv, PASSWORD)).start()
    C = os.path.join(mnt, "cvat")
    st = {}

    def t_no_classes_refused():
        eq(classes_table(mnt), {}, "an unlabeled store has no classes")
        expect_errno(errno.EINVAL, write, os.path.join(C, "push"),
                     "views/unique first\n")
        line = last_status_line(mnt, "push views/unique")
        if "classes=" not in line or "FAILED" not in line:
            raise AssertionError("the refusal does not say what to add: "
                                 + line)
        eq(srv.snapshot()["tasks"], [], "no task")
        eq(srv.snapshot()["projects"], [], "no project (no 'object')")
        expect_errno(errno.EINVAL, write, os.path.join(C, "push"),
                     "views/unique first classes=ok,bad\x01name\n")
        expect_errno(errno.EINVAL, write, os.path.join(C, "push"),
                     "views/unique first classes=\n")
        eq(classes_table(mnt), {}, "refused pushes add no class")
    ck.run("push of a store without classes and no classes= -> EINVAL "
           "saying what to add; no fallback label", t_no_classes_refused)

    def t_push_classes():
        write(os.path.join(C, "push"),
              "views/unique first classes=cat,dog,person\n")
        wait_phase(mnt, "first", timeout=60)
        eq(classes_table(mnt), {"cat": (1, 0), "dog": (2, 0),
                                "person": (3, 0)}, "classes added")
        pid = srv.snapshot()["projects"][0]
        tid = srv.snapshot()["tasks"][0]
        st.update(pid=pid, tid=tid)
        labs = project_labels(srv, pid)
        eq(sorted(labs), ["cat", "dog", "person"], "project labels")
        for name, lab in labs.items():
            if not any(a["name"] == "label_id" for a in lab["attributes"]):
                raise AssertionError("no label_id attribute on " + name)
        frames = sorted(srv.task_images(tid), key=lambda x: x["frame"])
        eq(len(frames), len(os.listdir(os.path.join(mnt, "views",
                                                    "unique"))),
           "frames = views/unique")
        st["stem"] = {f["frame"]: f["name"][:-4] for f in frames}
    ck.run("push views/unique first classes=cat,dog,person: store classes "
           "and project labels with label_id", t_push_classes)

    def t_admin_label_and_drawing():
        pid, tid = st["pid"], st["tid"]
        # The test server refuses a label of another project, as CVAT does.
        status, res = api(srv, PASSWORD, "POST", "/api/projects",
                          {"name": "other", "labels": [{"name": "zebra"}]})
        eq(status, 201, "other project")
        zebra = project_labels(srv, res["id"])["zebra"]["id"]
        status, res = api(srv, PASSWORD, "PATCH",
                          "/api/tasks/%d/annotations?action=create" % tid,
                          {"shapes": [{
                              "type": "rectangle", "frame": 0,
                              "label_id": zebra,
                              "points": [1, 1, 20, 20]}]})
        eq(status, 400, "label of another project refused")
        # An admin adds a fourth label in the project.
        status, _ = api(srv, PASSWORD, "PATCH", "/api/projects/%d" % pid,
                        {"labels": [{"name": "bird", "type": "any"}]})
        eq(status, 200, "label added in CVAT")
        labs = {n: l["id"] for n, l in project_labels(srv, pid).items()}
        st["labs"] = labs
        R = "rectangle"
        shapes = [
            (0, "cat", R, [10, 20, 110, 120]),
            (1, "dog", R, [30, 40, 90, 100]),
            (2, "dog", R, [5, 5, 50, 60]),
            (2, "cat", R, [200, 100, 300, 200]),
            # a near-duplicate pair: views/dupes
            (3, "cat", R, [40, 40, 140, 140]),
            (3, "cat", R, [41, 41, 141, 141]),
            (4, "bird", R, [60, 50, 160, 150]),
            (5, "cat", "polygon", [10, 10, 80, 5, 60, 90, 20, 70]),
            (5, "cat", "polyline", [0, 0, 50, 50, 100, 0]),
            (6, "dog", "ellipse", [100, 100, 140, 80]),
            (7, "bird", "mask", [0, 4, 5, 10, 20, 12, 22]),
        ]
        srv.add_annotations(task_id=tid, shapes=[
            {"type": t, "frame": f, "label_id": labs[c], "points": p}
            for f, c, t, p in shapes],
            tags=[{"frame": 6, "label_id": labs["dog"]}])
        st["drawn"] = shapes
    ck.run("an admin adds label bird in CVAT; annotators draw boxes, "
           "a polygon, an ellipse, a mask, a polyline and a tag",
           t_admin_label_and_drawing)

    expected = {  # frame -> [(class, [x, y, w, h])]
        0: [("cat", [10, 20, 100, 100])],
        1: [("dog", [30, 40, 60, 60])],
        2: [("dog", [5, 5, 45, 55]), ("cat", [200, 100, 100, 100])],
        3: [("cat", [40, 40, 100, 100]), ("cat", [41, 41, 100, 100])],
        4: [("bird", [60, 50, 100, 100])],
        5: [("cat", [10, 5, 70, 85])],
        6: [("dog", [60, 80, 80, 40])],
        7: [("bird", [10, 20, 3, 3])],
    }

    def check_drawn():
        for f, want in expected.items():
            got = [(b["label"], b["bbox"]) for b in boxes(mnt,
                                                          st["stem"][f])]
            eq(sorted(got), sorted(want), "frame %d" % f)

    def t_pull():
        st["before_pull"] = labels_all(mnt)
        st["classes_before"] = read(os.path.join(mnt, "classes"))
        st["coco_before"] = read(os.path.join(
            mnt, "export", "coco", "annotations", "instances_default.json"))
        write(os.path.join(C, "pull"), "first\n")
        check_drawn()
        eq(classes_table(mnt), {"cat": (1, 5), "dog": (2, 3),
                                "person": (3, 0), "bird": (4, 2)},
           "classes after the pull: bird from CVAT, box counts")
        line = last_status_line(mnt, "pull first")
        for part in ("by class: ", "cat 5 (+5 new)", "dog 3 (+3 new)",
                     "bird 2 (+2 new)", "new classes from CVAT labels: bird",
                     "boxes from other shapes: 1 polygon, 1 ellipse, "
                     "1 mask", "NOT imported (no box): 1 polyline (cat), "
                     "1 tag (dog)"):
            if part not in line:
                raise AssertionError("'%s' not in the answer: %s"
                                     % (part, line))
        info = read(os.path.join(C, "runs", "first", "info")).decode()
        if "1 polyline (cat)" not in info:
            raise AssertionError("the run's info does not name what was "
                                 "not imported: " + info)
        eq(sorted(os.listdir(os.path.join(mnt, "views", "dupes"))),
           [st["stem"][3] + ".jpg"], "views/dupes follows")
        st["after_pull"] = labels_all(mnt)
        st["classes_after"] = read(os.path.join(mnt, "classes"))
    ck.run("pull: every drawn box with its class, bird a class, per-class "
           "counts, the polyline and the tag named", t_pull)

    def t_undo_first():
        write(os.path.join(C, "undo"), "first\n")
        eq(labels_all(mnt), st["before_pull"], "labels byte for byte")
        eq(read(os.path.join(mnt, "classes")), st["classes_before"],
           "classes byte for byte")
        # (its "info" names the dataset version, which moves on)
        eq(coco_body(read(os.path.join(mnt, "export", "coco", "annotations",
                                       "instances_default.json"))),
           coco_body(st["coco_before"]), "export/coco as before")
        eq(os.listdir(os.path.join(mnt, "views", "dupes")), [],
           "views/dupes empty again")
        write(os.path.join(C, "pull"), "first\n")
        check_drawn()
        eq(read(os.path.join(mnt, "classes")), st["classes_after"],
           "the same classes and ids again")
    ck.run("undo restores labels and classes byte for byte; pull again",
           t_undo_first)

    def t_second_round():
        T = os.path.join(mnt, "tags", "reannotate")
        os.mkdir(T)
        two = [st["stem"][2], st["stem"][3]]
        for s in two:
            os.rename(os.path.join(mnt, "samples", s + ".jpg"),
                      os.path.join(T, s + ".jpg"))
        labels_before = project_labels(srv, st["pid"])
        write(os.path.join(C, "push"), "tags/reannotate fix-1\n")
        wait_phase(mnt, "fix-1", timeout=60)
        snap = srv.snapshot()
        tid2 = [t for t in snap["tasks"] if t != st["tid"]][0]
        status, task = api(srv, PASSWORD, "GET", "/api/tasks/%d" % tid2)
        eq(task["project_id"], st["pid"], "second task in the same project")
        eq(sorted(project_labels(srv, st["pid"])), sorted(labels_before),
           "the same labels")
        shapes = srv.list_annotations(task_id=tid2)["shapes"]
        eq(len(shapes), 4, "round-one boxes carried")
        frames = {f["frame"]: f["name"][:-4]
                  for f in srv.task_images(tid2)}
        before = labels_all(mnt)
        st["classes_before_fix"] = read(os.path.join(mnt, "classes"))
        old = {s: boxes(mnt, s) for s in two}
        # Annotators move the dog box and delete one of the duplicates.
        dog = [s for s in shapes if s["label_id"] == st["labs"]["dog"]][0]
        srv.edit_annotation("shapes", dog["id"], points=[8, 9, 58, 79])
        f3 = [f for f, n in frames.items() if n == st["stem"][3]][0]
        dup = sorted([s for s in shapes if s["frame"] == f3],
                     key=lambda s: s["points"][0])[1]
        srv.delete_annotation("shapes", dup["id"])
        write(os.path.join(C, "pull"), "fix-1\n")
        new2 = boxes(mnt, st["stem"][2])
        o2 = old[st["stem"][2]]
        eq(len(new2), 2, "frame 2 keeps two boxes")
        moved = [b for b in new2 if b["label"] == "dog"][0]
        odog = [b for b in o2 if b["label"] == "dog"][0]
        eq(moved["id"], odog["id"], "moved box keeps its id")
        eq(moved["bbox"], [8, 9, 50, 70], "moved in place")
        ocat = [b for b in o2 if b["label"] == "cat"][0]
        eq([b for b in new2 if b["label"] == "cat"], [ocat],
           "other box untouched")
        new3 = boxes(mnt, st["stem"][3])
        o3 = old[st["stem"][3]]
        eq(len(new3), 1, "one duplicate deleted")
        eq(new3[0]["id"], min(o3, key=lambda b: b["bbox"][0])["id"],
           "the other kept")
        after = labels_all(mnt)
        for n in after:
            if n[:-5] not in two:
                eq(after[n], before[n], "untouched " + n)
        eq(os.listdir(os.path.join(mnt, "views", "dupes")), [],
           "views/dupes follows")
        st["before_fix"] = before
    ck.run("second round: tags/reannotate pushed to the same project with "
           "the same labels and the boxes; a move and a delete land "
           "exactly", t_second_round)

    def t_export_coco():
        doc = json.loads(read(os.path.join(
            mnt, "export", "coco", "annotations", "instances_default.json")))
        eq(sorted((c["id"], c["name"]) for c in doc["categories"]),
           [(1, "cat"), (2, "dog"), (3, "person"), (4, "bird")],
           "four classes")
    ck.run("export/coco lists the four classes", t_export_coco)

    def t_undo_fix():
        write(os.path.join(C, "undo"), "fix-1\n")
        eq(labels_all(mnt), st["before_fix"], "labels byte for byte")
        eq(read(os.path.join(mnt, "classes")), st["classes_before_fix"],
           "classes (and their box counts) byte for byte")
    ck.run("undo of the second round restores the labels", t_undo_fix)

    def t_label_name_too_long():
        # CVAT takes label names of up to 64 characters; the store up to
        # 200 bytes.  A push that CVAT would refuse fails before anything
        # is recorded, and says which class to rename.
        longname = "L" * 65
        snap = srv.snapshot()
        runs = sorted(os.listdir(os.path.join(C, "runs")))
        names = list(classes_table(mnt))
        expect_errno(errno.EINVAL, write, os.path.join(C, "push"),
                     "views/unique long classes=cat,%s\n" % longname)
        write(os.path.join(mnt, "classes"), "add %s\n" % longname)
        expect_errno(errno.EINVAL, write, os.path.join(C, "push"),
                     "views/unique long classes=cat\n")
        line = last_status_line(mnt, "push views/unique")
        if longname not in line or "64" not in line:
            raise AssertionError("the refusal does not name the class: "
                                 + line)
        eq(srv.snapshot(), snap, "nothing sent to CVAT")
        eq(sorted(os.listdir(os.path.join(C, "runs"))), runs,
           "no run recorded")
        eq(sorted(classes_table(mnt)), sorted(names + [longname]),
           "classes= not added")
        write(os.path.join(mnt, "classes"), "remove %s\n" % longname)
    ck.run("a class name longer than CVAT's 64 characters: push refused "
           "with EINVAL before anything is recorded", t_label_name_too_long)

    def t_curate_pull_answer():
        # The same answer from the command line, on a copy of the run.
        write(os.path.join(C, "pull"), "fix-1\n")
        m.umount()
        env = cvat_env(srv, PASSWORD)
        import subprocess
        p = subprocess.run([os.environ.get("CURATE", "build/tools/curate"),
                            "cvat", "pull", "--store", store, "first"],
                           capture_output=True, text=True, env=env)
        eq(p.returncode, 0, "curate cvat pull: " + p.stderr)
        for part in ("boxes by class: cat ", "NOT imported: 2 objects "
                     "without a box: 1 polyline (cat), 1 tag (dog)",
                     "boxes from other shapes"):
            if part not in p.stdout:
                raise AssertionError("'%s' not in: %s" % (part, p.stdout))
        if not re.search(r"pulled first: \d+ updated", p.stdout):
            raise AssertionError(p.stdout)
        # curate cvat push --classes adds to the schema and the project.
        p = subprocess.run([os.environ.get("CURATE", "build/tools/curate"),
                            "cvat", "push", "--store", store, "--tag",
                            "reannotate", "--run", "fix-2", "--classes",
                            "fish,cat", "--wait"],
                           capture_output=True, text=True, env=env)
        eq(p.returncode, 0, "curate cvat push --classes: " + p.stderr)
        names = [ln.split(None, 2)[2] for ln in subprocess.run(
            [os.environ.get("CURATE", "build/tools/curate"), "classes",
             "--store", store], capture_output=True, text=True)
            .stdout.splitlines() if not ln.startswith("#")]
        eq(names, ["cat", "dog", "person", "bird", "fish"], "fish added")
        if "fish" not in project_labels(srv, st["pid"]):
            raise AssertionError("fish is no label of the project")
    ck.run("curate cvat pull gives counts per class and names what has "
           "no box; curate cvat push --classes", t_curate_pull_answer)


def main():
    run_suite("cvat-scratch-", body)


if __name__ == "__main__":
    main()
