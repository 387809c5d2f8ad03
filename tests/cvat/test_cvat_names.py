#!/usr/bin/python3
"""test_cvat_names - samples whose names hold characters a multipart
upload or CVAT's file-name handling would change (a double quote, which
libcurl writes as %22 in the part's file name; a backslash, which CVAT
takes as a path separator) or keep (%, ?, #, a leading dash, spaces,
UTF-8) are pushed with `curate cvat push --wait`: the task is created,
every frame holds the bytes of its own sample, and a box drawn on each
frame is pulled onto that sample.

Loopback HTTP to cvat_server.py (in this process)."""
import base64
import hashlib
import json
import os
import subprocess
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
import cvat_server  # noqa: E402
from fslib import eq, run_suite  # noqa: E402

CURATE = os.environ.get("CURATE", "build/tools/curate")
MKJPEG = os.environ.get("MKJPEG", "build/tests/mkjpeg")
PASSWORD = "names-pw-%d" % os.getpid()
NAMES = ['a"quote.jpg', "back\\slash.jpg", "100% done?.jpg",
         "\u00fc \u65e5\u672c #1.jpg", "-dash.jpg"]


def curate(*args):
    e = {k: v for k, v in os.environ.items() if not k.startswith("CVAT_")}
    p = subprocess.run([CURATE] + list(args), env=e, capture_output=True,
                       text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("curate %s: exit %d: %s" % (
            " ".join(args), p.returncode, p.stderr.strip()))
    return p.stdout


def body(ck, w):
    imgs = w.sub("imgs")
    os.makedirs(imgs, exist_ok=True)
    subprocess.run([MKJPEG, "-n", str(len(NAMES)), "-W", "160", "-H", "120",
                    "-s", "11", imgs], check=True, stdout=subprocess.DEVNULL)
    made = sorted(f for f in os.listdir(imgs) if f.endswith(".jpg"))
    sha = {}
    for f, n in zip(made, NAMES):
        os.rename(os.path.join(imgs, f), os.path.join(imgs, n))
        with open(os.path.join(imgs, n), "rb") as fh:
            sha[n[:-4]] = hashlib.sha256(fh.read()).hexdigest()
    store = os.path.join(w.path, "store")
    curate("import", "--store", store, "--no-features", imgs)
    with cvat_server.CvatTestServer(password=PASSWORD) as srv:
        conf = os.path.join(w.path, "cvat.conf")
        with open(conf, "w") as f:
            f.write("url = %s\nusername = admin\npassword = %s\n"
                    "poll_interval = 0.05\n" % (srv.url, PASSWORD))

        def cvat(*args):
            return curate("cvat", args[0], "--store", store, "--config",
                          conf, *args[1:])

        def t_push():
            cvat("push", "--run", "r1", "--classes", "cat", "--wait")
            st = json.loads(cvat("status", "--json", "r1"))
            run = st[0] if isinstance(st, list) else st
            eq(run["phase"], "ready", "phase")
        ck.run("samples with awkward names are pushed", t_push)

        def t_frames_and_pull():
            st = json.loads(cvat("status", "--json", "r1"))
            run = st[0] if isinstance(st, list) else st
            tid = run["task_id"]
            frames = srv.task_images(tid)
            eq(len(frames), len(NAMES), "frames")
            rq = urllib.request.Request(
                srv.url + "/api/labels?task_id=%d" % tid)
            rq.add_header("Authorization", "Basic " + base64.b64encode(
                ("admin:" + PASSWORD).encode()).decode())
            with urllib.request.urlopen(rq) as r:
                lid = json.loads(r.read())["results"][0]["id"]
            srv.add_annotations(task_id=tid, shapes=[
                {"type": "rectangle", "frame": f["frame"], "label_id": lid,
                 "points": [0, 0, 10 + f["frame"], 10]} for f in frames])
            cvat("pull", "r1")
            docs = {}
            text, dec, i = cvat("labels", "r1"), json.JSONDecoder(), 0
            while i < len(text):
                while i < len(text) and text[i].isspace():
                    i += 1
                if i < len(text):
                    d, i = dec.raw_decode(text, i)
                    docs[d["sample"]] = d
            eq(sorted(docs), sorted(sha), "samples of the run")
            by_sha = {v: k for k, v in sha.items()}
            for f in frames:
                sample = by_sha.get(f["sha256"])
                if sample is None:
                    raise AssertionError("frame %d holds no sample's bytes"
                                         % f["frame"])
                got = [b["bbox"] for b in
                       docs[sample]["fields"].get("ground_truth", [])]
                eq(got, [[0, 0, 10 + f["frame"], 10]],
                   "box of frame %d on %r" % (f["frame"], sample))
        ck.run("each frame is its sample's; boxes come back onto it",
               t_frames_and_pull)

        def t_long_class_reason():
            # 66 characters of 3 bytes: a class the store takes (198
            # bytes) but CVAT would not (over 64 characters).  The reason
            # quotes it up to 80 bytes, cut between characters.
            name = "\u65e5" * 66
            curate("classes", "--store", store, "add", name)
            e = {k: v for k, v in os.environ.items()
                 if not k.startswith("CVAT_")}
            p = subprocess.run([CURATE, "cvat", "push", "--store", store,
                                "--config", conf, "--run", "r2"], env=e,
                               capture_output=True, timeout=120)
            eq(p.returncode, 1, "exit status")
            err = p.stderr.decode("utf-8")
            want = "class '%s' cannot be a CVAT label" % ("\u65e5" * 26)
            if want not in err:
                raise AssertionError("reason %r lacks %r" % (err, want))
            curate("classes", "--store", store, "remove", name)
        ck.run("a class CVAT refuses is named in valid UTF-8",
               t_long_class_reason)


def main():
    run_suite("curatefs-cvat-names-", body)


if __name__ == "__main__":
    main()
