#!/usr/bin/python3
"""`curate import s3://bucket/prefix` against the loopback S3 server (which
checks every signature with botocore's signer), the bucket filled with
awscli from a folder of real JPEG and PNG files.

The bucket import must give the same samples, sizes, formats and features
as importing the folder itself; a headers-only import must read only
ranged parts of each object; a re-import must fetch nothing; changed,
deleted and concurrently modified objects must be handled as a folder's
files are; refused credentials must change nothing and show no secret.

Run by meson (suite s3) with CURATE and MKJPEG set.
"""
import csv
import io
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_s3_client import (AKID, SECRET, Session, aws, check,  # noqa
                            env_for, FAILS, report)

CURATE = os.environ['CURATE']
MKJPEG = os.environ['MKJPEG']


def curate(env, *args):
    r = subprocess.run([CURATE] + list(args), env=env, capture_output=True,
                       text=True)
    for s in (SECRET,):
        if s in r.stdout or s in r.stderr:
            FAILS.append('a secret appeared in the output of curate %s' %
                         (args,))
    return r


def table(env, store):
    r = curate(env, 'table', '--store', store)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return {row['name']: row for row in csv.DictReader(io.StringIO(r.stdout))}


def gets(srv):
    return [r for r in srv.log() if r['method'] == 'GET' and
            'list-type' not in r['query']]


