#!/usr/bin/env bash
# Instructions per served request (issue #14 item 2): q8serve under
# valgrind's callgrind serving the Fashion CNN (int8 static), q8bench at
# concurrency C for a few windows, and the server's instructions counted
# only while q8bench runs (instrumentation switched on just before, dumped
# just after). Instruction counts do not depend on how busy the machine is,
# so two builds compare on a shared host where CPU time is noisy.
#
#   bench/request_instructions.sh [--concurrency C] [--window_ms MS] [--preset P] [--top N] [--metrics]
#
# --metrics serves with the Prometheus endpoint on (an ephemeral port), as
# q8serve does by default, so the per-request metrics record is counted too;
# without it the server runs with --metrics_port=-1.
#
# Prints the server's instructions per request (all threads: gRPC, streams,
# oneDNN) and, with --top N, the N functions with the most self cost per
# request. Caveats: valgrind has no AVX-512, so oneDNN runs its AVX2
# kernels (the model's share is not the native one), and under valgrind a
# run takes ~50x longer, so the executor's inline rule (a run under 1 ms)
# may route every request through the stream threads.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
CONCURRENCY=16 WINDOW_MS=4000 PRESET=throughput TOP=0 METRICS_PORT=-1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --window_ms) WINDOW_MS=$2; shift 2 ;;
    --preset) PRESET=$2; shift 2 ;;
    --top) TOP=$2; shift 2 ;;
    --metrics) METRICS_PORT=0; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
command -v valgrind > /dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
[[ -x "$BUILD_DIR/server/q8serve" && -x "$BUILD_DIR/client/q8bench/q8bench" ]] ||
  cmake --build "$BUILD_DIR" --target q8serve q8ctl q8bench >&2

WORK=$(mktemp -d /tmp/q8_request_instr.XXXXXX)
SERVER_PID=
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  [[ -n "${KEEP_WORK:-}" ]] || rm -rf "$WORK"
}
trap cleanup EXIT
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ADDRESS=127.0.0.1:$PORT
SERVER_ARGS=(--model_repository "$WORK/repo" --grpc_address "$ADDRESS" --metrics_port="$METRICS_PORT" --cpus 2 --shadow_fraction=0)
CTL=("$BUILD_DIR/client/q8ctl/q8ctl" --server "$ADDRESS")
wait_healthy() {
  for _ in $(seq 600); do "${CTL[@]}" --timeout_seconds 5 health > /dev/null 2>&1 && return 0; sleep 0.5; done
  echo "server did not become healthy" >&2; cat "$WORK/server.log" >&2; exit 1
}

# Quantize natively (minutes under valgrind), then serve the stored artifact.
mkdir -p "$WORK/repo"
"$BUILD_DIR/server/q8serve" "${SERVER_ARGS[@]}" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
wait_healthy
echo "{\"execution\":{\"preset\":\"$PRESET\"}}" > "$WORK/config.json"
"${CTL[@]}" upload m tests/data/fashion_cnn.onnx --config "$WORK/config.json" \
  --calibration tests/data/fashion_test_images.npy --labels tests/data/fashion_test_labels.npy \
  --max_drop 0.02 > /dev/null 2>&1 || { echo "upload failed" >&2; cat "$WORK/server.log" >&2; exit 1; }
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true

# q8serve re-executes itself to set its OpenMP wait policy unless
# GOMP_SPINCOUNT is set (server/omp_wait_policy.cc); under valgrind that
# exec would leave the tool, so set the server's value here.
GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-1000} valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/callgrind.out" \
  "$BUILD_DIR/server/q8serve" "${SERVER_ARGS[@]}" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
wait_healthy
BENCH=("$BUILD_DIR/client/q8bench/q8bench" --server "$ADDRESS" --model m --concurrency "$CONCURRENCY"
       --warmup_ms 0 --max_windows 3 --stability_percent 1000 --progress=false)
"${BENCH[@]}" --window_ms 500 > /dev/null  # warm-up: plans, workspaces, free lists
callgrind_control -i on "$SERVER_PID" > /dev/null
"${BENCH[@]}" --window_ms "$WINDOW_MS" --json "$WORK/bench.json" > /dev/null
callgrind_control -d "$SERVER_PID" > /dev/null
callgrind_control -i off "$SERVER_PID" > /dev/null
DUMP=$(ls "$WORK"/callgrind.out* | sort | tail -1)
REQUESTS=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["levels"][0]["server_inference_count"] + 1)' "$WORK/bench.json")
callgrind_annotate --inclusive=no "$DUMP" > "$WORK/self.txt" 2>/dev/null
callgrind_annotate --inclusive=yes "$DUMP" > "$WORK/inclusive.txt" 2>/dev/null
/usr/bin/python3 - "$WORK/self.txt" "$WORK/inclusive.txt" "$REQUESTS" "$TOP" <<'PY'
import re, sys
self_text, incl_text = open(sys.argv[1]).read(), open(sys.argv[2]).read()
requests, top = int(sys.argv[3]), int(sys.argv[4])
number = lambda s: int(s.replace(",", ""))
total = number(re.search(r"^([\d,]+).*PROGRAM TOTALS", self_text, re.M).group(1))
# The model's share: everything under CompiledModel's Run (oneDNN, our kernels).
model = number(re.search(r"^\s*([\d,]+)\s+\([^)]*\)\s+\S*q8::engine::OnnxModel::Run\(", incl_text, re.M).group(1))
print(f"requests {requests}; server instructions per request: {total / requests:.0f} in all, "
      f"{model / requests:.0f} in the model (OnnxModel::Run), {(total - model) / requests:.0f} outside it")
if top:
    rows = re.findall(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$", self_text.split("file:function", 1)[1], re.M)
    print(f"top {top} functions by self instructions per request:")
    for ir, fn in rows[:top]:
        print(f"{number(ir) / requests:10.0f}  {fn[:150]}")
PY
