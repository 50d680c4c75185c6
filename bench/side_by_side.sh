#!/usr/bin/env bash
# Side by side: q8serve (in-process int8/fp32, and over gRPC with q8bench) vs
# ONNX Runtime (npm onnxruntime-node) vs PyTorch (Debian python3-torch), same
# machine, models, batches and thread counts, in one run. Prints the markdown
# table that BENCHMARKS.md ("Side by side") holds; raw numbers and logs go to
# $BUILD_DIR/side_by_side/. Full run ~25 min on 2 cores; --quick ~3 min.
#
# After the per-thread tables it prints "Served vs in-process": the server's
# compute time (ModelStatistics) and client p50 over the in-process int8 time,
# and ONNX Runtime's int8 QDQ time over the served p50 (issue #14 item 5).
#
#   bench/side_by_side.sh [--quick] [--passes N] [--models a,b] [--threads 1,2] [--batches 1,16]
#                         [--runners q8_engine,q8_grpc,grpc_floor,ort_fp32,ort_qdq,torch_fp32,torch_int8]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
ORT_VERSION=1.30.0
ORT_DIR=${ORT_DIR:-$BUILD_DIR/side_by_side/npm}

[[ -f "$BUILD_DIR/build.ninja" ]] || scripts/build.sh
cmake --build "$BUILD_DIR" -j "$(nproc)" --target engine_bench q8serve q8ctl q8bench grpc_echo

MODELS_DIR=$BUILD_DIR/torchvision
[[ -f "$MODELS_DIR/resnet50.onnx" && -f "$MODELS_DIR/mobilenet_v2.onnx" && -f "$MODELS_DIR/resnet18.onnx" ]] ||
  /usr/bin/python3 tools/export_torchvision.py --out "$MODELS_DIR"

# onnxruntime-node ships its CPU binaries in the package; --ignore-scripts
# skips the post-install download (of GPU bits) that this setup cannot do.
if [[ ! -f "$ORT_DIR/node_modules/onnxruntime-node/package.json" ]] ||
   ! grep -q "\"version\": \"$ORT_VERSION\"" "$ORT_DIR/node_modules/onnxruntime-node/package.json"; then
  mkdir -p "$ORT_DIR"
  npm install --prefix "$ORT_DIR" --ignore-scripts --no-audit --no-fund "onnxruntime-node@$ORT_VERSION" >&2
fi
NODE_PATH="$ORT_DIR/node_modules" node -e "require('onnxruntime-node')" ||
  { echo "onnxruntime-node does not load under $(node --version)" >&2; exit 1; }

exec /usr/bin/python3 bench/side_by_side/side_by_side.py --build_dir "$BUILD_DIR" --ort_dir "$ORT_DIR" "$@"
