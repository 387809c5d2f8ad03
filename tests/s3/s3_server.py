#!/usr/bin/python3
"""A strict S3-compatible object store on loopback, for the tests.

It speaks the part of the S3 REST API that curatefs and the usual clients
(awscli, s3cmd, curl --aws-sigv4) use: CreateBucket, HeadBucket,
ListObjectsV2 (prefix, delimiter, max-keys, continuation-token, start-after),
PutObject, GetObject (Range, If-Match, If-None-Match, versionId),
HeadObject, DeleteObject, DeleteObjects, multipart uploads
(CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
AbortMultipartUpload; the ETag of the result is S3's: the MD5 of the
parts' binary MD5s, "-", the number of parts), bucket versioning
(PutBucketVersioning, GetBucketVersioning, a version id on every PUT of a
versioning-enabled bucket, "null" while suspended or before, delete
markers, GET/HEAD ?versionId, ListObjectVersions with key and version-id
markers, x-amz-version-id on the answers), both path-style (/bucket/key)
and virtual-hosted (Host: bucket.DOMAIN) addressing.

Every request must carry a valid AWS Signature Version 4.  The signature is
recomputed by botocore's own S3 signer (python3-botocore), not by code of
ours, over exactly the headers the client says it signed; the request is
refused as S3 refuses it: an unknown key (InvalidAccessKeyId), a wrong
signature (SignatureDoesNotMatch), a credential scope for another region
(AuthorizationHeaderMalformed), a clock skew over 15 minutes
(RequestTimeTooSkewed), an expired or missing session token (ExpiredToken,
InvalidToken), a missing or wrong x-amz-content-sha256
(InvalidRequest, XAmzContentSHA256Mismatch).

Faults for the tests are armed through /_ctl/ (unsigned, loopback only):
  POST /_ctl/fault?kind=slowdown&count=N        next N requests: 503 SlowDown
  POST /_ctl/fault?kind=error500&op=list&page=P  listing page P answers 500
       (once; pages count from 1 within one listing)
  POST /_ctl/fault?kind=drop&op=get&count=N&after=B
                                  next N GETs send B body bytes, then close
  POST /_ctl/fault?kind=mutate&bucket=B&key=K  K's content changes right
       after the next listing that returns it (a new ETag)
  POST /_ctl/load?bucket=B&prefix=P&dir=D
                                   creates bucket B and stores every file
                                   under the local folder D as P + its
                                   relative path (benchmark fixtures; the
                                   tests fill buckets with awscli)
  POST /_ctl/etag?bucket=B&key=K&etag=E
                                   K's current version gets the ETag E, as
                                   a server whose ETags are not MD5s may
                                   give one ETag to other bytes
  POST /_ctl/config?vid_bytes=N    new version ids are N bytes long (S3
                                   allows up to 1024; 0: the usual 33)
  POST /_ctl/reset                 clears faults and the request log
  GET  /_ctl/log                   JSON lines: key id, method, path,
                                   query, status, range, bytes sent
Objects live in memory.

Usage: s3_server.py --port-file F [--region R] [--domain D]
                    [--key AKID:SECRET[:TOKEN[:EXPIRY_UNIX]]]...
The port (picked by the kernel) is written to F once the server listens.
"""
import argparse
import datetime
import hashlib
import json
import re
import sys
import threading
import time
import urllib.parse
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

EMPTY_SHA256 = hashlib.sha256(b'').hexdigest()
AUTH_RE = re.compile(
    r'^AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/'
    r'([^/,\s]+),\s*SignedHeaders=([a-z0-9;\-]+),\s*Signature=([0-9a-f]{64})$')
BUCKET_RE = re.compile(r'^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$')


