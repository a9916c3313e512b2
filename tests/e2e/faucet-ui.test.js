// The faucet page in headless Chromium, through faucet-ui's proxy: the wallet buttons use the
// chain the API reports, a claim is made and its confirmation shown, a second claim shows the
// time left.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ANDE, DEV_KEYS, FRONTEND_DIR, LOCAL_GENESIS, batchRange, freePort, rpc, sleep, startFaucet, startFaucetUi, startNode, tempDir, waitFor } from './lib/node.js';
import { pad, parseEther } from 'viem';
import { ABI, chainClients, delivered, dispatched } from './lib/bridge.js';
import { launch } from './lib/browser.js';

const WALLET = '0x000000000000000000000000000000000000ba5e';

describe('faucet-ui in a browser', () => {
  let node;
  let faucet;
  let ui;
  let uiUrl;
  let browser;

  before(async () => {
    node = await startNode({ blockTime: '500ms' });
    faucet = await startFaucet(node, { args: ['--trusted-proxies', '1', '--explorer-url', 'http://explorer.local:4000'] });
    ui = await startFaucetUi(faucet);
    uiUrl = ui.url;
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await ui?.stop();
    await faucet?.stop();
    await node?.stop();
  });

  test('connect, add the chain, claim and see the confirmation', async () => {
    const page = await browser.newPage();
    // A stand-in EIP-1193 wallet that records what the page asks of it.
    await page.addInitScript((account) => {
      window.walletCalls = [];
      window.ethereum = {
        request: async ({ method, params }) => {
          window.walletCalls.push({ method, params });
          return method === 'eth_requestAccounts' ? [account] : null;
        },
      };
    }, WALLET);
    await page.goto(uiUrl);
    await page.waitForFunction(() => document.getElementById('summary').textContent.includes('ANDE'));
    assert.match(await page.textContent('#summary'), /Get 1 ANDE on chain 1234/);

    await page.click('#connect');
    await page.waitForFunction((a) => document.getElementById('address').value === a, WALLET);
    await page.click('#add-chain');
    await page.waitForFunction(() => window.walletCalls.some((c) => c.method === 'wallet_addEthereumChain'));
    const add = (await page.evaluate(() => window.walletCalls)).find((c) => c.method === 'wallet_addEthereumChain');
    assert.equal(add.params[0].chainId, '0x4d2');
    assert.deepEqual(add.params[0].rpcUrls, [node.rpcUrl]);
    assert.deepEqual(add.params[0].nativeCurrency, { name: 'Ande', symbol: 'ANDE', decimals: 18 });

    await page.click('#claim');
    await page.waitForFunction(() => document.getElementById('result').textContent.includes('Confirmed in block'), null, { timeout: 20_000 });
    const text = await page.textContent('#result');
    assert.match(text, /Confirmed in block \d+/);
    const href = await page.getAttribute('#result a', 'href');
    assert.match(href, /^http:\/\/explorer\.local:4000\/tx\/0x[0-9a-f]{64}$/);
    assert.equal(BigInt(await rpc(node.rpcUrl, 'eth_getBalance', [WALLET, 'latest'])), 10n ** 18n);
    const shot = path.join(tempDir('ande-shot-'), 'faucet.png');
    await page.screenshot({ path: shot });
    assert.ok(fs.statSync(shot).size > 10_000, 'a screenshot of the page was taken');

    await page.click('#claim');
    await page.waitForFunction(() => document.getElementById('result').className === 'err');
    assert.match(await page.textContent('#result'), /Try again in 2[34]h/);
    await page.close();
  });
});

