// The bridge end to end: a sequencer on DA, anvil as the other chain (1 s blocks), three
// validators on each side (2 of 3 sign), and `ande relayer` delivering. ANDE there and back and
// ETH the other way and back, exact to the wei, the status walking through its states; two equal
// transfers in one block; the relayer stopped while 100 messages are sent and killed with kill -9
// at random points, every message delivered once; a threshold not met, said why; a forged
// checkpoint refused; a handler that reverts kept and retried; a gas spike outbid; bad queries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pad, parseEther, toHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { cast, rpc, tempDir, waitFor } from './lib/node.js';
import { ABI, RELAYER_KEY, VALIDATORS, VALIDATOR_KEYS, chainClients, checkpointDigest, delivered, dispatched, processed, startBridge, startBridgeRelayer, startValidators, status } from './lib/bridge.js';

const USER_KEY = '0x4000000000000000000000000000000000000000000000000000000000000001';
const USER = privateKeyToAccount(USER_KEY).address;
const ORDER = ['waiting_for_signatures', 'sending', 'confirming', 'delivered'];

/** A user funded on both chains, with clients. */
async function user(bridge) {
  for (const client of [bridge.ande, bridge.l1]) {
    await client.public.waitForTransactionReceipt({ hash: await client.wallet.sendTransaction({ to: USER, value: parseEther('10') }) });
  }
  return { ande: chainClients(bridge.node.rpcUrl, 1234, USER_KEY), l1: chainClients(bridge.anvil.rpcUrl, 31337, USER_KEY) };
}

const gasCost = (receipt) => receipt.gasUsed * receipt.effectiveGasPrice;

function assertWalk(seen, what) {
  assert.equal(seen.at(-1), 'delivered', `${what}: delivered`);
  // Polled every 100 ms, a message waiting for finality (a DA batch, an anvil block) is seen
  // before it is delivered.
  assert.ok(seen.length >= 2, `${what}: seen on its way, not only delivered (${seen.join(' → ')})`);
  const positions = seen.map((s) => ORDER.indexOf(s));
  assert.ok(positions.every((p, i) => p >= 0 && (i === 0 || p > positions[i - 1])), `${what}: states in order, seen ${seen.join(' → ')}`);
}

