#!/usr/bin/env bash
# Fails when an #include crosses the layering rules:
#   core <- kernels <- engine <- server ; proto <- server, client
#   only kernels/*.cc and kernels/internal/ see oneDNN; only engine/import
#   (reading) and engine/export (writing QDQ models) see ONNX protobuf;
#   only server/ and client/ see gRPC and the generated protos; the graph IR
#   (engine/graph) sees neither kernels nor the engine stages above it.
set -uo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root" || exit 2
fail=0

# forbid DIR_GLOB PATTERN WHY
forbid() {
  local files=$1 pattern=$2 why=$3 hits
  # shellcheck disable=SC2086
  hits=$(grep -nE "^#include [<\"]($pattern)" $files 2>/dev/null || true)
  if [[ -n "$hits" ]]; then
    echo "layering violation: $why"
    echo "$hits" | sed 's/^/  /'
    fail=1
  fi
}

shopt -s globstar nullglob
core=$(ls core/**/*.h core/**/*.cc)
kernels_public=$(ls kernels/*.h)
kernels_all=$(ls kernels/**/*.h kernels/**/*.cc)
engine=$(ls engine/**/*.h engine/**/*.cc)
engine_not_import=$(ls engine/**/*.h engine/**/*.cc | grep -vE '^engine/(import|export)/')
engine_graph=$(ls engine/graph/*.h engine/graph/*.cc)
client=$(ls client/**/*.h client/**/*.cc)

forbid "$core" "kernels/|engine/|server/|client/|oneapi/|grpc|onnx/|inference\.|prometheus" "core/ depends on Abseil and the standard library only"
forbid "$kernels_all" "engine/|server/|client/|grpc|onnx/|inference\.|prometheus" "kernels/ may include only core/ and oneDNN"
forbid "$kernels_public" "oneapi/|dnnl" "kernels' public headers must not expose oneDNN (engine includes them)"
forbid "$engine" "server/|client/|oneapi/|dnnl|grpc|inference\.|prometheus|kernels/internal/" "engine/ must not see gRPC, protos, oneDNN or kernels internals"
forbid "$engine_not_import" "onnx/" "only engine/import and engine/export see ONNX protobuf"
forbid "$engine_graph" "kernels/|engine/(ops|passes|plan|quant|export|import)/" "the graph IR states what a model computes, not how: no kernel or engine-stage types"
forbid "$client" "server/|engine/|kernels/|oneapi/|prometheus" "client tools talk to the server over gRPC only"

if [[ $fail -eq 0 ]]; then echo "layering OK"; fi
exit $fail
