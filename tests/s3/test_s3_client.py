#!/usr/bin/python3
"""The S3 client (core/net/s3.c, awsconf.c) against the loopback S3 server
(tests/s3/s3_server.py), which recomputes every signature with botocore's
signer.  The bucket is filled with awscli, and what the client lists and
reads is compared with what awscli lists and reads.

Run by meson (suite s3) with S3_PROBE set to the built tests/s3/s3_probe.

It is also the shared module of the s3 tests: the server (Server), the
setup every test repeats (Session: a temporary folder, the server, a HOME
for awscli and the settings; the mounts to clean up), check() and
report(), awscli (aws) and the curate tool (curate).
"""
import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = os.environ['S3_PROBE']
AKID, SECRET = 'AKIDCURATETEST', 'Sx9-secret/with+chars=='
TMP_AKID, TMP_SECRET, TOKEN = 'ASIACURATETMP', 'tmp-secret-0xyz', 'tok/en+1=='
OLD_AKID, OLD_SECRET, OLD_TOKEN = 'ASIACURATEOLD', 'old-secret-0xyz', 'old-tok'
# Two keys handed out in turn by a credential helper (process or container
# endpoint): the first about to expire, the second fresh.
ROT = [('ASIAROTONE', 'rot-secret-one+/=', 'rot-token-one'),
       ('ASIAROTTWO', 'rot-secret-two+/=', 'rot-token-two')]
AUTH_TOKEN = 'container-auth-tok3n'
SECRETS = [SECRET, TMP_SECRET, TOKEN, OLD_SECRET, OLD_TOKEN, AUTH_TOKEN] + \
    [x for k in ROT for x in k[1:]]
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print('FAIL:', what)
    else:
        print('ok:', what)


class Server:
    def __init__(self, tmp, region='eu-central-1'):
        self.pf = os.path.join(tmp, 'port')
        self.region = region
        self.p = subprocess.Popen(
            ['/usr/bin/python3', os.path.join(HERE, 's3_server.py'),
             '--port-file', self.pf, '--region', region,
             '--key', '%s:%s' % (AKID, SECRET),
             '--key', '%s:%s:%s:%d' % (TMP_AKID, TMP_SECRET, TOKEN,
                                       time.time() + 3600),
             '--key', '%s:%s:%s:%d' % (OLD_AKID, OLD_SECRET, OLD_TOKEN,
                                       time.time() - 60)] +
            [a for k in ROT for a in ('--key', '%s:%s:%s' % k)])
        for _ in range(200):
            if os.path.exists(self.pf):
                break
            time.sleep(0.05)
        self.port = int(open(self.pf).read())
        self.url = 'http://127.0.0.1:%d' % self.port

    def ctl(self, path, method='POST'):
        req = urllib.request.Request(self.url + '/_ctl/' + path, data=b''
                                     if method == 'POST' else None,
                                     method=method)
        with urllib.request.urlopen(req) as r:
            return r.read().decode()

    def log(self):
        return [json.loads(x) for x in self.ctl('log', 'GET').splitlines()]

    def stop(self):
        self.p.terminate()
        self.p.wait()


def report():
    """Prints the failures collected by check(); the exit status of main."""
    if FAILS:
        print('%d failed' % len(FAILS))
        for f in FAILS:
            print('  ', f)
        return 1
    print('all passed')
    return 0


