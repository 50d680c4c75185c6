#!/usr/bin/python3
"""Cross-checks of the rendered kustomizations (deploy/k8s) that schemas
cannot see: probes on the gRPC port (q8serve --health_probe with the server's
TLS files when it serves TLS), credential files in mounted Secrets, termination grace vs the server's drain
flags, OMP threads from the CPU limit, Service/ServiceMonitor/PDB wiring,
the shared RWX repository with polling, the dashboard ConfigMap equal to
deploy/grafana/dashboards/q8serve.json, autoscaler targets and metric names
(HPA <-> prometheus-adapter rules, KEDA query), never an HPA and a
ScaledObject on one Deployment, and the KServe kinds' fields (no npm models
exist for them).

Usage: check_k8s_objects.py REPO_ROOT RENDERED_DIR
  RENDERED_DIR holds <overlay>.json (a list of objects) for base, hpa, keda, kserve, secure.
"""
import json
import pathlib
import re
import sys

import yaml

root = pathlib.Path(sys.argv[1])
rendered = pathlib.Path(sys.argv[2])
problems = []


def check(cond, msg):
    if not cond:
        problems.append(msg)
    return cond


def load(name):
    return json.loads((rendered / f"{name}.json").read_text())


def find(objs, kind, name=None):
    return [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def flags(args):
    out = {}
    for a in args:
        m = re.match(r"^--([a-z_]+)=(.*)$", a)
        if check(m is not None, f"argument {a!r} is not --flag=value"):
            out[m.group(1)] = m.group(2)
    return out


# Flags q8serve defines (server/main.cc).
defined = set(re.findall(r"ABSL_FLAG\(\s*[\w:]+\s*,\s*(\w+)", (root / "server" / "main.cc").read_text()))


def check_flags(where, fl):
    for f in fl:
        check(f in defined, f"{where}: q8serve has no flag --{f}")


# Metric names the project's own monitoring uses (recording/alert rules and
# the dashboard): autoscalers must ask for these, not for invented ones.
catalogue_text = (root / "deploy" / "grafana" / "dashboards" / "q8serve.json").read_text()
for f in (root / "deploy" / "prometheus" / "rules").glob("*.yml"):
    catalogue_text += f.read_text()
catalogue = {re.sub(r"_(bucket|sum|count)$", "", m) for m in re.findall(r"\bq8serve_[a-z0-9_]+", catalogue_text)}


def metric_known(name):
    return re.sub(r"_(bucket|sum|count)$", "", name) in catalogue


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def check_server_stack(overlay, objs):
    deps = find(objs, "Deployment", "q8serve")
    if not check(len(deps) == 1, f"{overlay}: no Deployment q8serve"):
        return
    dep = deps[0]
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    c = spec["containers"][0]
    fl = flags(c.get("args", []))
    check_flags(f"{overlay} Deployment", fl)
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    check(set(ports) >= {"grpc", "metrics"}, f"{overlay}: container ports must be named grpc and metrics: {ports}")
    check(fl.get("grpc_address", "").endswith(f":{ports.get('grpc')}"), f"{overlay}: --grpc_address vs port grpc")
    check(fl.get("metrics_port") == str(ports.get("metrics")), f"{overlay}: --metrics_port vs port metrics")
    tls = "tls_cert_file" in fl
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        p = c.get(probe, {})
        if not tls:
            check("grpc" in p and p["grpc"].get("port") == ports.get("grpc"),
                  f"{overlay}: {probe} must be a native grpc probe on port {ports.get('grpc')}")
            continue
        # Native gRPC probes cannot speak TLS: q8serve --health_probe with the server's TLS files.
        cmd = p.get("exec", {}).get("command", [])
        pf = flags(cmd[2:]) if cmd[1:2] == ["--health_probe"] else {}
        check(pf.get("grpc_address", "").endswith(f":{ports.get('grpc')}"),
              f"{overlay}: {probe} must run q8serve --health_probe on port {ports.get('grpc')}: {cmd}")
        for f in ("tls_cert_file", "tls_key_file", "tls_client_ca_file"):
            check(pf.get(f) == fl.get(f), f"{overlay}: {probe} --{f} differs from the server's")
    drain = float(fl.get("drain_seconds", 0)) + float(fl.get("shutdown_grace_seconds", 20))
    check(spec.get("terminationGracePeriodSeconds", 30) > drain,
          f"{overlay}: terminationGracePeriodSeconds must exceed drain + grace ({drain} s)")
    check(float(fl.get("repository_poll_seconds", 0)) > 0, f"{overlay}: --repository_poll_seconds must be set")
    check(float(fl.get("max_connection_age_seconds", 0)) > 0, f"{overlay}: --max_connection_age_seconds must be set")
    env = {e["name"]: e for e in c.get("env", [])}
    ref = env.get("OMP_NUM_THREADS", {}).get("valueFrom", {}).get("resourceFieldRef", {})
    check(ref.get("resource") == "limits.cpu" and ref.get("containerName") == c["name"],
          f"{overlay}: OMP_NUM_THREADS must come from this container's limits.cpu")
    res = c.get("resources", {})
    check(res.get("requests", {}).get("cpu") == res.get("limits", {}).get("cpu") is not None,
          f"{overlay}: CPU requests must equal limits")
    check(spec.get("securityContext", {}).get("runAsUser") == 10001, f"{overlay}: runAsUser must be the image's 10001")
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    check(fl.get("model_repository") in mounts, f"{overlay}: --model_repository is not a mounted volume")
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    claim = vols.get(mounts.get(fl.get("model_repository")), {}).get("persistentVolumeClaim", {}).get("claimName")
    pvcs = find(objs, "PersistentVolumeClaim", claim)
    check(len(pvcs) == 1 and "ReadWriteMany" in pvcs[0]["spec"]["accessModes"],
          f"{overlay}: the model repository must be a ReadWriteMany PVC in the same kustomization")
    # Every credential file the server or its probes read lies in a mounted Secret.
    for f, path in fl.items():
        if not (f.startswith("tls_") or f.endswith("token_file")):
            continue
        mount = next((m for m in mounts if path.startswith(m.rstrip("/") + "/")), None)
        check(mount is not None and "secret" in vols.get(mounts.get(mount), {}),
              f"{overlay}: --{f}={path} is not in a mounted Secret")
    labels = pod["metadata"].get("labels", {})
    check(selects(dep["spec"]["selector"]["matchLabels"], labels), f"{overlay}: Deployment selector vs pod labels")
    svcs = find(objs, "Service", "q8serve")
    if check(len(svcs) == 1, f"{overlay}: no Service q8serve"):
        svc = svcs[0]
        names = {p["name"]: p for p in svc["spec"]["ports"]}
        check(set(names) == {"grpc", "metrics"}, f"{overlay}: Service ports must be named grpc and metrics")
        for n, p in names.items():
            check(p.get("targetPort") in ports, f"{overlay}: Service port {n} targets unknown port {p.get('targetPort')}")
        check(selects(svc["spec"]["selector"], labels), f"{overlay}: Service selector does not select the pods")
        for sm in find(objs, "ServiceMonitor"):
            check(selects(sm["spec"]["selector"]["matchLabels"], svc["metadata"].get("labels", {})),
                  f"{overlay}: ServiceMonitor does not select the Service")
            for ep in sm["spec"]["endpoints"]:
                check(ep.get("port") in names, f"{overlay}: ServiceMonitor port {ep.get('port')} not a Service port")
    check(len(find(objs, "ServiceMonitor")) == 1, f"{overlay}: one ServiceMonitor expected")
    for pdb in find(objs, "PodDisruptionBudget") or [None]:
        if check(pdb is not None, f"{overlay}: no PodDisruptionBudget"):
            check(selects(pdb["spec"]["selector"]["matchLabels"], labels), f"{overlay}: PDB does not select the pods")
    dash = [cm for cm in find(objs, "ConfigMap") if cm["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    if check(len(dash) == 1, f"{overlay}: one ConfigMap labelled grafana_dashboard: \"1\" expected"):
        source = (root / "deploy" / "grafana" / "dashboards" / "q8serve.json").read_text()
        check(dash[0]["data"].get("q8serve.json") == source, f"{overlay}: dashboard ConfigMap differs from the JSON file")
        json.loads(dash[0]["data"]["q8serve.json"])


def scalers(objs):
    """Deployment name -> kinds that scale it."""
    out = {}
    for hpa in find(objs, "HorizontalPodAutoscaler"):
        out.setdefault(hpa["spec"]["scaleTargetRef"]["name"], []).append("HorizontalPodAutoscaler")
    for so in find(objs, "ScaledObject"):
        out.setdefault(so["spec"]["scaleTargetRef"]["name"], []).append("ScaledObject")
    return out


overlays = {name: load(name) for name in ("base", "hpa", "keda", "kserve", "secure")}
for name in ("base", "hpa", "keda", "secure"):
    check_server_stack(name, overlays[name])
secure_flags = flags(find(overlays["secure"], "Deployment", "q8serve")[0]["spec"]["template"]["spec"]["containers"][0]
                     ["args"])
check({"tls_cert_file", "tls_key_file", "admin_token_file"} <= set(secure_flags),
      "secure: the server must get --tls_cert_file, --tls_key_file and --admin_token_file")
for name, objs in overlays.items():
    deployments = {d["metadata"]["name"] for d in find(objs, "Deployment")}
    for target, kinds in scalers(objs).items():
        check(target in deployments, f"{name}: {kinds} targets missing Deployment {target}")
        check(len(kinds) == 1, f"{name}: Deployment {target} is scaled by {kinds}: never both")

check(not scalers(overlays["base"]), "base must not autoscale (overlays do)")
# HPA: every Pods metric is served by a prometheus-adapter rule over a real q8serve metric.
adapter = yaml.safe_load((root / "deploy" / "k8s" / "overlays" / "hpa" / "prometheus-adapter-rules.yaml").read_text())
served = {}
for rule in adapter["rules"]:
    series = re.match(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", rule["seriesQuery"]).group(1)
    check(metric_known(series), f"adapter rule over unknown metric {series}")
    check(set(rule["resources"]["overrides"]) >= {"namespace", "pod"}, f"adapter rule {series}: needs namespace+pod")
    for m in re.findall(r"\bq8serve_[a-z0-9_]+", rule["metricsQuery"]):
        check(metric_known(m), f"adapter rule {series}: unknown metric {m} in metricsQuery")
    check(re.search(rule["name"]["matches"], series) is not None, f"adapter rule {series}: name.matches misses it")
    served[rule["name"]["as"]] = rule
hpas = find(overlays["hpa"], "HorizontalPodAutoscaler")
if check(len(hpas) == 1, "hpa: one HorizontalPodAutoscaler expected"):
    pods_metrics = [m["pods"]["metric"]["name"] for m in hpas[0]["spec"]["metrics"] if m["type"] == "Pods"]
    check(pods_metrics, "hpa: needs a Pods metric")
    for m in pods_metrics:
        check(m in served, f"hpa: Pods metric {m} is not served by prometheus-adapter-rules.yaml")
sos = find(overlays["keda"], "ScaledObject")
if check(len(sos) == 1, "keda: one ScaledObject expected"):
    proms = [t for t in sos[0]["spec"]["triggers"] if t["type"] == "prometheus"]
    check(proms, "keda: needs a prometheus trigger")
    for t in proms:
        names = re.findall(r"\bq8serve_[a-z0-9_]+", t["metadata"]["query"])
        check(names and all(metric_known(n) for n in names), f"keda: query uses unknown metrics {names}")
        check(float(t["metadata"]["threshold"]) > 0, "keda: threshold must be > 0")
    check(sos[0]["spec"].get("minReplicaCount", 0) >= 1, "keda: minReplicaCount >= 1 (cold pods must load models)")

# KServe (fields from kserve's servingruntime_types.go / inferenceservice types).
ks = overlays["kserve"]
runtimes = find(ks, "ClusterServingRuntime")
if check(len(runtimes) == 1, "kserve: one ClusterServingRuntime expected"):
    rt = runtimes[0]
    check(rt["apiVersion"] == "serving.kserve.io/v1alpha1", "kserve: ClusterServingRuntime apiVersion")
    s = rt["spec"]
    check(set(s.get("protocolVersions", [])) <= {"v1", "v2", "grpc-v1", "grpc-v2"}, "kserve: unknown protocolVersion")
    check("grpc-v2" in s.get("protocolVersions", []), "kserve: protocolVersions must include grpc-v2")
    formats = s.get("supportedModelFormats", [])
    for f in formats:
        check(isinstance(f.get("name"), str) and isinstance(f.get("version", ""), str)
              and isinstance(f.get("autoSelect", False), bool), f"kserve: bad supportedModelFormats entry {f}")
    check(any(f.get("name") == "onnx" for f in formats), "kserve: supportedModelFormats must include onnx")
    containers = s.get("containers", [])
    if check(len(containers) == 1 and containers[0].get("name") == "kserve-container",
             "kserve: one container named kserve-container"):
        c = containers[0]
        fl = flags(c.get("args", []))
        check_flags("kserve runtime", fl)
        check(fl.get("model_repository") == "/mnt/models", "kserve: --model_repository must be /mnt/models")
        grpc_ports = [p for p in c.get("ports", []) if "h2c" in p["name"] or "grpc" in p["name"]]
        check(len(grpc_ports) == 1 and fl.get("grpc_address", "").endswith(f":{grpc_ports[0]['containerPort']}"),
              "kserve: one h2c/grpc port matching --grpc_address")
        check(s.get("annotations", {}).get("prometheus.kserve.io/port") == fl.get("metrics_port"),
              "kserve: prometheus.kserve.io/port must equal --metrics_port")
    for isvc in find(ks, "InferenceService"):
        check(isvc["apiVersion"] == "serving.kserve.io/v1beta1", "kserve: InferenceService apiVersion")
        model = isvc["spec"]["predictor"].get("model", {})
        check(model.get("runtime") == rt["metadata"]["name"], "kserve: InferenceService must use runtime q8serve")
        check(model.get("modelFormat", {}).get("name") in {f["name"] for f in formats},
              "kserve: InferenceService modelFormat not supported by the runtime")
        check(model.get("protocolVersion") in s.get("protocolVersions", []), "kserve: protocolVersion not offered")
        check(re.match(r"^(pvc|s3|gs|https?|hdfs|webhdfs|oci)://", model.get("storageUri", "")) is not None,
              "kserve: storageUri scheme")
    check(len(find(ks, "InferenceService")) == 1, "kserve: one example InferenceService expected")

if problems:
    print(f"{len(problems)} problem(s) in the rendered manifests:")
    for p in problems:
        print("  - " + p)
    sys.exit(1)
print("rendered manifests: cross-checks OK (" + ", ".join(f"{k}: {len(v)} objects" for k, v in overlays.items()) + ")")
