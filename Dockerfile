# syntax=docker/dockerfile:1
# One image with every LMS binary (lms-identity, lms-commands, lms-relay, lms-projections, lms-query,
# lms-schema-registry, lms-bff, lms-replay: whichever the workspace builds today), and the built
# web app (web/dist) in /usr/share/lms/web, which lms-bff serves (LMS_WEB_DIR).
# Each Kubernetes container picks its binary with `command:` (k8s/base; scripts/check-deploy.sh
# fails on a command that names a binary the workspace does not build).
#   docker build -t lms-backend .
#   docker run --rm lms-backend lms-commands --print-settings

# ---- web app -----------------------------------------------------------------------
# The SPA (web/, Vite): static files, the same on every platform, so built on the builder's
# own platform. Node 22 (LTS); web/package.json asks for >= 20.19.
FROM --platform=$BUILDPLATFORM node:22-bookworm-slim AS web
WORKDIR /web
# The dependencies first, so that this layer is rebuilt only when the lockfile changes.
COPY web/package.json web/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund
# The sources (.dockerignore keeps node_modules, dist and test output out), then
# `tsc -b && vite build` into /web/dist; an empty build fails here, not in the cluster.
COPY web/ ./
RUN npm run build \
 && test -f dist/index.html \
 && ls -l dist

# ---- build -------------------------------------------------------------------------
FROM rust:1.95-bookworm AS build
# No protoc (protox compiles the protos in Rust). rdkafka builds librdkafka from source:
# cmake, a C toolchain, and the headers of OpenSSL, SASL and zlib.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libssl-dev libsasl2-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The cache mounts keep the registry and target/ between builds; the binaries are copied
# out in the same step because a cache mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --workspace --exclude lms-bench --bins \
 && mkdir -p /out \
 && find target/release -maxdepth 1 -type f -executable -name 'lms-*' ! -name lms-bench -exec cp {} /out/ \; \
 && ls -l /out \
 && test -n "$(ls /out)"

# ---- run ---------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# Runtime libraries of the binaries (TLS roots, OpenSSL/SASL/zlib for librdkafka).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 libsasl2-2 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 lms \
 && useradd --system --uid 10001 --gid lms --no-create-home --shell /usr/sbin/nologin lms
COPY --from=build /out/ /usr/local/bin/
# The web app, read-only (owned by root) for user 10001. k8s/base sets the same path in
# lms-bff-config; the ENV serves `docker run ... lms-bff`. Other binaries ignore it.
COPY --from=web /web/dist/ /usr/share/lms/web/
ENV LMS_WEB_DIR=/usr/share/lms/web
# Numeric, so that Kubernetes' runAsNonRoot can verify it (matches k8s/base: 10001).
USER 10001:10001
EXPOSE 50051 8080 8081 9101
# Probes live in Kubernetes (gRPC health / HTTP per service, k8s/base); one image runs
# several kinds of binary, so no single HEALTHCHECK fits them all.
#checkov:skip=CKV_DOCKER_2:Health is probed by Kubernetes per service (grpc/httpGet probes); one image serves binaries with different health endpoints
CMD ["lms-commands"]
