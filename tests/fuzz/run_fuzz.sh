#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/CMakeLists.txt, clang) and runs each for a bounded time from a
# seed corpus written by make_seeds. Exits non-zero if a target crashes, trips a sanitizer or hangs; the
# reproducer is left as FUZZ_DIR/crash-* (or oom-*, timeout-*) and can be replayed with `TARGET FILE`; once fixed,
# copy it to tests/fuzz/regressions/{image,model}/ so that it is replayed on every run.
#
#   bash tests/fuzz/run_fuzz.sh [SECONDS_PER_TARGET]     (default 60)
#
# Environment: FUZZ_DIR (default build-fuzz), JOBS (build parallelism). The working corpus is kept in
# FUZZ_DIR/corpus/TARGET, so longer runs by hand build on earlier ones.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${1:-60}"
FUZZ_DIR="${FUZZ_DIR:-build-fuzz}"
JOBS="${JOBS:-$(nproc)}"

CC=clang CXX=clang++ cmake -S tests/fuzz -B "$FUZZ_DIR" -G Ninja >/dev/null
cmake --build "$FUZZ_DIR" -j "$JOBS"

seeds="$FUZZ_DIR/seeds"
rm -rf "$seeds"
"$FUZZ_DIR/make_seeds" "$seeds"

# Leaks are found by the ASan/LSan build of the test suite; here they would only slow the runs.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
status=0
for target in fuzz_load_image:image:65536 fuzz_load_model:model:65536; do
  IFS=: read -r name seed_dir max_len <<<"$target"
  corpus="$FUZZ_DIR/corpus/$name"
  mkdir -p "$corpus"
  echo "fuzz: $name for ${seconds} s (corpus $corpus, seeds $seeds/$seed_dir)"
  # -rss_limit_mb: a parser that balloons memory on a small file is a bug too.
  # Inputs that once failed (tests/fuzz/regressions/) are replayed first, with the seeds.
  inputs=("corpus/$name" "seeds/$seed_dir")
  [[ -d "tests/fuzz/regressions/$seed_dir" ]] && inputs+=("$PWD/tests/fuzz/regressions/$seed_dir")
  # Under CI the mutation sequence is fixed (-seed), so a run that passed here passes there: CI must not fail on
  # a new finding by chance. Longer runs by hand (no CI) use a random seed and find new inputs.
  seed_flag=()
  [[ "${CI:-}" == true ]] && seed_flag=(-seed=20261125)
  if ! (cd "$FUZZ_DIR" && "./$name" "${inputs[@]}" "${seed_flag[@]}" -max_total_time="$seconds" -max_len="$max_len" \
          -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 2>"$name.log"); then
    echo "fuzz: $name FAILED; see $FUZZ_DIR/$name.log and the crash-*/timeout-*/oom-* files in $FUZZ_DIR" >&2
    tail -n 40 "$FUZZ_DIR/$name.log" >&2
    status=1
  fi
  grep -E "^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+.*DONE" "$FUZZ_DIR/$name.log" | sed "s/^/fuzz: $name: /" || true
done
exit "$status"
