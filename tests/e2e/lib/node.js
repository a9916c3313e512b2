// Starting and stopping a real `ande` process for the end-to-end tests.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../../..');
export const ANDE = process.env.ANDE_BIN ?? path.join(ROOT, 'target/release/ande');
export const CAST = path.join(import.meta.dirname, '../node_modules/@foundry-rs/cast-linux-amd64/bin/cast');
export const ANVIL = path.join(import.meta.dirname, '../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil');
export const LOCAL_GENESIS = path.join(ROOT, 'genesis/local.json');

// The well-known development mnemonic's first keys, funded in genesis/local.json only.
// DEVELOPMENT ONLY: never fund these on a public chain.
export const DEV_KEYS = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
  '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
  '0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a',
  '0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba',
  '0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e',
  '0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356',
];

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * A port below the kernel's ephemeral range (32768 and up), free on every address, and not one
 * of `taken`: for ports Docker publishes seconds after they are chosen, which an outgoing
 * connection could take in between if they were ephemeral.
 */
export async function publishablePort(taken = new Set()) {
  const free = (port) => new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '0.0.0.0', () => server.close(() => resolve(true)));
  });
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (!taken.has(port) && await free(port)) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('no free port in 20000-31999 after 100 tries');
}

export function tempDir(prefix = 'ande-test-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function rpc(url, method, params = []) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = await res.json();
  if (body.error) {
    const err = new Error(`${method}: ${body.error.message}`);
    err.rpc = body.error;
    throw err;
  }
  return body.result;
}

