#!/usr/bin/python3
"""test_cvat_cloud - pushes of bucket samples through CVAT cloud storages.

awscli fills the loopback S3 server (tests/s3/s3_server.py, every
signature checked by botocore), `curate import s3://...` records the
bucket, and the CVAT test server (in this process) reads the same bucket
itself with botocore when a cloud storage is created and when a task is
created from one.  Checked, over real HTTP and a real mount:

  * no cloud storage and cvat.cloud_credentials unset: the push fails
    with a reason naming the settings, creates nothing, uploads nothing;
  * a wrong AWS secret: CVAT's own check of the bucket is refused by S3,
    CVAT answers 400 "credentials", the push fails with EACCES's reason
    and the secret appears nowhere;
  * a push killed while CVAT creates the cloud storage resumes without a
    second one (CVAT's database would refuse it with a 500);
  * through the mount: a tag pushed as a task made from the cloud storage
    (reused, not created again), no image byte sent to CVAT, CVAT read
    every object from the bucket, frames named by their object keys;
    an annotator's box comes back into labels/ by pull;
  * cvat.cloud_storage = off: the same bucket samples are uploaded (read
    through the mount's object cache, or curate cvat's temporary one),
    byte for byte, and an object rewritten since the import is refused,
    by the upload and, before CVAT reads it, by a cloud-storage push;
  * the test server's cloud-storage API itself, field by field (api_checks);
  * no AWS or CVAT secret in any output, file of the mount or log.

Run by meson (suite cvat) with CURATE, CURATEFS and MKJPEG set.
"""
import base64
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fs"))
sys.path.insert(0, os.path.join(HERE, "..", "s3"))
import cvat_server  # noqa: E402
from fslib import Mount, read, write  # noqa: E402
from test_s3_client import (AKID, SECRET, TMP_AKID, TMP_SECRET,  # noqa
                            TOKEN, Server, aws, env_for)

CURATE = os.environ["CURATE"]
MKJPEG = os.environ["MKJPEG"]
PASSWORD = "cloud-Secr3t-pw-%d" % os.getpid()
WRONG = "wrong-Secr3t-%d" % os.getpid()
SECRETS = (SECRET, PASSWORD, WRONG, TMP_SECRET, TOKEN)
OUTPUT = []
FAILS = []
N = 8


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        FAILS.append(what)


def curate(env, *args, ok=True):
    p = subprocess.run([CURATE] + list(args), env=env, capture_output=True,
                       text=True, timeout=120)
    OUTPUT.append(p.stdout + p.stderr)
    if ok and p.returncode != 0:
        raise RuntimeError("curate %s: exit %d: %s" % (args, p.returncode,
                                                       p.stderr))
    return p


def api(srv, method, path, body=None, user=("admin", None)):
    """(status, parsed JSON or text) of one call to the CVAT server."""
    data = json.dumps(body).encode() if body is not None else None
    rq = urllib.request.Request(srv.url + path, data=data, method=method)
    rq.add_header("Authorization", "Basic " + base64.b64encode(
        ("%s:%s" % (user[0], user[1] or PASSWORD)).encode()).decode())
    if data is not None:
        rq.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(rq) as r:
            st, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        st, raw = e.code, e.read()
    try:
        return st, json.loads(raw)
    except ValueError:
        return st, raw.decode(errors="replace")


