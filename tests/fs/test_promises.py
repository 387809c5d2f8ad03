#!/usr/bin/python3
"""fs suite, promises of the user guide that no other test holds to:

- a deleted source file: ENOENT at open, then *missing* at re-import
  (gone from the mount, labels and tags kept, rmdir of its tag ENOTEMPTY),
  and *restored* when the file comes back;
- label writes: EFBIG past 16 MiB (write and ftruncate), EINVAL for
  truncate by path, open and close without writing stores nothing;
- command files: a command without a newline runs at close(), a second
  write after the command gives EBUSY (the same error again after a failed
  one), a write at another offset EINVAL, EFBIG past 1 MiB (also config);
- config: a value over 1000 bytes is refused whole (EINVAL); secrets are
  never shown, writing the placeholders back keeps them, `cvat.token =`
  clears it;
- renameat2: RENAME_NOREPLACE gives EEXIST for a sample already tagged,
  RENAME_EXCHANGE gives EINVAL;
- ln gives EPERM, ln -s ENOSYS, touch of a new name EPERM; chmod, chown
  and touch of existing entries succeed and change nothing;
- opening a generated directory as a file: EISDIR;
- SIGINT and SIGHUP unmount cleanly (exit 0, no mount left).
"""
import ctypes
import errno
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (Mount, coco_store, curate, eq, expect_errno,  # noqa
                   read, run_suite, write, write_coco_boxes)

W, H = 128, 96
N = 8
MiB = 1 << 20

libc = ctypes.CDLL(None, use_errno=True)
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
AT_FDCWD = -100


def renameat2(a, b, flags):
    r = libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(),
                       ctypes.c_uint(flags))
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), a)


def write_coco(path, names):
    write_coco_boxes(path, names, W, H,
                     lambda i: [("cat", [5, 5, 20 + i, 20])], classes=("cat",))


def status(mnt):
    return read(os.path.join(mnt, "status")).decode()


