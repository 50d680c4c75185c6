#!/usr/bin/env bash
# Reproduces the int8-vs-fp32 table in BENCHMARKS.md: exports the torchvision
# models, then runs engine_bench with all ISAs and with the VNNI cap.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
scripts/install_deps.sh
scripts/build.sh
MODELS_DIR=${MODELS_DIR:-$BUILD_DIR/torchvision}
[[ -f "$MODELS_DIR/resnet50.onnx" ]] || /usr/bin/python3 tools/export_torchvision.py --out "$MODELS_DIR"
# The Fashion CNN calibrates on real images (u8 input), the others on N(0,1).
FASHION_DIR=$BUILD_DIR/bench_fashion
mkdir -p "$FASHION_DIR"
cp tests/data/fashion_cnn.onnx "$FASHION_DIR/"
/usr/bin/python3 -c "import numpy as np; np.save('$FASHION_DIR/fashion_cnn_calibration.npy', np.load('tests/data/fashion_test_images.npy')[:200])"
models="$FASHION_DIR:fashion_cnn,$MODELS_DIR:resnet18,$MODELS_DIR:resnet50,$MODELS_DIR:mobilenet_v2"
for threads in 1 "$(nproc)"; do
  OMP_NUM_THREADS=$threads "$BUILD_DIR/bench/engine_bench" --models "$models" "$@"
  OMP_NUM_THREADS=$threads ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI "$BUILD_DIR/bench/engine_bench" --models "$models" "$@"
done
