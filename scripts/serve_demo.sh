#!/usr/bin/env bash
# The one command that installs what is missing, builds, and starts q8serve
# with the bundled Fashion-MNIST demo model on port 8001 (metrics on 8002).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh --build-only
scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
REPO=${Q8_DEMO_REPOSITORY:-/tmp/q8serve-demo-models}
PORT=${Q8_PORT:-8001}

# The repository is writable (uploads land there), so it lives outside the source tree.
mkdir -p "$REPO/fashion_cnn/1"
cp tests/data/fashion_cnn.onnx "$REPO/fashion_cnn/1/model.onnx"
cp deploy/demo/fashion_cnn/config.json "$REPO/fashion_cnn/config.json"
cp deploy/demo/sample_images.npy "$REPO/sample_images.npy"

cat <<MSG
q8serve is starting on 0.0.0.0:${PORT} with model 'fashion_cnn' (repository: $REPO).
In another terminal:
  $BUILD_DIR/client/q8ctl/q8ctl health --server localhost:${PORT}
  $BUILD_DIR/client/q8ctl/q8ctl list --server localhost:${PORT}
  $BUILD_DIR/client/q8ctl/q8ctl infer fashion_cnn --input $REPO/sample_images.npy --top_k 3 --server localhost:${PORT}
Stop with Ctrl-C (graceful drain).
MSG
exec "$BUILD_DIR/server/q8serve" --model_repository "$REPO" --grpc_address "0.0.0.0:${PORT}" "$@"
