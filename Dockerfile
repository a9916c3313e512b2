# The `ande` image: one binary that runs every AndeChain service (node, faucet, faucet-ui, ...),
# chosen by the command. Two ways to fill it:
#   docker build .                   builds the binary on the official Rust image (target `runtime`)
#   docker build --target host .     packs target/docker/ande, built (profile `image`) on the host by
#                                    `make docker-image` (for machines that cannot pull the Rust image),
#                                    and the dApp's static export frontend/out, built there too
# Stages are ordered so that the classic builder, which builds every stage up to the target,
# never touches the Rust image for `--target host`.

# CA certificates only (captcha verification, HTTPS RPC): copied out without openssl.
FROM debian:bookworm-slim AS certs
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*

FROM debian:bookworm-slim AS base
RUN groupadd --system --gid 10001 ande \
 && useradd --system --uid 10001 --gid ande --home-dir /data --no-create-home --shell /usr/sbin/nologin ande \
 && mkdir -p /data /deployments && chown ande:ande /data /deployments
COPY --from=certs /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY genesis/local.json genesis/testnet.json /etc/ande/genesis/
ENV DATA_DIR=/data/node \
    FAUCET_DATA_DIR=/data/faucet \
    GENESIS=/etc/ande/genesis/local.json \
    RPC_ADDR=0.0.0.0 \
    FAUCET_ADDR=0.0.0.0 \
    FAUCET_UI_ADDR=0.0.0.0 \
    FRONTEND_ADDR=0.0.0.0 \
    FRONTEND_DIR=/usr/share/ande/frontend \
    LOG_FORMAT=json
USER ande
WORKDIR /data
EXPOSE 8545 8546 9001
# The default command is the node; services started with another command set their own probe.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
  CMD ["ande", "probe", "--rpc", "http://127.0.0.1:8545"]
ENTRYPOINT ["ande"]
CMD ["node"]

FROM base AS host
COPY frontend/out /usr/share/ande/frontend
COPY target/docker/ande /usr/local/bin/ande

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --profile image --locked -p ande --bin ande \
 && cp target/image/ande /ande

FROM node:20-bookworm-slim AS frontend
WORKDIR /src
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN NEXT_TELEMETRY_DISABLED=1 npm run build

FROM base AS runtime
COPY --from=frontend /src/out /usr/share/ande/frontend
COPY --from=build /ande /usr/local/bin/ande
