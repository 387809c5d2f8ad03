#!/usr/bin/python3
"""Outside libraries loaded on first use (core/base/dynlib.h): libtiff,
libzip, FreeType, libcurl and OpenBLAS are loaded by the module that
wraps them when it is first needed, not with the program, so a command
that decodes no TIFF, opens no zip, draws no text, makes no HTTP request
and searches no neighbours does not pay for loading them (libtiff, libzip
and FreeType with what they link took `curate`'s start from about 4 to
13 ms of CPU).

  - Neither `curate` nor `curatefs` has any of them, or the heavy
    libraries they bring (the C++ runtime, libcrypto), among the
    libraries loaded at start (ldd).
  - Without libtiff (in a private mount namespace, the library file
    replaced by an empty one), `curate` still starts and imports a folder
    of a JPEG and a TIFF: both are imported from their headers, which
    need no libtiff; the TIFF gets no features, with a note that says its
    decoder library cannot be loaded and a log line naming the library.
    The next import with the library computes them.
  - Without libzip, `curate import-labels --format cvat-zip` fails with
    exit status 1 and a message naming the library, and the store is
    unchanged.
  - Without OpenBLAS, `curate table` (uniqueness and near-duplicates
    search neighbours) and, without libcurl, `curate import s3://...`
    fail the same way, naming the library, and change nothing.
The old programs, linked with these libraries, did not start at all
without them."""
import errno
import os
import re
import subprocess
import sys
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import CURATE, CURATEFS, MKJPEG, curate, eq, run_suite  # noqa

MKIMG = os.environ["MKIMG"]
# The sonames the build opens them by (meson.build finds them).
TIFF = os.environ["TIFF_SONAME"]
ZIP = os.environ["ZIP_SONAME"]
CURL = os.environ["CURL_SONAME"]
BLAS = os.environ["BLAS_SONAME"]
# Loaded on first use, and what only they bring in.
LAZY = re.compile(r"^(libtiff|libzip|libfreetype|libcurl|libopenblas|"
                  r"libstdc\+\+|libcrypto|libLerc)\.so")


def started_with(binary):
    """The libraries the loader maps when binary starts (ldd)."""
    out = subprocess.run(["ldd", binary], check=True, capture_output=True,
                         text=True).stdout
    return [ln.split()[0] for ln in out.splitlines() if ln.strip()]


def sanitizer_brings(binary):
    """What the sanitizer runtimes binary starts with load themselves (ldd
    of each): GCC's UBSan runtime links the C++ runtime, which is then
    there with or without libtiff, and is not ours to keep out."""
    out = subprocess.run(["ldd", binary], check=True, capture_output=True,
                         text=True).stdout
    runtimes = [ln.split()[2] for ln in out.splitlines()
                if re.match(r"\s*lib(asan|ubsan|lsan|tsan)\.so\S* => /",
                            ln)]
    return set(n for r in runtimes for n in started_with(r))


def lib_file(soname):
    """The file the loader opens for soname (ldconfig's cache)."""
    out = subprocess.run(["ldconfig", "-p"], check=True, capture_output=True,
                         text=True).stdout
    for ln in out.splitlines():
        m = re.match(r"\s*(\S+) \(([^)]*)\) => (\S+)", ln)
        if m and m.group(1) == soname:
            return os.path.realpath(m.group(3))
    raise AssertionError("%s is not in ldconfig's cache" % soname)


def without(soname, *argv, env=None):
    """Runs argv where soname's file is an empty one."""
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'mount --bind /dev/null "$0" && exec "$@"', lib_file(soname)] +
        list(argv), capture_output=True, text=True, env=env)


def fails_naming(p, soname):
    """p exited 1 with ELIBACC's text and soname in its messages."""
    eq(p.returncode, 1, "exit status (stderr %r)" % p.stderr)
    if soname not in p.stderr or \
            os.strerror(errno.ELIBACC) not in p.stderr:
        raise AssertionError("the reason is not given: %r" % p.stderr)


