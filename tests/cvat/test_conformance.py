#!/usr/bin/python3
"""Conformance test for the CVAT-compatible test server (cvat_server.py).

Starts the server as a subprocess through its command line (--port 0
--port-file ...), plus a few in-process instances for version gates, and
checks it over loopback HTTP against the checklist in docs/CVAT-API.md §9.
Prints one line per check ("ok N - name" / "not ok N - name") and exits
non-zero if any check failed.  Standard library only.
"""

import base64
import http.client
import io
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cvat_server  # noqa: E402

VND = "application/vnd.cvat+json"
ADMIN, ADMIN_PW, PAT = "admin", "s3cret", "pat-conformance-0123456789"

# --------------------------------------------------------------------------
# reporting
# --------------------------------------------------------------------------

_n = 0
_failed = []


def check(name, cond, detail=None):
    global _n
    _n += 1
    if cond:
        print("ok %d - %s" % (_n, name))
    else:
        print("not ok %d - %s" % (_n, name))
        if detail is not None:
            for line in str(detail)[:2000].splitlines():
                print("#   " + line)
        _failed.append(name)
    sys.stdout.flush()
    return bool(cond)


def group(fn):
    """Run one group of checks; an exception becomes one failed check."""
    try:
        fn()
    except Exception as e:          # keep going with the other groups
        import traceback
        check("%s raised no exception" % fn.__name__, False,
              "".join(traceback.format_exception(e)))


# --------------------------------------------------------------------------
# HTTP helpers (http.client, keep-alive)
# --------------------------------------------------------------------------


class R:
    def __init__(self, status, headers, cookies, body):
        self.status = status
        self.headers = headers
        self.cookies = cookies
        self.body = body
        self._json = None

    @property
    def json(self):
        if self._json is None:
            self._json = json.loads(self.body.decode("utf-8"))
        return self._json

    def h(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return "<%d %s %r>" % (self.status, self.h("content-type"),
                               self.body[:300])


def multipart(fields):
    """fields: list of (name, value) with value str or (filename, bytes)."""
    boundary = "----conformance%d" % int(time.time() * 1e6)
    out = io.BytesIO()
    for name, value in fields:
        out.write(b"--" + boundary.encode() + b"\r\n")
        if isinstance(value, tuple):
            out.write(('Content-Disposition: form-data; name="%s"; '
                       'filename="%s"\r\nContent-Type: application/octet-'
                       'stream\r\n\r\n' % (name, value[0])).encode())
            out.write(value[1])
        else:
            out.write(('Content-Disposition: form-data; name="%s"\r\n\r\n'
                       % name).encode())
            out.write(str(value).encode())
        out.write(b"\r\n")
    out.write(b"--" + boundary.encode() + b"--\r\n")
    return out.getvalue(), "multipart/form-data; boundary=" + boundary


class Http:
    def __init__(self, port, headers=None):
        self.port = port
        self.base = dict(headers or {})
        self.conn = None

    def connection(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                   timeout=15)
        return self.conn

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def req(self, method, path, body=None, headers=None, form=None,
            retry=True):
        h = {"Accept": VND}
        h.update(self.base)
        h.update(headers or {})
        data = body
        if form is not None:
            data, ct = multipart(form)
            h["Content-Type"] = ct
        elif isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        h = {k: v for k, v in h.items() if v is not None}
        for attempt in range(2):
            c = self.connection()
            try:
                c.request(method, path, body=data, headers=h)
                r = c.getresponse()
                payload = r.read()
                break
            except (http.client.RemoteDisconnected, ConnectionError,
                    http.client.BadStatusLine):
                self.close()
                # a stale keep-alive socket is retried once; injected
                # drops are asserted with retry=False
                if attempt or not retry:
                    raise
        cookies = {}
        for sc in r.headers.get_all("Set-Cookie") or []:
            k, _, v = sc.split(";")[0].partition("=")
            cookies[k.strip()] = v.strip()
        resp = R(r.status, {k.lower(): v for k, v in r.getheaders()},
                 cookies, payload)
        if r.will_close:
            self.close()
        return resp

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.req("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.req("PATCH", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.req("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.req("DELETE", path, **kw)


def basic(user, pw):
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()) \
        .decode()


# --------------------------------------------------------------------------
# image fixtures: minimal JPEG / PNG headers
# --------------------------------------------------------------------------


def make_jpeg(w, h, orientation=None, pad=0):
    """SOI [APP1 Exif] APP0 DQT SOF0 [COM padding] EOI; enough header for
    a size reader (the server never decodes pixels)."""
    out = b"\xff\xd8"
    if orientation:
        tiff = b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01" + \
            b"\x01\x12\x00\x03\x00\x00\x00\x01" + \
            struct.pack(">H", orientation) + b"\x00\x00" + b"\x00" * 4
        seg = b"Exif\x00\x00" + tiff
        out += b"\xff\xe1" + struct.pack(">H", len(seg) + 2) + seg
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    out += b"\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0
    dqt = b"\x00" + bytes(range(1, 65))
    out += b"\xff\xdb" + struct.pack(">H", len(dqt) + 2) + dqt
    sof = b"\x08" + struct.pack(">HH", h, w) + b"\x03" + \
        b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    out += b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof
    while pad > 0:
        n = min(pad, 65000)
        out += b"\xff\xfe" + struct.pack(">H", n + 2) + b"x" * n
        pad -= n
    return out + b"\xff\xd9"


def make_png(w, h):
    import zlib
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk +
            struct.pack(">I", zlib.crc32(chunk)) +
            b"\x00\x00\x00\x00IEND\xaeB`\x82")


# --------------------------------------------------------------------------
# the server under test
# --------------------------------------------------------------------------


class Env:
    pass


E = Env()


