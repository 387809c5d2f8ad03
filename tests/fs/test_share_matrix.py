#!/usr/bin/python3
"""fs suite, the whole sharing matrix with real users: an owner and another
user (both created here with useradd, removed whatever happens; the other
user is a member of the owner's group), the daemon run by root or by the
owner, mounts without allow_other, with allow_other and each -o share=,
and for each cell every gesture by the owner, the other user and root.
Each gesture undoes what it did, so every requester meets the same tree.
The expected answers are the table of docs/USER-GUIDE.md, "Who may do
what"; the test prints the matrix it saw.  A daemon run by the owner may
use allow_other only where /etc/fuse.conf says user_allow_other: that
cell is tried as it is (refused), then with the line added for the test
(under a lock, the file put back after)."""
import errno
import fcntl
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (PROBE_HEAD, Mount, curate, eq, make_jpegs,  # noqa: E402
                   real_users, run_suite)

OWNER = "cfs-mo-%d" % os.getpid()
OTHER = "cfs-mx-%d" % os.getpid()
FUSE_CONF = "/etc/fuse.conf"
FUSE_CONF_LOCK = "/run/lock/curatefs-test-fuse-conf.lock"

# Run as each requester: tries each gesture, undoing what worked, and
# prints {gesture: 0 or errno name}.
PROBE = PROBE_HEAD + r'''
m, x, y, z, link, pred, secret, run = sys.argv[1:9]
def quiet(fn, *a):
    try:
        fn(*a)
    except OSError:
        pass
t("stat mount", lambda: os.stat(m))
t("ls samples", lambda: os.listdir(m + "/samples"))
t("cat sample", lambda: rd(m + "/samples/" + x))
t("cat sample (link out)", lambda: rd(m + "/samples/" + link))
t("read labels", lambda: rd(m + "/labels/%s.json" % x[:-4]))
t("read config", lambda: rd(m + "/config"))
t("read status", lambda: rd(m + "/status"))
def write_labels():
    p = m + "/labels/%s.json" % x[:-4]
    try:
        doc = rd(p)
    except OSError:
        doc = b'{"fields": {}}'
    with open(p, "wb") as f:
        f.write(doc)
t("write labels", write_labels)
t("mv into tag", lambda: os.rename(m + "/samples/" + y,
                                   m + "/tags/keep/" + y))
quiet(os.unlink, m + "/tags/keep/" + y)
t("rm in tag", lambda: os.unlink(m + "/tags/keep/" + z))
quiet(os.rename, m + "/samples/" + z, m + "/tags/keep/" + z)
t("mkdir tag", lambda: os.mkdir(m + "/tags/probe"))
quiet(os.rmdir, m + "/tags/probe")
t("rmdir tag", lambda: os.rmdir(m + "/tags/empty"))
quiet(os.mkdir, m + "/tags/empty")
t("write config", lambda: wr(m + "/config", "unique.count = 100\n"))
t("config naming a root-only file",
  lambda: wr(m + "/config", "cvat.ca_bundle = %s\n" % secret))
quiet(wr, m + "/config", "cvat.ca_bundle = \n")
t("import-predictions", lambda: wr(m + "/eval/import-predictions",
                                   pred + "\n"))
t("import-predictions (root-only file)",
  lambda: wr(m + "/eval/import-predictions", secret + "\n"))
t("import-predictions (root-only coco_gt=)",
  lambda: wr(m + "/eval/import-predictions",
             "%s coco_gt=%s\n" % (pred.split()[0], secret)))
t("eval run", lambda: wr(m + "/eval/run", run + "\n"))
t("chmod", lambda: os.chmod(m + "/config", 0o666))
print(json.dumps(res))
'''

GESTURES = ["stat mount", "ls samples", "cat sample", "cat sample (link out)",
            "read labels", "read config", "read status", "write labels",
            "mv into tag", "rm in tag", "mkdir tag", "rmdir tag",
            "write config", "config naming a root-only file",
            "import-predictions", "import-predictions (root-only file)",
            "import-predictions (root-only coco_gt=)", "eval run", "chmod"]
