#!/usr/bin/python3
"""test_cvat_fs - the annotation loop through a real mount: push
views/unique by writing cvat/push, annotators add boxes on the server,
pull by writing cvat/pull, labels/*.json and views/dupes follow; tag the
duplicates with mv, push the tag with its boxes, move / delete / add /
re-class boxes on the server, pull: each change lands exactly and nothing
else changes; drive the review loop through the run's files; undo
restores the labels byte for byte; bad commands fail with precise errnos;
no secret in any file of the mount or in the daemon log.

Loopback HTTP to cvat_server.py (in this process); the daemon gets the
server and credentials from its environment, as a user would."""
import errno
import json
import os
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
sys.path.insert(0, os.path.join(HERE, "..", "fault"))
import cvat_server  # noqa: E402
from cvatlib import boxes, cvat_env, labels_all, wait_phase  # noqa: E402
from faultlib import Pause, fault_env, log_lines  # noqa: E402
from fslib import (Mount, curate, eq, expect_errno,  # noqa: E402
                   make_jpegs, read, run_suite, write)

PASSWORD = "fs-Secr3t-pw-%d" % os.getpid()
W, H = 320, 240
N = 10


def body(ck, w):
    tmp = w.path
    with cvat_server.CvatTestServer(password=PASSWORD) as srv:
        srv.add_user("alice", "alice-pw")
        run_checks(ck, tmp, srv)


