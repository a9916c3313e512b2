// The production stack on a real Docker engine, driven only through `make prod-*` and the
// ports it publishes on 127.0.0.1: it starts healthy, serves the chain id and ~2 s blocks, pays a
// faucet claim through faucet-ui's proxy, survives a crash of the sequencer, round-trips a
// backup through a wipe, and `prod-stop` leaves nothing running.
// Postgres and Redis run as stand-ins built from Debian's packages (POSTGRES_IMAGE, REDIS_IMAGE):
// no registry is reachable here.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, batchRange, cast, freePort, rpc as rpcOnce, sleep, tempDir, waitFor } from '../lib/node.js';
import { claim, confirmed } from '../lib/faucet.js';
import { PROMETHEUS_STAND_IN, buildStandIn } from './stand-ins.js';

const STAND_INS = { REDIS_IMAGE: 'andechain/test-redis:local', POSTGRES_IMAGE: 'andechain/test-postgres:local', PROMETHEUS_IMAGE: PROMETHEUS_STAND_IN };
const PROJECT = 'andechain-ci';
const dir = tempDir('ande-docker-');
const envFile = path.join(dir, '.env.ci');
const ports = {};
let rpcUrl;
let uiUrl;

function sh(cmd, args, env = {}) {
  return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ENV_FILE: envFile, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}
const make = (target, env) => sh('make', ['-s', target], env);
const docker = (...args) => sh('docker', args).trim();
const containers = () => docker('ps', '--all', '--quiet', '--filter', `label=com.docker.compose.project=${PROJECT}`);
const containerOf = (service) => docker('ps', '--quiet', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', `label=com.docker.compose.service=${service}`);

// Containers restart under the test; a kept-alive connection to the old one fails once (the
// client's pool cannot know), so a network error is retried on a new connection.
async function rpc(url, method, params) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await rpcOnce(url, method, params);
    } catch (e) {
      if (e.rpc || attempt === 3) throw e;
      await sleep(200);
    }
  }
}

