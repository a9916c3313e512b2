// The node's method policy: the public ports serve eth_, net_ and web3_ to anyone, and the rest
// (debug_, txpool_, ande_) only with the admin key; the internal port serves everything.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { DEV_KEYS, LOCAL_GENESIS, cast, rpc, runNodeExpectingFailure, startNode, tempDir } from './lib/node.js';

const KEY = 'an-admin-key-for-tests-0123456789';
const BOB = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

async function post(url, body, headers = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

const call = (method, params = [], id = 1) => ({ jsonrpc: '2.0', id, method, params });

/** Opens a WebSocket with `headers`; resolves with a function that sends one call and waits for its answer. */
async function openWs(url, headers = {}) {
  const socket = new WebSocket(url, { headers });
  await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject); });
  let next = 1;
  const send = (method, params = []) => new Promise((resolve, reject) => {
    const id = next++;
    const timer = setTimeout(() => reject(new Error(`no answer to ${method} over WebSocket within 10 s`)), 10_000);
    const onMessage = (data) => {
      const message = JSON.parse(data);
      if (message.id !== id) return;
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(message);
    };
    socket.on('message', onMessage);
    socket.send(JSON.stringify(call(method, params, id)));
  });
  return { send, close: () => socket.close() };
}

describe('method policy', () => {
  let node;
  let hash;

  before(async () => {
    const keyFile = path.join(tempDir('ande-secret-'), 'admin.key');
    fs.writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
    node = await startNode({ blockTime: '300ms', env: { RPC_ADMIN_KEY_FILE: keyFile }, args: ['--rpc.max-subscriptions', '2'] });
    const out = JSON.parse(cast('send', '--rpc-url', node.rpcUrl, '--private-key', DEV_KEYS[1], BOB, '--value', '1', '--json'));
    hash = out.transactionHash;
  });
  after(async () => { await node?.stop(); });

  test('the public ports serve eth_, net_ and web3_ and refuse the other namespaces with -32601, naming them', async () => {
    assert.match(await rpc(node.rpcUrl, 'eth_blockNumber'), /^0x/);
    assert.equal(await rpc(node.rpcUrl, 'net_version'), '1234');
    assert.match(await rpc(node.rpcUrl, 'web3_clientVersion'), /ande/i);
    for (const url of [node.rpcUrl, node.wsUrl.replace('ws:', 'http:')]) {
      for (const [method, params] of [['debug_traceTransaction', [hash, {}]], ['txpool_content', []], ['ande_daStatus', []]]) {
        const { status, body } = await post(url, call(method, params));
        assert.equal(status, 200);
        assert.equal(body.error?.code, -32601, `${method} on ${url}: ${JSON.stringify(body)}`);
        const namespace = method.split('_')[0];
        assert.match(body.error.message, new RegExp(`^${method} is not public here: the ${namespace} namespace needs the admin key`));
      }
    }
    // A method nobody serves is still "not found", not a policy refusal.
    const unknown = await post(node.rpcUrl, call('foo_bar'));
    assert.equal(unknown.body.error.code, -32601);
    assert.doesNotMatch(unknown.body.error.message, /not public/);
  });

  test('with the admin key the public port serves everything; another bearer is anonymous', async () => {
    const bearer = { authorization: `Bearer ${KEY}` };
    const traced = await post(node.rpcUrl, call('debug_traceTransaction', [hash, { tracer: 'callTracer' }]), bearer);
    assert.equal(traced.body.result?.to?.toLowerCase(), BOB.toLowerCase(), JSON.stringify(traced.body));
    assert.ok((await post(node.rpcUrl, call('txpool_status'), bearer)).body.result);
    assert.ok((await post(node.rpcUrl, call('txpool_status'), { authorization: `bearer ${KEY}` })).body.result, 'the scheme in any case');
    // A wrong key (or a token meant for someone else): the public namespaces only.
    for (const authorization of [`Bearer ${KEY}x`, 'Bearer someone-elses-token', 'Basic dXNlcjpwYXNz']) {
      assert.match((await post(node.rpcUrl, call('eth_blockNumber'), { authorization })).body.result, /^0x/);
      assert.equal((await post(node.rpcUrl, call('txpool_status'), { authorization })).body.error?.code, -32601, authorization);
    }
    // In a batch, every entry carries the key.
    const { body: batch } = await post(node.rpcUrl, [call('txpool_status', [], 1), call('ande_daStatus', [], 2), call('eth_chainId', [], 3)], bearer);
    assert.deepEqual(batch.map((a) => [a.id, 'result' in a]).sort(), [[1, true], [2, true], [3, true]], JSON.stringify(batch));
    // A real client with the key in its headers.
    const status = JSON.parse(cast('rpc', 'txpool_status', '--rpc-url', node.rpcUrl, '--rpc-headers', `Authorization: Bearer ${KEY}`));
    assert.ok('pending' in status, JSON.stringify(status));
    assert.throws(() => cast('rpc', 'txpool_status', '--rpc-url', node.rpcUrl), /not public here/);
  });

  test('over WebSocket the key is read from the upgrade request', async () => {
    const plain = await openWs(node.wsUrl);
    const keyed = await openWs(node.wsUrl, { authorization: `Bearer ${KEY}` });
    try {
      assert.equal((await plain.send('txpool_status')).error?.code, -32601);
      assert.match((await plain.send('eth_blockNumber')).result, /^0x/);
      assert.ok((await keyed.send('txpool_status')).result);
    } finally {
      plain.close();
      keyed.close();
    }
  });

  test('a batch is judged entry by entry', async () => {
    const { body } = await post(node.rpcUrl, [call('eth_chainId', [], 1), call('debug_traceTransaction', [hash, {}], 2), call('net_version', [], 3)]);
    assert.equal(body.length, 3);
    const byId = Object.fromEntries(body.map((a) => [a.id, a]));
    assert.equal(byId[1].result, '0x4d2');
    assert.equal(byId[2].error?.code, -32601);
    assert.equal(byId[3].result, '1234');
  });

  test('the internal port serves every namespace without a key', async () => {
    const frame = await rpc(node.internalUrl, 'debug_traceTransaction', [hash, { tracer: 'callTracer' }]);
    assert.equal(frame.to.toLowerCase(), BOB.toLowerCase());
    assert.equal(typeof (await rpc(node.internalUrl, 'ande_daStatus')).role, 'string');
    assert.equal((await fetch(`${node.internalUrl}/health`)).status, 200);
  });

  test('a WebSocket connection holds at most --rpc.max-subscriptions subscriptions', async () => {
    const ws = await openWs(node.wsUrl);
    try {
      assert.match((await ws.send('eth_subscribe', ['newHeads'])).result, /^0x[0-9a-f]{32}$/);
      assert.match((await ws.send('eth_subscribe', ['newHeads'])).result, /^0x[0-9a-f]{32}$/);
      const third = await ws.send('eth_subscribe', ['newHeads']);
      assert.equal(third.error?.code, -32006, `the third subscription is refused: ${JSON.stringify(third)}`);
    } finally {
      ws.close();
    }
  });
});

test('namespaces can be made public by configuration', async () => {
  const node = await startNode({ env: { RPC_PUBLIC_NAMESPACES: 'eth,net,web3,txpool' } });
  try {
    assert.ok((await rpc(node.rpcUrl, 'txpool_status')).pending !== undefined);
    await assert.rejects(rpc(node.rpcUrl, 'ande_daStatus'), (e) => e.rpc.code === -32601);
  } finally {
    await node.stop();
  }
});

test('a namespace the node does not serve, or a short admin key, stops the node at start', async () => {
  const unknown = await runNodeExpectingFailure(['--genesis', LOCAL_GENESIS], { RPC_PUBLIC_NAMESPACES: 'eth,admin' });
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.output, /RPC_PUBLIC_NAMESPACES names admin, which this node does not serve/);
  const short = await runNodeExpectingFailure(['--genesis', LOCAL_GENESIS, '--rpc.admin-key', 'short-key']);
  assert.notEqual(short.code, 0);
  assert.match(short.output, /the RPC admin key has 9 characters; it needs at least 16/);
  assert.doesNotMatch(short.output, /short-key/, 'the error does not print the key');
});
