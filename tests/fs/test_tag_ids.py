#!/usr/bin/python3
"""fs suite, the tag id space (user guide §5): tag ids are never reused, so
once 65,535 tags have been created over the store's life, mkdir gives
ENOSPC even when most of them were deleted; the refusal changes nothing,
existing tags keep working, and the limit holds across a remount.  The
mount uses -o store_nosync (no fsync per commit) to keep 131,000 commits
fast; what it checks does not depend on syncing."""
import errno
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import Mount, curate, eq, expect_errno, make_jpegs  # noqa: E402
from fslib import run_suite  # noqa: E402

MAX_TAGS = 65535
KEEP = 300


def body(ck, w):
    data = w.sub("data")
    make_jpegs(data, 2, extra=["-W", "32", "-H", "24"])
    names = sorted(os.listdir(data))
    store = w.sub("store")
    curate("import", "--store", store, data)
    mnt = w.sub("mnt")
    m = Mount(store, mnt, ["-o", "store_nosync"]).start()
    T = os.path.join(mnt, "tags")

    def t_limit():
        for i in range(MAX_TAGS - KEEP):
            p = os.path.join(T, "gone%05d" % i)
            os.mkdir(p)
            os.rmdir(p)
        for i in range(KEEP):
            os.mkdir(os.path.join(T, "kept%03d" % i))
        eq(len(os.listdir(T)), KEEP, "tags that exist")
        expect_errno(errno.ENOSPC, os.mkdir, os.path.join(T, "one-more"))
        eq(len(os.listdir(T)), KEEP, "tags after the refusal")
        if "one-more" in os.listdir(T):
            raise AssertionError("the refused tag exists")
        os.rename(os.path.join(mnt, "samples", names[0]),
                  os.path.join(T, "kept000", names[0]))
        eq(os.listdir(os.path.join(T, "kept000")), [names[0]],
           "an existing tag still takes members")
        # Deleting a tag frees no id.
        os.rmdir(os.path.join(T, "kept299"))
        expect_errno(errno.ENOSPC, os.mkdir, os.path.join(T, "kept299"))
    ck.run("ENOSPC once 65,535 tags were created over the store's life",
           t_limit)

    def t_after_remount():
        m.umount()
        m.start()
        expect_errno(errno.ENOSPC, os.mkdir, os.path.join(T, "again"))
        eq(len(os.listdir(T)), KEEP - 1, "tags after remount")
        m.umount()
    ck.run("the limit holds after a remount", t_after_remount)


if __name__ == "__main__":
    run_suite("curatefs-tagids-", body)