READS = ["ls samples", "cat sample", "read labels", "read config",
         "read status"]


def expected(daemon, allow_other, share, who):
    """What a gesture returns in a cell: docs/USER-GUIDE.md, "Who may do
    what".  daemon: "root" or "owner"; who: "owner", "other", "root"."""
    mounter = "root" if daemon == "root" else "owner"
    if not allow_other and who != mounter:
        # The kernel lets only the mounting user in.
        return {g: "EACCES" for g in GESTURES}
    if who == "other":
        reads = share in ("group", "read")  # the other user is in the group
        res = {g: (0 if reads and g in READS else "EACCES")
               for g in GESTURES}
        res["stat mount"] = 0
        res["cat sample (link out)"] = "EACCES"
        # Not the owner of a file it can reach: the kernel says EPERM.
        res["chmod"] = "EPERM" if reads else "EACCES"
        return res
    # The owner, or root: may change everything.
    res = {g: 0 for g in GESTURES}
    res["cat sample (link out)"] = "EACCES"   # for root too
    # Modes are not stored: accepted and ignored, so cp -p works.
    # A file only root may read: opened with the requester's rights (and
    # never more than the daemon's own).
    root_reads = who == "root" and daemon == "root"
    res["config naming a root-only file"] = 0 if root_reads else "EINVAL"
    res["import-predictions (root-only file)"] = (
        "EINVAL" if root_reads else "EACCES")  # root: not predictions
    res["import-predictions (root-only coco_gt=)"] = (
        "EINVAL" if root_reads else "EACCES")  # root: not COCO
    return res


def run_probe(who, pw, mnt, args):
    kw = {}
    if pw:
        kw = dict(user=pw.pw_uid, group=pw.pw_gid,
                  extra_groups=os.getgrouplist(pw.pw_name, pw.pw_gid))
    p = subprocess.run(["/usr/bin/python3", "-c", PROBE, mnt] + args,
                       capture_output=True, text=True, timeout=300, **kw)
    if p.returncode != 0:
        raise AssertionError("probe as %s failed: %s" % (who, p.stderr))
    return json.loads(p.stdout)


class OwnerMount(Mount):
    """A mount whose daemon may run as another user: waits for the mount in
    /proc/self/mountinfo, since root may not stat a mount it was not let
    into."""

    def __init__(self, store, mnt, opts, pw):
        def demote():
            os.setgroups(os.getgrouplist(pw.pw_name, pw.pw_gid))
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
        env = dict(os.environ, HOME="/", USER=pw.pw_name) if pw else None
        super().__init__(store, mnt, opts, env=env,
                         preexec=demote if pw else None)

    def appeared(self):
        for line in open("/proc/self/mountinfo"):
            f = line.split()
            if f[4] == os.path.realpath(self.mnt):
                self.conn = int(f[2].split(":")[1])
                return True
        return False


class FuseConf:
    """For the time of a with block, under a lock (other runs of this test
    wait), both put back after: /etc/fuse.conf with or without
    user_allow_other, and /dev/fuse open to every user (mode 0666, as
    Debian makes it; a daemon that is not root opens it itself)."""

    def __init__(self, allow):
        self.allow = allow

    def __enter__(self):
        self.lock = open(FUSE_CONF_LOCK, "w")
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        self.old = None
        if os.path.exists(FUSE_CONF):
            self.old = open(FUSE_CONF).read()
        keep = [ln for ln in (self.old or "").splitlines()
                if ln.strip() != "user_allow_other"]
        with open(FUSE_CONF, "w") as f:
            f.write("\n".join(keep + (["user_allow_other"] if self.allow
                                       else [])) + "\n")
        self.dev_mode = os.stat("/dev/fuse").st_mode & 0o7777
        os.chmod("/dev/fuse", 0o666)
        return self

    def __exit__(self, *exc):
        os.chmod("/dev/fuse", self.dev_mode)
        if self.old is None:
            os.unlink(FUSE_CONF)
        else:
            with open(FUSE_CONF, "w") as f:
                f.write(self.old)
        fcntl.flock(self.lock, fcntl.LOCK_UN)
        self.lock.close()


