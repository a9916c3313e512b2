// The rest of the RPC surface a wallet, an explorer or a script relies on: state overrides,
// access lists, calls at past blocks, CORS, health on GET /, metrics and JSON logs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFunctionData, decodeFunctionResult, keccak256, parseEther } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { DEV_KEYS, rpc, startNode } from './lib/node.js';
import { clients } from './lib/clients.js';
import { compile } from './lib/contracts.js';

describe('rpc extras', () => {
  let node;
  let token;
  let abi;
  let deployBlock;
  let transferBlock;
  const holder = privateKeyToAccount(DEV_KEYS[0]).address;
  const BOB = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

  before(async () => {
    node = await startNode({ blockTime: '300ms', args: ['--rpc.cors', 'https://wallet.example'], env: { LOG_FORMAT: 'json' } });
    const { publicClient, wallet } = clients(node, DEV_KEYS[0]);
    const compiled = compile('AndeToken.sol', 'AndeToken');
    abi = compiled.abi;
    const hash = await wallet.deployContract({ abi, bytecode: compiled.bytecode, args: ['Extra', 'EXT', parseEther('100')] });
    const deployed = await publicClient.waitForTransactionReceipt({ hash });
    token = deployed.contractAddress;
    deployBlock = deployed.blockNumber;
    const sent = await wallet.writeContract({ address: token, abi, functionName: 'transfer', args: [BOB, parseEther('1')] });
    transferBlock = (await publicClient.waitForTransactionReceipt({ hash: sent })).blockNumber;
  });
  after(async () => { await node?.stop(); });

  const balanceOf = async (who, block) => {
    const data = encodeFunctionData({ abi, functionName: 'balanceOf', args: [who] });
    const out = await rpc(node.rpcUrl, 'eth_call', [{ to: token, data }, block]);
    return decodeFunctionResult({ abi, functionName: 'balanceOf', data: out });
  };

  test('eth_call at a past block sees that block\'s state', async () => {
    assert.equal(await balanceOf(BOB, `0x${deployBlock.toString(16)}`), 0n);
    assert.equal(await balanceOf(BOB, `0x${transferBlock.toString(16)}`), parseEther('1'));
    assert.equal(await balanceOf(BOB, 'latest'), parseEther('1'));
    await assert.rejects(rpc(node.rpcUrl, 'eth_call', [{ to: token, data: '0x' }, '0xffffff']), /header not found/);
  });

  test('state overrides: code, full state and state diff', async () => {
    const target = '0x00000000000000000000000000000000000000d1';
    // Code that returns storage slot 0.
    const code = '0x60005460005260206000f3';
    const slot0 = '0x0000000000000000000000000000000000000000000000000000000000000000';
    const out = await rpc(node.rpcUrl, 'eth_call', [{ to: target, data: '0x' }, 'latest',
      { [target]: { code, state: { [slot0]: '0x000000000000000000000000000000000000000000000000000000000000002a' } } }]);
    assert.equal(BigInt(out), 42n);
    // A state diff on the token: Bob's balance slot set to 5.
    const bobSlot = keccak256(`0x${BOB.slice(2).toLowerCase().padStart(64, '0')}${'3'.padStart(64, '0')}`);
    const data = encodeFunctionData({ abi, functionName: 'balanceOf', args: [BOB] });
    const diffed = await rpc(node.rpcUrl, 'eth_call', [{ to: token, data }, 'latest',
      { [token]: { stateDiff: { [bobSlot]: '0x0000000000000000000000000000000000000000000000000000000000000005' } } }]);
    assert.equal(BigInt(diffed), 5n);
    const rich = await rpc(node.rpcUrl, 'eth_estimateGas', [{ from: target, to: BOB, value: '0x1' }, 'latest', { [target]: { balance: '0xffffffffffffffff' } }]);
    assert.equal(rich, '0x5208');
  });

  test('eth_createAccessList names the token and the touched slots', async () => {
    const data = encodeFunctionData({ abi, functionName: 'transfer', args: [BOB, 1n] });
    const result = await rpc(node.rpcUrl, 'eth_createAccessList', [{ from: holder, to: token, data }, 'latest']);
    const entry = result.accessList.find((e) => e.address.toLowerCase() === token.toLowerCase());
    assert.ok(entry, 'the token is in the list');
    assert.equal(entry.storageKeys.length, 2, 'the sender\'s and the recipient\'s balance slots');
    assert.ok(BigInt(result.gasUsed) > 21000n);
  });

  test('CORS allows the configured origin only', async () => {
    const preflight = (origin) => fetch(node.rpcUrl, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    assert.equal((await preflight('https://wallet.example')).headers.get('access-control-allow-origin'), 'https://wallet.example');
    assert.equal((await preflight('https://evil.example')).headers.get('access-control-allow-origin'), null);
  });

  test('GET / and /health answer JSON health; metrics and JSON logs are served', async () => {
    for (const path of ['/', '/health']) {
      const res = await fetch(`${node.rpcUrl}${path}`);
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.chain_id, 1234);
      assert.ok(body.head > 0 && body.head_age_ms < 2000);
    }
    const metrics = await (await fetch(node.metricsUrl)).text();
    for (const name of ['ande_head_block', 'ande_block_build_seconds', 'ande_block_transactions', 'ande_txpool_pending',
      'ande_db_size_bytes', 'ande_rpc_request_seconds', 'ande_transactions_included_total']) {
      assert.match(metrics, new RegExp(`^${name}`, 'm'), `${name} is exported`);
    }
    assert.match(metrics, /ande_rpc_requests_total\{method="eth_call",result="ok"\}/);
    const lines = node.output.trim().split('\n').filter(Boolean);
    assert.ok(lines.length > 3);
    for (const line of lines) JSON.parse(line);
    assert.ok(lines.some((l) => JSON.parse(l).fields?.message === 'produced block'));
  });
});
