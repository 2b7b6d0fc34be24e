#!/usr/bin/env bash
# CUDA backend vs the CPU float32 backend on the benchmark images (issue 4: PSNR between the two 8-bit outputs
# ≥ 50 dB). Upscales every *_LR.png of each DATASET folder with the built-in ×S model of each attention kind, once
# with --device cpu and once with --device cuda, and prints the RGB 8-bit PSNR and max |difference| of each pair,
# then the worst pair per kind. Needs python3 (or $PYTHON) with torch, numpy and opencv (the GPU machine has them);
# the images are read and compared by models/data.py's read_rgb and models/eval.py's psnr.
#
#   bash kernels/bench/run_cpu_parity.sh BIN_DIR OUT_DIR [--scale S] [--kinds nala,pola] DATASET_DIR...
#
# BIN_DIR holds `nalasr` (a CUDA build). Exit status 1 when a pair is below 50 dB or an upscale failed.
set -uo pipefail
bin=$(cd "$1" && pwd); out=$2
shift 2
scale=4 kinds=nala,pola datasets=()
while [ $# -gt 0 ]; do
  case $1 in
    --scale) scale=$2; shift ;;
    --kinds) kinds=$2; shift ;;
    *) datasets+=("$1") ;;
  esac
  shift
done
[ ${#datasets[@]} -gt 0 ] || { echo "usage: run_cpu_parity.sh BIN_DIR OUT_DIR [--scale S] [--kinds K] DATASET_DIR..." >&2; exit 2; }
mkdir -p "$out/lr"
for d in "${datasets[@]}"; do
  for f in "$d"/*_LR.png; do cp "$f" "$out/lr/$(basename "$(dirname "$d")")_$(basename "$d")_$(basename "$f")"; done
done
status=0
for kind in ${kinds//,/ }; do
  for dev in cpu cuda; do
    "$bin/nalasr" upscale "$out/lr" -o "$out/$kind-$dev" -s "$scale" --attention "$kind" --device "$dev" \
      --overwrite > "$out/$kind-$dev.log" 2>&1 || { echo "upscale $kind on $dev failed (see $kind-$dev.log)"; status=1; }
  done
done
models=$(cd "$(dirname "$0")/../../models" && pwd)  # read_rgb and psnr as the evaluation uses them
"${PYTHON:-python3}" - "$out" "$kinds" "$models" <<'PY' || status=1
import glob, os, sys
import numpy as np
out, kinds = sys.argv[1], sys.argv[2].split(",")
sys.path.insert(0, sys.argv[3])
import torch
from data import read_rgb
from eval import psnr
failed = False
for kind in kinds:
    worst = None
    for cpu_path in sorted(glob.glob(os.path.join(out, f"{kind}-cpu", "*"))):
        cuda_path = os.path.join(out, f"{kind}-cuda", os.path.basename(cpu_path))
        try:
            a, b = read_rgb(cpu_path), read_rgb(cuda_path)
        except IOError:
            a = b = None
        if a is None or a.shape != b.shape:
            print(f"{kind} {os.path.basename(cpu_path)}: missing or different size"); failed = True; continue
        d = a.astype(np.int16) - b.astype(np.int16)
        p = psnr(torch.from_numpy(a).double(), torch.from_numpy(b).double())
        print(f"{kind:5s} {os.path.basename(cpu_path):40s} {a.shape[1]:5d}x{a.shape[0]:<5d} PSNR {p:7.2f} dB  "
              f"max |diff| {int(np.abs(d).max())}  differing values {100 * np.count_nonzero(d) / d.size:.2f} %")
        worst = p if worst is None else min(worst, p)
        failed |= p < 50
    print(f"{kind}: worst pair {worst:.2f} dB (target >= 50)" if worst is not None else f"{kind}: no outputs")
    failed |= worst is None
sys.exit(1 if failed else 0)
PY
exit $status
