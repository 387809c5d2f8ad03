#!/usr/bin/python3
"""test_cvat_resume - a push killed in each of its phases resumes from
the phase stored in its run record: `curate cvat push --wait` is held by a
server-side delay on the request of one step, killed (SIGKILL) once the
run's stored phase is that step's, and the same push is started again.
The resumed push ends "ready" with one task (never a second), every image
once, the frames in sample order, every box once with its label_id, the
jobs assigned, and a pull that changes nothing.  Killed once its images
went up (processing, boxes), it resumes so even with a sample changed
since: CVAT has the bytes the import recorded, and the file is neither
checked nor sent again; so does a push that failed in its boxes step
(CVAT refused the PUT) and is pushed again.  The phases are the
stored values every build writes (enum cvat_phase), so a run recorded by
an older build resumes the same way."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
from fslib import Checks, eq  # noqa: E402
from test_cvat_sync import CURATE, World, curate  # noqa: E402

# (stored phase to kill in, the request held meanwhile).  Only requests
# whose late effect is harmless are held (reads; the PATCH of an assignee
# sets what the resumed push sets too): the server still handles a held
# request after the kill, and a held POST would create its object then.
POINTS = [
    ("project", "GET", r"^/api/projects"),
    ("task", "GET", r"^/api/tasks"),
    ("upload", "GET", r"^/api/requests$"),
    ("processing", "GET", r"^/api/requests/"),
    ("boxes", "PATCH", r"^/api/jobs/"),
]


def phase_of(w, run):
    p = curate("cvat", "status", "--store", w.store, "--json", run,
               check=False)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout).get("phase")


def kill_in(w, run, phase, method, path):
    """Starts the push, holds the step's request, kills the tool once the
    stored phase is `phase`."""
    fid = w.srv.add_fault("delay", method=method, path=path, seconds=10,
                          times=1)
    proc = subprocess.Popen([CURATE, "cvat", "push", "--store", w.store,
                             "--config", w.conf, "--run", run, "--wait"],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        t0, seen = time.time(), None
        while time.time() - t0 < 25:
            seen = phase_of(w, run)
            fired = [f["fired"] for f in w.srv.list_faults()
                     if f["id"] == fid]
            if seen == phase and fired and fired[0]:
                break
            if proc.poll() is not None:
                raise AssertionError("push ended (%d) before phase %s; "
                                     "last seen %s" % (proc.returncode,
                                                       phase, seen))
            time.sleep(0.05)
        else:
            raise AssertionError("phase %s not reached: %s" % (phase, seen))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        w.srv.remove_fault(fid)
    eq(phase_of(w, run), phase, "stored phase after the kill")


def push_changed(w, run):
    """Pushes run again with one byte of the first image changed since the
    import (restored after)."""
    victim = os.path.join(w.imgs, sorted(os.listdir(w.imgs))[0])
    with open(victim, "rb") as f:
        orig = f.read()
    changed = bytearray(orig)
    changed[len(orig) // 2] ^= 0x55
    try:
        with open(victim, "wb") as f:
            f.write(changed)
        return w.cvat("push", "--run", run, "--wait")
    finally:
        with open(victim, "wb") as f:
            f.write(orig)


def check_pushed(w, run, tasks_before):
    snap = w.srv.snapshot()
    new = [t for t in snap["tasks"] if t not in tasks_before]
    eq(len(new), 1, "tasks made by the push of %s (killed and resumed)" % run)
    tid = new[0]
    imgs = w.srv.task_images(tid)
    eq(len(imgs), 12, "frames")
    names = [im["name"] for im in sorted(imgs, key=lambda x: x["frame"])]
    eq(names, sorted(names), "frame order = sample order")
    ann = w.srv.list_annotations(task_id=tid)
    eq(len(ann["shapes"]), 24, "boxes, each once")
    js = json.loads(w.cvat("status", "--json", run).stdout)
    eq((js["phase"], js["task_id"], js["samples"]), ("ready", tid, 12),
       "run after the resume")
    jobs = w.api("/api/jobs?task_id=%d&page_size=all" % tid)["results"]
    if any(not j["assignee"] for j in jobs):
        raise AssertionError("a job without assignee: %r" % jobs)
    before = w.labels(run)
    out = w.cvat("pull", run).stdout
    if "0 updated, 0 deleted, 0 added, 24 unchanged" not in out:
        raise AssertionError("pull after the resume changed labels: " + out)
    eq(w.labels(run), before, "labels after the pull")
    return tid


def main():
    ck = Checks()
    tmp = tempfile.mkdtemp(prefix="cvat-resume-")
    w = None
    try:
        w = World(os.path.join(tmp, "w"))
        for i, (phase, method, path) in enumerate(POINTS):
            run = "k%d" % i

            def killed_and_resumed(run=run, phase=phase, method=method,
                                   path=path):
                tasks_before = list(w.srv.snapshot()["tasks"])
                kill_in(w, run, phase, method, path)
                p = w.cvat("push", "--run", run, "--wait")
                eq(p.stdout.strip(), run, "run name of the resumed push")
                check_pushed(w, run, tasks_before)
            ck.run("push killed in phase %s resumes to ready, one task, "
                   "every box once" % phase, killed_and_resumed)

        # A sample changed after the upload: CVAT holds the bytes the
        # import recorded, so a push resumed past the upload neither
        # checks nor sends the file again.
        for i, (phase, method, path) in enumerate(POINTS[3:]):
            run = "c%d" % i

            def changed_then_resumed(run=run, phase=phase, method=method,
                                     path=path):
                tasks_before = list(w.srv.snapshot()["tasks"])
                kill_in(w, run, phase, method, path)
                p = push_changed(w, run)
                eq(p.stdout.strip(), run, "run name of the resumed push")
                check_pushed(w, run, tasks_before)
            ck.run("push killed in phase %s, a sample changed since: it "
                   "resumes to ready without checking the uploaded file"
                   % phase, changed_then_resumed)

        # A push that failed in its boxes step (CVAT refused the PUT) is
        # continued by the next push of the run, from the start of its
        # steps but with its recorded task: the images are up, so a sample
        # changed since is not looked at either.
        def failed_then_pushed():
            tasks_before = list(w.srv.snapshot()["tasks"])
            fid = w.srv.add_fault("error", method="PUT",
                                  path=r"/annotations", status=400,
                                  times=1)
            try:
                p = subprocess.run([CURATE, "cvat", "push", "--store",
                                    w.store, "--config", w.conf, "--run",
                                    "f1", "--wait"],
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
            finally:
                w.srv.remove_fault(fid)
            eq((p.returncode != 0, phase_of(w, "f1")), (True, "failed"),
               "the push failed in its boxes step")
            p = push_changed(w, "f1")
            eq(p.stdout.strip(), "f1", "run name of the push again")
            check_pushed(w, "f1", tasks_before)
        ck.run("push failed in its boxes step, a sample changed since: "
               "pushed again, it ends ready on its task", failed_then_pushed)
    finally:
        if w:
            w.close()
        shutil.rmtree(tmp, ignore_errors=True)
    ck.finish()


if __name__ == "__main__":
    main()
