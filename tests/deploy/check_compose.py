#!/usr/bin/python3
"""Validates deploy/compose/compose.yaml offline (no Docker here): it parses,
every file or directory it mounts or builds from exists, and what the mounted
configs refer to inside the containers exists too (Prometheus rule files,
Grafana's dashboard folder), and the ports agree with the Dockerfile and the
Prometheus scrape target.

Usage: check_compose.py REPO_ROOT   (exit 1 listing every problem)
"""
import pathlib
import re
import sys

import yaml

root = pathlib.Path(sys.argv[1]).resolve()
compose_dir = root / "deploy" / "compose"
compose_file = compose_dir / "compose.yaml"
problems = []


def problem(msg):
    problems.append(msg)


doc = yaml.safe_load(compose_file.read_text())
services = doc.get("services") or {}
for required in ("q8serve", "prometheus", "grafana"):
    if required not in services:
        problem(f"service '{required}' missing")
named_volumes = set((doc.get("volumes") or {}).keys())

# container path -> host path, per service, for bind mounts
mounts = {}
for name, svc in services.items():
    mounts[name] = {}
    build = svc.get("build")
    if build is not None:
        ctx = compose_dir / (build if isinstance(build, str) else build.get("context", "."))
        if not ctx.is_dir():
            problem(f"{name}: build context {ctx} does not exist")
        dockerfile = ctx / (build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile")
        if not dockerfile.is_file():
            problem(f"{name}: {dockerfile} does not exist")
    if "image" not in svc and build is None:
        problem(f"{name}: neither image nor build")
    for vol in svc.get("volumes") or []:
        source, target = (vol.split(":")[:2] if isinstance(vol, str) else (vol.get("source"), vol.get("target")))
        if source.startswith((".", "/")):
            host = (compose_dir / source).resolve()
            if not host.exists():
                problem(f"{name}: mounted {source} does not exist ({host})")
            mounts[name][target] = host
        elif source not in named_volumes:
            problem(f"{name}: named volume '{source}' is not declared under volumes:")


def host_path(service, container_path):
    """Map a path inside `service` to the host through its bind mounts (longest match)."""
    best = None
    for target, host in mounts.get(service, {}).items():
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            if best is None or len(target) > len(best[0]):
                best = (target, host)
    if best is None:
        return None
    rest = container_path[len(best[0]):].lstrip("/")
    return best[1] / rest if rest else best[1]


# Ports: the Dockerfile's EXPOSE and CMD agree with what compose publishes and Prometheus scrapes.
dockerfile = (root / "Dockerfile").read_text()
exposed = set(re.findall(r"^EXPOSE\s+(.*)$", dockerfile, re.M)[0].split())
published = {str(p).split(":")[-1] for p in services.get("q8serve", {}).get("ports", [])}
for port in ("8001", "8002"):
    if port not in exposed:
        problem(f"Dockerfile does not EXPOSE {port}")
    if port not in published:
        problem(f"q8serve does not publish {port}")
if "--metrics_port=8002" not in dockerfile:
    problem("Dockerfile CMD does not set --metrics_port=8002")

# Prometheus: its config is mounted, its rule files resolve, it scrapes q8serve:8002.
prom_cfg_path = host_path("prometheus", "/etc/prometheus/prometheus.yml")
if prom_cfg_path is None:
    problem("prometheus: /etc/prometheus/prometheus.yml is not mounted")
else:
    prom = yaml.safe_load(prom_cfg_path.read_text())
    for rule_file in prom.get("rule_files", []):
        inside = rule_file if rule_file.startswith("/") else "/etc/prometheus/" + rule_file
        host = host_path("prometheus", inside)
        if host is None or not host.is_file():
            problem(f"prometheus: rule file {inside} does not resolve to a file ({host})")
    targets = [t for sc in prom.get("scrape_configs", []) for st in sc.get("static_configs", [])
               for t in st.get("targets", [])]
    if "q8serve:8002" not in targets:
        problem(f"prometheus does not scrape q8serve:8002 (targets: {targets})")

# Grafana: datasource points at the prometheus service; the dashboard provider's folder holds dashboards.
ds_path = host_path("grafana", "/etc/grafana/provisioning/datasources/prometheus.yml")
if ds_path is None:
    problem("grafana: no datasource provisioning mounted")
else:
    for ds in yaml.safe_load(ds_path.read_text()).get("datasources", []):
        host = re.sub(r"^https?://([^:/]+).*$", r"\1", ds.get("url", ""))
        if host not in services:
            problem(f"grafana datasource url {ds.get('url')} does not name a compose service")
prov_path = host_path("grafana", "/etc/grafana/provisioning/dashboards/q8serve.yml")
if prov_path is None:
    problem("grafana: no dashboard provisioning mounted")
else:
    for provider in yaml.safe_load(prov_path.read_text()).get("providers", []):
        folder = host_path("grafana", provider["options"]["path"])
        if folder is None or not list(folder.glob("*.json")):
            problem(f"grafana: dashboard path {provider['options']['path']} holds no mounted dashboards")

# compose.secure.yaml: every credential flag names a secret of the service,
# every secret is a file make_secrets.sh writes under ./secrets/, the flags
# exist in q8serve, and the healthcheck probes with the server's TLS files.
secure_file = compose_dir / "compose.secure.yaml"
secure = yaml.safe_load(secure_file.read_text())
defined = set(re.findall(r"ABSL_FLAG\(\s*[\w:]+\s*,\s*(\w+)", (root / "server" / "main.cc").read_text()))
make_secrets = (compose_dir / "make_secrets.sh").read_text()
declared = secure.get("secrets") or {}
for name, spec in declared.items():
    source = spec.get("file", "")
    if not source.startswith("./secrets/") or pathlib.PurePath(source).name != name:
        problem(f"compose.secure.yaml: secret {name} must be the file ./secrets/{name} (got {source!r})")
    if f'"$dir/{name}"' not in make_secrets:
        problem(f"compose.secure.yaml: make_secrets.sh does not write secrets/{name}")
svc = (secure.get("services") or {}).get("q8serve", {})
used = set(svc.get("secrets") or [])


def secure_flags(args, where):
    out = {}
    for a in args:
        m = re.match(r"^--([a-z_]+)(?:=(.*))?$", a)
        if m is None:
            continue
        if m.group(1) not in defined:
            problem(f"compose.secure.yaml {where}: q8serve has no flag --{m.group(1)}")
        out[m.group(1)] = m.group(2)
    return out


server_flags = secure_flags(svc.get("command") or [], "command")
for flag in ("tls_cert_file", "tls_key_file", "admin_token_file"):
    if flag not in server_flags:
        problem(f"compose.secure.yaml: q8serve command lacks --{flag}")
for flag, value in server_flags.items():
    if flag.startswith("tls_") or flag.endswith("token_file"):
        name = (value or "").removeprefix("/run/secrets/")
        if not (value or "").startswith("/run/secrets/") or name not in used or name not in declared:
            problem(f"compose.secure.yaml: --{flag}={value} is not a secret of the service")
# The command replaces the image's CMD: it must keep the CMD's flags.
for a in ("--model_repository=/models", "--grpc_address=0.0.0.0:8001", "--metrics_port=8002"):
    if a not in (svc.get("command") or []):
        problem(f"compose.secure.yaml: command drops the image's {a}")
test = (svc.get("healthcheck") or {}).get("test") or []
probe = secure_flags(test[2:], "healthcheck")
if test[:2] != ["CMD", "/usr/local/bin/q8serve"] or "health_probe" not in probe:
    problem(f"compose.secure.yaml: healthcheck must run q8serve --health_probe: {test}")
for flag in ("tls_cert_file", "tls_key_file", "tls_client_ca_file"):
    if probe.get(flag) != server_flags.get(flag):
        problem(f"compose.secure.yaml: healthcheck --{flag} differs from the server's")

if problems:
    print("compose.yaml: " + str(len(problems)) + " problem(s):")
    for p in problems:
        print("  - " + p)
    sys.exit(1)
print(f"compose.yaml OK: {len(services)} services, mounts resolve, ports agree")
