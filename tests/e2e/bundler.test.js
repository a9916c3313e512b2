// `ande bundler` with real clients: viem's bundler client (viem/account-abstraction) and
// permissionless' SimpleAccount create an account through its factory in the first operation
// and send more, for EntryPoint v0.7 and v0.8, against the contracts deployed from their npm
// packages; receipts and lookups; replacement and per-sender limits; bad input gets ERC-4337's
// error codes and the bundler keeps serving.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { getContract, http, parseEther } from 'viem';
import { createBundlerClient, getUserOperationHash } from 'viem/account-abstraction';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { toSimpleSmartAccount } from 'permissionless/accounts';
import { DEV_KEYS, deployContracts, rpc, runAnde, startBundler, startNode, tempDir } from './lib/node.js';
import { chainFor, clients } from './lib/clients.js';

const require = createRequire(import.meta.url);
const ENTRY_POINT_ABI = require('aa-contracts-v07/artifacts/EntryPoint.json').abi;
const FACTORY_ABI = require('aa-contracts-v07/artifacts/SimpleAccountFactory.json').abi;
const BEEF = '0x000000000000000000000000000000000000beef';

describe('bundler', () => {
  let node;
  let bundler;
  let contracts;
  let publicClient;
  let wallet;

  before(async () => {
    node = await startNode({ blockTime: '1s' });
    contracts = await deployContracts(node);
    bundler = await startBundler(node, { args: ['--debug-rpc'] });
    ({ publicClient, wallet } = clients(node, DEV_KEYS[0]));
  });
  after(async () => {
    await bundler?.stop();
    await node?.stop();
  });

  const call = (method, params = []) => rpc(bundler.url, method, params);

  async function smartAccount(version, entryPoint, { fund = parseEther('1') } = {}) {
    const owner = privateKeyToAccount(generatePrivateKey());
    const account = await toSimpleSmartAccount({ client: publicClient, owner, entryPoint: { address: entryPoint, version } });
    if (fund > 0n) await publicClient.waitForTransactionReceipt({ hash: await wallet.sendTransaction({ to: account.address, value: fund }) });
    const bundlerClient = createBundlerClient({ account, client: publicClient, transport: http(bundler.url), chain: chainFor(node) });
    return { owner, account, bundlerClient };
  }

  test('it names its chain and EntryPoints', async () => {
    assert.equal(await call('eth_chainId'), '0x4d2');
    assert.deepEqual((await call('eth_supportedEntryPoints')).map((a) => a.toLowerCase()), [contracts.entryPointV07, contracts.entryPointV08].map((a) => a.toLowerCase()));
    const health = await (await fetch(`${bundler.url}/health`)).json();
    assert.equal(health.status, 'ok');
    assert.match(await (await fetch(`${bundler.url}/metrics`)).text(), /ande_bundler_ops_accepted_total/);
  });

  for (const [version] of [['0.7'], ['0.8']]) {
    test(`EntryPoint v${version}: the account is created by its first operation, then used again`, async () => {
      const entryPoint = version === '0.7' ? contracts.entryPointV07 : contracts.entryPointV08;
      const { account, bundlerClient } = await smartAccount(version, entryPoint);
      assert.equal(await publicClient.getCode({ address: account.address }), undefined, 'not deployed yet');
      const before = await publicClient.getBalance({ address: BEEF });
      const first = await bundlerClient.sendUserOperation({ calls: [{ to: BEEF, value: 1000n }] });
      const receipt = await bundlerClient.waitForUserOperationReceipt({ hash: first, timeout: 30_000 });
      assert.equal(receipt.success, true);
      assert.equal(receipt.sender.toLowerCase(), account.address.toLowerCase());
      assert.equal(receipt.entryPoint.toLowerCase(), entryPoint.toLowerCase());
      assert.ok(receipt.actualGasCost > 0n);
      assert.equal(receipt.receipt.status, 'success');
      assert.ok((await publicClient.getCode({ address: account.address }))?.length > 2, 'deployed by its factory');
      // The hash is the EntryPoint's own.
      const op = await bundlerClient.getUserOperation({ hash: first });
      assert.equal(op.transactionHash, receipt.receipt.transactionHash);
      const ep = getContract({ address: entryPoint, abi: ENTRY_POINT_ABI, client: publicClient });
      const packed = {
        sender: op.userOperation.sender, nonce: op.userOperation.nonce,
        initCode: `${op.userOperation.factory}${op.userOperation.factoryData.slice(2)}`,
        callData: op.userOperation.callData,
        accountGasLimits: `0x${op.userOperation.verificationGasLimit.toString(16).padStart(32, '0')}${op.userOperation.callGasLimit.toString(16).padStart(32, '0')}`,
        preVerificationGas: op.userOperation.preVerificationGas,
        gasFees: `0x${op.userOperation.maxPriorityFeePerGas.toString(16).padStart(32, '0')}${op.userOperation.maxFeePerGas.toString(16).padStart(32, '0')}`,
        paymasterAndData: '0x', signature: op.userOperation.signature,
      };
      assert.equal(await ep.read.getUserOpHash([packed]), first);
      const second = await bundlerClient.sendUserOperation({ calls: [{ to: BEEF, value: 10n }, { to: BEEF, value: 20n }] });
      assert.equal((await bundlerClient.waitForUserOperationReceipt({ hash: second, timeout: 30_000 })).success, true);
      assert.equal(await publicClient.getBalance({ address: BEEF }), before + 1030n);
      const none = await call('eth_getUserOperationReceipt', ['0x' + '00'.repeat(32)]);
      assert.equal(none, null);
    });
  }

  test('an account deployed outside the EntryPoint, with no deposit there, estimates and sends', async () => {
    const { owner, account, bundlerClient } = await smartAccount('0.7', contracts.entryPointV07);
    const factory = getContract({ address: contracts.simpleAccountFactoryV07, abi: FACTORY_ABI, client: wallet });
    await publicClient.waitForTransactionReceipt({ hash: await factory.write.createAccount([owner.address, 0n]) });
    assert.ok((await publicClient.getCode({ address: account.address }))?.length > 2, 'deployed by a plain transaction');
    const ep = getContract({ address: contracts.entryPointV07, abi: ENTRY_POINT_ABI, client: publicClient });
    assert.equal(await ep.read.balanceOf([account.address]), 0n, 'its prefund is a transfer inside validation');
    const hash = await bundlerClient.sendUserOperation({ calls: [{ to: BEEF, value: 1n }] });
    assert.equal((await bundlerClient.waitForUserOperationReceipt({ hash, timeout: 30_000 })).success, true);
  });

  test('replacement: a 9 % fee bump is refused, 10 % accepted; a second operation from an unstaked sender is refused', async () => {
    await call('debug_bundler_setBundlingMode', ['manual']);
    try {
      const { account, bundlerClient } = await smartAccount('0.7', contracts.entryPointV07);
      const prepared = await bundlerClient.prepareUserOperation({ calls: [{ to: BEEF, value: 1n }] });
      const signed = async (op) => ({ ...op, signature: await account.signUserOperation(op) });
      const hex = (op) => Object.fromEntries(Object.entries(op).filter(([k]) => !['account', 'authorization'].includes(k)).map(([k, v]) => [k, typeof v === 'bigint' ? `0x${v.toString(16)}` : v]));
      const base = { ...prepared, maxFeePerGas: 10_000_000_000n, maxPriorityFeePerGas: 2_000_000_000n };
      const first = await call('eth_sendUserOperation', [hex(await signed(base)), contracts.entryPointV07]);
      const bump = (pct) => ({ ...base, maxFeePerGas: base.maxFeePerGas * (100n + pct) / 100n, maxPriorityFeePerGas: base.maxPriorityFeePerGas * (100n + pct) / 100n });
      await assert.rejects(call('eth_sendUserOperation', [hex(await signed(bump(9n))), contracts.entryPointV07]),
        (e) => e.rpc.code === -32602 && /replacement underpriced/.test(e.rpc.message));
      const replaced = await call('eth_sendUserOperation', [hex(await signed(bump(10n))), contracts.entryPointV07]);
      assert.notEqual(replaced, first);
      const mempool = await call('debug_bundler_dumpMempool', [contracts.entryPointV07]);
      assert.equal(mempool.length, 1, 'the replacement took its place');
      // Another nonce key, so the simulation (against the chain, where the first is not mined)
      // passes and the mempool's limit is what refuses it.
      const next = { ...bump(10n), nonce: 1n << 64n };
      await assert.rejects(call('eth_sendUserOperation', [hex(await signed(next)), contracts.entryPointV07]),
        (e) => e.rpc.code === -32504 && /already has 1 operation/.test(e.rpc.message));
      const sent = await call('debug_bundler_sendBundleNow');
      assert.ok(sent.transactionHash, 'sent and mined');
      assert.equal((await call('eth_getUserOperationReceipt', [replaced])).success, true);
      assert.equal(await call('eth_getUserOperationReceipt', [first]), null, 'the replaced one never runs');
    } finally {
      await call('debug_bundler_setBundlingMode', ['auto']);
    }
  });

  test('bad input gets ERC-4337 error codes, and the bundler keeps serving', async () => {
    const { owner, account, bundlerClient } = await smartAccount('0.7', contracts.entryPointV07);
    const prepared = await bundlerClient.prepareUserOperation({ calls: [{ to: BEEF, value: 1n }] });
    const hex = (op) => Object.fromEntries(Object.entries(op).filter(([k]) => !['account', 'authorization'].includes(k)).map(([k, v]) => [k, typeof v === 'bigint' ? `0x${v.toString(16)}` : v]));
    const good = hex({ ...prepared, signature: await account.signUserOperation(prepared) });
    const refused = (op, entryPoint = contracts.entryPointV07) => call('eth_sendUserOperation', [op, entryPoint]).then(() => null, (e) => e.rpc);
    // Malformed: missing sender, a field that is not hex, an unknown field.
    const { sender, ...noSender } = good;
    assert.equal((await refused(noSender)).code, -32602);
    assert.equal((await refused({ ...good, nonce: 'twelve' })).code, -32602);
    assert.equal((await refused({ ...good, initCode: '0x' })).code, -32602);
    // Wrong field sizes: a gas limit past 128 bits, an address of 19 bytes.
    const wide = await refused({ ...good, callGasLimit: `0x1${'0'.repeat(32)}` });
    assert.equal(wide.code, -32602);
    assert.match(wide.message, /callGasLimit does not fit in 128 bits/);
    assert.equal((await refused({ ...good, sender: sender.slice(0, -2) })).code, -32602);
    // A signature made for another chain's hash: the account's check fails.
    const foreignHash = getUserOperationHash({ chainId: 2019, entryPointAddress: contracts.entryPointV07, entryPointVersion: '0.7', userOperation: { ...prepared, signature: '0x' } });
    const badSig = await refused({ ...good, signature: await owner.signMessage({ message: { raw: foreignHash } }) });
    assert.equal(badSig.code, -32507, badSig.message);
    // An EntryPoint this bundler does not serve.
    const unknown = await refused(good, '0x5FF137D4b0FDCD49DcA30c7CF57E578a026d2789');
    assert.equal(unknown.code, -32602);
    assert.match(unknown.message, /not supported/);
    // Oversized: callData past ERC-7562's 8,192 bytes.
    const big = await refused({ ...good, callData: `0x${'ab'.repeat(9000)}` });
    assert.equal(big.code, -32602);
    assert.match(big.message, /LIM-010/);
    // preVerificationGas below the formula; fees below the base fee.
    assert.match((await refused({ ...good, preVerificationGas: '0x1' })).message, /preVerificationGas/);
    assert.match((await refused({ ...good, maxFeePerGas: '0x1', maxPriorityFeePerGas: '0x1' })).message, /base fee/);
    // Still serving; the good one goes through.
    assert.equal(await call('eth_chainId'), '0x4d2');
    const hash = await call('eth_sendUserOperation', [good, contracts.entryPointV07]);
    assert.equal((await bundlerClient.waitForUserOperationReceipt({ hash, timeout: 30_000 })).success, true);
  });

  test('debug_bundler_* only with --debug-rpc', async () => {
    const plain = await startBundler(node, { key: DEV_KEYS[5] });
    try {
      await assert.rejects(rpc(plain.url, 'debug_bundler_dumpMempool', [contracts.entryPointV07]), (e) => e.rpc.code === -32601);
      assert.equal(await rpc(plain.url, 'eth_chainId'), '0x4d2');
    } finally {
      await plain.stop();
    }
  });

  test('with an admin key, debug_bundler_* answer only to requests carrying it; off loopback they need one', async () => {
    const key = 'a-bundler-admin-key-0123456789';
    const keyed = await startBundler(node, { key: DEV_KEYS[5], args: ['--debug-rpc'], env: { BUNDLER_ADMIN_KEY: key } });
    const post = async (headers) => (await fetch(keyed.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'debug_bundler_dumpMempool', params: [contracts.entryPointV07] }) })).json();
    try {
      const refused = await post({});
      assert.equal(refused.error?.code, -32601, JSON.stringify(refused));
      assert.match(refused.error.message, /debug namespace needs the admin key/);
      assert.deepEqual((await post({ authorization: `Bearer ${key}` })).result, []);
      assert.equal(await rpc(keyed.url, 'eth_chainId'), '0x4d2', 'eth_ needs no key');
      assert.doesNotMatch(keyed.output, new RegExp(key), 'the key is not logged');
    } finally {
      await keyed.stop();
    }
    const open = await runAnde(['bundler', '--rpc-url', node.internalUrl, '--private-key', DEV_KEYS[5], '--addr', '0.0.0.0', '--port', '0', '--debug-rpc', '--data-dir', tempDir()]);
    assert.notEqual(open.code, 0);
    assert.match(open.output, /BUNDLER_DEBUG_RPC on 0\.0\.0\.0, which is not loopback, needs BUNDLER_ADMIN_KEY_FILE/);
  });
});
