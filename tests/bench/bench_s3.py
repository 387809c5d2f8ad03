#!/usr/bin/python3
"""Object-storage benchmarks against the loopback S3 test server
(tests/s3/s3_server.py, every request's signature checked with botocore);
each figure is a ratio against a baseline measured in the same run on the
same objects and the same server.

  headers-only import of 10,000 objects (curate import --no-hash
  --no-features s3://...)  vs  `aws s3 ls --recursive` plus one ranged GET
  (the first 64 KiB) of every object by one `curl --aws-sigv4` process
  keeping its connection (goal >= 0.8x)
  cold epoch: every sample read once through a fresh mount (empty object
  cache, 8 reader threads, as a data loader's workers)  vs  `aws s3 cp
  --recursive` of the same objects to a local folder (goal >= 0.8x)
  cached epoch: the same read again through `-o readonly`  vs  the same
  reads of the local copies (goal >= 0.8x)

The objects are COCO-sized JPEGs (640x480) made by tests/gen/mkjpeg and
loaded into the server directly.

usage: bench_s3.py BUILD_DIR [--small]   (--small: 1,000 objects)
"""
import os
import shutil
import threading
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from benchlib import print_rows  # noqa

build = sys.argv[1]
small = "--small" in sys.argv
N = 1000 if small else 10000
CURATE = os.path.join(build, "tools/curate")
CURATEFS = os.path.join(build, "fs/curatefs")
MKJPEG = os.path.join(build, "tests/mkjpeg")
AKID, SECRET, REGION = "AKIDBENCH", "bench-secret", "us-east-1"


def read_all(paths, threads=8):
    """Reads every file once on `threads` threads; the bytes read."""
    total = [0]
    lock = threading.Lock()

    def work(part):
        n = 0
        for p in part:
            with open(p, "rb") as f:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    n += len(b)
        with lock:
            total[0] += n
    ts = [threading.Thread(target=work, args=(paths[i::threads],))
          for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return total[0]


def mount(store, mnt, opts, env):
    os.makedirs(mnt, exist_ok=True)
    p = subprocess.Popen([CURATEFS, "-f"] + opts + [store, mnt], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        if os.path.ismount(mnt):
            return p
        if p.poll() is not None:
            raise SystemExit("curatefs exited %d" % p.returncode)
        time.sleep(0.05)
    raise SystemExit("the mount did not appear")


def umount(mnt, p):
    subprocess.run(["fusermount3", "-u", mnt], check=True)
    p.wait()


def epochs(tmp, env, url, store, src):
    """Cold and cached epochs through the mount against awscli's copy and
    native reads of it."""
    local = os.path.join(tmp, "local")
    t0 = time.perf_counter()
    subprocess.run(["/usr/bin/aws", "--endpoint-url", url, "s3", "cp",
                    "--recursive", "--only-show-errors", "s3://bench/set/",
                    local], env=env, check=True)
    base_cold = time.perf_counter() - t0
    mnt = os.path.join(tmp, "mnt")
    p = mount(store, mnt, [], env)
    try:
        smp = os.path.join(mnt, "samples")
        paths = [os.path.join(smp, n) for n in sorted(os.listdir(smp))]
        t0 = time.perf_counter()
        got = read_all(paths)
        cold = time.perf_counter() - t0
    finally:
        umount(mnt, p)
    want = sum(os.path.getsize(os.path.join(t, f))
               for t, _, fs in os.walk(local) for f in fs)
    if got != want:
        raise SystemExit("the cold epoch read %d bytes, not %d" % (got, want))
    p = mount(store, mnt, ["-o", "readonly"], env)
    try:
        paths = [os.path.join(smp, n) for n in sorted(os.listdir(smp))]
        read_all(paths)                 # page cache warm on both sides
        lp = sorted(os.path.join(t, f) for t, _, fs in os.walk(local)
                    for f in fs)
        read_all(lp)
        best_m = best_l = 1e9
        for _ in range(3):
            t0 = time.perf_counter()
            read_all(paths)
            best_m = min(best_m, time.perf_counter() - t0)
            t0 = time.perf_counter()
            read_all(lp)
            best_l = min(best_l, time.perf_counter() - t0)
    finally:
        umount(mnt, p)
    return [("S3 cold epoch through the mount, %d files" % len(paths),
             base_cold / cold, ">=0.8", "ours %.2f s, aws s3 cp --recursive "
             "%.2f s" % (cold, base_cold)),
            ("S3 cached epoch, -o readonly", best_l / best_m, ">=0.8",
             "ours %.3f s, native reads of the copies %.3f s" %
             (best_m, best_l))]


def main():
    tmp = tempfile.mkdtemp(prefix="bench-s3-")
    pf = os.path.join(tmp, "port")
    srv = subprocess.Popen(["/usr/bin/python3",
                            os.path.join(HERE, "..", "s3", "s3_server.py"),
                            "--port-file", pf, "--region", REGION,
                            "--key", "%s:%s" % (AKID, SECRET)])
    try:
        for _ in range(200):
            if os.path.exists(pf):
                break
            time.sleep(0.05)
        url = "http://127.0.0.1:%d" % int(open(pf).read())
        src = os.path.join(tmp, "src")
        subprocess.run([MKJPEG, "-n", str(N), "-d", "10", src], check=True,
                       stdout=subprocess.DEVNULL)
        urllib.request.urlopen(urllib.request.Request(
            url + "/_ctl/load?bucket=bench&prefix=set/&dir=" + src,
            data=b"", method="POST")).read()
        env = dict(os.environ, AWS_ACCESS_KEY_ID=AKID,
                   AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION=REGION,
                   AWS_DEFAULT_REGION=REGION, AWS_ENDPOINT_URL=url,
                   HOME=tmp)
        rels = sorted(os.path.relpath(os.path.join(t, f), src)
                      for t, _, fs in os.walk(src) for f in fs)

        # Baseline: the listing by awscli, then ranged GETs by curl.
        cfg = os.path.join(tmp, "curl.cfg")
        with open(cfg, "w") as f:
            for r in rels:
                f.write('url = "%s/bench/set/%s"\noutput = "/dev/null"\n'
                        % (url, r))
        t0 = time.perf_counter()
        ls = subprocess.run(["/usr/bin/aws", "--endpoint-url", url, "s3",
                             "ls", "--recursive", "s3://bench/set/"],
                            env=env, check=True, capture_output=True,
                            text=True).stdout
        subprocess.run(["curl", "-sf", "--aws-sigv4",
                        "aws:amz:%s:s3" % REGION, "--user",
                        "%s:%s" % (AKID, SECRET), "-H",
                        "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-r",
                        "0-65535", "-K", cfg], env=env, check=True)
        base = time.perf_counter() - t0
        if len(ls.splitlines()) != N:
            raise SystemExit("awscli listed %d objects, not %d" %
                             (len(ls.splitlines()), N))

        store = os.path.join(tmp, "store")
        t0 = time.perf_counter()
        out = subprocess.run([CURATE, "import", "--store", store,
                              "--no-hash", "--no-features",
                              "s3://bench/set/"], env=env, check=True,
                             capture_output=True, text=True).stdout
        ours = time.perf_counter() - t0
        if "%d new" % N not in out:
            raise SystemExit("the import did not take every object: " + out)
        rows = [("S3 import, headers only, %d objects" % N, base / ours,
                 ">=0.8", "ours %.2f s, aws s3 ls + curl ranges %.2f s"
                 % (ours, base))]
        rows += epochs(tmp, env, url, store, src)
        print_rows(rows)
    finally:
        srv.terminate()
        srv.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
