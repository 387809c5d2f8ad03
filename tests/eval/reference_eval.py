#!/usr/bin/python3
"""reference_eval.py - an independent, deliberately plain Python version of
COCO detection evaluation following the rules of pycocotools' COCOeval
(iouType "bbox"; the rules are listed in core/compute/evaluate.h) and of detection
mistakenness (docs/ALGORITHMS.md §4) on the same matching.

It exists to cross-check core/compute/evaluate.c (tests/eval/test_eval_vs_reference.py)
and to serve as a slow baseline for benchmarks.  It shares no code or data
structures with the C version: each (image, class) keeps a list-of-lists IoU
matrix and re-runs the greedy matching for every area range and threshold
with dicts of matched boxes; accumulation is done the numpy way (per-image
lists concatenated in image order, stable mergesort on -confidence, cumsum,
running maximum, searchsorted on linspace(0, 1, 101)); the summary is
numpy.mean over the values > -1.  It makes no attempt at speed.

Input text format (also read by tests/eval/eval_cli.c):
    classes N                       number of class ids (labels 0..N-1)
    image                           starts a new image
    g x y w h label iscrowd [area]  a GT box (pixels, top-left + size),
                                    optional COCO area (default w * h)
    p x y w h label confidence      a prediction ("nan" = no confidence)
Blank lines and lines starting with '#' are ignored.  Boxes are numbered
in file order (GT and predictions separately), across images.  Image order
is COCOeval's image-id order.

Run as a program it prints the same JSON as eval-cli:
    reference_eval.py [--iou X] [--no-classwise] [--no-map]
                      [--curves] [--summary] [--mistakenness] [FILE]
"""

import json
import math
import sys

import numpy as np

MISTAKE_IOU = 0.5
MISSED_CONFIDENCE = 0.95
MAX_DETS = (1, 10, 100)
AREAS = ((0.0, 1e10), (0.0, 32.0 ** 2), (32.0 ** 2, 96.0 ** 2),
         (96.0 ** 2, 1e10))
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl",
              "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


class Gt:
    __slots__ = ("idx", "box", "label", "crowd", "area")

    def __init__(self, idx, box, label, crowd, area):
        self.idx, self.box, self.label, self.crowd = idx, box, label, crowd
        self.area = box[2] * box[3] if area is None else area


class Pred:
    __slots__ = ("idx", "box", "label", "conf")

    def __init__(self, idx, box, label, conf):
        self.idx, self.box, self.label, self.conf = idx, box, label, conf


def read_input(f):
    """Returns (n_classes, images); images = list of (gts, preds)."""
    n_classes = 0
    images = []
    n_gt = n_pred = 0
    for line in f:
        t = line.split()
        if not t or t[0].startswith("#"):
            continue
        if t[0] == "classes":
            n_classes = int(t[1])
        elif t[0] == "image":
            images.append(([], []))
        elif t[0] == "g":
            box = tuple(float(v) for v in t[1:5])
            area = float(t[7]) if len(t) > 7 else None
            images[-1][0].append(Gt(n_gt, box, int(t[5]), int(t[6]) != 0,
                                    area))
            n_gt += 1
        elif t[0] == "p":
            box = tuple(float(v) for v in t[1:5])
            images[-1][1].append(Pred(n_pred, box, int(t[5]), float(t[6])))
            n_pred += 1
        else:
            raise ValueError("bad line: %r" % line)
    return n_classes, images


def box_iou(p, g, crowd):
    """Box IoU in COCO's operation order; union = pred area for crowds."""
    px, py, pw, ph = p
    gx, gy, gw, gh = g
    w = min(pw + px, gw + gx) - max(px, gx)
    if w <= 0:
        return 0.0
    h = min(ph + py, gh + gy) - max(py, gy)
    if h <= 0:
        return 0.0
    inter = w * h
    union = pw * ph if crowd else pw * ph + gw * gh - inter
    return inter / union


