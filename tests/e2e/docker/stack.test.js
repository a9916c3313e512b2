// The production stack on a real Docker engine, driven only through `make prod-*` and the
// ports it publishes: the edge's HTTPS and HTTP on every address, the rest on 127.0.0.1. It
// starts healthy, serves the chain id and ~2 s blocks, pays a faucet claim through faucet-ui's
// proxy and through the dApp in Chromium, answers through the edge over HTTPS and WSS with its limits, survives a crash of the
// sequencer, round-trips a backup through a wipe, and `prod-stop` leaves nothing running.
// Postgres, Redis, Prometheus and the edge's Caddy run as stand-ins built from Debian's packages
// (POSTGRES_IMAGE, ...): no registry is reachable here.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import crypto from 'node:crypto';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import WebSocket from 'ws';
import { CAST, ROOT, batchRange, cast, publishablePort, rpc as rpcOnce, sleep, tempDir, waitFor } from '../lib/node.js';
import { claim, confirmed } from '../lib/faucet.js';
import { launch } from '../lib/browser.js';
import { WALLET_RDNS, injectWallet } from '../lib/wallet.js';
import { generatePrivateKey } from 'viem/accounts';
import { CADDY_STAND_IN, PROMETHEUS_STAND_IN, buildStandIn } from './stand-ins.js';

const STAND_INS = { REDIS_IMAGE: 'andechain/test-redis:local', POSTGRES_IMAGE: 'andechain/test-postgres:local', PROMETHEUS_IMAGE: PROMETHEUS_STAND_IN, EDGE_IMAGE: CADDY_STAND_IN };
const DOMAIN = 'andechain-ci.localhost';
const PROJECT = 'andechain-ci';
// The version tags this run's images get (make's ANDE_REPO), removed at the end.
const REPO = process.env.ANDE_REPO ?? 'andechain/ande-ci';
const dir = tempDir('ande-docker-');
const envFile = path.join(dir, '.env.ci');
const ports = {};
let rpcUrl;
let uiUrl;
let claimHash;

function sh(cmd, args, env = {}) {
  return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ENV_FILE: envFile, ANDE_REPO: REPO, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}
const make = (target, env) => sh('make', ['-s', target], env);
const docker = (...args) => sh('docker', args).trim();
const containers = () => docker('ps', '--all', '--quiet', '--filter', `label=com.docker.compose.project=${PROJECT}`);
const containerOf = (service) => docker('ps', '--quiet', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', `label=com.docker.compose.service=${service}`);

// Containers restart under the test; a kept-alive connection to the old one fails once (the
// client's pool cannot know), so a network error is retried on a new connection. The host is
// one client of the RPC's rate limit (RPC_RATE_LIMIT below): past it, the call is retried once
// its wait is over.
async function rpc(url, method, params) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await rpcOnce(url, method, params);
    } catch (e) {
      if (attempt === 3 || (e.rpc && e.rpc.code !== -32005)) throw e;
      await sleep(e.rpc ? (e.rpc.data?.retryAfterMs ?? 1000) : 200);
    }
  }
}

// What prod-start wrote for this environment: the admin key, the edge's local CA.
const secret = (name) => path.join(dir, 'secrets', 'ci', name);
const adminKey = () => fs.readFileSync(secret('rpc_admin_key'), 'utf8').trim();
const EDGE_CA = secret('edge_ca.crt');
// A partner's key, in the file prod-start would otherwise create empty.
const PARTNER = 'a-partner-of-the-ci-stack-0123456789';
const edgeCa = () => fs.readFileSync(EDGE_CA);

