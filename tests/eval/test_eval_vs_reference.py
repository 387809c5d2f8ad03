#!/usr/bin/python3
"""test_eval_vs_reference.py - cross-checks core/compute/evaluate.h
(through the eval-cli program) against the independent Python reference in
reference_eval.py (pycocotools' COCOeval rules) on randomly generated
detection sets.

Each generated set has several classes (one with predictions only, one
rare), crowd GT, GT with a COCO area other than w * h (some on the area
range borders), boxes reaching past the image, images without GT or
without predictions, an image with more than 100 predictions of one class,
jittered / relabelled / duplicated predictions, background false
positives, two-digit confidences (many ties, within and across images),
zero confidences, and "grid" images with small integer boxes whose IoUs
hit 0.5, 0.75 ... exactly.  Both implementations run with several
configurations; the test asserts that the 12 summary numbers, mAP and
per-class AP / AP50 / AP75 agree to 1e-12, and that everything else agrees
exactly or to 1e-12: PR curves, per-class counts / precision / recall,
per-box outcome, matched box and IoU, per-image counts, and mistakenness
outputs.

Usage: test_eval_vs_reference.py EVAL_CLI
       test_eval_vs_reference.py --generate N_IMAGES SEED OUT  (data only)
Exit 0 = pass, 1 = mismatch or a missing dependency (numpy, installed by
scripts/deps.sh): this test never skips.
"""

import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import reference_eval as ref
except ImportError as e:  # numpy missing: a failure, never a skip
    print("not ok - reference needs numpy (python3-numpy): %s" % e)
    sys.exit(1)

N_CLASSES = 6
AP_TOL = 1e-12
FLOAT_TOL = 1e-12


def rand_conf(rng):
    u = rng.random()
    if u < 0.5:
        return round(rng.random(), 2)  # ties
    if u < 0.53:
        return rng.choice([0.0, 0.95, 0.96, 1.0])
    return rng.random()


def jitter(rng, box, amount):
    x, y, w, h = box
    return (x + (rng.random() - 0.5) * amount * w,
            y + (rng.random() - 0.5) * amount * h,
            max(0.5, w * (1 + (rng.random() - 0.5) * amount)),
            max(0.5, h * (1 + (rng.random() - 0.5) * amount)))


def gen_image(rng, grid):
    """Returns (gts, preds) as lists of tuples."""
    gts, preds = [], []
    n_gt = rng.choice([0, 0, 1, 2, 3, 4, 5, 6, 8, 12])
    for _ in range(n_gt):
        label = rng.choice([0, 0, 0, 1, 1, 2, 3, 5]) if rng.random() > 0.02 \
            else 4
        crowd = rng.random() < 0.08
        area = None
        if grid:
            box = (rng.randint(0, 8), rng.randint(0, 8), rng.randint(1, 6),
                   rng.randint(1, 6))
            if crowd:
                box = (0, 0, rng.randint(6, 12), rng.randint(6, 12))
        else:
            box = (rng.uniform(0, 600), rng.uniform(0, 440),
                   rng.uniform(4, 150), rng.uniform(4, 150))
            if crowd:
                box = (box[0], box[1], box[2] * 2, box[3] * 2)
            u = rng.random()
            if u < 0.3:  # a segmentation-like area below w * h
                area = box[2] * box[3] * rng.uniform(0.3, 1.0)
            elif u < 0.35:  # on a range border
                area = rng.choice([32.0 ** 2, 96.0 ** 2])
        gts.append((box, label, crowd, area))
        for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
            plabel = label if rng.random() < 0.85 else rng.randrange(4)
            if grid:
                pbox = (box[0] + rng.randint(-1, 1), box[1] + rng.randint(-1, 1),
                        max(1, box[2] + rng.randint(-1, 1)),
                        max(1, box[3] + rng.randint(-1, 1)))
            elif crowd:
                pbox = (box[0] + rng.uniform(0, box[2] * 0.6),
                        box[1] + rng.uniform(0, box[3] * 0.6),
                        rng.uniform(4, box[2] * 0.4),
                        rng.uniform(4, box[3] * 0.4))
            else:
                pbox = jitter(rng, box, rng.choice([0.0, 0.1, 0.3, 0.6]))
            preds.append((pbox, plabel, rand_conf(rng)))
    for _ in range(rng.choice([0, 0, 1, 2, 4])):
        if grid:
            pbox = (rng.randint(0, 8), rng.randint(0, 8), rng.randint(1, 6),
                    rng.randint(1, 6))
        else:
            pbox = (rng.uniform(-30, 600), rng.uniform(-30, 440),
                    rng.uniform(4, 100), rng.uniform(4, 100))
        preds.append((pbox, rng.choice([0, 1, 2, 3, 4]), rand_conf(rng)))
    rng.shuffle(preds)
    return gts, preds


