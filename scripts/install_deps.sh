#!/usr/bin/env bash
# Installs q8serve's build and test dependencies from Debian 12 packages,
# only those that are missing (so a second run costs nothing).
# Usage: scripts/install_deps.sh [--build-only]   (--build-only: just what compiling needs; the Dockerfile uses it)
set -euo pipefail

BUILD_PKGS=(
  cmake g++ ninja-build pkg-config ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libdnnl-dev ocl-icd-opencl-dev   # oneDNN's CMake config looks for OpenCL headers
  prometheus-cpp-dev libabsl-dev libgtest-dev libgmock-dev libonnx-dev nlohmann-json3-dev
  grpc-proto                       # grpc/health/v1/health.proto for the integration tests' client
  libssl-dev                       # server/security parses TLS certificates and keys
)
# Tests compare against PyTorch and export torchvision models at test time.
TEST_PKGS=(openssl                 # tests/integration/security_test.cc makes certificates at test time
           python3 python3-numpy python3-torch python3-torchvision python3-onnx python3-grpcio python3-yaml
           dataset-fashion-mnist prometheus   # prometheus provides promtool
           libonnx-testdata                   # ONNX's conformance cases (tests/conformance)
           yamllint nodejs                    # deploy/k8s checks (node runs the npm kubernetes-models schemas;
                                              # kubectl with kustomize comes with the machine image)
           podman buildah debootstrap         # deploy/container/build_and_smoke.sh (image build + smoke test)
           clang libclang-rt-14-dev llvm      # sanitizer builds and libFuzzer (scripts/run_sanitizers.sh);
                                              # llvm: llvm-symbolizer for readable sanitizer stacks
           dpkg-dev)                          # dpkg-source: unpacks Abseil's Debian source for the TSan
                                              # build (scripts/build_tsan_abseil.sh)

pkgs=("${BUILD_PKGS[@]}")
if [[ "${1:-}" != "--build-only" ]]; then pkgs+=("${TEST_PKGS[@]}"); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
echo "Installing ${#missing[@]} missing packages: ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
