// debug_traceCall with `erc7562Tracer`, field by field against what geth 1.16's native tracer
// writes for the same code: hand-assembled bytecode, injected with state overrides, that walks
// the three places revm-inspectors' tracer of that name differs from geth (a GAS right before a
// CALL is not counted; EXTCODESIZE then ISZERO is not an access to the code; a CALL target's code
// size is recorded), plus storage, transient storage, KECCAK256 preimages, a revert with its
// reason, an out-of-gas frame, and logs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rpc, startNode } from './lib/node.js';

// A tiny assembler: opcode names and 0x-prefixed pushes.
const OPS = {
  STOP: 0x00, ISZERO: 0x15, KECCAK256: 0x20, CALLER: 0x33, EXTCODESIZE: 0x3b, EXTCODEHASH: 0x3f,
  POP: 0x50, MSTORE: 0x52, SLOAD: 0x54, SSTORE: 0x55, GAS: 0x5a, TLOAD: 0x5c, TSTORE: 0x5d, PUSH0: 0x5f,
  LOG1: 0xa1, CALL: 0xf1, REVERT: 0xfd, STATICCALL: 0xfa,
};
function asm(...items) {
  let hex = '';
  for (const item of items) {
    if (typeof item === 'string' && item.startsWith('0x')) {
      const bytes = item.slice(2);
      hex += (0x5f + bytes.length / 2).toString(16) + bytes; // PUSHn
    } else {
      const op = OPS[item];
      if (op === undefined) throw new Error(`unknown opcode ${item}`);
      hex += op.toString(16).padStart(2, '0');
    }
  }
  return `0x${hex}`;
}

const FROM = '0x00000000000000000000000000000000000000f0';
const A = '0x00000000000000000000000000000000000000aa';
const B = '0x00000000000000000000000000000000000000bb';
const C = '0x00000000000000000000000000000000000000cc';
const D = '0x00000000000000000000000000000000000000dd'; // no code
const word = (n) => `0x${n.toString(16).padStart(64, '0')}`;

const B_CODE = asm('CALLER', 'POP', 'STOP');
const C_CODE = asm('STOP');
const A_CODE = asm(
  // GAS right before CALL: not counted. CALL to an address without code: its size (0) recorded.
  'PUSH0', 'PUSH0', 'PUSH0', 'PUSH0', 'PUSH0', D, 'GAS', 'CALL', 'POP',
  // GAS followed by anything else: counted.
  'GAS', 'POP',
  // EXTCODESIZE then ISZERO: a "has code" check, not an access; the size is recorded.
  B, 'EXTCODESIZE', 'ISZERO', 'POP',
  // EXTCODESIZE used otherwise, and EXTCODEHASH: accesses.
  C, 'EXTCODESIZE', 'POP',
  B, 'EXTCODEHASH', 'POP',
  // Storage: a read (with its value), a write, the read again (recorded once); transient storage.
  '0x05', 'SLOAD', 'POP', '0x07', '0x06', 'SSTORE', '0x05', 'SLOAD', 'POP',
  '0x01', '0x09', 'TSTORE', '0x09', 'TLOAD', 'POP',
  // A preimage: 32 bytes of memory holding 0x2a.
  '0x2a', 'PUSH0', 'MSTORE', '0x20', 'PUSH0', 'KECCAK256', 'POP',
  // A static call to B with 0xffff gas.
  'PUSH0', 'PUSH0', 'PUSH0', 'PUSH0', B, '0xffff', 'STATICCALL', 'POP',
  'STOP',
);

