#!/usr/bin/python3
"""CVAT-compatible test server for curatefs' integration tests.

Standard library only (Debian's /usr/bin/python3, 3.11).  It implements the
subset of the CVAT REST API described in docs/CVAT-API.md that a
push / review / pull client needs, following the conformance checklist of that
document's section 12, plus a control interface for tests:

  * fault injection (delays, 429 + Retry-After, 5xx, dropped connections,
    413 body limit, expiring tokens and finished requests),
  * "play annotator and reviewer" (edit shapes, move jobs between stages,
    open issues, delete tasks) without going through the public API rules,
  * a request log and counters tests can assert on.

Run it as a program:

    /usr/bin/python3 tests/cvat/cvat_server.py --port 0 --port-file FILE \
        [--user NAME --password PW] [--token PAT] [--version 2.39.0] \
        [--max-request-bytes N]

or import it and use CvatTestServer(...).start() / .stop().  See README.md in
this directory for the control endpoints.

Cloud storages (/api/cloudstorages, tasks from a cloud storage) reach the
bucket with Debian's python3-botocore, imported when first used, as CVAT
does with boto3.

Where docs/CVAT-API.md is silent the behaviour below is a best guess at what a real
CVAT server does; such places carry a comment containing "doc silent".
No code was copied from CVAT; only documented facts (paths, field names,
status codes, messages) are reproduced.
"""

import argparse
import base64
import binascii
import datetime
import hashlib
import http.server
import io
import json
import os
import random
import re
import secrets
import socket
import sys
import threading
import time
import urllib.parse
import uuid
import zipfile
from xml.sax.saxutils import escape as xml_escape, quoteattr

CVAT_MEDIA_TYPE = "application/vnd.cvat+json"
DEFAULT_VERSION = "2.39.0"
MISSING = object()

# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def parse_version(text):
    """'2.39.0' -> (2, 39, 0); tolerant of suffixes like '2.40.0-dev'."""
    parts = []
    for piece in str(text).split(".")[:3]:
        m = re.match(r"\d+", piece)
        parts.append(int(m.group(0)) if m else 0)
    while len(parts) < 3:
        parts.append(0)
    return tuple(parts)


def iso(ts):
    """Epoch seconds -> DRF-style ISO-8601 ('...123456Z'), None -> None."""
    if ts is None:
        return None
    d = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text):
    """ISO-8601 (with Z or offset; naive = UTC) -> epoch seconds."""
    t = text.strip()
    if t.endswith("Z") or t.endswith("z"):
        t = t[:-1] + "+00:00"
    d = datetime.datetime.fromisoformat(t)
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d.timestamp()


def natural_key(name):
    """Human ('natural') sort key: digit runs compare as numbers."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p.lower())
            for p in re.split(r"(\d+)", name) if p != ""]


# --------------------------------------------------------------------------
# Image header readers (no PIL): JPEG SOFn, PNG IHDR, GIF, BMP, WebP, TIFF.
# --------------------------------------------------------------------------

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7,
             0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _exif_orientation(seg):
    """Orientation tag (0x0112) from an APP1 'Exif' segment payload, or 1."""
    if not seg.startswith(b"Exif\x00\x00"):
        return 1
    return _tiff_orientation(seg[6:])


def _tiff_orientation(t):
    """Orientation tag (0x0112) of a TIFF-structured EXIF block (PNG eXIf,
    WebP EXIF, a JPEG APP1 after its "Exif" mark), or 1."""
    if len(t) < 8:
        return 1
    if t[:2] == b"II":
        endian = "little"
    elif t[:2] == b"MM":
        endian = "big"
    else:
        return 1

    def u16(off):
        return int.from_bytes(t[off:off + 2], endian)

    def u32(off):
        return int.from_bytes(t[off:off + 4], endian)

    ifd = u32(4)
    if ifd + 2 > len(t):
        return 1
    for i in range(u16(ifd)):
        e = ifd + 2 + 12 * i
        if e + 12 > len(t):
            break
        if u16(e) == 0x0112:
            v = u16(e + 8)
            return v if 1 <= v <= 8 else 1
    return 1


def jpeg_size(data):
    """(width, height) from the first SOF marker of a JPEG stream.

    Walks the marker segments after SOI, skipping APPn/COM/DQT/... by their
    length fields.  An EXIF Orientation of 5..8 (90-degree rotations) swaps
    the reported width and height: CVAT reports frame sizes "within
    orientation" (the size of the image as displayed).  Raises ValueError for
    anything that is not a complete-enough JPEG header.
    """
    if len(data) < 4 or data[0] != 0xFF or data[1] != 0xD8:
        raise ValueError("not a JPEG (no SOI marker)")
    pos = 2
    orientation = 1
    n = len(data)
    while pos < n:
        if data[pos] != 0xFF:
            raise ValueError("corrupt JPEG: expected a marker at %d" % pos)
        while pos < n and data[pos] == 0xFF:   # fill bytes
            pos += 1
        if pos >= n:
            break
        marker = data[pos]
        pos += 1
        if marker == 0xD8 or marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue                             # standalone markers
        if marker == 0xD9:
            break                                # EOI before any SOF
        if pos + 2 > n:
            break
        seglen = (data[pos] << 8) | data[pos + 1]
        if seglen < 2 or pos + seglen > n:
            raise ValueError("corrupt JPEG: truncated segment")
        payload = data[pos + 2:pos + seglen]
        if marker in _JPEG_SOF:
            if len(payload) < 5:
                raise ValueError("corrupt JPEG: short SOF segment")
            height = (payload[1] << 8) | payload[2]
            width = (payload[3] << 8) | payload[4]
            if width == 0 or height == 0:
                raise ValueError("JPEG with zero width/height")
            if orientation in (5, 6, 7, 8):
                width, height = height, width
            return width, height
        if marker == 0xE1:
            orientation = _exif_orientation(payload) if orientation == 1 \
                else orientation
        if marker == 0xDA:
            break                                # scan data before SOF
        pos += seglen
    raise ValueError("JPEG without a frame header (SOF)")


def _png_orientation(data):
    """Orientation of a PNG's eXIf chunk (before the image data), or 1."""
    pos = 8
    while pos + 8 <= len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        if kind in (b"IDAT", b"IEND"):
            break
        if kind == b"eXIf":
            return _tiff_orientation(data[pos + 8:pos + 8 + n])
        pos += 12 + n
    return 1


def _webp_orientation(data):
    """Orientation of a WebP's EXIF chunk (extended format), or 1.  Some
    writers put JPEG's "Exif" mark before the TIFF block."""
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos:pos + 4]
        n = int.from_bytes(data[pos + 4:pos + 8], "little")
        if kind == b"EXIF":
            t = data[pos + 8:pos + 8 + n]
            return _exif_orientation(t) if t.startswith(b"Exif\x00\x00") \
                else _tiff_orientation(t)
        pos += 8 + n + (n & 1)
    return 1


def _turned(fmt, w, h, orientation):
    """The size "within orientation", as CVAT reports a frame: Pillow's
    EXIF orientation of any format, 5..8 swapping width and height."""
    return (fmt, h, w) if orientation in (5, 6, 7, 8) else (fmt, w, h)


def image_info(data):
    """(format, width, height) sniffed from content, never from the name;
    width and height as displayed (EXIF orientation applied)."""
    if data[:2] == b"\xff\xd8":
        w, h = jpeg_size(data)
        return "jpeg", w, h
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ValueError("corrupt PNG (no IHDR)")
        return _turned("png", int.from_bytes(data[16:20], "big"),
                       int.from_bytes(data[20:24], "big"),
                       _png_orientation(data))
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return ("gif", int.from_bytes(data[6:8], "little"),
                int.from_bytes(data[8:10], "little"))
    if data[:2] == b"BM" and len(data) >= 26:
        return ("bmp", int.from_bytes(data[18:22], "little", signed=True),
                abs(int.from_bytes(data[22:26], "little", signed=True)))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        kind = data[12:16]
        if kind == b"VP8X":
            return _turned("webp", 1 + int.from_bytes(data[24:27], "little"),
                           1 + int.from_bytes(data[27:30], "little"),
                           _webp_orientation(data))
        if kind == b"VP8 ":
            return ("webp", int.from_bytes(data[26:28], "little") & 0x3FFF,
                    int.from_bytes(data[28:30], "little") & 0x3FFF)
        if kind == b"VP8L":
            b = int.from_bytes(data[21:25], "little")
            return "webp", (b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1
    if data[:4] in (b"II*\x00", b"MM\x00*") and len(data) >= 8:
        return tiff_size(data)
    raise ValueError("unsupported or corrupted image")


def tiff_size(data):
    """("tiff", width, height) from the first image directory of a TIFF;
    an Orientation tag of 5..8 swaps them, as for JPEG."""
    endian = "little" if data[:2] == b"II" else "big"

    def u(off, n):
        if off + n > len(data):
            raise ValueError("corrupt TIFF: truncated directory")
        return int.from_bytes(data[off:off + n], endian)

    ifd = u(4, 4)
    width = height = None
    orientation = 1
    for i in range(u(ifd, 2)):
        e = ifd + 2 + 12 * i
        tag, typ = u(e, 2), u(e + 2, 2)
        val = u(e + 8, 2) if typ == 3 else u(e + 8, 4)
        if tag == 256:
            width = val
        elif tag == 257:
            height = val
        elif tag == 274:
            orientation = val
    if not width or not height:
        raise ValueError("corrupt TIFF: no image size")
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return "tiff", width, height


IMAGE_CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png",
                       "gif": "image/gif", "bmp": "image/bmp",
                       "webp": "image/webp", "tiff": "image/tiff"}


# --------------------------------------------------------------------------
# Request body parsing
# --------------------------------------------------------------------------


class UploadedFile:
    def __init__(self, filename, data, content_type):
        self.filename = filename
        self.data = data
        self.content_type = content_type


def _header_params(value):
    """'form-data; name="a"; filename="b"' -> ('form-data', {name:a, ...})."""
    parts = []
    cur, quoted, i = "", False, 0
    while i < len(value):
        c = value[i]
        if c == '"':
            quoted = not quoted
        elif c == "\\" and quoted and i + 1 < len(value):
            i += 1
            cur += value[i]
            i += 1
            continue
        if c == ";" and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    parts.append(cur)
    main = parts[0].strip().lower()
    params = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            v = v.strip()
            if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
                v = v[1:-1]
            params[k.strip().lower()] = v
    if "filename*" in params:            # RFC 5987: utf-8''name
        v = params["filename*"]
        if "''" in v:
            v = v.split("''", 1)[1]
        params["filename"] = urllib.parse.unquote(v)
    return main, params


def parse_multipart(body, content_type):
    """Return a list of (name, value) where value is str or UploadedFile."""
    _, params = _header_params(content_type)
    boundary = params.get("boundary")
    if not boundary:
        raise ValueError("Multipart form parse error - Invalid boundary in "
                         "multipart: None")
    delim = b"--" + boundary.encode("latin-1")
    out = []
    pieces = body.split(delim)
    if len(pieces) < 2:
        raise ValueError("Multipart form parse error - no parts")
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break                               # closing delimiter
        if piece.startswith(b"\r\n"):
            piece = piece[2:]
        elif piece.startswith(b"\n"):
            piece = piece[1:]
        sep = piece.find(b"\r\n\r\n")
        seplen = 4
        if sep < 0:
            sep = piece.find(b"\n\n")
            seplen = 2
        if sep < 0:
            raise ValueError("Multipart form parse error - bad part headers")
        head = piece[:sep].decode("utf-8", "replace")
        data = piece[sep + seplen:]
        if data.endswith(b"\r\n"):
            data = data[:-2]
        elif data.endswith(b"\n"):
            data = data[:-1]
        hdrs = {}
        for line in re.split(r"\r?\n", head):
            if ":" in line:
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        _, disp = _header_params(hdrs.get("content-disposition", ""))
        name = disp.get("name")
        if name is None:
            continue
        if "filename" in disp:
            out.append((name, UploadedFile(
                disp["filename"], data,
                hdrs.get("content-type", "application/octet-stream"))))
        else:
            out.append((name, data.decode("utf-8", "replace")))
    return out


def form_list(fields, name):
    """DRF-style list extraction from form fields: indexed keys
    'name[0]', 'name[1]', ... (sorted by index) or, failing that, repeated
    'name' keys.  Returns None if absent."""
    indexed = {}
    for k, v in fields:
        m = re.fullmatch(re.escape(name) + r"\[(\d+)\]", k)
        if m:
            indexed[int(m.group(1))] = v
    if indexed:
        return [indexed[i] for i in sorted(indexed)]
    rep = [v for k, v in fields if k == name]
    return rep if rep else None


# --------------------------------------------------------------------------
# Errors and responses
# --------------------------------------------------------------------------


class Resp:
    """A complete HTTP response produced by the application."""

    def __init__(self, status, body=b"", content_type=None, headers=None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = list(headers or [])


def json_resp(status, obj, headers=None):
    if obj is None and status in (204,):
        return Resp(status, b"", None, headers)
    data = json.dumps(obj, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")
    return Resp(status, data, CVAT_MEDIA_TYPE, headers)


class ApiError(Exception):
    """Raised anywhere in a handler; becomes the HTTP error response.

    body: a JSON-able object (rendered as application/vnd.cvat+json) or,
    with text=True, a plain-text string."""

    def __init__(self, status, body, headers=None, text=False):
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers or []
        self.text = text

    def response(self):
        if self.text:
            return Resp(self.status, str(self.body).encode("utf-8"),
                        "text/plain; charset=utf-8", self.headers)
        return json_resp(self.status, self.body, self.headers)


def bad(body):
    return ApiError(400, body)


def not_found(model=None):
    # DRF 3.16 wording (the one CVAT 2.39 ships); older DRF said "Not found."
    if model:
        return ApiError(404, {"detail": "No %s matches the given query."
                              % model})
    return ApiError(404, {"detail": "Not found."})


DJANGO_404 = (b"<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found"
              b"</title>\n</head>\n<body>\n  <h1>Not Found</h1><p>The requeste"
              b"d resource was not found on this server.</p>\n</body>\n</html>"
              b"\n")
DJANGO_500 = (b"<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server "
              b"Error (500)</title>\n</head>\n<body>\n  <h1>Server Error (500)"
              b"</h1><p></p>\n</body>\n</html>\n")


def proxy_error_page(status, reason):
    """An nginx-style error page (what the reverse proxy in front of CVAT
    sends for 413/502/503/504)."""
    title = ("%d %s" % (status, reason)).encode()
    return (b"<html>\r\n<head><title>" + title + b"</title></head>\r\n<body>"
            b"\r\n<center><h1>" + title + b"</h1></center>\r\n<hr><center>"
            b"nginx</center>\r\n</body>\r\n</html>\r\n")


# --------------------------------------------------------------------------
# Serializer-style validation (DRF semantics and messages)
# --------------------------------------------------------------------------

REQUIRED = "This field is required."
NOT_NULL = "This field may not be null."
TRUE_VALUES = {"t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True",
               "TRUE", "on", "On", "ON", "1", 1, True}
FALSE_VALUES = {"f", "F", "n", "N", "no", "No", "NO", "false", "False",
                "FALSE", "off", "Off", "OFF", "0", 0, 0.0, False}


class F:
    """Field spec.  kind: int float bool str list obj any number_list."""

    def __init__(self, kind, required=False, null=False, default=MISSING,
                 choices=None, min=None, max=None, max_length=None,
                 min_length=None, allow_blank=False, item=None, fields=None,
                 allow_empty=True):
        self.kind = kind
        self.required = required
        self.null = null
        self.default = default
        self.choices = choices
        self.min = min
        self.max = max
        self.max_length = max_length
        self.min_length = min_length
        self.allow_blank = allow_blank
        self.item = item
        self.fields = fields
        self.allow_empty = allow_empty


class Invalid(Exception):
    def __init__(self, detail):
        super().__init__(detail)
        self.detail = detail


def _type_name(v):
    return {dict: "dict", list: "list", str: "str", int: "int",
            float: "float", bool: "bool"}.get(type(v), type(v).__name__)


def clean_value(spec, v):
    """Validate/coerce one value; raises Invalid(list-or-dict of errors)."""
    if v is None:
        if spec.null:
            return None
        raise Invalid([NOT_NULL])
    k = spec.kind
    if k == "int":
        if isinstance(v, bool):
            raise Invalid(["A valid integer is required."])
        if isinstance(v, float):
            if v != int(v):
                raise Invalid(["A valid integer is required."])
            v = int(v)
        elif isinstance(v, str):
            try:
                v = int(v.strip())
            except ValueError:
                raise Invalid(["A valid integer is required."])
        elif not isinstance(v, int):
            raise Invalid(["A valid integer is required."])
        if spec.min is not None and v < spec.min:
            raise Invalid(["Ensure this value is greater than or equal to "
                           "%s." % spec.min])
        if spec.max is not None and v > spec.max:
            raise Invalid(["Ensure this value is less than or equal to "
                           "%s." % spec.max])
        return v
    if k == "float":
        if isinstance(v, bool):
            raise Invalid(["A valid number is required."])
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise Invalid(["A valid number is required."])
        if v != v or v in (float("inf"), float("-inf")):
            raise Invalid(["A valid number is required."])
        if spec.min is not None and v < spec.min:
            raise Invalid(["Ensure this value is greater than or equal to "
                           "%s." % spec.min])
        if spec.max is not None and v > spec.max:
            raise Invalid(["Ensure this value is less than or equal to "
                           "%s." % spec.max])
        return v
    if k == "bool":
        if isinstance(v, (str, int, float, bool)) and v in TRUE_VALUES:
            return True
        if isinstance(v, (str, int, float, bool)) and v in FALSE_VALUES:
            return False
        raise Invalid(["Must be a valid boolean."])
    if k == "str":
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise Invalid(["Not a valid string."])
        v = str(v).strip()
        if v == "" and not spec.allow_blank:
            raise Invalid(["This field may not be blank."])
        if spec.max_length is not None and len(v) > spec.max_length:
            raise Invalid(["Ensure this field has no more than %d "
                           "characters." % spec.max_length])
        if spec.min_length is not None and len(v) < spec.min_length:
            raise Invalid(["Ensure this field has at least %d characters."
                           % spec.min_length])
        if spec.choices is not None and v not in spec.choices:
            raise Invalid(['"%s" is not a valid choice.' % v])
        return v
    if k == "choice":
        if not isinstance(v, (str, int)) or v not in spec.choices:
            raise Invalid(['"%s" is not a valid choice.' % v])
        return v
    if k == "list":
        if not isinstance(v, list):
            raise Invalid(['Expected a list of items but got type "%s".'
                           % _type_name(v)])
        if not v and not spec.allow_empty:
            raise Invalid(["This list may not be empty."])
        out, errs, bad_any = [], [], False
        for item in v:
            try:
                out.append(clean_value(spec.item, item))
                errs.append({} if spec.item.kind == "obj" else [])
            except Invalid as e:
                bad_any = True
                errs.append(e.detail)
        if bad_any:
            if spec.item.kind == "obj":
                raise Invalid(errs)
            # DRF ListField reports {index: [msgs]}
            raise Invalid({str(i): e for i, e in enumerate(errs) if e})
        return out
    if k == "obj":
        return clean_obj(v, spec.fields)
    if k == "any":
        return v
    raise AssertionError(k)


def clean_obj(data, fields, partial=False):
    """Validate a dict against {name: F}; unknown keys are dropped (DRF)."""
    if not isinstance(data, dict):
        raise Invalid({"non_field_errors": [
            "Invalid data. Expected a dictionary, but got %s."
            % _type_name(data)]})
    out, errs = {}, {}
    for name, spec in fields.items():
        if name not in data:
            if spec.required and not partial:
                errs[name] = [REQUIRED]
            elif spec.default is not MISSING and not partial:
                d = spec.default
                out[name] = d() if callable(d) else d
            continue
        try:
            out[name] = clean_value(spec, data[name])
        except Invalid as e:
            errs[name] = e.detail
    if errs:
        raise Invalid(errs)
    return out


def validate(data, fields, partial=False):
    try:
        return clean_obj(data, fields, partial)
    except Invalid as e:
        raise bad(e.detail)


# --------------------------------------------------------------------------
# Serializer field sets (write side), after docs/CVAT-API.md §3-§6
# --------------------------------------------------------------------------

INPUT_TYPES = ("checkbox", "radio", "number", "text", "select")
LABEL_TYPES = ("any", "cuboid", "ellipse", "mask", "points", "polygon",
               "polyline", "rectangle", "skeleton", "tag")
SHAPE_TYPES = ("rectangle", "polygon", "polyline", "points", "ellipse",
               "cuboid", "mask", "skeleton")
STAGES = ("annotation", "validation", "acceptance")
STATES = ("new", "in progress", "completed", "rejected")
SORTING = ("lexicographical", "natural", "predefined", "random")

ATTRIBUTE_FIELDS = {
    "id": F("int"),
    "name": F("str", required=True, max_length=64),
    "mutable": F("bool", required=True),
    "input_type": F("str", required=True, choices=INPUT_TYPES),
    "values": F("list", required=True,
                item=F("str", allow_blank=True, max_length=200)),
    "default_value": F("str", allow_blank=True, max_length=128),
}
LABEL_FIELDS = {
    "id": F("int", null=True),
    "name": F("str", max_length=64),
    "color": F("str", allow_blank=True, max_length=7),
    "type": F("str", choices=LABEL_TYPES),
    "attributes": F("list", item=F("obj", fields=ATTRIBUTE_FIELDS)),
    "svg": F("str", allow_blank=True),
    "deleted": F("bool"),
}
LABEL_FIELDS["sublabels"] = F("list", item=F("obj", fields=LABEL_FIELDS))
STORAGE = F("any", null=True)

PROJECT_FIELDS = {
    "name": F("str", required=True, max_length=256),
    "labels": F("list", item=F("obj", fields=LABEL_FIELDS), default=list),
    "owner_id": F("int", null=True),
    "assignee_id": F("int", null=True),
    "bug_tracker": F("str", allow_blank=True, max_length=2000),
    "source_storage": STORAGE,
    "target_storage": STORAGE,
}
PROJECT_PATCHABLE = set(PROJECT_FIELDS)

TASK_FIELDS = {
    "name": F("str", required=True, max_length=256),
    "project_id": F("int", null=True),
    "labels": F("list", item=F("obj", fields=LABEL_FIELDS)),
    "owner_id": F("int", null=True),
    "assignee_id": F("int", null=True),
    "bug_tracker": F("str", allow_blank=True, max_length=2000),
    "overlap": F("int", null=True, min=0),
    "segment_size": F("int", min=0),
    "subset": F("str", allow_blank=True, max_length=64),
    "source_storage": STORAGE,
    "target_storage": STORAGE,
    "consensus_replicas": F("int", min=0),
}
# CVAT-API.md §4: the fields a task PATCH may carry; anything else is
# "unknown" (403 since 2.21).
TASK_PATCHABLE = {"name", "project_id", "owner_id", "assignee_id",
                  "bug_tracker", "labels", "subset", "source_storage",
                  "target_storage"}

JOB_PATCH_FIELDS = {
    "assignee": F("int", null=True),
    "stage": F("str", choices=STAGES),
    "state": F("str", choices=STATES),
}

DATA_FIELDS = {
    "image_quality": F("int", required=True, min=0, max=100),
    "use_zip_chunks": F("bool", default=False),
    "use_cache": F("bool", default=False),
    "copy_data": F("bool", default=False),
    "storage_method": F("str", choices=("cache", "file_system")),
    "storage": F("str", choices=("cloud_storage", "local", "share")),
    "sorting_method": F("str", choices=SORTING, default="lexicographical"),
    "upload_file_order": F("list", item=F("str", max_length=1024)),
    "chunk_size": F("int", null=True, min=0),
    "start_frame": F("int", min=0),
    "stop_frame": F("int", min=0),
    "frame_filter": F("str", allow_blank=True, max_length=256),
    "filename_pattern": F("str", null=True, allow_blank=True),
    "job_file_mapping": F("list", item=F("list", item=F("str"))),
    "server_files": F("list", item=F("str")),
    "server_files_exclude": F("list", item=F("str")),
    "remote_files": F("list", item=F("str")),
    "cloud_storage_id": F("int", null=True),
    "validation_params": F("any", null=True),
}
DATA_LIST_FIELDS = ("upload_file_order", "server_files",
                    "server_files_exclude", "remote_files")

# Cloud storages (CVAT's CloudStorageWriteSerializer and the CloudStorage
# model): the length limits are the serializer's and the model's.
CLOUD_PROVIDERS = ("AWS_S3_BUCKET", "AZURE_CONTAINER",
                   "GOOGLE_CLOUD_STORAGE")
CLOUD_CREDENTIALS = ("KEY_SECRET_KEY_PAIR", "ACCOUNT_NAME_TOKEN_PAIR",
                     "KEY_FILE_PATH", "ANONYMOUS_ACCESS", "CONNECTION_STRING")
CLOUD_FIELDS = {
    "provider_type": F("str", required=True, choices=CLOUD_PROVIDERS),
    "resource": F("str", required=True, max_length=222),
    "display_name": F("str", required=True, max_length=63),
    "credentials_type": F("str", required=True, choices=CLOUD_CREDENTIALS),
    "session_token": F("str", allow_blank=True, max_length=440),
    "key": F("str", allow_blank=True, max_length=40),
    "secret_key": F("str", allow_blank=True, max_length=64),
    "account_name": F("str", allow_blank=True, max_length=24),
    "connection_string": F("str", allow_blank=True, max_length=1024),
    "specific_attributes": F("str", allow_blank=True, max_length=1024),
    "description": F("str", allow_blank=True),
    "manifests": F("list", item=F("str", max_length=1024), default=list),
}
# Read-only fields of the write serializer: accepted and ignored.
CLOUD_READ_ONLY = ("id", "owner", "created_date", "updated_date",
                   "organization")

ATTR_VAL = F("obj", fields={
    "spec_id": F("int", required=True),
    "value": F("str", required=True, allow_blank=True, max_length=4096),
})
_SHAPE_COMMON = {
    "type": F("str", required=True, choices=SHAPE_TYPES),
    "occluded": F("bool", default=False),
    "outside": F("bool", default=False),
    "z_order": F("int", default=0),
    "rotation": F("float", default=0.0, min=0, max=360),
    "points": F("list", item=F("float"), default=list),
    "id": F("int", null=True),
    "frame": F("int", required=True, min=0),
    "attributes": F("list", item=ATTR_VAL, default=list),
}
SUBSHAPE_FIELDS = dict(_SHAPE_COMMON, **{
    "label_id": F("int", required=True, min=0),
    "group": F("int", null=True, min=0, default=0),
    "source": F("str", allow_blank=True, max_length=16, default="manual"),
})
SHAPE_FIELDS = dict(SUBSHAPE_FIELDS, **{
    "elements": F("list", item=F("obj", fields=SUBSHAPE_FIELDS),
                  default=list),
})
TAG_FIELDS = {
    "id": F("int", null=True),
    "frame": F("int", required=True, min=0),
    "label_id": F("int", required=True, min=0),
    "group": F("int", null=True, min=0, default=0),
    "source": F("str", allow_blank=True, max_length=16, default="manual"),
    "attributes": F("list", item=ATTR_VAL, default=list),
}
TRACKED_SHAPE_FIELDS = dict(_SHAPE_COMMON)
SUBTRACK_FIELDS = {
    "id": F("int", null=True),
    "frame": F("int", required=True, min=0),
    "label_id": F("int", required=True, min=0),
    "group": F("int", null=True, min=0, default=0),
    "source": F("str", allow_blank=True, max_length=16, default="manual"),
    "attributes": F("list", item=ATTR_VAL, default=list),
    "shapes": F("list", item=F("obj", fields=TRACKED_SHAPE_FIELDS),
                default=list),
}
TRACK_FIELDS = dict(SUBTRACK_FIELDS, **{
    "elements": F("list", item=F("obj", fields=SUBTRACK_FIELDS),
                  default=list),
})
LABELED_DATA_FIELDS = {
    "version": F("int", default=0),
    "tags": F("list", item=F("obj", fields=TAG_FIELDS), default=list),
    "shapes": F("list", item=F("obj", fields=SHAPE_FIELDS), default=list),
    "tracks": F("list", item=F("obj", fields=TRACK_FIELDS), default=list),
}
ANN_KINDS = ("tags", "shapes", "tracks")

ISSUE_FIELDS = {
    "frame": F("int", required=True, min=0),
    "position": F("list", required=True, item=F("float"), allow_empty=False),
    "job": F("int", required=True),
    "message": F("str", required=True),
    "assignee": F("int", null=True),
    "resolved": F("bool", default=False),
}
ISSUE_PATCH_FIELDS = {
    "position": F("list", item=F("float"), allow_empty=False),
    "assignee": F("int", null=True),
    "resolved": F("bool"),
}
COMMENT_FIELDS = {
    "issue": F("int", required=True),
    "message": F("str", required=True),
}
ORG_FIELDS = {
    "slug": F("str", required=True, max_length=16),
    "name": F("str", allow_blank=True, max_length=64),
    "description": F("str", allow_blank=True),
    "contact": F("any"),
}
PAT_FIELDS = {
    "name": F("str", required=True, max_length=255),
    "expiry_date": F("str", null=True),
    "read_only": F("bool", default=False),
}

# CVAT-API.md §7: the (export name, import name) registry.  The test server can
# really produce the formats in EXPORTABLE; the rest are listed with
# enabled=false (export -> 405, as for a disabled format).
_BOTH = ["COCO 1.0", "COCO Keypoints 1.0", "PASCAL VOC 1.1", "YOLO 1.1",
         "ImageNet 1.0", "Datumaro 1.0", "Segmentation mask 1.1",
         "LabelMe 3.0", "MOT 1.1", "MOTS PNG 1.0", "CamVid 1.0",
         "Cityscapes 1.0", "KITTI 1.0", "Open Images V6 1.0",
         "WiderFace 1.0", "VGGFace2 1.0", "Market-1501 1.0", "LFW 1.0",
         "ICDAR Recognition 1.0", "ICDAR Localization 1.0",
         "ICDAR Segmentation 1.0", "Ultralytics YOLO Detection 1.0",
         "Ultralytics YOLO Segmentation 1.0", "Ultralytics YOLO Pose 1.0",
         "Ultralytics YOLO Oriented Bounding Boxes 1.0",
         "Ultralytics YOLO Classification 1.0"]
_BOTH_3D = ["Datumaro 3D 1.0", "Kitti Raw Format 1.0",
            "Sly Point Cloud Format 1.0"]
EXPORTERS = _BOTH + _BOTH_3D + ["CVAT for images 1.1", "CVAT for video 1.1",
                                "Ultralytics YOLO Detection Track 1.0"]
IMPORTERS = _BOTH + _BOTH_3D + ["CVAT 1.1"]
EXPORTABLE = {"CVAT for images 1.1", "COCO 1.0"}

LABEL_COLORS = ["#33ddff", "#fa3253", "#34d1b7", "#ff007c", "#ff6037",
                "#ddff33", "#24b353", "#b83df5", "#66ff66", "#32b7fa",
                "#ffcc33", "#83e070", "#fafa37", "#5986b3", "#8c78f0",
                "#ff6a4d", "#f078f0", "#2a7dd1", "#b25050", "#cc3366"]


# --------------------------------------------------------------------------
# Listing helpers: JSON-Logic filter, pagination
# --------------------------------------------------------------------------


def jsonlogic(expr, getvar):
    """Evaluate the JSON-Logic subset CVAT's `filter=` uses."""
    if isinstance(expr, list):
        return [jsonlogic(e, getvar) for e in expr]
    if not isinstance(expr, dict):
        return expr
    if len(expr) != 1:
        raise ValueError("each JSON-Logic node must have exactly one operator")
    op, args = next(iter(expr.items()))
    if op == "var":
        name = args[0] if isinstance(args, list) else args
        return getvar(name)
    if not isinstance(args, list):
        args = [args]
    if op == "and":
        return all(jsonlogic(a, getvar) for a in args)
    if op == "or":
        return any(jsonlogic(a, getvar) for a in args)
    if op == "!":
        return not jsonlogic(args[0], getvar)
    if op == "!!":
        return bool(jsonlogic(args[0], getvar))
    vals = [jsonlogic(a, getvar) for a in args]
    if op in ("==", "==="):
        return vals[0] == vals[1]
    if op in ("!=", "!=="):
        return vals[0] != vals[1]
    if op == "in":
        try:
            return vals[0] in vals[1]
        except TypeError:
            return False
    if op in ("<", "<=", ">", ">="):
        if any(v is None for v in vals):
            return False
        cmp = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
               ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}[op]
        try:
            return all(cmp(vals[i], vals[i + 1])
                       for i in range(len(vals) - 1))
        except TypeError:
            return False
    raise ValueError("unsupported JSON-Logic operator %r" % op)


def replace_query_param(url, key, value):
    """DRF's helper: set/replace `key` in the URL's query (params sorted)."""
    parts = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    q[key] = [str(value)]
    query = urllib.parse.urlencode(sorted(q.items()), doseq=True)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path,
                                    query, parts.fragment))