def start_subprocess():
    tmp = tempfile.mkdtemp(prefix="cvat-conf-")
    port_file = os.path.join(tmp, "port")
    cmd = ["/usr/bin/python3", os.path.join(HERE, "cvat_server.py"),
           "--port", "0", "--port-file", port_file, "--user", ADMIN,
           "--password", ADMIN_PW, "--token", PAT, "--version", "2.39.0",
           "--add-user", "annotator:ann", "--add-user", "reviewer:rev"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline and not os.path.exists(port_file):
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    ok = os.path.exists(port_file)
    check("server started from the command line and wrote --port-file", ok,
          None if ok else proc.stderr.read().decode())
    if not ok:
        proc.kill()
        sys.exit(1)
    E.proc = proc
    E.port = int(open(port_file).read().strip())
    check("port file holds a real TCP port", 0 < E.port < 65536, E.port)


def ctl(method, path, body=None):
    r = E.ctl.req(method, "/_test" + path, body,
                  headers={"Accept": "application/json"})
    if r.status >= 300:
        raise AssertionError("control %s %s -> %r" % (method, path, r))
    return r.json if r.body else None


def wait_request(api, rq_id, timeout=120):
    """Poll /api/requests/{id}; returns (statuses seen, final body)."""
    seen = []
    path = "/api/requests/" + urllib.parse.quote(rq_id, safe="")
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = api.get(path)
        if r.status != 200:
            return seen, r
        seen.append(r.json["status"])
        if r.json["status"] in ("finished", "failed"):
            return seen, r
        time.sleep(0.03)
    return seen, None


def create_task(api, name, files, labels=None, project_id=None,
                segment_size=None, overlap=None, extra=None, wait=True):
    """POST /api/tasks + single multipart /data; returns (task id, rq)."""
    body = {"name": name}
    if project_id is not None:
        body["project_id"] = project_id
    else:
        body["labels"] = labels or [{"name": "thing"}]
    if segment_size is not None:
        body["segment_size"] = segment_size
    if overlap is not None:
        body["overlap"] = overlap
    r = api.post("/api/tasks", body)
    if not (r.status == 201):
        raise AssertionError(r)
    tid = r.json["id"]
    form = [("image_quality", "70")]
    form += list(extra or [])
    form += [("client_files[%d]" % i, (n, b)) for i, (n, b)
             in enumerate(files)]
    r = api.post("/api/tasks/%d/data" % tid, form=form)
    if not (r.status == 202):
        raise AssertionError(r)
    rq = r.json["rq_id"]
    if wait:
        seen, final = wait_request(api, rq)
        if not (final is not None and final.json["status"] == "finished"):
            raise AssertionError((seen, final))
    return tid, rq


# --------------------------------------------------------------------------
# check groups
# --------------------------------------------------------------------------


def t_transport():
    anon = Http(E.port)
    r = anon.get("/api/server/about")
    j = r.json
    check("GET /api/server/about needs no auth (200)", r.status == 200, r)
    check("about has name, description, version, logo_url, subtitle",
          all(k in j for k in ("name", "description", "version", "logo_url",
                               "subtitle")), j)
    check("about reports the configured version 2.39.0",
          j.get("version") == "2.39.0", j)
    check("responses use Content-Type application/vnd.cvat+json",
          (r.h("content-type") or "").startswith(VND), r.headers)

    # keep-alive: several requests over one socket
    anon.get("/api/server/about")
    sock1 = anon.conn.sock
    anon.get("/api/server/about")
    check("HTTP/1.1 keep-alive reuses the connection",
          anon.conn is not None and anon.conn.sock is sock1)

    r = anon.get("/api/projects")
    check("unauthenticated list -> 401", r.status == 401, r)
    check("401 body is {'detail': 'Authentication credentials were not "
          "provided.'}", r.json == {"detail": "Authentication credentials "
                                    "were not provided."}, r)
    check("401 carries WWW-Authenticate: Token",
          r.h("www-authenticate") == "Token", r.headers)
    r = anon.get("/api/projects", headers={"Authorization": "Token nope"})
    check("bad token -> 401 'Invalid token.'",
          r.status == 401 and r.json.get("detail") == "Invalid token.", r)
    r = anon.get("/api/schema/")
    check("GET /api/schema/ needs no auth", r.status == 200, r)

    r = anon.post("/api/auth/login", {"username": ADMIN, "password": "x"})
    check("login with a wrong password -> 400 non_field_errors",
          r.status == 400 and "non_field_errors" in r.json, r)
    r = anon.post("/api/auth/login", {"username": ADMIN,
                                      "password": ADMIN_PW})
    check("login -> 200 {'key': ...}", r.status == 200 and
          isinstance(r.json.get("key"), str) and 0 < len(r.json["key"]) <= 40,
          r)
    check("login sets sessionid and csrftoken cookies",
          "sessionid" in r.cookies and "csrftoken" in r.cookies, r.cookies)
    key, cookies = r.json["key"], r.cookies
    r2 = anon.post("/api/auth/login", {"username": ADMIN,
                                       "password": ADMIN_PW})
    check("a second login returns the same legacy key",
          r2.json.get("key") == key, r2)
    E.key = key

    tok = Http(E.port, {"Authorization": "Token " + key})
    r = tok.get("/api/users/self")
    check("Authorization: Token <key> authenticates (users/self)",
          r.status == 200 and r.json.get("username") == ADMIN, r)
    check("users/self has the User fields", all(k in r.json for k in (
        "url", "id", "username", "first_name", "last_name", "email",
        "groups", "is_staff", "is_superuser", "is_active", "last_login",
        "date_joined")), r.json)
    r = anon.get("/api/users/self",
                 headers={"Authorization": basic(ADMIN, ADMIN_PW)})
    check("Basic auth authenticates", r.status == 200, r)
    r = anon.get("/api/users/self",
                 headers={"Authorization": basic(ADMIN, "wrong")})
    check("Basic auth with a wrong password -> 401", r.status == 401, r)
    r = anon.get("/api/users/self", headers={"Authorization": "Bearer " +
                                             PAT})
    check("Authorization: Bearer <PAT> authenticates",
          r.status == 200 and r.json.get("username") == ADMIN, r)
    r = anon.get("/api/users/self", headers={"Authorization": "Bearer no"})
    check("unknown Bearer token -> 401", r.status == 401, r)

    cookie = "sessionid=%s; csrftoken=%s" % (cookies["sessionid"],
                                             cookies["csrftoken"])
    r = anon.get("/api/users/self", headers={"Cookie": cookie})
    check("session cookie authenticates a GET", r.status == 200, r)
    r = anon.post("/api/projects", {"name": "csrf"},
                  headers={"Cookie": cookie})
    check("session POST without X-CSRFToken -> 403 CSRF Failed",
          r.status == 403 and "CSRF" in r.json.get("detail", ""), r)
    r = anon.post("/api/projects", {"name": "csrf-ok", "labels": []},
                  headers={"Cookie": cookie,
                           "X-CSRFToken": cookies["csrftoken"]})
    check("session POST with X-CSRFToken succeeds", r.status == 201, r)

    # personal access tokens through the API
    r = tok.post("/api/auth/access_tokens", {"name": "ro",
                                             "read_only": True})
    check("POST /api/auth/access_tokens -> 201 with value",
          r.status == 201 and r.json.get("value"), r)
    ro = Http(E.port, {"Authorization": "Bearer " + r.json["value"]})
    check("read-only PAT may GET", ro.get("/api/projects").status == 200)
    check("read-only PAT may not POST (403)",
          ro.post("/api/projects", {"name": "x"}).status == 403)
    r = ro.get("/api/auth/access_tokens/self")
    check("GET /api/auth/access_tokens/self with a PAT",
          r.status == 200 and r.json.get("read_only") is True
          and "value" not in r.json, r)

    # content negotiation
    r = tok.get("/api/projects", headers={"Accept": "application/json"})
    check("Accept: application/json -> 406", r.status == 406, r)
    r = tok.get("/api/projects", headers={"Accept": VND + "; version=2.0"})
    check("Accept with version=2.0 -> 200", r.status == 200, r)
    r = tok.get("/api/projects", headers={"Accept": VND + "; version=9.9"})
    check("Accept with an unknown version -> 406", r.status == 406, r)
    r = tok.get("/api/projects", headers={"Accept": "*/*"})
    check("Accept: */* -> 200", r.status == 200, r)

    # paths and methods
    r = tok.get("/api/projects/")
    check("trailing slash on a collection -> 404", r.status == 404, r)
    r = tok.get("/api/nothing-here")
    check("unknown path -> 404", r.status == 404, r)
    r = tok.delete("/api/projects")
    check("wrong method -> 405 {'detail': 'Method \"DELETE\" not allowed.'}",
          r.status == 405 and r.json.get("detail") ==
          'Method "DELETE" not allowed.' and "GET" in (r.h("allow") or ""), r)
    r = tok.req("POST", "/api/projects", b"{not json",
                headers={"Content-Type": "application/json"})
    check("malformed JSON -> 400 with detail", r.status == 400 and
          "JSON parse error" in r.json.get("detail", ""), r)
    r = tok.post("/api/projects", {"labels": []})
    check("missing required field -> 400 field-keyed error",
          r.status == 400 and r.json == {"name": ["This field is required."]},
          r)
    r = tok.req("POST", "/api/projects", b"name=x", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    check("x-www-form-urlencoded is not parsed (415)", r.status == 415, r)

    # anonymous throttling
    ctl("POST", "/config", {"anon_rate": 3})
    codes = [anon.get("/api/server/about") for _ in range(5)]
    last = codes[-1]
    check("anonymous requests are throttled: 429 + Retry-After",
          last.status == 429 and last.h("retry-after") and
          "throttled" in last.json.get("detail", ""), last)
    check("authenticated requests are not throttled",
          tok.get("/api/users/self").status == 200)
    ctl("POST", "/config", {"anon_rate": 0})

    # logout invalidates the key
    r = tok.post("/api/auth/logout")
    check("logout -> 200 'Successfully logged out.'", r.status == 200 and
          r.json.get("detail") == "Successfully logged out.", r)
    r = tok.get("/api/users/self")
    check("the legacy key is invalid after logout (401)", r.status == 401, r)
    r = anon.post("/api/auth/login", {"username": ADMIN,
                                      "password": ADMIN_PW})
    check("a new login issues a new key", r.status == 200 and
          r.json["key"] != key, r)
    E.key = r.json["key"]
    E.api = Http(E.port, {"Authorization": "Token " + E.key})


def t_pagination_users():
    api = E.api
    for i in range(11):
        ctl("POST", "/users", {"username": "user%02d" % i, "password": "pw",
                               "first_name": "U%d" % i})
    r = api.get("/api/users")
    j = r.json
    check("list has count/next/previous/results",
          set(j) == {"count", "next", "previous", "results"}, j.keys())
    check("default page size is 10", len(j["results"]) == 10 and
          j["count"] == 14, (len(j["results"]), j["count"]))
    check("next is an absolute URL with page=2",
          j["next"] and j["next"].startswith("http://127.0.0.1:%d/api/users?"
                                             % E.port) and
          "page=2" in j["next"] and j["previous"] is None, j["next"])
    nxt = urllib.parse.urlsplit(j["next"])
    r2 = api.get(nxt.path + "?" + nxt.query)
    check("following next gives the rest", len(r2.json["results"]) == 4 and
          r2.json["next"] is None, r2.json)
    check("previous of page 2 drops the page parameter",
          r2.json["previous"] and "page=" not in r2.json["previous"],
          r2.json["previous"])
    r = api.get("/api/users?page=3")
    check("page past the end -> 404 'Invalid page.'",
          r.status == 404 and r.json == {"detail": "Invalid page."}, r)
    r = api.get("/api/users?page_size=all")
    check("page_size=all returns everything", len(r.json["results"]) == 14
          and r.json["next"] is None, r.json["count"])
    r = api.get("/api/users?page_size=0")
    check("invalid page_size falls back to 10",
          len(r.json["results"]) == 10, len(r.json["results"]))
    r = api.get("/api/users?page_size=3&page=2")
    check("page/page_size select a window",
          len(r.json["results"]) == 3 and "page=3" in r.json["next"], r.json)
    r = api.get("/api/users?username=annotator")
    check("users?username= filters exactly", r.json["count"] == 1 and
          r.json["results"][0]["username"] == "annotator", r.json)
    E.annotator = r.json["results"][0]["id"]
    r = api.get("/api/users?search=user0")
    check("users?search= matches substrings", r.json["count"] == 10,
          r.json["count"])
    r = api.get("/api/users?sort=username&page_size=all")
    names = [u["username"] for u in r.json["results"]]
    check("sort=username orders results", names == sorted(names), names)
    r = api.get("/api/users?sort=-id&page_size=all")
    ids = [u["id"] for u in r.json["results"]]
    check("sort=-id orders descending", ids == sorted(ids, reverse=True),
          ids)


def t_orgs():
    api = E.api
    r = api.post("/api/organizations", {"slug": "acme", "name": "Acme"})
    check("POST /api/organizations -> 201", r.status == 201, r)
    org_id = r.json["id"]
    r = api.post("/api/projects", {"name": "org-project", "labels": [
        {"name": "a"}]}, headers={"X-Organization": "acme"})
    check("create with X-Organization places the object in the org",
          r.status == 201 and r.json["organization"] == org_id, r)
    pid = r.json["id"]
    r = api.get("/api/projects?org=acme&page_size=all")
    check("list with org=<slug> shows only that org's objects",
          r.json["count"] >= 1 and all(p["organization"] == org_id
                                       for p in r.json["results"]), r.json)
    r = api.get("/api/projects?page_size=all",
                headers={"X-Organization": ""})
    check("empty X-Organization lists only sandbox objects",
          all(p["organization"] is None for p in r.json["results"])
          and pid not in [p["id"] for p in r.json["results"]], r.json)
    r = api.get("/api/projects?page_size=all")
    check("no org parameter lists everything visible",
          pid in [p["id"] for p in r.json["results"]])
    r = api.get("/api/projects?org_id=%d&org=acme" % org_id)
    check("org_id together with org -> 400", r.status == 400, r)
    r = api.get("/api/projects?org=other", headers={"X-Organization":
                                                    "acme"})
    check("org and X-Organization disagreeing -> 400", r.status == 400, r)
    r = api.get("/api/projects", headers={"X-Organization": "nope"})
    check("unknown org slug -> 404 '<slug> organization does not exist.'",
          r.status == 404 and r.json.get("detail") ==
          "nope organization does not exist.", r)
    r = api.get("/api/projects/%d" % pid, headers={"X-Organization": ""})
    check("detail endpoints ignore the org filter", r.status == 200, r)
    r = api.post("/api/tasks", {"name": "x", "project_id": pid})
    check("task in an org project created outside the org -> 400",
          r.status == 400 and "same organization" in json.dumps(r.json), r)
    r = api.get("/api/memberships?org=acme")
    check("memberships list the org owner",
          r.status == 200 and r.json["count"] == 1 and
          r.json["results"][0]["role"] == "owner", r)


def t_projects_labels():
    api = E.api
    labels = [{"name": "car", "type": "rectangle", "attributes": [
        {"name": "color", "mutable": False, "input_type": "select",
         "values": ["red", "blue"], "default_value": "blue"},
        {"name": "label_id", "mutable": True, "input_type": "text",
         "values": []}]},
        {"name": "person", "type": "rectangle", "attributes": []}]
    r = api.post("/api/projects", {"name": "P1", "labels": labels})
    check("POST /api/projects with labels -> 201", r.status == 201, r)
    p = r.json
    E.project = p["id"]
    check("ProjectRead has labels {url} not inline labels",
          p.get("labels") == {"url": "http://127.0.0.1:%d/api/labels?"
                              "project_id=%d" % (E.port, p["id"])}, p)
    check("ProjectRead has tasks {count, url}",
          p.get("tasks", {}).get("count") == 0 and "url" in p["tasks"], p)
    r = api.get("/api/labels?project_id=%d&page_size=all" % p["id"])
    ls = {l["name"]: l for l in r.json["results"]}
    check("GET /api/labels?project_id= lists the project labels",
          set(ls) == {"car", "person"}, ls.keys())
    car = ls["car"]
    check("label read side has id/name/color/attributes/type/project_id",
          car["project_id"] == p["id"] and car["task_id"] is None and
          car["color"].startswith("#") and car["type"] == "rectangle" and
          car["has_parent"] is False, car)
    attrs = {a["name"]: a for a in car["attributes"]}
    check("attributes keep input_type/values/default_value/mutable",
          attrs["color"]["values"] == ["red", "blue"] and
          attrs["color"]["default_value"] == "blue" and
          attrs["color"]["mutable"] is False and
          attrs["label_id"]["input_type"] == "text", attrs)
    check("label and attribute ids are integers, increasing",
          ls["person"]["id"] > car["id"] and
          attrs["label_id"]["id"] > attrs["color"]["id"])
    E.car, E.person = car["id"], ls["person"]["id"]
    E.color_attr, E.lid_attr = attrs["color"]["id"], attrs["label_id"]["id"]

    r = api.post("/api/projects", {"name": "dup", "labels": [
        {"name": "a"}, {"name": "a"}]})
    check("duplicate label names -> 400", r.status == 400, r)
    r = api.post("/api/projects", {"name": "bad-attr", "labels": [
        {"name": "a", "attributes": [{"name": "x"}]}]})
    check("attribute without mutable/input_type/values -> 400 nested errors",
          r.status == 400 and "labels" in r.json, r)
    r = api.get("/api/labels?project_id=1&task_id=1")
    check("labels with two of project_id/task_id/job_id -> 400",
          r.status == 400, r)
    r = api.patch("/api/projects/%d" % p["id"], {"labels": [
        {"name": "bike"}]})
    r2 = api.get("/api/labels?project_id=%d" % p["id"])
    check("PATCH project labels appends", r.status == 200 and
          r2.json["count"] == 3, (r, r2.json["count"]))
    bike = [l for l in r2.json["results"] if l["name"] == "bike"][0]
    r = api.patch("/api/projects/%d" % p["id"], {"labels": [
        {"id": bike["id"], "deleted": True}]})
    r2 = api.get("/api/labels?project_id=%d" % p["id"])
    check("PATCH label {id, deleted: true} removes it",
          r.status == 200 and r2.json["count"] == 2, r2.json["count"])
    r = api.patch("/api/projects/%d" % p["id"], {"labels": [
        {"name": "person"}]})
    check("PATCH adding an existing label name -> 400, a bare list",
          r.status == 400 and r.json == ["All label names must be unique"],
          r)
    # What CVAT's LabelSerializer.update_label() does (public source).
    r = api.patch("/api/projects/%d" % p["id"], {"labels": [
        {"id": 999999, "name": "x"}]})
    check("PATCH label with an unknown id -> 404 'Not found label with id "
          "#N to change'", r.status == 404 and r.json ==
          {"detail": "Not found label with id #999999 to change"}, r)
    r = api.patch("/api/projects/%d" % p["id"], {"labels": [
        {"name": "gone", "deleted": True}]})
    check("PATCH label deleted without an id -> 400 nested non_field_errors",
          r.status == 400 and r.json == {"labels": [{"non_field_errors": [
              "Deleted label must have an ID"]}]}, r)
    attr = {"mutable": False, "input_type": "text", "values": [""]}
    r = api.patch("/api/projects/%d" % p["id"], {"labels": [
        {"id": E.car, "attributes": [dict(attr, name="d"),
                                     dict(attr, name="d")]}]})
    check("PATCH label with two attributes of one name -> 400 'Duplicate "
          "attribute with name ...'", r.status == 400 and r.json ==
          ["Duplicate attribute with name 'd' exists"], r)
    r = api.patch("/api/projects/%d" % p["id"], {"labels": [
        {"id": E.car, "attributes": [dict(attr, id=999999, name="q")]}]})
    check("PATCH attribute with an unknown id -> 404", r.status == 404 and
          r.json == {"detail": "Attribute with id #999999 does not exist"}, r)
    r = api.patch("/api/projects/%d" % p["id"], {"labels": [
        {"id": E.car, "attributes": [
            {"id": E.color_attr, "name": "color", "deleted": True,
             "mutable": False, "input_type": "select",
             "values": ["red", "blue"]}]}]})
    r2 = api.get("/api/labels/%d" % E.car)
    names = sorted(a["name"] for a in r2.json["attributes"])
    check("an attribute's 'deleted' is not a field: ignored, the attribute "
          "stays (updated)", r.status == 200 and "color" in names and
          [a["values"] for a in r2.json["attributes"]
           if a["name"] == "color"] == [["red", "blue"]], (r, r2.json))
    r = api.patch("/api/projects/%d" % p["id"], {"status": "x"})
    check("PATCH project with an unknown field -> 403",
          r.status == 403 and r.json.get("detail") ==
          "Attempted to update an unknown field", r)
    r = api.patch("/api/projects/%d" % p["id"], {"name": "P1 renamed"})
    check("PATCH project name", r.status == 200 and
          r.json["name"] == "P1 renamed", r)
    r = api.get("/api/projects/999999")
    check("unknown project id -> 404 {'detail': ...}",
          r.status == 404 and "detail" in r.json, r)
    r = api.get("/api/projects?name=P1%20renamed")
    check("projects?name= filter", r.json["count"] == 1, r.json)


def t_tasks_create():
    api = E.api
    r = api.post("/api/tasks", {"name": "t"})
    check("task without labels and project_id -> 400",
          r.status == 400 and "Label set or project_id must be present" in
          json.dumps(r.json), r)
    r = api.post("/api/tasks", {"name": "t", "project_id": E.project,
                                "labels": [{"name": "x"}]})
    check("task with both labels and project_id -> 400",
          r.status == 400 and "only one of" in json.dumps(r.json), r)
    r = api.post("/api/tasks", {"name": "t", "project_id": 987654})
    check("task with an unknown project -> 400", r.status == 400, r)
    r = api.post("/api/tasks", {"name": "T1", "project_id": E.project,
                                "segment_size": 2, "labels": []})
    check("POST /api/tasks -> 201", r.status == 201, r)
    t = r.json
    check("new task: size/image_quality/data/data_chunk_size omitted",
          not any(k in t for k in ("size", "image_quality", "data",
                                   "data_chunk_size")), sorted(t))
    check("new task: jobs.count 0, mode ''", t["jobs"]["count"] == 0 and
          t["mode"] == "", t)
    check("task labels url points at /api/labels?task_id=",
          t["labels"]["url"].endswith("/api/labels?task_id=%d" % t["id"]))
    r = api.get("/api/labels?task_id=%d" % t["id"])
    check("labels?task_id= of a project task returns the project labels",
          r.json["count"] == 2 and all(l["project_id"] == E.project and
                                       l["task_id"] is None
                                       for l in r.json["results"]), r.json)
    r = api.patch("/api/tasks/%d" % t["id"], {"segment_size": 5})
    check("PATCH task with a field outside the PATCH set -> 403",
          r.status == 403, r)
    r = api.patch("/api/tasks/%d" % t["id"], {"assignee_id": E.annotator})
    check("PATCH task assignee_id -> BasicUser assignee",
          r.status == 200 and r.json["assignee"]["username"] == "annotator",
          r)
    E.task = t["id"]

    # ids are never reused after delete
    r = api.post("/api/tasks", {"name": "tmp", "labels": [{"name": "z"}]})
    tmp = r.json["id"]
    check("DELETE /api/tasks/{id} -> 204",
          api.delete("/api/tasks/%d" % tmp).status == 204)
    check("deleted task -> 404", api.get("/api/tasks/%d" % tmp).status ==
          404)
    r = api.post("/api/tasks", {"name": "tmp2", "labels": [{"name": "z"}]})
    check("ids increase and are not reused after delete",
          r.json["id"] > tmp, (tmp, r.json["id"]))
    api.delete("/api/tasks/%d" % r.json["id"])


def t_data_upload():
    api = E.api
    tid = E.task
    # upload order differs from both lexicographical and the wanted order
    files = [("b.jpg", make_jpeg(640, 480)), ("a.png", make_png(32, 16)),
             ("c.jpg", make_jpeg(100, 200, orientation=6)),
             ("d.jpg", make_jpeg(10, 20)), ("e.jpg", make_jpeg(30, 40))]
    order = ["e.jpg", "c.jpg", "a.png", "b.jpg", "d.jpg"]
    form = [("image_quality", "70"), ("sorting_method", "predefined")]
    form += [("upload_file_order", n) for n in order]
    form += [("client_files[%d]" % i, f) for i, f in enumerate(files)]
    # Held until the checks of the unfinished state are done: they do not
    # depend on how fast this process polls.
    ctl("POST", "/config", {"hold_requests": True})
    r = api.post("/api/tasks/%d/data" % tid, form=form)
    ctl("POST", "/config", {"hold_requests": False})
    check("POST /tasks/{id}/data (single multipart) -> 202 {'rq_id'}",
          r.status == 202 and isinstance(r.json.get("rq_id"), str), r)
    rq = r.json["rq_id"]
    check("rq_id uses the >=2.38 syntax",
          rq == "action=create&target=task&target_id=%d" % tid, rq)
    path = "/api/requests/" + urllib.parse.quote(rq, safe="")
    first = api.get(path)
    check("first poll shows queued/started",
          first.status == 200 and first.json["status"] in ("queued",
                                                           "started"), first)
    check("Request has id/status/message/operation/progress/dates/owner",
          all(k in first.json for k in (
              "id", "status", "message", "operation", "progress",
              "created_date", "started_date", "finished_date",
              "expiry_date", "owner", "result_url")) and
          first.json["operation"]["type"] == "create:task" and
          first.json["operation"]["task_id"] == tid, first.json)
    t = api.get("/api/tasks/%d" % tid).json
    check("before finished: size 0 and no jobs",
          t.get("size", 0) == 0 and t["jobs"]["count"] == 0, t)
    check("before finished: /api/jobs?task_id= is empty",
          api.get("/api/jobs?task_id=%d" % tid).json["count"] == 0)
    r = api.get("/api/requests?action=create&task_id=%d" % tid)
    check("/api/requests?action=create&task_id= finds the request",
          r.json["count"] == 1 and r.json["results"][0]["id"] == rq, r.json)
    ctl("POST", "/requests/release", {"rq_id": rq})
    seen, final = wait_request(api, rq)
    check("request reaches finished", final is not None and
          final.json["status"] == "finished", (seen, final))
    r = api.get("/api/requests/" + urllib.parse.quote("no-such", safe=""))
    check("unknown rq_id -> 404 'There is no request with specified id'",
          r.status == 404 and b"There is no request" in r.body, r)
    t = api.get("/api/tasks/%d" % tid).json
    check("after finished: size == 5, image_quality 70, data id",
          t.get("size") == 5 and t.get("image_quality") == 70 and
          isinstance(t.get("data"), int), t)
    check("after finished: jobs.count == 3 (segment_size 2)",
          t["jobs"]["count"] == 3 and t["mode"] == "annotation", t["jobs"])
    meta = api.get("/api/tasks/%d/data/meta" % tid).json
    names = [f["name"] for f in meta["frames"]]
    check("predefined sorting honours upload_file_order", names == order,
          names)
    dims = {f["name"]: (f["width"], f["height"]) for f in meta["frames"]}
    check("frame sizes read from JPEG SOF and PNG IHDR",
          dims["b.jpg"] == (640, 480) and dims["a.png"] == (32, 16), dims)
    check("EXIF orientation 6 swaps width/height",
          dims["c.jpg"] == (200, 100), dims["c.jpg"])
    check("data/meta has size/chunk_size/image_quality/frames/"
          "deleted_frames", meta["size"] == 5 and meta["image_quality"] == 70
          and meta["deleted_frames"] == [] and "chunk_size" in meta, meta)
    r = api.get("/api/jobs?task_id=%d&sort=start_frame" % tid)
    jobs = r.json["results"]
    check("jobs: absolute inclusive start/stop frames",
          [(j["start_frame"], j["stop_frame"]) for j in jobs] ==
          [(0, 1), (2, 3), (4, 4)], [(j["start_frame"], j["stop_frame"])
                                     for j in jobs])
    check("new jobs: stage annotation, state new, type annotation",
          all(j["stage"] == "annotation" and j["state"] == "new" and
              j["type"] == "annotation" and j["status"] == "annotation"
              for j in jobs), jobs)
    check("JobRead has frame_count, issues {count}, labels {url}",
          all(j["frame_count"] == j["stop_frame"] - j["start_frame"] + 1
              and j["issues"]["count"] == 0 and "url" in j["labels"]
              for j in jobs), jobs[0])
    E.jobs = [j["id"] for j in jobs]
    r = api.get("/api/tasks/%d/data?type=frame&number=3&quality=original"
                % tid)
    check("frame download returns the uploaded bytes",
          r.status == 200 and r.body == dict(files)["b.jpg"] and
          r.h("content-type") == "image/jpeg", r)
    r = api.get("/api/tasks/%d/data?type=chunk&number=0&quality=original"
                % tid)
    check("chunk download is a zip of frames", r.status == 200 and
          len(zipfile.ZipFile(io.BytesIO(r.body)).namelist()) == 5, r)
    r = api.get("/api/tasks/%d/data?type=frame&number=9" % tid)
    check("frame number out of range -> 400", r.status == 400, r)
    r = api.get("/api/jobs/%d/data/meta" % jobs[1]["id"])
    check("job data/meta lists the job's frames",
          [f["name"] for f in r.json["frames"]] == order[2:4], r.json)
    r = api.post("/api/tasks/%d/data" % tid, form=[
        ("image_quality", "70"), ("client_files[0]", ("z.jpg",
                                                      make_jpeg(1, 1)))])
    check("second data attach -> 400 'Adding more data is not supported'",
          r.status == 400 and r.json == "Adding more data is not supported",
          r)
    r = api.get("/api/tasks/%d/status" % tid)
    check("deprecated /tasks/{id}/status reports Finished + Deprecation",
          r.status == 200 and r.json["state"] == "Finished" and
          r.h("deprecation") == "true", r)
    imgs = ctl("GET", "/tasks/%d/images" % tid)
    check("control: stored images (count and sizes) are checkable",
          len(imgs) == 5 and imgs[3]["bytes"] == len(dict(files)["b.jpg"]),
          imgs)


def t_data_chunked_and_sorting():
    api = E.api
    r = api.post("/api/tasks", {"name": "chunked", "labels": [
        {"name": "x"}]})
    tid = r.json["id"]
    r = api.post("/api/tasks/%d/data" % tid, b"",
                 headers={"Upload-Start": "true"})
    check("Upload-Start -> 202 with no body", r.status == 202 and
          r.body == b"", r)
    names = ["img10.jpg", "img2.jpg", "img1.jpg"]
    r = api.post("/api/tasks/%d/data" % tid, headers={
        "Upload-Multiple": "true"}, form=[
        ("client_files[0]", (names[0], make_jpeg(8, 8)))])
    check("Upload-Multiple without image_quality -> 400",
          r.status == 400 and "image_quality" in r.json, r)
    for i, n in enumerate(names):
        r = api.post("/api/tasks/%d/data" % tid, headers={
            "Upload-Multiple": "true"}, form=[
            ("image_quality", "50"),
            ("client_files[0]", (n, make_jpeg(8 + i, 8)))])
    check("Upload-Multiple with image_quality -> 200", r.status == 200, r)
    r = api.post("/api/tasks/%d/data" % tid, {"image_quality": 50,
                                              "sorting_method": "natural"},
                 headers={"Upload-Finish": "true"})
    check("Upload-Finish (JSON body) -> 202 {'rq_id'}",
          r.status == 202 and "rq_id" in r.json, r)
    seen, final = wait_request(api, r.json["rq_id"])
    check("chunked upload finishes", final and
          final.json["status"] == "finished", (seen, final))
    meta = api.get("/api/tasks/%d/data/meta" % tid).json
    check("natural sorting orders img1, img2, img10",
          [f["name"] for f in meta["frames"]] == ["img1.jpg", "img2.jpg",
                                                  "img10.jpg"], meta)
    tid2, _ = create_task(api, "lexi", [(n, make_jpeg(4, 4)) for n in names])
    meta = api.get("/api/tasks/%d/data/meta" % tid2).json
    check("default sorting is lexicographical",
          [f["name"] for f in meta["frames"]] == sorted(names), meta)
    t = api.get("/api/tasks/%d" % tid2).json
    check("segment_size 0 -> one job for all frames",
          t["jobs"]["count"] == 1, t["jobs"])
    tid3, _ = create_task(api, "overlap", [("f%02d.jpg" % i, make_jpeg(4, 4))
                                           for i in range(10)],
                          segment_size=4, overlap=1)
    jobs = api.get("/api/jobs?task_id=%d&sort=start_frame" % tid3).json
    check("segment_size 4 + overlap 1 on 10 frames -> [0-3],[3-6],[6-9]",
          [(j["start_frame"], j["stop_frame"]) for j in jobs["results"]] ==
          [(0, 3), (3, 6), (6, 9)], jobs["results"])
    r = api.post("/api/tasks", {"name": "random", "labels": [{"name": "x"}]})
    rt = r.json["id"]
    form = [("image_quality", "70"), ("sorting_method", "random")]
    form += [("client_files[%d]" % i, ("r%d.jpg" % i, make_jpeg(4, 4)))
             for i in range(6)]
    r = api.post("/api/tasks/%d/data" % rt, form=form)
    wait_request(api, r.json["rq_id"])
    meta = api.get("/api/tasks/%d/data/meta" % rt).json
    check("random sorting keeps every file once",
          sorted(f["name"] for f in meta["frames"]) ==
          ["r%d.jpg" % i for i in range(6)], meta)

    # a request that fails
    r = api.post("/api/tasks", {"name": "bad", "labels": [{"name": "x"}]})
    bt = r.json["id"]
    r = api.post("/api/tasks/%d/data" % bt, form=[
        ("image_quality", "70"), ("client_files[0]", ("x.jpg", b"nope"))])
    seen, final = wait_request(api, r.json["rq_id"])
    check("undecodable image -> request failed with a message",
          final and final.json["status"] == "failed" and
          "x.jpg" in final.json["message"], final)
    t = api.get("/api/tasks/%d" % bt).json
    check("failed creation leaves the task without frames or jobs",
          t.get("size") == 0 and t["jobs"]["count"] == 0, t)
    ctl("POST", "/config", {"fail_requests": 1,
                            "fail_message": "boom for test"})
    r = api.post("/api/tasks", {"name": "f2", "labels": [{"name": "x"}]})
    r = api.post("/api/tasks/%d/data" % r.json["id"], form=[
        ("image_quality", "70"), ("client_files[0]", ("x.jpg",
                                                      make_jpeg(2, 2)))])
    seen, final = wait_request(api, r.json["rq_id"])
    check("fail switch makes the next request failed with its message",
          final and final.json["status"] == "failed" and
          final.json["message"] == "boom for test", final)
    r = api.post("/api/tasks", {"name": "unindexed", "labels": [
        {"name": "x"}]})
    r = api.post("/api/tasks/%d/data" % r.json["id"], form=[
        ("image_quality", "70"), ("client_files", ("x.jpg",
                                                   make_jpeg(2, 2)))])
    seen, final = wait_request(api, r.json["rq_id"])
    check("unindexed client_files are not parsed (no media -> failed)",
          final and final.json["status"] == "failed" and
          "No media" in final.json["message"], final)

    # held requests: observable queued/started until released
    ctl("POST", "/config", {"hold_requests": True})
    r = api.post("/api/tasks", {"name": "held", "labels": [{"name": "x"}]})
    ht = r.json["id"]
    r = api.post("/api/tasks/%d/data" % ht, form=[
        ("image_quality", "70"), ("client_files[0]", ("x.jpg",
                                                      make_jpeg(2, 2)))])
    rq = r.json["rq_id"]
    time.sleep(0.4)
    r = api.get("/api/requests/" + urllib.parse.quote(rq, safe=""))
    check("hold_requests keeps a request started", r.json["status"] ==
          "started", r.json)
    ctl("POST", "/config", {"hold_requests": False})
    ctl("POST", "/requests/release", {"rq_id": rq})
    seen, final = wait_request(api, rq)
    check("released request finishes", final and
          final.json["status"] == "finished", final)
    n = ctl("POST", "/requests/expire", {"rq_id": rq})["expired"]
    r = api.get("/api/requests/" + urllib.parse.quote(rq, safe=""))
    check("expired finished request -> 404 on a late poll",
          n == 1 and r.status == 404, r)


def t_tus():
    api = E.api
    r = api.post("/api/tasks", {"name": "tus", "labels": [{"name": "x"}]})
    tid = r.json["id"]
    r = api.req("OPTIONS", "/api/tasks/%d/data/" % tid)
    check("OPTIONS on data -> 204 with Tus-* headers",
          r.status == 204 and r.h("tus-resumable") == "1.0.0" and
          "creation" in (r.h("tus-extension") or ""), r.headers)
    data = make_jpeg(77, 55, pad=5000)
    meta = "filename " + base64.b64encode(b"big.jpg").decode()
    hdr = {"Upload-Length": str(len(data)), "Upload-Metadata": meta,
           "Tus-Resumable": "1.0.0"}
    r = api.post("/api/tasks/%d/data/" % tid, b"", headers=hdr)
    check("TUS create without Origin fails (server error)",
          r.status >= 500, r)
    hdr["Origin"] = "http://127.0.0.1:%d" % E.port
    r = api.post("/api/tasks/%d/data/" % tid, b"", headers=hdr)
    check("TUS create -> 201 with Location and Upload-Filename",
          r.status == 201 and r.h("location") and r.h("upload-filename"), r)
    loc = urllib.parse.urlsplit(r.h("location")).path
    check("TUS file id is <int>_<uuid4>", r.h("upload-filename") and
          loc.endswith(r.h("upload-filename")) and
          r.h("upload-filename").split("_", 1)[0].isdigit(), loc)
    r = api.req("HEAD", loc, headers={"Tus-Resumable": "1.0.0"})
    check("TUS HEAD -> 200 Upload-Offset 0 and Upload-Length",
          r.status == 200 and r.h("upload-offset") == "0" and
          r.h("upload-length") == str(len(data)), r.headers)
    chunk = {"Tus-Resumable": "1.0.0",
             "Content-Type": "application/offset+octet-stream"}
    r = api.patch(loc, data[:100], headers=dict(chunk, **{
        "Upload-Offset": "7"}))
    check("TUS PATCH with a wrong offset -> 409", r.status == 409, r)
    r = api.patch(loc, data[:3000], headers=dict(chunk, **{
        "Upload-Offset": "0"}))
    check("TUS PATCH -> 204 with the new Upload-Offset",
          r.status == 204 and r.h("upload-offset") == "3000", r)
    r = api.patch(loc, data[3000:], headers=dict(chunk, **{
        "Upload-Offset": "3000"}))
    check("last TUS chunk completes the file", r.status == 204 and
          r.h("upload-offset") == str(len(data)), r)
    r = api.post("/api/tasks/%d/data/" % tid, b"", headers=hdr)
    check("TUS create for an existing file name -> 409", r.status == 409, r)
    r = api.post("/api/tasks/%d/data" % tid, form=[
        ("image_quality", "70"), ("client_files[0]", ("small.jpg",
                                                      make_jpeg(5, 5)))],
        headers={"Upload-Multiple": "true"})
    r = api.post("/api/tasks/%d/data" % tid, {
        "image_quality": 70, "sorting_method": "predefined",
        "upload_file_order": ["small.jpg", "big.jpg"]},
        headers={"Upload-Finish": "true"})
    seen, final = wait_request(api, r.json["rq_id"])
    meta = api.get("/api/tasks/%d/data/meta" % tid).json
    check("TUS + Upload-Multiple files are combined at Upload-Finish",
          [(f["name"], f["width"]) for f in meta["frames"]] ==
          [("small.jpg", 5), ("big.jpg", 77)], meta)


def t_batching_413():
    api = E.api
    ctl("DELETE", "/counters")
    ctl("POST", "/config", {"max_request_bytes": 20000})
    r = api.post("/api/tasks", {"name": "limits", "labels": [{"name": "x"}]})
    tid = r.json["id"]
    big = [("client_files[%d]" % i, ("p%d.jpg" % i, make_jpeg(9, 9,
                                                             pad=6000)))
           for i in range(5)]
    r = api.post("/api/tasks/%d/data" % tid, form=[("image_quality", "70")]
                 + big)
    check("body over max_request_bytes -> 413", r.status == 413, r)
    check("the 413 did not attach data",
          "size" not in api.get("/api/tasks/%d" % tid).json)
    api.post("/api/tasks/%d/data" % tid, b"", headers={"Upload-Start": "1"})
    for i in range(0, 5, 2):
        r = api.post("/api/tasks/%d/data" % tid,
                     headers={"Upload-Multiple": "1"},
                     form=[("image_quality", "70")] +
                     [("client_files[%d]" % k, big[i + k][1])
                      for k in range(min(2, 5 - i))])
        if r.status != 200:
            break
    check("batches under the limit are accepted", r.status == 200, r)
    r = api.post("/api/tasks/%d/data" % tid, {"image_quality": 70},
                 headers={"Upload-Finish": "1"})
    seen, final = wait_request(api, r.json["rq_id"])
    check("batched upload finishes with all 5 frames", final and
          api.get("/api/tasks/%d" % tid).json.get("size") == 5, final)
    c = ctl("GET", "/counters")
    check("counters: upload_batches == 3, files_uploaded == 5, 413 seen",
          c.get("upload_batches") == 3 and c.get("files_uploaded") == 5 and
          c.get("rejected_413") == 1 and c.get("max_batch_bytes", 0) <= 20000,
          c)
    # Expect: 100-continue is refused up front
    s = socket.create_connection(("127.0.0.1", E.port), timeout=5)
    s.sendall(("POST /api/tasks/%d/data HTTP/1.1\r\nHost: x\r\n"
               "Authorization: Token %s\r\nContent-Type: multipart/form-data;"
               " boundary=zz\r\nContent-Length: 999999\r\nExpect: 100-"
               "continue\r\n\r\n" % (tid, E.key)).encode())
    head = s.recv(4096)
    s.close()
    check("Expect: 100-continue with a too-large body -> immediate 413",
          head.startswith(b"HTTP/1.1 413"), head[:80])
    ctl("POST", "/config", {"max_request_bytes": 0})


def make_shape(frame, label, attrs=(), **kw):
    s = {"type": "rectangle", "frame": frame, "label_id": label,
         "points": [1, 2, 11, 22], "attributes": [
             {"spec_id": k, "value": v} for k, v in attrs]}
    s.update(kw)
    return s


def t_annotations():
    api = E.api
    tid = E.task
    url = "/api/tasks/%d/annotations" % tid
    r = api.get(url)
    check("GET task annotations -> {version: 0, tags, shapes, tracks}",
          r.status == 200 and r.json == {"version": 0, "tags": [],
                                         "shapes": [], "tracks": []}, r)
    shapes = [make_shape(0, E.car, [(E.lid_attr, "abc")]),
              make_shape(3, E.person, source="auto"),
              make_shape(4, E.car, [(E.color_attr, "red")]),
              make_shape(99, E.car)]
    r = api.patch(url + "?action=create", {"shapes": shapes})
    out = r.json
    check("PATCH ?action=create -> 200 echo with server-assigned ids",
          r.status == 200 and len(out["shapes"]) == 3 and
          all(isinstance(s["id"], int) for s in out["shapes"]), r)
    check("objects on frames in no job are dropped",
          99 not in [s["frame"] for s in out["shapes"]], out)
    ids = [s["id"] for s in out["shapes"]]
    E.shape_ids = ids
    check("shape ids increase", ids == sorted(ids) and
          len(set(ids)) == 3, ids)
    r = api.get(url)
    got = {s["frame"]: s for s in r.json["shapes"]}
    s0 = got.get(0, {})
    check("defaults filled: occluded/outside/z_order/rotation/group/source",
          s0.get("occluded") is False and s0.get("outside") is False and
          s0.get("z_order") == 0 and s0.get("rotation") == 0.0 and
          s0.get("group") == 0 and s0.get("source") == "manual", s0)
    check("GET returns elements: [] on shapes", s0.get("elements") == [], s0)
    av = {a["spec_id"]: a["value"] for a in s0.get("attributes", [])}
    check("GET fills every label attribute (missing -> default_value)",
          av == {E.color_attr: "blue", E.lid_attr: "abc"}, av)
    check("source kept as sent", got.get(3, {}).get("source") == "auto")
    per_job = [api.get("/api/jobs/%d/annotations" % j).json["shapes"]
               for j in E.jobs]
    check("task-level writes are routed to jobs by frame",
          [[s["frame"] for s in js] for js in per_job] == [[0], [3], [4]],
          per_job)
    check("job-level GET uses absolute frame numbers",
          per_job[2] and per_job[2][0]["frame"] == 4, per_job)

    r = api.patch(url + "?action=create", {"shapes": [make_shape(0, 424242)]})
    check("unknown label_id -> 400 'label_id `N` is invalid'",
          r.status == 400 and "label_id `424242` is invalid" in
          json.dumps(r.json), r)
    # A label that exists, but in another project, is not the task's.
    r = api.post("/api/projects", {"name": "elsewhere", "labels": [
        {"name": "zebra", "type": "rectangle"}]})
    r2 = api.get("/api/labels?project_id=%d" % r.json["id"])
    zebra = r2.json["results"][0]["id"]
    r = api.patch(url + "?action=create", {"shapes": [make_shape(0, zebra)]})
    check("label of another project -> 400 'label_id `N` is invalid'",
          r.status == 400 and "label_id `%d` is invalid" % zebra in
          json.dumps(r.json), r)
    # A label added to the task's project later is usable at once.
    r = api.patch("/api/projects/%d" % E.project, {"labels": [
        {"name": "late", "type": "any", "attributes": []}]})
    r2 = api.get("/api/labels?project_id=%d&name=late" % E.project)
    late = r2.json["results"][0]["id"] if r2.json["count"] else 0
    r = api.patch(url + "?action=create", {"shapes": [make_shape(0, late)]})
    check("a label PATCHed into the project is usable in its tasks",
          r.status == 200 and r.json["shapes"][0]["label_id"] == late, r)
    if r.status == 200:
        api.patch(url + "?action=delete", {"shapes": r.json["shapes"]})
    r = api.patch(url + "?action=create", {"shapes": [
        make_shape(0, E.person, [(E.color_attr, "red")])]})
    check("attribute of another label -> 400 'spec_id `N` is invalid'",
          r.status == 400 and "spec_id" in json.dumps(r.json), r)
    r = api.patch(url + "?action=create", {"shapes": [{"frame": 0}]})
    check("shape without type/label_id -> 400 field errors",
          r.status == 400 and "shapes" in r.json, r)
    r = api.patch(url, {"shapes": []})
    check("PATCH without action -> 400 \"Please specify a correct 'action'\"",
          r.status == 400 and r.json == ["Please specify a correct 'action' "
                                         "for the request"], r)

    upd = dict(got[3], points=[5, 5, 50, 50], label_id=E.car,
               attributes=[{"spec_id": E.color_attr, "value": "red"}])
    r = api.patch(url + "?action=update", {"shapes": [upd]})
    check("PATCH ?action=update keeps the id", r.status == 200 and
          r.json["shapes"][0]["id"] == got[3]["id"], r)
    after = {s["id"]: s for s in api.get(url).json["shapes"]}
    check("update replaced the object", after[got[3]["id"]]["points"] ==
          [5, 5, 50, 50] and after[got[3]["id"]]["label_id"] == E.car,
          after)
    r = api.patch(url + "?action=delete", {"shapes": [got[4]]})
    after = api.get(url).json["shapes"]
    check("PATCH ?action=delete removes by id", r.status == 200 and
          got[4]["id"] not in [s["id"] for s in after], after)

    job = E.jobs[1]
    jurl = "/api/jobs/%d/annotations" % job
    r = api.put(jurl, {"shapes": [make_shape(2, E.person)], "tags": [
        {"frame": 3, "label_id": E.car}]})
    check("PUT job annotations -> 200 with ids", r.status == 200 and
          r.json["shapes"][0]["id"] and r.json["tags"][0]["id"], r)
    all_task = api.get(url).json
    check("PUT on a job replaces only that job's objects",
          sorted(s["frame"] for s in all_task["shapes"]) == [0, 2] and
          len(all_task["tags"]) == 1, all_task)
    check("tags get filled attributes too",
          all_task["tags"][0]["attributes"] != [] and
          all_task["tags"][0]["group"] == 0, all_task["tags"])
    r = api.patch(jurl + "?action=create", {"shapes": [make_shape(0,
                                                                  E.car)]})
    check("job-level write to a frame outside the job -> 400",
          r.status == 400, r)
    r = api.get(jurl + "/")
    check("annotations accepts a trailing slash", r.status == 200, r)

    # update with an id that belongs to another task -> 400
    other, _ = create_task(api, "other", [("o.jpg", make_jpeg(5, 5))],
                           project_id=E.project)
    r = api.patch("/api/tasks/%d/annotations?action=update" % other,
                  {"shapes": [dict(make_shape(0, E.car), id=ids[0])]})
    check("update with an id from another task -> 400", r.status == 400, r)
    r = api.patch("/api/tasks/%d/annotations?action=delete" % other,
                  {"shapes": [dict(make_shape(0, E.car), id=ids[0])]})
    check("delete ignores ids outside the scope",
          r.status == 200 and ids[0] in
          [s["id"] for s in api.get(url).json["shapes"]], r)
    check("delete echoes the request's objects, deleted or not (CVAT's "
          "JobAnnotation._delete)", [x["id"] for x in r.json["shapes"]] ==
          [ids[0]], r)

    r = api.put(url, {"shapes": [make_shape(1, E.car), make_shape(4,
                                                                  E.car)]})
    check("task PUT replaces everything", r.status == 200 and
          sorted(s["frame"] for s in api.get(url).json["shapes"]) == [1, 4]
          and api.get(url).json["tags"] == [], r)
    r = api.get(url + "?format=COCO%201.0")
    check("GET annotations?format= -> 410 on >=2.32", r.status == 410, r)
    r = api.post("/api/tasks", {"name": "nodata", "labels": [{"name": "x"}]})
    r = api.get("/api/tasks/%d/annotations" % r.json["id"])
    check("annotations of a task without data -> 400", r.status == 400, r)
    r = api.delete(url)
    check("DELETE annotations -> 204 and empty", r.status == 204 and
          api.get(url).json["shapes"] == [], r)
    api.put(url, {"shapes": [make_shape(0, E.car, [(E.lid_attr, "k1")]),
                             make_shape(3, E.person)]})


def t_tracks_labels():
    api = E.api
    r = api.post("/api/tasks", {"name": "tracks", "labels": [
        {"name": "car", "attributes": [
            {"name": "speed", "mutable": True, "input_type": "number",
             "values": ["0", "100", "1"], "default_value": "0"},
            {"name": "model", "mutable": False, "input_type": "text",
             "values": [""], "default_value": "unk"}]},
        {"name": "body", "type": "skeleton", "svg": "<svg/>",
         "sublabels": [{"name": "head", "type": "points"}]}]})
    tid = r.json["id"]
    form = [("image_quality", "70")] + [
        ("client_files[%d]" % i, ("t%d.jpg" % i, make_jpeg(10, 10)))
        for i in range(3)]
    r = api.post("/api/tasks/%d/data" % tid, form=form)
    wait_request(api, r.json["rq_id"])
    ls = {l["name"]: l for l in api.get(
        "/api/labels?task_id=%d&page_size=all" % tid).json["results"]}
    check("skeleton sublabels are labels with parent_id/has_parent",
          ls["head"]["parent_id"] == ls["body"]["id"] and
          ls["head"]["has_parent"] and
          [s["name"] for s in ls["body"]["sublabels"]] == ["head"], ls)
    car = ls["car"]
    attr = {a["name"]: a["id"] for a in car["attributes"]}
    url = "/api/tasks/%d/annotations" % tid
    r = api.patch(url + "?action=create", {"tracks": [{
        "frame": 0, "label_id": car["id"], "shapes": [
            {"type": "rectangle", "frame": 0, "points": [0, 0, 4, 4]},
            {"type": "rectangle", "frame": 2, "points": [1, 1, 5, 5],
             "outside": True,
             "attributes": [{"spec_id": attr["speed"], "value": "7"}]}]}],
        "shapes": [{"type": "skeleton", "frame": 1, "label_id":
                    ls["body"]["id"], "elements": [
                        {"type": "points", "frame": 1, "points": [1, 1],
                         "label_id": ls["head"]["id"]}]}]})
    check("tracks and skeletons are accepted", r.status == 200 and
          r.json["tracks"][0]["id"] and
          r.json["shapes"][0]["elements"][0]["id"], r)
    got = api.get(url).json
    tr = got["tracks"][0]
    check("track GET: immutable attributes on the track, mutable ones on "
          "each tracked shape",
          [a["spec_id"] for a in tr["attributes"]] == [attr["model"]] and
          [a["value"] for a in tr["shapes"][0]["attributes"]] == ["0"] and
          [a["value"] for a in tr["shapes"][1]["attributes"]] == ["7"], tr)
    check("skeleton elements come back with their sublabel",
          got["shapes"][0]["elements"][0]["label_id"] == ls["head"]["id"],
          got["shapes"])
    r = api.patch(url + "?action=create", {"shapes": [{
        "type": "skeleton", "frame": 1, "label_id": ls["body"]["id"],
        "elements": [{"type": "points", "frame": 1,
                      "label_id": car["id"]}]}]})
    check("element with a label that is not a sublabel -> 400",
          r.status == 400, r)
    r = api.patch("/api/labels/%d" % car["id"], {"name": "auto",
                                                  "color": "#010203"})
    check("PATCH /api/labels/{id} renames", r.status == 200 and
          r.json["name"] == "auto" and r.json["color"] == "#010203", r)
    r = api.delete("/api/labels/%d" % ls["body"]["id"])
    check("DELETE /api/labels/{id} removes the label and its objects",
          r.status == 204 and api.get(url).json["shapes"] == [], r)
    r = api.post("/api/projects", {"name": "target", "labels": [
        {"name": "auto", "attributes": [
            {"name": "speed", "mutable": True, "input_type": "number",
             "values": ["0", "100", "1"]}]}]})
    pid = r.json["id"]
    r = api.patch("/api/tasks/%d" % tid, {"project_id": pid})
    plab = api.get("/api/labels?project_id=%d" % pid).json["results"][0]
    moved = api.get(url).json["tracks"][0]
    check("moving a task into a project maps labels by name",
          r.status == 200 and r.json["project_id"] == pid and
          moved["label_id"] == plab["id"], (r, moved))


def t_jobs_review():
    api = E.api
    j0 = E.jobs[0]
    r = api.patch("/api/jobs/%d" % j0, {"assignee": E.annotator})
    check("PATCH job assignee (user id) -> BasicUser in response",
          r.status == 200 and r.json["assignee"]["id"] == E.annotator and
          set(r.json["assignee"]) == {"url", "id", "username", "first_name",
                                      "last_name"}, r)
    check("assignee_updated_date is set", r.json["assignee_updated_date"])
    r = api.patch("/api/jobs/%d" % j0, {"assignee": 99999})
    check("unknown assignee id -> 400", r.status == 400, r)
    r = api.patch("/api/jobs/%d" % j0, {"state": "in progress"})
    check("state change only", r.json["state"] == "in progress" and
          r.json["stage"] == "annotation", r.json)
    r = api.patch("/api/jobs/%d" % j0, {"stage": "validation"})
    check("stage change without state resets state to new",
          r.json["stage"] == "validation" and r.json["state"] == "new", r)
    check("legacy status recomputed to validation",
          r.json["status"] == "validation", r.json)
    r = api.patch("/api/jobs/%d" % j0, {"stage": "annotation",
                                        "state": "rejected"})
    check("stage+state in one PATCH (rejected) keeps the state",
          r.json["stage"] == "annotation" and r.json["state"] == "rejected"
          and r.json["status"] == "annotation", r.json)
    r = api.patch("/api/jobs/%d" % j0, {"stage": "bogus"})
    check("invalid stage -> 400", r.status == 400 and "stage" in r.json, r)
    r = api.patch("/api/jobs/%d" % j0, {"type": "ground_truth"})
    check("unknown/write-once job field -> 403", r.status == 403, r)
    r = api.patch("/api/jobs/%d" % j0, {"assignee": None})
    check("assignee null unassigns", r.json["assignee"] is None, r)
    for j in E.jobs:
        api.patch("/api/jobs/%d" % j, {"stage": "acceptance",
                                       "state": "completed"})
    r = api.get("/api/jobs/%d" % E.jobs[0])
    check("acceptance + completed -> legacy status completed",
          r.json["status"] == "completed", r.json)
    t = api.get("/api/tasks/%d" % E.task).json
    check("task status aggregates jobs (all completed -> completed)",
          t["status"] == "completed" and t["jobs"]["completed"] == 3, t)
    api.patch("/api/jobs/%d" % E.jobs[1], {"stage": "validation"})
    t = api.get("/api/tasks/%d" % E.task).json
    check("task status: a validation job -> validation",
          t["status"] == "validation", t["status"])
    r = api.get("/api/jobs?task_id=%d&stage=validation" % E.task)
    check("jobs?stage= filter", r.json["count"] == 1 and
          r.json["results"][0]["id"] == E.jobs[1], r.json)
    r = api.get("/api/jobs?task_id=%d&state=completed&type=annotation"
                % E.task)
    check("jobs?state=&type= filters", r.json["count"] == 2, r.json)
    flt = urllib.parse.quote(json.dumps({"and": [{"==": [
        {"var": "task_id"}, E.task]}, {">": [{"var": "start_frame"}, 1]}]}))
    r = api.get("/api/jobs?filter=" + flt)
    check("JSON-Logic filter= on jobs", r.json["count"] == 2, r.json)
    r = api.delete("/api/jobs/%d" % E.jobs[0])
    check("DELETE of an annotation job -> 400", r.status == 400, r)

    # issues and comments
    job = E.jobs[1]
    r = api.post("/api/issues", {"frame": 2, "position": [1, 2, 3, 4],
                                 "job": job})
    check("issue without message -> 400 field error",
          r.status == 400 and "message" in r.json, r)
    r = api.post("/api/issues", {"frame": 0, "position": [1, 2, 3, 4],
                                 "job": job, "message": "x"})
    check("issue on a frame outside the job -> 400", r.status == 400, r)
    r = api.post("/api/issues", {"frame": 2, "position": [1, 2, 3, 4],
                                 "job": job, "message": "box too loose"})
    check("POST /api/issues -> 201 IssueRead", r.status == 201 and
          r.json["resolved"] is False and r.json["job"] == job and
          "message" not in r.json, r)
    iss = r.json
    check("IssueRead.comments.count == 1 (first comment from message)",
          iss["comments"]["count"] == 1, iss)
    r = api.get("/api/comments?issue_id=%d" % iss["id"])
    check("first comment carries the message",
          r.json["count"] == 1 and r.json["results"][0]["message"] ==
          "box too loose", r.json)
    check("JobRead.issues.count counts the job's issues",
          api.get("/api/jobs/%d" % job).json["issues"]["count"] == 1)
    r = api.post("/api/comments", {"issue": iss["id"], "message": "fixed?"})
    check("POST /api/comments -> 201", r.status == 201 and
          r.json["issue"] == iss["id"], r)
    cid = r.json["id"]
    r = api.patch("/api/comments/%d" % cid, {"message": "fixed!"})
    check("PATCH comment message", r.json.get("message") == "fixed!", r)
    r = api.get("/api/issues?job_id=%d&resolved=false" % job)
    check("issues?resolved=false lists the open issue",
          r.json["count"] == 1, r.json)
    r = api.patch("/api/issues/%d" % iss["id"], {"resolved": True,
                                                 "frame": 3})
    check("PATCH issue resolved; write-once frame unchanged",
          r.json["resolved"] is True and r.json["frame"] == 2, r.json)
    r = api.get("/api/issues?job_id=%d&resolved=false" % job)
    check("resolved filter excludes it now", r.json["count"] == 0, r.json)
    check("issue comments.count == 2",
          api.get("/api/issues/%d" % iss["id"]).json["comments"]["count"]
          == 2)
    r = api.delete("/api/comments/%d" % cid)
    check("DELETE comment -> 204", r.status == 204, r)
    r = api.delete("/api/issues/%d" % iss["id"])
    check("DELETE issue -> 204 and its comments are gone",
          r.status == 204 and api.get("/api/comments?issue_id=%d"
                                      % iss["id"]).json["count"] == 0, r)


def t_export():
    api = E.api
    r = api.get("/api/server/annotation/formats")
    ex = {f["name"]: f for f in r.json["exporters"]}
    check("formats list CVAT for images 1.1 and COCO 1.0 as enabled",
          ex.get("CVAT for images 1.1", {}).get("enabled") and
          ex.get("COCO 1.0", {}).get("enabled") and
          "importers" in r.json, list(ex)[:5])
    base = "/api/tasks/%d/dataset/export" % E.task
    r = api.post(base + "?format=NoSuch%201.0")
    check("unknown format name -> 400", r.status == 400 and
          r.json == ["Unknown format specified for the request"], r)
    r = api.post(base + "?format=" + urllib.parse.quote("YOLO 1.1"))
    check("disabled format -> 405", r.status == 405, r)
    r = api.post(base + "?format=" + urllib.parse.quote(
        "CVAT for images 1.1"))
    check("POST dataset/export -> 202 {'rq_id'}", r.status == 202 and
          "rq_id" in r.json, r)
    rq = r.json["rq_id"]
    r2 = api.post(base + "?format=" + urllib.parse.quote(
        "CVAT for images 1.1"))
    check("identical export while running -> 409 with its rq_id",
          r2.status == 409 and r2.json.get("rq_id") == rq, r2)
    seen, final = wait_request(api, rq)
    check("export finishes with result_url", final and
          final.json["status"] == "finished" and
          "/dataset/download?rq_id=" in (final.json["result_url"] or ""),
          final)
    check("export operation type export:annotations",
          final.json["operation"]["type"] == "export:annotations",
          final.json["operation"])
    u = urllib.parse.urlsplit(final.json["result_url"])
    r = api.get(u.path + "?" + u.query)
    z = zipfile.ZipFile(io.BytesIO(r.body))
    xml = z.read("annotations.xml").decode()
    check("result_url returns a ZIP with annotations.xml",
          r.status == 200 and "<box" in xml and 'name="e.jpg"' in xml,
          xml[:300])
    r = api.post(base + "?format=" + urllib.parse.quote("COCO 1.0") +
                 "&save_images=true")
    seen, final = wait_request(api, r.json["rq_id"])
    u = urllib.parse.urlsplit(final.json["result_url"])
    z = zipfile.ZipFile(io.BytesIO(api.get(u.path + "?" + u.query).body))
    coco = json.loads(z.read("annotations/instances_default.json"))
    check("COCO export: 1-based ids, bbox [x,y,w,h], images saved",
          coco["annotations"] and coco["annotations"][0]["id"] == 1 and
          coco["annotations"][0]["bbox"] == [1, 2, 10, 20] and
          any(n.startswith("images/") for n in z.namelist()), coco)
    r = api.post("/api/projects/%d/dataset/export?format=%s" % (
        E.project, urllib.parse.quote("COCO 1.0")))
    seen, final = wait_request(api, r.json["rq_id"])
    check("project export finishes", final and
          final.json["status"] == "finished", final)


def t_faults_and_control():
    api = E.api
    ctl("DELETE", "/log")
    ctl("POST", "/faults", {"kind": "throttle", "path": "^/api/projects$",
                            "times": 2, "retry_after": 3})
    codes = [api.get("/api/projects") for _ in range(3)]
    check("429 with Retry-After for the next N matching calls",
          [c.status for c in codes] == [429, 429, 200] and
          codes[0].h("retry-after") == "3", [c.status for c in codes])
    check("injected 429 uses CVAT's throttle message",
          "Request was throttled" in codes[0].json["detail"], codes[0])
    ctl("POST", "/faults", {"kind": "error", "status": 500,
                            "method": "GET", "path": "^/api/tasks$",
                            "nth": 2})
    codes = [api.get("/api/tasks").status for _ in range(3)]
    check("500 on the Nth matching call", codes == [200, 500, 200], codes)
    ctl("POST", "/faults", {"kind": "error", "status": 503, "path":
                            "^/api/jobs$"})
    r = api.get("/api/jobs")
    check("503 from the 'proxy'", r.status == 503, r)

    before = ctl("GET", "/state")["tasks"]
    ctl("POST", "/faults", {"kind": "drop", "method": "POST",
                            "path": "^/api/tasks$", "when": "after"})
    dropped = False
    try:
        api.post("/api/tasks", {"name": "lost-response", "labels": [
            {"name": "x"}]}, retry=False)
    except (http.client.RemoteDisconnected, ConnectionError):
        dropped = True
    api.close()
    after = ctl("GET", "/state")["tasks"]
    check("dropped connection: no response at all", dropped)
    check("drop 'after': the task was created although the response was "
          "lost", len(after) == len(before) + 1, (before, after))
    c = ctl("GET", "/counters")
    check("counters expose tasks_created (duplicate detection)",
          isinstance(c.get("tasks_created"), int), c)
    ctl("POST", "/faults", {"kind": "drop", "path": "^/api/users/self$",
                            "rst": True})
    reset = False
    try:
        api.get("/api/users/self", retry=False)
    except (http.client.RemoteDisconnected, ConnectionError):
        reset = True
    api.close()
    check("drop with rst closes the connection", reset)
    ctl("POST", "/faults", {"kind": "delay", "seconds": 0.3,
                            "path": "^/api/server/about$"})
    t0 = time.time()
    r = api.get("/api/server/about")
    check("delay fault slows the request", r.status == 200 and
          time.time() - t0 >= 0.28, time.time() - t0)
    faults = ctl("GET", "/faults")
    check("fault list reports matched/fired counts",
          all("fired" in f for f in faults) and faults[0]["fired"] == 2,
          faults)
    ctl("DELETE", "/faults")
    log = ctl("GET", "/log")
    check("request log has method/path/status entries",
          any(e["method"] == "GET" and e["path"] == "/api/projects" and
              e["status"] == 429 for e in log) and
          any(e["status"] is None and e["fault"] == "drop" for e in log),
          log[:3])

    # token expiry
    pat = ctl("POST", "/access_tokens", {"username": "reviewer"})["value"]
    rev = Http(E.port, {"Authorization": "Bearer " + pat})
    ok1 = rev.get("/api/users/self").status
    n = ctl("POST", "/tokens/expire", {"token": pat})["expired"]
    r = rev.get("/api/users/self")
    check("control: expiring a token -> 401 'Invalid token.'",
          ok1 == 200 and n == 1 and r.status == 401 and
          r.json["detail"] == "Invalid token.", r)

    # play annotator and reviewer
    tid = E.task
    added = ctl("POST", "/tasks/%d/annotations" % tid, {"shapes": [
        make_shape(4, E.person, points=[0, 0, 5, 5])]})
    sid = added["shapes"][0]["id"]
    api_shapes = api.get("/api/tasks/%d/annotations" % tid).json["shapes"]
    check("control: added shape is visible through the API",
          sid in [s["id"] for s in api_shapes], api_shapes)
    ctl("PATCH", "/annotations/shapes/%d" % sid, {"points": [1, 1, 9, 9],
                                                  "label_id": E.car})
    s = [s for s in api.get("/api/tasks/%d/annotations" % tid)
         .json["shapes"] if s["id"] == sid]
    check("control: edit keeps the id and changes geometry/label",
          s and s[0]["points"] == [1, 1, 9, 9] and s[0]["label_id"] == E.car,
          s)
    lst = ctl("GET", "/tasks/%d/annotations" % tid)
    check("control: list shapes", sid in [x["id"] for x in lst["shapes"]])
    ctl("DELETE", "/annotations/shapes/%d" % sid)
    check("control: deleted shape disappears", sid not in [
        x["id"] for x in api.get("/api/tasks/%d/annotations" % tid)
        .json["shapes"]])
    ctl("PATCH", "/jobs/%d" % E.jobs[2], {"stage": "acceptance",
                                          "state": "rejected",
                                          "assignee": "reviewer"})
    r = api.get("/api/jobs/%d" % E.jobs[2]).json
    check("control: job stage/state/assignee change",
          r["stage"] == "acceptance" and r["state"] == "rejected" and
          r["assignee"]["username"] == "reviewer", r)
    iss = ctl("POST", "/issues", {"job": E.jobs[2], "frame": 4,
                                  "position": [0, 0, 3, 3],
                                  "message": "wrong class",
                                  "owner": "reviewer"})
    ctl("POST", "/issues/%d/comments" % iss["id"], {"message": "see frame",
                                                    "owner": "reviewer"})
    r = api.get("/api/issues?job_id=%d&resolved=false" % E.jobs[2])
    check("control: reviewer issue with comments visible via the API",
          r.json["count"] == 1 and r.json["results"][0]["comments"]
          ["count"] == 2 and r.json["results"][0]["owner"]["username"] ==
          "reviewer", r.json)
    tmp, _ = create_task(api, "doomed", [("d.jpg", make_jpeg(3, 3))],
                         project_id=E.project)
    ctl("DELETE", "/tasks/%d" % tmp)
    check("control: deleted task -> 404 through the API",
          api.get("/api/tasks/%d" % tmp).status == 404)


def t_versions_inprocess():
    """Version gates, on in-process servers (start()/stop())."""
    with cvat_server.CvatTestServer(version="2.31.0", password="pw",
                                    queue_delay=0.0,
                                    process_delay=0.05) as srv:
        api = Http(srv.port, {"Authorization": basic("admin", "pw")})
        check("in-process server starts on a free port", srv.port > 0)
        r = api.get("/api/server/about")
        check("about at 2.31 reports the version (and logo_url since 2.30)",
              r.json["version"] == "2.31.0" and "logo_url" in r.json, r)
        tid, rq = create_task(api, "legacy", [("a.jpg", make_jpeg(5, 5))])
        check("<=2.37 rq_id syntax create:task-N",
              rq == "create:task-%d" % tid, rq)
        api.put("/api/tasks/%d/annotations" % tid, {"shapes": [{
            "type": "rectangle", "frame": 0, "points": [0, 0, 1, 1],
            "label_id": srv.tasks[tid] and
            min(srv._task_label_map(srv.tasks[tid]))}]})
        path = "/api/tasks/%d/annotations?format=%s" % (
            tid, urllib.parse.quote("COCO 1.0"))
        r = api.get(path)
        check("legacy export GET -> 202 (started)", r.status == 202, r)
        status = r.status
        deadline = time.time() + 5
        while status == 202 and time.time() < deadline:
            time.sleep(0.05)
            status = api.get(path).status
        check("legacy export GET -> 201 when ready", status == 201, status)
        r = api.get(path + "&action=download")
        check("legacy action=download -> 200 ZIP", r.status == 200 and
              r.body[:2] == b"PK", r)
        r = api.post("/api/tasks/%d/dataset/export?format=%s" % (
            tid, urllib.parse.quote("COCO 1.0")))
        seen, final = wait_request(api, r.json["rq_id"])
        check("2.16-2.31 result_url points at the legacy GET",
              "action=download" in final.json["result_url"], final.json)
        check("<=2.37 export rq_id syntax",
              final.json["id"].startswith("export:task-%d-" % tid),
              final.json["id"])
        r = api.patch("/api/projects/1", {"x": 1})
        check("before 2.21 unknown PATCH fields are ignored (404 here: "
              "no project)", r.status == 404, r)
    with cvat_server.CvatTestServer(version="2.15.0", password="pw",
                                    queue_delay=0.0,
                                    process_delay=0.0) as srv:
        api = Http(srv.port, {"Authorization": basic("admin", "pw")})
        r = api.post("/api/tasks", {"name": "t", "labels": [{"name": "x"}]})
        r = api.post("/api/tasks/%d/data" % r.json["id"], form=[
            ("image_quality", "70"), ("client_files[0]", ("a.jpg",
                                                          make_jpeg(2, 2)))])
        check("before 2.16 data POST -> 202 with an empty body",
              r.status == 202 and r.body == b"", r)
        check("before 2.16 /api/requests does not exist (404)",
              api.get("/api/requests").status == 404)
        r = api.get("/api/server/about")
        check("before 2.30 about has no logo_url/subtitle",
              "logo_url" not in r.json and "subtitle" not in r.json, r.json)
        r = api.get("/api/auth/access_tokens")
        check("PAT endpoints absent on 2.15 without --token",
              r.status == 404, r)
    check("in-process server stopped (port closed)",
          _port_closed(srv.port), srv.port)
    with cvat_server.CvatTestServer(version="2.45.0", password="pw",
                                    strict_accept=False) as srv:
        api = Http(srv.port, {"Authorization": basic("admin", "pw")})
        r = api.get("/api/projects", headers={"Accept": "application/json"})
        check("strict_accept=False never answers 406", r.status == 200, r)
        check("PAT endpoints exist on versions after 2.39",
              api.get("/api/auth/access_tokens").status == 200)


def _port_closed(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except OSError:
        return True


def main():
    t0 = time.time()
    start_subprocess()
    E.ctl = Http(E.port)
    ctl("POST", "/config", {"queue_delay": 0.05, "process_delay": 0.1})
    try:
        for fn in (t_transport, t_pagination_users, t_orgs,
                   t_projects_labels, t_tasks_create, t_data_upload,
                   t_data_chunked_and_sorting, t_tus, t_batching_413,
                   t_annotations, t_tracks_labels, t_jobs_review, t_export,
                   t_faults_and_control, t_versions_inprocess):
            group(fn)
    finally:
        E.proc.terminate()
        try:
            E.proc.wait(5)
        except subprocess.TimeoutExpired:
            E.proc.kill()
    check("server process exits on SIGTERM", E.proc.returncode == 0,
          E.proc.returncode)
    print("1..%d" % _n)
    print("# %d checks, %d failed, %.1f s" % (_n, len(_failed),
                                               time.time() - t0))
    return 1 if _failed else 0


if __name__ == "__main__":
    sys.exit(main())
