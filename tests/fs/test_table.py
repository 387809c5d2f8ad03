#!/usr/bin/python3
"""fs suite, the per-sample table and the extended attributes:
samples.csv at the root (exact size at lookup, RFC 4180 as read by
Python's csv module and by pandas, values equal to what views/unique,
views/near-duplicates, views/mistakes, the source files and the labels
show, following tag and label changes), `curate table` giving the same
bytes and the same rows as JSON Lines, and user.curatefs.* attributes
through getfattr and os.getxattr on samples/, tags/ and view files, with
writes refused (EPERM for our names, ENOTSUP for others)."""
import csv
import errno
import io
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (MKJPEG, Mount, curate, edit_boxes, eq,  # noqa: E402
                   expect_errno, read, run_suite, write)

K = 4
VARIANTS = (["-W", "320", "-H", "240", "-q", "92"],
            ["-W", "320", "-H", "240", "-q", "40"])
ODD = 'odd, "quoted" name'   # a name that needs CSV quoting
LF_FILE = "line\nbreak.jpg"  # a path with a line break
HEADER_FIXED = ["name", "path", "format", "width", "height", "orientation",
                "bytes", "tags",
                "uniqueness", "unique_rank", "neardup_group", "nn_distance"]
HEADER_TAIL = ["eval_tp", "eval_fp", "eval_fn", "mistakenness"]


def split_prefixed(entry):
    """'0003-name.jpg' -> (3, 'name')."""
    pre, rest = entry.split("-", 1)
    return int(pre), rest[:-4]


