#!/usr/bin/env bash
# Offline checks of the monitoring files in deploy/prometheus and deploy/grafana:
#   1. promtool check config   deploy/prometheus/prometheus.yml (also loads its rule files)
#   2. promtool check rules    deploy/prometheus/rules/*.yml
#   3. promtool test rules     deploy/prometheus/tests/*.yml (rule unit tests)
#   4. the Grafana dashboard: valid JSON, provisioning-ready (id null, uid, $datasource,
#      model variable), every panel has targets with a non-empty expr, every expr
#      parses as PromQL (promtool check rules on a throwaway rules file after
#      substituting Grafana variables) and names only metrics q8serve exports or
#      its recording rules define (the rule files' expressions are held to that too).
#   5. the Grafana provisioning files are YAML with apiVersion 1 (if python3-yaml is there).
# Usage: tests/deploy/check_prometheus.sh [repo root]
# Needs promtool, which Debian ships only in the `prometheus` package; installed here if missing.
set -euo pipefail

ROOT="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
PROM="$ROOT/deploy/prometheus"
GRAFANA="$ROOT/deploy/grafana"
PYTHON=/usr/bin/python3

if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool not found: installing the Debian package prometheus" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -q --no-install-recommends prometheus >&2 ||
    { $SUDO apt-get update -q >&2 && $SUDO apt-get install -y -q --no-install-recommends prometheus >&2; }
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

step() { echo; echo "== $*"; }

step "promtool check config"
promtool check config "$PROM/prometheus.yml"

step "promtool check rules"
promtool check rules "$PROM"/rules/*.yml

step "promtool test rules"
# Tests name their rule files relative to their own directory.
(cd "$PROM/tests" && promtool test rules ./*.yml)

step "Grafana dashboards"
for dash in "$GRAFANA"/dashboards/*.json; do
  echo "$dash"
  "$PYTHON" - "$dash" "$TMP/dashboard_rules.yml" "$PROM"/rules/*.yml <<'PY'
import json, re, sys

dash_path, out_path, rule_files = sys.argv[1], sys.argv[2], sys.argv[3:]
errors = []

with open(dash_path) as f:
    dash = json.load(f)  # raises on invalid JSON

# Provisioning-ready: no database id, a stable uid, no hard-coded datasource uid.
if dash.get("id") is not None:
    errors.append('"id" must be null for a provisioned dashboard')
if not dash.get("uid"):
    errors.append('"uid" missing')
variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
if variables.get("datasource", {}).get("type") != "datasource":
    errors.append("no datasource variable named datasource")
model = variables.get("model")
model_query = model.get("query") if model else None
if isinstance(model_query, dict):
    model_query = model_query.get("query")
if model_query != "label_values(q8serve_model_info, model)":
    errors.append("variable model must query label_values(q8serve_model_info, model), got %r" % (model_query,))

# Metric names the server exports (histograms expand to _bucket/_sum/_count) plus
# the recording rules; anything else starting with q8serve_ or model: is a typo.
counters = ["q8serve_inference_requests_total", "q8serve_inference_count_total",
            "q8serve_shadow_comparisons_total", "q8serve_shadow_agreements_total",
            "q8serve_shadow_dropped_total"]
histograms = ["q8serve_inference_request_duration_seconds", "q8serve_inference_queue_duration_seconds",
              "q8serve_inference_compute_duration_seconds", "q8serve_inference_batch_size",
              "q8serve_shadow_relative_error"]
gauges = ["q8serve_inference_inflight_requests", "q8serve_inference_queue_depth",
          "q8serve_model_memory_bytes", "q8serve_model_weight_bytes", "q8serve_model_served_weight_bytes",
          "q8serve_model_layers", "q8serve_model_accuracy",
          "q8serve_model_output_sqnr_db", "q8serve_model_accuracy_target_met",
          "q8serve_model_load_duration_seconds", "q8serve_model_quantization_duration_seconds",
          "q8serve_model_info"]
known = set(counters + gauges)
for h in histograms:
    known.update(h + s for s in ("_bucket", "_sum", "_count"))
for rf in rule_files:
    with open(rf) as f:
        known.update(re.findall(r"^\s*-?\s*record:\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*$", f.read(), re.M))
name_re = re.compile(r"(?<![A-Za-z0-9_:])((?:q8serve_|model:)[A-Za-z0-9_:]*)")
# The rule files' expressions must name known metrics too (comments skipped).
for rf in rule_files:
    with open(rf) as f:
        for line in f:
            code = line.split("#", 1)[0]
            if re.match(r"\s*-?\s*(record|alert|name):", code):
                continue
            for name in name_re.findall(code):
                if name not in known:
                    errors.append("%s: unknown metric %s" % (rf, name))

# Grafana variables -> values promtool can parse.
subst = [
    (re.compile(r"\$\{?__rate_interval\}?"), "5m"),
    (re.compile(r"\$\{?__interval\}?"), "1m"),
    (re.compile(r"\$\{?__range\}?"), "1h"),
    (re.compile(r"\$\{model(:[a-z]+)?\}|\$model\b"), ".*"),
]

def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))  # panels nested in collapsed rows

rules = []
for p in panels(dash.get("panels", [])):
    if p.get("type") == "row":
        continue
    where = "panel %s %r" % (p.get("id"), p.get("title"))
    if p.get("datasource", {}).get("uid") != "${datasource}":
        errors.append(where + ": datasource must be ${datasource}")
    targets = p.get("targets") or []
    if not targets:
        errors.append(where + ": no targets")
    for t in targets:
        expr = t.get("expr", "")
        if not isinstance(expr, str) or not expr.strip():
            errors.append("%s target %s: empty expr" % (where, t.get("refId")))
            continue
        for name in name_re.findall(expr):
            if name not in known:
                errors.append("%s target %s: unknown metric %s" % (where, t.get("refId"), name))
        for pattern, value in subst:
            expr = pattern.sub(value, expr)
        if "$" in expr:
            errors.append("%s target %s: unsubstituted variable in %r" % (where, t.get("refId"), expr))
            continue
        rules.append({"record": "dashboard:panel%s_%s" % (p.get("id"), t.get("refId")), "expr": expr})

# JSON is valid YAML: promtool reads this as a rules file.
with open(out_path, "w") as f:
    json.dump({"groups": [{"name": "dashboard_exprs", "rules": rules}]}, f, indent=1)
for e in errors:
    print("ERROR: " + e)
if errors:
    sys.exit(1)
print("  %d panel queries extracted" % len(rules))
PY
  promtool check rules "$TMP/dashboard_rules.yml"
done

step "Grafana provisioning"
for f in "$GRAFANA"/provisioning/dashboards/*.yml "$GRAFANA"/provisioning/datasources/*.yml; do
  if "$PYTHON" -c 'import yaml' 2>/dev/null; then
    "$PYTHON" - "$f" <<'PY'
import sys, yaml
path = sys.argv[1]
doc = yaml.safe_load(open(path))
assert doc.get("apiVersion") == 1, path + ": apiVersion must be 1"
key = "providers" if "/dashboards/" in path else "datasources"
assert doc.get(key), "%s: no %s" % (path, key)
print("  ok  " + path)
PY
  else
    grep -q '^apiVersion: 1$' "$f" || { echo "ERROR: $f: apiVersion must be 1"; exit 1; }
    echo "  ok (no python3-yaml: apiVersion only)  $f"
  fi
done

echo
echo "deploy/prometheus and deploy/grafana: all checks passed"
