// `ande validator`: signs each message of its origin chain once final, in Hyperlane's formats,
// so the other chain's message-id multisig ISM accepts its signatures; on AndeChain nothing is
// signed before it is on DA; on anvil (a node that is not ours), a reorg below the confirmation
// depth is survived with the right message signed, and one below a signed checkpoint halts the
// validator for good.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pad, parseEther } from 'viem';
import { DEV_KEYS, rpc, startAnvil, startDa, startNode, startValidator, waitFor } from './lib/node.js';
import { ABI, VALIDATOR_KEYS, VALIDATORS, chainClients, deployBridge, dispatched, ismMetadata, processMessage, startSequencer } from './lib/bridge.js';

const RECIPIENT = '0x00000000000000000000000000000000000000b1';

const get = async (validator, file) => {
  const res = await fetch(`${validator.url}/checkpoints/${file}`);
  return { status: res.status, body: res.status === 200 ? await res.json() : await res.json().catch(() => null) };
};
const health = async (validator) => {
  const res = await fetch(`${validator.url}/health`);
  return { status: res.status, ...(await res.json()) };
};
/** Waits until `validator` has signed `count` messages. */
const signedCount = (validator, count, what) => waitFor(async () => (await health(validator)).signed >= count, { timeout: 30_000, what });

async function transferAnde(client, contracts, amount) {
  const hash = await client.wallet.writeContract({ address: contracts.warpAnde, abi: ABI.HypNative, functionName: 'transferRemote', args: [31337, pad(RECIPIENT), amount], value: amount });
  return (await dispatched(client, hash))[0];
}

test('validators sign AndeChain\'s messages once on DA, and the other chain accepts their signatures', async () => {
  const da = await startDa();
  const node = await startSequencer(da);
  const anvil = await startAnvil({ chainId: 31337 });
  const validators = [];
  let daBack;
  try {
    const deployed = await deployBridge(node, anvil);
    assert.equal(deployed.code, 0, deployed.output);
    const [local, remote] = [deployed.local.contracts, deployed.remote.contracts];
    const ande = chainClients(node.rpcUrl, 1234, DEV_KEYS[5]);
    const l1 = chainClients(anvil.rpcUrl, 31337, DEV_KEYS[5]);
    // The first validator is funded and announces itself; the others only sign.
    await ande.public.waitForTransactionReceipt({ hash: await ande.wallet.sendTransaction({ to: VALIDATORS[0].address, value: parseEther('1') }) });
    for (const key of VALIDATOR_KEYS) {
      validators.push(await startValidator(node.internalUrl, deployed.localFile, key, { args: ['--chain-id', '1234'] }));
    }
    await waitFor(async () => (await health(validators[0])).announced, { timeout: 30_000, what: 'the funded validator to announce itself' });
    const announced = await ande.public.readContract({ address: local.validatorAnnounce, abi: ABI.ValidatorAnnounce, functionName: 'getAnnouncedStorageLocations', args: [[VALIDATORS[0].address]] });
    assert.deepEqual(announced, [[`${validators[0].url}/checkpoints`]]);
    // An unfunded validator's announcement, sent by someone else.
    const announcement = await waitFor(async () => {
      const file = await get(validators[1], 'announcement.json');
      return file.status === 200 ? file.body : null;
    }, { what: 'the second validator\'s signed announcement' });
    assert.equal(announcement.value.storage_location, `${validators[1].url}/checkpoints`);
    await ande.public.waitForTransactionReceipt({ hash: await ande.wallet.writeContract({ address: local.validatorAnnounce, abi: ABI.ValidatorAnnounce, functionName: 'announce', args: [VALIDATORS[1].address, announcement.value.storage_location, announcement.serialized_signature] }) });
    await waitFor(async () => (await health(validators[1])).announced, { timeout: 30_000, what: 'the second validator to see its announcement on chain' });

    // A transfer: each validator signs its checkpoint once the block is on DA.
    const amount = parseEther('2.000000000000000001');
    const first = await transferAnde(ande, local, amount);
    for (const [i, v] of validators.entries()) await signedCount(v, 1, `validator ${i} to sign the first message`);
    const files = await Promise.all(validators.map((v) => get(v, '0_with_id.json')));
    for (const [i, file] of files.entries()) {
      assert.equal(file.status, 200);
      assert.equal(file.body.value.message_id, first.id, `validator ${i} signed the message's id`);
      assert.equal(file.body.value.checkpoint.index, 0);
      assert.equal(file.body.value.checkpoint.mailbox_domain, 1234);
      assert.equal(file.body.value.checkpoint.merkle_tree_hook_address, pad(local.merkleTreeHook).toLowerCase());
    }
    assert.equal((await get(validators[0], 'index.json')).body, 0);
    // Two validators' signatures, as they serve them, deliver on the other chain.
    const signatures = [0, 2].map((i) => ({ signer: VALIDATORS[i].address, signature: files[i].body.serialized_signature }));
    const meta = ismMetadata(local.merkleTreeHook, files[0].body.value.checkpoint.root, 0, signatures);
    assert.equal((await processMessage(l1, remote, meta, first.message)).status, 'success');
    assert.equal(await l1.public.readContract({ address: remote.warpAnde, abi: ABI.HypERC20, functionName: 'balanceOf', args: [RECIPIENT] }), amount);

    // DA down: blocks keep coming, and nothing after the last included block is signed.
    await da.stop();
    const second = await transferAnde(ande, local, parseEther('0.5'));
    const target = Number(second.block) + 10;
    await waitFor(async () => Number(await rpc(node.rpcUrl, 'eth_blockNumber')) >= target, { what: `the head past block ${target} while DA is down` });
    for (const [i, v] of validators.entries()) {
      const h = await health(v);
      assert.equal(h.signed, 1, `validator ${i} signed nothing that is not on DA`);
      assert.ok(h.finalBlock < Number(second.block), `validator ${i}'s final block ${h.finalBlock} is before ${second.block}`);
      assert.equal(h.status, 'ok');
    }
    assert.equal((await get(validators[0], '1_with_id.json')).status, 404);
    daBack = await startDa({ dataDir: da.dataDir, port: da.port });
    for (const [i, v] of validators.entries()) await signedCount(v, 2, `validator ${i} to sign the second message once DA is back`);
    const secondFile = await get(validators[2], '1_with_id.json');
    assert.equal(secondFile.body.value.message_id, second.id);

    // kill -9 and restart: what it signed stays, identical.
    await validators[1].kill9();
    validators[1] = await startValidator(node.internalUrl, deployed.localFile, VALIDATOR_KEYS[1], { dataDir: validators[1].dataDir, args: ['--chain-id', '1234'] });
    assert.equal((await health(validators[1])).signed, 2);
    assert.deepEqual((await get(validators[1], '0_with_id.json')).body, files[1].body);

    // Bad requests: JSON 404s.
    for (const file of ['nope', '99_with_id.json', '-1_with_id.json']) {
      const res = await get(validators[0], file);
      assert.equal(res.status, 404, file);
      assert.ok(res.body?.error, `${file}: a JSON error`);
    }
    const metrics = await (await fetch(`${validators[0].url}/metrics`)).text();
    assert.match(metrics, /^ande_validator_signed 2$/m);
    assert.match(metrics, /^ande_validator_halted 0$/m);
    assert.match(metrics, /^ande_validator_announced 1$/m);
  } finally {
    for (const v of validators) await v.stop();
    await anvil.stop();
    await node.stop();
    await daBack?.stop();
    await da.stop();
  }
});