def body(ck, w):
    data = w.sub("data")
    os.makedirs(data)
    for g in range(K):
        for v, args in enumerate(VARIANTS):
            subprocess.run([MKJPEG, "-n", "1", "-s", str(2000 + 11 * g)]
                           + args + [os.path.join(data, "g%d_v%d" % (g, v))],
                           check=True, stdout=subprocess.DEVNULL)
    subprocess.run([MKJPEG, "-n", "1", "-s", "77", "-W", "200", "-H", "150",
                    "-p", os.path.join(data, "single")], check=True,
                   stdout=subprocess.DEVNULL)
    # mkjpeg writes <dir>/img_000000.jpg: flatten to <dir>.jpg.
    files = []
    for d in sorted(os.listdir(data)):
        os.rename(os.path.join(data, d, "img_000000.jpg"),
                  os.path.join(data, d + ".jpg"))
        os.rmdir(os.path.join(data, d))
        files.append(d + ".jpg")
    # One file under a name that needs quoting, one whose path holds a line
    # break (its sample name has "_" there; the path cell keeps it).
    os.rename(os.path.join(data, files[0]), os.path.join(data, ODD + ".jpg"))
    files[0] = ODD + ".jpg"
    os.rename(os.path.join(data, files[1]), os.path.join(data, LF_FILE))
    files[1] = LF_FILE
    names = sorted(os.path.basename(f)[:-4].replace("\n", "_")
                   for f in files)
    # Ground truth on every file, predictions on some: an evaluation with
    # true and false positives and misses.
    def size(f):
        return (200, 150) if "single" in f else (320, 240)
    gt = {"images": [{"id": i + 1, "file_name": os.path.basename(f),
                      "width": size(f)[0], "height": size(f)[1]}
                     for i, f in enumerate(files)],
          "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
          "annotations": []}
    preds = []
    for i, f in enumerate(files):
        gt["annotations"].append({
            "id": i + 1, "image_id": i + 1, "category_id": 1 + i % 2,
            "bbox": [10, 10, 40 + i, 30], "area": 1200, "iscrowd": 0})
        if i % 3 != 2:
            preds.append({"image_id": i + 1, "category_id": 1 + i % 2,
                          "bbox": [10 + 3 * (i % 3), 10, 40 + i, 30],
                          "score": 0.5 + i / 40})
        if i % 4 == 0:
            preds.append({"image_id": i + 1, "category_id": 2,
                          "bbox": [100, 100, 30, 30], "score": 0.97})
    gtf, pf = w.sub("gt.json"), w.sub("preds.json")
    json.dump(gt, open(gtf, "w"))
    json.dump(preds, open(pf, "w"))
    store = w.sub("store")
    curate("import", "--store", store, "--coco", gtf, "--predictions", pf,
           data)
    curate("eval", "--store", store, "--name", "e1")
    mnt = w.sub("mnt")
    m = Mount(store, mnt).start()
    CSV = os.path.join(mnt, "samples.csv")

    def load():
        raw = read(CSV)
        eq(os.stat(CSV).st_size, len(raw), "size at lookup")
        rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"),
                                               newline="")))
        return raw, rows

    def by_name(rows):
        return {r["name"]: r for r in rows}

    def t_root_and_format():
        if "samples.csv" not in os.listdir(mnt):
            raise AssertionError("samples.csv not listed at the root")
        raw, rows = load()
        text = raw.decode()
        # Records end in CRLF; the one bare LF is inside the quoted path.
        if not text.endswith("\r\n") or \
                text.count("\r\n") != len(rows) + 1 or \
                text.replace("\r\n", "").count("\n") != 1:
            raise AssertionError("lines do not end in CRLF")
        header = next(csv.reader(io.StringIO(text, newline="")))
        eq(header, HEADER_FIXED + ["boxes_ground_truth", "boxes_predictions"]
           + HEADER_TAIL, "header")
        eq(sorted(r["name"] for r in rows), names, "one row per sample")
        # RFC 4180: the odd name is quoted with its quotes doubled.
        want = '"%s"' % ODD.replace('"', '""')
        if ("\r\n%s," % want) not in text:
            raise AssertionError("odd name not quoted: %r" % text[:400])
        if '\r\nline_break,"line\nbreak.jpg",' not in text:
            raise AssertionError("line break not quoted: %r" % text[:600])
        eq(by_name(rows)["line_break"]["path"], LF_FILE, "path with LF")
    ck.run("samples.csv: listed, CRLF, header, one row per sample, quoting",
           t_root_and_format)

    def t_file_facts():
        _, rows = load()
        for r in rows:
            src = os.path.join(data, r["path"])
            eq(int(r["bytes"]), os.path.getsize(src), "bytes of " + r["name"])
            eq(int(r["bytes"]), os.path.getsize(
                os.path.join(mnt, "samples", r["name"] + ".jpg")),
               "bytes as samples/ shows")
            out = subprocess.run(
                [os.environ.get("JPEGCMP", "build/tests/jpegcmp"), src, src],
                capture_output=True, text=True, check=True).stdout.split()
            eq("%sx%s" % (r["width"], r["height"]), out[0], "size of " + src)
            eq(r["format"], "jpeg-progressive" if r["name"] == "single"
               else "jpeg", "format")
            eq(r["boxes_ground_truth"], "1", "gt boxes")
    ck.run("samples.csv: path, bytes, width, height, format, boxes",
           t_file_facts)

    def t_views_agree():
        _, rows = load()
        rows = by_name(rows)
        U = os.listdir(os.path.join(mnt, "views", "unique"))
        eq(len(U), len(names), "every sample ranked")
        for e in U:
            rank, n = split_prefixed(e)
            eq(rows[n]["unique_rank"], str(rank), "unique_rank of " + n)
        ND = os.listdir(os.path.join(mnt, "views", "near-duplicates"))
        grouped = {}
        for e in ND:
            g, n = split_prefixed(e)
            eq(rows[n]["neardup_group"], str(g), "neardup_group of " + n)
            grouped[n] = g
        eq(len(grouped), 2 * K, "the K pairs are grouped")
        for n, r in rows.items():
            if n not in grouped:
                eq(r["neardup_group"], "", "no group for " + n)
        cfg = read(os.path.join(mnt, "config")).decode()
        thr = float(re.search(r"^neardup\.threshold\s*=\s*(\S+)", cfg,
                              re.M).group(1))
        for n, r in rows.items():
            s, d = float(r["uniqueness"]), float(r["nn_distance"])
            if not (0 <= s <= 1) or d < 0:
                raise AssertionError("score %r, distance %r" % (s, d))
            if n in grouped and d > thr:
                raise AssertionError("%s is grouped but its nearest "
                                     "neighbour is at %r > %r" % (n, d, thr))
            if n not in grouped and d <= thr:
                raise AssertionError("%s is ungrouped at %r" % (n, d))
        # views/unique lists one member of every near-duplicate group
        # (and every sample in none) before any second member of a group.
        seen, second = set(), None
        for e in sorted(U):
            n = split_prefixed(e)[1]
            g = grouped.get(n)
            if g is not None and g in seen:
                second = second or n
            elif second is not None:
                raise AssertionError("%s (a first member) is ranked after "
                                     "%s (a second member)" % (n, second))
            if g is not None:
                seen.add(g)
        if second is None:
            raise AssertionError("no second member in views/unique")
        # The most unique sample has the highest score among the
        # representatives of the first tier (the ranked list).
        first = [split_prefixed(e)[1] for e in sorted(U)][:K + 1]
        scores = [float(rows[n]["uniqueness"]) for n in first]
        eq(scores, sorted(scores, reverse=True), "first tier by score")
        # The eval columns agree with views/mistakes: the samples with a
        # mistakenness are the view's, in its order.
        M = sorted(os.listdir(os.path.join(mnt, "views", "mistakes")))
        with_m = [n for n in rows if rows[n]["mistakenness"] != ""]
        eq(sorted(with_m), sorted(split_prefixed(e)[1] for e in M),
           "mistakes view members")
        order = sorted(with_m, key=lambda n: -float(rows[n]["mistakenness"]))
        got = [split_prefixed(e)[1] for e in M]
        eq([float(rows[n]["mistakenness"]) for n in got],
           [float(rows[n]["mistakenness"]) for n in order],
           "mistakes order")
        mj = json.loads(read(os.path.join(mnt, "eval", "e1",
                                          "metrics.json")))
        for k in ("tp", "fp", "fn"):
            eq(sum(int(r["eval_" + k]) for r in rows.values()), mj[k],
               "sum of eval_" + k)
    ck.run("samples.csv: values equal views/unique, near-duplicates, "
           "mistakes and metrics.json", t_views_agree)

    def t_pandas():
        import pandas as pd
        df = pd.read_csv(CSV)
        eq(len(df), len(names), "pandas rows")
        eq(str(df["width"].dtype), "int64", "width dtype")
        eq(str(df["uniqueness"].dtype), "float64", "uniqueness dtype")
        eq(sorted(df["name"]), names, "pandas names (quoting)")
        rows = by_name(load()[1])
        for _, r in df.iterrows():
            eq(str(r["bytes"]), rows[r["name"]]["bytes"], "bytes")
            # pandas' default float parser may differ in the last bit.
            if abs(float(r["uniqueness"]) -
                   float(rows[r["name"]]["uniqueness"])) > 1e-12:
                raise AssertionError("score of %s" % r["name"])
    ck.run("samples.csv loads in pandas with numeric columns", t_pandas)

    def t_follows_changes():
        raw0, rows0 = load()
        tag = 'red, "hot"'
        os.mkdir(os.path.join(mnt, "tags", tag))
        os.mkdir(os.path.join(mnt, "tags", "b"))
        n = names[1]
        os.rename(os.path.join(mnt, "samples", n + ".jpg"),
                  os.path.join(mnt, "tags", tag, n + ".jpg"))
        os.rename(os.path.join(mnt, "samples", n + ".jpg"),
                  os.path.join(mnt, "tags", "b", n + ".jpg"))
        raw1, rows1 = load()
        eq(by_name(rows1)[n]["tags"], tag + "/b", "tags cell")
        eq(len(raw1), len(raw0) + len('"red, ""hot""/b"'), "size grew")
        # A label edit: a second box, and the evaluation re-runs.
        before = by_name(rows1)[names[2]]
        edit_boxes(m.mnt, names[2], lambda b: b.append(
            {"label": "dog", "bbox": [150, 150, 20, 20]}))
        after = by_name(load()[1])[names[2]]
        eq(after["boxes_ground_truth"], "2", "box count follows")
        eq(int(after["eval_fn"]), int(before["eval_fn"]) + 1,
           "eval_fn follows the edit")
    ck.run("samples.csv follows tag and label changes, size exact",
           t_follows_changes)

    def t_curate_table():
        raw = read(CSV)
        p = subprocess.run([os.environ.get("CURATE", "build/tools/curate"),
                            "table", "--store", store], capture_output=True,
                           check=True)
        eq(p.stdout, raw, "curate table == samples.csv")
        p = curate("table", "--store", store, "--format", "jsonl")
        js = [json.loads(line) for line in p.stdout.splitlines()]
        rows = by_name(load()[1])
        eq(len(js), len(rows), "jsonl rows")
        for o in js:
            r = rows[o["name"]]
            eq(list(o.keys()), list(r.keys()), "jsonl keys")
            eq(o["tags"], r["tags"].split("/") if r["tags"] else [], "tags")
            for k in ("width", "bytes", "unique_rank", "eval_tp"):
                eq(o[k], int(r[k]), k)
            eq(o["neardup_group"],
               int(r["neardup_group"]) if r["neardup_group"] else None,
               "group")
            eq(o["uniqueness"], float(r["uniqueness"]), "score")
        # The ranked list of the evaluation, as data: its scores are the
        # mistakenness column, in the order of views/mistakes.
        lst = json.loads(curate("eval", "--store", store, "--name", "e1",
                                "--list", "mistakes", "--json").stdout)
        M = sorted(os.listdir(os.path.join(mnt, "views", "mistakes")))
        eq([e["name"] for e in lst], [split_prefixed(x)[1] for x in M],
           "eval --list --json order")
        for e in lst:
            eq(e["score"], float(rows[e["name"]]["mistakenness"]),
               "mistakenness of " + e["name"])
        bad = curate("table", "--store", store, "--format", "xml",
                     check=False)
        eq(bad.returncode, 2, "bad format is a usage error")
    ck.run("curate table: the same bytes, and JSON Lines with the same "
           "values", t_curate_table)

    def attrs_py(path):
        return {a: os.getxattr(path, a).decode() for a in os.listxattr(path)}

    def t_xattrs():
        rows = by_name(load()[1])
        n = names[1]   # tagged above
        r = rows[n]
        want = {"user.curatefs." + k: v for k, v in r.items() if v != ""}
        paths = [os.path.join(mnt, "samples", n + ".jpg"),
                 os.path.join(mnt, "tags", "b", n + ".jpg")]
        for e in os.listdir(os.path.join(mnt, "views", "unique")):
            if split_prefixed(e)[1] == n:
                paths.append(os.path.join(mnt, "views", "unique", e))
        eq(len(paths), 3, "paths")
        for p in paths:
            eq(attrs_py(p), want, "attributes of " + p)
        out = subprocess.run(["getfattr", "-d", "--absolute-names",
                              paths[0]], capture_output=True, text=True,
                             check=True).stdout
        got = dict(re.findall(r'^(user\.curatefs\.[^=]+)="(.*)"$', out,
                              re.M))
        eq(got, {k: v.replace('"', '\\"') for k, v in want.items()},
           "getfattr -d")
        out = subprocess.run(["getfattr", "--only-values", "-n",
                              "user.curatefs.unique_rank", paths[1]],
                             capture_output=True, text=True, check=True)
        eq(out.stdout, r["unique_rank"], "getfattr -n")
        # A sample without a value: no such attribute.
        single = rows["single"]
        if single["neardup_group"] != "":
            raise AssertionError("single is grouped")
        expect_errno(errno.ENODATA, os.getxattr,
                     os.path.join(mnt, "samples", "single.jpg"),
                     "user.curatefs.neardup_group")
        # Directories and generated files have none.
        eq(os.listxattr(os.path.join(mnt, "samples")), [], "dir")
        eq(os.listxattr(CSV), [], "samples.csv")
        expect_errno(errno.ENODATA, os.getxattr, mnt, "user.curatefs.name")
        expect_errno(errno.ENODATA, os.getxattr, paths[0], "user.other")
        # Other namespaces are unsupported (ls -l then stops asking for
        # security.selinux file by file).
        expect_errno(errno.ENOTSUP, os.getxattr, paths[0], "security.selinux")
        expect_errno(errno.ENOTSUP, os.getxattr, paths[1], "trusted.x")
        # Refusals: ours are derived (EPERM), others are not stored.
        expect_errno(errno.EPERM, os.setxattr, paths[0],
                     "user.curatefs.tags", b"x")
        expect_errno(errno.EPERM, os.removexattr, paths[0],
                     "user.curatefs.width")
        expect_errno(errno.ENOTSUP, os.setxattr, paths[0], "user.mine",
                     b"x")
        p = subprocess.run(["setfattr", "-n", "user.curatefs.width", "-v",
                            "1", paths[0]], capture_output=True, text=True)
        if p.returncode == 0 or "not permitted" not in p.stderr:
            raise AssertionError("setfattr: %d %s" % (p.returncode,
                                                      p.stderr))
        eq(attrs_py(paths[0]), want, "unchanged after the refusals")
    ck.run("user.curatefs.* xattrs: getfattr and os.getxattr on samples/, "
           "tags/ and views/, writes refused", t_xattrs)

    def t_xattr_follows():
        n = names[3]
        p = os.path.join(mnt, "samples", n + ".jpg")
        before = int(os.getxattr(p, "user.curatefs.boxes_ground_truth"))
        edit_boxes(m.mnt, n, lambda b: b.append(
            {"label": "cat", "bbox": [5, 5, 9, 9]}))
        eq(int(os.getxattr(p, "user.curatefs.boxes_ground_truth")),
           before + 1, "box count attribute follows")
        eq(attrs_py(p), {"user.curatefs." + k: v
                         for k, v in by_name(load()[1])[n].items() if v},
           "attributes == row after the edit")
    ck.run("xattrs follow a label edit", t_xattr_follows)

    m.umount()

    def t_ls_l_requests():
        # A second mount with libfuse's request log (-d): a long listing of
        # samples/ asks for security.selinux once, not once per file.
        mnt2 = w.sub("mnt2")
        m2 = Mount(store, mnt2, opts=["-d"]).start()
        subprocess.run(["ls", "-l", os.path.join(mnt2, "samples")],
                       check=True, stdout=subprocess.DEVNULL)
        n = m2.logtext().count("opcode: GETXATTR")
        m2.umount()
        if not 1 <= n <= 2:
            raise AssertionError("%d GETXATTR requests for ls -l of %d "
                                 "files" % (n, len(names)))
    ck.run("ls -l samples/ costs no xattr request per file", t_ls_l_requests)


def main():
    run_suite("curatefs-table-", body)


if __name__ == "__main__":
    main()
