#!/usr/bin/python3
"""fs suite, the kernel's pages of generated files (ImageNet crops and
drawn views/dupes images), looked at directly with util-linux `fincore`
(mmap + mincore) and the daemon's -d log:

- after a read and close, every page of each file is still resident, and
  the next pass is served from them (no READ; warm_pass locks the pages
  for the pass);
- a label change to one photo leaves every other photo's crops and drawn
  image with the same inode, their pages resident and no READ (the
  photo's own unchanged crops keep their bytes and inode); the pages are
  locked (mlock) for that pass once seen resident, so that the kernel's
  reclaim on a loaded machine cannot pass for an invalidation;
- the changed photo's crop and drawn image get a new inode at their next
  open, read from the daemon (READ) with the new content (the old
  inode, no longer reachable, leaves with its pages when the kernel
  forgets it);
- a reader that read part of a crop or drawn image before the change
  reads the rest of the old version after it, even with its pages
  dropped (POSIX_FADV_DONTNEED): the old size to EOF, the old bytes
  whole; a fresh open meanwhile gets the new version;
- after another photo's change settles, its new crop and drawn image
  are made before anyone opens them (no generation at the first open);
- the same pages kept on a -o readonly mount;
- with -o cache_size=1M the content cache spills to an unlinked file of
  the store directory (status shows disk bytes, the daemon holds it open)
  and stays within its bound;
- without the option, on a store whose filesystem has 1 GiB (a tmpfs),
  the disk bound is an eighth of its free space (on larger disks it is
  capped at 8 GiB, so this is where the fraction shows);
- -o cache_size=2G sets the total (a quarter at most in memory), and a
  size under 1M, negative, past 2^64 or not a size is refused with exit
  status 2, one line, and no mount."""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (CURATEFS, FUSE_REQ, Mount, cache_status, coco_store,  # noqa
                   edit_boxes, eq, jpeg_size, jpegs_under, log_settled, read,
                   run_suite, warm_pass, write_coco_boxes)

W, H = 320, 240
N = 12
PAGE = os.sysconf("SC_PAGE_SIZE")


def boxes(i):
    """Three boxes a photo; even photos get a near copy of their cat box,
    so they are in views/dupes."""
    b = [("cat", [10, 20, 60 + i, 50]), ("dog", [100, 30, 70, 60 + i]),
         ("cat", [200, 120, 90, 80])]
    if i % 2 == 0:
        b.append(("cat", [11, 20, 60 + i, 50]))
    return b




def whole_jpeg(b, what):
    if b[:2] != b"\xff\xd8" or b[-2:] != b"\xff\xd9":
        raise AssertionError("%s: not a whole JPEG (%d bytes)" % (what,
                                                                  len(b)))