def api_checks(srv, s3):
    """The cloud-storage API of the test server, as CVAT's serializers and
    views answer (checked against CVAT's source, see tests/cvat/README.md):
    field rules, CVAT's own check of the bucket through S3, the read side
    without credentials, list filters, status, duplicates, and tasks from a
    cloud storage whose objects are missing."""
    good = {"provider_type": "AWS_S3_BUCKET", "resource": "media",
            "display_name": "Media", "credentials_type":
            "KEY_SECRET_KEY_PAIR", "key": AKID, "secret_key": SECRET,
            "specific_attributes": "region=us-east-1&endpoint_url=" + s3.url}

    def post(**chg):
        b = dict(good, **chg)
        for k in [k for k, v in b.items() if v is None]:
            del b[k]
        return api(srv, "POST", "/api/cloudstorages", b)

    st, js = api(srv, "POST", "/api/cloudstorages", {})
    check(st == 400 and all(js.get(f) == ["This field is required."] for f in
                            ("provider_type", "resource", "display_name",
                             "credentials_type")),
          "POST {}: the four required fields (%s)" % js)
    for field, n in (("key", 41), ("secret_key", 65), ("session_token", 441),
                     ("display_name", 64)):
        st, js = post(**{field: "x" * n})
        check(st == 400 and js.get(field) == [
            "Ensure this field has no more than %d characters." % (n - 1)],
            "%s of %d characters refused" % (field, n))
    st, js = post(provider_type="S3")
    check(st == 400 and js == {"provider_type": ['"S3" is not a valid '
                                                 'choice.']}, "bad provider")
    st, js = post(resource="Media_1")
    check(st == 400 and "Invalid characters" in js.get("resource", [""])[0],
          "resource with characters S3 does not allow (%s)" % js)
    st, js = post(specific_attributes="region")
    check(st == 400 and js == {"specific_attributes": ["Invalid specific "
                                                       "attributes"]},
          "specific attributes without '='")
    st, js = post(manifests="m.jsonl")
    check(st == 400 and "manifests" in js, "manifests must be a list")
    st, js = post(key=7)
    check(st == 400 and "credentials" in js, "a number as key is taken as "
          "the string '7' (DRF), which S3 refuses: 400 credentials")
    st, js = post(key=["x"])
    check(st == 400 and js.get("key") == ["Not a valid string."],
          "a list as key: not a valid string")
    st, js = post(resource="no-such-bucket")
    check(st == 400 and js == {"resource": [
        "The resource no-such-bucket not found. It may have been "
        "deleted."]}, "an unknown bucket: 400 naming the resource")
    st, js = post(credentials_type="ANONYMOUS_ACCESS", key=None,
                  secret_key=None)
    check(st == 400 and "credentials" in js, "anonymous access to a bucket "
          "that wants signatures: 400 naming the credentials")
    st, js = post(manifests=["missing.jsonl"])
    check(st == 400 and js == {"manifests": [
        "The 'missing.jsonl' file does not exist on 'media' cloud "
        "storage"]}, "a missing manifest is refused")
    st, js = post(unknown_field=1)
    check(st == 201 and srv.counters().get("cloud_ignored_fields") == 1,
          "an unknown field is ignored, as DRF does, and counted")
    cid = js.get("id")
    text = json.dumps(js)
    check(not any(k in js for k in ("key", "secret_key", "session_token",
                                    "credentials")) and SECRET not in text
          and AKID not in text, "the answer carries no credential")
    st, one = api(srv, "GET", "/api/cloudstorages/%s" % cid)
    check(st == 200 and one == js, "GET by id: the same, no credential")
    st, lst = api(srv, "GET", "/api/cloudstorages?resource=media")
    st2, none = api(srv, "GET", "/api/cloudstorages?resource=other")
    st3, prov = api(srv, "GET", "/api/cloudstorages?provider_type="
                    "GOOGLE_CLOUD_STORAGE")
    check(lst["count"] == 1 and none["count"] == 0 and prov["count"] == 0,
          "list filters by resource and provider_type")
    st, stat = api(srv, "GET", "/api/cloudstorages/%s/status" % cid)
    check(st == 200 and stat == "AVAILABLE", "status: AVAILABLE (%s)" % stat)
    st, js = post()
    check(st == 500, "the same bucket and credentials again: CVAT's "
          "database refuses it (500)")
    # A task from the cloud storage naming an object the bucket lacks.
    st, t = api(srv, "POST", "/api/tasks", {"name": "c", "labels": [
        {"name": "cat"}]})
    st, bad = api(srv, "POST", "/api/tasks/%d/data" % t["id"], {
        "image_quality": 70, "cloud_storage_id": 9999,
        "server_files": ["ds/x.jpg"]})
    check(st == 400 and "cloud_storage_id" in bad, "an unknown cloud "
          "storage id is refused")
    st, rq = api(srv, "POST", "/api/tasks/%d/data" % t["id"], {
        "image_quality": 70, "cloud_storage_id": cid, "use_cache": True,
        "server_files": ["ds/none.jpg"]})
    r = {}
    for _ in range(100):
        st, r = api(srv, "GET", "/api/requests/" + rq["rq_id"])
        if r.get("status") in ("finished", "failed"):
            break
        time.sleep(0.05)
    check(r.get("status") == "failed" and
          "NoSuchKey" in r.get("message", ""),
          "an object missing from the bucket fails the task's creation "
          "(%s)" % r.get("message"))
    api(srv, "DELETE", "/api/tasks/%d" % t["id"])
    st, _ = api(srv, "DELETE", "/api/cloudstorages/%s" % cid)
    check(st == 204 and not srv.clouds, "DELETE removes it")
    patch_checks(srv, post)
    srv.reset_counters()


