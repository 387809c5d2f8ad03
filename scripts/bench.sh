#!/bin/sh
# Benchmarks: builds (release) and prints every figure as a ratio against a
# baseline measured in the same run.
#   sh scripts/bench.sh [AREA] [--small]
# AREA is one of the names below (default: all).  --small runs a quick,
# scaled-down version.
set -e
cd "$(dirname "$0")/.."
sh scripts/deps.sh
[ -d build-bench ] || meson setup build-bench -Dbuildtype=release >/dev/null
ninja -C build-bench
area=all
case "${1:-}" in --*|"") ;; *) area=$1; shift ;; esac
run() {
  [ "$area" = all ] || [ "$area" = "$1" ] || return 0
  shift
  echo "== $*"
  "$@"
}
# One line per area: name, then the command.
run fs /usr/bin/python3 tests/bench/bench_fs.py build-bench "$@"
run eval /usr/bin/python3 tests/bench/bench_eval.py build-bench "$@"
run cvat /usr/bin/python3 tests/bench/bench_cvat.py build-bench "$@"
run export /usr/bin/python3 tests/bench/bench_export.py build-bench "$@"
run features /usr/bin/python3 tests/bench/bench_features.py build-bench "$@"
run generated /usr/bin/python3 tests/bench/bench_generated.py build-bench "$@"
run compute build-bench/tests/bench_knn "$@"
run group build-bench/tests/bench_group "$@"
run map build-bench/tests/bench_map "$@"
run s3 /usr/bin/python3 tests/bench/bench_s3.py build-bench "$@"
run neardup /usr/bin/python3 tests/bench/bench_neardup.py build-bench "$@"
