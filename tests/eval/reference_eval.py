#!/usr/bin/python3
"""reference_eval.py - an independent, deliberately plain Python version of
COCO-style detection evaluation (FiftyOne evaluate_detections with method
"coco", algorithms.md section 5) and detection mistakenness (section 4).

It exists to cross-check core/evaluate.c (tests/eval/test_eval_vs_reference.py)
and to serve as a slow baseline for benchmarks.  It shares no code or data
structures with the C version: matching keeps dicts of matched ids and a
dense list-of-lists IoU matrix per (image, group); the sweep re-runs the
whole matching for every threshold; per-image and per-class counts come from
the list of match records, the way the reference tallies them; the PR curve
uses numpy exactly as described (stable mergesort of [tp..., fp...] by
confidence, cumsum, running maximum, searchsorted on linspace(0, 1, 101)).
It makes no attempt at speed.

Input text format (also read by tests/eval/eval_cli.c):
    classes N                       number of class ids (labels 0..N-1)
    image                           starts a new image
    g x y w h label iscrowd         a GT box (pixels, top-left + size)
    p x y w h label confidence      a prediction ("nan" = no confidence)
Blank lines and lines starting with '#' are ignored.  Boxes are numbered
in file order (GT and predictions separately), across images.

Run as a program it prints the same JSON as eval-cli:
    reference_eval.py [--iou X] [--no-classwise] [--no-map] [--max-preds N]
                      [--curves] [--summary] [--mistakenness] [FILE]
"""

import json
import math
import sys

import numpy as np

MISTAKE_IOU = 0.5
MISSED_CONFIDENCE = 0.95


class Gt:
    __slots__ = ("idx", "box", "label", "crowd")

    def __init__(self, idx, box, label, crowd):
        self.idx, self.box, self.label, self.crowd = idx, box, label, crowd


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
            images[-1][0].append(Gt(n_gt, box, int(t[5]), int(t[6]) != 0))
            n_gt += 1
        elif t[0] == "p":
            box = tuple(float(v) for v in t[1:5])
            images[-1][1].append(Pred(n_pred, box, int(t[5]), float(t[6])))
            n_pred += 1
        else:
            raise ValueError("bad line: %r" % line)
    return n_classes, images


def box_iou(p, g, crowd):
    """IoU as in algorithms.md section 3; union = pred area for crowds."""
    px, py, pw, ph = p
    gx, gy, gw, gh = g
    w = min(px + pw, gx + gw) - max(px, gx)
    if w <= 0:
        return 0.0
    h = min(py + ph, gy + gh) - max(py, gy)
    if h <= 0:
        return 0.0
    inter = h * w
    pred_area = ph * pw
    union = pred_area if crowd else pred_area + gh * gw - inter
    if union <= 0:
        return 0.0
    return min(inter / union, 1.0)


def sort_confidence(p):
    # `confidence or -1` in the reference; NaN stands for a missing value.
    c = p.conf
    if c != c or c == 0:
        return -1.0
    return c


def match_image(gts, preds, thresh, classwise, max_preds=None):
    """One image at one threshold.

    Returns (pred_match, gt_match, records):
      pred_match: pred idx -> (gt idx, iou)
      gt_match:   gt idx -> (pred idx, iou) of its first match
      records:    (gt_label, pred_label, confidence, gt_is_crowd) per
                  event, None for the missing side
    """
    groups = {}
    for g in gts:
        groups.setdefault(g.label if classwise else "all", ([], []))[0].append(g)
    for p in preds:
        groups.setdefault(p.label if classwise else "all", ([], []))[1].append(p)

    pred_match, gt_match, records = {}, {}, []
    for glist, plist in groups.values():
        ordered = sorted(plist, key=sort_confidence, reverse=True)
        if max_preds:
            ordered = ordered[:max_preds]
        gsorted = sorted(glist, key=lambda g: g.crowd)
        ious = [[box_iou(p.box, g.box, g.crowd) for g in gsorted]
                for p in ordered]
        for pi, p in enumerate(ordered):
            best, best_iou = None, thresh
            for gj, g in enumerate(gsorted):
                if not g.crowd and g.idx in gt_match:
                    continue
                if g.crowd and g.label != p.label:
                    continue
                if best is not None and not gsorted[best].crowd and g.crowd:
                    break
                if ious[pi][gj] < best_iou:
                    continue
                best, best_iou = gj, ious[pi][gj]
            if best is None:
                records.append((None, p.label, p.conf, False))
                continue
            g = gsorted[best]
            if g.idx not in gt_match:
                gt_match[g.idx] = (p.idx, best_iou)
            pred_match[p.idx] = (g.idx, best_iou)
            records.append((g.label, p.label, p.conf, g.crowd))
        for g in gsorted:
            if g.idx not in gt_match:
                records.append((g.label, None, None, g.crowd))
    return pred_match, gt_match, records


def tally(records):
    tp = fp = fn = 0
    for gl, pl, _, _ in records:
        if gl is None:
            fp += 1
        elif pl is None:
            fn += 1
        elif gl != pl:
            fp += 1
            fn += 1
        else:
            tp += 1
    return tp, fp, fn


def default_threshs():
    return [x / 100 for x in range(50, 100, 5)]


