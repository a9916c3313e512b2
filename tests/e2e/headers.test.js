// Header correctness: for produced blocks with transactions of every supported type, the block
// hash is keccak256(rlp(header)), and the transactions, receipts and state roots recomputed here
// independently agree with the node's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { keccak256, toRlp, hexToBytes, parseEther, hexToBigInt, numberToHex } from 'viem';
import { DEV_KEYS, rpc, startNode, waitFor } from './lib/node.js';
import { clients } from './lib/clients.js';
import { compile } from './lib/contracts.js';
import { orderedRoot, verifyProof } from './lib/mpt.js';

// RLP wants integers as minimal big-endian bytes: zero is the empty string.
const q = (hex) => (hexToBigInt(hex) === 0n ? '0x' : numberToHex(hexToBigInt(hex)));
const even = (hex) => (hex.length % 2 ? `0x0${hex.slice(2)}` : hex);

function headerRlp(b) {
  return toRlp([
    b.parentHash, b.sha3Uncles, b.miner, b.stateRoot, b.transactionsRoot, b.receiptsRoot, b.logsBloom,
    q(b.difficulty), q(b.number), q(b.gasLimit), q(b.gasUsed), q(b.timestamp), b.extraData, b.mixHash,
    b.nonce, q(b.baseFeePerGas), b.withdrawalsRoot, q(b.blobGasUsed), q(b.excessBlobGas),
    b.parentBeaconBlockRoot, b.requestsHash,
  ]);
}

function receiptBytes(r) {
  const body = toRlp([
    r.status === '0x1' ? '0x01' : '0x',
    q(r.cumulativeGasUsed),
    r.logsBloom,
    r.logs.map((l) => [l.address, l.topics, l.data]),
  ]);
  const type = hexToBigInt(r.type);
  return type === 0n ? body : `0x${even(numberToHex(type)).slice(2)}${body.slice(2)}`;
}