// debug_, txpool_ and ande_ on the published port: with the admin key prod-start generated.
async function adminRpc(method, params = []) {
  const key = adminKey();
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
  const taken = new Set();
  for (const key of ['RPC', 'WS', 'METRICS', 'FAUCET_API', 'FAUCET_UI', 'DA', 'EXPLORER', 'BUNDLER', 'PAYMASTER', 'FRONTEND', 'PROMETHEUS', 'ALERTMANAGER', 'EDGE_HTTP', 'EDGE_HTTPS']) ports[key] = await publishablePort(taken);
  rpcUrl = `http://127.0.0.1:${ports.RPC}`;
  uiUrl = `http://127.0.0.1:${ports.FAUCET_UI}`;
  fs.writeFileSync(envFile, [
    'STACK_ENV=ci', 'CHAIN_ID=1234', 'GENESIS_FILE=local.json', 'NETWORK_NAME=evstack_shared_ci',
    // The edge on every address of the host (as in production, on ports of this run), the rest
    // on its loopback; 20 calls a second per client on the public RPC, 40 at once; 1 request a
    // second to the explorer, 10 at once.
    'BIND_ADDR=0.0.0.0', `PUBLIC_DOMAIN=${DOMAIN}`, 'EDGE_TLS=internal', `EDGE_IMAGE=${CADDY_STAND_IN}`,
    `EDGE_HTTP_HOST_PORT=${ports.EDGE_HTTP}`, `EDGE_HTTPS_HOST_PORT=${ports.EDGE_HTTPS}`, 'RPC_RATE_LIMIT=20', 'RPC_RATE_BURST=40', 'EXPLORER_RATE_LIMIT=1', 'EXPLORER_RATE_BURST=10',
    `RPC_HOST_PORT=${ports.RPC}`, `WS_HOST_PORT=${ports.WS}`, `METRICS_HOST_PORT=${ports.METRICS}`,
    `FAUCET_API_HOST_PORT=${ports.FAUCET_API}`, `FAUCET_UI_HOST_PORT=${ports.FAUCET_UI}`, `DA_HOST_PORT=${ports.DA}`, 'DA_BLOCK_TIME=1s', `EXPLORER_HOST_PORT=${ports.EXPLORER}`, 'EXPLORER_CPUS=1',
    'DA_NAMESPACE=andechain-ci', 'DA_BATCH_INTERVAL=1s',
    `SECRETS_DIR=${path.join(dir, 'secrets')}`, 'FAUCET_AMOUNT=1000000000000000000', 'COOLDOWN_PERIOD=86400',
    `REDIS_IMAGE=${STAND_INS.REDIS_IMAGE}`, `POSTGRES_IMAGE=${STAND_INS.POSTGRES_IMAGE}`,
    'ENABLE_MONITORING=true', `PROMETHEUS_IMAGE=${PROMETHEUS_STAND_IN}`, `ALERTMANAGER_IMAGE=${PROMETHEUS_STAND_IN}`,
    `PROMETHEUS_HOST_PORT=${ports.PROMETHEUS}`, `ALERTMANAGER_HOST_PORT=${ports.ALERTMANAGER}`,
    // The dApp on its loopback port; wallets are given the sequencer's, as .env.local does.
    `FRONTEND_HOST_PORT=${ports.FRONTEND}`, `PUBLIC_RPC_URL=http://127.0.0.1:${ports.RPC}`,
    `BUNDLER_HOST_PORT=${ports.BUNDLER}`, 'ENABLE_PAYMASTER=true', `PAYMASTER_HOST_PORT=${ports.PAYMASTER}`, 'PAYMASTER_DEPOSIT=10000000000000000000',
    'SEQUENCER_CPUS=1', 'SEQUENCER_MEMORY=1g', 'POSTGRES_CPUS=1', 'POSTGRES_MEMORY=1g', 'DA_CPUS=1', '',
  ].join('\n'));
  fs.mkdirSync(secret(''), { recursive: true });
  fs.writeFileSync(secret('rpc_partner_keys'), `# the CI's partner\n${PARTNER}\n`);
  down();
});

// Everything of the project, volumes too: also run first, so a run killed midway leaves no
// chain state (a journal, a deployments file) to the next.
function down() {
  try { sh('docker', ['compose', '--env-file', envFile, '-f', 'docker-compose.prod.yml', '--profile', 'monitoring', '--profile', 'sponsor', 'down', '--volumes', '--remove-orphans']); } catch { /* already down */ }
}
after(() => {
  down();
  const tags = docker('image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', REPO).split('\n').filter((t) => t && !t.endsWith(':local'));
  try {
    if (tags.length > 0) docker('image', 'rm', ...tags);
  } catch (e) {
    console.log(`# version tags left: ${e.message}`);
  }
});

