// The same genesis and the same transactions on ande node and on anvil (Foundry's node) give
// the same receipts (status, gas used, logs, created address), nonces, code, storage and
// balances (each account's counted with the fees it paid on that node, since the two nodes'
// base fees move with their own block schedules).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concat, encodeFunctionData, getContractAddress, keccak256, pad, parseEther, toHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { DEV_KEYS, LOCAL_GENESIS, startAnvil, startNode } from './lib/node.js';
import { clients } from './lib/clients.js';
import { compile } from './lib/contracts.js';

const PROXY = '0x4e59b44847b379578588920ca78fbf26c0b4956c';
const FRESH = ['0x00000000000000000000000000000000000d1ff1', '0x00000000000000000000000000000000000d1ff2', '0x00000000000000000000000000000000000d1ff3'];
// Runtime code that returns 42, and init code that deploys it.
const RETURNS_42 = '0x602a60005260206000f3';
const RETURNS_42_INIT = `0x69${RETURNS_42.slice(2)}600052600a6016f3`;
const SALT = pad('0x2a');
const DETERMINISTIC = getContractAddress({ opcode: 'CREATE2', from: PROXY, salt: SALT, bytecode: RETURNS_42_INIT }).toLowerCase();
// Init code that self-destructs to FRESH[2] while being created (EIP-6780: the account goes).
const DESTROYED_IN_CREATION = `0x73${FRESH[2].slice(2)}ff`;
// Init code deploying a contract that self-destructs to FRESH[2] when called (it stays).
const DESTROYS_WHEN_CALLED_INIT = `0x7573${FRESH[2].slice(2)}ff6000526016600af3`;

/** The transactions, in order; each resolves to its hash. `ctx` carries addresses between steps. */
function steps(token) {
  const call = (functionName, args) => encodeFunctionData({ abi: token.abi, functionName, args });
  return [
    ['transfer', (a) => a.wallet.sendTransaction({ to: FRESH[0], value: parseEther('1') })],
    ['legacy transfer', (a) => a.wallet.sendTransaction({ type: 'legacy', to: FRESH[1], value: 12345n, gasPrice: 3_000_000_000n })],
    ['access-list transfer', (a) => a.wallet.sendTransaction({ type: 'eip2930', to: FRESH[0], value: 1n, gasPrice: 3_000_000_000n, accessList: [{ address: FRESH[0], storageKeys: [pad('0x01')] }] })],
    ['deploy an ERC-20', (a) => a.wallet.deployContract({ abi: token.abi, bytecode: token.bytecode, args: ['Diff', 'DIF', parseEther('1000')] })],
    ['token transfer', (a, ctx) => a.wallet.sendTransaction({ to: ctx.token, data: call('transfer', [ctx.b, parseEther('10')]) })],
    ['approve', (a, ctx) => a.wallet.sendTransaction({ to: ctx.token, data: call('approve', [ctx.b, parseEther('5')]) })],
    ['transferFrom', (a, ctx) => a.walletB.sendTransaction({ to: ctx.token, data: call('transferFrom', [ctx.a, FRESH[0], parseEther('3')]) })],
    ['token transfer that reverts', (a, ctx) => a.walletB.sendTransaction({ to: ctx.token, data: call('transfer', [FRESH[1], parseEther('1000')]), gas: 100_000n })],
    ['token transfer out of gas', (a, ctx) => a.wallet.sendTransaction({ to: ctx.token, data: call('transfer', [FRESH[1], 1n]), gas: 23_000n })],
    ['CREATE2 through the deterministic deployer', (a) => a.wallet.sendTransaction({ to: PROXY, data: concat([SALT, RETURNS_42_INIT]), gas: 200_000n })],
    ['SELFDESTRUCT in the creating transaction', (a) => a.wallet.sendTransaction({ data: DESTROYED_IN_CREATION, value: parseEther('0.5'), gas: 100_000n })],
    ['deploy a contract that self-destructs when called', (a) => a.wallet.sendTransaction({ data: DESTROYS_WHEN_CALLED_INIT, gas: 100_000n })],
    ['SELFDESTRUCT of an older contract', (a, ctx) => a.wallet.sendTransaction({ to: ctx.created.at(-1), value: parseEther('0.2'), gas: 100_000n })],
    ['creation that reverts', (a) => a.wallet.sendTransaction({ data: '0x60006000fd', gas: 100_000n })],
    ['EIP-7702 delegation and a call through it', async (a, ctx) => {
      const authorization = await a.walletB.signAuthorization({ contractAddress: ctx.token, executor: 'self' });
      return a.walletB.sendTransaction({ to: ctx.b, data: call('transfer', [FRESH[0], 0n]), authorizationList: [authorization], gas: 200_000n });
    }],
  ];
}