// debug_, txpool_ and ande_ on the published port: with the admin key prod-start generated.
async function adminRpc(method, params = []) {
  const key = fs.readFileSync(path.join(dir, 'secrets', 'ci', 'rpc_admin_key'), 'utf8').trim();
  const res = await fetch(rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
  const body = await res.json();
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

async function block(tag) {
  return rpc(rpcUrl, 'eth_getBlockByNumber', [tag, false]);
}

before(async () => {
  for (const image of Object.values(STAND_INS)) buildStandIn(image);
  for (const key of ['RPC', 'WS', 'METRICS', 'FAUCET_API', 'FAUCET_UI', 'DA', 'EXPLORER', 'BUNDLER', 'PAYMASTER', 'PROMETHEUS', 'ALERTMANAGER']) ports[key] = await freePort();
  rpcUrl = `http://127.0.0.1:${ports.RPC}`;
  uiUrl = `http://127.0.0.1:${ports.FAUCET_UI}`;
  fs.writeFileSync(envFile, [
    'STACK_ENV=ci', 'CHAIN_ID=1234', 'GENESIS_FILE=local.json', 'NETWORK_NAME=evstack_shared_ci',
    'BIND_ADDR=127.0.0.1', `RPC_HOST_PORT=${ports.RPC}`, `WS_HOST_PORT=${ports.WS}`, `METRICS_HOST_PORT=${ports.METRICS}`,
    `FAUCET_API_HOST_PORT=${ports.FAUCET_API}`, `FAUCET_UI_HOST_PORT=${ports.FAUCET_UI}`, `DA_HOST_PORT=${ports.DA}`, 'DA_BLOCK_TIME=1s', `EXPLORER_HOST_PORT=${ports.EXPLORER}`, 'EXPLORER_CPUS=1',
    'DA_NAMESPACE=andechain-ci', 'DA_BATCH_INTERVAL=1s',
    `SECRETS_DIR=${path.join(dir, 'secrets')}`, 'FAUCET_AMOUNT=1000000000000000000', 'COOLDOWN_PERIOD=86400',
    `REDIS_IMAGE=${STAND_INS.REDIS_IMAGE}`, `POSTGRES_IMAGE=${STAND_INS.POSTGRES_IMAGE}`,
    'ENABLE_MONITORING=true', `PROMETHEUS_IMAGE=${PROMETHEUS_STAND_IN}`, `ALERTMANAGER_IMAGE=${PROMETHEUS_STAND_IN}`,
    `PROMETHEUS_HOST_PORT=${ports.PROMETHEUS}`, `ALERTMANAGER_HOST_PORT=${ports.ALERTMANAGER}`,
    `BUNDLER_HOST_PORT=${ports.BUNDLER}`, 'ENABLE_PAYMASTER=true', `PAYMASTER_HOST_PORT=${ports.PAYMASTER}`, 'PAYMASTER_DEPOSIT=10000000000000000000',
    'SEQUENCER_CPUS=1', 'SEQUENCER_MEMORY=1g', 'POSTGRES_CPUS=1', 'POSTGRES_MEMORY=1g', 'DA_CPUS=1', '',
  ].join('\n'));
  down();
});

// Everything of the project, volumes too: also run first, so a run killed midway leaves no
// chain state (a journal, a deployments file) to the next.
function down() {
  try { sh('docker', ['compose', '--env-file', envFile, '-f', 'docker-compose.prod.yml', '--profile', 'monitoring', '--profile', 'sponsor', 'down', '--volumes', '--remove-orphans']); } catch { /* already down */ }
}
after(down);

test('prod-start brings every service to healthy', () => {
  const started = Date.now();
  make('prod-start');
  const seconds = (Date.now() - started) / 1000;
  console.log(`# prod-start to all healthy: ${seconds.toFixed(1)} s (image built)`);
  const states = docker('ps', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--format', '{{.Label "com.docker.compose.service"}} {{.Status}}');
  for (const service of ['ev-reth-sequencer', 'celestia-da', 'faucet-api', 'faucet-ui', 'explorer', 'bundler-4337', 'paymaster', 'postgres', 'redis']) {
    assert.match(states, new RegExp(`^${service} Up .*\\(healthy\\)$`, 'm'), `${service} is healthy:\n${states}`);
  }
  const once = docker('ps', '--all', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', 'label=com.docker.compose.service=deploy-contracts', '--format', '{{.Status}}');
  assert.match(once, /^Exited \(0\)/, `deploy-contracts ran once and finished: ${once}`);
  const networks = docker('network', 'ls', '--format', '{{.Name}}');
  assert.match(networks, /^evstack_shared_ci$/m);
  // Postgres and Redis are not published.
  for (const service of ['postgres', 'redis']) {
    assert.equal(docker('port', containerOf(service)), '', `${service} publishes no port`);
  }
});

test('prod-deploy-contracts puts the ERC-4337 contracts at their canonical addresses, once', async () => {
  const out = tempDir('ande-deployments-');
  make('prod-deploy-contracts', { DEPLOYMENTS_DIR: out });
  const file = JSON.parse(fs.readFileSync(path.join(out, 'ci.json'), 'utf8'));
  assert.equal(file.chainId, 1234);
  assert.match(file.contracts.verifyingPaymasterV07, /^0x[0-9a-f]{40}$/, 'the sponsoring paymaster, deployed at start');
  assert.equal(file.contracts.entryPointV07, '0x0000000071727de22e5e9d8baf0edac6f37da032');
  assert.equal(file.contracts.entryPointV08, '0x4337084d9e255ff0702461cf8895ce9e3b5ff108');
  for (const address of Object.values(file.contracts)) {
    assert.notEqual(await rpc(rpcUrl, 'eth_getCode', [address, 'latest']), '0x', `${address} has code`);
  }
  // genesis/local.json's second development key paid for it, at start (DEVELOPMENT ONLY).
  const deployer = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
  const nonce = await rpc(rpcUrl, 'eth_getTransactionCount', [deployer, 'latest']);
  assert.ok(Number(nonce) >= 5, 'EntryPoints, factories, the paymaster and its deposit');
  make('prod-deploy-contracts', { DEPLOYMENTS_DIR: out });
  assert.equal(await rpc(rpcUrl, 'eth_getTransactionCount', [deployer, 'latest']), nonce, 'a second run deploys nothing');
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'ci.json'), 'utf8')), file);
});

