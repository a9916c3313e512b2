// The explorer against a real node, on SQLite and on a real PostgreSQL: transfers, an ERC-20
// and a contract call with internal value transfers show in the API, the Etherscan API and the
// pages (also in headless Chromium); a kill -9 mid-catch-up leaves no gap and no duplicate.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { ANDE, DEV_KEYS, freePort, rpc, startExplorer, startNode, tempDir, waitFor } from './lib/node.js';
import { clients } from './lib/clients.js';
import { compile } from './lib/contracts.js';
import { startPostgres } from './lib/postgres.js';
import { launch } from './lib/browser.js';

const ALICE = '0x00000000000000000000000000000000000a11ce';
const A = '0x000000000000000000000000000000000000a00a';
const B = '0x000000000000000000000000000000000000b00b';

/** A chain with a transfer, an ERC-20 deployed and moved, and a call that splits value. */
async function makeChain(node) {
  const { publicClient, wallet, account } = clients(node, DEV_KEYS[1]);
  const receipt = async (hash) => publicClient.waitForTransactionReceipt({ hash });
  const transfer = await receipt(await wallet.sendTransaction({ to: ALICE, value: 123_456_789n }));
  const token = compile('AndeToken.sol', 'AndeToken');
  const deployed = await receipt(await wallet.deployContract({ abi: token.abi, bytecode: token.bytecode, args: ['Explorer Test Token', 'XTT', 1_000_000n * 10n ** 18n] }));
  const tokenTx = await receipt(await wallet.writeContract({ address: deployed.contractAddress, abi: token.abi, functionName: 'transfer', args: [ALICE, 25n * 10n ** 17n] }));
  const splitter = compile('Splitter.sol', 'Splitter');
  const split = await receipt(await wallet.deployContract({ abi: splitter.abi, bytecode: splitter.bytecode }));
  const call = await receipt(await wallet.writeContract({ address: split.contractAddress, abi: splitter.abi, functionName: 'split', args: [A, B], value: 1001n }));
  return { sender: account.address.toLowerCase(), transfer, deployed, tokenAddress: deployed.contractAddress.toLowerCase(), tokenTx, call, splitter: split.contractAddress.toLowerCase() };
}

async function get(explorer, pathAndQuery) {
  const res = await fetch(`${explorer.url}${pathAndQuery}`);
  return { status: res.status, type: res.headers.get('content-type'), body: res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text() };
}

async function indexed(explorer, number) {
  await waitFor(async () => {
    const health = await (await fetch(`${explorer.url}/health`)).json();
    return health.indexed >= number;
  }, { timeout: 30_000, what: `block ${number} indexed` });
}

