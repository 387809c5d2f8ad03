#!/usr/bin/python3
"""fs suite, the requests a training reader's open sends, and the threads
that answer them.  Counted from the daemon's -d log, per file (by node id):

- on a -o readonly mount, a warm pass of Python open() + read + close
  over the ImageNet crops sends exactly one request per file: the IOCTL of
  Python's isatty() check (the kernel sends it for every open; nothing
  stops it), answered ENOTTY by the daemon itself (not libfuse's ENOSYS
  for a missing handler), so os.isatty() is False and TCGETS and
  FS_IOC_GETFLAGS fail with ENOTTY;
- the read-only mount answers FLUSH once with ENOSYS and the kernel then
  stops sending it: the first pass (one reader) sends at most one FLUSH,
  the later passes none;
- on a default mount, the same warm pass sends per file exactly one OPEN,
  one IOCTL and one RELEASE: no FLUSH (the open reply says none is
  needed), no READ, no LOOKUP, no GETATTR of the file;
- the threads that served requests run with the kernel's shortest slice
  (100 us), at the daemon's own nice value, and pass the default slice to
  threads they start (reset on fork); the warm thread (nice 19) keeps the
  default slice; a daemon started as SCHED_BATCH keeps every thread
  batch (the slice does not change a thread's policy);
- libfuse's loop keeps its threads: none of the threads that served the
  first passes has ended after more passes by two readers at once.
"""
import collections
import ctypes
import errno
import fcntl
import os
import re
import struct
import sys
import termios
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (Mount, coco_store, eq, jpegs_under, log_settled,  # noqa
                   run_suite, write_coco_boxes)

W, H = 320, 240
N = 6
SLICE_NS = 100 * 1000
# Requests and replies of the daemon's -d log.
REQ = re.compile(r"unique: (\d+), opcode: (\w+) \(\d+\), nodeid: (\d+)")
REPLY = re.compile(r"unique: (\d+), (?:success|error: (-?\d+))")
FS_IOC_GETFLAGS = 0x80086601
SCHED_FLAG_RESET_ON_FORK = 1


def boxes(i):
    return [("cat", [10, 20, 60, 50]), ("dog", [100, 20, 60, 50]),
            ("cat", [150, 100, 80, 70])]


def py_read(p):
    """What a training loader does: Python's open(), read, close."""
    with open(p, "rb") as f:
        return f.read()


def requests_since(m, since):
    """[(opcode, nodeid, errno of the reply or 0)] of the requests m's
    daemon logged after log offset since, once its log settled."""
    log_settled(m)
    text = m.logtext()[since:]
    errs = {u: -int(e) if e else 0 for u, e in REPLY.findall(text)}
    return [(op, int(node), errs.get(u)) for u, op, node in REQ.findall(text)]


def per_file(reqs, inos):
    """Opcode counts of reqs on each of the node ids inos, and the counts
    of the requests on other nodes."""
    files = {i: collections.Counter() for i in inos}
    other = collections.Counter()
    for op, node, _ in reqs:
        (files[node] if node in files else other)[op] += 1
    return files, other


def counted_pass(m, files, reader=py_read):
    since = log_settled(m)
    for p in files:
        reader(p)
    return requests_since(m, since)