def main():
    s = Session('s3import-', export=False)
    srv, tmp, home, env = s.srv, s.tmp, s.home, s.env
    try:
        src = os.path.join(tmp, 'src')
        subprocess.run([MKJPEG, '-n', '60', '-d', '3', '-s', '5', src],
                       check=True, capture_output=True)
        shutil.copy('/usr/share/pixmaps/debian-logo.png',
                    os.path.join(src, 'logo.png'))
        with open(os.path.join(src, 'notes.txt'), 'w') as f:
            f.write('not an image\n')
        with open(os.path.join(src, 'photo.heic'), 'wb') as f:
            f.write(b'\0' * 100)
        with open(os.path.join(src, '.hidden.jpg'), 'wb') as f:
            f.write(b'\0' * 100)
        aws(srv, home, 's3', 'mb', 's3://photos')
        aws(srv, home, 's3', 'sync', '--only-show-errors', src,
            's3://photos/sets/one/')
        aws(srv, home, 's3api', 'put-object', '--bucket', 'photos', '--key',
            'sets/one/d00/../escape.jpg', '--body',
            os.path.join(src, 'logo.png'))
        aws(srv, home, 's3', 'cp', '--only-show-errors',
            os.path.join(src, 'logo.png'), 's3://photos/sets/other/x.png')

        folder = os.path.join(tmp, 'folder-store')
        r = curate(env, 'import', '--store', folder, src)
        check(r.returncode == 0, 'the folder imports (%s)' % r.stderr[-300:])

        # Headers only: ranged reads, nothing whole.
        hdr = os.path.join(tmp, 'hdr-store')
        srv.ctl('reset')
        r = curate(env, 'import', '--store', hdr, '--no-hash',
                   '--no-features', 's3://photos/sets/one')
        g = gets(srv)
        check(r.returncode == 0 and len(g) == 61 and
              all(x['bytes'] <= 65536 for x in g) and
              all(x['range'] for x in g if x['bytes'] == 65536),
              'a headers-only import reads one range of at most 64 KiB '
              'per object (%d GETs, %d bytes)' %
              (len(g), sum(x['bytes'] for x in g)))
        check('escape.jpg' in r.stderr and 'not usable' in r.stderr,
              'a key with a ".." part is reported, not imported')
        check('photo.heic' in r.stderr, 'an unsupported image is reported')

        bucket = os.path.join(tmp, 'bucket-store')
        r = curate(env, 'import', '--store', bucket, 's3://photos/sets/one/')
        check(r.returncode == 0 and '61 new' in r.stdout,
              'the bucket imports: 61 new (%s %s)' % (r.stdout, r.stderr))
        a, b = table(env, folder), table(env, bucket)
        keys = ['path', 'format', 'width', 'height', 'bytes', 'uniqueness',
                'unique_rank', 'neardup_group', 'nn_distance']
        check(set(a) == set(b) and len(a) == 61 and
              all(a[n][k] == b[n][k] for n in a for k in keys),
              'the bucket import equals the folder import: names, paths, '
              'formats, sizes, uniqueness and neighbours')

        srv.ctl('reset')
        r = curate(env, 'import', '--store', bucket, 's3://photos/sets/one/')
        check(r.returncode == 0 and '61 unchanged' in r.stdout and
              not gets(srv), 'a re-import fetches nothing (%s)' % r.stdout)

        # A changed object and a deleted one.
        one = sorted(n for n in os.listdir(os.path.join(src, 'd01')))[0]
        aws(srv, home, 's3', 'cp', '--only-show-errors',
            os.path.join(src, 'logo.png'),
            's3://photos/sets/one/d01/' + one)
        aws(srv, home, 's3', 'rm', '--only-show-errors',
            's3://photos/sets/one/d02/' + sorted(os.listdir(
                os.path.join(src, 'd02')))[0])
        r = curate(env, 'import', '--store', bucket, 's3://photos/sets/one')
        check(r.returncode == 0 and '1 changed' in r.stdout and
              '1 missing' in r.stdout,
              'a rewritten object is changed (its ETag), a deleted one '
              'missing (%s)' % r.stdout)
        t = table(env, bucket)
        row = [v for v in t.values() if v['path'] == 'd01/' + one][0]
        check(row['width'] == '256' or row['format'] == 'png',
              'the changed object is read again: %s %s' %
              (row['format'], row['width']))

        # An object changed between the listing and its read.
        two = sorted(os.listdir(os.path.join(src, 'd00')))[1]
        aws(srv, home, 's3', 'cp', '--only-show-errors',
            os.path.join(src, 'logo.png'),
            's3://photos/sets/one/d00/' + two)
        srv.ctl('fault?kind=mutate&bucket=photos&key=sets/one/d00/' + two)
        r = curate(env, 'import', '--store', bucket, 's3://photos/sets/one')
        check(r.returncode == 0 and 'changed while it was being imported'
              in r.stderr, 'an object changed after the listing is skipped '
              'with a reason (%s)' % r.stderr)
        r = curate(env, 'import', '--store', bucket, 's3://photos/sets/one')
        check(r.returncode == 0 and 'd00/%s: truncated' % two in r.stderr,
              'the next import reads it again: the test server\'s change '
              'cut the PNG short (%s)' % r.stderr)

        # Faults: a short 503 storm is retried through.
        srv.ctl('fault?kind=slowdown&count=3')
        fresh = os.path.join(tmp, 'storm-store')
        r = curate(env, 'import', '--store', fresh, '--no-features',
                   's3://photos/sets/one')
        check(r.returncode == 0 and '59 new' in r.stdout,
              'an import through a 503 storm completes (%s %s)' %
              (r.stdout, r.stderr))

        # A storm past the retries: a clear error, the store unchanged.
        before = open(os.path.join(fresh, 'data.mdb'), 'rb').read()
        srv.ctl('fault?kind=slowdown&count=100')
        r = curate(env, 'import', '--store', fresh, '--no-features',
                   's3://photos/sets/one')
        srv.ctl('reset')
        check(r.returncode == 1 and 'SlowDown' in r.stderr and
              open(os.path.join(fresh, 'data.mdb'), 'rb').read() == before,
              'a 503 storm past the retries: exit 1 with S3\'s reason, the '
              'store as it was (%s)' % r.stderr.strip())
        # Two objects changed, then every GET dropped: their samples stay
        # as they were (not missing), and the next import takes them.
        r = curate(env, 'import', '--store', fresh, '--no-features',
                   's3://photos/sets/one')     # up to date first
        skipped = int(re.search(r'(\d+) skipped', r.stdout).group(1))
        rows = table(env, fresh)
        d02 = sorted(v['path'][4:] for v in rows.values()
                     if v['path'].startswith('d02/'))[:2]
        for f in d02:
            aws(srv, home, 's3', 'cp', '--only-show-errors',
                os.path.join(src, 'logo.png'), 's3://photos/sets/one/d02/' + f)
        srv.ctl('fault?kind=drop&op=get&count=1000&after=10')
        r = curate(env, 'import', '--store', fresh, '--no-features',
                   's3://photos/sets/one')
        srv.ctl('reset')
        after = table(env, fresh)
        check(r.returncode == 0 and '%d skipped' % (skipped + 2) in r.stdout
              and '0 missing' in r.stdout and
              r.stderr.count('kept as it was') == 2 and after == rows,
              'two changed objects whose GETs are dropped past the retries: '
              'skipped, their samples kept as they were, none missing (%s)'
              % r.stdout.strip())
        r = curate(env, 'import', '--store', fresh, '--no-features',
                   's3://photos/sets/one')
        after = table(env, fresh)
        check(r.returncode == 0 and '2 changed' in r.stdout and
              sorted(v['format'] for v in after.values()
                     if v['path'] in ['d02/' + f for f in d02]) ==
              ['png', 'png'],
              'the next import takes them (%s)' % r.stdout.strip())

        # Refusals change nothing and show no secret.
        before = open(os.path.join(bucket, 'data.mdb'), 'rb').read()
        r = curate(env_for(srv, home, AWS_SECRET_ACCESS_KEY='x' + SECRET),
                   'import', '--store', bucket, 's3://photos/sets/one')
        check(r.returncode == 1 and 'SignatureDoesNotMatch' in r.stderr,
              'a wrong secret: exit 1 with S3\'s reason')
        r = curate(env, 'import', '--store', bucket, 's3://photos/sets/other')
        check(r.returncode == 1 and 'belongs to' in (r.stdout + r.stderr),
              'another prefix into the same store is refused')
        check(open(os.path.join(bucket, 'data.mdb'), 'rb').read() == before,
              'refused imports leave the store as it was')
        for f in os.listdir(bucket):
            data = open(os.path.join(bucket, f), 'rb').read()
            check(SECRET.encode() not in data and AKID.encode() not in data,
                  'no credential in the store file %s' % f)
        r = curate(env, 'import', '--store', bucket, 's3://Bad_Bucket/x')
        check(r.returncode == 1 and 'bucket name' in r.stderr,
              'an invalid bucket name: a clear error')
    finally:
        s.close()
    return report()


if __name__ == '__main__':
    sys.exit(main())
