#!/usr/bin/python3
"""test_cvat_config - CVAT's settings have one rule each, applied at set
time by both ways of setting them: the mount's `config` file (keys
cvat.*) and `curate cvat` (a --config file, with the short key names).
For every cvat.* key the mount shows, a bad value is refused by both,
with the same reason, and nothing changes; a good value is taken by
both.  The reason never contains a secret's value."""
import errno
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
from fslib import (CURATE, Mount, curate, eq, expect_errno, make_jpegs,  # noqa
                   read, run_suite, write)

SECRET = "pw with space-%d" % os.getpid()


def cases(w):
    """(key, bad value, good value): one refused value per cvat.* key of
    the mount, each breaking that key's own rule."""
    fifo = w.sub("fifo")
    os.mkfifo(fifo)
    ca = w.sub("ca.pem")
    with open(ca, "w") as f:
        f.write("not checked here\n")
    return [
        ("url", "ftp://x", "https://cvat.example:8080"),
        ("username", "two words", "alice"),
        ("password", "bell\x07", "s3cret"),
        ("token", SECRET, "abc123"),
        ("org", "my org", "my-org_2"),
        ("ca_bundle", fifo, ca),
        ("project", "p" * 257, "Project X"),
        ("segment_size", "-1", "0"),
        ("segment_size", "1000001", "250"),
        ("assignees", "alice,,bob", "alice, bob"),
        ("field", "a/b", "gt.v2"),
        ("cloud_storage", "sometimes", "17"),
        ("cloud_storage", "0", "off"),
        ("cloud_credentials", "root", "aws"),
        ("cloud_endpoint", "ftp://x", "http://minio.local:9000"),
        ("cloud_endpoint", "http://h:9000?a=b", "https://s3.example"),
    ]


def reason_of_mount(mnt):
    """The reason the mount gave for the last refused config write."""
    st = read(os.path.join(mnt, "status")).decode()
    lines = [x for x in st.splitlines() if "config: write rejected" in x]
    if not lines:
        raise AssertionError("no refusal in status:\n" + st)
    # "... config: write rejected, nothing changed: line 1: <reason>"
    return lines[-1].split("line 1: ", 1)[1]


def reason_of_tool(w, key, value):
    """curate cvat config with a --config file setting key = value: the
    exit status and the reason after "<file>:1: "."""
    path = w.sub("cvat.conf")
    with open(path, "w") as f:
        f.write("%s = %s\n" % (key, value))
    p = curate("cvat", "config", "--config", path, check=False)
    err = p.stderr.strip()
    return p.returncode, err.split("%s:1: " % path, 1)[-1], p.stdout


def body(ck, w):
    data = w.sub("data")
    make_jpegs(data, 2)
    store = w.sub("store")
    curate("import", "--store", store, data)
    mnt = w.sub("mnt")
    m = Mount(store, mnt).start()
    cfg = os.path.join(mnt, "config")
    table = cases(w)

    for key, bad, good in table:
        def refused(key=key, bad=bad):
            before = read(cfg)
            expect_errno(errno.EINVAL, write, cfg,
                         "cvat.%s = %s\n" % (key, bad))
            eq(read(cfg), before, "config after a refused cvat.%s" % key)
            via_mount = reason_of_mount(mnt)
            rc, via_tool, _ = reason_of_tool(w, key, bad)
            if rc == 0:
                raise AssertionError("curate cvat config took %s = %r" %
                                     (key, bad))
            eq(via_tool, via_mount, "reason for %s = %r" % (key, bad))
            if not via_mount.startswith("cvat.%s: " % key):
                raise AssertionError("reason does not name cvat.%s: %r" %
                                     (key, via_mount))
            if key in ("password", "token") and bad in via_mount:
                raise AssertionError("the reason shows the secret")
        ck.run("cvat.%s = %r: refused by the mount's config and by curate "
               "cvat, with the same reason" % (key, bad[:40]), refused)

        def taken(key=key, good=good):
            write(cfg, "cvat.%s = %s\n" % (key, good))
            rc, err, out = reason_of_tool(w, key, good)
            eq((rc, err), (0, ""), "curate cvat config with %s" % key)
            if key not in ("password", "token"):
                shown = "%s = %s" % (key, good)
                if shown not in out and key != "assignees":
                    raise AssertionError("curate cvat config shows no %r:\n%s"
                                         % (shown, out))
                if ("cvat." + shown) not in read(cfg).decode():
                    raise AssertionError("config shows no cvat.%s" % shown)
            write(cfg, "cvat.%s =\n" % key)
        ck.run("cvat.%s = %r: taken by both" % (key, good[:40]), taken)

    def relative_ca_bundle():
        # The mount has no working directory of the user's: it wants an
        # absolute path.  curate cvat resolves a relative one where the
        # user is, as curl would, and checks what it names.
        expect_errno(errno.EINVAL, write, cfg, "cvat.ca_bundle = rel.pem\n")
        eq(reason_of_mount(mnt), "cvat.ca_bundle: give an absolute path",
           "the mount's reason")
        ca = w.sub("ca.pem")
        d = os.path.dirname(ca)
        p = subprocess.run([CURATE, "cvat", "config", "-o",
                            "ca_bundle=" + os.path.basename(ca)], cwd=d,
                           capture_output=True, text=True)
        eq(p.returncode, 0, "curate cvat with a relative, existing CA file")
        if "ca_bundle = %s" % ca not in p.stdout:
            raise AssertionError("not shown absolute:\n" + p.stdout)
        p = subprocess.run([CURATE, "cvat", "config", "-o",
                            "ca_bundle=missing.pem"], cwd=d,
                           capture_output=True, text=True)
        if p.returncode == 0 or "missing.pem: No such file" not in p.stderr:
            raise AssertionError("a relative path to nothing: %r" % p.stderr)
    ck.run("cvat.ca_bundle relative: the mount wants an absolute path; "
           "curate cvat resolves it where the user is", relative_ca_bundle)

    def known_keys():
        shown = [line.split(" = ")[0][5:] for line in
                 read(cfg).decode().splitlines() if line.startswith("cvat.")]
        tested = sorted({k for k, _, _ in table})
        eq(sorted(shown), tested, "cvat.* keys of the mount, all tested")
    ck.run("every cvat.* key of the mount is covered", known_keys)
    m.umount()


if __name__ == "__main__":
    run_suite("curatefs-cvat-config-", body)
