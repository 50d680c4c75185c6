#!/usr/bin/env bash
# The one command that installs what is missing, builds, and starts q8serve
# with the bundled Fashion-MNIST demo model on port 8001 (metrics on 8002).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh --build-only
# Only what the demo runs: the test command builds the rest.
Q8_BUILD_TARGETS="q8serve q8ctl" scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
REPO=${Q8_DEMO_REPOSITORY:-/tmp/q8serve-demo-models}
PORT=${Q8_PORT:-8001}

# The repository is writable (uploads land there), so it lives outside the source tree.
# The float model comes with calibration data (300 Fashion-MNIST training
# images + labels, see tools/make_demo_calibration.py): at startup q8serve
# quantizes it to int8 (static, percentile), checks top-1 on the held-out
# samples and saves the result as quantization.json + report.json, so later
# starts reload it without calibrating. A fresh model.onnx drops the old ones.
mkdir -p "$REPO/fashion_cnn/1/calibration"
if ! cmp -s tests/data/fashion_cnn.onnx "$REPO/fashion_cnn/1/model.onnx"; then
  rm -f "$REPO/fashion_cnn/1/quantization.json" "$REPO/fashion_cnn/1/report.json"
  cp tests/data/fashion_cnn.onnx "$REPO/fashion_cnn/1/model.onnx"
fi
cp deploy/demo/calibration_inputs.npy "$REPO/fashion_cnn/1/calibration/inputs.npy"
cp deploy/demo/calibration_labels.npy "$REPO/fashion_cnn/1/calibration/labels.npy"
cp deploy/demo/fashion_cnn/config.json "$REPO/fashion_cnn/config.json"
cp deploy/demo/sample_images.npy "$REPO/sample_images.npy"

cat <<MSG
q8serve is starting on 0.0.0.0:${PORT} with model 'fashion_cnn', quantized to int8
at startup from its calibration data (repository: $REPO).
In another terminal:
  $BUILD_DIR/client/q8ctl/q8ctl health --server localhost:${PORT}
  $BUILD_DIR/client/q8ctl/q8ctl list --server localhost:${PORT}
  $BUILD_DIR/client/q8ctl/q8ctl report fashion_cnn --server localhost:${PORT}
  $BUILD_DIR/client/q8ctl/q8ctl infer fashion_cnn --input $REPO/sample_images.npy --top_k 3 --server localhost:${PORT}
  $BUILD_DIR/client/q8ctl/q8ctl upload fashion_mlp tests/data/fashion_mlp.onnx --quantization dynamic --server localhost:${PORT}
  $BUILD_DIR/client/q8ctl/q8ctl export fashion_cnn /tmp/fashion_cnn_qdq.onnx --server localhost:${PORT}
Stop with Ctrl-C (graceful drain).
MSG
exec "$BUILD_DIR/server/q8serve" --model_repository "$REPO" --grpc_address "0.0.0.0:${PORT}" "$@"
