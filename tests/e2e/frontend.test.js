// The dApp (`ande frontend` serving frontend/out) in headless Chromium with an injected wallet
// that really signs: connect, add and switch the network, claim from the faucet and see the
// balance change, send and see the receipt, create a smart account with a sponsored operation;
// the same build configured for another chain shows the mismatch and sends nothing; the
// server's own answers (config, proxies, errors, headers).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { DEV_KEYS, ROOT, deployContracts, rpc, startBundler, startFaucet, startFrontend, startNode, startPaymaster, tempDir, waitFor } from './lib/node.js';
import { launch } from './lib/browser.js';
import { WALLET_RDNS, injectWallet } from './lib/wallet.js';

const EXPLORER = 'http://explorer.local:4000';
const RECIPIENT = '0x000000000000000000000000000000000000bEEF';
const SHOTS = process.env.ANDE_SCREENSHOTS ?? tempDir('ande-frontend-shots-');

async function shot(page, name) {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  assert.ok(fs.statSync(file).size > 10_000, `a screenshot of ${name} was taken`);
  return file;
}

const text = (page, selector) => page.locator(selector).textContent();

/** Connects the injected wallet and lets the page add and switch to the network. */
async function connect(page) {
  await page.click(`[data-connector="${WALLET_RDNS}"]`);
  await page.click('#switch-network');
  await page.waitForSelector('#network-ok');
}

