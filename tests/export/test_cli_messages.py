"""Misuse of `curate` says why: a usage error gives the reason in one line
and then the short usage of that command (not another command's, nor only
the usage), exit 2; a label file given with the wrong --format names the
format its content looks like."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xlib  # noqa: E402
from xlib import check, curate, write  # noqa: E402


def usage_error(args, reason, cmd):
    p = curate(*args, ok=False)
    lines = p.stderr.decode().splitlines()
    check(p.returncode == 2 and len(lines) >= 2 and
          lines[0] == "curate %s: %s" % (cmd, reason) and
          lines[1].startswith("usage: curate %s " % cmd) and
          not any(line.startswith("       curate") for line in lines),
          "%s: exit %d, %r" % (" ".join(args[:2]), p.returncode, lines))


def hinted(ds, fmt, path, hint):
    p = curate("import-labels", "--store", ds.store, "--format", fmt, path,
               ok=False)
    err = p.stderr.decode()
    check(p.returncode == 1 and len(err.splitlines()) == 1 and hint in err,
          "import-labels --format %s %s: exit %d, %r" % (
              fmt, os.path.basename(path), p.returncode, err))


def main():
    ds = xlib.Dataset(n=4, tags=False)
    s = ds.store
    usage_error(["info"], "--store STORE is required", "info")
    usage_error(["info", "--store", s, "extra"],
                "unexpected argument 'extra'", "info")
    usage_error(["export", "--store", s, "--format", "coco", "--tag", "a",
                 "--view", "unique", ds.path("o")],
                "--tag and --view exclude each other (export one or the "
                "other)", "export")
    usage_error(["export", "--store", s, ds.path("o")],
                "--format is required", "export")
    usage_error(["import", "--store", s], "DIR is missing", "import")
    usage_error(["import", ds.photos], "--store STORE is required", "import")

    j = ds.path("x.json")
    write(j, json.dumps(ds.coco))
    hinted(ds, "yolo", j, "(looks like COCO JSON: --format coco)")
    hinted(ds, "cvat", j, "(looks like COCO JSON: --format coco)")
    yolo = ds.export("yolo", ds.path("yolo"))
    hinted(ds, "coco", yolo, "(looks like YOLO: --format yolo)")
    voc = ds.export("voc", ds.path("voc"))
    hinted(ds, "yolo", voc, "(looks like Pascal VOC: --format voc)")
    xlib.finish()


if __name__ == "__main__":
    main()
