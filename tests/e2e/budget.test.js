// Heavy RPC on a bounded budget: with one tracing request running and one waiting allowed, a
// flood of slow traces gets -32005 for the rest, the cheap reads keep answering, and a batch
// of traces waits its turn entry by entry instead of being refused.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rpc, startNode } from './lib/node.js';

// JUMPDEST; keccak256 of 32 bytes of memory; POP; jump back: about 56 gas a turn, so a call
// with 30M gas hashes for a good fraction of a second under a tracer.
const LOOP = '0x5b602060002050600056';
const AT = '0x00000000000000000000000000000000000c0de1';

async function post(url, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return res.json();
}

const trace = (id) => ({
  jsonrpc: '2.0', id, method: 'debug_traceCall',
  params: [{ to: AT, gas: '0x1c9c380' }, 'latest', { tracer: 'callTracer', stateOverrides: { [AT]: { code: LOOP } } }],
});

describe('heavy RPC budget', () => {
  let node;
  before(async () => {
    node = await startNode({ blockTime: '500ms', args: ['--rpc.max-tracing-requests', '1', '--rpc.max-waiting-requests', '1'] });
  });
  after(async () => { await node?.stop(); });

  test('past the running and waiting limits a trace is refused with -32005; cheap reads still answer', async () => {
    const flood = Array.from({ length: 6 }, (_, i) => post(node.internalUrl, trace(i)));
    // Asked while the traces run (the first takes far longer than sending the rest).
    const head = await rpc(node.rpcUrl, 'eth_blockNumber', []);
    assert.match(head, /^0x[0-9a-f]+$/);
    const answers = await Promise.all(flood);
    const refused = answers.filter((a) => a.error);
    const traced = answers.filter((a) => a.result);
    assert.ok(traced.length >= 2, `the running and the waiting one are traced (${traced.length} were)`);
    assert.ok(refused.length >= 1, 'the rest are refused');
    for (const a of refused) {
      assert.equal(a.error.code, -32005);
      assert.match(a.error.message, /too many tracing requests at once \(1 running, 1 waiting\)/);
    }
    for (const a of traced) assert.equal(a.result.to.toLowerCase(), AT, 'a call frame of the loop');
    const metrics = await (await fetch(node.metricsUrl)).text();
    const counted = Number(metrics.match(/^ande_rpc_budget_refused_total\{class="tracing"\} (\d+)/m)?.[1] ?? 0);
    assert.equal(counted, refused.length, 'every refusal is counted');
  });

  test('a batch of traces waits entry by entry, none refused', async () => {
    const answers = await post(node.internalUrl, [trace(1), trace(2), trace(3)]);
    assert.equal(answers.length, 3);
    for (const a of answers) assert.ok(a.result, `traced: ${JSON.stringify(a.error)}`);
  });
});
