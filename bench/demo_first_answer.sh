#!/usr/bin/env bash
# Times what a newcomer waits for: the README's demo command
# (scripts/serve_demo.sh) from a fresh clone to the first answered inference.
# Two phases, as the demo runs them:
#   1. its dependency check and build of q8serve + q8ctl, with ccache
#      disabled as on a fresh machine: wall time and CPU time (user + sys;
#      on a shared machine the CPU time is the stable figure, and an idle
#      N-core machine needs about CPU / N of wall time for it);
#   2. serve_demo.sh itself (its build now a no-op) to the first answer of
#      `q8ctl infer`: start-up, int8 quantization of the demo CNN from its
#      calibration data, and the first request.
# apt is only what this machine still lacks; on a fresh Debian 12 it is every
# -dev package (the container's dependency layer times that part).
# Usage: bench/demo_first_answer.sh [work dir, default: a new /tmp dir]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d /tmp/q8-first-answer.XXXXXX)}
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
metrics_port=$(free_port)
git clone -q "$src" "$work/q8serve"
cd "$work/q8serve"
repo="$work/models"
log="$work/serve_demo.log"
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

load_before=$(loadavg)
/usr/bin/time -f "%e %U %S" -o "$work/build.time" env CCACHE_DISABLE=1 \
  bash -c 'scripts/install_deps.sh --build-only && Q8_BUILD_TARGETS="q8serve q8ctl" scripts/build.sh' >"$work/build.log" 2>&1
read -r build_wall build_user build_sys <"$work/build.time"

start=$(date +%s.%N)
Q8_PORT=$port Q8_DEMO_REPOSITORY=$repo scripts/serve_demo.sh "--metrics_port=$metrics_port" >"$log" 2>&1 &
demo_pid=$!  # serve_demo.sh execs q8serve: this is the server
trap 'kill -INT $demo_pid 2>/dev/null || true; wait $demo_pid 2>/dev/null || true' EXIT
answered=""
deadline=$((SECONDS + 600))
while ((SECONDS < deadline)); do
  kill -0 "$demo_pid" 2>/dev/null || { tail -30 "$log"; echo "[first_answer] the demo exited"; exit 1; }
  if build/client/q8ctl/q8ctl infer fashion_cnn --input "$repo/sample_images.npy" --top_k 1 \
      --server "127.0.0.1:$port" --timeout_seconds 5 >"$work/answer.txt" 2>&1; then
    answered=$(date +%s.%N)
    break
  fi
  sleep 0.2
done
[[ -n "$answered" ]] || { tail -30 "$log"; echo "[first_answer] no answer within 10 min"; exit 1; }
serve=$(awk -v a="$start" -v b="$answered" 'BEGIN { printf "%.1f", b - a }')
cpu=$(awk -v u="$build_user" -v s="$build_sys" 'BEGIN { printf "%.0f", u + s }')
echo "[first_answer] deps check + cold build of q8serve and q8ctl: ${build_wall} s wall, ${cpu} s CPU ($(nproc) CPUs, load average ${load_before} before)"
echo "[first_answer] serve_demo.sh to the first answer (start-up, int8 quantization, first request): ${serve} s (load average $(loadavg))"
grep -m1 "^fashion_cnn version" "$work/answer.txt" || true
