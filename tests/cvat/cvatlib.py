"""cvatlib - what the cvat suite's mount tests share: the daemon's CVAT
environment, waiting for a run's phase, walking and copying a mount
(every listed path stats; rsync -a), reading labels and cvat/status
back, the admin's requests to the test server's public API, the
one-box COCO file the errno and TLS tests import, the files of a job's
folder and a loopback URL nothing listens on.

Used next to fslib (tests/fs), which the caller has put on sys.path."""
import base64
import http.client
import json
import os
import socket
import subprocess
import time

from fslib import read

# The files of cvat/runs/<run>/jobs/<id>/, sorted.
JOB_FILES = ["assignee", "issues.txt", "stage", "state"]


def refusing_url():
    """A loopback URL nothing listens on (connections refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "http://127.0.0.1:%d" % port


def cvat_env(srv, password, **extra):
    """A copy of our environment naming srv and its admin for the daemon
    (or the tool), plus extra variables."""
    return dict(os.environ, CVAT_URL=srv.url, CVAT_USERNAME="admin",
                CVAT_PASSWORD=password, **extra)


def wait_phase(mnt, run, want="ready", timeout=300):
    """Polls the run's info until it shows the phase and returns the info;
    a failed run raises at once.  The deadline only ends a hang."""
    deadline = time.monotonic() + timeout
    info = ""
    while time.monotonic() < deadline:
        info = read(os.path.join(mnt, "cvat", "runs", run, "info")).decode()
        if "phase: " + want in info:
            return info
        if "phase: failed" in info:
            raise AssertionError("push failed: " + info)
        time.sleep(0.05)
    raise AssertionError("run %s not %s: %s" % (run, want, info))


def unstattable(top):
    """Every path under top that its directory lists but lstat refuses."""
    bad = []

    def onerror(e):
        bad.append("%s: %s" % (e.filename, e.strerror))
    for d, dirs, files in os.walk(top, onerror=onerror):
        for n in dirs + files:
            p = os.path.join(d, n)
            try:
                os.lstat(p)
            except OSError as e:
                bad.append("%s: %s" % (p, e.strerror))
    return bad


def rsync(src, dst):
    """rsync -a --itemize-changes src/ dst/: (exit code, the files it
    copied, its output)."""
    p = subprocess.run(["rsync", "-a", "--itemize-changes", src + "/",
                        dst + "/"], capture_output=True, text=True)
    files = [x for x in p.stdout.splitlines()
             if len(x) > 1 and x[1] == "f"]
    return p.returncode, files, p.stdout + p.stderr


def labels_all(mnt):
    """{file name: bytes} of every labels/ document."""
    L = os.path.join(mnt, "labels")
    return {n: read(os.path.join(L, n)) for n in sorted(os.listdir(L))}


def boxes(mnt, stem):
    """The ground-truth boxes of labels/<stem>.json."""
    doc = json.loads(read(os.path.join(mnt, "labels", stem + ".json")))
    return doc["fields"].get("ground_truth", [])


def last_status_line(mnt, word):
    """The last line of cvat/status containing word."""
    lines = [ln for ln in read(os.path.join(mnt, "cvat", "status"))
             .decode().splitlines() if word in ln]
    if not lines:
        raise AssertionError("no '%s' line in cvat/status" % word)
    return lines[-1]


def api(srv, password, method, path, body=None):
    """A request to the server's public API as the admin (what a user
    does in CVAT's UI): (status, decoded JSON body or None)."""
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    auth = base64.b64encode(("admin:" + password).encode()).decode()
    hdr = {"Authorization": "Basic " + auth,
           "Accept": "application/vnd.cvat+json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdr["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=hdr)
    r = c.getresponse()
    raw = r.read()
    c.close()
    return r.status, (json.loads(raw) if raw else None)


def write_coco(path, names):
    """A COCO file for 96 x 64 images: class "cat" and one box each."""
    json.dump({"images": [{"id": i + 1, "file_name": n, "width": 96,
                           "height": 64} for i, n in enumerate(names)],
               "annotations": [{"id": i + 1, "image_id": i + 1,
                                "category_id": 1, "bbox": [4, 4, 20, 10],
                                "area": 200, "iscrowd": 0}
                               for i in range(len(names))],
               "categories": [{"id": 1, "name": "cat"}]}, open(path, "w"))


# Run as another user (pw): writes one command to a control file, prints
# the errno (0 = ok).
PUSH = r'''
import sys
try:
    with open(sys.argv[1], "w") as f:
        f.write(sys.argv[2] + "\n")
    print(0)
except OSError as e:
    print(e.errno)
'''


def push_as(pw, path, cmd):
    p = subprocess.run(["/usr/bin/python3", "-c", PUSH, path, cmd],
                       user=pw.pw_uid, group=pw.pw_gid,
                       extra_groups=os.getgrouplist(pw.pw_name, pw.pw_gid),
                       capture_output=True, text=True, timeout=180)
    if p.returncode != 0:
        raise AssertionError("push as %s failed: %s" % (pw.pw_name, p.stderr))
    return int(p.stdout)
