#!/usr/bin/python3
"""End to end with a bucket: awscli fills the loopback S3 server (every
signature checked by botocore), `curate import s3://...` records it, the
mount serves its samples through the local object cache, and then:
tags by mv, a drawn view, the COCO export's images, a second pass that
reaches the bucket not once, a read-only mount of a snapshot on "another
node" with its own cache, an object changed in the bucket (refused, with a
reason in status), the byte bound of the cache, two buckets with one ETag
for other bytes sharing one cache folder, and no credential in the log,
status or cache.

Run by meson (suite s3) with CURATE, CURATEFS and MKJPEG set.
"""
import errno
import json
import os
import shutil
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'fs'))
from test_s3_client import (AKID, SECRET, Session, aws, check,  # noqa
                            curate, FAILS, read, report)
from fslib import Mount  # noqa

MKJPEG = os.environ['MKJPEG']


def gets(srv):
    return [r for r in srv.log() if r['method'] == 'GET' and
            'list-type' not in r['query']]


def main():
    s = Session('s3mount-')   # the daemons inherit its settings
    srv, tmp, home, env, mounts = s.srv, s.tmp, s.home, s.env, s.mounts
    try:
        src = os.path.join(tmp, 'src')
        subprocess.run([MKJPEG, '-n', '30', '-d', '2', '-s', '9', '-W', '1024',
                        '-H', '768', src],
                       check=True, capture_output=True)
        aws(srv, home, 's3', 'mb', 's3://media')
        aws(srv, home, 's3', 'sync', '--only-show-errors', src,
            's3://media/ds/')
        store = os.path.join(tmp, 'store')
        curate(env, 'import', '--store', store, 's3://media/ds')

        mnt = os.path.join(tmp, 'mnt')
        # Counted from the mount's start: whatever the daemon fetches on
        # its own (before the first read) is part of the one fetch per
        # object, and a reset after it would hide one from the count.
        srv.ctl('reset')
        m = Mount(store, mnt).start()
        mounts.append(m)
        samples = os.path.join(mnt, 'samples')
        names = sorted(os.listdir(samples))
        table = {r.split(',')[0]: r.split(',')[1] for r in
                 read(os.path.join(mnt, 'samples.csv')).decode()
                 .splitlines()[1:]}
        same = all(read(os.path.join(samples, n)) ==
                   read(os.path.join(src, table[os.path.splitext(n)[0]]))
                   for n in names)
        first = len(gets(srv))
        check(same and len(names) == 30,
              'every sample reads the bytes of its object')
        check(first == 30, 'the first pass fetched each object once (%d)'
              % first)
        status = read(os.path.join(mnt, 'status')).decode()
        check('object cache: 30 files' in status and '30 misses' in status,
              'status shows the object cache')
        srv.ctl('reset')
        for n in names:
            read(os.path.join(samples, n))
        coco = json.loads(read(os.path.join(mnt, 'export', 'coco',
                                            'annotations',
                                            'instances_default.json')))
        imgs = os.listdir(os.path.join(mnt, 'export', 'coco', 'images',
                                       'default'))
        ok = all(read(os.path.join(mnt, 'export', 'coco', 'images',
                                   'default', i)) ==
                 read(os.path.join(samples, i)) for i in imgs)
        check(len(coco['images']) == 30 and ok,
              'the COCO export serves the same image bytes')
        check(not gets(srv), 'a second pass and the export reach the '
              'bucket not once')
        os.mkdir(os.path.join(mnt, 'tags', 'pick'))
        os.rename(os.path.join(samples, names[0]),
                  os.path.join(mnt, 'tags', 'pick', names[0]))
        check(os.listdir(os.path.join(mnt, 'tags', 'pick')) == [names[0]],
              'mv into a tag works on bucket samples')
        dup = os.listdir(os.path.join(mnt, 'views', 'unique'))
        check(dup and read(os.path.join(mnt, 'views', 'unique',
                                        dup[0]))[:2] == b'\xff\xd8',
              'views/unique serves bucket samples')

        # Another node: a snapshot, mounted read-only with its own cache.
        snap = os.path.join(tmp, 'snap')
        curate(env, 'snapshot', '--store', store, snap)
        mnt2 = os.path.join(tmp, 'mnt2')
        cache2 = os.path.join(tmp, 'node2-cache')
        m2 = Mount(snap, mnt2, ['-o', 'readonly,object_cache=%s,'
                                'object_cache_size=200K' % cache2])
        try:
            m2.start()
            check(False, 'an object_cache_size under 1M is refused')
        except RuntimeError as e:
            check('object_cache_size' in str(e),
                  'an object_cache_size under 1M is refused: %s' %
                  str(e).strip()[-80:])
        m2 = Mount(snap, mnt2, ['-o', 'readonly,object_cache=%s,'
                                'object_cache_size=1M' % cache2]).start()
        mounts.append(m2)
        ok = all(read(os.path.join(mnt2, 'samples', n)) ==
                 read(os.path.join(src, table[os.path.splitext(n)[0]]))
                 for n in names)
        st2 = read(os.path.join(mnt2, 'status')).decode()
        held = sum(os.path.getsize(os.path.join(cache2, 'objects', f))
                   for f in os.listdir(os.path.join(cache2, 'objects')))
        oc = [x for x in st2.splitlines() if x.startswith('object cache')]
        check(ok and held <= 1 << 20 and len(oc) == 1 and
              ' 0 evicted' not in oc[0],
              'a read-only replica with a 1M cache reads every sample, '
              'evicting to its bound (%d bytes held; same bytes: %s; %s)' %
              (held, ok, [x for x in st2.splitlines()
                          if 'object cache' in x]))
        m2.umount()
        mounts.remove(m2)

        # Two nodes on one machine sharing one cache folder and its bound:
        # each reads every sample; together they stay within 1M, the
        # second finds most of what the first fetched, and both read the
        # right bytes.
        shared = os.path.join(tmp, 'shared-cache')
        pair = []
        for i in range(2):
            mm = Mount(snap, os.path.join(tmp, 'pair%d' % i),
                       ['-o', 'readonly,object_cache=%s,'
                        'object_cache_size=1M' % shared]).start()
            mounts.append(mm)
            pair.append(mm)
        srv.ctl('reset')
        ok, worst = True, 0
        for n in names:
            want = read(os.path.join(src, table[os.path.splitext(n)[0]]))
            for mm in pair:
                ok = ok and read(os.path.join(mm.mnt, 'samples', n)) == want
            worst = max(worst, sum(
                os.path.getsize(os.path.join(shared, 'objects', f))
                for f in os.listdir(os.path.join(shared, 'objects'))))
        fetched = len(gets(srv))
        st = [read(os.path.join(mm.mnt, 'status')).decode() for mm in pair]
        check(ok and worst <= 1 << 20 and fetched == len(names) and
              '30 hits' in st[1],
              'two mounts sharing a 1M cache: right bytes, at most %d bytes '
              'held at any step, each object fetched once (%d GETs), the '
              'second mount hitting the first one\'s downloads (%s)' %
              (worst, fetched, [x for x in st[1].splitlines()
                                if 'object cache' in x]))
        for mm in pair:
            mm.umount()
            mounts.remove(mm)

        # Another bucket whose objects have the same keys, sizes and ETags
        # as media's but other bytes (a server whose ETags are not MD5s),
        # its store mounted with media's snapshot on one shared cache
        # folder: each mount reads its own bucket's bytes.
        two = [table[os.path.splitext(n)[0]] for n in names[:3]]
        alt = os.path.join(tmp, 'alt')
        for rel in two:
            data = bytearray(read(os.path.join(src, rel)))
            data[-10] ^= 0xff      # in the scan data: still a JPEG
            os.makedirs(os.path.dirname(os.path.join(alt, rel)),
                        exist_ok=True)
            with open(os.path.join(alt, rel), 'wb') as f:
                f.write(data)
        aws(srv, home, 's3', 'mb', 's3://other')
        aws(srv, home, 's3', 'sync', '--only-show-errors', alt,
            's3://other/ds/')
        listing = json.loads(aws(srv, home, 's3api', 'list-objects-v2',
                                 '--bucket', 'media', '--prefix', 'ds/'))
        for o in listing['Contents']:
            if o['Key'][3:] in two:
                srv.ctl('etag?bucket=other&key=%s&etag=%s' % (
                    urllib.parse.quote(o['Key']),
                    urllib.parse.quote(o['ETag'])))
        store2 = os.path.join(tmp, 'store2')
        curate(env, 'import', '--store', store2, '--no-features',
               's3://other/ds')
        common = os.path.join(tmp, 'common-cache')
        ma = Mount(snap, os.path.join(tmp, 'ma'), ['-o', 'readonly,'
                   'object_cache=%s' % common]).start()
        mounts.append(ma)
        mb = Mount(store2, os.path.join(tmp, 'mb'), ['-o', 'readonly,'
                   'object_cache=%s' % common]).start()
        mounts.append(mb)
        other = json.loads(aws(srv, home, 's3api', 'list-objects-v2',
                               '--bucket', 'other', '--prefix', 'ds/'))
        same_tags = sorted((o['Key'], o['ETag'], o['Size'])
                           for o in other['Contents']) == sorted(
            (o['Key'], o['ETag'], o['Size']) for o in listing['Contents']
            if o['Key'][3:] in two)
        own = True
        for n in names[:3]:
            rel = table[os.path.splitext(n)[0]]
            for mm, top in ((ma, src), (mb, alt), (ma, src)):
                own = own and read(os.path.join(mm.mnt, 'samples', n)) == \
                    read(os.path.join(top, rel))
        check(same_tags and own, 'two buckets with one ETag for other bytes '
              'on one cache folder: each mount reads its own bucket\'s '
              'bytes (same keys, ETags and sizes: %s)' % same_tags)
        for mm in (ma, mb):
            mm.umount()
            mounts.remove(mm)

        # Pictures made from bucket objects: YOLO's PNG of a GIF, VOC's
        # JPEG of a PNG, an ImageNet crop (each through the object cache,
        # as samples/ reads them; they failed with ENOENT before).
        from PIL import Image
        import io
        src3 = os.path.join(tmp, 'src3')
        os.makedirs(src3)
        gif = Image.new('P', (40, 30))
        gif.putpalette([(i * 7) % 256 for i in range(768)])
        gif.putdata([(x * 5 + y) % 256 for y in range(30) for x in range(40)])
        gif.save(os.path.join(src3, 'g.gif'))
        Image.new('RGB', (36, 24), (200, 30, 90)).save(
            os.path.join(src3, 'p.png'))
        aws(srv, home, 's3', 'sync', '--only-show-errors', src3,
            's3://media/fmt/')
        store3 = os.path.join(tmp, 'store3')
        curate(env, 'import', '--store', store3, 's3://media/fmt')
        m3 = Mount(store3, os.path.join(tmp, 'm3')).start()
        mounts.append(m3)
        with open(os.path.join(m3.mnt, 'labels', 'p.json'), 'w') as f:
            f.write(json.dumps({'fields': {'ground_truth': [
                {'label': 'dog', 'bbox': [2, 3, 20, 10]}]}}))
        X = os.path.join(m3.mnt, 'export')
        try:
            png = Image.open(io.BytesIO(read(os.path.join(
                X, 'yolo', 'images', 'default', 'g.png'))))
            jpg = Image.open(io.BytesIO(read(os.path.join(
                X, 'voc', 'JPEGImages', 'p.jpg'))))
            crops = os.listdir(os.path.join(X, 'imagenet', 'dog'))
            crop = Image.open(io.BytesIO(read(os.path.join(
                X, 'imagenet', 'dog', crops[0]))))
            made = (png.format, png.convert('RGB').tobytes(), jpg.format,
                    jpg.size, crop.format, crop.size)
        except OSError as e:
            made = e
        want = ('PNG', gif.convert('RGB').tobytes(), 'JPEG', (36, 24),
                'JPEG', (20, 10))
        check(made == want, 'bucket samples: YOLO\'s PNG of a GIF (the '
              'same pixels), VOC\'s JPEG of a PNG and an ImageNet crop are '
              'made from the cached objects: %r' % (
                  made if isinstance(made, OSError) else made[::2],))
        m3.umount()
        mounts.remove(m3)

        # An object rewritten in the bucket after the import.
        victim = names[3]
        aws(srv, home, 's3', 'cp', '--only-show-errors',
            os.path.join(src, table[os.path.splitext(names[4])[0]]),
            's3://media/ds/' + table[os.path.splitext(victim)[0]])
        shutil.rmtree(os.path.join(store, 'objcache'))
        m.umount()
        mounts.remove(m)
        m = Mount(store, mnt).start()
        mounts.append(m)
        try:
            read(os.path.join(samples, victim))
            check(False, 'a changed object is refused')
        except OSError as e:
            check(e.errno == errno.ESTALE, 'a changed object is refused '
                  'with ESTALE (%s)' % e)
        status = read(os.path.join(mnt, 'status')).decode()
        check('changed in the bucket since the import' in status,
              'status says why and what to do')
        logs = m.logtext() + status
        for f in os.listdir(os.path.join(store, 'objcache', 'objects')):
            data = read(os.path.join(store, 'objcache', 'objects', f))
            if SECRET.encode() in data:
                FAILS.append('a secret in the cache')
        check(SECRET not in logs and AKID not in logs,
              'no credential in the log or status')
        m.umount()
        mounts.remove(m)
    finally:
        s.close()
    return report()


if __name__ == '__main__':
    sys.exit(main())