def generate(n_images, seed):
    rng = random.Random(seed)
    images = []
    for i in range(n_images):
        images.append(gen_image(rng, grid=rng.random() < 0.25))
    # One crowded image: > 100 class-0 predictions on 40 GT (max_preds).
    box = lambda: (rng.uniform(0, 600), rng.uniform(0, 440),
                   rng.uniform(10, 60), rng.uniform(10, 60))
    gts = [(box(), 0, False, None) for _ in range(40)]
    preds = [(jitter(rng, g[0], 0.3), 0, rand_conf(rng))
             for g in gts for _ in range(3)]
    images.insert(n_images // 2, (gts, preds))
    return images


def write_input(images, f):
    f.write("classes %d\n" % N_CLASSES)
    for gts, preds in images:
        f.write("image\n")
        for (x, y, w, h), label, crowd, area in gts:
            f.write("g %r %r %r %r %d %d%s\n" % (
                float(x), float(y), float(w), float(h), label, int(crowd),
                "" if area is None else " %r" % float(area)))
        for (x, y, w, h), label, conf in preds:
            f.write("p %r %r %r %r %d %r\n" % (float(x), float(y), float(w),
                                               float(h), label, conf))


class Checker:
    def __init__(self):
        self.failures = 0
        self.max_ap_diff = 0.0
        self.max_map_diff = 0.0
        self.max_float_diff = 0.0

    def fail(self, what):
        self.failures += 1
        if self.failures <= 20:
            print("MISMATCH %s" % what)

    def num(self, what, a, b, tol=FLOAT_TOL):
        if a is None or b is None:
            if a is not b:
                self.fail("%s: %r vs %r" % (what, a, b))
            return 0.0
        d = abs(a - b)
        if not d <= tol:
            self.fail("%s: %r vs %r" % (what, a, b))
        return d

    def eq(self, what, a, b):
        if a != b:
            self.fail("%s: %r vs %r" % (what, a, b))

    def result(self, tag, c, p):
        self.max_map_diff = max(self.max_map_diff,
                                self.num(tag + " mAP", c["map"], p["map"],
                                         AP_TOL))
        for k, (cc, pc) in enumerate(zip(c["classes"], p["classes"], strict=True)):
            self.max_ap_diff = max(self.max_ap_diff,
                                   self.num("%s class %d AP" % (tag, k),
                                            cc["ap"], pc["ap"], AP_TOL))
            for key in ("ap50", "ap75"):
                self.max_ap_diff = max(self.max_ap_diff, self.num(
                    "%s class %d %s" % (tag, k, key), cc[key], pc[key],
                    AP_TOL))
            for key in ("tp", "fp", "fn", "support", "num_gt"):
                self.eq("%s class %d %s" % (tag, k, key), cc[key], pc[key])
            for key in ("precision", "recall"):
                self.num("%s class %d %s" % (tag, k, key), cc[key], pc[key])
        for key, v in p["stats"].items():
            self.max_map_diff = max(self.max_map_diff, self.num(
                "%s %s" % (tag, key), c["stats"][key], v, AP_TOL))
        self.eq(tag + " totals", c["totals"], p["totals"])
        self.eq(tag + " #preds", len(c["preds"]), len(p["preds"]))
        for kind in ("preds", "gts"):
            for i, (a, b) in enumerate(zip(c[kind], p[kind], strict=True)):
                self.eq("%s %s[%d] outcome" % (tag, kind, i), a[:2], b[:2])
                d = self.num("%s %s[%d] iou" % (tag, kind, i), a[2], b[2])
                self.max_float_diff = max(self.max_float_diff, d)
        self.eq(tag + " images", c["images"], p["images"])
        if "pr" in p:
            for t, (ct, pt) in enumerate(zip(c["pr"], p["pr"], strict=True)):
                for k, (cq, pq) in enumerate(zip(ct, pt, strict=True)):
                    for r, (a, b) in enumerate(zip(cq, pq, strict=True)):
                        d = self.num("%s pr[%d][%d][%d]" % (tag, t, k, r),
                                     a, b)
                        self.max_float_diff = max(self.max_float_diff, d)

    def mistakes(self, tag, c, p):
        for key in p:
            self.eq(tag + " len " + key, len(c[key]), len(p[key]))
            for i, (a, b) in enumerate(zip(c[key], p[key], strict=True)):
                if isinstance(b, bool) or isinstance(b, int):
                    self.eq("%s %s[%d]" % (tag, key, i), a, b)
                else:
                    d = self.num("%s %s[%d]" % (tag, key, i), a, b)
                    self.max_float_diff = max(self.max_float_diff, d)


CONFIGS = [
    ([], {}),
    (["--no-classwise", "--no-map"], {"classwise": False,
                                      "compute_map": False}),
    (["--iou", "0.75"], {"iou": 0.75}),
    (["--iou", "0.3"], {"iou": 0.3}),
]


def run_cli(cli, path, args):
    return wait_cli(start_cli(cli, path, args))


def start_cli(cli, path, args):
    """Starts eval-cli, so that it runs while the reference computes."""
    return subprocess.Popen([cli] + args + [path], stdout=subprocess.PIPE)


def wait_cli(proc):
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, proc.args)
    return json.loads(out)