test('what the compose file publishes: RPC and faucet-ui on BIND_ADDR, the rest on loopback or not at all', () => {
  const config = (files) => JSON.parse(sh('docker', ['compose', '--env-file', envFile, ...files.flatMap((f) => ['-f', f]), '--profile', 'monitoring', 'config', '--format', 'json'], { BIND_ADDR: '0.0.0.0' }));
  const hosts = (service) => (service.ports ?? []).map((p) => `${p.host_ip}:${p.target}`).sort();
  const { services } = config(['docker-compose.prod.yml']);
  assert.deepEqual(hosts(services['ev-reth-sequencer']), ['0.0.0.0:8545', '0.0.0.0:8546', '127.0.0.1:9001']);
  assert.deepEqual(hosts(services['faucet-ui']), ['0.0.0.0:3001']);
  assert.deepEqual(hosts(services.explorer), ['0.0.0.0:4000']);
  assert.deepEqual(hosts(services['bundler-4337']), ['0.0.0.0:4337']);
  assert.deepEqual(hosts(services['deploy-contracts']), []);
  assert.deepEqual(services.explorer.networks.evstack_shared.aliases, ['blockscout']);
  assert.deepEqual(hosts(services['faucet-api']), ['127.0.0.1:8081'], 'the API is reached through faucet-ui only');
  assert.deepEqual(hosts(services['celestia-da']), ['127.0.0.1:26658']);
  assert.deepEqual(hosts(services.postgres), []);
  assert.deepEqual(hosts(services.redis), []);
  assert.deepEqual(hosts(services.prometheus), ['127.0.0.1:9090']);
  assert.deepEqual(hosts(services.alertmanager), ['127.0.0.1:9093']);
  const debug = config(['docker-compose.prod.yml', 'docker-compose.debug-ports.yml']).services;
  assert.deepEqual(hosts(debug.postgres), ['127.0.0.1:5432']);
  assert.deepEqual(hosts(debug.redis), ['127.0.0.1:6379']);
});

