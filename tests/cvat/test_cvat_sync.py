"""test_cvat_sync - the CVAT loop end to end through the `curate cvat` tool:
a real LMDB store made by `curate import` of real JPEGs (tests/gen/mkjpeg),
real loopback HTTP to the CVAT-compatible test server (cvat_server.py, run
in this process on its own thread), annotator and reviewer edits made on
the server side, faults injected by the server.

Each check prints "ok N - name" or "not ok N - name"; exit 1 if any failed.
Binaries come from the environment (CURATE, MKJPEG), as meson sets them.
"""
import base64
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
sys.path.insert(0, os.path.join(HERE, "..", "fault"))
import cvat_server  # noqa: E402
from faultlib import Pause, fault_env, log_lines  # noqa: E402
from fslib import Checks, eq  # noqa: E402

CURATE = os.environ.get("CURATE", "build/tools/curate")
MKJPEG = os.environ.get("MKJPEG", "build/tests/mkjpeg")

PASSWORD = "pw-Secr3t-%d" % os.getpid()
PAT = "pat-T0ken-%d-xyzzy" % os.getpid()
SECRETS = (PASSWORD, PAT)
OUTPUT = []          # every stdout/stderr of the tool, for the secret check


def curate(*args, env=None, check=True, timeout=60):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("CVAT_"):
            del e[k]
    e.update(env or {})
    p = subprocess.run([CURATE] + [str(a) for a in args], env=e,
                       capture_output=True, text=True, timeout=timeout)
    OUTPUT.append(p.stdout + p.stderr)
    if check and p.returncode != 0:
        raise AssertionError("curate %s: exit %d: %s" % (
            " ".join(map(str, args)), p.returncode, p.stderr.strip()))
    return p