test('ande up runs the node, the DA node, the faucet API, the faucet page, the explorer, the dApp and the bridge together, deploys the contracts and says where everything is', async () => {
  const [http, ws, metrics, api, page, da, explorer, internal, app] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const [l1Http, l1Ws, l1Metrics, l1Internal, validator, l1Validator, relayer] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const dir = tempDir('ande-up-');
  const child = spawn(ANDE, ['up', '--genesis', LOCAL_GENESIS, '--datadir', path.join(dir, 'node'), '--http.port', String(http), '--ws.port', String(ws), '--metrics.port', String(metrics), '--rpc.internal-port', String(internal)], {
    env: { ...process.env, FAUCET_PORT: String(api), FAUCET_UI_PORT: String(page), FAUCET_DATA_DIR: path.join(dir, 'faucet'), DA_PORT: String(da), DA_BLOCK_TIME: '1s', EXPLORER_PORT: String(explorer), DEPLOYMENTS_FILE: path.join(dir, 'deployments.json'), BUNDLER_PORT: String(await freePort()), PAYMASTER_PORT: String(await freePort()), FRONTEND_PORT: String(app), FRONTEND_DIR,
      L1_RPC_PORT: String(l1Http), L1_WS_PORT: String(l1Ws), L1_METRICS_PORT: String(l1Metrics), L1_INTERNAL_PORT: String(l1Internal), VALIDATOR_PORT: String(validator), L1_VALIDATOR_PORT: String(l1Validator), RELAYER_PORT: String(relayer) },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let summary = '';
  child.stdout.on('data', (d) => { summary += d; });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    // Once everything answers, a summary a newcomer can act on.
    await waitFor(() => /Try: cast/.test(summary), { timeout: 60_000, what: 'the start-up summary' });
    assert.match(summary, /chain id 1234 \(ANDE\)/);
    for (const port of [http, ws, api, page, da, explorer, metrics]) assert.match(summary, new RegExp(`127\\.0\\.0\\.1:${port}\\b`));
    assert.match(summary, new RegExp(`Internal RPC +http://127\\.0\\.0\\.1:${internal}\\b`));
    assert.match(summary, /entryPointV07 +0x0000000071727De22E5E9d8BAf0edAc6f37da032/);
    assert.match(summary, /verifyingPaymasterV07 +0x[0-9a-fA-F]{40}/);
    assert.match(summary, /Bundler +http:\/\/127\.0\.0\.1:\d+/);
    assert.match(summary, /Paymaster +http:\/\/127\.0\.0\.1:\d+/);
    assert.match(summary, new RegExp(`dApp +http://127\\.0\\.0\\.1:${app}\\b`));
    assert.match(summary, /DEVELOPMENT ONLY/);
    assert.match(summary, /Bridge \(Hyperlane\) to the other chain, chain id 31337 \(ETH\)/);
    assert.match(summary, new RegExp(`Its RPC +http://127\\.0\\.0\\.1:${l1Http}\\b`));
    assert.match(summary, new RegExp(`Relayer +http://127\\.0\\.0\\.1:${relayer}/messages`));
    assert.match(summary, /warpAnde +0x[0-9a-fA-F]{40}/);
    assert.match(summary, /0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 10000 ANDE \(the faucet's\)/);
    assert.doesNotMatch(summary, /not answering yet/);
    const deployments = JSON.parse(fs.readFileSync(path.join(dir, 'deployments.json'), 'utf8'));
    assert.notEqual(await rpc(`http://127.0.0.1:${http}`, 'eth_getCode', [deployments.contracts.entryPointV08, 'latest']), '0x');
    // The dApp lists what was deployed, and has every service behind it.
    const appConfig = await (await fetch(`http://127.0.0.1:${app}/config.json`)).json();
    assert.equal(appConfig.contracts.entryPointV07.toLowerCase(), deployments.contracts.entryPointV07);
    assert.deepEqual(appConfig.services, { faucet: true, bundler: true, paymaster: true });
    assert.equal(appConfig.explorerUrl, `http://127.0.0.1:${explorer}`);
    assert.equal((await (await fetch(`http://127.0.0.1:${app}/api/da`)).json()).role, 'sequencer', 'the DA status from the internal port');
    for (const url of [`http://127.0.0.1:${http}/health`, `http://127.0.0.1:${api}/health`, `http://127.0.0.1:${page}/health`, `http://127.0.0.1:${da}/health`, `http://127.0.0.1:${explorer}/health`, `http://127.0.0.1:${app}/health`]) {
      let status = 0;
      for (let i = 0; i < 100 && status !== 200; i++) {
        try { status = (await fetch(url)).status; } catch { /* starting */ }
        if (status !== 200) await sleep(100);
      }
      assert.equal(status, 200, `${url} is healthy`);
    }
    const res = await fetch(`http://127.0.0.1:${page}/api/claim`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: WALLET }),
    });
    assert.equal(res.status, 202);
    const { tx_hash: hash } = await res.json();
    let receipt = null;
    for (let i = 0; i < 100 && !receipt; i++) {
      receipt = await rpc(`http://127.0.0.1:${http}`, 'eth_getTransactionReceipt', [hash]);
      if (!receipt) await sleep(200);
    }
    assert.equal(receipt.status, '0x1');
    assert.equal(BigInt(await rpc(`http://127.0.0.1:${http}`, 'eth_getBalance', [WALLET, 'latest'])), 10n * 10n ** 18n, 'the local amount is 10');
    // The sequencer posts its blocks to the DA node, which keeps them beside the node's data.
    const status = await waitFor(async () => {
      const s = await rpc(`http://127.0.0.1:${internal}`, 'ande_daStatus');
      return s.lastIncludedBlock >= Number(receipt.blockNumber) ? s : null;
    }, { timeout: 20_000, what: 'the claim\'s block in DA' });
    assert.equal(status.role, 'sequencer');
    // The claim's block is in the batch at the DA height the node recorded for it.
    const daHeight = Number(await rpc(`http://127.0.0.1:${internal}`, 'ande_getBlockDaHeight', [receipt.blockNumber]));
    await assert.rejects(rpc(`http://127.0.0.1:${http}`, 'ande_daStatus'), (e) => e.rpc.code === -32601, 'the public port keeps ande_ to itself');
    const namespace = Buffer.from(status.namespace.slice(2), 'hex').toString('base64');
    const ranges = (await rpc(`http://127.0.0.1:${da}`, 'blob.GetAll', [daHeight, [namespace]])).map((b) => batchRange(b.data));
    assert.ok(ranges.some((r) => r.first <= Number(receipt.blockNumber) && Number(receipt.blockNumber) <= r.last), JSON.stringify(ranges));
    assert.ok(fs.existsSync(path.join(dir, 'da', 'da.redb')));
    // The explorer indexes the claim into SQLite beside the node's data; the faucet links to it.
    const info = await (await fetch(`http://127.0.0.1:${page}/api/info`)).json();
    assert.equal(info.explorer_url, `http://127.0.0.1:${explorer}`);
    const indexed = await waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${explorer}/api/v2/transactions/${hash}`);
      return res.status === 200 ? res.json() : null;
    }, { timeout: 20_000, what: 'the claim in the explorer' });
    assert.equal(indexed.value, (10n * 10n ** 18n).toString());
    assert.equal(indexed.to.hash, WALLET.toLowerCase());
    assert.ok(fs.existsSync(path.join(dir, 'explorer', 'explorer.db')));
    // The bridge it runs: ANDE to the other chain, delivered by its relayer.
    const remote = JSON.parse(fs.readFileSync(path.join(dir, 'l1-local.json'), 'utf8')).contracts;
    const ande = chainClients(`http://127.0.0.1:${http}`, 1234, DEV_KEYS[6]);
    const l1 = chainClients(`http://127.0.0.1:${l1Http}`, 31337, DEV_KEYS[6]);
    const amount = parseEther('0.25');
    const sent = await ande.wallet.writeContract({ address: deployments.contracts.warpAnde, abi: ABI.HypNative, functionName: 'transferRemote', args: [31337, pad(WALLET), amount], value: amount });
    const [message] = await dispatched(ande, sent);
    await delivered({ url: `http://127.0.0.1:${relayer}` }, message.id, { timeout: 60_000 });
    assert.equal(await l1.public.readContract({ address: remote.warpAnde, abi: ABI.HypERC20, functionName: 'balanceOf', args: [WALLET] }), amount);
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  }
});
