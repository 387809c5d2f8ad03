#!/usr/bin/python3
"""fs suite, plain-folder mounts (user guide §2, §16): unmounting cancels
the background import, its committed batches stay, and the next mount
continues it.  The daemon is stopped by tests/fault/faultshim.c as the
import's content pass opens its 100th image (the scan has opened every
file and committed them by then; hashes and features are under way),
SIGTERM is sent there, and only then is it let go: the cancel always lands
in the middle of the import, however fast or slow the machine, never by
luck."""
import os
import re
import shutil
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
from faultlib import Pause, fault_env  # noqa: E402
from fslib import Mount, curate, eq, make_jpegs, read, run_suite  # noqa

N = 1500


def samples(store):
    out = curate("info", "--store", store).stdout
    for line in out.split("\n"):
        if line.startswith("samples: "):
            return int(line.split()[1])
    raise AssertionError(out)


def work_done(summary):
    """(new, hashed, with new features) of a `curate import` summary."""
    m = re.search(r"(\d+) new, .* (\d+) hashed, (\d+) with new features",
                  summary)
    if not m:
        raise AssertionError("no summary: " + summary)
    return tuple(int(x) for x in m.groups())


def body(ck, w):
    data = w.sub("photos")
    make_jpegs(data, N, subdirs=5, extra=["-W", "64", "-H", "48"])
    xdg = w.sub("xdg")
    mnt = w.sub("mnt")
    pause = Pause(w.sub("pause"))
    base = dict(os.environ, XDG_DATA_HOME=xdg)
    st = {}

    def t_cancel():
        # Counted from the start, so no race with a fast import: the scan
        # opens each of the N images once, then the content pass opens
        # them again; stop at the content pass's 100th open.
        env = fault_env(base, op="open", path=".jpg", skip=N + 99,
                        pause_dir=pause.dir)
        m = Mount(data, mnt, env=env).start()
        pause.wait(lambda: m.proc.poll() is None)
        m.proc.send_signal(signal.SIGTERM)
        pause.resume()
        eq(m.proc.wait(timeout=120), 0, "exit status after SIGTERM")
        if os.path.ismount(mnt):
            raise AssertionError("still mounted")
        m.check_log()
        m.cleanup()
        stores = os.listdir(os.path.join(xdg, "curatefs"))
        eq(len(stores), 1, "stores made")
        st["store"] = os.path.join(xdg, "curatefs", stores[0])
        if not stores[0].startswith("photos-"):
            raise AssertionError("store name " + stores[0])
        n = samples(st["store"])
        if not 0 < n <= N:
            raise AssertionError("%d of %d samples after the cancel" % (n, N))
        # Work was left: an import of a copy of the store still has files
        # to add, hash or compute features of.
        copy = w.sub("copy")
        shutil.copytree(st["store"], copy)
        out = curate("import", "--store", copy, data).stdout
        left = work_done(out)
        if sum(left) == 0:
            raise AssertionError("the import was not cut: " + out)
        print("# cancelled with %d of %d samples; left: %d new, %d hashed, "
              "%d features" % ((n, N) + left))
    ck.run("SIGTERM during the import: exit 0, committed batches stay",
           t_cancel)

    def t_resume():
        m = Mount(data, mnt, env=base).start()
        deadline = time.monotonic() + 600
        while True:
            text = read(os.path.join(mnt, "status")).decode()
            if "import: done %d/%d" % (N, N) in text:
                break
            if "failed" in text.split("import:")[-1].split("\n")[0]:
                raise AssertionError(text)
            if time.monotonic() > deadline:
                raise AssertionError("import not done: " + text)
            time.sleep(0.1)
        eq(len(os.listdir(os.path.join(mnt, "samples"))), N,
           "samples listed after the second mount")
        m.umount()
        eq(samples(st["store"]), N, "samples in the store")
        out = curate("import", "--store", st["store"], data).stdout
        eq(work_done(out), (0, 0, 0), "work left after the second mount: " +
           out)
    ck.run("the next mount continues the import to the end", t_resume)


if __name__ == "__main__":
    run_suite("curatefs-importcancel-", body)
