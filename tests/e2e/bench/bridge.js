// The bridge's latency, dispatch to delivery, split into its parts, and the messages per second
// it sustains. Runs the whole bridge as the tests do, with production timing: 2 s blocks on
// both chains (the sequencer and anvil), a 6 s DA block time, a DA batch every 2 s; three
// validators a side, two of them needed. `make bench-bridge`; figures in docs/benchmarks.md.
//   node bench/bridge.js [--messages 20] [--burst-seconds 60] [--rate 10]
import { pad, toEventSelector } from 'viem';
import { rpc } from '../lib/node.js';
import { ABI, chainClients, startBridge, status } from '../lib/bridge.js';

const args = process.argv.slice(2);
const option = (name, fallback) => Number(args[args.indexOf(`--${name}`) + 1] || 0) || fallback;
const MESSAGES = option('messages', 20);
const BURST_SECONDS = option('burst-seconds', 60);
const RATE = option('rate', 25);
const POLL_MS = 50;
const DISPATCH_ID = toEventSelector('DispatchId(bytes32)');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};
const seconds = (ms) => (ms / 1000).toFixed(2);

/** Follows one message through its stages, each the first time it is seen (every 50 ms). */
async function follow(bridge, direction, sendAt, hash) {
  const origin = direction === 'out' ? bridge.ande : bridge.l1;
  const receipt = await origin.public.waitForTransactionReceipt({ hash, pollingInterval: POLL_MS, timeout: 60_000 });
  const included = Date.now();
  const log = receipt.logs.find((l) => l.topics[0] === DISPATCH_ID);
  if (!log) throw new Error(`no DispatchId in ${hash}`);
  const id = log.topics[1];
  const block = Number(receipt.blockNumber);
  const times = { sent: sendAt, included };
  const validators = direction === 'out' ? bridge.validators.ande : bridge.validators.l1;
  const index = async () => (await (await fetch(`${bridge.relayer.url}/messages/${id}`)).json().catch(() => ({}))).index;
  let tree;
  for (;;) {
    if (!times.final) {
      const final = direction === 'out'
        ? (await rpc(bridge.node.internalUrl, 'ande_daStatus')).lastIncludedBlock >= block
        : Number(await rpc(bridge.anvil.rpcUrl, 'eth_blockNumber')) >= block + 1;
      if (final) times.final = Date.now();
    }
    if (times.final && !times.signed) {
      tree ??= await index();
      if (tree !== undefined) {
        const signed = await Promise.all(validators.map(async (v) => (await (await fetch(`${v.url}/health`)).json()).signed > tree));
        if (signed.filter(Boolean).length >= 2) times.signed = Date.now();
      }
    }
    const record = await status(bridge.relayer, id);
    if (record && ['sending', 'confirming', 'delivered'].includes(record.state)) times.relayed ??= Date.now();
    if (record && ['confirming', 'delivered'].includes(record.state)) times.mined ??= Date.now();
    if (record?.state === 'delivered') {
      times.delivered = Date.now();
      // A stage seen together with a later one took no measurable time of its own.
      times.final ??= times.signed ?? times.relayed;
      times.signed ??= times.relayed;
      return times;
    }
    if (Date.now() - sendAt > 120_000) throw new Error(`message ${id} not delivered in 120 s: ${JSON.stringify(record)}`);
    await sleep(POLL_MS);
  }
}

function report(direction, all) {
  const parts = {
    'origin inclusion': (t) => t.included - t.sent,
    'finality': (t) => t.final - t.included,
    'signing': (t) => t.signed - t.final,
    'relaying': (t) => t.relayed - t.signed,
    'destination inclusion': (t) => t.mined - t.relayed,
    'added on top of finality': (t) => t.mined - t.final,
    'total, sent to delivered': (t) => t.delivered - t.sent,
  };
  console.log(`\n${direction}: ${all.length} messages (seconds)`);
  console.log('  part                          p50     p99');
  for (const [name, f] of Object.entries(parts)) {
    const values = all.map(f);
    console.log(`  ${name.padEnd(28)} ${seconds(quantile(values, 0.5)).padStart(6)}  ${seconds(quantile(values, 0.99)).padStart(6)}`);
  }
}

