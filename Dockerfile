# Nova's images: `api` (nova serve) and `worker` (nova worker), one binary built once.
#
#   docker build --target api    -t nova/api:TAG .
#   docker build --target worker -t nova/worker:TAG .
#
# The build stage compiles the bundled modules (modules/, for wasm32-wasip2) into the release
# binary; the runtime stages hold that binary, CA certificates and pg_dump (for `nova backup`
# on PostgreSQL), and run as an unprivileged user. Everything but /var/lib/nova (the embedded
# database and signing key, when no DATABASE_URL is set), /var/cache/nova (compiled modules)
# and /tmp can be mounted read-only. docs/DEPLOY.md has the rest.

FROM rust:1.97.0-bookworm AS build
WORKDIR /src
# rust-toolchain.toml names the same toolchain; the target is what the modules compile to.
RUN rustup target add wasm32-wasip2
COPY . .
# The cache mounts keep the registry and the target directory between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p nova \
    && install -m 0755 target/release/nova /usr/local/bin/nova

FROM debian:bookworm-slim AS runtime
# Unpinned on purpose: the image should take Debian's security updates of these two packages
# whenever it is rebuilt, and bookworm's versions of them move only by such updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 nova \
    && useradd --uid 10001 --gid nova --no-create-home --home-dir /var/lib/nova --shell /usr/sbin/nologin nova \
    && install -d -o nova -g nova /var/lib/nova /var/cache/nova
COPY --from=build /usr/local/bin/nova /usr/local/bin/nova
# Outside a container Nova listens on loopback only; inside one the probes and the Service
# reach it from outside the network namespace, so it listens on every address. Payments are
# off until configured: the sandbox's public development secret must never be reachable
# from other machines (nova refuses to start that way).
ENV NOVA_LISTEN=0.0.0.0:8080 \
    NOVA_WORKER_LISTEN=0.0.0.0:3001 \
    NOVA_DATA_DIR=/var/lib/nova \
    NOVA_CACHE_DIR=/var/cache/nova \
    PAYMENT_PROVIDER_MODE=off
VOLUME ["/var/lib/nova", "/var/cache/nova"]
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/nova"]

FROM runtime AS worker
EXPOSE 3001
CMD ["worker"]

# Last, so a plain `docker build .` gives the API.
FROM runtime AS api
EXPOSE 8080
CMD ["serve"]
