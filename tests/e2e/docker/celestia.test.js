// DA_LAYER=celestia: celestia-da becomes a celestia-node light node (docker-compose.celestia.yml).
// No Celestia network and no celestia-node image are reachable here, so this checks what the
// stack itself does: the compose wiring the scripts produce, the RPC key and the token minted
// from it (verified as HS256 over the key), the health check's command against a DA node that
// wants that token, the refusals (no consensus endpoint, a chain switching layers), and the
// light node's entrypoint script run against a recording stand-in of the celestia CLI.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, startDa, tempDir } from '../lib/node.js';

const dir = tempDir('ande-celestia-');
const secrets = path.join(dir, 'secrets');
const envFile = path.join(dir, '.env.celestia');
fs.writeFileSync(envFile, [
  'STACK_ENV=celestia-ci', 'CHAIN_ID=2019', 'GENESIS_FILE=testnet.json', 'NETWORK_NAME=evstack_shared_celestia_ci',
  'BIND_ADDR=127.0.0.1', 'PUBLIC_DOMAIN=andechain-celestia-ci.localhost', 'EDGE_TLS=internal', 'DA_NAMESPACE=andechain-ci', 'FAUCET_AMOUNT=1', `SECRETS_DIR=${secrets}`,
  'DA_LAYER=celestia', 'CELESTIA_NETWORK=mocha', 'CELESTIA_NODE_IMAGE=ghcr.io/celestiaorg/celestia-node:v0.34.2-mocha', '',
].join('\n'));
const ours = path.join(secrets, 'celestia-ci');
const PROJECT = 'andechain-celestia-ci';
after(() => execFileSync('docker', ['volume', 'rm', '-f', `${PROJECT}_node-data`]));
const containers = () => execFileSync('docker', ['ps', '--all', '--quiet', '--filter', `label=com.docker.compose.project=${PROJECT}`], { encoding: 'utf8' }).trim();

