#!/usr/bin/env bash
# Offline validation of deploy/k8s (no cluster): yamllint on the sources,
# `kubectl kustomize` of the base and every overlay, schema validation of
# every rendered object with the npm kubernetes-models packages (Kubernetes,
# prometheus-operator, KEDA), and cross-checks (tests/deploy/check_k8s_objects.py,
# which also checks the KServe kinds, for which no npm models exist).
# The npm packages are installed once, pinned, into $Q8_NPM_CACHE
# (default /var/tmp/q8serve-npm). Needs kubectl (with built-in kustomize;
# preinstalled on the project's machines), yamllint, node/npm, python3-yaml.
# Usage: check_k8s.sh REPO_ROOT
set -euo pipefail
ROOT=$(cd "$1" && pwd)
NPM_CACHE=${Q8_NPM_CACHE:-/var/tmp/q8serve-npm}
PKGS=(kubernetes-models@5.1.0 @kubernetes-models/prometheus-operator@6.0.0 @kubernetes-models/keda@2.0.0)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

for tool in kubectl yamllint node npm; do
  command -v "$tool" >/dev/null || { echo "check_k8s: $tool not found (scripts/install_deps.sh installs yamllint, nodejs, npm; kubectl comes with the machine image)"; exit 1; }
done

echo "== yamllint"
yamllint -c "$ROOT/deploy/.yamllint.yaml" "$ROOT/deploy/k8s" "$ROOT/deploy/compose" "$ROOT/deploy/grafana"

echo "== kubectl kustomize"
render() {  # name dir
  kubectl kustomize "$ROOT/$2" >"$OUT/$1.yaml"
  /usr/bin/python3 -c 'import json,sys,yaml; json.dump([d for d in yaml.safe_load_all(open(sys.argv[1])) if d], open(sys.argv[2],"w"))' \
    "$OUT/$1.yaml" "$OUT/$1.json"
  echo "$2: $(/usr/bin/python3 -c 'import json,sys; print(", ".join(o["kind"] for o in json.load(open(sys.argv[1]))))' "$OUT/$1.json")"
}
render base deploy/k8s/base
render hpa deploy/k8s/overlays/hpa
render keda deploy/k8s/overlays/keda
render kserve deploy/k8s/overlays/kserve
render secure deploy/k8s/overlays/secure

echo "== schemas (kubernetes-models)"
want="${PKGS[*]}"
if [[ ! -f "$NPM_CACHE/.installed" || "$(cat "$NPM_CACHE/.installed")" != "$want" ]]; then
  mkdir -p "$NPM_CACHE"
  echo '{"name":"q8serve-k8s-validate","private":true}' >"$NPM_CACHE/package.json"
  (cd "$NPM_CACHE" && npm install --no-audit --no-fund --save-exact --loglevel=error "${PKGS[@]}" >/dev/null)
  echo "$want" >"$NPM_CACHE/.installed"
fi
cp "$ROOT/tests/deploy/validate_k8s.mjs" "$NPM_CACHE/validate_k8s.mjs"
node "$NPM_CACHE/validate_k8s.mjs" "$OUT"/*.json

echo "== cross-checks"
/usr/bin/python3 "$ROOT/tests/deploy/check_k8s_objects.py" "$ROOT" "$OUT"