for (const store of ['sqlite', 'postgres']) {
  describe(`explorer on ${store}`, () => {
    let node;
    let explorer;
    let postgres;
    let chain;

    before(async () => {
      node = await startNode({ blockTime: '100ms' });
      chain = await makeChain(node);
      if (store === 'postgres') postgres = await startPostgres();
      explorer = await startExplorer(node, postgres ? { databaseUrl: postgres.url } : {});
      await indexed(explorer, Number(chain.call.blockNumber));
    });
    after(async () => {
      await explorer?.stop();
      await node?.stop();
      await postgres?.stop();
    });

    test('a transfer: the transaction, its block and the address', async () => {
      const hash = chain.transfer.transactionHash;
      const { status, body: tx } = await get(explorer, `/api/v2/transactions/${hash}`);
      assert.equal(status, 200);
      assert.equal(tx.hash, hash);
      assert.equal(tx.value, '123456789');
      assert.equal(tx.from.hash, chain.sender);
      assert.equal(tx.to.hash, ALICE);
      assert.equal(tx.status, 'ok');
      assert.equal(tx.block_number, Number(chain.transfer.blockNumber));
      assert.equal(tx.fee.value, (chain.transfer.gasUsed * chain.transfer.effectiveGasPrice).toString());
      const block = (await get(explorer, `/api/v2/blocks/${chain.transfer.blockNumber}`)).body;
      assert.equal(block.hash, chain.transfer.blockHash);
      assert.ok(block.tx_count >= 1);
      const byHash = (await get(explorer, `/api/v2/blocks/${chain.transfer.blockHash}`)).body;
      assert.equal(byHash.height, Number(chain.transfer.blockNumber));
      const address = (await get(explorer, `/api/v2/addresses/${ALICE}`)).body;
      assert.equal(address.coin_balance, BigInt(await rpc(node.rpcUrl, 'eth_getBalance', [ALICE, 'latest'])).toString());
      assert.equal(address.is_contract, false);
      const txs = (await get(explorer, `/api/v2/addresses/${ALICE}/transactions`)).body.items;
      assert.ok(txs.some((t) => t.hash === hash));
      const latest = (await get(explorer, '/api/v2/transactions')).body.items;
      assert.equal(latest[0].hash, chain.call.transactionHash, 'newest first');
    });

    test('an ERC-20: its creation, its metadata and its transfers', async () => {
      const creation = (await get(explorer, `/api/v2/transactions/${chain.deployed.transactionHash}`)).body;
      assert.equal(creation.to, null);
      assert.equal(creation.created_contract.hash, chain.tokenAddress);
      const token = (await get(explorer, `/api/v2/tokens/${chain.tokenAddress}`)).body;
      assert.deepEqual([token.name, token.symbol, token.decimals, token.type], ['Explorer Test Token', 'XTT', '18', 'ERC-20']);
      const tx = (await get(explorer, `/api/v2/transactions/${chain.tokenTx.transactionHash}`)).body;
      assert.equal(tx.token_transfers.length, 1);
      const [t] = tx.token_transfers;
      assert.deepEqual([t.from.hash, t.to.hash, t.total.value, t.token.symbol], [chain.sender, ALICE, '2500000000000000000', 'XTT']);
      assert.equal(tx.logs[0].decoded.method_id, 'ddf252ad');
      const ofAlice = (await get(explorer, `/api/v2/addresses/${ALICE}/token-transfers`)).body.items;
      assert.equal(ofAlice.length, 1);
      const ofToken = (await get(explorer, `/api/v2/tokens/${chain.tokenAddress}/transfers`)).body.items;
      assert.ok(ofToken.some((x) => x.transaction_hash === chain.tokenTx.transactionHash), 'the mint and the transfer');
      const contract = (await get(explorer, `/api/v2/addresses/${chain.tokenAddress}`)).body;
      assert.equal(contract.is_contract, true);
      assert.ok(contract.code_size > 100);
    });

    test('a call that splits value: its internal transactions', async () => {
      const { items } = (await get(explorer, `/api/v2/transactions/${chain.call.transactionHash}/internal-transactions`)).body;
      assert.deepEqual(items.map((c) => [c.type, c.from.hash, c.to.hash, c.value]), [['call', chain.splitter, A, '500'], ['call', chain.splitter, B, '501']]);
      const tx = (await get(explorer, `/api/v2/transactions/${chain.call.transactionHash}`)).body;
      assert.equal(tx.internal_transactions.length, 2);
      assert.equal(tx.value, '1001');
    });

    test('search, pages of blocks, and bad input', async () => {
      const search = async (q) => (await get(explorer, `/api/v2/search?q=${q}`)).body.items[0];
      assert.equal((await search(chain.transfer.blockNumber)).type, 'block');
      assert.equal((await search(chain.transfer.transactionHash)).type, 'transaction');
      assert.equal((await search(chain.tokenAddress)).type, 'token');
      assert.equal((await search(ALICE)).type, 'address');
      await indexed(explorer, 60);
      const first = (await get(explorer, '/api/v2/blocks')).body;
      assert.equal(first.items.length, 50);
      const next = first.next_page_params;
      const second = (await get(explorer, `/api/v2/blocks?block_number=${next.block_number}&items_count=50`)).body;
      assert.equal(second.items[0].height, first.items[49].height - 1, 'the next page goes on below the last row');
      for (const [url, code] of [['/api/v2/transactions/0x1234', 400], ['/api/v2/addresses/0xnothex', 400], ['/api/v2/blocks/0xzz', 400],
        [`/api/v2/transactions/0x${'ab'.repeat(32)}`, 404], ['/api/v2/search', 400], ['/api/v2/blocks?block_number=abc', 400],
        [`/api/v2/addresses/${ALICE}/transactions?index=1.5`, 400], ['/api/v2/nonsense', 404]]) {
        const res = await get(explorer, url);
        assert.equal(res.status, code, url);
        assert.ok(res.body.message, `${url} answers a JSON message`);
      }
      const page = await get(explorer, '/no/such/page');
      assert.deepEqual([page.status, page.type.startsWith('text/html')], [404, true]);
      assert.match(page.body, /Page not found/);
    });

    test('the Etherscan-style API', async () => {
      const api = async (query) => (await get(explorer, `/api?${query}`));
      const balance = (await api(`module=account&action=balance&address=${ALICE}`)).body;
      assert.deepEqual([balance.status, balance.result], ['1', BigInt(await rpc(node.rpcUrl, 'eth_getBalance', [ALICE, 'latest'])).toString()]);
      const txlist = (await api(`module=account&action=txlist&address=${ALICE}&sort=asc`)).body;
      assert.equal(txlist.result[0].hash, chain.transfer.transactionHash);
      assert.deepEqual([txlist.result[0].value, txlist.result[0].isError, txlist.result[0].txreceipt_status], ['123456789', '0', '1']);
      const tokentx = (await api(`module=account&action=tokentx&address=${ALICE}`)).body;
      assert.deepEqual([tokentx.result[0].tokenSymbol, tokentx.result[0].value, tokentx.result[0].tokenDecimal], ['XTT', '2500000000000000000', '18']);
      const receipt = (await api(`module=transaction&action=gettxreceiptstatus&txhash=${chain.call.transactionHash}`)).body;
      assert.equal(receipt.result.status, '1');
      const block = await rpc(node.rpcUrl, 'eth_getBlockByNumber', [`0x${chain.tokenTx.blockNumber.toString(16)}`, false]);
      const byTime = (await api(`module=block&action=getblocknobytime&timestamp=${Number(block.timestamp)}&closest=after`)).body;
      assert.ok(Number(byTime.result) <= Number(chain.tokenTx.blockNumber), JSON.stringify(byTime));
      const none = (await api(`module=account&action=txlist&address=0x${'00'.repeat(19)}42`)).body;
      assert.deepEqual([none.status, none.message], ['0', 'No transactions found']);
      const bad = await api('module=account&action=balance&address=0x123');
      assert.equal(bad.status, 400);
      assert.equal(bad.body.status, '0');
      assert.match(bad.body.result, /Invalid address format/);
      const malformed = await api(`module=account&action=txlist&address=${ALICE}&page=two`);
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.status, '0');
      assert.match(malformed.body.result, /page/);
    });

    test('the pages show each of them, and answer in under 200 ms', async () => {
      const page = async (url) => {
        const started = performance.now();
        const res = await get(explorer, url);
        const ms = performance.now() - started;
        assert.equal(res.status, 200, url);
        assert.match(res.type, /text\/html/);
        return { html: res.body, ms };
      };
      const pages = [
        ['/', [chain.call.transactionHash]],
        [`/tx/${chain.transfer.transactionHash}`, ['Success', ALICE, '0.000000000123456789']],
        [`/tx/${chain.tokenTx.transactionHash}`, ['Token transfers', 'XTT', '2.5']],
        [`/tx/${chain.call.transactionHash}`, ['Internal calls', A, B, '0.000000000000000501']],
        [`/block/${chain.transfer.blockNumber}`, [chain.transfer.blockHash]],
        [`/address/${ALICE}`, ['Balance', chain.transfer.transactionHash]],
        [`/token/${chain.tokenAddress}`, ['Explorer Test Token', 'ERC-20']],
      ];
      const times = [];
      for (const [url, expected] of pages) {
        const { html, ms } = await page(url);
        times.push(ms);
        for (const text of expected) assert.ok(html.includes(String(text)), `${url} shows ${text}`);
      }
      assert.ok(Math.max(...times) < 200, `every page under 200 ms: ${times.map((t) => t.toFixed(1)).join(', ')}`);
      // Search lands on what it names; nothing found is a 404 page.
      const res = await fetch(`${explorer.url}/search?q=${chain.tokenTx.transactionHash}`, { redirect: 'manual' });
      assert.equal(res.headers.get('location'), `/tx/${chain.tokenTx.transactionHash}`);
      assert.equal((await fetch(`${explorer.url}/search?q=nothing`)).status, 404);
    });

    if (store === 'sqlite') {
      test('in headless Chromium: the transaction page, screenshot taken', async () => {
        const browser = await launch();
        try {
          const tab = await browser.newPage();
          await tab.goto(`${explorer.url}/tx/${chain.call.transactionHash}`);
          const text = await tab.textContent('main');
          for (const expected of ['Success', 'Internal calls', A, B]) assert.ok(text.includes(expected), expected);
          const shot = path.join(tempDir('ande-shot-'), 'tx.png');
          await tab.screenshot({ path: shot, fullPage: true });
          const png = fs.readFileSync(shot);
          assert.equal(png.subarray(1, 4).toString(), 'PNG');
          assert.ok(png.length > 10_000, `a rendered page, ${png.length} bytes`);
          // Search from the page's own box.
          await tab.goto(explorer.url);
          await tab.fill('input[name=q]', chain.tokenAddress);
          await Promise.all([tab.waitForURL(/\/token\//), tab.click('header button')]);
          assert.match(await tab.textContent('main'), /Explorer Test Token/);
        } finally {
          await browser.close();
        }
      });
    }
  });
}

test('on a fresh chain the block time leaves the genesis out (its timestamp is 0 on a local chain)', async () => {
  // A few blocks, far fewer than the 100 the mean is taken over, so the genesis would be in it.
  const node = await startNode({ blockTime: '200ms' });
  const explorer = await startExplorer(node);
  try {
    await indexed(explorer, 3);
    const { status, body } = await get(explorer, '/api/v2/stats');
    assert.equal(status, 200);
    assert.ok(body.head < 100, `a fresh chain (head ${body.head})`);
    // 200 ms blocks with whole-second timestamps: a mean under a second or so; with the genesis
    // averaged in it was decades per block.
    assert.ok(body.block_time_ms !== null && body.block_time_ms < 2000, `block_time_ms ${body.block_time_ms}`);
  } finally {
    await explorer.stop();
    await node.stop();
  }
});

test('kill -9 mid-catch-up: after a restart the index has every block once', async () => {
  const node = await startNode({ blockTime: '50ms' });
  try {
    const { wallet, publicClient } = clients(node, DEV_KEYS[2]);
    const hashes = [];
    for (let i = 0; i < 40; i++) hashes.push(await wallet.sendTransaction({ to: ALICE, value: BigInt(i + 1) }));
    await publicClient.waitForTransactionReceipt({ hash: hashes.at(-1) });
    await waitFor(async () => Number(await rpc(node.rpcUrl, 'eth_blockNumber')) >= 300, { timeout: 30_000, what: '300 blocks' });
    const databaseUrl = `sqlite://${path.join(tempDir('ande-explorer-'), 'explorer.db')}`;
    // Not waiting for health: killed while it catches up.
    const port = await freePort();
    const child = spawn(ANDE, ['explorer', '--rpc-url', node.internalUrl, '--port', String(port)], { env: { ...process.env, DATABASE_URL: databaseUrl }, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await waitFor(async () => {
      try {
        const h = await (await fetch(`http://127.0.0.1:${port}/health`)).json();
        return h.indexed > 20;
      } catch { return false; }
    }, { interval: 5, what: 'some blocks indexed' });
    child.kill('SIGKILL');
    await exited;
    const explorer = await startExplorer(node, { databaseUrl });
    try {
      const head = Number(await rpc(node.rpcUrl, 'eth_blockNumber'));
      await indexed(explorer, head);
      // Walk every page of blocks: each number once, none missing.
      const numbers = [];
      let query = '';
      for (;;) {
        const { items, next_page_params: next } = (await get(explorer, `/api/v2/blocks${query}`)).body;
        numbers.push(...items.map((b) => b.height));
        if (!next) break;
        query = `?block_number=${next.block_number}`;
      }
      const upTo = numbers.filter((n) => n <= head).sort((a, b) => a - b);
      assert.deepEqual(upTo, Array.from({ length: head + 1 }, (_, i) => i));
      const txs = (await get(explorer, `/api?module=account&action=txlist&address=${ALICE}`)).body.result;
      assert.deepEqual(txs.map((t) => t.hash), hashes, 'every transaction, oldest first');
      // Etherscan's paging: the oldest first by default, or the newest; a window of blocks.
      const txlist = async (query) => (await get(explorer, `/api?module=account&action=txlist&address=${ALICE}&${query}`)).body.result;
      assert.deepEqual((await txlist('page=2&offset=10')).map((t) => Number(t.value)), [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
      assert.deepEqual((await txlist('page=2&offset=10&sort=desc')).map((t) => Number(t.value)), [30, 29, 28, 27, 26, 25, 24, 23, 22, 21]);
      const middle = Number(txs[20].blockNumber);
      const from = await txlist(`startblock=${middle}&endblock=${middle}`);
      assert.ok(from.length >= 1 && from.every((t) => Number(t.blockNumber) === middle));
      const tooFar = await get(explorer, `/api?module=account&action=txlist&address=${ALICE}&page=101&offset=100`);
      assert.equal(tooFar.status, 400);
      assert.match(tooFar.body.result, /Result window is too large/);
    } finally {
      await explorer.stop();
    }
  } finally {
    await node.stop();
  }
});

test("the node's chain rebuilt under the index: detected, and re-indexed from where they differ", async () => {
  const ports = { http: await freePort(), internal: await freePort() };
  let node = await startNode({ blockTime: '100ms', ports });
  const { wallet, publicClient } = clients(node, DEV_KEYS[3]);
  const first = await publicClient.waitForTransactionReceipt({ hash: await wallet.sendTransaction({ to: ALICE, value: 1n }) });
  await waitFor(async () => Number(await rpc(node.rpcUrl, 'eth_blockNumber')) >= 40, { what: '40 blocks' });
  const explorer = await startExplorer(node);
  try {
    await indexed(explorer, 40);
    await node.stop();
    // Another chain from the same genesis on the same address: every block but the genesis differs.
    node = await startNode({ blockTime: '100ms', ports });
    const again = clients(node, DEV_KEYS[3]);
    const second = await again.publicClient.waitForTransactionReceipt({ hash: await again.wallet.sendTransaction({ to: ALICE, value: 2n }) });
    await waitFor(async () => {
      const health = await (await fetch(`${explorer.url}/health`)).json();
      const head = Number(await rpc(node.rpcUrl, 'eth_blockNumber'));
      return health.indexed >= Number(second.blockNumber) && health.indexed <= head;
    }, { timeout: 30_000, what: 'the new chain indexed' });
    const block = (await get(explorer, `/api/v2/blocks/${second.blockNumber}`)).body;
    assert.equal(block.hash, second.blockHash, 'the block is the new chain\'s');
    assert.equal((await get(explorer, `/api/v2/transactions/${first.transactionHash}`)).status, 404, 'the old chain\'s transaction is gone');
    assert.equal((await get(explorer, `/api/v2/transactions/${second.transactionHash}`)).body.value, '2');
    const genesis = (await get(explorer, '/api/v2/blocks/0')).body;
    assert.equal(genesis.hash, (await rpc(node.rpcUrl, 'eth_getBlockByNumber', ['0x0', false])).hash);
    assert.match(await (await fetch(`${explorer.url}/metrics`)).text(), /ande_explorer_rebuilds_total [1-9]/);
  } finally {
    await explorer.stop();
    await node.stop();
  }
});
