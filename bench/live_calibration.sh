#!/usr/bin/env bash
# Live calibration, then in-process speed (BENCHMARKS.md, "Live calibration"):
# for each model, a fresh q8serve gets NAME.onnx with no calibration data
# (mode auto), ordinary inference requests carry its traffic until
# `q8ctl report` says it serves the live-calibrated int8 version; the server
# is stopped and engine_bench times, interleaved in one run: fp32, dynamic
# int8 (the interim precision), static int8 calibrated on uploaded data, and
# the persisted live-calibrated artifact.
#
#   MODELS="fashion_cnn resnet50 mobilenet_v2" bench/live_calibration.sh [engine_bench flags]
#
# fashion_cnn: traffic is 512 Fashion-MNIST training images (8 requests of
# 64, the default live.samples 512); the uploaded calibration is 200 test
# images (as bench/run_engine_bench.sh). resnet50 / mobilenet_v2 (from
# tools/export_torchvision.py): traffic is N(0,1) images, seed 5, in
# requests of 8, live.samples LIVE_SAMPLES (default 64: 512 such samples
# would pass the sampler's 256 MiB cap, and calibrating them at idle
# priority on a shared 2-core host takes long); the uploaded calibration is
# 32 N(0,1) images, seed 11 (as bench/side_by_side).
# Needs the dataset-fashion-mnist package and a build with q8serve, q8ctl and
# engine_bench. WORK_DIR keeps the files (default: a fresh /tmp directory).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
MODELS=${MODELS:-fashion_cnn}
LIVE_SAMPLES=${LIVE_SAMPLES:-64}
PY=/usr/bin/python3
work=${WORK_DIR:-$(mktemp -d /tmp/q8_live_bench.XXXXXX)}
mkdir -p "$work"
trap '[[ -n "${server_pid:-}" ]] && kill "$server_pid" 2>/dev/null; true' EXIT
ctl() { "$BUILD_DIR/client/q8ctl/q8ctl" "$@" --server="$addr" --timeout_seconds=600; }

for model in $MODELS; do
  dir=$work/$model
  live=$dir/live static=$dir/static
  rm -rf "$dir"
  mkdir -p "$live" "$static" "$dir/traffic"
  if [[ $model == fashion_cnn ]]; then
    cp tests/data/fashion_cnn.onnx "$dir/$model.onnx"
    echo '{}' > "$dir/config.json"
  else
    [[ -f "$BUILD_DIR/torchvision/$model.onnx" ]] || $PY tools/export_torchvision.py --out "$BUILD_DIR/torchvision"
    cp "$BUILD_DIR/torchvision/$model.onnx" "$dir/$model.onnx"
    echo "{\"quantization\": {\"live\": {\"samples\": $LIVE_SAMPLES}}}" > "$dir/config.json"
  fi
  PYTHONPATH=tools $PY - "$dir" "$model" "$LIVE_SAMPLES" <<'PYEOF'
import sys, numpy as np
d, model, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if model == "fashion_cnn":
    import fashion_mnist as f
    train, _ = f.load("train")
    for i in range(8):
        np.save(f"{d}/traffic/{i:03d}.npy", train[i * 64:(i + 1) * 64])
    np.save(f"{d}/static/{model}_calibration.npy", np.load("tests/data/fashion_test_images.npy")[:200])
else:
    rng = np.random.default_rng(5)
    for i in range((n + 7) // 8):
        np.save(f"{d}/traffic/{i:03d}.npy", rng.standard_normal((8, 3, 224, 224)).astype(np.float32))
    rng = np.random.default_rng(11)
    np.save(f"{d}/static/{model}_calibration.npy", rng.standard_normal((32, 3, 224, 224)).astype(np.float32))
PYEOF
  cp "$dir/$model.onnx" "$live/"
  cp "$dir/$model.onnx" "$static/"

  port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  addr=127.0.0.1:$port
  "$BUILD_DIR/server/q8serve" --model_repository="$dir/repo" --grpc_address="$addr" --metrics_port=-1 \
    2> "$dir/server.log" &
  server_pid=$!
  for _ in $(seq 100); do ctl list > /dev/null 2>&1 && break; sleep 0.2; done
  ctl upload "$model" "$dir/$model.onnx" --config "$dir/config.json"
  for f in "$dir"/traffic/*.npy; do ctl infer "$model" --input "$f" --top_k 0 > /dev/null; done
  state=
  for _ in $(seq 3000); do
    state=$(ctl report "$model" | sed -n 's/^serving: //p')
    [[ "$state" == int8* || "$state" == *failed* ]] && break
    sleep 0.2
  done
  echo "$model: served after its traffic: $state"
  kill "$server_pid"
  wait "$server_pid" || true
  server_pid=
  [[ "$state" == int8* ]] || { echo "$model: not live-calibrated; see $dir/server.log" >&2; exit 1; }
  cp "$dir/repo/$model/1/quantization.json" "$live/$model.q8artifact"
  cp "$dir/repo/$model/1/report.json" "$live/$model.report.json"
done

for model in $MODELS; do
  echo "== $model, OMP_NUM_THREADS=${OMP_NUM_THREADS:-(all)}: fp32, dynamic, static (uploaded calibration), static (live)"
  "$BUILD_DIR/bench/engine_bench" --models "$work/$model/static:$model" --artifact_dir "$work/$model/static" \
    --live_artifact_dir "$work/$model/live" --precisions fp32,int8,dynamic "$@"
done
