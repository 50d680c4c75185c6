#!/usr/bin/env bash
# Live calibration of the Fashion CNN, then its in-process speed (BENCHMARKS.md,
# "Live calibration"): uploads tests/data/fashion_cnn.onnx to a fresh q8serve
# without config or calibration data (mode auto), sends 512 training images
# as ordinary requests, waits until the server serves the live-calibrated int8
# version, and times that artifact against fp32 and against a static
# quantization calibrated on uploaded data (engine_bench, side by side).
# Needs the dataset-fashion-mnist package and a build with q8serve, q8ctl and
# engine_bench.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
PY=/usr/bin/python3
work=${WORK_DIR:-$(mktemp -d /tmp/q8_live_bench.XXXXXX)}
trap '[[ -n "${server_pid:-}" ]] && kill "$server_pid" 2>/dev/null; true' EXIT
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
addr=127.0.0.1:$port
ctl() { "$BUILD_DIR/client/q8ctl/q8ctl" "$@" --server="$addr" --timeout_seconds=120; }

# 8 requests of 64 training images each (the traffic), and the static
# baseline's uploaded calibration data (200 test images, as bench/run_engine_bench.sh).
PYTHONPATH=tools $PY - "$work" <<'PYEOF'
import sys, numpy as np, fashion_mnist as f
work = sys.argv[1]
train, _ = f.load("train")
for i in range(8):
    np.save(f"{work}/traffic_{i}.npy", train[i * 64:(i + 1) * 64])
np.save(f"{work}/fashion_cnn_calibration.npy", np.load("tests/data/fashion_test_images.npy")[:200])
PYEOF

"$BUILD_DIR/server/q8serve" --model_repository="$work/repo" --grpc_address="$addr" --metrics_port=-1 \
  2> "$work/server.log" &
server_pid=$!
for _ in $(seq 100); do ctl list > /dev/null 2>&1 && break; sleep 0.2; done
ctl upload cnn tests/data/fashion_cnn.onnx
for i in $(seq 0 7); do ctl infer cnn --input "$work/traffic_$i.npy" --top_k 0 > /dev/null; done
for _ in $(seq 600); do
  state=$(ctl report cnn | sed -n 's/^serving: //p')
  [[ "$state" == int8* ]] && break
  sleep 0.2
done
echo "served after 512 requests' samples: $state"
kill "$server_pid"; wait "$server_pid" || true; server_pid=

live=$work/live static=$work/static
mkdir -p "$live" "$static"
cp tests/data/fashion_cnn.onnx "$live/"
cp tests/data/fashion_cnn.onnx "$work/fashion_cnn_calibration.npy" "$static/"
cp "$work/repo/cnn/1/quantization.json" "$live/fashion_cnn.q8artifact"
cp "$work/repo/cnn/1/report.json" "$live/fashion_cnn.report.json"
for threads in 1 "$(nproc)"; do
  echo "== OMP_NUM_THREADS=$threads, live-calibrated artifact"
  OMP_NUM_THREADS=$threads "$BUILD_DIR/bench/engine_bench" --models "$live:fashion_cnn" --artifact_dir "$live" "$@"
  echo "== OMP_NUM_THREADS=$threads, static with uploaded calibration data"
  OMP_NUM_THREADS=$threads "$BUILD_DIR/bench/engine_bench" --models "$static:fashion_cnn" "$@"
done
