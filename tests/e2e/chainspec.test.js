// ev-reth's chainspec extras change execution as configured: the base fee goes to the sink
// instead of being burned, and the contract size limit is the genesis' own.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseGwei } from 'viem';
import { DEV_KEYS, LOCAL_GENESIS, rpc, startNode, tempDir } from './lib/node.js';
import { clients } from './lib/clients.js';

const SINK = '0x00000000000000000000000000000000000051c0';

function genesisWith(evolve) {
  const genesis = JSON.parse(fs.readFileSync(LOCAL_GENESIS, 'utf8'));
  genesis.config.evolve = evolve;
  const file = path.join(tempDir('ande-genesis-'), 'genesis.json');
  fs.writeFileSync(file, JSON.stringify(genesis));
  return file;
}

// Init code returning `size` zero bytes as the contract's code.
function initCodeOfSize(size) {
  return `0x62${size.toString(16).padStart(6, '0')}6000f3`;
}

describe('chainspec extras', () => {
  let node;
  before(async () => {
    node = await startNode({ genesis: genesisWith({ baseFeeSink: SINK, contractSizeLimit: 49152 }), blockTime: '300ms' });
  });
  after(async () => { await node?.stop(); });

  test('the base fee is credited to the sink', async () => {
    const { publicClient, wallet } = clients(node, DEV_KEYS[0]);
    const before = await publicClient.getBalance({ address: SINK });
    const hash = await wallet.sendTransaction({ to: SINK.replace('51c0', '51c1'), value: 1n });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    const block = await publicClient.getBlock({ blockNumber: receipt.blockNumber });
    const after = await publicClient.getBalance({ address: SINK, blockNumber: receipt.blockNumber });
    assert.equal(after - before, receipt.gasUsed * block.baseFeePerGas);
    assert.ok(after > 0n);
  });

  test('a contract above EIP-170 but within the genesis limit deploys', async () => {
    const { publicClient, wallet } = clients(node, DEV_KEYS[1]);
    const hash = await wallet.sendTransaction({ data: initCodeOfSize(30_000), gas: 10_000_000n, maxFeePerGas: parseGwei('50') });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success');
    const code = await rpc(node.rpcUrl, 'eth_getCode', [receipt.contractAddress, 'latest']);
    assert.equal((code.length - 2) / 2, 30_000);
  });
});

test('the default limit (EIP-170) refuses the same contract', async () => {
  const node = await startNode({ blockTime: '300ms' });
  try {
    const { publicClient, wallet } = clients(node, DEV_KEYS[1]);
    const hash = await wallet.sendTransaction({ data: initCodeOfSize(30_000), gas: 10_000_000n, maxFeePerGas: parseGwei('50') });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'reverted');
    assert.equal(receipt.contractAddress && await rpc(node.rpcUrl, 'eth_getCode', [receipt.contractAddress, 'latest']), '0x');
  } finally {
    await node.stop();
  }
});