describe('the dApp in a browser', () => {
  let node;
  let faucet;
  let bundler;
  let paymaster;
  let contracts;
  let frontend;
  let browser;

  before(async () => {
    node = await startNode({ blockTime: '500ms' });
    faucet = await startFaucet(node, { args: ['--trusted-proxies', '1', '--explorer-url', EXPLORER] });
    const deployments = path.join(tempDir('ande-deployments-'), 'local.json');
    const signer = DEV_KEYS[6];
    contracts = await deployContracts(node, { out: deployments, args: ['--paymaster-signer', privateKeyToAccount(signer).address, '--paymaster-deposit', '10000000000000000000'] });
    bundler = await startBundler(node);
    paymaster = await startPaymaster(node, contracts.verifyingPaymasterV07, { key: signer });
    frontend = await startFrontend(node, { faucet, bundler, paymaster, deployments, args: ['--explorer-url', EXPLORER, '--chain-id', '1234'] });
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await frontend?.stop();
    await paymaster?.stop();
    await bundler?.stop();
    await faucet?.stop();
    await node?.stop();
  });

  test('connect, add and switch the network, claim from the faucet, send and see the receipt', async () => {
    const page = await browser.newPage();
    const wallet = await injectWallet(page, generatePrivateKey());
    await page.goto(frontend.url);

    // The status page, from the live chain.
    await page.waitForFunction(() => /^\d+$/.test(document.getElementById('head')?.textContent ?? ''), null, { timeout: 10_000 });
    assert.equal(await text(page, '#chain-id'), '1234');
    await page.waitForFunction(() => /s$/.test(document.getElementById('block-time')?.textContent ?? ''), null, { timeout: 10_000 });
    assert.match(await text(page, '#block-time'), /^0\.\d s$/, 'half-second blocks');
    assert.equal(await text(page, '#node-state'), 'Healthy');
    await page.waitForFunction(() => document.getElementById('da-status')?.textContent !== '—');
    assert.equal(await text(page, '#da-status'), 'Off: this node posts to no DA layer', 'this node has no DA_URL');
    console.log(`screenshot: ${await shot(page, 'status')}`);

    // Connect: the wallet starts on chain 1, so the page offers the switch; the add comes
    // after the wallet refuses the switch with 4902.
    await page.click(`[data-connector="${WALLET_RDNS}"]`);
    await page.waitForSelector('#switch-network');
    assert.equal(await page.getAttribute('#connected-address', 'title'), wallet.address);
    await page.click('#switch-network');
    await page.waitForSelector('#network-ok');
    const methods = wallet.calls.map((c) => c.method);
    const [switched, added] = [methods.indexOf('wallet_switchEthereumChain'), methods.indexOf('wallet_addEthereumChain')];
    assert.ok(switched >= 0 && added > switched, `switch tried first, then added on 4902: ${methods}`);
    // As a wallet reads it: JSON.
    const add = JSON.parse(JSON.stringify(wallet.calls.find((c) => c.method === 'wallet_addEthereumChain').params[0]));
    assert.deepEqual(add, {
      chainId: '0x4d2',
      chainName: 'AndeChain',
      nativeCurrency: { name: 'Ande', symbol: 'ANDE', decimals: 18 },
      rpcUrls: [node.rpcUrl],
      blockExplorerUrls: [EXPLORER],
    });
    assert.equal(wallet.chainId, 1234);

    // Faucet: the connected address, claimed, confirmed, the balance shown.
    await page.click('nav >> text=Faucet');
    await page.waitForSelector('#claim:not([disabled])');
    assert.equal(await page.inputValue('#faucet-address'), wallet.address);
    assert.match(await text(page, '#faucet-summary'), /Get 1 ANDE, once every 24h/);
    await page.click('#claim');
    await page.waitForSelector('#claim-confirmed', { timeout: 20_000 });
    assert.match(await text(page, '#claim-confirmed'), /Confirmed in block \d+/);
    assert.match(await page.getAttribute('#claim-confirmed a', 'href'), new RegExp(`^${EXPLORER}/tx/0x[0-9a-f]{64}$`));
    assert.equal(BigInt(await rpc(node.rpcUrl, 'eth_getBalance', [wallet.address, 'latest'])), 10n ** 18n);
    await page.click('#refresh-balance');
    await page.waitForFunction(() => document.getElementById('balance')?.textContent === '1 ANDE', null, { timeout: 10_000 });
    console.log(`screenshot: ${await shot(page, 'faucet')}`);
    // Again: the cooldown.
    await page.click('#claim');
    await page.waitForSelector('#claim-cooldown');
    assert.match(await text(page, '#claim-cooldown'), /this address claimed recently\. Try again in (23h \d+m|24h)\./);

    // Send: form validation, the fee estimate, a rejection, then pending and confirmed.
    await page.click('nav >> text=Send');
    await page.fill('#to', '0x1234');
    assert.match(await text(page, '#to-error'), /Not an address/);
    assert.equal(await page.isDisabled('#send'), true);
    await page.fill('#to', RECIPIENT);
    await page.fill('#amount', '0.25');
    assert.equal(await text(page, '#to-error'), '');
    await page.waitForFunction(() => document.getElementById('fee-estimate')?.textContent.includes('at most'), null, { timeout: 10_000 });
    assert.match(await text(page, '#fee-estimate'), /at most 0\.\d+ ANDE \(21000 gas\)/);
    wallet.rejectNext = true;
    await page.click('#send');
    await page.waitForFunction(() => document.getElementById('send-result')?.textContent.includes('rejected'));
    assert.match(await text(page, '#send-result'), /You rejected the request in your wallet\./);
    await page.click('#send');
    await page.waitForSelector('#send-confirmed', { timeout: 20_000 });
    assert.match(await text(page, '#send-confirmed'), /Confirmed in block \d+\./);
    const hash = (await page.getAttribute('#send-confirmed a', 'href')).split('/tx/')[1];
    const receipt = await rpc(node.rpcUrl, 'eth_getTransactionReceipt', [hash]);
    assert.equal(receipt.status, '0x1');
    assert.equal(receipt.from.toLowerCase(), wallet.address.toLowerCase());
    assert.equal(BigInt(await rpc(node.rpcUrl, 'eth_getBalance', [RECIPIENT, 'latest'])), 25n * 10n ** 16n);
    assert.equal(wallet.calls.filter((c) => c.method === 'eth_sendTransaction').length, 2, 'one rejected, one sent');
    console.log(`screenshot: ${await shot(page, 'send')}`);

    // A phone's width: nothing wider than the screen.
    await page.setViewportSize({ width: 360, height: 740 });
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true, 'no horizontal scroll at 360 px');
    console.log(`screenshot: ${await shot(page, 'send-phone')}`);
    await page.close();
  });

  test('create a smart account with its first operation, sponsored by the paymaster, signed by the wallet', async () => {
    const page = await browser.newPage();
    const wallet = await injectWallet(page, generatePrivateKey());
    await page.goto(`${frontend.url}/account/`);
    await connect(page);
    await page.waitForFunction(() => /^0x[0-9a-fA-F]{40}$/.test(document.getElementById('smart-account-address')?.textContent ?? ''), null, { timeout: 10_000 });
    const address = await text(page, '#smart-account-address');
    assert.notEqual(address.toLowerCase(), wallet.address.toLowerCase(), 'the account is a contract of its own');
    await page.waitForFunction(() => document.getElementById('smart-account-state')?.textContent.startsWith('Not created'));
    assert.match(await text(page, '#smart-account-payer'), /the paymaster/);
    assert.equal(await rpc(node.rpcUrl, 'eth_getCode', [address, 'latest']), '0x');
    console.log(`screenshot: ${await shot(page, 'account-before')}`);

    // The paymaster's deposit at the EntryPoint (balanceOf), read on chain.
    const deposit = async () => BigInt(await rpc(node.rpcUrl, 'eth_call', [{ to: contracts.entryPointV07, data: `0x70a08231${contracts.verifyingPaymasterV07.slice(2).padStart(64, '0')}` }, 'latest']));
    const depositBefore = await deposit();
    await page.waitForSelector('#send-operation:not([disabled])');
    await page.click('#send-operation');
    await page.waitForSelector('#operation-included', { timeout: 30_000 });
    // Who paid, as the receipt says.
    assert.match(await text(page, '#operation-included'), new RegExp(`^Included in block \\d+, gas paid by the paymaster ${contracts.verifyingPaymasterV07.slice(0, 10)}…\\.`, 'i'));
    assert.ok(await deposit() < depositBefore, 'the paymaster\'s deposit at the EntryPoint paid for it');
    const hash = (await page.getAttribute('#operation-included a', 'href')).split('/tx/')[1];
    const receipt = await rpc(node.rpcUrl, 'eth_getTransactionReceipt', [hash]);
    assert.equal(receipt.status, '0x1');
    assert.equal(receipt.to.toLowerCase(), contracts.entryPointV07.toLowerCase(), 'a handleOps bundle');
    assert.notEqual(await rpc(node.rpcUrl, 'eth_getCode', [address, 'latest']), '0x', 'the account was created');
    assert.equal(BigInt(await rpc(node.rpcUrl, 'eth_getBalance', [address, 'latest'])), 0n, 'and holds nothing still');
    await page.waitForFunction(() => document.getElementById('smart-account-state')?.textContent === 'Created', null, { timeout: 10_000 });
    assert.ok(wallet.calls.some((c) => c.method === 'personal_sign'), 'the wallet signed the operation');
    assert.ok(!wallet.calls.some((c) => c.method === 'eth_sendTransaction'), 'and sent no transaction');
    console.log(`screenshot: ${await shot(page, 'account-after')}`);
    await page.close();
  });

  test('the same build with the testnet configuration, against this chain, shows the mismatch and sends nothing', async () => {
    const testnet = await startFrontend(node, { faucet, genesis: path.join(ROOT, 'genesis/testnet.json'), listening: true });
    try {
      const health = await waitFor(async () => {
        const res = await fetch(`${testnet.url}/health`);
        const body = await res.json();
        return body.reason?.includes('mismatch') ? { status: res.status, reason: body.reason } : null;
      }, { what: 'the frontend to report the mismatch' });
      assert.equal(health.status, 503);
      assert.equal(health.reason, `chain id mismatch: this page is configured for chain 2019 but the RPC at ${new URL(node.rpcUrl).host} serves chain 1234`);
      assert.match(testnet.output, /the RPC serves another chain than this page's/);

      const page = await browser.newPage();
      const wallet = await injectWallet(page, generatePrivateKey());
      await page.goto(testnet.url);
      await page.waitForSelector('#chain-mismatch');
      const message = await text(page, '#chain-mismatch');
      assert.match(message, /set up for chain 2019/);
      assert.match(message, /serves chain 1234/);
      assert.equal(await page.locator('button').count(), 0, 'nothing to click');
      const noBundler = await fetch(`${testnet.url}/bundler`, { method: 'POST', body: '{}' });
      assert.equal(noBundler.status, 404);
      assert.match((await noBundler.json()).error, /no bundler/);
      // What acts on the chain is refused while its RPC serves another.
      const faucetRefused = await fetch(`${testnet.url}/api/faucet/info`);
      assert.equal(faucetRefused.status, 503);
      assert.equal((await faucetRefused.json()).error, 'this page is configured for chain 2019 but its RPC serves chain 1234');
      console.log(`screenshot: ${await shot(page, 'mismatch')}`);
      assert.deepEqual(wallet.calls.filter((c) => c.method !== 'eth_chainId' && c.method !== 'eth_accounts'), [], 'the wallet was asked nothing');
      await page.close();
    } finally {
      await testnet.stop();
    }
  });

  test('the server: run-time config, same-origin proxies under the node\'s policy, JSON errors, headers, metrics', async () => {
    const config = await (await fetch(`${frontend.url}/config.json`)).json();
    assert.deepEqual(config, {
      chainId: 1234,
      chainName: 'AndeChain',
      currency: { name: 'Ande', symbol: 'ANDE', decimals: 18 },
      rpcUrl: node.rpcUrl,
      wsUrl: null,
      explorerUrl: EXPLORER,
      faucetUrl: null,
      services: { faucet: true, bundler: true, paymaster: true },
      contracts: config.contracts,
    });
    assert.equal(config.contracts.entryPointV07, '0x0000000071727De22E5E9d8BAf0edAc6f37da032', 'the deployments file, checksummed');
    assert.equal(config.contracts.verifyingPaymasterV07.toLowerCase(), contracts.verifyingPaymasterV07.toLowerCase());
    const call = async (body) => (await fetch(`${frontend.url}/rpc`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();
    assert.equal((await call({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] })).result, '0x4d2');
    const refused = await call({ jsonrpc: '2.0', id: 1, method: 'txpool_content', params: [] });
    assert.ok(refused.error, 'the node\'s public method policy holds through the proxy');

    // Just over the cap, so the body is sent whole before the answer.
    const big = await fetch(`${frontend.url}/rpc`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(1024 * 1024 + 1024) });
    assert.equal(big.status, 413);
    assert.match((await big.json()).error, /larger than 1048576 bytes/);
    const get = await fetch(`${frontend.url}/rpc`);
    assert.equal(get.status, 405);
    assert.match((await get.json()).error, /use POST/);
    const entryPoints = await (await fetch(`${frontend.url}/bundler`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_supportedEntryPoints', params: [] }) })).json();
    assert.ok(entryPoints.result.map((a) => a.toLowerCase()).includes(contracts.entryPointV07.toLowerCase()), 'the bundler behind /bundler');
    const faucetMissing = await fetch(`${frontend.url}/api/faucet/nothing`);
    assert.equal(faucetMissing.status, 404);
    assert.equal((await faucetMissing.json()).error, 'not found');
    const info = await (await fetch(`${frontend.url}/api/faucet/info`)).json();
    assert.equal(info.chain_id, 1234);
    // The raw path is forwarded under /api: an encoded slash stays encoded.
    assert.equal((await fetch(`${frontend.url}/api/faucet/claim/..%2F..%2Fmetrics`)).status, 400, 'the faucet saw one bad claim key, not /metrics');
    const da = await (await fetch(`${frontend.url}/api/da`)).json();
    assert.deepEqual(Object.keys(da).sort(), ['failures', 'lastIncludedBlock', 'lastIncludedDaHeight', 'pendingBlocks', 'role']);
    assert.equal(da.role, 'off');
    const nodeHealth = await (await fetch(`${frontend.url}/api/node`)).json();
    assert.equal(nodeHealth.chain_id, 1234);
    // A service behind that does not answer: 502 with a JSON body.
    const dead = await startFrontend(node, { args: ['--bundler-url', 'http://127.0.0.1:9'] });
    try {
      const down = await fetch(`${dead.url}/bundler`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(down.status, 502);
      assert.match((await down.json()).error, /unreachable/);
    } finally {
      await dead.stop();
    }

    const missing = await fetch(`${frontend.url}/no/such/page`);
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /Page not found/);
    const home = await fetch(`${frontend.url}/send/`);
    assert.equal(home.status, 200);
    assert.equal(home.headers.get('cache-control'), 'no-cache');
    assert.equal(home.headers.get('x-frame-options'), 'DENY');
    assert.match(home.headers.get('content-security-policy'), /connect-src 'self'/);
    const asset = (await home.text()).match(/\/_next\/static\/[^"]+\.js/)[0];
    assert.match((await fetch(`${frontend.url}${asset}`)).headers.get('cache-control'), /immutable/);

    const configHeaders = (await fetch(`${frontend.url}/config.json`)).headers;
    assert.equal(configHeaders.get('x-content-type-options'), 'nosniff', 'API answers carry the headers too');
    const compressed = await fetch(`${frontend.url}${asset}`, { headers: { 'accept-encoding': 'br' } });
    assert.equal(compressed.headers.get('content-encoding'), 'br', 'the brotli file made at build time');
    assert.equal(compressed.headers.get('vary'), 'accept-encoding');
    const metrics = await (await fetch(`${frontend.url}/metrics`)).text();
    assert.match(metrics, /ande_frontend_requests_total\{route="rpc"\} [1-9]/);
    assert.match(metrics, /ande_frontend_rpc_chain_id 1234/);
  });
});
