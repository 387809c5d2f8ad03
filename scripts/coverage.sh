#!/bin/sh
# Line and branch coverage of core/ and fs/: builds build-cov with gcov
# instrumentation (-Db_coverage=true), runs every suite, and prints the
# summary of each folder with gcovr (Debian package, installed by
# scripts/deps.sh).  Exit status: that of the test run.  A daemon killed by
# SIGKILL in a test writes no counts, so the figures are a lower bound.
set -u
cd "$(dirname "$0")/.."
sh scripts/deps.sh || exit 1
[ -n "$(ls /sys/fs/fuse/connections 2>/dev/null)" ] ||
  mount -t fusectl none /sys/fs/fuse/connections 2>/dev/null || true
dir=build-cov
if ! meson setup "$dir" -Db_coverage=true -Dbuildtype=debug >"$dir.setup.log" 2>&1 &&
   ! meson setup --reconfigure "$dir" -Db_coverage=true -Dbuildtype=debug >"$dir.setup.log" 2>&1; then
  cat "$dir.setup.log"; exit 1
fi
ninja -C "$dir" || exit 1
find "$dir" -name '*.gcda' -delete
meson test -C "$dir" --num-processes 2 --print-errorlogs \
  --suite unit --suite store --suite fs --suite cvat --suite export --suite quality \
  --suite s3
rc=$?
for part in core fs; do
  echo "== $part/"
  gcovr -r . --object-directory "$dir" --filter "$part/" --print-summary \
    --output /dev/null "$dir" 2>/dev/null | grep -E '^(lines|branches):'
done
exit $rc
