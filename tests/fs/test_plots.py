#!/usr/bin/python3
"""fs suite, plots/: 240 real JPEG files with imported embeddings in 12
well-separated clusters (32-d).  plots/embeddings.jpg, -thumbs.jpg and the
contact sheets plots/views/<v>.jpg decode at their documented sizes and
follow tag, label and setting changes; plots/embeddings.csv holds one row
per sample, the same on every read and after a remount (deterministic),
and the map keeps neighbourhoods: trustworthiness at k = 5, computed here
with numpy from the coordinates against exact cosine neighbours of the
embeddings, is at least 0.9."""
import csv
import errno
import io
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (Mount, curate, edit_boxes, eq, expect_errno,  # noqa
                   make_jpegs, read, run_suite, write)

N, D, CLUSTERS = 240, 32, 12
# Contact sheet geometry (docs/USER-GUIDE.md, plots/): 8 columns of
# 180-px cells, 10-px gaps; a 52-px title band, rows of 217 px.
SHEET_W = 8 * 190 + 10


def sheet_h(n):
    return 52 + 217 * max(1, (n + 7) // 8)


def size_of(p):
    with Image.open(io.BytesIO(read(p))) as im:
        im.load()   # decodes every pixel: a cut JPEG fails here
        return im.size


def trustworthiness(x, y, k):
    """Venna & Kaski, exact: ranks in the original space (cosine distance
    of mean-centred rows, as the k-NN graph) over all points."""
    x = x - x.mean(axis=0)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    dx = 1 - x @ x.T
    dy = ((y[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    n = len(x)
    np.fill_diagonal(dx, np.inf)
    np.fill_diagonal(dy, np.inf)
    rank = np.empty((n, n), dtype=np.int64)
    order = np.argsort(dx, axis=1, kind="stable")
    for i in range(n):
        rank[i, order[i]] = np.arange(1, n + 1)
    nn_y = np.argsort(dy, axis=1, kind="stable")[:, :k]
    pen = 0
    for i in range(n):
        r = rank[i, nn_y[i]]
        pen += np.sum(np.maximum(r - k, 0))
    return 1 - 2.0 / (n * k * (2 * n - 3 * k - 1)) * pen


def body(ck, w):
    data = w.sub("data")
    make_jpegs(data, N, extra=["-W", "96", "-H", "72"])
    store = w.sub("store")
    curate("import", "--store", store, data)
    names = sorted(n for n in os.listdir(data))
    stems = [os.path.splitext(n)[0] for n in names]
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(CLUSTERS, D)) * 4
    x = (centres[np.arange(N) % CLUSTERS]
         + rng.normal(size=(N, D))).astype(np.float32)
    npy, nm = w.sub("emb.npy"), w.sub("names.txt")
    np.save(npy, x)
    write(nm, "\n".join(stems) + "\n")
    curate("embeddings", "--store", store, "--npy", npy, "--names", nm)
    mnt = w.sub("mnt")
    m = Mount(store, mnt).start()
    P = os.path.join(mnt, "plots")
    emb, thumbs = os.path.join(P, "embeddings.jpg"), \
        os.path.join(P, "embeddings-thumbs.jpg")
    csvp = os.path.join(P, "embeddings.csv")

    def t_listing():
        eq(sorted(os.listdir(P)), ["embeddings-thumbs.jpg", "embeddings.csv",
                                   "embeddings.jpg", "views"], "plots/")
        eq(sorted(os.listdir(os.path.join(P, "views"))),
           sorted(v + ".jpg" for v in ["unique", "near-duplicates", "dupes",
                                       "mistakes", "possible-missing",
                                       "possible-spurious"]), "plots/views/")
    ck.run("plots/ lists the map files and one sheet per view", t_listing)

    coords = {}

    def t_csv():
        raw = read(csvp)
        eq(os.stat(csvp).st_size, len(raw), "size at lookup")
        rows = list(csv.reader(io.StringIO(raw.decode())))
        eq(rows[0], ["name", "x", "y"], "header")
        eq(sorted(r[0] for r in rows[1:]), stems, "one row per sample")
        for r in rows[1:]:
            coords[r[0]] = (float(r[1]), float(r[2]))
        eq(read(csvp), raw, "same bytes on a second read")
    ck.run("plots/embeddings.csv: one row per sample, exact size", t_csv)

    def t_trust():
        y = np.array([coords[s] for s in stems])
        t = trustworthiness(x.astype(np.float64), y, 5)
        print("# trustworthiness@5 = %.4f" % t)
        if not t >= 0.9:
            raise AssertionError("trustworthiness %.4f < 0.9" % t)
        # Not a trivial map: clusters are apart, points of one cluster
        # are not all on one spot.
        spread = np.ptp(y, axis=0).max()
        if spread <= 0:
            raise AssertionError("all points on one spot")
    ck.run("the map keeps neighbourhoods (trustworthiness >= 0.9)", t_trust)

    def t_map_images():
        eq(size_of(emb), (1024, 768), "embeddings.jpg size")
        eq(os.stat(emb).st_size, len(read(emb)), "size at lookup")
        eq(size_of(thumbs), (1600, 1200), "embeddings-thumbs.jpg size")
        # Thumbnails are real pictures: many distinct colours, unlike
        # the dots-only map.
        with Image.open(io.BytesIO(read(thumbs))) as im:
            colours = len(set(im.convert("RGB").resize((400, 300))
                              .getdata()))
        if colours < 2000:
            raise AssertionError("thumbnails missing: %d colours" % colours)
    ck.run("embeddings.jpg 1024x768 and -thumbs.jpg 1600x1200 decode",
           t_map_images)

    def t_color_by():
        seen = {}
        for by in ["tag", "class", "uniqueness", "group"]:
            write(os.path.join(mnt, "config"), "plots.color_by = %s\n" % by)
            seen[by] = read(emb)
            eq(size_of(emb), (1024, 768), "size with " + by)
        if len(set(seen.values())) < 3:
            raise AssertionError("plots.color_by changed too little")
        expect_errno(errno.EINVAL, write, os.path.join(mnt, "config"),
                     "plots.color_by = rainbow\n")
        write(os.path.join(mnt, "config"), "plots.color_by = tag\n")
    ck.run("plots.color_by: tag, class, uniqueness, group; others refused",
           t_color_by)

    def t_follows_tags_and_labels():
        before = read(emb)
        before_csv = read(csvp)
        os.mkdir(os.path.join(mnt, "tags", "red"))
        for s in names[:60]:
            os.rename(os.path.join(mnt, "samples", s),
                      os.path.join(mnt, "tags", "red", s))
        after = read(emb)
        if after == before:
            raise AssertionError("tagging 60 samples changed nothing")
        eq(size_of(emb), (1024, 768), "size after tagging")
        eq(read(csvp), before_csv, "tags do not move the map")
        write(os.path.join(mnt, "config"), "plots.color_by = class\n")
        c0 = read(emb)
        edit_boxes(mnt, stems[0], lambda b: b.append(
            {"label": "zebra", "bbox": [1, 1, 20, 20]}))
        c1 = read(emb)
        if c1 == c0:
            raise AssertionError("a new class changed nothing")
        write(os.path.join(mnt, "config"), "plots.color_by = tag\n")
    ck.run("the map follows a tag and a label change, positions stay",
           t_follows_tags_and_labels)

    def t_sheets():
        u = os.path.join(P, "views", "unique.jpg")
        eq(size_of(u), (SHEET_W, sheet_h(100)), "default N = unique.count")
        write(os.path.join(mnt, "config"), "unique.count = 12\n")
        eq(size_of(u), (SHEET_W, sheet_h(12)), "N follows unique.count")
        write(os.path.join(mnt, "config"), "plots.sheet_count = 20\n")
        eq(size_of(u), (SHEET_W, sheet_h(12)), "unique has 12 now")
        nd = os.path.join(P, "views", "near-duplicates.jpg")
        size_of(nd)
        mi = os.path.join(P, "views", "mistakes.jpg")
        eq(size_of(mi), (SHEET_W, sheet_h(0)), "no evaluation: empty sheet")
        du = os.path.join(P, "views", "dupes.jpg")
        d0 = read(du)
        edit_boxes(mnt, stems[3], lambda b: b.extend(
            [{"label": "cat", "bbox": [5, 5, 40, 40]},
             {"label": "cat", "bbox": [6, 5, 40, 40]}]))
        d1 = read(du)
        if d1 == d0:
            raise AssertionError("dupes sheet did not follow a label edit")
        eq(size_of(du), (SHEET_W, sheet_h(len(os.listdir(
            os.path.join(mnt, "views", "dupes"))))), "dupes sheet size")
        expect_errno(errno.EINVAL, write, os.path.join(mnt, "config"),
                     "plots.sheet_count = 5000\n")
        write(os.path.join(mnt, "config"),
              "unique.count = 100\nplots.sheet_count = 0\n")
    ck.run("contact sheets: documented size, N = unique.count, follow "
           "labels", t_sheets)

    def t_deterministic():
        first = read(csvp)
        m.umount()
        m2 = Mount(store, mnt).start()
        eq(read(csvp), first, "same map after a remount")
        m2.umount()
    ck.run("the map is the same after a remount", t_deterministic)


if __name__ == "__main__":
    run_suite("plots", body)