test('on anvil: a reorg below the confirmation depth is survived, one below a signed checkpoint halts the validator', async () => {
  const node = await startNode({ blockTime: '300ms' });
  const anvil = await startAnvil({ chainId: 31337 });
  const validators = [];
  try {
    const deployed = await deployBridge(node, anvil);
    assert.equal(deployed.code, 0, deployed.output);
    const remote = deployed.remote.contracts;
    const l1 = chainClients(anvil.rpcUrl, 31337, DEV_KEYS[5]);
    const start = (key, confirmations, dataDir) => startValidator(anvil.rpcUrl, deployed.remoteFile, key, { dataDir, args: ['--chain-id', '31337', '--finality', 'depth', '--confirmations', String(confirmations)] });
    const deep = await start(VALIDATOR_KEYS[0], 3);
    const eager = await start(VALIDATOR_KEYS[1], 0);
    validators.push(deep, eager);
    const sendEth = async (wei) => {
      const hash = await l1.wallet.writeContract({ address: remote.warpEth, abi: ABI.HypNative, functionName: 'transferRemote', args: [1234, pad(RECIPIENT), wei], value: wei });
      return (await dispatched(l1, hash))[0];
    };

    const snapshot = await rpc(anvil.rpcUrl, 'evm_snapshot');
    const orphan = await sendEth(111n);
    await signedCount(eager, 1, 'the validator without confirmations to sign');
    assert.equal((await get(eager, '0_with_id.json')).body.value.message_id, orphan.id);
    await waitFor(async () => (await health(deep)).finalBlock >= Number(orphan.block) - 3, { what: 'the deep validator to see the head' });
    assert.equal((await health(deep)).signed, 0, 'not signed above the confirmation depth');

    // The block of the orphaned message is replaced by one with another message.
    assert.equal(await rpc(anvil.rpcUrl, 'evm_revert', [snapshot]), true);
    const kept = await sendEth(222n);
    assert.equal(kept.block, orphan.block, 'the same height, another block');
    const halted = await waitFor(async () => {
      const h = await health(eager);
      return h.status === 'halted' ? h : null;
    }, { timeout: 30_000, what: 'the validator that signed the orphan to halt' });
    assert.equal(halted.status, 'halted');
    assert.match(halted.halted, /reorganised below a signed checkpoint/);
    assert.match(await (await fetch(`${eager.url}/metrics`)).text(), /^ande_validator_halted 1$/m);

    await rpc(anvil.rpcUrl, 'anvil_mine', ['0x3']);
    await signedCount(deep, 1, 'the deep validator to sign the message that stayed');
    assert.equal((await get(deep, '0_with_id.json')).body.value.message_id, kept.id, 'the kept message, never the orphan');
    assert.equal((await health(deep)).status, 'ok');

    // The halt outlives a restart.
    await eager.stop();
    validators[1] = await start(VALIDATOR_KEYS[1], 0, eager.dataDir);
    const again = await health(validators[1]);
    assert.equal(again.status, 'halted');
    assert.equal(again.signed, 1);
  } finally {
    for (const v of validators) await v.stop();
    await anvil.stop();
    await node.stop();
  }
});
