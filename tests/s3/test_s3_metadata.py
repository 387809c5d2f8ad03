#!/usr/bin/python3
"""Credentials from the EC2 instance metadata service (IMDSv2) and from
AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (core/net/awscreds.c), against a
loopback metadata server written here from AWS's documented protocol, and
the same environment given to Debian's botocore, which must resolve the
same key.

  * IMDSv2: PUT /latest/api/token (with the TTL header), then the role
    and its key by GET with the token; the key signs (the S3 test server
    checks every signature, with the session token) and one about to
    expire is fetched again on the same client;
  * IMDSv1 fallback when the token request is refused, a refused 400,
    an answer without Token or Expiration;
  * a key that has already expired when it arrives (the service cannot
    renew keys and hands out its last one): kept in use with a warning
    for a randomized while (2 to 10 minutes, as botocore), then asked
    again, a fresh key taking over (the while shortened by
    CURATE_TEST_IMDS_EXTEND_S); botocore resolves the same expired key;
  * the profile's ec2_metadata_service_endpoint (and _endpoint_mode),
    below AWS_EC2_METADATA_SERVICE_ENDPOINT, for curatefs and botocore
    alike; a mode other than ipv4/ipv6 refused by both;
  * AWS_EC2_METADATA_DISABLED=true, no service (nothing listening), a
    service that never answers: ENOKEY, in about the timeout;
  * the order: the environment's keys and the container endpoint come
    first, and the metadata service is not asked;
  * in a network namespace of its own (unshare -n), where 169.254.170.2
    and 169.254.169.254 are loopback addresses: the relative URI wins over
    AWS_CONTAINER_CREDENTIALS_FULL_URI, and the default metadata address
    is used when nothing overrides it;
  * botocore, with the same environment and server, names the same
    access key, secret and token (compared by SHA-256), and asks the
    server the same requests;
  * no secret and no metadata token in any output.

Run by meson (suite s3) with S3_PROBE set.
"""
import datetime
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_s3_client import (AKID, ROT, SECRET, Server, aws, check,  # noqa
                            env_for, probe, report)

IMDS_TOKEN = 'imds-session-T0KEN-%d' % os.getpid()
ROLE = 'curate-node-role'
AUTH = 'container-auth-%d' % os.getpid()


