// The faucet's payouts survive what goes wrong between accepting a claim and its receipt: a
// payout that stays unmined is re-sent with a higher fee (and paid once), and claims accepted
// while the node was down survive a kill -9 of the faucet and are paid after restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { privateKeyToAccount } from 'viem/accounts';
import { DEV_KEYS, LOCAL_GENESIS, rpc, startFaucet, startNode, tempDir, waitFor } from './lib/node.js';
import { claim, confirmed } from './lib/faucet.js';

const AMOUNT = 1_000_000_000_000_000_000n;
const GWEI = 1_000_000_000n;

test('a payout left unmined is re-sent with a higher fee and paid exactly once', async () => {
  // Room for one transfer per block, and a steady base fee: a competitor's higher tips keep the
  // faucet's payout out of the next blocks.
  const genesis = JSON.parse(fs.readFileSync(LOCAL_GENESIS, 'utf8'));
  genesis.gasLimit = '0x5208';
  genesis.config.evolve = { baseFeeMaxChangeDenominator: 1_000_000 };
  const genesisFile = path.join(tempDir(), 'one-transfer-per-block.json');
  fs.writeFileSync(genesisFile, JSON.stringify(genesis));
  const node = await startNode({ genesis: genesisFile, blockTime: '300ms' });
  const faucet = await startFaucet(node, { args: ['--trusted-proxies', '1', '--resend-after-blocks', '2'] });
  try {
    const competitor = privateKeyToAccount(DEV_KEYS[2]);
    for (let nonce = 0; nonce < 10; nonce++) {
      const raw = await competitor.signTransaction({
        chainId: 1234, type: 'eip1559', to: '0x000000000000000000000000000000000000beef', value: 1n, gas: 21000n,
        nonce, maxFeePerGas: 200n * GWEI, maxPriorityFeePerGas: 50n * GWEI,
      });
      await rpc(node.rpcUrl, 'eth_sendRawTransaction', [raw]);
    }
    const target = '0x00000000000000000000000000000000000fee01';
    const accepted = await claim(faucet, target, '10.7.0.1');
    assert.equal(accepted.status, 202);
    const firstHash = accepted.body.tx_hash;
    assert.match(firstHash, /^0x[0-9a-f]{64}$/);
    const done = await confirmed(faucet, accepted.body.claim_id);
    assert.notEqual(done.tx_hash, firstHash, 'the payout that was mined is a re-sent version');
    assert.equal(await rpc(node.rpcUrl, 'eth_getTransactionReceipt', [firstHash]), null, 'the first version was replaced');
    const first = await rpc(node.rpcUrl, 'eth_getTransactionByHash', [firstHash]);
    assert.equal(first, null, 'the replaced version is gone from the pool');
    const mined = await rpc(node.rpcUrl, 'eth_getTransactionByHash', [done.tx_hash]);
    assert.ok(BigInt(mined.maxPriorityFeePerGas) > GWEI, `tip bumped above 1 gwei (${BigInt(mined.maxPriorityFeePerGas)})`);
    assert.equal(BigInt(mined.nonce), 0n, 'same nonce as the first version');
    assert.match(faucet.output, /re-sending with a higher fee/);
    // Later blocks change nothing: paid once.
    const head = BigInt(await rpc(node.rpcUrl, 'eth_blockNumber'));
    await waitFor(async () => BigInt(await rpc(node.rpcUrl, 'eth_blockNumber')) > head + 3n, { what: 'three more blocks' });
    assert.equal(BigInt(await rpc(node.rpcUrl, 'eth_getBalance', [target, 'latest'])), AMOUNT);
  } finally {
    await faucet.stop();
    await node.stop();
  }
});

test('claims accepted while the node is down survive kill -9 of the faucet and are paid after restart', async () => {
  let node = await startNode({ blockTime: '300ms' });
  let faucet = await startFaucet(node, { args: ['--trusted-proxies', '1'] });
  try {
    await node.kill9();
    const targets = [1, 2, 3].map((i) => `0x00000000000000000000000000000000000fee1${i}`);
    const accepted = [];
    for (const [i, target] of targets.entries()) {
      const r = await claim(faucet, target, `10.8.0.${i}`);
      assert.equal(r.status, 202, 'accepted while the node is down');
      assert.equal(r.body.status, 'queued');
      assert.equal(r.body.tx_hash, null);
      accepted.push(r.body.claim_id);
    }
    await faucet.kill9();
    node = await startNode({ datadir: node.datadir, blockTime: '300ms' });
    faucet = await startFaucet(node, { dataDir: faucet.dataDir, args: ['--trusted-proxies', '1'] });
    for (const id of accepted) await confirmed(faucet, id);
    for (const target of targets) {
      assert.equal(BigInt(await rpc(node.rpcUrl, 'eth_getBalance', [target, 'latest'])), AMOUNT);
    }
    assert.equal((await claim(faucet, targets[0], '10.8.1.1')).status, 429, 'the cooldown survived too');
  } finally {
    await faucet.stop();
    await node.stop();
  }
});
