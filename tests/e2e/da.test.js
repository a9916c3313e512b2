// The sequencer posts its blocks to DA (the local `ande da`), and a full node rebuilds and
// verifies the chain from there; DA outages and crashes of the sequencer lose nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DEV_KEYS, LOCAL_GENESIS, batchRange, rpc, runNodeExpectingFailure, sleep, startDa, startNode, tempDir, waitFor } from './lib/node.js';
import { clients } from './lib/clients.js';
import { compile } from './lib/contracts.js';
import { privateKeyToAccount } from 'viem/accounts';

// The sequencer genesis/local.json names (config.ande.sequencerAddress), and its development key.
const SEQUENCER = JSON.parse(fs.readFileSync(LOCAL_GENESIS, 'utf8')).config.ande.sequencerAddress;
const SEQUENCER_KEY = DEV_KEYS.find((key) => privateKeyToAccount(key).address.toLowerCase() === SEQUENCER.toLowerCase());
assert.ok(SEQUENCER_KEY, `a development key for ${SEQUENCER}`);
const TO = '0x00000000000000000000000000000000000000d4';

function keyFile() {
  const file = path.join(tempDir('ande-seq-key-'), 'sequencer.key');
  fs.writeFileSync(file, `${SEQUENCER_KEY}\n`, { mode: 0o600 });
  return file;
}

function daEnv(da, namespace, extra = {}) {
  return { DA_URL: da.url, DA_NAMESPACE: namespace, DA_BATCH_INTERVAL: '600ms', DA_RETRY_MAX: '500ms', ...extra };
}

async function startSequencer(da, namespace, { datadir, env = {} } = {}) {
  return startNode({ datadir, blockTime: '200ms', env: { ...daEnv(da, namespace), SEQUENCER_KEY_FILE: keyFile(), ...env } });
}

async function startFullNode(da, namespace, sequencer) {
  // No SEQUENCER_ADDRESS: the genesis names the sequencer.
  return startNode({ args: ['--mode', 'full'], env: { ...daEnv(da, namespace), SEQUENCER_URL: sequencer.rpcUrl } });
}

const blockNumber = async (node) => Number(await rpc(node.rpcUrl, 'eth_blockNumber'));
const daStatus = (node) => rpc(node.internalUrl, 'ande_daStatus');

/** Waits until every block up to `number` is in DA and the full node has verified it. */
async function waitSynced(sequencer, full, number) {
  await waitFor(async () => (await daStatus(sequencer)).lastIncludedBlock >= number, { timeout: 30_000, what: `block ${number} in DA` });
  await waitFor(async () => (await blockNumber(full)) >= number, { timeout: 30_000, what: `the full node at block ${number}` });
}

async function sameBlock(a, b, number) {
  const tag = `0x${number.toString(16)}`;
  const [x, y] = [await rpc(a.rpcUrl, 'eth_getBlockByNumber', [tag, false]), await rpc(b.rpcUrl, 'eth_getBlockByNumber', [tag, false])];
  assert.equal(y.hash, x.hash, `block ${number} hash`);
  assert.equal(y.stateRoot, x.stateRoot, `block ${number} state root`);
}

/** Every batch of `namespace` in DA, in DA order, as block ranges. */
async function batchesInDa(da, namespace) {
  const head = Number((await rpc(da.url, 'header.NetworkHead')).header.height);
  const ranges = [];
  for (let height = 1; height <= head; height++) {
    let blobs = [];
    try {
      blobs = await rpc(da.url, 'blob.GetAll', [height, [namespace]]);
    } catch (e) {
      if (!/blob: not found/.test(e.message)) throw e;
    }
    for (const blob of blobs ?? []) ranges.push(batchRange(blob.data));
  }
  return ranges;
}

/** The namespace as celestia-node's JSON carries it: 29 bytes, base64. */
const base64Namespace = (hex) => Buffer.from(hex.slice(2), 'hex').toString('base64');

function assertContiguous(ranges, upTo) {
  let next = 1;
  for (const range of ranges) {
    assert.equal(range.first, next, `batches ${JSON.stringify(ranges)}: no gap, no duplicate at block ${next}`);
    next = range.last + 1;
  }
  assert.ok(next > upTo, `DA holds blocks through ${next - 1}, expected at least ${upTo}`);
}

