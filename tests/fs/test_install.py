#!/usr/bin/python3
"""fs suite, installing and mounting like a tool: `meson install` into a
temporary DESTDIR puts both programs, the man pages curatefs(1) and
curate(1) (which render with `man -l` without warnings) and the bash
completion of curate in place; --version of both programs is the project
version; `mount -t fuse.curatefs STORE MNT -o readonly,allow_other` and an
fstab line (`mount -T FSTAB`) mount the installed daemon (in a private
mount namespace whose /usr/local/bin is the installed one, so nothing of
the machine changes); every curate command answers --help with status 0,
a bad option with 2, and --json with JSON; `curate embeddings --export`
writes what `--npy` reads back."""
import errno
import json
import os
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (CURATE, eq, expect_errno, make_jpegs,  # noqa: E402
                   run_suite)

BUILD = os.environ.get("MESON_BUILD_DIR", "build")
VERSION = os.environ.get("PROJECT_VERSION")
# Where meson installs (absolute; below DESTDIR in this test).
BINDIR = os.environ.get("INSTALL_BINDIR", "/usr/local/bin")
MANDIR = os.environ.get("INSTALL_MANDIR", "/usr/local/share/man")
DATADIR = os.environ.get("INSTALL_DATADIR", "/usr/local/share")
COMMANDS = ["import", "info", "table", "export", "import-labels",
            "predictions", "eval", "embeddings", "classes", "cvat"]