class S3Error(Exception):
    def __init__(self, status, code, message, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = \
            status, code, message, extra


class Signer(S3SigV4Auth):
    """botocore's S3 signer, told which headers the client signed."""

    def __init__(self, creds, region, signed):
        super().__init__(creds, 's3', region)
        self._signed = signed

    def headers_to_sign(self, request):
        hm = super().headers_to_sign(request)
        for name in self._signed:
            if name not in hm and name in request.headers:
                hm[name] = request.headers[name]
        for name in list(hm.keys()):
            if name not in self._signed:
                del hm[name]
        return hm


class Store:
    """Callers hold self.lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.buckets = {}        # name -> {key: (bytes, etag, mtime)}, the
        #                          current versions
        self.versions = {}       # name -> {key: [Version]}, oldest first
        self.versioning = {}     # name -> 'Enabled' / 'Suspended'
        self.uploads = {}        # upload id -> (bucket, key, {n: (data,
        #                          md5)})
        self.faults = []         # dicts
        self.log = []
        self.seq = 0
        self.vid_bytes = 0

    def new_vid(self):
        """A new version id: a sequence number and hex digits, vid_bytes
        long when set."""
        self.seq += 1
        vid = '%08d.%s' % (self.seq, hashlib.sha1(
            b'%d' % self.seq).hexdigest()[:24])
        if self.vid_bytes:
            vid = (vid + '.' + hashlib.sha1(vid.encode()).hexdigest() *
                   (self.vid_bytes // 40 + 1))[:self.vid_bytes]
        return vid

    def put(self, bucket, key, data, etag=None):
        """Stores a new current version of key; returns (etag, version
        id or None when the bucket never had versioning)."""
        etag = etag or '"%s"' % hashlib.md5(data).hexdigest()
        now = time.time()
        self.buckets[bucket][key] = (data, etag, now)
        vs = self.versions.setdefault(bucket, {}).setdefault(key, [])
        if self.versioning.get(bucket) == 'Enabled':
            vid = self.new_vid()
        else:
            vid = 'null'
            vs[:] = [v for v in vs if v.vid != 'null']
        vs.append(Version(vid, data, etag, now, False))
        return etag, vid if bucket in self.versioning else None

    def delete(self, bucket, key):
        """Deletes key's current version (a delete marker when versioning
        is on); returns the marker's version id or None."""
        self.buckets[bucket].pop(key, None)
        vs = self.versions.setdefault(bucket, {}).setdefault(key, [])
        if bucket not in self.versioning:
            vs.clear()
            return None
        if self.versioning[bucket] == 'Enabled':
            vid = self.new_vid()
        else:
            vid = 'null'
            vs[:] = [v for v in vs if v.vid != 'null']
        vs.append(Version(vid, b'', '', time.time(), True))
        return vid

    def version(self, bucket, key, vid):
        for v in self.versions.get(bucket, {}).get(key, []):
            if v.vid == vid:
                return v
        return None


