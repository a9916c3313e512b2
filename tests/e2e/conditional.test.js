// eth_sendRawTransactionConditional, as ERC-4337 bundlers send bundles: conditions on storage
// slots, storage roots, block numbers and timestamps are checked when the transaction is
// submitted and again by the block that would take it, against the state that block reached,
// so a transaction whose condition an earlier transaction of the same block broke is dropped,
// never mined.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEV_KEYS, rpc, startNode, waitFor } from './lib/node.js';
import { clients } from './lib/clients.js';

// Stores its calldata's first word in slot 0: PUSH0 CALLDATALOAD PUSH0 SSTORE STOP.
const STORE_INIT = '0x645f355f55005f526005601bf3';
const word = (n) => `0x${BigInt(n).toString(16).padStart(64, '0')}`;
const GWEI = 1_000_000_000n;

describe('conditional transactions', () => {
  let node;
  let store;
  const [alice, bob, carol] = [1, 2, 3].map((i) => DEV_KEYS[i]);

  before(async () => {
    node = await startNode({ blockTime: '2s' });
    const { publicClient, wallet } = clients(node, DEV_KEYS[0]);
    const hash = await wallet.sendTransaction({ data: STORE_INIT });
    store = (await publicClient.waitForTransactionReceipt({ hash })).contractAddress;
    const set = await wallet.sendTransaction({ to: store, data: word(7) });
    await publicClient.waitForTransactionReceipt({ hash: set });
  });
  after(async () => { await node?.stop(); });

  async function signed(key, { data = word(0), tip = GWEI, nonce } = {}) {
    const { wallet, publicClient, account } = clients(node, key);
    const request = await wallet.prepareTransactionRequest({
      to: store, data, gas: 50_000n, maxFeePerGas: 100n * GWEI, maxPriorityFeePerGas: tip,
      nonce: nonce ?? await publicClient.getTransactionCount({ address: account.address, blockTag: 'pending' }),
    });
    return wallet.signTransaction(request);
  }
  const send = (raw, conditions) => rpc(node.rpcUrl, 'eth_sendRawTransactionConditional', [raw, conditions]);
  const slot0 = () => rpc(node.rpcUrl, 'eth_getStorageAt', [store, '0x0', 'latest']);
  const head = async () => Number(await rpc(node.rpcUrl, 'eth_blockNumber'));
  const nextBlock = async () => { const h = await head(); await waitFor(async () => (await head()) > h, { what: 'a new block', timeout: 10_000 }); };

  test('met conditions: mined', async () => {
    const { publicClient } = clients(node);
    const current = await slot0();
    const root = (await rpc(node.rpcUrl, 'eth_getProof', [store, [], 'latest'])).storageHash;
    const number = await head();
    const hash = await send(await signed(alice, { data: word(8) }), {
      knownAccounts: { [store]: { '0x0': current } }, blockNumberMin: `0x${number.toString(16)}`, blockNumberMax: `0x${(number + 20).toString(16)}`,
    });
    assert.equal((await publicClient.waitForTransactionReceipt({ hash })).status, 'success');
    assert.equal(await slot0(), word(8));
    const byRoot = await send(await signed(alice, { data: word(9) }), { knownAccounts: { [store]: (await rpc(node.rpcUrl, 'eth_getProof', [store, [], 'latest'])).storageHash } });
    assert.equal((await publicClient.waitForTransactionReceipt({ hash: byRoot })).status, 'success', 'a storage root condition');
    assert.notEqual(root, (await rpc(node.rpcUrl, 'eth_getProof', [store, [], 'latest'])).storageHash);
  });

  test('conditions already broken at submission: refused with -32003, or -32005 when too costly', async () => {
    const stale = word(12345);
    await assert.rejects(send(await signed(alice), { knownAccounts: { [store]: { '0x0': stale } } }),
      (e) => e.rpc.code === -32003 && /storage slot 0 of/.test(e.rpc.message));
    const number = await head();
    await assert.rejects(send(await signed(alice), { blockNumberMax: `0x${number.toString(16)}` }), (e) => e.rpc.code === -32003 && /block number/.test(e.rpc.message));
    await assert.rejects(send(await signed(alice), { timestampMax: '0x1' }), (e) => e.rpc.code === -32003 && /timestamp/.test(e.rpc.message));
    const slots = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [word(i), word(0)]));
    await assert.rejects(send(await signed(alice), { knownAccounts: { [store]: slots } }), (e) => e.rpc.code === -32005);
    await assert.rejects(rpc(node.rpcUrl, 'eth_sendRawTransactionConditional', ['0x02', {}]), (e) => e.rpc.code === -32000);
    await assert.rejects(rpc(node.rpcUrl, 'eth_sendRawTransactionConditional', [await signed(alice), { knownAccounts: 'everything' }]), (e) => e.rpc.code === -32602);
  });

  test('a condition broken by an earlier transaction of the same block: dropped, never mined, its nonce free', async () => {
    const { publicClient, account } = clients(node, bob);
    await nextBlock();
    const current = await slot0();
    // Carol's higher tip puts her write first in the block; Bob's transaction wants the slot
    // as it was before it.
    const carolHash = await rpc(node.rpcUrl, 'eth_sendRawTransaction', [await signed(carol, { data: word(4242), tip: 10n * GWEI })]);
    const nonce = await publicClient.getTransactionCount({ address: account.address });
    const bobHash = await send(await signed(bob, { data: word(1), nonce }), { knownAccounts: { [store]: { '0x0': current } } });
    const carolReceipt = await publicClient.waitForTransactionReceipt({ hash: carolHash });
    await nextBlock();
    assert.equal(await rpc(node.rpcUrl, 'eth_getTransactionReceipt', [bobHash]), null, 'never mined');
    assert.equal(await rpc(node.rpcUrl, 'eth_getTransactionByHash', [bobHash]), null, 'gone from the pool');
    assert.equal(await slot0(), word(4242));
    assert.equal(await publicClient.getTransactionCount({ address: account.address }), nonce, 'the nonce is unused');
    assert.ok(Number(carolReceipt.blockNumber) > 0);
    // A storage root that no longer holds is found by the block (submissions leave roots to it).
    const wrongRoot = await send(await signed(bob, { nonce }), { knownAccounts: { [store]: word(1) } });
    await nextBlock();
    await nextBlock();
    assert.equal(await rpc(node.rpcUrl, 'eth_getTransactionByHash', [wrongRoot]), null);
    assert.equal(await publicClient.getTransactionCount({ address: account.address }), nonce);
  });
});
