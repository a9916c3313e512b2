#!/bin/bash
# celestia-da with DA_LAYER=celestia: a celestia-node light node (docker-compose.celestia.yml).
# Runs in celestia-node's image as its user; the store is the volume at /home/celestia.
set -euo pipefail

store=/home/celestia
network=${CELESTIA_NETWORK:?CELESTIA_NETWORK is not set (mocha for the testnet, celestia for mainnet)}
core_ip=${CELESTIA_CORE_IP:?CELESTIA_CORE_IP is not set: the host of a consensus node of $network (its gRPC port is CELESTIA_CORE_PORT)}

# The first init creates the node's account key and prints its mnemonic: it must not reach the
# logs. The address to fund is shown by `cel-key list` (docs/docker.md).
celestia light init --p2p.network "$network" --node.store "$store" >/dev/null

# The RPC's JWT signing key comes from the celestia_jwt_secret secret, so the token the
# sequencer holds (da_auth_token, minted from the same key by `make prod-secrets`) is accepted.
# celestia-node keeps it in its keystore under base32("jwt-secret.jwt"), owner-only.
key=$store/keys/NJ3XILLTMVRXEZLUFZVHO5A
if ! cmp -s /run/secrets/celestia_jwt_secret "$key"; then
  rm -f "$key"
  (umask 077; cat /run/secrets/celestia_jwt_secret >"$key")
fi

tls=()
[ "${CELESTIA_CORE_TLS:-false}" = true ] && tls=(--core.tls)
exec celestia light start \
  --p2p.network "$network" \
  --node.store "$store" \
  --core.ip "$core_ip" \
  --core.port "${CELESTIA_CORE_PORT:-9090}" \
  "${tls[@]}" \
  --keyring.keyname "${CELESTIA_KEY_NAME:-my_celes_key}" \
  --rpc.addr 0.0.0.0 \
  --rpc.port 26658
