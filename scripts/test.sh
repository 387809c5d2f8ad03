#!/bin/sh
# The test command: installs what is missing, builds with -Werror, runs every
# suite, then again under AddressSanitizer + UBSan, runs every fuzzing
# harness for FUZZ_SECONDS (default 20) each, and ends with one line
# "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
sh scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }
# Mount tests abort hung connections through fusectl.
[ -n "$(ls /sys/fs/fuse/connections 2>/dev/null)" ] ||
  mount -t fusectl none /sys/fs/fuse/connections 2>/dev/null || true

passed=0; failed=0
run_suites() {
  dir=$1; shift
  if ! meson setup "$dir" -Dwerror=true "$@" >"$dir.setup.log" 2>&1 &&
     ! meson setup --reconfigure "$dir" -Dwerror=true "$@" >"$dir.setup.log" 2>&1; then
    cat "$dir.setup.log"; failed=$((failed + 1)); return
  fi
  if ! ninja -C "$dir"; then failed=$((failed + 1)); return; fi
  meson test -C "$dir" --print-errorlogs --num-processes 2 \
    --suite unit --suite store --suite fs --suite cvat --suite export --suite quality
  log="$dir/meson-logs/testlog.json"
  p=$(grep -c '"result": "OK"' "$log" 2>/dev/null || true)
  f=$(grep -c -E '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" 2>/dev/null || true)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
}
run_suites build-ci
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run_suites build-asan -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debug
# Fuzzing: each harness for a bounded time over its committed corpus
# (scripts/fuzz.sh); each counts as one test.
fuzz_out=$(sh scripts/fuzz.sh "${FUZZ_SECONDS:-20}" 2>&1)
echo "$fuzz_out" | grep -v '^\[' | grep -v '^ninja: '
p=$(echo "$fuzz_out" | grep -c '^fuzz [a-z_]*: ok' || true)
f=$(echo "$fuzz_out" | grep -c -E '^fuzz [a-z_]*: FAILED|^fuzz (setup|build) failed' || true)
passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
