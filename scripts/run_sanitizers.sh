#!/usr/bin/env bash
# CI's sanitizer and fuzzing stages (called by scripts/run_tests.sh; see
# FUZZING.md for what each runs, why, and its measured cost). Two extra build
# dirs, each with only what its stages need:
#   build-asan  clang -O1, ASan+UBSan, libFuzzer coverage: the five fuzz
#               targets, then the unit + integration test executables (the
#               fuzz and asan stages share it: the libraries build once)
#   build-tsan  clang -O1, TSan: server_test and execution_test, run against
#               TSan-instrumented copies of Debian's Abseil
#               (scripts/build_tsan_abseil.sh) so absl::Mutex is visible
# Stages: fuzz each target (FUZZ_RUNS inputs, seed FUZZ_SEED) from its committed
# corpora; ctest (unit + integration + corpus replay) under ASan+UBSan; the
# executor / registry / loader / server tests under TSan with one OpenMP thread
# (libgomp is not TSan-instrumented).
# Usage: scripts/run_sanitizers.sh [build|asan|tsan|fuzz ...]
#        (default: $Q8_SANITIZER_STAGES, else "fuzz asan tsan": what CI runs;
#        "build" only builds what the three need: scripts/run_tests.sh runs it
#        at low priority beside the Release ctest, which leaves a core idle
#        for much of its run, so the stages then find their builds done)
set -euo pipefail
cd "$(dirname "$0")/.."
stages=("$@")
(( ${#stages[@]} )) || read -r -a stages <<< "${Q8_SANITIZER_STAGES:-fuzz asan tsan}"
FUZZ_SECONDS=${FUZZ_SECONDS:-45}
# CI's fuzz runs are reproducible: a fixed seed, a fixed number of inputs
# (FUZZ_SECONDS only caps a slow machine) and a fresh scratch corpus, so a
# green run stays green for the same code and a red one replays exactly.
# Explore with other seeds and longer runs by hand (scripts/fuzz.sh).
FUZZ_SEED=${FUZZ_SEED:-1}
FUZZ_RUNS=${FUZZ_RUNS:-300000}
ASAN_BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
TSAN_BUILD_DIR=${TSAN_BUILD_DIR:-build-tsan}
jobs=$(nproc)
mem_jobs=$(( $(awk '/MemAvailable/ {print $2}' /proc/meminfo) / 1500000 ))
(( mem_jobs >= 1 && mem_jobs < jobs )) && jobs=$mem_jobs

# Debian's oneDNN uses GCC's libgomp; clang's own OpenMP (libomp) would load a
# second runtime, so our one omp.h user links libgomp too.
common=(-G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1   # -g1 comes with Q8_SANITIZE
        -DOpenMP_CXX_FLAGS=-fopenmp=libgomp -DOpenMP_CXX_LIB_NAMES=gomp
        "-DOpenMP_gomp_LIBRARY=$(g++ -print-file-name=libgomp.so)")
# The asan stage's test executables (override: ASAN_TESTS="a_test b_test").
# Not under ASan: hot_path_alloc_test and request_path_alloc_test replace
# malloc (clashes with ASan's);
# torchvision_test needs the PyTorch export fixture and full-size models
# (minutes under ASan; the same kernels run in kernels_test/engine_test).
# CI's set is the one measured green under ASan+UBSan (FUZZING.md). Not yet
# measured under ASan, so not in CI's set: quantize_test (it needs the
# torchvision export fixture; add it with ASAN_TESTS=...).
ci_asan_tests="core_test kernels_test engine_test quant_unit_test qdq_export_test server_test execution_test"
ci_asan_tests+=" client_test integration_test crash_test conformance_test conformance_harness_test"
# fallback_ladder_test also backs the plain ctest entry fallback_ladder_no_bf16_isa,
# which would be "Not Run" (a failure) if the executable were not built here.
ci_asan_tests+=" fallback_ladder_test"
# Padding and slicing of request tensors (sequence-length buckets) read and
# write client-sized buffers: checked under ASan too.
ci_asan_tests+=" sequence_buckets_test"
# The health service over a real gRPC server (not under TSan: uninstrumented libgrpc).
ci_asan_tests+=" health_test"
read -r -a ASAN_TESTS <<< "${ASAN_TESTS:-$ci_asan_tests}"
# model_zoo_test (ctest torchvision_model_zoo, fixture export_torchvision_zoo)
# is not in the set and its ctest names match the exclusion: full-size models.
# TorchvisionTest and DynamicModelsTest need the export_torchvision fixture
# (full-size models, minutes under ASan), which the exclusion skips.
# PrometheusTest.LiveMetricsThroughRealPrometheus compares the server's
# histogram p99 with client-measured latencies: a timing check, not a memory
# one, that ASan's slowdown breaks (it runs in the Release ctest).
# CrashPointsTest.PollingReplicaNeverServesAHalfWrittenVersion runs ~40
# child processes that each quantize a CNN, against a replica polling every
# 50 ms: 14-18 s in Release, but past ctest's 900 s timeout under ASan on a
# loaded 2-core machine in session 6 (it fit before; the slowdown is not
# measured yet). It runs in the Release ctest; the other crash tests stay here.
ASAN_EXCLUDE="_NOT_BUILT\$|[Tt]orchvision|DynamicModelsTest|hot_path_alloc|request_path_alloc|PrometheusTest.LiveMetricsThroughRealPrometheus|PollingReplicaNeverServesAHalfWrittenVersion"
FUZZERS=(npy_fuzzer model_config_fuzzer onnx_compile_fuzzer infer_request_fuzzer upload_stream_fuzzer)
# Built for the asan stage's corpus replays only, not fuzzed in CI (its
# 5.6 M-input run is in FUZZING.md; CI time).
REPLAY_ONLY_FUZZERS=(npz_fuzzer)

timed() {  # timed LABEL command...: prints the wall time of one step, keeps its exit status
  local start=$SECONDS status=0
  "${@:2}" || status=$?
  echo "[sanitizers] $1: $((SECONDS - start)) s"
  return $status
}

asan_build() {
  cmake -S . -B "$ASAN_BUILD_DIR" "${common[@]}" -DQ8_SANITIZE=address,undefined -DQ8_FUZZ=ON >/dev/null
  cmake --build "$ASAN_BUILD_DIR" -j "$jobs" --target "$@"
}

tsan_build() {
  scripts/build_tsan_abseil.sh "$TSAN_BUILD_DIR/absl-tsan"
  cmake -S . -B "$TSAN_BUILD_DIR" "${common[@]}" -DQ8_SANITIZE=thread >/dev/null
  cmake --build "$TSAN_BUILD_DIR" -j "$jobs" --target server_test execution_test
}

rc=0
for stage in "${stages[@]}"; do
  case $stage in
    fuzz)
      timed "asan build (fuzzers)" asan_build "${FUZZERS[@]}"
      for f in "${FUZZERS[@]}"; do
        timed "fuzz $f (seed $FUZZ_SEED, $FUZZ_RUNS runs, at most ${FUZZ_SECONDS}s)" \
          env ASAN_BUILD_DIR="$ASAN_BUILD_DIR" FUZZ_WORK_DIR="$(mktemp -d /tmp/q8-ci-fuzz.XXXXXX)" \
          scripts/fuzz.sh "$f" "$FUZZ_SECONDS" -seed="$FUZZ_SEED" -runs="$FUZZ_RUNS" \
          >"/tmp/q8-fuzz-$f.log" 2>&1 || { rc=1; echo "FUZZER $f FAILED:"; tail -60 "/tmp/q8-fuzz-$f.log"; }
        grep -E "^stat::number_of_executed_units|^Done" "/tmp/q8-fuzz-$f.log" || true
      done
      ;;
    asan)
      timed "asan build (tests)" asan_build "${ASAN_TESTS[@]}" "${FUZZERS[@]}" "${REPLAY_ONLY_FUZZERS[@]}"
      # Leaks: the system gRPC/protobuf/oneDNN keep process-lifetime singletons.
      timed "asan ctest" env ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 OMP_NUM_THREADS=1 \
        ctest --test-dir "$ASAN_BUILD_DIR" --output-on-failure --timeout 900 -j "$jobs" -L "unit|integration|fuzz|conformance" \
        -E "$ASAN_EXCLUDE" || rc=1  # _NOT_BUILT: executables outside ASAN_TESTS
      ;;
    tsan)
      timed "tsan build" tsan_build
      absl_lib=$(realpath "$TSAN_BUILD_DIR/absl-tsan/lib")
      # Whole binaries, run directly: the executor, registry, loader and
      # server-state tests are these two executables. The instrumented Abseil
      # goes first on the library path; check that it is what gets loaded.
      for t in tests/unit/server/server_test tests/unit/server/execution_test; do
        # ldd's whole output first: under pipefail, grep -q leaving early can
        # SIGPIPE ldd and fail the check although the library is there.
        libs=$(LD_LIBRARY_PATH=$absl_lib ldd "$TSAN_BUILD_DIR/$t")
        if ! grep -q "$absl_lib/libabsl_synchronization" <<<"$libs"; then
          echo "tsan: $t does not load $absl_lib/libabsl_synchronization"; rc=1; continue
        fi
        timed "tsan $(basename $t)" env LD_LIBRARY_PATH="$absl_lib" OMP_NUM_THREADS=1 \
          TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp" \
          "$TSAN_BUILD_DIR/$t" --gtest_brief=1 || rc=1
      done
      ;;
    build)  # what the stages of $Q8_SANITIZER_STAGES will need
      planned=" ${Q8_SANITIZER_STAGES:-fuzz asan tsan} "
      if [[ "$planned" == *" asan "* ]]; then
        timed "asan build (fuzzers and tests)" \
          asan_build "${FUZZERS[@]}" "${ASAN_TESTS[@]}" "${REPLAY_ONLY_FUZZERS[@]}" || rc=1
      elif [[ "$planned" == *" fuzz "* ]]; then
        timed "asan build (fuzzers)" asan_build "${FUZZERS[@]}" || rc=1
      fi
      if [[ "$planned" == *" tsan "* ]]; then timed "tsan build (with Abseil)" tsan_build || rc=1; fi
      ;;
    *) echo "unknown stage '$stage' (build|asan|tsan|fuzz)"; exit 2 ;;
  esac
done
exit $rc
