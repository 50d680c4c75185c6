#!/usr/bin/env bash
# Configures and builds q8serve (Release) into ${BUILD_DIR:-build}.
# Q8_BUILD_TARGETS="q8serve q8ctl" builds only those targets (the demo does);
# by default everything, tests included. Extra arguments go to cmake's configure.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
jobs=$(nproc)
# Each compiler process peaks near 1.5 GiB on the gRPC-generated sources.
mem_jobs=$(( $(awk '/MemAvailable/ {print $2}' /proc/meminfo) / 1500000 ))
(( mem_jobs >= 1 && mem_jobs < jobs )) && jobs=$mem_jobs
# Paths under the source tree reach ccache as relative ones, so other
# checkouts and the container build (Dockerfile) hit the same cache entries.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
# ccache hashes the locale (it changes compiler messages); one fixed value
# here and in the Dockerfile lets the image's compile hit this build's objects.
export LANG=C.UTF-8
unset LC_ALL LC_CTYPE LC_MESSAGES
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
targets=()
for t in ${Q8_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" -j "$jobs" "${targets[@]}"