def conf_key(p):
    # A missing confidence (NaN, allowed without mAP) ranks last.
    return -math.inf if p.conf != p.conf else p.conf


def groups_of(gts, preds, classwise):
    """(gts, preds) per group; without classes one group, ordered by
    class then input order (COCOeval concatenates its per-class lists)."""
    out = {}
    if classwise:
        for g in gts:
            out.setdefault(g.label, ([], []))[0].append(g)
        for p in preds:
            out.setdefault(p.label, ([], []))[1].append(p)
        return list(out.values())
    return [(sorted(gts, key=lambda g: g.label),
             sorted(preds, key=lambda p: p.label))]


def greedy(cands, gts_sorted, ignored, thresh):
    """COCOeval's greedy matching at one threshold.  gts_sorted has the
    ignored GT last; cands[r] lists (gt position, IoU) for rank r in
    position order, leaving out pairs with IoU 0, which can never be chosen
    at a positive threshold (see candidates()).  Returns {rank: gt
    position}."""
    taken = set()
    out = {}
    limit = min(thresh, 1 - 1e-10)
    for r, cand in enumerate(cands):
        best, best_iou = None, limit
        for j, v in cand:
            if j in taken and not gts_sorted[j].crowd:
                continue
            if best is not None and not ignored[best] and ignored[j]:
                break
            if v < best_iou:
                continue
            best, best_iou = j, v
        if best is not None:
            taken.add(best)
            out[r] = best
    return out


def candidates(ious, order, keep_zero):
    """Per rank, (position, IoU) over the GT in `order`.  Pairs with IoU 0
    are left out unless keep_zero: at a threshold > 0 they never match, and
    leaving them out does not change where COCOeval's loop stops (it stops
    at the first ignored GT once a non-ignored one matched; the ignored GT
    are last, so a later listed one stops it just the same)."""
    return [[(pos, row[j]) for pos, j in enumerate(order)
             if keep_zero or row[j] > 0] for row in ious]


def match_group(glist, plist, threshs, single, areas):
    """Matches one (image, group).  Returns (ranked, single_result, sweep):
    ranked = the scored predictions in order; single_result = (gts order,
    ignored flags, {rank: gt position}) at `single` in area "all"; sweep[a]
    = (list over ranks of (tp flags, ignored flags) per threshold, number
    of non-ignored GT)."""
    ranked = sorted(plist, key=conf_key, reverse=True)[:MAX_DETS[-1]]
    single_result = None
    sweep = []
    # The IoUs do not depend on the area range, only the GT order does.
    ious = [[box_iou(p.box, g.box, g.crowd) for g in glist] for p in ranked]
    keep_zero = min(list(threshs) + ([single] if single is not None
                                     else [])) <= 0 if ranked else False
    # The matching depends on the area range only through the ignored
    # flags of the GT: ranges with the same flags share it.
    memo = {}
    for a, (lo, hi) in enumerate(areas):
        flags = tuple(1 if (g.crowd or g.area < lo or g.area > hi) else 0
                      for g in glist)
        if flags not in memo:
            order = sorted(range(len(glist)), key=lambda j: flags[j])
            gsorted = [glist[j] for j in order]
            ignored = [flags[j] for j in order]
            cands = candidates(ious, order, keep_zero)
            memo[flags] = (gsorted, ignored,
                           [greedy(cands, gsorted, ignored, t)
                            for t in threshs], cands)
        gsorted, ignored, matches, cands = memo[flags]
        if a == 0 and single is not None:
            single_result = (gsorted, ignored,
                             greedy(cands, gsorted, ignored, single))
        per_t = []
        for m in matches:
            tps, igs = [], []
            for r, p in enumerate(ranked):
                if r in m:
                    igs.append(bool(ignored[m[r]]))
                    tps.append(not ignored[m[r]])
                else:
                    pa = p.box[2] * p.box[3]
                    igs.append(pa < lo or pa > hi)
                    tps.append(False)
            per_t.append((tps, igs))
        sweep.append((per_t, len(ignored) - sum(ignored)))
    return ranked, single_result, sweep


