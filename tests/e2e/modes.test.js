// Lazy block production, polled filters, and history pruning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DEV_KEYS, LOCAL_GENESIS, rpc, sleep, startNode, tempDir, waitFor } from './lib/node.js';
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

// The deterministic CREATE2 deployer arrives as a pre-EIP-155 transaction signed by a key nobody
// holds (r = s = 0x2222...), so it can be deployed on any chain.
const CREATE2_DEPLOYER_TX = '0xf8a58085174876e800830186a08080b853604580600e600039806000f350fe7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf31ba02222222222222222222222222222222222222222222222222222222222222222a02222222222222222222222222222222222222222222222222222222222222222';
const CREATE2_DEPLOYER_SIGNER = '0x3fab184622dc19b6109349b94811493bf2a45362';
const CREATE2_DEPLOYER = '0x4e59b44847b379578588920ca78fbf26c0b4956c';

test('unprotected transactions only with --rpc.allow-unprotected-txs: the CREATE2 deployer lands', async () => {
  const strict = await startNode({ blockTime: '200ms' });
  try {
    await assert.rejects(rpc(strict.rpcUrl, 'eth_sendRawTransaction', [CREATE2_DEPLOYER_TX]), /only replay-protected/);
  } finally {
    await strict.stop();
  }
  // On a genesis without the deployer that genesis/local.json preinstalls: the transaction
  // deploys the same code that file carries.
  const genesis = JSON.parse(fs.readFileSync(LOCAL_GENESIS, 'utf8'));
  const preinstalled = genesis.alloc[CREATE2_DEPLOYER].code;
  delete genesis.alloc[CREATE2_DEPLOYER];
  const genesisFile = path.join(tempDir(), 'no-deployer.json');
  fs.writeFileSync(genesisFile, JSON.stringify(genesis));
  const node = await startNode({ genesis: genesisFile, blockTime: '200ms', args: ['--rpc.allow-unprotected-txs'] });
  try {
    const { publicClient, wallet } = clients(node, DEV_KEYS[0]);
    await publicClient.waitForTransactionReceipt({ hash: await wallet.sendTransaction({ to: CREATE2_DEPLOYER_SIGNER, value: 10n ** 16n }) });
    const hash = await rpc(node.rpcUrl, 'eth_sendRawTransaction', [CREATE2_DEPLOYER_TX]);
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.from.toLowerCase(), CREATE2_DEPLOYER_SIGNER);
    assert.equal(receipt.contractAddress.toLowerCase(), CREATE2_DEPLOYER);
    assert.equal(await rpc(node.rpcUrl, 'eth_getCode', [CREATE2_DEPLOYER, 'latest']), preinstalled, 'the genesis preinstalls this very code');
    const tx = await rpc(node.rpcUrl, 'eth_getTransactionByHash', [hash]);
    assert.equal(tx.chainId, undefined, 'a pre-EIP-155 transaction carries no chain id');
  } finally {
    const { code, signal } = await node.stop();
    assert.equal(code, 0, 'SIGTERM stops the node cleanly');
    assert.equal(signal, null);
  }
});
