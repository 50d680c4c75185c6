#!/usr/bin/env bash
# Soak (issue 11, item 9): one q8serve on 127.0.0.1 under mixed load for a
# fixed duration, reporting errors, p99 per interval and the server's RSS drift.
#
#   inference  two models (Fashion CNN int8 static, Fashion MLP fp32), one
#              q8bench per model at half the concurrency each (closed loop),
#              restarted every interval (3 windows of a third of it) so each
#              interval has its own p99
#   churn      a loop of upload (int8 static, calibrated) -> replace (dynamic)
#              -> second version (dynamic) -> unload of a third model, and a
#              hot swap (re-upload) of the MLP while it serves. Unload keeps
#              the files, so each upload also rebuilds version 2 from disk
#              (from its persisted artifact).
#   scrapes    GET /metrics every second
# Any inference error, failed churn step, failed scrape or server exit is
# unexpected: the script prints it and exits 1 (the 60 s ctest `soak` runs it).
#
#   bench/soak.sh [--duration_s 600] [--interval_s 30] [--concurrency 8]
#                 [--markdown FILE] [--keep]
# Environment: BUILD_DIR (default build); binaries must be built.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
DURATION_S=600 INTERVAL_S=30 CONCURRENCY=8 MARKDOWN= KEEP=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration_s) DURATION_S=$2; shift 2 ;;
    --interval_s) INTERVAL_S=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --markdown) MARKDOWN=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
(( DURATION_S >= INTERVAL_S && INTERVAL_S >= 5 && CONCURRENCY >= 2 )) ||
  { echo "need --duration_s >= --interval_s >= 5 and --concurrency >= 2" >&2; exit 2; }
for b in server/q8serve client/q8ctl/q8ctl client/q8bench/q8bench; do
  [[ -x "$BUILD_DIR/$b" ]] || { echo "missing $BUILD_DIR/$b (build q8serve q8ctl q8bench)" >&2; exit 2; }
done
PY=/usr/bin/python3

WORK=$(mktemp -d /tmp/q8_soak.XXXXXX)
SERVER_PID= CHURN_PID= SCRAPE_PID=
cleanup() {
  touch "$WORK/stop"
  for p in $CHURN_PID $SCRAPE_PID; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if (( KEEP )); then echo "soak files kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
METRICS_PORT=$(free_port)
ADDRESS=127.0.0.1:$PORT
mkdir -p "$WORK/repo"
"$BUILD_DIR/server/q8serve" --model_repository "$WORK/repo" --grpc_address "$ADDRESS" \
  --metrics_port "$METRICS_PORT" --execution_preset throughput > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
HEALTH=("$BUILD_DIR/client/q8ctl/q8ctl" --server "$ADDRESS" --timeout_seconds 2 health)
CTL=("$BUILD_DIR/client/q8ctl/q8ctl" --server "$ADDRESS" --timeout_seconds 120)
for _ in $(seq 150); do "${HEALTH[@]}" > /dev/null 2>&1 && break; sleep 0.2; done
"${HEALTH[@]}" > /dev/null || { echo "server did not start" >&2; cat "$WORK/server.log" >&2; exit 1; }

DATA=tests/data
CAL=(--calibration "$DATA/fashion_test_images.npy" --labels "$DATA/fashion_test_labels.npy" --max_drop 0.05)
fail() { echo "soak: $*" >&2; tail -n 40 "$WORK/server.log" >&2; exit 1; }
"${CTL[@]}" upload cnn "$DATA/fashion_cnn.onnx" "${CAL[@]}" > "$WORK/upload_cnn.log" 2>&1 || fail "upload cnn failed"
"${CTL[@]}" upload mlp "$DATA/fashion_mlp.onnx" --quantization none > "$WORK/upload_mlp.log" 2>&1 ||
  fail "upload mlp failed"

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0; }
now() { date +%s.%N; }
START=$(now)
echo "t_s,event,detail" > "$WORK/events.csv"
echo "t_s,rss_kb" > "$WORK/rss_samples.csv"