test('ANDE to the other chain and back, ETH the other way and back: exact to the wei, the status walking through its states', async () => {
  const bridge = await startBridge();
  try {
    const { local, remote } = bridge;
    const me = await user(bridge);
    const wrappedAnde = { address: remote.warpAnde, abi: ABI.HypERC20 };
    const wrappedEth = { address: local.warpEth, abi: ABI.HypERC20 };

    // ANDE out with cast.
    const amount = parseEther('1.000000000000000007');
    const before = await me.ande.public.getBalance({ address: USER });
    const sent = JSON.parse(cast('send', local.warpAnde, 'transferRemote(uint32,bytes32,uint256)', '31337', pad(USER), amount.toString(), '--value', amount.toString(),
      '--private-key', USER_KEY, '--rpc-url', bridge.node.rpcUrl, '--json'));
    const [out] = await dispatched(me.ande, sent.transactionHash);
    const receipt = await me.ande.public.getTransactionReceipt({ hash: sent.transactionHash });
    assert.equal(await me.ande.public.getBalance({ address: USER }), before - amount - gasCost(receipt), 'ANDE left the sender: amount and gas, to the wei');
    const there = await delivered(bridge.relayer, out.id);
    assertWalk(there.seen, 'ANDE out');
    assert.equal(there.record.originTx, sent.transactionHash);
    assert.equal(there.record.deliveredBy, 'this relayer');
    assert.equal(there.record.signatures.need, 2);
    assert.ok(there.record.signatures.have >= 2, 'two signatures or more found');
    assert.equal(await me.l1.public.readContract({ ...wrappedAnde, functionName: 'balanceOf', args: [USER] }), amount, 'WANDE minted, to the wei');
    const mine = await (await fetch(`${bridge.relayer.url}/messages?sender=${USER}`)).json();
    assert.deepEqual(mine.messages.map((m) => m.id), [out.id], 'listed by the user who sent it');

    // And back with viem: WANDE burned, ANDE released.
    const backHash = await me.l1.wallet.writeContract({ ...wrappedAnde, functionName: 'transferRemote', args: [1234, pad(USER), amount] });
    const [home] = await dispatched(me.l1, backHash);
    const beforeHome = await me.ande.public.getBalance({ address: USER });
    assertWalk((await delivered(bridge.relayer, home.id)).seen, 'ANDE home');
    assert.equal(await me.ande.public.getBalance({ address: USER }), beforeHome + amount, 'ANDE back, to the wei');
    assert.equal(await me.l1.public.readContract({ ...wrappedAnde, functionName: 'totalSupply' }), 0n, 'no WANDE left');

    // ETH to AndeChain and back.
    const eth = parseEther('0.300000000000000003');
    const ethHash = await me.l1.wallet.writeContract({ address: remote.warpEth, abi: ABI.HypNative, functionName: 'transferRemote', args: [1234, pad(USER), eth], value: eth });
    const [ethOut] = await dispatched(me.l1, ethHash);
    assertWalk((await delivered(bridge.relayer, ethOut.id)).seen, 'ETH in');
    assert.equal(await me.ande.public.readContract({ ...wrappedEth, functionName: 'balanceOf', args: [USER] }), eth, 'WETH minted on AndeChain');
    const ethBackHash = await me.ande.wallet.writeContract({ ...wrappedEth, functionName: 'transferRemote', args: [31337, pad(USER), eth] });
    const [ethHome] = await dispatched(me.ande, ethBackHash);
    const beforeEth = await me.l1.public.getBalance({ address: USER });
    assertWalk((await delivered(bridge.relayer, ethHome.id)).seen, 'ETH home');
    assert.equal(await me.l1.public.getBalance({ address: USER }), beforeEth + eth, 'ETH back, to the wei');
    assert.equal(await me.l1.public.getBalance({ address: remote.warpEth }), 0n, 'nothing left locked');

    // Two equal transfers in one block: both arrive (a gas limit of their own: the second one
    // inserts into a tree the first changed, which an estimate against the head cannot see).
    const small = 1000n;
    const twins = [chainClients(bridge.node.rpcUrl, 1234, USER_KEY), bridge.ande];
    let pair = null;
    for (let attempt = 0; attempt < 5 && !pair; attempt++) {
      const hashes = await Promise.all(twins.map((c) => c.wallet.writeContract({ address: local.warpAnde, abi: ABI.HypNative, functionName: 'transferRemote', args: [31337, pad(USER), small], value: small, gas: 300_000n })));
      const messages = (await Promise.all(twins.map((c, i) => dispatched(c, hashes[i])))).flat();
      if (messages[0].block === messages[1].block) pair = messages;
    }
    assert.ok(pair, 'two transfers in one block within 5 attempts');
    for (const m of pair) await delivered(bridge.relayer, m.id);
    const ids = await processed(bridge.l1, remote.mailbox);
    assert.equal(new Set(ids).size, ids.length, 'no message processed twice');
    for (const m of [out, ...pair]) assert.ok(ids.includes(m.id));
  } finally {
    await bridge.stop();
  }
});

test('the relayer stopped while 100 messages are sent, then killed with kill -9 at random points: each delivered once', async () => {
  const bridge = await startBridge({ relayer: false });
  try {
    const { local, remote } = bridge;
    const me = await user(bridge);
    // 100 transfers while no relayer runs, sent with consecutive nonces.
    let nonce = await me.ande.public.getTransactionCount({ address: USER });
    const hashes = [];
    for (let i = 0; i < 100; i++) {
      hashes.push(await me.ande.wallet.writeContract({ address: local.warpAnde, abi: ABI.HypNative, functionName: 'transferRemote', args: [31337, pad(USER), 1n], value: 1n, nonce: nonce++, gas: 300_000n }));
    }
    const ids = [];
    for (const hash of hashes) ids.push(...(await dispatched(me.ande, hash)).map((m) => m.id));
    assert.equal(ids.length, 100);

    const relayerAddress = privateKeyToAccount(RELAYER_KEY).address;
    const sentBefore = await bridge.l1.public.getTransactionCount({ address: relayerAddress });
    const dataDir = tempDir('ande-relayer-');
    let relayer = await startBridgeRelayer(bridge, { dataDir });
    bridge.relayer = relayer;
    // kill -9 at random moments while it works through them; each restart resumes.
    const delays = Array.from({ length: 6 }, () => 300 + Math.floor(Math.random() * 1200));
    console.log(`# kill -9 after ${delays.join(', ')} ms`);
    for (const delay of delays) {
      await new Promise((r) => setTimeout(r, delay));
      await relayer.kill9();
      relayer = await startBridgeRelayer(bridge, { dataDir });
      bridge.relayer = relayer;
    }
    const all = await waitFor(async () => {
      const records = await Promise.all(ids.map((id) => status(relayer, id)));
      return records.every((r) => r?.state === 'delivered') ? records : null;
    }, { timeout: 120_000, interval: 500, what: 'all 100 messages delivered' });
    assert.equal(all.length, 100);
    const done = await processed(bridge.l1, remote.mailbox);
    assert.equal(done.length, 100, 'exactly 100 Process events');
    assert.deepEqual([...done].sort(), [...ids].sort(), 'each message processed once, none lost');
    // The Mailbox would refuse a second delivery anyway: the relayer never even sent one.
    assert.equal(await bridge.l1.public.getTransactionCount({ address: relayerAddress }) - sentBefore, 100, 'one transaction a message, across six kill -9');
    assert.equal(await bridge.l1.public.readContract({ address: remote.warpAnde, abi: ABI.HypERC20, functionName: 'balanceOf', args: [USER] }), 100n);
    const metrics = await (await fetch(`${relayer.url}/metrics`)).text();
    assert.match(metrics, /^ande_relayer_pending\{origin="1234",destination="31337"\} 0$/m);
  } finally {
    await bridge.stop();
  }
});

