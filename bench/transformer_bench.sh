#!/usr/bin/env bash
# The transformer rows of BENCHMARKS.md (issue #13): the committed tiny ViT
# and text encoder, and the same architectures at ViT-Tiny width (dim 192,
# 3 heads, MLP 768, 4 blocks; 49 image tokens, 64 text tokens; random
# weights, tools/export_transformer_sizes.py), in-process, batch 1, 1
# thread. engine_bench times fp32, dynamic int8 and static int8 in
# interleaved windows (ViT: static calibrated on 200 Fashion-MNIST training
# images; text: static on the .npz of both inputs, 256 calibration
# sequences for the committed model, 128 random ones for the large one),
# and ONNX Runtime fp32 (npm onnxruntime-node,
# bench/side_by_side/ort_runner.js, the same procedure) runs the same ONNX
# files right after, on the same inputs. Each tool is run PASSES times
# alternately; every line is printed, medians are what BENCHMARKS.md quotes.
#
#   bench/transformer_bench.sh [--passes 3] [--rounds 7]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
ORT_VERSION=1.30.0
ORT_DIR=${ORT_DIR:-$BUILD_DIR/side_by_side/npm}
passes=3
rounds=7
while [[ $# -gt 0 ]]; do
  case $1 in
    --passes) passes=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
cmake --build "$BUILD_DIR" -j 2 --target engine_bench
work=$BUILD_DIR/transformer_bench
mkdir -p "$work"
cp tests/data/tiny_vit_op13.onnx tests/data/tiny_vit_op17.onnx tests/data/text_encoder.onnx "$work/"
/usr/bin/python3 - "$work" <<'PY'
import os, sys
import numpy as np
sys.path.insert(0, "tools")
import fashion_mnist
work = sys.argv[1]
x, _ = fashion_mnist.load_train()
for name in ("tiny_vit_op13", "tiny_vit_op17"):
    np.save(os.path.join(work, f"{name}_calibration.npy"), x[:200])
    np.save(os.path.join(work, f"{name}_input0.npy"), np.load("tests/data/fashion_test_images.npy")[:16])
# One real test sequence per request, padded to the set's 24 positions.
np.save(os.path.join(work, "text_encoder_input0.npy"), np.load("tests/data/text_test_ids.npy")[:16])
np.save(os.path.join(work, "text_encoder_input1.npy"), np.load("tests/data/text_test_mask.npy")[:16])
np.savez(os.path.join(work, "text_encoder_calibration.npz"), input_ids=np.load("tests/data/text_calib_ids.npy"),
         attention_mask=np.load("tests/data/text_calib_mask.npy"))
PY
[[ -f "$work/vit_192_op17.onnx" && -f "$work/text_192.onnx" ]] ||
  /usr/bin/python3 tools/export_transformer_sizes.py --out "$work" 
have_ort=1
if [[ ! -f "$ORT_DIR/node_modules/onnxruntime-node/package.json" ]]; then
  mkdir -p "$ORT_DIR"
  npm install --prefix "$ORT_DIR" --ignore-scripts --no-audit --no-fund "onnxruntime-node@$ORT_VERSION" >&2 || have_ort=0
fi
for ((p = 1; p <= passes; ++p)); do
  echo "## pass $p"
  OMP_NUM_THREADS=1 "$BUILD_DIR/bench/engine_bench" --batches 1 --rounds "$rounds" --precisions fp32,dynamic \
    --models "$work:tiny_vit_op13,$work:tiny_vit_op17,$work:text_encoder,$work:vit_192_op13,$work:vit_192_op17,$work:text_192"
  if ((have_ort)); then
    for m in tiny_vit_op13 tiny_vit_op17 vit_192_op13 vit_192_op17; do
      NODE_PATH="$ORT_DIR/node_modules" node bench/side_by_side/ort_runner.js "$work/$m.onnx" 1,28,28 1 1 "$rounds" 0.5
    done
    for m in text_encoder text_192; do
      NODE_PATH="$ORT_DIR/node_modules" node bench/side_by_side/ort_runner.js "$work/$m.onnx" \
        "npy:$work/${m}_input0.npy,$work/${m}_input1.npy" 1 1 "$rounds" 0.5
    done
  fi
done