CVAT_SUBS = ["push", "pull", "undo", "status", "labels", "job", "issues",
             "config"]


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def daemons_of(store):
    """Pids of processes whose command line names store (our daemons)."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            cmd = open("/proc/%s/cmdline" % p, "rb").read().split(b"\0")
        except OSError:
            continue
        if cmd and os.path.basename(cmd[0]) == b"curatefs" and \
                store.encode() in cmd:
            pids.append(int(p))
    return pids


def mounts_at(mnt):
    return [line.split() for line in open("/proc/self/mounts")
            if line.split()[1] == mnt]


def inner(dest, store, mnt, fstab, names):
    """Runs in a private mount namespace: mount the installed daemon with
    mount(8), both ways, and check each mount."""
    # mount(8) runs the helper with a fixed PATH that has /usr/local/bin:
    # there the installed daemon must be found.
    subprocess.run(["mount", "--bind", dest + BINDIR, "/usr/local/bin"],
                   check=True)

    def check_mount(how, readonly):
        m = mounts_at(mnt)
        eq(len(m), 1, how + ": one mount")
        eq(m[0][2], "fuse.curatefs", how + ": type")
        opts = m[0][3].split(",")
        if "allow_other" not in opts:
            raise AssertionError(how + ": options " + m[0][3])
        eq("ro" in opts, readonly, how + ": ro")
        eq(sorted(os.listdir(os.path.join(mnt, "samples"))), names,
           how + ": samples/")
        rows = open(os.path.join(mnt, "samples.csv")).read().splitlines()
        eq(len(rows), len(names) + 1, how + ": samples.csv rows")
        if readonly:
            expect_errno(errno.EROFS, os.mkdir,
                         os.path.join(mnt, "tags", "t"))
        else:
            os.mkdir(os.path.join(mnt, "tags", "t"))
            os.rmdir(os.path.join(mnt, "tags", "t"))

    def unmount(how):
        subprocess.run(["umount", mnt], check=True)
        t0 = time.time()
        while daemons_of(store) and time.time() - t0 < 20:
            time.sleep(0.05)
        left = daemons_of(store)
        for pid in left:
            os.kill(pid, 9)
        if left or mounts_at(mnt):
            raise AssertionError(how + ": daemon or mount left after umount")

    failures = []
    for how, cmd, ro in (
            ("mount -t", ["mount", "-t", "fuse.curatefs", store, mnt, "-o",
                          "readonly,allow_other"], True),
            ("fstab", ["mount", "-T", fstab, mnt], False)):
        p = run(cmd)
        try:
            if p.returncode != 0:
                raise AssertionError("%s: exit %d: %s" % (how, p.returncode,
                                                          p.stderr))
            check_mount(how, ro)
            print("ok - %s mounts and serves the tree" % how, flush=True)
        except Exception as e:  # report, unmount, go on
            failures.append("%s: %s" % (how, e))
        finally:
            if mounts_at(mnt):
                unmount(how)
    if failures:
        print("\n".join(failures))
        sys.exit(1)


def body(ck, w):
    dest = w.sub("dest")
    p = run(["meson", "install", "-C", BUILD, "--no-rebuild", "--destdir",
             dest, "--quiet"])
    if p.returncode != 0:
        raise RuntimeError("meson install: " + p.stdout + p.stderr)
    bin_curate = dest + BINDIR + "/curate"
    bin_fs = dest + BINDIR + "/curatefs"
    man1 = dest + MANDIR + "/man1"
    comp = dest + DATADIR + "/bash-completion/completions/curate"

    def t_installed():
        for f in (bin_fs, bin_curate, man1 + "/curatefs.1",
                  man1 + "/curate.1", comp):
            if not os.path.isfile(f):
                raise AssertionError("not installed: " + f)
        for b in (bin_curate, bin_fs):
            if not os.access(b, os.X_OK):
                raise AssertionError("not executable: " + b)
    ck.run("meson install: programs, man pages, bash completion",
           t_installed)

    def t_man():
        for page, title, words in (
                ("curatefs.1", "CURATEFS(1)",
                 ("fuse.curatefs", "fstab", "[Mount]", "user.curatefs.",
                  "EXIT STATUS")),
                ("curate.1", "CURATE(1)",
                 ("table", "--export", "--json", "EXIT STATUS"))):
            f = os.path.join(man1, page)
            r = run(["man", "--warnings", "-l", f],
                    env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING=""))
            eq(r.returncode, 0, "man -l " + page)
            eq(r.stderr, "", "warnings of " + page)
            text = r.stdout
            if not text.startswith(title):
                raise AssertionError(page + " starts " + text[:40])
            for wd in words + ("curatefs " + VERSION,):
                if wd not in text:
                    raise AssertionError("%s lacks %r" % (page, wd))
    ck.run("man pages render with man -l, no warnings, with the version",
           t_man)

    def t_version():
        r = run([bin_fs, "--version"])
        eq(r.returncode, 0, "curatefs --version")
        if not r.stdout.startswith("curatefs %s (libfuse 3." % VERSION):
            raise AssertionError(r.stdout)
        r = run([bin_curate, "--version"])
        eq((r.returncode, r.stdout), (0, "curate %s\n" % VERSION),
           "curate --version")
        r = run([bin_fs, "--help"])
        eq(r.returncode, 0, "curatefs --help")
        if "fuse.curatefs" not in r.stdout:
            raise AssertionError(r.stdout)
        eq(run([bin_fs]).returncode, 2, "curatefs without arguments")
    ck.run("--version and --help of both programs", t_version)

    def t_completion():

        def complete(*words):
            script = ('source "%s"; COMP_WORDS=(%s); COMP_CWORD=%d; '
                      '_curate; printf "%%s\\n" "${COMPREPLY[@]}"' % (
                          comp, " ".join("'%s'" % x for x in words),
                          len(words) - 1))
            return sorted(set(run(["bash", "-c", script], check=True,
                                  cwd=w.path).stdout.split()))
        eq(complete("curate", "ta"), ["table"], "command")
        eq(complete("curate", "table", "--format", ""), ["csv", "jsonl"],
           "table formats")
        eq(complete("curate", "embeddings", "--ex"), ["--export"], "option")
        eq(complete("curate", "cvat", "p"), ["pull", "push"], "cvat sub")
        out = run(["bash", "-c", 'source "%s"; complete -p curate' % comp],
                  check=True).stdout
        if "_curate" not in out:
            raise AssertionError(out)
    ck.run("bash completion of curate", t_completion)

    def t_help_and_exit_codes():
        for cmd in COMMANDS:
            r = run([bin_curate, cmd, "--help"])
            eq(r.returncode, 0, cmd + " --help")
            eq(r.stderr, "", cmd + " --help stderr")
            if not r.stdout.startswith("usage: curate"):
                raise AssertionError(cmd + ": " + r.stdout[:60])
            eq(run([bin_curate, cmd, "--no-such-option"]).returncode, 2,
               cmd + " bad option")
            eq(run([bin_curate, cmd]).returncode, 2, cmd + " no arguments")
        for sub in CVAT_SUBS:
            r = run([bin_curate, "cvat", sub, "--help"])
            eq((r.returncode, r.stderr), (0, ""), "cvat %s --help" % sub)
        eq(run([bin_curate, "nope"]).returncode, 2, "unknown command")
        eq(run([bin_curate]).returncode, 2, "no command")
        r = run([bin_curate, "info", "--store", w.sub("no-store")])
        eq(r.returncode, 1, "failure exit")
        eq(len(r.stderr.splitlines()), 1, "one line: " + r.stderr)
    ck.run("every command: --help exits 0, usage errors 2, failures 1",
           t_help_and_exit_codes)

    data, store = w.sub("data"), w.sub("store")
    make_jpegs(data, 5, extra=["-W", "160", "-H", "120"])
    names = sorted(os.listdir(data))

    def t_json():
        r = run([bin_curate, "import", "--store", store, "--json", data])
        eq(r.returncode, 0, "import: " + r.stderr)
        j = json.loads(r.stdout)
        eq((j["import"]["files"], j["import"]["new"]), (5, 5), "import")
        r = run([bin_curate, "info", "--store", store, "--json"])
        eq(r.returncode, 0, "info")
        eq(json.loads(r.stdout), {"samples": 5, "tags": {}, "boxes": []},
           "info --json")
        r = run([bin_curate, "export", "--store", store, "--format", "yolo",
                 "--json", w.sub("yolo")])
        eq(r.returncode, 0, "export: " + r.stderr)
        eq(json.loads(r.stdout)["images"], 5, "export --json")
        r = run([bin_curate, "table", "--store", store, "--json"])
        eq(len([json.loads(x) for x in r.stdout.splitlines()]), 5, "table")
        r = run([bin_curate, "cvat", "status", "--store", store, "--json"])
        eq((r.returncode, json.loads(r.stdout)), (0, []), "cvat status")
        r = run([bin_curate, "cvat", "status", "--store", store, "--json",
                 "nope"])
        eq(r.returncode, 1, "cvat status of an unknown run")
    ck.run("--json output of import, info, export, table", t_json)

    def t_embeddings_roundtrip():
        import numpy as np
        npy, txt = w.sub("e.npy"), w.sub("e.txt")
        r = run([bin_curate, "embeddings", "--store", store, "--export", npy,
                 "--names", txt, "--json"])
        eq(r.returncode, 0, "export: " + r.stderr)
        eq(json.loads(r.stdout), {"exported": 5, "dim": 128}, "json")
        x = np.load(npy)
        eq((x.shape, str(x.dtype)), ((5, 128), "float32"), "computed")
        eq(open(txt).read().split(), [n[:-4] for n in names], "names")
        # Import a known matrix with rows in another order; the export
        # gives it back row for row (in sample order).
        rng = np.random.default_rng(5)
        y = rng.normal(size=(5, 16)).astype(np.float32)
        order = [3, 0, 4, 1, 2]
        np.save(w.sub("y.npy"), y[order])
        with open(w.sub("y.txt"), "w") as f:
            f.write("".join(names[i][:-4] + "\n" for i in order))
        r = run([bin_curate, "embeddings", "--store", store, "--npy",
                 w.sub("y.npy"), "--names", w.sub("y.txt")])
        eq(r.returncode, 0, "import: " + r.stderr)
        r = run([bin_curate, "embeddings", "--store", store, "--export", npy,
                 "--names", txt])
        eq(r.returncode, 0, "export again")
        z = np.load(npy)
        if z.shape != y.shape or not np.array_equal(z, y):
            raise AssertionError("exported matrix differs from imported")
        eq(open(txt).read().split(), [n[:-4] for n in names], "names")
        # Re-importing the export changes nothing: same bytes again.
        before = open(npy, "rb").read()
        run([bin_curate, "embeddings", "--store", store, "--npy", npy,
             "--names", txt], check=True)
        run([bin_curate, "embeddings", "--store", store, "--export",
             w.sub("z.npy"), "--names", w.sub("z.txt")], check=True)
        eq(open(w.sub("z.npy"), "rb").read(), before, "re-export bytes")
        run([bin_curate, "embeddings", "--store", store, "--clear"],
            check=True)
        r = run([bin_curate, "embeddings", "--store", store, "--export",
                 w.sub("bad/x.npy"), "--names", w.sub("bad/x.txt")])
        eq(r.returncode, 1, "unwritable target")
        eq(len(r.stderr.splitlines()), 1, "one line")
        # A device or FIFO as the target is written, never replaced: a
        # private null device stands in for /dev/null.
        run([bin_curate, "embeddings", "--store", store, "--npy",
             w.sub("y.npy"), "--names", w.sub("y.txt")], check=True)
        dev, fifo = w.sub("null"), w.sub("fifo")
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        r = run([bin_curate, "embeddings", "--store", store, "--export",
                 npy, "--names", dev])
        eq(r.returncode, 0, "names to a device: " + r.stderr)
        eq(stat.S_ISCHR(os.lstat(dev).st_mode), True, "device kept")
        os.mkfifo(fifo)
        got = []
        rd = threading.Thread(target=lambda: got.append(
            open(fifo, "rb").read()))
        rd.start()
        r = run([bin_curate, "embeddings", "--store", store, "--export",
                 fifo, "--names", txt])
        rd.join(60)
        eq(r.returncode, 0, "npy to a FIFO: " + r.stderr)
        eq(stat.S_ISFIFO(os.lstat(fifo).st_mode), True, "FIFO kept")
        run([bin_curate, "embeddings", "--store", store, "--export",
             w.sub("r.npy"), "--names", w.sub("r.txt")], check=True)
        eq(got[0][:6], b"\x93NUMPY", "npy through the FIFO")
        eq(got[0], open(w.sub("r.npy"), "rb").read(), "whole matrix")
        r = run([bin_curate, "embeddings", "--store", store, "--export",
                 w.sub(""), "--names", txt])
        eq(r.returncode, 1, "a directory as the target")
    ck.run("curate embeddings --export writes what --npy imports",
           t_embeddings_roundtrip)

    def t_mount_helper():
        mnt = w.sub("mnt")
        os.mkdir(mnt)
        fstab = w.sub("fstab")
        with open(fstab, "w") as f:
            f.write("# a test fstab\n%s %s fuse.curatefs "
                    "allow_other,nofail,_netdev,x-systemd.automount 0 0\n"
                    % (store, mnt))
        p = run(["unshare", "--mount", "--propagation", "private",
                 sys.executable, os.path.abspath(__file__), "--inner", dest,
                 store, mnt, fstab] + names, timeout=120)
        sys.stdout.write(p.stdout)
        for pid in daemons_of(store):   # only if the namespace leaked one
            os.kill(pid, 9)
        if p.returncode != 0:
            raise AssertionError("inner run failed: %s %s" % (p.stdout,
                                                             p.stderr))
        if p.stdout.count("ok - ") != 2:
            raise AssertionError(p.stdout)
    ck.run("mount -t fuse.curatefs and an fstab line mount the installed "
           "daemon", t_mount_helper)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--inner":
        inner(*sys.argv[2:6], sorted(sys.argv[6:]))
        return
    if not VERSION:
        raise SystemExit("PROJECT_VERSION not set (run through meson test)")
    run_suite("curatefs-install-", body)


if __name__ == "__main__":
    main()
