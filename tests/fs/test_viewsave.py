#!/usr/bin/python3
"""fs suite, view lists kept in the store's folder: `curate table` computes
views/unique and views/near-duplicates once and leaves one file per view
beside the LMDB files (0600); a mount started afterwards reads them
(`status` says so) and lists exactly what a fresh computation lists; a
changed setting computes again and rewrites the file; a file with a
flipped byte, a truncated one, garbage, a symbolic link, a FIFO (no
hang) and a folder in its place are all taken for no file: the views are computed and equal, a
damaged file is replaced by a good one, and a folder in the way shows in
`status` as the reason nothing was kept.  Store changes that leave the
feature records alone but change the lists (samples gone missing at a
re-import, content hashes computed by a later import, a file replaced
and imported without features): the kept lists are not served."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (CURATE, MKJPEG, NEAR_COPY_VARIANTS, Mount, curate, eq,  # noqa
                   near_copy_groups, read, real_users, run_suite, write)

K = 5
VARIANTS = NEAR_COPY_VARIANTS
VIEWS = ("unique", "near-duplicates")
KILLSHIM = os.environ.get("KILLSHIM", "build/tests/libkillshim.so")


def view_lines(mnt):
    st = read(os.path.join(mnt, "status")).decode()
    return {v: re.search(r"^  %s +(.*)$" % re.escape(v), st, re.M).group(1)
            for v in VIEWS}


def body(ck, w):
    data = w.sub("data")
    near_copy_groups(data, K)
    store = w.sub("store")
    curate("import", "--store", store, data)
    files = {v: os.path.join(store, "views.%s.cache" % v) for v in VIEWS}
    mnt = w.sub("mnt")

    def listing():
        return {v: sorted(os.listdir(os.path.join(mnt, "views", v)))
                for v in VIEWS}

    # The reference: computed by a mount with no file to read.
    m = Mount(store, mnt).start()
    ref = listing()
    m.umount()
    eq(len(ref["near-duplicates"]), K * len(VARIANTS), "all grouped")
    table = curate("table", "--store", store).stdout

    def t_table_keeps():
        for f in files.values():
            os.unlink(f)   # left by the reference's mount: make them anew
        again = curate("table", "--store", store).stdout
        eq(again, table, "the same table")
        for v, f in files.items():
            st = os.stat(f)
            eq(oct(st.st_mode & 0o777), "0o600", v + " file mode")
            if st.st_size < 304:
                raise AssertionError("%s: %d bytes" % (v, st.st_size))
    ck.run("curate table leaves one file per view in the store folder",
           t_table_keeps)

    def t_read_only_keeps_nothing():
        saved = {v: read(f) for v, f in files.items()}
        for f in files.values():
            os.unlink(f)
        try:
            eq(curate("table", "--store", store, "--read-only").stdout, table,
               "the same table")
            for v, f in files.items():
                if os.path.exists(f):
                    raise AssertionError(v + ": written by --read-only")
        finally:
            for v, f in files.items():
                with open(f, "wb") as fh:
                    fh.write(saved[v])
                os.chmod(f, 0o600)
    ck.run("curate table --read-only writes nothing there",
           t_read_only_keeps_nothing)

    def tmp_names():
        return sorted(n for n in os.listdir(store) if ".cache.tmp-" in n)

    def run_curate(env_extra):
        env = dict(os.environ, LD_PRELOAD=KILLSHIM, **env_extra)
        # Under AddressSanitizer the shim comes before its runtime in the
        # list of libraries, which it refuses unless told not to check.
        asan = env.get("ASAN_OPTIONS", "")
        env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + \
            "verify_asan_link_order=0"
        p = subprocess.Popen([CURATE, "table", "--store", store], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        out, err = p.communicate()
        return p, out, err

    def t_killed_mid_write():
        # Killed in the write of the first list: the bytes were going to a
        # file with no name, so nothing is left (the old writer left
        # views.near-duplicates.cache.tmp-<pid> for good).
        saved = {v: read(f) for v, f in files.items()}
        for f in files.values():
            os.unlink(f)
        before = sorted(os.listdir(store))
        p, _, _ = run_curate({"KILLSHIM_VIEWS": "1"})
        eq(p.returncode, -signal.SIGKILL, "killed in the write")
        eq(sorted(os.listdir(store)), before, "the store folder")
        eq(curate("table", "--store", store).stdout, table, "then the table")
        for v, f in files.items():
            eq(os.stat(f).st_size, len(saved[v]), v + " kept afterwards")
    ck.run("a process killed while it writes a list leaves no file",
           t_killed_mid_write)

    def t_stale_tmp_removed():
        # Where O_TMPFILE is refused the list is written under a temporary
        # name: killed there, the name stays, until the next writer.
        for f in files.values():
            os.unlink(f)
        p, _, _ = run_curate({"KILLSHIM_VIEWS": "1",
                              "KILLSHIM_NOTMPFILE": "1"})
        eq(p.returncode, -signal.SIGKILL, "killed in the write")
        eq(tmp_names(), ["views.near-duplicates.cache.tmp-%d" % p.pid],
           "left by the fallback")
        gone = subprocess.Popen(["true"])
        gone.wait()
        dead = "views.unique.cache.tmp-%d" % gone.pid
        write(os.path.join(store, dead), "left by an older build")
        # Kept: a live process's (it may be about to rename it), names
        # not of the form, and anything but a regular file.
        kept = ["views.unique.cache.tmp-%d" % os.getpid(),
                "views.unique.cache.tmp-%dx" % gone.pid,
                "views.other.cache.tmp-%d" % gone.pid,
                "views.near-duplicates.cache.tmp-0%d" % gone.pid]
        for n in kept:
            write(os.path.join(store, n), "not ours to remove")
        link = "views.near-duplicates.cache.tmp-%d" % gone.pid
        os.symlink("/etc/passwd", os.path.join(store, link))
        kept = sorted(kept + [link])
        try:
            eq(curate("table", "--store", store).stdout, table, "the table")
            eq(tmp_names(), kept, "the temporary names")
            for v, f in files.items():
                if os.stat(f).st_size < 304:
                    raise AssertionError(v + ": not written")
            # The fallback, not killed: the lists are written whole and
            # leave no temporary name.
            for f in files.values():
                os.unlink(f)
            p, out, err = run_curate({"KILLSHIM_NOTMPFILE": "1"})
            eq((p.returncode, err), (0, ""), "curate table, no O_TMPFILE")
            eq(out, table, "the table")
            eq(tmp_names(), kept, "the temporary names")
            eq(curate("table", "--store", store).stdout, table, "read back")
        finally:
            for n in kept:
                os.unlink(os.path.join(store, n))
    ck.run("temporary files of dead writers are removed by the next writer, "
           "and only those", t_stale_tmp_removed)

    def t_mount_reads():
        mtimes = {v: os.stat(f).st_mtime_ns for v, f in files.items()}
        m = Mount(store, mnt).start()
        try:
            eq(listing(), ref, "lists read from the files")
            for v, line in view_lines(mnt).items():
                if "read from the store folder" not in line:
                    raise AssertionError("%s: %s" % (v, line))
            eq(curate("table", "--store", store).stdout, table,
               "table beside the mount")
        finally:
            m.umount()
        eq({v: os.stat(f).st_mtime_ns for v, f in files.items()}, mtimes,
           "files not rewritten when read")
    ck.run("a new mount reads the lists and says so in status",
           t_mount_reads)

    def folder_state():
        """Every name in the store's folder with its type, size and mtime;
        but two files every mount writes, read-only or not: LMDB's
        lock.mdb (the reader slots, written by every reader: its size
        only) and the daemon's log curatefs.log (appended: its type
        only)."""
        out = {}
        for n in os.listdir(store):
            st = os.lstat(os.path.join(store, n))
            out[n] = ((st.st_mode,) if n == "curatefs.log" else
                      (st.st_mode, st.st_size) if n == "lock.mdb" else
                      (st.st_mode, st.st_size, st.st_mtime_ns))
        return out

    def read_only_pass():
        """A read-only mount that lists both views; their status lines."""
        m = Mount(store, mnt, opts=["-o", "readonly"]).start()
        try:
            eq(listing(), ref, "lists on the read-only mount")
            return view_lines(mnt)
        finally:
            m.umount()

    def t_read_only_mount_reads():
        before = folder_state()
        for v, line in read_only_pass().items():
            if "read from the store folder" not in line:
                raise AssertionError("%s: %s" % (v, line))
        eq(folder_state(), before, "the store folder")
    ck.run("a read-only mount reads the kept lists and changes nothing in "
           "the store folder", t_read_only_mount_reads)

    def t_read_only_mount_keeps_nothing():
        saved = {v: read(f) for v, f in files.items()}
        for f in files.values():
            os.unlink(f)
        try:
            before = folder_state()
            for v, line in read_only_pass().items():
                if "read from the store folder" in line:
                    raise AssertionError("%s: %s" % (v, line))
            eq(folder_state(), before, "the store folder")
        finally:
            for v, f in files.items():
                with open(f, "wb") as fh:
                    fh.write(saved[v])
                os.chmod(f, 0o600)
    ck.run("a read-only mount computes the lists and writes nothing in the "
           "store folder", t_read_only_mount_keeps_nothing)

    def back_to_default():
        m = Mount(store, mnt).start()
        try:
            write(os.path.join(mnt, "config"), "neardup.threshold = 0.09\n")
            eq(listing(), ref, "back to the default threshold")
        finally:
            m.umount()

    def t_setting_recomputes():
        before = {v: read(f) for v, f in files.items()}
        m = Mount(store, mnt).start()
        try:
            write(os.path.join(mnt, "config"), "neardup.threshold = 0.0\n")
            got = listing()
            lines = view_lines(mnt)
        finally:
            m.umount()
        # At threshold 0 only exact copies group: none here.
        eq(got["near-duplicates"], [], "no group at threshold 0")
        for v in VIEWS:
            if "read from the store folder" in lines[v]:
                raise AssertionError("%s: %s" % (v, lines[v]))
            if read(files[v]) == before[v]:
                raise AssertionError(v + ": file not rewritten")
        back_to_default()
    ck.run("a changed setting computes the lists again and keeps them",
           t_setting_recomputes)

    def damaged(name, spoil):
        def t():
            for f in files.values():
                spoil(f)
            m = Mount(store, mnt).start()
            try:
                eq(listing(), ref, "lists computed again")
                lines = view_lines(mnt)
            finally:
                m.umount()
            for v in VIEWS:
                if "read from the store folder" in lines[v]:
                    raise AssertionError("%s: %s" % (v, lines[v]))
            m = Mount(store, mnt).start()
            try:
                eq(listing(), ref, "lists read again")
                for v, line in view_lines(mnt).items():
                    if "read from the store folder" not in line:
                        raise AssertionError("%s, replaced: %s" % (v, line))
            finally:
                m.umount()
            for v, f in files.items():
                if os.path.islink(f):
                    raise AssertionError(v + ": still a link")
        ck.run("a file %s is taken for none and replaced" % name, t)

    def flip(f):
        b = bytearray(read(f))
        b[len(b) // 2] ^= 0x40
        write_bytes(f, b)

    def truncate(f):
        write_bytes(f, read(f)[:-9])

    def garbage(f):
        write_bytes(f, b"curatefs-views\0\0" + os.urandom(4000))

    def link(f):
        os.unlink(f)
        os.symlink("/etc/passwd", f)

    def write_bytes(f, b):
        with open(f, "wb") as fh:
            fh.write(b)

    def fifo(f):
        os.unlink(f)
        os.mkfifo(f, 0o600)

    damaged("with a flipped byte", flip)
    damaged("that is a FIFO", fifo)
    damaged("cut short", truncate)
    damaged("of garbage", garbage)
    damaged("that is a symbolic link", link)

    def t_folder_in_the_way():
        f = files["near-duplicates"]
        os.unlink(f)
        os.mkdir(f)
        try:
            m = Mount(store, mnt).start()
            try:
                eq(listing(), ref, "lists computed")
                line = view_lines(mnt)["near-duplicates"]
            finally:
                m.umount()
            if "not kept in the store folder: Is a directory" not in line:
                raise AssertionError(line)
        finally:
            os.rmdir(f)
    ck.run("a folder in the file's place: computed, status says why "
           "nothing was kept", t_folder_in_the_way)
    def t_root_writes_as_owner():
        # A store of a real user, its folder that user's alone: curate run
        # by root keeps the lists as that user, and root's own folder,
        # reached through a link the owner put in the store's place, gets
        # nothing.
        with real_users("cfsvsown") as (u,):
            for root, dirs, fs in os.walk(store):
                for n in dirs + fs:
                    os.lchown(os.path.join(root, n), u.pw_uid, u.pw_gid)
            os.chown(store, u.pw_uid, u.pw_gid)
            os.chmod(store, 0o700)
            os.chmod(os.path.dirname(store), 0o711)   # the owner reaches it
            for f in files.values():
                if os.path.exists(f):
                    os.unlink(f)
            try:
                eq(curate("table", "--store", store).stdout, table,
                   "the table")
                for v, f in files.items():
                    st = os.stat(f)
                    eq((st.st_uid, st.st_gid), (u.pw_uid, u.pw_gid),
                       v + " file owner")
                # The owner swaps the store's path for a link to a folder
                # of root's while a root daemon serves it: the next lists
                # still go to the store's own folder, as the owner.
                mine = w.sub("rootonly")
                os.mkdir(mine, 0o700)
                real = store + ".real"
                m = Mount(store, mnt).start()
                try:
                    os.rename(store, real)
                    os.symlink(mine, store)
                    write(os.path.join(mnt, "config"),
                          "neardup.threshold = 0.05\n")
                    listing()
                    line = view_lines(mnt)["near-duplicates"]
                    kept = {v: os.stat(os.path.join(real, os.path.basename(
                        f))) for v, f in files.items()}
                finally:
                    m.umount()
                    if os.path.islink(store):
                        os.unlink(store)
                    if os.path.exists(real):
                        os.rename(real, store)
                eq(os.listdir(mine), [], "nothing made in root's folder")
                if "not kept" in line:
                    raise AssertionError(line)
                for v, st in kept.items():
                    eq(st.st_uid, u.pw_uid, v + " kept by the owner")
                back_to_default()
            finally:
                for root, dirs, fs in os.walk(store):
                    for n in dirs + fs:
                        os.lchown(os.path.join(root, n), 0, 0)
                os.chown(store, 0, 0)
    ck.run("root keeps the lists as the store's owner", t_root_writes_as_owner)

    def t_sweep_as_the_writer():
        # A store folder others may write in (a team's): a writer that is
        # not root keeps the lists as itself, so its first write removes
        # its own dead temporary files, and none of the folder owner's
        # (the old sweep looked for the owner's: it removed root's file
        # here and left the user's for good).
        with real_users("cfsvswrt") as (u,):
            def as_user(extra):
                env = dict(os.environ, LD_PRELOAD=KILLSHIM, **extra)
                asan = env.get("ASAN_OPTIONS", "")
                env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + \
                    "verify_asan_link_order=0"
                p = subprocess.Popen([CURATE, "table", "--store", store],
                                     env=env, user=u.pw_uid, group=u.pw_gid,
                                     extra_groups=[], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
                out, err = p.communicate()
                return p, out, err

            parent = os.path.dirname(store)
            modes = {d: os.stat(d).st_mode & 0o7777 for d in (store, parent)}
            dbs = [os.path.join(store, n) for n in ("data.mdb", "lock.mdb")]
            db_modes = {f: os.stat(f).st_mode & 0o7777 for f in dbs}
            os.chmod(parent, 0o711)
            os.chmod(store, 0o777)
            for f in dbs:
                os.chmod(f, 0o666)
            for f in files.values():
                os.unlink(f)
            owners = None
            try:
                p, _, _ = as_user({"KILLSHIM_VIEWS": "1",
                                   "KILLSHIM_NOTMPFILE": "1"})
                eq(p.returncode, -signal.SIGKILL, "killed in the write")
                mine = "views.near-duplicates.cache.tmp-%d" % p.pid
                eq(tmp_names(), [mine], "left by the user's writer")
                eq(os.stat(os.path.join(store, mine)).st_uid, u.pw_uid,
                   "its owner")
                gone = subprocess.Popen(["true"])
                gone.wait()
                owners = "views.unique.cache.tmp-%d" % gone.pid
                write(os.path.join(store, owners), "the folder owner's")
                p, out, err = as_user({})
                eq((p.returncode, err, out), (0, "", table),
                   "curate table as the user")
                eq(tmp_names(), [owners], "the temporary names")
                for v, f in files.items():
                    eq(os.stat(f).st_uid, u.pw_uid, v + " kept by the user")
            finally:
                for n in tmp_names():
                    os.unlink(os.path.join(store, n))
                for f in dbs:
                    os.chmod(f, db_modes[f])
                for d, mode in modes.items():
                    os.chmod(d, mode)
                for f in files.values():
                    if os.path.exists(f):
                        os.unlink(f)
                eq(curate("table", "--store", store).stdout, table,
                   "kept again by root")
    ck.run("a writer that is not root removes its own dead temporary "
           "files, not the folder owner's", t_sweep_as_the_writer)

    store_changes(ck, w)


def store_changes(ck, w):
    """Store changes that leave the feature records alone but change the
    lists: each time, `curate table` with the files kept by the run before
    must equal a computation from scratch."""
    data, store = w.sub("data2"), w.sub("store2")
    near_copy_groups(data, 3)

    def fresh():
        for v in VIEWS:
            f = os.path.join(store, "views.%s.cache" % v)
            if os.path.exists(f):
                os.unlink(f)
        return curate("table", "--store", store).stdout

    def same_as_fresh(what):
        kept = curate("table", "--store", store).stdout
        eq(kept, fresh(), what)

    def t_missing():
        curate("import", "--store", store, data)
        curate("table", "--store", store)    # keeps the lists
        for f in os.listdir(data):
            if f.startswith(("g0_v0", "g0_v1")):
                shutil.rmtree(os.path.join(data, f))
        p = curate("import", "--store", store, data)
        if "2 missing" not in p.stdout:
            raise AssertionError(p.stdout)
        same_as_fresh("after two samples went missing")
    ck.run("samples gone missing at a re-import: lists computed again",
           t_missing)

    def t_hashes_later():
        d, st = w.sub("data3"), w.sub("store3")
        os.makedirs(d)
        subprocess.run([MKJPEG, "-n", "2", "-s", "77", os.path.join(d, "a")],
                       check=True, stdout=subprocess.DEVNULL)
        src = os.path.join(d, "a", sorted(os.listdir(os.path.join(d, "a")))[0])
        shutil.copyfile(src, os.path.join(d, "copy.jpg"))
        curate("import", "--no-hash", "--no-features", "--store", st, d)
        curate("table", "--store", st)
        curate("import", "--no-features", "--store", st, d)
        kept = curate("table", "--store", st, "--format", "jsonl").stdout
        groups = [json.loads(r)["neardup_group"] for r in kept.splitlines()]
        eq(len([g for g in groups if g is not None]), 2,
           "the exact copy and its original grouped once hashed")
    ck.run("content hashes computed later: the exact copies group",
           t_hashes_later)

    def t_replaced():
        victim = os.path.join(data, "g1_v0")
        f = os.path.join(victim, os.listdir(victim)[0])
        subprocess.run([MKJPEG, "-n", "1", "-s", "4242", "-W", "320", "-H",
                        "240", w.sub("other")], check=True,
                       stdout=subprocess.DEVNULL)
        o = w.sub("other")
        shutil.copyfile(os.path.join(o, os.listdir(o)[0]), f)
        os.utime(f, (1e9, 1e9))
        curate("table", "--store", store)
        p = curate("import", "--no-features", "--store", store, data)
        if "1 changed" not in p.stdout:
            raise AssertionError(p.stdout)
        same_as_fresh("after a file was replaced")
    ck.run("a file replaced and imported without features: lists computed "
           "again", t_replaced)


def main():
    run_suite("curatefs-viewsave-", body)


if __name__ == "__main__":
    main()
