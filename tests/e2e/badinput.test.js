// Bad input gets a proper JSON-RPC error and the node keeps serving: malformed JSON, invalid
// requests, wrong parameter types, oversized bodies and batches, garbage and badly signed raw
// transactions, and each refusal of the transaction pool in geth's words.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { parseGwei, serializeTransaction, keccak256 } from 'viem';
import { privateKeyToAccount, generatePrivateKey } from 'viem/accounts';
import { DEV_KEYS, LOCAL_GENESIS, rpc, runNodeExpectingFailure, startNode, waitFor } from './lib/node.js';

async function post(url, body, headers = { 'content-type': 'application/json' }) {
  const res = await fetch(url, { method: 'POST', headers, body });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, json, text };
}

/** POSTs `body` chunked (written in 16 KiB pieces, no Content-Length). */
function streamed(url, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, json, text });
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${url} within 10 s`)));
    req.on('error', reject);
    for (let at = 0; at < body.length; at += 16 * 1024) req.write(body.slice(at, at + 16 * 1024));
    req.end();
  });
}

const TO = '0x00000000000000000000000000000000000000aa';
const alice = privateKeyToAccount(DEV_KEYS[0]);
const base = { chainId: 1234, type: 'eip1559', to: TO, value: 1n, gas: 21000n, maxFeePerGas: parseGwei('100'), maxPriorityFeePerGas: 1n };

async function sendError(node, raw) {
  const { json } = await post(node.rpcUrl, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_sendRawTransaction', params: [raw] }));
  assert.ok(json.error, `expected an error, got ${JSON.stringify(json)}`);
  return json.error;
}

describe('bad input', () => {
  let node;
  before(async () => { node = await startNode({ blockTime: '300ms', args: ['--rpc.max-request-bytes', '65536', '--rpc.max-batch', '10'] }); });
  after(async () => { await node?.stop(); });

  test('malformed and invalid JSON-RPC requests', async () => {
    let r = await post(node.rpcUrl, '{"jsonrpc":"2.0","id":1,"method":');
    assert.equal(r.json.error.code, -32700);
    r = await post(node.rpcUrl, '{"jsonrpc":"2.0","id":1}');
    assert.equal(r.json.error.code, -32600);
    r = await post(node.rpcUrl, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_getBalance', params: [123, 'latest'] }));
    assert.equal(r.json.error.code, -32602);
    r = await post(node.rpcUrl, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_getBlockByNumber', params: ['not-a-block', false] }));
    assert.equal(r.json.error.code, -32602);
    r = await post(node.rpcUrl, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_doesNotExist', params: [] }));
    assert.equal(r.json.error.code, -32601);
  });

  test('oversized bodies and batches are refused', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_sendRawTransaction', params: [`0x${'ab'.repeat(70_000)}`] });
    const r = await post(node.rpcUrl, big);
    assert.equal(r.status, 413);
    const batch = Array.from({ length: 11 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'eth_blockNumber', params: [] }));
    const b = await post(node.rpcUrl, JSON.stringify(batch));
    assert.ok(b.json.error, `an 11-call batch is refused: ${b.text.slice(0, 200)}`);
    const ok = await post(node.rpcUrl, JSON.stringify(batch.slice(0, 3)));
    assert.equal(ok.json.length, 3);
    assert.ok(ok.json.every((x) => typeof x.result === 'string'));
    // The same, streamed without Content-Length: 413 past the cap too, and served below it.
    const streamedBig = await streamed(node.rpcUrl, big);
    assert.equal(streamedBig.status, 413, streamedBig.text);
    assert.equal(streamedBig.json.error.code, -32007);
    const streamedSmall = await streamed(node.rpcUrl, JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'eth_chainId', params: [] }));
    assert.equal(streamedSmall.json.result, '0x4d2');
  });

  test('garbage and badly signed raw transactions', async () => {
    assert.match((await sendError(node, '0xdeadbeef')).message, /^rlp/);
    assert.match((await sendError(node, '0x')).message, /^rlp/);
    const signed = await alice.signTransaction({ ...base, nonce: 0 });
    // Same transaction, signature r replaced by a value that is not a curve point's x.
    const parsed = { ...base, nonce: 0 };
    const forged = serializeTransaction(parsed, { r: `0x${'ff'.repeat(32)}`, s: '0x01', yParity: 0 });
    const err = await sendError(node, forged);
    assert.equal(err.code, -32000);
    assert.match(err.message, /invalid sender|rlp/);
    // Trailing bytes after a valid transaction.
    assert.match((await sendError(node, `${signed}00`)).message, /^rlp/);
  });

  test('pool refusals are worded as geth words them', async () => {
    const wrongChain = await alice.signTransaction({ ...base, chainId: 2019, nonce: 0 });
    assert.equal((await sendError(node, wrongChain)).message, 'invalid chain id for signer');
    assert.equal((await sendError(node, await alice.signTransaction({ ...base, gas: 20000n, nonce: 0 }))).message, 'intrinsic gas too low');
    assert.equal((await sendError(node, await alice.signTransaction({ ...base, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n, nonce: 0 }))).message, 'max fee per gas less than block base fee');
    assert.equal((await sendError(node, await alice.signTransaction({ ...base, gas: 1_000_000_000n, nonce: 0 }))).message, 'exceeds block gas limit');
    const pauper = privateKeyToAccount(generatePrivateKey());
    assert.equal((await sendError(node, await pauper.signTransaction({ ...base, nonce: 0 }))).message, 'insufficient funds for gas * price + value');
    // gas × fee cap + value past 2^256: wrapped, it would cost 1 wei.
    const wraps = 2n ** 256n - 21000n * parseGwei('100') + 1n;
    assert.equal((await sendError(node, await alice.signTransaction({ ...base, value: wraps, nonce: 0 }))).message, 'insufficient funds for gas * price + value');
    const legacyUnprotected = await alice.signTransaction({ type: 'legacy', to: TO, value: 1n, gas: 21000n, gasPrice: parseGwei('100'), nonce: 0 });
    assert.match((await sendError(node, legacyUnprotected)).message, /only replay-protected/);
    const blob = serializeTransaction({
      ...base, type: 'eip4844', nonce: 0, maxFeePerBlobGas: 1n,
      blobVersionedHashes: ['0x0100000000000000000000000000000000000000000000000000000000000000'],
    }, { r: '0x01', s: '0x01', yParity: 0 });
    assert.equal((await sendError(node, blob)).message, 'transaction type not supported');

    // A transaction parked on a gap, then the same again, then an underpriced replacement.
    const bob = privateKeyToAccount(DEV_KEYS[1]);
    const far = await bob.signTransaction({ ...base, nonce: 5 });
    assert.equal(await rpc(node.rpcUrl, 'eth_sendRawTransaction', [far]), keccak256(far));
    assert.equal((await sendError(node, far)).message, 'already known');
    const cheaper = await bob.signTransaction({ ...base, nonce: 5, maxFeePerGas: parseGwei('105'), maxPriorityFeePerGas: 1n });
    assert.equal((await sendError(node, cheaper)).message, 'replacement transaction underpriced');
    const status = await rpc(node.internalUrl, 'txpool_status');
    assert.equal(status.queued, '0x1');

    // Mined, then sent again: nonce too low.
    const first = await alice.signTransaction({ ...base, nonce: 0 });
    const hash = await rpc(node.rpcUrl, 'eth_sendRawTransaction', [first]);
    await waitFor(() => rpc(node.rpcUrl, 'eth_getTransactionReceipt', [hash]), { what: 'the first transfer' });
    const again = await alice.signTransaction({ ...base, nonce: 0, value: 2n });
    assert.equal((await sendError(node, again)).message, 'nonce too low');
  });

  test('the node keeps serving after all of it', async () => {
    const before = Number(await rpc(node.rpcUrl, 'eth_blockNumber'));
    await waitFor(async () => Number(await rpc(node.rpcUrl, 'eth_blockNumber')) > before, { what: 'a new block' });
    const health = await fetch(`${node.rpcUrl}/health`);
    assert.equal(health.status, 200);
    assert.equal(node.child.exitCode, null);
  });
});

test('a CHAIN_ID that disagrees with the genesis stops the node, naming both numbers', async () => {
  const { code, output } = await runNodeExpectingFailure(['--genesis', LOCAL_GENESIS], { CHAIN_ID: '2019' });
  assert.notEqual(code, 0);
  assert.match(output, /2019/);
  assert.match(output, /1234/);
  assert.match(output, /chain id mismatch/);
});