describe('block headers and roots', () => {
  let node;
  const hashes = [];
  let tokenAddress;

  before(async () => {
    node = await startNode({ blockTime: '500ms' });
    const a = clients(node, DEV_KEYS[0]);
    const b = clients(node, DEV_KEYS[1]);
    const bob = b.account.address;
    hashes.push(await a.wallet.sendTransaction({ to: bob, value: 1n, type: 'legacy' }));
    hashes.push(await a.wallet.sendTransaction({
      to: bob, value: 2n, type: 'eip2930',
      accessList: [{ address: bob, storageKeys: ['0x0000000000000000000000000000000000000000000000000000000000000001'] }],
    }));
    hashes.push(await a.wallet.sendTransaction({ to: bob, value: parseEther('0.1'), type: 'eip1559' }));
    const { abi, bytecode } = compile('AndeToken.sol', 'AndeToken');
    const deploy = await b.wallet.deployContract({ abi, bytecode, args: ['Root Test', 'RT', 1000n] });
    hashes.push(deploy);
    const deployed = await b.publicClient.waitForTransactionReceipt({ hash: deploy, timeout: 15_000 });
    tokenAddress = deployed.contractAddress;
    hashes.push(await b.wallet.writeContract({ address: tokenAddress, abi, functionName: 'transfer', args: [a.account.address, 10n] }));
    // Back to back: most often in one block, so a receipt's gas and log positions follow another's.
    hashes.push(await b.wallet.writeContract({ address: tokenAddress, abi, functionName: 'transfer', args: [a.account.address, 20n] }));
    // EIP-7702: the sender delegates its code to the token contract for one transaction.
    const c = clients(node, DEV_KEYS[2]);
    const authorization = await c.wallet.signAuthorization({ contractAddress: tokenAddress, executor: 'self' });
    hashes.push(await c.wallet.sendTransaction({ to: c.account.address, data: '0x95d89b41', authorizationList: [authorization] })); // symbol()
    for (const hash of hashes) await a.publicClient.waitForTransactionReceipt({ hash, timeout: 15_000 });
  });
  after(async () => { await node?.stop(); });

  test('every transaction type is mined', async () => {
    const types = new Set();
    for (const hash of hashes) types.add((await rpc(node.rpcUrl, 'eth_getTransactionByHash', [hash])).type);
    assert.deepEqual([...types].sort(), ['0x0', '0x1', '0x2', '0x4']);
  });

  test('block hash, transactions root and receipts root recompute', async () => {
    const blocks = new Set();
    for (const hash of hashes) blocks.add((await rpc(node.rpcUrl, 'eth_getTransactionReceipt', [hash])).blockNumber);
    blocks.add('0x0');
    blocks.add('0x1');
    for (const number of blocks) {
      const block = await rpc(node.rpcUrl, 'eth_getBlockByNumber', [number, false]);
      const rlp = headerRlp(block);
      assert.equal(keccak256(rlp), block.hash, `block ${number} hash`);
      assert.equal(await rpc(node.internalUrl, 'debug_getRawHeader', [number]), rlp);
      const raws = [];
      for (const tx of block.transactions) {
        const raw = await rpc(node.internalUrl, 'debug_getRawTransaction', [tx]);
        assert.equal(keccak256(raw), tx, 'raw transaction hashes to its hash');
        raws.push(raw);
      }
      assert.equal(orderedRoot(raws), block.transactionsRoot, `block ${number} transactions root`);
      const receipts = await rpc(node.rpcUrl, 'eth_getBlockReceipts', [number]);
      assert.equal(receipts.length, raws.length);
      const encoded = receipts.map(receiptBytes);
      assert.deepEqual(encoded, await rpc(node.internalUrl, 'debug_getRawReceipts', [number]));
      assert.equal(orderedRoot(encoded), block.receiptsRoot, `block ${number} receipts root`);
      for (const receipt of receipts) {
        assert.deepEqual(await rpc(node.rpcUrl, 'eth_getTransactionReceipt', [receipt.transactionHash]), receipt, 'one receipt as the block\'s receipts have it');
      }
    }
  });

  test('the state root agrees with eth_getProof proofs', async () => {
    const accounts = [clients(node, DEV_KEYS[0]).account.address, tokenAddress, '0x000000000000000000000000000000000000dEaD'];
    // AndeToken's storage: name 0, symbol 1, totalSupply 2, balanceOf 3 (decimals is a constant),
    // so balanceOf[a] lives at keccak256(pad(a) ++ pad(3)).
    const holder = clients(node, DEV_KEYS[1]).account.address.toLowerCase().slice(2).padStart(64, '0');
    const slot = keccak256(`0x${holder}${'3'.padStart(64, '0')}`);
    const { block, proofs } = await waitFor(async () => {
      const head = await rpc(node.rpcUrl, 'eth_getBlockByNumber', ['latest', false]);
      try {
        const proofs = [];
        for (const address of accounts) {
          proofs.push(await rpc(node.rpcUrl, 'eth_getProof', [address, address === tokenAddress ? [slot] : [], head.number]));
        }
        return { block: head, proofs };
      } catch (e) {
        if (/head block only/.test(e.message)) return null; // a block landed meanwhile
        throw e;
      }
    }, { what: 'proofs at a stable head' });
    for (const proof of proofs) {
      const leaf = verifyProof(block.stateRoot, hexToBytes(proof.address), proof.accountProof);
      if (proof.address.toLowerCase() === '0x000000000000000000000000000000000000dead') {
        assert.equal(leaf, null, 'an absent account is proven absent');
        continue;
      }
      assert.equal(leaf, toRlp([q(proof.nonce), q(proof.balance), proof.storageHash, proof.codeHash]));
      for (const sp of proof.storageProof) {
        const value = verifyProof(proof.storageHash, hexToBytes(sp.key), sp.proof);
        assert.equal(value, toRlp(q(sp.value)));
        assert.equal(hexToBigInt(sp.value), 970n, 'the holder kept 970 of 1000 tokens');
      }
    }
  });
});
