"""faultlib - drives tests/fault/faultshim.c (an LD_PRELOAD library, path
in $FAULTSHIM) from the Python tests: environments that make chosen calls
fail, and pause points where a process stops until the test kills it or
lets it go.  See faultshim.c for the variables."""
import os
import select
import shutil
import time

FAULTSHIM = os.environ.get("FAULTSHIM", "build/tests/libfaultshim.so")


def fault_env(base=None, **faults):
    """A copy of base (default: os.environ) with the shim preloaded and
    FAULT_<KEY>=value for each keyword (op="fsync" -> FAULT_OP=fsync).
    ASan must not insist on being first in the library list: the shim is
    preloaded before it."""
    env = dict(os.environ if base is None else base)
    env["LD_PRELOAD"] = FAULTSHIM
    asan = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + \
        "verify_asan_link_order=0"
    for k, v in faults.items():
        env["FAULT_" + k.upper()] = str(v)
    return env


class Pause:
    """The two FIFOs of a pause point in a fresh folder d: wait() returns
    the pid of the process stopped there; resume() lets it go on."""

    def __init__(self, d):
        self.dir = d
        os.makedirs(d)
        os.mkfifo(os.path.join(d, "paused"))
        os.mkfifo(os.path.join(d, "go"))

    def wait(self, alive, timeout=300):
        """Blocks until the process reaches the pause point.  alive() is
        asked between waits: if the process ended first, this fails at
        once.  The timeout only ends a hang (a failure)."""
        fd = os.open(os.path.join(self.dir, "paused"),
                     os.O_RDONLY | os.O_NONBLOCK)
        buf = b""
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                r, _, _ = select.select([fd], [], [], 0.2)
                if r:
                    chunk = os.read(fd, 64)
                    buf += chunk
                    if buf.endswith(b"\n"):
                        return int(buf)
                elif not alive():
                    raise AssertionError("the process ended before the "
                                         "pause point")
            raise AssertionError("pause point not reached in %d s" % timeout)
        finally:
            os.close(fd)

    def remove(self):
        """Deletes the FIFOs (a later walk of the folder could block on
        them)."""
        shutil.rmtree(self.dir)

    def resume(self):
        fd = os.open(os.path.join(self.dir, "go"), os.O_WRONLY)
        os.close(fd)


def log_lines(path):
    """The calls the shim logged: a list of (op, n, arg, pid)."""
    if not os.path.exists(path):
        return []
    out = []
    for line in open(path):
        op, n, arg, pid = line.split()
        out.append((op, int(n), int(arg), int(pid)))
    return out
