#!/usr/bin/python3
"""fs suite, shared mounts: a real second user (created here with useradd,
removed with userdel whatever happens) tries every gesture on mounts with
and without allow_other and with each -o share= setting; a store owned by
that user, mounted by root, carries out the user's control-file commands
with the user's rights only; a symbolic link in the dataset folder that
leads out of it is never served."""
import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (PROBE_HEAD, Mount, curate, eq, expect_errno,  # noqa
                   make_jpegs, read, real_users, run_suite, write)

USER = "cfs-test-%d" % os.getpid()

# Run as the second user: tries each gesture, prints {name: errno or 0}.
PROBE = PROBE_HEAD + r'''
m, stems, pred, other = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
x = stems[0]
t("stat root", lambda: os.stat(m))
t("list samples", lambda: os.listdir(m + "/samples"))
t("read sample", lambda: rd(m + "/samples/%s.jpg" % x))
t("read labels", lambda: rd(m + "/labels/%s.json" % x))
t("read config", lambda: rd(m + "/config"))
t("read status", lambda: rd(m + "/status"))
t("write labels", lambda: wr(m + "/labels/%s.json" % x, '{"fields": {}}'))
def trunc():
    fd = os.open(m + "/labels/%s.json" % x, os.O_WRONLY)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, b'{"fields": {}}')
    finally:
        os.close(fd)
t("truncate labels", trunc)
t("write config", lambda: wr(m + "/config", "unique.count = 7\n"))
t("mkdir tag", lambda: os.mkdir(m + "/tags/intruder"))
t("rmdir tag", lambda: os.rmdir(m + "/tags/keep"))
t("mv tag", lambda: os.rename(m + "/tags/keep", m + "/tags/moved"))
t("mv into tag", lambda: os.rename(m + "/samples/%s.jpg" % stems[1],
                                   m + "/tags/keep/%s.jpg" % stems[1]))
t("rm in tag", lambda: os.unlink(m + "/tags/keep/%s.jpg" % x))
t("eval run", lambda: wr(m + "/eval/run", "intruder\n"))
t("import predictions", lambda: wr(m + "/eval/import-predictions",
                                   pred + "\n"))
t("import predictions (root-only file)",
  lambda: wr(m + "/eval/import-predictions", other + "\n"))
t("config naming a root-only file",
  lambda: wr(m + "/config", "cvat.ca_bundle = %s\n" % other))
t("cvat push", lambda: wr(m + "/cvat/push", "samples\n"))
t("cvat pull", lambda: wr(m + "/cvat/pull", "run1\n"))
t("chmod", lambda: os.chmod(m + "/labels/%s.json" % x, 0o666))
t("create", lambda: wr(m + "/samples/new.jpg", "x"))
print(json.dumps(res))
'''

READS = ["list samples", "read sample", "read labels",
         "read config", "read status"]
CHANGES = ["write labels", "truncate labels", "write config", "mkdir tag",
           "rmdir tag", "mv tag", "mv into tag", "rm in tag", "eval run",
           "import predictions", "import predictions (root-only file)",
           "config naming a root-only file", "cvat push", "cvat pull",
           "create"]


