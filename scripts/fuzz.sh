#!/usr/bin/env bash
# Runs one libFuzzer target from the ASan+UBSan fuzz build on its committed
# corpora (fuzz/corpus/<target>/seeds and regressions/). New inputs go to a
# scratch corpus (FUZZ_WORK_DIR, default /tmp/q8-fuzz/<target>) so the
# committed seeds stay as they are. Crashes are written to the scratch dir as
# crash-<sha1> and the script exits non-zero.
# Usage: scripts/fuzz.sh TARGET SECONDS [extra libFuzzer flags, e.g. -jobs=2 -workers=2]
# Env: ASAN_BUILD_DIR (default build-asan), FUZZ_WORK_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
target=$1 seconds=$2
shift 2
bin=${ASAN_BUILD_DIR:-build-asan}/fuzz/$target
work=${FUZZ_WORK_DIR:-/tmp/q8-fuzz}/$target
mkdir -p "$work/corpus" "$work/artifacts"
corpora=()
for d in seeds regressions; do
  [[ -d fuzz/corpus/$target/$d ]] && corpora+=("fuzz/corpus/$target/$d")
done
dict=()
[[ -f fuzz/dict/$target.dict ]] && dict=("-dict=fuzz/dict/$target.dict")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# -rss_limit_mb / -malloc_limit_mb: a valid-but-huge input is reported as an
# OOM instead of taking the machine down; -timeout: one input may take 10 s.
exec "$bin" -max_total_time="$seconds" -rss_limit_mb=2560 -malloc_limit_mb=1024 -timeout=10 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" "${dict[@]}" "$@" "$work/corpus" "${corpora[@]}"
