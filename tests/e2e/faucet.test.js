// The faucet against a real node (and a real Redis): claims pay out and confirm, cooldowns hold
// across restarts and replicas, concurrent claims get distinct nonces, bad input is refused, and
// a faucet pointed at the wrong chain refuses to run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ANDE, DEV_KEYS, freePort, rpc, startFaucet, startNode, startRedis, tempDir } from './lib/node.js';
import { execFileSync, spawn } from 'node:child_process';
import { claim, confirmed } from './lib/faucet.js';

const AMOUNT = 1_000_000_000_000_000_000n;

function address(i) {
  return `0x${(0xfa000000 + i).toString(16).padStart(40, '0')}`;
}

describe('faucet with the embedded store', () => {
  let node;
  let faucet;
  before(async () => {
    node = await startNode({ blockTime: '500ms' });
    faucet = await startFaucet(node, { args: ['--trusted-proxies', '1', '--chain-id', '1234'] });
  });
  after(async () => { await faucet?.stop(); await node?.stop(); });

  test('a claim pays out and confirms; a second one gets 429 with Retry-After', async () => {
    const first = await claim(faucet, address(1), '10.1.0.1');
    assert.equal(first.status, 202);
    assert.match(first.body.tx_hash, /^0x[0-9a-f]{64}$/);
    assert.equal(first.body.amount, AMOUNT.toString());
    const done = await confirmed(faucet, first.body.tx_hash);
    assert.ok(done.block > 0);
    assert.equal(BigInt(await rpc(node.rpcUrl, 'eth_getBalance', [address(1), 'latest'])), AMOUNT);
    const again = await claim(faucet, address(1), '10.1.0.2');
    assert.equal(again.status, 429);
    assert.ok(Number(again.headers.get('retry-after')) > 86_000);
    const sameIp = await claim(faucet, address(2), '10.1.0.1');
    assert.equal(sameIp.status, 429, 'one claim per client IP too');
  });

  test('bad input gets a 400 with a JSON error', async () => {
    const post = (body, type = 'application/json') => fetch(`${faucet.url}/api/claim`, { method: 'POST', headers: { 'content-type': type }, body });
    const cases = [
      [JSON.stringify({ address: '0x1234' }), 'application/json', /40 hex digits/],
      [JSON.stringify({ address: '0x70997970C51812dc3A010C7d01b50e0d17dc79c8' }), 'application/json', /checksum/],
      [JSON.stringify({ address: '0x0000000000000000000000000000000000000000' }), 'application/json', /zero address/],
      [JSON.stringify({ address: 'x'.repeat(10_000) }), 'application/json', /larger than/],
      ['address=0x70997970c51812dc3a010c7d01b50e0d17dc79c8', 'application/x-www-form-urlencoded', /content type/],
      ['{"address":', 'application/json', /body must be/],
    ];
    for (const [body, type, message] of cases) {
      const res = await post(body, type);
      assert.equal(res.status, 400, `${body.slice(0, 40)} is refused`);
      assert.match((await res.json()).error, message);
    }
    const unknown = await fetch(`${faucet.url}/api/claim/not-a-hash`);
    assert.equal(unknown.status, 400);
  });

  test('200 concurrent claims for distinct addresses all confirm, with no nonce error', async () => {
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => claim(faucet, address(1000 + i), `10.2.${i >> 8}.${i & 255}`)));
    assert.deepEqual([...new Set(results.map((r) => r.status))], [202]);
    for (const r of results) await confirmed(faucet, r.body.claim_id);
    const hashes = new Set();
    for (const r of results) hashes.add((await (await fetch(`${faucet.url}/api/claim/${r.body.claim_id}`)).json()).tx_hash);
    assert.equal(hashes.size, 200);
    for (let i = 0; i < 200; i += 37) {
      assert.equal(BigInt(await rpc(node.rpcUrl, 'eth_getBalance', [address(1000 + i), 'latest'])), AMOUNT);
    }
    const metrics = await (await fetch(`${faucet.url}/metrics`)).text();
    assert.match(metrics, /^ande_faucet_failures_total 0$/m);
    assert.match(metrics, /^ande_faucet_queue_depth 0$/m);
    assert.ok(!faucet.output.includes(faucet.key.slice(2)), 'the key never appears in the logs');
  });

  test('info names the chain, currency and faucet account', async () => {
    const info = await (await fetch(`${faucet.url}/api/info`)).json();
    assert.equal(info.chain_id, 1234);
    assert.equal(info.currency.symbol, 'ANDE');
    assert.equal(info.amount, AMOUNT.toString());
    assert.ok(BigInt(info.faucet_balance) > 0n);
  });

  test('a restart keeps the cooldown', async () => {
    await faucet.stop();
    faucet = await startFaucet(node, { dataDir: faucet.dataDir, args: ['--trusted-proxies', '1'] });
    assert.equal((await claim(faucet, address(1), '10.9.9.9')).status, 429);
  });
});

