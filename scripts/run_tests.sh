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
set -euo pipefail
cd "$(dirname "$0")/.."
# Each stage's wall time goes to the log, so CI's budget (40 min) can be
# tracked stage by stage.
stage_start=$SECONDS
stage_done() { echo "[run_tests] $1: $((SECONDS - stage_start)) s"; stage_start=$SECONDS; }
scripts/install_deps.sh
stage_done "install_deps"
scripts/build.sh
stage_done "build"
container=${Q8_CONTAINER_SMOKE:-$(( $# == 0 ))}
container_rc=0
if [[ "$container" == 1 ]]; then
  # Before ctest so the two do not compete for the cores.
  deploy/container/build_and_smoke.sh || container_rc=$?
  stage_done "container build and smoke test"
fi
cd "${BUILD_DIR:-build}"
ctest_rc=0
ctest --output-on-failure --timeout 900 -j "$(nproc)" "$@" || ctest_rc=$?
cd - >/dev/null
stage_done "ctest"
sanitizers=${Q8_SANITIZERS:-$(( $# == 0 ))}
sanitizers_rc=0
if [[ "$sanitizers" == 1 ]]; then
  scripts/run_sanitizers.sh || sanitizers_rc=$?
  stage_done "sanitizer and fuzz stages"
  if ((sanitizers_rc)); then echo "sanitizer/fuzz stages FAILED (exit $sanitizers_rc)"; fi
fi
if [[ "$container" == 1 ]]; then
  if ((container_rc)); then echo "container smoke test FAILED (exit $container_rc; output above ctest's)"; fi
fi
exit $(( ctest_rc || container_rc || sanitizers_rc ))