class MetaServer:
    """The instance metadata service and the container credentials agent
    on one loopback port.  `keys` answers the n-th key fetch with
    ROT[min(n, 1)]; `short` makes the first one expire in 302 s (just over
    the 300 s refresh margin).  `mode`: 'v2' (the token required on every
    GET, 401 without, as with HttpTokens=required), 'v1' (PUT answered
    405), 'bad400' (PUT answered 400), 'notoken' (an answer without
    Token)."""

    def __init__(self, host='127.0.0.1', port=0):
        outer = self
        self.mode, self.short, self.hits, self.log = 'v2', False, 0, []
        self.life, self.lives = 3600, None
        self.lock = threading.Lock()

        class H(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *a):
                pass

            def answer(self, st, body=b'', ctype='text/plain'):
                self.send_response(st)
                self.send_header('Content-Type', ctype)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self):
                n = int(self.headers.get('Content-Length') or 0)
                self.rfile.read(n)
                ttl = self.headers.get('X-aws-ec2-metadata-token-ttl-seconds')
                outer.note(self, ttl)
                if self.path != '/latest/api/token':
                    return self.answer(404)
                if outer.mode == 'v1':
                    return self.answer(405)
                if outer.mode == 'bad400' or not ttl or \
                        not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                    return self.answer(400)
                self.answer(200, IMDS_TOKEN.encode())

            def do_GET(self):
                outer.note(self, None)
                tok = self.headers.get('X-aws-ec2-metadata-token')
                base = '/latest/meta-data/iam/security-credentials/'
                if self.path.startswith('/v2/credentials/'):
                    if self.headers.get('Authorization') != AUTH:
                        return self.answer(401)
                    return self.answer(200, outer.key(container=True),
                                       'application/json')
                if outer.mode == 'v2' and tok != IMDS_TOKEN:
                    return self.answer(401)
                if self.path == base:
                    return self.answer(200, ROLE.encode())
                if self.path == base + ROLE:
                    return self.answer(200, outer.key(), 'text/plain')
                self.answer(404)

        v6 = ':' in host

        class Srv(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if v6 else socket.AF_INET
        self.httpd = Srv((host, port), H)
        self.port = self.httpd.server_address[1]
        self.url = 'http://%s:%d' % ('[%s]' % host if v6 else host,
                                     self.port)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def note(self, h, ttl):
        with self.lock:
            self.log.append((h.command, h.path, h.headers.get(
                'X-aws-ec2-metadata-token') == IMDS_TOKEN, ttl))

    def key(self, container=False):
        with self.lock:
            k = ROT[min(self.hits, 1)]
            life = 302 if self.short and self.hits == 0 else self.life
            if self.lives:
                life = self.lives[min(self.hits, len(self.lives) - 1)]
            self.hits += 1
        exp = datetime.datetime.utcnow() + datetime.timedelta(seconds=life)
        d = {'AccessKeyId': k[0], 'SecretAccessKey': k[1], 'Token': k[2],
             'Expiration': exp.strftime('%Y-%m-%dT%H:%M:%SZ')}
        if container:
            d['RoleArn'] = 'arn:aws:iam::123456789012:role/' + ROLE
        else:
            d.update({'Code': 'Success', 'Type': 'AWS-HMAC',
                      'LastUpdated': exp.strftime('%Y-%m-%dT%H:%M:%SZ')})
            if self.mode == 'notoken':
                del d['Token']
        return json.dumps(d).encode()

    def reset(self, mode='v2', short=False, life=3600, lives=None):
        """lives: the n-th key fetch's lifetime in seconds (the last one
        for every later fetch; negative: already expired)."""
        with self.lock:
            self.mode, self.short, self.hits, self.log = mode, short, 0, []
            self.life, self.lives = life, lives

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()[:16]


BOTO = r'''
import hashlib, json, botocore.session
c = botocore.session.Session().get_credentials()
f = c.get_frozen_credentials() if c else None
h = lambda s: hashlib.sha256(s.encode()).hexdigest()[:16] if s else None
print(json.dumps(None if f is None else {
    'method': c.method, 'akid': f.access_key, 'secret': h(f.secret_key),
    'token': h(f.token)}))
'''


def boto(env):
    """What botocore resolves in env: method, key id, digests."""
    r = subprocess.run(['/usr/bin/python3', '-c', BOTO], env=env,
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError('botocore: ' + r.stderr)
    return json.loads(r.stdout)


def akids(srv):
    return [r['akid'] for r in srv.log() if not r['path'].startswith('/_ctl')]


def quiet(out, err):
    check(IMDS_TOKEN not in err and IMDS_TOKEN.encode() not in out and
          AUTH not in err, 'no metadata token in the output')


def base_env(srv, tmp, **kw):
    """No keys, no profile, the metadata service allowed."""
    e = env_for(srv, os.path.join(tmp, 'nohome'), AWS_ACCESS_KEY_ID=None,
                AWS_SECRET_ACCESS_KEY=None, AWS_EC2_METADATA_DISABLED=None)
    e.update(kw)
    return {k: v for k, v in e.items() if v is not None}


def fill(srv, home):
    aws(srv, home, 's3', 'mb', 's3://bucket-one')
    src = os.path.join(home, 'm')
    os.makedirs(src)
    for i in range(3):
        with open(os.path.join(src, 'o%d' % i), 'wb') as f:
            f.write(b'%d' % i * 100)
    aws(srv, home, 's3', 'sync', '--only-show-errors', src,
        's3://bucket-one/m/')


def test_imds(srv, meta, tmp):
    env = base_env(srv, tmp, AWS_EC2_METADATA_SERVICE_ENDPOINT=meta.url,
                   AWS_METADATA_SERVICE_TIMEOUT='10')
    meta.reset(short=True)
    srv.ctl('reset')
    rc, out, err = probe(env, 'ls2', 's3://bucket-one/m/', '3')
    quiet(out, err)
    seq = [(m, p.rsplit('/', 1)[-1] or 'roles', t) for m, p, t, _ in
           meta.log]
    one = [('PUT', 'token', False), ('GET', 'roles', True),
           ('GET', ROLE, True)]
    check(rc == 0 and out.count(b'\n') == 6 and
          akids(srv) == [ROT[0][0], ROT[1][0]],
          'IMDSv2: the role\'s key signs, and one about to expire is '
          'fetched again before the next request (%s; %s)' %
          (akids(srv), err.strip()))
    check(seq == one + one and all(t == '21600' for m, _, _, t in meta.log
                                   if m == 'PUT'),
          'IMDSv2 requests: PUT token (TTL 21600), then the role and its '
          'key with the token, each fetch (%s)' % seq)

    # The same server and environment given to botocore.
    meta.reset()
    srv.ctl('reset')
    rc, out, err = probe(env, 'ls', 's3://bucket-one/m/')
    ours = (akids(srv)[:1], [(m, p, t) for m, p, t, _ in meta.log])
    meta.reset()
    b = boto(env)
    theirs = [(m, p, t) for m, p, t, _ in meta.log]
    check(rc == 0 and b and b['method'] == 'iam-role' and
          ours[0] == [b['akid']] and b['akid'] == ROT[0][0] and
          b['secret'] == sha(ROT[0][1]) and b['token'] == sha(ROT[0][2]),
          'botocore resolves the same key from the same metadata server '
          '(ours %s, botocore %s)' % (ours[0], b))
    check(ours[1] == theirs, 'and asks it the same requests (%s / %s)'
          % (ours[1], theirs))
    print('compare: curatefs signed with %s; botocore %s' % (ours[0], b))

    # A key that is valid but already inside the refresh margin (the
    # service hands out the same kind again, as during its outage or when
    # it rotates late): fetched again at most every AWS_CREDS_RETRY_S, not
    # before every request.
    meta.reset(life=200)
    srv.ctl('reset')
    rc, out, err = probe(env, 'ls2', 's3://bucket-one/m/', '1')
    keys = [p for m, p, _, _ in meta.log if p.endswith('/' + ROLE)]
    check(rc == 0 and out.count(b'\n') == 6 and len(keys) == 1,
          'a key with less than the refresh margin left: one fetch for '
          'two listings (%d fetches; %s)' % (len(keys), err.strip()))

    meta.reset(mode='v1')
    srv.ctl('reset')
    rc, out, err = probe(env, 'ls', 's3://bucket-one/m/')
    check(rc == 0 and akids(srv) == [ROT[0][0]] and
          [(m, t) for m, _, t, _ in meta.log] ==
          [('PUT', False), ('GET', False), ('GET', False)],
          'a service refusing the token (405): asked without one (IMDSv1) '
          '(%s)' % err.strip())
    meta.reset(mode='v1')
    b = boto(env)
    check(b and b['akid'] == ROT[0][0], 'botocore falls back to IMDSv1 '
          'as well (%s)' % b)
    meta.reset(mode='bad400')
    rc, out, err = probe(env, 'ls', 's3://bucket-one/m/')
    check(rc == errno.EPROTO and 'HTTP 400' in err, 'a 400 to the token '
          'request: EPROTO (%d %s)' % (rc, err.strip()))
    meta.reset(mode='notoken')
    rc, out, err = probe(env, 'ls', 's3://bucket-one/m/')
    check(rc == errno.EBADMSG and 'instance metadata' in err and
          'Token' in err, 'an answer without Token: EBADMSG (%d %s)'
          % (rc, err.strip()))
    quiet(out, err)


def key_fetches(meta):
    return len([p for m, p, _, _ in meta.log if p.endswith('/' + ROLE)])


EXT = re.compile(r'instance metadata: the key it gave expired (\d+) s ago'
                 r'.*asking again in (\d+) s')


def test_expired(srv, meta, tmp):
    """Static stability: a key that arrives expired stays in use."""
    env = base_env(srv, tmp, AWS_EC2_METADATA_SERVICE_ENDPOINT=meta.url,
                   AWS_METADATA_SERVICE_TIMEOUT='10')
    waits = []
    for i in range(3):
        meta.reset(life=-120)
        srv.ctl('reset')
        rc, out, err = probe(env, 'ls2', 's3://bucket-one/m/', '1')
        quiet(out, err)
        m = EXT.search(err)
        check(rc == 0 and out.count(b'\n') == 6 and
              akids(srv) == [ROT[0][0]] * 2 and key_fetches(meta) == 1,
              'a key expired 120 s ago: it signs both listings, fetched '
              'once (rc %d, %s, %d fetches; %s)' % (rc, akids(srv),
                                                    key_fetches(meta),
                                                    err.strip()))
        check(m is not None and 119 <= int(m.group(1)) <= 200 and
              120 <= int(m.group(2)) <= 600 and len(EXT.findall(err)) == 1,
              'one warning naming how long ago it expired and when the '
              'service is asked again, 120 to 600 s (%s)' % err.strip())
        if m:
            waits.append(int(m.group(2)))
    check(len(set(waits)) > 1, 'the while is drawn at random (%s)' % waits)
    print('compare: expired key kept, next attempt in %s s' % waits)

    # botocore, same server and environment: the same expired key.
    meta.reset(life=-120)
    b = boto(env)
    check(b and b['method'] == 'iam-role' and b['akid'] == ROT[0][0] and
          b['secret'] == sha(ROT[0][1]) and b['token'] == sha(ROT[0][2]),
          'botocore keeps the same expired key (%s)' % b)
    print('compare: botocore with an expired key: %s' % b)

    # After the while the service is asked again: a fresh key takes over;
    # a key still expired is kept again, with a second warning.
    short = dict(env, CURATE_TEST_IMDS_EXTEND_S='2')
    meta.reset(lives=[-120, 3600])
    srv.ctl('reset')
    rc, out, err = probe(short, 'ls2', 's3://bucket-one/m/', '3')
    check(rc == 0 and akids(srv) == [ROT[0][0], ROT[1][0]] and
          key_fetches(meta) == 2 and len(EXT.findall(err)) == 1,
          'after the while: asked again, the fresh key signs (%s, %d '
          'fetches; %s)' % (akids(srv), key_fetches(meta), err.strip()))
    meta.reset(life=-30)
    srv.ctl('reset')
    rc, out, err = probe(short, 'ls2', 's3://bucket-one/m/', '3')
    check(rc == 0 and akids(srv) == [ROT[0][0], ROT[1][0]] and
          key_fetches(meta) == 2 and len(EXT.findall(err)) == 2,
          'a key still expired at the next attempt: kept again (%s, %d '
          'fetches; %s)' % (akids(srv), key_fetches(meta), err.strip()))
    # Other sources still refuse an expired key.
    meta.reset(life=-120)
    rc, out, err = probe(dict(env, AWS_CONTAINER_CREDENTIALS_FULL_URI=meta.url
                              + '/v2/credentials/full',
                              AWS_CONTAINER_AUTHORIZATION_TOKEN=AUTH), 'ls',
                         's3://bucket-one/m/')
    check(rc == errno.EKEYEXPIRED and 'container credentials' in err,
          'an expired container key is still refused (%d %s)'
          % (rc, err.strip()))


def test_profile_endpoint(srv, meta, tmp):
    """ec2_metadata_service_endpoint(_mode) of the shared config file."""
    conf = os.path.join(tmp, 'imds-config')
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    closed = 'http://127.0.0.1:%d' % s.getsockname()[1]

    def profile(**kv):
        with open(conf, 'w') as f:
            f.write('[profile node]\n')
            for k, v in kv.items():
                f.write('%s = %s\n' % (k, v))
    env = base_env(srv, tmp, AWS_CONFIG_FILE=conf, AWS_PROFILE='node',
                   AWS_METADATA_SERVICE_TIMEOUT='10')
    profile(ec2_metadata_service_endpoint=meta.url)
    meta.reset()
    srv.ctl('reset')
    rc, out, err = probe(env, 'ls', 's3://bucket-one/m/')
    ours = [(m, p, t) for m, p, t, _ in meta.log]
    meta.reset()
    b = boto(env)
    theirs = [(m, p, t) for m, p, t, _ in meta.log]
    check(rc == 0 and akids(srv) == [ROT[0][0]] and len(ours) == 3 and
          ours == theirs and b and b['akid'] == ROT[0][0],
          'the profile\'s ec2_metadata_service_endpoint is asked, by '
          'curatefs and botocore (%s / %s %s; %s)' % (ours, theirs, b,
                                                      err.strip()))
    # The environment wins over the profile, in both.
    meta.reset()
    envd = dict(env, AWS_EC2_METADATA_SERVICE_ENDPOINT=closed)
    rc, out, err = probe(envd, 'ls', 's3://bucket-one/m/')
    b = boto(envd)
    check(rc == errno.ENOKEY and not meta.log and b is None,
          'AWS_EC2_METADATA_SERVICE_ENDPOINT wins over the profile: '
          'the profile\'s server is not asked (%d, %s, botocore %s)'
          % (rc, meta.log, b))
    # And the other way round: the profile names the dead address, the
    # environment the live one.
    profile(ec2_metadata_service_endpoint=closed)
    meta.reset()
    rc, out, err = probe(dict(env, AWS_EC2_METADATA_SERVICE_ENDPOINT=
                              meta.url), 'ls', 's3://bucket-one/m/')
    check(rc == 0 and len(meta.log) == 3, 'the environment\'s endpoint is '
          'used over the profile\'s (%d; %s)' % (rc, err.strip()))
    # An endpoint beats an ipv6 mode; a mode neither ipv4 nor ipv6 is
    # refused, by botocore too.
    profile(ec2_metadata_service_endpoint=meta.url,
            ec2_metadata_service_endpoint_mode='IPv6')
    meta.reset()
    rc, out, err = probe(env, 'ls', 's3://bucket-one/m/')
    check(rc == 0 and len(meta.log) == 3, 'an endpoint wins over the '
          'endpoint mode (%d; %s)' % (rc, err.strip()))
    profile(ec2_metadata_service_endpoint=meta.url,
            ec2_metadata_service_endpoint_mode='ipv5')
    meta.reset()
    rc, out, err = probe(env, 'ls', 's3://bucket-one/m/')
    try:
        b = boto(env)
    except RuntimeError as e:
        b = str(e)
    check(rc == errno.EINVAL and 'ec2_metadata_service_endpoint_mode' in err
          and not meta.log and 'InvalidIMDSEndpointMode' in str(b),
          'a mode other than ipv4/ipv6: EINVAL naming the setting, as '
          'botocore refuses it (%d %s; %s)' % (rc, err.strip(),
                                               str(b)[-200:]))
    profile(ec2_metadata_service_endpoint='ftp://127.0.0.1:1')
    rc, out, err = probe(env, 'ls', 's3://bucket-one/m/')
    check(rc == errno.EINVAL and 'ec2_metadata_service_endpoint:' in err,
          'a bad profile endpoint: EINVAL naming the setting (%d %s)'
          % (rc, err.strip()))
    s.close()


def test_no_service(srv, meta, tmp):
    env = base_env(srv, tmp, AWS_EC2_METADATA_SERVICE_ENDPOINT=meta.url)
    for v in ('true', 'TRUE'):
        meta.reset()
        rc, out, err = probe(dict(env, AWS_EC2_METADATA_DISABLED=v), 'ls',
                             's3://bucket-one/m/')
        check(rc == errno.ENOKEY and 'disabled' in err and not meta.log,
              'AWS_EC2_METADATA_DISABLED=%s: ENOKEY, nothing asked (%s)'
              % (v, err.strip()))
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    closed = 'http://127.0.0.1:%d' % s.getsockname()[1]
    t0 = time.monotonic()
    rc, out, err = probe(dict(env, AWS_EC2_METADATA_SERVICE_ENDPOINT=closed),
                         'ls', 's3://bucket-one/m/')
    took = time.monotonic() - t0
    check(rc == errno.ENOKEY and 'no AWS credentials' in err and
          'instance metadata' in err and took < 5,
          'nothing listening at the metadata address: ENOKEY at once '
          '(%.1f s; %s)' % (took, err.strip()))
    # Listening but never answering: the default timeout (1 s a request,
    # the token then one GET, as botocore) bounds the wait.
    s.listen(16)
    t0 = time.monotonic()
    rc, out, err = probe(dict(env, AWS_EC2_METADATA_SERVICE_ENDPOINT=closed),
                         'ls', 's3://bucket-one/m/')
    took = time.monotonic() - t0
    s.close()
    check(rc == errno.ENOKEY and took < 8,
          'a metadata service that never answers: ENOKEY after the short '
          'timeout (%.1f s; %s)' % (took, err.strip()))


def test_order(srv, meta, tmp):
    env = base_env(srv, tmp, AWS_EC2_METADATA_SERVICE_ENDPOINT=meta.url)
    meta.reset()
    srv.ctl('reset')
    rc, _, err = probe(dict(env, AWS_ACCESS_KEY_ID=AKID,
                            AWS_SECRET_ACCESS_KEY=SECRET), 'ls',
                       's3://bucket-one/m/')
    check(rc == 0 and akids(srv) == [AKID] and not meta.log,
          'the environment\'s key comes first: metadata not asked')
    meta.reset()
    srv.ctl('reset')
    rc, _, err = probe(dict(env, AWS_CONTAINER_CREDENTIALS_FULL_URI=meta.url +
                            '/v2/credentials/full',
                            AWS_CONTAINER_AUTHORIZATION_TOKEN=AUTH), 'ls',
                       's3://bucket-one/m/')
    check(rc == 0 and [p for _, p, _, _ in meta.log] ==
          ['/v2/credentials/full'],
          'container credentials come before instance metadata (%s)'
          % [p for _, p, _, _ in meta.log])
    for rel in ('v2/x', '@example.com/x', '/a b'):
        rc, _, err = probe(dict(env, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=
                                rel), 'ls', 's3://bucket-one/m/')
        check(rc == errno.EINVAL and 'RELATIVE_URI' in err,
              'a relative URI %r that is not a path: EINVAL' % rel)


def in_netns(tmp):
    """The relative URI and the default metadata address, in a network
    namespace where both agents' addresses are loopback ones."""
    for cmd in (['ip', 'link', 'set', 'lo', 'up'],
                ['ip', 'addr', 'add', '169.254.170.2/32', 'dev', 'lo'],
                ['ip', 'addr', 'add', '169.254.169.254/32', 'dev', 'lo'],
                ['ip', '-6', 'addr', 'add', 'fd00:ec2::254/128', 'dev', 'lo',
                 'nodad']):
        subprocess.run(cmd, check=True)
    srv = Server(tmp)
    meta = MetaServer('0.0.0.0', 80)
    meta6 = MetaServer('fd00:ec2::254', 80)
    try:
        home = os.path.join(tmp, 'home')
        os.makedirs(home)
        fill(srv, home)
        full = 'http://127.0.0.1:80/v2/credentials/full'
        env = base_env(srv, tmp, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=
                       '/v2/credentials/rel', AWS_CONTAINER_CREDENTIALS_FULL_URI
                       =full, AWS_CONTAINER_AUTHORIZATION_TOKEN=AUTH)
        meta.reset()
        srv.ctl('reset')
        rc, out, err = probe(env, 'ls', 's3://bucket-one/m/')
        ours = [p for _, p, _, _ in meta.log]
        meta.reset()
        b = boto(env)
        theirs = [p for _, p, _, _ in meta.log]
        check(rc == 0 and akids(srv) == [ROT[0][0]] and
              ours == ['/v2/credentials/rel'] and ours == theirs and
              b['akid'] == ROT[0][0] and b['secret'] == sha(ROT[0][1]),
              'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI on 169.254.170.2 '
              'wins over the full URI, for curatefs and botocore (%s %s; '
              '%s)' % (ours, b, err.strip()))
        env = base_env(srv, tmp, AWS_METADATA_SERVICE_TIMEOUT='10')
        meta.reset()
        srv.ctl('reset')
        rc, out, err = probe(env, 'ls', 's3://bucket-one/m/')
        ours = [(m, p, t) for m, p, t, _ in meta.log]
        meta.reset()
        b = boto(env)
        theirs = [(m, p, t) for m, p, t, _ in meta.log]
        check(rc == 0 and akids(srv) == [ROT[0][0]] and len(ours) == 3 and
              ours == theirs and b['akid'] == ROT[0][0] and
              b['method'] == 'iam-role',
              'the default metadata address 169.254.169.254, for curatefs '
              'and botocore (%s %s; %s)' % (ours, b, err.strip()))
        quiet(out, err)
        modes(srv, meta, meta6, tmp)
    finally:
        meta6.stop()
        meta.stop()
        srv.stop()
    return report()


def modes(srv, meta, meta6, tmp):
    """The IPv6 address fd00:ec2::254 chosen by the profile's
    ec2_metadata_service_endpoint_mode or imds_use_ipv6, the
    environment's mode winning over the profile's, for curatefs and
    botocore alike."""
    conf = os.path.join(tmp, 'mode-config')
    env = base_env(srv, tmp, AWS_CONFIG_FILE=conf,
                   AWS_METADATA_SERVICE_TIMEOUT='10')
    cases = (('ec2_metadata_service_endpoint_mode = ipv6', {}, 6),
             ('imds_use_ipv6 = true', {}, 6),
             ('ec2_metadata_service_endpoint_mode = ipv6',
              {'AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE': 'IPv4'}, 4),
             ('ec2_metadata_service_endpoint_mode = ipv4',
              {'AWS_IMDS_USE_IPV6': 'true'}, 4))
    for line, extra, want in cases:
        with open(conf, 'w') as f:
            f.write('[default]\n%s\n' % line)
        e = dict(env, **extra)
        got = []
        for who in ('curatefs', 'botocore'):
            meta.reset()
            meta6.reset()
            srv.ctl('reset')
            if who == 'curatefs':
                rc, out, err = probe(e, 'ls', 's3://bucket-one/m/')
                ok = rc == 0 and akids(srv) == [ROT[0][0]]
            else:
                b = boto(e)
                ok = b is not None and b['akid'] == ROT[0][0]
            got.append((ok, len(meta.log), len(meta6.log)))
        exp = (True, 3, 0) if want == 4 else (True, 0, 3)
        check(got == [exp, exp], '%s %s: the IPv%d address, for curatefs '
              'and botocore ((ok, v4 requests, v6 requests): %s)'
              % (line, extra, want, got))


def main():
    tmp = tempfile.mkdtemp(prefix='s3meta-')
    try:
        if sys.argv[1:] == ['--netns']:
            return in_netns(tmp)
        srv = Server(tmp)
        meta = MetaServer()
        try:
            home = os.path.join(tmp, 'home')
            os.makedirs(home)
            fill(srv, home)
            test_imds(srv, meta, tmp)
            test_expired(srv, meta, tmp)
            test_profile_endpoint(srv, meta, tmp)
            test_no_service(srv, meta, tmp)
            test_order(srv, meta, tmp)
        finally:
            meta.stop()
            srv.stop()
        r = subprocess.run(['unshare', '--net', '/usr/bin/python3',
                            os.path.abspath(__file__), '--netns'],
                           capture_output=True, text=True, timeout=300)
        print(r.stdout, r.stderr, end='')
        check(r.returncode == 0, 'the checks in a network namespace of '
              'their own passed (exit %d)' % r.returncode)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report()


if __name__ == '__main__':
    sys.exit(main())