test('a full node rebuilds the chain from DA and reaches the same head hash and state root', async () => {
  const da = await startDa();
  const sequencer = await startSequencer(da, 'e2e-follow');
  const full = await startFullNode(da, 'e2e-follow', sequencer);
  let misconfigured;
  try {
    const { publicClient, wallet } = clients(sequencer, DEV_KEYS[1]);
    const token = compile('AndeToken.sol', 'AndeToken');
    const deploy = await wallet.deployContract({ abi: token.abi, bytecode: token.bytecode, args: ['Ande Test', 'ATST', 1_000_000n * 10n ** 18n] });
    const { contractAddress } = await publicClient.waitForTransactionReceipt({ hash: deploy });
    const transfers = [];
    for (let i = 0; i < 5; i++) transfers.push(await wallet.sendTransaction({ to: TO, value: 1000n + BigInt(i) }));
    const tokenTx = await wallet.writeContract({ address: contractAddress, abi: token.abi, functionName: 'transfer', args: [TO, 42n] });
    // A transaction sent to the full node goes to the sequencer.
    const viaFull = clients(full, DEV_KEYS[2]);
    const forwarded = await viaFull.wallet.sendTransaction({ to: TO, value: 7n });
    let last = 0;
    for (const hash of [...transfers, tokenTx, forwarded]) {
      const receipt = await publicClient.waitForTransactionReceipt({ hash });
      assert.equal(receipt.status, 'success');
      last = Math.max(last, Number(receipt.blockNumber));
    }
    await waitSynced(sequencer, full, last);
    for (let n = 1; n <= last; n++) await sameBlock(sequencer, full, n);
    assert.equal(await rpc(full.rpcUrl, 'eth_getBalance', [TO, 'latest']), await rpc(sequencer.rpcUrl, 'eth_getBalance', [TO, 'latest']));
    const receipt = await rpc(full.rpcUrl, 'eth_getTransactionReceipt', [forwarded]);
    assert.equal(receipt.status, '0x1', 'the full node holds the forwarded transaction, verified');
    // The DA height of each block is recorded, on both.
    const height = await rpc(sequencer.internalUrl, 'ande_getBlockDaHeight', [`0x${last.toString(16)}`]);
    assert.ok(Number(height) >= 1);
    assert.equal(await rpc(full.internalUrl, 'ande_getBlockDaHeight', [`0x${last.toString(16)}`]), height);
    const status = await daStatus(sequencer);
    assert.equal(status.role, 'sequencer');
    assert.ok(status.lastSubmittedBlock >= last && status.lastIncludedDaHeight >= 1, JSON.stringify(status));
    assert.equal(status.namespace.length, 2 + 58, '29 bytes');
    const metrics = await (await fetch(sequencer.metricsUrl)).text();
    for (const name of ['ande_da_pending_blocks', 'ande_da_pending_bytes', 'ande_da_submit_seconds', 'ande_da_included_block']) {
      assert.match(metrics, new RegExp(`^${name}`, 'm'), name);
    }
    assertContiguous(await batchesInDa(da, base64Namespace(status.namespace)), last);
    const fullStatus = await daStatus(full);
    assert.equal(fullStatus.role, 'full');
    assert.equal(fullStatus.sequencer.toLowerCase(), SEQUENCER.toLowerCase(), 'the sequencer the genesis names');
    assert.equal(fullStatus.rejectedBlobs, 0);
    assert.equal((await fetch(`${full.rpcUrl}/health`)).status, 200);
    // A full node told the wrong sequencer address sees only blobs it refuses: /health says so.
    const wrong = privateKeyToAccount(DEV_KEYS[1]).address;
    misconfigured = await startNode({ args: ['--mode', 'full'], env: { ...daEnv(da, 'e2e-follow'), SEQUENCER_ADDRESS: wrong }, listening: true });
    const health = await waitFor(async () => {
      const res = await fetch(`${misconfigured.rpcUrl}/health`);
      const body = await res.json();
      return res.status === 503 && body.status === 'degraded' ? body : null;
    }, { timeout: 30_000, what: 'the misconfigured full node to report its refused blobs' });
    assert.match(health.reason, /blobs in the namespace refused and none accepted \(last: DA height \d+: bad signature: signed by 0x[0-9a-fA-F]{40}, not the sequencer/);
    assert.ok(health.reason.includes(`is ${wrong} the address that signs this chain's batches`), health.reason);
    const wrongStatus = await daStatus(misconfigured);
    assert.equal(wrongStatus.acceptedBatches, 0);
    assert.ok(wrongStatus.rejectedBlobs > 0);
  } finally {
    await misconfigured?.stop();
    await full.stop();
    await sequencer.stop();
    await da.stop();
  }
});

test('DA down: the sequencer keeps producing, readiness says why, and the backlog drains when DA returns', async () => {
  const da = await startDa();
  const sequencer = await startSequencer(da, 'e2e-outage', { env: { DA_MAX_BACKLOG: '10' } });
  const full = await startFullNode(da, 'e2e-outage', sequencer);
  try {
    await waitFor(async () => (await daStatus(sequencer)).lastIncludedBlock >= 2, { timeout: 20_000, what: 'a first batch' });
    await da.stop();
    const before = await blockNumber(sequencer);
    // Several DA blocks' worth (500 ms each) of outage, and more than the backlog limit.
    const health = await waitFor(async () => {
      const res = await fetch(`${sequencer.rpcUrl}/health`);
      return res.status === 503 ? res.json() : null;
    }, { timeout: 20_000, what: 'readiness to fail on the DA backlog' });
    assert.equal(health.status, 'degraded');
    assert.match(health.reason, /wait for DA, over DA_MAX_BACKLOG \(10\)/);
    const { publicClient, wallet } = clients(sequencer, DEV_KEYS[1]);
    const hash = await wallet.sendTransaction({ to: TO, value: 5n });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    assert.ok(Number(receipt.blockNumber) > before, 'blocks keep coming without DA');
    const status = await daStatus(sequencer);
    assert.ok(status.pendingBlocks > 10 && status.pendingBytes > 0 && status.failures > 0, JSON.stringify(status));
    assert.ok(status.lastError);

    const back = await startDa({ dataDir: da.dataDir, port: da.port });
    try {
      await waitFor(async () => (await fetch(`${sequencer.rpcUrl}/health`)).status === 200, { timeout: 30_000, what: 'readiness back' });
      const head = await blockNumber(sequencer);
      await waitSynced(sequencer, full, head);
      await sameBlock(sequencer, full, head);
      assertContiguous(await batchesInDa(back, base64Namespace(status.namespace)), head);
    } finally {
      await full.stop();
      await sequencer.stop();
      await back.stop();
    }
  } finally {
    await full.stop();
    await sequencer.stop();
    await da.stop();
  }
});

test('the sequencer killed with kill -9 mid-batch: DA holds every block once, in order', async () => {
  // DA blocks of 1 s keep each submission in flight for up to a second.
  const da = await startDa({ blockTime: '1s' });
  const datadir = tempDir('ande-seq-');
  try {
    let namespace = null;
    let sequencer = await startSequencer(da, 'e2e-crash', { datadir, env: { DA_BATCH_INTERVAL: '200ms' } });
    for (let round = 0; round < 3; round++) {
      namespace ??= base64Namespace((await daStatus(sequencer)).namespace);
      const { wallet } = clients(sequencer, DEV_KEYS[1]);
      for (let i = 0; i < 3; i++) await wallet.sendTransaction({ to: TO, value: 1n });
      // Killed while a batch is sent and not yet known to be included.
      await waitFor(async () => {
        const s = await daStatus(sequencer);
        return s.lastSubmittedBlock > s.lastIncludedBlock;
      }, { interval: 10, what: 'a batch in flight' });
      await sequencer.kill9();
      sequencer = await startSequencer(da, 'e2e-crash', { datadir, env: { DA_BATCH_INTERVAL: '200ms' } });
      // The batch sent before the crash landed; the restarted sequencer finds it instead of
      // sending those blocks again.
      await waitFor(() => /found a batch sent before/.test(sequencer.output), { timeout: 20_000, what: `round ${round}: the batch in flight found` });
    }
    try {
      const head = await blockNumber(sequencer);
      await waitFor(async () => (await daStatus(sequencer)).lastIncludedBlock >= head, { timeout: 30_000, what: 'the backlog in DA' });
      assertContiguous(await batchesInDa(da, namespace), head);
    } finally {
      await sequencer.stop();
    }
  } finally {
    await da.stop();
  }
});

test('a batch DA refuses as too big is halved until it goes through', async () => {
  // DA takes 3,000 bytes a blob; the sequencer believes in the default limit, so DA must refuse.
  const da = await startDa({ args: ['--max-blob-bytes', '3000'] });
  const sequencer = await startSequencer(da, 'e2e-halving', { env: { DA_BATCH_INTERVAL: '2s' } });
  try {
    const { publicClient, wallet } = clients(sequencer, DEV_KEYS[1]);
    const hashes = [];
    // Random calldata does not compress: about 1,000 bytes a block (two fit a blob, three do
    // not), several blocks a batch.
    for (let i = 0; i < 6; i++) {
      const data = `0x${crypto.getRandomValues(new Uint8Array(900)).reduce((s, b) => s + b.toString(16).padStart(2, '0'), '')}`;
      hashes.push(await wallet.sendTransaction({ to: TO, data }));
      await sleep(250);
    }
    let last = 0;
    for (const hash of hashes) last = Math.max(last, Number((await publicClient.waitForTransactionReceipt({ hash })).blockNumber));
    await waitFor(async () => (await daStatus(sequencer)).lastIncludedBlock >= last, { timeout: 30_000, what: 'every block in DA' });
    assert.match(sequencer.output, /too big; halving/);
    const ranges = await batchesInDa(da, base64Namespace((await daStatus(sequencer)).namespace));
    assertContiguous(ranges, last);
    assert.ok(ranges.length >= 3, `several small batches: ${JSON.stringify(ranges)}`);
  } finally {
    await sequencer.stop();
    await da.stop();
  }
});

test('DA settings that cannot work are refused at start, saying what is missing', async () => {
  const noKey = await runNodeExpectingFailure(['--genesis', LOCAL_GENESIS, '--da.url', 'http://127.0.0.1:9'], { SEQUENCER_KEY: '', SEQUENCER_KEY_FILE: '' });
  assert.notEqual(noKey.code, 0);
  assert.match(noKey.output, /posting to DA needs the batch signing key: set SEQUENCER_KEY_FILE/);
  const badKey = await runNodeExpectingFailure(['--genesis', LOCAL_GENESIS, '--da.url', 'http://127.0.0.1:9', '--sequencer-key', '0x1234']);
  assert.match(badKey.output, /not a valid secp256k1 private key/);
  assert.doesNotMatch(badKey.output, /0x1234/, 'the key is not echoed');
  const full = await runNodeExpectingFailure(['--genesis', LOCAL_GENESIS, '--mode', 'full']);
  assert.match(full.output, /a full node reads the chain from DA: set DA_URL/);
  // A genesis that names no sequencer (the testnet's) needs SEQUENCER_ADDRESS.
  const testnet = path.join(path.dirname(LOCAL_GENESIS), 'testnet.json');
  const unnamed = await runNodeExpectingFailure(['--genesis', testnet, '--mode', 'full', '--da.url', 'http://127.0.0.1:9']);
  assert.match(unnamed.output, /a full node needs the address whose batches it accepts: set SEQUENCER_ADDRESS, or config.ande.sequencerAddress in the genesis/);
  // A sequencer signing with another key than the one the genesis names would post batches
  // every full node refuses: it does not start.
  const other = privateKeyToAccount(DEV_KEYS.find((key) => key !== SEQUENCER_KEY));
  const impostor = await runNodeExpectingFailure(['--genesis', LOCAL_GENESIS, '--da.url', 'http://127.0.0.1:9', '--sequencer-key', DEV_KEYS.find((key) => key !== SEQUENCER_KEY)]);
  assert.notEqual(impostor.code, 0);
  assert.ok(impostor.output.includes(`the batch signing key is ${other.address}'s, but the genesis names ${SEQUENCER} as the sequencer`), impostor.output);
});