class World:
    """A dataset of n JPEGs with two COCO boxes each, its store, a server
    and a config file."""

    def __init__(self, root, n=12, segment=5, **srv_kw):
        self.root = root
        self.imgs = os.path.join(root, "imgs")
        self.store = os.path.join(root, "store")
        os.makedirs(self.imgs)
        subprocess.run([MKJPEG, "-n", str(n), "-W", "320", "-H", "240",
                        "-s", "7", self.imgs], check=True,
                       stdout=subprocess.DEVNULL)
        files = sorted(f for f in os.listdir(self.imgs) if f.endswith(".jpg"))
        rnd = random.Random(5)
        coco = {"images": [], "annotations": [], "categories": [
            {"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
        aid = 1
        for i, f in enumerate(files):
            coco["images"].append({"id": i + 1, "file_name": f,
                                   "width": 320, "height": 240})
            for k in range(2):
                x, y = rnd.randint(0, 200), rnd.randint(0, 150)
                coco["annotations"].append({
                    "id": aid, "image_id": i + 1, "category_id": 1 + k % 2,
                    "bbox": [x + 0.5, y, 40.25, 30], "area": 1207.5,
                    "iscrowd": 0})
                aid += 1
        cj = os.path.join(root, "coco.json")
        with open(cj, "w") as f:
            json.dump(coco, f)
        curate("import", "--store", self.store, "--coco", cj, self.imgs)
        self.srv = cvat_server.CvatTestServer(password=PASSWORD,
                                              **srv_kw).start()
        self.srv.add_user("alice", "alice-pw")
        self.conf = os.path.join(root, "cvat.conf")
        self.write_conf(segment_size=segment, assignees="alice,admin")

    def write_conf(self, **extra):
        kv = {"url": self.srv.url, "username": "admin", "password": PASSWORD,
              "poll_interval": "0.05", "retries": "6"}
        kv.update(extra)
        with open(self.conf, "w") as f:
            f.write("# test settings\n")
            for k, v in kv.items():
                if v is not None:
                    f.write("%s = %s\n" % (k, v))

    def cvat(self, *args, **kw):
        sub = args[0]
        return curate("cvat", sub, "--store", self.store, "--config",
                      self.conf, *args[1:], **kw)

    def labels(self, run):
        return self.cvat("labels", run).stdout

    def api(self, path):
        rq = urllib.request.Request(self.srv.url + path)
        rq.add_header("Authorization", "Basic " + base64.b64encode(
            ("admin:" + PASSWORD).encode()).decode())
        with urllib.request.urlopen(rq) as r:
            return json.loads(r.read())

    def close(self):
        self.srv.stop()


def sample_docs(text):
    """labels text of a run -> {sample name: parsed document}."""
    out, dec, i = {}, json.JSONDecoder(), 0
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        d, i = dec.raw_decode(text, i)
        out[d["sample"]] = d
    return out


def main():
    ck = Checks()
    tmp = tempfile.mkdtemp(prefix="cvat-sync-")
    try:
        run_main(ck, tmp)
        run_faults(ck, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ck.finish()


def run_main(ck, tmp):
    w = World(os.path.join(tmp, "main"))
    st = {}
    try:
        def push():
            p = w.cvat("push", "--run", "r1", "--wait")
            eq(p.stdout.strip(), "r1", "run name")
            snap = w.srv.snapshot()
            eq(len(snap["tasks"]), 1, "tasks")
            tid = snap["tasks"][0]
            st["task"] = tid
            imgs = w.srv.task_images(tid)
            eq(len(imgs), 12, "frames")
            for im in imgs:
                with open(os.path.join(w.imgs, im["name"]), "rb") as f:
                    eq(im["sha256"], hashlib.sha256(f.read()).hexdigest(),
                       "bytes of " + im["name"])
            names = [im["name"] for im in sorted(imgs,
                                                 key=lambda x: x["frame"])]
            eq(names, sorted(names), "frame order = sample order")
            ann = w.srv.list_annotations(task_id=tid)
            eq(len(ann["shapes"]), 24, "boxes uploaded")
            st["before"] = w.labels("r1")
            docs = sample_docs(st["before"])
            ours = {str(d["id"]) for doc in docs.values()
                    for d in doc["fields"]["ground_truth"]}
            labs = {l["id"]: l for l in w.api(
                "/api/labels?project_id=%d&page_size=all" %
                w.api("/api/tasks/%d" % tid)["project_id"])["results"]}
            got = set()
            for s in ann["shapes"]:
                spec = [a["id"] for a in labs[s["label_id"]]["attributes"]
                        if a["name"] == "label_id"][0]
                got |= {a["value"] for a in s["attributes"]
                        if a["spec_id"] == spec}
            eq(got, ours, "label_id attributes")
            jobs = w.api("/api/jobs?task_id=%d&page_size=all" % tid)["results"]
            jobs.sort(key=lambda j: j["start_frame"])
            eq(len(jobs), 3, "jobs of 5 frames")
            eq([j["assignee"]["username"] for j in jobs],
               ["alice", "admin", "alice"], "round-robin assignees")
            st["jobs"] = [j["id"] for j in jobs]
            st["labs"] = labs
            info = w.cvat("status", "r1").stdout
            if not ("phase: ready" in info):
                raise AssertionError(info)
            if not ("/tasks/%d/jobs/%d" % (tid, jobs[0]["id"]) in info):
                raise AssertionError(info)
            # The same run as data: curate cvat status --json.
            js = json.loads(w.cvat("status", "--json", "r1").stdout)
            eq((js["name"], js["phase"], js["task_id"], js["samples"]),
               ("r1", "ready", tid, 12), "status --json")
            eq([j["id"] for j in js["jobs"]], st["jobs"], "jobs in json")
            eq([r["name"] for r in json.loads(
                w.cvat("status", "--json").stdout)], ["r1"], "run list")
        ck.run("push uploads images, boxes with label_id, jobs", push)

        def edits_and_pull():
            tid = st["task"]
            shapes = sorted(w.srv.list_annotations(task_id=tid)["shapes"],
                            key=lambda s: s["id"])
            by_name = {l["name"]: l["id"] for l in st["labs"].values()}
            moved, deleted, recls = shapes[0], shapes[3], shapes[6]
            if len({moved["frame"], deleted["frame"], recls["frame"]}) != 3:
                raise AssertionError("edits must be on three frames")
            w.srv.edit_annotation("shapes", moved["id"],
                                  points=[10, 20, 110.5, 90])
            w.srv.delete_annotation("shapes", deleted["id"])
            new_cls = "dog" if recls["label_id"] == by_name["cat"] else "cat"
            w.srv.edit_annotation("shapes", recls["id"],
                                  label_id=by_name[new_cls])
            w.srv.add_annotations(task_id=tid, shapes=[{
                "type": "rectangle", "frame": 9, "label_id": by_name["cat"],
                "points": [5, 6, 55, 66]}])
            p = w.cvat("pull", "r1")
            if "2 updated, 1 deleted, 1 added, 21 unchanged" not in \
                    p.stdout:
                raise AssertionError(p.stdout)
            before, after = sample_docs(st["before"]), \
                sample_docs(w.labels("r1"))
            frames = sorted(before)            # frame i = i-th name
            changed = {frames[moved["frame"]], frames[deleted["frame"]],
                       frames[recls["frame"]], frames[9]}
            for name in frames:
                if name not in changed:
                    eq(after[name], before[name], "untouched " + name)
            b = before[frames[moved["frame"]]]["fields"]["ground_truth"]
            a = after[frames[moved["frame"]]]["fields"]["ground_truth"]
            eq(len(a), 2, "moved: count")
            mv = [d for d in a if d["id"] == b[0]["id"]][0]
            eq(mv["bbox"], [10, 20, 100.5, 70], "moved box")
            eq(mv["label"], b[0]["label"], "moved: class kept")
            eq(a[1], b[1], "moved: other box untouched")
            b = before[frames[deleted["frame"]]]["fields"]["ground_truth"]
            a = after[frames[deleted["frame"]]]["fields"]["ground_truth"]
            eq(a, [b[0]], "deleted box gone, the other kept")
            b = before[frames[recls["frame"]]]["fields"]["ground_truth"]
            a = after[frames[recls["frame"]]]["fields"]["ground_truth"]
            eq([d["id"] for d in a], [d["id"] for d in b], "class change "
               "keeps the id")
            eq(a[0]["label"], new_cls, "class changed")
            eq(a[0]["bbox"], b[0]["bbox"], "class change keeps the box")
            b = before[frames[9]]["fields"]["ground_truth"]
            a = after[frames[9]]["fields"]["ground_truth"]
            eq(a[:2], b, "added: old boxes kept")
            eq(len(a), 3, "added: one more")
            eq((a[2]["label"], a[2]["bbox"]), ("cat", [5, 6, 50, 60]),
               "added box")
            if not (a[2]["id"] not in {d["id"] for d in b}):
                raise AssertionError('a[2]["id"] not in {d["id"] for d in b}')
            st["after"] = w.labels("r1")
            # A second pull with nothing new changes nothing.
            p = w.cvat("pull", "r1")
            if not ("0 updated, 0 deleted, 0 added" in p.stdout):
                raise AssertionError(p.stdout)
            eq(w.labels("r1"), st["after"], "second pull is a no-op")
        ck.run("annotator edits land exactly on pull", edits_and_pull)

        def review():
            j = st["jobs"][1]
            w.cvat("job", "r1", j, "stage", "validation")
            eq(w.api("/api/jobs/%d" % j)["stage"], "validation", "stage")
            eq(w.api("/api/jobs/%d" % j)["state"], "new", "stage resets")
            w.cvat("job", "r1", j, "state", "in progress")
            eq(w.api("/api/jobs/%d" % j)["state"], "in progress", "state")
            w.cvat("job", "r1", j, "assignee", "alice\n")
            eq(w.api("/api/jobs/%d" % j)["assignee"]["username"], "alice",
               "assignee")
            eq(w.cvat("job", "r1", j, "stage").stdout, "validation\n", "get")
            eq(w.cvat("job", "r1", j, "assignee").stdout, "alice\n", "get")
            p = w.cvat("job", "r1", j, "stage", "done", check=False)
            eq(p.returncode, 1, "bad stage refused")
            if not ("stage must be" in p.stderr):
                raise AssertionError(p.stderr)
            eq(w.api("/api/jobs/%d" % j)["stage"], "validation", "unchanged")
            p = w.cvat("job", "r1", 999999, "stage", "validation",
                       check=False)
            eq(p.returncode, 1, "unknown job refused")
            iss = w.srv.open_issue(j, 6, [1, 2, 30, 40], "box too loose",
                                   owner="alice")
            w.srv.add_comment(iss["id"] if isinstance(iss, dict) else iss,
                              "fixed it", owner="admin")
            t = w.cvat("issues", "r1", j).stdout
            if not ("frame 6" in t and "open" in t):
                raise AssertionError(t)
            if not ("alice: box too loose" in t and "admin: fixed it" in t):
                raise AssertionError(t)
        ck.run("review loop: stage, state, assignee, issues", review)

        def undo():
            w.cvat("undo", "r1")                # the no-op pull
            eq(w.labels("r1"), st["after"], "undo of the no-op pull")
            w.cvat("undo", "r1")
            eq(w.labels("r1"), st["before"], "labels byte for byte")
            p = w.cvat("undo", "r1", check=False)
            eq(p.returncode, 1, "nothing left to undo")
            eq(w.labels("r1"), st["before"], "still the old labels")
            w.cvat("pull", "r1")
            # The same result, except that the box drawn in CVAT gets a
            # fresh id (ids are never reused).
            again, after = sample_docs(w.labels("r1")), \
                sample_docs(st["after"])
            for name in after:
                for d in after[name]["fields"]["ground_truth"]:
                    d.pop("id") if d["bbox"] == [5, 6, 50, 60] else None
                for d in again[name]["fields"]["ground_truth"]:
                    d.pop("id") if d["bbox"] == [5, 6, 50, 60] else None
            eq(again, after, "pull again after undo")
        ck.run("undo restores the labels byte for byte", undo)

        def deleted_task():
            before = w.labels("r1")
            w.srv.delete_task(st["task"])
            p = w.cvat("pull", "r1", check=False)
            eq(p.returncode, 1, "exit")
            if not ("deleted in CVAT" in p.stderr):
                raise AssertionError(p.stderr)
            eq(w.labels("r1"), before, "labels unchanged")
            if not ("deleted" in w.cvat("status", "r1").stdout):
                raise AssertionError('"deleted" in w.cvat("status", "r1").stdout')
        ck.run("a task deleted in CVAT is reported, nothing deleted",
               deleted_task)

        def config_render():
            out = w.cvat("config").stdout
            if not ("password = (set)" in out):
                raise AssertionError(out)
            if not (PASSWORD not in out):
                raise AssertionError('PASSWORD not in out')
        ck.run("config shows secrets as (set)", config_render)
    finally:
        w.close()


def run_faults(ck, tmp):
    # Request bodies over 40 kB get 413 from the server, and the client
    # starts with 100 kB batches: it has to halve them.
    w = World(os.path.join(tmp, "faults"), n=10, segment=0,
              max_request_bytes=40000)

    def base_conf(**kw):
        w.write_conf(batch_bytes="100000", **kw)

    def reset_server():
        w.srv.clear_faults()

    base_conf()
    st = {}

    try:
        def wrong_password():
            base_conf(password="not-the-password")
            p = w.cvat("push", "--wait", check=False)
            eq(p.returncode, 1, "exit")
            if not ("login" in p.stderr and "Unable to log in" in p.stderr):
                raise AssertionError(p.stderr)
            if not ("not-the-password" not in p.stdout + p.stderr):
                raise AssertionError('"not-the-password" not in p.stdout + p.stderr')
            eq(w.cvat("status").stdout, "no runs\n", "no run recorded")
            base_conf()
        ck.run("wrong password: clear error, nothing recorded", wrong_password)

        def server_down():
            base_conf(url="http://127.0.0.1:9")
            t0 = time.monotonic()
            p = w.cvat("push", "--wait", check=False)
            eq(p.returncode, 1, "exit")
            if not (time.monotonic() - t0 < 10):
                raise AssertionError("fails fast")
            if not ("onnect" in p.stderr):
                raise AssertionError(p.stderr)
            eq(w.cvat("status").stdout, "no runs\n", "no run recorded")
            base_conf()
        ck.run("server down: clear error, nothing recorded", server_down)

        def version_gate():
            w.srv.configure(version="2.15.0")
            p = w.cvat("push", "--wait", check=False)
            w.srv.configure(version="2.39.0")
            eq(p.returncode, 1, "exit")
            if not ("2.16" in p.stderr):
                raise AssertionError(p.stderr)
        ck.run("servers older than 2.16 are refused", version_gate)

        def storm_and_500():
            # A storm of 429s on every kind of call, then a 500 in the
            # middle of the upload (the 3rd data POST), and the task
            # creation answer lost after the task was made.
            w.srv.add_fault("throttle", times=5, retry_after=0)
            w.srv.add_fault("error", status=500, method="POST",
                            path=r"^/api/tasks/\d+/data$", nth=3)
            w.srv.add_fault("drop", method="POST", path=r"^/api/tasks$",
                            when="after")
            p = w.cvat("push", "--run", "f1", "--wait", timeout=120)
            c = w.srv.counters()
            eq(c.get("tasks_created"), 1, "one task")
            if not (c["statuses"].get("429", 0) >= 5):
                raise AssertionError(c["statuses"])
            if not (c["statuses"].get("500", 0) >= 1):
                raise AssertionError(c["statuses"])
            if not (c.get("rejected_413", 0) >= 1):
                raise AssertionError(c)
            if not (c.get("max_batch_bytes", 0) <= 40000):
                raise AssertionError(c)
            if not (c.get("upload_batches", 0) >= 3):
                raise AssertionError(c)
            snap = w.srv.snapshot()
            eq(len(snap["tasks"]), 1, "tasks on the server")
            eq(len(w.srv.task_images(snap["tasks"][0])), 10, "images")
            if not ("ready" in w.cvat("status", "f1").stdout):
                raise AssertionError('"ready" in w.cvat("status", "f1").stdout')
            reset_server()
            return p
        ck.run("429 storm, 500 mid-upload, lost create answer: one task",
               storm_and_500)

        def retried_push():
            w.srv.add_fault("error", status=503, method="POST",
                            path=r"^/api/tasks/\d+/data$", times=-1)
            base_conf(retries="2")      # give up sooner
            p = w.cvat("push", "--run", "f2", "--wait", check=False,
                       timeout=120)
            eq(p.returncode, 1, "first push fails")
            if not ("f2" in w.cvat("status").stdout):
                raise AssertionError('"f2" in w.cvat("status").stdout')
            if not ("failed" in w.cvat("status", "f2").stdout):
                raise AssertionError('"failed" in w.cvat("status", "f2").stdout')
            reset_server()
            base_conf()
            n0 = len(w.srv.snapshot()["tasks"])
            w.cvat("push", "--run", "f2", "--wait")
            eq(len(w.srv.snapshot()["tasks"]), n0, "no duplicate task")
            if not ("ready" in w.cvat("status", "f2").stdout):
                raise AssertionError('"ready" in w.cvat("status", "f2").stdout')
        ck.run("a retried push creates no duplicate task", retried_push)

        def drop_during_pull():
            tid = w.srv.snapshot()["tasks"][-1]
            shapes = w.srv.list_annotations(task_id=tid)["shapes"]
            w.srv.edit_annotation("shapes", shapes[0]["id"],
                                  points=[1, 2, 3, 4])
            before = w.labels("f2")
            w.srv.add_fault("drop", method="GET",
                            path=r"^/api/tasks/\d+/annotations$", times=-1)
            base_conf(retries="2")
            p = w.cvat("pull", "f2", check=False, timeout=120)
            base_conf()
            eq(p.returncode, 1, "pull fails when every try drops")
            eq(w.labels("f2"), before, "labels unchanged")
            reset_server()
            w.srv.add_fault("drop", method="GET",
                            path=r"^/api/tasks/\d+/annotations$", rst=True)
            p = w.cvat("pull", "f2")
            if not ("1 updated" in p.stdout):
                raise AssertionError(p.stdout)
            # The one box edited in CVAT, (1, 2)-(3, 4), is now [1, 2, 2, 2].
            got = sample_docs(w.labels("f2"))
            old = sample_docs(before)
            changed = [n for n in got if got[n] != old.get(n)]
            eq(len(changed), 1, "samples changed by the pull")
            if [1, 2, 2, 2] not in [b["bbox"] for b in got[changed[0]]
                                    ["fields"]["ground_truth"]]:
                raise AssertionError("edited box not pulled: %r" %
                                     got[changed[0]])
            st["f2_pulled"] = w.labels("f2")
            reset_server()
            w.cvat("undo", "f2")
            eq(w.labels("f2"), before, "undo")
        ck.run("dropped connection during pull: retried, or nothing "
               "changes", drop_during_pull)

        def killed_during_pull():
            # The pull of drop_during_pull, killed at each point of each of
            # its commits (before the page sync, between it and the meta
            # page, after the meta page): the labels are wholly old or
            # wholly the expected new ones, in that order, and a pull
            # after the kills ends at the expected labels.
            before = w.labels("f2")
            expected = st.get("f2_pulled")
            if expected is None or expected == before:
                raise AssertionError("no expected pull result")
            e = {k: v for k, v in os.environ.items()
                 if not k.startswith("CVAT_")}
            cmd = [CURATE, "cvat", "pull", "--store", w.store, "--config",
                   w.conf, "f2"]
            logf = os.path.join(tmp, "pull-syncs.log")
            p = subprocess.run(cmd, env=fault_env(
                e, op="fsync", path="data.mdb", log=logf, skip=10 ** 9),
                capture_output=True, text=True, timeout=300)
            eq(p.returncode, 0, "logged pull: " + p.stderr)
            eq(w.labels("f2"), expected, "an uninterrupted pull")
            commits = len(log_lines(logf))
            if commits < 1:
                raise AssertionError("the pull committed nothing")
            w.cvat("undo", "f2")
            eq(w.labels("f2"), before, "undo")
            seen = []
            for i in range(commits):
                for op, when, extra in (("fsync", "before", {}),
                                        ("fsync", "after", {}),
                                        ("write", "after", {"min": 8192})):
                    pause = Pause(os.path.join(tmp, "pause-%d-%s-%s" % (
                        i, op, when)))
                    p = subprocess.Popen(cmd, env=fault_env(
                        e, op=op, path="data.mdb", skip=i, when=when,
                        pause_dir=pause.dir, **extra),
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                    try:
                        pause.wait(lambda: p.poll() is None)
                    finally:
                        p.kill()
                        out, err = p.communicate()
                        pause.remove()
                    OUTPUT.append((out + err).decode(errors="replace"))
                    now = w.labels("f2")
                    if now not in (before, expected):
                        raise AssertionError("commit %d, %s %s: labels "
                                             "neither old nor new" % (
                                                 i, op, when))
                    seen.append(now == expected)
                    if now == expected:
                        w.cvat("undo", "f2")
                        eq(w.labels("f2"), before, "undo after a kill")
            # Old until some point, new from there on; the last point
            # (after the last meta page) is new.
            if not seen[-1] or seen != sorted(seen):
                raise AssertionError("old/new by kill point: %r" % seen)
            print("# %d commits, %d kill points, new from point %d" % (
                commits, len(seen), seen.index(True)))
            w.cvat("pull", "f2")
            eq(w.labels("f2"), expected, "labels after the kills and a pull")
        ck.run("client killed during pull: labels wholly old or new",
               killed_during_pull)

        def pat_auth():
            w.srv.add_access_token("admin", value=PAT)
            base_conf(password=None, username=None, token=PAT)
            w.srv.clear_log()
            w.cvat("pull", "f2")
            log = w.srv.get_log(path="^/api/tasks/")
            if not (log and all(e["auth"] == "pat" for e in log)):
                raise AssertionError(log)
            eq(w.srv.get_log(path="^/api/auth/login"), [], "no login")
            base_conf()
        ck.run("personal access token (Bearer) works", pat_auth)

        def background_push():
            p = w.cvat("push", "--run", "bg")
            eq(p.stdout.strip(), "bg", "accepted at once")
            for _ in range(200):
                if "ready" in w.cvat("status", "bg").stdout:
                    break
                time.sleep(0.1)
            if not ("phase: ready" in w.cvat("status", "bg").stdout):
                raise AssertionError('"phase: ready" in w.cvat("status", "bg").stdout')
        ck.run("push without --wait finishes in the background",
               background_push)

        def no_secrets():
            texts = list(OUTPUT)
            for root, _, files in os.walk(tmp):
                for f in files:
                    if f.endswith(".conf"):
                        continue     # the settings file itself
                    with open(os.path.join(root, f), "rb") as fh:
                        texts.append(fh.read().decode("latin-1"))
            for s in SECRETS:
                for t in texts:
                    if not (s not in t):
                        raise AssertionError("secret leaked")
            for e in w.srv.get_log():
                if not (PASSWORD not in json.dumps(e)):
                    raise AssertionError('PASSWORD not in json.dumps(e)')
        ck.run("no secret in any output, log or store file", no_secrets)
    finally:
        w.close()


if __name__ == "__main__":
    main()