test('prod-start brings every service to healthy', () => {
  const started = Date.now();
  make('prod-start');
  const seconds = (Date.now() - started) / 1000;
  console.log(`# prod-start to all healthy: ${seconds.toFixed(1)} s (image built)`);
  const states = docker('ps', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--format', '{{.Label "com.docker.compose.service"}} {{.Status}}');
  for (const service of ['edge', 'ev-reth-sequencer', 'celestia-da', 'faucet-api', 'faucet-ui', 'frontend', 'explorer', 'bundler-4337', 'paymaster', 'postgres', 'redis']) {
    assert.match(states, new RegExp(`^${service} Up .*\\(healthy\\)$`, 'm'), `${service} is healthy:\n${states}`);
  }
  const once = docker('ps', '--all', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', 'label=com.docker.compose.service=deploy-contracts', '--format', '{{.Status}}');
  assert.match(once, /^Exited \(0\)/, `deploy-contracts ran once and finished: ${once}`);
  // Every container but Postgres and Redis: its root read-only, no capability, no privilege
  // gain; ours as uid 10001.
  for (const line of docker('ps', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--format', '{{.Label "com.docker.compose.service"}} {{.ID}}').split('\n')) {
    const [service, id] = line.split(' ');
    if (service === 'postgres' || service === 'redis') continue;
    const hardening = docker('inspect', '--format', '{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}}', id);
    assert.equal(hardening, 'true [ALL] [no-new-privileges:true]', service);
    if (!['edge', 'prometheus', 'alertmanager'].includes(service)) {
      assert.equal(docker('exec', id, 'id', '-u'), '10001', `${service} runs as the image's user`);
    }
  }
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

test('what the compose file publishes: the edge on BIND_ADDR, the rest on loopback or not at all', () => {
  const config = (files) => JSON.parse(sh('docker', ['compose', '--env-file', envFile, ...files.flatMap((f) => ['-f', f]), '--profile', 'monitoring', 'config', '--format', 'json'], { BIND_ADDR: '0.0.0.0' }));
  const hosts = (service) => (service.ports ?? []).map((p) => `${p.host_ip}:${p.target}`).sort();
  const { services } = config(['docker-compose.prod.yml']);
  assert.deepEqual(hosts(services.edge), ['0.0.0.0:443', '0.0.0.0:80']);
  assert.deepEqual(hosts(services['ev-reth-sequencer']), ['127.0.0.1:8545', '127.0.0.1:8546', '127.0.0.1:9001']);
  assert.deepEqual(hosts(services['faucet-ui']), ['127.0.0.1:3001']);
  assert.deepEqual(hosts(services.frontend), ['127.0.0.1:3000']);
  assert.deepEqual(hosts(services.explorer), ['127.0.0.1:4000']);
  assert.deepEqual(hosts(services['bundler-4337']), ['127.0.0.1:4337']);
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
  const token = fs.readFileSync(secret('da_auth_token'), 'utf8').trim();
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
  claimHash = hash;
  const done = await confirmed({ url: uiUrl }, hash);
  assert.equal(JSON.parse(cast('receipt', '--json', '--rpc-url', rpcUrl, hash)).status, '0x1');
  assert.ok(done.block > 0);
  assert.equal(BigInt(await rpc(rpcUrl, 'eth_getBalance', [address, 'latest'])), 10n ** 18n);
  assert.equal((await claim({ url: uiUrl }, address)).status, 429);
});

test('the dApp through its published port: connect, add and switch the network, claim from the faucet in Chromium', async () => {
  const frontendUrl = `http://127.0.0.1:${ports.FRONTEND}`;
  const config = await (await fetch(`${frontendUrl}/config.json`)).json();
  assert.equal(config.chainId, 1234);
  assert.equal(config.contracts.entryPointV07, '0x0000000071727De22E5E9d8BAf0edAc6f37da032', 'the deployments of this stack');
  assert.deepEqual(config.services, { faucet: true, bundler: true, paymaster: true });
  assert.equal((await (await fetch(`${frontendUrl}/api/da`)).json()).role, 'sequencer');
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const wallet = await injectWallet(page, generatePrivateKey());
    await page.goto(`${frontendUrl}/faucet/`);
    await page.click(`[data-connector="${WALLET_RDNS}"]`);
    await page.click('#switch-network');
    await page.waitForSelector('#network-ok');
    assert.deepEqual(wallet.calls.find((c) => c.method === 'wallet_addEthereumChain').params[0].rpcUrls, [`http://127.0.0.1:${ports.RPC}`]);
    await page.waitForSelector('#claim:not([disabled])');
    await page.click('#claim');
    await page.waitForSelector('#claim-confirmed', { timeout: 30_000 });
    await page.click('#refresh-balance');
    await page.waitForFunction(() => document.getElementById('balance')?.textContent === '1 ANDE', null, { timeout: 10_000 });
    assert.equal(BigInt(await rpc(rpcUrl, 'eth_getBalance', [wallet.address, 'latest'])), 10n ** 18n);
    await page.close();
  } finally {
    await browser.close();
  }
});

// --- The edge ------------------------------------------------------------------------------


// One HTTPS request to NAME.DOMAIN through the edge's published port on 127.0.0.1, checked
// against the edge's local CA (`ca: null`: the system's roots only). HTTP/1.1, as most JSON-RPC
// clients speak it.
// `chunked`: the body streamed in pieces, without Content-Length.
function edge(name, { method = 'POST', path: urlPath = '/', body, headers = {}, ca = edgeCa(), chunked = false } = {}) {
  const host = `${name}.${DOMAIN}`;
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: ports.EDGE_HTTPS, servername: host, ...(ca ? { ca } : {}), method, path: urlPath,
      headers: { host, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    if (chunked && data !== undefined) {
      for (let at = 0; at < data.length; at += 64 * 1024) req.write(data.slice(at, at + 64 * 1024));
      req.end();
    } else {
      req.end(data);
    }
  });
}
const call = (method, params = [], id = 1) => ({ jsonrpc: '2.0', id, method, params });

// Requests through the edge from another client: a container of its own on the stack's
// network, running them one after the other with GNU wget (a POST when `body` is given). Each
// answer's status, Retry-After and JSON body. The host's own buckets are left alone, for the
// tests after these.
function fromAnotherClient(name, requests) {
  const edgeIp = docker('inspect', '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', containerOf('edge'));
  const quote = (text) => `'${text.replaceAll("'", "'\\''")}'`;
  const script = requests.map(({ path: urlPath = '/', body, headers = {} }) => ['wget', '-q', '-S', '-O', '-', '--content-on-error', '--ca-certificate=/ca.crt',
    ...Object.entries({ 'content-type': 'application/json', ...headers }).map(([k, v]) => quote(`--header=${k}: ${v}`)),
    ...(body === undefined ? [] : [quote(`--post-data=${JSON.stringify(body)}`)]), quote(`https://${name}.${DOMAIN}${urlPath}`), "2>&1; echo; echo '--end--'"].join(' ')).join('\n');
  const out = docker('run', '--rm', '--network', 'evstack_shared_ci', '--add-host', `${name}.${DOMAIN}:${edgeIp}`,
    '-v', `${EDGE_CA}:/ca.crt:ro`, CADDY_STAND_IN, 'sh', '-c', script);
  return out.split('--end--').slice(0, requests.length).map((answer) => {
    const lines = answer.split('\n').map((l) => l.trim()).filter(Boolean);
    const json = lines.findLast((l) => l.startsWith('{') || l.startsWith('['));
    return { status: Number(answer.match(/HTTP\/1\.1 (\d{3})/)?.[1]), retryAfter: answer.match(/Retry-After: (\d+)/i)?.[1], json: json ? JSON.parse(json) : null };
  });
}

test('the edge: HTTPS from its local CA, HTTP redirected, security headers, and nothing else published beyond loopback', async () => {
  const res = await edge('rpc', { body: call('eth_chainId') });
  assert.equal(res.json.result, '0x4d2');
  assert.match(res.headers['strict-transport-security'], /max-age=31536000/);
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.equal(res.headers.server, undefined, 'no Server header');
  await assert.rejects(edge('rpc', { body: call('eth_chainId'), ca: null }), /certificate/, 'without the local CA the certificate is not trusted');
  // curl, as an operator would run it.
  for (const name of ['app', 'explorer', 'faucet', 'bundler', 'paymaster']) {
    const hostport = `${name}.${DOMAIN}:${ports.EDGE_HTTPS}`;
    const health = JSON.parse(sh('curl', ['-sS', '--fail', '--max-time', '10', '--cacert', EDGE_CA, '--resolve', `${hostport}:127.0.0.1`, `https://${hostport}/health`]));
    assert.equal(health.status, 'ok', `${name}. through the edge`);
  }
  const plain = `rpc.${DOMAIN}:${ports.EDGE_HTTP}`;
  const redirect = sh('curl', ['-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', '--resolve', `${plain}:127.0.0.1`, `http://${plain}/health`]);
  // To 443: the edge's port in production (here the host publishes it on another).
  assert.equal(redirect, `308 https://rpc.${DOMAIN}/health`, 'HTTP is redirected to HTTPS');
  assert.equal((await edge('explorer', { method: 'GET', path: '/metrics' })).status, 404, 'metrics are not public');

  // A scan of the host's address on the stack's own network (not loopback): of every port the
  // project publishes, only the edge's answer there; on 127.0.0.1 all of them do.
  const gateway = docker('network', 'inspect', 'evstack_shared_ci', '--format', '{{(index .IPAM.Config 0).Gateway}}');
  assert.match(gateway, /^\d+\.\d+\.\d+\.\d+$/);
  const listed = docker('ps', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--format', '{{.Ports}}');
  const published = [...new Set([...listed.matchAll(/:(\d+)->/g)].map((m) => Number(m[1])))].sort((a, b) => a - b);
  const open = (host, port) => new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 2_000 });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
  });
  const openOn = async (host) => (await Promise.all(published.map(async (p) => ((await open(host, p)) ? p : null)))).filter((p) => p !== null);
  assert.ok(published.length >= 10, `the project publishes its ports: ${published}`);
  assert.deepEqual(await openOn('127.0.0.1'), published);
  assert.deepEqual(await openOn(gateway), [ports.EDGE_HTTP, ports.EDGE_HTTPS].sort((a, b) => a - b));
});

