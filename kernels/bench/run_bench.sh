#!/usr/bin/env bash
# Runs the CUDA tests, a compute-sanitizer pass and the forward benchmark on a GPU machine, with logs in OUT_DIR.
#
#   kernels/bench/run_bench.sh BIN_DIR OUT_DIR [--no-tests] [--no-sanitize] [--no-softmax] [--quick]
#
# BIN_DIR holds nalasr_cuda_tests and nalasr_cuda_bench (built elsewhere; see docs/cuda_notes.md for the
# device workflow), and optionally baseline/nalasr_cuda_bench, a build of the previous version timed in the same
# run (timings from different runs or cards are not compared). Each step has a time limit, so one stuck step
# cannot take the others' results with it. With ncu on the PATH the depthwise kernels and the attention passes are
# also timed one launch at a time (gpu__time_duration), for the baseline build too. The summary is printed last.
set -uo pipefail
bin=$1 out=$2
shift 2
tests=1 sanitize=1 softmax=1 quick=0
for a in "$@"; do
  case $a in
    --no-tests) tests=0 ;;
    --no-sanitize) sanitize=0 ;;
    --no-softmax) softmax=0 ;;
    --quick) quick=1 ;;
    *) echo "unknown option $a" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv > "$out/gpu.txt" 2>&1

if [ $tests = 1 ]; then
  timeout 90 "$bin/nalasr_cuda_tests" > "$out/tests.log" 2>&1
  echo "tests exit $?" >> "$out/tests.log"
fi
if [ $sanitize = 1 ]; then
  # The end-to-end forward of the default network and of the odd configs, plus the largest op cases.
  timeout 75 compute-sanitizer --tool memcheck --leak-check full --error-exitcode 3 "$bin/nalasr_cuda_tests" \
    --gtest_filter='Models/CudaForward.*nala_C64*:Models/CudaForward.*C16*:Models/CudaForward.*pola_C48*:Table/BackendOps.*H_63_W_13*:Table/BackendOps.*H_181_W_191*:Table/BackendOps.*conv*_H_1_W_1_C*:Table/BackendOps.*conv*_H_17_W_33_*:Table/BackendOps.*conv*_H_45_W_1_C*' \
    > "$out/sanitizer.log" 2>&1
  echo "sanitizer exit $?" >> "$out/sanitizer.log"
  # Shared-memory hazards: the implicit-GEMM convolution (staging vs ldmatrix across tiles of one block), the FFN's
  # double-buffered GELU row, the tail's staged tile, pass 2's per-thread q slots.
  timeout 90 compute-sanitizer --tool racecheck --error-exitcode 3 "$bin/nalasr_cuda_tests" \
    --gtest_filter='Table/BackendOps.*conv_accumulate_H_17_W_33_*:Table/BackendOps.*conv_upsample_shuffle_H_17_W_33_*:Table/BackendOps.*ffn_hidden_H_17_W_33_*:Table/BackendOps.*tail_H_17_W_33_*:Table/BackendOps.*cpe_layernorm_H_17_W_33_*:Table/BackendOps.*nala_H_7_W_7_*:Table/BackendOps.*pola_H_7_W_7_*:Table/BackendOps.*_H_5_W_13_*' \
    > "$out/racecheck.log" 2>&1
  echo "racecheck exit $?" >> "$out/racecheck.log"
fi
repeats=20; [ $quick = 1 ] && repeats=5
timeout 45 "$bin/nalasr_cuda_bench" --repeats $repeats > "$out/bench.log" 2>&1
if [ -x "$bin/baseline/nalasr_cuda_bench" ]; then
  timeout 35 "$bin/baseline/nalasr_cuda_bench" --repeats $repeats --kinds nala > "$out/bench_baseline.log" 2>&1
fi
timeout 15 env NALASR_CUDA_GRAPHS=0 "$bin/nalasr_cuda_bench" --repeats $repeats --kinds nala --no-ops \
  > "$out/bench_nograph.log" 2>&1
if command -v ncu > /dev/null; then
  # The op table's second call of each kernel (the first is its warm-up); no forward passes (no kind named).
  timeout 35 ncu --clock-control none --metrics gpu__time_duration.sum \
    -k 'regex:pass1_kernel|reduce_kernel|pass2_kernel|tail_kernel|cpe_residual|ffn_gelu|conv3x3_implicit' \
    "$bin/nalasr_cuda_bench" --repeats 1 --kinds none 960x540 > "$out/ncu.log" 2>&1
  if [ -x "$bin/baseline/nalasr_cuda_bench" ]; then
    timeout 35 ncu --clock-control none --metrics gpu__time_duration.sum \
      -k 'regex:pass1_kernel|reduce_kernel|pass2_kernel|tail_kernel|cpe_residual|ffn_gelu' \
      "$bin/baseline/nalasr_cuda_bench" --repeats 1 --kinds none 960x540 > "$out/ncu_baseline.log" 2>&1
  fi
fi
if [ $softmax = 1 ]; then
  # The memory baseline: softmax attention with its N² scores (a few slow passes).
  "$bin/nalasr_cuda_bench" --repeats 2 --warmup 1 --kinds softmax --no-ops 96x96 265x265 > "$out/bench_softmax.log" 2>&1
fi

echo "=== gpu"; cat "$out/gpu.txt"
if [ $tests = 1 ]; then
  echo "=== tests"
  grep -E "\[(e2e|oom|plan)\]|float64" "$out/tests.log" | cut -c1-150 | head -n 50
  grep -E "Failure|FAILED|PASSED|tests exit" "$out/tests.log" | head -n 30
fi
if [ $sanitize = 1 ]; then
  echo "=== sanitizer"; grep -E "ERROR SUMMARY|LEAK SUMMARY|Invalid|sanitizer exit|PASSED|FAILED" "$out/sanitizer.log" | head -20
  echo "=== racecheck"; grep -E "ERROR SUMMARY|RACECHECK SUMMARY|hazard|racecheck exit|PASSED|FAILED" "$out/racecheck.log" | head -10
fi
echo "=== bench (CUDA graphs)"; cat "$out/bench.log"
[ -f "$out/bench_baseline.log" ] && { echo "=== bench, baseline build"; cat "$out/bench_baseline.log"; }
echo "=== bench (no graphs)"; cat "$out/bench_nograph.log"
for f in ncu ncu_baseline; do
  [ -f "$out/$f.log" ] && { echo "=== $f (time per launch)"; grep -E "pass1|reduce|pass2|tail_kernel|cpe_resid|ffn_gelu|conv3x3_impl|gpu__time_duration|==ERR|==WARN" "$out/$f.log" | sed 's/^ *//' | cut -c1-160 | head -40; }
done
[ $softmax = 1 ] && { echo "=== bench softmax"; cat "$out/bench_softmax.log"; }
exit 0
