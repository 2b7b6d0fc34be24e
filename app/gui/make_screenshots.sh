#!/usr/bin/env bash
# Renders the GUI's main states (empty, compare, compare_two, running, memory) to docs/screenshots/*.png, headless:
# the offscreen Qt platform and QWidget::grab(), so no display or Xvfb is needed.
#
#   bash app/gui/make_screenshots.sh [image] [model.safetensors]
#
# Defaults: resources/samples/sample.png and the model built into the library. Environment: BUILD_DIR
# (default build), JOBS (default 2), OUT_DIR (default docs/screenshots).
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD_DIR="${BUILD_DIR:-build}"
OUT_DIR="${OUT_DIR:-docs/screenshots}"
image="${1:-resources/samples/sample.png}"
model="${2:-}"

if [[ ! -f "$BUILD_DIR/build.ninja" && ! -f "$BUILD_DIR/Makefile" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$BUILD_DIR" -j "${JOBS:-2}" --target nalasr-gui-screenshots
QT_QPA_PLATFORM=offscreen "$BUILD_DIR/app/gui/nalasr-gui-screenshots" "$OUT_DIR" "$image" ${model:+"$model"}