class Session:
    """One test's setting: a temporary folder (prefix), the loopback
    server in it, a HOME for awscli, the settings env for the tools (with
    export, also put into os.environ so that the daemons inherit them),
    and the list of the test's mounts (mounts), cleaned up by close()."""

    def __init__(self, prefix, region='us-east-1', export=True):
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.srv = Server(self.tmp, region=region)
        self.mounts = []
        try:
            self.home = os.path.join(self.tmp, 'home')
            os.makedirs(self.home)
            self.env = env_for(self.srv, self.home)
            if export:
                os.environ.update(self.env)
        except BaseException:
            self.close()
            raise

    def close(self):
        for m in self.mounts:
            m.cleanup()
        self.srv.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def curate(env, *args):
    """Runs the curate tool (CURATE) with env; its output, or raises."""
    r = subprocess.run([os.environ['CURATE']] + list(args), env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError('curate %s: %s' % (args, r.stderr))
    return r.stdout


def read(p):
    with open(p, 'rb') as f:
        return f.read()


def env_for(srv, home, **extra):
    e = {'PATH': os.environ['PATH'], 'HOME': home,
         'AWS_ACCESS_KEY_ID': AKID, 'AWS_SECRET_ACCESS_KEY': SECRET,
         'AWS_REGION': srv.region, 'AWS_ENDPOINT_URL': srv.url,
         'AWS_EC2_METADATA_DISABLED': 'true'}
    for k, v in extra.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return e


def aws(srv, home, *args):
    r = subprocess.run(['/usr/bin/aws', '--endpoint-url', srv.url] +
                       list(args), env=env_for(srv, home),
                       capture_output=True)
    if r.returncode != 0:
        raise RuntimeError('aws %s: %s' % (args, r.stderr.decode()))
    return r.stdout


def probe(env, *args):
    r = subprocess.run([PROBE] + list(args), env=env, capture_output=True)
    err = r.stderr.decode()
    for s in SECRETS:
        if s in err or s.encode() in r.stdout:
            FAILS.append('a secret appeared in the output of %s' % (args,))
    return r.returncode, r.stdout, err


def fill(srv, home, tmp):
    src = os.path.join(tmp, 'src')
    os.makedirs(os.path.join(src, 'many'))
    os.makedirs(os.path.join(src, 'odd', 'sub dir'))
    for i in range(1205):
        with open(os.path.join(src, 'many', 'f%05d.bin' % i), 'wb') as f:
            f.write(hashlib.sha256(b'%d' % i).digest() * (1 + i % 7))
    names = ['a b+c=d&e.txt', 'caf\u00e9 \u00fcml.jpg', 'x%41y.txt',
             'sub dir/semi;colon,comma.txt', "quote'tilde~star*.txt"]
    for n in names:
        with open(os.path.join(src, 'odd', n), 'wb') as f:
            f.write(os.urandom(3000) + n.encode())
    aws(srv, home, 's3', 'mb', 's3://bucket-one')
    aws(srv, home, 's3', 'sync', '--only-show-errors', src, 's3://bucket-one/')
    return src


def listing_by_awscli(srv, home, prefix):
    out, token = {}, None
    while True:
        args = ['s3api', 'list-objects-v2', '--bucket', 'bucket-one',
                '--prefix', prefix, '--no-paginate', '--output', 'json']
        if token:
            args += ['--continuation-token', token]
        d = json.loads(aws(srv, home, *args) or b'{}')
        for o in d.get('Contents', []):
            out[o['Key']] = (o['Size'], o['ETag'])
        token = d.get('NextContinuationToken')
        if not token:
            return out


def parse_ls(stdout):
    out = {}
    for line in stdout.decode().splitlines():
        k, size, etag = line.split('\t')
        out[k] = (int(size), etag)
    return out


def test_listing_and_reads(srv, home, src):
    env = env_for(srv, home)
    srv.ctl('reset')
    rc, out, err = probe(env, 'ls', 's3://bucket-one/')
    check(rc == 0, 'ls of the whole bucket succeeds (%s)' % err.strip())
    mine, theirs = parse_ls(out), listing_by_awscli(srv, home, '')
    check(len(mine) == 1210 and mine == theirs,
          'the listing equals awscli\'s: %d keys, sizes, ETags' % len(mine))
    pages = [r for r in srv.log() if 'list-type=2' in r['query'] and
             r['method'] == 'GET' and r['status'] == 200]
    check(len([p for p in pages if 'continuation-token' in p['query']]) >= 1,
          'the listing of 1,210 keys took continuation pages')
    rc, out, err = probe(env, 'ls', 's3://bucket-one/odd/')
    check(rc == 0 and set(parse_ls(out)) ==
          set(listing_by_awscli(srv, home, 'odd/')) and
          len(parse_ls(out)) == 5,
          'a prefix with spaces, UTF-8 and reserved characters lists alike')
    for key in sorted(parse_ls(out)):
        path = os.path.join(src, key)
        data = open(path, 'rb').read()
        rc, got, err = probe(env, 'get', 's3://bucket-one/' + key)
        check(rc == 0 and got == data, 'whole read of %r' % key)
        rc, got, err = probe(env, 'get', 's3://bucket-one/' + key, '100',
                             '50')
        aws(srv, home, 's3api', 'get-object', '--bucket', 'bucket-one',
            '--key', key, '--range', 'bytes=100-149',
            os.path.join(home, 'part'))
        check(rc == 0 and got == data[100:150] and
              got == open(os.path.join(home, 'part'), 'rb').read() and
              'total=%d' % len(data) in err,
              'range 100+50 of %r equals awscli\'s and the total is known'
              % key)
    key = 'many/f00003.bin'
    etag = parse_ls(probe(env, 'ls', 's3://bucket-one/many/f00003')[1])[key][1]
    rc, got, err = probe(env, 'get', 's3://bucket-one/' + key, '0', '0',
                         etag)
    check(rc == 0, 'If-Match with the listed ETag reads')
    rc, got, err = probe(env, 'get', 's3://bucket-one/' + key, '0', '0',
                         '"0123456789abcdef0123456789abcdef"')
    check(rc == errno.ESTALE and 'PreconditionFailed' in err,
          'If-Match with another ETag: ESTALE (%d, %s)' % (rc, err.strip()))
    rc, _, err = probe(env, 'get', 's3://bucket-one/many/nope.bin')
    check(rc == errno.ENOENT and 'NoSuchKey' in err,
          'a missing key: ENOENT with NoSuchKey')
    rc, _, err = probe(env, 'ls', 's3://no-such-bucket/')
    check(rc == errno.ENOENT and 'NoSuchBucket' in err,
          'a missing bucket: ENOENT with NoSuchBucket')
    rc, _, err = probe(env, 'get', 's3://bucket-one/' + key, '999999', '10')
    check(rc == errno.ERANGE, 'a range past the end: ERANGE')
    # A key with a control character: listed through encoding-type=url.
    ctl = os.path.join(home, 'ctl.bin')
    with open(ctl, 'wb') as f:
        f.write(b'control')
    aws(srv, home, 's3api', 'put-object', '--bucket', 'bucket-one', '--key',
        'ctl/a\x01b.bin', '--body', ctl)
    rc, out, err = probe(env, 'ls', 's3://bucket-one/ctl/')
    check(rc == 0 and parse_ls(out).get('ctl/a\x01b.bin', (0,))[0] == 7,
          'a key with a control character is listed (encoding-type=url)')
    rc, got, err = probe(env, 'get', 's3://bucket-one/ctl/a\x01b.bin')
    check(rc == 0 and got == b'control', 'and read')
    rc, _, err = probe(env, 'ls', 's3://bucket-one/x/../many/')
    check(rc == errno.EINVAL, 'a prefix with a ".." part is refused')
    rc, _, err = probe(env, 'ls', 'http://bucket-one/')
    check(rc == errno.EINVAL and 's3://' in err, 'not an s3:// URL: EINVAL')
    rc, _, err = probe(env, 'ls', 's3://Bad_Bucket/')
    check(rc == errno.EINVAL, 'an invalid bucket name: EINVAL')


def test_credentials(srv, home):
    rc, _, err = probe(env_for(srv, home, AWS_SECRET_ACCESS_KEY='wrong'),
                       'ls', 's3://bucket-one/odd/')
    check(rc == errno.EACCES and 'SignatureDoesNotMatch' in err and
          'wrong' not in err,
          'a wrong secret: EACCES, SignatureDoesNotMatch, secret not shown')
    rc, _, err = probe(env_for(srv, home, AWS_ACCESS_KEY_ID='AKIDNOBODY'),
                       'ls', 's3://bucket-one/odd/')
    check(rc == errno.EACCES and 'InvalidAccessKeyId' in err,
          'an unknown key: EACCES, InvalidAccessKeyId')
    rc, _, err = probe(env_for(srv, home, AWS_REGION='us-west-2'), 'ls',
                       's3://bucket-one/odd/')
    check(rc == errno.EINVAL and 'us-west-2' in err and srv.region in err,
          'the wrong region: EINVAL naming both regions (%s)' % err.strip())
    e = env_for(srv, home, AWS_ACCESS_KEY_ID=TMP_AKID,
                AWS_SECRET_ACCESS_KEY=TMP_SECRET, AWS_SESSION_TOKEN=TOKEN)
    rc, out, err = probe(e, 'ls', 's3://bucket-one/odd/')
    check(rc == 0 and len(parse_ls(out)) == 5,
          'a session token is sent and signed (%s)' % err.strip())
    e = env_for(srv, home, AWS_ACCESS_KEY_ID=TMP_AKID,
                AWS_SECRET_ACCESS_KEY=TMP_SECRET)
    rc, _, err = probe(e, 'ls', 's3://bucket-one/odd/')
    check(rc == errno.EKEYEXPIRED and 'InvalidToken' in err,
          'temporary credentials without their token: EKEYEXPIRED')
    e = env_for(srv, home, AWS_ACCESS_KEY_ID=OLD_AKID,
                AWS_SECRET_ACCESS_KEY=OLD_SECRET, AWS_SESSION_TOKEN=OLD_TOKEN)
    rc, _, err = probe(e, 'ls', 's3://bucket-one/odd/')
    check(rc == errno.EKEYEXPIRED and 'ExpiredToken' in err,
          'an expired session token: EKEYEXPIRED, ExpiredToken')
    # Profiles: credentials file, config file, AWS_PROFILE.
    aws_dir = os.path.join(home, '.aws')
    os.makedirs(aws_dir, exist_ok=True)
    with open(os.path.join(aws_dir, 'credentials'), 'w') as f:
        f.write('[default]\naws_access_key_id = AKIDNOBODY\n'
                'aws_secret_access_key = nope\n\n'
                '# a comment\n[team]\naws_access_key_id = %s\n'
                'aws_secret_access_key = %s\naws_session_token = %s\n'
                % (TMP_AKID, TMP_SECRET, TOKEN))
    with open(os.path.join(aws_dir, 'config'), 'w') as f:
        f.write('[default]\nregion = ap-south-1\n\n[profile team]\n'
                'region = %s\nendpoint_url = %s\ns3 =\n'
                '  addressing_style = virtual\n' %
                (srv.region, srv.url.replace('127.0.0.1', 'localhost')))
    base = env_for(srv, home, AWS_ACCESS_KEY_ID=None,
                   AWS_SECRET_ACCESS_KEY=None, AWS_REGION=None,
                   AWS_ENDPOINT_URL=None, AWS_PROFILE='team')
    rc, out, err = probe(base, 'conf')
    check(rc == 0 and 'from=profile \'team\'' in out.decode() and
          'region=%s' % srv.region in out.decode() and
          'path_style=0' in out.decode() and 'token=1' in out.decode(),
          'AWS_PROFILE=team: credentials, token, region, endpoint and '
          'virtual-hosted addressing from the two files')
    srv.ctl('reset')
    rc, out, err = probe(base, 'ls', 's3://bucket-one/odd/')
    log = srv.log()
    check(rc == 0 and len(parse_ls(out)) == 5 and log and
          all(not r['path'].startswith('/bucket-one') for r in log),
          'virtual-hosted addressing: the bucket is in the Host, not the path'
          ' (%s)' % err.strip())
    rc, _, err = probe(dict(base, AWS_PROFILE='nosuch'), 'ls',
                       's3://bucket-one/')
    check(rc == errno.ENOENT and 'nosuch' in err,
          'AWS_PROFILE naming no profile: ENOENT')
    e = dict(base)
    e.pop('AWS_PROFILE')
    e['HOME'] = os.path.join(home, 'empty')
    rc, _, err = probe(e, 'ls', 's3://bucket-one/')
    check(rc == errno.ENOKEY and 'AWS_ACCESS_KEY_ID' in err,
          'no credentials anywhere: ENOKEY saying where to put them')
    rc, _, err = probe(env_for(srv, home, AWS_ENDPOINT_URL='ftp://x'), 'ls',
                       's3://bucket-one/')
    check(rc == errno.EINVAL and 'endpoint' in err,
          'an ftp:// endpoint: EINVAL')


HELPER = r'''
import datetime, json, sys
keys = %r
n = int(open(sys.argv[1]).read() or 0) if len(sys.argv) > 1 else 0
open(sys.argv[1], 'w').write(str(n + 1))
if sys.argv[2:] == ['fail']:
    sys.exit(3)
k = keys[min(n, 1)]
# The first key expires in just over the refresh margin (300 s).
exp = datetime.datetime.utcnow() + datetime.timedelta(
    seconds=302 if n == 0 else 3600)
print(json.dumps({'Version': 1, 'AccessKeyId': k[0], 'SecretAccessKey': k[1],
                  'SessionToken': k[2],
                  'Expiration': exp.strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ')}))
'''


# A key whose Expiration is argv[1] seconds ago, written in the local time
# of the UTC offset argv[2] hours.
OFFSET_HELPER = r'''
import datetime, json, sys
k = %r[0]
tz = datetime.timezone(datetime.timedelta(hours=int(sys.argv[2])))
exp = datetime.datetime.now(tz) - datetime.timedelta(seconds=int(sys.argv[1]))
print(json.dumps({'Version': 1, 'AccessKeyId': k[0], 'SecretAccessKey': k[1],
                  'SessionToken': k[2], 'Expiration': exp.isoformat()}))
'''


# A key whose Expiration is the ISO text argv[1] (an impossible date).
ODD_DATES = ('-2147483648-01-01T00:00:00Z', '2030--2147483648-01T00:00:00Z',
             '2030-13-01T00:00:00Z')
ODD_DATE_HELPER = r'''
import json, sys
k = %r[0]
print(json.dumps({'Version': 1, 'AccessKeyId': k[0], 'SecretAccessKey': k[1],
                  'SessionToken': k[2], 'Expiration': sys.argv[1]}))
'''


class ContainerEndpoint:
    """The container credentials endpoint of ECS/EKS on loopback: GET with
    the Authorization token answers the rotating keys as JSON."""

    def __init__(self):
        import http.server
        import threading
        outer = self
        self.hits, self.bad = 0, 0

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.headers.get('Authorization') != AUTH_TOKEN or \
                        self.path != '/v2/credentials/abc':
                    outer.bad += 1
                    self.send_response(401)
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                    return
                import datetime
                k = ROT[min(outer.hits, 1)]
                exp = datetime.datetime.utcnow() + datetime.timedelta(
                    seconds=302 if outer.hits == 0 else 3600)
                outer.hits += 1
                body = json.dumps({
                    'RoleArn': 'arn:aws:iam::123456789012:role/t',
                    'AccessKeyId': k[0], 'SecretAccessKey': k[1],
                    'Token': k[2],
                    'Expiration': exp.strftime('%Y-%m-%dT%H:%M:%SZ')}).encode()
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
        self.url = 'http://127.0.0.1:%d/v2/credentials/abc' % \
            self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()


def test_helper_credentials(srv, home, tmp):
    """credential_process and container credentials: used when neither the
    environment nor the profile holds keys, and refreshed before expiry on
    a client that stays open."""
    helper = os.path.join(tmp, 'cred_helper.py')
    with open(helper, 'w') as f:
        f.write(HELPER % (ROT,))
    count = os.path.join(tmp, 'helper-count')
    open(count, 'w').close()
    offset_helper = os.path.join(tmp, 'cred_offset.py')
    with open(offset_helper, 'w') as f:
        f.write(OFFSET_HELPER % (ROT,))
    odd_helper = os.path.join(tmp, 'cred_odd_date.py')
    with open(odd_helper, 'w') as f:
        f.write(ODD_DATE_HELPER % (ROT,))
    phome = os.path.join(tmp, 'phome')
    os.makedirs(os.path.join(phome, '.aws'))
    with open(os.path.join(phome, '.aws', 'config'), 'w') as f:
        f.write('[profile proc]\ncredential_process = /usr/bin/python3 %s %s\n'
                '[profile broken]\ncredential_process = /usr/bin/python3 %s '
                '%s fail\n'
                '[profile hangs]\ncredential_process = /usr/bin/python3 -c '
                '"import sys, time; sys.stdin.read(); time.sleep(600)"\n' %
                (helper, count, helper, count + '-b'))
        for name, ago, off in (('late', 3600, 5), ('west', -3600, -5)):
            f.write('[profile %s]\ncredential_process = /usr/bin/python3 '
                    '%s %d %d\n' % (name, offset_helper, ago, off))
        for i, date in enumerate(ODD_DATES):
            f.write('[profile odd%d]\ncredential_process = /usr/bin/python3 '
                    '%s %s\n' % (i, odd_helper, date))
    base = env_for(srv, phome, AWS_ACCESS_KEY_ID=None,
                   AWS_SECRET_ACCESS_KEY=None)
    srv.ctl('reset')
    rc, out, err = probe(dict(base, AWS_PROFILE='proc'), 'ls2',
                         's3://bucket-one/odd/', '3')
    akids = [r['akid'] for r in srv.log()
                 if not r['path'].startswith('/_ctl')]
    check(rc == 0 and out.decode().count('\n') == 10 and
          open(count).read() == '2' and akids == [ROT[0][0], ROT[1][0]],
          'credential_process: its key signs, and a key about to expire is '
          'fetched again before the next request (%s; %s)' %
          (akids, err.strip()))
    # An Expiration with a UTC offset is that instant: a key that expired
    # an hour ago written in +05:00 (read as UTC it would look valid for
    # four more hours), and a valid one written in -05:00 (read as UTC it
    # would look expired).
    for name, ago, off, want in (('late', 3600, 5, errno.EKEYEXPIRED),
                                 ('west', -3600, -5, 0)):
        rc, _, err = probe(dict(base, AWS_PROFILE=name), 'ls',
                           's3://bucket-one/odd/')
        check(rc == want and (want == 0 or 'already expired' in err),
              'credential_process: an Expiration %+d s from now written '
              'with the offset %+03d:00 is that instant (%d %s)'
              % (-ago, off, rc, err.strip()))
    # Dates no ISO 8601 text holds (a year or month far out of range):
    # refused as such, no arithmetic overflow on the way (UBSan).
    for i, date in enumerate(ODD_DATES):
        rc, _, err = probe(dict(base, AWS_PROFILE='odd%d' % i), 'ls',
                           's3://bucket-one/odd/')
        check(rc == errno.EBADMSG and 'not an ISO 8601 time' in err,
              'credential_process: Expiration %s refused as not ISO 8601 '
              '(%d %s)' % (date, rc, err.strip()))
    open(count + '-b', 'w').close()
    rc, _, err = probe(dict(base, AWS_PROFILE='broken'), 'ls',
                       's3://bucket-one/odd/')
    check(rc == errno.EACCES and 'credential_process' in err and
          'exit status 3' in err,
          'a failing credential_process: EACCES naming it (%s)' % err.strip())

    # A helper that never answers (here: one waiting for input, then
    # sleeping) must not hang every read of the daemon: it is given no
    # input and is stopped after the time limit.
    t0 = time.monotonic()
    try:
        r = subprocess.run([PROBE, 'ls', 's3://bucket-one/odd/'],
                           env=dict(base, AWS_PROFILE='hangs'),
                           capture_output=True, timeout=120,
                           stdin=subprocess.PIPE)
        rc, err = r.returncode, r.stderr.decode()
    except subprocess.TimeoutExpired:
        rc, err = None, 'still running after 120 s'
    took = time.monotonic() - t0
    check(rc == errno.ETIMEDOUT and 'credential_process' in err and
          took < 100,
          'a credential_process that never answers: ETIMEDOUT after the '
          'time limit (%s %s, %.0f s)' % (rc, err.strip(), took))

    ep = ContainerEndpoint()
    try:
        tokfile = os.path.join(tmp, 'auth-token')
        with open(tokfile, 'w') as f:
            f.write(AUTH_TOKEN + '\n')
        e = dict(base, AWS_CONTAINER_CREDENTIALS_FULL_URI=ep.url,
                 AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=tokfile)
        e['HOME'] = os.path.join(tmp, 'nohome')
        srv.ctl('reset')
        rc, out, err = probe(e, 'ls2', 's3://bucket-one/odd/', '3')
        akids = [r['akid'] for r in srv.log()
                 if not r['path'].startswith('/_ctl')]
        check(rc == 0 and out.decode().count('\n') == 10 and
              ep.hits == 2 and ep.bad == 0 and akids == [ROT[0][0], ROT[1][0]],
              'container credentials: the token file is sent, the key '
              'signs and is refreshed before expiry (%s; %s)' %
              (akids, err.strip()))
        e2 = dict(e, AWS_CONTAINER_AUTHORIZATION_TOKEN='wrong')
        e2.pop('AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE')
        rc, _, err = probe(e2, 'ls', 's3://bucket-one/odd/')
        check(rc == errno.EACCES and 'HTTP 401' in err and
              'wrong' not in err,
              'a refused container token: EACCES, the token not shown')
        rc, _, err = probe(dict(e, AWS_CONTAINER_CREDENTIALS_FULL_URI=
                                'http://example.com/creds'), 'ls',
                           's3://bucket-one/odd/')
        check(rc == errno.EINVAL and 'loopback' in err,
              'plain http to a non-loopback credentials endpoint: EINVAL')
        for url in ('http://127.example.com/creds',
                    'http://127.0.0.1@example.com/creds',
                    'http://localhost:1@example.com/creds',
                    'http://169.254.170.2.example.com/creds'):
            rc, _, err = probe(dict(e, AWS_CONTAINER_CREDENTIALS_FULL_URI=
                                    url), 'ls', 's3://bucket-one/odd/')
            check(rc == errno.EINVAL and 'loopback' in err,
                  'plain http to %s, a host that only looks like a loopback '
                  'address: EINVAL, nothing sent (%d %s)' %
                  (url, rc, err.strip()))
    finally:
        ep.stop()


def test_faults(srv, home):
    env = env_for(srv, home)
    srv.ctl('reset')
    srv.ctl('fault?kind=slowdown&count=3')
    rc, out, err = probe(env, 'ls', 's3://bucket-one/odd/')
    check(rc == 0 and len(parse_ls(out)) == 5,
          'three 503 SlowDown answers are retried through')
    srv.ctl('fault?kind=error500&op=list&page=2')
    rc, out, err = probe(env, 'ls', 's3://bucket-one/many/')
    check(rc == 0 and len(parse_ls(out)) == 1205,
          'a 500 on the second listing page is retried; no key lost')
    data = open(os.path.join(home, '..', 'src', 'many', 'f00006.bin'),
                'rb').read()
    srv.ctl('fault?kind=drop&op=get&count=2&after=20')
    rc, got, err = probe(env, 'get', 's3://bucket-one/many/f00006.bin')
    check(rc == 0 and got == data,
          'a GET dropped twice mid-body is retried and whole')
    srv.ctl('fault?kind=mutate&bucket=bucket-one&key=many/f00001.bin')
    rc, out, err = probe(env, 'ls', 's3://bucket-one/many/f00001')
    etag = parse_ls(out)['many/f00001.bin'][1]
    rc, _, err = probe(env, 'get', 's3://bucket-one/many/f00001.bin', '0',
                       '0', etag)
    check(rc == errno.ESTALE, 'an object changed after the listing: ESTALE')
    srv.ctl('fault?kind=slowdown&count=100')
    t0 = time.time()
    rc, _, err = probe(env, 'ls', 's3://bucket-one/odd/')
    check(rc == errno.EAGAIN and 'SlowDown' in err,
          'a 503 storm past the retries: EAGAIN with SlowDown (%.1f s)' %
          (time.time() - t0))
    srv.ctl('reset')


def test_server_is_strict(srv, home):
    """The test server refuses what S3 refuses: checked with curl's own
    signer, so our client's care is not what makes the tests pass."""
    base = ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}']
    sig = ['--aws-sigv4', 'aws:amz:%s:s3' % srv.region, '--user',
           '%s:%s' % (AKID, SECRET), '-H',
           'x-amz-content-sha256: UNSIGNED-PAYLOAD']
    url = srv.url + '/bucket-one?list-type=2&prefix=odd%2F'
    code = subprocess.run(base + sig + [url], capture_output=True,
                          text=True).stdout
    check(code == '200', 'curl --aws-sigv4 with a sorted query: 200')
    url = srv.url + '/bucket-one?prefix=odd%2F&list-type=2'
    code = subprocess.run(base + sig + [url], capture_output=True,
                          text=True).stdout
    check(code == '403', 'curl --aws-sigv4 with an unsorted query: 403, as '
          'S3 (libcurl 7.88 signs the query as given)')
    code = subprocess.run(base + [srv.url + '/bucket-one?list-type=2'],
                          capture_output=True, text=True).stdout
    check(code == '403', 'an unsigned request: 403')
    code = subprocess.run(base + sig[:4] + [url.replace('prefix=odd%2F&', '')],
                          capture_output=True, text=True).stdout
    check(code == '400', 'no x-amz-content-sha256: 400')


def main():
    s = Session('s3test-', region='eu-central-1', export=False)
    srv, tmp, home = s.srv, s.tmp, s.home
    try:
        src = fill(srv, home, tmp)
        test_listing_and_reads(srv, home, src)
        test_server_is_strict(srv, home)
        test_faults(srv, home)
        test_credentials(srv, home)
        test_helper_credentials(srv, home, tmp)
    finally:
        s.close()
    return report()


if __name__ == '__main__':
    sys.exit(main())
