// The bundler killed with kill -9 with operations in its mempool and a bundle in flight, again
// and again: after its restarts every operation is included exactly once (one
// UserOperationEvent each) and none is lost; on Redis, a second replica takes over the same
// mempool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEventTopics, encodeFunctionData, parseAbiItem, parseEther } from 'viem';
import { DEV_KEYS, deployContracts, rpc, sleep, startBundler, startNode, startRedis, tempDir, waitFor } from './lib/node.js';
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
  // Small bundles, one in flight at a time, so several go out and some operations wait while
  // one is in flight.
  const args = ['--max-bundle-ops', '4', '--max-bundles-in-flight', '1'];
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
