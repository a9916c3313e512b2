// ERC-7562's rule families, each broken by a test contract (contracts/ValidationRules.sol) and
// refused with the code and the rule it breaks, beside a valid operation that is accepted and
// mined: banned opcodes, GAS, SELFBALANCE, out of gas, code-less targets, storage that is not
// the sender's, a factory writing storage of another address, an unstaked paymaster returning a
// context, and the reputation table throttling and banning an entity, including after real
// failures at the second validation.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFunctionData, parseEther } from 'viem';
import { DEV_KEYS, deployContracts, rpc, startBundler, startNode, waitFor } from './lib/node.js';
import { clients } from './lib/clients.js';
import { compile } from './lib/contracts.js';

const GWEI = 1_000_000_000n;
const hex = (n) => `0x${BigInt(n).toString(16)}`;

describe('ERC-7562 rules', () => {
  let node;
  let bundler;
  let contracts;
  let publicClient;
  let wallet;
  let artifacts;
  let store;
  let factory;

  before(async () => {
    node = await startNode({ blockTime: '1s' });
    contracts = await deployContracts(node);
    // A one-block unstake delay and 1 ANDE make an entity staked here.
    bundler = await startBundler(node, { args: ['--debug-rpc', '--min-unstake-delay', '1', '--min-stake', '1000000000000000000'] });
    ({ publicClient, wallet } = clients(node, DEV_KEYS[0]));
    artifacts = Object.fromEntries(['Store', 'RuleAccount', 'RuleFactory', 'RulePaymaster'].map((name) => [name, compile('ValidationRules.sol', name)]));
    store = await deploy('Store', []);
    factory = await deploy('RuleFactory', [contracts.entryPointV07, store]);
  });
  after(async () => {
    await bundler?.stop();
    await node?.stop();
  });

  async function deploy(name, args) {
    const { abi, bytecode } = artifacts[name];
    const hash = await wallet.deployContract({ abi, bytecode, args });
    return (await publicClient.waitForTransactionReceipt({ hash })).contractAddress;
  }
  async function send(to, abi, functionName, args = [], value = 0n) {
    const hash = await wallet.writeContract({ address: to, abi, functionName, args, value });
    assert.equal((await publicClient.waitForTransactionReceipt({ hash })).status, 'success');
  }
  async function account() {
    const address = await deploy('RuleAccount', [contracts.entryPointV07, store]);
    await publicClient.waitForTransactionReceipt({ hash: await wallet.sendTransaction({ to: address, value: parseEther('1') }) });
    return address;
  }
  async function paymaster({ withContext = false, canFail = false, staked = false } = {}) {
    const address = await deploy('RulePaymaster', [contracts.entryPointV07, withContext, canFail]);
    const { abi } = artifacts.RulePaymaster;
    await send(address, abi, 'deposit', [], parseEther('5'));
    if (staked) await send(address, abi, 'stake', [1], parseEther('1'));
    return address;
  }
  function op(sender, { mode = 0, factoryCall, paymasterAddress, nonce = 0n } = {}) {
    const callData = encodeFunctionData({ abi: artifacts.RuleAccount.abi, functionName: 'execute', args: ['0x000000000000000000000000000000000000beef', 1n, '0x'] });
    return {
      sender, nonce: hex(nonce), callData,
      ...(factoryCall ? { factory, factoryData: factoryCall } : {}),
      callGasLimit: hex(100_000), verificationGasLimit: hex(400_000), preVerificationGas: hex(100_000),
      maxFeePerGas: hex(20n * GWEI), maxPriorityFeePerGas: hex(GWEI),
      ...(paymasterAddress ? { paymaster: paymasterAddress, paymasterVerificationGasLimit: hex(100_000), paymasterPostOpGasLimit: hex(50_000), paymasterData: '0x' } : {}),
      signature: `0x${mode.toString(16).padStart(2, '0')}${'00'.repeat(64)}`,
    };
  }
  const sendOp = (userOp) => rpc(bundler.url, 'eth_sendUserOperation', [userOp, contracts.entryPointV07]);
  const refusal = (userOp) => sendOp(userOp).then((hash) => ({ accepted: hash }), (e) => e.rpc);
  const mined = (hash) => waitFor(() => rpc(bundler.url, 'eth_getUserOperationReceipt', [hash]), { timeout: 30_000, what: `the receipt of ${hash}` });

  test('opcodes: banned ones, GAS, SELFBALANCE unstaked, out of gas, a call to no code', async () => {
    const cases = [
      [1, -32502, /OP-011: the account used the banned opcode TIMESTAMP/],
      [4, -32502, /OP-012/],
      [5, -32505, /OP-080: the unstaked account used SELFBALANCE/],
      [6, -32502, /OP-020: the account reverted out of gas/],
      [7, -32502, /OP-041: .*0x00000000000000000000000000000000deadbeef, which has no code/i],
    ];
    for (const [mode, code, message] of cases) {
      const refused = await refusal(op(await account(), { mode }));
      assert.equal(refused.code, code, `mode ${mode}: ${refused.message}`);
      assert.match(refused.message, message);
    }
    const valid = await sendOp(op(await account()));
    assert.equal((await mined(valid)).success, true, 'the valid one next to them');
  });

  test('storage: another contract\'s slot needs a stake; the sender\'s associated storage does not', async () => {
    const refused = await refusal(op(await account(), { mode: 2 }));
    assert.equal(refused.code, -32505, refused.message);
    assert.match(refused.message, /STO-033: the unstaked account read slot/);
    const associated = await sendOp(op(await account(), { mode: 3 }));
    assert.equal((await mined(associated)).success, true);
  });

  test('a factory: deploying the sender is fine; writing storage associated with another address is not', async () => {
    const { abi } = artifacts.RuleFactory;
    const create = async (salt, touchOther) => {
      const sender = await publicClient.readContract({ address: factory, abi, functionName: 'accountAddress', args: [salt] });
      await publicClient.waitForTransactionReceipt({ hash: await wallet.sendTransaction({ to: sender, value: parseEther('1') }) });
      return op(sender, { factoryCall: encodeFunctionData({ abi, functionName: 'createAccount', args: [salt, touchOther] }) });
    };
    const salt = (n) => `0x${n.toString(16).padStart(64, '0')}`;
    const refused = await refusal(await create(salt(1), '0x00000000000000000000000000000000000000a1'));
    assert.equal(refused.code, -32502, refused.message);
    assert.match(refused.message, /STO-010: the factory made a forbidden write to slot/);
    const created = await create(salt(2), '0x0000000000000000000000000000000000000000');
    const hash = await sendOp(created);
    assert.equal((await mined(hash)).success, true);
    assert.ok((await publicClient.getCode({ address: created.sender }))?.length > 2, 'the factory deployed it');
  });

  test('paymasters: an unstaked one may not return a context; a staked one may; an unstaked one without is fine', async () => {
    const refused = await refusal(op(await account(), { paymasterAddress: await paymaster({ withContext: true }) }));
    assert.equal(refused.code, -32505, refused.message);
    assert.match(refused.message, /EREP-050/);
    const staked = await sendOp(op(await account(), { paymasterAddress: await paymaster({ withContext: true, staked: true }) }));
    assert.equal((await mined(staked)).success, true);
    const plain = await sendOp(op(await account(), { paymasterAddress: await paymaster() }));
    assert.equal((await mined(plain)).success, true);
  });

  test('reputation: a throttled paymaster gets 4 operations in the mempool, a banned one none; failures at the second validation count against it', async () => {
    const call = (method, params = []) => rpc(bundler.url, method, params);
    await call('debug_bundler_setBundlingMode', ['manual']);
    try {
      const p = await paymaster();
      await call('debug_bundler_setReputation', [[{ address: p, opsSeen: hex(120), opsIncluded: hex(0) }], contracts.entryPointV07]);
      const status = (await call('debug_bundler_dumpReputation', [contracts.entryPointV07])).find((e) => e.address.toLowerCase() === p.toLowerCase());
      assert.equal(status.status, 'throttled');
      for (let i = 0; i < 4; i++) await sendOp(op(await account(), { paymasterAddress: p }));
      const fifth = await refusal(op(await account(), { paymasterAddress: p }));
      assert.equal(fifth.code, -32504, fifth.message);
      assert.match(fifth.message, /throttled/);
      await call('debug_bundler_clearMempool');
      await call('debug_bundler_setReputation', [[{ address: p, opsSeen: hex(1000), opsIncluded: hex(0) }], contracts.entryPointV07]);
      const banned = await refusal(op(await account(), { paymasterAddress: p }));
      assert.equal(banned.code, -32504);
      assert.match(banned.message, /banned/);
      await call('debug_bundler_clearReputation');

      // Real failures: accepted, then the paymaster refuses at the second validation.
      const fickle = await paymaster({ canFail: true, staked: true });
      const hashes = [];
      for (let i = 0; i < 3; i++) hashes.push(await sendOp(op(await account(), { paymasterAddress: fickle })));
      await send(fickle, artifacts.RulePaymaster.abi, 'setFailing', [true]);
      const sent = await call('debug_bundler_sendBundleNow');
      assert.equal(sent.transactionHash, null, 'nothing left to bundle');
      assert.deepEqual(await call('debug_bundler_dumpMempool', [contracts.entryPointV07]), [], 'all three dropped');
      for (const hash of hashes) assert.equal(await call('eth_getUserOperationReceipt', [hash]), null);
      const entry = (await call('debug_bundler_dumpReputation', [contracts.entryPointV07])).find((e) => e.address.toLowerCase() === fickle.toLowerCase());
      assert.equal(entry.opsSeen, '0x3', 'seen three times');
      assert.equal(entry.opsIncluded, '0x0', 'included never');
      const again = await refusal(op(await account(), { paymasterAddress: fickle }));
      assert.equal(again.code, -32501, 'and now refused at once with the paymaster\'s code');
      assert.match(again.message, /AA33 reverted: paymaster says no/);
    } finally {
      await call('debug_bundler_setBundlingMode', ['auto']);
    }
  });
});
