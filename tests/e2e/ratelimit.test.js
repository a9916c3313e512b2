// Per-client rate limits on the node's public ports, the explorer and the faucet page: a client
// past its burst gets 429 with a JSON body and Retry-After while other clients are served;
// X-Forwarded-For counts only from trusted proxies. Clients are told apart by their source
// address on loopback (127.0.0.x).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import WebSocket from 'ws';
import fs from 'node:fs';
import path from 'node:path';
import { LOCAL_GENESIS, runAnde, runNodeExpectingFailure, startExplorer, startFaucet, startFaucetUi, startNode, tempDir } from './lib/node.js';

const KEY = 'a-rate-limit-admin-key-0123456789';
const PARTNER = 'a-partner-of-ours-0123456789abcdef';

/** A partner keys file (RPC_PARTNER_KEYS_FILE) holding `text`. */
function partnerKeys(text) {
  const file = path.join(tempDir('ande-partners-'), 'rpc_partner_keys');
  fs.writeFileSync(file, text, { mode: 0o600 });
  return file;
}

/** POSTs `body` from `localAddress`; resolves with the status, the Retry-After header and the JSON body. */
function post(url, body, { localAddress = '127.0.0.1', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(url, { method: 'POST', localAddress, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers } }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, retryAfter: res.headers['retry-after'], body: JSON.parse(text) }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${url} within 10 s`)));
    req.on('error', reject);
    req.end(data);
  });
}

const call = (method = 'eth_blockNumber', id = 1) => ({ jsonrpc: '2.0', id, method, params: [] });

describe('a limit of 10 calls a second, burst 20', () => {
  let node;
  // The same burst refilled only every 100 s, so what a test counts does not hang on its speed.
  let slow;
  before(async () => {
    node = await startNode({ args: ['--rpc.rate-limit', '10', '--rpc.rate-burst', '20'], env: { RPC_ADMIN_KEY: KEY, RPC_PARTNER_KEYS_FILE: partnerKeys(`# acme\n${PARTNER}\n\nanother-partner-0123456789abcdef\n`) } });
    slow = await startNode({ args: ['--rpc.rate-limit', '0.01', '--rpc.rate-burst', '20'] });
  });
  after(async () => {
    await node?.stop();
    await slow?.stop();
  });

  test('a burst of 40 from one client: the burst is served, the rest get 429 with a JSON-RPC error and Retry-After; another client is served right after', async () => {
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => post(node.rpcUrl, call('eth_blockNumber', i), { localAddress: '127.0.0.2' })));
    const other = await post(node.rpcUrl, call(), { localAddress: '127.0.0.3' });
    const seconds = (Date.now() - started) / 1000;
    const served = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(served.length + refused.length, 40, `every answer is 200 or 429: ${answers.map((a) => a.status)}`);
    // The burst, plus what refilled while the requests were in flight.
    assert.ok(served.length >= 20 && served.length <= 20 + Math.ceil(10 * seconds), `${served.length} served in ${seconds} s`);
    for (const a of served) assert.match(a.body.result, /^0x/);
    for (const a of refused) {
      assert.equal(a.body.error.code, -32005);
      assert.match(a.body.error.message, /^rate limit exceeded \(10 calls\/s, burst 20\): retry in \d+ ms$/);
      assert.ok(a.body.error.data.retryAfterMs >= 1);
      assert.ok(Number(a.retryAfter) >= 1, `Retry-After: ${a.retryAfter}`);
      assert.equal(typeof a.body.id, 'number', 'the refusal answers the call it refuses');
    }
    assert.equal(other.status, 200, 'another client is not held back');
    assert.match(other.body.result, /^0x/);
  });

  test('the admin key and the internal port are not limited', async () => {
    const keyed = await Promise.all(Array.from({ length: 30 }, () => post(node.rpcUrl, call(), { localAddress: '127.0.0.4', headers: { authorization: `Bearer ${KEY}` } })));
    assert.deepEqual([...new Set(keyed.map((a) => a.status))], [200]);
    const internal = await Promise.all(Array.from({ length: 30 }, () => post(node.internalUrl, call(), { localAddress: '127.0.0.4' })));
    assert.deepEqual([...new Set(internal.map((a) => a.status))], [200]);
  });

  test('a partner key is not limited and opens no namespace beyond the public ones', async () => {
    const keyed = await Promise.all(Array.from({ length: 30 }, () => post(node.rpcUrl, call(), { localAddress: '127.0.0.5', headers: { authorization: `Bearer ${PARTNER}` } })));
    assert.deepEqual([...new Set(keyed.map((a) => a.status))], [200], '30 at once, past the burst of 20');
    const txpool = await post(node.rpcUrl, call('txpool_status'), { localAddress: '127.0.0.6', headers: { authorization: `Bearer ${PARTNER}` } });
    assert.equal(txpool.body.error.code, -32601, 'txpool_ stays behind the admin key');
    const admin = await post(node.rpcUrl, call('txpool_status'), { localAddress: '127.0.0.6', headers: { authorization: `Bearer ${KEY}` } });
    assert.ok(admin.body.result, 'which opens it');
    // A key that is no partner's is anonymous: limited like anyone.
    const stranger = await Promise.all(Array.from({ length: 30 }, () => post(node.rpcUrl, call(), { localAddress: '127.0.0.7', headers: { authorization: 'Bearer not-a-partner-0123456789abcdef' } })));
    assert.ok(stranger.some((a) => a.status === 429), `an unknown key is limited: ${stranger.map((a) => a.status)}`);
  });

  test('a batch is charged per entry: one larger than the burst is refused whole', async () => {
    const batch = Array.from({ length: 21 }, (_, i) => call('eth_chainId', i));
    const big = await post(slow.rpcUrl, batch, { localAddress: '127.0.0.5' });
    assert.equal(big.status, 429);
    assert.equal(big.body.error.code, -32005);
    assert.match(big.body.error.message, /larger than the rate limit's burst \(20\) is never served/);
    assert.equal(big.retryAfter, undefined, 'no Retry-After: waiting would not help');
    const fits = await post(slow.rpcUrl, batch.slice(0, 15), { localAddress: '127.0.0.5' });
    assert.equal(fits.status, 200);
    assert.equal(fits.body.length, 15);
    const rest = await post(slow.rpcUrl, batch.slice(0, 15), { localAddress: '127.0.0.5' });
    assert.equal(rest.status, 429, 'the bucket held 5 calls, not 15');
    assert.equal((await post(slow.rpcUrl, batch.slice(0, 5), { localAddress: '127.0.0.5' })).status, 200, 'but it held 5');
  });

  test('over WebSocket each call past the limit is answered -32005', async () => {
    const socket = new WebSocket(slow.wsUrl, { localAddress: '127.0.0.6' });
    await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject); });
    try {
      const answers = new Map();
      const all = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${answers.size} of 30 WebSocket answers within 10 s`)), 10_000);
        socket.on('message', (data) => {
          const message = JSON.parse(data);
          answers.set(message.id, message);
          if (answers.size === 30) { clearTimeout(timer); resolve(); }
        });
      });
      for (let i = 0; i < 30; i++) socket.send(JSON.stringify(call('eth_blockNumber', i)));
      await all;
      const refused = [...answers.values()].filter((m) => m.error);
      assert.equal(refused.length, 10, `the 10 past the burst of 20 are refused: ${refused.length} were`);
      for (const m of refused) assert.equal(m.error.code, -32005);
    } finally {
      socket.close();
    }
  });
});

test('X-Forwarded-For names the client only when the peer is a trusted proxy', async () => {
  const trusting = await startNode({ args: ['--rpc.rate-limit', '0.01', '--rpc.rate-burst', '2', '--rpc.trusted-proxies', '127.0.0.7/32'] });
  try {
    const from = (client, localAddress = '127.0.0.7') => post(trusting.rpcUrl, call(), { localAddress, headers: { 'x-forwarded-for': client } });
    assert.deepEqual([(await from('198.51.100.1')).status, (await from('198.51.100.1')).status, (await from('198.51.100.1')).status], [200, 200, 429]);
    assert.equal((await from('198.51.100.2')).status, 200, 'another client behind the proxy has its own bucket');
    // A forged entry before the proxy's own does not buy a new bucket.
    assert.equal((await from('203.0.113.5, 198.51.100.1')).status, 429);
    // Not from the proxy: the header is ignored and the peer is the client.
    assert.deepEqual([(await from('198.51.100.3', '127.0.0.8')).status, (await from('198.51.100.4', '127.0.0.8')).status, (await from('198.51.100.5', '127.0.0.8')).status], [200, 200, 429]);
  } finally {
    await trusting.stop();
  }
});

test('a bad rate, proxy list or partner key stops the node at start', async () => {
  const rate = await runNodeExpectingFailure(['--genesis', LOCAL_GENESIS], { RPC_RATE_LIMIT: '-1' });
  assert.notEqual(rate.code, 0);
  assert.match(rate.output, /RPC_RATE_LIMIT is -1: it needs a number of calls a second, or 0 for no limit/);
  const proxies = await runNodeExpectingFailure(['--genesis', LOCAL_GENESIS], { RPC_TRUSTED_PROXIES: '10.0.0.0/8,proxy' });
  assert.notEqual(proxies.code, 0);
  assert.match(proxies.output, /"proxy" is not an IP address or network/);
  const short = await runNodeExpectingFailure(['--genesis', LOCAL_GENESIS], { RPC_PARTNER_KEYS_FILE: partnerKeys('# ok\nshort-key\n') });
  assert.notEqual(short.code, 0);
  assert.match(short.output, /line 2 of RPC_PARTNER_KEYS_FILE has 9 characters; it needs at least 16/);
  assert.doesNotMatch(short.output, /short-key/, 'the key is not printed');
  const admin = await runNodeExpectingFailure(['--genesis', LOCAL_GENESIS], { RPC_ADMIN_KEY: KEY, RPC_PARTNER_KEYS_FILE: partnerKeys(`${KEY}\n`) });
  assert.notEqual(admin.code, 0);
  assert.match(admin.output, /line 1 of RPC_PARTNER_KEYS_FILE is the admin key/);
});

/** GETs `url` from `localAddress`; resolves with the status, Retry-After and the body's text. */
function get(url, { localAddress = '127.0.0.1', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { localAddress, agent: false, headers }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, retryAfter: res.headers['retry-after'], text }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${url} within 10 s`)));
    req.on('error', reject);
  });
}

