#!/usr/bin/env bash
# CPU per served request (issue #14 item 2): one q8serve serving the Fashion
# CNN (int8 static) under each execution preset, q8bench at concurrency 16
# for three windows with no warm-up, and the server process's CPU time
# (/proc/PID/stat utime + stime) read before and after each run. Prints
# requests per CPU-second of the server (and of q8bench, which shares the
# machine), medians over passes, presets alternating pass after pass.
#
#   bench/request_cpu.sh [--passes N] [--concurrency C] [--window_ms MS] [--cpus N]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
PASSES=5 CONCURRENCY=16 WINDOW_MS=1000 CPUS=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --passes) PASSES=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --window_ms) WINDOW_MS=$2; shift 2 ;;
    --cpus) CPUS=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -f "$BUILD_DIR/build.ninja" ]] || scripts/build.sh
cmake --build "$BUILD_DIR" -j "$(nproc)" --target q8serve q8ctl q8bench >&2

WORK=$(mktemp -d /tmp/q8_request_cpu.XXXXXX)
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
  --cpus "$CPUS" --shadow_fraction=0 > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
CTL=("$BUILD_DIR/client/q8ctl/q8ctl" --server "$ADDRESS")
for _ in $(seq 100); do "${CTL[@]}" --timeout_seconds 2 health > /dev/null 2>&1 && break; sleep 0.2; done
PRESETS=(auto latency throughput)
for p in "${PRESETS[@]}"; do
  echo "{\"execution\":{\"preset\":\"$p\"}}" > "$WORK/$p.json"
  "${CTL[@]}" upload "$p" tests/data/fashion_cnn.onnx --config "$WORK/$p.json" \
    --calibration tests/data/fashion_test_images.npy --labels tests/data/fashion_test_labels.npy \
    --max_drop 0.02 > /dev/null 2>&1 || { echo "upload $p failed" >&2; cat "$WORK/server.log" >&2; exit 1; }
done
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
for pass in $(seq "$PASSES"); do
  for p in "${PRESETS[@]}"; do
    echo "pass $pass/$PASSES: $p" >&2
    before=$(cpu_ticks)
    /usr/bin/time -f "%U %S" -o "$WORK/$p.$pass.client" "$BUILD_DIR/client/q8bench/q8bench" --server "$ADDRESS" \
      --model "$p" --concurrency "$CONCURRENCY" --warmup_ms 0 --window_ms "$WINDOW_MS" --max_windows 3 --stability_percent 1000 \
      --progress=false --json "$WORK/$p.$pass.json" > /dev/null 2>&1
    echo "$(( $(cpu_ticks) - before ))" > "$WORK/$p.$pass.server"
  done
done
/usr/bin/python3 - "$WORK" "$PASSES" "$CONCURRENCY" "$(getconf CLK_TCK)" <<'PY'
import json, statistics, sys
work, passes, conc, hz = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
print(f"Fashion CNN int8, concurrency {conc}, three windows per run (no warm-up), medians of {passes} passes\n")
print("| preset | infer/s | server CPU us per request | requests per server CPU-second | client CPU us per request |")
print("|---|---|---|---|---|")
for p in ["auto", "latency", "throughput"]:
    rows = []
    for i in range(1, passes + 1):
        level = json.load(open(f"{work}/{p}.{i}.json"))["levels"][0]
        n = level["server_inference_count"] + 1  # + the probe request
        server_s = int(open(f"{work}/{p}.{i}.server").read()) / hz
        user, sys_ = map(float, open(f"{work}/{p}.{i}.client").read().split()[-2:])
        rows.append((level["throughput_infer_per_s"], server_s / n * 1e6, n / server_s, (user + sys_) / n * 1e6))
    med = [statistics.median(r[k] for r in rows) for k in range(4)]
    print(f"| {p} | {med[0]:.0f} | {med[1]:.1f} | {med[2]:.0f} | {med[3]:.1f} |")
PY
