// The bridge's tests' common parts: Hyperlane's ABIs from @hyperlane-xyz/core, a deploy of the
// bridge between `ande node` and anvil, and the checkpoint and ISM metadata formats.
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { concat, createPublicClient, createWalletClient, decodeEventLog, defineChain, encodePacked, getContract, http, keccak256, pad, toHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { DEV_KEYS, LOCAL_GENESIS, runAnde, startAnvil, startDa, startNode, startRelayer, startValidator, tempDir } from './node.js';
import { hyperlane } from '../../../scripts/vendor-contracts.mjs';

export const DEPLOYER = DEV_KEYS[1];
// Validators are keys of their own, never funded unless a test funds them: they only sign.
export const VALIDATOR_KEYS = [
  '0x1000000000000000000000000000000000000000000000000000000000000001',
  '0x1000000000000000000000000000000000000000000000000000000000000002',
  '0x1000000000000000000000000000000000000000000000000000000000000003',
];
export const VALIDATORS = VALIDATOR_KEYS.map((k) => privateKeyToAccount(k));
export const ABI = Object.fromEntries(['Mailbox', 'MerkleTreeHook', 'HypNative', 'HypERC20', 'StaticMessageIdMultisigIsm', 'ValidatorAnnounce'].map((n) => [n, hyperlane(n).abi]));

export function chainClients(rpcUrl, id, key) {
  const chain = defineChain({ id, name: `chain ${id}`, nativeCurrency: { name: 'Native', symbol: 'NAT', decimals: 18 }, rpcUrls: { default: { http: [rpcUrl] } } });
  const account = privateKeyToAccount(key);
  return {
    id,
    account,
    public: createPublicClient({ chain, transport: http(rpcUrl), pollingInterval: 100 }),
    wallet: createWalletClient({ chain, account, transport: http(rpcUrl) }),
  };
}

/** `ande deploy` of the bridge between `node` (AndeChain, 1234) and `anvil` (31337). */
export async function deployBridge(node, anvil, { dir = tempDir(), dataDir = tempDir(), key = DEPLOYER, threshold = 2, remoteChainId = 31337 } = {}) {
  const out = path.join(dir, 'local.json');
  const args = ['deploy', '--rpc-url', node.rpcUrl, '--chain-id', '1234', '--out', out, '--data-dir', dataDir,
    ...(key ? ['--private-key', key] : []),
    '--bridge-remote-rpc-url', anvil.rpcUrl, '--bridge-remote-chain-id', String(remoteChainId),
    '--bridge-validators', VALIDATORS.map((v) => v.address).join(','), '--bridge-threshold', String(threshold)];
  const result = await runAnde(args, { timeout: 180_000 });
  const read = (name) => JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
  return { ...result, dir, dataDir, localFile: out, remoteFile: path.join(dir, 'l1-local.json'), local: result.code === 0 ? read('local.json') : null, remote: result.code === 0 ? read('l1-local.json') : null };
}

/** The digest a Hyperlane validator signs (before EIP-191) for a message of `origin`. */
export function checkpointDigest(originDomain, merkleTreeHook, root, index, messageId) {
  const domainHash = keccak256(encodePacked(['uint32', 'bytes32', 'string'], [originDomain, pad(merkleTreeHook), 'HYPERLANE']));
  return keccak256(encodePacked(['bytes32', 'bytes32', 'uint32', 'bytes32'], [domainHash, root, index, messageId]));
}

/** The message-id multisig ISM's metadata: `signed` is [{ signer, signature }], put in the
 * validators' (ascending) order. */
export function ismMetadata(merkleTreeHook, root, index, signed) {
  const ordered = [...signed].sort((a, b) => (BigInt(a.signer) < BigInt(b.signer) ? -1 : 1));
  return concat([pad(merkleTreeHook), root, toHex(index, { size: 4 }), ...ordered.map((s) => s.signature)]);
}

/** The test itself signing the latest checkpoint of `origin`'s tree as `signers`. */
export async function signedMetadata(origin, contracts, messageId, signers) {
  const tree = getContract({ address: contracts.merkleTreeHook, abi: ABI.MerkleTreeHook, client: origin.public });
  const [root, index] = await tree.read.latestCheckpoint();
  const digest = checkpointDigest(origin.id, contracts.merkleTreeHook, root, index, messageId);
  const signed = await Promise.all(signers.map(async (s) => ({ signer: s.address, signature: await s.signMessage({ message: { raw: digest } }) })));
  return ismMetadata(contracts.merkleTreeHook, root, index, signed);
}

/** The Dispatch events of a transaction: Hyperlane messages and their ids. */
export async function dispatched(client, hash) {
  const receipt = await client.public.waitForTransactionReceipt({ hash, timeout: 30_000 });
  assert.equal(receipt.status, 'success', `transaction ${hash}`);
  return receipt.logs.flatMap((log) => {
    try {
      const event = decodeEventLog({ abi: ABI.Mailbox, data: log.data, topics: log.topics });
      return event.eventName === 'Dispatch' ? [{ message: event.args.message, id: keccak256(event.args.message), block: receipt.blockNumber }] : [];
    } catch {
      return [];
    }
  });
}

export async function processMessage(destination, contracts, meta, message) {
  const hash = await destination.wallet.writeContract({ address: contracts.mailbox, abi: ABI.Mailbox, functionName: 'process', args: [meta, message] });
  return destination.public.waitForTransactionReceipt({ hash, timeout: 30_000 });
}

const SEQUENCER = JSON.parse(fs.readFileSync(LOCAL_GENESIS, 'utf8')).config.ande.sequencerAddress;
const SEQUENCER_KEY = DEV_KEYS.find((key) => privateKeyToAccount(key).address.toLowerCase() === SEQUENCER.toLowerCase());

/** The sequencer posting its blocks to `da` (200 ms blocks, a batch every 600 ms, unless told). */
export async function startSequencer(da, { datadir, blockTime = '200ms', batchInterval = '600ms' } = {}) {
  const keyFile = path.join(tempDir('ande-seq-key-'), 'sequencer.key');
  fs.writeFileSync(keyFile, `${SEQUENCER_KEY}\n`, { mode: 0o600 });
  return startNode({ datadir, blockTime, env: { DA_URL: da.url, DA_NAMESPACE: 'e2e-bridge', DA_BATCH_INTERVAL: batchInterval, DA_RETRY_MAX: '500ms', SEQUENCER_KEY_FILE: keyFile } });
}

export const RELAYER_KEY = DEV_KEYS[4];
const FUNDER = DEV_KEYS[7];

/** Validators of `chain` ('ande': final on DA; 'l1': 1 confirmation on anvil). */
export function startValidators(bridge, chain, keys) {
  return Promise.all(keys.map((key) => chain === 'ande'
    ? startValidator(bridge.node.internalUrl, bridge.deployed.localFile, key, { args: ['--chain-id', '1234'] })
    : startValidator(bridge.anvil.rpcUrl, bridge.deployed.remoteFile, key, { args: ['--chain-id', '31337', '--finality', 'depth', '--confirmations', '1'] })));
}

export function startBridgeRelayer(bridge, { dataDir, args = [] } = {}) {
  return startRelayer(bridge.node, bridge.anvil.rpcUrl, { deployments: bridge.deployed.localFile, remoteDeployments: bridge.deployed.remoteFile, key: RELAYER_KEY, dataDir, args: ['--chain-id', '1234', '--remote-chain-id', '31337', ...args] });
}

/** The whole bridge: a sequencer on DA, anvil (1 s blocks), the contracts, `validators` validator
 * keys run on each chain (funded, so they announce themselves) and, unless told not to, the
 * relayer. `timing` sets the block times (the benchmark's are the production ones). */
export async function startBridge({ validators = VALIDATOR_KEYS, relayer = true, timing = {} } = {}) {
  const { blockTime, batchInterval, daBlockTime = '500ms', anvilBlockTime = 1 } = timing;
  const bridge = { validators: { ande: [], l1: [] } };
  bridge.da = await startDa({ blockTime: daBlockTime });
  bridge.node = await startSequencer(bridge.da, { blockTime, batchInterval });
  bridge.anvil = await startAnvil({ chainId: 31337, blockTime: anvilBlockTime });
  bridge.stop = async () => {
    for (const v of [...bridge.validators.ande, ...bridge.validators.l1]) await v.stop();
    await bridge.relayer?.stop();
    await bridge.anvil.stop();
    await bridge.node.stop();
    await bridge.da.stop();
  };
  try {
    bridge.deployed = await deployBridge(bridge.node, bridge.anvil);
    assert.equal(bridge.deployed.code, 0, bridge.deployed.output);
    bridge.local = bridge.deployed.local.contracts;
    bridge.remote = bridge.deployed.remote.contracts;
    bridge.ande = chainClients(bridge.node.rpcUrl, 1234, FUNDER);
    bridge.l1 = chainClients(bridge.anvil.rpcUrl, 31337, FUNDER);
    for (const client of [bridge.ande, bridge.l1]) {
      for (const v of VALIDATORS) {
        await client.public.waitForTransactionReceipt({ hash: await client.wallet.sendTransaction({ to: v.address, value: 10n ** 17n }) });
      }
    }
    bridge.validators.ande = await startValidators(bridge, 'ande', validators);
    bridge.validators.l1 = await startValidators(bridge, 'l1', validators);
    if (relayer) bridge.relayer = await startBridgeRelayer(bridge);
    return bridge;
  } catch (e) {
    await bridge.stop();
    throw e;
  }
}

/** The relayer's record of message `id`. */
export async function status(relayer, id) {
  const res = await fetch(`${relayer.url}/messages/${id}`);
  return res.status === 200 ? res.json() : null;
}

/** Waits until the relayer has delivered `id`; the states it was seen in, in order. */
export async function delivered(relayer, id, { timeout = 60_000 } = {}) {
  const seen = [];
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await status(relayer, id);
    if (last && seen.at(-1) !== last.state) seen.push(last.state);
    if (last?.state === 'delivered') return { record: last, seen };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`message ${id} not delivered within ${timeout} ms; last seen: ${JSON.stringify(last)}`);
}

/** The Mailbox's Process events on `client`'s chain: message ids, with repeats if any. */
export async function processed(client, mailbox) {
  const logs = await client.public.getContractEvents({ address: mailbox, abi: ABI.Mailbox, eventName: 'ProcessId', fromBlock: 0n });
  return logs.map((l) => l.args.messageId);
}
