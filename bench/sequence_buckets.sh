#!/usr/bin/env bash
# Sequence-length shapes (issue #13 item 8): one plan per exact length vs one
# plan per length bucket, for the text encoder (fp32, quantization "none",
# so the comparison is about shapes, not precision) serving a mixed-length
# workload (bench/make_length_mix.py: 256 requests, lengths 4..64) through one
# real q8serve with q8bench --request_mix. Every pass uploads both variants
# fresh (empty plan caches) in alternating order and measures, for each:
#   load  - upload to READY (the bucketed one builds every bucket's plan here)
#   cold  - concurrency 1 from the first request (no q8bench warm-up, 3
#           windows): what users see while plans are still being built
#   c1/c16 - steady state after a 1 s warm-up (q8bench's stable windows)
#   plan builds and model memory (server metrics) after the run.
# Prints medians over the passes and the ratios buckets / exact.
#
# --max_cached_plans N (default 64, the server's) bounds both variants' plan
# caches: 16 with these 61 lengths is what 4..256 would be at the default.
#
#   bench/sequence_buckets.sh [--passes N] [--distribution uniform|short] [--window_ms MS]
#                             [--max_cached_plans N]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
PASSES=3 DISTRIBUTION=uniform WINDOW_MS=1000 MAX_PLANS=64
while [[ $# -gt 0 ]]; do
  case "$1" in
    --passes) PASSES=$2; shift 2 ;;
    --distribution) DISTRIBUTION=$2; shift 2 ;;
    --window_ms) WINDOW_MS=$2; shift 2 ;;
    --max_cached_plans) MAX_PLANS=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

[[ -f "$BUILD_DIR/build.ninja" ]] || scripts/build.sh
cmake --build "$BUILD_DIR" -j 2 --target q8serve q8ctl q8bench >&2

WORK=$(mktemp -d /tmp/q8_seqlen_bench.XXXXXX)
SERVER_PID=
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
METRICS_PORT=$(free_port)
ADDRESS=127.0.0.1:$PORT
mkdir -p "$WORK/repo"
/usr/bin/python3 bench/make_length_mix.py "$WORK/mix.npz" --distribution "$DISTRIBUTION" >&2
"$BUILD_DIR/server/q8serve" --model_repository "$WORK/repo" --grpc_address "$ADDRESS" \
  --metrics_address 127.0.0.1 --metrics_port "$METRICS_PORT" --shadow_fraction 0 > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
CTL=("$BUILD_DIR/client/q8ctl/q8ctl" --server "$ADDRESS")
for _ in $(seq 100); do "${CTL[@]}" --timeout_seconds 2 health > /dev/null 2>&1 && break; sleep 0.2; done

echo "{\"quantization\": {\"mode\": \"none\"}, \"max_cached_plans\": $MAX_PLANS, \"sequence_buckets\": \"off\"}" \
  > "$WORK/exact.json"
echo "{\"quantization\": {\"mode\": \"none\"}, \"max_cached_plans\": $MAX_PLANS, \"sequence_buckets\": \"auto\"}" \
  > "$WORK/buckets.json"
BENCH=("$BUILD_DIR/client/q8bench/q8bench" --server "$ADDRESS" --request_mix "$WORK/mix.npz" --progress=false)

