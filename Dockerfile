# syntax=docker/dockerfile:1
# The storeplane control plane: one static-ish binary (engine plugins embedded), helm for
# `helm template`, nothing else. Runs as uid 65532 on a read-only root filesystem (the chart in
# helm/storeplane mounts /data and /tmp).
#
#   docker build -t storeplane:dev .
#   docker buildx build --platform linux/amd64,linux/arm64 -t storeplane:dev .
#
# This machine has no Docker engine; GitHub Actions builds the image (see
# .github/workflows/ci.yml).

# --- helm 4.1.4 for the architecture of the image (amd64 or arm64): cross-compiled from its
# module, whose checksums the Go checksum database verifies. (CI's .ci/install-helm takes the
# x86-64 binary from an npm package: the only registry CI machines reach, and x86-64 only.)
FROM --platform=$BUILDPLATFORM golang:1.25-bookworm AS helm
ARG TARGETOS=linux
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH GOFLAGS=-trimpath \
    go install -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=v4.1.4" helm.sh/helm/v4/cmd/helm@v4.1.4 \
 && find "$(go env GOPATH)/bin" -name helm -type f -exec cp {} /helm \; \
 && test -x /helm

# --- the binary; build.rs compiles the engine plugins for wasm32-wasip2 and embeds them
FROM rust:1.95-bookworm AS build
RUN rustup target add wasm32-wasip2
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --locked --release --bin storeplane \
 && cp target/release/storeplane /storeplane

# --- runtime: glibc, CA certificates, a non-root user, no shell
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=helm /helm /usr/local/bin/helm
COPY --from=build /storeplane /usr/local/bin/storeplane
ENV HELM_BIN=/usr/local/bin/helm \
    DATA_DIR=/data \
    HELM_CACHE_HOME=/tmp/helm/cache \
    HELM_CONFIG_HOME=/tmp/helm/config \
    HELM_DATA_HOME=/tmp/helm/data \
    LOG_FORMAT=json
USER 65532:65532
EXPOSE 3001
ENTRYPOINT ["/usr/local/bin/storeplane"]
CMD ["serve"]
