#!/bin/sh
# The main job: installs what is missing, builds, imports a demo dataset of
# real photographs (from Debian packages that ship them; generated
# photographic images if those cannot be fetched), mixed with one picture
# in every variant of every image format (formats/), and mounts it at
# ./demo/mnt, then prints what to try.
set -e
cd "$(dirname "$0")/.."
sh scripts/deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build
D=$PWD/demo
mkdir -p "$D/photos" "$D/debs"
if [ -z "$(ls -A "$D/photos")" ]; then
  (cd "$D/debs" && apt-get download scratch tuxpaint-data darknet \
      palapeli-data labelme-examples >/dev/null 2>&1) || true
  for f in "$D"/debs/*.deb; do
    [ -e "$f" ] && dpkg -x "$f" "$D/debs/x"
  done
  if [ -d "$D/debs/x" ]; then
    find "$D/debs/x" -iname '*.jp*g' -size +20k -exec cp {} "$D/photos/" \;
    # The packages' larger PNGs (pictures, not icons) make the folder mixed.
    find "$D/debs/x" -iname '*.png' -size +100k | sort | head -n 40 |
      while read -r f; do cp "$f" "$D/photos/"; done
  fi
  if [ -z "$(ls -A "$D/photos")" ]; then
    echo "no photo packages reachable: generating photographic images"
    build/tests/mkjpeg -n 200 -d 4 "$D/photos"
  fi
  # One picture in each variant of JPEG, PNG, WebP, TIFF, BMP and GIF.
  build/tests/mkimg -W 640 -H 480 "$D/photos/formats" >/dev/null
fi
# labelme-examples ships real COCO instance annotations for three of its
# photographs (Pascal VOC images): they become the demo's ground truth.
COCO=$(find "$D/debs/x" -path '*data_dataset_coco/annotations.json' 2>/dev/null | head -1)
build/tools/curate import --store "$D/store" ${COCO:+--coco "$COCO"} "$D/photos"
mkdir -p "$D/mnt"
if mountpoint -q "$D/mnt"; then fusermount3 -u "$D/mnt"; fi
build/fs/curatefs "$D/store" "$D/mnt"
M=$D/mnt
# A labels file worth showing: an annotated photo when there is one.
LAB=2011_000003.json
[ -e "$M/labels/$LAB" ] || LAB=$(ls "$M/labels" | head -1)
cat <<TOUR

curatefs is mounted at $M

  cat $M/README.txt                  what this tree is
  ls $M/samples | head               every image (open them in any viewer)
  ls $M/samples | sed 's/.*\.//' | sort | uniq -c
                                     formats: .jpg .png .webp .tif .bmp .gif
  cat $M/labels/$LAB      its labels (boxes, when it has some)
  mkdir $M/tags/reannotate
  mv $M/samples/\$(ls $M/samples | head -1) $M/tags/reannotate/
  ls $M/tags/reannotate
  ls $M/views                        unique, near-duplicates, dupes, ...
  cat $M/config                      settings; echo 'key = value' > $M/config
  ls $M/export/coco/annotations      training-ready COCO (also yolo, voc, imagenet)
  cat $M/eval/run                    how to evaluate predictions
  cat $M/cvat/push                   how to send samples to CVAT (needs CVAT_URL ...)
  cat $M/status                      counts, import state, views, recent errors

Unmount with: fusermount3 -u $M
TOUR