def run_checks(ck, tmp, srv):
    data = os.path.join(tmp, "data")
    make_jpegs(data, N, extra=["-W", str(W), "-H", str(H)])
    names = sorted(os.listdir(data))
    stems = [n[:-4] for n in names]
    coco = {"images": [], "annotations": [], "categories": [
        {"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    for i, n in enumerate(names):
        coco["images"].append({"id": i + 1, "file_name": n,
                               "width": W, "height": H})
        coco["annotations"].append({
            "id": i + 1, "image_id": i + 1, "category_id": 1 + i % 2,
            "bbox": [10 + i, 20, 60, 50], "area": 3000, "iscrowd": 0})
    cj = os.path.join(tmp, "coco.json")
    json.dump(coco, open(cj, "w"))
    store = os.path.join(tmp, "store")
    curate("import", "--store", store, "--coco", cj, data)
    mnt = os.path.join(tmp, "mnt")
    m = Mount(store, mnt, env=cvat_env(srv, PASSWORD)).start()
    C = os.path.join(mnt, "cvat")
    write(os.path.join(mnt, "config"),
          "cvat.segment_size = 4\ncvat.assignees = alice,admin\n")
    st = {}

    def t_push_unique():
        uniq = sorted(os.listdir(os.path.join(mnt, "views", "unique")))
        if not uniq:
            raise AssertionError("views/unique is empty")
        write(os.path.join(C, "push"), "views/unique u1\n")
        info = wait_phase(mnt, "u1", timeout=60)
        tid = srv.snapshot()["tasks"][0]
        st["task_u1"] = tid
        imgs = srv.task_images(tid)
        eq(len(imgs), len(uniq), "frames = views/unique")
        if "/tasks/%d" % tid not in info:
            raise AssertionError("task URL missing: " + info)
        jobs = sorted(os.listdir(os.path.join(C, "runs", "u1", "jobs")))
        eq(len(jobs), (len(uniq) + 3) // 4, "jobs of 4 frames")
    ck.run("echo views/unique > cvat/push creates the task", t_push_unique)

    def t_pull_added():
        tid = st["task_u1"]
        imgs = sorted(srv.task_images(tid), key=lambda x: x["frame"])
        first = imgs[0]
        stem = first["name"][:-4]
        st["dup_stem"] = stem
        old = boxes(mnt, stem)
        b = old[0]["bbox"]
        lab_id = [s for s in srv.list_annotations(task_id=tid)["shapes"]
                  if s["frame"] == first["frame"]][0]["label_id"]
        # A near-copy of the existing box: a duplicate pair.
        srv.add_annotations(task_id=tid, shapes=[{
            "type": "rectangle", "frame": first["frame"],
            "label_id": lab_id,
            "points": [b[0] + 1, b[1] + 1, b[0] + b[2] + 1,
                       b[1] + b[3] + 1]}])
        before = labels_all(mnt)
        write(os.path.join(C, "pull"), "u1\n")
        new = boxes(mnt, stem)
        eq(len(new), 2, "box added")
        eq(new[0], old[0] | {"max_iou": new[0]["max_iou"],
                             "max_iou_id": new[1]["id"]}, "old box kept")
        eq(new[1]["bbox"], [b[0] + 1, b[1] + 1, b[2], b[3]], "new box")
        after = labels_all(mnt)
        for n in after:
            if n != stem + ".json":
                eq(after[n], before[n], "untouched " + n)
        dupes = os.listdir(os.path.join(mnt, "views", "dupes"))
        eq(dupes, [stem + ".jpg"], "views/dupes after pull")
    ck.run("annotators add a box; pull; labels and views/dupes follow",
           t_pull_added)

    def t_push_tag():
        T = os.path.join(mnt, "tags", "reannotate")
        os.mkdir(T)
        stem = st["dup_stem"]
        os.rename(os.path.join(mnt, "views", "dupes", stem + ".jpg"),
                  os.path.join(T, stem + ".jpg"))
        other = [s for s in stems if s != stem][0]
        os.rename(os.path.join(mnt, "samples", other + ".jpg"),
                  os.path.join(T, other + ".jpg"))
        st["r_stems"] = sorted([stem, other])
        write(os.path.join(C, "push"), "tags/reannotate r2\n")
        wait_phase(mnt, "r2", timeout=60)
        tid = [t for t in srv.snapshot()["tasks"] if t != st["task_u1"]][0]
        st["task_r2"] = tid
        imgs = sorted(srv.task_images(tid), key=lambda x: x["frame"])
        eq(sorted(i["name"][:-4] for i in imgs), st["r_stems"], "frames")
        shapes = srv.list_annotations(task_id=tid)["shapes"]
        eq(len(shapes), 3, "the tag's boxes went with it")
    ck.run("mv duplicates into tags/reannotate, push the tag with boxes",
           t_push_tag)

    def t_edits_land_exactly():
        tid = st["task_r2"]
        imgs = {i["frame"]: i["name"][:-4] for i in srv.task_images(tid)}
        shapes = sorted(srv.list_annotations(task_id=tid)["shapes"],
                        key=lambda s: s["id"])
        by_frame = {}
        for s in shapes:
            by_frame.setdefault(s["frame"], []).append(s)
        dup_frame = [f for f, n in imgs.items() if n == st["dup_stem"]][0]
        one_frame = [f for f in imgs if f != dup_frame][0]
        a, b = by_frame[dup_frame]
        c = by_frame[one_frame][0]
        srv.edit_annotation("shapes", a["id"], points=[100, 100, 150, 140])
        srv.delete_annotation("shapes", b["id"])
        # The store has two classes (cat, dog), so the task has two labels:
        # the re-class always changes the class.
        with srv.lock:
            t = srv.tasks[tid]
            task_labels = sorted(
                lab["id"] for lab in srv.labels.values()
                if lab["task"] == tid or (t.get("project_id") is not None and
                                          lab["project"] == t["project_id"]))
        other_label = [x for x in task_labels if x != c["label_id"]]
        if len(task_labels) != 2 or len(other_label) != 1:
            raise AssertionError("task labels %r, box label %r" % (
                task_labels, c["label_id"]))
        lab2 = other_label[0]
        srv.edit_annotation("shapes", c["id"], label_id=lab2)
        srv.add_annotations(task_id=tid, shapes=[{
            "type": "rectangle", "frame": one_frame, "label_id": lab2,
            "points": [200, 150, 260, 200]}])
        before = labels_all(mnt)
        old_dup = boxes(mnt, imgs[dup_frame])
        old_one = boxes(mnt, imgs[one_frame])
        st["before_r2"] = labels_all(mnt)
        write(os.path.join(C, "pull"), "r2\n")
        new_dup = boxes(mnt, imgs[dup_frame])
        eq(len(new_dup), 1, "deleted one of the pair")
        eq(new_dup[0]["id"], old_dup[0]["id"], "moved keeps its id")
        eq(new_dup[0]["bbox"], [100, 100, 50, 40], "moved box")
        new_one = boxes(mnt, imgs[one_frame])
        eq(len(new_one), 2, "added one")
        eq(new_one[0]["id"], old_one[0]["id"], "re-classed keeps its id")
        eq(new_one[0]["bbox"], old_one[0]["bbox"], "re-classed keeps box")
        if new_one[0]["label"] == old_one[0]["label"]:
            raise AssertionError("class not changed")
        eq(new_one[1]["bbox"], [200, 150, 60, 50], "added box")
        after = labels_all(mnt)
        for n in after:
            if n[:-5] not in imgs.values():
                eq(after[n], before[n], "untouched " + n)
        eq(os.listdir(os.path.join(mnt, "views", "dupes")), [],
           "no duplicates left")
    ck.run("move, delete, add and re-class in CVAT land exactly on pull",
           t_edits_land_exactly)

    def t_review_files():
        J = os.path.join(C, "runs", "r2", "jobs")
        job = sorted(os.listdir(J))[0]
        write(os.path.join(J, job, "stage"), "validation\n")
        with srv.lock:
            server_stage = srv.jobs[int(job)]["stage"]
        eq(server_stage, "validation", "server stage")
        eq(read(os.path.join(J, job, "stage")).decode(), "validation\n",
           "stage file")
        write(os.path.join(J, job, "state"), "in progress\n")
        eq(read(os.path.join(J, job, "state")).decode(), "in progress\n",
           "state file")
        write(os.path.join(J, job, "assignee"), "alice\n")
        eq(read(os.path.join(J, job, "assignee")).decode(), "alice\n",
           "assignee file")
        expect_errno(errno.EINVAL, write, os.path.join(J, job, "stage"),
                     "finished\n")
        eq(read(os.path.join(J, job, "stage")).decode(), "validation\n",
           "bad stage changed nothing")
        srv.open_issue(int(job), 0, [1, 2, 30, 40], "box too loose",
                       owner="alice")
        text = read(os.path.join(J, job, "issues.txt")).decode()
        if "box too loose" not in text:
            raise AssertionError("issues: " + text)
    ck.run("review loop through the run's files follows the server",
           t_review_files)

    def t_undo():
        write(os.path.join(C, "undo"), "r2\n")
        eq(labels_all(mnt), st["before_r2"], "labels byte for byte")
        expect_errno(errno.ENOENT, write, os.path.join(C, "undo"), "r2\n")
    ck.run("echo r2 > cvat/undo restores the labels byte for byte", t_undo)

    def t_errors():
        expect_errno(errno.ENOENT, write, os.path.join(C, "push"),
                     "tags/nope\n")
        expect_errno(errno.EINVAL, write, os.path.join(C, "push"),
                     "samples bad/name\n")
        expect_errno(errno.ENOENT, write, os.path.join(C, "pull"),
                     "no-such-run\n")
        cfg = os.path.join(mnt, "config")
        write(cfg, "cvat.password = wrong-password\n")
        expect_errno(errno.EACCES, write, os.path.join(C, "push"),
                     "samples r3\n")
        status = read(os.path.join(C, "status")).decode()
        if "r3" not in status and "credentials" not in status.lower():
            raise AssertionError("no reason in cvat/status: " + status)
        write(cfg, "cvat.password = %s\n" % PASSWORD)
        if "cvat.password = (set)" not in read(cfg).decode():
            raise AssertionError("password not shown as (set)")
        eq(len(srv.snapshot()["tasks"]), 2, "no task from failed pushes")
    ck.run("bad sources, runs and credentials fail with precise errnos",
           t_errors)

    def remount():
        return Mount(store, mnt, env=cvat_env(srv, PASSWORD)).start()

    def t_daemon_killed_during_pull():
        # The daemon is stopped at each point of each commit of a pull
        # (tests/fault/faultshim.c: before the page sync, between it and
        # the meta page, after the meta page) and killed there.  The pull
        # is never acknowledged; the labels are wholly old or wholly the
        # expected new ones, in that order of kill points; a pull after
        # the kills lands exactly the box added in CVAT.
        nonlocal m
        tid = st["task_r2"]
        # First the edits still on the server (undone earlier) come in, so
        # that the box added below is the pull's only change.
        write(os.path.join(C, "pull"), "r2\n")
        shapes = srv.list_annotations(task_id=tid)["shapes"]
        frame = shapes[0]["frame"]
        srv.add_annotations(task_id=tid, shapes=[{
            "type": "rectangle", "frame": frame,
            "label_id": shapes[0]["label_id"],
            "points": [30, 30, 90, 80]}])
        stem = [i["name"][:-4] for i in srv.task_images(tid)
                if i["frame"] == frame][0]
        before = labels_all(mnt)

        old_ids = {b["id"] for t in before.values() for f in
                   json.loads(t)["fields"].values() for b in f}

        def norm(labels):
            """Label ids are never reused, so each pull's new box has a new
            id: compare with ids the store did not have as "new"."""
            out = {}
            for n, t in labels.items():
                doc = json.loads(t)
                for f in doc["fields"].values():
                    for b in f:
                        for k in ("id", "max_iou_id"):
                            if k in b and b[k] not in old_ids:
                                b[k] = "new"
                out[n] = doc
            return out

        def check_new(now):
            changed = [n for n in now if now[n] != before.get(n)]
            eq(changed, [stem + ".json"], "samples changed by the pull")
            old = [b["bbox"] for b in json.loads(before[changed[0]])
                   ["fields"].get("ground_truth", [])]
            new = [b["bbox"] for b in json.loads(now[changed[0]])
                   ["fields"]["ground_truth"]]
            eq(new, old + [[30, 30, 60, 50]], "boxes after the pull")

        def pull_with(env, arm=None, pause=None):
            """Remounts with env, pulls r2; with a pause point, kills the
            daemon there and returns the pull's error."""
            nonlocal m
            m.umount()
            m = Mount(store, mnt, env=fault_env(cvat_env(srv, PASSWORD),
                                               **env)).start()
            res = {"err": None}

            def pull():
                try:
                    write(os.path.join(C, "pull"), "r2\n")
                except OSError as e:
                    res["err"] = e
            if arm:
                open(arm, "w").close()
            th = threading.Thread(target=pull)
            th.start()
            if pause:
                try:
                    pause.wait(lambda: m.proc.poll() is None)
                finally:
                    m.kill()
                    pause.remove()
            th.join(120)
            if th.is_alive():
                raise AssertionError("the pull did not return")
            if arm:
                os.unlink(arm)
            if pause:
                m = remount()
            return res["err"]

        logf = os.path.join(tmp, "pull-syncs.log")
        arm = os.path.join(tmp, "arm")
        err = pull_with({"op": "fsync", "path": "data.mdb", "arm": arm,
                         "log": logf, "skip": 10 ** 9}, arm)
        if err is not None:
            raise AssertionError("logged pull failed: %r" % err)
        expected = labels_all(mnt)
        check_new(expected)
        commits = len(log_lines(logf))
        if commits < 1:
            raise AssertionError("the pull committed nothing")
        write(os.path.join(C, "undo"), "r2\n")
        eq(labels_all(mnt), before, "undo")
        seen = []
        for i in range(commits):
            for op, when, extra in (("fsync", "before", {}),
                                    ("fsync", "after", {}),
                                    ("write", "after", {"min": 8192})):
                pause = Pause(os.path.join(tmp, "pause-%d-%s-%s" % (
                    i, op, when)))
                err = pull_with(dict(op=op, path="data.mdb", arm=arm,
                                     skip=i, when=when, pause_dir=pause.dir,
                                     **extra), arm, pause)
                if err is None or err.errno not in (errno.ENOTCONN,
                                                    errno.ECONNABORTED):
                    raise AssertionError("a killed pull answered %r" % err)
                now = labels_all(mnt)
                if now != before and norm(now) == norm(expected):
                    now = expected
                if now not in (before, expected):
                    diff = {n: (before.get(n), expected.get(n), now[n])
                            for n in now if now[n] != before.get(n)}
                    raise AssertionError("commit %d, %s %s: labels neither "
                                         "old nor new: %r" % (i, op, when,
                                                              diff))
                seen.append(now == expected)
                if now == expected:
                    write(os.path.join(C, "undo"), "r2\n")
                    eq(labels_all(mnt), before, "undo after a kill")
        if not seen[-1] or seen != sorted(seen):
            raise AssertionError("old/new by kill point: %r" % seen)
        print("# %d commits, %d kill points, new from point %d" % (
            commits, len(seen), seen.index(True)))
        write(os.path.join(C, "pull"), "r2\n")
        check_new(labels_all(mnt))
        eq(norm(labels_all(mnt)), norm(expected),
           "same result as the logged pull")
    ck.run("daemon killed during pull: labels wholly old or wholly new",
           t_daemon_killed_during_pull)

    def t_push_quoted():
        # A tag name may hold spaces (mkdir allows it); the control line
        # takes it in double quotes, with \" and \\ inside.
        T = os.path.join(mnt, "tags", "my picks")
        os.mkdir(T)
        os.rename(os.path.join(mnt, "samples", stems[0] + ".jpg"),
                  os.path.join(T, stems[0] + ".jpg"))
        ntask = len(srv.snapshot()["tasks"])
        expect_errno(errno.EINVAL, write, os.path.join(C, "push"),
                     "tags/my picks q1\n")
        status = read(os.path.join(C, "status")).decode()
        if "double quotes" not in status or '"tags/my picks"' not in status:
            raise AssertionError("no hint to quote in cvat/status: " +
                                 status)
        expect_errno(errno.ENOENT, write, os.path.join(C, "push"),
                     "tags/my picks\n")
        expect_errno(errno.EINVAL, write, os.path.join(C, "push"),
                     '"tags/my picks q1\n')
        # An empty quoted word is no run name (it was taken as none, and
        # the next word as the run).
        expect_errno(errno.EINVAL, write, os.path.join(C, "push"),
                     '"tags/my picks" "" q1\n')
        expect_errno(errno.EINVAL, write, os.path.join(C, "push"),
                     '""\n')
        eq(len(srv.snapshot()["tasks"]), ntask, "no task from refused lines")
        write(os.path.join(C, "push"), '"tags/my picks" q1\n')
        wait_phase(mnt, "q1", timeout=60)
        tasks = srv.snapshot()["tasks"]
        eq(len(tasks), ntask + 1, "one task for the quoted tag")
        eq([i["name"][:-4] for i in srv.task_images(max(tasks))],
           [stems[0]], "its frames")
    ck.run("a tag with a space is pushed in double quotes; unquoted, the "
           "reason says to quote it", t_push_quoted)

    def t_no_secret():
        for d, dirs, files in os.walk(mnt):
            rel = os.path.relpath(d, mnt)
            if rel.split(os.sep)[0] in ("samples", "tags", "export",
                                        "views"):
                dirs[:] = []
                continue
            for f in files:
                if PASSWORD.encode() in read(os.path.join(d, f)):
                    raise AssertionError("secret in " + os.path.join(
                        rel, f))
        if PASSWORD in m.logtext():
            raise AssertionError("secret in the daemon log")
        logf = os.path.join(store, "curatefs.log")
        if PASSWORD in open(logf).read():
            raise AssertionError("secret in curatefs.log")
    ck.run("no secret in any file of the mount or in the logs",
           t_no_secret)
    m.umount()


def main():
    run_suite("cvat-fs-", body)


if __name__ == "__main__":
    main()
