// The bridge's contracts as `ande deploy` puts them on AndeChain and on anvil (the other chain,
// a node that is not ours): Hyperlane's Mailbox, hooks, multisig ISM and warp routes from
// @hyperlane-xyz/core, wired to each other. The test itself plays validators and relayer here:
// it signs checkpoints as Hyperlane validators do and calls `process`, so what is proven is the
// contracts' setup: ANDE there and back exact to the wei, two equal transfers in one block with
// distinct ids, a threshold the ISM enforces, a key that is no validator refused, no replay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { getContract, pad, parseEther } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { DEV_KEYS, runAnde, startAnvil, startNode, tempDir } from './lib/node.js';
import { ABI, DEPLOYER, VALIDATORS, chainClients, deployBridge, dispatched, processMessage, signedMetadata } from './lib/bridge.js';

const STRANGER = privateKeyToAccount('0x2000000000000000000000000000000000000000000000000000000000000001');

test('ande deploy puts Hyperlane on both chains: ANDE there and back, the ISM enforcing its validators', async () => {
  const node = await startNode({ blockTime: '300ms' });
  const anvil = await startAnvil({ chainId: 31337 });
  try {
    const first = await deployBridge(node, anvil);
    assert.equal(first.code, 0, first.output);
    const [local, remote] = [first.local.contracts, first.remote.contracts];
    assert.equal(first.remote.chainId, 31337);
    assert.equal(first.remote.network, 'l1-local');
    for (const name of ['mailbox', 'merkleTreeHook', 'pausableHook', 'validatorAnnounce', 'messageIdMultisigIsmFactory', 'messageIdMultisigIsm', 'warpAnde', 'warpEth']) {
      assert.match(local[name] ?? '', /^0x[0-9a-fA-F]{40}$/, `AndeChain: ${name}`);
      assert.match(remote[name] ?? '', /^0x[0-9a-fA-F]{40}$/, `the other chain: ${name}`);
    }
    assert.equal(local.messageIdMultisigIsmFactory, remote.messageIdMultisigIsmFactory, 'the ISM factory is at one address on both (CREATE2)');
    assert.ok(local.entryPointV07, 'the ERC-4337 contracts are in the same file');

    const ande = chainClients(node.rpcUrl, 1234, DEV_KEYS[5]);
    const l1 = chainClients(anvil.rpcUrl, 31337, DEV_KEYS[5]);
    for (const [client, contracts, origin] of [[ande, local, 31337], [l1, remote, 1234]]) {
      const mailbox = getContract({ address: contracts.mailbox, abi: ABI.Mailbox, client: client.public });
      assert.equal(await mailbox.read.localDomain(), client.id, 'the domain is the chain id');
      assert.equal((await mailbox.read.owner()).toLowerCase(), privateKeyToAccount(DEPLOYER).address.toLowerCase());
      assert.equal((await mailbox.read.defaultHook()).toLowerCase(), contracts.merkleTreeHook.toLowerCase());
      assert.equal((await mailbox.read.requiredHook()).toLowerCase(), contracts.pausableHook.toLowerCase());
      assert.equal((await mailbox.read.defaultIsm()).toLowerCase(), contracts.messageIdMultisigIsm.toLowerCase());
      const ism = getContract({ address: contracts.messageIdMultisigIsm, abi: ABI.StaticMessageIdMultisigIsm, client: client.public });
      const [validators, threshold] = await ism.read.validatorsAndThreshold(['0x']);
      assert.deepEqual(validators.map((v) => v.toLowerCase()), VALIDATORS.map((v) => v.address.toLowerCase()).sort());
      assert.equal(threshold, 2);
      for (const route of ['warpAnde', 'warpEth']) {
        const other = origin === 31337 ? remote[route] : local[route];
        const router = await client.public.readContract({ address: contracts[route], abi: ABI.HypNative, functionName: 'routers', args: [origin] });
        assert.equal(router.toLowerCase(), pad(other).toLowerCase(), `${route} on ${client.id} is enrolled with its twin`);
      }
    }

    // A second run sends nothing on either chain.
    const nonces = async () => [await ande.public.getTransactionCount({ address: privateKeyToAccount(DEPLOYER).address }), await l1.public.getTransactionCount({ address: privateKeyToAccount(DEPLOYER).address })];
    const before = await nonces();
    const again = await deployBridge(node, anvil, { dir: first.dir, dataDir: first.dataDir });
    assert.equal(again.code, 0, again.output);
    assert.deepEqual(again.local, first.local);
    assert.deepEqual(again.remote, first.remote);
    assert.deepEqual(await nonces(), before, 'nothing sent the second time');
    const keyless = await deployBridge(node, anvil, { dir: first.dir, dataDir: first.dataDir, key: null });
    assert.equal(keyless.code, 0, keyless.output);

    // ANDE to the other chain: locked here, minted there, exact to the wei.
    const recipient = privateKeyToAccount('0x3000000000000000000000000000000000000000000000000000000000000001').address;
    const amount = parseEther('1.234567890123456789');
    const lockedBefore = await ande.public.getBalance({ address: local.warpAnde });
    const sendHash = await ande.wallet.writeContract({ address: local.warpAnde, abi: ABI.HypNative, functionName: 'transferRemote', args: [31337, pad(recipient), amount], value: amount });
    const [out] = await dispatched(ande, sendHash);
    assert.equal(await ande.public.getBalance({ address: local.warpAnde }), lockedBefore + amount, 'locked on AndeChain');

    // One signature of a threshold of two: refused. A key that is no validator: refused.
    await assert.rejects(processMessage(l1, remote, await signedMetadata(ande, local, out.id, [VALIDATORS[0]]), out.message));
    await assert.rejects(processMessage(l1, remote, await signedMetadata(ande, local, out.id, [VALIDATORS[0], STRANGER]), out.message), /!threshold/);
    const isDelivered = () => l1.public.readContract({ address: remote.mailbox, abi: ABI.Mailbox, functionName: 'delivered', args: [out.id] });
    assert.equal(await isDelivered(), false, 'refused: not delivered');
    const delivery = await processMessage(l1, remote, await signedMetadata(ande, local, out.id, [VALIDATORS[2], VALIDATORS[0]]), out.message);
    assert.equal(delivery.status, 'success');
    const wrapped = getContract({ address: remote.warpAnde, abi: ABI.HypERC20, client: l1.public });
    assert.equal(await wrapped.read.balanceOf([recipient]), amount, 'minted on the other chain, to the wei');
    assert.equal(await wrapped.read.symbol(), 'WANDE');
    assert.equal(await isDelivered(), true);
    await assert.rejects(processMessage(l1, remote, await signedMetadata(ande, local, out.id, VALIDATORS), out.message), /delivered/i, 'no second delivery');

    // And back: burned there, released here.
    await l1.wallet.sendTransaction({ to: recipient, value: parseEther('1') });
    const holder = chainClients(anvil.rpcUrl, 31337, '0x3000000000000000000000000000000000000000000000000000000000000001');
    const back = privateKeyToAccount('0x3000000000000000000000000000000000000000000000000000000000000002').address;
    const backHash = await holder.wallet.writeContract({ address: remote.warpAnde, abi: ABI.HypERC20, functionName: 'transferRemote', args: [1234, pad(back), amount] });
    const [home] = await dispatched(holder, backHash);
    assert.equal(await wrapped.read.balanceOf([recipient]), 0n, 'burned on the other chain');
    const release = await processMessage(ande, local, await signedMetadata(l1, remote, home.id, VALIDATORS.slice(0, 2)), home.message);
    assert.equal(release.status, 'success');
    assert.equal(await ande.public.getBalance({ address: back }), amount, 'released on AndeChain, to the wei');
    assert.equal(await ande.public.getBalance({ address: local.warpAnde }), lockedBefore, 'nothing left locked');

    // Two equal transfers in one block: two messages, two ids. Sent together; sent again in the
    // rare case a block boundary fell between them.
    const twins = [chainClients(node.rpcUrl, 1234, DEV_KEYS[6]), chainClients(node.rpcUrl, 1234, DEV_KEYS[7])];
    const small = parseEther('0.01');
    let sameBlock = null;
    for (let attempt = 0; attempt < 5 && !sameBlock; attempt++) {
      const hashes = await Promise.all(twins.map((c) => c.wallet.writeContract({ address: local.warpAnde, abi: ABI.HypNative, functionName: 'transferRemote', args: [31337, pad(recipient), small], value: small, gas: 300_000n })));
      const receipts = await Promise.all(hashes.map((hash) => ande.public.waitForTransactionReceipt({ hash, timeout: 30_000 })));
      if (receipts[0].blockNumber === receipts[1].blockNumber) sameBlock = (await Promise.all(twins.map((c, i) => dispatched(c, hashes[i])))).flat();
    }
    assert.ok(sameBlock, 'two transfers landed in one block within 5 attempts');
    assert.equal(sameBlock.length, 2);
    assert.notEqual(sameBlock[0].id, sameBlock[1].id, 'distinct message ids');
  } finally {
    await anvil.stop();
    await node.stop();
  }
});

test('the bridge deploy refuses what cannot work, saying why', async () => {
  const node = await startNode({ blockTime: '300ms' });
  const anvil = await startAnvil({ chainId: 31337 });
  try {
    const threshold = await deployBridge(node, anvil, { threshold: 4 });
    assert.notEqual(threshold.code, 0);
    assert.match(threshold.output, /threshold of 4 needs between 1 and 3 validators/);
    const wrongChain = await deployBridge(node, anvil, { remoteChainId: 5 });
    assert.notEqual(wrongChain.code, 0);
    assert.match(wrongChain.output, /31337/);
    const same = await runAnde(['deploy', '--rpc-url', node.rpcUrl, '--private-key', DEPLOYER, '--out', path.join(tempDir(), 'local.json'), '--data-dir', tempDir(),
      '--bridge-remote-rpc-url', node.rpcUrl, '--bridge-validators', VALIDATORS[0].address], { timeout: 120_000 });
    assert.notEqual(same.code, 0);
    assert.match(same.output, /AndeChain's own chain id 1234/);
  } finally {
    await anvil.stop();
    await node.stop();
  }
});