export function cast(...args) {
  return execFileSync(CAST, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Spawns `ande` with `args`, collecting its output, and resolves once `healthUrl` answers 200;
 * fails with the output when the process exits first or stays unhealthy for 30 s.
 */
async function spawnService(name, args, env, healthUrl, service, ready = (status) => status === 200) {
  service.output = '';
  const child = spawn(ANDE, args, { env: { ...process.env, RUST_LOG: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => { service.output += d; });
  child.stderr.on('data', (d) => { service.output += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  service.child = child;
  service.exited = exited;
  service.stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  service.kill9 = async () => {
    child.kill('SIGKILL');
    return exited;
  };
  let done = false;
  exited.then(() => { done = true; });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (done) throw new Error(`${name} exited during start:\n${service.output}`);
    try {
      if (ready((await fetch(healthUrl)).status)) return service;
    } catch { /* not listening yet */ }
    await sleep(100);
  }
  await service.kill9();
  throw new Error(`${name} did not become healthy:\n${service.output}`);
}

/** Runs `ande node` on free loopback ports; resolves once /health answers 200 (with
 * `listening`, once it answers at all: for nodes expected not to be ready). */
export async function startNode({ datadir = tempDir(), genesis = LOCAL_GENESIS, blockTime = '1s', args = [], env = {}, ports = {}, listening = false } = {}) {
  const [http, ws, metrics, internal] = [ports.http ?? await freePort(), ports.ws ?? await freePort(), await freePort(), ports.internal ?? await freePort()];
  const node = {
    datadir,
    rpcUrl: `http://127.0.0.1:${http}`,
    wsUrl: `ws://127.0.0.1:${ws}`,
    // Every namespace (debug_, txpool_, ande_), as the stack's own services use it.
    internalUrl: `http://127.0.0.1:${internal}`,
    internalWsUrl: `ws://127.0.0.1:${internal}`,
    metricsUrl: `http://127.0.0.1:${metrics}/metrics`,
  };
  const nodeArgs = ['node', '--datadir', datadir, '--genesis', genesis, '--block-time', blockTime,
    '--http.port', String(http), '--ws.port', String(ws), '--metrics.port', String(metrics), '--rpc.internal-port', String(internal), ...args];
  return spawnService('ande node', nodeArgs, env, `${node.rpcUrl}/health`, node, listening ? () => true : undefined);
}

/** Runs a one-shot `ande` command; resolves with its exit code and output (killed after `timeout` ms). */
export async function runAnde(args, { env = {}, timeout = 15_000 } = {}) {
  const child = spawn(ANDE, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
  const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, output };
}

/** Runs `ande node` expecting it to fail at start; resolves with its exit code and output. */
export async function runNodeExpectingFailure(extraArgs, env = {}) {
  return runAnde(['node', '--datadir', tempDir(), '--http.port', String(await freePort()),
    '--ws.port', String(await freePort()), '--metrics.port', String(await freePort()), '--rpc.internal-port', String(await freePort()), ...extraArgs], { env });
}

export async function waitFor(predicate, { timeout = 20_000, interval = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const value = await predicate();
    if (value) return value;
    await sleep(interval);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export { sleep };

/** Runs `ande faucet` against `node`; resolves once its /health answers 200. */
export async function startFaucet(node, { key = DEV_KEYS[3], dataDir = tempDir('ande-faucet-'), redisUrl, args = [], env = {} } = {}) {
  const port = await freePort();
  const keyFile = path.join(tempDir('ande-secret-'), 'faucet.key');
  fs.writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
  const faucet = { url: `http://127.0.0.1:${port}`, dataDir, key };
  // On the internal port (it reads ande_nativeCurrency), telling wallets the public one.
  const faucetArgs = ['faucet', '--web3-provider', node.internalUrl, '--public-rpc-url', node.rpcUrl, '--private-key-file', keyFile,
    '--data-dir', dataDir, '--port', String(port), ...(redisUrl ? ['--redis-url', redisUrl] : []), ...args];
  return spawnService('ande faucet', faucetArgs, env, `${faucet.url}/health`, faucet);
}

/** Runs `ande faucet-ui` in front of `faucet`; resolves once its /health answers 200. */
export async function startFaucetUi(faucet, { env = {} } = {}) {
  const port = await freePort();
  const ui = { url: `http://127.0.0.1:${port}` };
  return spawnService('ande faucet-ui', ['faucet-ui', '--faucet-api-url', faucet.url, '--port', String(port)], env, `${ui.url}/health`, ui);
}

/** The dApp's static export, built by `make frontend`. */
export const FRONTEND_DIR = path.join(ROOT, 'frontend/out');

/** Runs `ande frontend` in front of `node` (and the services given); resolves once /health answers 200
 * (with `listening`, once it answers at all: for a frontend expected not to be ready). */
export async function startFrontend(node, { faucet, bundler, paymaster, genesis = LOCAL_GENESIS, deployments, args = [], env = {}, listening = false } = {}) {
  if (!fs.existsSync(path.join(FRONTEND_DIR, 'index.html'))) throw new Error(`${FRONTEND_DIR} is not built: run make frontend`);
  const port = await freePort();
  const frontend = { url: `http://127.0.0.1:${port}` };
  const optional = [['--faucet-api-url', faucet?.url], ['--bundler-url', bundler?.url], ['--paymaster-url', paymaster?.url], ['--deployments', deployments]]
    .filter(([, value]) => value).flat();
  const frontendArgs = ['frontend', '--dir', FRONTEND_DIR, '--genesis', genesis, '--rpc-url', node.rpcUrl, '--public-rpc-url', node.rpcUrl,
    '--da-status-url', node.internalUrl, '--port', String(port), ...optional, ...args];
  return spawnService('ande frontend', frontendArgs, env, `${frontend.url}/health`, frontend, listening ? () => true : undefined);
}

/** Runs Debian's redis-server on a free loopback port with a data dir of its own. */
export async function startRedis() {
  const port = await freePort();
  const dir = tempDir('ande-redis-');
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--appendonly', 'yes', '--save', '', '--protected-mode', 'no'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const url = `redis://127.0.0.1:${port}`;
  await waitFor(() => new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
    socket.on('error', () => resolve(false));
  }), { what: 'redis-server' });
  return { url, stop: async () => { child.kill('SIGTERM'); await exited; } };
}

/** Runs `ande da` (the local DA node) on a free loopback port; resolves once /health answers 200. */
export async function startDa({ dataDir = tempDir('ande-da-'), blockTime = '500ms', port, args = [] } = {}) {
  const daPort = port ?? await freePort();
  const da = { url: `http://127.0.0.1:${daPort}`, dataDir, port: daPort };
  const daArgs = ['da', '--port', String(daPort), '--block-time', blockTime, '--data-dir', dataDir, ...args];
  return spawnService('ande da', daArgs, {}, `${da.url}/health`, da);
}

/** The block range a DA batch's envelope names (docs/da-batch-format.md), from its base64 data. */
export function batchRange(base64) {
  const data = Buffer.from(base64, 'base64');
  if (data.subarray(0, 4).toString() !== 'ANDE') return null;
  return { chainId: Number(data.readBigUInt64BE(5)), first: Number(data.readBigUInt64BE(13)), last: Number(data.readBigUInt64BE(21)) };
}

/** Runs `ande explorer` against `node`; resolves once /health answers 200 (the index caught up). */
export async function startExplorer(node, { databaseUrl = `sqlite://${path.join(tempDir('ande-explorer-'), 'explorer.db')}`, env = {} } = {}) {
  const port = await freePort();
  const explorer = { url: `http://127.0.0.1:${port}`, databaseUrl };
  const args = ['explorer', '--rpc-url', node.internalUrl, '--ws-url', node.internalWsUrl, '--port', String(port)];
  return spawnService('ande explorer', args, { DATABASE_URL: databaseUrl, ...env }, `${explorer.url}/health`, explorer);
}

/** Runs anvil (Foundry's node: a foreign EVM, the CREATE2 proxy preinstalled) on a free port,
 * on `genesis` (a genesis file) when given. */
export async function startAnvil({ chainId = 31337, blockTime, genesis } = {}) {
  const port = await freePort();
  const args = ['--port', String(port), '--host', '127.0.0.1', '--chain-id', String(chainId),
    ...(blockTime ? ['--block-time', String(blockTime)] : []), ...(genesis ? ['--init', genesis] : [])];
  const child = spawn(ANVIL, args, { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const anvil = { rpcUrl: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}`, chainId };
  await waitFor(async () => {
    try { return await rpc(anvil.rpcUrl, 'eth_chainId'); } catch { return false; }
  }, { what: 'anvil' });
  anvil.stop = async () => { child.kill('SIGTERM'); await exited; };
  return anvil;
}

/** Runs `ande bundler` against `node` (its EntryPoints deployed); resolves once /health answers 200. */
export async function startBundler(node, { key = DEV_KEYS[4], dataDir = tempDir('ande-bundler-'), args = [], env = {} } = {}) {
  const port = await freePort();
  const bundler = { url: `http://127.0.0.1:${port}`, dataDir, key };
  const bundlerArgs = ['bundler', '--rpc-url', node.internalUrl, '--ws-url', node.internalWsUrl, '--private-key', key,
    '--data-dir', dataDir, '--port', String(port), ...args];
  return spawnService('ande bundler', bundlerArgs, env, `${bundler.url}/health`, bundler);
}

/** Runs `ande paymaster` for the VerifyingPaymaster `contract` whose signer is `key`. */
export async function startPaymaster(node, contract, { key, dataDir = tempDir('ande-paymaster-'), args = [], env = {} } = {}) {
  const port = await freePort();
  const paymaster = { url: `http://127.0.0.1:${port}`, dataDir };
  const paymasterArgs = ['paymaster', '--rpc-url', node.rpcUrl, '--paymaster', contract, '--signer-key', key, '--data-dir', dataDir, '--port', String(port), ...args];
  return spawnService('ande paymaster', paymasterArgs, env, `${paymaster.url}/health`, paymaster);
}

/** Runs `ande validator` for the origin chain at `rpcUrl` (its deployments file `deployments`),
 * signing with `key`; resolves once /health answers (halted or not). */
export async function startValidator(rpcUrl, deployments, key, { dataDir = tempDir('ande-validator-'), args = [], env = {} } = {}) {
  const port = await freePort();
  const validator = { url: `http://127.0.0.1:${port}`, dataDir, key };
  const validatorArgs = ['validator', '--rpc-url', rpcUrl, '--deployments', deployments, '--private-key', key,
    '--data-dir', dataDir, '--port', String(port), '--interval', '200ms', ...args];
  return spawnService('ande validator', validatorArgs, env, `${validator.url}/health`, validator, () => true);
}

/** Runs `ande relayer` between AndeChain (`node`) and the other chain, their deployments files
 * given; resolves once /health answers 200. */
export async function startRelayer(node, remoteRpcUrl, { deployments, remoteDeployments, key, dataDir = tempDir('ande-relayer-'), args = [], env = {} } = {}) {
  const port = await freePort();
  const relayer = { url: `http://127.0.0.1:${port}`, dataDir, key };
  const relayerArgs = ['relayer', '--rpc-url', node.rpcUrl, '--deployments', deployments, '--remote-rpc-url', remoteRpcUrl,
    '--remote-deployments', remoteDeployments, '--private-key', key, '--data-dir', dataDir, '--port', String(port), '--interval', '200ms', ...args];
  return spawnService('ande relayer', relayerArgs, env, `${relayer.url}/health`, relayer);
}

/** Deploys the stack's contracts on `node` with `ande deploy`; their addresses. */
export async function deployContracts(node, { key = DEV_KEYS[1], args = [], out = path.join(tempDir('ande-deployments-'), 'deployments.json') } = {}) {
  const { code, output } = await runAnde(['deploy', '--rpc-url', node.rpcUrl, '--private-key', key, '--out', out, '--data-dir', tempDir(), ...args], { timeout: 120_000 });
  if (code !== 0) throw new Error(`ande deploy failed:\n${output}`);
  return JSON.parse(fs.readFileSync(out, 'utf8')).contracts;
}