test('a threshold not met waits and says why; a forged checkpoint is refused; with the second validator it goes', async () => {
  const bridge = await startBridge({ validators: [VALIDATOR_KEYS[0]] });
  try {
    const { local } = bridge;
    const me = await user(bridge);
    // The third validator's announced location is a folder holding a checkpoint signed by a key
    // that is not a validator.
    const forgedDir = tempDir('ande-forged-');
    const location = `file://${forgedDir}`;
    const digest = await bridge.ande.public.readContract({ address: local.validatorAnnounce, abi: ABI.ValidatorAnnounce, functionName: 'getAnnouncementDigest', args: [location] });
    const third = privateKeyToAccount(VALIDATOR_KEYS[2]);
    const announcement = await third.sign({ hash: digest });
    await bridge.ande.public.waitForTransactionReceipt({ hash: await bridge.ande.wallet.writeContract({ address: local.validatorAnnounce, abi: ABI.ValidatorAnnounce, functionName: 'announce', args: [third.address, location, announcement] }) });

    const hash = await me.ande.wallet.writeContract({ address: local.warpAnde, abi: ABI.HypNative, functionName: 'transferRemote', args: [31337, pad(USER), 5n], value: 5n });
    const [message] = await dispatched(me.ande, hash);
    const first = await waitFor(async () => {
      const file = await fetch(`${bridge.validators.ande[0].url}/checkpoints/0_with_id.json`);
      return file.status === 200 ? file.json() : null;
    }, { timeout: 30_000, what: 'the one validator to sign' });
    const stranger = privateKeyToAccount('0x2000000000000000000000000000000000000000000000000000000000000001');
    const forged = structuredClone(first);
    const c = first.value.checkpoint;
    const digest2 = checkpointDigest(c.mailbox_domain, `0x${c.merkle_tree_hook_address.slice(26)}`, c.root, c.index, first.value.message_id);
    const signature = await stranger.signMessage({ message: { raw: digest2 } });
    forged.serialized_signature = signature;
    forged.signature = { r: signature.slice(0, 66), s: `0x${signature.slice(66, 130)}`, v: Number.parseInt(signature.slice(130), 16) };
    fs.writeFileSync(path.join(forgedDir, '0_with_id.json'), JSON.stringify(forged));
    fs.writeFileSync(path.join(forgedDir, 'index.json'), '0');

    const waiting = await waitFor(async () => {
      const r = await status(bridge.relayer, message.id);
      // Until it has seen the one signature and the forged one.
      return r?.state === 'waiting_for_signatures' && r.signatures?.have === 1 && /is not signed by it/.test(r.lastError ?? '') ? r : null;
    }, { timeout: 30_000, what: 'the relayer to report the missing signatures' });
    assert.equal(waiting.signatures.have, 1);
    assert.equal(waiting.signatures.need, 2);
    assert.match(waiting.lastError, /1 of the 2 validator signatures needed/);
    assert.match(waiting.lastError, new RegExp(`${third.address}'s checkpoint 0 at ${location} is not signed by it`));
    assert.match(waiting.lastError, new RegExp(`${VALIDATORS[1].address} has announced no location`));
    const health = await (await fetch(`${bridge.relayer.url}/health`)).json();
    assert.equal(health.waitingForSignatures, 1);

    bridge.validators.ande.push(...await startValidators(bridge, 'ande', [VALIDATOR_KEYS[1]]));
    const done = await delivered(bridge.relayer, message.id);
    assert.deepEqual(done.record.signatures.signed.map((a) => a.toLowerCase()).sort(), [VALIDATORS[0].address, VALIDATORS[1].address].map((a) => a.toLowerCase()).sort());
  } finally {
    await bridge.stop();
  }
});

