#!/usr/bin/python3
"""Object-storage benchmarks against the loopback S3 test server
(tests/s3/s3_server.py, every request's signature checked with botocore);
each figure is a ratio against a baseline measured in the same run on the
same objects and the same server.

  headers-only import of 10,000 objects (curate import --no-hash
  --no-features s3://...)  vs  `aws s3 ls --recursive` plus one ranged GET
  (the first 64 KiB) of every object by one `curl --aws-sigv4` process
  keeping its connection (goal >= 0.8x)

The objects are COCO-sized JPEGs (640x480) made by tests/gen/mkjpeg and
loaded into the server directly.

usage: bench_s3.py BUILD_DIR [--small]   (--small: 1,000 objects)
"""
import os
import shutil
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
MKJPEG = os.path.join(build, "tests/mkjpeg")
AKID, SECRET, REGION = "AKIDBENCH", "bench-secret", "us-east-1"


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
        print_rows([("S3 import, headers only, %d objects" % N, base / ours,
                     ">=0.8", "ours %.2f s, aws s3 ls + curl ranges %.2f s"
                     % (ours, base))])
    finally:
        srv.terminate()
        srv.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
