#!/usr/bin/python3
"""CVAT benchmarks against the CVAT-compatible test server (in this process,
loopback HTTP); every figure is a ratio against a baseline measured in the
same run on the same bytes and the same server.

  push of 1,000 COCO-sized JPEGs (curate cvat push --wait: project, task,
  batched upload, task creation, frame map)  vs  one `curl` multipart
  upload of the same files to the same endpoint (goal <= 1.5x)
  pull + merge of 50,000 boxes (curate cvat pull)  vs  one `curl` GET of the
  same annotations; peak memory of the pull  vs  that of `curate cvat
  status` (same binary, no work)

The server runs as its own process, so that the peak memory of a child
(which counts the pages of the process that forked it) stays the tool's.

usage: bench_cvat.py BUILD_DIR [--small]   (--small: 10x fewer)
"""
import base64
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cvat"))

build = sys.argv[1]
small = "--small" in sys.argv
N_IMG = 100 if small else 1000
N_BOX = 50                     # per image: 50,000 boxes in all (5,000 small)
CURATE = os.path.join(build, "tools/curate")
MKJPEG = os.path.join(build, "tests/mkjpeg")
PW = "bench-pw"


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, **kw)


def timed_child(cmd):
    """Wall time and peak RSS (KiB) of one child process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    if status != 0:
        raise SystemExit("failed: %s: %s" % (" ".join(cmd),
                                             p.stderr.read().decode()))
    p.stderr.close()
    return dt, ru.ru_maxrss


class Server:
    """cvat_server.py in a child process, driven through /_test/."""

    def __init__(self, tmp):
        pf = os.path.join(tmp, "port")
        self.p = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(HERE, "..", "cvat",
                                              "cvat_server.py"),
             "--port", "0", "--port-file", pf, "--password", PW,
             "--queue-delay", "0", "--process-delay", "0", "--anon-rate",
             "0", "--exit-on-stdin-eof"], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(pf):
                break
            time.sleep(0.05)
        with open(pf) as f:
            self.url = "http://127.0.0.1:%d" % int(f.read())

    def ctl(self, method, path, body=None):
        rq = urllib.request.Request(self.url + "/_test" + path, method=method,
                                    data=json.dumps(body).encode()
                                    if body is not None else None)
        rq.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(rq) as r:
            data = r.read()
        return json.loads(data) if data else None

    def stop(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)


def api(srv, method, path, body=None):
    rq = urllib.request.Request(srv.url + path, method=method,
                                data=json.dumps(body).encode()
                                if body is not None else None)
    rq.add_header("Authorization", "Basic " +
                  base64.b64encode(("admin:" + PW).encode()).decode())
    rq.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(rq) as r:
        data = r.read()
    return json.loads(data) if data else None


def main():
    if not shutil.which("curl"):
        raise SystemExit("curl is needed for the baseline (scripts/deps.sh)")
    tmp = tempfile.mkdtemp(prefix="bench-cvat-")
    srv = Server(tmp)
    try:
        imgs = os.path.join(tmp, "imgs")
        os.makedirs(imgs)
        run([MKJPEG, "-n", str(N_IMG), "-W", "800", "-H", "600", "-q", "95",
             "-s", "11", imgs])
        files = sorted(os.listdir(imgs))
        total = sum(os.path.getsize(os.path.join(imgs, f)) for f in files)
        print("%d JPEGs, %.0f KB on average, %.1f MB" % (
            len(files), total / len(files) / 1024, total / 2**20))
        conf = os.path.join(tmp, "cvat.conf")
        with open(conf, "w") as f:
            f.write("url = %s\nusername = admin\npassword = %s\n"
                    "segment_size = 100\npoll_interval = 0.02\n"
                    % (srv.url, PW))

        # Push vs one curl upload of the same bytes.
        st1 = os.path.join(tmp, "st1")
        run([CURATE, "import", "--store", st1, imgs])
        t_push, _ = timed_child([CURATE, "cvat", "push", "--store", st1,
                                 "--config", conf, "--run", "b",
                                 "--classes", "object", "--wait"])
        p = api(srv, "POST", "/api/projects", {"name": "curl"})
        t = api(srv, "POST", "/api/tasks", {"name": "curl",
                                            "project_id": p["id"]})
        cmd = ["curl", "-sS", "-f", "-o", "/dev/null", "-u", "admin:" + PW,
               "-H", "Accept: application/vnd.cvat+json",
               "-F", "image_quality=70", "-F", "sorting_method=predefined"]
        for i, f in enumerate(files):
            cmd += ["-F", "client_files[%d]=@%s" % (i, os.path.join(imgs, f))]
        cmd.append("%s/api/tasks/%d/data" % (srv.url, t["id"]))
        t_curl, _ = timed_child(cmd)
        print("push %d images: %.2f s; one curl multipart upload: %.2f s; "
              "ratio %.2fx (goal <= 1.5x)" % (N_IMG, t_push, t_curl,
                                              t_push / t_curl))

        # Pull + merge of N_IMG * N_BOX boxes.
        rnd = random.Random(3)
        coco = {"images": [], "annotations": [], "categories": [
            {"id": k + 1, "name": "c%d" % k} for k in range(10)]}
        for i, f in enumerate(files):
            coco["images"].append({"id": i + 1, "file_name": f,
                                   "width": 800, "height": 600})
            for k in range(N_BOX):
                coco["annotations"].append({
                    "id": len(coco["annotations"]) + 1, "image_id": i + 1,
                    "category_id": 1 + k % 10, "iscrowd": 0, "area": 1,
                    "bbox": [rnd.randint(0, 700), rnd.randint(0, 500),
                             rnd.randint(5, 99), rnd.randint(5, 99)]})
        cj = os.path.join(tmp, "coco.json")
        with open(cj, "w") as f:
            json.dump(coco, f)
        st2 = os.path.join(tmp, "st2")
        run([CURATE, "import", "--store", st2, "--coco", cj, imgs])
        run([CURATE, "cvat", "push", "--store", st2, "--config", conf,
             "--run", "p", "--wait"])
        task = max(srv.ctl("GET", "/state")["tasks"])
        # Annotators: move every 10th box, delete every 50th, add 1,000.
        shapes = srv.ctl("GET", "/tasks/%d/annotations" % task)["shapes"]
        nbox = len(shapes)
        for i, s in enumerate(shapes):
            if i % 50 == 0:
                srv.ctl("DELETE", "/annotations/shapes/%d" % s["id"])
            elif i % 10 == 0:
                x1, y1, x2, y2 = s["points"]
                srv.ctl("PATCH", "/annotations/shapes/%d" % s["id"],
                        {"points": [x1 + 1, y1 + 1, x2 + 1, y2 + 1]})
        srv.ctl("POST", "/tasks/%d/annotations" % task, {"shapes": [{
            "type": "rectangle", "frame": i % N_IMG,
            "label_id": shapes[0]["label_id"], "points": [1, 2, 30, 40]}
            for i in range(N_IMG)]})
        t_pull, rss = timed_child([CURATE, "cvat", "pull", "--store", st2,
                                   "--config", conf, "p"])
        out = os.path.join(tmp, "ann.json")
        t_get, _ = timed_child(["curl", "-sS", "-f", "-o", out, "-u",
                                "admin:" + PW, "-H", "Accept: */*",
                                "%s/api/tasks/%d/annotations" %
                                (srv.url, task)])
        size = os.path.getsize(out)
        print("pull + merge of %d boxes: %.2f s; one curl GET of the same "
              "annotations: %.2f s; ratio %.2fx" % (nbox, t_pull, t_get,
                                                    t_pull / t_get))
        _, rss0 = timed_child([CURATE, "cvat", "status", "--store", st2,
                               "p"])
        print("pull peak memory: %.1f MB; `curate cvat status`: %.1f MB; "
              "ratio %.2fx (annotations JSON: %.1f MB)" % (
                  rss / 1024, rss0 / 1024, rss / rss0, size / 2**20))
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