async function latency(bridge, direction) {
  const user = direction === 'out' ? chainClients(bridge.node.rpcUrl, 1234, bridge.userKey) : chainClients(bridge.anvil.rpcUrl, 31337, bridge.userKey);
  const route = direction === 'out' ? bridge.local.warpAnde : bridge.remote.warpEth;
  const destination = direction === 'out' ? 31337 : 1234;
  const pending = [];
  for (let i = 0; i < MESSAGES; i++) {
    const sentAt = Date.now();
    const hash = await user.wallet.writeContract({ address: route, abi: ABI.HypNative, functionName: 'transferRemote', args: [destination, pad(user.account.address), 1n], value: 1n, gas: 300_000n });
    pending.push(follow(bridge, direction, sentAt, hash));
    // Spread over the blocks, so each message waits for its own finality.
    await sleep(1_500);
  }
  report(direction === 'out' ? 'AndeChain -> the other chain' : 'the other chain -> AndeChain', await Promise.all(pending));
}

/** Messages sent at RATE a second for BURST_SECONDS, in each direction `directions` names; the
 * deliveries a second from the first one to the end of the burst, and how long the rest took. */
async function throughput(bridge, directions) {
  const senders = directions.map((d) => ({ d, client: d === 'out' ? chainClients(bridge.node.rpcUrl, 1234, bridge.userKey) : chainClients(bridge.anvil.rpcUrl, 31337, bridge.userKey) }));
  const before = await deliveredCount(bridge);
  const nonces = await Promise.all(senders.map((s) => s.client.public.getTransactionCount({ address: s.client.account.address, blockTag: 'pending' })));
  const start = Date.now();
  let sent = 0;
  let first = null;
  while (Date.now() - start < BURST_SECONDS * 1000) {
    const due = Math.floor(((Date.now() - start) / 1000) * RATE);
    const batch = [];
    for (; sent < due; sent++) {
      for (const [i, s] of senders.entries()) {
        batch.push(s.client.wallet.writeContract({
          address: s.d === 'out' ? bridge.local.warpAnde : bridge.remote.warpEth, abi: ABI.HypNative, functionName: 'transferRemote',
          args: [s.d === 'out' ? 31337 : 1234, pad(s.client.account.address), 1n], value: 1n, gas: 300_000n, nonce: nonces[i] + sent,
        }));
      }
    }
    await Promise.all(batch);
    if (first === null && (await deliveredCount(bridge)) > before) first = { at: Date.now(), count: await deliveredCount(bridge) };
    await sleep(20);
  }
  const end = { at: Date.now(), count: await deliveredCount(bridge) };
  const total = sent * senders.length;
  const deadline = Date.now() + 600_000;
  while ((await deliveredCount(bridge)) - before < total && Date.now() < deadline) await sleep(250);
  const drained = Date.now();
  const all = (await deliveredCount(bridge)) - before;
  const rate = first ? (end.count - first.count) / ((end.at - first.at) / 1000) : 0;
  console.log(`\nsustained, ${directions.join(' and ')}: ${total} messages sent at ${RATE}/s a direction for ${BURST_SECONDS} s (${(total / BURST_SECONDS).toFixed(1)}/s offered); ` +
    `${rate.toFixed(1)} delivered a second from the first delivery to the end of the sending; ${all} of ${total} delivered, the last ${seconds(drained - end.at)} s after the sending stopped`);
}

async function deliveredCount(bridge) {
  const metrics = await (await fetch(`${bridge.relayer.url}/metrics`)).text();
  return Number(metrics.match(/^ande_relayer_delivered_total (\d+)$/m)?.[1] ?? 0);
}

const bridge = await startBridge({ timing: { blockTime: '2s', batchInterval: '2s', daBlockTime: '6s', anvilBlockTime: 2 } });
try {
  bridge.userKey = '0x5000000000000000000000000000000000000000000000000000000000000001';
  const user = chainClients(bridge.node.rpcUrl, 1234, bridge.userKey).account.address;
  for (const client of [bridge.ande, bridge.l1]) {
    await client.public.waitForTransactionReceipt({ hash: await client.wallet.sendTransaction({ to: user, value: 10n ** 20n }) });
  }
  console.log('the bridge: 2 s blocks on both chains, a 6 s DA block time, a DA batch every 2 s, 2 of 3 validators a side, the relayer polling every 200 ms');
  await latency(bridge, 'out');
  await latency(bridge, 'in');
  await throughput(bridge, ['out']);
  await throughput(bridge, ['out', 'in']);
} finally {
  await bridge.stop();
}
