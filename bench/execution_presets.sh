#!/usr/bin/env bash
# Execution presets side by side (issue #14 item 3): one q8serve (--cpus=2 by
# default), the Fashion CNN and ResNet-50 (int8 static) each served under
# --execution_preset's three rules -- auto, latency, throughput -- as separate
# model names with their own config.json, plus any extra explicit layouts.
# q8bench drives every model at concurrency 1 and 16, the models alternating
# pass after pass so machine noise hits all alike. Prints a markdown table of
# medians over the passes and auto's ratio to the better of latency and
# throughput (p50 at concurrency 1, infer/s at 16). Quantized artifacts are
# cached under $BUILD_DIR/execution_presets/ (first run: ~2 min more).
#
#   bench/execution_presets.sh [--passes N] [--cpus N] [--models fashion_cnn,resnet50]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
PASSES=3 CPUS=2 MODELS=fashion_cnn,resnet50
while [[ $# -gt 0 ]]; do
  case "$1" in
    --passes) PASSES=$2; shift 2 ;;
    --cpus) CPUS=$2; shift 2 ;;
    --models) MODELS=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
IFS=, read -r -a MODEL_LIST <<< "$MODELS"
PRESETS=(auto latency throughput)

[[ -f "$BUILD_DIR/build.ninja" ]] || scripts/build.sh
cmake --build "$BUILD_DIR" -j "$(nproc)" --target q8serve q8ctl q8bench >&2
TV_DIR=$BUILD_DIR/torchvision
if [[ ",$MODELS," == *,resnet50,* && ! -f "$TV_DIR/resnet50.onnx" ]]; then
  /usr/bin/python3 tools/export_torchvision.py --out "$TV_DIR"
fi

WORK=$BUILD_DIR/execution_presets
REPO=$WORK/repo
OUT=$WORK/runs
rm -rf "$OUT"
mkdir -p "$REPO" "$OUT"
SERVER_PID=
stop_server() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true; fi
  SERVER_PID=
}
trap stop_server EXIT
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ADDRESS=127.0.0.1:$PORT
CTL=("$BUILD_DIR/client/q8ctl/q8ctl" --server "$ADDRESS")
start_server() {  # waits until every model directory in the repository serves
  "$BUILD_DIR/server/q8serve" --model_repository "$REPO" --grpc_address "$ADDRESS" --metrics_port=-1 \
    --cpus "$CPUS" --shadow_fraction=0 > "$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  local want
  want=$(find "$REPO" -mindepth 1 -maxdepth 1 -type d | wc -l)
  for _ in $(seq 1200); do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
    [[ $("${CTL[@]}" --timeout_seconds 2 list --ready 2>/dev/null | grep -c " READY" || true) -ge "$want" ]] && return
    sleep 0.5
  done
  echo "models not ready after 10 min; see $WORK/server.log" >&2; exit 1
}

# One quantization per model (name_quantize), then every preset's copy reuses
# its artifact (same model.onnx, same quantization.json).
for m in "${MODEL_LIST[@]}"; do
  dir=$REPO/${m}_quantize/1
  [[ -f "$dir/quantization.json" ]] && continue
  mkdir -p "$dir/calibration"
  if [[ $m == fashion_cnn ]]; then
    cp tests/data/fashion_cnn.onnx "$dir/model.onnx"
    cp tests/data/fashion_test_images.npy "$dir/calibration/inputs.npy"
  else
    cp "$TV_DIR/$m.onnx" "$dir/model.onnx"
    /usr/bin/python3 -c "import numpy as np; np.save('$dir/calibration/inputs.npy', \
      np.random.default_rng(11).standard_normal((16, 3, 224, 224)).astype(np.float32))"
  fi
  echo '{"quantization":{"mode":"static","accuracy":{"max_drop":1}}}' > "$REPO/${m}_quantize/config.json"
done
for m in "${MODEL_LIST[@]}"; do
  for p in "${PRESETS[@]}"; do rm -rf "${REPO:?}/${m}_$p"; done
