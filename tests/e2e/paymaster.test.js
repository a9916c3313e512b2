// `ande paymaster` (ERC-7677) with viem's paymaster client: an account holding 0 ANDE sends its
// first operation, sponsored through eth-infinitism's VerifyingPaymaster (deployed by `ande
// deploy` from its npm package); the policy refuses what it should (allow-list, a sender's daily
// gas, wrong chain or EntryPoint) and its counters are atomic under concurrent requests and
// survive a restart.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { http } from 'viem';
import { createBundlerClient, createPaymasterClient } from 'viem/account-abstraction';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { toSimpleSmartAccount } from 'permissionless/accounts';
import { DEV_KEYS, deployContracts, rpc, startBundler, startNode, startPaymaster, tempDir } from './lib/node.js';
import { chainFor, clients } from './lib/clients.js';

const SIGNER = DEV_KEYS[6];
const BEEF = '0x000000000000000000000000000000000000beef';

describe('sponsoring paymaster', () => {
  let node;
  let contracts;
  let bundler;
  let publicClient;

  before(async () => {
    node = await startNode({ blockTime: '1s' });
    const signer = privateKeyToAccount(SIGNER).address;
    contracts = await deployContracts(node, { args: ['--paymaster-signer', signer, '--paymaster-deposit', '10000000000000000000'] });
    bundler = await startBundler(node);
    ({ publicClient } = clients(node));
  });
  after(async () => {
    await bundler?.stop();
    await node?.stop();
  });

  async function account() {
    const owner = privateKeyToAccount(generatePrivateKey());
    return toSimpleSmartAccount({ client: publicClient, owner, entryPoint: { address: contracts.entryPointV07, version: '0.7' } });
  }
  const clientFor = (smart, paymasterUrl) => createBundlerClient({
    account: smart, client: publicClient, transport: http(bundler.url), chain: chainFor(node),
    paymaster: createPaymasterClient({ transport: http(paymasterUrl) }),
  });

  test('an account with 0 ANDE sends its first operation, paid by the paymaster', async () => {
    const paymaster = await startPaymaster(node, contracts.verifyingPaymasterV07, { key: SIGNER });
    try {
      const smart = await account();
      assert.equal(await publicClient.getBalance({ address: smart.address }), 0n);
      const depositBefore = BigInt((await (await fetch(`${paymaster.url}/health`)).json()).deposit);
      const hash = await clientFor(smart, paymaster.url).sendUserOperation({ calls: [{ to: BEEF, value: 0n }] });
      const receipt = await clientFor(smart, paymaster.url).waitForUserOperationReceipt({ hash, timeout: 30_000 });
      assert.equal(receipt.success, true);
      assert.equal(receipt.paymaster.toLowerCase(), contracts.verifyingPaymasterV07.toLowerCase());
      assert.ok((await publicClient.getCode({ address: smart.address }))?.length > 2, 'created');
      assert.equal(await publicClient.getBalance({ address: smart.address }), 0n, 'and still holds nothing');
      const depositAfter = BigInt((await (await fetch(`${paymaster.url}/health`)).json()).deposit);
      assert.ok(depositAfter < depositBefore, 'the paymaster paid');
      assert.match(await (await fetch(`${paymaster.url}/metrics`)).text(), /ande_paymaster_sponsored_total [1-9]/);
    } finally {
      await paymaster.stop();
    }
  });

  test('the policy: allow-list, chain, EntryPoint, and a sender\'s daily gas, atomically and across a restart', async () => {
    const dataDir = tempDir('ande-paymaster-');
    const smart = await account();
    const preparer = await startPaymaster(node, contracts.verifyingPaymasterV07, { key: SIGNER });
    const op = await clientFor(smart, preparer.url).prepareUserOperation({ calls: [{ to: BEEF, value: 0n }] }).finally(() => preparer.stop());
    const hex = (o) => Object.fromEntries(Object.entries(o).filter(([k]) => !['account', 'authorization'].includes(k)).map(([k, v]) => [k, typeof v === 'bigint' ? `0x${v.toString(16)}` : v]));
    const request = (url, method, overrides = {}) => rpc(url, method, [hex({ ...op, ...overrides.op }), overrides.entryPoint ?? contracts.entryPointV07, overrides.chainId ?? '0x4d2', {}]);
    const gas = op.callGasLimit + op.verificationGasLimit + op.preVerificationGas + op.paymasterVerificationGasLimit + (op.paymasterPostOpGasLimit ?? 0n);
    // Room for exactly five of these operations a day.
    let paymaster = await startPaymaster(node, contracts.verifyingPaymasterV07, { key: SIGNER, dataDir, args: ['--sender-daily-gas', String(gas * 5n)] });
    try {
      await assert.rejects(request(paymaster.url, 'pm_getPaymasterData', { chainId: '0x7e3' }), (e) => e.rpc.code === -32602 && /chain/.test(e.rpc.message));
      await assert.rejects(request(paymaster.url, 'pm_getPaymasterStubData', { entryPoint: contracts.entryPointV08 }), (e) => e.rpc.code === -32602 && /v0.7/.test(e.rpc.message));
      const answers = await Promise.allSettled(Array.from({ length: 20 }, () => request(paymaster.url, 'pm_getPaymasterData')));
      const granted = answers.filter((a) => a.status === 'fulfilled');
      assert.equal(granted.length, 5, 'five of twenty concurrent requests fit the budget');
      for (const refused of answers.filter((a) => a.status === 'rejected')) {
        assert.equal(refused.reason.rpc.code, -32005);
        assert.match(refused.reason.rpc.message, /has used its/);
      }
      assert.match(granted[0].value.paymasterData, /^0x[0-9a-f]{258}$/, 'validUntil, validAfter and a 65-byte signature');
      await paymaster.stop();
      paymaster = await startPaymaster(node, contracts.verifyingPaymasterV07, { key: SIGNER, dataDir, args: ['--sender-daily-gas', String(gas * 5n)] });
      await assert.rejects(request(paymaster.url, 'pm_getPaymasterData'), (e) => e.rpc.code === -32005, 'the count survived the restart');
      const stub = await request(paymaster.url, 'pm_getPaymasterStubData');
      assert.equal(stub.sponsor.name, 'AndeChain', 'stubs are free');
    } finally {
      await paymaster.stop();
    }
    const strict = await startPaymaster(node, contracts.verifyingPaymasterV07, { key: SIGNER, args: ['--allow', '0x00000000000000000000000000000000000000a1'] });
    try {
      await assert.rejects(request(strict.url, 'pm_getPaymasterData'), (e) => e.rpc.code === -32003 && /allow-list/.test(e.rpc.message));
    } finally {
      await strict.stop();
    }
  });

  test('a signer key that is not the contract\'s verifyingSigner refuses to start', async () => {
    await assert.rejects(startPaymaster(node, contracts.verifyingPaymasterV07, { key: DEV_KEYS[7] }), /signs with .* but PAYMASTER_SIGNER_KEY is/);
  });
});
