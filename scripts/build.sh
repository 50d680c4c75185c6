#!/usr/bin/env bash
# Configures and builds q8serve (Release) into ${BUILD_DIR:-build}.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
jobs=$(nproc)
# Each compiler process peaks near 1.5 GiB on the gRPC-generated sources.
mem_jobs=$(( $(awk '/MemAvailable/ {print $2}' /proc/meminfo) / 1500000 ))
(( mem_jobs >= 1 && mem_jobs < jobs )) && jobs=$mem_jobs
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$BUILD_DIR" -j "$jobs"
