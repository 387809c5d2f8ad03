#!/usr/bin/python3
"""fault suite, commits through a mount: the daemon is stopped or failed
at chosen points of an LMDB commit by tests/fault/faultshim.c (preloaded),
never at a moment left to chance.

- SIGKILL at each point of a tag move's commit: before the data pages are
  synced, after they are synced but before the meta page is written, and
  after the meta page is written.  The move was never acknowledged (the
  caller sees the dead connection); the store opens afterwards and holds
  the move exactly when the meta page was written.
- `-o store_nosync`: no fsync at a commit, and still nothing acknowledged
  is lost when the daemon is killed.
- EIO from fdatasync and ENOSPC from the page writes of a label commit:
  close() gives that errno, the reason is in `status`, the labels stay as
  they were (also after a remount), and the next write works.
- A full store (-o map_size=1 MiB, MDB_MAP_FULL): label writes and new tags
  fail with ENOSPC and change nothing; every acknowledged write is there
  after a remount with the default map.
"""
import errno
import json
import os
import signal
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
from faultlib import Pause, fault_env, log_lines  # noqa: E402
from fslib import (Mount, coco_store, eq, expect_errno, read,  # noqa: E402
                   run_suite, write)

W, H = 160, 120
N = 6
DEAD = (errno.ENOTCONN, errno.ECONNABORTED)


def write_coco(path, names):
    images, anns = [], []
    for i, n in enumerate(names):
        images.append({"id": i + 1, "file_name": n, "width": W, "height": H})
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 1,
                     "bbox": [10, 10, 30 + i, 20], "iscrowd": 0,
                     "area": 600})
    json.dump({"images": images, "annotations": anns,
               "categories": [{"id": 1, "name": "cat"}]}, open(path, "w"))


def in_background(fn):
    """Runs fn() in a thread; returns (thread, result dict with 'err'
    (an OSError or None) once it ended)."""
    res = {"err": None, "done": False}

    def run():
        try:
            fn()
        except OSError as e:
            res["err"] = e
        res["done"] = True
    th = threading.Thread(target=run)
    th.start()
    return th, res