def body(ck, w):
    data, names, store = coco_store(w, N, W, H, write_coco)
    stems = [n[:-4] for n in names]
    mnt = w.sub("mnt")
    m = Mount(store, mnt).start()
    S, T, L = (os.path.join(mnt, d) for d in ("samples", "tags", "labels"))
    cfg = os.path.join(mnt, "config")

    def t_deleted_source():
        victim = names[1]
        src = os.path.join(data, victim)
        blob = read(src)
        st = os.stat(src)
        os.mkdir(os.path.join(T, "keep"))
        os.rename(os.path.join(S, victim), os.path.join(T, "keep", victim))
        lab_before = read(os.path.join(L, stems[1] + ".json"))
        os.unlink(src)
        expect_errno(errno.ENOENT, read, os.path.join(S, victim))
        if "No such file" not in status(mnt) and victim not in status(mnt):
            raise AssertionError("the failed open is not in status")
        p = curate("import", "--store", store, data)
        if ", 1 missing, 0 restored" not in p.stdout:
            raise AssertionError(p.stdout)
        if victim in os.listdir(S) or victim in os.listdir(
                os.path.join(T, "keep")):
            raise AssertionError("a missing sample is still listed")
        # Paths the kernel looked up before the import may keep their
        # attributes until `ttl` (user guide §15): remount, as it advises.
        m.umount()
        m.start()
        expect_errno(errno.ENOENT, os.stat, os.path.join(S, victim))
        expect_errno(errno.ENOENT, os.stat,
                     os.path.join(L, stems[1] + ".json"))
        expect_errno(errno.ENOENT, read, os.path.join(S, victim))
        expect_errno(errno.ENOTEMPTY, os.rmdir, os.path.join(T, "keep"))
        if victim in os.listdir(os.path.join(T, "keep")):
            raise AssertionError("a missing member is listed")
        if victim in os.listdir(S):
            raise AssertionError("a missing sample is listed")
        open(src, "wb").write(blob)
        os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
        p = curate("import", "--store", store, data)
        if ", 0 missing, 1 restored" not in p.stdout:
            raise AssertionError(p.stdout)
        wait_until(lambda: victim in os.listdir(S), "restored in samples/")
        wait_until(lambda: victim in os.listdir(os.path.join(T, "keep")),
                   "restored in its tag")
        eq(read(os.path.join(S, victim)), blob, "restored bytes")
        eq(os.listdir(os.path.join(T, "keep")), [victim], "tag kept")
        eq(read(os.path.join(L, stems[1] + ".json")), lab_before,
           "labels kept")
    ck.run("a deleted source: ENOENT, missing at re-import (labels and "
           "tags kept), restored when it comes back", t_deleted_source)

    def t_label_limits():
        lab = os.path.join(L, stems[2] + ".json")
        before = read(lab)
        fd = os.open(lab, os.O_WRONLY | os.O_TRUNC)
        try:
            chunk = b" " * MiB
            for _ in range(16):
                eq(os.write(fd, chunk), MiB, "write below 16 MiB")
            expect_errno(errno.EFBIG, os.write, fd, b" ")
            expect_errno(errno.EFBIG, os.ftruncate, fd, 16 * MiB + 1)
        finally:
            try:
                os.close(fd)
            except OSError as e:     # 16 MiB of spaces is not JSON
                if e.errno != errno.EINVAL:
                    raise
        eq(read(lab), before, "labels after EFBIG")
        expect_errno(errno.EINVAL, os.truncate, lab, 0)
        eq(read(lab), before, "labels after truncate by path")
        mt = os.stat(lab).st_mtime_ns
        log_before = status(mnt)
        os.close(os.open(lab, os.O_WRONLY))
        os.close(os.open(lab, os.O_RDWR))
        eq(read(lab), before, "labels after open and close")
        eq(os.stat(lab).st_mtime_ns, mt, "mtime after open and close")
        if status(mnt).count("labels/") != log_before.count("labels/"):
            raise AssertionError("open and close logged a write")
    ck.run("labels: EFBIG past 16 MiB, EINVAL for truncate by path, open "
           "and close store nothing", t_label_limits)

    def t_command_rules():
        undo = os.path.join(mnt, "cvat", "undo")
        # A failed command: the same error again on the next write.
        fd = os.open(undo, os.O_WRONLY | os.O_TRUNC)
        try:
            expect_errno(errno.ENOENT, os.write, fd, b"nosuchrun\n")
            expect_errno(errno.ENOENT, os.write, fd, b"again\n")
        finally:
            try:
                os.close(fd)
            except OSError:
                pass
        # No newline: the command runs at close().
        run = os.path.join(mnt, "eval", "run")
        fd = os.open(run, os.O_WRONLY | os.O_TRUNC)
        eq(os.write(fd, b"nl1"), 3, "write without a newline")
        if os.path.exists(os.path.join(mnt, "eval", "nl1")):
            raise AssertionError("ran before close()")
        os.close(fd)
        if not os.path.isdir(os.path.join(mnt, "eval", "nl1")):
            raise AssertionError("close() did not run the command: " +
                                 str(os.listdir(os.path.join(mnt, "eval"))))
        # A second write after a command that ran: EBUSY.
        fd = os.open(run, os.O_WRONLY | os.O_TRUNC)
        try:
            eq(os.write(fd, b"nl2\n"), 4, "command")
            expect_errno(errno.EBUSY, os.write, fd, b"nl3\n")
        finally:
            os.close(fd)
        if os.path.exists(os.path.join(mnt, "eval", "nl3")):
            raise AssertionError("the refused command ran")
        # A write at another offset than the end: EINVAL.
        fd = os.open(run, os.O_WRONLY | os.O_TRUNC)
        try:
            eq(os.write(fd, b"nl"), 2, "first part")
            expect_errno(errno.EINVAL, os.pwrite, fd, b"4\n", 10)
        finally:
            try:
                os.close(fd)
            except OSError:
                pass
        if os.path.exists(os.path.join(mnt, "eval", "nl4")):
            raise AssertionError("an offset write ran a command")
        # Past 1 MiB: EFBIG, for a command file and for config.
        for path in (run, cfg):
            before = read(path) if path == cfg else None
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            try:
                expect_errno(errno.EFBIG, write_all, fd, b"#" * (MiB + 1))
            finally:
                try:
                    os.close(fd)
                except OSError:
                    pass
            if before is not None:
                eq(read(cfg), before, "config after EFBIG")
    ck.run("command files: close() runs a line without newline, EBUSY, "
           "the same error again, EINVAL at an offset, EFBIG past 1 MiB",
           t_command_rules)

    def t_config_rules():
        before = read(cfg)
        expect_errno(errno.EINVAL, write, cfg,
                     "unique.count = 5\nexport.train = %s\n" % ("t" * 1001))
        eq(read(cfg), before, "a refused write changes nothing")
        if "value too long" not in status(mnt):
            raise AssertionError("no reason in status")
        secret = "Tok-%d-secret" % os.getpid()
        write(cfg, "cvat.token = %s\n" % secret)
        text = read(cfg).decode()
        if secret in text or "cvat.token = (set)" not in text:
            raise AssertionError("token shown: " + text)
        # Writing the whole text back, placeholders included, keeps it.
        write(cfg, text)
        if "cvat.token = (set)" not in read(cfg).decode():
            raise AssertionError("the placeholder cleared the token")
        write(cfg, "cvat.token = (unset)\n")
        if "cvat.token = (set)" not in read(cfg).decode():
            raise AssertionError("(unset) written back cleared the token")
        write(cfg, "cvat.token =\n")
        if "cvat.token = (unset)" not in read(cfg).decode():
            raise AssertionError("cvat.token = did not clear it")
        for f in (cfg, os.path.join(mnt, "status"),
                  os.path.join(store, "curatefs.log")):
            if secret in read(f).decode(errors="replace"):
                raise AssertionError("secret in " + f)
    ck.run("config: a value over 1000 bytes refuses the whole write; "
           "secret placeholders keep the secret, an empty value clears it",
           t_config_rules)

    def t_rename_flags():
        nm = names[3]
        os.mkdir(os.path.join(T, "rf"))
        renameat2(os.path.join(S, nm), os.path.join(T, "rf", nm), 0)
        # Already tagged: a plain rename succeeds, a no-replace one not.
        renameat2(os.path.join(S, nm), os.path.join(T, "rf", nm), 0)
        expect_errno(errno.EEXIST, renameat2, os.path.join(S, nm),
                     os.path.join(T, "rf", nm), RENAME_NOREPLACE)
        expect_errno(errno.EEXIST, renameat2, os.path.join(T, "rf", nm),
                     os.path.join(S, nm), RENAME_NOREPLACE)
        expect_errno(errno.EINVAL, renameat2, os.path.join(S, nm),
                     os.path.join(T, "rf", nm), RENAME_EXCHANGE)
        eq(os.listdir(os.path.join(T, "rf")), [nm], "tag unchanged")
    ck.run("RENAME_NOREPLACE gives EEXIST when tagged, RENAME_EXCHANGE "
           "EINVAL", t_rename_flags)

    def t_links_and_attrs():
        a = os.path.join(S, names[4])
        expect_errno(errno.EPERM, os.link, a, os.path.join(T, "ln.jpg"))
        expect_errno(errno.EPERM, os.link, a, os.path.join(S, "ln.jpg"))
        expect_errno(errno.ENOSYS, os.symlink, a, os.path.join(S, "sl.jpg"))
        os.mkdir(os.path.join(T, "sl"))
        expect_errno(errno.ENOSYS, os.symlink, a,
                     os.path.join(T, "sl", names[4]))
        expect_errno(errno.EPERM, subprocess_touch, os.path.join(S, "new"))
        lab = os.path.join(L, stems[4] + ".json")
        for p in (a, lab, cfg, os.path.join(T, "sl")):
            st = os.stat(p)
            os.chmod(p, 0o600)
            os.chown(p, 12345, 12345)
            os.utime(p, (1, 1))
            st2 = os.stat(p)
            eq((st2.st_mode, st2.st_uid, st2.st_gid, st2.st_mtime_ns),
               (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns),
               "attributes after chmod, chown, touch of " + p)
        eq(subprocess.run(["touch", a]).returncode, 0, "touch")
        eq(read(a), read(os.path.join(data, names[4])), "bytes")
        eq(os.listdir(os.path.join(T, "sl")), [], "no link made")
    ck.run("ln EPERM, ln -s ENOSYS, touch of a new name EPERM; chmod, "
           "chown, touch succeed and change nothing", t_links_and_attrs)

    def t_eisdir():
        for d in ("views/dupes", "export/coco", "cvat/runs", "eval",
                  "plots"):
            expect_errno(errno.EISDIR, os.open, os.path.join(mnt, d),
                         os.O_WRONLY)
    ck.run("a generated directory opened as a file: EISDIR", t_eisdir)

    m.umount()

    def default_signals():
        # Whatever runs the tests may ignore these (background jobs of a
        # shell ignore SIGINT), and an ignored signal stays ignored.
        for s in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
            signal.signal(s, signal.SIG_DFL)

    def unmount_by(sig):
        m2 = Mount(store, mnt, preexec=default_signals).start()
        os.listdir(S)
        m2.proc.send_signal(sig)
        rc = m2.proc.wait(timeout=60)
        eq(rc, 0, "exit status after %s" % signal.Signals(sig).name)
        if os.path.ismount(mnt):
            raise AssertionError("still mounted")
        m2.check_log()
        m2.cleanup()
    for i in range(3):
        ck.run("SIGINT unmounts cleanly (%d)" % i, unmount_by, signal.SIGINT)
        ck.run("SIGHUP unmounts cleanly (%d)" % i, unmount_by, signal.SIGHUP)


def write_all(fd, data):
    """write() until all is written or one fails (the kernel splits a big
    write, and a refused piece ends it short, not with the error)."""
    off = 0
    while off < len(data):
        off += os.write(fd, data[off:])


def wait_until(cond, what, timeout=60):
    """Polls cond(); the deadline only ends a failure."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("not within %d s: %s" % (timeout, what))
        time.sleep(0.02)


def subprocess_touch(path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    os.close(fd)


if __name__ == "__main__":
    run_suite("curatefs-promises-", body)
