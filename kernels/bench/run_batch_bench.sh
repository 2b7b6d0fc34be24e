#!/usr/bin/env bash
# Batch throughput on the GPU machine, end to end (process start, model load, decode, upload, network, download,
# encode): the Upscayl anchor (20 different 960×540 PNGs → 3840×2160 PNGs) and, for the multi-GPU issue, a folder
# of mixed sizes run once per device list, with every output compared byte for byte against the first run.
#
#   kernels/bench/run_batch_bench.sh BIN_DIR OUT_DIR [--mixed N] [--gpus "0 0,1"] [--jobs "8"] [--mixed-jobs "8 16"]
#                                   [--mixed-formats "png jpg bmp"]
#
# BIN_DIR holds the `nalasr` binary. --jobs: the -j values of the anchor runs. --mixed N: also make N images of
# mixed sizes (64² … 1280×720) and run them with `-g LIST` for each LIST in --gpus (default "0") and each -j in
# --mixed-jobs (default 8) and each output format in --mixed-formats (default png: the input's); every output
# is compared with the first run of its format. Logs and JSON reports land in OUT_DIR.
set -uo pipefail
bin=$(cd "$1" && pwd); out=$2
shift 2
mixed=0 gpus="0" jobs="8" mixed_jobs="8" mixed_formats="png"
while [ $# -gt 0 ]; do
  case $1 in
    --mixed) mixed=$2; shift ;;
    --gpus) gpus=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    --mixed-jobs) mixed_jobs=$2; shift ;;
    --mixed-formats) mixed_formats=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out"
work=$(mktemp -d)
nalasr="$bin/nalasr"

make_images() {  # make_images DIR COUNT anchor|mixed
  python3 - "$@" <<'PY'
import os, sys, cv2, numpy as np
dst, count, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(dst, exist_ok=True)
src = cv2.imread("resources/samples/sample.png")
rng = np.random.default_rng(0)
sizes = [(64, 64), (200, 150), (320, 240), (480, 270), (640, 480), (960, 540), (1280, 720)]
for i in range(count):  # different images: the sample resized, shifted, flipped, with a little noise
    w, h = (960, 540) if kind == "anchor" else sizes[int(rng.integers(len(sizes)))]
    img = cv2.resize(src, (w + 8 * (i % 16), h + 8 * (i % 16)), interpolation=cv2.INTER_CUBIC)
    img = img[i % 16:i % 16 + h, i % 16:i % 16 + w]
    if i % 2: img = img[:, ::-1]
    img = np.clip(img.astype(np.int16) + rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)
    cv2.imwrite(f"{dst}/img_{i:03d}.png", img)
PY
}

run() {  # run NAME INPUT_DIR ARGS...: one timed batch, its summary and report kept
  local name=$1 input=$2
  shift 2
  rm -rf "$work/out_$name"
  local start end
  start=$(date +%s%N)
  "$nalasr" upscale "$input" -o "$work/out_$name" "$@" --report "$out/report_$name.json" > "$out/$name.txt" 2>&1
  local rc=$?
  end=$(date +%s%N)
  local files
  files=$(find "$input" -maxdepth 1 -type f | wc -l)
  tail -4 "$out/$name.txt"
  awk -v ms=$(( (end - start) / 1000000 )) -v n="$files" -v name="$name" -v rc=$rc 'BEGIN {
    printf "%s: exit %d, %d ms wall for %d images, %.3f s per image, %.2f images/s\n", name, rc, ms, n, ms / 1000 / n, n * 1000 / ms }'
}

same_outputs() {  # same_outputs A B: every output file of run A equals run B's
  local a=$work/out_$1 b=$work/out_$2 differ=0
  for f in "$a"/*; do cmp -s "$f" "$b/$(basename "$f")" || differ=$((differ + 1)); done
  echo "outputs of '$2' vs '$1': $(ls "$a" | wc -l) files, $differ differ"
}

{
  nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv
  echo "== anchor: 20 x 960x540 PNG -> 3840x2160 PNG"
  make_images "$work/anchor" 20 anchor
  for j in $jobs; do run "anchor_j$j" "$work/anchor" --device cuda -j "$j"; done
  if [ "$mixed" -gt 0 ]; then
    echo "== mixed: $mixed images"
    make_images "$work/mixed" "$mixed" mixed
    for f in $mixed_formats; do
      first=""
      for g in $gpus; do
        for j in $mixed_jobs; do
          name="mixed_${f}_g${g//,/_}_j$j"
          run "$name" "$work/mixed" -g "$g" -j "$j" -f "$f"
          if [ -z "$first" ]; then first=$name; else same_outputs "$first" "$name"; fi
        done
      done
    done
    first="mixed_${mixed_formats%% *}_g${gpus%% *}_j${mixed_jobs%% *}"
    first=${first//,/_}
    run mixed_device_cuda "$work/mixed" --device cuda -j "${mixed_jobs%% *}" -f "${mixed_formats%% *}"
    same_outputs "$first" mixed_device_cuda
  fi
} 2>&1 | tee "$out/log.txt"
rm -rf "$work"