done
echo "quantizing (cached in $REPO)" >&2
start_server
stop_server
for m in "${MODEL_LIST[@]}"; do
  [[ -f "$REPO/${m}_quantize/1/quantization.json" ]] || { echo "no artifact for $m" >&2; exit 1; }
  for p in "${PRESETS[@]}"; do
    mkdir -p "$REPO/${m}_$p/1"
    cp "$REPO/${m}_quantize/1/"{model.onnx,quantization.json,report.json} "$REPO/${m}_$p/1/"
    echo "{\"quantization\":{\"mode\":\"static\"},\"execution\":{\"preset\":\"$p\"}}" > "$REPO/${m}_$p/config.json"
  done
done
start_server

for pass in $(seq "$PASSES"); do
  for m in "${MODEL_LIST[@]}"; do
    window=1000
    [[ $m != fashion_cnn ]] && window=3000
    for p in "${PRESETS[@]}"; do
      echo "pass $pass/$PASSES: ${m}_$p" >&2
      "$BUILD_DIR/client/q8bench/q8bench" --server "$ADDRESS" --model "${m}_$p" --concurrency 1:16:x16 \
        --window_ms "$window" --warmup_ms 500 --max_windows 3 --progress=false \
        --json "$OUT/${m}_$p.$pass.json" > /dev/null 2>&1
    done
  done
done
grep -o "[a-z0-9_]*_\(auto\|latency\|throughput\)' version 1: [0-9]* execution stream(s) x [0-9]* thread(s)[^,]*" \
  "$WORK/server.log" > "$OUT/layouts.txt" || true

/usr/bin/python3 - "$OUT" "$PASSES" "$MODELS" "$CPUS" <<'PY'
import json, re, statistics, sys
out, passes, models, cpus = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","), sys.argv[4]
presets = ["auto", "latency", "throughput"]
labels = {"fashion_cnn": "Fashion CNN", "resnet50": "ResNet-50"}
layouts = {}
for line in open(f"{out}/layouts.txt"):
    m = re.match(r"(\S+)' version 1: (\d+) execution stream\(s\) x (\d+) thread\(s\)", line)
    if m:
        layouts[m.group(1)] = f"{m.group(2)} x {m.group(3)}"
print(f"int8 static, batch 1, --cpus {cpus}, q8bench on the same machine; medians of {passes} passes\n")
print("| model | preset | layout | c1 p50 us | c1 infer/s | c16 infer/s | c16 p99 us | c16 compute us |")
print("|---|---|---|---|---|---|---|---|")
verdict = []
for m in models:
    med = {}
    for p in presets:
        levels = [json.load(open(f"{out}/{m}_{p}.{i}.json"))["levels"] for i in range(1, passes + 1)]
        by = lambda c, k: statistics.median(next(l[k] for l in ls if l["concurrency"] == c) for ls in levels)
        med[p] = dict(p50=by(1, "p50_us"), rps1=by(1, "throughput_infer_per_s"), rps16=by(16, "throughput_infer_per_s"),
                      p99=by(16, "p99_us"), comp=by(16, "server_compute_infer_us"))
        r = med[p]
        print(f"| {labels.get(m, m)} | {p} | {layouts.get(f'{m}_{p}', '?')} | {r['p50']:.0f} | {r['rps1']:.0f} | "
              f"{r['rps16']:.0f} | {r['p99']:.0f} | {r['comp']:.1f} |")
    best_p50 = min(med["latency"]["p50"], med["throughput"]["p50"])
    best_rps = max(med["latency"]["rps16"], med["throughput"]["rps16"])
    verdict.append(f"- {labels.get(m, m)}: auto's c1 p50 {med['auto']['p50'] / best_p50:.2f}x the better preset's "
                   f"(<= 1.10 wanted), c16 infer/s {med['auto']['rps16'] / best_rps:.2f}x (>= 0.90 wanted)")
print()
print("\n".join(verdict))
PY
