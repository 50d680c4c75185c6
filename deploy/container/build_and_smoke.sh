#!/usr/bin/env bash
# Builds the q8serve image with podman from a Debian base made by debootstrap
# (no Docker engine or public registry needed), runs the server from the
# image with buildah, and smoke-tests it from outside the container:
#   health (the image's own `q8serve --health_probe`), upload of the bundled
#   demo CNN with static quantization + calibration data (q8ctl from the
#   image), inference, the persisted artifact on the mounted volume, a metrics
#   scrape, and a graceful stop (SIGTERM -> exit 0).
# Recipe and why (podman run does not work here; chroot isolation; host
# network): ../shared/notes/containers.md. README "Deploy" has the commands.
#
# Usage: deploy/container/build_and_smoke.sh [--keep-image]
# Env:   Q8_CONTAINER_CACHE  base rootfs tarball cache (default /var/tmp/q8serve-container)
#        Q8_IMAGE            image tag (default localhost/q8serve:test)
# Prints the image build time and the runtime image size.
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE=${Q8_CONTAINER_CACHE:-/var/tmp/q8serve-container}
IMAGE=${Q8_IMAGE:-localhost/q8serve:test}
BASE=localhost/debian:bookworm
KEEP_IMAGE=0
[[ "${1:-}" == "--keep-image" ]] && KEEP_IMAGE=1

log() { echo "[container] $*"; }
fail() { echo "[container] FAIL: $*" >&2; exit 1; }

# ---- 1. tools ----
missing=()
for p in podman buildah debootstrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# ---- 2. base image: debootstrap once, cache the rootfs tarball ----
# The build logs live in $CACHE too, also when the base image already exists.
mkdir -p "$CACHE"
if ! podman image exists "$BASE"; then
  if [[ ! -s "$CACHE/bookworm-minbase.tar" ]]; then
    log "debootstrapping a minbase bookworm into $CACHE (once)"
    rootfs=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -20 "$CACHE/debootstrap.log"; fail "debootstrap"; }
    # Like the public slim image: no downloaded .debs, no package lists.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -cf "$CACHE/bookworm-minbase.tar.tmp" .
    mv "$CACHE/bookworm-minbase.tar.tmp" "$CACHE/bookworm-minbase.tar"
    rm -rf "$rootfs"
  fi
  podman import "$CACHE/bookworm-minbase.tar" "$BASE" >/dev/null
  log "imported $BASE"
fi

# ---- 3. build ----
log "building $IMAGE (podman build --isolation=chroot --network=host)"
start=$(date +%s)
# --format docker keeps HEALTHCHECK (the OCI format has no such field).
# The host's ccache goes into the build stage: scripts/build.sh has just
# compiled the same sources with the same Debian compiler; with the sources
# at the same path in the build stage (SRC_DIR) the image's compile is cache
# hits (CI builds both on a cold machine).
cache_args=()
if host_cache=$(ccache -k cache_dir 2>/dev/null) && [[ -d "$host_cache" ]]; then
  cache_args=(-v "$host_cache:/host-ccache" --build-arg CCACHE_DIR_ARG=/host-ccache --build-arg "SRC_DIR=$PWD")
fi
image_build() {
  podman build --format docker --isolation=chroot --network=host --build-arg "BASE_IMAGE=$BASE" "$@" \
    -t "$IMAGE" -f Dockerfile . >"$CACHE/build.log" 2>&1
}
# One retry, cold: without podman's layer cache and without the host's
# ccache. A failed download in the dependency layer or a host cache the build
# cannot use should cost time, not the stage (the first attempt's log is kept
# and its tail printed). Podman 4.3 also reuses cached WORKDIR/COPY layers
# across a different SRC_DIR build argument (a checkout at another path on
# the same machine), after which RUN cannot find scripts/install_deps.sh.
if ! image_build "${cache_args[@]}"; then
  mv "$CACHE/build.log" "$CACHE/build.first-attempt.log"
  log "podman build failed; its last lines ($CACHE/build.first-attempt.log):"
  tail -40 "$CACHE/build.first-attempt.log"
  log "retrying once without podman's layer cache and the host's ccache"
  image_build --no-cache || { tail -40 "$CACHE/build.log"; fail "podman build (log: $CACHE/build.log)"; }