def main(argv):
    if len(argv) == 5 and argv[1] == "--generate":
        images = generate(int(argv[2]), int(argv[3]))
        with open(argv[4], "w") as f:
            write_input(images, f)
        return 0
    if len(argv) != 2:
        print(__doc__)
        return 2
    cli = argv[1]
    chk = Checker()
    n_boxes = [0, 0]
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (1, 2, 3):
            images = generate(250, seed)
            n_boxes[0] += sum(len(g) for g, _ in images)
            n_boxes[1] += sum(len(p) for _, p in images)
            path = os.path.join(tmp, "set%d.txt" % seed)
            with open(path, "w") as f:
                write_input(images, f)
            # Read back through the reference parser: both sides then see
            # exactly the same doubles.
            with open(path) as f:
                n_classes, parsed = ref.read_input(f)
            cache = {}   # the sweep, shared by the configs of this set
            for args, kw in CONFIGS:
                tag = "seed %d %s" % (seed, " ".join(args) or "default")
                proc = start_cli(cli, path, args + ["--curves"])
                p = ref.evaluate(parsed, n_classes, cache=cache, **kw)
                chk.result(tag, wait_cli(proc), p)
            # Missing confidences (NaN) are allowed without mAP: they rank
            # as -1, tied with zero confidences.
            rng = random.Random(seed)
            holes = [(g, [(b, l, float("nan") if rng.random() < 0.1 else c)
                          for b, l, c in ps]) for g, ps in images]
            hpath = os.path.join(tmp, "holes%d.txt" % seed)
            with open(hpath, "w") as f:
                write_input(holes, f)
            with open(hpath) as f:
                _, hparsed = ref.read_input(f)
            chk.result("seed %d --no-map with NaN" % seed,
                       run_cli(cli, hpath, ["--no-map"]),
                       ref.evaluate(hparsed, n_classes, compute_map=False))
            # Thread count must not matter.
            c1 = run_cli(cli, path, ["--threads", "1", "--curves"])
            c2 = run_cli(cli, path, ["--threads", "2", "--curves"])
            for d in (c1, c2):
                d.pop("eval_seconds")
                d.pop("eval_cpu_seconds")
            chk.eq("seed %d threads 1 vs 2" % seed, c1, c2)
            c = run_cli(cli, path, ["--mistakenness"])
            chk.mistakes("seed %d mistakenness" % seed, c,
                         ref.mistakenness(parsed, n_classes))
    print("compared %d GT / %d predictions over 3 sets x %d configs"
          % (n_boxes[0], n_boxes[1], len(CONFIGS) + 1))
    print("max |AP diff| %.3g, max |mAP diff| %.3g, max other float diff %.3g"
          % (chk.max_ap_diff, chk.max_map_diff, chk.max_float_diff))
    if chk.failures:
        print("FAILED: %d mismatches" % chk.failures)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
