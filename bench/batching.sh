#!/usr/bin/env bash
# Dynamic batching vs none under concurrency (issue #6): one q8serve, the
# Fashion CNN uploaded three times with static int8 quantization -- no
# batching, eager batching, Triton-style batching (always waits) -- measured
# with q8bench, alternating the models pass after pass so that machine noise
# hits all alike. Prints a markdown table of medians over the passes and the
# ratios against "no batching". Also reports the mean merged batch
# (inferences per execution, from the server's statistics).
#
#   bench/batching.sh [--passes N] [--concurrency C] [--window_ms MS]
#                     [--preset throughput|latency] [--delay_us US]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
PASSES=3 CONCURRENCY=16 WINDOW_MS=2000 PRESET=throughput DELAY_US=2000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --passes) PASSES=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --window_ms) WINDOW_MS=$2; shift 2 ;;
    --preset) PRESET=$2; shift 2 ;;
    --delay_us) DELAY_US=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

[[ -f "$BUILD_DIR/build.ninja" ]] || scripts/build.sh
cmake --build "$BUILD_DIR" -j "$(nproc)" --target q8serve q8ctl q8bench >&2

WORK=$(mktemp -d /tmp/q8_batching_bench.XXXXXX)
SERVER_PID=
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ADDRESS=127.0.0.1:$PORT
mkdir -p "$WORK/repo"
"$BUILD_DIR/server/q8serve" --model_repository "$WORK/repo" --grpc_address "$ADDRESS" --metrics_port=-1 \
  --execution_preset "$PRESET" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
CTL=("$BUILD_DIR/client/q8ctl/q8ctl" --server "$ADDRESS")
for _ in $(seq 100); do "${CTL[@]}" --timeout_seconds 2 health > /dev/null 2>&1 && break; sleep 0.2; done

declare -A CONFIGS=(
  [none]='{"max_batch_size": 64}'
  [eager]="{\"max_batch_size\": 64, \"dynamic_batching\": {\"max_queue_delay_us\": $DELAY_US}}"
  [always_wait]="{\"max_batch_size\": 64, \"dynamic_batching\": {\"max_queue_delay_us\": $DELAY_US, \"eager\": false}}"
)
MODELS=(none eager always_wait)
for m in "${MODELS[@]}"; do
  echo "${CONFIGS[$m]}" > "$WORK/$m.json"
  "${CTL[@]}" upload "$m" tests/data/fashion_cnn.onnx --config "$WORK/$m.json" \
    --calibration tests/data/fashion_test_images.npy --labels tests/data/fashion_test_labels.npy \
    --max_drop 0.02 > /dev/null 2>&1 || { echo "upload $m failed; see $WORK/server.log" >&2; cat "$WORK/server.log" >&2; exit 1; }
done

for pass in $(seq "$PASSES"); do
  for m in "${MODELS[@]}"; do
    echo "pass $pass/$PASSES: $m" >&2
    "$BUILD_DIR/client/q8bench/q8bench" --server "$ADDRESS" --model "$m" --concurrency "$CONCURRENCY" \
      --window_ms "$WINDOW_MS" --json "$WORK/$m.$pass.json" > /dev/null 2>&1
  done
done

/usr/bin/python3 - "$WORK" "$PASSES" "$CONCURRENCY" "$PRESET" "$DELAY_US" <<'EOF'
import json, statistics, sys
work, passes, conc, preset, delay = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
names = {"none": "no batching", "eager": f"eager batching ({delay} us)",
         "always_wait": f"always-wait batching ({delay} us, Triton's rule)"}
rows = {}
for m in names:
    levels = [json.load(open(f"{work}/{m}.{p}.json"))["levels"][0] for p in range(1, passes + 1)]
    med = lambda k: statistics.median(l[k] for l in levels)
    merged = statistics.median(l["server_inference_count"] / max(1, l["server_execution_count"]) for l in levels)
    rows[m] = dict(rps=med("throughput_infer_per_s"), p50=med("p50_us"), p99=med("p99_us"), merged=merged,
                   queue=med("server_queue_us"), infer=med("server_compute_infer_us"))
base = rows["none"]
print(f"Fashion CNN int8, concurrency {conc}, preset {preset}, medians of {passes} passes\n")
print("| model | infer/s | vs none | p50 us | p99 us | p99 vs none | mean merged batch | queue us | compute us |")
print("|---|---|---|---|---|---|---|---|---|")
for m, label in names.items():
    r = rows[m]
    print(f"| {label} | {r['rps']:.0f} | {r['rps'] / base['rps']:.2f}x | {r['p50']:.0f} | {r['p99']:.0f} | "
          f"{r['p99'] / base['p99']:.2f}x | {r['merged']:.2f} | {r['queue']:.1f} | {r['infer']:.1f} |")
EOF
