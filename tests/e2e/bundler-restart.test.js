// The bundler killed with kill -9 with operations in its mempool and a bundle in flight, again
// and again: after its restarts every operation is included exactly once (one
// UserOperationEvent each) and none is lost; on Redis, a second replica takes over the same
// mempool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { encodeEventTopics, encodeFunctionData, parseAbiItem, parseEther } from 'viem';
import { DEV_KEYS, deployContracts, rpc, runAnde, sleep, startBundler, startNode, startRedis, tempDir, waitFor } from './lib/node.js';
import { clients } from './lib/clients.js';
import { compile } from './lib/contracts.js';

const GWEI = 1_000_000_000n;
const hex = (n) => `0x${BigInt(n).toString(16)}`;
const USER_OPERATION_EVENT = parseAbiItem('event UserOperationEvent(bytes32 indexed userOpHash, address indexed sender, address indexed paymaster, uint256 nonce, bool success, uint256 actualGasCost, uint256 actualGasUsed)');

async function setup(count) {
  const node = await startNode({ blockTime: '1s' });
  const contracts = await deployContracts(node);
  const { publicClient, wallet } = clients(node, DEV_KEYS[0]);
  const account = compile('ValidationRules.sol', 'MinimalAccount');
  const deployments = [];
  for (let i = 0; i < count; i++) deployments.push(await wallet.deployContract({ ...account, args: [contracts.entryPointV07] }));
  const senders = [];
  for (const hash of deployments) senders.push((await publicClient.waitForTransactionReceipt({ hash })).contractAddress);
  const funding = [];
  for (const sender of senders) funding.push(await wallet.sendTransaction({ to: sender, value: parseEther('0.1') }));
  for (const hash of funding) await publicClient.waitForTransactionReceipt({ hash });
  const callData = encodeFunctionData({ abi: account.abi, functionName: 'execute', args: ['0x000000000000000000000000000000000000beef', 1n, '0x'] });
  const ops = senders.map((sender) => ({
    sender, nonce: '0x0', callData,
    callGasLimit: hex(60_000), verificationGasLimit: hex(100_000), preVerificationGas: hex(60_000),
    maxFeePerGas: hex(20n * GWEI), maxPriorityFeePerGas: hex(GWEI), signature: `0x${'00'.repeat(65)}`,
  }));
  return { node, contracts, publicClient, ops };
}

async function events(node, entryPoint) {
  const logs = await rpc(node.rpcUrl, 'eth_getLogs', [{ fromBlock: '0x0', toBlock: 'latest', address: entryPoint, topics: encodeEventTopics({ abi: [USER_OPERATION_EVENT], eventName: 'UserOperationEvent' }) }]);
  const counts = new Map();
  for (const log of logs) counts.set(log.topics[1], (counts.get(log.topics[1]) ?? 0) + 1);
  return counts;
}