def counts(out):
    """The numbers of an import's summary line, by name."""
    line = [ln for ln in out.splitlines() if ln.startswith("imported ")]
    if not line:
        raise AssertionError("no summary line in %r" % out)
    return {m.group(2): int(m.group(1))
            for m in re.finditer(r"(\d+) ([a-z][a-z ]*?)(?=,|;|$)", line[0])}


def body(ck, w):
    def not_at_start():
        for b in (CURATE, CURATEFS):
            extra = [n for n in started_with(b)
                     if LAZY.match(n) and n not in sanitizer_brings(b)]
            eq(extra, [], "%s loads at start" % os.path.basename(b))
    ck.run("curate and curatefs start without the lazily loaded libraries",
           not_at_start)

    src, store = w.sub("src"), w.sub("store")
    os.makedirs(src)
    subprocess.run([MKJPEG, "-n", "1", "-W", "320", "-H", "240",
                    os.path.join(src, "p")], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([MKIMG, "-n", "1", "-W", "320", "-H", "240", "-o",
                    "tiff_strip8", os.path.join(src, "t")], check=True,
                   stdout=subprocess.DEVNULL)
    tif = [f for f in os.listdir(os.path.join(src, "t"))][0]

    def no_libtiff():
        p = without(TIFF, CURATE, "import", "--store", store, src)
        eq(p.returncode, 0, "exit status (stderr %r)" % p.stderr)
        c = counts(p.stdout)
        eq((c.get("new"), c.get("with new features")), (2, 1),
           "new samples, features")
        if TIFF not in p.stderr:
            raise AssertionError("the library is not named: %r" % p.stderr)
        if not re.search(r"%s.*decoder library cannot be loaded" %
                         re.escape(tif), p.stderr):
            raise AssertionError("no note for the TIFF: %r" % p.stderr)
        again = curate("import", "--store", store, src)
        c = counts(again.stdout)
        eq((c.get("unchanged"), c.get("with new features")), (2, 1),
           "the next import with libtiff")
    ck.run("without libtiff the import starts, keeps the TIFF from its "
           "header and says why it has no features", no_libtiff)

    def no_libzip():
        z = w.sub("export.zip")
        with zipfile.ZipFile(z, "w") as f:
            f.writestr("annotations/instances_default.json",
                       '{"images": [], "annotations": [], "categories": []}')
        before = curate("info", "--store", store, "--json").stdout
        p = without(ZIP, CURATE, "import-labels", "--store", store,
                    "--format", "cvat-zip", z)
        fails_naming(p, ZIP)
        eq(curate("info", "--store", store, "--json").stdout, before,
           "the store after the failed import")
    ck.run("without libzip a zip import fails with the reason and changes "
           "nothing", no_libzip)

    def no_openblas():
        before = curate("info", "--store", store, "--json").stdout
        fails_naming(without(BLAS, CURATE, "table", "--store", store), BLAS)
        eq(curate("info", "--store", store, "--json").stdout, before,
           "the store after the failed table")
        # Loaded again by the next program: the table has both samples.
        eq(len(curate("table", "--store", store).stdout.splitlines()), 3,
           "the table's lines with OpenBLAS")
    ck.run("without OpenBLAS the neighbour search fails with the reason "
           "and changes nothing", no_openblas)

    def no_libcurl():
        # Credentials and an endpoint of our own (nothing listens on port
        # 9), so that nothing here depends on the machine's AWS settings.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID="AKIDLAZY", AWS_SECRET_ACCESS_KEY="x",
                   AWS_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
                   AWS_SHARED_CREDENTIALS_FILE="/dev/null",
                   AWS_ENDPOINT_URL="http://127.0.0.1:9")
        before = curate("info", "--store", store, "--json").stdout
        fails_naming(without(CURL, CURATE, "import", "--store", store,
                             "s3://bucket/prefix", env=env), CURL)
        eq(curate("info", "--store", store, "--json").stdout, before,
           "the store after the failed import")
    ck.run("without libcurl an S3 import fails with the reason and changes "
           "nothing", no_libcurl)


run_suite("curatefs-lazy-", body)