def patch_checks(srv, post):
    """What CVAT keeps of a temporary key, and PATCH of the credentials
    (CloudStorageWriteSerializer.create/update, Credentials.convert_to_db
    and mapping_with_new_values, read in CVAT's source)."""
    st, js = post(key=TMP_AKID, secret_key=TMP_SECRET, session_token=TOKEN)
    cid = js.get("id")
    st2, stat = api(srv, "GET", "/api/cloudstorages/%s/status" % cid)
    check(st == 201 and stat == "FORBIDDEN" and
          srv.clouds[cid]["credentials"] == (TMP_AKID, TMP_SECRET, "") and
          srv.counters().get("cloud_tokens_dropped") == 1,
          "a temporary key passes the check made at creation, but CVAT "
          "keeps no session token: the record is FORBIDDEN at once (%s %s)"
          % (st, stat))
    path = "/api/cloudstorages/%s" % cid
    st, js = api(srv, "PATCH", path, {"key": TMP_AKID,
                                      "secret_key": TMP_SECRET,
                                      "session_token": TOKEN})
    check(st == 400 and js == {"credentials": [
        "Cannot update resource media with specified credentials. Access "
        "forbidden."]} and srv.clouds[cid]["credentials"][0] == TMP_AKID,
          "PATCH with a temporary key: the token is reset before CVAT's "
          "check, which S3 refuses: 400 credentials, nothing saved (%s)"
          % (js,))
    srv.add_user("other", PASSWORD)
    st, js = api(srv, "PATCH", path, {"key": AKID, "secret_key": SECRET},
                 user=("other", None))
    check(st in (403, 404) and srv.clouds[cid]["credentials"][0] ==
          TMP_AKID, "PATCH by a user who does not own it is refused (%s)"
          % st)
    st, js = api(srv, "PATCH", path, {"key": AKID, "secret_key": SECRET,
                                      "manifests": []})
    st2, stat = api(srv, "GET", path + "/status")
    text = json.dumps(js)
    check(st == 200 and stat == "AVAILABLE" and js.get("id") == cid and
          SECRET not in text and AKID not in text and
          srv.clouds[cid]["credentials"] == (AKID, SECRET, "") and
          srv.counters().get("cloud_storages_updated") == 1,
          "PATCH with a long-term key: checked, saved, AVAILABLE, and the "
          "answer carries no credential (%s %s)" % (st, stat))
    # The model is unique on (provider_type, resource, credentials) and
    # update() saves without checking it: giving a second record of the
    # bucket the key the first one holds is the database's IntegrityError.
    st, js = post(key=TMP_AKID, secret_key=TMP_SECRET, session_token=TOKEN)
    cid2 = js.get("id")
    n500 = srv.counters().get("cloud_integrity_errors", 0)
    st, js = api(srv, "PATCH", "/api/cloudstorages/%s" % cid2,
                 {"key": AKID, "secret_key": SECRET, "manifests": []})
    check(st == 500 and srv.clouds[cid2]["credentials"] ==
          (TMP_AKID, TMP_SECRET, "") and
          srv.counters().get("cloud_integrity_errors", 0) == n500 + 1,
          "PATCH giving a record the key another record of the bucket "
          "holds: the database refuses it, a server error, nothing saved "
          "(%s)" % st)
    api(srv, "DELETE", "/api/cloudstorages/%s" % cid2)
    api(srv, "DELETE", path)