describe('the explorer and the faucet page: 3 requests per client, refilled every 100 s', () => {
  const LIMIT = { HTTP_RATE_LIMIT: '0.01', HTTP_RATE_BURST: '3', HTTP_RATE_TRUSTED_PROXIES: '127.0.0.7' };
  let node;
  let explorer;
  let faucet;
  let ui;
  before(async () => {
    node = await startNode();
    explorer = await startExplorer(node, { env: LIMIT });
    faucet = await startFaucet(node);
    ui = await startFaucetUi(faucet, { env: LIMIT });
  });
  after(async () => {
    for (const service of [ui, faucet, explorer, node]) await service?.stop();
  });

  for (const [name, page] of [['explorer', () => explorer.url], ['faucet page', () => ui.url]]) {
    test(`${name}: the fourth request gets 429 with Retry-After and a JSON body; /health asked directly is never charged; others are served`, async () => {
      const from = (localAddress, headers) => get(`${page()}/`, { localAddress, headers });
      for (let i = 0; i < 3; i++) assert.equal((await from('127.0.0.1')).status, 200);
      const refused = await from('127.0.0.1');
      assert.equal(refused.status, 429);
      assert.ok(Number(refused.retryAfter) >= 1, `Retry-After: ${refused.retryAfter}`);
      assert.match(JSON.parse(refused.text).error, /rate limit exceeded \(0\.01 calls\/s, burst 3\): retry in \d+ ms/);
      assert.equal((await get(`${page()}/health`)).status, 200, 'health checks are not limited');
      assert.equal((await from('127.0.0.2')).status, 200, 'another client is served');
      // Behind a trusted proxy each forwarded client has its own bucket; a forged entry before it does not.
      const proxied = (client) => from('127.0.0.7', { 'x-forwarded-for': client });
      assert.deepEqual([(await proxied('198.51.100.1')).status, (await proxied('198.51.100.1')).status, (await proxied('198.51.100.1')).status, (await proxied('198.51.100.1')).status], [200, 200, 200, 429]);
      assert.equal((await proxied('203.0.113.5, 198.51.100.1')).status, 429);
      assert.equal((await get(`${page()}/health`, { localAddress: '127.0.0.7', headers: { 'x-forwarded-for': '198.51.100.1' } })).status, 429, 'through a proxy /health counts');
      assert.equal((await proxied('198.51.100.2')).status, 200);
      // Not from the proxy: the header is ignored.
      for (let i = 0; i < 3; i++) assert.equal((await from('127.0.0.3', { 'x-forwarded-for': `198.51.100.${10 + i}` })).status, 200);
      assert.equal((await from('127.0.0.3', { 'x-forwarded-for': '198.51.100.20' })).status, 429);
    });
  }
});

test('a bad request rate stops the explorer and the faucet page at start', async () => {
  for (const command of [['explorer', '--rpc-url', 'http://127.0.0.1:9'], ['faucet-ui', '--faucet-api-url', 'http://127.0.0.1:9']]) {
    const { code, output } = await runAnde([...command, '--port', '0'], { env: { HTTP_RATE_LIMIT: '-2' } });
    assert.notEqual(code, 0, command[0]);
    assert.match(output, /HTTP_RATE_LIMIT is -2: it needs a number of calls a second, or 0 for no limit/, command[0]);
  }
});
