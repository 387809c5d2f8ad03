#!/usr/bin/python3
"""store suite, corruption: seeded corruptions of a real store (random
bytes, truncations, zeroed pages of data.mdb).  For each copy, a mount with
a few reads and an unmount, `curate info`, `curate import` and `curate
check` must end with a clean error (non-zero exit and a message) or a
correct answer: never a signal, never a hang past 10 s, never more than
1 GiB of memory (RLIMIT_DATA in plain builds; the address-sanitizer build
uses ASan's hard_rss_limit_mb instead, since its shadow memory counts as
data).

Usage: test_corrupt.py [SEEDS [FIRST]] (default 200 seeds from 0).  A
"correct answer" from `curate info` is the answer of the intact store, or
else `curate check` must report the store as damaged.
"""
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "fs"))
from fslib import CURATE, CURATEFS, Mount, Workdir, curate, make_jpegs  # noqa

TIMEOUT = 10
MEM = 1 << 30
ASAN = "address" in os.environ.get("CORRUPT_BUILD", "")
PAGE = 4096

READER = r"""
import os, sys
m = sys.argv[1]
def tryio(fn, *a):
    try:
        return fn(*a)
    except OSError:
        return None
names = tryio(os.listdir, os.path.join(m, "samples")) or []
for n in sorted(names)[:3]:
    tryio(lambda p: open(p, "rb").read(), os.path.join(m, "samples", n))
for n in (tryio(os.listdir, os.path.join(m, "labels")) or [])[:3]:
    tryio(lambda p: open(p, "rb").read(), os.path.join(m, "labels", n))
tryio(os.listdir, os.path.join(m, "tags"))
tryio(lambda p: open(p, "rb").read(), os.path.join(m, "status"))
"""


def limits():
    if not ASAN:
        resource.setrlimit(resource.RLIMIT_DATA, (MEM, MEM))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def env():
    e = dict(os.environ)
    if ASAN:
        e["ASAN_OPTIONS"] = (e.get("ASAN_OPTIONS", "") +
                             ":hard_rss_limit_mb=1024").lstrip(":")
    return e


def run(args, stdin=None):
    """Runs a command under the limits; returns (rc, stderr) or raises on
    a signal, a hang or a sanitizer report."""
    try:
        p = subprocess.run(args, capture_output=True, text=True,
                           errors="replace", timeout=TIMEOUT,
                           preexec_fn=limits, env=env())
    except subprocess.TimeoutExpired:
        raise AssertionError("hang past %d s: %s" % (TIMEOUT, " ".join(args)))
    check_proc(args, p.returncode, p.stderr + p.stdout)
    return p


def check_proc(args, rc, text):
    if rc < 0:
        raise AssertionError("killed by signal %d: %s\n%s" % (
            -rc, " ".join(args), text[-2000:]))
    for bad in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
        if bad in text:
            raise AssertionError("sanitizer report: %s\n%s" % (
                " ".join(args), text[-4000:]))
    if rc != 0:
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        if not lines:
            raise AssertionError("exit %d without a message: %s" % (
                rc, " ".join(args)))
        for bad in ("Cannot allocate memory", "has no dataset yet"):
            if bad in text:
                raise AssertionError("misleading message: %s\n%s" % (
                    " ".join(args), text[-2000:]))