def accumulate(entries, n_thr, npig):
    """One class, one area range.  entries: the class's scored predictions,
    image by image in image order and by rank inside an image, as (confidence,
    rank, tp flags per threshold, ignored flags per threshold).  Returns
    (precision [M][T][101], recall [M][T])."""
    rec_thrs = np.linspace(0.0, 1.0, 101)
    prec = -np.ones((len(MAX_DETS), n_thr, 101))
    rec = -np.ones((len(MAX_DETS), n_thr))
    if npig == 0:
        return prec, rec
    for m, md in enumerate(MAX_DETS):
        sel = [e for e in entries if e[1] < md]
        scores = np.array([e[0] for e in sel], dtype=float)
        order = np.argsort(-scores, kind="mergesort")
        tps = np.array([e[2] for e in sel], dtype=bool).reshape(-1, n_thr)
        igs = np.array([e[3] for e in sel], dtype=bool).reshape(-1, n_thr)
        tps, igs = tps[order].T, igs[order].T
        for t in range(n_thr):
            tp, ig = tps[t], igs[t]
            tp_sum = np.cumsum(tp & ~ig).astype(float)
            fp_sum = np.cumsum(~tp & ~ig).astype(float)
            r = tp_sum / npig
            p = tp_sum / (fp_sum + tp_sum + np.spacing(1))
            rec[m, t] = r[-1] if len(r) else 0.0
            # Precision made non-increasing from the right (a running
            # maximum: exact), then read at the first recall >= each of
            # the 101 recall thresholds (0 past the last one).
            p = np.maximum.accumulate(p[::-1])[::-1]
            idx = np.searchsorted(r, rec_thrs, side="left")
            q = np.zeros(101)
            ok = idx < len(p)
            q[ok] = p[idx[ok]]
            prec[m, t] = q
    return prec, rec


def default_threshs():
    return np.linspace(0.5, 0.95, 10).tolist()


def mean_valid(a):
    v = a[a > -1]
    return float(np.mean(v)) if v.size else -1.0


def sweep_arrays(images, n_classes, areas, acc, T):
    """COCOeval's layout: precision [T][R][K][A][M], recall [T][K][A][M]."""
    precision = -np.ones((T, 101, n_classes, len(areas), len(MAX_DETS)))
    recall = -np.ones((T, n_classes, len(areas), len(MAX_DETS)))
    for c in range(n_classes):
        for a, (lo, hi) in enumerate(areas):
            npig = sum(1 for gts, _ in images for g in gts
                       if g.label == c and not g.crowd and
                       lo <= g.area <= hi)
            pr, rc = accumulate(acc[c][a], T, npig)
            for m in range(len(MAX_DETS)):
                precision[:, :, c, a, m] = pr[m]
                recall[:, c, a, m] = rc[m]
    return precision, recall