// celestia-node's JSON-RPC on the DA port, with the stack's token unless other headers are given.
async function daCall(method, params, headers) {
  const token = fs.readFileSync(path.join(dir, 'secrets', 'ci', 'da_auth_token'), 'utf8').trim();
  const res = await fetch(`http://127.0.0.1:${ports.DA}`, { method: 'POST',
    headers: { 'content-type': 'application/json', ...(headers ?? { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
  return { status: res.status, body: res.status === 200 ? await res.json() : null };
}

test('celestia-da answers celestia-node\'s header API with its token, and 401 without', async () => {
  assert.equal((await daCall('header.NetworkHead', [], {})).status, 401);
  assert.equal((await daCall('header.NetworkHead', [], { authorization: 'Bearer wrong' })).status, 401);
  const head = await waitFor(async () => (await daCall('header.NetworkHead', [])).body.result, { what: 'a DA block' });
  assert.ok(Number(head.header.height) >= 1);
  assert.equal(head.header.chain_id, 'private');
});

test('the sequencer posts its blocks to celestia-da, signed, in order', async () => {
  const status = await waitFor(async () => {
    const s = await adminRpc('ande_daStatus');
    return s.lastIncludedBlock >= 2 ? s : null;
  }, { timeout: 30_000, what: 'blocks in DA' });
  await assert.rejects(rpc(rpcUrl, 'ande_daStatus'), (e) => e.rpc?.code === -32601, 'without the key the published port refuses ande_');
  assert.equal(status.role, 'sequencer');
  const namespace = Buffer.from(status.namespace.slice(2), 'hex').toString('base64');
  const { body } = await daCall('blob.GetAll', [status.lastIncludedDaHeight, [namespace]]);
  const range = batchRange(body.result[0].data);
  assert.equal(range.chainId, 1234);
  assert.equal(range.last, status.lastIncludedBlock, 'the batch at the last DA height ends at the last included block');
  assert.ok(range.first >= 1 && range.first <= range.last);
  assert.equal(Number(await adminRpc('ande_getBlockDaHeight', [`0x${range.last.toString(16)}`])), status.lastIncludedDaHeight);
});

test('the chain id and ~2 s blocks over 127.0.0.1', async () => {
  assert.equal(cast('chain-id', '--rpc-url', rpcUrl), '1234');
  const start = BigInt(await rpc(rpcUrl, 'eth_blockNumber'));
  await waitFor(async () => BigInt(await rpc(rpcUrl, 'eth_blockNumber')) >= start + 4n, { timeout: 20_000, what: 'four blocks' });
  const stamps = [];
  for (let n = start; n <= start + 4n; n++) stamps.push(BigInt((await block(`0x${n.toString(16)}`)).timestamp));
  for (let i = 1; i < stamps.length; i++) assert.equal(stamps[i] - stamps[i - 1], 2n, `block ${start + BigInt(i)} is 2 s after its parent`);
});

test('a faucet claim through the faucet-ui proxy confirms', async () => {
  const address = '0x00000000000000000000000000000000000d0c01';
  const res = await claim({ url: uiUrl }, address);
  assert.equal(res.status, 202);
  const { tx_hash: hash } = res.body;
  const done = await confirmed({ url: uiUrl }, hash);
  assert.equal(JSON.parse(cast('receipt', '--json', '--rpc-url', rpcUrl, hash)).status, '0x1');
  assert.ok(done.block > 0);
  assert.equal(BigInt(await rpc(rpcUrl, 'eth_getBalance', [address, 'latest'])), 10n ** 18n);
  assert.equal((await claim({ url: uiUrl }, address)).status, 429);
});

test('the explorer indexes the chain into Postgres and answers as blockscout inside the network', async () => {
  const explorerUrl = `http://127.0.0.1:${ports.EXPLORER}`;
  const head = Number(await rpc(rpcUrl, 'eth_blockNumber'));
  await waitFor(async () => (await (await fetch(`${explorerUrl}/health`)).json()).indexed >= head, { timeout: 30_000, what: 'the explorer caught up' });
  const block = await (await fetch(`${explorerUrl}/api/v2/blocks/${head}`)).json();
  assert.equal(block.hash, (await rpc(rpcUrl, 'eth_getBlockByNumber', [`0x${head.toString(16)}`, false])).hash);
  // The spec's name for it, from another container on the network (a failed probe throws).
  docker('exec', containerOf('faucet-api'), 'ande', 'probe', 'http://blockscout:4000/health');
});

test('a user operation from an account holding nothing, through the published bundler and paymaster', async () => {
  const { createPublicClient, http } = await import('viem');
  const { createBundlerClient, createPaymasterClient } = await import('viem/account-abstraction');
  const { generatePrivateKey, privateKeyToAccount } = await import('viem/accounts');
  const { toSimpleSmartAccount } = await import('permissionless/accounts');
  const chain = { id: 1234, name: 'AndeChain CI', nativeCurrency: { name: 'Ande', symbol: 'ANDE', decimals: 18 }, rpcUrls: { default: { http: [rpcUrl] } } };
  const client = createPublicClient({ chain, transport: http(rpcUrl), pollingInterval: 200 });
  const account = await toSimpleSmartAccount({ client, owner: privateKeyToAccount(generatePrivateKey()), entryPoint: { address: '0x0000000071727De22E5E9d8BAf0edAc6f37da032', version: '0.7' } });
  const bundler = createBundlerClient({
    account, client, chain, transport: http(`http://127.0.0.1:${ports.BUNDLER}`),
    paymaster: createPaymasterClient({ transport: http(`http://127.0.0.1:${ports.PAYMASTER}`) }),
  });
  const hash = await bundler.sendUserOperation({ calls: [{ to: '0x000000000000000000000000000000000000beef', value: 0n }] });
  const receipt = await bundler.waitForUserOperationReceipt({ hash, timeout: 60_000 });
  assert.equal(receipt.success, true);
  assert.equal(await client.getBalance({ address: account.address }), 0n, 'sponsored: the account still holds nothing');
});

test('prod-health passes, and fails naming the service when one is down', () => {
  const report = make('prod-health');
  assert.match(report, /all services healthy/);
  assert.match(report, /✓ ev-reth-sequencer: head \d+ -> \d+/);
  assert.match(report, /✓ celestia-da: DA head \d+ -> \d+/);
  assert.match(report, /✓ bundler-4337: http/);
  assert.match(report, /✓ paymaster: http/);
  assert.match(report, /✓ deploy-contracts: ran once: Exited \(0\)/);
  docker('stop', containerOf('faucet-ui'));
  try {
    assert.throws(() => make('prod-health'), (e) => /✗ faucet-ui/.test(e.stdout) && /unhealthy: .*faucet-ui/.test(e.stdout));
  } finally {
    docker('start', docker('ps', '--all', '--quiet', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', 'label=com.docker.compose.service=faucet-ui'));
  }
});

test('monitoring: Prometheus scrapes every service, and a stopped faucet-api raises ServiceDown in Alertmanager', async () => {
  const prometheus = `http://127.0.0.1:${ports.PROMETHEUS}`;
  const alertmanager = `http://127.0.0.1:${ports.ALERTMANAGER}`;
  const json = async (url) => (await fetch(url)).json();
  await waitFor(async () => {
    const targets = (await json(`${prometheus}/api/v1/targets`)).data.activeTargets;
    return targets.length === 5 && targets.every((t) => t.health === 'up');
  }, { timeout: 30_000, what: 'every target up' });
  const head = (await json(`${prometheus}/api/v1/query?query=ande_head_block`)).data.result[0];
  assert.ok(Number(head.value[1]) > 0, 'the sequencer\'s head is scraped');
  const rules = (await json(`${prometheus}/api/v1/rules`)).data.groups.flatMap((g) => g.rules.map((r) => r.name));
  assert.ok(rules.includes('ServiceDown') && rules.includes('ChainStalled'), rules.join());

  const faucetDown = async () => (await json(`${alertmanager}/api/v2/alerts`))
    .some((a) => a.labels.alertname === 'ServiceDown' && a.labels.job === 'faucet-api' && a.status.state === 'active');
  assert.equal(await faucetDown(), false);
  docker('stop', containerOf('faucet-api'));
  try {
    // Scraped every 10 s, down for 30 s before it fires, evaluated every 10 s.
    await waitFor(faucetDown, { timeout: 90_000, interval: 2_000, what: 'ServiceDown{job="faucet-api"} in Alertmanager' });
  } finally {
    docker('start', docker('ps', '--all', '--quiet', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', 'label=com.docker.compose.service=faucet-api'));
    await waitFor(() => fetch(`http://127.0.0.1:${ports.FAUCET_API}/health`).then((r) => r.status === 200, () => false), { timeout: 30_000, what: 'faucet-api back' });
  }
});

test('a crashed sequencer is restarted by Docker and the chain goes on from where it was', async () => {
  const id = containerOf('ev-reth-sequencer');
  const before = await block('latest');
  // A crash, as an OOM kill or a fault looks to Docker: SIGKILL to the container's process.
  // (`docker kill` would count as a manual stop, which no restart policy undoes.)
  process.kill(Number(docker('inspect', '--format', '{{.State.Pid}}', id)), 'SIGKILL');
  await waitFor(() => docker('inspect', '--format', '{{.RestartCount}} {{.State.Health.Status}}', id).startsWith('1 healthy'),
    { timeout: 60_000, interval: 500, what: 'the sequencer restarted and healthy' });
  const same = await block(before.number);
  assert.equal(same.hash, before.hash, 'the blocks before the crash are kept');
  const head = BigInt(await rpc(rpcUrl, 'eth_blockNumber'));
  await waitFor(async () => BigInt(await rpc(rpcUrl, 'eth_blockNumber')) > head, { what: 'a new block after the restart' });
});

test('backup, wipe, restore: the same chain and the faucet cooldowns come back', async () => {
  // The address paid by the claim test above is cooling down; Redis keeps that.
  const claimAgain = () => claim({ url: uiUrl }, '0x00000000000000000000000000000000000d0c01');
  const cooling = await claimAgain();
  assert.equal(cooling.status, 429);
  assert.match(cooling.body.error, /this address claimed recently/);
  const backups = path.join(dir, 'backups');
  const daAtBackup = (await daCall('header.NetworkHead', [])).body.result;
  const archive = make('prod-backup', { BACKUP_DIR: backups }).trim().split('\n').at(-1);
  assert.ok(fs.existsSync(archive), `archive ${archive}`);
  assert.equal(fs.statSync(archive).mode & 0o777, 0o600, 'the archive holds keys and claims: owner-only');
  const manifest = JSON.parse(sh('tar', ['-xzOf', archive, '--wildcards', '*/manifest.json']));
  assert.deepEqual([manifest.chain_id, manifest.da_layer], [1234, 'local']);
  const kept = await block(manifest.head_number_before_stop);
  assert.equal(kept.hash, manifest.head_hash_before_stop);

  make('prod-restore', { ARCHIVE: archive, WIPE: '1' });
  // The DA block stored at the backup is back, byte for byte (a new DA chain would sign anew).
  const daAfter = (await daCall('header.GetByHeight', [Number(daAtBackup.header.height)])).body.result;
  assert.deepEqual(daAfter, daAtBackup);
  const restored = await block(manifest.head_number_before_stop);
  assert.equal(restored.hash, manifest.head_hash_before_stop, 'the restored chain has the same block at the backup head');
  const head = BigInt(await rpc(rpcUrl, 'eth_blockNumber'));
  await waitFor(async () => BigInt(await rpc(rpcUrl, 'eth_blockNumber')) > head, { what: 'blocks after the restore' });
  const res = await claimAgain();
  assert.equal(res.status, 429, 'the cooldown came back with Redis');
  assert.match(res.body.error, /this address claimed recently/);
});

test('prod-stop leaves nothing running', async () => {
  make('prod-stop');
  assert.equal(containers(), '');
  await sleep(100);
  await assert.rejects(fetch(rpcUrl), 'the RPC port is closed');
});

test('a stack without a chain id refuses to start, naming what is missing', () => {
  const mainnet = path.join(dir, '.env.nochain');
  fs.writeFileSync(mainnet, fs.readFileSync(envFile, 'utf8').replace('CHAIN_ID=1234', 'CHAIN_ID='));
  assert.throws(() => make('prod-start', { ENV_FILE: mainnet }), (e) => /CHAIN_ID is not set/.test(e.stderr));
  assert.equal(containers(), '');
});
