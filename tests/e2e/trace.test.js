// debug_trace*: struct logs, callTracer (with an internal value transfer), prestateTracer,
// traceBlockByNumber/Hash and traceCall, as Blockscout and Foundry call them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFunctionData, parseEther } from 'viem';
import { DEV_KEYS, cast, rpc, startNode } from './lib/node.js';
import { clients } from './lib/clients.js';
import { compile } from './lib/contracts.js';

const A = '0x00000000000000000000000000000000000000a1';
const B = '0x00000000000000000000000000000000000000b2';

describe('tracing', () => {
  let node;
  let splitter;
  let hash;
  let receipt;
  let abi;

  before(async () => {
    node = await startNode({ blockTime: '300ms' });
    const { publicClient, wallet } = clients(node, DEV_KEYS[0]);
    const compiled = compile('Splitter.sol', 'Splitter');
    abi = compiled.abi;
    const deploy = await wallet.deployContract({ abi, bytecode: compiled.bytecode });
    splitter = (await publicClient.waitForTransactionReceipt({ hash: deploy })).contractAddress;
    hash = await wallet.writeContract({ address: splitter, abi, functionName: 'split', args: [A, B], value: 1001n });
    receipt = await publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success');
  });
  after(async () => { await node?.stop(); });

  test('callTracer shows the internal value transfers', async () => {
    const frame = await rpc(node.internalUrl, 'debug_traceTransaction', [hash, { tracer: 'callTracer' }]);
    assert.equal(frame.type, 'CALL');
    assert.equal(frame.to.toLowerCase(), splitter.toLowerCase());
    assert.equal(BigInt(frame.value), 1001n);
    assert.equal(BigInt(frame.gasUsed), receipt.gasUsed);
    const calls = frame.calls.map((c) => [c.type, c.to.toLowerCase(), BigInt(c.value)]);
    assert.deepEqual(calls, [['CALL', A, 500n], ['CALL', B, 501n]]);
    const withLogs = await rpc(node.internalUrl, 'debug_traceTransaction', [hash, { tracer: 'callTracer', tracerConfig: { withLog: true } }]);
    assert.equal(withLogs.logs.length, 1);
  });

  test('the struct logger and the prestate tracer', async () => {
    const logs = await rpc(node.internalUrl, 'debug_traceTransaction', [hash, {}]);
    assert.equal(logs.failed, false);
    assert.equal(BigInt(logs.gas), receipt.gasUsed);
    assert.ok(logs.structLogs.length > 50);
    assert.ok(logs.structLogs.some((s) => s.op === 'CALL'));
    const pre = await rpc(node.internalUrl, 'debug_traceTransaction', [hash, { tracer: 'prestateTracer' }]);
    assert.ok(pre[splitter.toLowerCase()]?.code, 'the contract and its code are in the prestate');
    const diff = await rpc(node.internalUrl, 'debug_traceTransaction', [hash, { tracer: 'prestateTracer', tracerConfig: { diffMode: true } }]);
    assert.equal(BigInt(diff.post[A].balance), 500n);
  });

  test('traceBlockByNumber and traceBlockByHash cover every transaction of the block', async () => {
    const byNumber = await rpc(node.internalUrl, 'debug_traceBlockByNumber', [`0x${receipt.blockNumber.toString(16)}`, { tracer: 'callTracer' }]);
    assert.ok(byNumber.some((t) => t.txHash === hash && t.result.calls.length === 2));
    const byHash = await rpc(node.internalUrl, 'debug_traceBlockByHash', [receipt.blockHash, { tracer: 'callTracer' }]);
    assert.deepEqual(byHash, byNumber);
  });

  test('traceCall traces a call that is not sent, and cast run replays a mined one', async () => {
    const data = encodeFunctionData({ abi, functionName: 'split', args: [A, B] });
    const frame = await rpc(node.internalUrl, 'debug_traceCall', [
      { from: clients(node, DEV_KEYS[1]).account.address, to: splitter, data, value: `0x${parseEther('1').toString(16)}` },
      'latest',
      { tracer: 'callTracer' },
    ]);
    assert.equal(frame.calls.length, 2);
    assert.equal(BigInt(frame.calls[1].value), parseEther('0.5'));
    const out = cast('run', hash, '--rpc-url', node.rpcUrl, '--quick');
    // cast replays the block locally from our historical state and sees both transfers.
    assert.match(out, /Transaction successfully executed/);
    assert.match(out, /\{value: 500\}/);
    assert.match(out, /\{value: 501\}/);
  });
});
