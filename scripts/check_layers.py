#!/usr/bin/python3
"""The include rules of core/'s layers, checked on the sources.

core/ is built as one static library per layer (core/meson.build), and a
layer is compiled with only its own folder and the folders below it on the
include path, so including a higher layer's header already fails the build.
This script states the same rules without a compiler, so that CI reports a
broken layer by file and line, and it also checks what the compiler cannot:

  * a file of core/ includes "x.h" only from its own layer or one below;
  * an outside library's header is included only by the modules that wrap
    it (the table WRAPPERS below);
  * no file of core/ includes libfuse;
  * every header name is unique across core/ (includes are by bare name).

Usage: check_layers.py [ROOT]      exit 0 when clean, 1 with one line per
                                   violation
       check_layers.py --self-test  builds a small tree with one violation of
                                   each kind and fails unless each is found
       check_layers.py --probe CC [ARGS...]
                                   shows that the build itself refuses a
                                   broken layer: a file of compute/ that
                                   includes store.h must fail to compile with
                                   compute's include path, and compile with
                                   store's
"""
import subprocess
import os
import re
import sys
import tempfile

# Lowest first; keep in step with core/meson.build.
LAYERS = ['base', 'image', 'compute', 'store', 'formats', 'net', 'cvat',
          'views']

# Outside headers and the core/ files (layer/file.c) allowed to include them.
# A header not listed here is a system header anyone may use.
WRAPPERS = {
    'lmdb.h': {'store/store_i.h'},
    'jansson.h': {'formats/labels_json.c', 'formats/coco.c',
                  'formats/jsonstream.h', 'formats/jsonstream.c',
                  'formats/predictions.c', 'cvat/cvat_json.h',
                  'cvat/cvat_json.c', 'cvat/cvat_client_i.h',
                  'cvat/cvat_client.c', 'cvat/cvat_tasks.c',
                  'cvat/cvat_annotations.c',
                  'cvat/cvat_sync_i.h', 'cvat/cvat_run.c',
                  'cvat/cvat_push.c', 'cvat/cvat_pull.c',
                  'cvat/cvat_snapshot.c', 'cvat/cvat_sync.c',
                  'net/awscreds.c'},
    'curl/curl.h': {'net/http.c'},
    'turbojpeg.h': {'image/jpegcodec.c'},
    'jpeglib.h': {'image/jpegcodec.c'},
    'spng.h': {'image/codec_png.c'},
    'zlib.h': {'image/pngmeta.c'},
    'webp/decode.h': {'image/codec_webp.c'},
    'tiffio.h': {'image/codec_tiff.c'},
    'gif_lib.h': {'image/codec_gif.c'},
    'ft2build.h': {'image/font.c'},
    'expat.h': {'formats/xmltree.c'},
    'yaml.h': {'formats/yamlnames.c'},
    'zip.h': {'formats/zipread.c'},
    'cblas.h': {'compute/knn.c'},
    # Outside libraries loaded on first use go through dynlib.h.
    'dlfcn.h': {'base/dynlib.c'},
    'xxhash.h': {'formats/import_hash.c', 'formats/import_hash_avx2.c'},
}
# Headers the build generates (core/meson.build), with their layer.
GENERATED = {'viewcompute_id.h': 'views'}

