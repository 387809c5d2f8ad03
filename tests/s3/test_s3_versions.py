#!/usr/bin/python3
"""Versioned buckets and multipart objects, end to end.

awscli turns versioning on (`aws s3api put-bucket-versioning`) and uploads
JPEGs and a 27 MB BMP, which it sends as a multipart upload (over 8 MB), so
its ETag is S3's "<md5 of the parts' md5s>-4".  The server gives version
ids of 700 bytes (S3 allows up to 1024).  Then:
- the import records each object's version id whole, and the mount reads
  with ?versionId= and streams a miss to disk: the daemon's peak memory
  grows by far less than the big object while it is read cold;
- the cached copy of the multipart object is whole;
- a download dropped mid-body is retried from the start (the cached copy
  is whole), and one that never completes leaves nothing in the cache;
- objects overwritten in the bucket: a re-import fetches only those two
  (change detection by ETag, the multipart one included), the writer's
  mount serves the new bytes, and a read-only replica mounted from a
  snapshot taken before still serves its own (older) versions instead of
  ESTALE;
- a version deleted for good: the replica refuses the read with the
  server's reason in status.

Run by meson (suite s3) with CURATE, CURATEFS and MKJPEG set.
"""
import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'fs'))
from test_s3_client import Session, aws, check, curate, read, report  # noqa
from fslib import Mount  # noqa

MKJPEG = os.environ['MKJPEG']
BIG_W = BIG_H = 3000           # 27 MB as a 24-bit BMP: four 8 MB parts
VID_BYTES = 700                # version ids longer than a small buffer


def write_bmp(path, w, h, seed):
    """A 24-bit BMP of noise (rows of w * 3 bytes, w a multiple of 4)."""
    pix = hashlib.shake_256(seed).digest(1 << 16) * (w * h * 3 // (1 << 16)
                                                     + 1)
    pix = pix[:w * h * 3]
    head = struct.pack('<2sIHHI', b'BM', 54 + len(pix), 0, 0, 54)
    info = struct.pack('<IiiHHIIiiII', 40, w, h, 1, 24, 0, len(pix), 2835,
                       2835, 0, 0)
    with open(path, 'wb') as f:
        f.write(head + info + pix)