def evaluate(images, n_classes, iou=0.5, classwise=True, compute_map=True,
             iou_threshs=None, cache=None):
    """Returns a dict with the same keys as eval-cli's JSON output.

    cache: a dict kept by the caller for one `images` list.  The
    precision / recall arrays of the sweep do not depend on `iou` (the
    single threshold of the per-box outcomes), so runs at several `iou`
    over the same images compute them once; the results are the same."""
    if compute_map and not classwise:
        raise ValueError("the sweep is classwise")
    n_gt = sum(len(g) for g, _ in images)
    n_pred = sum(len(p) for _, p in images)
    preds_out = [["none", -1, None]] * n_pred
    gts_out = [None] * n_gt
    images_out = []
    counts = [[0, 0, 0] for _ in range(n_classes)]
    threshs = (iou_threshs or default_threshs()) if compute_map else []
    areas = AREAS if compute_map else AREAS[:1]
    key = (id(images), n_classes, tuple(threshs))
    cached = cache.get(key) if cache is not None and compute_map else None
    # With the sweep cached, match only at `iou` (the outcomes).
    match_threshs = [] if cached else threshs
    # per class, per area: scored predictions in image order (accumulate())
    acc = [[[] for _ in areas] for _ in range(n_classes)]

    for gts, preds in images:
        tp = fp = fn = 0
        for glist, plist in groups_of(gts, preds, classwise):
            ranked, (gsorted, ignored, m), sweep = match_group(
                glist, plist, match_threshs, iou, areas)
            first = {}
            for r, p in enumerate(ranked):
                if r in m:
                    j = m[r]
                    g = gsorted[j]
                    v = box_iou(p.box, g.box, g.crowd)
                    first.setdefault(j, (p, v))
                    kind = ("ignored" if ignored[j] else
                            "tp" if g.label == p.label else "fp")
                    preds_out[p.idx] = [kind, g.idx, v]
                else:
                    pa = p.box[2] * p.box[3]
                    out_all = pa < AREAS[0][0] or pa > AREAS[0][1]
                    preds_out[p.idx] = ["ignored" if out_all else "fp", -1,
                                        None]
                kind = preds_out[p.idx][0]
                if kind == "tp":
                    tp += 1
                    counts[p.label][0] += 1
                elif kind == "fp":
                    fp += 1
                    counts[p.label][1] += 1
            for j, g in enumerate(gsorted):
                pv = first.get(j)
                if ignored[j]:
                    kind = "ignored"
                elif pv and pv[0].label == g.label:
                    kind = "tp"
                else:
                    kind = "fn"
                    fn += 1
                    counts[g.label][2] += 1
                gts_out[g.idx] = [kind, pv[0].idx if pv else -1,
                                  pv[1] if pv else None]
            if compute_map and plist and not cached:
                c = plist[0].label
                for a in range(len(areas)):
                    per_t = sweep[a][0]
                    for r, p in enumerate(ranked):
                        acc[c][a].append((p.conf, r,
                                          [x[0][r] for x in per_t],
                                          [x[1][r] for x in per_t]))
        images_out.append([tp, fp, fn])

    classes = []
    for c in range(n_classes):
        tp, fp, fn = counts[c]
        classes.append({
            "tp": tp, "fp": fp, "fn": fn, "support": tp + fn,
            "num_gt": sum(1 for gts, _ in images for g in gts
                          if g.label == c and not g.crowd and
                          AREAS[0][0] <= g.area <= AREAS[0][1]),
            "precision": tp / (tp + fp) if tp + fp else 0.0,
            "recall": tp / (tp + fn) if tp + fn else 0.0,
            "ap": -1.0, "ap50": -1.0, "ap75": -1.0,
        })
    out = {
        "n_images": len(images), "n_classes": n_classes, "map": -1.0,
        "stats": {k: -1.0 for k in STAT_NAMES}, "classes": classes,
        "totals": dict(zip(("tp", "fp", "fn"),
                           (sum(x[k] for x in images_out) for k in range(3)))),
        "preds": preds_out, "gts": gts_out, "images": images_out,
    }
    if not compute_map:
        return out

    T = len(threshs)
    if cached:
        precision, recall = cached
    else:
        precision, recall = sweep_arrays(images, n_classes, areas, acc, T)
        if cache is not None:
            cache[key] = (precision, recall)
    t50 = [t for t in range(T) if threshs[t] == 0.5]
    t75 = [t for t in range(T) if threshs[t] == 0.75]

    def ap(a=0, m=2, t=None, c=None):
        s = precision if t is None else precision[t]
        s = s[..., a, m] if c is None else s[..., c, a, m]
        return mean_valid(s)

    def ar(a=0, m=2):
        return mean_valid(recall[:, :, a, m])

    st = out["stats"]
    st["AP"] = ap()
    st["AP50"] = ap(t=t50) if t50 else -1.0
    st["AP75"] = ap(t=t75) if t75 else -1.0
    st["APs"], st["APm"], st["APl"] = ap(a=1), ap(a=2), ap(a=3)
    st["AR1"], st["AR10"], st["AR100"] = ar(m=0), ar(m=1), ar(m=2)
    st["ARs"], st["ARm"], st["ARl"] = ar(a=1), ar(a=2), ar(a=3)
    out["map"] = st["AP"]
    for c in range(n_classes):
        classes[c]["ap"] = ap(c=c)
        classes[c]["ap50"] = ap(t=t50, c=c) if t50 else -1.0
        classes[c]["ap75"] = ap(t=t75, c=c) if t75 else -1.0
    out["pr"] = np.moveaxis(precision[:, :, :, 0, 2], 1, 2).tolist()
    return out