FUSE = re.compile(r'^fuse(3)?/|^fuse(_lowlevel|_common|_opt)?\.h$')
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def check(root):
    core = os.path.join(root, 'core')
    where = dict(GENERATED)   # header name -> layer
    problems = []
    files = []
    for layer in LAYERS:
        d = os.path.join(core, layer)
        if not os.path.isdir(d):
            problems.append(f'core/{layer}: layer folder missing')
            continue
        for name in sorted(os.listdir(d)):
            if name.endswith(('.c', '.h')):
                files.append((layer, name))
                if name.endswith('.h'):
                    if name in where:
                        problems.append(f'core/{layer}/{name}: header name '
                                        f'also in core/{where[name]}/')
                    where[name] = layer
    for name in sorted(os.listdir(core)):
        if name.endswith(('.c', '.h')):
            problems.append(f'core/{name}: every source belongs to a layer '
                            'folder')
    for layer, name in files:
        rel = f'{layer}/{name}'
        path = os.path.join(core, layer, name)
        with open(path, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                kind, inc = m.groups()
                at = f'core/{rel}:{lineno}'
                if FUSE.search(inc):
                    problems.append(f'{at}: core/ never includes libfuse '
                                    f'(<{inc}>)')
                elif kind == '"':
                    hl = where.get(inc)
                    if hl is None:
                        problems.append(f'{at}: "{inc}" is not a header of '
                                        'core/')
                    elif LAYERS.index(hl) > LAYERS.index(layer):
                        problems.append(f'{at}: layer {layer} includes '
                                        f'"{inc}" of the higher layer {hl}')
                elif inc in WRAPPERS and rel not in WRAPPERS[inc] and \
                        rel.replace('.c', '.h') not in WRAPPERS[inc]:
                    problems.append(f'{at}: <{inc}> belongs to '
                                    f'{", ".join(sorted(WRAPPERS[inc]))} '
                                    'only')
    return problems


def self_test():
    """One violation of each kind in a scratch tree; each must be found."""
    with tempfile.TemporaryDirectory() as root:
        def put(rel, text):
            p = os.path.join(root, 'core', rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, 'w', encoding='utf-8') as f:
                f.write(text)
        for layer in LAYERS:
            os.makedirs(os.path.join(root, 'core', layer), exist_ok=True)
        put('base/util.h', '/* util */\n')
        put('store/store.h', '#include "util.h"\n')
        put('store/store_i.h', '#include "store.h"\n#include <lmdb.h>\n')
        if check(root):
            raise SystemExit('self-test: a clean tree was reported: '
                             + '; '.join(check(root)))
        put('compute/knn.c', '#include "store.h"\n#include <lmdb.h>\n'
            '#include <fuse_lowlevel.h>\n#include "nothere.h"\n')
        put('image/util.h', '\n')
        put('stray.c', '\n')
        got = check(root)
        want = ['higher layer store', '<lmdb.h> belongs to',
                'never includes libfuse', '"nothere.h" is not a header',
                'header name also in', 'belongs to a layer folder']
        for w in want:
            if not any(w in p for p in got):
                raise SystemExit(f'self-test: violation not found: {w}\n'
                                 + '\n'.join(got))
        if len(got) != len(want):
            raise SystemExit('self-test: unexpected reports:\n'
                             + '\n'.join(got))
    print('check-layers self-test: ok')


def probe(root, cc):
    """Compiles one line including store.h with the include path of the
    compute layer (must fail) and of the store layer (must pass)."""
    core = os.path.join(root, 'core')
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, 'probe.c')
        with open(src, 'w', encoding='utf-8') as f:
            f.write('#include "store.h"\nint probe(void);\n'
                    'int probe(void) { return 0; }\n')
        def build(upto):
            inc = []
            for layer in LAYERS[:LAYERS.index(upto) + 1]:
                inc += ['-I', os.path.join(core, layer)]
            r = subprocess.run(cc + ['-fsyntax-only'] + inc + [src],
                               capture_output=True, text=True)
            return r.returncode, r.stderr
        rc, err = build('compute')
        if rc == 0:
            raise SystemExit('probe: a compute file including store.h '
                             'compiled with the compute include path')
        if 'store.h' not in err:
            raise SystemExit('probe: compile failed for another reason:\n'
                             + err)
        rc, err = build('store')
        if rc != 0:
            raise SystemExit('probe: store.h does not compile with the store '
                             'include path:\n' + err)
    print('check-layers probe: the compute include path refuses store.h')


def main():
    if len(sys.argv) > 2 and sys.argv[1] == '--probe':
        probe(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'),
              sys.argv[2:])
        return 0
    if sys.argv[1:] == ['--self-test']:
        self_test()
        return 0
    root = sys.argv[1] if len(sys.argv) > 1 else \
        os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
    problems = check(root)
    for p in problems:
        print(p)
    if problems:
        print(f'check-layers: {len(problems)} violation(s)')
        return 1
    print('check-layers: core/ layers clean')
    return 0


if __name__ == '__main__':
    sys.exit(main())
