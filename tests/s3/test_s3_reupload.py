#!/usr/bin/python3
"""A versioned bucket where an image is uploaded again with the same bytes
(`aws s3 cp` of an unchanged file: a new version, the same ETag) and its
older version then deleted (as a lifecycle rule expiring noncurrent
versions does).  A re-import sees the same ETag and size and keeps the
sample as it was, with the old version id in its record, so the mount's
versioned read meets NoSuchVersion.  The bytes the import saw are still
in the bucket under that ETag: the mount reads the current version, held
by If-Match to the recorded ETag, and serves them.  An object that is
really gone (a delete marker) still fails with ENOENT, and so does one
rewritten with other bytes whose recorded version was deleted (status
names NoSuchVersion).

Also: a read whose download fails at every attempt fails, and the next
read on the same open file succeeds once the bucket answers again (the
failure is not kept by the open file).

Run by meson (suite s3) with CURATE, CURATEFS and MKJPEG set.
"""
import errno
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'fs'))
from test_s3_client import Session, aws, check, curate, read, report  # noqa
from fslib import Mount  # noqa

MKJPEG = os.environ['MKJPEG']


def versions(srv, home, key):
    out = aws(srv, home, 's3api', 'list-object-versions', '--bucket', 'reup',
              '--prefix', key).decode()
    return re.findall(r'"VersionId": "([^"]+)"', out)   # newest first


def read_errno(p):
    try:
        read(p)
    except OSError as e:
        return e.errno
    return 0


def main():
    s = Session('s3reup-')   # the daemons inherit its settings
    srv, tmp, home, env, mounts = s.srv, s.tmp, s.home, s.env, s.mounts
    try:
        src = os.path.join(tmp, 'src')
        subprocess.run([MKJPEG, '-n', '4', '-s', '9', src], check=True,
                       capture_output=True)
        jpgs = sorted(f for f in os.listdir(src) if f.endswith('.jpg'))
        aws(srv, home, 's3', 'mb', 's3://reup')
        aws(srv, home, 's3api', 'put-bucket-versioning', '--bucket', 'reup',
            '--versioning-configuration', 'Status=Enabled')
        aws(srv, home, 's3', 'sync', '--only-show-errors', src, 's3://reup/ds/')
        store = os.path.join(tmp, 'store')
        curate(env, 'import', '--store', store, 's3://reup/ds')

        same, other, gone = jpgs[0], jpgs[1], jpgs[2]
        # Uploaded again unchanged, the old version expired.
        aws(srv, home, 's3', 'cp', '--only-show-errors',
            os.path.join(src, same), 's3://reup/ds/' + same)
        v = versions(srv, home, 'ds/' + same)
        check(len(v) == 2, 'the unchanged upload made a second version')
        aws(srv, home, 's3api', 'delete-object', '--bucket', 'reup',
            '--key', 'ds/' + same, '--version-id', v[-1])
        # Deleted: a delete marker over the only version, which then
        # expires too.
        v = versions(srv, home, 'ds/' + gone)
        aws(srv, home, 's3', 'rm', '--only-show-errors', 's3://reup/ds/' + gone)
        aws(srv, home, 's3api', 'delete-object', '--bucket', 'reup', '--key',
            'ds/' + gone, '--version-id', v[-1])

        out = curate(env, 'import', '--store', store, 's3://reup/ds')
        check('unchanged' in out, 'the re-import keeps the re-uploaded '
              'object as it was (%s)' % out.strip())
        # After the import: rewritten with other bytes, the recorded
        # version expired.
        aws(srv, home, 's3', 'cp', '--only-show-errors',
            os.path.join(src, jpgs[3]), 's3://reup/ds/' + other)
        v = versions(srv, home, 'ds/' + other)
        check(len(v) == 2, 'the rewrite made a second version')
        aws(srv, home, 's3api', 'delete-object', '--bucket', 'reup',
            '--key', 'ds/' + other, '--version-id', v[-1])
        mnt = os.path.join(tmp, 'mnt')
        m = Mount(store, mnt, ['-o', 'object_cache=%s' %
                               os.path.join(tmp, 'cache')]).start()
        mounts.append(m)
        samples = os.path.join(mnt, 'samples')
        names = {os.path.splitext(n)[0]: n for n in os.listdir(samples)}
        byrel = {r.split(',')[1]: names[r.split(',')[0]] for r in
                 read(os.path.join(mnt, 'samples.csv')).decode()
                 .splitlines()[1:]}
        try:
            got = read(os.path.join(samples, byrel[same]))
        except OSError as e:
            got = e
        check(got == read(os.path.join(src, same)),
              'an image uploaded again unchanged, its recorded version '
              'expired, reads its bytes (%s)' %
              (got if isinstance(got, OSError) else len(got)))
        e = read_errno(os.path.join(samples, byrel[other]))
        check(e == errno.ENOENT, 'one rewritten with other bytes, its '
              'version expired, is refused with ENOENT (errno %d)' % e)
        status = read(os.path.join(mnt, 'status')).decode()
        check('NoSuchVersion' in status, 'status names NoSuchVersion')
        if byrel.get(gone):
            e = read_errno(os.path.join(samples, byrel[gone]))
            check(e == errno.ENOENT, 'a deleted object: ENOENT (%d)' % e)

        # A read whose download fails (the connection dropped at every
        # attempt) fails; once the bucket answers again, the next read on
        # the same open file succeeds.
        third = byrel[jpgs[3]]
        srv.ctl('fault?kind=drop&op=get&count=100&after=100')
        fd = os.open(os.path.join(samples, third), os.O_RDONLY)
        try:
            e = 0
            try:
                os.pread(fd, 1 << 20, 0)
            except OSError as x:
                e = x.errno
            check(e != 0, 'a read whose download keeps failing fails '
                  '(errno %d)' % e)
            srv.ctl('reset')
            try:
                got = os.pread(fd, 1 << 20, 0)
            except OSError as x:
                got = x
            check(got == read(os.path.join(src, jpgs[3])), 'the same open '
                  'file reads its bytes once the bucket answers (%s)' %
                  (got if isinstance(got, OSError) else len(got)))
        finally:
            os.close(fd)
        m.umount()
        mounts.remove(m)
    finally:
        s.close()
    return report()


if __name__ == '__main__':
    sys.exit(main())