def body(ck, w):
    # The other user is a member of the owner's group.
    with real_users(OWNER, OTHER, groups={OTHER: [OWNER]}) as (own, other):
        run_all(ck, w, own, other)


def give(path, pw):
    for dirpath, dirs, files in os.walk(path):
        os.chown(dirpath, pw.pw_uid, pw.pw_gid)
        for f in files:
            os.chown(os.path.join(dirpath, f), pw.pw_uid, pw.pw_gid,
                     follow_symlinks=False)


def run_all(ck, w, own, oth):
    os.chmod(w.path, 0o755)
    data = w.sub("data")
    make_jpegs(data, 6, extra=["-W", "64", "-H", "48"])
    names = sorted(os.listdir(data))
    imgs = [{"id": i + 1, "file_name": n, "width": 64, "height": 48}
            for i, n in enumerate(names)]
    gt = w.sub("gt.json")
    json.dump({"images": imgs, "categories": [{"id": 1, "name": "c"}],
               "annotations": [{"id": i + 1, "image_id": i + 1,
                                "category_id": 1, "bbox": [1, 1, 9, 9],
                                "area": 81, "iscrowd": 0}
                               for i in range(len(names))]}, open(gt, "w"))
    pred = w.sub("pred.json")
    json.dump([{"image_id": 1, "category_id": 1, "bbox": [1, 1, 9, 9],
                "score": 0.9}], open(pred, "w"))
    pred_cmd = "%s coco_gt=%s" % (pred, gt)
    secret = w.sub("root-only.json")
    with open(secret, "w") as f:
        f.write("secret-token-%d" % os.getpid())
    os.chmod(secret, 0o600)
    for p in (gt, pred):
        os.chmod(p, 0o644)
    store = w.sub("store")
    curate("import", "--store", store, "--coco", gt, data)
    # names[5]: a link out of the dataset, to a copy everyone may read.
    outside = w.sub("outside.jpg")
    shutil.copy(os.path.join(data, names[5]), outside)
    os.chmod(outside, 0o644)
    os.unlink(os.path.join(data, names[5]))
    os.symlink(outside, os.path.join(data, names[5]))
    give(data, own)
    os.chmod(data, 0o755)
    mnt_parent = w.sub("m")
    os.makedirs(mnt_parent, 0o755)
    mnt = os.path.join(mnt_parent, "mnt")
    os.makedirs(mnt, 0o755)
    os.chown(mnt, own.pw_uid, own.pw_gid)
    seen = []
    counter = [0]

    def cell(daemon, allow_other, share):
        give(store, own)  # a root daemon may have added files
        os.chmod(store, 0o700)
        opts = (["-o", "allow_other"] if allow_other else []) + \
            (["-o", "share=" + share] if share else [])
        m = OwnerMount(store, mnt, opts, own if daemon == "owner" else None)
        m.start()
        try:
            opts_seen = [ln.split() for ln in open("/proc/self/mountinfo")
                         if ln.split()[4] == os.path.realpath(mnt)][0]
            if "default_permissions" not in opts_seen[-1].split(","):
                raise AssertionError("no default_permissions: %s" %
                                     opts_seen[-1])
            if daemon == "root" and not os.path.isdir(
                    os.path.join(mnt, "tags", "keep")):
                # Tags stay in the store for the next cells.
                os.mkdir(os.path.join(mnt, "tags", "keep"))
                os.mkdir(os.path.join(mnt, "tags", "empty"))
                os.rename(os.path.join(mnt, "samples", names[2]),
                          os.path.join(mnt, "tags", "keep", names[2]))
            bad = []
            for who, pw in (("owner", own), ("other", oth), ("root", None)):
                counter[0] += 1
                res = run_probe(who, pw, mnt, [
                    names[0], names[1], names[2], names[5], pred_cmd, secret,
                    "r%d" % counter[0]])
                want = expected(daemon, allow_other, share, who)
                seen.append((daemon, allow_other, share, who, res))
                for g in GESTURES:
                    if res[g] != want[g]:
                        bad.append("%s %s: %r, expected %r" % (
                            who, g, res[g], want[g]))
            text = open(os.path.join(store, "curatefs.log"), "rb").read()
            if b"secret-token" in text:
                raise AssertionError("the root-only file leaked to the log")
            if bad:
                raise AssertionError("; ".join(bad))
        finally:
            m.umount()

    ck.run("daemon root, no allow_other", cell, "root", False, None)
    for share in (None, "group", "read"):
        ck.run("daemon root, allow_other, share=%s" % (share or "none"),
               cell, "root", True, share)

    def t_owner_allow_other_refused():
        m = OwnerMount(store, mnt, ["-o", "allow_other"], own)
        try:
            m.start()
        except RuntimeError as e:
            if "user_allow_other" not in str(e):
                raise AssertionError("refused for another reason: %s" % e)
        else:
            m.umount()
            raise AssertionError("a user's daemon mounted with allow_other")
        finally:
            m.cleanup()
    with FuseConf(False):
        ck.run("daemon owner, no allow_other", cell, "owner", False, None)
        ck.run("daemon owner, allow_other without user_allow_other in "
               "/etc/fuse.conf: the mount is refused",
               t_owner_allow_other_refused)
    with FuseConf(True):
        for share in (None, "group", "read"):
            ck.run("daemon owner, allow_other, share=%s" % (share or "none"),
                   cell, "owner", True, share)
    def linked_out(f, refused):
        # The owner controls the store directory: one of its files
        # replaced by a link to a file only root may write.  A root daemon
        # opens the store's files with the owner's rights, so it neither
        # writes nor chmods that file.
        v = w.sub("victim-" + f)
        with open(v, "w") as fh:
            fh.write("root's own file\n")
        os.chmod(v, 0o644)
        give(store, own)
        p = os.path.join(store, f)
        saved = p + ".saved"
        os.rename(p, saved)
        os.symlink(v, p)
        try:
            m = OwnerMount(store, mnt, ["-o", "allow_other"], None)
            try:
                m.start()
                if refused:
                    raise AssertionError("mounted")
                read_ok = os.listdir(os.path.join(mnt, "samples"))
                m.umount()
                if not read_ok:
                    raise AssertionError("no samples")
            except RuntimeError as e:
                if not refused or "Permission denied" not in str(e):
                    raise
            finally:
                m.cleanup()
            eq(open(v).read(), "root's own file\n", "the link's target")
            eq(oct(os.stat(v).st_mode & 0o777), "0o644", "its mode")
        finally:
            os.unlink(p)
            os.rename(saved, p)
    ck.run("daemon root, the store's log a link to root's file: the mount "
           "works, the file is neither written nor chmodded", linked_out,
           "curatefs.log", False)
    ck.run("daemon root, the store's lock.mdb a link to root's file: the "
           "mount is refused (Permission denied), the file untouched",
           linked_out, "lock.mdb", True)

    def t_old_root_log():
        # A log an older root daemon created (root's, 0600) is given to
        # the owner and written on.
        give(store, own)
        log = os.path.join(store, "curatefs.log")
        os.chown(log, 0, 0)
        os.chmod(log, 0o600)
        size = os.path.getsize(log)
        m = OwnerMount(store, mnt, ["-o", "allow_other"], None).start()
        m.umount()
        st = os.stat(log)
        eq((st.st_uid, oct(st.st_mode & 0o777)), (own.pw_uid, "0o600"),
           "owner and mode of the log")
        if os.path.getsize(log) <= size:
            raise AssertionError("nothing logged")
    ck.run("daemon root, a log left by root in the owner's store: given to "
           "the owner and written", t_old_root_log)
    for daemon, ao, share, who, res in seen:
        print("# %s daemon, %s, share=%s, %s: %s" % (
            daemon, "allow_other" if ao else "no allow_other",
            share or "none", who, json.dumps(res)))


def main():
    run_suite("curatefs-share-matrix-", body)


if __name__ == "__main__":
    main()