def multipart_etag(data, part=8 << 20):
    md5s = b''.join(hashlib.md5(data[i:i + part]).digest()
                    for i in range(0, len(data), part))
    return '"%s-%d"' % (hashlib.md5(md5s).hexdigest(),
                        (len(data) + part - 1) // part)


def hwm_kb(pid):
    for line in open('/proc/%d/status' % pid):
        if line.startswith('VmHWM:'):
            return int(line.split()[1])
    raise RuntimeError('no VmHWM')


def object_gets(srv):
    return [r for r in srv.log() if r['method'] == 'GET' and
            'list-type' not in r['query'] and 'versions' not in r['query']]


def main():
    s = Session('s3vers-')   # the daemons inherit its settings
    srv, tmp, home, env, mounts = s.srv, s.tmp, s.home, s.env, s.mounts
    try:
        srv.ctl('config?vid_bytes=%d' % VID_BYTES)
        src = os.path.join(tmp, 'src')
        subprocess.run([MKJPEG, '-n', '6', '-s', '5', src], check=True,
                       capture_output=True)
        write_bmp(os.path.join(src, 'big.bmp'), BIG_W, BIG_H, b'one')
        jpgs = sorted(f for f in os.listdir(src) if f.endswith('.jpg'))
        aws(srv, home, 's3', 'mb', 's3://vers')
        aws(srv, home, 's3api', 'put-bucket-versioning', '--bucket', 'vers',
            '--versioning-configuration', 'Status=Enabled')
        aws(srv, home, 's3', 'sync', '--only-show-errors', src,
            's3://vers/ds/')
        head = aws(srv, home, 's3api', 'head-object', '--bucket', 'vers',
                   '--key', 'ds/big.bmp').decode()
        big1 = read(os.path.join(src, 'big.bmp'))
        big_vid = re.findall(r'"VersionId": "([^"]+)"', head)
        check(multipart_etag(big1).replace('"', '\\"') in head and
              len(big_vid) == 1 and len(big_vid[0]) == VID_BYTES,
              'awscli uploaded the BMP in parts: ETag %s, with a version '
              'id of %d bytes' % (multipart_etag(big1), VID_BYTES))

        store = os.path.join(tmp, 'store')
        out = curate(env, 'import', '--store', store, 's3://vers/ds')
        check('7 new' in out, 'the import takes the 7 objects (%s)' %
              out.strip())

        # The writer's mount, cold: every read names its version.
        mnt = os.path.join(tmp, 'mnt')
        m = Mount(store, mnt).start()
        mounts.append(m)
        samples = os.path.join(mnt, 'samples')
        # relpath -> the sample's file name
        ext = {os.path.splitext(n)[0]: n for n in os.listdir(samples)}
        byname = {r.split(',')[1]: ext[r.split(',')[0]] for r in
                  read(os.path.join(mnt, 'samples.csv')).decode()
                  .splitlines()[1:]}
        srv.ctl('reset')
        small = [byname[j] for j in jpgs]
        same = all(read(os.path.join(samples, n)) ==
                   read(os.path.join(src, j)) for n, j in zip(small, jpgs))
        before = hwm_kb(m.proc.pid)
        got = read(os.path.join(samples, byname['big.bmp']))
        grew = hwm_kb(m.proc.pid) - before
        check(same and got == big1, 'every sample reads its bytes, the '
              'multipart object included')
        gets = object_gets(srv)
        asked = [re.findall(r'versionId=([^&]+)', g['query']) for g in gets]
        check(len(gets) == 7 and
              all(len(a) == 1 and len(a[0]) == VID_BYTES for a in asked) and
              big_vid in asked,
              'each cold read asked for the recorded version, its %d-byte '
              'id whole (%s)' % (VID_BYTES, [g['query'][:60] for g in gets]
                                 [:2]))
        check(grew < len(big1) // 2 // 1024,
              'a cold read of %d MB grows the daemon\'s peak memory by '
              '%d KB only: the miss streams to disk' %
              (len(big1) >> 20, grew))
        cdir = os.path.join(store, 'objcache', 'objects')
        check(any(read(os.path.join(cdir, f)) == big1
                  for f in os.listdir(cdir)
                  if f.endswith('.%d' % len(big1))),
              'the cached copy of the multipart object is whole')

        # A replica from a snapshot of this state.
        snap = os.path.join(tmp, 'snap')
        curate(env, 'snapshot', '--store', store, snap)

        # Overwrites: a JPEG gets another one's bytes, the BMP new noise.
        victim = jpgs[2]
        aws(srv, home, 's3', 'cp', '--only-show-errors',
            os.path.join(src, jpgs[3]), 's3://vers/ds/' + victim)
        new_big = os.path.join(tmp, 'big2.bmp')
        write_bmp(new_big, BIG_W, BIG_H, b'two')
        big2 = read(new_big)
        aws(srv, home, 's3', 'cp', '--only-show-errors', new_big,
            's3://vers/ds/big.bmp')
        vers = aws(srv, home, 's3api', 'list-object-versions', '--bucket',
                   'vers', '--prefix', 'ds/' + victim).decode()
        check(vers.count('"VersionId"') == 2,
              'the bucket keeps both versions of the overwritten object')

        srv.ctl('reset')
        out = curate(env, 'import', '--store', store, 's3://vers/ds')
        keys = sorted(set(g['path'].split('/', 2)[2]
                          for g in object_gets(srv)))
        check('2 changed' in out and '5 unchanged' in out and
              keys == sorted(['ds/big.bmp', 'ds/' + victim]),
              're-import fetches only the two overwritten objects (%s; %s)'
              % (out.strip(), keys))
        m.umount()
        mounts.remove(m)
        m = Mount(store, mnt).start()
        mounts.append(m)
        vn = byname[victim]
        # Two downloads of the big object cut after 3 MB: the third
        # attempt must give the whole object, not the pieces appended.
        srv.ctl('reset')
        srv.ctl('fault?kind=drop&op=get&count=2&after=3000000')
        got = read(os.path.join(samples, byname['big.bmp']))
        tries = [g['bytes'] for g in object_gets(srv)]
        check(got == big2 and tries == [3000000, 3000000, len(big2)] and
              read(os.path.join(samples, vn)) ==
              read(os.path.join(src, jpgs[3])),
              'the writer serves the new versions after the re-import, '
              'through a download dropped twice mid-body (%s)' % tries)
        held = [f for f in os.listdir(cdir) if f.endswith('.%d' % len(big2))
                and read(os.path.join(cdir, f)) == big2]
        check(len(held) == 1 and
              not os.listdir(os.path.join(store, 'objcache', 'tmp')),
              'the cached copy is whole and nothing is left in tmp/')
        m.umount()
        mounts.remove(m)

        mnt2 = os.path.join(tmp, 'mnt2')
        cache2 = os.path.join(tmp, 'node2-cache')
        m2 = Mount(snap, mnt2, ['-o', 'readonly,object_cache=%s' %
                                cache2]).start()
        mounts.append(m2)
        s2 = os.path.join(mnt2, 'samples')
        # A download that never completes caches nothing anywhere.
        srv.ctl('fault?kind=drop&op=get&count=100&after=1000')
        try:
            read(os.path.join(s2, vn))
            check(False, 'a download dropped every time fails')
        except OSError as e:
            check(not os.listdir(os.path.join(cache2, 'objects')) and
                  not os.listdir(os.path.join(cache2, 'tmp')),
                  'a download dropped every time fails (%s) and leaves '
                  'no file in objects/ or tmp/' % e)
        srv.ctl('reset')
        check(read(os.path.join(s2, vn)) == read(os.path.join(src, victim))
              and read(os.path.join(s2, byname['big.bmp'])) == big1,
              'the replica (older store) serves its own versions, not '
              'ESTALE')
        m2.umount()
        mounts.remove(m2)

        # Its version of the victim deleted for good: a clear refusal.
        vids = re.findall(r'"VersionId": "([^"]+)"', vers)
        oldest = vids[-1]                 # newest first
        aws(srv, home, 's3api', 'delete-object', '--bucket', 'vers', '--key',
            'ds/' + victim, '--version-id', oldest)
        shutil.rmtree(cache2)
        m2 = Mount(snap, mnt2, ['-o', 'readonly,object_cache=%s' %
                                cache2]).start()
        mounts.append(m2)
        try:
            read(os.path.join(s2, vn))
            check(False, 'a deleted version is refused')
        except OSError as e:
            status = read(os.path.join(mnt2, 'status')).decode()
            check('NoSuchVersion' in status, 'a deleted version is refused '
                  '(%s) with the reason in status' % e)
        m2.umount()
        mounts.remove(m2)
    finally:
        s.close()
    return report()


if __name__ == '__main__':
    sys.exit(main())
