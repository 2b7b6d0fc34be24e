#!/usr/bin/env bash
# Engine vs PyTorch twin, one device call (issue 4): checks the engine's output against the twin's fp32 output on a
# real image (8-bit PSNR, ≥ 50 dB asked), times the engine (`nalasr bench`, network ms, observed peak) and the twin
# (models/bench_infer.py: eager fp32, eager bf16 autocast, torch.compile bf16) at 265×265 and 960×540 ×4, NaLa and
# Pola (Pola not compiled unless --pola-compile), and prints one markdown table per kind. About 4–6 minutes.
#
#   bash kernels/bench/run_compare.sh BIN_DIR OUT_DIR [--check IMG]... [--pola-compile] [--no-pola] [--triton]
#        [--variants LIST] [--compile-mode MODE] [--compile-scope model|blocks] [--budget SECONDS] [--quick]
#
# Run from anywhere; IMG paths are relative to the repo root. BIN_DIR holds `nalasr` (a CUDA build); a
# device-bundle BIN_DIR/libs.tar.xz or BIN_DIR/../libs.tar.xz is unpacked and used for the engine's runs only.
# --check IMG (repeatable; default resources/samples/sample.png): an RGB LR image for the correctness check.
# --budget: PyTorch points that would start after this many seconds are skipped (default 240; keep it ≤ 350 so the
# whole call stays under 10 minutes). --triton adds eager-bf16+triton,compile-bf16+triton (the twin's fused Triton
# attention, where models/triton_attention.py has it; run last). --variants: bench_infer.py's list, replacing the
# default eager-fp32,eager-bf16,compile-bf16. OUT_DIR gets log.txt, table.md, compare.json, torch.json,
# engine_bench.json.
# Smoke test without a GPU: DEVICE=cpu SIZES=32x24 PYTHON=/usr/bin/python3 bash kernels/bench/run_compare.sh ...
set -uo pipefail
bin=$(cd "$1" && pwd); out=$2
shift 2
checks=() pola=1 pola_compile=0 compile_mode=default compile_scope=model budget=240 repeats=10 engine_repeats=20
variants=eager-fp32,eager-bf16,compile-bf16 triton=0
while [ $# -gt 0 ]; do
  case $1 in
    --check) checks+=("$2"); shift ;;
    --pola-compile) pola_compile=1 ;;
    --no-pola) pola=0 ;;
    --triton) triton=1 ;;
    --variants) variants=$2; shift ;;
    --compile-mode) compile_mode=$2; shift ;;
    --compile-scope) compile_scope=$2; shift ;;
    --budget) budget=$2; shift ;;
    --quick) repeats=5 engine_repeats=10 pola=0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ ${#checks[@]} -eq 0 ] && checks=(resources/samples/sample.png)
device=${DEVICE:-cuda} sizes=${SIZES:-265x265,960x540} py=${PYTHON:-python3}
model=resources/models/nalasr_nala_x4.safetensors
kinds=nala; [ $pola = 1 ] && kinds=nala,pola
compile_kinds=nala; [ $pola_compile = 1 ] && compile_kinds=$kinds
[ $triton = 1 ] && variants=$variants,eager-bf16+triton,compile-bf16+triton
mkdir -p "$out"; out=$(cd "$out" && pwd)
rm -f "$out/engine_bench.json" "$out/torch.json"  # never report a previous run's figures
cd "$(dirname "$0")/../.." || exit 2  # the repo root: model, check images and scripts are named relative to it
work=$(mktemp -d)

# The engine's bundled libraries go on its own LD_LIBRARY_PATH, not on Python's (torch brings its own).
engine_ld=${LD_LIBRARY_PATH:-}
for tarball in "$bin/libs.tar.xz" "$bin/../libs.tar.xz"; do
  if [ -f "$tarball" ]; then
    mkdir -p "$work/libs" && tar -xJf "$tarball" -C "$work/libs" && engine_ld=$work/libs${engine_ld:+:$engine_ld}
    break
  fi
done
py_ld=$(printf '%s' "${LD_LIBRARY_PATH:-}" | tr ':' '\n' | grep -v devlibs | paste -sd: -)
nalasr=(env LD_LIBRARY_PATH="$engine_ld" "$bin/nalasr")
python=(env LD_LIBRARY_PATH="$py_ld" "$py")

{
  echo "== environment"
  date -u +%Y-%m-%dT%H:%M:%SZ | tee "$work/date.txt"
  if [ "$device" = cuda ]; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1 | tee "$work/gpu.txt"
  fi
  "${python[@]}" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)'
  "${nalasr[@]}" --version

  echo; echo "== engine: upscale for the correctness check"
  check_args=()
  for img in "${checks[@]}"; do
    sr="$work/engine_$(basename "${img%.*}")_x4.png"
    timeout 90 "${nalasr[@]}" upscale "$img" -o "$sr" --device "$device" -m "$model" \
      --overwrite 2>&1 | grep -v '^\['
    check_args+=(--check "$img:$sr")
  done

  echo; echo "== engine: nalasr bench"
  timeout 150 "${nalasr[@]}" bench --device "$device" --attention "$kinds" \
    --sizes "$sizes" -m "$model" --warmup 3 --repeats $engine_repeats --out "$work/engine" --no-plot
  cp "$work/engine/bench.json" "$out/engine_bench.json"

  echo; echo "== PyTorch twin: models/bench_infer.py"
  timeout $((budget + 150)) "${python[@]}" models/bench_infer.py --device "$device" \
    --model "$model" --sizes "$sizes" --attention "$kinds" --compile-attention "$compile_kinds" \
    --variants "$variants" --compile-mode "$compile_mode" --compile-scope "$compile_scope" \
    --warmup 2 --repeats $repeats --budget-s "$budget" "${check_args[@]}" --json "$out/torch.json"
  echo "bench_infer exit $?"

  echo; echo "== table"
  "${python[@]}" models/compare_report.py --engine "$out/engine_bench.json" --torch "$out/torch.json" \
    --engine-device "$device" --gpu "$work/gpu.txt" --date "$(cat "$work/date.txt")" --out "$out"
} 2>&1 | tee "$out/log.txt"
rm -rf "$work"