def rekey_checks(srv, store, conf, cs_id, push_cli, env, tmpkey):
    """The key CVAT holds stops working (rotated away, deactivated): the
    cloud storage is FORBIDDEN, and a push with cloud_credentials = aws
    gives it the current key once, then goes on; a refused key, or a
    temporary one, is a clear failure."""
    gone = ("AKIDROTATEDAWAY", "rotated-away-secret", "")
    srv.clouds[cs_id]["credentials"] = gone
    c0 = counters(srv)
    p = push_cli("k1", dict(env, AWS_SECRET_ACCESS_KEY=WRONG))
    c = counters(srv)
    check(p.returncode == 1 and "giving it the current AWS key" in
          p.stderr and "Access forbidden" in p.stderr and
          srv.clouds[cs_id]["credentials"] == gone and
          c.get("cloud_storages_updated", 0) ==
          c0.get("cloud_storages_updated", 0),
          "FORBIDDEN, and CVAT refuses the current key too: a clear "
          "failure, the record unchanged (%s)" % p.stderr.strip())
    p = push_cli("k1", tmpkey)
    check(p.returncode == 1 and "temporary" in p.stderr and
          "push of run t1 failed (%s)" % errno.errorcode[
              errno.EKEYREJECTED] in bg_failure(tmpkey, store, conf, "t1")
          and
          srv.clouds[cs_id]["credentials"] == gone,
          "FORBIDDEN with a temporary current key: not sent, a clear "
          "failure (%s)" % p.stderr.strip())
    p = push_cli("k1", env)
    c = counters(srv)
    check(p.returncode == 0 and srv.clouds[cs_id]["credentials"] ==
          (AKID, SECRET, "") and len(srv.clouds) == 1 and
          c.get("cloud_storages_updated", 0) ==
          c0.get("cloud_storages_updated", 0) + 1 and
          c.get("cloud_storages_created") == c0.get("cloud_storages_created"),
          "FORBIDDEN: the push gave the cloud storage the current key and "
          "went on, no second one made (%s)" % p.stderr.strip())

    # The newest record of the bucket is FORBIDDEN, and an older one holds
    # the current key (made in CVAT's UI, say): CVAT's database refuses
    # the same key for a second record, so a new run uses the older one
    # and leaves the forbidden one be.
    x = srv.clouds[cs_id]
    x["credentials"] = gone
    st, js = api(srv, "POST", "/api/cloudstorages", {
        "provider_type": x["provider_type"], "resource": x["resource"],
        "display_name": "made by hand", "credentials_type":
        "KEY_SECRET_KEY_PAIR", "key": AKID, "secret_key": SECRET,
        "specific_attributes": x["specific_attributes"]})
    y_id = js.get("id") if isinstance(js, dict) else None
    x["credentials"] = (AKID, SECRET, "")
    if y_id:
        srv.clouds[y_id]["credentials"] = gone
    c0 = counters(srv)
    p = push_cli("k2", env)
    c = counters(srv)
    check(st == 201 and p.returncode == 0 and y_id and
          srv.clouds[y_id]["credentials"] == gone and
          c.get("cloud_storages_updated", 0) ==
          c0.get("cloud_storages_updated", 0) and
          c.get("cloud_integrity_errors", 0) ==
          c0.get("cloud_integrity_errors", 0) and
          c.get("cloud_storages_created") == c0.get("cloud_storages_created"),
          "the newest cloud storage of the bucket FORBIDDEN, an older one "
          "holding the current key: that one is used, no PATCH refused by "
          "CVAT's database (%s %s)" % (st, p.stderr.strip()))
    api(srv, "DELETE", "/api/cloudstorages/%s" % y_id)


def wait_phase(mnt, run, want=("ready",), timeout=90):
    info = ""
    t0 = time.time()
    while time.time() - t0 < timeout:
        info = read(os.path.join(mnt, "cvat", "runs", run, "info")).decode()
        for w in want + ("failed",):
            if "phase: " + w in info:
                return w, info
        time.sleep(0.1)
    raise RuntimeError("push %s did not end: %s" % (run, info))


def store_log(store):
    """The text of the store's logs."""
    out = ""
    for f in os.listdir(store):
        if f.endswith(".log"):
            out += open(os.path.join(store, f), errors="replace").read()
    return out


def bg_failure(env, store, conf, run):
    """A push left to run in the background (no --wait), until it fails;
    the text of its log (cvat.log, where a failure names its errno)."""
    curate(env, "cvat", "push", "--store", store, "--config", conf,
           "--classes", "cat,dog", "--run", run)
    for _ in range(600):
        p = curate(env, "cvat", "status", "--store", store, "--json", run,
                   ok=False)
        if p.returncode == 0 and json.loads(p.stdout).get("phase") == \
                "failed":
            break
        time.sleep(0.1)
    return store_log(store)


