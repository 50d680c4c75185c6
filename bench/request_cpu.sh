#!/usr/bin/env bash
# CPU per served request (issue #14 item 2): one q8serve serving the Fashion
# CNN (int8 static) under each execution preset, q8bench at concurrency 16
# for three windows with no warm-up, and the server process's CPU time
# (/proc/PID/stat utime + stime) read before and after each run. Prints
# requests per CPU-second of the server (and of q8bench, which shares the
# machine), medians over passes, presets alternating pass after pass.
#
# BUILD_DIRS="build-base build" compares builds side by side in one run: one
# server per build (each quantizes its own copies), alternating build after
# build within each pass; rows are labelled by build directory. The client
# (q8bench, q8ctl) is always the first build's.
#
# Each pass also runs bench/grpc_echo at the same concurrency: a gRPC server
# with q8serve's threading that answers without any work, and its CPU per
# request — the floor under any served model's row.
#
#   bench/request_cpu.sh [--passes N] [--concurrency C] [--window_ms MS] [--cpus N] [--presets a,b]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
read -r -a BUILDS <<< "${BUILD_DIRS:-$BUILD_DIR}"
BUILD_DIR=${BUILDS[0]}
PASSES=5 CONCURRENCY=16 WINDOW_MS=1000 CPUS=2 PRESET_LIST=auto,latency,throughput
while [[ $# -gt 0 ]]; do
  case "$1" in
    --passes) PASSES=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --window_ms) WINDOW_MS=$2; shift 2 ;;
    --cpus) CPUS=$2; shift 2 ;;
    --presets) PRESET_LIST=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
for b in "${BUILDS[@]}"; do
  [[ -f "$b/build.ninja" ]] || BUILD_DIR=$b scripts/build.sh
  cmake --build "$b" -j "$(nproc)" --target q8serve q8ctl q8bench >&2
done
cmake --build "$BUILD_DIR" -j "$(nproc)" --target grpc_echo >&2

WORK=$(mktemp -d /tmp/q8_request_cpu.XXXXXX)
SERVER_PIDS=()
cleanup() {
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
IFS=, read -r -a PRESETS <<< "$PRESET_LIST"
ADDRESSES=()
for i in "${!BUILDS[@]}"; do
  PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  ADDRESS=127.0.0.1:$PORT
  ADDRESSES+=("$ADDRESS")
  mkdir -p "$WORK/repo$i"
  "${BUILDS[$i]}/server/q8serve" --model_repository "$WORK/repo$i" --grpc_address "$ADDRESS" --metrics_port=-1 \
    --cpus "$CPUS" --shadow_fraction=0 > "$WORK/server$i.log" 2>&1 &
  SERVER_PIDS+=($!)
  CTL=("$BUILD_DIR/client/q8ctl/q8ctl" --server "$ADDRESS")
  for _ in $(seq 100); do "${CTL[@]}" --timeout_seconds 2 health > /dev/null 2>&1 && break; sleep 0.2; done
  for p in "${PRESETS[@]}"; do
    echo "{\"execution\":{\"preset\":\"$p\"}}" > "$WORK/$p.json"
    "${CTL[@]}" upload "$p" tests/data/fashion_cnn.onnx --config "$WORK/$p.json" \
      --calibration tests/data/fashion_test_images.npy --labels tests/data/fashion_test_labels.npy \
      --max_drop 0.02 > /dev/null 2>&1 || { echo "upload $p failed" >&2; cat "$WORK/server$i.log" >&2; exit 1; }
  done
done
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for pass in $(seq "$PASSES"); do
  for p in "${PRESETS[@]}"; do
    for i in "${!BUILDS[@]}"; do
      echo "pass $pass/$PASSES: $p ${BUILDS[$i]} (load $(cut -d' ' -f1 /proc/loadavg))" >&2
      cut -d' ' -f1 /proc/loadavg >> "$WORK/load"
      before=$(cpu_ticks "${SERVER_PIDS[$i]}")
      /usr/bin/time -f "%U %S" -o "$WORK/$i.$p.$pass.client" "$BUILD_DIR/client/q8bench/q8bench" \
        --server "${ADDRESSES[$i]}" --model "$p" --concurrency "$CONCURRENCY" --warmup_ms 0 --window_ms "$WINDOW_MS" \
        --max_windows 3 --stability_percent 1000 --progress=false --json "$WORK/$i.$p.$pass.json" > /dev/null 2>&1
      echo "$(( $(cpu_ticks "${SERVER_PIDS[$i]}") - before ))" > "$WORK/$i.$p.$pass.server"
    done
  done
  # The Fashion CNN's message sizes: 1x1x28x28 fp32 in, 10 fp32 out.
  "$BUILD_DIR/bench/grpc_echo" --request_bytes 3136 --response_bytes 40 --concurrency "$CONCURRENCY" \
    --warmup_seconds 0.2 --seconds "$(( 3 * WINDOW_MS ))e-3" > "$WORK/echo.$pass.json"
done
/usr/bin/python3 - "$WORK" "$PASSES" "$CONCURRENCY" "$(getconf CLK_TCK)" "$PRESET_LIST" "${BUILDS[@]}" <<'PY'
import json, statistics, sys
work, passes, conc, hz, presets, builds = (sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]),
                                           sys.argv[5].split(","), sys.argv[6:])
loads = [float(x) for x in open(f"{work}/load").read().split()]
print(f"Fashion CNN int8, concurrency {conc}, three windows per run (no warm-up), medians of {passes} passes; "
      f"load average {min(loads):.1f}-{max(loads):.1f} (median {statistics.median(loads):.1f})\n")
label = len(builds) > 1
print(("| build " if label else "") + "| preset | infer/s | server CPU us per request | requests per server CPU-second | client CPU us per request |")
print(("|---" if label else "") + "|---|---|---|---|---|")
for p in presets:
    for i, b in enumerate(builds):
        rows = []
        for k in range(1, passes + 1):
            level = json.load(open(f"{work}/{i}.{p}.{k}.json"))["levels"][0]
            n = level["server_inference_count"] + 1  # + the probe request
            server_s = int(open(f"{work}/{i}.{p}.{k}.server").read()) / hz
            user, sys_ = map(float, open(f"{work}/{i}.{p}.{k}.client").read().split()[-2:])
            rows.append((level["throughput_infer_per_s"], server_s / n * 1e6, n / server_s, (user + sys_) / n * 1e6))
        med = [statistics.median(r[k] for r in rows) for k in range(4)]
        per_pass = " / ".join(f"{r[1]:.1f}" for r in rows)
        print((f"| {b} " if label else "") + f"| {p} | {med[0]:.0f} | {med[1]:.1f} ({per_pass}) | {med[2]:.0f} | {med[3]:.1f} |")
echo = [json.load(open(f"{work}/echo.{k}.json")) for k in range(1, passes + 1)]
cpu = [e["server_cpu_us_per_request"] for e in echo]
per_pass = " / ".join(f"{c:.1f}" for c in cpu)
print(("| gRPC floor " if label else "") + f"| grpc_echo (no model) | - | {statistics.median(cpu):.1f} ({per_pass}) | "
      f"{1e6 / statistics.median(cpu):.0f} | - |")
PY