def sched_getattr(tid):
    """(runtime ns, flags, nice) of thread tid, from sched_getattr(2)."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(56)
    nr = 315  # x86_64 sched_getattr
    if libc.syscall(nr, tid, buf, 56, 0) != 0:
        raise OSError(ctypes.get_errno(), "sched_getattr %d" % tid)
    size, pol, flags, nice, prio, runtime = struct.unpack_from("IIQiIQ", buf)
    return runtime, flags, nice


def threads(pid):
    return set(int(t) for t in os.listdir("/proc/%d/task" % pid))


def kernel_has_slices():
    """Linux 6.12 brought per-thread slices of the fair scheduler."""
    rel = os.uname().release.split(".")
    return (int(rel[0]), int(re.match(r"\d+", rel[1]).group())) >= (6, 12)


def body(ck, w):
    _, names, store = coco_store(
        w, N, W, H, lambda p, ns: write_coco_boxes(p, ns, W, H, boxes))
    ro = Mount(store, w.sub("ro"), opts=["-o", "readonly", "-d"]).start()
    rw = Mount(store, w.sub("rw"), opts=["-d"]).start()
    crops = {m: jpegs_under(os.path.join(m.mnt, "export", "imagenet"))
             for m in (ro, rw)}
    eq(len(crops[ro]), 3 * N, "crops on the read-only mount")
    eq(len(crops[rw]), 3 * N, "crops on the default mount")
    inos = {m: [os.stat(p).st_ino for p in crops[m]] for m in (ro, rw)}

    def t_ro_first_pass_flush():
        reqs = counted_pass(ro, crops[ro])
        flush = [r for r in reqs if r[0] == "FLUSH"]
        if len(flush) > 1:
            raise AssertionError("first pass sent %d FLUSH" % len(flush))
        for _, _, e in flush:
            eq(e, errno.ENOSYS, "the FLUSH reply (stops further ones)")
        reqs = counted_pass(ro, crops[ro])
        eq([r for r in reqs if r[0] == "FLUSH"], [], "FLUSH in a later pass")
    ck.run("read-only mount: at most one FLUSH, answered ENOSYS, then none",
           t_ro_first_pass_flush)

    def t_ro_one_ioctl():
        counted_pass(ro, crops[ro])
        reqs = counted_pass(ro, crops[ro])
        files, other = per_file(reqs, inos[ro])
        for p, i in zip(crops[ro], inos[ro]):
            eq(dict(files[i]), {"IOCTL": 1}, "requests of one open of " + p)
        eq(dict(other), {}, "requests on other nodes")
        for op, _, e in reqs:
            eq(e, errno.ENOTTY, "the %s reply" % op)
    ck.run("read-only mount: a warm Python open+read+close of a crop sends "
           "one IOCTL, answered ENOTTY by the daemon", t_ro_one_ioctl)

    def t_ioctl_answers():
        since = log_settled(ro)
        with open(crops[ro][0], "rb") as f:
            eq(os.isatty(f.fileno()), False, "isatty")
            for cmd, what in ((termios.TCGETS, "TCGETS"),
                              (FS_IOC_GETFLAGS, "FS_IOC_GETFLAGS")):
                try:
                    fcntl.ioctl(f.fileno(), cmd, bytes(64))
                except OSError as e:
                    eq(e.errno, errno.ENOTTY, what)
                else:
                    raise AssertionError("%s succeeded" % what)
        got = [e for op, _, e in requests_since(ro, since) if op == "IOCTL"]
        if len(got) < 3 or set(got) != {errno.ENOTTY}:
            raise AssertionError("IOCTL replies %r (want ENOTTY from the "
                                 "daemon)" % got)
    ck.run("ioctls on a crop fail with ENOTTY, answered by the daemon",
           t_ioctl_answers)

    def t_rw_per_open():
        for _ in range(2):  # fill the pages, then renew the atime
            counted_pass(rw, crops[rw])
        reqs = counted_pass(rw, crops[rw])
        files, _ = per_file(reqs, inos[rw])
        for p, i in zip(crops[rw], inos[rw]):
            eq(dict(files[i]), {"OPEN": 1, "IOCTL": 1, "RELEASE": 1},
               "requests of one open of " + p)
    ck.run("default mount: a warm open+read+close of a crop sends one OPEN, "
           "one IOCTL and one RELEASE, no FLUSH", t_rw_per_open)

    def t_request_threads():
        for m in (ro, rw):
            pid = m.proc.pid
            base_nice = os.getpriority(os.PRIO_PROCESS, pid)
            fast, slow = [], []
            for tid in threads(pid):
                try:
                    runtime, flags, nice = sched_getattr(tid)
                except ProcessLookupError:
                    continue  # a helper thread that just ended
                if flags & SCHED_FLAG_RESET_ON_FORK:
                    fast.append(tid)
                    eq(nice, base_nice, "nice of request thread %d" % tid)
                    if kernel_has_slices():
                        eq(runtime, SLICE_NS, "slice of thread %d" % tid)
                else:
                    slow.append((tid, runtime, nice))
            if not fast:
                raise AssertionError("no thread of %s has the request "
                                     "threads' settings" % m.mnt)
            warm = [t for t in slow if t[2] == 19]
            if not warm:
                raise AssertionError("no warm thread (nice 19) found: %r"
                                     % slow)
            for tid, runtime, _ in warm:
                if runtime == SLICE_NS:
                    raise AssertionError("the warm thread has the short "
                                         "slice")
    ck.run("request threads run with the shortest slice at the daemon's "
           "nice, reset on fork; the warm thread keeps the default",
           t_request_threads)

    def t_threads_kept():
        for m in (ro, rw):
            before = threads(m.proc.pid)
            for _ in range(3):
                ts = [threading.Thread(target=lambda: [py_read(p) for p in
                                                       crops[m]])
                      for _ in range(2)]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()
            time.sleep(0.2)
            gone = before - threads(m.proc.pid)
            eq(gone, set(), "threads of %s ended after the passes" % m.mnt)
    ck.run("the loop keeps its threads across passes by two readers",
           t_threads_kept)

    def t_batch_daemon_kept():
        # SCHED_BATCH, not SCHED_IDLE: the same question (does the slice
        # change the policy?) without starving the daemon on a busy
        # machine.
        def as_batch():
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        batch = Mount(store, w.sub("batch"), preexec=as_batch).start()
        try:
            for p in jpegs_under(os.path.join(batch.mnt, "export",
                                              "imagenet")):
                py_read(p)
            pol = {}
            for tid in threads(batch.proc.pid):
                try:
                    pol[tid] = (os.sched_getscheduler(tid) &
                                ~os.SCHED_RESET_ON_FORK)
                except ProcessLookupError:
                    continue
            if not pol or set(pol.values()) != {os.SCHED_BATCH}:
                raise AssertionError("threads of a SCHED_BATCH daemon after "
                                     "serving reads: %r" % pol)
        finally:
            batch.umount()
    ck.run("a daemon started as SCHED_BATCH keeps every thread batch",
           t_batch_daemon_kept)

    def t_umount():
        ro.umount()
        rw.umount()
    ck.run("both daemons unmount cleanly", t_umount)


def main():
    run_suite("curatefs-reqpath-", body)


if __name__ == "__main__":
    main()