describe('erc7562Tracer', () => {
  let node;
  before(async () => { node = await startNode({ blockTime: '300ms' }); });
  after(async () => { await node?.stop(); });

  const trace = (call, overrides, config) => rpc(node.internalUrl, 'debug_traceCall', [
    { from: FROM, gas: '0xf4240', ...call }, 'latest', { tracer: 'erc7562Tracer', stateOverrides: overrides, ...(config ? { tracerConfig: config } : {}) }]);

  test('the three places geth differs from revm-inspectors, and the rest of a frame', async () => {
    const overrides = { [A]: { code: A_CODE, stateDiff: { [word(5)]: word(0x2a) } }, [B]: { code: B_CODE }, [C]: { code: C_CODE } };
    const frame = await trace({ to: A }, overrides);
    const calls = await rpc(node.internalUrl, 'debug_traceCall', [{ from: FROM, gas: '0xf4240', to: A }, 'latest', { tracer: 'callTracer', stateOverrides: overrides }]);
    const { calls: children, ...root } = frame;
    assert.deepEqual(root, {
      type: 'CALL',
      from: FROM,
      to: A,
      gas: '0xf4240',
      gasUsed: calls.gasUsed,
      input: '0x',
      value: '0x0',
      accessedSlots: {
        reads: { [word(5)]: [word(0x2a)] },
        writes: { [word(6)]: 1 },
        transientReads: { [word(9)]: 1 },
        transientWrites: { [word(9)]: 1 },
      },
      extCodeAccessInfo: [C, B],
      usedOpcodes: { '0x0': 1, '0x20': 1, '0x3b': 2, '0x3f': 1, '0x52': 1, '0x54': 2, '0x55': 1, '0x5a': 1, '0x5c': 1, '0x5d': 1, '0xf1': 1, '0xfa': 1 },
      contractSize: {
        [D]: { contractSize: 0, opcode: 0xf1 },
        [B]: { contractSize: 3, opcode: 0x3b },
        [C]: { contractSize: 1, opcode: 0x3b },
      },
      outOfGas: false,
      keccak: [word(0x2a)],
    });
    assert.deepEqual(children, [
      {
        type: 'CALL', from: A, to: D, gas: calls.calls[0].gas, gasUsed: '0x0', input: '0x', value: '0x0',
        accessedSlots: { reads: {}, writes: {}, transientReads: {}, transientWrites: {} },
        extCodeAccessInfo: [], usedOpcodes: {}, contractSize: {}, outOfGas: false,
      },
      {
        type: 'STATICCALL', from: A, to: B, gas: '0xffff', gasUsed: '0x4', input: '0x',
        accessedSlots: { reads: {}, writes: {}, transientReads: {}, transientWrites: {} },
        extCodeAccessInfo: [], usedOpcodes: { '0x0': 1, '0x33': 1 }, contractSize: {}, outOfGas: false,
      },
    ]);
  });

  test('a revert with its reason, a frame out of gas, and logs with their positions', async () => {
    // E reverts with Error("nope"); F runs out of its 0x100 gas at its first SSTORE.
    const reason = '08c379a0' + word(0x20).slice(2) + word(4).slice(2) + '6e6f7065'.padEnd(64, '0');
    const E = '0x00000000000000000000000000000000000000ee';
    const F = '0x00000000000000000000000000000000000000ff';
    const chunk = (i) => `0x${reason.slice(i * 64, i * 64 + 64).padEnd(64, '0')}`;
    const E_CODE = asm(chunk(0), 'PUSH0', 'MSTORE', chunk(1), '0x20', 'MSTORE', chunk(2), '0x40', 'MSTORE', chunk(3), '0x60', 'MSTORE', '0x64', 'PUSH0', 'REVERT');
    const F_CODE = asm('0x01', 'PUSH0', 'SSTORE', 'STOP');
    const G = '0x0000000000000000000000000000000000000099';
    const G_CODE = asm(
      '0xbeef', 'PUSH0', 'PUSH0', 'LOG1',
      'PUSH0', 'PUSH0', 'PUSH0', 'PUSH0', 'PUSH0', E, '0xffff', 'CALL', 'POP',
      'PUSH0', 'PUSH0', 'PUSH0', 'PUSH0', 'PUSH0', F, '0x0100', 'CALL', 'POP',
      '0xcafe', 'PUSH0', 'PUSH0', 'LOG1',
      'STOP',
    );
    const frame = await trace({ to: G }, { [E]: { code: E_CODE }, [F]: { code: F_CODE }, [G]: { code: G_CODE } }, { withLog: true });
    assert.equal(frame.calls.length, 2);
    const [reverted, starved] = frame.calls;
    assert.equal(reverted.error, 'execution reverted');
    assert.equal(reverted.revertReason, 'nope');
    assert.equal(reverted.output, `0x${reason}`);
    assert.equal(reverted.outOfGas, false);
    assert.equal(starved.error, 'out of gas');
    assert.equal(starved.outOfGas, true);
    assert.equal(starved.gasUsed, '0x100');
    assert.deepEqual(frame.logs, [
      { address: G, topics: [word(0xbeef)], data: '0x', index: '0x0', position: '0x0' },
      { address: G, topics: [word(0xcafe)], data: '0x', index: '0x1', position: '0x2' },
    ]);
    // Without withLog, no logs at all; a custom ignore list replaces geth's default.
    const plain = await trace({ to: G }, { [E]: { code: E_CODE }, [F]: { code: F_CODE }, [G]: { code: G_CODE } }, { ignoredOpcodes: ['0xa1'] });
    assert.equal(plain.logs, undefined);
    assert.equal(plain.usedOpcodes['0xa1'], undefined, 'LOG1 ignored as asked');
    assert.equal(plain.usedOpcodes['0x5f'], 14, 'PUSH0 counted: the default ignore list is replaced');
  });

  test('a bad tracer config is an invalid-params error', async () => {
    await assert.rejects(trace({ to: A }, { [A]: { code: A_CODE } }, { ignoredOpcodes: 'all' }), (e) => e.rpc?.code === -32602 && /erc7562Tracer config/.test(e.message));
  });
});
