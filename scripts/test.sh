#!/bin/sh
# The test command: installs what is missing, builds with -Werror, runs every
# suite, then again under AddressSanitizer + UBSan (built, with the fuzzing
# harnesses, at the lowest CPU priority while the first run's tests run),
# runs every fuzzing harness for FUZZ_SECONDS (default 15) each, and ends
# with one line "N passed, N failed, N skipped". The exit status is non-zero
# when anything failed, when `meson test` failed, when a registered test did
# not run or no log was written, and (with CI=true) when any test skipped;
# the counting is in scripts/testlog_totals.py.
set -u
cd "$(dirname "$0")/.."
sh scripts/deps.sh || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }
# Mount tests abort hung connections through fusectl.
[ -n "$(ls /sys/fs/fuse/connections 2>/dev/null)" ] ||
  mount -t fusectl none /sys/fs/fuse/connections 2>/dev/null || true

passed=0; failed=0; skipped=0
# Configures and builds one build folder; returns non-zero on failure.
build_dir() {
  dir=$1; shift
  if ! meson setup "$dir" -Dwerror=true "$@" >"$dir.setup.log" 2>&1 &&
     ! meson setup --reconfigure "$dir" -Dwerror=true "$@" >"$dir.setup.log" 2>&1; then
    cat "$dir.setup.log"; return 1
  fi
  ninja -C "$dir"
}
run_suites() {
  dir=$1; shift
  if ! build_dir "$dir" "$@"; then failed=$((failed + 1)); return; fi
  # The builds the later phases need compile while these tests run, at
  # the lowest CPU priority: the tests wait on mounts, servers and child
  # processes much of the time, and the compilers take only what the
  # tests leave.  Their output is in the .prebuild.log files; a failure
  # shows again, and counts, when the phase itself builds.
  if [ -n "${prebuild_cmd:-}" ]; then
    (nice -n 19 sh -c "$prebuild_cmd") >/dev/null 2>&1 &
    prebuild_pid=$!
  fi
  log="$dir/meson-logs/testlog.json"
  rm -f "$log"
  meson test -C "$dir" --print-errorlogs --num-processes 2 \
    --suite unit --suite store --suite fs --suite cvat --suite export --suite quality \
    --suite s3
  rc=$?
  set -- $(python3 scripts/testlog_totals.py "$dir" "$rc" || echo 0 1 0)
  passed=$((passed + $1)); failed=$((failed + $2)); skipped=$((skipped + $3))
}
asan_opts="-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug"
# While the plain build's tests run: the ASan build, then the fuzzing
# build (scripts/fuzz.sh --build).
prebuild_cmd="{ { meson setup build-asan -Dwerror=true $asan_opts ||
  meson setup --reconfigure build-asan -Dwerror=true $asan_opts; } &&
  ninja -C build-asan; } >build-asan.prebuild.log 2>&1;
  sh scripts/fuzz.sh --build >build-fuzz.prebuild.log 2>&1"
run_suites build-ci
prebuild_cmd=
[ -n "${prebuild_pid:-}" ] && wait "$prebuild_pid"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run_suites build-asan $asan_opts
# Fuzzing: each harness for a bounded time over its committed corpus
# (scripts/fuzz.sh); each counts as one test.
fuzz_out=$(sh scripts/fuzz.sh "${FUZZ_SECONDS:-15}" 2>&1)
echo "$fuzz_out" | grep -v '^\[' | grep -v '^ninja: '
p=$(echo "$fuzz_out" | grep -c '^fuzz [a-z_]*: ok' || true)
f=$(echo "$fuzz_out" | grep -c -E '^fuzz [a-z_]*: FAILED|^fuzz (setup|build) failed' || true)
# A harness that reported neither ok nor FAILED (the run died) fails too.
want=$(sed -n "/^fuzz_harnesses = \[/,/\]/p" tests/meson.build |
       tr -d "[]',=" | sed 's/fuzz_harnesses//' | wc -w)
[ "$((${p:-0} + ${f:-0}))" -lt "$want" ] && f=$((want - ${p:-0}))
passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
