// Lazy block production, polled filters, and history pruning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEV_KEYS, rpc, sleep, startNode, waitFor } from './lib/node.js';
import { clients } from './lib/clients.js';

const TO = '0x00000000000000000000000000000000000000cc';

test('lazy mode produces a block only when transactions wait or the idle limit passed', async () => {
  const node = await startNode({ blockTime: '200ms', args: ['--lazy', '--lazy-max-idle', '3s'] });
  try {
    const start = Number(await rpc(node.rpcUrl, 'eth_blockNumber'));
    await sleep(1200);
    assert.equal(Number(await rpc(node.rpcUrl, 'eth_blockNumber')), start, 'no empty blocks while idle');
    const { publicClient, wallet } = clients(node, DEV_KEYS[0]);
    const hash = await wallet.sendTransaction({ to: TO, value: 1n });
    const receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: 5_000 });
    assert.equal(Number(receipt.blockNumber), start + 1);
    // The idle limit still produces a block.
    await waitFor(async () => Number(await rpc(node.rpcUrl, 'eth_blockNumber')) > start + 1, { timeout: 6_000, what: 'an idle block' });
    const health = await fetch(`${node.rpcUrl}/health`);
    assert.equal(health.status, 200, 'an idle lazy node is healthy');
  } finally {
    await node.stop();
  }
});

test('polled filters: blocks, pending transactions and logs', async () => {
  const node = await startNode({ blockTime: '200ms' });
  try {
    const blockFilter = await rpc(node.rpcUrl, 'eth_newBlockFilter');
    const pendingFilter = await rpc(node.rpcUrl, 'eth_newPendingTransactionFilter');
    const logFilter = await rpc(node.rpcUrl, 'eth_newFilter', [{ fromBlock: 'latest' }]);
    const { publicClient, wallet } = clients(node, DEV_KEYS[0]);
    const hash = await wallet.sendTransaction({ to: TO, value: 1n });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    const blocks = await rpc(node.rpcUrl, 'eth_getFilterChanges', [blockFilter]);
    assert.ok(blocks.includes(receipt.blockHash), 'the block filter saw the block');
    assert.deepEqual(await rpc(node.rpcUrl, 'eth_getFilterChanges', [pendingFilter]), [hash]);
    assert.deepEqual(await rpc(node.rpcUrl, 'eth_getFilterChanges', [pendingFilter]), [], 'changes are returned once');
    assert.deepEqual(await rpc(node.rpcUrl, 'eth_getFilterChanges', [logFilter]), [], 'a plain transfer has no logs');
    assert.equal(await rpc(node.rpcUrl, 'eth_uninstallFilter', [blockFilter]), true);
    await assert.rejects(rpc(node.rpcUrl, 'eth_getFilterChanges', [blockFilter]), /filter not found/);
  } finally {
    await node.stop();
  }
});

test('pruning keeps recent history and refuses older state reads', async () => {
  const node = await startNode({ blockTime: '100ms', args: ['--prune.keep-blocks', '5'] });
  try {
    const { publicClient, wallet } = clients(node, DEV_KEYS[0]);
    const hash = await wallet.sendTransaction({ to: TO, value: 7n });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    const mined = Number(receipt.blockNumber);
    await waitFor(async () => Number(await rpc(node.rpcUrl, 'eth_blockNumber')) > mined + 10, { what: 'ten more blocks' });
    const head = Number(await rpc(node.rpcUrl, 'eth_blockNumber'));
    assert.equal(await rpc(node.rpcUrl, 'eth_getBalance', [TO, `0x${(head - 2).toString(16)}`]), '0x7');
    await assert.rejects(rpc(node.rpcUrl, 'eth_getBalance', [TO, `0x${(mined - 1).toString(16)}`]), /pruned/);
    // Blocks and receipts are kept.
    assert.equal((await rpc(node.rpcUrl, 'eth_getTransactionReceipt', [hash])).blockHash, receipt.blockHash);
  } finally {
    await node.stop();
  }
});