def pr_curve(tps, fps, num_gt):
    """101-point interpolated precision from tp/fp confidence lists."""
    tp_fp = np.array([1] * len(tps) + [0] * len(fps))
    confs = np.array(tps + fps, dtype=float)
    inds = np.argsort(-confs, kind="mergesort")
    tp_fp = tp_fp[inds]
    tp_sum = np.cumsum(tp_fp).astype(dtype=float)
    total = np.arange(1, len(tp_fp) + 1).astype(dtype=float)
    pre = tp_sum / total
    rec = tp_sum / num_gt
    for i in range(len(pre) - 1, 0, -1):
        if pre[i] > pre[i - 1]:
            pre[i - 1] = pre[i]
    q = np.zeros(101)
    for ri, pi in enumerate(np.searchsorted(rec, np.linspace(0, 1, 101),
                                            side="left")):
        if pi >= len(pre):
            break
        q[ri] = pre[pi]
    return q


def evaluate(images, n_classes, iou=0.5, classwise=True, compute_map=True,
             iou_threshs=None, max_preds=100):
    """Returns a dict with the same keys as eval-cli's JSON output."""
    n_gt = sum(len(g) for g, _ in images)
    n_pred = sum(len(p) for _, p in images)
    preds_out = [None] * n_pred
    gts_out = [None] * n_gt
    images_out = []
    all_records = []
    single = min(iou, 1 - 1e-10)

    for gts, preds in images:
        pm, gm, records = match_image(gts, preds, single, classwise)
        all_records.extend(records)
        images_out.append(list(tally(records)))
        gt_label = {g.idx: g.label for g in gts}
        pred_label = {p.idx: p.label for p in preds}
        for p in preds:
            if p.idx in pm:
                gi, v = pm[p.idx]
                kind = "tp" if gt_label[gi] == p.label else "fp"
                preds_out[p.idx] = [kind, gi, v]
            else:
                preds_out[p.idx] = ["fp", -1, None]
        for g in gts:
            if g.idx in gm:
                pi, v = gm[g.idx]
                kind = "tp" if pred_label[pi] == g.label else "fn"
                gts_out[g.idx] = [kind, pi, v]
            else:
                gts_out[g.idx] = ["fn", -1, None]

    # Per-class report counts from the records (sklearn-style report).
    classes = []
    for c in range(n_classes):
        tp = sum(1 for gl, pl, _, _ in all_records if gl == c and pl == c)
        n_pred_c = sum(1 for _, pl, _, _ in all_records if pl == c)
        n_true_c = sum(1 for gl, _, _, _ in all_records if gl == c)
        classes.append({
            "tp": tp, "fp": n_pred_c - tp, "fn": n_true_c - tp,
            "support": n_true_c,
            "num_gt": sum(1 for gts, _ in images for g in gts
                          if g.label == c and not g.crowd),
            "precision": tp / n_pred_c if n_pred_c else 0.0,
            "recall": tp / n_true_c if n_true_c else 0.0,
            "ap": -1.0,
        })

    out = {
        "n_images": len(images), "n_classes": n_classes,
        "map": -1.0, "classes": classes,
        "totals": dict(zip(("tp", "fp", "fn"),
                           (sum(x[k] for x in images_out) for k in range(3)))),
        "preds": preds_out, "gts": gts_out, "images": images_out,
    }
    if not compute_map:
        return out

    threshs = iou_threshs or default_threshs()
    precision = -np.ones((len(threshs), n_classes, 101))
    for ti, t in enumerate(threshs):
        per_class = {}
        for gts, preds in images:
            _, _, records = match_image(gts, preds, t, classwise, max_preds)
            for gl, pl, conf, crowd in records:
                if crowd:
                    continue
                c = gl if gl is not None else pl
                d = per_class.setdefault(c, {"tp": [], "fp": [], "num_gt": 0})
                if gl == pl:
                    d["tp"].append(conf)
                elif pl is not None:
                    d["fp"].append(conf)
                if gl is not None:
                    d["num_gt"] += 1
        for c, d in per_class.items():
            if d["num_gt"]:
                precision[ti][c] = pr_curve(d["tp"], d["fp"], d["num_gt"])
    ap = np.mean(precision, axis=(0, 2))
    for c in range(n_classes):
        classes[c]["ap"] = float(ap[c])
    valid = ap[ap > -1]
    out["map"] = float(np.mean(valid)) if valid.size else -1.0
    out["pr"] = precision.tolist()
    return out


def mistakenness(images, n_classes):
    """Detection mistakenness, possible missing / spurious (section 4)."""
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
        pm, gm, _ = match_image(gts, preds, MISTAKE_IOU, False)
        by_idx = {p.idx: p for p in preds}
        missing = spurious = 0
        values = []
        for p in preds:
            if p.idx not in pm and p.conf > MISSED_CONFIDENCE:
                out["pred_possible_missing"][p.idx] = True
                missing += 1
        for g in gts:
            if g.idx not in gm:
                out["gt_possible_spurious"][g.idx] = True
                spurious += 1
                continue
            pi, v = gm[g.idx]
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
    opts = {"iou": 0.5, "classwise": True, "compute_map": True,
            "max_preds": 100}
    curves = summary = mistakes = False
    path = None
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--iou":
            i += 1
            opts["iou"] = float(argv[i])
        elif a == "--max-preds":
            i += 1
            opts["max_preds"] = int(argv[i])
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