describe('faucet replicas on one Redis', () => {
  let node;
  let redis;
  let replicas = [];
  before(async () => {
    node = await startNode({ blockTime: '500ms' });
    redis = await startRedis();
    replicas = [
      await startFaucet(node, { redisUrl: redis.url, args: ['--trusted-proxies', '1'] }),
      await startFaucet(node, { redisUrl: redis.url, args: ['--trusted-proxies', '1'] }),
    ];
  });
  after(async () => {
    for (const r of replicas) await r.stop();
    await redis?.stop();
    await node?.stop();
  });

  test('200 concurrent claims for one address over two replicas pay exactly once', async () => {
    const target = address(77);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => claim(replicas[i % 2], target, `10.3.${i >> 8}.${i & 255}`)));
    const accepted = results.filter((r) => r.status === 202);
    assert.equal(accepted.length, 1, 'exactly one claim is accepted');
    assert.equal(results.filter((r) => r.status === 429).length, 199);
    const done = await confirmed(replicas[0], accepted[0].body.claim_id);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(BigInt(await rpc(node.rpcUrl, 'eth_getBalance', [target, 'latest'])), AMOUNT, 'paid once');
    // Finished, its record and its transaction's index entry expire after CLAIM_RETENTION (720 h).
    const ttl = (key) => Number(execFileSync('redis-cli', ['-u', redis.url, 'TTL', key], { encoding: 'utf8' }).trim());
    for (const key of [`faucet:claim:${accepted[0].body.claim_id}`, `faucet:tx:${done.tx_hash.toLowerCase()}`]) {
      const left = ttl(key);
      assert.ok(left > 0 && left <= 720 * 3600, `${key} expires (TTL ${left})`);
    }
  });

  test('claims spread over both replicas all confirm with distinct nonces', async () => {
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => claim(replicas[i % 2], address(5000 + i), `10.4.0.${i}`)));
    assert.deepEqual([...new Set(results.map((r) => r.status))], [202]);
    for (const r of results) await confirmed(replicas[0], r.body.claim_id);
  });

  test('cooldowns live in Redis: a restarted replica still refuses', async () => {
    await replicas[1].stop();
    replicas[1] = await startFaucet(node, { redisUrl: redis.url, args: ['--trusted-proxies', '1'] });
    assert.equal((await claim(replicas[1], address(77), '10.5.0.1')).status, 429);
  });
});

test('a faucet pointed at a node of another chain refuses to run, naming both ids', async () => {
  const node = await startNode({ blockTime: '500ms' });
  try {
    const port = await freePort();
    const child = spawn(ANDE, ['faucet', '--web3-provider', node.rpcUrl, '--chain-id', '2019', '--private-key', DEV_KEYS[3],
      '--data-dir', tempDir(), '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stderr.on('data', (d) => { output += d; });
    child.stdout.on('data', (d) => { output += d; });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.notEqual(code, 0);
    assert.match(output, /2019/);
    assert.match(output, /1234/);
    assert.ok(!output.includes(DEV_KEYS[3].slice(2)), 'the key is not echoed');
  } finally {
    await node.stop();
  }
});

test('the hourly outflow cap stops claims once spent', async () => {
  const node = await startNode({ blockTime: '500ms' });
  const faucet = await startFaucet(node, { args: ['--trusted-proxies', '1', '--hourly-cap', String(2n * AMOUNT)] });
  try {
    assert.equal((await claim(faucet, address(9001), '10.6.0.1')).status, 202);
    assert.equal((await claim(faucet, address(9002), '10.6.0.2')).status, 202);
    const third = await claim(faucet, address(9003), '10.6.0.3');
    assert.equal(third.status, 429);
    assert.match(third.body.error, /hourly budget/);
    assert.ok(Number(third.headers.get('retry-after')) <= 3600);
  } finally {
    await faucet.stop();
    await node.stop();
  }
});
