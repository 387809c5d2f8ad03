"""Large JSON label files are read in blocks, not a byte per system call.

jansson's json_loadfd() calls read(2) once per byte, so a 32 MB COCO file
of 100,000 images cost 32 million system calls (about 1 ms of CPU per
image). A COCO file and a predictions file, each led by 4 MB of
whitespace (valid JSON, parsed at once), must import in well under a
second of the child's CPU time; read byte by byte they take several."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xlib  # noqa: E402
from xlib import CURATE, check  # noqa: E402

PAD = 4 << 20
# CPU seconds the child may use. One read per byte costs 1.5-2 us of
# CPU per byte here (8 s or more for the padding alone); block reads
# leave parsing the padding at a few ms.
LIMIT = 1.5


def timed(*args):
    """Runs curate, returns (exit code, stderr, CPU seconds of the child)."""
    p = subprocess.Popen([CURATE] + [str(a) for a in args],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read().decode()
    p.stderr.close()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, err, ru.ru_utime + ru.ru_stime


def padded(path, doc):
    with open(path, "w") as f:
        f.write(" \n" * (PAD // 2))
        json.dump(doc, f)


def main():
    ds = xlib.Dataset(n=6, tags=False)
    boxes = len(ds.coco["annotations"])

    gt = ds.path("gt-padded.json")
    padded(gt, ds.coco)
    rc, err, cpu = timed("import", "--store", ds.store, "--coco", gt,
                         ds.photos)
    check(rc == 0, "import --coco of a 4 MB file succeeds (%s)" % err.strip())
    n = len(ds.dump())
    check(n == boxes, "all %d boxes kept (got %d)" % (boxes, n))
    check(cpu < LIMIT, "import --coco of a 4 MB file: %.2f s CPU < %.1f s"
          % (cpu, LIMIT))

    preds = dict(ds.coco)
    preds["annotations"] = [dict(a, score=0.5) for a in ds.coco["annotations"]]
    pf = ds.path("preds-padded.json")
    padded(pf, preds)
    rc, err, cpu = timed("predictions", "--store", ds.store, "--format",
                         "coco", pf)
    check(rc == 0, "predictions of a 4 MB file succeed (%s)" % err.strip())
    n = len(ds.dump("predictions"))
    check(n == boxes, "all %d predictions imported (got %d)" % (boxes, n))
    check(cpu < LIMIT, "predictions of a 4 MB file: %.2f s CPU < %.1f s"
          % (cpu, LIMIT))
    xlib.finish()


if __name__ == "__main__":
    main()