def remove_query_param(url, key):
    parts = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    q.pop(key, None)
    query = urllib.parse.urlencode(sorted(q.items()), doseq=True)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path,
                                    query, parts.fragment))


class Req:
    """One parsed HTTP request as the application sees it."""

    def __init__(self, method, raw_path, headers, body, base, client):
        self.method = method
        split = urllib.parse.urlsplit(raw_path)
        self.raw_path = split.path
        self.path = urllib.parse.unquote(split.path)
        self.query_string = split.query
        self.query = urllib.parse.parse_qs(split.query,
                                           keep_blank_values=True)
        self.headers = headers              # dict, lower-case keys
        self.body = body
        self.base = base                    # "http://127.0.0.1:PORT"
        self.client = client
        self.user = None
        self.auth = None                    # token|session|basic|pat
        self.pat = None
        self.org = None                     # ("all"|"sandbox"|org_id)
        self.org_id = None                  # org for created objects
        self.route = None
        self.files_count = 0
        self._data = MISSING

    def q(self, name, default=None):
        v = self.query.get(name)
        return v[-1] if v else default

    def has_q(self, name):
        return name in self.query

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    @property
    def full_url(self):
        url = self.base + self.raw_path
        if self.query_string:
            url += "?" + self.query_string
        return url

    @property
    def content_type(self):
        return (self.header("content-type") or "").split(";")[0].strip() \
            .lower()

    def data(self):
        """Parsed body: dict for JSON, list of (name, value) for multipart.
        Raises 400 on malformed JSON and 415 on unsupported media types
        (x-www-form-urlencoded is not parsed by CVAT)."""
        if self._data is not MISSING:
            return self._data
        ct = self.content_type
        if not self.body:
            self._data = {}
        elif ct == "multipart/form-data":
            try:
                self._data = parse_multipart(self.body,
                                             self.header("content-type"))
            except ValueError as e:
                raise ApiError(400, {"detail": str(e)})
        elif ct == "application/json" or ct.endswith("+json") or ct == "":
            # doc silent on vendor/empty content types for request bodies;
            # we accept any JSON media type (and none) as JSON.
            try:
                self._data = json.loads(self.body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                raise ApiError(400, {"detail": "JSON parse error - %s" % e})
        else:
            raise ApiError(415, {"detail": 'Unsupported media type "%s" in '
                                 'request.' % self.header("content-type")})
        return self._data

    def json_obj(self):
        """Body as a dict (multipart fields flattened to their last value)."""
        d = self.data()
        if isinstance(d, list):
            out = {}
            for k, v in d:
                if not isinstance(v, UploadedFile):
                    out[k] = v
            return out
        return d


# --------------------------------------------------------------------------
# A cloud storage's bucket, reached the way CVAT reaches it
# --------------------------------------------------------------------------

def cloud_attrs(text):
    """specific_attributes ("region=..&endpoint_url=..&prefix=..") as CVAT
    reads them: parse_qsl."""
    return dict(urllib.parse.parse_qsl(text or ""))


def cloud_db_credentials(ctype, key, secret, token):
    """What CVAT's database keeps of a cloud storage's credentials
    (Credentials.convert_to_db / convert_from_db): an access key and its
    secret for KEY_SECRET_KEY_PAIR, the token (with an account name S3 has
    no use for) for ACCOUNT_NAME_TOKEN_PAIR, nothing for the others.  The
    session token of an S3 key pair only ever serves the check made when
    the record is created; every later use of the record goes without
    it."""
    if ctype == "KEY_SECRET_KEY_PAIR":
        return (key, secret, "")
    if ctype == "ACCOUNT_NAME_TOKEN_PAIR":
        return ("", "", token)
    return ("", "", "")


class CloudBucket:
    """The bucket of one cloud storage record, read with botocore's S3
    client (CVAT uses boto3, which is botocore underneath), as CVAT's
    S3CloudStorage does: signed when the record holds credentials, and
    unsigned when it holds none, whatever its credentials_type; exactly
    one of key, secret and token is refused ("Insufficient data for
    authentication", which the views answer with a 500).  Imported lazily
    so the rest of the server needs nothing beyond the standard library."""

    def __init__(self, cs):
        import botocore.session
        from botocore import UNSIGNED
        from botocore.config import Config
        attrs = cloud_attrs(cs["specific_attributes"])
        self.bucket = cs["resource"]
        self.prefix = attrs.get("prefix", "")
        cfg = Config(connect_timeout=5, read_timeout=60,
                     retries={"max_attempts": 2})
        key, secret, token = cs["credentials"]
        given = sum(1 for x in (key, secret, token) if x)
        if given == 1:
            raise ValueError("Insufficient data for authentication")
        kw = {}
        if given:
            kw = {"aws_access_key_id": key or None,
                  "aws_secret_access_key": secret or None,
                  "aws_session_token": token or None}
        else:
            cfg = cfg.merge(Config(signature_version=UNSIGNED))
        self.cli = botocore.session.Session().create_client(
            "s3", region_name=attrs.get("region") or "us-east-1",
            endpoint_url=attrs.get("endpoint_url") or None, config=cfg, **kw)

    @staticmethod
    def _code(e):
        return str(e.response.get("Error", {}).get("Code", ""))

    def status(self):
        """AVAILABLE / FORBIDDEN / NOT_FOUND from HeadBucket, as CVAT's
        S3CloudStorage.get_status: a 403 is FORBIDDEN, any other error
        and an unreachable endpoint NOT_FOUND."""
        from botocore.exceptions import ClientError, EndpointConnectionError
        try:
            self.cli.head_bucket(Bucket=self.bucket)
            return "AVAILABLE"
        except ClientError as e:
            return "FORBIDDEN" if self._code(e) == "403" else "NOT_FOUND"
        except EndpointConnectionError:
            return "NOT_FOUND"

    def file_status(self, key):
        from botocore.exceptions import ClientError
        try:
            self.cli.head_object(Bucket=self.bucket, Key=key)
            return "AVAILABLE"
        except ClientError as e:
            return "FORBIDDEN" if self._code(e) == "403" else "NOT_FOUND"

    def list_keys(self, prefix):
        keys, token = [], None
        while True:
            kw = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                kw["ContinuationToken"] = token
            page = self.cli.list_objects_v2(**kw)
            keys += [o["Key"] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return keys
            token = page["NextContinuationToken"]

    def get(self, key):
        return self.cli.get_object(Bucket=self.bucket, Key=key)["Body"].read()


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------

DEFAULT_CONFIG = {
    "version": DEFAULT_VERSION,       # About.version; drives version gates
    "max_request_bytes": 0,           # 0 = unlimited; else 413 above it
    "strict_accept": True,            # 406 unless vendor type / */* accepted
    "anon_rate": 100,                 # anonymous requests per minute (0=off)
    "queue_delay": 0.1,               # seconds a new request stays "queued"
    "process_delay": 0.2,             # seconds it then stays "started"
    "request_ttl": 86400.0,           # finished requests expire after this
    "hold_requests": False,           # keep new requests "started" until
                                      # released by the control API
    "fail_requests": 0,               # make the next N requests fail
    "fail_message": "Injected failure (test server)",
    "pats": None,                     # PAT support: None = auto (version >
                                      # 2.39 or a --token was given)
    "tus_max_size": 25 * 1024 ** 3,   # TUS_MAX_FILE_SIZE
    "random_seed": 0,                 # for sorting_method=random
    "default_chunk_size": 36,         # data_chunk_size when not given
    "verbose": False,                 # log requests to stderr
}


class Route:
    def __init__(self, pattern, template, methods, anon=False,
                 accept_any=False, since=None, until=None, pats=False):
        self.regex = re.compile(pattern)
        self.template = template
        self.methods = methods
        self.anon = anon
        self.accept_any = accept_any
        self.since = since
        self.until = until
        self.pats = pats


class Fault:
    KINDS = ("delay", "throttle", "error", "drop")

    def __init__(self, fid, kind, method=None, path=None, nth=1, times=1,
                 seconds=0.0, retry_after=1, status=500, when="before",
                 rst=False):
        if kind in ("429",):
            kind = "throttle"
        elif kind in ("500", "502", "503", "504"):
            status, kind = int(kind), "error"
        if kind not in self.KINDS:
            raise ValueError("unknown fault kind %r" % kind)
        if when not in ("before", "after"):
            raise ValueError("when must be 'before' or 'after'")
        self.id = fid
        self.kind = kind
        self.method = method.upper() if method else None
        self.path = path
        self.path_re = re.compile(path) if path else None
        self.nth = max(1, int(nth))
        self.times = int(times)           # <0 = forever
        self.seconds = float(seconds)
        self.retry_after = int(retry_after)
        self.status = int(status)
        self.when = when
        self.rst = bool(rst)
        self.matched = 0
        self.fired = 0

    def describe(self):
        return {"id": self.id, "kind": self.kind, "method": self.method,
                "path": self.path, "nth": self.nth, "times": self.times,
                "seconds": self.seconds, "retry_after": self.retry_after,
                "status": self.status, "when": self.when, "rst": self.rst,
                "matched": self.matched, "fired": self.fired}

    def consider(self, method, path):
        """Count a matching request; True if the fault fires on it."""
        if self.method and self.method != method:
            return False
        if self.path_re and not self.path_re.search(path):
            return False
        self.matched += 1
        if self.matched < self.nth:
            return False
        if 0 <= self.times <= self.fired:
            return False
        self.fired += 1
        return True

    def exhausted(self):
        return 0 <= self.times <= self.fired


class CvatTestServer:
    """In-memory CVAT look-alike.  start() binds 127.0.0.1 and serves on a
    background thread; stop() shuts it down.  All state is guarded by one
    re-entrant lock; injected delays are served outside it."""

    def __init__(self, host="127.0.0.1", port=0, username="admin",
                 password="admin", token=None, version=DEFAULT_VERSION,
                 max_request_bytes=0, tls=None, **config):
        unknown = set(config) - set(DEFAULT_CONFIG)
        if unknown:
            raise TypeError("unknown config keys: %s" % sorted(unknown))
        self.host = host
        self.port = port
        self.lock = threading.RLock()
        self.config = dict(DEFAULT_CONFIG)
        self.config.update(config)
        self.config["version"] = version
        self.config["max_request_bytes"] = int(max_request_bytes or 0)
        self._httpd = None
        self._tls = tls          # an ssl.SSLContext: serve HTTPS
        self._thread = None
        self._conns = set()
        self._init_state()
        self.admin = self.add_user(username, password, is_superuser=True)
        if token:
            self.add_access_token(username, token)
        self._routes = self._build_routes()

    # ------------------------------------------------------------------
    # lifecycle
    # ------------------------------------------------------------------

    @property
    def url(self):
        return "%s://%s:%d" % ("https" if self._tls else "http", self.host,
                               self.port)

    def start(self):
        httpd = _HTTPServer((self.host, self.port), Handler)
        if self._tls:
            # The handshake runs in the connection's own thread, at its
            # first read: a client that never speaks TLS holds no one else.
            httpd.socket = self._tls.wrap_socket(
                httpd.socket, server_side=True,
                do_handshake_on_connect=False)
        httpd.app = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="cvat-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)
        self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------------
    # state
    # ------------------------------------------------------------------

    def _init_state(self):
        self.seq = {}
        self.users = {}
        self.tokens = {}          # legacy key -> user id
        self.sessions = {}        # sessionid -> {"user": id, "csrf": str}
        self.pats = {}            # id -> PAT record
        self._clear_objects()
        self._reset_observations()

    def _clear_objects(self):
        self.orgs = {}
        self.memberships = {}
        self.projects = {}
        self.labels = {}
        self.tasks = {}
        self.jobs = {}
        self.issues = {}
        self.comments = {}
        self.requests = {}
        self.uploads = {}         # task id -> upload session
        self.clouds = {}          # cloud storage id -> record (credentials
                                  # kept here only, never serialized)
        self.tus = {}             # file id -> TUS upload
        self.ann_index = {"tags": {}, "shapes": {}, "tracks": {}}
        self._anon_hits = []

    def _reset_observations(self):
        self.log = []
        self.log_seq = 0
        self.faults = []
        self.counters_ = {}

    def _next(self, kind):
        n = self.seq.get(kind, 0) + 1
        self.seq[kind] = n
        return n

    def _bump_seq(self, kind, used):
        if used > self.seq.get(kind, 0):
            self.seq[kind] = used

    def count(self, name, n=1):
        self.counters_[name] = self.counters_.get(name, 0) + n

    @property
    def version(self):
        return parse_version(self.config["version"])

    def since(self, *ver):
        return self.version >= tuple(ver) + (0,) * (3 - len(ver))

    def pats_enabled(self):
        p = self.config["pats"]
        if p is None:
            return self.version > (2, 39, 0) or bool(self.pats)
        return bool(p)

    # ------------------------------------------------------------------
    # users and credentials
    # ------------------------------------------------------------------

    def add_user(self, username, password, first_name="", last_name="",
                 email=None, is_superuser=False, is_active=True):
        """Create a user; returns its record (a dict with 'id')."""
        with self.lock:
            for u in self.users.values():
                if u["username"] == username:
                    raise ValueError("user %r exists" % username)
            uid = self._next("user")
            u = {"id": uid, "username": username, "password": password,
                 "first_name": first_name, "last_name": last_name,
                 "email": email if email is not None
                 else "%s@example.com" % username,
                 "is_staff": bool(is_superuser),
                 "is_superuser": bool(is_superuser),
                 "is_active": bool(is_active), "date_joined": time.time(),
                 "last_login": None, "token": None}
            self.users[uid] = u
            return u

    def user_by_name(self, name):
        for u in self.users.values():
            if u["username"] == name:
                return u
        return None

    def _resolve_user(self, ref):
        """username or id -> user record (control API convenience)."""
        if ref is None:
            return None
        u = self.users.get(ref) if isinstance(ref, int) else \
            self.user_by_name(ref)
        if u is None and isinstance(ref, str) and ref.isdigit():
            u = self.users.get(int(ref))
        if u is None:
            raise ValueError("unknown user %r" % (ref,))
        return u

    def login_key(self, username):
        """The user's legacy token (what POST /api/auth/login returns)."""
        with self.lock:
            u = self.user_by_name(username)
            if u["token"] is None:
                u["token"] = secrets.token_hex(20)
                self.tokens[u["token"]] = u["id"]
            return u["token"]

    def add_access_token(self, username, value=None, name="test token",
                         read_only=False, expiry_date=None):
        """Provision a personal access token; returns its record."""
        with self.lock:
            u = self.user_by_name(username)
            if u is None:
                raise ValueError("unknown user %r" % username)
            pid = self._next("access_token")
            now = time.time()
            rec = {"id": pid, "name": name, "value": value or
                   secrets.token_urlsafe(32), "user": u["id"],
                   "created": now, "updated": now, "expiry": expiry_date,
                   "last_used": None, "read_only": bool(read_only),
                   "revoked": False}
            self.pats[pid] = rec
            return rec

    def expire_token(self, token=None, username=None):
        """Invalidate credentials: a legacy key, PAT value or session id,
        or (username=) all of a user's.  Later use -> 401 Invalid token.
        Returns how many credentials were invalidated."""
        with self.lock:
            n = 0
            uid = None
            if username is not None:
                uid = self._resolve_user(username)["id"]
            for key, owner in list(self.tokens.items()):
                if key == token or owner == uid:
                    del self.tokens[key]
                    self.users[owner]["token"] = None
                    n += 1
            for p in self.pats.values():
                if not p["revoked"] and (p["value"] == token
                                         or p["user"] == uid):
                    p["expiry"] = time.time() - 1
                    n += 1
            for sid, s in list(self.sessions.items()):
                if sid == token or s["user"] == uid:
                    del self.sessions[sid]
                    n += 1
            return n

    # ------------------------------------------------------------------
    # routing table
    # ------------------------------------------------------------------

    def _build_routes(self):
        I = r"(\d+)"
        r = []

        def add(pattern, template, **kw):
            methods = {m: kw.pop(m) for m in list(kw)
                       if m.isupper()}
            r.append(Route("^" + pattern + "$", template, methods, **kw))

        add(r"/api/server/about", "/api/server/about",
            GET=self.h_about, anon=True)
        add(r"/api/server/annotation/formats",
            "/api/server/annotation/formats", GET=self.h_formats)
        add(r"/api/schema/", "/api/schema/", GET=self.h_schema, anon=True,
            accept_any=True)
        add(r"/api/auth/login", "/api/auth/login", POST=self.h_login,
            anon=True)
        # doc silent on logout without credentials: like the dj-rest-auth
        # view it is open to anyone (200, nothing to delete).
        add(r"/api/auth/logout", "/api/auth/logout", POST=self.h_logout,
            anon=True)
        add(r"/api/auth/access_tokens", "/api/auth/access_tokens",
            GET=self.h_pat_list, POST=self.h_pat_create, pats=True)
        add(r"/api/auth/access_tokens/self", "/api/auth/access_tokens/self",
            GET=self.h_pat_self, pats=True)
        add(r"/api/auth/access_tokens/" + I,
            "/api/auth/access_tokens/{id}", GET=self.h_pat_get,
            PATCH=self.h_pat_patch, DELETE=self.h_pat_delete, pats=True)
        add(r"/api/users", "/api/users", GET=self.h_users)
        add(r"/api/users/self", "/api/users/self", GET=self.h_user_self)
        add(r"/api/users/" + I, "/api/users/{id}", GET=self.h_user_get)
        add(r"/api/organizations", "/api/organizations",
            GET=self.h_orgs, POST=self.h_org_create)
        add(r"/api/organizations/" + I, "/api/organizations/{id}",
            GET=self.h_org_get, PATCH=self.h_org_patch,
            DELETE=self.h_org_delete)
        add(r"/api/memberships", "/api/memberships", GET=self.h_memberships)
        add(r"/api/memberships/" + I, "/api/memberships/{id}",
            GET=self.h_membership_get)
        add(r"/api/projects", "/api/projects", GET=self.h_projects,
            POST=self.h_project_create)
        add(r"/api/projects/" + I, "/api/projects/{id}",
            GET=self.h_project_get, PATCH=self.h_project_patch,
            DELETE=self.h_project_delete)
        add(r"/api/labels", "/api/labels", GET=self.h_labels)
        add(r"/api/labels/" + I, "/api/labels/{id}", GET=self.h_label_get,
            PATCH=self.h_label_patch, DELETE=self.h_label_delete)
        add(r"/api/tasks", "/api/tasks", GET=self.h_tasks,
            POST=self.h_task_create)
        add(r"/api/tasks/" + I, "/api/tasks/{id}", GET=self.h_task_get,
            PATCH=self.h_task_patch, DELETE=self.h_task_delete)
        add(r"/api/tasks/" + I + r"/data/meta", "/api/tasks/{id}/data/meta",
            GET=self.h_task_meta, PATCH=self.h_task_meta_patch)
        add(r"/api/tasks/" + I + r"/data/?", "/api/tasks/{id}/data",
            GET=self.h_task_data_get, POST=self.h_task_data_post,
            OPTIONS=self.h_task_data_options, accept_any=True)
        add(r"/api/tasks/" + I + r"/data/(\d+_[0-9a-f-]+)",
            "/api/tasks/{id}/data/{file_id}", PATCH=self.h_tus_patch,
            HEAD=self.h_tus_head, accept_any=True)
        add(r"/api/tasks/" + I + r"/status", "/api/tasks/{id}/status",
            GET=self.h_task_status)
        add(r"/api/tasks/" + I + r"/annotations/?",
            "/api/tasks/{id}/annotations", GET=self.h_task_ann_get,
            PUT=self.h_task_ann_put, PATCH=self.h_task_ann_patch,
            DELETE=self.h_task_ann_delete)
        add(r"/api/jobs", "/api/jobs", GET=self.h_jobs)
        add(r"/api/jobs/" + I, "/api/jobs/{id}", GET=self.h_job_get,
            PATCH=self.h_job_patch, DELETE=self.h_job_delete)
        add(r"/api/jobs/" + I + r"/data/meta", "/api/jobs/{id}/data/meta",
            GET=self.h_job_meta)
        add(r"/api/jobs/" + I + r"/data", "/api/jobs/{id}/data",
            GET=self.h_job_data_get, accept_any=True)
        add(r"/api/jobs/" + I + r"/annotations/?",
            "/api/jobs/{id}/annotations", GET=self.h_job_ann_get,
            PUT=self.h_job_ann_put, PATCH=self.h_job_ann_patch,
            DELETE=self.h_job_ann_delete)
        for res, slash in (("projects", "/?"), ("tasks", ""), ("jobs", "")):
            add(r"/api/%s/%s/dataset/export" % (res, I),
                "/api/%s/{id}/dataset/export" % res,
                POST=self._export_post_handler(res), since=(2, 16))
            add(r"/api/%s/%s/dataset/download" % (res, I),
                "/api/%s/{id}/dataset/download" % res,
                GET=self._export_download_handler(res), since=(2, 32),
                accept_any=True)
            add(r"/api/%s/%s/dataset%s" % (res, I, slash),
                "/api/%s/{id}/dataset" % res,
                GET=self._legacy_dataset_handler(res), accept_any=True)
        add(r"/api/cloudstorages", "/api/cloudstorages",
            GET=self.h_clouds, POST=self.h_cloud_create)
        add(r"/api/cloudstorages/" + I, "/api/cloudstorages/{id}",
            GET=self.h_cloud_get, PATCH=self.h_cloud_patch,
            DELETE=self.h_cloud_delete)
        add(r"/api/cloudstorages/" + I + r"/status",
            "/api/cloudstorages/{id}/status", GET=self.h_cloud_status)
        add(r"/api/issues", "/api/issues", GET=self.h_issues,
            POST=self.h_issue_create)
        add(r"/api/issues/" + I, "/api/issues/{id}", GET=self.h_issue_get,
            PATCH=self.h_issue_patch, DELETE=self.h_issue_delete)
        add(r"/api/comments", "/api/comments", GET=self.h_comments,
            POST=self.h_comment_create)
        add(r"/api/comments/" + I, "/api/comments/{id}",
            GET=self.h_comment_get, PATCH=self.h_comment_patch,
            DELETE=self.h_comment_delete)
        add(r"/api/requests", "/api/requests", GET=self.h_requests,
            since=(2, 16))
        add(r"/api/requests/([^/]+)/cancel", "/api/requests/{id}/cancel",
            POST=self.h_request_cancel, since=(2, 16))
        add(r"/api/requests/([^/]+)", "/api/requests/{id}",
            GET=self.h_request_get, since=(2, 16))
        return r

    def _match(self, path):
        for route in self._routes:
            if route.since and not self.since(*route.since):
                continue
            if route.pats and not self.pats_enabled():
                continue
            m = route.regex.match(path)
            if m:
                return route, m
        return None, None

    # ------------------------------------------------------------------
    # request pipeline
    # ------------------------------------------------------------------

    def handle(self, rq):
        """Run one request through the CVAT pipeline; returns a Resp."""
        if rq.path.startswith("/_test/"):
            try:
                return self._control(rq)
            except ApiError as e:
                return e.response()
            except (ValueError, KeyError, TypeError) as e:
                return json_resp(400, {"detail": "%s: %s"
                                       % (type(e).__name__, e)})
        route, m = self._match(rq.path)
        if route is None:
            # Django's own 404 page: the API routers do not match (e.g. an
            # extra trailing slash), so no DRF JSON body.
            return Resp(404, DJANGO_404, "text/html; charset=utf-8")
        method = rq.method
        rq.route = route.template
        try:
            # DRF order: content negotiation, versioning, authentication,
            # permissions, throttling, then the handler (405 if absent).
            if not route.accept_any:
                self._negotiate(rq)
            with self.lock:
                self._tick()
                self._authenticate(rq)
                if rq.user is None and not route.anon:
                    raise ApiError(401, {"detail": "Authentication "
                                         "credentials were not provided."},
                                   [("WWW-Authenticate", "Token")])
                if rq.pat is not None and rq.pat["read_only"] and \
                        method not in ("GET", "HEAD", "OPTIONS"):
                    raise ApiError(403, {"detail": "You do not have "
                                         "permission to perform this "
                                         "action."})
                if rq.user is None:
                    self._throttle_anon()
                handler = route.methods.get(method)
                if handler is None and method == "HEAD":
                    handler = route.methods.get("GET")
                if handler is None and method == "OPTIONS":
                    handler = self._options_handler(route)
                if handler is None:
                    allow = sorted(set(route.methods) | {"OPTIONS"} |
                                   ({"HEAD"} if "GET" in route.methods
                                    else set()))
                    raise ApiError(405, {"detail": 'Method "%s" not allowed.'
                                         % method},
                                   [("Allow", ", ".join(allow))])
                if rq.user is not None:
                    self._resolve_org(rq)
                resp = handler(rq, *m.groups())
                return resp
        except ApiError as e:
            return e.response()

    def _options_handler(self, route):
        def h(rq, *args):
            allow = sorted(set(route.methods) | {"OPTIONS"})
            return json_resp(200, {"name": route.template, "description": "",
                                   "renders": [CVAT_MEDIA_TYPE],
                                   "parses": ["application/json",
                                              "multipart/form-data"]},
                             [("Allow", ", ".join(allow))])
        return h

    def _negotiate(self, rq):
        """DRF content negotiation against the single vendor renderer."""
        if not self.config["strict_accept"]:
            return
        accept = rq.header("accept")
        if accept is None or accept.strip() == "":
            return
        ok = False
        for item in accept.split(","):
            parts = [p.strip() for p in item.split(";")]
            mt = parts[0].lower()
            params = {}
            for p in parts[1:]:
                if "=" in p:
                    k, v = p.split("=", 1)
                    params[k.strip().lower()] = v.strip().strip('"')
            if mt in ("*/*", "application/*", CVAT_MEDIA_TYPE):
                if "version" in params and params["version"] != "2.0" \
                        and mt == CVAT_MEDIA_TYPE:
                    raise ApiError(406, {"detail": 'Invalid version in '
                                         '"Accept" header.'})
                ok = True
                break
        if not ok:
            raise ApiError(406, {"detail": "Could not satisfy the request "
                                 "Accept header."})

    def _authenticate(self, rq):
        """Token, (signature: unsupported), session, basic; Bearer PATs."""
        auth = rq.header("authorization")
        if auth:
            parts = auth.split()
            scheme = parts[0].lower() if parts else ""
            if scheme == "token":
                if len(parts) == 1:
                    raise self._invalid("Invalid token header. No "
                                        "credentials provided.")
                if len(parts) > 2:
                    raise self._invalid("Invalid token header. Token string "
                                        "should not contain spaces.")
                uid = self.tokens.get(parts[1])
                if uid is None or not self.users[uid]["is_active"]:
                    raise self._invalid("Invalid token.")
                rq.user, rq.auth = self.users[uid], "token"
                return
            if scheme == "bearer" and self.pats_enabled():
                if len(parts) != 2:
                    raise self._invalid("Invalid token header.")
                now = time.time()
                for p in self.pats.values():
                    if p["value"] == parts[1]:
                        if p["revoked"] or (p["expiry"] is not None
                                            and p["expiry"] <= now):
                            break
                        p["last_used"] = now
                        rq.user, rq.auth, rq.pat = \
                            self.users[p["user"]], "pat", p
                        return
                raise self._invalid("Invalid token.")
        cookies = {}
        for chunk in (rq.header("cookie") or "").split(";"):
            if "=" in chunk:
                k, v = chunk.split("=", 1)
                cookies[k.strip()] = v.strip()
        sess = self.sessions.get(cookies.get("sessionid", ""))
        if sess is not None:
            if rq.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
                cookie = cookies.get("csrftoken")
                header = rq.header("x-csrftoken")
                reason = None
                if not cookie:
                    reason = "CSRF cookie not set."
                elif not header:
                    reason = "CSRF token missing."
                elif header != cookie:
                    reason = "CSRF token incorrect."
                if reason:
                    raise ApiError(403, {"detail": "CSRF Failed: " + reason})
            rq.user, rq.auth = self.users[sess["user"]], "session"
            return
        if auth and auth.split()[0].lower() == "basic":
            parts = auth.split()
            try:
                raw = base64.b64decode(parts[1], validate=True).decode()
                name, _, pw = raw.partition(":")
            except (IndexError, binascii.Error, UnicodeDecodeError):
                raise self._invalid("Invalid basic header. Credentials not "
                                    "correctly base64 encoded.")
            u = self.user_by_name(name)
            if u is None or u["password"] != pw or not u["is_active"]:
                raise self._invalid("Invalid username/password.")
            rq.user, rq.auth = u, "basic"

    @staticmethod
    def _invalid(msg):
        return ApiError(401, {"detail": msg}, [("WWW-Authenticate", "Token")])

    def _throttle_anon(self):
        rate = self.config["anon_rate"]
        if not rate:
            return
        now = time.time()
        self._anon_hits = [t for t in self._anon_hits if now - t < 60]
        if len(self._anon_hits) >= rate:
            wait = max(1, int(60 - (now - self._anon_hits[0]) + 0.999))
            raise ApiError(429, {"detail": "Request was throttled. Expected "
                                 "available in %d second%s."
                                 % (wait, "" if wait == 1 else "s")},
                           [("Retry-After", str(wait))])
        self._anon_hits.append(now)

    def _resolve_org(self, rq):
        """X-Organization / org / org_id (CVAT-API.md §2)."""
        hdr = rq.header("x-organization")
        org_q = rq.q("org") if rq.has_q("org") else None
        org_id_q = rq.q("org_id") if rq.has_q("org_id") else None
        if org_id_q is not None and (hdr is not None or org_q is not None):
            raise bad(['You cannot specify "org_id" query parameter with '
                       '"org" query parameter or "X-Organization" HTTP '
                       'header at the same time.'])
        if hdr is not None and org_q is not None and hdr != org_q:
            raise bad(['You cannot specify "org" query parameter and '
                       '"X-Organization" HTTP header with different '
                       'values.'])
        if org_id_q is not None:
            if org_id_q == "":
                rq.org, rq.org_id = "sandbox", None
                return
            try:
                oid = int(org_id_q)
            except ValueError:
                raise bad({"org_id": ["A valid integer is required."]})
            if oid not in self.orgs:
                # doc silent on the wording for an unknown org_id
                raise ApiError(404, {"detail": "%d organization does not "
                                     "exist." % oid})
            rq.org, rq.org_id = oid, oid
            return
        slug = hdr if hdr is not None else org_q
        if slug is None:
            rq.org, rq.org_id = "all", None
        elif slug.strip() == "":
            rq.org, rq.org_id = "sandbox", None
        else:
            for o in self.orgs.values():
                if o["slug"] == slug:
                    rq.org, rq.org_id = o["id"], o["id"]
                    return
            raise ApiError(404, {"detail": "%s organization does not exist."
                                 % slug})

    def _org_visible(self, rq, org_id):
        if rq.org in (None, "all"):
            return True
        if rq.org == "sandbox":
            return org_id is None
        return org_id == rq.org

    # ------------------------------------------------------------------
    # listing: simple filters, search, JSON-Logic filter, sort, pages
    # ------------------------------------------------------------------

    def _list(self, rq, records, ser, fields, search=(), order="-id",
              org=None):
        """Paginated list response.

        fields: {name: (getter(record), type)} used for the simple equality
        filters (query params of the same name), `filter` vars and `sort`.
        type is "int", "str" or "bool".  `search` lists field names matched
        case-insensitively by substring.  `org`: getter of the record's
        organization id (applies the org filter)."""
        items = list(records)
        if org is not None:
            items = [r for r in items if self._org_visible(rq, org(r))]
        fields = dict(fields)
        fields.setdefault("id", (lambda r: r["id"], "int"))
        for name, (get, typ) in fields.items():
            if not rq.has_q(name):
                continue
            raw = rq.q(name)
            if raw == "":
                continue
            if typ == "int":
                try:
                    want = int(raw)
                except ValueError:
                    raise bad({name: ["Enter a number."]})
            elif typ == "bool":
                if raw.lower() in ("true", "1"):
                    want = True
                elif raw.lower() in ("false", "0"):
                    want = False
                else:
                    raise bad({name: ["Select a valid choice. %s is not one "
                                      "of the available choices." % raw]})
            else:
                want = raw
            items = [r for r in items if get(r) == want]
        term = rq.q("search")
        if term:
            t = term.lower()
            items = [r for r in items if any(
                t in str(fields[f][0](r) or "").lower() for f in search)]
        flt = rq.q("filter")
        if flt:
            try:
                expr = json.loads(flt)
            except ValueError as e:
                raise bad({"filter": ["filter: %s" % e]})

            def var_of(r):
                def getvar(name):
                    if name not in fields:
                        raise KeyError(name)
                    return fields[name][0](r)
                return getvar
            try:
                items = [r for r in items if jsonlogic(expr, var_of(r))]
            except KeyError as e:
                raise bad({"filter": ["filter: unsupported field %s" % e]})
            except (ValueError, IndexError, TypeError) as e:
                raise bad({"filter": ["filter: %s" % e]})
        sort = rq.q("sort") or order
        # doc silent on the default orderings: CVAT's view sets list
        # newest first ("-id") except labels ("id") and requests
        # ("-created_date").  Unknown sort fields are ignored.
        for key in reversed([s.strip() for s in sort.split(",")
                             if s.strip()]):
            desc = key.startswith("-")
            name = key.lstrip("-")
            if name not in fields:
                continue
            get = fields[name][0]
            items.sort(key=lambda r: (get(r) is None, get(r)
                                      if get(r) is not None else 0),
                       reverse=desc)
        return self._paginate(rq, items, ser)

    def _paginate(self, rq, items, ser):
        raw = rq.q("page_size")
        size = 10
        if raw == "all":
            size = None
        elif raw is not None:
            try:
                size = int(raw)
                if size <= 0:
                    size = 10
            except ValueError:
                size = 10
        count = len(items)
        pages = 1 if size is None else max(1, -(-count // size))
        praw = rq.q("page", "1")
        if praw == "last":
            page = pages
        else:
            try:
                page = int(praw)
            except ValueError:
                raise ApiError(404, {"detail": "Invalid page."})
        if page < 1 or page > pages:
            raise ApiError(404, {"detail": "Invalid page."})
        chunk = items if size is None else \
            items[(page - 1) * size:page * size]
        url = rq.full_url
        nxt = replace_query_param(url, "page", page + 1) \
            if page < pages else None
        if page == 1:
            prev = None
        elif page == 2:
            prev = remove_query_param(url, "page")
        else:
            prev = replace_query_param(url, "page", page - 1)
        return json_resp(200, {"count": count, "next": nxt,
                               "previous": prev,
                               "results": [ser(rq, r) for r in chunk]})

    # ------------------------------------------------------------------
    # read-side serializers
    # ------------------------------------------------------------------

    def basic_user(self, rq, uid):
        u = self.users.get(uid) if uid is not None else None
        if u is None:
            return None
        return {"url": "%s/api/users/%d" % (rq.base, u["id"]),
                "id": u["id"], "username": u["username"],
                "first_name": u["first_name"], "last_name": u["last_name"]}

    def ser_user(self, rq, u, full=True):
        if not full:
            return self.basic_user(rq, u["id"])
        return {"url": "%s/api/users/%d" % (rq.base, u["id"]),
                "id": u["id"], "username": u["username"],
                "first_name": u["first_name"], "last_name": u["last_name"],
                "email": u["email"],
                "groups": ["admin"] if u["is_superuser"] else ["user"],
                "is_staff": u["is_staff"], "is_superuser": u["is_superuser"],
                "is_active": u["is_active"], "last_login": iso(u["last_login"]),
                "date_joined": iso(u["date_joined"]),
                "has_analytics_access": u["is_superuser"]}

    def ser_org(self, rq, o):
        return {"id": o["id"], "slug": o["slug"], "name": o["name"],
                "description": o["description"],
                "created_date": iso(o["created"]),
                "updated_date": iso(o["updated"]), "contact": o["contact"],
                "owner": self.basic_user(rq, o["owner"])}

    def ser_membership(self, rq, m):
        return {"id": m["id"], "user": self.basic_user(rq, m["user"]),
                "organization": m["org"], "is_active": True,
                "joined_date": iso(m["joined"]), "role": m["role"],
                "invitation": None}

    @staticmethod
    def _storage(s):
        return s if s else None

    def ser_project(self, rq, p):
        tasks = [t for t in self.tasks.values() if t["project_id"] == p["id"]]
        return {"url": "%s/api/projects/%d" % (rq.base, p["id"]),
                "id": p["id"], "name": p["name"],
                "owner": self.basic_user(rq, p["owner"]),
                "assignee": self.basic_user(rq, p["assignee"]),
                "guide_id": None, "bug_tracker": p["bug_tracker"],
                "task_subsets": sorted({t["subset"] for t in tasks
                                        if t["subset"]}),
                "created_date": iso(p["created"]),
                "updated_date": iso(p["updated"]),
                "status": p["status"],
                "dimension": "2d" if any(t["data"] for t in tasks) else None,
                "organization": p["org"],
                "source_storage": self._storage(p["source_storage"]),
                "target_storage": self._storage(p["target_storage"]),
                "tasks": {"count": len(tasks),
                          "url": "%s/api/tasks?project_id=%d"
                          % (rq.base, p["id"])},
                "labels": {"url": "%s/api/labels?project_id=%d"
                           % (rq.base, p["id"])},
                "assignee_updated_date": iso(p["assignee_updated"])}

    def ser_attr(self, a):
        return {"id": a["id"], "name": a["name"], "mutable": a["mutable"],
                "input_type": a["input_type"],
                "default_value": a["default_value"],
                "values": list(a["values"])}

    def ser_label(self, rq, l):
        subs = [x for x in self.labels.values() if x["parent"] == l["id"]]
        return {"id": l["id"], "name": l["name"], "color": l["color"],
                "attributes": [self.ser_attr(a) for a in l["attributes"]],
                "type": l["type"], "svg": l["svg"],
                "sublabels": [{"id": s["id"], "name": s["name"],
                               "color": s["color"],
                               "attributes": [self.ser_attr(a)
                                              for a in s["attributes"]],
                               "type": s["type"], "has_parent": True}
                              for s in subs],
                "project_id": l["project"], "task_id": l["task"],
                "parent_id": l["parent"], "has_parent": l["parent"] is not None}

    def _task_jobs(self, task, annotation_only=True):
        jobs = [j for j in self.jobs.values() if j["task"] == task["id"]]
        if annotation_only:
            jobs = [j for j in jobs if j["type"] == "annotation"]
        return sorted(jobs, key=lambda j: (j["start"], j["id"]))

    def _task_status(self, task):
        jobs = self._task_jobs(task, annotation_only=False)
        st = [j["status"] for j in jobs]
        if not st or "annotation" in st:
            return "annotation"
        if "validation" in st:
            return "validation"
        return "completed"

    def ser_task(self, rq, t):
        jobs = self._task_jobs(t, annotation_only=False)
        d = t["data"]
        out = {"url": "%s/api/tasks/%d" % (rq.base, t["id"]),
               "id": t["id"], "name": t["name"],
               "project_id": t["project_id"], "mode": t["mode"],
               "owner": self.basic_user(rq, t["owner"]),
               "assignee": self.basic_user(rq, t["assignee"]),
               "bug_tracker": t["bug_tracker"],
               "created_date": iso(t["created"]),
               "updated_date": iso(t["updated"]),
               "overlap": t["overlap"], "segment_size": t["segment_size"],
               "status": self._task_status(t),
               "data_compressed_chunk_type": "imageset" if d else None,
               "data_original_chunk_type": "imageset" if d else None,
               "guide_id": None, "dimension": "2d" if d else None,
               "subset": t["subset"], "organization": t["org"],
               "source_storage": self._storage(t["source_storage"]),
               "target_storage": self._storage(t["target_storage"]),
               "jobs": {"count": len(jobs),
                        "completed": sum(1 for j in jobs
                                         if j["state"] == "completed"),
                        "validation": sum(1 for j in jobs
                                          if j["stage"] == "validation"),
                        "url": "%s/api/jobs?task_id=%d" % (rq.base, t["id"])},
               "labels": {"url": "%s/api/labels?task_id=%d"
                          % (rq.base, t["id"])},
               "assignee_updated_date": iso(t["assignee_updated"]),
               "validation_mode": None,
               "consensus_enabled": t["consensus_replicas"] > 0}
        if d is not None:
            # CVAT-API.md §4: these keys only exist once data is attached
            out["size"] = d["size"]
            out["image_quality"] = d["image_quality"]
            out["data"] = d["id"]
            out["data_chunk_size"] = d["chunk_size"]
        return out

    def ser_job(self, rq, j):
        t = self.tasks[j["task"]]
        d = t["data"]
        issues = sum(1 for i in self.issues.values() if i["job"] == j["id"])
        return {"url": "%s/api/jobs/%d" % (rq.base, j["id"]),
                "id": j["id"], "task_id": t["id"],
                "project_id": t["project_id"],
                "assignee": self.basic_user(rq, j["assignee"]),
                "guide_id": None, "dimension": "2d",
                "bug_tracker": t["bug_tracker"] or None,
                "status": j["status"], "stage": j["stage"],
                "state": j["state"], "mode": t["mode"],
                "frame_count": j["stop"] - j["start"] + 1,
                "start_frame": j["start"], "stop_frame": j["stop"],
                "data_chunk_size": d["chunk_size"] if d else None,
                "data_compressed_chunk_type": "imageset",
                "data_original_chunk_type": "imageset",
                "created_date": iso(j["created"]),
                "updated_date": iso(j["updated"]),
                "issues": {"url": "%s/api/issues?job_id=%d"
                           % (rq.base, j["id"]), "count": issues},
                "labels": {"url": "%s/api/labels?job_id=%d"
                           % (rq.base, j["id"])},
                "type": j["type"], "organization": t["org"],
                "source_storage": self._storage(t["source_storage"]),
                "target_storage": self._storage(t["target_storage"]),
                "assignee_updated_date": iso(j["assignee_updated"]),
                "parent_job_id": None, "consensus_replicas": 0}

    def ser_issue(self, rq, i):
        n = sum(1 for c in self.comments.values() if c["issue"] == i["id"])
        return {"id": i["id"], "frame": i["frame"],
                "position": list(i["position"]), "job": i["job"],
                "owner": self.basic_user(rq, i["owner"]),
                "assignee": self.basic_user(rq, i["assignee"]),
                "created_date": iso(i["created"]),
                "updated_date": iso(i["updated"]),
                "resolved": i["resolved"],
                "comments": {"count": n,
                             "url": "%s/api/comments?issue_id=%d"
                             % (rq.base, i["id"])}}

    def ser_comment(self, rq, c):
        return {"id": c["id"], "issue": c["issue"],
                "owner": self.basic_user(rq, c["owner"]),
                "message": c["message"], "created_date": iso(c["created"]),
                "updated_date": iso(c["updated"])}

    def ser_request(self, rq, r):
        owner = self.users.get(r["owner"])
        return {"id": r["id"], "status": r["status"],
                "message": r["message"], "operation": dict(r["operation"]),
                "progress": r["progress"],
                "created_date": iso(r["created"]),
                "started_date": iso(r["started"]),
                "finished_date": iso(r["finished"]),
                "expiry_date": iso(r["expiry"]),
                "owner": {"id": owner["id"], "username": owner["username"]}
                if owner else None,
                # doc: result_url for exports only; null otherwise
                "result_url": (r["result_path"] and rq.base + r["result_path"])
                if r["status"] == "finished" else None,
                "result_id": None}

    def ser_pat(self, rq, p, with_value=False):
        out = {"id": p["id"], "name": p["name"],
               "created_date": iso(p["created"]),
               "updated_date": iso(p["updated"]),
               "expiry_date": iso(p["expiry"]),
               "last_used_date": iso(p["last_used"]),
               "read_only": p["read_only"],
               "owner": self.basic_user(rq, p["user"])}
        if with_value:
            out["value"] = p["value"]
        return out

    # ------------------------------------------------------------------
    # lookups
    # ------------------------------------------------------------------

    def _get(self, table, model, oid):
        obj = table.get(int(oid))
        if obj is None:
            raise not_found(model)
        return obj

    def _task(self, tid):
        return self._get(self.tasks, "Task", tid)

    def _job(self, jid):
        return self._get(self.jobs, "Job", jid)

    def _pk_user(self, field, uid):
        if uid is not None and uid not in self.users:
            raise bad({field: ['Invalid pk "%s" - object does not exist.'
                               % uid]})
        return uid

    def _reject_unknown(self, body, allowed):
        """Since 2.21 a PATCH with fields outside the write serializer is
        refused by the permission layer (403); older servers ignore them."""
        if not isinstance(body, dict):
            return
        extra = set(body) - set(allowed)
        if extra and self.since(2, 21):
            raise ApiError(403, {"detail": "Attempted to update an unknown "
                                 "field"})

    # ------------------------------------------------------------------
    # server info, auth, users, organizations
    # ------------------------------------------------------------------

    def h_about(self, rq):
        out = {"name": "Computer Vision Annotation Tool",
               "description": "CVAT is completely re-designed and re-"
               "implemented version of Video Annotation Tool from Irvine, "
               "California team. (curatefs test server)",
               "version": self.config["version"]}
        if self.since(2, 30):
            out["logo_url"] = rq.base + "/static/logo.svg"
            out["subtitle"] = "Test server"
        return json_resp(200, out)

    def h_formats(self, rq):
        def fmt(name):
            base, _, ver = name.rpartition(" ")
            return {"name": name, "ext": "ZIP", "version": ver,
                    "enabled": name in EXPORTABLE,
                    "dimension": "3d" if name in _BOTH_3D else "2d"}
        return json_resp(200, {"importers": [dict(fmt(n), enabled=False)
                                             for n in IMPORTERS],
                               "exporters": [fmt(n) for n in EXPORTERS]})

    def h_schema(self, rq):
        # /api/schema: an OpenAPI document listing the paths and methods this
        # server implements (no request or response schemas).
        paths = {}
        for r in self._routes:
            if r.since and not self.since(*r.since):
                continue
            paths[r.template] = {m.lower(): {} for m in r.methods}
        doc = {"openapi": "3.0.3",
               "info": {"title": "CVAT REST API",
                        "version": self.config["version"]},
               "paths": paths}
        return Resp(200, json.dumps(doc).encode(),
                    "application/vnd.oai.openapi+json")

    def h_login(self, rq):
        body = validate(rq.json_obj(), {
            "username": F("str", allow_blank=True),
            "email": F("str", allow_blank=True),
            "password": F("str", required=True)})
        u = None
        if body.get("username"):
            u = self.user_by_name(body["username"])
        elif body.get("email"):
            u = next((x for x in self.users.values()
                      if x["email"] == body["email"]), None)
        if u is None or u["password"] != body["password"] or \
                not u["is_active"]:
            raise bad({"non_field_errors": ["Unable to log in with provided "
                                            "credentials."]})
        key = self.login_key(u["username"])
        u["last_login"] = time.time()
        sid = secrets.token_hex(16)
        csrf = secrets.token_urlsafe(24)
        self.sessions[sid] = {"user": u["id"], "csrf": csrf}
        self.count("logins")
        return json_resp(200, {"key": key}, [
            ("Set-Cookie", "csrftoken=%s; Max-Age=31449600; Path=/; "
             "SameSite=Lax" % csrf),
            ("Set-Cookie", "sessionid=%s; HttpOnly; Max-Age=1209600; Path=/; "
             "SameSite=Lax" % sid)])

    def h_logout(self, rq):
        if rq.user is not None and rq.user["token"]:
            self.tokens.pop(rq.user["token"], None)
            rq.user["token"] = None
        for chunk in (rq.header("cookie") or "").split(";"):
            k, _, v = chunk.strip().partition("=")
            if k == "sessionid":
                self.sessions.pop(v, None)
        return json_resp(200, {"detail": "Successfully logged out."}, [
            ("Set-Cookie", 'sessionid=""; expires=Thu, 01 Jan 1970 00:00:00 '
             'GMT; Max-Age=0; Path=/; SameSite=Lax')])

    def _pat_guard(self, rq):
        if rq.auth == "pat":
            raise ApiError(403, {"detail": "You do not have permission to "
                                 "perform this action."})

    def h_pat_list(self, rq):
        mine = [p for p in self.pats.values()
                if p["user"] == rq.user["id"] and not p["revoked"]]
        return self._list(rq, mine, self.ser_pat,
                          {"name": (lambda p: p["name"], "str")},
                          search=("name",))

    def h_pat_create(self, rq):
        self._pat_guard(rq)
        body = validate(rq.json_obj(), PAT_FIELDS)
        mine = [p for p in self.pats.values()
                if p["user"] == rq.user["id"] and not p["revoked"]]
        if len(mine) >= 50:
            raise bad(["You have reached the maximum number of access "
                       "tokens."])
        exp = None
        if body.get("expiry_date"):
            try:
                exp = parse_iso(body["expiry_date"])
            except ValueError:
                raise bad({"expiry_date": ["Datetime has wrong format."]})
        p = self.add_access_token(rq.user["username"], name=body["name"],
                                  read_only=body["read_only"],
                                  expiry_date=exp)
        return json_resp(201, self.ser_pat(rq, p, with_value=True))

    def _my_pat(self, rq, pid):
        p = self.pats.get(int(pid))
        if p is None or p["user"] != rq.user["id"] or p["revoked"]:
            raise not_found("AccessToken")
        return p

    def h_pat_self(self, rq):
        if rq.pat is None:
            raise not_found("AccessToken")
        return json_resp(200, self.ser_pat(rq, rq.pat))

    def h_pat_get(self, rq, pid):
        return json_resp(200, self.ser_pat(rq, self._my_pat(rq, pid)))

    def h_pat_patch(self, rq, pid):
        self._pat_guard(rq)
        p = self._my_pat(rq, pid)
        body = validate(rq.json_obj(), PAT_FIELDS, partial=True)
        if "name" in body:
            p["name"] = body["name"]
        if "read_only" in body:
            p["read_only"] = body["read_only"]
        if "expiry_date" in body:
            p["expiry"] = parse_iso(body["expiry_date"]) \
                if body["expiry_date"] else None
        p["updated"] = time.time()
        return json_resp(200, self.ser_pat(rq, p))

    def h_pat_delete(self, rq, pid):
        self._pat_guard(rq)
        self._my_pat(rq, pid)["revoked"] = True
        return Resp(204)

    def h_users(self, rq):
        full = rq.user["is_superuser"]
        return self._list(
            rq, self.users.values(), lambda r, u: self.ser_user(r, u, full),
            {"username": (lambda u: u["username"], "str"),
             "first_name": (lambda u: u["first_name"], "str"),
             "last_name": (lambda u: u["last_name"], "str"),
             "is_active": (lambda u: u["is_active"], "bool")},
            search=("username", "first_name", "last_name"))

    def h_user_self(self, rq):
        return json_resp(200, self.ser_user(rq, rq.user))

    def h_user_get(self, rq, uid):
        u = self._get(self.users, "User", uid)
        return json_resp(200, self.ser_user(rq, u, rq.user["is_superuser"]
                                            or u is rq.user))

    def add_org(self, slug, name=None, owner=None):
        """Create an organization (owner: username/id; default admin)."""
        with self.lock:
            if not re.fullmatch(r"[-a-zA-Z0-9_]{1,16}", slug or ""):
                raise ValueError("invalid slug %r" % slug)
            if any(o["slug"] == slug for o in self.orgs.values()):
                raise ValueError("organization %r exists" % slug)
            u = self._resolve_user(owner) if owner is not None else \
                self.admin
            oid = self._next("organization")
            now = time.time()
            o = {"id": oid, "slug": slug, "name": name or slug,
                 "description": "", "contact": {}, "owner": u["id"],
                 "created": now, "updated": now}
            self.orgs[oid] = o
            mid = self._next("membership")
            self.memberships[mid] = {"id": mid, "user": u["id"], "org": oid,
                                     "role": "owner", "joined": now}
            return o

    def h_orgs(self, rq):
        return self._list(rq, self.orgs.values(), self.ser_org,
                          {"name": (lambda o: o["name"], "str"),
                           "slug": (lambda o: o["slug"], "str"),
                           "owner": (lambda o: self.users[o["owner"]]
                                     ["username"], "str")},
                          search=("name", "slug"))

    def h_org_create(self, rq):
        body = validate(rq.json_obj(), ORG_FIELDS)
        if not re.fullmatch(r"[-a-zA-Z0-9_]+", body["slug"]):
            raise bad({"slug": ["Enter a valid \u201cslug\u201d consisting "
                                "of letters, numbers, underscores or "
                                "hyphens."]})
        if any(o["slug"] == body["slug"] for o in self.orgs.values()):
            raise bad({"slug": ["organization with this slug already "
                                "exists."]})
        o = self.add_org(body["slug"], body.get("name"), rq.user["id"])
        o["description"] = body.get("description", "")
        o["contact"] = body.get("contact") or {}
        return json_resp(201, self.ser_org(rq, o))

    def h_org_get(self, rq, oid):
        return json_resp(200, self.ser_org(
            rq, self._get(self.orgs, "Organization", oid)))

    def h_org_patch(self, rq, oid):
        o = self._get(self.orgs, "Organization", oid)
        body = validate(rq.json_obj(), ORG_FIELDS, partial=True)
        for k in ("slug", "name", "description", "contact"):
            if k in body:
                o[k] = body[k]
        o["updated"] = time.time()
        return json_resp(200, self.ser_org(rq, o))

    def h_org_delete(self, rq, oid):
        o = self._get(self.orgs, "Organization", oid)
        for p in [p for p in self.projects.values() if p["org"] == o["id"]]:
            self._delete_project(p["id"])
        for t in [t for t in self.tasks.values() if t["org"] == o["id"]]:
            self._delete_task(t["id"])
        for mid in [m for m, r in self.memberships.items()
                    if r["org"] == o["id"]]:
            del self.memberships[mid]
        del self.orgs[o["id"]]
        return Resp(204)

    def h_memberships(self, rq):
        return self._list(
            rq, self.memberships.values(), self.ser_membership,
            {"user": (lambda m: self.users[m["user"]]["username"], "str"),
             "role": (lambda m: m["role"], "str")},
            org=lambda m: m["org"])

    def h_membership_get(self, rq, mid):
        return json_resp(200, self.ser_membership(
            rq, self._get(self.memberships, "Membership", mid)))

    # ------------------------------------------------------------------
    # labels (shared by projects and tasks)
    # ------------------------------------------------------------------

    def _owner_labels(self, project=None, task=None, top_only=True):
        out = [l for l in self.labels.values()
               if (project is not None and l["project"] == project) or
               (task is not None and l["task"] == task)]
        if top_only:
            out = [l for l in out if l["parent"] is None]
        return sorted(out, key=lambda l: l["id"])

    def _task_label_map(self, task):
        """All labels (incl. sublabels) usable in a task's annotations."""
        if task["project_id"] is not None:
            ls = self._owner_labels(project=task["project_id"],
                                    top_only=False)
        else:
            ls = self._owner_labels(task=task["id"], top_only=False)
        return {l["id"]: l for l in ls}

    def _label_org(self, l):
        if l["project"] is not None:
            p = self.projects.get(l["project"])
            return p["org"] if p else None
        t = self.tasks.get(l["task"])
        return t["org"] if t else None

    def _plan_labels(self, entries, existing, field="labels", patch=False):
        """Validate label entries (already type-checked) against the owner's
        existing top-level labels.  Returns a list of actions; raises 400."""
        names = {l["name"]: l["id"] for l in existing}
        by_id = {l["id"]: l for l in existing}
        errs = [{} for _ in entries]
        plan = []
        seen = set()
        for i, e in enumerate(entries):
            lid = e.get("id")
            if e.get("deleted") and lid is None:
                # CVAT's LabelSerializer.validate(), per entry
                errs[i] = {"non_field_errors": ["Deleted label must have "
                                                "an ID"]}
                continue
            if lid is not None:
                if patch and lid not in by_id:
                    # update_label(): Label.DoesNotExist -> NotFound
                    raise ApiError(404, {"detail": "Not found label with "
                                         "id #%s to change" % lid})
                if not patch:
                    # create_labels() drops a given id
                    lid = None
            if lid is not None:
                if e.get("deleted"):
                    plan.append(("delete", by_id[lid], e))
                    names.pop(by_id[lid]["name"], None)
                    continue
                new = e.get("name", by_id[lid]["name"])
                if new != by_id[lid]["name"]:
                    if new in names or new in seen:
                        # Label.save(): IntegrityError -> InvalidLabel ->
                        # ValidationError raised in update(): a bare list
                        raise bad(["All label names must be unique"])
                    names.pop(by_id[lid]["name"], None)
                seen.add(new)
                plan.append(("update", by_id[lid], e))
            else:
                if e.get("deleted"):
                    continue
                if "name" not in e:
                    errs[i] = {"name": [REQUIRED]}
                    continue
                if e["name"] in names or e["name"] in seen:
                    raise bad(["All label names must be unique"])
                seen.add(e["name"])
                plan.append(("create", None, e))
            # check_attribute_names_unique(): every entry counts (there is
            # no "deleted" for attributes), raised in create()/update()
            attr_names = [a.get("name") for a in e.get("attributes", [])]
            dup = [n for k, n in enumerate(attr_names)
                   if n in attr_names[:k]]
            if dup:
                raise bad(["Duplicate attribute with name '%s' exists"
                           % dup[0]])
            subs = [s.get("name") for s in e.get("sublabels", [])]
            if len(set(subs)) != len(subs):
                raise bad(["All label names must be unique"])
        if any(errs):
            raise bad({field: errs})
        return plan

    def _make_attr(self, a, old=None):
        rec = old if old is not None else {"id": self._next("attribute")}
        for k, dflt in (("name", None), ("mutable", False),
                        ("input_type", "text"), ("values", []),
                        ("default_value", None)):
            if k in a:
                rec[k] = a[k]
            elif k not in rec:
                rec[k] = dflt
        if rec.get("default_value") is None:
            # doc silent: CVAT picks the first value when no default given
            rec["default_value"] = rec["values"][0] if rec["values"] else ""
        return rec

    def _apply_label_plan(self, plan, project=None, task=None):
        now = time.time()
        for action, label, e in plan:
            if action == "delete":
                self._delete_label(label["id"])
                continue
            if action == "create":
                n = len(self.labels)
                label = {"id": self._next("label"), "name": e["name"],
                         "color": e.get("color") or
                         LABEL_COLORS[n % len(LABEL_COLORS)],
                         "type": e.get("type", "any"), "svg": e.get("svg", ""),
                         "attributes": [], "project": project, "task": task,
                         "parent": None, "created": now}
                self.labels[label["id"]] = label
            else:
                if e.get("name"):
                    label["name"] = e["name"]
                # update_label(): a type change from or to "skeleton" is
                # ignored (logged), not refused; the svg of an existing
                # label is not touched.
                new_type = e.get("type") or label["type"]
                if "skeleton" not in (label["type"], new_type):
                    label["type"] = new_type
                if e.get("color"):
                    label["color"] = e["color"]
            self._update_attrs(label, e.get("attributes", []))
            for sub in e.get("sublabels", []):
                old = next((x for x in self.labels.values()
                            if x["parent"] == label["id"] and
                            (x["id"] == sub.get("id") or
                             x["name"] == sub.get("name"))), None)
                if old is None:
                    old = {"id": self._next("label"),
                           "name": sub.get("name", "sublabel"),
                           "color": sub.get("color") or LABEL_COLORS[
                               len(self.labels) % len(LABEL_COLORS)],
                           "type": sub.get("type", "points"), "svg": "",
                           "attributes": [], "project": project,
                           "task": task, "parent": label["id"],
                           "created": now}
                    self.labels[old["id"]] = old
                self._update_attrs(old, sub.get("attributes", []))

    def _update_attrs(self, label, attrs):
        for a in attrs:
            old = None
            if a.get("id") is not None:
                old = next((x for x in label["attributes"]
                            if x["id"] == a["id"]), None)
                if old is None:
                    # update_label(): AttributeSpec.DoesNotExist -> NotFound
                    raise ApiError(404, {"detail": "Attribute with id #%s "
                                         "does not exist" % a["id"]})
            else:
                # id-less entries match an existing attribute by name
                old = next((x for x in label["attributes"]
                            if x["name"] == a["name"]), None)
            # CVAT's AttributeSerializer has no "deleted": an attribute is
            # removed only by recreating its label (the field's help text);
            # an unknown key is ignored and the entry updates or creates.
            rec = self._make_attr(a, old)
            if old is None:
                label["attributes"].append(rec)

    def _delete_label(self, lid):
        ids = {lid} | {l["id"] for l in self.labels.values()
                       if l["parent"] == lid}
        for i in ids:
            self.labels.pop(i, None)
        self._purge_annotations(lambda o: o["label_id"] in ids)

    def _purge_annotations(self, pred):
        for j in self.jobs.values():
            for kind in ANN_KINDS:
                for oid in [i for i, o in j["ann"][kind].items() if pred(o)]:
                    del j["ann"][kind][oid]
                    self.ann_index[kind].pop(oid, None)

    def h_labels(self, rq):
        keys = [k for k in ("project_id", "task_id", "job_id")
                if rq.q(k) not in (None, "")]
        if len(keys) > 1:
            raise bad(["Only one of the following parameters is allowed: "
                       "project_id, task_id, job_id"])
        records = [l for l in self.labels.values()]
        if keys:
            try:
                oid = int(rq.q(keys[0]))
            except ValueError:
                raise bad({keys[0]: ["Enter a number."]})
            task = None
            if keys[0] == "job_id":
                j = self.jobs.get(oid)
                task = self.tasks.get(j["task"]) if j else None
            elif keys[0] == "task_id":
                task = self.tasks.get(oid)
            if keys[0] == "project_id":
                records = [l for l in records if l["project"] == oid]
            elif task is None:
                records = []
            elif task["project_id"] is not None:
                # a project task's labels are the project's labels
                records = [l for l in records
                           if l["project"] == task["project_id"]]
            else:
                records = [l for l in records if l["task"] == task["id"]]
        parent_name = (lambda l: self.labels[l["parent"]]["name"]
                       if l["parent"] in self.labels else None)
        fields = {"name": (lambda l: l["name"], "str"),
                  "type": (lambda l: l["type"], "str"),
                  "color": (lambda l: l["color"], "str"),
                  "parent": (parent_name, "str"),
                  "parent_id": (lambda l: l["parent"], "int")}
        # the owner filters were applied above; keep them out of _list
        saved = {k: rq.query.pop(k) for k in ("project_id", "task_id",
                                              "job_id") if k in rq.query}
        try:
            return self._list(rq, records, self.ser_label, fields,
                              search=("name",), order="id",
                              org=self._label_org)
        finally:
            rq.query.update(saved)

    def h_label_get(self, rq, lid):
        return json_resp(200, self.ser_label(
            rq, self._get(self.labels, "Label", lid)))

    def h_label_patch(self, rq, lid):
        l = self._get(self.labels, "Label", lid)
        body = validate(rq.json_obj(), LABEL_FIELDS, partial=True)
        body.pop("sublabels", None)
        body["id"] = l["id"]
        siblings = [x for x in self.labels.values()
                    if x["parent"] == l["parent"] and
                    x["project"] == l["project"] and x["task"] == l["task"]]
        plan = self._plan_labels([body], siblings, field="name", patch=True)
        self._apply_label_plan(plan, l["project"], l["task"])
        self._touch_label_owner(l)
        return json_resp(200, self.ser_label(rq, l))

    def h_label_delete(self, rq, lid):
        l = self._get(self.labels, "Label", lid)
        if l["parent"] is not None:
            raise bad(["Sublabels cannot be deleted this way. Use the "
                       "parent label."])
        self._delete_label(l["id"])
        self._touch_label_owner(l)
        return Resp(204)

    def _touch_label_owner(self, l):
        now = time.time()
        if l["project"] in self.projects:
            self.projects[l["project"]]["updated"] = now
        if l["task"] in self.tasks:
            self.tasks[l["task"]]["updated"] = now

    # ------------------------------------------------------------------
    # projects
    # ------------------------------------------------------------------

    def _project_fields(self):
        uname = (lambda uid: self.users[uid]["username"]
                 if uid in self.users else None)
        return {"name": (lambda p: p["name"], "str"),
                "owner": (lambda p: uname(p["owner"]), "str"),
                "assignee": (lambda p: uname(p["assignee"]), "str"),
                "status": (lambda p: p["status"], "str"),
                "updated_date": (lambda p: p["updated"], "str"),
                "created_date": (lambda p: p["created"], "str")}

    def h_projects(self, rq):
        return self._list(rq, self.projects.values(), self.ser_project,
                          self._project_fields(),
                          search=("name", "owner", "assignee", "status"),
                          org=lambda p: p["org"])

    def h_project_create(self, rq):
        body = validate(rq.json_obj(), PROJECT_FIELDS)
        owner = self._pk_user("owner_id", body.get("owner_id")) \
            or rq.user["id"]
        assignee = self._pk_user("assignee_id", body.get("assignee_id"))
        plan = self._plan_labels(body["labels"], [])
        now = time.time()
        pid = self._next("project")
        p = {"id": pid, "name": body["name"], "owner": owner,
             "assignee": assignee,
             "assignee_updated": now if assignee else None,
             "bug_tracker": body.get("bug_tracker", ""),
             "created": now, "updated": now, "status": "annotation",
             "org": rq.org_id,
             "source_storage": body.get("source_storage"),
             "target_storage": body.get("target_storage")}
        self.projects[pid] = p
        self._apply_label_plan(plan, project=pid)
        self.count("projects_created")
        return json_resp(201, self.ser_project(rq, p))

    def h_project_get(self, rq, pid):
        return json_resp(200, self.ser_project(
            rq, self._get(self.projects, "Project", pid)))

    def h_project_patch(self, rq, pid):
        p = self._get(self.projects, "Project", pid)
        raw = rq.json_obj()
        self._reject_unknown(raw, PROJECT_PATCHABLE)
        body = validate(raw, PROJECT_FIELDS, partial=True)
        if "labels" in body:
            plan = self._plan_labels(body["labels"],
                                     self._owner_labels(project=p["id"]),
                                     patch=True)
            self._apply_label_plan(plan, project=p["id"])
        self._patch_common(p, body)
        return json_resp(200, self.ser_project(rq, p))

    def _patch_common(self, obj, body):
        now = time.time()
        for k in ("name", "bug_tracker", "source_storage", "target_storage",
                  "subset"):
            if k in body:
                obj[k] = body[k]
        if "owner_id" in body:
            obj["owner"] = self._pk_user("owner_id", body["owner_id"])
        if "assignee_id" in body:
            obj["assignee"] = self._pk_user("assignee_id",
                                            body["assignee_id"])
            obj["assignee_updated"] = now
        obj["updated"] = now

    def h_project_delete(self, rq, pid):
        self._get(self.projects, "Project", pid)
        self._delete_project(int(pid))
        return Resp(204)

    def _delete_project(self, pid):
        for t in [t for t in self.tasks.values() if t["project_id"] == pid]:
            self._delete_task(t["id"])
        for l in self._owner_labels(project=pid, top_only=False):
            self.labels.pop(l["id"], None)
        self.projects.pop(pid, None)
        self.count("projects_deleted")

    # ------------------------------------------------------------------
    # tasks
    # ------------------------------------------------------------------

    def _task_fields(self):
        uname = (lambda uid: self.users[uid]["username"]
                 if uid in self.users else None)
        pname = (lambda t: self.projects[t["project_id"]]["name"]
                 if t["project_id"] in self.projects else None)
        return {"project_id": (lambda t: t["project_id"], "int"),
                "name": (lambda t: t["name"], "str"),
                "owner": (lambda t: uname(t["owner"]), "str"),
                "assignee": (lambda t: uname(t["assignee"]), "str"),
                "status": (self._task_status, "str"),
                "subset": (lambda t: t["subset"], "str"),
                "mode": (lambda t: t["mode"], "str"),
                "dimension": (lambda t: "2d" if t["data"] else None, "str"),
                "project_name": (pname, "str"),
                "tracker_link": (lambda t: t["bug_tracker"], "str"),
                "validation_mode": (lambda t: None, "str"),
                "updated_date": (lambda t: t["updated"], "str"),
                "created_date": (lambda t: t["created"], "str")}

    def h_tasks(self, rq):
        return self._list(rq, self.tasks.values(), self.ser_task,
                          self._task_fields(),
                          search=("name", "owner", "assignee", "mode",
                                  "status", "project_name", "subset"),
                          org=lambda t: t["org"])

    def h_task_create(self, rq):
        body = validate(rq.json_obj(), TASK_FIELDS)
        labels = body.get("labels") or []
        project_id = body.get("project_id")
        # doc: exactly one of labels / project_id; an empty label list
        # counts as absent (the reference client sends labels: [] with a
        # project id).
        if not labels and project_id is None:
            raise bad({"non_field_errors": ["Label set or project_id must "
                                            "be present"]})
        if labels and project_id is not None:
            raise bad({"non_field_errors": ["Project must have only one of "
                                            "Label set or project_id"]})
        if project_id is not None:
            proj = self.projects.get(project_id)
            if proj is None:
                raise bad({"project_id": ['Invalid pk "%s" - object does not '
                                          'exist.' % project_id]})
            if proj["org"] != rq.org_id:
                raise bad({"non_field_errors": ["The task and its project "
                                                "should be in the same "
                                                "organization."]})
        owner = self._pk_user("owner_id", body.get("owner_id")) \
            or rq.user["id"]
        assignee = self._pk_user("assignee_id", body.get("assignee_id"))
        plan = self._plan_labels(labels, [])
        now = time.time()
        tid = self._next("task")
        t = {"id": tid, "name": body["name"], "project_id": project_id,
             "owner": owner, "assignee": assignee,
             "assignee_updated": now if assignee else None,
             "bug_tracker": body.get("bug_tracker", ""),
             "created": now, "updated": now,
             "overlap": body.get("overlap"),
             "segment_size": body.get("segment_size", 0),
             "subset": body.get("subset", ""), "org": rq.org_id,
             "source_storage": body.get("source_storage"),
             "target_storage": body.get("target_storage"),
             "consensus_replicas": body.get("consensus_replicas", 0),
             "mode": "", "data": None}
        self.tasks[tid] = t
        self._apply_label_plan(plan, task=tid)
        self.count("tasks_created")
        return json_resp(201, self.ser_task(rq, t))

    def h_task_get(self, rq, tid):
        return json_resp(200, self.ser_task(rq, self._task(tid)))

    def h_task_patch(self, rq, tid):
        t = self._task(tid)
        raw = rq.json_obj()
        self._reject_unknown(raw, TASK_PATCHABLE)
        body = validate(raw, TASK_FIELDS, partial=True)
        if "project_id" in body and body["project_id"] != t["project_id"]:
            self._move_task(t, body["project_id"])
        if "labels" in body:
            if t["project_id"] is not None:
                raise bad({"labels": ["Cannot change the labels of a task "
                                      "inside a project"]})
            plan = self._plan_labels(body["labels"],
                                     self._owner_labels(task=t["id"]),
                                     patch=True)
            self._apply_label_plan(plan, task=t["id"])
        self._patch_common(t, body)
        return json_resp(200, self.ser_task(rq, t))

    def _move_task(self, t, project_id):
        """Move a task into a project: labels are matched by name."""
        if project_id is None:
            raise bad({"project_id": ["Cannot move a task out of a project"]})
        proj = self.projects.get(project_id)
        if proj is None:
            raise bad({"project_id": ['Invalid pk "%s" - object does not '
                                      'exist.' % project_id]})
        if proj["org"] != t["org"]:
            raise bad({"non_field_errors": ["The task and its project should "
                                            "be in the same organization."]})
        old = self._task_label_map(t)
        new_by_name = {l["name"]: l for l in
                       self._owner_labels(project=project_id,
                                          top_only=False)}
        mapping, attr_map = {}, {}
        for l in old.values():
            target = new_by_name.get(l["name"])
            if target is None:
                raise bad({"project_id": ["Target project does not have "
                                          "label with name \"%s\""
                                          % l["name"]]})
            mapping[l["id"]] = target["id"]
            tnames = {a["name"]: a["id"] for a in target["attributes"]}
            for a in l["attributes"]:
                if a["name"] in tnames:
                    attr_map[a["id"]] = tnames[a["name"]]

        def remap(o):
            o["label_id"] = mapping.get(o["label_id"], o["label_id"])
            o["attributes"] = [{"spec_id": attr_map[a["spec_id"]],
                                "value": a["value"]}
                               for a in o["attributes"]
                               if a["spec_id"] in attr_map]
            for sub in o.get("elements", []) + o.get("shapes", []):
                if "label_id" in sub:
                    remap(sub)
                else:
                    sub["attributes"] = [
                        {"spec_id": attr_map[a["spec_id"]],
                         "value": a["value"]} for a in sub["attributes"]
                        if a["spec_id"] in attr_map]
        for j in self._task_jobs(t, annotation_only=False):
            for kind in ANN_KINDS:
                for o in j["ann"][kind].values():
                    remap(o)
        for l in self._owner_labels(task=t["id"], top_only=False):
            del self.labels[l["id"]]
        t["project_id"] = project_id

    def h_task_delete(self, rq, tid):
        self._task(tid)
        self._delete_task(int(tid))
        return Resp(204)

    def _delete_task(self, tid):
        t = self.tasks.pop(tid, None)
        if t is None:
            return
        for j in [j for j in self.jobs.values() if j["task"] == tid]:
            self._delete_job(j)
        for l in self._owner_labels(task=tid, top_only=False):
            self.labels.pop(l["id"], None)
        self.uploads.pop(tid, None)
        for fid in [f for f, u in self.tus.items() if u["task"] == tid]:
            del self.tus[fid]
        self.count("tasks_deleted")

    def _delete_job(self, j):
        for kind in ANN_KINDS:
            for oid in j["ann"][kind]:
                self.ann_index[kind].pop(oid, None)
        for iid in [i for i, r in self.issues.items() if r["job"] == j["id"]]:
            for cid in [c for c, r in self.comments.items()
                        if r["issue"] == iid]:
                del self.comments[cid]
            del self.issues[iid]
        self.jobs.pop(j["id"], None)

    # ------------------------------------------------------------------
    # task data: upload protocols (CVAT-API.md §4)
    # ------------------------------------------------------------------

    def _data_form(self, rq):
        """Body -> (fields for DATA_FIELDS, [UploadedFile])."""
        d = rq.data()
        if isinstance(d, dict):
            return d, []
        fields = {}
        files = {}
        list_keys = set(DATA_LIST_FIELDS)
        for k, v in d:
            m = re.fullmatch(r"client_files\[(\d+)\]", k)
            if m:
                files[int(m.group(1))] = v
                continue
            base = re.sub(r"\[\d+\]$", "", k)
            if base in list_keys or k == "client_files":
                continue
            if not isinstance(v, UploadedFile):
                fields[k] = v
        for name in DATA_LIST_FIELDS:
            lst = form_list(d, name)
            if lst is not None:
                fields[name] = [x for x in lst
                                if not isinstance(x, UploadedFile)]
        out, errs = [], []
        for i in sorted(files):
            f = files[i]
            if not isinstance(f, UploadedFile):
                errs.append({"file": ["The submitted data was not a file. "
                                      "Check the encoding type on the "
                                      "form."]})
            elif not f.filename:
                errs.append({"file": ["No filename could be determined."]})
            elif not f.data:
                errs.append({"file": ["The submitted file is empty."]})
            else:
                errs.append({})
                out.append(f)
        if any(errs):
            raise bad({"client_files": errs})
        return fields, out

    def _add_files(self, rq, sess, files):
        """Store uploaded files in a task's upload session.  Django keeps
        only the base name of an uploaded file; doc silent on duplicates: a
        later file with the same name replaces the earlier one (same path
        in the upload dir)."""
        total = 0
        for f in files:
            name = re.split(r"[\\/]", f.filename)[-1]
            if name in sess["files"]:
                self.count("duplicate_file_names")
            sess["files"][name] = f.data
            total += len(f.data)
        rq.files_count = len(files)
        if files:
            self.count("upload_batches")
            self.count("files_uploaded", len(files))
            self.count("bytes_uploaded", total)
            self.counters_["max_batch_files"] = max(
                self.counters_.get("max_batch_files", 0), len(files))
            self.counters_["max_batch_bytes"] = max(
                self.counters_.get("max_batch_bytes", 0), total)

    def h_task_data_post(self, rq, tid):
        t = self._task(tid)
        if "upload-length" in rq.headers:
            return self._tus_create(rq, t)
        self.count("data_requests")
        if t["data"] is not None:
            raise ApiError(400, "Adding more data is not supported")
        start = "upload-start" in rq.headers
        multiple = "upload-multiple" in rq.headers
        finish = "upload-finish" in rq.headers
        if start and not finish:
            self.uploads[t["id"]] = {"files": {}}
            return Resp(202)
        fields, files = self._data_form(rq)
        if multiple and not finish:
            validate(fields, DATA_FIELDS)      # image_quality is required
            # doc silent on Upload-Multiple without Upload-Start: accepted
            sess = self.uploads.setdefault(t["id"], {"files": {}})
            self._add_files(rq, sess, files)
            return Resp(200)
        params = validate(fields, DATA_FIELDS)
        self._check_data_params(t, params)
        if params.get("cloud_storage_id") is not None:
            cid = params["cloud_storage_id"]
            c = self.clouds.get(cid)
            if c is None or not self._org_visible(rq, c["org"]):
                # doc silent on the wording
                raise bad({"cloud_storage_id": ['Invalid pk "%s" - object '
                                                'does not exist.' % cid]})
            if files or (finish and self.uploads.get(t["id"], {})
                         .get("files")):
                # doc silent: files come from one source
                raise bad({"client_files": ["Files cannot be uploaded to a "
                                            "task created from a cloud "
                                            "storage"]})
        sess = self.uploads.pop(t["id"], None) if finish and not start \
            else None
        sess = sess or {"files": {}}
        self._add_files(rq, sess, files)
        now = time.time()
        d = {"id": self._next("data"), "params": params,
             "image_quality": params["image_quality"],
             "chunk_size": params.get("chunk_size") or None,
             "start_frame": params.get("start_frame", 0),
             "stop_frame": params.get("stop_frame"),
             "frame_filter": params.get("frame_filter", ""),
             "files": sess["files"], "frames": [], "size": 0,
             "deleted_frames": [], "updated": now}
        t["data"] = d
        t["updated"] = now
        r = self._new_request("create", "task", t["id"], rq.user["id"],
                              lambda r: self._process_data(t["id"]),
                              task_id=t["id"], project_id=t["project_id"])
        if not self.since(2, 16):
            return Resp(202)                  # before 2.16: empty body
        return json_resp(202, {"rq_id": r["id"]})

    def _check_data_params(self, t, p):
        sm = p.get("sorting_method", "lexicographical")
        # doc: upload_file_order is "only with predefined"; doc silent on
        # the status, we refuse it synchronously (400).
        if p.get("upload_file_order") and sm != "predefined":
            raise bad({"upload_file_order": ["The upload_file_order field "
                                             "can only be used with the "
                                             "'predefined' sorting method"]})
        if p.get("job_file_mapping"):
            if t["segment_size"]:
                raise bad({"job_file_mapping": ["job_file_mapping cannot be "
                                                "used with segment_size"]})
            if sm not in ("lexicographical",) and \
                    "sorting_method" in p and sm != "predefined":
                raise bad({"job_file_mapping": ["job_file_mapping cannot be "
                                                "used with sorting_method"]})
        ff = p.get("frame_filter", "")
        if ff and not re.fullmatch(r"step\s*=\s*[1-9]\d*", ff):
            raise bad({"frame_filter": ["Invalid frame filter expression"]})
        if p.get("stop_frame") is not None and \
                p["stop_frame"] < p.get("start_frame", 0):
            raise bad({"stop_frame": ["Stop frame must be more or equal "
                                      "start frame"]})

    def _process_data(self, tid):
        """Background part of task creation; returns an error message or
        None.  Runs when the creation request reaches 'finished'."""
        t = self.tasks.get(tid)
        if t is None:
            return "The task was deleted before its data was processed"
        d = t["data"]
        p = d["params"]
        if p.get("remote_files") or (p.get("server_files") and
                                     p.get("cloud_storage_id") is None):
            return ("remote_files and the server's share are not "
                    "available on the test server")
        if p.get("cloud_storage_id") is not None:
            err = self._cloud_media(d, p)
            if err:
                return err
        files = d["files"]
        if not files:
            return "No media data found"
        infos = {}
        for name, data in files.items():
            try:
                infos[name] = image_info(data)
            except ValueError as e:
                return "Could not read image '%s': %s" % (name, e)
        names = list(files)
        sm = p.get("sorting_method", "lexicographical")
        mapping = p.get("job_file_mapping")
        if mapping:
            flat = [n for group in mapping for n in group]
            if sorted(flat) != sorted(names):
                return ("job_file_mapping does not match the uploaded files")
            order = flat
        elif sm == "lexicographical":
            order = sorted(names)
        elif sm == "natural":
            order = sorted(names, key=natural_key)
        elif sm == "predefined":
            ufo = p.get("upload_file_order") or []
            if ufo:
                if len(ufo) != len(set(ufo)) or set(ufo) != set(names):
                    return ("upload_file_order does not match the uploaded "
                            "files")
                order = list(ufo)
            else:
                order = names
        else:
            order = list(names)
            random.Random(self.config["random_seed"] * 1000003 + tid) \
                .shuffle(order)
        step = 1
        m = re.fullmatch(r"step\s*=\s*(\d+)", d["frame_filter"] or "")
        if m:
            step = int(m.group(1))
        start = d["start_frame"]
        stop = d["stop_frame"] if d["stop_frame"] is not None \
            else len(order) - 1
        if start >= len(order):
            return "The start frame is out of the media range"
        order = order[start:stop + 1:step]
        frames = []
        for n in order:
            fmt, w, h = infos[n]
            frames.append({"name": n, "width": w, "height": h, "fmt": fmt,
                           "bytes": files[n]})
        size = len(frames)
        d["frames"] = frames
        d["size"] = size
        d["chunk_size"] = d["chunk_size"] or \
            self.config["default_chunk_size"]
        d["files"] = {}
        d["updated"] = time.time()
        self.count("images_stored", size)
        self.count("image_bytes", sum(len(f["bytes"]) for f in frames))
        # segments (CVAT-API.md §5): segment_size 0 or > size -> one job;
        # consecutive segments share `overlap` frames (images: default 0,
        # capped at segment_size // 2).  doc silent: the task then reports
        # the effective segment_size and overlap, as CVAT does.
        if mapping:
            segs, pos = [], 0
            for group in mapping:
                if group:
                    segs.append((pos, pos + len(group) - 1))
                    pos += len(group)
            t["segment_size"] = 0
            t["overlap"] = 0
        else:
            seg = t["segment_size"] or 0
            if seg <= 0 or seg > size:
                seg = size
            overlap = min(t["overlap"] or 0, seg // 2)
            stride = max(seg - overlap, 1)
            segs = []
            s = 0
            while True:
                e = min(s + seg - 1, size - 1)
                segs.append((s, e))
                if e >= size - 1:
                    break
                s += stride
            t["segment_size"] = seg
            t["overlap"] = overlap
        now = time.time()
        for s, e in segs:
            jid = self._next("job")
            self.jobs[jid] = {"id": jid, "task": tid, "start": s, "stop": e,
                              "stage": "annotation", "state": "new",
                              "status": "annotation", "type": "annotation",
                              "assignee": None, "assignee_updated": None,
                              "created": now, "updated": now,
                              "ann": {k: {} for k in ANN_KINDS}}
        t["mode"] = "annotation"
        t["updated"] = now
        return None

    # ------------------------------------------------------------------
    # cloud storages (CloudStorageViewSet, CloudStorage*Serializer)
    # ------------------------------------------------------------------

    def ser_cloud(self, rq, c):
        """CloudStorageReadSerializer: every model field but credentials."""
        return {"id": c["id"], "owner": self.basic_user(rq, c["owner"]),
                "manifests": list(c["manifests"]),
                "provider_type": c["provider_type"],
                "resource": c["resource"],
                "display_name": c["display_name"],
                "created_date": iso(c["created"]),
                "updated_date": iso(c["updated"]),
                "credentials_type": c["credentials_type"],
                "specific_attributes": c["specific_attributes"],
                "description": c["description"],
                "organization": c["org"]}

    def _cloud_fields(self):
        uname = (lambda uid: self.users[uid]["username"]
                 if uid in self.users else None)
        return {"provider_type": (lambda c: c["provider_type"], "str"),
                "name": (lambda c: c["display_name"], "str"),
                "resource": (lambda c: c["resource"], "str"),
                "credentials_type": (lambda c: c["credentials_type"], "str"),
                "owner": (lambda c: uname(c["owner"]), "str")}

    def h_clouds(self, rq):
        return self._list(rq, self.clouds.values(), self.ser_cloud,
                          self._cloud_fields(),
                          search=("provider_type", "name", "resource",
                                  "credentials_type", "owner"),
                          org=lambda c: c["org"])

    def _cloud(self, rq, cid):
        c = self._get(self.clouds, "CloudStorage", cid)
        if not self._org_visible(rq, c["org"]):
            raise not_found("CloudStorage")
        return c

    def h_cloud_get(self, rq, cid):
        return json_resp(200, self.ser_cloud(rq, self._cloud(rq, cid)))

    def h_cloud_delete(self, rq, cid):
        c = self._cloud(rq, cid)
        del self.clouds[c["id"]]
        return Resp(204)

    def h_cloud_status(self, rq, cid):
        """The status as a bare JSON string."""
        c = self._cloud(rq, cid)
        self.count("cloud_status_checks")
        try:
            return json_resp(200, CloudBucket(c).status())
        except Exception as e:            # CVAT: HttpResponseBadRequest
            return Resp(400, str(e).encode(), "text/html; charset=utf-8")

    @staticmethod
    def _cloud_validate(body):
        """CloudStorageWriteSerializer.validate_specific_attributes and
        validate(): attribute syntax, Azure's account, resource names."""
        sa = body.get("specific_attributes", "")
        if sa and any(len(a.split("=")) != 2 for a in sa.split("&")):
            raise bad({"specific_attributes": ["Invalid specific "
                                               "attributes"]})
        pt = body["provider_type"]
        if pt == "AZURE_CONTAINER" and not body.get("account_name") and \
                not body.get("connection_string"):
            raise bad({"non_field_errors": [
                "Account name or connection string for Azure container was "
                "not specified"]})
        allowed = set("abcdefghijklmnopqrstuvwxyz0123456789-")
        allowed |= set("_.") if pt == "GOOGLE_CLOUD_STORAGE" else \
            set(".") if pt == "AWS_S3_BUCKET" else set()
        diff = set(body["resource"]) - allowed
        if diff:
            raise bad({"resource": ["Invalid characters (%s) were found."
                                    % ",".join(sorted(diff))]})
        prefix = cloud_attrs(sa).get("prefix")
        if prefix and prefix.startswith("/"):
            raise bad(['Prefix cannot start with forward slash ("/").'])
        if prefix and "" in prefix.strip("/").split("/"):
            raise bad(["Prefix cannot contain multiple slashes in a row."])

    def h_cloud_create(self, rq):
        raw = rq.json_obj()
        if isinstance(raw, dict):
            # DRF drops fields the serializer does not know; counted so a
            # test can see a client sending a misspelt one.
            extra = set(raw) - set(CLOUD_FIELDS) - set(CLOUD_READ_ONLY) - \
                {"key_file"}
            if extra:
                self.count("cloud_ignored_fields", len(extra))
        body = validate(raw, CLOUD_FIELDS)
        self._cloud_validate(body)
        if body["provider_type"] != "AWS_S3_BUCKET":
            # doc silent: the test server reaches S3-compatible storage only
            raise bad({"provider_type": ["Only AWS_S3_BUCKET is available on "
                                         "the test server"]})
        creds = (body.get("key", ""), body.get("secret_key", ""),
                 body.get("session_token", ""))
        now = time.time()
        c = {"id": None, "owner": rq.user["id"], "org": rq.org_id,
             "provider_type": body["provider_type"],
             "resource": body["resource"],
             "display_name": body["display_name"],
             "credentials_type": body["credentials_type"],
             # The check below uses every credential given; the record
             # keeps what CVAT's database keeps (cloud_db_credentials).
             "credentials": creds,
             "specific_attributes": body.get("specific_attributes", ""),
             "description": body.get("description", ""),
             "manifests": body["manifests"], "created": now, "updated": now}
        b = CloudBucket(c)
        self.count("cloud_status_checks")
        st = b.status()
        if st == "FORBIDDEN":
            raise bad({"credentials": [
                "Cannot create resource %s with specified credentials. "
                "Access forbidden." % c["resource"]]})
        if st != "AVAILABLE":
            raise bad({"resource": ["The resource %s not found. It may have "
                                    "been deleted." % c["resource"]]})
        for m in c["manifests"]:
            fs = b.file_status(m)
            if fs == "NOT_FOUND":
                raise bad({"manifests": ["The '%s' file does not exist on "
                                         "'%s' cloud storage"
                                         % (m, c["resource"])]})
            if fs == "FORBIDDEN":
                raise bad({"manifests": ["The '%s' file does not available "
                                         "on '%s' cloud storage. Access "
                                         "denied" % (m, c["resource"])]})
        c["credentials"] = cloud_db_credentials(c["credentials_type"],
                                                *creds)
        if creds[2] and not c["credentials"][2]:
            self.count("cloud_tokens_dropped")
        # The model is unique on (provider_type, resource, credentials), a
        # constraint the serializer does not check: CVAT's database refuses
        # the duplicate and the client sees a server error.
        for o in self.clouds.values():
            if (o["provider_type"], o["resource"], o["credentials"]) == \
                    (c["provider_type"], c["resource"], c["credentials"]):
                self.count("cloud_integrity_errors")
                return Resp(500, DJANGO_500, "text/html; charset=utf-8")
        c["id"] = self._next("cloudstorage")
        self.clouds[c["id"]] = c
        self.count("cloud_storages_created")
        return json_resp(201, self.ser_cloud(rq, c))

    def h_cloud_patch(self, rq, cid):
        """CloudStorageWriteSerializer.update (partial): the credentials
        given replace the record's as CVAT's Credentials.mapping_with_new_
        values does (for KEY_SECRET_KEY_PAIR: key and secret, the rest
        reset, so a session token is never kept), the bucket is checked
        with the result (S3CloudStorage.get_status) before anything is
        saved, the manifests become those given (none when the field
        is absent: a partial update applies no default), and the model's
        unique constraint refuses a second record of the bucket with the
        same credentials (a 500, as at creation)."""
        c = self._cloud(rq, cid)
        if not rq.user["is_superuser"] and rq.user["id"] != c["owner"]:
            raise ApiError(403, {"detail": "You do not have permission to "
                                 "perform this action."})
        raw = rq.json_obj()
        body = validate(raw, CLOUD_FIELDS, partial=True)
        merged = dict(c, **{k: body[k] for k in (
            "credentials_type", "resource", "display_name", "description",
            "specific_attributes") if k in body})
        self._cloud_validate(dict(merged, **{
            "specific_attributes": body.get("specific_attributes", "")}))
        old = dict(zip(("key", "secret_key", "session_token"),
                       c["credentials"]))
        old.update({k: body[k] for k in ("key", "secret_key",
                                         "session_token") if k in body})
        merged["credentials"] = cloud_db_credentials(
            merged["credentials_type"], old["key"], old["secret_key"],
            old["session_token"])
        b = CloudBucket(merged)
        self.count("cloud_status_checks")
        st = b.status()
        if st == "FORBIDDEN":
            raise bad({"credentials": [
                "Cannot update resource %s with specified credentials. "
                "Access forbidden." % merged["resource"]]})
        if st != "AVAILABLE":
            raise bad({"resource": ["The resource %s not found. It may have "
                                    "been deleted." % merged["resource"]]})
        manifests = body.get("manifests", [])
        for m in set(manifests) - set(c["manifests"]):
            if b.file_status(m) != "AVAILABLE":
                raise bad({"manifests": ["The '%s' file does not exist on "
                                         "'%s' cloud storage"
                                         % (m, merged["resource"])]})
        merged["manifests"] = list(manifests)
        merged["updated"] = time.time()
        # update() ends in instance.save(): the model's unique constraint
        # on (provider_type, resource, credentials) holds for it too, and
        # the IntegrityError is a server error.
        for o in self.clouds.values():
            if o is not c and (o["provider_type"], o["resource"],
                               o["credentials"]) == \
                    (merged["provider_type"], merged["resource"],
                     merged["credentials"]):
                self.count("cloud_integrity_errors")
                return Resp(500, DJANGO_500, "text/html; charset=utf-8")
        c.update(merged)
        self.count("cloud_storages_updated")
        return json_resp(200, self.ser_cloud(rq, c))

    def _cloud_media(self, d, p):
        """Task creation from a cloud storage: the server reads every
        object itself (CVAT downloads them to build the task's manifest
        and chunks).  Directories (keys ending in "/") are expanded by a
        listing; server_files_exclude and the storage's prefix filter.
        Fills d["files"]; returns an error message or None."""
        from botocore.exceptions import BotoCoreError, ClientError
        c = self.clouds.get(p["cloud_storage_id"])
        if c is None:
            return "The cloud storage %d does not exist" % \
                p["cloud_storage_id"]
        b = CloudBucket(c)
        names = []
        try:
            for f in p.get("server_files") or []:
                names += b.list_keys(f) if f.endswith("/") else [f]
            excl = set(p.get("server_files_exclude") or [])
            names = [n for n in names if n not in excl]
            if b.prefix:
                names = [n for n in names if n.startswith(b.prefix)]
            for n in names:
                data = b.get(n)
                d["files"][n] = data
                self.count("cloud_files_read")
                self.count("cloud_bytes_read", len(data))
        except (ClientError, BotoCoreError) as e:
            return str(e)
        return None

    def h_task_data_options(self, rq, tid):
        self._task(tid)
        return Resp(204, b"", None, [
            ("Tus-Resumable", "1.0.0"), ("Tus-Version", "1.0.0"),
            ("Tus-Extension", "creation"),
            ("Tus-Max-Size", str(self.config["tus_max_size"]))])

    def _tus_create(self, rq, t):
        if t["data"] is not None:
            raise ApiError(400, "Adding more data is not supported")
        try:
            length = int(rq.header("upload-length"))
            if length < 0:
                raise ValueError
        except (TypeError, ValueError):
            raise ApiError(400, "Invalid Upload-Length", text=True)
        if length > self.config["tus_max_size"]:
            raise ApiError(413, "File size exceeds max limit of %d bytes"
                           % self.config["tus_max_size"], text=True)
        meta = {}
        for item in (rq.header("upload-metadata") or "").split(","):
            bits = item.strip().split(" ")
            if bits and bits[0]:
                try:
                    meta[bits[0]] = base64.b64decode(bits[1]).decode() \
                        if len(bits) > 1 else ""
                except (binascii.Error, UnicodeDecodeError):
                    raise ApiError(400, "Invalid Upload-Metadata", text=True)
        if not meta.get("filename"):
            raise ApiError(400, "Metadata must contain filename", text=True)
        name = re.split(r"[\\/]", meta["filename"])[-1]
        sess = self.uploads.setdefault(t["id"], {"files": {}})
        if name in sess["files"] or any(
                u["task"] == t["id"] and u["name"] == name
                for u in self.tus.values()):
            raise ApiError(409, "File with same name already exists",
                           text=True)
        origin = rq.header("origin")
        fwd = rq.header("x-forwarded-host")
        if not origin and not fwd:
            # doc: the server builds Location from Origin and errors
            # without it.
            raise ApiError(500, "Origin header is required", text=True)
        file_id = "%d_%s" % (rq.user["id"], uuid.uuid4())
        base = origin.rstrip("/") if origin else "http://" + fwd
        self.tus[file_id] = {"task": t["id"], "name": name, "length": length,
                             "offset": 0, "buf": bytearray(), "done": False}
        self.count("tus_uploads")
        if length == 0:
            self._tus_done(rq, file_id)
        return Resp(201, b"", None, [
            ("Location", "%s/api/tasks/%d/data/%s" % (base, t["id"],
                                                     file_id)),
            ("Upload-Filename", file_id), ("Tus-Resumable", "1.0.0")])

    def _tus_done(self, rq, file_id):
        u = self.tus[file_id]
        u["done"] = True
        sess = self.uploads.setdefault(u["task"], {"files": {}})
        f = UploadedFile(u["name"], bytes(u["buf"]), "")
        u["buf"] = bytearray()
        saved = rq.files_count
        self._add_files(rq, sess, [f])
        rq.files_count = saved + 1

    def _tus_get(self, tid, file_id):
        self._task(tid)
        u = self.tus.get(file_id)
        if u is None or u["task"] != int(tid):
            raise ApiError(404, "Not Found", text=True)
        return u

    def h_tus_patch(self, rq, tid, file_id):
        u = self._tus_get(tid, file_id)
        try:
            off = int(rq.header("upload-offset"))
        except (TypeError, ValueError):
            raise ApiError(400, "Missing or invalid Upload-Offset", text=True)
        if off != u["offset"] or u["done"]:
            raise ApiError(409, "Offset mismatch", text=True)
        if off + len(rq.body) > u["length"]:
            raise ApiError(413, "Chunk exceeds Upload-Length", text=True)
        u["buf"] += rq.body
        u["offset"] += len(rq.body)
        self.count("tus_chunks")
        if u["offset"] == u["length"]:
            self._tus_done(rq, file_id)
        return Resp(204, b"", None, [("Upload-Offset", str(u["offset"])),
                                     ("Tus-Resumable", "1.0.0")])

    def h_tus_head(self, rq, tid, file_id):
        u = self._tus_get(tid, file_id)
        return Resp(200, b"", None, [("Upload-Offset", str(u["offset"])),
                                     ("Upload-Length", str(u["length"])),
                                     ("Tus-Resumable", "1.0.0"),
                                     ("Cache-Control", "no-store")])

    # ------------------------------------------------------------------
    # frames and metadata
    # ------------------------------------------------------------------

    def _data_of(self, t):
        if t["data"] is None:
            raise ApiError(404, {"detail": "No Data matches the given "
                                 "query."})
        return t["data"]

    def _meta(self, t, lo=None, hi=None):
        d = self._data_of(t)
        frames = d["frames"]
        job = lo is not None
        if job:
            frames = frames[lo:hi + 1]
        step = 1
        m = re.fullmatch(r"step\s*=\s*(\d+)", d["frame_filter"] or "")
        if m:
            step = int(m.group(1))
        stop = d["stop_frame"]
        if stop is None:
            stop = d["start_frame"] + max(d["size"] - 1, 0) * step
        return {"chunks_updated_date": iso(d["updated"]),
                "chunk_size": d["chunk_size"],
                "size": len(frames),
                "image_quality": d["image_quality"],
                "start_frame": lo if job else d["start_frame"],
                "stop_frame": hi if job else stop,
                "frame_filter": d["frame_filter"],
                "frames": [{"width": f["width"], "height": f["height"],
                            "name": f["name"], "related_files": 0,
                            "has_related_context": False} for f in frames],
                "deleted_frames": [x for x in d["deleted_frames"]
                                   if not job or lo <= x <= hi],
                "included_frames": None}

    def h_task_meta(self, rq, tid):
        return json_resp(200, self._meta(self._task(tid)))

    def h_task_meta_patch(self, rq, tid):
        t = self._task(tid)
        d = self._data_of(t)
        body = validate(rq.json_obj(), {
            "deleted_frames": F("list", item=F("int", min=0))},
            partial=True)
        if "deleted_frames" in body:
            for x in body["deleted_frames"]:
                if x >= d["size"]:
                    raise bad({"deleted_frames": ["Frame %d is out of the "
                                                  "task range" % x]})
            d["deleted_frames"] = sorted(set(body["deleted_frames"]))
            d["updated"] = time.time()
        return json_resp(200, self._meta(t))

    def h_job_meta(self, rq, jid):
        j = self._job(jid)
        return json_resp(200, self._meta(self.tasks[j["task"]], j["start"],
                                         j["stop"]))

    def _frames_resp(self, rq, t, lo=None, hi=None):
        d = self._data_of(t)
        if lo is None:
            lo, hi = 0, d["size"] - 1
        typ = rq.q("type")
        quality = rq.q("quality", "compressed")
        if quality not in ("original", "compressed"):
            raise bad(["Wrong quality value"])
        if typ not in ("frame", "chunk", "preview", "context_image"):
            raise bad(["Data type not specified or has wrong value"])
        if not d["frames"]:
            raise bad(["The task has no frames"])
        if typ == "context_image":
            raise ApiError(404, {"detail": "Context images are not "
                                 "available"})
        if typ == "preview":
            f = d["frames"][lo]
            return Resp(200, f["bytes"], IMAGE_CONTENT_TYPES[f["fmt"]])
        try:
            number = int(rq.q("number"))
        except (TypeError, ValueError):
            raise bad(["The number parameter is required and must be an "
                       "integer"])
        if typ == "frame":
            if not lo <= number <= hi:
                raise bad(["The frame number should be in the [%d, %d] range"
                           % (lo, hi)])
            # doc silent on 'compressed': we return the original bytes
            # for both qualities (no re-encoding without an image library)
            f = d["frames"][number]
            return Resp(200, f["bytes"], IMAGE_CONTENT_TYPES[f["fmt"]])
        cs = d["chunk_size"]
        first = lo + number * cs
        if number < 0 or first > hi:
            raise bad(["The chunk number should be in the [0, %d] range"
                       % ((hi - lo) // cs)])
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            for i in range(first, min(first + cs - 1, hi) + 1):
                f = d["frames"][i]
                z.writestr("%06d.%s" % (i - first, f["fmt"]), f["bytes"])
        body = buf.getvalue()
        return Resp(200, body, "application/zip", [
            ("X-Checksum", hashlib.md5(body).hexdigest()),
            ("X-Updated-Date", iso(d["updated"]))])

    def h_task_data_get(self, rq, tid):
        return self._frames_resp(rq, self._task(tid))

    def h_job_data_get(self, rq, jid):
        j = self._job(jid)
        return self._frames_resp(rq, self.tasks[j["task"]], j["start"],
                                 j["stop"])

    # ------------------------------------------------------------------
    # background requests (/api/requests)
    # ------------------------------------------------------------------

    def _rq_id(self, action, target, target_id, subresource=None, fmt=None,
               user_id=None):
        if self.since(2, 38):
            parts = [("action", action), ("target", target),
                     ("target_id", str(target_id))]
            if subresource:
                parts.append(("subresource", subresource))
            if fmt:
                parts.append(("format", fmt.replace(".", "~")
                              .replace(" ", "_")))
            if user_id is not None:
                parts.append(("user_id", str(user_id)))
            return "&".join("%s=%s" % kv for kv in parts)
        if action == "create":
            return "create:%s-%d" % (target, target_id)
        return "%s:%s-%d-%s-in-%s-format-by-%d" % (
            action, target, target_id, subresource,
            fmt.replace(" ", "_").replace(".", "@"), user_id)

    def _new_request(self, action, target, target_id, owner, work,
                     subresource=None, fmt=None, project_id=None,
                     task_id=None, job_id=None):
        rid = self._rq_id(action, target, target_id, subresource, fmt,
                          owner if action == "export" else None)
        fail = False
        if self.config["fail_requests"] > 0:
            self.config["fail_requests"] -= 1
            fail = True
        op_type = "%s:%s" % (action, subresource or target)
        r = {"id": rid, "action": action, "status": "queued", "message": "",
             "progress": None, "created": time.time(), "started": None,
             "finished": None, "expiry": None, "owner": owner,
             "operation": {"type": op_type, "target": target,
                           "project_id": project_id, "task_id": task_id,
                           "job_id": job_id, "format": fmt,
                           "function_id": None},
             "subresource": subresource, "work": work, "fail": fail,
             "hold": bool(self.config["hold_requests"]),
             "qd": float(self.config["queue_delay"]),
             "pd": float(self.config["process_delay"]),
             "result_path": None, "result": None, "result_name": None,
             "polls": 0}
        self.requests[rid] = r
        self.count("requests_created")
        return r

    def _tick(self):
        """Advance background requests by wall-clock time (no threads):
        queued for queue_delay, started for process_delay, then the work
        runs and the request is finished/failed; finished ones expire."""
        now = time.time()
        for r in list(self.requests.values()):
            if r["status"] in ("finished", "failed"):
                if r["expiry"] is not None and now >= r["expiry"]:
                    del self.requests[r["id"]]
                continue
            el = now - r["created"]
            if r["status"] == "queued" and el >= r["qd"]:
                r["status"] = "started"
                r["started"] = r["created"] + r["qd"]
                r["progress"] = 0.0
                r["message"] = "Processing"
            if r["status"] != "started":
                continue
            if r["hold"]:
                r["progress"] = 0.5
                continue
            if el >= r["qd"] + r["pd"]:
                err = r["fail"] and self.config["fail_message"]
                if not err:
                    try:
                        err = r["work"](r)
                    except Exception as e:     # report, do not crash
                        err = "%s: %s" % (type(e).__name__, e)
                r["finished"] = now
                r["expiry"] = now + float(self.config["request_ttl"])
                r["status"] = "failed" if err else "finished"
                r["message"] = err or ""
                r["progress"] = None if err else 1.0
                self.count("requests_" + r["status"])
            elif r["pd"] > 0:
                r["progress"] = round((el - r["qd"]) / r["pd"], 3)

    def _request(self, rq, rid):
        r = self.requests.get(rid)
        if r is None or r["owner"] != rq.user["id"]:
            raise ApiError(404, "There is no request with specified id",
                           text=True)
        return r

    def h_request_get(self, rq, rid):
        r = self._request(rq, rid)
        r["polls"] += 1
        self.count("request_polls")
        return json_resp(200, self.ser_request(rq, r))

    def h_requests(self, rq):
        mine = [r for r in self.requests.values()
                if r["owner"] == rq.user["id"]]
        op = lambda k: (lambda r: r["operation"][k])
        return self._list(
            rq, mine, self.ser_request,
            {"action": (lambda r: r["action"], "str"),
             "status": (lambda r: r["status"], "str"),
             "target": (op("target"), "str"),
             "subresource": (lambda r: r["subresource"], "str"),
             "project_id": (op("project_id"), "int"),
             "task_id": (op("task_id"), "int"),
             "job_id": (op("job_id"), "int"),
             "format": (op("format"), "str"),
             "created_date": (lambda r: r["created"], "str"),
             "id": (lambda r: r["id"], "str")},
            order="-created_date")

    def h_request_cancel(self, rq, rid):
        r = self._request(rq, rid)
        if r["status"] != "queued":
            raise bad(["Only requests that have not been started can be "
                       "cancelled"])
        # doc silent on what a cancelled request looks like afterwards;
        # RQ deletes the job, so it is gone (404 on later polls).
        del self.requests[rid]
        return Resp(200)

    def h_task_status(self, rq, tid):
        t = self._task(tid)
        rs = [r for r in self.requests.values() if r["action"] == "create"
              and r["operation"]["task_id"] == t["id"]]
        state = {"queued": "Queued", "started": "Started",
                 "finished": "Finished", "failed": "Failed"}
        if rs:
            r = rs[-1]
            body = {"state": state[r["status"]], "message": r["message"],
                    "progress": round((r["progress"] or 0) * 100)}
        else:   # CVAT reports Finished when there is no job
            body = {"state": "Finished", "message": "", "progress": 0}
        return json_resp(200, body, [("Deprecation", "true")])

    # ------------------------------------------------------------------
    # jobs (CVAT-API.md §5)
    # ------------------------------------------------------------------

    def _job_fields(self):
        uname = (lambda uid: self.users[uid]["username"]
                 if uid in self.users else None)
        task = lambda j: self.tasks[j["task"]]
        pname = (lambda j: self.projects[task(j)["project_id"]]["name"]
                 if task(j)["project_id"] in self.projects else None)
        return {"task_id": (lambda j: j["task"], "int"),
                "project_id": (lambda j: task(j)["project_id"], "int"),
                "stage": (lambda j: j["stage"], "str"),
                "state": (lambda j: j["state"], "str"),
                "type": (lambda j: j["type"], "str"),
                "assignee": (lambda j: uname(j["assignee"]), "str"),
                "dimension": (lambda j: "2d", "str"),
                "task_name": (lambda j: task(j)["name"], "str"),
                "project_name": (pname, "str"),
                "parent_job_id": (lambda j: None, "int"),
                "start_frame": (lambda j: j["start"], "int"),
                "stop_frame": (lambda j: j["stop"], "int"),
                "updated_date": (lambda j: j["updated"], "str")}

    def h_jobs(self, rq):
        return self._list(rq, self.jobs.values(), self.ser_job,
                          self._job_fields(),
                          search=("task_name", "project_name", "assignee",
                                  "state", "stage"),
                          org=lambda j: self.tasks[j["task"]]["org"])

    def h_job_get(self, rq, jid):
        return json_resp(200, self.ser_job(rq, self._job(jid)))

    def h_job_patch(self, rq, jid):
        j = self._job(jid)
        raw = rq.json_obj()
        self._reject_unknown(raw, JOB_PATCH_FIELDS)
        body = validate(raw, JOB_PATCH_FIELDS, partial=True)
        self._pk_user("assignee", body.get("assignee"))
        self._change_job(j, body)
        return json_resp(200, self.ser_job(rq, j))

    def _change_job(self, j, body, raw=False):
        """Job PATCH rules (v2.39 serializer): a stage change without a
        state resets state to 'new'; sending stage or state recomputes the
        legacy status; assignee changes stamp assignee_updated_date.
        raw=True sets exactly what is given (control API)."""
        now = time.time()
        if "assignee" in body and (raw or body["assignee"] != j["assignee"]):
            # JobWriteSerializer.update(): the date moves only when the
            # assignee really changes
            j["assignee"] = body["assignee"]
            j["assignee_updated"] = now
        if "stage" in body:
            if body["stage"] != j["stage"] and "state" not in body and \
                    not raw:
                j["state"] = "new"
            j["stage"] = body["stage"]
        if "state" in body:
            j["state"] = body["state"]
        if "stage" in body or "state" in body:
            if j["stage"] == "annotation":
                j["status"] = "annotation"
            elif j["stage"] == "acceptance" and j["state"] == "completed":
                j["status"] = "completed"
            else:
                j["status"] = "validation"
        j["updated"] = now
        self.tasks[j["task"]]["updated"] = now

    def h_job_delete(self, rq, jid):
        j = self._job(jid)
        if j["type"] != "ground_truth":
            raise bad(["Only ground truth jobs can be removed"])
        self._delete_job(j)
        return Resp(204)

    # ------------------------------------------------------------------
    # annotations (CVAT-API.md §6)
    # ------------------------------------------------------------------

    SEQ_KIND = {"tags": "tag", "shapes": "shape", "tracks": "track"}
    LEGACY_QUERY = ("format", "filename", "action", "location",
                    "cloud_storage_id")

    def _scope(self, scope, oid):
        if scope == "task":
            t = self._task(oid)
            return t, self._task_jobs(t), None
        j = self._job(oid)
        return self.tasks[j["task"]], [j], j

    def _need_data(self, t, jobs):
        if t["data"] is None or not jobs:
            raise ApiError(400, "The task has no data or its data is not "
                           "processed yet", text=True)

    @staticmethod
    def _fill(attrs, label, mutable=None):
        """Every attribute of the label, given values or default_value.
        mutable=None: all attributes; True/False: only those (tracks)."""
        given = {a["spec_id"]: a["value"] for a in attrs}
        out = []
        for spec in label["attributes"] if label else []:
            if spec["id"] in given or mutable is None or \
                    spec["mutable"] == mutable:
                out.append({"spec_id": spec["id"],
                            "value": given.get(spec["id"],
                                               spec["default_value"])})
        known = {a["spec_id"] for a in out}
        out += [a for a in attrs if a["spec_id"] not in known]
        return out

    def _out_obj(self, kind, o, labels, fill=True):
        o = json.loads(json.dumps(o))
        if not fill:
            return o
        label = labels.get(o["label_id"])
        if kind == "tracks":
            o["attributes"] = self._fill(o["attributes"], label, False)
            for s in o["shapes"]:
                s["attributes"] = self._fill(s["attributes"], label, True)
            o["elements"] = [self._out_obj("tracks", e, labels)
                             for e in o.get("elements", [])]
        else:
            o["attributes"] = self._fill(o["attributes"], label)
            if kind == "shapes":
                o["elements"] = [self._out_obj("shapes", e, labels)
                                 for e in o.get("elements", [])]
        return o

    def _collect(self, t, jobs, fill=True):
        labels = self._task_label_map(t)
        out = {"version": 0, "tags": [], "shapes": [], "tracks": []}
        prev = set()
        for j in sorted(jobs, key=lambda j: (j["start"], j["id"])):
            mine = set()
            for kind in ANN_KINDS:
                for oid in sorted(j["ann"][kind]):
                    o = j["ann"][kind][oid]
                    # with overlap, copies written to both jobs are merged
                    # (CVAT matches them by IoU; we drop exact duplicates)
                    sig = (kind, json.dumps({k: v for k, v in o.items()
                                             if k != "id"}, sort_keys=True))
                    mine.add(sig)
                    if sig in prev:
                        continue
                    out[kind].append(self._out_obj(kind, o, labels, fill))
            if len(jobs) > 1 and t["overlap"]:
                prev |= mine
        return out

    def _check_ann(self, body, labels, job=None):
        def check(o, allowed=None, track=False):
            lid = o["label_id"]
            lab = labels.get(lid)
            if lab is None or (allowed is None and lab["parent"] is not None) \
                    or (allowed is not None and lid not in allowed):
                raise bad(["label_id `%s` is invalid" % lid])
            specs = {a["id"] for a in lab["attributes"]}
            for a in o["attributes"]:
                if a["spec_id"] not in specs:
                    raise bad(["spec_id `%s` is invalid" % a["spec_id"]])
            frames = [o["frame"]]
            for s in o.get("shapes", []):
                for a in s["attributes"]:
                    if a["spec_id"] not in specs:
                        raise bad(["spec_id `%s` is invalid" % a["spec_id"]])
                frames.append(s["frame"])
            if job is not None:
                # doc silent on job-scope frames outside the job: we
                # reject them (400) rather than dropping them silently.
                for f in frames:
                    if not job["start"] <= f <= job["stop"]:
                        raise bad(["The frame #%d is out of the job frame "
                                   "range [%d, %d]" % (f, job["start"],
                                                       job["stop"])])
            subs = {l["id"] for l in labels.values() if l["parent"] == lid}
            for e in o.get("elements", []):
                check(e, subs, track)
        for kind in ANN_KINDS:
            for o in body[kind]:
                check(o, track=(kind == "tracks"))

    @staticmethod
    def _norm(o):
        o = dict(o)
        o.setdefault("id", None)
        if o.get("group") is None and "group" in o:
            # doc silent on null groups: stored and returned as 0 (no group)
            o["group"] = 0
        return o

    def _insert(self, job, kind, o, keep_id):
        o = json.loads(json.dumps(self._norm(o)))
        seq = self.SEQ_KIND[kind]
        if keep_id and o.get("id") is not None:
            self._bump_seq(seq, o["id"])
        else:
            o["id"] = self._next(seq)
        if kind == "shapes":
            for e in o.get("elements", []):
                e["id"] = self._next("shape") if e.get("id") is None \
                    or not keep_id else e["id"]
                e.setdefault("group", 0)
                if e["group"] is None:
                    e["group"] = 0
        if kind == "tracks":
            for tr in [o] + o.get("elements", []):
                if tr is not o:
                    tr["id"] = self._next("track") if tr.get("id") is None \
                        or not keep_id else tr["id"]
                    if tr.get("group") is None:
                        tr["group"] = 0
                for s in tr["shapes"]:
                    s["id"] = self._next("tracked_shape") \
                        if s.get("id") is None or not keep_id else s["id"]
        job["ann"][kind][o["id"]] = o
        self.ann_index[kind][o["id"]] = job["id"]
        if kind == "shapes":
            self.count("shapes_stored")
        return o

    def _remove(self, kind, oid):
        jid = self.ann_index[kind].pop(oid, None)
        if jid is not None and jid in self.jobs:
            return self.jobs[jid]["ann"][kind].pop(oid, None)
        return None

    def _targets(self, jobs, scope_job, frame):
        if scope_job is not None:
            return [scope_job]
        return [j for j in jobs if j["start"] <= frame <= j["stop"]]

    def _ann_write(self, t, jobs, scope_job, action, payload):
        """PUT (action 'put') and PATCH create/update/delete.  Returns the
        LabeledData echo of the affected objects."""
        body = validate(payload, LABELED_DATA_FIELDS)
        labels = self._task_label_map(t)
        self._check_ann(body, labels, scope_job)
        scope_ids = {j["id"] for j in jobs}
        if action in ("put", "update"):
            for kind in ANN_KINDS:
                ids = [o["id"] for o in body[kind] if o.get("id") is not None]
                if len(ids) != len(set(ids)):
                    raise bad(["Duplicate object ids in the request"])
                for oid in ids:
                    owner = self.ann_index[kind].get(oid)
                    if owner is not None and owner not in scope_ids:
                        raise bad(["Object id %d (%s) belongs to another "
                                   "job or task" % (oid, kind[:-1])])
        out = {"version": 0, "tags": [], "shapes": [], "tracks": []}
        if action == "put":
            for j in jobs:
                for kind in ANN_KINDS:
                    for oid in list(j["ann"][kind]):
                        self._remove(kind, oid)
        for kind in ANN_KINDS:
            for o in body[kind]:
                if action == "delete":
                    # JobAnnotation._delete(data): ids outside the job are
                    # filtered out, but the answer echoes the request's
                    # objects, deleted or not
                    oid = o.get("id")
                    if oid is not None and \
                            self.ann_index[kind].get(oid) in scope_ids:
                        self._remove(kind, oid)
                    out[kind].append(self._norm(o))
                    continue
                if action == "update" and o.get("id") is not None:
                    self._remove(kind, o["id"])
                # update keeps ids (CVAT re-inserts with the same id, even
                # one that no longer exists); create always assigns new ids
                keep = action in ("put", "update")
                for n, j in enumerate(self._targets(jobs, scope_job,
                                                    o["frame"])):
                    ins = self._insert(j, kind, o, keep and n == 0)
                    if n == 0:
                        out[kind].append(json.loads(json.dumps(ins)))
        now = time.time()
        for j in jobs:
            j["updated"] = now
        t["updated"] = now
        self.count("annotation_writes")
        self.count("annotation_" + action)
        return out

    def _ann_get(self, rq, scope, oid):
        t, jobs, job = self._scope(scope, oid)
        if any(rq.has_q(k) for k in self.LEGACY_QUERY):
            return self._legacy_export(rq, scope, job or t, "annotations")
        self._need_data(t, jobs)
        return json_resp(200, self._collect(t, jobs))

    def _ann_put(self, rq, scope, oid):
        t, jobs, job = self._scope(scope, oid)
        if rq.has_q("format") or rq.has_q("rq_id"):
            if self.since(2, 38):
                raise ApiError(410, "This endpoint no longer handles "
                               "annotation imports/status checks. Use "
                               "POST /api/%ss/%s/annotations and "
                               "GET /api/requests/<rq_id>." % (scope, oid),
                               text=True)
            raise bad(["Annotation file import is not supported by the "
                       "test server"])
        self._need_data(t, jobs)
        return json_resp(200, self._ann_write(t, jobs, job, "put",
                                              rq.json_obj()))

    def _ann_patch(self, rq, scope, oid):
        t, jobs, job = self._scope(scope, oid)
        action = rq.q("action")
        if action not in ("create", "update", "delete"):
            raise bad(["Please specify a correct 'action' for the request"])
        self._need_data(t, jobs)
        return json_resp(200, self._ann_write(t, jobs, job, action,
                                              rq.json_obj()))

    def _ann_delete(self, rq, scope, oid):
        t, jobs, job = self._scope(scope, oid)
        self._need_data(t, jobs)
        for j in jobs:
            for kind in ANN_KINDS:
                for i in list(j["ann"][kind]):
                    self._remove(kind, i)
            j["updated"] = time.time()
        self.count("annotation_clear")
        return Resp(204)

    def h_task_ann_get(self, rq, tid):
        return self._ann_get(rq, "task", tid)

    def h_task_ann_put(self, rq, tid):
        return self._ann_put(rq, "task", tid)

    def h_task_ann_patch(self, rq, tid):
        return self._ann_patch(rq, "task", tid)

    def h_task_ann_delete(self, rq, tid):
        return self._ann_delete(rq, "task", tid)

    def h_job_ann_get(self, rq, jid):
        return self._ann_get(rq, "job", jid)

    def h_job_ann_put(self, rq, jid):
        return self._ann_put(rq, "job", jid)

    def h_job_ann_patch(self, rq, jid):
        return self._ann_patch(rq, "job", jid)

    def h_job_ann_delete(self, rq, jid):
        return self._ann_delete(rq, "job", jid)

    # ------------------------------------------------------------------
    # issues and comments (CVAT-API.md §5)
    # ------------------------------------------------------------------

    def _issue_org(self, i):
        j = self.jobs.get(i["job"])
        return self.tasks[j["task"]]["org"] if j else None

    def h_issues(self, rq):
        uname = (lambda uid: self.users[uid]["username"]
                 if uid in self.users else None)
        task_of = (lambda i: self.jobs[i["job"]]["task"]
                   if i["job"] in self.jobs else None)
        return self._list(
            rq, self.issues.values(), self.ser_issue,
            {"job_id": (lambda i: i["job"], "int"),
             "task_id": (task_of, "int"),
             "frame_id": (lambda i: i["frame"], "int"),
             "owner": (lambda i: uname(i["owner"]), "str"),
             "assignee": (lambda i: uname(i["assignee"]), "str"),
             "resolved": (lambda i: i["resolved"], "bool"),
             "updated_date": (lambda i: i["updated"], "str")},
            search=("owner", "assignee"), org=self._issue_org)

    def create_issue(self, job_id, frame, position, message, owner_id,
                     assignee_id=None, resolved=False):
        j = self.jobs.get(job_id)
        if j is None:
            raise bad({"job": ['Invalid pk "%s" - object does not exist.'
                               % job_id]})
        if not j["start"] <= frame <= j["stop"]:
            # doc silent: CVAT refuses issues on frames outside the job
            raise bad({"frame": ["The frame number %d doesn't belong to the "
                                 "job" % frame]})
        now = time.time()
        iid = self._next("issue")
        i = {"id": iid, "frame": frame, "position": list(position),
             "job": job_id, "owner": owner_id, "assignee": assignee_id,
             "resolved": bool(resolved), "created": now, "updated": now}
        self.issues[iid] = i
        self.create_comment(iid, message, owner_id)
        self.count("issues_created")
        return i

    def create_comment(self, issue_id, message, owner_id):
        now = time.time()
        cid = self._next("comment")
        c = {"id": cid, "issue": issue_id, "owner": owner_id,
             "message": message, "created": now, "updated": now}
        self.comments[cid] = c
        if issue_id in self.issues:
            self.issues[issue_id]["updated"] = now
        self.count("comments_created")
        return c

    def h_issue_create(self, rq):
        body = validate(rq.json_obj(), ISSUE_FIELDS)
        self._pk_user("assignee", body.get("assignee"))
        i = self.create_issue(body["job"], body["frame"], body["position"],
                              body["message"], rq.user["id"],
                              body.get("assignee"), body["resolved"])
        return json_resp(201, self.ser_issue(rq, i))

    def h_issue_get(self, rq, iid):
        return json_resp(200, self.ser_issue(
            rq, self._get(self.issues, "Issue", iid)))

    def h_issue_patch(self, rq, iid):
        i = self._get(self.issues, "Issue", iid)
        # frame, job and message are write-once: doc silent on whether
        # they are refused; like other read-only fields they are ignored.
        body = validate(rq.json_obj(), ISSUE_PATCH_FIELDS, partial=True)
        if "assignee" in body:
            i["assignee"] = self._pk_user("assignee", body["assignee"])
        for k in ("position", "resolved"):
            if k in body:
                i[k] = body[k]
        i["updated"] = time.time()
        return json_resp(200, self.ser_issue(rq, i))

    def h_issue_delete(self, rq, iid):
        i = self._get(self.issues, "Issue", iid)
        for cid in [c for c, r in self.comments.items()
                    if r["issue"] == i["id"]]:
            del self.comments[cid]
        del self.issues[i["id"]]
        return Resp(204)

    def h_comments(self, rq):
        issue = lambda c: self.issues.get(c["issue"], {})
        uname = (lambda uid: self.users[uid]["username"]
                 if uid in self.users else None)
        return self._list(
            rq, self.comments.values(), self.ser_comment,
            {"issue_id": (lambda c: c["issue"], "int"),
             "job_id": (lambda c: issue(c).get("job"), "int"),
             "frame_id": (lambda c: issue(c).get("frame"), "int"),
             "owner": (lambda c: uname(c["owner"]), "str")},
            search=("owner",),
            org=lambda c: self._issue_org(issue(c)) if issue(c) else None)

    def h_comment_create(self, rq):
        body = validate(rq.json_obj(), COMMENT_FIELDS)
        if body["issue"] not in self.issues:
            raise bad({"issue": ['Invalid pk "%s" - object does not exist.'
                                 % body["issue"]]})
        c = self.create_comment(body["issue"], body["message"],
                                rq.user["id"])
        return json_resp(201, self.ser_comment(rq, c))

    def h_comment_get(self, rq, cid):
        return json_resp(200, self.ser_comment(
            rq, self._get(self.comments, "Comment", cid)))

    def h_comment_patch(self, rq, cid):
        c = self._get(self.comments, "Comment", cid)
        body = validate(rq.json_obj(), {"message": F("str")}, partial=True)
        if "message" in body:
            c["message"] = body["message"]
            c["updated"] = time.time()
        return json_resp(200, self.ser_comment(rq, c))

    def h_comment_delete(self, rq, cid):
        c = self._get(self.comments, "Comment", cid)
        del self.comments[c["id"]]
        return Resp(204)

    # ------------------------------------------------------------------
    # export (CVAT-API.md §7)
    # ------------------------------------------------------------------

    def _export_target(self, res, oid):
        if res == "projects":
            return "project", self._get(self.projects, "Project", oid)
        if res == "tasks":
            return "task", self._task(oid)
        return "job", self._job(oid)

    def _export_post_handler(self, res):
        def h(rq, oid):
            target, obj = self._export_target(res, oid)
            save = False
            if rq.q("save_images"):
                try:
                    save = clean_value(F("bool"), rq.q("save_images"))
                except Invalid as e:
                    raise bad({"save_images": e.detail})
            r, conflict = self._start_export(rq, target, obj,
                                             rq.q("format"), save)
            if conflict:
                return json_resp(409, {"rq_id": r["id"]})
            return json_resp(202, {"rq_id": r["id"]})
        return h

    def _start_export(self, rq, target, obj, fmt, save_images):
        """-> (request, already_running)."""
        if not fmt:
            raise bad({"format": [REQUIRED]})
        if fmt not in EXPORTERS:
            raise bad(["Unknown format specified for the request"])
        if fmt not in EXPORTABLE:
            raise ApiError(405, {"detail": "Format %s is disabled" % fmt})
        if rq.q("location") == "cloud_storage":
            raise bad(["Cloud storage is not available on the test server"])
        if target in ("task", "job"):
            t = obj if target == "task" else self.tasks[obj["task"]]
            if t["data"] is None or not t["data"]["frames"]:
                raise ApiError(400, "Exporting annotations from a task "
                               "without data is not allowed", text=True)
        sub = "dataset" if save_images else "annotations"
        rid = self._rq_id("export", target, obj["id"], sub, fmt,
                          rq.user["id"])
        old = self.requests.get(rid)
        if old is not None and old["status"] in ("queued", "started"):
            return old, True
        res = target + "s"
        if self.since(2, 32):
            path = "/api/%s/%d/dataset/download?rq_id=%s" % (
                res, obj["id"], urllib.parse.quote(rid, safe=""))
        else:
            path = "/api/%s/%d/%s?%s" % (
                res, obj["id"], "dataset" if save_images or
                target == "project" else "annotations",
                urllib.parse.urlencode([("format", fmt),
                                        ("action", "download")]))
        name = rq.q("filename") or "%s_%d_%s_%s.zip" % (
            target, obj["id"], sub, re.sub(r"[^A-Za-z0-9]+", "_", fmt)
            .strip("_").lower())
        oid = obj["id"]

        def work(r):
            r["result"] = self._build_export(target, oid, fmt, save_images)
            r["result_name"] = name
            r["result_path"] = path
            self.count("exports_built")
            return None
        ids = {"project_id": None, "task_id": None, "job_id": None}
        if target == "project":
            ids["project_id"] = oid
        elif target == "task":
            ids.update(task_id=oid, project_id=obj["project_id"])
        else:
            t = self.tasks[obj["task"]]
            ids.update(job_id=oid, task_id=t["id"],
                       project_id=t["project_id"])
        r = self._new_request("export", target, oid, rq.user["id"], work,
                              subresource=sub, fmt=fmt, **ids)
        return r, False

    def _export_download_handler(self, res):
        def h(rq, oid):
            target, obj = self._export_target(res, oid)
            rid = rq.q("rq_id")
            if not rid:
                raise bad({"rq_id": [REQUIRED]})
            r = self._request(rq, rid)
            if r["action"] != "export" or \
                    r["operation"]["target"] != target or \
                    r["operation"]["%s_id" % target] != obj["id"]:
                raise bad(["The request does not belong to this %s"
                           % target])
            if r["status"] != "finished":
                raise bad(["The export is not finished yet"])
            return self._file_resp(r)
        return h

    def _file_resp(self, r):
        self.count("exports_downloaded")
        return Resp(200, r["result"], "application/zip", [
            ("Content-Disposition", 'attachment; filename="%s"'
             % r["result_name"])])

    def _legacy_dataset_handler(self, res):
        def h(rq, oid):
            target, obj = self._export_target(res, oid)
            return self._legacy_export(rq, target, obj, "dataset")
        return h

    def _legacy_export(self, rq, target, obj, sub):
        """GET-based export (<= 2.31): 202 started / 202 running / 201 ready,
        then the same URL with action=download.  410 since 2.32."""
        if self.since(2, 32):
            raise ApiError(410, "This endpoint is no longer supported. Use "
                           "POST /api/%ss/%d/dataset/export?format=... and "
                           "GET /api/requests/<rq_id> instead."
                           % (target, obj["id"]), text=True)
        fmt = rq.q("format")
        save = sub == "dataset"
        if not fmt:
            raise bad({"format": [REQUIRED]})
        rid = self._rq_id("export", target, obj["id"],
                          "dataset" if save else "annotations", fmt,
                          rq.user["id"])
        r = self.requests.get(rid)
        action = rq.q("action")
        if action == "download":
            if r is None or r["status"] != "finished":
                raise bad(["Export has not finished"])
            return self._file_resp(r)
        if action not in (None, ""):
            raise bad(["Unexpected action specified for the request"])
        if r is None or r["status"] == "failed":
            self._start_export(rq, target, obj, fmt, save)
            return Resp(202)
        if r["status"] in ("queued", "started"):
            return Resp(202)
        return Resp(201)

    def _export_items(self, target, oid):
        if target == "project":
            p = self.projects[oid]
            tasks = sorted((t for t in self.tasks.values()
                            if t["project_id"] == oid and t["data"]),
                           key=lambda t: t["id"])
            labels = self._owner_labels(project=oid)
            meta = ("project", p["name"])
            spans = [(t, self._task_jobs(t), 0, t["data"]["size"] - 1)
                     for t in tasks]
        elif target == "task":
            t = self.tasks[oid]
            labels = self._owner_labels(project=t["project_id"]) \
                if t["project_id"] else self._owner_labels(task=oid)
            meta = ("task", t["name"])
            spans = [(t, self._task_jobs(t), 0, t["data"]["size"] - 1)]
        else:
            j = self.jobs[oid]
            t = self.tasks[j["task"]]
            labels = self._owner_labels(project=t["project_id"]) \
                if t["project_id"] else self._owner_labels(task=t["id"])
            meta = ("job", t["name"])
            spans = [(t, [j], j["start"], j["stop"])]
        items = []
        for t, jobs, lo, hi in spans:
            ann = self._collect(t, jobs) if jobs else \
                {"shapes": [], "tags": [], "tracks": []}
            per = {}
            for s in ann["shapes"]:
                per.setdefault(s["frame"], {"shapes": [], "tags": []})[
                    "shapes"].append(s)
            for g in ann["tags"]:
                per.setdefault(g["frame"], {"shapes": [], "tags": []})[
                    "tags"].append(g)
            for tr in ann["tracks"]:
                for s in tr["shapes"]:
                    if s["outside"]:
                        continue
                    flat = dict(s, label_id=tr["label_id"],
                                group=tr["group"], source=tr["source"],
                                attributes=tr["attributes"] +
                                s["attributes"])
                    per.setdefault(s["frame"], {"shapes": [], "tags": []})[
                        "shapes"].append(flat)
            for i in range(lo, hi + 1):
                f = t["data"]["frames"][i]
                items.append({"frame": i, "name": f["name"],
                              "width": f["width"], "height": f["height"],
                              "bytes": f["bytes"],
                              "ann": per.get(i, {"shapes": [], "tags": []})})
        return meta, labels, items

    def _build_export(self, target, oid, fmt, save_images):
        meta, labels, items = self._export_items(target, oid)
        label_by_id = {l["id"]: l for l in self.labels.values()}
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            if fmt == "COCO 1.0":
                z.writestr("annotations/instances_default.json",
                           self._coco(labels, items, label_by_id))
                img_dir = "images/default/"
            else:
                z.writestr("annotations.xml",
                           self._cvat_xml(meta, labels, items, label_by_id))
                img_dir = "images/"
            if save_images:
                for it in items:
                    z.writestr(img_dir + it["name"], it["bytes"])
        return buf.getvalue()

    @staticmethod
    def _attr_names(label_by_id):
        return {a["id"]: a["name"] for l in label_by_id.values()
                for a in l["attributes"]}

    def _cvat_xml(self, meta, labels, items, label_by_id):
        names = self._attr_names(label_by_id)
        out = ['<?xml version="1.0" encoding="utf-8"?>', "<annotations>",
               "  <version>1.1</version>", "  <meta>",
               "    <%s>" % meta[0],
               "      <name>%s</name>" % xml_escape(meta[1]),
               "      <size>%d</size>" % len(items), "      <labels>"]
        for l in labels:
            out += ["        <label>",
                    "          <name>%s</name>" % xml_escape(l["name"]),
                    "          <color>%s</color>" % l["color"],
                    "          <type>%s</type>" % l["type"],
                    "          <attributes>"]
            for a in l["attributes"]:
                out += ["            <attribute>",
                        "              <name>%s</name>" % xml_escape(a["name"]),
                        "              <mutable>%s</mutable>"
                        % str(a["mutable"]), "              <input_type>%s"
                        "</input_type>" % a["input_type"],
                        "              <default_value>%s</default_value>"
                        % xml_escape(a["default_value"] or ""),
                        "              <values>%s</values>"
                        % xml_escape("\n".join(a["values"])),
                        "            </attribute>"]
            out += ["          </attributes>", "        </label>"]
        out += ["      </labels>", "    </%s>" % meta[0],
                "    <dumped>%s</dumped>" % iso(time.time()), "  </meta>"]
        for idx, it in enumerate(items):
            out.append('  <image id="%d" name=%s width="%d" height="%d">'
                       % (idx, quoteattr(it["name"]), it["width"],
                          it["height"]))
            for s in it["ann"]["shapes"]:
                lab = label_by_id.get(s["label_id"], {"name": "?"})
                common = "label=%s source=%s occluded=\"%d\"" % (
                    quoteattr(lab["name"]), quoteattr(s["source"]),
                    1 if s["occluded"] else 0)
                pts = s["points"]
                if s["type"] == "rectangle" and len(pts) >= 4:
                    tag = "box"
                    geo = 'xtl="%.2f" ytl="%.2f" xbr="%.2f" ybr="%.2f"' % \
                        tuple(pts[:4])
                    if s["rotation"]:
                        geo += ' rotation="%.2f"' % s["rotation"]
                elif s["type"] in ("polygon", "polyline", "points"):
                    tag = s["type"]
                    geo = 'points="%s"' % ";".join(
                        "%.2f,%.2f" % (pts[i], pts[i + 1])
                        for i in range(0, len(pts) - 1, 2))
                elif s["type"] == "ellipse" and len(pts) >= 4:
                    tag = "ellipse"
                    geo = 'cx="%.2f" cy="%.2f" rx="%.2f" ry="%.2f"' % (
                        pts[0], pts[1], abs(pts[2] - pts[0]),
                        abs(pts[3] - pts[1]))
                else:
                    continue
                grp = ' group_id="%d"' % s["group"] if s["group"] else ""
                out.append('    <%s %s %s z_order="%d"%s>' % (
                    tag, common, geo, s["z_order"], grp))
                for a in s["attributes"]:
                    out.append('      <attribute name=%s>%s</attribute>' % (
                        quoteattr(names.get(a["spec_id"], "?")),
                        xml_escape(a["value"])))
                out.append("    </%s>" % tag)
            for g in it["ann"]["tags"]:
                lab = label_by_id.get(g["label_id"], {"name": "?"})
                out.append("    <tag label=%s source=%s>" % (
                    quoteattr(lab["name"]), quoteattr(g["source"])))
                for a in g["attributes"]:
                    out.append('      <attribute name=%s>%s</attribute>' % (
                        quoteattr(names.get(a["spec_id"], "?")),
                        xml_escape(a["value"])))
                out.append("    </tag>")
            out.append("  </image>")
        out.append("</annotations>")
        return "\n".join(out) + "\n"

    def _coco(self, labels, items, label_by_id):
        names = self._attr_names(label_by_id)
        cat = {l["id"]: i + 1 for i, l in enumerate(labels)}
        doc = {"licenses": [{"name": "", "id": 0, "url": ""}],
               "info": {"contributor": "", "date_created": "",
                        "description": "", "url": "", "version": "",
                        "year": ""},
               "categories": [{"id": cat[l["id"]], "name": l["name"],
                               "supercategory": ""} for l in labels],
               "images": [], "annotations": []}
        aid = 0
        for idx, it in enumerate(items):
            doc["images"].append({"id": idx + 1, "width": it["width"],
                                  "height": it["height"],
                                  "file_name": it["name"], "license": 0,
                                  "flickr_url": "", "coco_url": "",
                                  "date_captured": 0})
            for s in it["ann"]["shapes"]:
                if s["label_id"] not in cat:
                    continue
                pts = s["points"]
                if s["type"] == "rectangle" and len(pts) >= 4:
                    x1, y1, x2, y2 = pts[:4]
                    bbox = [x1, y1, x2 - x1, y2 - y1]
                    seg, area = [], (x2 - x1) * (y2 - y1)
                elif s["type"] == "polygon" and len(pts) >= 6:
                    xs, ys = pts[0::2], pts[1::2]
                    bbox = [min(xs), min(ys), max(xs) - min(xs),
                            max(ys) - min(ys)]
                    seg = [list(pts)]
                    area = abs(sum(xs[i] * ys[i - 1] - xs[i - 1] * ys[i]
                                   for i in range(len(xs)))) / 2
                else:
                    continue
                aid += 1
                attrs = {names.get(a["spec_id"], "?"): a["value"]
                         for a in s["attributes"]}
                attrs["occluded"] = bool(s["occluded"])
                if s["type"] == "rectangle":
                    attrs["rotation"] = float(s["rotation"])
                doc["annotations"].append({
                    "id": aid, "image_id": idx + 1,
                    "category_id": cat[s["label_id"]], "segmentation": seg,
                    "area": area, "bbox": bbox, "iscrowd": 0,
                    "attributes": attrs})
        return json.dumps(doc)

    # ------------------------------------------------------------------
    # observations: request log, counters, faults
    # ------------------------------------------------------------------

    def record(self, rq, status, req_bytes, resp_bytes, ms, fault):
        with self.lock:
            self.log_seq += 1
            entry = {"seq": self.log_seq, "time": time.time(),
                     "method": rq.method, "path": rq.path,
                     "query": rq.query_string, "status": status,
                     "route": rq.route, "user": rq.user["username"]
                     if rq.user else None, "auth": rq.auth,
                     "req_bytes": req_bytes, "resp_bytes": resp_bytes,
                     "files": rq.files_count, "ms": round(ms, 2),
                     "fault": fault.kind if fault else None}
            self.log.append(entry)
            self.count("http_requests")
            routes = self.counters_.setdefault("routes", {})
            key = "%s %s" % (rq.method, rq.route or rq.path)
            routes[key] = routes.get(key, 0) + 1
            statuses = self.counters_.setdefault("statuses", {})
            skey = str(status) if status is not None else "dropped"
            statuses[skey] = statuses.get(skey, 0) + 1
            if self.config["verbose"]:
                sys.stderr.write("cvat-test-server: %s %s%s -> %s%s\n" % (
                    rq.method, rq.path, "?" + rq.query_string
                    if rq.query_string else "", skey,
                    " (%s)" % fault.kind if fault else ""))

    def fault_decision(self, method, path):
        """-> (delay seconds, fault before handling, fault after)."""
        with self.lock:
            delay, before, after = 0.0, None, None
            for f in self.faults:
                if f.exhausted():
                    continue
                if f.kind != "delay" and \
                        (before if f.when == "before" else after):
                    continue            # one terminal fault per phase
                if not f.consider(method, path):
                    continue
                self.count("faults_fired")
                if f.kind == "delay":
                    delay += f.seconds
                elif f.when == "before":
                    before = f
                else:
                    after = f
            return delay, before, after

    @staticmethod
    def fault_response(f):
        if f.kind == "throttle":
            n = f.retry_after
            return json_resp(429, {"detail": "Request was throttled. "
                                   "Expected available in %d second%s."
                                   % (n, "" if n == 1 else "s")},
                             [("Retry-After", str(n))])
        if f.status == 500:
            return Resp(500, DJANGO_500, "text/html; charset=utf-8")
        if f.status in (502, 503, 504):
            reason = {502: "Bad Gateway", 503: "Service Temporarily "
                      "Unavailable", 504: "Gateway Time-out"}[f.status]
            return Resp(f.status, proxy_error_page(f.status, reason),
                        "text/html")
        return json_resp(f.status, {"detail": "Injected error"})

    # ------------------------------------------------------------------
    # control API: Python methods (the /_test/ endpoints call these)
    # ------------------------------------------------------------------

    def _ctl_rq(self):
        rq = Req("GET", "/", {}, b"", self.url, None)
        rq.org = "all"
        return rq

    def configure(self, **kw):
        """Change config keys at run time (see DEFAULT_CONFIG)."""
        with self.lock:
            unknown = set(kw) - set(DEFAULT_CONFIG)
            if unknown:
                raise ValueError("unknown config keys: %s" % sorted(unknown))
            self.config.update(kw)
            return dict(self.config)

    def get_log(self, since=0, method=None, path=None, status=None):
        """Request log entries after seq `since`, optionally only those with
        this method, a path matching the regex `path`, or this status."""
        rx = re.compile(path) if path else None
        with self.lock:
            return [dict(e) for e in self.log if e["seq"] > since and
                    (method is None or e["method"] == method.upper()) and
                    (rx is None or rx.search(e["path"])) and
                    (status is None or e["status"] == status)]

    def clear_log(self):
        with self.lock:
            self.log = []

    def counters(self):
        with self.lock:
            return json.loads(json.dumps(self.counters_))

    def reset_counters(self):
        with self.lock:
            self.counters_ = {}

    def add_fault(self, kind, **kw):
        """Register a fault; returns its id.  kind: delay | throttle (429) |
        error (status, default 500) | drop.  Matching: method, path
        (regex searched in the decoded path).  nth: fire from the Nth
        matching request on; times: how many times (-1 = forever).
        when: 'before' (the request has no effect) or 'after' (handled,
        then the response is replaced).  delay: seconds; throttle:
        retry_after; drop: rst=True closes with a TCP reset."""
        with self.lock:
            fid = self._next("fault")
            self.faults.append(Fault(fid, kind, **kw))
            return fid

    def list_faults(self):
        with self.lock:
            return [f.describe() for f in self.faults]

    def remove_fault(self, fid):
        with self.lock:
            self.faults = [f for f in self.faults if f.id != fid]

    def clear_faults(self):
        with self.lock:
            self.faults = []

    def expire_requests(self, rq_id=None):
        """Drop finished/failed requests (all, or one): later polls 404."""
        with self.lock:
            self._tick()
            gone = [r for r in self.requests.values()
                    if r["status"] in ("finished", "failed") and
                    (rq_id is None or r["id"] == rq_id)]
            for r in gone:
                del self.requests[r["id"]]
            return len(gone)

    def release_requests(self, rq_id=None):
        """Let held requests (hold_requests=True) run to completion."""
        with self.lock:
            n = 0
            for r in self.requests.values():
                if r["hold"] and (rq_id is None or r["id"] == rq_id):
                    r["hold"] = False
                    n += 1
            self._tick()
            return n

    def list_requests(self):
        with self.lock:
            self._tick()
            rq = self._ctl_rq()
            return [dict(self.ser_request(rq, r), polls=r["polls"])
                    for r in self.requests.values()]

    def task_images(self, task_id):
        """Stored frames of a task: name, size in bytes, width, height."""
        with self.lock:
            self._tick()
            t = self.tasks[int(task_id)]
            d = t["data"] or {"frames": []}
            return [{"frame": i, "name": f["name"], "bytes": len(f["bytes"]),
                     "width": f["width"], "height": f["height"],
                     "format": f["fmt"],
                     "sha256": hashlib.sha256(f["bytes"]).hexdigest()}
                    for i, f in enumerate(d["frames"])]

    def _ctl_scope(self, task_id=None, job_id=None):
        if (task_id is None) == (job_id is None):
            raise ValueError("give exactly one of task_id, job_id")
        if task_id is not None:
            return self._scope("task", task_id)
        return self._scope("job", job_id)

    def list_annotations(self, task_id=None, job_id=None):
        """LabeledData of a task or job, as GET .../annotations returns."""
        with self.lock:
            self._tick()
            t, jobs, _ = self._ctl_scope(task_id, job_id)
            return self._collect(t, jobs)

    def add_annotations(self, task_id=None, job_id=None, shapes=(),
                        tags=(), tracks=()):
        """Create objects like an annotator would (PATCH action=create
        semantics, task level routed by frame); returns them with ids."""
        with self.lock:
            self._tick()
            t, jobs, job = self._ctl_scope(task_id, job_id)
            self._need_data(t, jobs)
            return self._ann_write(t, jobs, job, "create", {
                "shapes": list(shapes), "tags": list(tags),
                "tracks": list(tracks)})

    def _kind(self, kind):
        k = kind if kind.endswith("s") else kind + "s"
        if k not in ANN_KINDS:
            raise ValueError("kind must be shape(s), tag(s) or track(s)")
        return k

    def edit_annotation(self, kind, obj_id, **changes):
        """Edit one object in place (id kept), like a UI edit.  Changing
        label_id drops attribute values that the new label does not have
        (CVAT clears attributes on a class change)."""
        with self.lock:
            kind = self._kind(kind)
            oid = int(obj_id)
            jid = self.ann_index[kind].get(oid)
            if jid is None:
                raise KeyError("no %s with id %d" % (kind[:-1], oid))
            j = self.jobs[jid]
            t = self.tasks[j["task"]]
            old = j["ann"][kind][oid]
            new = dict(json.loads(json.dumps(old)), **changes)
            new["id"] = oid
            labels = self._task_label_map(t)
            if "label_id" in changes and "attributes" not in changes:
                lab = labels.get(new["label_id"])
                specs = {a["id"] for a in lab["attributes"]} if lab else set()
                new["attributes"] = [a for a in new["attributes"]
                                     if a["spec_id"] in specs]
            spec = {"shapes": SHAPE_FIELDS, "tags": TAG_FIELDS,
                    "tracks": TRACK_FIELDS}[kind]
            clean = validate(new, spec)
            self._check_ann({"shapes": [], "tags": [], "tracks": [],
                             kind: [clean]}, labels)
            target = j
            if not j["start"] <= clean["frame"] <= j["stop"]:
                target = next((x for x in self._task_jobs(t)
                               if x["start"] <= clean["frame"] <= x["stop"]),
                              None)
                if target is None:
                    raise ValueError("frame %d is in no job" % clean["frame"])
            self._remove(kind, oid)
            out = self._insert(target, kind, clean, keep_id=True)
            now = time.time()
            target["updated"] = t["updated"] = now
            self.count("control_edits")
            return json.loads(json.dumps(out))

    def delete_annotation(self, kind, obj_id):
        with self.lock:
            kind = self._kind(kind)
            o = self._remove(kind, int(obj_id))
            if o is None:
                raise KeyError("no %s with id %s" % (kind[:-1], obj_id))
            self.count("control_deletes")
            return o

    def set_job(self, job_id, raw=False, **changes):
        """Change stage/state/assignee (assignee: username, id or None).
        raw=False applies the API PATCH rules, raw=True sets exactly."""
        with self.lock:
            j = self.jobs[int(job_id)]
            body = {}
            for k in ("stage", "state"):
                if k in changes:
                    body[k] = clean_value(F("str", choices=STAGES if k ==
                                            "stage" else STATES), changes[k])
            if "assignee" in changes:
                u = self._resolve_user(changes["assignee"])
                body["assignee"] = u["id"] if u else None
            unknown = set(changes) - {"stage", "state", "assignee"}
            if unknown:
                raise ValueError("unknown job fields %s" % sorted(unknown))
            self._change_job(j, body, raw=raw)
            return self.ser_job(self._ctl_rq(), j)

    def open_issue(self, job_id, frame, position, message, owner=None,
                   assignee=None, resolved=False):
        """Open an issue as a reviewer (owner: username/id, default admin)."""
        with self.lock:
            o = self._resolve_user(owner) if owner is not None else self.admin
            a = self._resolve_user(assignee)
            i = self.create_issue(int(job_id), int(frame),
                                  [float(x) for x in position], message,
                                  o["id"], a["id"] if a else None, resolved)
            return self.ser_issue(self._ctl_rq(), i)

    def add_comment(self, issue_id, message, owner=None):
        with self.lock:
            if int(issue_id) not in self.issues:
                raise KeyError("no issue %s" % issue_id)
            o = self._resolve_user(owner) if owner is not None else self.admin
            c = self.create_comment(int(issue_id), message, o["id"])
            return self.ser_comment(self._ctl_rq(), c)

    def set_issue(self, issue_id, **changes):
        with self.lock:
            i = self.issues[int(issue_id)]
            if "resolved" in changes:
                i["resolved"] = bool(changes["resolved"])
            if "assignee" in changes:
                a = self._resolve_user(changes["assignee"])
                i["assignee"] = a["id"] if a else None
            i["updated"] = time.time()
            return self.ser_issue(self._ctl_rq(), i)

    def delete_task(self, task_id):
        with self.lock:
            if int(task_id) not in self.tasks:
                raise KeyError("no task %s" % task_id)
            self._delete_task(int(task_id))

    def delete_project(self, project_id):
        with self.lock:
            if int(project_id) not in self.projects:
                raise KeyError("no project %s" % project_id)
            self._delete_project(int(project_id))

    def reset(self):
        """Forget all objects, requests, log, counters and faults.  Users,
        tokens, sessions, config and id counters are kept (ids are never
        reused)."""
        with self.lock:
            self._clear_objects()
            self._reset_observations()

    def snapshot(self):
        with self.lock:
            self._tick()
            return {"version": self.config["version"],
                    "users": sorted(u["username"] for u in self.users.values()),
                    "organizations": sorted(self.orgs),
                    "projects": sorted(self.projects),
                    "tasks": sorted(self.tasks),
                    "jobs": sorted(self.jobs),
                    "labels": sorted(self.labels),
                    "issues": sorted(self.issues),
                    "comments": sorted(self.comments),
                    "requests": sorted(self.requests),
                    "annotations": {k: len(v) for k, v in
                                    self.ann_index.items()},
                    "images": sum(len(t["data"]["frames"])
                                  for t in self.tasks.values() if t["data"]),
                    "image_bytes": sum(len(f["bytes"])
                                       for t in self.tasks.values()
                                       if t["data"]
                                       for f in t["data"]["frames"])}

    # ------------------------------------------------------------------
    # control API: HTTP (/_test/...), JSON in and out, no auth
    # ------------------------------------------------------------------

    def _control(self, rq):
        m, p = rq.method, rq.path
        body = rq.json_obj() if rq.body else {}
        if not isinstance(body, dict):
            raise ApiError(400, {"detail": "expected a JSON object"})

        def ok(obj, status=200):
            return Resp(status, json.dumps(obj).encode(), "application/json")

        def match(method, pattern):
            if m != method:
                return None
            return re.fullmatch(pattern, p)

        if match("GET", r"/_test/health"):
            return ok({"ok": True, "version": self.config["version"],
                       "url": self.url})
        if match("GET", r"/_test/config"):
            with self.lock:
                return ok(dict(self.config))
        if match("POST", r"/_test/config"):
            return ok(self.configure(**body))
        if match("GET", r"/_test/log"):
            st = rq.q("status")
            return ok(self.get_log(int(rq.q("since", "0")), rq.q("method"),
                                   rq.q("path"),
                                   int(st) if st is not None else None))
        if match("DELETE", r"/_test/log"):
            self.clear_log()
            return ok({})
        if match("GET", r"/_test/counters"):
            return ok(self.counters())
        if match("DELETE", r"/_test/counters"):
            self.reset_counters()
            return ok({})
        if match("GET", r"/_test/faults"):
            return ok(self.list_faults())
        if match("POST", r"/_test/faults"):
            kind = body.pop("kind")
            return ok({"id": self.add_fault(kind, **body)}, 201)
        if match("DELETE", r"/_test/faults"):
            self.clear_faults()
            return ok({})
        x = match("DELETE", r"/_test/faults/(\d+)")
        if x:
            self.remove_fault(int(x.group(1)))
            return ok({})
        if match("POST", r"/_test/users"):
            u = self.add_user(body.pop("username"), body.pop("password", ""),
                              **body)
            return ok({"id": u["id"], "username": u["username"]}, 201)
        if match("POST", r"/_test/organizations"):
            o = self.add_org(body["slug"], body.get("name"),
                             body.get("owner"))
            return ok({"id": o["id"], "slug": o["slug"]}, 201)
        if match("POST", r"/_test/access_tokens"):
            exp = body.get("expiry_date")
            pat = self.add_access_token(
                body.get("username", self.admin["username"]),
                body.get("value"), body.get("name", "test token"),
                body.get("read_only", False),
                parse_iso(exp) if exp else None)
            return ok({"id": pat["id"], "value": pat["value"]}, 201)
        if match("POST", r"/_test/tokens/expire"):
            return ok({"expired": self.expire_token(body.get("token"),
                                                    body.get("username"))})
        if match("GET", r"/_test/requests"):
            return ok(self.list_requests())
        if match("POST", r"/_test/requests/expire"):
            return ok({"expired": self.expire_requests(body.get("rq_id"))})
        if match("POST", r"/_test/requests/release"):
            return ok({"released": self.release_requests(body.get("rq_id"))})
        x = match("GET", r"/_test/tasks/(\d+)/images")
        if x:
            return ok(self.task_images(int(x.group(1))))
        x = match("GET", r"/_test/(tasks|jobs)/(\d+)/annotations")
        if x:
            key = "task_id" if x.group(1) == "tasks" else "job_id"
            return ok(self.list_annotations(**{key: int(x.group(2))}))
        x = match("POST", r"/_test/(tasks|jobs)/(\d+)/annotations")
        if x:
            key = "task_id" if x.group(1) == "tasks" else "job_id"
            return ok(self.add_annotations(
                **{key: int(x.group(2))}, shapes=body.get("shapes", []),
                tags=body.get("tags", []), tracks=body.get("tracks", [])),
                201)
        x = match("PATCH", r"/_test/annotations/(\w+)/(\d+)")
        if x:
            return ok(self.edit_annotation(x.group(1), int(x.group(2)),
                                           **body))
        x = match("DELETE", r"/_test/annotations/(\w+)/(\d+)")
        if x:
            self.delete_annotation(x.group(1), int(x.group(2)))
            return ok({})
        x = match("PATCH", r"/_test/jobs/(\d+)")
        if x:
            raw = bool(body.pop("raw", False))
            return ok(self.set_job(int(x.group(1)), raw=raw, **body))
        if match("POST", r"/_test/issues"):
            return ok(self.open_issue(body["job"], body["frame"],
                                      body["position"], body["message"],
                                      body.get("owner"),
                                      body.get("assignee"),
                                      body.get("resolved", False)), 201)
        x = match("POST", r"/_test/issues/(\d+)/comments")
        if x:
            return ok(self.add_comment(int(x.group(1)), body["message"],
                                       body.get("owner")), 201)
        x = match("PATCH", r"/_test/issues/(\d+)")
        if x:
            return ok(self.set_issue(int(x.group(1)), **body))
        x = match("DELETE", r"/_test/tasks/(\d+)")
        if x:
            self.delete_task(int(x.group(1)))
            return ok({})
        x = match("DELETE", r"/_test/projects/(\d+)")
        if x:
            self.delete_project(int(x.group(1)))
            return ok({})
        if match("POST", r"/_test/reset"):
            self.reset()
            return ok({})
        if match("GET", r"/_test/state"):
            return ok(self.snapshot())
        if match("POST", r"/_test/shutdown"):
            ev = getattr(self, "shutdown_event", None)
            if ev is not None:
                ev.set()
            else:
                threading.Thread(target=self.stop, daemon=True).start()
            return ok({})
        return Resp(404, json.dumps({"detail": "unknown control endpoint"})
                    .encode(), "application/json")


# --------------------------------------------------------------------------
# HTTP layer
# --------------------------------------------------------------------------


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _TooLarge(Exception):
    pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"       # keep-alive
    server_version = "cvat-test-server"
    sys_version = ""
    timeout = 300                       # idle keep-alive connections

    def setup(self):
        super().setup()
        try:        # headers and body go out in separate writes
            self.connection.setsockopt(socket.IPPROTO_TCP,
                                       socket.TCP_NODELAY, 1)
        except OSError:
            pass
        with self.server.app.lock:
            self.server.app._conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.app.lock:
                self.server.app._conns.discard(self.connection)

    def log_message(self, fmt, *args):
        pass                            # the app keeps its own log

    # -- request bodies --------------------------------------------------

    def handle_expect_100(self):
        """With 'Expect: 100-continue' refuse oversized bodies before the
        client sends them (as nginx does)."""
        limit = self.server.app.config["max_request_bytes"]
        cl = self.headers.get("Content-Length", "")
        if limit and cl.strip().isdigit() and int(cl) > limit:
            self._reply_413(int(cl))
            return False
        return super().handle_expect_100()

    def _read_exact(self, n):
        parts, left = [], n
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                raise ConnectionError("client closed mid-body")
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def _read_body(self, limit):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("client closed mid-body")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n",
                                                             b""):
                        pass
                    break
                data = self._read_exact(size)
                self.rfile.readline(65537)
                total += size
                if not limit or total <= limit:
                    parts.append(data)
            if limit and total > limit:
                raise _TooLarge(total)
            return b"".join(parts)
        cl = self.headers.get("Content-Length")
        n = int(cl) if cl and cl.strip().isdigit() else 0
        if limit and n > limit:
            left = n
            while left > 0:              # drain so the client sees the 413
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
            raise _TooLarge(n)
        return self._read_exact(n)

    def _reply_413(self, nbytes):
        app = self.server.app
        body = proxy_error_page(413, "Request Entity Too Large")
        self.send_response(413)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True
        rq = Req(self.command, self.path, {}, b"", "", self.client_address)
        if not rq.path.startswith("/_test/"):
            with app.lock:
                app.count("rejected_413")
            app.record(rq, 413, nbytes, len(body), 0.0, None)

    # -- dispatch ----------------------------------------------------------

    def _dispatch(self):
        app = self.server.app
        t0 = time.time()
        # A test's hook on the request line and headers, called before
        # the body is read (the client may still be sending it).
        if getattr(app, "before_body", None):
            app.before_body(self.command, self.path, self.headers)
        try:
            body = self._read_body(app.config["max_request_bytes"])
        except _TooLarge as e:
            self._reply_413(e.args[0])
            return
        except (ConnectionError, ValueError, OSError):
            self.close_connection = True
            return
        headers = {}
        for k, v in self.headers.items():
            kl = k.lower()
            if kl in headers:
                v = headers[kl] + ("; " if kl == "cookie" else ", ") + v
            headers[kl] = v
        host = headers.get("host") or "%s:%d" % (app.host, app.port)
        rq = Req(self.command, self.path, headers, body, "http://" + host,
                 self.client_address)
        control = rq.path.startswith("/_test/")
        before = after = None
        if not control:
            delay, before, after = app.fault_decision(self.command, rq.path)
            if delay:
                time.sleep(delay)
        resp = None
        if before is not None:
            if before.kind != "drop":
                resp = app.fault_response(before)
        else:
            try:
                resp = app.handle(rq)
            except Exception:
                import traceback
                traceback.print_exc()
                resp = Resp(500, DJANGO_500, "text/html; charset=utf-8")
            if after is not None:
                resp = None if after.kind == "drop" else \
                    app.fault_response(after)
        fault = before or after
        if resp is None:
            self._drop(fault.rst)
            status, nout = None, 0
        else:
            status, nout = resp.status, len(resp.body)
            self._send(resp, head=(self.command == "HEAD"))
        if not control:
            app.record(rq, status, len(body), nout,
                       (time.time() - t0) * 1000.0, fault)

    def _drop(self, rst):
        self.close_connection = True
        if rst:
            import struct
            try:
                self.connection.setsockopt(socket.SOL_SOCKET,
                                           socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            except OSError:
                pass

    def _send(self, resp, head=False):
        self.send_response(resp.status)
        body = resp.body or b""
        if resp.content_type:
            self.send_header("Content-Type", resp.content_type)
            if resp.content_type == CVAT_MEDIA_TYPE:
                self.send_header("Vary", "Accept, Origin")
        if resp.status != 204 and not 100 <= resp.status < 200:
            self.send_header("Content-Length", str(len(body)))
        for k, v in resp.headers:
            self.send_header(k, v)
        self.end_headers()
        if not head and body and resp.status != 204:
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = \
        do_OPTIONS = _dispatch


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------


def main(argv=None):
    import signal
    ap = argparse.ArgumentParser(
        description="CVAT-compatible test server (see tests/cvat/README.md)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0,
                    help="TCP port; 0 = any free port (default)")
    ap.add_argument("--port-file", help="write the bound port here once "
                    "listening")
    ap.add_argument("--user", default="admin", help="superuser name")
    ap.add_argument("--password", default="admin")
    ap.add_argument("--add-user", action="append", default=[],
                    metavar="NAME:PASSWORD", help="extra (non-admin) user")
    ap.add_argument("--token", help="a personal access token for --user "
                    "(Authorization: Bearer); enables PAT support")
    ap.add_argument("--version", default=DEFAULT_VERSION,
                    help="server version reported and emulated")
    ap.add_argument("--max-request-bytes", type=int, default=0,
                    help="413 for bodies larger than this (0 = no limit)")
    ap.add_argument("--queue-delay", type=float,
                    default=DEFAULT_CONFIG["queue_delay"])
    ap.add_argument("--process-delay", type=float,
                    default=DEFAULT_CONFIG["process_delay"])
    ap.add_argument("--anon-rate", type=int,
                    default=DEFAULT_CONFIG["anon_rate"],
                    help="anonymous requests per minute before 429 (0=off)")
    ap.add_argument("--lenient-accept", action="store_true",
                    help="never answer 406 for the Accept header")
    ap.add_argument("--exit-on-stdin-eof", action="store_true",
                    help="stop when standard input is closed")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    srv = CvatTestServer(host=args.host, port=args.port, username=args.user,
                         password=args.password, token=args.token,
                         version=args.version,
                         max_request_bytes=args.max_request_bytes,
                         queue_delay=args.queue_delay,
                         process_delay=args.process_delay,
                         anon_rate=args.anon_rate,
                         strict_accept=not args.lenient_accept,
                         verbose=args.verbose)
    for spec in args.add_user:
        name, _, pw = spec.partition(":")
        srv.add_user(name, pw)
    stop = threading.Event()
    srv.shutdown_event = stop
    srv.start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.port)
        os.replace(tmp, args.port_file)
    sys.stderr.write("cvat-test-server %s listening on %s\n"
                     % (args.version, srv.url))
    sys.stderr.flush()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    if args.exit_on_stdin_eof:
        def watch():
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            finally:
                stop.set()
        threading.Thread(target=watch, daemon=True).start()
    while not stop.wait(0.5):
        pass
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