def resident(paths):
    """{path: (resident pages, pages of the file)} from `fincore`, which
    opens each file, maps it and asks mincore(2)."""
    out = subprocess.run(["fincore", "--noheadings", "--raw", "--bytes",
                          "--output", "PAGES,SIZE,FILE"] + list(paths), check=True,
                         capture_output=True, text=True).stdout
    got = {}
    for line in out.splitlines():
        pages, size, name = line.split(" ", 2)
        got[name] = (int(pages), (int(size) + PAGE - 1) // PAGE)
    eq(sorted(got), sorted(paths), "files fincore reported")
    return got


def expect_resident(paths, what):
    missing = {p: v for p, v in resident(paths).items() if v[0] != v[1]}
    if missing:
        raise AssertionError("%s: pages not resident (resident, total): %r"
                             % (what, dict(list(missing.items())[:5])))


def requests_by_node(m, since):
    """[(opcode, nodeid)] the daemon logged after offset since."""
    return [(op, int(n)) for op, n in FUSE_REQ.findall(m.logtext()[since:])]






def settle(mnt):
    """Waits until the content cache stops changing (the warm thread has
    prepared what it prepares after a change)."""
    last, still = None, 0
    end = time.time() + 120
    while time.time() < end and still < 5:
        now = cache_status(mnt)
        still = still + 1 if now == last else 0
        last = now
        time.sleep(0.3)


def body(ck, w):
    def coco(path, names):
        write_coco_boxes(path, names, W, H, boxes)
    data, names, store = coco_store(w, N, W, H, coco)
    mnt = w.sub("mnt")
    m = Mount(store, mnt, ["-d"]).start()
    crops_dir = os.path.join(mnt, "export", "imagenet")
    dupes_dir = os.path.join(mnt, "views", "dupes")
    stem0 = names[0][:-4]

    def files():
        return jpegs_under(crops_dir) + sorted(
            os.path.join(dupes_dir, f) for f in os.listdir(dupes_dir))

    settle(mnt)
    all_files = files()
    eq(len(all_files), N * 3 + N // 2 * 2, "crops and drawn images listed")

    def t_kept_across_opens():
        for p in all_files:
            read(p)
        expect_resident(all_files, "after one read and close")
        # warm_pass locks the pages for the counted pass: a loaded
        # machine's reclaim cannot then pass for a dropped cache (CI once
        # saw one READ here under ASan with the suites running in
        # parallel), while an invalidation by the file system still
        # shows as a READ, and so does a page dropped since the check.
        c = warm_pass(m, all_files, warmups=0)
        if c.get("READ"):
            raise AssertionError("a pass after close sent %d READ: %r" %
                                 (c["READ"], dict(c)))
        expect_resident(all_files, "after a second pass")
    ck.run("a generated file's pages stay resident after close and serve "
           "the next open", t_kept_across_opens)

    # What the move below changes: the crops of the cat box and its copy
    # (box ids 1 and 4) and the drawn image; the photo's other crops stay.
    changed = [p for p in all_files
               if os.path.basename(p) in ("%s_1.jpg" % stem0,
                                          "%s_4.jpg" % stem0, names[0])]
    eq(len(changed), 3, "files the change reaches")
    # The photo's other crops keep their bytes and their inode (a crop's
    # version is its own box's: fs-crop-versions), and so does every other
    # photo's file.
    same0 = [p for p in all_files if p not in changed and
             os.path.basename(p).startswith(stem0)]
    others = [p for p in all_files if not
              os.path.basename(p).startswith(stem0)]
    eq(len(same0), 2, "the photo's unchanged crops")
    before0 = {p: read(p) for p in same0}
    ino = {p: os.stat(p).st_ino for p in all_files}
    old = {p: read(p) for p in changed}

    def move(boxes_):
        for b in boxes_:
            if b["bbox"][:2] in ([10, 20], [11, 20]):
                b["bbox"] = [b["bbox"][0] + 30, 60, 80, 70]

    # Readers that read the first half of the changed photo's files.
    held = {}
    for p in changed:
        f = open(p, "rb", buffering=0)
        held[p] = (f, f.read(len(old[p]) // 2))
    try:
        edit_boxes(mnt, stem0, move)

        def t_others_kept():
            for p in others:
                eq(os.stat(p).st_ino, ino[p], "inode of unchanged " + p)
            expect_resident(others, "unchanged files after the change")
            # Locked from here on (warm_pass): the kernel's reclaim,
            # which a loaded machine may do at any time, cannot drop
            # them, while an invalidation by the file system (new
            # attributes, an open without keep_cache) still does, and
            # shows as a READ.
            c = warm_pass(m, others, warmups=0)
            if c.get("READ"):
                raise AssertionError("unchanged files sent %d READ: %r" %
                                     (c["READ"], dict(c)))
        ck.run("a label change leaves the pages of every other photo's "
               "generated files", t_others_kept)

        def t_changed_new_inode():
            s0 = log_settled(m)
            for p in changed:
                new = read(p)
                if new == old[p]:
                    raise AssertionError(p + ": the next open shows the "
                                         "old version")
                whole_jpeg(new, p)
                if os.stat(p).st_ino == ino[p]:
                    raise AssertionError(p + ": same inode after the "
                                         "change")
            moved = [p for p in changed if p.startswith(crops_dir) and
                     jpeg_size(old[p]) == (60, 50)]
            eq(len(moved), 2, "the moved cat crops (a box and its copy)")
            for p in moved:
                eq(jpeg_size(read(p)), (80, 70), p + ": new crop size")
            reads = {n for op, n in requests_by_node(m, s0) if op == "READ"}
            for p in changed:
                if os.stat(p).st_ino not in reads:
                    raise AssertionError(p + ": the new version was not "
                                         "read from the daemon")
        def t_same_bytes():
            for p in same0:
                eq(read(p), before0[p], p + ": unchanged box, its bytes")
                eq(os.stat(p).st_ino, ino[p], p + ": unchanged box, its "
                   "inode")
        ck.run("the photo's unchanged boxes keep their crops' bytes",
               t_same_bytes)

        ck.run("the changed photo's files: a new inode at the next open, "
               "read from the daemon with the new content",
               t_changed_new_inode)

        def t_held_readers():
            for p, (f, head) in held.items():
                eq(os.fstat(f.fileno()).st_size, len(old[p]),
                   p + ": size seen by the reader")
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                rest = b""
                while True:
                    b = f.read(1000)
                    if not b:
                        break
                    rest += b
                eq(head + rest, old[p], p + ": the held reader's bytes")
                eq(os.pread(f.fileno(), 1 << 20, 0), old[p],
                   p + ": held reader from the start")
        ck.run("a reader holding a file across the change reads the old "
               "version to EOF, pages dropped", t_held_readers)
    finally:
        for f, _ in held.values():
            f.close()

    def t_ahead_after_change():
        # Another photo's box moved: once the store is still, the crop
        # and the drawn image are made before anyone opens them.
        stem1 = names[2][:-4]
        bid = sum(len(boxes(j)) for j in range(2)) + 1  # its first box
        crop = os.path.join(crops_dir, "cat", "%s_%d.jpg" % (stem1, bid))
        before = read(crop)
        edit_boxes(mnt, stem1, move)
        time.sleep(1.5)   # the warm thread waits for a second of quiet
        settle(mnt)
        m0 = cache_status(mnt)["misses"]
        new = read(crop)
        read(os.path.join(dupes_dir, names[2]))
        if new == before:
            raise AssertionError("the crop did not change")
        eq(cache_status(mnt)["misses"], m0, "generations at the first open after the "
           "change settled")
    ck.run("after a change settles, its crops and drawn image are made "
           "ahead", t_ahead_after_change)

    m.umount()

    m = Mount(store, mnt, ["-o", "readonly"]).start()

    def t_readonly_kept():
        fs_ = files()
        for p in fs_:
            read(p)
        expect_resident(fs_, "read-only mount, after one read and close")
    ck.run("read-only: pages stay resident after close", t_readonly_kept)
    m.umount()

    m = Mount(store, mnt, ["-o", "cache_size=1M"]).start()
    write_cfg = os.path.join(mnt, "config")
    with open(write_cfg, "w") as f:
        f.write("export.prewarm = false\n")

    def t_spill():
        real = os.path.realpath(store)
        for p in files():
            read(p)
        # More than the memory tier's 256 KiB: the plots too, which
        # share the cache (made once: their second pass makes nothing).
        m0 = cache_status(mnt)["misses"]   # (the listing's sizes make them)
        plots = [os.path.join(d, f) for d, _, fs_ in
                 os.walk(os.path.join(mnt, "plots")) for f in fs_]
        if len(plots) < 3:
            raise AssertionError("plots: %r" % plots)
        for p in plots:
            read(p)
        m1 = cache_status(mnt)["misses"]
        if m1 - m0 < len(plots):
            raise AssertionError("%d generations counted for %d plots" %
                                 (m1 - m0, len(plots)))
        for p in plots:
            read(p)
        eq(cache_status(mnt)["misses"], m1, "generations for the plots read again")
        nfiles, mem, mem_max, disk, disk_max = (
            cache_status(mnt)[k] for k in ("files", "mem", "mem_max", "disk",
                                           "disk_max"))
        eq(mem_max + disk_max, 1 << 20, "bound of -o cache_size=1M")
        if disk == 0:
            raise AssertionError("nothing on disk with %d files, %d bytes "
                                 "in memory" % (nfiles, mem))
        if mem > mem_max or disk > disk_max:
            raise AssertionError("over the bound: %r" %
                                 cache_status(mnt))
        fd_dir = "/proc/%d/fd" % m.proc.pid
        spills = []
        for fd in os.listdir(fd_dir):
            try:
                t = os.readlink(os.path.join(fd_dir, fd))
            except FileNotFoundError:
                continue
            if t.startswith(real + os.sep) and t.endswith("(deleted)"):
                spills.append(t)
        if not spills:
            raise AssertionError("the daemon holds no unlinked file in "
                                 "the store directory")
    ck.run("the content cache, shared by plots, spills to an unlinked "
           "file of the store directory, within its bound", t_spill)
    m.umount()

    def t_option():
        m2 = Mount(store, mnt, ["-o", "cache_size=2G"]).start()
        st = cache_status(mnt)
        eq(st["mem_max"] + st["disk_max"], 2 << 30,
           "memory + disk bound of cache_size=2G")
        if st["mem_max"] > (2 << 30) // 4 or st["mem_max"] > 4 << 20:
            raise AssertionError("memory bound %d" % st["mem_max"])
        m2.umount()
        for bad in ("512K", "1023K", "-1", "0", "abc", "1T", "2MB",
                    "99999999999999999999G", ""):
            p = subprocess.Popen([CURATEFS, "-f", store, mnt, "-o",
                                  "cache_size=" + bad],
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
            try:
                err = p.communicate(timeout=20)[1]
            except subprocess.TimeoutExpired:
                # It mounted: take the mount down before failing.
                subprocess.run(["fusermount3", "-uz", mnt])
                p.kill()
                p.communicate()
                raise AssertionError("cache_size=%s: mounted" % bad)
            eq(p.returncode, 2, "exit status for cache_size=" + bad)
            if "cache_size" not in err or \
                    len(err.strip().splitlines()) != 1:
                raise AssertionError("cache_size=%s: %r" % (bad, err))
            if os.path.ismount(mnt):
                raise AssertionError("mounted with cache_size=" + bad)
    ck.run("-o cache_size sets the total; bad sizes are refused",
           t_option)

    small = w.sub("small")
    os.makedirs(small)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1G", "tmpfs",
                    small], check=True)
    try:
        sstore = os.path.join(small, "store")
        shutil.copytree(store, sstore)
        m = Mount(sstore, mnt).start()

        def t_disk_default():
            sv = os.statvfs(sstore)
            want = sv.f_bavail * sv.f_frsize // 8
            got = cache_status(mnt)["disk_max"]
            if abs(got - want) > want // 50:
                raise AssertionError("disk bound %d on a 1 GiB store "
                                     "filesystem, an eighth of its free "
                                     "space is %d" % (got, want))
        ck.run("the default disk bound: an eighth of the store "
               "filesystem's free space", t_disk_default)
        m.umount()
    finally:
        subprocess.run(["umount", "-l", small])


run_suite("curatefs-genpages-", body)
