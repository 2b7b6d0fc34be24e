#!/usr/bin/env bash
# Product-level GPU benchmark, one device call: `nalasr info`, the memory/time sweep of `nalasr bench` (NaLa, Pola,
# softmax on CUDA), a 4096×4096 tile-free ×4 upscale, the largest input per attention kind, the bundled sample,
# and a 20-image 960×540 PNG → 3840×2160 PNG batch timed end to end (decode, upload, network, download, encode).
#
#   bash kernels/bench/run_cli_bench.sh BIN_DIR OUT_DIR      (BIN_DIR holds the `nalasr` binary)
#
# Everything lands in OUT_DIR/results.tar.gz plus OUT_DIR/log.txt (the device tool returns at most 8 files).
set -uo pipefail
bin=$(cd "$1" && pwd); out=$2
work=$(mktemp -d); mkdir -p "$out"
nalasr="$bin/nalasr"
step() { echo; echo "== $*"; }
{
  step "info"; "$nalasr" info
  step "bench sweep (quick)"; "$nalasr" bench --device cuda --quick --out "$work/cuda-quick" --no-plot
  step "bench 4096x4096 (16.8M tokens)"
  "$nalasr" bench --device cuda --attention nala,pola --sizes 4096 --repeats 2 --out "$work/cuda-4096" --no-plot
  step "largest square input"; "$nalasr" bench --device cuda --max --out "$work/cuda-max" --no-plot
  step "sample"
  "$nalasr" upscale resources/samples/sample.png -o "$work/sample_x4.png" --device cuda --report "$work/sample.json"
  step "batch: 20 x 960x540 PNG -> 3840x2160 PNG"
  python3 - "$work/batch_in" <<'PY'
import sys, os, cv2, numpy as np
dst = sys.argv[1]; os.makedirs(dst, exist_ok=True)
src = cv2.imread("resources/samples/sample.png")
rng = np.random.default_rng(0)
for i in range(20):  # 20 different 960x540 photos-like images: resized sample, flipped, shifted, noise
    img = cv2.resize(src, (960 + 8 * i, 540 + 8 * i), interpolation=cv2.INTER_CUBIC)[i:i + 540, i:i + 960]
    if i % 2: img = img[:, ::-1]
    img = np.clip(img.astype(np.int16) + rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)
    cv2.imwrite(f"{dst}/img_{i:02d}.png", img)
PY
  for jobs in 4 8; do
    rm -rf "$work/batch_out"
    start=$(date +%s%N)
    "$nalasr" upscale "$work/batch_in" -o "$work/batch_out" --device cuda -j $jobs --report "$work/batch_j$jobs.json" \
      > "$work/batch_j$jobs.txt" 2>&1
    end=$(date +%s%N)
    tail -5 "$work/batch_j$jobs.txt"
    echo "batch -j $jobs: $(( (end - start) / 1000000 )) ms wall for 20 images (process start and model load included)"
  done
} 2>&1 | tee "$out/log.txt"
rm -rf "$work/batch_in" "$work/batch_out"
tar -C "$work" -czf "$out/results.tar.gz" .