test('kill -9 with operations waiting and a bundle in flight: every operation included exactly once', async () => {
  const { node, contracts, ops } = await setup(24);
  const dataDir = tempDir('ande-bundler-');
  // Small bundles, two in flight at a time, so several go out and some operations wait while
  // bundles are in flight.
  const args = ['--max-bundle-ops', '2', '--max-bundles-in-flight', '2'];
  let bundler = await startBundler(node, { dataDir, args });
  const hashes = [];
  const restarts = [];
  try {
    for (const op of ops) hashes.push(await rpc(bundler.url, 'eth_sendUserOperation', [op, contracts.entryPointV07]));
    for (let round = 0; round < 4; round++) {
      const seen = (bundler.output.match(/bundle sent/g) ?? []).length;
      await waitFor(() => (bundler.output.match(/bundle sent/g) ?? []).length > seen, { timeout: 20_000, what: `round ${round}: a bundle sent` });
      // At a different point of the bundle's life each round: just sent, or a moment later.
      await sleep(round * 150);
      await bundler.kill9();
      bundler = await startBundler(node, { dataDir, args });
      restarts.push(bundler);
    }
    await waitFor(async () => {
      const counts = await events(node, contracts.entryPointV07);
      return hashes.every((h) => counts.has(h));
    }, { timeout: 60_000, what: 'every operation included' });
    const counts = await events(node, contracts.entryPointV07);
    for (const hash of hashes) assert.equal(counts.get(hash), 1, `${hash} included once`);
    assert.equal([...counts.values()].reduce((a, b) => a + b, 0), hashes.length, 'and nothing else');
    for (const hash of hashes) assert.equal((await rpc(bundler.url, 'eth_getUserOperationReceipt', [hash])).success, true);
    // A bundle was still unmined at some kill: a restart found it in its journal and sent it.
    assert.ok(restarts.some((b) => /resumed the journal's pending transactions/.test(b.output)), 'a bundle in flight was resumed');
  } finally {
    await bundler.stop();
    await node.stop();
  }
});

test('on Redis, a second replica on the same key takes over the mempool of one killed with kill -9', async () => {
  const redis = await startRedis();
  const { node, contracts, ops } = await setup(6);
  const key = DEV_KEYS[4];
  const first = await startBundler(node, { key, args: ['--redis-url', redis.url, '--auto-bundle', 'false'] });
  let second;
  try {
    const hashes = [];
    for (const op of ops) hashes.push(await rpc(first.url, 'eth_sendUserOperation', [op, contracts.entryPointV07]));
    await first.kill9();
    second = await startBundler(node, { key, args: ['--redis-url', redis.url] });
    await waitFor(async () => {
      const counts = await events(node, contracts.entryPointV07);
      return hashes.every((h) => counts.get(h) === 1);
    }, { timeout: 60_000, what: 'the second replica bundling the first one\'s operations' });
  } finally {
    await second?.stop();
    await node.stop();
    await redis.stop();
  }
});

test('a chain started again under the same id and genesis: the bundler refuses its old store and journal, naming them', async () => {
  const first = await setup(1);
  const dataDir = tempDir('ande-bundler-');
  const bundler = await startBundler(first.node, { dataDir });
  try {
    const hash = await rpc(bundler.url, 'eth_sendUserOperation', [first.ops[0], first.contracts.entryPointV07]);
    await waitFor(async () => (await rpc(bundler.url, 'eth_getUserOperationReceipt', [hash]))?.success === true, { timeout: 30_000, what: 'the operation included' });
  } finally {
    await bundler.stop();
    await first.node.stop();
  }
  const again = await startNode({ blockTime: '1s' });
  try {
    await deployContracts(again);
    const args = ['bundler', '--rpc-url', again.internalUrl, '--private-key', DEV_KEYS[4], '--data-dir', dataDir, '--port', '0'];
    const { code, output } = await runAnde(args, { timeout: 30_000 });
    assert.notEqual(code, 0, `the bundler started on another chain's store:\n${output}`);
    assert.match(output, /is of another chain/);
    assert.ok(output.includes(dataDir) || /journal records/.test(output), `the error names what to move away:\n${output}`);
  } finally {
    await again.stop();
  }
});

test('on Redis, a mempool and journal kept as before they were per chain are adopted: the operation waiting there is included', async () => {
  const redis = await startRedis();
  const { node, contracts, ops } = await setup(1);
  const key = DEV_KEYS[4];
  const cli = (...args) => execFileSync('redis-cli', ['-u', redis.url, ...args], { encoding: 'utf8' }).trim();
  const first = await startBundler(node, { key, args: ['--redis-url', redis.url, '--auto-bundle', 'false'] });
  let second;
  try {
    const hash = await rpc(first.url, 'eth_sendUserOperation', [ops[0], contracts.entryPointV07]);
    await first.stop();
    // Back to the layout of before: `bundler:<chain id>:<address>:` and `sender:<address>:`.
    const keys = cli('--scan').split('\n').filter(Boolean);
    const renamed = keys.map((k) => [k, k.replace(/^bundler:\d+-[0-9a-f]+:/, 'bundler:1234:').replace(/^sender:\d+-[0-9a-f]+:/, 'sender:')]).filter(([a, b]) => a !== b);
    assert.ok(renamed.some(([k]) => k.startsWith('bundler:')), `the bundler's keys: ${keys}`);
    for (const [from, to] of renamed) cli('RENAME', from, to);
    second = await startBundler(node, { key, args: ['--redis-url', redis.url] });
    await waitFor(async () => (await rpc(second.url, 'eth_getUserOperationReceipt', [hash]))?.success === true, { timeout: 30_000, what: 'the adopted operation included' });
    assert.match(second.output, /adopted the keys kept before they were per chain/);
    assert.deepEqual(cli('--scan', '--pattern', 'bundler:1234:*'), '', 'nothing left under the old namespace');
  } finally {
    await second?.stop();
    await node.stop();
    await redis.stop();
  }
});