def mistakenness(images, n_classes):
    """Detection mistakenness, possible missing / spurious (section 4), on
    the COCOeval matching at IoU 0.5 across classes."""
    ev = evaluate(images, n_classes, iou=MISTAKE_IOU, classwise=False,
                  compute_map=False)
    n_gt = sum(len(g) for g, _ in images)
    n_pred = sum(len(p) for _, p in images)
    out = {
        "gt_mistakenness": [None] * n_gt,
        "gt_mistakenness_loc": [None] * n_gt,
        "gt_possible_spurious": [False] * n_gt,
        "pred_possible_missing": [False] * n_pred,
        "image_mistakenness": [], "image_missing": [], "image_spurious": [],
    }
    for gts, preds in images:
        by_idx = {p.idx: p for p in preds}
        missing = spurious = 0
        values = []
        for p in preds:
            if ev["preds"][p.idx][1] < 0 and p.conf > MISSED_CONFIDENCE:
                out["pred_possible_missing"][p.idx] = True
                missing += 1
        for g in gts:
            _, pi, v = ev["gts"][g.idx]
            if pi < 0:
                if not g.crowd:  # an unmatched crowd is no miss
                    out["gt_possible_spurious"][g.idx] = True
                    spurious += 1
                continue
            conf = by_idx[pi].conf
            m = float(g.label == by_idx[pi].label)
            m = m * -2.0 + 1.0
            mc = (m * conf + 1.0) / 2.0
            i = (1.0 / (1.0 - MISTAKE_IOU)) * (1.0 - v)
            out["gt_mistakenness"][g.idx] = mc
            out["gt_mistakenness_loc"][g.idx] = (conf * ((2.0 * i) - 1.0)
                                                 + 1.0) / 2.0
            values.append(mc)
        out["image_mistakenness"].append(max(values) if values else -1.0)
        out["image_missing"].append(missing)
        out["image_spurious"].append(spurious)
    return out


def _clean(v):
    """NaN -> None so that json.dumps writes valid JSON."""
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, list):
        return [_clean(x) for x in v]
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    return v


def main(argv):
    opts = {"iou": 0.5, "classwise": True, "compute_map": True}
    curves = summary = mistakes = False
    path = None
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--iou":
            i += 1
            opts["iou"] = float(argv[i])
        elif a == "--threads":
            i += 1  # accepted for symmetry with eval-cli
        elif a == "--no-classwise":
            opts["classwise"] = False
        elif a == "--no-map":
            opts["compute_map"] = False
        elif a == "--curves":
            curves = True
        elif a == "--summary":
            summary = True
        elif a == "--mistakenness":
            mistakes = True
        else:
            path = a
        i += 1
    with (open(path) if path else sys.stdin) as f:
        n_classes, images = read_input(f)
    if mistakes:
        out = mistakenness(images, n_classes)
    else:
        out = evaluate(images, n_classes, **opts)
        if not curves:
            out.pop("pr", None)
        if summary:
            for k in ("preds", "gts", "images"):
                out.pop(k)
    json.dump(_clean(out), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