fi
build_seconds=$(( $(date +%s) - start ))
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
log "image built in ${build_seconds} s; runtime image size $((size / 1000000)) MB ($size bytes)"
healthcheck=$(podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE")
grep -q -- "--health_probe" <<<"$healthcheck" || fail "image has no HEALTHCHECK with --health_probe: $healthcheck"
user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
[[ "$user" == 10001:10001 ]] || fail "image runs as '$user', expected 10001:10001"

# ---- 4. run the server from the image ----
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
GRPC_PORT=$(free_port)
METRICS_PORT=$(free_port)
while [[ "$METRICS_PORT" == "$GRPC_PORT" ]]; do METRICS_PORT=$(free_port); done
MODELS=$(mktemp -d /tmp/q8serve-container-models.XXXXXX)
chown 10001:10001 "$MODELS"   # the image's fixed non-root UID
SERVER_LOG="$MODELS.server.log"
server_ctr=""; client_ctr=""; server_pid=""

descendants() {  # every descendant pid of $1 (ours: buildah and what it started)
  local kids
  kids=$(cat /proc/"$1"/task/*/children 2>/dev/null || true)
  for k in $kids; do echo "$k"; descendants "$k"; done
}
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    for p in $(descendants "$server_pid") "$server_pid"; do kill -KILL "$p" 2>/dev/null || true; done
  fi
  [[ -n "$server_ctr" ]] && buildah rm "$server_ctr" >/dev/null 2>&1 || true
  [[ -n "$client_ctr" ]] && buildah rm "$client_ctr" >/dev/null 2>&1 || true
  rm -rf "$MODELS" "$SERVER_LOG"
  if ((! KEEP_IMAGE)); then podman rmi -f "$IMAGE" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

server_ctr=$(buildah from "$IMAGE")
# buildah puts the image's VOLUME /models over a -v bind to the same path;
# drop the volume from this working container (not the image) so the bind wins.
buildah config --volume /models- "$server_ctr"
client_ctr=$(buildah from "$IMAGE")
in_image() { buildah run --isolation=chroot "$client_ctr" -- "$@"; }

# The image's ENTRYPOINT + CMD as a user gets them, then loopback ports (later flags win).
mapfile -t entrypoint < <(podman image inspect --format '{{range .Config.Entrypoint}}{{println .}}{{end}}' "$IMAGE" | sed '/^$/d')
mapfile -t cmd < <(podman image inspect --format '{{range .Config.Cmd}}{{println .}}{{end}}' "$IMAGE" | sed '/^$/d')

args=("${cmd[@]}" "--grpc_address=127.0.0.1:$GRPC_PORT")
args+=("--metrics_port=$METRICS_PORT")
log "starting: ${entrypoint[*]} ${args[*]} (models: $MODELS -> /models)"
buildah run --isolation=chroot -v "$MODELS:/models" "$server_ctr" -- "${entrypoint[@]}" "${args[@]}" \
  >"$SERVER_LOG" 2>&1 &
server_pid=$!

# ---- 5. smoke test from outside ----
ready=0
for _ in $(seq 1 120); do
  kill -0 "$server_pid" 2>/dev/null || { cat "$SERVER_LOG"; fail "server exited during startup"; }
  if in_image /usr/local/bin/q8serve --health_probe "--grpc_address=127.0.0.1:$GRPC_PORT" >/dev/null 2>&1; then
    ready=1; break
  fi
  sleep 1
done
((ready)) || { cat "$SERVER_LOG"; fail "health probe never reported SERVING"; }
log "health: SERVING (q8serve --health_probe inside the image)"

demo=/usr/local/share/q8serve/demo
upload=$(in_image /usr/local/bin/q8ctl upload fashion_cnn "$demo/fashion_cnn.onnx" --quantization static \
  --calibration "$demo/calibration_inputs.npy" --labels "$demo/calibration_labels.npy" \
  --server "127.0.0.1:$GRPC_PORT" --timeout_seconds 300 2>&1) || { echo "$upload"; cat "$SERVER_LOG"; fail "upload"; }
grep -q "^uploaded fashion_cnn version 1 .*q8serve_onnx_int8" <<<"$upload" \
  || { echo "$upload"; fail "upload did not report an int8 model"; }
log "upload: $(grep -m1 "^uploaded fashion_cnn" <<<"$upload")"
[[ -s "$MODELS/fashion_cnn/1/quantization.json" && -s "$MODELS/fashion_cnn/1/report.json" ]] \
  || fail "quantization.json/report.json not persisted on the mounted volume"
owner=$(stat -c %u "$MODELS/fashion_cnn/1/model.onnx")
[[ "$owner" == 10001 ]] || fail "model files owned by uid $owner, expected the image's 10001"

infer=$(in_image /usr/local/bin/q8ctl infer fashion_cnn --input "$demo/sample_images.npy" --top_k 1 \
  --server "127.0.0.1:$GRPC_PORT" 2>&1) || { echo "$infer"; cat "$SERVER_LOG"; fail "infer"; }
grep -q "^fashion_cnn version 1: 1 output(s)" <<<"$infer" || { echo "$infer"; fail "infer: unexpected output"; }
log "infer: $(grep -m1 "^fashion_cnn version 1" <<<"$infer"); top-1 rows:"
sed -n '/output(s)/,$p' <<<"$infer" | tail -n +3 | head -4

/usr/bin/python3 - "$METRICS_PORT" <<'PY' || fail "metrics scrape"
import sys, urllib.request
port = sys.argv[1]
with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
    body = r.read().decode()
    assert r.status == 200, r.status
for name in ("q8serve_inference_requests_total",):
    assert name in body, f"{name} missing from /metrics"
print(f"[container] metrics: HTTP 200, {len(body.splitlines())} lines, q8serve_inference_requests_total present")
PY

# ---- 6. graceful stop: SIGTERM to q8serve (PID 1's role in a real container) ----
q8pid=""
for p in $(descendants "$server_pid"); do
  [[ "$(cat /proc/"$p"/comm 2>/dev/null)" == q8serve ]] && q8pid=$p
done
[[ -n "$q8pid" ]] || fail "cannot find the q8serve process"
kill -TERM "$q8pid"
rc=0; wait "$server_pid" || rc=$?
grep -q "q8serve stopped" "$SERVER_LOG" || { cat "$SERVER_LOG"; fail "server did not stop gracefully (rc $rc)"; }
log "stopped gracefully (buildah run rc $rc)"
server_pid=""
echo "[container] PASS: image ${IMAGE}, build ${build_seconds} s, size $((size / 1000000)) MB"