# Churn: every step must succeed; each cycle logged with its duration.
(
  cycle=0
  step() {
    local what=$1; shift
    if ! "$@" > "$WORK/churn_step.log" 2>&1; then
      echo "$(now),churn_fail,$what: $(tail -n 2 "$WORK/churn_step.log" | tr '\n' ' ' | cut -c1-400)" >> "$WORK/events.csv"
      return 1
    fi
  }
  while [[ ! -e "$WORK/stop" ]]; do
    cycle=$((cycle + 1))
    t0=$(now)
    step "upload churn v1 static" "${CTL[@]}" upload churn "$DATA/fashion_cnn.onnx" "${CAL[@]}" &&
      step "replace churn v1 dynamic" "${CTL[@]}" upload churn "$DATA/fashion_cnn.onnx" --quantization dynamic &&
      step "upload churn v2 dynamic" "${CTL[@]}" upload churn "$DATA/fashion_mlp.onnx" --version 2 --quantization dynamic &&
      step "hot swap mlp" "${CTL[@]}" upload mlp "$DATA/fashion_mlp.onnx" --quantization none &&
      step "unload churn" "${CTL[@]}" unload churn &&
      echo "$(now),churn_ok,cycle $cycle in $($PY -c "print(round($(now)-$t0,2))") s" >> "$WORK/events.csv"
    sleep 1
  done
) &
CHURN_PID=$!

# Scrapes: one per second; a failure is logged. The server's RSS is sampled
# alongside (the churn model comes and goes, so each interval reports min/max).
(
  while [[ ! -e "$WORK/stop" ]]; do
    echo "$($PY -c "print(round($(now)-$START,2))"),$(rss_kb)" >> "$WORK/rss_samples.csv"
    if curl -sf --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" -o "$WORK/last_scrape.txt"; then
      echo "$(now),scrape_ok," >> "$WORK/events.csv"
    else
      echo "$(now),scrape_fail,curl exit $?" >> "$WORK/events.csv"
    fi
    sleep 1
  done
) &
SCRAPE_PID=$!

INTERVALS=$(( DURATION_S / INTERVAL_S ))
PER_MODEL=$(( CONCURRENCY / 2 ))
echo "interval,t_end_s,rss_kb" > "$WORK/rss.csv"
echo "0,0,$(rss_kb)" >> "$WORK/rss.csv"
for i in $(seq "$INTERVALS"); do
  for m in cnn mlp; do
    "$BUILD_DIR/client/q8bench/q8bench" --server "$ADDRESS" --model "$m" --concurrency "$PER_MODEL" \
      --warmup_ms 0 --window_ms $(( INTERVAL_S * 1000 / 3 )) --max_windows 3 --timeout_ms 30000 --progress=false \
      --json "$WORK/$m.$i.json" > "$WORK/$m.$i.log" 2>&1 &
    eval "BENCH_$m=\$!"
  done
  for m in cnn mlp; do
    pid_var=BENCH_$m rc=0
    wait "${!pid_var}" || rc=$?
    (( rc == 0 )) || echo "$(now),bench_fail,$m interval $i exit $rc: $(tail -n 3 "$WORK/$m.$i.log" | tr '\n' ' ')" >> "$WORK/events.csv"
  done
  kill -0 "$SERVER_PID" 2>/dev/null || fail "server exited during interval $i"
  echo "$i,$($PY -c "print(round($(now)-$START,1))"),$(rss_kb)" >> "$WORK/rss.csv"
  echo "interval $i/$INTERVALS done" >&2
done
touch "$WORK/stop"
wait "$CHURN_PID" 2>/dev/null || true
wait "$SCRAPE_PID" 2>/dev/null || true
CHURN_PID= SCRAPE_PID=
kill -0 "$SERVER_PID" 2>/dev/null || fail "server exited at the end"