def corrupt(rng, path):
    """Damages data.mdb; returns a description."""
    size = os.path.getsize(path)
    kind = rng.choice(("bytes", "truncate", "zero-page"))
    with open(path, "r+b") as f:
        if kind == "bytes":
            spots = []
            for _ in range(rng.randint(1, 24)):
                off = rng.randrange(size)
                n = rng.randint(1, 8)
                f.seek(off)
                f.write(bytes(rng.randrange(256) for _ in range(n)))
                spots.append(off)
            return "bytes at %s" % spots
        if kind == "truncate":
            n = rng.randrange(size)
            f.truncate(n)
            return "truncated to %d of %d" % (n, size)
        pg = rng.randrange(size // PAGE)
        f.seek(pg * PAGE)
        f.write(bytes(PAGE))
        return "page %d zeroed" % pg


OUTCOMES = {}


def outcome(what, rc):
    key = "%s %s" % (what, "ok" if rc == 0 else "error")
    OUTCOMES[key] = OUTCOMES.get(key, 0) + 1


def quiet(args, timeout=TIMEOUT):
    """Runs a helper command, its output captured (not /dev/null: the
    test must not depend on it)."""
    try:
        return subprocess.run(args, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def mount_and_read(store, mnt):
    os.makedirs(mnt, exist_ok=True)
    args = [CURATEFS, "-f", store, mnt]
    log = open(os.path.join(os.path.dirname(mnt), "daemon.log"), "w+")
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=log,
                            stderr=subprocess.STDOUT, preexec_fn=limits,
                            env=env())
    try:
        t0 = time.time()
        while time.time() - t0 < TIMEOUT:
            if proc.poll() is not None or os.path.ismount(mnt):
                break
            time.sleep(0.02)
        else:
            raise AssertionError("mount neither appeared nor failed")
        outcome("mount", 0 if os.path.ismount(mnt) else 1)
        if os.path.ismount(mnt):
            p = quiet(["/usr/bin/python3", "-c", READER, mnt])
            if p is None:
                raise AssertionError("reads through the mount hung")
            if p.returncode != 0:
                raise AssertionError("reader failed: %s" % p.stderr[-2000:])
            quiet(["fusermount3", "-u", mnt])
        try:
            rc = proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError("daemon did not exit after unmount")
        log.seek(0)
        check_proc(args, rc, log.read())
    finally:
        # Kill first: nothing below may keep a daemon alive.
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if os.path.ismount(mnt):
            quiet(["fusermount3", "-uz", mnt])
        log.close()


def build_store(w):
    data = w.sub("data")
    make_jpegs(data, 40, subdirs=2, extra=["-W", "96", "-H", "64"])
    names = sorted(os.path.join(d, f) for d in os.listdir(data)
                   for f in os.listdir(os.path.join(data, d)))
    coco = {"images": [], "annotations": [], "categories": [
        {"id": i + 1, "name": "c%d" % i} for i in range(5)]}
    for i, n in enumerate(names):
        coco["images"].append({"id": i + 1, "file_name": n, "width": 96,
                               "height": 64})
        for j in range(i % 4):
            coco["annotations"].append({
                "id": len(coco["annotations"]) + 1, "image_id": i + 1,
                "category_id": 1 + (i + j) % 5,
                "bbox": [j * 3, j * 2, 10 + j, 12], "iscrowd": 0})
    with open(w.sub("coco.json"), "w") as f:
        json.dump(coco, f)
    store = w.sub("store")
    curate("import", "--store", store, "--coco", w.sub("coco.json"), data)
    m = Mount(store, w.sub("mnt0")).start()
    try:
        for t in ("cats", "dogs", "review"):
            os.mkdir(os.path.join(m.mnt, "tags", t))
        for i, n in enumerate(sorted(os.listdir(os.path.join(m.mnt,
                                                             "samples")))):
            if i % 3 == 0:
                os.rename(os.path.join(m.mnt, "samples", n),
                          os.path.join(m.mnt, "tags", "cats", n))
            if i % 5 == 1:
                os.rename(os.path.join(m.mnt, "samples", n),
                          os.path.join(m.mnt, "tags", "dogs", n))
        m.umount()
    finally:
        m.cleanup()
    return data, store


def fresh_copy(w, store, name):
    copy = w.sub(name)
    shutil.rmtree(copy, ignore_errors=True)
    os.makedirs(copy)
    shutil.copy(os.path.join(store, "data.mdb"), copy)
    return copy


def patch(path, find, offset, new):
    """Overwrites bytes at (first occurrence of find) + offset."""
    with open(path, "r+b") as f:
        b = f.read()
        i = b.find(find)
        if i < 0:
            raise AssertionError("pattern %r not in the store" % find)
        f.seek(i + offset)
        f.write(new)


def targeted(w, data, store, good_info):
    """Hand-made damage with a known right answer."""
    out = []

    # A sample record whose id field says 1 under a larger key: listing
    # from id + 1 used to go back to 2 forever.
    copy = fresh_copy(w, store, "t-id")
    patch(os.path.join(copy, "data.mdb"),
          b"img_000003\x00d01/img_000003.jpg\x00", -72 + 8,
          (1).to_bytes(8, "little"))
    p = run([CURATE, "export", "--store", copy, "--format", "coco",
             w.sub("t-id-out")])
    if p.returncode == 0 or "damaged" not in p.stderr:
        raise AssertionError("export of a store with a wrong id: rc %d, %s" %
                             (p.returncode, p.stderr))
    mount_and_read(copy, w.sub("t-id-m", "mnt"))
    p = run([CURATE, "check", "--store", copy])
    if p.returncode != 1 or not any(
            ln.startswith("problem: samples: the record under key ") and
            ln.endswith("does not decode") for ln in p.stdout.splitlines()):
        raise AssertionError("check of a wrong id: %s %s" % (p.stdout,
                                                             p.stderr))
    out.append("a sample record with the id of another: a clean error, "
               "named by check")

    # A box count that disagrees with the labels: info shows it, check
    # names it, repair restores the count.
    copy = fresh_copy(w, store, "t-count")
    patch(os.path.join(copy, "data.mdb"),
          b"ground_truth\x00\x00\x00\x00\x01", 17,
          (999).to_bytes(8, "little"))
    info = run([CURATE, "info", "--store", copy])
    if "ground_truth/c0: 999" not in info.stdout:
        raise AssertionError("patched count not seen: " + info.stdout)
    p = run([CURATE, "check", "--store", copy])
    if p.returncode != 1 or "counts: 1 entries missing or different" \
            not in p.stdout:
        raise AssertionError("check of a wrong count: %s %s" % (p.stdout,
                                                                p.stderr))
    p = run([CURATE, "check", "--repair", "--store", copy])
    if p.returncode != 0:
        raise AssertionError("repair failed: %s %s" % (p.stdout, p.stderr))
    info = run([CURATE, "info", "--store", copy])
    if info.stdout != good_info:
        raise AssertionError("info after repair: %s" % info.stdout)
    if run([CURATE, "check", "--store", copy]).returncode != 0:
        raise AssertionError("check after repair still fails")
    out.append("a wrong box count: check names it, repair restores it")

    # A lost name index entry (the key's first byte changed): lookups by
    # name fail, check names the table, repair rebuilds it.
    copy = fresh_copy(w, store, "t-names")
    with open(os.path.join(copy, "data.mdb"), "rb") as f:
        b = f.read()
    # names: key "img_000005", then its be64 sample id.
    m = re.search(rb"img_000005\x00{7}[\x01-\xff]", b)
    if not m:
        raise AssertionError("names entry not found")
    patch(os.path.join(copy, "data.mdb"), m.group(0), 10,
          (77).to_bytes(8, "big"))
    p = run([CURATE, "check", "--store", copy])
    if p.returncode != 1 or "names: 1 entries missing or different" \
            not in p.stdout:
        raise AssertionError("check of a wrong name index: %s %s" % (
            p.stdout, p.stderr))
    p = run([CURATE, "check", "--repair", "--store", copy])
    if p.returncode != 0 or \
            run([CURATE, "check", "--store", copy]).returncode != 0:
        raise AssertionError("repair of the name index failed: " + p.stdout)
    out.append("a wrong name index entry: named and rebuilt")

    # A truncated data.mdb: every tool names the file and the damage.
    copy = fresh_copy(w, store, "t-trunc")
    path = os.path.join(copy, "data.mdb")
    os.truncate(path, os.path.getsize(path) // 2)
    for args in ([CURATE, "info", "--store", copy],
                 [CURATE, "check", "--store", copy],
                 [CURATEFS, "-f", copy, w.sub("t-trunc-mnt")]):
        os.makedirs(w.sub("t-trunc-mnt"), exist_ok=True)
        p = run(args)
        if p.returncode == 0 or "data.mdb is truncated" not in p.stderr:
            raise AssertionError("%s on a truncated store: rc %d, %s" % (
                args[0], p.returncode, p.stderr))
    out.append("a truncated data.mdb: info, check and the daemon say so")
    return out


def main():
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    first = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    w = Workdir("curate-corrupt-")
    failed = 0
    n = 0
    t_start = time.time()
    try:
        data, store = build_store(w)
        good_info = curate("info", "--store", store).stdout
        p = run([CURATE, "check", "--store", store])
        if p.returncode != 0:
            raise AssertionError("check of the intact store failed: %s" %
                                 p.stderr)
        n += 1
        print("ok %d - intact store passes curate check" % n, flush=True)
        for what in targeted(w, data, store, good_info):
            n += 1
            print("ok %d - %s" % (n, what), flush=True)
        for seed in range(first, first + seeds):
            rng = random.Random(seed)
            copy = w.sub("s%d" % seed)
            shutil.rmtree(copy, ignore_errors=True)
            os.makedirs(copy)
            shutil.copy(os.path.join(store, "data.mdb"), copy)
            what = corrupt(rng, os.path.join(copy, "data.mdb"))
            n += 1
            try:
                mount_and_read(copy, w.sub("m%d" % seed, "mnt"))
                info = run([CURATE, "info", "--store", copy])
                outcome("info", info.returncode)
                chk = run([CURATE, "check", "--store", copy])
                outcome("check", chk.returncode)
                if info.returncode == 0 and info.stdout != good_info and \
                        chk.returncode == 0:
                    raise AssertionError(
                        "info changed but check found nothing:\n" +
                        info.stdout)
                imp = run([CURATE, "import", "--store", copy, "--no-features",
                           data])
                outcome("import", imp.returncode)
                # After repair, the store is consistent or says why not.
                rep = run([CURATE, "check", "--repair", "--store", copy])
                outcome("repair", rep.returncode)
                if rep.returncode == 0:
                    again = run([CURATE, "check", "--store", copy])
                    if again.returncode != 0:
                        raise AssertionError(
                            "check fails after a successful repair:\n" +
                            again.stdout + again.stderr)
                print("ok %d - seed %d (%s)" % (n, seed, what), flush=True)
            except AssertionError as e:
                failed += 1
                print("not ok %d - seed %d (%s): %s" % (n, seed, what, e),
                      flush=True)
            shutil.rmtree(copy, ignore_errors=True)
            shutil.rmtree(w.sub("m%d" % seed), ignore_errors=True)
    except Exception as e:
        n += 1
        failed += 1
        print("not ok %d - suite aborted: %s" % (n, e), flush=True)
    finally:
        w.cleanup()
    print("# outcomes: %s" % ", ".join("%s %d" % kv for kv in
                                      sorted(OUTCOMES.items())))
    print("# %d checks, %d failed, %.1f s" % (n, failed, time.time() - t_start))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
