#!/usr/bin/python3
"""fs suite, hardening: labels documents written front to back and refused
when they could not be read back; tag names and settings checked by one
rule each; names reachable after moves between tags and refused renames;
a full disk and a full LMDB map reported as ENOSPC with what to do; the
store's files private; parse errors that never quote the file read; a
mount point that is not a folder refused."""
import ctypes
import errno
import json
import os
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (CURATEFS, Mount, curate, eq, expect_errno,  # noqa
                   jpeg_size, make_jpegs, read, run_suite, write)

libc = ctypes.CDLL(None, use_errno=True)
RENAME_NOREPLACE = 1


def renameat2(a, b, flags):
    if libc.renameat2(-100, a.encode(), -100, b.encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), a)


def status(mnt):
    return read(os.path.join(mnt, "status")).decode()


def body(ck, w):
    data = w.sub("data")
    make_jpegs(data, 12, extra=["-W", "64", "-H", "48"])
    names = sorted(os.listdir(data))
    stems = [n[:-4] for n in names]
    store = w.sub("store")
    curate("import", "--store", store, data)
    mnt = w.sub("mnt")
    m = Mount(store, mnt).start()
    L = os.path.join(mnt, "labels")
    S = os.path.join(mnt, "samples")
    T = os.path.join(mnt, "tags")

    def t_private_store():
        eq(stat.S_IMODE(os.stat(store).st_mode), 0o700, "store directory")
        for f in ("data.mdb", "lock.mdb", "curatefs.log"):
            eq(stat.S_IMODE(os.stat(os.path.join(store, f)).st_mode), 0o600, f)
    ck.run("store directory 0700, data.mdb, lock.mdb and the log 0600",
           t_private_store)

    def t_write_offsets():
        lab = os.path.join(L, stems[0] + ".json")
        before = read(lab)
        fd = os.open(lab, os.O_WRONLY | os.O_TRUNC)
        try:
            expect_errno(errno.EINVAL, os.pwrite, fd, b'{"fields": {}}', 100)
            os.write(fd, b'{"fields": ')
            expect_errno(errno.EINVAL, os.pwrite, fd, b'{}}', 3)
            expect_errno(errno.EINVAL, os.ftruncate, fd, 5)
            os.ftruncate(fd, 0)
            os.pwrite(fd, b'{"fields": {"gt": []}}', 0)
        finally:
            os.close(fd)
        eq(json.loads(read(lab))["fields"], {}, "document written after "
           "truncation to 0")
        eq(json.loads(before)["fields"], {}, "start")
    ck.run("labels: writes elsewhere than the end and ftruncate to a "
           "non-zero size get EINVAL", t_write_offsets)

    def t_shell_redirect():
        # `sh -c 'echo DOC > x.json'` opens with O_TRUNC, duplicates the
        # descriptor and closes the first copy before echo writes: that
        # close must not log a refusal (an empty text is still EINVAL).
        lab = os.path.join(L, stems[5] + ".json")
        doc = '{"fields": {"gt": [{"label": "cat", "bbox": [1, 2, 3, 4]}]}}'
        before = status(mnt).count("write rejected")
        subprocess.run(["sh", "-c", "echo '%s' > %s" % (doc, lab)],
                       check=True)
        eq(json.loads(read(lab))["fields"]["gt"][0]["bbox"], [1, 2, 3, 4],
           "document written by the shell")
        # The same steps, each close checked.
        fd = os.open(lab, os.O_WRONLY | os.O_TRUNC)
        try:
            expect_errno(errno.EINVAL, os.close, os.dup(fd))
            os.write(fd, b'{"fields": {}}')
        finally:
            os.close(fd)
        eq(json.loads(read(lab))["fields"], {}, "written after a dup closed")
        # Truncated, nothing written: EINVAL, nothing stored.
        write(lab, doc)
        expect_errno(errno.EINVAL, os.close,
                     os.open(lab, os.O_WRONLY | os.O_TRUNC))
        eq(len(json.loads(read(lab))["fields"]["gt"]), 1, "kept after an "
           "open with O_TRUNC and no write")
        eq(status(mnt).count("write rejected"), before, "refusals logged")
    ck.run("labels: a close before any write (shell redirection) stores "
           "nothing and logs no refusal", t_shell_redirect)

    def t_python_retry():
        # Python's buffered file, refused at write (a bad field name),
        # writes the same bytes again at close: one refusal, one reason
        # in status (the second write once logged a wrong "write at
        # offset 0 refused").
        lab = os.path.join(L, stems[6] + ".json")
        before = read(lab)
        st0 = status(mnt)
        try:
            with open(lab, "w") as f:
                f.write('{"fields": {"g t": []}}')
            raise AssertionError("the bad document was accepted")
        except OSError as e:
            eq(e.errno, errno.EINVAL, "errno of the bad document")
        st1 = status(mnt)
        eq(st1.count("write rejected") - st0.count("write rejected"), 1,
           "reasons logged")
        if st1.count("refused: documents are written from the start") != \
                st0.count("refused: documents are written from the start"):
            raise AssertionError("a second, wrong reason:\n" + st1)
        eq(read(lab), before, "labels unchanged")
    ck.run("labels: a refused document written again by the writer gets "
           "the same error, no second reason", t_python_retry)

    def t_huge_prediction_crop():
        # A prediction may reach past the image by any finite amount; its
        # ImageNet crop is the part inside, here the whole 64 x 48 image
        # (its far edge, 1e308, was converted to a long: a 1x1 crop).
        lab = os.path.join(L, stems[6] + ".json")
        write(lab, json.dumps({"fields": {"preds": [
            {"label": "huge", "bbox": [0, 0, 1e308, 1e308],
             "confidence": 0.5},
            {"label": "huge", "bbox": [-1e308, 10, 1.5e308, 1e300],
             "confidence": 0.5}]}}))
        ids = [b["id"] for b in json.loads(read(lab))["fields"]["preds"]]
        write(os.path.join(mnt, "config"), "export.field = preds\n")
        try:
            d = os.path.join(mnt, "export", "imagenet", "huge")
            eq([jpeg_size(read(os.path.join(d, "%s_%d.jpg" % (stems[6], i))))
                for i in ids], [(64, 48), (64, 38)], "crop sizes")
        finally:
            write(os.path.join(mnt, "config"), "export.field =\n")
            write(lab, '{"fields": {}}')
    ck.run("ImageNet crop of a prediction reaching 1e308 past the image: "
           "the image", t_huge_prediction_crop)

    def t_too_big_to_read_back():
        lab = os.path.join(L, stems[1] + ".json")
        boxes = [{"label": "a", "bbox": [i % 60, i % 40, 1, 1]}
                 for i in range(250000)]
        doc = json.dumps({"fields": {"gt": boxes}}, separators=(",", ":"))
        if not 7 << 20 < len(doc) < 8 << 20:
            raise AssertionError("document of %d bytes" % len(doc))
        fd = os.open(lab, os.O_WRONLY | os.O_TRUNC)
        os.write(fd, doc.encode())
        expect_errno(errno.EFBIG, os.close, fd)
        eq(json.loads(read(lab))["fields"], {}, "labels unchanged, readable")
        if "the labels file limit" not in status(mnt):
            raise AssertionError("status lacks the reason:\n" + status(mnt))
        # The largest document that reads back is stored.
        doc = json.dumps({"fields": {"gt": boxes[:60000]}})
        write(lab, doc)
        eq(len(json.loads(read(lab))["fields"]["gt"]), 60000, "60,000 boxes")
        write(lab, '{"fields": {}}')
    ck.run("labels: a 7.5 MiB document that would read back past 16 MiB "
           "is refused (EFBIG) and the file stays readable",
           t_too_big_to_read_back)

    def t_tag_names():
        for bad in ("a\x7fb", "a\x01", ".hidden", "a\u0085b"):
            expect_errno(errno.EINVAL, os.mkdir, os.path.join(T, bad))
        expect_errno(errno.EINVAL, os.mkdir, os.path.join(T.encode(),
                                                          b"bad\xffutf8"))
        os.mkdir(os.path.join(T, "caf\u00e9"))
        os.mkdir(os.path.join(T, "ok.2"))
        expect_errno(errno.EINVAL, os.rename, os.path.join(T, "ok.2"),
                     os.path.join(T, ".ok2"))
        eq(sorted(os.listdir(T)), ["caf\u00e9", "ok.2"], "tags")
        os.rmdir(os.path.join(T, "caf\u00e9"))
        os.rmdir(os.path.join(T, "ok.2"))
    ck.run("tag names: valid UTF-8, no control characters (DEL, C1), no "
           "leading dot", t_tag_names)

    def t_settings():
        cfg = os.path.join(mnt, "config")
        for line in ("export.field = ../x", "export.train = a/b",
                     "export.val = .hidden", "eval.gt_field = a b",
                     "cvat.url = file:///etc/passwd",
                     "cvat.url = http://user:pw@host/",
                     "cvat.url = https://host:99999",
                     "cvat.field = x\x7f"):
            expect_errno(errno.EINVAL, write, cfg, line + "\n")
        write(cfg, "export.train = train2\ncvat.url = https://cvat.example"
                   ":8080/sub\nexport.field = gt.v2\n")
        text = read(cfg).decode()
        for want in ("export.train = train2", "cvat.url = https://cvat."
                     "example:8080/sub", "export.field = gt.v2"):
            if want not in text:
                raise AssertionError("config lacks %r" % want)
        write(cfg, "export.train = train\ncvat.url = \n"
                   "export.field = ground_truth\n")
        # curate cvat config takes the same URL rule.
        p = curate("cvat", "config", "-o", "url=ftp://x",
                   check=False)
        if p.returncode == 0:
            raise AssertionError("curate cvat config took ftp://x")
    ck.run("settings naming fields, tags and the CVAT URL use the rules of "
           "what they name", t_settings)

    def t_names_after_renames():
        os.mkdir(os.path.join(T, "a"))
        os.mkdir(os.path.join(T, "b"))
        x, y = names[2], names[3]
        os.rename(os.path.join(S, x), os.path.join(T, "a", x))
        os.rename(os.path.join(S, y), os.path.join(T, "b", y))
        os.rename(os.path.join(S, y), os.path.join(T, "a", y))
        os.stat(os.path.join(T, "a", x))
        # Between tags: the moved name is the member of its new tag.
        os.rename(os.path.join(T, "a", x), os.path.join(T, "b", x))
        eq(read(os.path.join(T, "b", x)), read(os.path.join(data, x)),
           "tags/b/x after mv from tags/a")
        expect_errno(errno.ENOENT, os.stat, os.path.join(T, "a", x))
        # Refused no-replace renames leave every name as it was.
        expect_errno(errno.EEXIST, renameat2, os.path.join(T, "a", y),
                     os.path.join(T, "b", y), RENAME_NOREPLACE)
        expect_errno(errno.EEXIST, renameat2, os.path.join(S, x),
                     os.path.join(T, "b", x), RENAME_NOREPLACE)
        expect_errno(errno.EEXIST, renameat2, os.path.join(T, "b", x),
                     os.path.join(S, x), RENAME_NOREPLACE)
        for p in (os.path.join(T, "a", y), os.path.join(T, "b", y),
                  os.path.join(T, "b", x), os.path.join(S, x),
                  os.path.join(S, y)):
            eq(read(p), read(os.path.join(data, os.path.basename(p))), p)
        eq(sorted(os.listdir(os.path.join(T, "a"))), [y], "tags/a")
        eq(sorted(os.listdir(os.path.join(T, "b"))), sorted([x, y]), "tags/b")
        # A view file moved into a tag under its view name: the tag lists
        # the sample's own name, and the view name does not linger there.
        U = os.path.join(mnt, "views", "unique")
        f = [e for e in sorted(os.listdir(U))
             if e.split("-", 1)[1] not in (x, y)][0]
        os.rename(os.path.join(U, f), os.path.join(T, "a", f))
        expect_errno(errno.ENOENT, os.stat, os.path.join(T, "a", f))
        os.stat(os.path.join(T, "a", f.split("-", 1)[1]))
        eq(sorted(os.listdir(os.path.join(T, "a"))),
           sorted([y, f.split("-", 1)[1]]), "tags/a after a view move")
        os.unlink(os.path.join(T, "a", f.split("-", 1)[1]))
        # And back: tags/a/x is a new name again.
        os.rename(os.path.join(T, "b", x), os.path.join(T, "a", x))
        os.stat(os.path.join(T, "a", x))
        expect_errno(errno.ENOENT, os.stat, os.path.join(T, "b", x))
    ck.run("names stay reachable after moves between tags and refused "
           "no-replace renames", t_names_after_renames)

    def t_mount_option_values():
        # Values strtoull or a double would take silently: a negative or
        # overflowing byte count (2^64 - 5, 2^64 - 1), a NaN or negative ttl.
        mp = w.sub("mnt-opts")
        os.makedirs(mp, exist_ok=True)
        for opt, word in (("map_size=-5", "map_size"),
                          ("map_size=99999999999999999999", "map_size"),
                          ("cache_size=99999999999999999999", "cache_size"),
                          ("ttl=-1", "ttl"), ("ttl=nan", "ttl"),
                          ("ttl=inf", "ttl")):
            p = subprocess.run([CURATEFS, "-o", opt, store, mp],
                               capture_output=True, text=True, timeout=60)
            if os.path.ismount(mp):
                subprocess.run(["fusermount3", "-u", mp])
                raise AssertionError("-o %s: mounted" % opt)
            eq(p.returncode, 2, "-o %s: exit status (%s)" % (opt, p.stderr))
            if not p.stderr.startswith("curatefs: %s must be" % word):
                raise AssertionError("-o %s: %s" % (opt, p.stderr))
    ck.run("mount options: a negative or overflowing byte count and a "
           "negative or non-finite ttl are usage errors",
           t_mount_option_values)

    def t_mount_on_file():
        # The kernel mounts over a regular file too, and hides it behind a
        # tree that fails every read with EIO until it is unmounted.
        f = w.sub("notes.txt")
        if os.path.isdir(f):
            os.rmdir(f)
        with open(f, "w") as fh:
            fh.write("important\n")
        p = subprocess.run([CURATEFS, store, f], capture_output=True,
                           text=True, timeout=60)
        # os.path.ismount stats the file, which fails (EIO) once mounted
        with open("/proc/self/mounts") as mf:
            mounted = any(l.split()[1] == f for l in mf)
        if mounted:
            subprocess.run(["fusermount3", "-u", f])
            raise AssertionError("mounted over a regular file (exit %d)" %
                                 p.returncode)
        eq(p.returncode, 1, "exit status (%s)" % p.stderr)
        if p.stderr != "curatefs: mount point '%s' is not a directory\n" % f:
            raise AssertionError("message: %r" % p.stderr)
        eq(read(f), b"important\n", "the file is untouched")
    ck.run("a regular file as mount point: refused in one line, exit 1",
           t_mount_on_file)

    def t_parse_error_quotes_nothing():
        secret = w.sub("secret.txt")
        write(secret, "root-secret-token:$6$abcdefgh:19000:0:99999:7:::\n")
        expect_errno(errno.EINVAL, write,
                     os.path.join(mnt, "eval", "import-predictions"),
                     secret + "\n")
        names_f = w.sub("names.txt")
        write(names_f, "names-secret-token\x01\n")
        yolo = w.sub("yolo")
        os.mkdir(yolo)
        expect_errno(errno.EINVAL, write,
                     os.path.join(mnt, "eval", "import-predictions"),
                     "%s format=yolo names=%s\n" % (yolo, names_f))
        time.sleep(0.2)
        text = status(mnt) + read(os.path.join(store, "curatefs.log")).decode()
        for tok in ("root-secret-token", "names-secret-token", "$6$"):
            if tok in text:
                raise AssertionError("%r leaked into status or the log" % tok)
        if "secret.txt: line 1" not in text:
            raise AssertionError("the error does not name the file:\n" + text)
    ck.run("errors of files named to control files quote none of their "
           "content", t_parse_error_quotes_nothing)

    def bounded(fn, *args):
        # Runs fn in a child so that a hang fails the test instead of
        # blocking it; returns the errno fn raised (0 if none).
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                fn(*args)
            except OSError as e:
                code = e.errno
            except BaseException:
                code = 250
            os._exit(code)
        deadline = time.time() + 10
        while time.time() < deadline:
            p, st = os.waitpid(pid, os.WNOHANG)
            if p:
                return os.waitstatus_to_exitcode(st)
            time.sleep(0.05)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise AssertionError("%s%r did not return within 10 s" % (
            fn.__name__, args))

    def t_fifo_named():
        fifo = w.sub("pred.fifo")
        os.mkfifo(fifo)
        good = w.sub("good.json")
        write(good, "[]")
        yolo = w.sub("yolo2")
        os.mkdir(yolo)
        ip = os.path.join(mnt, "eval", "import-predictions")
        for cmd in (fifo + "\n",
                    "%s coco_gt=%s\n" % (good, fifo),
                    "%s format=yolo names=%s\n" % (yolo, fifo)):
            eq(errno.errorcode.get(bounded(write, ip, cmd), "none"),
               "EINVAL", "writing %r" % cmd)
        cfg = os.path.join(mnt, "config")
        eq(errno.errorcode.get(bounded(write, cfg, "cvat.ca_bundle = %s\n"
                                       % fifo), "none"), "EINVAL",
           "cvat.ca_bundle naming a FIFO")
        if "not a regular file" not in status(mnt):
            raise AssertionError("status:\n" + status(mnt))
        # The mount still answers.
        os.listdir(S)
    ck.run("a FIFO named to eval/import-predictions (file, coco_gt=, "
           "names=) or cvat.ca_bundle is refused at once, no hang",
           t_fifo_named)

    def t_fifo_sample():
        src = os.path.join(data, names[5])
        keep = w.sub("keep.jpg")
        os.rename(src, keep)
        os.mkfifo(src)
        try:
            got = bounded(read, os.path.join(S, names[5]))
            if got == 0:
                raise AssertionError("a FIFO in place of a sample was read")
            os.listdir(S)
        finally:
            os.unlink(src)
            os.rename(keep, src)
        read(os.path.join(S, names[5]))
    ck.run("a sample file replaced by a FIFO: an error at once, no hang",
           t_fifo_sample)
    m.umount()

    def t_full_map():
        # A store mounted with a map too small for what is written.
        m2 = Mount(store, mnt, ["-o", "map_size=1048576"]).start()
        try:
            lab = os.path.join(L, stems[4] + ".json")
            boxes = [{"label": "c%d-%s" % (i, "y" * 100),
                      "bbox": [1, 1, 2, 2]} for i in range(20000)]
            expect_errno(errno.ENOSPC, write, lab,
                         json.dumps({"fields": {"gt": boxes}}))
            eq(json.loads(read(lab))["fields"], {}, "labels unchanged")
            if "map is full" not in status(mnt) or "map_size" not in \
                    status(mnt):
                raise AssertionError("status:\n" + status(mnt))
        finally:
            m2.umount()
    ck.run("a full LMDB map: ENOSPC, status says to raise map_size",
           t_full_map)

    def t_full_disk():
        tfs = w.sub("tfs")
        os.mkdir(tfs)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", tfs],
                       check=True)
        try:
            st2 = os.path.join(tfs, "store")
            curate("import", "--store", st2, data)
            m3 = Mount(st2, w.sub("mnt3"), ["-o", "nopassthrough"]).start()
            try:
                got = None
                for i in range(400):
                    lab = os.path.join(m3.mnt, "labels",
                                       stems[i % len(stems)] + ".json")
                    boxes = [{"label": "k%d-%d-%s" % (i, j, "x" * 150),
                              "bbox": [1, 1, 2, 2]} for j in range(100)]
                    try:
                        write(lab, json.dumps({"fields": {"gt": boxes}}))
                    except OSError as e:
                        got = e.errno
                        break
                eq(got and errno.errorcode[got], "ENOSPC", "errno on a full "
                   "disk")
                text = status(m3.mnt)
                if "disk holding the store is full" not in text:
                    raise AssertionError("status:\n" + text)
                # Still serving, and nothing half-written.
                json.loads(read(lab))
            finally:
                m3.umount()
        finally:
            subprocess.run(["umount", "-l", tfs])
    ck.run("a full disk: ENOSPC (not EIO), status says what to do",
           t_full_disk)


def main():
    run_suite("curatefs-hardening-", body)


if __name__ == "__main__":
    main()