def counters(srv):
    return srv.counters()


def new_tasks(srv, before):
    return [t for t in srv.snapshot()["tasks"] if t not in before]


def main():
    tmp = tempfile.mkdtemp(prefix="cvat-cloud-")
    s3 = Server(tmp, region="us-east-1")
    srv = None
    m = None
    try:
        home = os.path.join(tmp, "home")
        os.makedirs(home)
        env = env_for(s3, home)
        src = os.path.join(tmp, "src")
        subprocess.run([MKJPEG, "-n", str(N), "-W", "320", "-H", "240",
                        "-s", "3", src], check=True, capture_output=True)
        aws(s3, home, "s3", "mb", "s3://media")
        aws(s3, home, "s3", "sync", "--only-show-errors", src,
            "s3://media/ds/")
        store = os.path.join(tmp, "store")
        curate(env, "import", "--store", store, "s3://media/ds")
        keys = sorted("ds/" + f for f in os.listdir(src))

        srv = cvat_server.CvatTestServer(password=PASSWORD).start()
        api_checks(srv, s3)
        conf = os.path.join(tmp, "cvat.conf")

        def write_conf(**kv):
            base = {"url": srv.url, "username": "admin",
                    "password": PASSWORD, "poll_interval": "0.05"}
            base.update(kv)
            with open(conf, "w") as f:
                for k, v in base.items():
                    f.write("%s = %s\n" % (k, v))

        def push_cli(run, env_=env, ok=False):
            return curate(env_, "cvat", "push", "--store", store, "--config",
                          conf, "--classes", "cat,dog", "--run", run,
                          "--wait", ok=ok)

        # 1. No cloud storage, creating one not allowed.
        write_conf()
        p = push_cli("c0")
        check(p.returncode == 1 and "CVAT has no cloud storage for bucket "
              "media" in p.stderr and "cvat.cloud_credentials" in p.stderr,
              "no cloud storage and none allowed: a clear failure (%s)"
              % p.stderr.strip())
        c = counters(srv)
        check(not srv.clouds and not c.get("files_uploaded") and
              not c.get("cloud_files_read"),
              "nothing created, nothing uploaded")

        # The same without any AWS key: a push that may not send one needs
        # none, so the answer is CVAT's, not "no AWS credentials".
        nokey = dict(env, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None)
        nokey = {k: v for k, v in nokey.items() if v is not None}
        nokey["HOME"] = os.path.join(tmp, "nohome")
        p = push_cli("c0", nokey)
        check(p.returncode == 1 and "CVAT has no cloud storage for bucket "
              "media" in p.stderr and "AWS credentials" not in p.stderr,
              "cloud_credentials = none with no AWS key at all: CVAT's "
              "answer, the key never asked for (%s)" % p.stderr.strip())

        # A cloud storage id CVAT does not have; off outside the mount.
        write_conf(cloud_storage="4242")
        p = push_cli("c0")
        check(p.returncode == 1 and "cloud storage: " in p.stderr and
              "No CloudStorage matches" in p.stderr,
              "cloud_storage = an unknown id: CVAT's 404 reported (%s)"
              % p.stderr.strip())
        check(not counters(srv).get("files_uploaded") and not srv.clouds,
              "still nothing uploaded or created")
        # cloud_storage = off with curate cvat: uploaded from a private
        # cache in $TMPDIR, which is gone afterwards.
        write_conf(cloud_storage="off")
        ptmp = os.path.join(tmp, "ptmp")
        os.mkdir(ptmp)
        before = srv.snapshot()["tasks"]
        p = push_cli("u0", dict(env, TMPDIR=ptmp))
        t = new_tasks(srv, before)
        up = sorted(bytes(f["bytes"]) for f in
                    srv.tasks[t[0]]["data"]["frames"]) if t else []
        want = sorted(read(os.path.join(src, f)) for f in os.listdir(src))
        check(p.returncode == 0 and up == want and
              counters(srv).get("files_uploaded") == N and not srv.clouds,
              "cloud_storage = off with curate cvat uploads the objects' "
              "bytes (%s)" % p.stderr.strip())
        check(os.listdir(ptmp) == [], "its temporary cache is removed")
        srv.reset_counters()

        # 2. A wrong AWS secret: CVAT's check of the bucket is refused.
        write_conf(cloud_credentials="aws")
        s3.ctl("reset")
        bad = dict(env, AWS_SECRET_ACCESS_KEY=WRONG)
        p = push_cli("c0", bad)
        heads = [r for r in s3.log() if r["method"] == "HEAD"]
        check(p.returncode == 1 and "CVAT cannot read bucket media with the "
              "credentials given" in p.stderr and "Access forbidden" in
              p.stderr, "wrong secret: CVAT's 400 'credentials' reported "
              "(%s)" % p.stderr.strip())
        check(heads and all(r["status"] == 403 for r in heads),
              "CVAT really asked S3, which refused the signature")
        check(not srv.clouds, "no cloud storage recorded with bad "
              "credentials")
        write_conf(cloud_credentials="anonymous")
        p = push_cli("c0", nokey)
        check(p.returncode == 1 and "Access forbidden" in p.stderr and
              not srv.clouds, "anonymous access to a bucket that wants "
              "signatures (no AWS key needed for it): CVAT's refusal "
              "reported, nothing recorded (%s)" % p.stderr.strip())
        write_conf(cloud_credentials="aws")

        # A temporary key: CVAT would keep it without its token, and the
        # cloud storage would be FORBIDDEN from its first use.  Refused
        # before CVAT sees it.
        tmpkey = dict(env, AWS_ACCESS_KEY_ID=TMP_AKID,
                      AWS_SECRET_ACCESS_KEY=TMP_SECRET,
                      AWS_SESSION_TOKEN=TOKEN)
        checks0 = counters(srv).get("cloud_status_checks")
        p = push_cli("c0", tmpkey)
        check(p.returncode == 1 and "temporary" in p.stderr and
              "session token" in p.stderr and not srv.clouds and
              counters(srv).get("cloud_status_checks") == checks0 and
              "push of run t0 failed (%s)" % errno.errorcode[
                  errno.EKEYREJECTED] in bg_failure(tmpkey, store, conf,
                                                    "t0"),
              "a temporary AWS key is not sent to CVAT: a clear failure, "
              "nothing created (%s)" % p.stderr.strip())

        # The answer to the creation is lost after CVAT made the record
        # (the connection reset, or closed, with no response): the push
        # looks the cloud storage up and uses it, never making a second.
        for rst in (True, False):
            fid = srv.add_fault("drop", method="POST",
                                path=r"^/api/cloudstorages$", when="after",
                                rst=rst)
            p = push_cli("d%d" % rst)
            fired = [f for f in srv.list_faults() if f["id"] == fid and
                     f["fired"]]
            srv.remove_fault(fid)
            c = counters(srv)
            check(p.returncode == 0 and fired and len(srv.clouds) == 1 and
                  c.get("cloud_storages_created") == 1 and
                  not c.get("cloud_integrity_errors"),
                  "creation answer dropped (%s): the push found the one "
                  "CVAT made and went on (%s)" % ("reset" if rst else
                                                  "closed", p.stderr.strip()))
            for cid in list(srv.clouds):
                api(srv, "DELETE", "/api/cloudstorages/%d" % cid)
            srv.reset_counters()

        # 3. Killed while CVAT creates the cloud storage: the resumed push
        # finds the one CVAT made and makes no second.
        fid = srv.add_fault("delay", method="POST",
                            path=r"^/api/cloudstorages$", seconds=2,
                            times=1)
        proc = subprocess.Popen([CURATE, "cvat", "push", "--store", store,
                                 "--config", conf, "--run", "c0", "--wait"],
                                env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        t0 = time.time()
        while time.time() - t0 < 30 and not [
                f for f in srv.list_faults() if f["id"] == fid and
                f["fired"]]:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        srv.remove_fault(fid)
        t0 = time.time()
        while time.time() - t0 < 30 and not srv.clouds:
            time.sleep(0.05)
        check(len(srv.clouds) == 1, "CVAT created the cloud storage after "
              "the push was killed")
        before = srv.snapshot()["tasks"]
        p = push_cli("c0")
        check(p.returncode == 0, "the resumed push ends (%s)"
              % p.stderr.strip())
        c = counters(srv)
        check(len(srv.clouds) == 1 and c.get("cloud_storages_created") == 1
              and not c.get("cloud_integrity_errors"),
              "one cloud storage, never a second")
        cs_id = list(srv.clouds)[0]
        cs = srv.clouds[cs_id]
        check(cs["credentials"] == (AKID, SECRET, "") and
              cs["credentials_type"] == "KEY_SECRET_KEY_PAIR" and
              cs["specific_attributes"] == "region=us-east-1&endpoint_url="
              + s3.url and not c.get("cloud_ignored_fields"),
              "cloud_credentials = aws sent the AWS key, the region and "
              "the endpoint, and no field CVAT does not know")
        t = new_tasks(srv, before)
        names = sorted(i["name"] for i in srv.task_images(t[0])) if t else []
        check(len(t) == 1 and names == keys,
              "the task's frames are the object keys")
        check(not c.get("files_uploaded") and not c.get("bytes_uploaded"),
              "no image was uploaded to CVAT")
        check(c.get("cloud_files_read") == N,
              "CVAT read every object from the bucket itself (%s)"
              % c.get("cloud_files_read"))
        js = json.loads(curate(env, "cvat", "status", "--store", store,
                               "--json", "c0").stdout)
        check(js.get("phase") == "ready", "run c0 is ready")
        rekey_checks(srv, store, conf, cs_id, push_cli, env, tmpkey)

        # 4. Through the mount: tag, push, annotate, pull.
        os.environ.update(env)
        os.environ.update({"CVAT_URL": srv.url, "CVAT_USERNAME": "admin",
                           "CVAT_PASSWORD": PASSWORD})
        mnt = os.path.join(tmp, "mnt")
        m = Mount(store, mnt).start()
        for k in ("CVAT_URL", "CVAT_USERNAME", "CVAT_PASSWORD"):
            del os.environ[k]
        write(os.path.join(mnt, "config"), "cvat.cloud_credentials = aws\n")
        samples = sorted(os.listdir(os.path.join(mnt, "samples")))
        os.mkdir(os.path.join(mnt, "tags", "pick"))
        for n in samples[:3]:
            os.rename(os.path.join(mnt, "samples", n),
                      os.path.join(mnt, "tags", "pick", n))
        before = srv.snapshot()["tasks"]
        c0 = counters(srv)
        s3.ctl("reset")
        write(os.path.join(mnt, "cvat", "push"), "tags/pick p1\n")
        ph, info = wait_phase(mnt, "p1")
        check(ph == "ready", "the mount's push of tags/pick is ready")
        c = counters(srv)
        t = new_tasks(srv, before)
        check(c.get("cloud_storages_created") ==
              c0.get("cloud_storages_created") and len(srv.clouds) == 1,
              "the second push reused the cloud storage")
        check(c.get("files_uploaded", 0) == c0.get("files_uploaded", 0) and
              c.get("bytes_uploaded", 0) == c0.get("bytes_uploaded", 0),
              "the mount's push uploaded no image")
        gets = sorted(r["path"] for r in s3.log() if r["method"] == "GET")
        frames = sorted(srv.task_images(t[0]), key=lambda x: x["frame"]) \
            if t else []
        check(len(frames) == 3 and all("/media/" + f["name"] in gets
                                       for f in frames),
              "CVAT fetched the tag's objects from the bucket")
        data = srv.tasks[t[0]]["data"]["params"] if t else {}
        check(data.get("cloud_storage_id") == cs_id and
              data.get("server_files") == [f["name"] for f in frames],
              "task data: cloud_storage_id and server_files")
        label = [lb for lb in srv.labels.values() if lb["name"] == "cat"][0]
        f0 = frames[0]
        srv.add_annotations(task_id=t[0], shapes=[{
            "type": "rectangle", "frame": f0["frame"],
            "label_id": label["id"], "points": [10, 20, 110, 90]}])
        write(os.path.join(mnt, "cvat", "pull"), "p1\n")
        stem = os.path.splitext(os.path.basename(f0["name"]))[0]
        lab = json.loads(read(os.path.join(mnt, "labels", stem + ".json")))
        boxes = lab["fields"].get("ground_truth", [])
        check(len(boxes) == 1 and boxes[0]["bbox"] == [10, 20, 100, 70],
              "the annotator's box came back by its object key (%s)" % boxes)

        # 5. cvat.cloud_storage = off: the bucket samples are uploaded.
        write(os.path.join(mnt, "config"), "cvat.cloud_storage = off\n")
        os.mkdir(os.path.join(mnt, "tags", "up"))
        for n in samples[3:5]:
            os.rename(os.path.join(mnt, "samples", n),
                      os.path.join(mnt, "tags", "up", n))
        before = srv.snapshot()["tasks"]
        c0 = counters(srv)
        write(os.path.join(mnt, "cvat", "push"), "tags/up p2\n")
        ph, info = wait_phase(mnt, "p2")
        check(ph == "ready", "cloud_storage=off: the push is ready (%s)"
              % info.strip().splitlines()[-1])
        c = counters(srv)
        t = new_tasks(srv, before)
        up = c.get("files_uploaded", 0) - c0.get("files_uploaded", 0)
        check(up == 2 and c.get("cloud_files_read") ==
              c0.get("cloud_files_read"), "cloud_storage=off uploads the "
              "images and CVAT reads no bucket (%d uploaded)" % up)
        same = t and all(
            bytes(srv.tasks[t[0]]["data"]["frames"][i]["bytes"]) ==
            read(os.path.join(mnt, "tags", "up", samples[3 + i]))
            for i in range(2))
        check(bool(same), "the uploaded bytes are the objects'")

        # An object rewritten in the bucket since the import: the upload
        # refuses it rather than send other bytes under the sample's name.
        rot = os.path.join(tmp, "rot")
        os.mkdir(rot)
        names = sorted(os.listdir(src))
        for a, b in zip(names, names[1:] + names[:1]):
            shutil.copy(os.path.join(src, b), os.path.join(rot, a))
        aws(s3, home, "s3", "cp", "--recursive", "--only-show-errors", rot,
            "s3://media/ds/")
        os.mkdir(os.path.join(mnt, "tags", "late"))
        os.rename(os.path.join(mnt, "samples", samples[5]),
                  os.path.join(mnt, "tags", "late", samples[5]))
        c0 = counters(srv)
        write(os.path.join(mnt, "cvat", "push"), "tags/late p3\n")
        ph, info = wait_phase(mnt, "p3")
        check(ph == "failed" and "changed in the bucket since the import"
              in info and counters(srv).get("files_uploaded", 0) ==
              c0.get("files_uploaded", 0),
              "an object changed since the import is not uploaded (%s)"
              % info.strip().splitlines()[-1])

        # The same through a cloud storage: CVAT would read the new bytes,
        # so the push refuses before CVAT reads anything.
        write(os.path.join(mnt, "config"), "cvat.cloud_storage = auto\n")
        os.mkdir(os.path.join(mnt, "tags", "late2"))
        os.rename(os.path.join(mnt, "samples", samples[6]),
                  os.path.join(mnt, "tags", "late2", samples[6]))
        c0 = counters(srv)
        write(os.path.join(mnt, "cvat", "push"), "tags/late2 p4\n")
        ph, info = wait_phase(mnt, "p4")
        check(ph == "failed" and "changed in the bucket since the import, "
              "and CVAT would read the new version" in info and
              counters(srv).get("cloud_files_read") ==
              c0.get("cloud_files_read"),
              "a cloud-storage push of a rewritten object is refused "
              "before CVAT reads it (%s)" % info.strip().splitlines()[-1])

        # 6. No secret anywhere.
        seen = "\n".join(OUTPUT) + m.logtext()
        for root, _, files in os.walk(os.path.join(mnt, "cvat")):
            for f in files:
                seen += read(os.path.join(root, f)).decode(errors="replace")
        for f in ("status", "config", "README.txt"):
            seen += read(os.path.join(mnt, f)).decode(errors="replace")
        for f in os.listdir(store):
            if f.endswith(".log"):
                seen += open(os.path.join(store, f), errors="replace").read()
        check(not any(s in seen for s in SECRETS),
              "no secret in outputs, the mount or the logs")
    finally:
        if m:
            m.umount()
        if srv:
            srv.stop()
        s3.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