test('the faucet through the edge limits claims per client IP, not per edge', async () => {
  const claimThroughEdge = (address) => edge('faucet', { path: '/api/claim', body: { address } });
  assert.equal((await claimThroughEdge('0x00000000000000000000000000000000000e0c01')).status, 202);
  const again = await claimThroughEdge('0x00000000000000000000000000000000000e0c02');
  assert.equal(again.status, 429);
  assert.match(again.json.error, /from this IP recently/);
  const [other] = fromAnotherClient('faucet', [{ path: '/api/claim', body: { address: '0x00000000000000000000000000000000000e0c03' } }]);
  assert.equal(other.status, 202, `another client behind the same edge is not cooling down: ${JSON.stringify(other)}`);
});

test('prod-logs finds the refused claim by service and text, with its fields, across services merged by time', () => {
  const out = make('prod-logs', { SERVICE: 'faucet-api', GREP: 'claim refused', SINCE: '30m' });
  const lines = out.trim().split('\n');
  assert.ok(lines.every((l) => /^faucet-api-1 +\| \d{4}-\d\d-\d\dT[\d:.]+Z \{/.test(l)), out.slice(0, 600));
  const refused = lines.map((l) => JSON.parse(l.slice(l.indexOf('{')))).find((j) => /from this IP recently/.test(j.fields.reason));
  assert.ok(refused, out.slice(0, 600));
  assert.equal(refused.fields.message, 'claim refused');
  assert.equal(refused.fields.address.toLowerCase(), '0x00000000000000000000000000000000000e0c02');
  assert.equal(refused.fields.ip, undefined, 'no client IP in the log');
  assert.equal(refused.level, 'INFO');
  assert.throws(() => make('prod-logs', { SERVICE: 'faucet-api', GREP: 'claim refused', LEVEL: 'warn' }), (e) => /no line matched/.test(e.stderr), 'an info line is not at warn');
  const all = make('prod-logs', { SINCE: '30m', LEVEL: 'info' }).trim().split('\n');
  const services = new Set(all.map((l) => l.split(/\s+/)[0]));
  assert.ok(['edge-1', 'ev-reth-sequencer-1', 'faucet-api-1', 'explorer-1'].every((s) => services.has(s)), [...services].join());
  const times = all.map((l) => l.split(/\s+/)[2]);
  assert.deepEqual(times, [...times].sort(), 'merged by time');
});

// The SHA-256 of NAME.DOMAIN's certificate's public key (base64), the certificate checked
// against the edge's CA: what Chromium's --ignore-certificate-errors-spki-list pins.
function leafSpki(name) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: ports.EDGE_HTTPS, servername: `${name}.${DOMAIN}`, ca: edgeCa() }, () => {
      const spki = new crypto.X509Certificate(socket.getPeerCertificate(true).raw).publicKey.export({ type: 'spki', format: 'der' });
      socket.end();
      resolve(crypto.createHash('sha256').update(spki).digest('base64'));
    });
    socket.once('error', reject);
  });
}