function prod(args, env = {}) {
  return execFileSync('scripts/prod.sh', args, {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, ENV_FILE: envFile, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
}
const b64url = (text) => Buffer.from(text, 'base64url');

test('the secrets: an RPC key in celestia-node\'s keystore form and a read/write token signed with it', () => {
  fs.mkdirSync(ours, { recursive: true });
  fs.writeFileSync(path.join(ours, 'faucet_private_key'), `0x${'11'.repeat(32)}\n`);
  fs.writeFileSync(path.join(ours, 'bundler_private_key'), `0x${'22'.repeat(32)}\n`);
  const log = execFileSync('bash', ['-c', 'scripts/prod.sh secrets 2>&1'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ENV_FILE: envFile } });
  const key = JSON.parse(fs.readFileSync(path.join(ours, 'celestia_jwt_secret'), 'utf8'));
  assert.deepEqual(Object.keys(key), ['body']);
  const secret = Buffer.from(key.body, 'base64');
  assert.equal(secret.length, 32);
  const token = fs.readFileSync(path.join(ours, 'da_auth_token'), 'utf8');
  assert.ok(!log.includes(token) && !log.includes(key.body), 'neither the key nor the token is printed');

  const [header, payload, signature] = token.split('.');
  assert.deepEqual(JSON.parse(b64url(header)), { alg: 'HS256', typ: 'JWT' });
  const expected = crypto.createHmac('sha256', secret).update(`${header}.${payload}`).digest();
  assert.ok(crypto.timingSafeEqual(b64url(signature), expected), 'the token is signed with the key');
  const claims = JSON.parse(b64url(payload));
  assert.deepEqual(claims.Allow, ['public', 'read', 'write'], 'blob.Submit needs write; no admin');
  assert.equal(Buffer.from(claims.Nonce, 'base64').length, 32);
  assert.ok(Date.parse(claims.ExpiresAt) > Date.parse('2100-01-01'), 'the token does not expire');

  // A second run keeps both: the light node's store already holds the key.
  prod(['secrets']);
  assert.equal(fs.readFileSync(path.join(ours, 'da_auth_token'), 'utf8'), token);
  assert.equal(JSON.parse(fs.readFileSync(path.join(ours, 'celestia_jwt_secret'), 'utf8')).body, key.body);
  // A lost token is minted again from the same key, not replaced by a random one.
  fs.rmSync(path.join(ours, 'da_auth_token'));
  prod(['secrets']);
  const again = fs.readFileSync(path.join(ours, 'da_auth_token'), 'utf8').split('.');
  assert.ok(crypto.timingSafeEqual(b64url(again[2]), crypto.createHmac('sha256', secret).update(`${again[0]}.${again[1]}`).digest()));
});

test('the compose wiring: celestia-da is the light node, on the same name, port and volume', () => {
  const config = composeConfig();
  const da = config.services['celestia-da'];
  assert.equal(da.image, 'ghcr.io/celestiaorg/celestia-node:v0.34.2-mocha');
  assert.deepEqual(da.entrypoint, ['/bin/bash', '/etc/celestia-da/entrypoint.sh']);
  assert.ok(!da.command?.length, 'no `da` command left from the local DA node');
  assert.deepEqual(da.volumes.map((v) => `${v.source}:${v.target}`), ['da-data:/home/celestia']);
  assert.deepEqual(da.secrets.map((s) => s.source).sort(), ['celestia_jwt_secret', 'da_auth_token']);
  assert.deepEqual(da.ports.map((p) => `${p.host_ip}:${p.published}->${p.target}`), ['127.0.0.1:26658->26658']);
  assert.equal(da.environment.CELESTIA_NETWORK, 'mocha');
  assert.ok(!('DA_AUTH_TOKEN_FILE' in da.environment), 'the local DA node\'s settings are gone');
  assert.match(da.healthcheck.test.join(' '), /header\.NetworkHead/);
  assert.equal(config.configs.celestia_da_entrypoint.file, path.join(ROOT, 'docker/celestia-da/entrypoint.sh'));

  const sequencer = config.services['ev-reth-sequencer'];
  assert.equal(sequencer.environment.DA_URL, 'http://celestia-da:26658');
  assert.equal(sequencer.depends_on['celestia-da'].condition, 'service_healthy');
});

function composeConfig() {
  return JSON.parse(execFileSync('docker', ['compose', '--env-file', envFile, '-f', 'docker-compose.prod.yml',
    '-f', 'docker-compose.celestia.yml', 'config', '--format', 'json'], { cwd: ROOT, encoding: 'utf8' }));
}

test('the light node\'s health check passes with the sequencer\'s token and fails without it', async () => {
  // Run on this host against `ande da` holding the token, the container paths mapped to ours.
  const check = composeConfig().services['celestia-da'].healthcheck.test;
  assert.equal(check[0], 'CMD-SHELL');
  const da = await startDa({ args: ['--auth-token-file', path.join(ours, 'da_auth_token')] });
  try {
    const run = (tokenFile) => execFileSync('sh', ['-c', check[1].replaceAll('$$', '$')
      .replace('/run/secrets/da_auth_token', tokenFile).replace('http://127.0.0.1:26658', da.url)], { stdio: 'ignore' });
    run(path.join(ours, 'da_auth_token'));
    const wrong = path.join(dir, 'wrong-token');
    fs.writeFileSync(wrong, 'not-the-token');
    assert.throws(() => run(wrong), 'a token the node refuses fails the check');
  } finally {
    await da.stop();
  }
});

test('prod-start refuses a celestia layer without a consensus endpoint, starting nothing', () => {
  assert.throws(() => prod(['start']), (e) => /DA_LAYER=celestia needs CELESTIA_CORE_IP/.test(e.stderr));
  assert.equal(containers(), '');
  assert.throws(() => prod(['status'], { DA_LAYER: 'bogus' }), (e) => /DA_LAYER=bogus .* must be local or celestia/.test(e.stderr));
});

test('a chain that posted to one DA layer is not started on the other', () => {
  // A node-data volume is a chain; one from before DA_LAYER posted to the local DA node.
  execFileSync('docker', ['volume', 'create', `${PROJECT}_node-data`]);
  fs.rmSync(path.join(ours, 'da_layer'), { force: true });
  assert.throws(() => prod(['start'], { CELESTIA_CORE_IP: '127.0.0.1' }),
    (e) => /posts its blocks to DA_LAYER=local; on DA_LAYER=celestia they would all be missing/.test(e.stderr));
  assert.equal(containers(), '');
});

// The stand-in records its arguments and what `init` would print (a mnemonic), and dies on
// `start` after writing what it saw, so the script's effects can be read back.
const STAND_IN = `#!/bin/bash
echo "$*" >>/home/celestia/calls
case "$1 $2" in
  "light init") mkdir -p /home/celestia/keys; echo "MNEMONIC word word word" ;;
  "light start") stat -c '%a %s' /home/celestia/keys/NJ3XILLTMVRXEZLUFZVHO5A >/home/celestia/key-mode ;;
esac
`;

test('the light node\'s entrypoint: init kept out of the logs, the RPC key installed owner-only, start with the settings', () => {
  const work = tempDir('ande-celestia-entry-');
  const bin = path.join(work, 'celestia');
  fs.writeFileSync(bin, STAND_IN, { mode: 0o755 });
  const store = path.join(work, 'store');
  fs.mkdirSync(store);
  const run = (env) => execFileSync('docker', ['run', '--rm',
    '-v', `${path.join(ROOT, 'docker/celestia-da/entrypoint.sh')}:/etc/celestia-da/entrypoint.sh:ro`,
    '-v', `${bin}:/usr/local/bin/celestia:ro`,
    '-v', `${path.join(ours, 'celestia_jwt_secret')}:/run/secrets/celestia_jwt_secret:ro`,
    '-v', `${store}:/home/celestia`,
    ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    'debian:bookworm-slim', 'bash', '/etc/celestia-da/entrypoint.sh'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  assert.throws(() => run({ CELESTIA_NETWORK: 'mocha' }), (e) => /CELESTIA_CORE_IP is not set/.test(e.stderr));
  const out = run({ CELESTIA_NETWORK: 'mocha', CELESTIA_CORE_IP: 'consensus.example', CELESTIA_CORE_TLS: 'true' });
  assert.ok(!out.includes('MNEMONIC'), 'the mnemonic printed by init stays out of the logs');
  const calls = fs.readFileSync(path.join(store, 'calls'), 'utf8').trim().split('\n');
  assert.equal(calls[0], 'light init --p2p.network mocha --node.store /home/celestia');
  assert.equal(calls[1], 'light start --p2p.network mocha --node.store /home/celestia --core.ip consensus.example --core.port 9090 --core.tls --keyring.keyname my_celes_key --rpc.addr 0.0.0.0 --rpc.port 26658');
  const installed = path.join(store, 'keys/NJ3XILLTMVRXEZLUFZVHO5A');
  assert.equal(fs.readFileSync(installed, 'utf8'), fs.readFileSync(path.join(ours, 'celestia_jwt_secret'), 'utf8'));
  assert.match(fs.readFileSync(path.join(store, 'key-mode'), 'utf8'), /^600 /, 'celestia-node refuses a key readable by others');

  // A key the node made itself (or an old one) is replaced by the secret's on the next start.
  fs.writeFileSync(installed, '{"body":"b2xk"}', { mode: 0o600 });
  run({ CELESTIA_NETWORK: 'celestia', CELESTIA_CORE_IP: 'consensus.example' });
  assert.equal(fs.readFileSync(installed, 'utf8'), fs.readFileSync(path.join(ours, 'celestia_jwt_secret'), 'utf8'));
  assert.match(fs.readFileSync(path.join(store, 'calls'), 'utf8'), /light start --p2p\.network celestia .*--core\.port 9090 --keyring/);
});