async function run(node, token) {
  const a = clients(node, DEV_KEYS[0]);
  const b = clients(node, DEV_KEYS[1]);
  const actors = { wallet: a.wallet, walletB: b.wallet };
  const ctx = { a: a.account.address, b: b.account.address, created: [] };
  const receipts = [];
  for (const [name, send] of steps(token)) {
    const hash = await send(actors, ctx);
    const receipt = await a.publicClient.waitForTransactionReceipt({ hash, timeout: 20_000 });
    if (receipt.contractAddress) {
      ctx.created.push(receipt.contractAddress);
      if (name === 'deploy an ERC-20') ctx.token = receipt.contractAddress;
    }
    receipts.push({ name, receipt });
  }
  const fees = new Map();
  for (const { receipt } of receipts) {
    const from = receipt.from.toLowerCase();
    fees.set(from, (fees.get(from) ?? 0n) + receipt.gasUsed * receipt.effectiveGasPrice);
  }
  const accounts = {};
  for (const address of [ctx.a, ctx.b, ...FRESH, ...ctx.created, DETERMINISTIC, PROXY]) {
    const key = address.toLowerCase();
    accounts[key] = {
      balanceWithFees: (await a.publicClient.getBalance({ address })) + (fees.get(key) ?? 0n),
      nonce: await a.publicClient.getTransactionCount({ address }),
      code: (await a.publicClient.getCode({ address })) ?? '0x',
    };
  }
  // The token's scalar slots (name, symbol, totalSupply; slots 3 and 4 are its mappings' roots,
  // always zero) and its holders' balances (the mapping at slot 3).
  const storage = {};
  for (let index = 0; index < 3; index++) storage[`slot ${index}`] = await a.publicClient.getStorageAt({ address: ctx.token, slot: pad(toHex(index)) });
  for (const holder of [ctx.a, ctx.b, FRESH[0], FRESH[1]]) {
    storage[`balanceOf ${holder}`] = await a.publicClient.getStorageAt({ address: ctx.token, slot: keccak256(concat([pad(holder), pad('0x03')])) });
  }
  return {
    receipts: receipts.map(({ name, receipt }) => ({
      name,
      status: receipt.status,
      type: receipt.type,
      gasUsed: receipt.gasUsed,
      contractAddress: receipt.contractAddress?.toLowerCase() ?? null,
      logs: receipt.logs.map((l) => ({ address: l.address.toLowerCase(), topics: l.topics, data: l.data })),
    })),
    accounts,
    storage,
  };
}

test('ande node and anvil agree on receipts, balances, nonces, code and storage for the same transactions', { timeout: 120_000 }, async () => {
  const token = compile('AndeToken.sol', 'AndeToken');
  const node = await startNode({ blockTime: '200ms' });
  const anvil = await startAnvil({ chainId: 1234, genesis: LOCAL_GENESIS });
  try {
    const ours = await run(node, token);
    const theirs = await run(anvil, token);
    for (let i = 0; i < ours.receipts.length; i++) {
      assert.deepEqual(ours.receipts[i], theirs.receipts[i], `receipt of "${ours.receipts[i].name}"`);
    }
    assert.deepEqual(ours.accounts, theirs.accounts, 'balances (with fees), nonces and code');
    assert.deepEqual(ours.storage, theirs.storage, 'the token\'s storage');
    // The cases did what they are for, on both.
    const byName = Object.fromEntries(ours.receipts.map((r) => [r.name, r]));
    assert.equal(byName['token transfer that reverts'].status, 'reverted');
    assert.equal(byName['token transfer out of gas'].gasUsed, 23_000n);
    assert.equal(byName['creation that reverts'].status, 'reverted');
    assert.equal(ours.accounts[FRESH[2]].balanceWithFees, parseEther('0.7'), 'both self-destructs paid the beneficiary');
    const destroyed = byName['SELFDESTRUCT in the creating transaction'].contractAddress;
    assert.equal(ours.accounts[destroyed].code, '0x', 'destroyed while created: no code');
    const older = byName['deploy a contract that self-destructs when called'].contractAddress;
    assert.notEqual(ours.accounts[older].code, '0x', 'destroyed later: the code stays (EIP-6780)');
    const delegated = ours.accounts[privateKeyToAccount(DEV_KEYS[1]).address.toLowerCase()].code;
    assert.equal(delegated, `0xef0100${ours.receipts[3].contractAddress.slice(2)}`, 'the EIP-7702 delegation');
    assert.equal(ours.accounts[DETERMINISTIC].code, RETURNS_42, 'CREATE2 through the deployer, at its predicted address');
  } finally {
    await node.stop();
    await anvil.stop();
  }
});
