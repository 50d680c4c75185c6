#!/usr/bin/env bash
# The one command that installs what is missing, builds, and runs every test.
# Usage: scripts/run_tests.sh [extra ctest args, e.g. -L unit]
# Without ctest args it also builds the container image and smoke-tests it
# (deploy/container/build_and_smoke.sh; Q8_CONTAINER_SMOKE=0 skips it,
# Q8_CONTAINER_SMOKE=1 forces it with args). Likewise it then runs the
# sanitizer and fuzzing stages (scripts/run_sanitizers.sh: each fuzz target
# for 300 000 inputs (fixed seed) under ASan+UBSan, the unit and integration
# suites under ASan+UBSan, the executor/registry/server tests under TSan;
# Q8_SANITIZER_STAGES picks a subset of "fuzz asan tsan"; Q8_SANITIZERS=0
# skips them, Q8_SANITIZERS=1 forces them with args).
#
# Order and overlap (CI's budget is 40 min on 2 cores): the Release build
# first; then ctest in the foreground while two jobs run beside it: the
# container stage (its compile is ccache hits on this build's objects, the
# rest is mostly debootstrap and apt downloads, so it waits on the network
# rather than the cores) and, at the lowest CPU priority, the sanitizer
# builds (ctest leaves a core idle for much of its run: the model-zoo chain
# is one long serial test). The sanitizer stages then run on finished builds.
# Background output goes to log files, printed whole when each job is
# collected; the last lines of the run are a per-stage summary and the tail
# of every failed stage's log (CI shows only the end of the output). A failed
# container stage is run once more in the foreground (its first log's tail
# is still printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
LOG_DIR=${Q8_TEST_LOG_DIR:-$(mktemp -d /tmp/q8-run-tests.XXXXXX)}
mkdir -p "$LOG_DIR"
summary=()
failed_logs=()
stage_start=$SECONDS
stage_done() {
  local line="$1: $((SECONDS - stage_start)) s"
  echo "[run_tests] $line"
  summary+=("$line")
  stage_start=$SECONDS
}
scripts/install_deps.sh
stage_done "install_deps"
scripts/build.sh
stage_done "build"

container=${Q8_CONTAINER_SMOKE:-$(( $# == 0 ))}
sanitizers=${Q8_SANITIZERS:-$(( $# == 0 ))}
container_pid=""
prebuild_pid=""
if [[ "$container" == 1 ]]; then
  nice -n 5 deploy/container/build_and_smoke.sh >"$LOG_DIR/container.log" 2>&1 &
  container_pid=$!
fi
if [[ "$sanitizers" == 1 ]]; then
  nice -n 19 scripts/run_sanitizers.sh build >"$LOG_DIR/sanitizer-build.log" 2>&1 &
  prebuild_pid=$!
fi

cd "${BUILD_DIR:-build}"
ctest_rc=0
ctest --output-on-failure --timeout 900 -j "$(nproc)" "$@" 2>&1 | tee "$LOG_DIR/ctest.log" || ctest_rc=$?
cd - >/dev/null
((ctest_rc)) && failed_logs+=("ctest:$LOG_DIR/ctest.log")
stage_done "ctest (container stage and sanitizer builds beside it)"

container_rc=0
if [[ -n "$container_pid" ]]; then
  wait "$container_pid" || container_rc=$?
  echo "[run_tests] container stage output:"
  cat "$LOG_DIR/container.log"
  stage_done "waiting for the container stage"
  if ((container_rc)); then
    # One more try in the foreground: the stage depends on a Debian mirror
    # and podman, and a download that failed once should cost minutes, not
    # the run. The first attempt's tail is printed at the end either way.
    mv "$LOG_DIR/container.log" "$LOG_DIR/container.first-attempt.log"
    failed_logs+=("container smoke test, first attempt (exit $container_rc):$LOG_DIR/container.first-attempt.log")
    echo "[run_tests] container stage failed (exit $container_rc); trying it once more"
    container_rc=0
    deploy/container/build_and_smoke.sh >"$LOG_DIR/container.log" 2>&1 || container_rc=$?
    cat "$LOG_DIR/container.log"
    ((container_rc)) && failed_logs+=("container smoke test (exit $container_rc):$LOG_DIR/container.log")
    stage_done "container stage, second attempt (exit $container_rc)"
  fi
fi

sanitizers_rc=0
if [[ -n "$prebuild_pid" ]]; then
  # A failed build is reported again, with its errors, by the stage that
  # needs it below; only its timings are of interest here.
  wait "$prebuild_pid" || true
  grep '^\[sanitizers\]' "$LOG_DIR/sanitizer-build.log" || true
  stage_done "waiting for the sanitizer builds"
  scripts/run_sanitizers.sh 2>&1 | tee "$LOG_DIR/sanitizers.log" || sanitizers_rc=$?
  ((sanitizers_rc)) && failed_logs+=("sanitizer/fuzz stages (exit $sanitizers_rc):$LOG_DIR/sanitizers.log")
  stage_done "sanitizer and fuzz stages"
fi

echo "[run_tests] summary (logs in $LOG_DIR):"
for line in "${summary[@]}"; do echo "[run_tests]   $line"; done
for entry in "${failed_logs[@]}"; do
  echo "[run_tests] FAILED: ${entry%%:/*}; last lines of ${entry#*:}:"
  tail -n 40 "${entry#*:}"
done
exit $(( ctest_rc || container_rc || sanitizers_rc ))
