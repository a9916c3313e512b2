// Real clients (Foundry's cast and viem) against a running node: chain id, balances, a signed
// EIP-1559 transfer, an ERC-20 deployed and used, its logs by eth_getLogs and by a WebSocket
// subscription, gas estimation and revert reasons.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEther, getContract, parseAbiItem } from 'viem';
import { DEV_KEYS, cast, rpc, startNode, waitFor } from './lib/node.js';
import { clients, wsClient } from './lib/clients.js';
import { compile } from './lib/contracts.js';

const ALICE = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266';
const BOB = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

describe('real clients against ande node', () => {
  let node;
  before(async () => { node = await startNode({ blockTime: '500ms' }); });
  after(async () => { await node?.stop(); });

  test('cast and viem read the chain id and balances', async () => {
    assert.equal(cast('chain-id', '--rpc-url', node.rpcUrl), '1234');
    assert.equal(await rpc(node.rpcUrl, 'net_version'), '1234');
    const { publicClient } = clients(node);
    assert.equal(await publicClient.getChainId(), 1234);
    assert.equal(cast('balance', BOB, '--rpc-url', node.rpcUrl), parseEther('10000').toString());
    assert.equal(await publicClient.getBalance({ address: BOB }) > 0n, true);
  });

  test('a signed EIP-1559 transfer from viem is mined with a receipt', async () => {
    const { publicClient, wallet } = clients(node, DEV_KEYS[0]);
    const to = '0x000000000000000000000000000000000000bEEF';
    const before = await publicClient.getBalance({ address: ALICE });
    const hash = await wallet.sendTransaction({ to, value: parseEther('1.5') });
    const receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: 15_000 });
    assert.equal(receipt.status, 'success');
    assert.equal(receipt.type, 'eip1559');
    assert.equal(receipt.gasUsed, 21000n);
    assert.equal(await publicClient.getBalance({ address: to }), parseEther('1.5'));
    const after = await publicClient.getBalance({ address: ALICE });
    assert.equal(before - after, parseEther('1.5') + receipt.gasUsed * receipt.effectiveGasPrice);
    const tx = await publicClient.getTransaction({ hash });
    assert.equal(tx.blockHash, receipt.blockHash);
    assert.equal(tx.from.toLowerCase(), ALICE.toLowerCase());
    // The balance before the transfer is still readable at the previous block.
    const atParent = await publicClient.getBalance({ address: to, blockNumber: receipt.blockNumber - 1n });
    assert.equal(atParent, 0n);
  });

  test('cast sends a transfer and reads its receipt', async () => {
    const out = cast('send', '--rpc-url', node.rpcUrl, '--private-key', DEV_KEYS[1], BOB, '--value', '12345', '--json');
    const receipt = JSON.parse(out);
    assert.equal(receipt.status, '0x1');
    const fetched = JSON.parse(cast('receipt', receipt.transactionHash, '--rpc-url', node.rpcUrl, '--json'));
    assert.equal(fetched.blockHash, receipt.blockHash);
  });

  test('an ERC-20 is deployed, called, and its Transfer logs arrive by getLogs and by subscription', async () => {
    const { abi, bytecode } = compile('AndeToken.sol', 'AndeToken');
    const { publicClient, wallet } = clients(node, DEV_KEYS[2]);
    const deployer = wallet.account.address;
    const deployHash = await wallet.deployContract({ abi, bytecode, args: ['Ande Test', 'ATST', parseEther('1000000')] });
    const deployed = await publicClient.waitForTransactionReceipt({ hash: deployHash, timeout: 15_000 });
    assert.equal(deployed.status, 'success');
    const address = deployed.contractAddress;
    assert.ok(address, 'receipt names the contract address');
    assert.notEqual(await publicClient.getCode({ address }), undefined);

    const token = getContract({ address, abi, client: { public: publicClient, wallet } });
    assert.equal(await token.read.symbol(), 'ATST');
    assert.equal(await token.read.balanceOf([deployer]), parseEther('1000000'));
    assert.equal(cast('call', address, 'name()(string)', '--rpc-url', node.rpcUrl), '"Ande Test"');

    // Subscribe over WebSocket before the transfer.
    const ws = wsClient(node);
    const seen = [];
    const unwatch = ws.watchContractEvent({ address, abi, eventName: 'Transfer', onLogs: (logs) => seen.push(...logs) });
    await new Promise((r) => setTimeout(r, 300));

    const estimate = await token.estimateGas.transfer([BOB, 777n], { account: wallet.account });
    assert.ok(estimate > 21000n && estimate < 100000n, `estimate ${estimate}`);
    const hash = await token.write.transfer([BOB, 777n]);
    const receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: 15_000 });
    assert.equal(receipt.status, 'success');
    assert.ok(receipt.gasUsed <= estimate, 'the estimate covers the gas used');
    assert.equal(await token.read.balanceOf([BOB]), 777n);

    const logs = await publicClient.getLogs({
      address,
      event: parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)'),
      fromBlock: 0n,
      toBlock: 'latest',
    });
    assert.equal(logs.length, 2, 'the mint and the transfer');
    assert.equal(logs[1].args.to, BOB);
    assert.equal(logs[1].args.value, 777n);
    assert.equal(logs[1].transactionHash, hash);

    await waitFor(() => seen.some((l) => l.transactionHash === hash), { what: 'the Transfer log over WebSocket' });
    const live = seen.find((l) => l.transactionHash === hash);
    assert.equal(live.args.value, 777n);
    assert.equal(live.logIndex, logs[1].logIndex);
    unwatch();
    await ws.transport.getRpcClient().then((c) => c.close());

    // A transfer beyond the balance reverts, and both clients show the reason.
    await assert.rejects(
      publicClient.simulateContract({ address, abi, functionName: 'transfer', args: [ALICE, parseEther('5')], account: BOB }),
      /AndeToken: insufficient balance/,
    );
    assert.throws(
      () => cast('call', address, 'transfer(address,uint256)', ALICE, '1000', '--from', BOB, '--rpc-url', node.rpcUrl),
      (e) => /insufficient balance/.test(String(e.stderr)),
    );
    const raw = await fetch(node.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_call', params: [{ from: BOB, to: address, data: '0xa9059cbb000000000000000000000000f39fd6e51aad88f6f4ce6ab8827279cfffb922660000000000000000000000000000000000000000000000056bc75e2d63100000' }, 'latest'] }),
    }).then((r) => r.json());
    assert.equal(raw.error.code, 3);
    assert.match(raw.error.data, /^0x08c379a0/);
  });

  test('fee history answers as MetaMask asks for it', async () => {
    const history = await rpc(node.rpcUrl, 'eth_feeHistory', [5, 'latest', [10, 20, 30]]);
    assert.equal(history.baseFeePerGas.length, history.gasUsedRatio.length + 1);
    assert.equal(history.reward.length, history.gasUsedRatio.length);
    assert.ok(history.reward.every((r) => r.length === 3));
    const { publicClient } = clients(node);
    const fees = await publicClient.estimateFeesPerGas();
    assert.ok(fees.maxFeePerGas > 0n);
  });
});