$PY - "$WORK" "$INTERVALS" "$INTERVAL_S" "$CONCURRENCY" "$MARKDOWN" <<'EOF'
import csv, json, os, sys
work, intervals, interval_s, conc, markdown = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
rows, problems = [], []
rss = {int(r["interval"]): int(r["rss_kb"]) for r in csv.DictReader(open(f"{work}/rss.csv"))}
samples = {}
for r in csv.DictReader(open(f"{work}/rss_samples.csv")):
    if int(r["rss_kb"]) > 0:
        samples.setdefault(min(intervals, int(float(r["t_s"]) // interval_s) + 1), []).append(int(r["rss_kb"]) / 1024)
for i in range(1, intervals + 1):
    s = samples.get(i, [rss.get(i, 0) / 1024])
    row = {"interval": i, "rss_min": min(s), "rss_max": max(s)}
    for m in ("cnn", "mlp"):
        path = f"{work}/{m}.{i}.json"
        if not os.path.exists(path):
            problems.append(f"interval {i}: no q8bench result for {m}")
            continue
        run = json.load(open(path))
        level = run["levels"][0]
        row[m] = dict(rps=level["throughput_infer_per_s"], p50=level["p50_us"], p99=level["p99_us"],
                      requests=level["requests"], errors=max(level["errors"], run.get("client_errors", 0)))
        if row[m]["errors"]:
            problems.append(f"interval {i}: {row[m]['errors']} inference errors on {m}")
    rows.append(row)
events = list(csv.DictReader(open(f"{work}/events.csv")))
count = lambda kind: sum(1 for e in events if e["event"] == kind)
for e in events:
    if e["event"].endswith("_fail"):
        problems.append(f"{e['event']}: {e['detail']}")
if count("churn_ok") == 0:
    problems.append("no churn cycle completed")
if count("scrape_ok") == 0:
    problems.append("no successful metrics scrape")

def fmt(r, m, k, scale=1, digits=0):
    return f"{r[m][k] / scale:.{digits}f}" if m in r else "-"
lines = [f"Soak: {intervals} x {interval_s} s, inference concurrency {conc} (half per model), "
         f"{count('churn_ok')} churn cycles ({count('churn_fail')} failed), "
         f"{count('scrape_ok')} metrics scrapes ({count('scrape_fail')} failed)", "",
         "| interval | end (s) | cnn int8 req/s | cnn p99 (ms) | mlp fp32 req/s | mlp p99 (ms) | errors | server RSS min-max (MiB) |",
         "|---:|---:|---:|---:|---:|---:|---:|---:|"]
for r in rows:
    errors = sum(r[m]["errors"] for m in ("cnn", "mlp") if m in r)
    lines.append(f"| {r['interval']} | {r['interval'] * interval_s} | {fmt(r, 'cnn', 'rps')} | "
                 f"{fmt(r, 'cnn', 'p99', 1000, 2)} | {fmt(r, 'mlp', 'rps')} | {fmt(r, 'mlp', 'p99', 1000, 2)} | "
                 f"{errors} | {r['rss_min']:.0f}-{r['rss_max']:.0f} |")
total = sum(r[m]["requests"] for r in rows for m in ("cnn", "mlp") if m in r)
errors = sum(r[m]["errors"] for r in rows for m in ("cnn", "mlp") if m in r)
# Drift: the lowest RSS of an interval (churn model unloaded, fewest live
# workspaces) from the second interval (allocator arenas warmed up) to the last.
base = rows[1 if len(rows) > 1 else 0]["rss_min"]
last = rows[-1]["rss_min"]
peak = max(r["rss_max"] for r in rows)
p99 = lambda m: [r[m]["p99"] / 1000 for r in rows if m in r]
lines += ["", f"Requests {total}, inference errors {errors}. p99 over intervals: cnn {min(p99('cnn'), default=0):.2f}-"
          f"{max(p99('cnn'), default=0):.2f} ms, mlp {min(p99('mlp'), default=0):.2f}-{max(p99('mlp'), default=0):.2f} ms. Server RSS "
          f"{rss.get(0, 0) / 1024:.0f} MiB after the first uploads; lowest RSS {base:.0f} MiB in interval "
          f"{rows[1 if len(rows) > 1 else 0]['interval']}, {last:.0f} MiB in the last (drift {last - base:+.0f} MiB), "
          f"peak {peak:.0f} MiB."]
text = "\n".join(lines)
print(text)
if markdown:
    open(markdown, "w").write(text + "\n")
if problems:
    print("\nUNEXPECTED:", *problems[:50], sep="\n  ", file=sys.stderr)
    sys.exit(1)
EOF