def body(ck, w):
    data, names, store = coco_store(w, N, W, H, write_coco)
    stems = [n[:-4] for n in names]
    mnt = w.sub("mnt")
    S, T, L = (os.path.join(mnt, d) for d in ("samples", "tags", "labels"))
    seq = [0]

    def fresh(name):
        seq[0] += 1
        return w.sub("%s-%d" % (name, seq[0]))

    def kill_at(case, op, when, extra, tag_expected):
        arm = fresh("arm")
        pause = Pause(fresh("pause"))
        env = fault_env(op=op, path="data.mdb", arm=arm, pause_dir=pause.dir,
                        when=when, **extra)
        m = Mount(store, mnt, env=env).start()
        tag = "k%d" % seq[0]
        nm = names[seq[0] % N]
        os.mkdir(os.path.join(T, tag))
        open(arm, "w").close()
        th, res = in_background(lambda: os.rename(
            os.path.join(S, nm), os.path.join(T, tag, nm)))
        pause.wait(lambda: m.proc.poll() is None)
        m.kill(signal.SIGKILL)
        th.join(60)
        if not res["done"]:
            raise AssertionError("the mv did not return after the kill")
        if res["err"] is None or res["err"].errno not in DEAD:
            raise AssertionError("%s: the mv was acknowledged or failed "
                                 "otherwise: %r" % (case, res["err"]))
        m.cleanup()
        m = Mount(store, mnt).start()
        got = os.listdir(os.path.join(T, tag))
        eq(got, [nm] if tag_expected else [], case + ": tag members")
        # The store works on: the same move now succeeds and is kept.
        if not tag_expected:
            os.rename(os.path.join(S, nm), os.path.join(T, tag, nm))
        m.umount()
        m = Mount(store, mnt).start()
        eq(os.listdir(os.path.join(T, tag)), [nm], case + ": after retry")
        m.umount()

    ck.run("SIGKILL before the commit's pages are synced: move not kept",
           kill_at, "before sync", "fsync", "before", {}, False)
    ck.run("SIGKILL between the page sync and the meta page: not kept",
           kill_at, "between", "fsync", "after", {}, False)
    ck.run("SIGKILL after the meta page was written: move kept",
           kill_at, "after meta", "write", "after", {"min": 8192}, True)

    def t_nosync():
        logf = fresh("log")
        env = fault_env(op="fsync", path="data.mdb", log=logf,
                        skip=10 ** 9)
        m = Mount(store, mnt, env=env).start()
        os.mkdir(os.path.join(T, "ns"))
        for nm in names[:3]:
            os.rename(os.path.join(S, nm), os.path.join(T, "ns", nm))
        m.umount()
        synced = len(log_lines(logf))
        if synced < 4:
            raise AssertionError("a normal mount synced %d times for 4 "
                                 "commits" % synced)
        logf = fresh("log")
        env = fault_env(op="fsync", path="data.mdb", log=logf,
                        skip=10 ** 9)
        m = Mount(store, mnt, ["-o", "store_nosync"], env=env).start()
        for nm in names[3:]:
            os.rename(os.path.join(S, nm), os.path.join(T, "ns", nm))
        eq(log_lines(logf), [], "fsync calls with -o store_nosync")
        # Killed right after the last move was acknowledged: kept.
        m.kill(signal.SIGKILL)
        m.cleanup()
        m = Mount(store, mnt).start()
        eq(sorted(os.listdir(os.path.join(T, "ns"))), names,
           "moves acknowledged by a store_nosync mount")
        m.umount()
    ck.run("-o store_nosync: no fsync at commits, a SIGKILL loses nothing "
           "acknowledged", t_nosync)

    def label_fault(case, op, err, extra):
        stem = stems[0]
        lab = os.path.join(L, stem + ".json")
        m = Mount(store, mnt).start()
        before = read(lab)
        m.umount()
        arm = fresh("arm")
        env = fault_env(op=op, path="data.mdb", arm=arm,
                        errno=errno.errorcode[err], **extra)
        m = Mount(store, mnt, env=env).start()
        doc = json.loads(before)
        doc["fields"]["ground_truth"][0]["bbox"] = [1, 2, 3, 4]
        open(arm, "w").close()
        expect_errno(err, write, lab, json.dumps(doc))
        os.unlink(arm)
        eq(read(lab), before, case + ": labels after the failed close()")
        st = read(os.path.join(mnt, "status")).decode()
        # ENOSPC is explained by what filled up (a full disk here).
        why = ("the disk holding the store is full" if err == errno.ENOSPC
               else os.strerror(err))
        if why not in st or "labels unchanged" not in st:
            raise AssertionError(case + ": no reason in status:\n" + st)
        m.umount()
        m = Mount(store, mnt).start()
        eq(read(lab), before, case + ": labels after a remount")
        write(lab, json.dumps(doc))
        eq(json.loads(read(lab))["fields"]["ground_truth"][0]["bbox"],
           [1, 2, 3, 4], case + ": the next write is stored")
        write(lab, before.decode())
        m.umount()

    ck.run("EIO from fdatasync at a label commit: close() fails with EIO, "
           "labels unchanged", label_fault, "EIO", "fsync", errno.EIO, {})
    ck.run("ENOSPC from a page write at a label commit: close() fails with "
           "ENOSPC, labels unchanged", label_fault, "ENOSPC", "write",
           errno.ENOSPC, {})

    def t_map_full():
        m = Mount(store, mnt, ["-o", "map_size=%d" % (1 << 20)]).start()
        kept = {}

        def doc_with(stem, n):
            doc = json.loads(read(os.path.join(L, stem + ".json")))
            doc["fields"]["ground_truth"] = [
                {"label": "cat", "bbox": [j % 100, j % 80, 10, 10]}
                for j in range(n)]
            return json.dumps(doc)
        # Fill the map: each sample gets the largest document that still
        # fits; each refusal is ENOSPC and changes nothing.
        refused = 0
        for stem in stems:
            lab = os.path.join(L, stem + ".json")
            for n in (3000, 1000, 300, 100, 30, 10, 3):
                before = read(lab)
                try:
                    write(lab, doc_with(stem, n))
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    refused += 1
                    eq(read(lab), before, "labels of a refused document")
                    continue
                kept[stem] = read(lab)
                break
        if refused == 0:
            raise AssertionError("a 1 MiB map took every document")
        def nboxes(stem):
            return len(json.loads(read(os.path.join(L, stem + ".json")))
                       ["fields"]["ground_truth"])
        small = min(stems, key=nboxes)
        lab = os.path.join(L, small + ".json")
        before = read(lab)
        big = doc_with(small, 3000)
        expect_errno(errno.ENOSPC, write, lab, big)
        eq(read(lab), before, "labels of the refused document")
        st = read(os.path.join(mnt, "status")).decode()
        if "the store's map is full" not in st:
            raise AssertionError("no reason in status:\n" + st)
        # The last pages go to tags, until mkdir is refused too.
        for i in range(20000):
            try:
                os.mkdir(os.path.join(T, "fill%05d" % i))
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
        else:
            raise AssertionError("20,000 tags fit in the rest of the map")
        ntags = len(os.listdir(T))
        m.umount()
        m = Mount(store, mnt).start()
        for s, text in kept.items():
            eq(read(os.path.join(L, s + ".json")), text,
               "acknowledged document of " + s)
        eq(read(lab), before, "refused document after remount")
        eq(len(os.listdir(T)), ntags, "acknowledged tags after remount")
        write(lab, big)
        eq(len(json.loads(read(lab))["fields"]["ground_truth"]), 3000,
           "the default map takes it")
        m.umount()
    ck.run("a full 1 MiB map: labels and tags fail with ENOSPC, nothing "
           "acknowledged is lost", t_map_full)


if __name__ == "__main__":
    run_suite("curatefs-commitfault-", body)
