#!/bin/sh
# Runs each libFuzzer harness of tests/fuzz/ for a bounded time over its
# committed corpus (tests/fuzz/corpus/NAME/; every file in it, including
# inputs that once crashed, is replayed first), under ASan + UBSan.
#
#   sh scripts/fuzz.sh [SECONDS] [NAME...]
#   sh scripts/fuzz.sh --build       (only build them)
#
# Builds build-fuzz with clang (-Dfuzz=true) if needed.  New inputs the run
# finds go to a scratch folder, never into the committed corpus; a crash
# leaves its input in build-fuzz/fuzz-artifacts/ (copy it into the corpus
# once fixed, so it stays a regression test).  Prints one line per
# harness, "fuzz NAME: ok|FAILED, N runs, N exec/s, N s", and exits 1 if
# any failed.
#
# FUZZ_JOBS harnesses (default: one per CPU) run at the same time, each a
# single process for its whole SECONDS: a libFuzzer run uses one core, so
# on an otherwise idle machine each harness gets the same executions as
# when run alone, in a fraction of the wall time.
set -u
cd "$(dirname "$0")/.."
build_only=
[ "${1:-}" = --build ] && { build_only=1; shift; }
secs=${1:-20}
[ $# -gt 0 ] && shift
names=${*:-$(sed -n "/^fuzz_harnesses = \[/,/\]/p" tests/meson.build |
             tr -d "[]',=" | sed 's/fuzz_harnesses//')}
dir=build-fuzz
CLANG=${CLANG:-clang-14}
if [ ! -f "$dir/build.ninja" ]; then
  CC=$CLANG meson setup "$dir" -Dfuzz=true -Db_sanitize=address,undefined \
    -Db_lundef=false -Dbuildtype=debugoptimized >"$dir.setup.log" 2>&1 ||
    { cat "$dir.setup.log"; echo "fuzz setup failed"; exit 1; }
fi
targets=""
for n in $names; do targets="$targets tests/fuzz_$n"; done
ninja -C "$dir" $targets || { echo "fuzz build failed"; exit 1; }
[ -n "$build_only" ] && exit 0
art="$dir/fuzz-artifacts"
mkdir -p "$art"
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1
res=$(mktemp -d /tmp/curate-fuzz-result-XXXXXX)

# One harness: its result line (and, when it failed, the sanitizer's
# summary) into $res/NAME.
fuzz_one() {
  n=$1
  scratch=$(mktemp -d /tmp/curate-fuzz-corpus-XXXXXX)
  log="$dir/fuzz-$n.log"
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    "$dir/tests/fuzz_$n" -max_total_time="$secs" -print_final_stats=1 \
      -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -artifact_prefix="$art/$n-" "$scratch" "tests/fuzz/corpus/$n" \
      >"$log" 2>&1
  rc=$?
  rm -rf "$scratch"
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  if [ $rc -eq 0 ]; then
    echo "fuzz $n: ok, ${runs:-0} runs, ${eps:-0} exec/s, $secs s"
  else
    echo "fuzz $n: FAILED (exit $rc), ${runs:-0} runs; log $log:"
    grep -E "ERROR|SUMMARY|artifact|runtime error|Test unit written" "$log" |
      head -20
  fi >"$res/$n"
}

# Batches of $jobs: every run lasts $secs, so batches lose nothing to a
# job pool.
i=0
for n in $names; do
  fuzz_one "$n" &
  i=$((i + 1))
  [ $((i % jobs)) -eq 0 ] && wait
done
wait
fail=0
for n in $names; do
  if [ -s "$res/$n" ]; then
    cat "$res/$n"
  else
    echo "fuzz $n: FAILED (no result)"
  fi
  grep -q "^fuzz $n: ok" "$res/$n" 2>/dev/null || fail=1
done
rm -rf "$res"
exit $fail