test('the explorer and the faucet page over HTTPS through the edge, in Chromium', async () => {
  // Chromium resolves *.localhost to this host itself; it trusts exactly the edge's two keys.
  const pins = await Promise.all(['explorer', 'faucet'].map(leafSpki));
  const browser = await launch([`--ignore-certificate-errors-spki-list=${pins.join(',')}`]);
  try {
    const page = await browser.newPage();
    const explorer = await page.goto(`https://explorer.${DOMAIN}:${ports.EDGE_HTTPS}/`);
    assert.equal(explorer.status(), 200);
    assert.match(explorer.headers()['strict-transport-security'], /max-age=31536000/);
    await page.getByRole('heading', { name: 'Latest blocks' }).waitFor({ timeout: 10_000 });
    assert.match(await page.title(), /AndeChain explorer/);
    const faucet = await page.goto(`https://faucet.${DOMAIN}:${ports.EDGE_HTTPS}/`);
    assert.equal(faucet.status(), 200);
    // The page asks its /api/info through the edge, same origin.
    await page.waitForFunction(() => document.getElementById('summary').textContent.includes('ANDE'), null, { timeout: 10_000 });
    assert.match(await page.textContent('#summary'), /on chain 1234/);
    await page.close();
  } finally {
    await browser.close();
  }
});