for pass in $(seq "$PASSES"); do
  variants=(exact buckets)
  (( pass % 2 == 0 )) && variants=(buckets exact)
  for v in "${variants[@]}"; do
    m="${v}_$pass"
    echo "pass $pass/$PASSES: $v" >&2
    start=$(date +%s.%N)
    "${CTL[@]}" upload "$m" tests/data/text_encoder.onnx --config "$WORK/$v.json" > /dev/null 2>&1 ||
      { echo "upload $m failed" >&2; tail -20 "$WORK/server.log" >&2; exit 1; }
    echo "$(date +%s.%N) - $start" | bc > "$WORK/$v.$pass.load"
    "${BENCH[@]}" --model "$m" --concurrency 1 --warmup_ms 0 --window_ms "$WINDOW_MS" --max_windows 3 \
      --json "$WORK/$v.$pass.cold.json" > "$WORK/last.log" 2>&1 || { cat "$WORK/last.log" >&2; exit 1; }
    for c in 1 16; do
      "${BENCH[@]}" --model "$m" --concurrency "$c" --window_ms "$WINDOW_MS" --json "$WORK/$v.$pass.c$c.json" \
        > "$WORK/last.log" 2>&1 || { cat "$WORK/last.log" >&2; exit 1; }
    done
    curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | grep "model=\"$m\"" > "$WORK/$v.$pass.metrics" || true
    "${CTL[@]}" unload "$m" > /dev/null 2>&1 || true
  done
done

/usr/bin/python3 - "$WORK" "$PASSES" "$DISTRIBUTION" "$MAX_PLANS" <<'PY'
import json, re, statistics, sys
work, passes, dist, max_plans = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

def metric(text, name, kind=None):
    for line in text.splitlines():
        if line.startswith(name + "{") and (kind is None or f'kind="{kind}"' in line):
            return float(line.rsplit(" ", 1)[1])
    return float("nan")

rows = {}
for v in ("exact", "buckets"):
    per = []
    for p in range(1, passes + 1):
        level = lambda tag: json.load(open(f"{work}/{v}.{p}.{tag}.json"))["levels"][0]
        m = open(f"{work}/{v}.{p}.metrics").read()
        per.append(dict(
            load=float(open(f"{work}/{v}.{p}.load").read()) * 1000,
            cold_p50=level("cold")["p50_us"], cold_p99=level("cold")["p99_us"],
            cold_rps=level("cold")["throughput_infer_per_s"],
            c1_rps=level("c1")["throughput_infer_per_s"], c1_p50=level("c1")["p50_us"], c1_p99=level("c1")["p99_us"],
            c16_rps=level("c16")["throughput_infer_per_s"], c16_p50=level("c16")["p50_us"],
            c16_p99=level("c16")["p99_us"],
            builds=metric(m, "q8serve_model_plan_builds_total"), plans=metric(m, "q8serve_model_cached_plans"),
            mem=metric(m, "q8serve_model_memory_bytes", "activations") + metric(m, "q8serve_model_memory_bytes",
                                                                                "scratchpad")))
    rows[v] = {k: statistics.median(x[k] for x in per) for k in per[0]}
    rows[v]["all"] = per
labels = [("load", "upload to READY (ms)"), ("builds", "plan builds"), ("plans", "cached plans"),
          ("mem", "arena + scratchpad (KiB)"), ("cold_p50", "cold c1 p50 (us)"), ("cold_p99", "cold c1 p99 (us)"),
          ("cold_rps", "cold c1 infer/s"), ("c1_rps", "c1 infer/s"), ("c1_p50", "c1 p50 (us)"),
          ("c1_p99", "c1 p99 (us)"), ("c16_rps", "c16 infer/s"), ("c16_p50", "c16 p50 (us)"),
          ("c16_p99", "c16 p99 (us)")]
print(f"text encoder fp32, {dist} lengths 4..64 (256-request mix), max_cached_plans {max_plans}, "
      f"medians of {passes} passes\n")
print("| measure | one plan per length | length buckets | buckets / exact | per pass (exact; buckets) |")
print("|---|---|---|---|---|")
for k, label in labels:
    e, b = rows["exact"][k], rows["buckets"][k]
    scale = 1 / 1024 if k == "mem" else 1
    fmt = lambda x: f"{x * scale:.0f}" if abs(x * scale) >= 10 else f"{x * scale:.2f}"
    each = "; ".join(", ".join(fmt(p[k]) for p in rows[v]["all"]) for v in ("exact", "buckets"))
    print(f"| {label} | {fmt(e)} | {fmt(b)} | {b / e if e else float('nan'):.2f}x | {each} |")
PY
