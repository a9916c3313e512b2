// `ande deploy`: the ERC-4337 contracts from their npm packages land at their canonical
// addresses through the CREATE2 proxy the genesis preinstalls, the same on anvil; a second run
// deploys nothing; what is missing without a key, a wrong chain id, and a chain without the
// proxy are refused, saying why. The vendored bytecode is the packages' own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { getContract } from 'viem';
import { DEV_KEYS, LOCAL_GENESIS, rpc, runAnde, startAnvil, startNode, tempDir } from './lib/node.js';
import { clients } from './lib/clients.js';
import { VENDORED, vendorFile, vendored } from '../../scripts/vendor-contracts.mjs';

const require = createRequire(import.meta.url);
const CANONICAL = {
  create2Deployer: '0x4e59b44847b379578588920ca78fbf26c0b4956c',
  entryPointV07: '0x0000000071727De22E5E9d8BAf0edAc6f37da032',
  entryPointV08: '0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108',
  simpleAccountFactoryV07: '0x91E60e0613810449d098b0b5Ec8b51A0FE8c8985',
  simpleAccountFactoryV08: '0x13E9ed32155810FDbd067D4522C492D6f68E5944',
};
const DEPLOYER = DEV_KEYS[1];

async function deploy(rpcUrl, { key = DEPLOYER, chainId, out = path.join(tempDir(), 'deployments.json'), dataDir = tempDir() } = {}) {
  const args = ['deploy', '--rpc-url', rpcUrl, '--out', out, '--data-dir', dataDir, ...(key ? ['--private-key', key] : []), ...(chainId ? ['--chain-id', String(chainId)] : [])];
  const result = await runAnde(args, { timeout: 120_000 });
  return { ...result, out, dataDir, file: result.code === 0 ? JSON.parse(fs.readFileSync(out, 'utf8')) : null };
}

const lower = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v.toLowerCase()]));

test('the vendored bytecode is the npm packages\' own', () => {
  for (const alias of Object.keys(VENDORED)) {
    assert.equal(fs.readFileSync(vendorFile(alias), 'utf8'), vendored(alias), `${alias}: run node scripts/vendor-contracts.mjs`);
  }
});

test('deployed at the canonical addresses, working, and a second run deploys nothing', async () => {
  const node = await startNode({ blockTime: '300ms' });
  try {
    const first = await deploy(node.rpcUrl);
    assert.equal(first.code, 0, first.output);
    assert.equal(first.file.chainId, 1234);
    assert.deepEqual(lower(first.file.contracts), lower(CANONICAL));
    const { publicClient, account } = clients(node, DEPLOYER);
    const nonce = await publicClient.getTransactionCount({ address: account.address });
    assert.ok(nonce >= 2, 'deployed in two waves of transactions');
    for (const [version, alias] of [['V07', 'aa-contracts-v07'], ['V08', 'aa-contracts-v08']]) {
      const factory = getContract({ address: CANONICAL[`simpleAccountFactory${version}`], abi: require(`${alias}/artifacts/SimpleAccountFactory.json`).abi, client: publicClient });
      const implementation = await factory.read.accountImplementation();
      assert.ok((await publicClient.getCode({ address: implementation }))?.length > 2, `${version}: the account implementation has code`);
      const predicted = await factory.read.getAddress([account.address, 0n]);
      assert.match(predicted, /^0x[0-9a-fA-F]{40}$/);
      const entryPoint = getContract({ address: CANONICAL[`entryPoint${version}`], abi: require(`${alias}/artifacts/EntryPoint.json`).abi, client: publicClient });
      assert.equal(await entryPoint.read.getNonce([predicted, 0n]), 0n, `${version}: the EntryPoint answers`);
    }
    const again = await deploy(node.rpcUrl, { out: first.out, dataDir: first.dataDir });
    assert.equal(again.code, 0, again.output);
    assert.deepEqual(again.file, first.file);
    assert.equal(await publicClient.getTransactionCount({ address: account.address }), nonce, 'nothing sent the second time');
    assert.match(again.output, /present/);
    // Nothing to deploy: no key needed.
    const keyless = await deploy(node.rpcUrl, { key: null });
    assert.equal(keyless.code, 0, keyless.output);
  } finally {
    await node.stop();
  }
});

test('the same addresses on anvil, a chain that is not ours', async () => {
  const anvil = await startAnvil({ chainId: 31337 });
  try {
    const result = await deploy(anvil.rpcUrl, { key: DEV_KEYS[0], chainId: 31337 });
    assert.equal(result.code, 0, result.output);
    assert.deepEqual(lower(result.file.contracts), lower(CANONICAL));
    for (const address of Object.values(CANONICAL)) {
      assert.notEqual(await rpc(anvil.rpcUrl, 'eth_getCode', [address, 'latest']), '0x');
    }
  } finally {
    await anvil.stop();
  }
});

test('refusals say why: no key for what is missing, the wrong chain, no CREATE2 proxy', async () => {
  const node = await startNode({ blockTime: '300ms' });
  try {
    const keyless = await deploy(node.rpcUrl, { key: null });
    assert.notEqual(keyless.code, 0);
    assert.match(keyless.output, /entryPointV07, entryPointV08 must be deployed, but no deployer key is set: set DEPLOYER_PRIVATE_KEY_FILE/);
    const wrong = await deploy(node.rpcUrl, { chainId: 2019 });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.output, /2019/);
    assert.match(wrong.output, /1234/);
  } finally {
    await node.stop();
  }
  const genesis = JSON.parse(fs.readFileSync(LOCAL_GENESIS, 'utf8'));
  delete genesis.alloc[CANONICAL.create2Deployer];
  const genesisFile = path.join(tempDir(), 'no-proxy.json');
  fs.writeFileSync(genesisFile, JSON.stringify(genesis));
  const bare = await startNode({ genesis: genesisFile, blockTime: '300ms' });
  try {
    const result = await deploy(bare.rpcUrl);
    assert.notEqual(result.code, 0);
    assert.match(result.output, /deterministic deployment proxy 0x4e59b44847b379578588920ca78fbf26c0b4956c has no code/i);
  } finally {
    await bare.stop();
  }
});
