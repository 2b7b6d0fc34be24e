#!/usr/bin/env bash
# Runs the CUDA tests, a compute-sanitizer pass and the forward benchmark on a GPU machine, with logs in OUT_DIR.
#
#   kernels/bench/run_bench.sh BIN_DIR OUT_DIR [--no-tests] [--no-sanitize] [--quick]
#
# BIN_DIR holds nalasr_cuda_tests and nalasr_cuda_bench (built elsewhere; see docs/cuda_notes.md for the
# device workflow). The summary (test counts, errors, benchmark tables) is printed last.
set -uo pipefail
bin=$1 out=$2
shift 2
tests=1 sanitize=1 quick=0
for a in "$@"; do
  case $a in
    --no-tests) tests=0 ;;
    --no-sanitize) sanitize=0 ;;
    --quick) quick=1 ;;
    *) echo "unknown option $a" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv > "$out/gpu.txt" 2>&1

if [ $tests = 1 ]; then
  "$bin/nalasr_cuda_tests" > "$out/tests.log" 2>&1
  echo "tests exit $?" >> "$out/tests.log"
fi
if [ $sanitize = 1 ]; then
  # The end-to-end forward of the default network and of the odd configs, plus the largest op cases.
  compute-sanitizer --tool memcheck --leak-check full --error-exitcode 3 "$bin/nalasr_cuda_tests" \
    --gtest_filter='Models/CudaForward.*nala_C64*:Models/CudaForward.*C16*:Models/CudaForward.*pola_C48*:Table/BackendOps.*H_63_W_13*' \
    > "$out/sanitizer.log" 2>&1
  echo "sanitizer exit $?" >> "$out/sanitizer.log"
fi
repeats=20; [ $quick = 1 ] && repeats=5
"$bin/nalasr_cuda_bench" --repeats $repeats > "$out/bench.log" 2>&1
NALASR_CUDA_GRAPHS=0 "$bin/nalasr_cuda_bench" --repeats $repeats --kinds nala --no-ops > "$out/bench_nograph.log" 2>&1
# The memory baseline: softmax attention with its N² scores (a few slow passes).
"$bin/nalasr_cuda_bench" --repeats 2 --warmup 1 --kinds softmax --no-ops 96x96 265x265 > "$out/bench_softmax.log" 2>&1

echo "=== gpu"; cat "$out/gpu.txt"
if [ $tests = 1 ]; then
  echo "=== tests"
  grep -E "\[(e2e|oom|plan)\]|float64" "$out/tests.log" | cut -c1-150 | head -n 50
  grep -E "Failure|FAILED|PASSED|tests exit" "$out/tests.log" | head -n 30
fi
if [ $sanitize = 1 ]; then
  echo "=== sanitizer"; grep -E "ERROR SUMMARY|LEAK SUMMARY|Invalid|sanitizer exit|PASSED|FAILED" "$out/sanitizer.log" | head -20
fi
echo "=== bench (CUDA graphs)"; cat "$out/bench.log"
echo "=== bench (no graphs)"; cat "$out/bench_nograph.log"
echo "=== bench softmax"; cat "$out/bench_softmax.log"