def probe(pw, mnt, stems, pred, other):
    p = subprocess.run(["/usr/bin/python3", "-c", PROBE, mnt, json.dumps(stems),
                        pred, other],
                       user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("probe failed: %s" % p.stderr)
    return json.loads(p.stdout)


def expect(res, names, want, what):
    bad = {n: res[n] for n in names if res[n] != want}
    if bad:
        raise AssertionError("%s: expected %s, got %r" % (what, want, bad))


def body(ck, w):
    with real_users(USER) as (pw,):
        run_all(ck, w, pw)


def run_all(ck, w, pw):
    # The second user must reach the mount points and the files it names.
    os.chmod(w.path, 0o755)
    data = w.sub("data")
    make_jpegs(data, 6, extra=["-W", "64", "-H", "48"])
    names = sorted(os.listdir(data))
    stems = [n[:-4] for n in names]
    imgs = [{"id": i + 1, "file_name": n, "width": 64, "height": 48}
            for i, n in enumerate(names)]
    gt = w.sub("gt.json")
    json.dump({"images": imgs, "categories": [{"id": 1, "name": "c"}],
               "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                                "bbox": [1, 1, 9, 9], "area": 81,
                                "iscrowd": 0}]}, open(gt, "w"))
    preds = [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 9, 9],
              "score": 0.9}]
    pred = w.sub("pred.json")
    pred_cmd = "%s coco_gt=%s" % (pred, gt)
    json.dump({"images": imgs, "categories": [{"id": 1, "name": "c"}],
               "annotations": []}, open(gt, "w"))
    json.dump(preds, open(pred, "w"))
    # A predictions file only root may read, whose first token is a secret.
    secret = w.sub("root-only.json")
    write(secret, "secret-token-%d" % os.getpid())
    os.chmod(secret, 0o600)
    for p in (data, gt, pred) + tuple(os.path.join(data, n) for n in names):
        os.chmod(p, 0o755 if os.path.isdir(p) else 0o644)

    store = w.sub("store")
    curate("import", "--store", store, "--coco", gt, data)
    mnt = w.sub("mnt")
    os.makedirs(mnt)
    os.chmod(mnt, 0o755)

    def prepare(m):
        if not os.path.isdir(os.path.join(m, "tags", "keep")):
            os.mkdir(os.path.join(m, "tags", "keep"))
            os.rename(os.path.join(m, "samples", names[0]),
                      os.path.join(m, "tags", "keep", names[0]))

    def unchanged(m, before):
        eq(sorted(os.listdir(os.path.join(m, "tags"))), ["keep"], "tags")
        eq(sorted(os.listdir(os.path.join(m, "tags", "keep"))), [names[0]],
           "tags/keep")
        eq(read(os.path.join(m, "labels", stems[0] + ".json")), before,
           "labels")
        if "unique.count = 7" in read(os.path.join(m, "config")).decode():
            raise AssertionError("config changed")
        eq(sorted(os.listdir(os.path.join(m, "eval"))),
           ["import-predictions", "run"], "eval/")

    def t_no_allow_other():
        m = Mount(store, mnt).start()
        try:
            prepare(m.mnt)
            before = read(os.path.join(mnt, "labels", stems[0] + ".json"))
            res = probe(pw, mnt, stems, pred_cmd, secret)
            expect(res, ["stat root"] + READS + CHANGES, "EACCES",
                   "without allow_other")
            unchanged(mnt, before)
        finally:
            m.umount()
    ck.run("without allow_other: the other user can do nothing",
           t_no_allow_other)

    def t_share(share, reads):
        opts = ["-o", "allow_other"] + (["-o", "share=" + share]
                                        if share else [])
        m = Mount(store, mnt, opts).start()
        try:
            prepare(mnt)
            before = read(os.path.join(mnt, "labels", stems[0] + ".json"))
            st = os.stat(os.path.join(mnt, "labels", stems[0] + ".json"))
            eq((st.st_uid, st.st_gid), (0, 0), "owner shown")
            keep = {"none": 0o700, "group": 0o750, "read": 0o755}[share or
                                                                   "none"]
            for rel, mode in (("labels/%s.json" % stems[0], 0o644),
                              ("samples/%s" % names[1], 0o444),
                              ("config", 0o644), ("status", 0o444),
                              ("tags", 0o755), ("eval/run", 0o644)):
                got = stat.S_IMODE(os.stat(os.path.join(mnt, rel)).st_mode)
                eq(oct(got), oct(mode & keep), "mode of " + rel)
            res = probe(pw, mnt, stems, pred_cmd, secret)
            expect(res, READS, 0 if reads else "EACCES",
                   "reads with share=%s" % share)
            expect(res, CHANGES, "EACCES", "changes with share=%s" % share)
            eq(res["stat root"], 0, "stat of the mount point")
            if res["chmod"] not in ("EPERM", "EACCES"):
                raise AssertionError("chmod by another user: %r" %
                                     res["chmod"])
            unchanged(mnt, before)
        finally:
            m.umount()
    ck.run("allow_other, no share option: other users are kept out",
           t_share, None, False)
    ck.run("allow_other, share=group: not in the group, kept out",
           t_share, "group", False)
    ck.run("allow_other, share=read: others read, change nothing",
           t_share, "read", True)

    def t_group_member():
        # The store's group is the user's: share=group lets it read.
        os.chown(store, 0, pw.pw_gid)
        try:
            m = Mount(store, mnt, ["-o", "allow_other", "-o", "share=group"])
            m.start()
            try:
                before = read(os.path.join(mnt, "labels", stems[0] + ".json"))
                st = os.stat(os.path.join(mnt, "config"))
                eq((st.st_gid, oct(stat.S_IMODE(st.st_mode))),
                   (pw.pw_gid, "0o640"), "group and mode shown")
                res = probe(pw, mnt, stems, pred_cmd, secret)
                expect(res, READS, 0, "reads by a member of the group")
                expect(res, CHANGES, "EACCES", "changes by the group")
                unchanged(mnt, before)
            finally:
                m.umount()
        finally:
            os.chown(store, 0, 0)
    ck.run("allow_other, share=group: a member of the store's group reads, "
           "changes nothing", t_group_member)

    def t_owner_is_the_user():
        # The same store owned by the second user, mounted by root: the
        # user is the owner, and what the user names is opened as the user.
        for dirpath, dirs, files in os.walk(store):
            for f in files + [""]:
                os.chown(os.path.join(dirpath, f), pw.pw_uid, pw.pw_gid)
        m = Mount(store, mnt, ["-o", "allow_other"]).start()
        try:
            st = os.stat(os.path.join(mnt, "config"))
            eq((st.st_uid, st.st_gid), (pw.pw_uid, pw.pw_gid), "owner shown")
            res = probe(pw, mnt, stems, pred_cmd, secret)
            expect(res, READS + ["write labels", "truncate labels",
                                 "write config", "mkdir tag", "mv tag",
                                 "import predictions"], 0, "owner")
            eq(res["rmdir tag"], "ENOTEMPTY", "rmdir of a tag with members")
            eq(res["import predictions (root-only file)"], "EACCES",
               "a root-only file named by the owner")
            eq(res["create"], "EPERM", "create")
            eq(res["config naming a root-only file"], "EINVAL",
               "cvat.ca_bundle naming a file the owner may not read")
            if "ca_bundle = /" in read(os.path.join(mnt, "config")).decode():
                raise AssertionError("cvat.ca_bundle was set")
            text = read(os.path.join(mnt, "status")).decode() + \
                read(os.path.join(store, "curatefs.log")).decode()
            if "secret-token" in text:
                raise AssertionError("the root-only file's content leaked")
            if "root-only.json: Permission denied" not in text:
                raise AssertionError("no reason given:\n" + text)
            # Root names the same file: root may read it (and it is not a
            # predictions file).
            expect_errno(errno.EINVAL, write,
                         os.path.join(mnt, "eval", "import-predictions"),
                         secret + "\n")
        finally:
            m.umount()
    ck.run("owner = the second user, daemon = root: paths named in control "
           "files are opened with the user's rights", t_owner_is_the_user)

    def t_symlink_out_of_the_dataset():
        # A file of the dataset replaced by a link to a root-only image.
        outside = w.sub("outside")
        os.mkdir(outside, 0o700)
        shutil.copy(os.path.join(data, names[2]), os.path.join(outside,
                                                               "x.jpg"))
        src = os.path.join(data, names[2])
        orig = read(src)
        os.unlink(src)
        os.symlink(os.path.join(outside, "x.jpg"), src)
        m = Mount(store, mnt, ["-o", "allow_other", "-o", "share=read"])
        m.start()
        try:
            p = os.path.join(mnt, "samples", names[2])
            expect_errno(errno.EACCES, read, p)  # root too
            res = probe(pw, mnt, [stems[2]] + stems, pred_cmd, secret)
            eq(res["read sample"], "EACCES", "the user")
            if "leads out of the dataset folder" not in \
                    read(os.path.join(mnt, "status")).decode():
                raise AssertionError("status gives no reason")
            # A link that stays inside the dataset is served, when it
            # leads to the bytes imported (another sample's file is a
            # change since the import: ESTALE, USER-GUIDE §15).
            os.unlink(src)
            os.symlink(names[3], src)
            expect_errno(errno.ESTALE, read, p)
            with open(os.path.join(data, "same-bytes.jpg.keep"), "wb") as f:
                f.write(orig)
            os.unlink(src)
            os.symlink("same-bytes.jpg.keep", src)
            eq(read(p), orig, "inner link")
        finally:
            m.umount()
    ck.run("a symbolic link leading out of the dataset is refused",
           t_symlink_out_of_the_dataset)

    def t_hard_link_to_a_root_only_file():
        # The store and the dataset belong to the second user; the daemon
        # runs as root.  A dataset file replaced by a hard link to a
        # root-only file (which protected_hardlinks=0 would let the user
        # make) is refused; a hard link to the user's own image is served.
        secret_img = w.sub("root-only.jpg")
        shutil.copy(os.path.join(data, names[4]), secret_img)
        os.chmod(secret_img, 0o600)
        for dirpath, dirs, files in os.walk(store):
            for f in files + [""]:
                os.chown(os.path.join(dirpath, f), pw.pw_uid, pw.pw_gid)
        for f in os.listdir(data):
            os.chown(os.path.join(data, f), pw.pw_uid, pw.pw_gid,
                     follow_symlinks=False)
        src = os.path.join(data, names[5])
        orig = read(src)
        os.unlink(src)
        os.link(secret_img, src)
        m = Mount(store, mnt, ["-o", "allow_other"]).start()
        try:
            p = os.path.join(mnt, "samples", names[5])
            expect_errno(errno.EACCES, read, p)
            if "not readable by the store's owner" not in \
                    read(os.path.join(mnt, "status")).decode():
                raise AssertionError("status gives no reason")
            # A hard link to the owner's own file of the bytes imported
            # is served (another image is a change since the import).
            own = os.path.join(data, "same-bytes-5.jpg.keep")
            with open(own, "wb") as f:
                f.write(orig)
            os.chown(own, pw.pw_uid, pw.pw_gid)
            os.unlink(src)
            os.link(own, src)
            eq(read(p), orig, "a hard link to the owner's own image")
        finally:
            m.umount()
            os.chown(store, 0, 0)
    ck.run("daemon = root, store of the second user: a hard link to a "
           "root-only file is refused", t_hard_link_to_a_root_only_file)


def main():
    run_suite("curatefs-multiuser-", body)


if __name__ == "__main__":
    main()