test('a handler that reverts is kept and retried; a gas spike is outbid; bad queries get JSON errors', async () => {
  const bridge = await startBridge();
  try {
    const { local, remote } = bridge;
    const me = await user(bridge);
    // A message to an account with no code: its `handle` cannot run, so `process` reverts.
    const eoa = pad('0x00000000000000000000000000000000000000e0');
    const dispatchHash = await me.ande.wallet.writeContract({ address: local.mailbox, abi: ABI.Mailbox, functionName: 'dispatch', args: [31337, eoa, toHex('hello')] });
    const [stuck] = await dispatched(me.ande, dispatchHash);
    const failing = await waitFor(async () => {
      const r = await status(bridge.relayer, stuck.id);
      return r?.state === 'failing' && r.attempts >= 2 ? r : null;
    }, { timeout: 60_000, what: 'the reverting message to be retried' });
    assert.match(failing.lastError, /process would fail on chain 31337/);
    assert.ok(failing.nextAttemptAt > Date.now() - 1000, 'a next attempt is scheduled');
    const metrics = await (await fetch(`${bridge.relayer.url}/metrics`)).text();
    assert.match(metrics, /^ande_relayer_failed_attempts_total [1-9]/m);

    // A gas spike on the destination while the delivery is out: mining paused once the relayer
    // has sent it, the next block's base fee far above what it offered, mining resumed; it is
    // re-sent at the new price and delivered.
    await rpc(bridge.anvil.rpcUrl, 'evm_setIntervalMining', [0]);
    const hash = await me.ande.wallet.writeContract({ address: local.warpAnde, abi: ABI.HypNative, functionName: 'transferRemote', args: [31337, pad(USER), 7n], value: 7n });
    const [message] = await dispatched(me.ande, hash);
    await waitFor(async () => (await status(bridge.relayer, message.id))?.state === 'sending', { timeout: 30_000, what: 'the relayer to send the delivery' });
    await rpc(bridge.anvil.rpcUrl, 'anvil_setNextBlockBaseFeePerGas', [toHex(5000n * 10n ** 9n)]);
    await rpc(bridge.anvil.rpcUrl, 'evm_setIntervalMining', [1]);
    const done = await delivered(bridge.relayer, message.id, { timeout: 90_000 });
    const deliveryReceipt = await bridge.l1.public.getTransactionReceipt({ hash: done.record.destinationTx });
    assert.ok(deliveryReceipt.effectiveGasPrice >= 1000n * 10n ** 9n, `delivered at the spiked price (${deliveryReceipt.effectiveGasPrice} wei per gas)`);
    assert.equal(await bridge.l1.public.readContract({ address: remote.warpAnde, abi: ABI.HypERC20, functionName: 'balanceOf', args: [USER] }), 7n);

    // A message to a domain this bridge does not join is not relayed, and not known.
    const elsewhere = await me.ande.wallet.writeContract({ address: local.mailbox, abi: ABI.Mailbox, functionName: 'dispatch', args: [999, eoa, toHex('x')] });
    const [foreign] = await dispatched(me.ande, elsewhere);
    await waitFor(async () => (await (await fetch(`${bridge.relayer.url}/health`)).json()).chains['1234'].indexed >= Number(foreign.block), { what: 'the relayer to index past the foreign message' });
    const unknown = await fetch(`${bridge.relayer.url}/messages/${foreign.id}`);
    assert.equal(unknown.status, 404);
    assert.match((await unknown.json()).error, /not known to this relayer/);

    for (const [url, code] of [['/messages/0x1234', 400], ['/messages/nope', 400], ['/messages?sender=0xzz', 400], ['/messages', 400]]) {
      const res = await fetch(`${bridge.relayer.url}${url}`);
      assert.equal(res.status, code, url);
      assert.ok((await res.json()).error, `${url}: a JSON error`);
    }
  } finally {
    await bridge.stop();
  }
});
