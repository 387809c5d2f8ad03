#!/bin/sh
# Benchmarks: builds (release) and prints every figure as a ratio against a
# baseline measured in the same run.  Pass --small for a quick run.
set -e
cd "$(dirname "$0")/.."
sh scripts/deps.sh
[ -d build-bench ] || meson setup build-bench -Dbuildtype=release >/dev/null
ninja -C build-bench
/usr/bin/python3 tests/bench/bench_fs.py build-bench "$@"