class Version:
    def __init__(self, vid, data, etag, mtime, marker):
        self.vid, self.data, self.etag, self.mtime, self.marker = \
            vid, data, etag, mtime, marker


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'TestS3'
    # Headers and body go out in two writes: without TCP_NODELAY the body
    # waits for the client's delayed ACK (40 ms) on a kept-alive
    # connection, and a client reading one object after another would be
    # measured against that.
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    # --- plumbing -------------------------------------------------------
    def _body(self):
        n = int(self.headers.get('Content-Length') or 0)
        if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
            data = b''
            while True:
                size = int(self.rfile.readline().split(b';')[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            return data
        return self.rfile.read(n) if n else b''

    def _send(self, status, body=b'', headers=None, record=None):
        self.send_response(status)
        hs = {'x-amz-request-id': '%016X' % id(self),
              'Date': formatdate(usegmt=True)}
        hs.update(headers or {})
        if 'Content-Length' not in hs:
            hs['Content-Length'] = str(len(body))
        for k, v in hs.items():
            self.send_header(k, v)
        self.end_headers()
        cut = (record or {}).get('drop_after')
        drop = cut is not None and cut < len(body)
        sent = 0
        if self.command != 'HEAD' and body:
            sent = cut if drop else len(body)
        # Logged before the body goes out: a client that has its whole
        # answer finds the request in the log at once (recording after
        # the write raced with a test reading the log right after).
        self._record(status, sent)
        if sent and drop:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
        elif sent:
            self.wfile.write(body)

    def _record(self, status, sent):
        u = urllib.parse.urlsplit(self.path)
        with self.server.store.lock:
            m = AUTH_RE.match(self.headers.get('Authorization') or '')
            self.server.store.log.append({
                'akid': m.group(1) if m else None,
                'method': self.command, 'path': u.path, 'query': u.query,
                'status': status, 'range': self.headers.get('Range'),
                'bytes': sent})

    def _error(self, e, resource):
        extra = ''.join('<%s>%s</%s>' % (k, escape(str(v)), k)
                        for k, v in e.extra.items())
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
                '<Message>%s</Message><Resource>%s</Resource>%s'
                '<RequestId>%016X</RequestId></Error>' %
                (e.code, escape(e.message), escape(resource), extra,
                 id(self))).encode()
        self._send(e.status, body, {'Content-Type': 'application/xml'})

    # --- authentication -------------------------------------------------
    def _verify(self, body):
        cfg = self.server.cfg
        auth = self.headers.get('Authorization')
        if not auth:
            raise S3Error(403, 'AccessDenied', 'Access Denied')
        m = AUTH_RE.match(auth)
        if not m:
            raise S3Error(400, 'AuthorizationHeaderMalformed',
                          'The authorization header is malformed')
        akid, day, region, service, term, signed, sig = m.groups()
        key = cfg.keys.get(akid)
        if key is None:
            raise S3Error(403, 'InvalidAccessKeyId', 'The AWS Access Key Id '
                          'you provided does not exist in our records.',
                          AWSAccessKeyId=akid)
        if region != cfg.region:
            raise S3Error(400, 'AuthorizationHeaderMalformed',
                          "The authorization header is malformed; the region "
                          "'%s' is wrong; expecting '%s'" %
                          (region, cfg.region), Region=cfg.region)
        if service != 's3' or term != 'aws4_request':
            raise S3Error(400, 'AuthorizationHeaderMalformed',
                          'The authorization header is malformed; incorrect '
                          'service or terminator')
        amzdate = self.headers.get('x-amz-date', '')
        try:
            when = datetime.datetime.strptime(amzdate, '%Y%m%dT%H%M%SZ')
        except ValueError:
            raise S3Error(403, 'AccessDenied', 'AWS authentication requires '
                          'a valid Date or x-amz-date header')
        if amzdate[:8] != day:
            raise S3Error(403, 'SignatureDoesNotMatch', 'The credential date '
                          'does not match the request date')
        skew = abs((when - datetime.datetime.utcnow()).total_seconds())
        if skew > 900:
            raise S3Error(403, 'RequestTimeTooSkewed', 'The difference '
                          'between the request time and the current time is '
                          'too large.')
        names = signed.split(';')
        if 'host' not in names or names != sorted(names):
            raise S3Error(403, 'SignatureDoesNotMatch', 'SignedHeaders must '
                          'include host and be sorted')
        token = self.headers.get('x-amz-security-token')
        if key['token'] is not None:
            if token is None:
                raise S3Error(403, 'InvalidToken', 'The provided token is '
                              'malformed or otherwise invalid.')
            if token != key['token']:
                raise S3Error(400, 'InvalidToken', 'The provided token is '
                              'malformed or otherwise invalid.')
            if key['expiry'] and time.time() > key['expiry']:
                raise S3Error(400, 'ExpiredToken', 'The provided token has '
                              'expired.')
            if 'x-amz-security-token' not in names:
                raise S3Error(403, 'AccessDenied', 'x-amz-security-token '
                              'must be signed')
        elif token is not None:
            raise S3Error(400, 'InvalidToken', 'The provided token is '
                          'malformed or otherwise invalid.')
        csum = self.headers.get('x-amz-content-sha256')
        if csum is None:
            raise S3Error(400, 'InvalidRequest', 'Missing required header for '
                          'this request: x-amz-content-sha256')
        if csum != 'UNSIGNED-PAYLOAD' and \
                csum != hashlib.sha256(body).hexdigest():
            raise S3Error(400, 'XAmzContentSHA256Mismatch', 'The provided '
                          "'x-amz-content-sha256' header does not match what "
                          'was computed.')
        for n in names:
            if n not in self.headers:
                raise S3Error(403, 'SignatureDoesNotMatch', 'signed header '
                              '%s is missing' % n)
        headers = {n: self.headers[n] for n in names}
        req = AWSRequest(method=self.command,
                         url='http://%s%s' % (self.headers['Host'], self.path),
                         headers=headers, data=body)
        req.context['timestamp'] = amzdate
        signer = Signer(Credentials(akid, key['secret'], key['token']),
                        region, names)
        cr = signer.canonical_request(req)
        want = signer.signature(signer.string_to_sign(req, cr), req)
        if want != sig:
            raise S3Error(403, 'SignatureDoesNotMatch', 'The request '
                          'signature we calculated does not match the '
                          'signature you provided. Check your key and '
                          'signing method.', CanonicalRequest=cr)

    # --- faults ---------------------------------------------------------
    def _fault(self, op, **match):
        """Pops the first armed fault of kind-independent op that matches;
        returns it or None."""
        st = self.server.store
        with st.lock:
            for f in st.faults:
                if f['kind'] == 'slowdown':
                    f['count'] -= 1
                    if f['count'] <= 0:
                        st.faults.remove(f)
                    return f
                if f.get('op') != op:
                    continue
                if f['kind'] == 'error500' and \
                        int(f['page']) == match.get('page'):
                    st.faults.remove(f)
                    return f
                if f['kind'] == 'drop':
                    f['count'] -= 1
                    if f['count'] <= 0:
                        st.faults.remove(f)
                    return f
        return None

    def _mutations(self, bucket, keys):
        st = self.server.store
        with st.lock:
            for f in list(st.faults):
                if f['kind'] == 'mutate' and f['bucket'] == bucket and \
                        f['key'] in keys:
                    st.faults.remove(f)
                    old = st.buckets[bucket][f['key']][0]
                    st.put(bucket, f['key'], old + b'\0mutated')

    # --- routing --------------------------------------------------------
    def _route(self):
        u = urllib.parse.urlsplit(self.path)
        host = self.headers.get('Host', '').split(':')[0]
        dom = self.server.cfg.domain
        if dom and host.endswith('.' + dom):
            bucket = host[:-len(dom) - 1]
            key = urllib.parse.unquote(u.path[1:])
        else:
            parts = u.path[1:].split('/', 1)
            bucket = urllib.parse.unquote(parts[0])
            key = urllib.parse.unquote(parts[1]) if len(parts) > 1 else ''
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        return bucket, key, {k: v[-1] for k, v in q.items()}

    def _handle(self):
        if self.path.startswith('/_ctl/'):
            return self._ctl(self._body())
        body = self._body()
        bucket, key, q = self._route()
        try:
            self._verify(body)
            f = self._fault('any')
            if f and f['kind'] == 'slowdown':
                raise S3Error(503, 'SlowDown', 'Please reduce your request '
                              'rate.')
            return self._dispatch(bucket, key, q, body)
        except S3Error as e:
            return self._error(e, '/' + bucket + ('/' + key if key else ''))

    def _dispatch(self, bucket, key, q, body):
        st = self.server.store
        if not bucket:
            raise S3Error(400, 'InvalidRequest', 'ListBuckets is not '
                          'supported by this test server')
        if self.command == 'PUT' and not key and 'versioning' in q:
            return self._put_versioning(bucket, body)
        if self.command == 'PUT' and not key:
            if not BUCKET_RE.match(bucket):
                raise S3Error(400, 'InvalidBucketName', 'The specified '
                              'bucket is not valid.')
            with st.lock:
                st.buckets.setdefault(bucket, {})
            return self._send(200, headers={'Location': '/' + bucket})
        with st.lock:
            objs = st.buckets.get(bucket)
        if objs is None:
            raise S3Error(404, 'NoSuchBucket', 'The specified bucket does '
                          'not exist', BucketName=bucket)
        if not key:
            if self.command == 'HEAD':
                return self._send(200)
            if self.command == 'GET' and 'versioning' in q:
                with st.lock:
                    status = st.versioning.get(bucket)
                return self._send(200, (
                    '<?xml version="1.0" encoding="UTF-8"?>\n'
                    '<VersioningConfiguration xmlns="http://s3.amazonaws.com/'
                    'doc/2006-03-01/">%s</VersioningConfiguration>' %
                    ('<Status>%s</Status>' % status if status else '')
                ).encode(), {'Content-Type': 'application/xml'})
            if self.command == 'GET' and 'versions' in q:
                return self._list_versions(bucket, q)
            if self.command == 'GET' and q.get('list-type') == '2':
                return self._list(bucket, objs, q)
            if self.command == 'POST' and 'delete' in q:
                return self._delete_many(bucket, body)
            raise S3Error(400, 'InvalidRequest', 'unsupported bucket '
                          'operation')
        if 'uploads' in q or 'uploadId' in q:
            return self._multipart(bucket, key, q, body)
        if self.command == 'PUT':
            with st.lock:
                etag, vid = st.put(bucket, key, body)
            hs = {'ETag': etag}
            if vid:
                hs['x-amz-version-id'] = vid
            return self._send(200, headers=hs)
        if self.command == 'DELETE':
            hs = {}
            with st.lock:
                if 'versionId' in q:     # removes that version for good
                    vs = st.versions.get(bucket, {}).get(key, [])
                    vs[:] = [v for v in vs if v.vid != q['versionId']]
                    cur = [v for v in vs][-1:] if vs else []
                    if cur and not cur[0].marker:
                        objs[key] = (cur[0].data, cur[0].etag,
                                     cur[0].mtime)
                    else:
                        objs.pop(key, None)
                    hs['x-amz-version-id'] = q['versionId']
                else:
                    vid = st.delete(bucket, key)
                    if vid:
                        hs['x-amz-version-id'] = vid
                        hs['x-amz-delete-marker'] = 'true'
            return self._send(204, headers=hs)
        if self.command in ('GET', 'HEAD'):
            return self._get(bucket, objs, key, q.get('versionId'))
        raise S3Error(405, 'MethodNotAllowed', 'The specified method is not '
                      'allowed against this resource.')

    def _put_versioning(self, bucket, body):
        st = self.server.store
        m = re.search(rb'<Status>\s*([A-Za-z]+)\s*</Status>', body)
        if not m or m.group(1) not in (b'Enabled', b'Suspended'):
            raise S3Error(400, 'MalformedXML', 'The XML you provided was '
                          'not well-formed or did not validate against our '
                          'published schema')
        with st.lock:
            if bucket not in st.buckets:
                raise S3Error(404, 'NoSuchBucket', 'The specified bucket '
                              'does not exist', BucketName=bucket)
            st.versioning[bucket] = m.group(1).decode()
        return self._send(200)

    def _multipart(self, bucket, key, q, body):
        st = self.server.store
        uid = q.get('uploadId')
        if self.command == 'POST' and 'uploads' in q:
            with st.lock:
                st.seq += 1
                uid = hashlib.sha1(b'upload%d' % st.seq).hexdigest()
                st.uploads[uid] = (bucket, key, {})
            return self._send(200, (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                '<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.'
                'com/doc/2006-03-01/"><Bucket>%s</Bucket><Key>%s</Key>'
                '<UploadId>%s</UploadId></InitiateMultipartUploadResult>' %
                (escape(bucket), escape(key), uid)).encode(),
                {'Content-Type': 'application/xml'})
        with st.lock:
            up = st.uploads.get(uid)
        if up is None or up[:2] != (bucket, key):
            raise S3Error(404, 'NoSuchUpload', 'The specified upload does '
                          'not exist. The upload ID may be invalid, or the '
                          'upload may have been aborted or completed.',
                          UploadId=uid)
        parts = up[2]
        if self.command == 'PUT':
            try:
                n = int(q.get('partNumber', ''))
            except ValueError:
                n = 0
            if not 1 <= n <= 10000:
                raise S3Error(400, 'InvalidArgument', 'Part number must be '
                              'an integer between 1 and 10000, inclusive')
            md5 = hashlib.md5(body)
            with st.lock:
                parts[n] = (body, md5.digest())
            return self._send(200, headers={'ETag': '"%s"' %
                                            md5.hexdigest()})
        if self.command == 'DELETE':
            with st.lock:
                st.uploads.pop(uid, None)
            return self._send(204)
        if self.command != 'POST':
            raise S3Error(405, 'MethodNotAllowed', 'The specified method is '
                          'not allowed against this resource.')
        want = []
        for blk in re.findall(rb'<Part>(.*?)</Part>',
                              body.replace(b'&quot;', b'"'), re.S):
            n = re.search(rb'<PartNumber>\s*(\d+)\s*</PartNumber>', blk)
            e = re.search(rb'<ETag>([^<]*)</ETag>', blk)
            if not n or not e:
                want = []
                break
            want.append((int(n.group(1)), e.group(1).decode().strip()))
        if not want:
            raise S3Error(400, 'MalformedXML', 'The XML you provided was not '
                          'well-formed or did not validate against our '
                          'published schema')
        if [n for n, _ in want] != sorted(set(n for n, _ in want)):
            raise S3Error(400, 'InvalidPartOrder', 'The list of parts was '
                          'not in ascending order. Parts must be ordered by '
                          'part number.')
        for i, (n, e) in enumerate(want):
            p = parts.get(n)
            if p is None or e.strip('"') != p[1].hex():
                raise S3Error(400, 'InvalidPart', 'One or more of the '
                              'specified parts could not be found.')
            if i < len(want) - 1 and len(p[0]) < 5 * 1024 * 1024:
                raise S3Error(400, 'EntityTooSmall', 'Your proposed upload '
                              'is smaller than the minimum allowed object '
                              'size.')
        data = b''.join(parts[n][0] for n, _ in want)
        etag = '"%s-%d"' % (hashlib.md5(b''.join(
            parts[n][1] for n, _ in want)).hexdigest(), len(want))
        with st.lock:
            st.uploads.pop(uid, None)
            _, vid = st.put(bucket, key, data, etag)
        hs = {'Content-Type': 'application/xml'}
        if vid:
            hs['x-amz-version-id'] = vid
        return self._send(200, (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/'
            'doc/2006-03-01/"><Location>/%s/%s</Location><Bucket>%s</Bucket>'
            '<Key>%s</Key><ETag>%s</ETag></CompleteMultipartUploadResult>' %
            (escape(bucket), escape(key), escape(bucket), escape(key),
             escape(etag))).encode(), hs)

    def _get(self, bucket, objs, key, vid):
        st = self.server.store
        hs = {}
        with st.lock:
            versioned = bucket in st.versioning
            if vid is None:
                obj = objs.get(key)
                cur = st.versions.get(bucket, {}).get(key, [])
                if obj is not None and versioned and cur:
                    hs['x-amz-version-id'] = cur[-1].vid
            else:
                v = st.version(bucket, key, vid)
                if v is None:
                    raise S3Error(404 if re.match(r'^[\w.\-]+$', vid) else
                                  400, 'NoSuchVersion' if
                                  re.match(r'^[\w.\-]+$', vid) else
                                  'InvalidArgument', 'The specified version '
                                  'does not exist.', Key=key, VersionId=vid)
                if v.marker:
                    raise S3Error(405, 'MethodNotAllowed', 'The specified '
                                  'method is not allowed against this '
                                  'resource.')
                obj = (v.data, v.etag, v.mtime)
                hs['x-amz-version-id'] = v.vid
        if obj is None:
            raise S3Error(404, 'NoSuchKey', 'The specified key does not '
                          'exist.', Key=key)
        data, etag, mtime = obj
        im = self.headers.get('If-Match')
        if im is not None and im.strip() != etag and im.strip() != '*':
            raise S3Error(412, 'PreconditionFailed', 'At least one of the '
                          'pre-conditions you specified did not hold',
                          Condition='If-Match')
        inm = self.headers.get('If-None-Match')
        if inm is not None and inm.strip() == etag:
            return self._send(304, headers={'ETag': etag})
        hs.update({'ETag': etag,
                   'Last-Modified': formatdate(mtime, usegmt=True),
                   'Accept-Ranges': 'bytes',
                   'Content-Type': 'application/octet-stream'})
        status, part = 200, data
        rng = self.headers.get('Range')
        if rng:
            m = re.match(r'^bytes=(\d*)-(\d*)$', rng.strip())
            if not m or (m.group(1) == '' and m.group(2) == ''):
                raise S3Error(400, 'InvalidArgument', 'bad Range')
            if m.group(1) == '':
                a = max(0, len(data) - int(m.group(2)))
                b = len(data) - 1
            else:
                a = int(m.group(1))
                b = int(m.group(2)) if m.group(2) else len(data) - 1
                b = min(b, len(data) - 1)
            if a >= len(data) or a > b:
                raise S3Error(416, 'InvalidRange', 'The requested range is '
                              'not satisfiable', ActualObjectSize=len(data))
            status, part = 206, data[a:b + 1]
            hs['Content-Range'] = 'bytes %d-%d/%d' % (a, b, len(data))
        hs['Content-Length'] = str(len(part))
        record = {}
        if self.command == 'GET':
            f = self._fault('get')
            if f and f['kind'] == 'drop':
                record['drop_after'] = int(f.get('after', 0))
        self._send(status, part, hs, record)

    def _list(self, bucket, objs, q):
        st = self.server.store
        prefix = q.get('prefix', '')
        delim = q.get('delimiter', '')
        try:
            maxk = int(q.get('max-keys', '1000'))
        except ValueError:
            raise S3Error(400, 'InvalidArgument', 'max-keys')
        maxk = max(0, min(maxk, 1000))
        token = q.get('continuation-token')
        start = q.get('start-after', '')
        page = 1
        if token:
            try:
                t = json.loads(urllib.parse.unquote(token))
                start, page = t['after'], t['page']
            except (ValueError, KeyError, TypeError):
                raise S3Error(400, 'InvalidArgument', 'The continuation '
                              'token provided is incorrect')
        f = self._fault('list', page=page)
        if f:
            raise S3Error(500, 'InternalError', 'We encountered an internal '
                          'error. Please try again.')
        with st.lock:
            keys = sorted(k for k in objs if k.startswith(prefix) and
                          k > start)
        contents, prefixes, last, truncated = [], [], None, False
        for k in keys:
            if delim:
                rest = k[len(prefix):]
                i = rest.find(delim)
                if i >= 0:
                    cp = prefix + rest[:i + len(delim)]
                    if prefixes and prefixes[-1] == cp:
                        last = k
                        continue
                    if len(contents) + len(prefixes) >= maxk:
                        truncated = True
                        break
                    prefixes.append(cp)
                    last = k
                    continue
            if len(contents) + len(prefixes) >= maxk:
                truncated = True
                break
            contents.append(k)
            last = k
        with st.lock:
            rows = [(k,) + objs[k] for k in contents if k in objs]
        url_enc = q.get('encoding-type') == 'url'
        if 'encoding-type' in q and not url_enc:
            raise S3Error(400, 'InvalidArgument', 'Invalid Encoding Method '
                          'specified in Request')
        kenc = (lambda k: urllib.parse.quote_plus(k, safe='/')) if url_enc \
            else (lambda k: k)
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult '
               'xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
               '<Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount>'
               '<MaxKeys>%d</MaxKeys><IsTruncated>%s</IsTruncated>' %
               (escape(bucket), escape(prefix), len(contents) + len(prefixes),
                maxk, 'true' if truncated else 'false')]
        if url_enc:
            out.append('<EncodingType>url</EncodingType>')
        if delim:
            out.append('<Delimiter>%s</Delimiter>' % escape(delim))
        if token:
            out.append('<ContinuationToken>%s</ContinuationToken>' %
                       escape(token))
        if truncated:
            nt = urllib.parse.quote(json.dumps({'after': last,
                                                'page': page + 1}))
            out.append('<NextContinuationToken>%s</NextContinuationToken>' %
                       escape(nt))
        for k, data, etag, mtime in rows:
            lm = datetime.datetime.utcfromtimestamp(mtime).strftime(
                '%Y-%m-%dT%H:%M:%S.000Z')
            out.append('<Contents><Key>%s</Key><LastModified>%s'
                       '</LastModified><ETag>%s</ETag><Size>%d</Size>'
                       '<StorageClass>STANDARD</StorageClass></Contents>' %
                       (escape(kenc(k)), lm, escape(etag), len(data)))
        for p in prefixes:
            out.append('<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>'
                       % escape(kenc(p)))
        out.append('</ListBucketResult>')
        body = ''.join(out).encode()
        self._send(200, body, {'Content-Type': 'application/xml'})
        self._mutations(bucket, set(contents))

    def _delete_many(self, bucket, body):
        keys = re.findall(rb'<Key>([^<]*)</Key>', body)
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult>']
        with self.server.store.lock:
            for k in keys:
                k = k.decode()
                self.server.store.delete(bucket, k)
                out.append('<Deleted><Key>%s</Key></Deleted>' % escape(k))
        out.append('</DeleteResult>')
        self._send(200, ''.join(out).encode(),
                   {'Content-Type': 'application/xml'})

    def _list_versions(self, bucket, q):
        """ListObjectVersions: every version and delete marker under the
        prefix, by key, newest first within a key; key-marker and
        version-id-marker continue after the last one of a page."""
        st = self.server.store
        prefix = q.get('prefix', '')
        try:
            maxk = max(1, min(int(q.get('max-keys', '1000')), 1000))
        except ValueError:
            raise S3Error(400, 'InvalidArgument', 'max-keys')
        kmark, vmark = q.get('key-marker', ''), q.get('version-id-marker', '')
        with st.lock:
            rows = []
            for k in sorted(st.versions.get(bucket, {})):
                if not k.startswith(prefix):
                    continue
                vs = st.versions[bucket][k]
                for i, v in enumerate(reversed(vs)):
                    rows.append((k, v, i == 0))
        if kmark:
            at = 0
            for i, (k, v, _) in enumerate(rows):
                if k < kmark or (k == kmark and not vmark):
                    at = i + 1
                elif k == kmark and v.vid == vmark:
                    at = i + 1
                    break
                elif k == kmark:
                    at = i + 1
            rows = rows[at:]
        page, more = rows[:maxk], len(rows) > maxk
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListVersionsResult '
               'xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
               '<Name>%s</Name><Prefix>%s</Prefix><KeyMarker>%s</KeyMarker>'
               '<VersionIdMarker>%s</VersionIdMarker><MaxKeys>%d</MaxKeys>'
               '<IsTruncated>%s</IsTruncated>' %
               (escape(bucket), escape(prefix), escape(kmark), escape(vmark),
                maxk, 'true' if more else 'false')]
        if more:
            out.append('<NextKeyMarker>%s</NextKeyMarker>'
                       '<NextVersionIdMarker>%s</NextVersionIdMarker>' %
                       (escape(page[-1][0]), escape(page[-1][1].vid)))
        for k, v, latest in page:
            lm = datetime.datetime.utcfromtimestamp(v.mtime).strftime(
                '%Y-%m-%dT%H:%M:%S.000Z')
            if v.marker:
                out.append('<DeleteMarker><Key>%s</Key><VersionId>%s'
                           '</VersionId><IsLatest>%s</IsLatest>'
                           '<LastModified>%s</LastModified></DeleteMarker>' %
                           (escape(k), v.vid, str(latest).lower(), lm))
            else:
                out.append('<Version><Key>%s</Key><VersionId>%s</VersionId>'
                           '<IsLatest>%s</IsLatest><LastModified>%s'
                           '</LastModified><ETag>%s</ETag><Size>%d</Size>'
                           '<StorageClass>STANDARD</StorageClass></Version>' %
                           (escape(k), v.vid, str(latest).lower(), lm,
                            escape(v.etag), len(v.data)))
        out.append('</ListVersionsResult>')
        self._send(200, ''.join(out).encode(),
                   {'Content-Type': 'application/xml'})

    def _ctl(self, body):
        st = self.server.store
        u = urllib.parse.urlsplit(self.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query).items()}
        if u.path == '/_ctl/fault' and self.command == 'POST':
            f = dict(q)
            if f.get('kind') not in ('slowdown', 'error500', 'drop',
                                     'mutate'):
                return self._send(400, b'unknown fault kind\n')
            if 'count' in f:
                f['count'] = int(f['count'])
            else:
                f['count'] = 1
            with st.lock:
                st.faults.append(f)
            return self._send(200, b'ok\n')
        if u.path == '/_ctl/load' and self.command == 'POST':
            import os
            n = 0
            with st.lock:
                st.buckets.setdefault(q['bucket'], {})
            for top, _, files in os.walk(q['dir']):
                for f in files:
                    full = os.path.join(top, f)
                    rel = os.path.relpath(full, q['dir'])
                    with open(full, 'rb') as fh:
                        data = fh.read()
                    with st.lock:
                        st.put(q['bucket'], q.get('prefix', '') + rel, data)
                    n += 1
            return self._send(200, b'%d\n' % n)
        if u.path == '/_ctl/etag' and self.command == 'POST':
            with st.lock:
                data, _, mtime = st.buckets[q['bucket']][q['key']]
                st.buckets[q['bucket']][q['key']] = (data, q['etag'], mtime)
                st.versions[q['bucket']][q['key']][-1].etag = q['etag']
            return self._send(200, b'ok\n')
        if u.path == '/_ctl/config' and self.command == 'POST':
            with st.lock:
                st.vid_bytes = int(q.get('vid_bytes', '0'))
            return self._send(200, b'ok\n')
        if u.path == '/_ctl/reset' and self.command == 'POST':
            with st.lock:
                st.faults.clear()
                st.log.clear()
            return self._send(200, b'ok\n')
        if u.path == '/_ctl/log' and self.command == 'GET':
            with st.lock:
                text = ''.join(json.dumps(r) + '\n' for r in st.log)
            return self._send(200, text.encode(),
                              {'Content-Type': 'application/x-ndjson'})
        return self._send(404, b'no such control\n')

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--port-file', required=True)
    ap.add_argument('--region', default='us-east-1')
    ap.add_argument('--domain', default='localhost',
                    help='virtual-hosted addressing: Host: BUCKET.DOMAIN')
    ap.add_argument('--key', action='append', default=[],
                    help='AKID:SECRET[:TOKEN[:EXPIRY_UNIX]]')
    a = ap.parse_args()
    keys = {}
    for k in a.key or ['AKIDTEST:secret-test-key']:
        p = k.split(':')
        keys[p[0]] = {'secret': p[1], 'token': p[2] if len(p) > 2 and p[2]
                      else None,
                      'expiry': float(p[3]) if len(p) > 3 else None}
    srv = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    srv.daemon_threads = True
    srv.store = Store()
    srv.cfg = argparse.Namespace(region=a.region, domain=a.domain, keys=keys)
    with open(a.port_file + '.tmp', 'w') as f:
        f.write('%d\n' % srv.server_address[1])
    import os
    os.rename(a.port_file + '.tmp', a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
