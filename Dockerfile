# q8serve container image: gRPC (Open Inference Protocol) on 8001, Prometheus
# metrics on 8002, model repository volume at /models.
#
#   docker build -t q8serve .
#   docker run -p 8001:8001 -p 8002:8002 -v q8serve-models:/models q8serve
#
# Two stages: `build` has compilers and -dev packages and builds only the
# q8serve and q8ctl targets; the runtime stage has the shared libraries they
# link and nothing else. BASE_IMAGE lets CI build from a locally made Debian
# base (deploy/container/build_and_smoke.sh); users get the public image.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
# SRC_DIR: where the sources sit in the build stage. CI's smoke test passes
# the host checkout's own path, so compile commands match the host build's
# byte for byte and the host's ccache objects apply (relative paths under
# CCACHE_BASEDIR alone measured no hits).
ARG SRC_DIR=/src
WORKDIR ${SRC_DIR}
# Dependencies first, so source changes do not reinstall them.
COPY scripts/install_deps.sh scripts/install_deps.sh
RUN scripts/install_deps.sh --build-only && rm -rf /var/lib/apt/lists/*
COPY . .
# The cache mount keeps ccache's objects across image builds (BuildKit and
# buildah). CCACHE_DIR_ARG points ccache elsewhere: CI's smoke test mounts the
# host's cache there (with SRC_DIR above), so the image reuses the objects its
# host build (scripts/build.sh: build tree at <source>/build, LANG=C.UTF-8,
# which ccache hashes) just made.
ARG CCACHE_DIR_ARG=/root/.cache/ccache
RUN --mount=type=cache,target=/root/.cache/ccache \
    export CCACHE_DIR=${CCACHE_DIR_ARG} CCACHE_BASEDIR=${SRC_DIR} LANG=C.UTF-8 \
 && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
 && cmake --build build -j "$(nproc)" --target q8serve q8ctl \
 && install -D --strip -m 0755 build/server/q8serve /out/bin/q8serve \
 && install -D --strip -m 0755 build/client/q8ctl/q8ctl /out/bin/q8ctl \
 && install -D -m 0644 tests/data/fashion_cnn.onnx /out/demo/fashion_cnn.onnx \
 && cp -r deploy/demo/. /out/demo/

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="q8serve" \
      org.opencontainers.image.description="CPU model server: quantizes float ONNX models to int8 on upload, serves them over the Open Inference Protocol (gRPC)" \
      org.opencontainers.image.licenses="Apache-2.0"
# Runtime libraries of q8serve/q8ctl only (what `ldd` lists, by Debian package).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libabsl20220623 \
      libcivetweb1 \
      libdnnl2 \
      libgomp1 \
      libgrpc++1.51 \
      libgrpc29 \
      libonnx1 \
      libprometheus-cpp-core1.0 \
      libprometheus-cpp-pull1.0 \
      libprotobuf32 \
      libssl3 \
      ocl-icd-libopencl1 \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
# Fixed non-root UID/GID so volume permissions are predictable (Kubernetes: fsGroup 10001).
RUN groupadd --gid 10001 q8serve \
 && useradd --no-log-init --uid 10001 --gid 10001 --no-create-home --home-dir /models \
      --shell /usr/sbin/nologin q8serve \
 && install -d -o 10001 -g 10001 -m 0755 /models
COPY --from=build /out/bin/ /usr/local/bin/
# The bundled Fashion-MNIST demo (float CNN, calibration data, sample images);
# `q8ctl upload` it into a running server, see README "Deploy".
COPY --from=build /out/demo/ /usr/local/share/q8serve/demo/
VOLUME ["/models"]
EXPOSE 8001 8002
# Docker/Compose only (Kubernetes uses its native gRPC probe; OCI images drop this).
# Plaintext: a server started with --tls_cert_file needs the probe to get the
# same TLS flags (deploy/compose/compose.secure.yaml overrides the healthcheck).
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
  CMD ["/usr/local/bin/q8serve", "--health_probe", "--grpc_address=127.0.0.1:8001"]
USER 10001:10001
WORKDIR /models
ENTRYPOINT ["/usr/local/bin/q8serve"]
CMD ["--model_repository=/models", "--grpc_address=0.0.0.0:8001", "--metrics_port=8002", \
     "--drain_seconds=5", "--shutdown_grace_seconds=20"]
