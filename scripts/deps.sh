#!/bin/sh
# Installs the Debian 12 packages curatefs needs to build, test and run.
# clang-14 with libclang-rt-14-dev (libFuzzer) builds the fuzzing
# harnesses (scripts/fuzz.sh); python3-botocore and awscli drive the S3
# tests (tests/s3/: the test server checks signatures with botocore);
# FreeType and DejaVu Sans draw the text of pictures (core/image/font.c);
# rsync copies a whole mount in tests/cvat/test_cvat_backup.py.
set -e
PKGS="meson ninja-build pkg-config gcc libfuse3-dev fuse3 liblmdb-dev
lmdb-utils libjansson-dev libturbojpeg0-dev libjpeg62-turbo-dev libcurl4-openssl-dev
libxxhash-dev libopenblas-dev libjpeg-turbo-progs python3 python3-numpy
libzip-dev python3-torchvision curl python3-pandas attr man-db
libspng-dev libwebp-dev libtiff-dev libgif-dev libpng-dev zlib1g-dev python3-pil
libexpat1-dev libyaml-dev clang-14 libclang-rt-14-dev gcovr
python3-botocore awscli libfreetype-dev fonts-dejavu-core openssl rsync"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q \
    --no-install-recommends $missing
fi
