#!/usr/bin/env bash
# Development secrets for compose.secure.yaml: a self-signed certificate for
# localhost / 127.0.0.1 / the compose service name q8serve (valid 365 days)
# and a random admin token, in deploy/compose/secrets/ (git-ignored).
# Production: use certificates from your CA and a token from your secret store.
# The container runs as UID 10001, so the files are world-readable here:
# keep this directory private on shared machines. Existing files are kept.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
mkdir -p "$dir"
chmod 0755 "$dir"
if [[ ! -f "$dir/tls.crt" ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
    -keyout "$dir/tls.key" -out "$dir/tls.crt" -subj /CN=q8serve \
    -addext "subjectAltName=DNS:q8serve,DNS:localhost,IP:127.0.0.1" 2>/dev/null
fi
if [[ ! -f "$dir/admin-token" ]]; then
  openssl rand -hex 32 >"$dir/admin-token"
fi
chmod 0644 "$dir/tls.crt" "$dir/tls.key" "$dir/admin-token"
echo "secrets in $dir: tls.crt tls.key admin-token"
