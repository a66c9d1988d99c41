# syntax=docker/dockerfile:1
# The image of `liveship serve` (docs/deploy.md, "Container image"): the
# embedded backend (SQLite and a directory of files) on the /data volume,
# run as a non-root user, with a health check on /healthz. Build from the
# repository root:
#   docker build -t liveship --build-arg LIVESHIP_COMMIT="$(git rev-parse --short=12 HEAD)" .

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# .git is not sent to the build: the commit `liveship --version` names.
ARG LIVESHIP_COMMIT=unknown
ENV LIVESHIP_COMMIT=${LIVESHIP_COMMIT}
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p liveship \
 && mkdir -p /out/data \
 && cp target/release/liveship /out/liveship

# glibc, libgcc and CA certificates (for S3, DynamoDB and webhooks over
# TLS), no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/liveship /usr/local/bin/liveship
COPY --from=build --chown=65532:65532 /out/data /data
ENV LIVESHIP_LISTEN=0.0.0.0:8080 \
    LIVESHIP_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/liveship", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/liveship"]
CMD ["serve"]
