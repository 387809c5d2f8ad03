#!/usr/bin/python3
"""fs suite, unmount during a near-duplicate grouping: the daemon exits
within a bound instead of finishing it.

2,500 pictures of noise (64 x 48, each its own), imported with their
features and thumbnails; with neardup.threshold at 0.6 every picture has
hundreds of candidates within it, so views/near-duplicates, which the
warm thread computes ahead, spends seconds in the thumbnail checks and
the grouping (every check fails), after a k-NN of milliseconds.  Once
`status` shows it computing for a second, the mount is unmounted: the
daemon must exit within 2 s (0.1 to 0.5 s; it went on with the checks
and the grouping to their end before, 4 to 5 s more here)."""
import os
import re
import subprocess
import sys
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import CURATE, Mount, run_suite, write  # noqa: E402

N = 2500
BOUND_S = 2


def body(ck, w):
    data, store = w.sub("data"), w.sub("store")
    os.makedirs(data)
    rng = np.random.default_rng(11)
    for i in range(N):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)) \
            .save(os.path.join(data, "n%05d.jpg" % i), quality=90)
    subprocess.run([CURATE, "import", "--store", store, data], check=True,
                   stdout=subprocess.DEVNULL)
    mnt = w.sub("mnt")
    m = Mount(store, mnt).start()
    status = os.path.join(mnt, "status")
    busy = re.compile(r"^\s*near-duplicates\s+computing", re.M)
    done = re.compile(r"^\s*near-duplicates\s+\d+ samples", re.M)

    def t_stop():
        end = time.time() + 120
        # The first grouping (default threshold) is quick; the setting
        # starts the long one.
        while not done.search(open(status).read()):
            if time.time() > end:
                raise AssertionError("views/near-duplicates not computed")
            time.sleep(0.05)
        write(os.path.join(mnt, "config"), "neardup.threshold = 0.6\n")
        while not busy.search(open(status).read()):
            if time.time() > end:
                raise AssertionError("views/near-duplicates was not "
                                     "computed again ahead")
            time.sleep(0.02)
        time.sleep(1.0)  # past the k-NN, inside the checks
        if not busy.search(open(status).read()):
            raise AssertionError("the grouping ended within a second: the "
                                 "test proves nothing")
        t0 = time.monotonic()
        m.umount()
        took = time.monotonic() - t0
        print("# unmount during the near-duplicate grouping took %.2f s"
              % took)
        if took > BOUND_S:
            raise AssertionError("unmount waited %.1f s for the grouping"
                                 % took)
    ck.run("unmount stops a near-duplicate grouping inside its checks",
           t_stop)


run_suite("curatefs-viewsstop-", body)