test('RPC through the edge: cast over HTTPS, subscriptions over WSS on rpc. and ws.', async () => {
  // cast as a user of the public names runs it: in a mount namespace of its own whose
  // /etc/hosts names them, trusting the edge's CA through SSL_CERT_FILE.
  const hosts = path.join(dir, 'hosts');
  fs.writeFileSync(hosts, `${fs.readFileSync('/etc/hosts', 'utf8')}\n127.0.0.1 rpc.${DOMAIN}\n`);
  const url = `https://rpc.${DOMAIN}:${ports.EDGE_HTTPS}`;
  const castEdge = (...args) => execFileSync('unshare', ['--mount', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hosts, CAST, ...args],
    { encoding: 'utf8', env: { ...process.env, SSL_CERT_FILE: EDGE_CA }, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  assert.equal(castEdge('chain-id', '--rpc-url', url), '1234');
  assert.equal(JSON.parse(castEdge('receipt', '--json', '--rpc-url', url, claimHash)).status, '0x1');

  for (const name of ['rpc', 'ws']) {
    const ws = new WebSocket(`wss://127.0.0.1:${ports.EDGE_HTTPS}`, { ca: edgeCa(), servername: `${name}.${DOMAIN}`, headers: { host: `${name}.${DOMAIN}` } });
    const messages = [];
    ws.on('message', (m) => messages.push(JSON.parse(m)));
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    try {
      ws.send(JSON.stringify(call('eth_subscribe', ['newHeads'])));
      const head = await waitFor(() => messages.find((m) => m.method === 'eth_subscription'), { timeout: 10_000, what: `a newHeads notification over wss on ${name}.` });
      assert.match(head.params.result.hash, /^0x[0-9a-f]{64}$/);
    } finally {
      ws.close();
    }
  }
});

test('the edge keeps the node\'s limits: a client\'s burst gets 429 while others are served, debug_ needs the key, oversized bodies and batches are refused', async () => {
  // 40 at once per client: a batch of 38 is served, the next one is not (unless 1.8 s passed),
  // nor one with a forged X-Forwarded-For (the edge replaces the header); this host, another
  // client, is served.
  const batch = Array.from({ length: 38 }, (_, i) => call('eth_chainId', [], i));
  const partner = { authorization: `Bearer ${PARTNER}` };
  const [first, limited, forged, partnered, partnerDebug] = fromAnotherClient('rpc', [{ body: batch }, { body: batch }, { body: batch, headers: { 'x-forwarded-for': '203.0.113.9' } },
    { body: batch, headers: partner }, { body: call('txpool_status'), headers: partner }]);
  assert.equal(first.status, 200);
  assert.equal(limited.status, 429);
  assert.equal(limited.json.error.code, -32005);
  assert.ok(Number(limited.retryAfter) >= 1, `Retry-After: ${limited.retryAfter}`);
  assert.equal(forged.status, 429);
  // The same client with a partner key (secrets/<env>/rpc_partner_keys): served, public namespaces only.
  assert.equal(partnered.status, 200, `a partner's batch past its IP's limit: ${JSON.stringify(partnered.json).slice(0, 200)}`);
  assert.equal(partnered.json.length, 38);
  assert.equal(partnerDebug.json.error.code, -32601, 'a partner key opens no txpool_');
  assert.equal((await edge('rpc', { body: call('eth_blockNumber') })).status, 200);

  const trace = call('debug_traceTransaction', [claimHash, { tracer: 'callTracer' }]);
  const key = { authorization: `Bearer ${adminKey()}` };
  const refused = await edge('rpc', { body: trace });
  assert.equal(refused.json.error?.code, -32601, `without the key: ${refused.text}`);
  const traced = await edge('rpc', { body: trace, headers: key });
  assert.equal(traced.json.result?.type, 'CALL', traced.text);

  // Just over RPC_MAX_REQUEST_BYTES (5 MiB), streamed: the node reads it to its cap and answers
  // 413. (A body whose Content-Length is over the cap is answered unread and the connection
  // closed, which the edge may see as a reset and answer 502.)
  const big = call('eth_call', [{ to: '0x000000000000000000000000000000000000beef', data: `0x${'00'.repeat(5 * 512 * 1024 + 1024)}` }, 'latest']);
  assert.ok(JSON.stringify(big).length > 5 * 1024 * 1024);
  const tooBig = await edge('rpc', { body: big, headers: key, chunked: true });
  assert.equal(tooBig.status, 413);
  assert.equal(tooBig.json.error.code, -32007);
  const long = await edge('rpc', { body: Array.from({ length: 1001 }, (_, i) => call('eth_chainId', [], i)), headers: key });
  assert.equal(long.json.error?.code, -32010, `a batch of 1001: ${long.text.slice(0, 200)}`);

  // The admin key went through the edge several times; its access log names the requests, never the key.
  const logs = sh('sh', ['-c', `docker logs ${containerOf('edge')} 2>&1`]);
  assert.match(logs, new RegExp(`rpc\\.${DOMAIN.replace('.', '\\.')}`), 'the edge logs its requests');
  assert.ok(!logs.includes(adminKey()), 'the admin key is not in the edge\'s logs');

  // The explorer's own per-client rate, behind the edge: 10 at once and 1 a second, then 429
  // with a JSON body (16 calls in a row take less than 6 s).
  const pages = fromAnotherClient('explorer', Array.from({ length: 16 }, () => ({ path: '/api/v2/stats' })));
  const statuses = pages.map((p) => p.status);
  console.log(`# 16 explorer calls in a row from one client, through the edge: ${statuses}`);
  assert.ok(statuses.filter((s) => s === 200).length >= 10 && statuses.includes(429), `16 explorer calls in a row: ${statuses}`);
  assert.match(pages.find((p) => p.status === 429).json.error, /rate limit exceeded/);
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
  assert.match(report, /✓ frontend: http/);
  assert.match(report, /✓ deploy-contracts: ran once: Exited \(0\)/);
  for (const name of ['app', 'rpc', 'explorer', 'faucet', 'bundler', 'paymaster']) assert.match(report, new RegExp(`✓ edge \\(${name}\\.\\): https://${name}\\.`));
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
    return targets.length === 6 && targets.every((t) => t.health === 'up');
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

test('no secret appears in any service\'s log', () => {
  const secrets = secret('');
  const values = fs.readdirSync(secrets).filter((f) => !['edge_ca.crt', 'da_layer', 'releases'].includes(f))
    .map((f) => [f, fs.readFileSync(path.join(secrets, f), 'utf8').trim()]).filter(([, v]) => v.length >= 16);
  assert.ok(values.length >= 6, `the stack's secrets: ${values.map(([f]) => f)}`);
  const logs = sh('sh', ['-c', `docker compose --env-file ${envFile} -f docker-compose.prod.yml --profile monitoring --profile sponsor logs --no-color 2>&1`])
    .replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').toLowerCase();
  for (const service of ['edge', 'ev-reth-sequencer', 'celestia-da', 'faucet-api', 'explorer', 'bundler-4337', 'paymaster']) {
    assert.match(logs, new RegExp(`^${service}-1 +\\| `, 'm'), `${service}'s log is read`);
  }
  for (const [file, value] of values) {
    const bare = value.toLowerCase().replace(/^0x/, '');
    assert.ok(!logs.includes(bare), `${file} is in the logs`);
  }
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

test('an upgrade to a new image version, then prod-rollback: the previous image runs and the chain goes on from the same head', async () => {
  const imageOf = (service) => docker('inspect', '--format', '{{.Image}}', containerOf(service));
  const services = ['ev-reth-sequencer', 'celestia-da', 'faucet-api', 'explorer', 'bundler-4337'];
  const first = imageOf('ev-reth-sequencer');
  // The upgrade: a new version built and started as an operator would.
  make('prod-start', { ANDE_VERSION: 'ci-upgrade' });
  const upgraded = docker('image', 'inspect', '--format', '{{.Id}}', `${REPO}:ci-upgrade`);
  assert.notEqual(upgraded, first);
  for (const service of services) assert.equal(imageOf(service), upgraded, `${service} runs the new version`);
  const before = await block('latest');
  const out = make('prod-rollback');
  for (const service of services) assert.equal(imageOf(service), first, `${service} runs the previous version`);
  assert.equal(docker('image', 'inspect', '--format', '{{.Id}}', process.env.ANDE_IMAGE ?? 'andechain/ande:local'), first, 'ANDE_IMAGE names it now');
  assert.equal((await block(before.number)).hash, before.hash, 'the blocks made on the new version are kept');
  await waitFor(async () => BigInt(await rpc(rpcUrl, 'eth_blockNumber')) > BigInt(before.number), { what: 'a block after the rollback' });
  const releases = fs.readFileSync(secret('releases'), 'utf8').trim().split('\n').map((l) => l.split(' ')[1]);
  assert.deepEqual(releases.slice(-3), [first, upgraded, first], out);
  make('prod-health');
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
