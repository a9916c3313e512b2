// Crash safety: kill -9 under steady transaction load, restart on the same data directory. Every
// transaction whose receipt a client saw is still there, in the same block, and the chain goes on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { privateKeyToAccount } from 'viem/accounts';
import { DEV_KEYS, rpc, sleep, startNode, waitFor } from './lib/node.js';

const TO = '0x000000000000000000000000000000000000c0de';

test('kill -9 under load loses no transaction whose receipt was seen', async () => {
  const node = await startNode({ blockTime: '250ms' });
  const senders = DEV_KEYS.map((k) => ({ account: privateKeyToAccount(k), nonce: 0 }));
  const sent = [];
  const nonceOf = new Map(); // hash -> [sender index, nonce]
  const seen = new Map(); // hash -> { blockHash, blockNumber }
  let stop = false;

  const load = senders.map(async (sender, index) => {
    while (!stop) {
      const raw = await sender.account.signTransaction({
        chainId: 1234, type: 'eip1559', to: TO, value: 1n, gas: 21000n, nonce: sender.nonce,
        maxFeePerGas: 100_000_000_000n, maxPriorityFeePerGas: 1n,
      });
      try {
        const hash = await rpc(node.rpcUrl, 'eth_sendRawTransaction', [raw]);
        sent.push(hash);
        nonceOf.set(hash, [index, sender.nonce]);
        sender.nonce += 1;
      } catch {
        return; // the node is gone
      }
      await sleep(5);
    }
  });
  const watch = (async () => {
    while (!stop) {
      for (const hash of sent.filter((h) => !seen.has(h)).slice(0, 200)) {
        try {
          const r = await rpc(node.rpcUrl, 'eth_getTransactionReceipt', [hash]);
          if (r) seen.set(hash, { blockHash: r.blockHash, blockNumber: r.blockNumber });
        } catch {
          return;
        }
      }
      await sleep(20);
    }
  })();

  await waitFor(() => seen.size >= 1000, { timeout: 60_000, what: '1000 receipts under load' });
  // Kill at an arbitrary point inside a block interval.
  await sleep(Math.floor(Math.random() * 250));
  const { signal } = await node.kill9();
  stop = true;
  await Promise.all([...load, watch]);
  assert.equal(signal, 'SIGKILL');
  const lastSeenBlock = Math.max(...[...seen.values()].map((v) => Number(v.blockNumber)));

  const restarted = await startNode({ datadir: node.datadir, blockTime: '250ms' });
  try {
    const head = Number(await rpc(restarted.rpcUrl, 'eth_blockNumber'));
    assert.ok(head >= lastSeenBlock, `head ${head} is at least the last block a receipt named (${lastSeenBlock})`);
    for (const [hash, expected] of seen) {
      const r = await rpc(restarted.rpcUrl, 'eth_getTransactionReceipt', [hash]);
      assert.ok(r, `receipt of ${hash} survives`);
      assert.equal(r.blockHash, expected.blockHash);
      assert.equal(r.status, '0x1');
    }
    // Consistent state: each sender's nonce is past every transaction of its that was seen, and
    // its next transaction is accepted and mined.
    for (const [index, { account }] of senders.entries()) {
      const nonce = Number(await rpc(restarted.rpcUrl, 'eth_getTransactionCount', [account.address, 'latest']));
      const seenNonces = [...seen.keys()].map((h) => nonceOf.get(h)).filter(([i]) => i === index).map(([, n]) => n);
      assert.ok(seenNonces.length > 0 && nonce > Math.max(...seenNonces), `sender ${index} nonce ${nonce}`);
    }
    const sender = senders[0].account;
    const nonce = Number(await rpc(restarted.rpcUrl, 'eth_getTransactionCount', [sender.address, 'latest']));
    const raw = await sender.signTransaction({
      chainId: 1234, type: 'eip1559', to: TO, value: 1n, gas: 21000n, nonce,
      maxFeePerGas: 100_000_000_000n, maxPriorityFeePerGas: 1n,
    });
    const hash = await rpc(restarted.rpcUrl, 'eth_sendRawTransaction', [raw]);
    await waitFor(() => rpc(restarted.rpcUrl, 'eth_getTransactionReceipt', [hash]), { what: 'a transaction after restart' });
    const newHead = Number(await rpc(restarted.rpcUrl, 'eth_blockNumber'));
    assert.ok(newHead > head, 'the chain continues after restart');
    const parent = await rpc(restarted.rpcUrl, 'eth_getBlockByNumber', [`0x${(head + 1).toString(16)}`, false]);
    const old = await rpc(restarted.rpcUrl, 'eth_getBlockByNumber', [`0x${head.toString(16)}`, false]);
    assert.equal(parent.parentHash, old.hash, 'the first new block builds on the last committed one');
  } finally {
    await restarted.stop();
  }
});
