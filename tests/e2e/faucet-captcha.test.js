// Claims behind a captcha, verified by a local stand-in of the providers' siteverify endpoint
// (hCaptcha and Turnstile answer alike): no token is a 400, a refused token a 403 that spends no
// cooldown, a verifier that does not answer a 503, and a solved one pays.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { rpc, startFaucet, startFaucetUi, startNode, tempDir } from './lib/node.js';
import { launch } from './lib/browser.js';
import { claim as claimAt } from './lib/faucet.js';

const SECRET = 'stand-in-secret-0x5ec7e7';
const SITE_KEY = 'site-key-for-tests';

/** A siteverify stand-in: the token `solved` passes, anything else is refused. */
async function startVerifier() {
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(body));
      requests.push({ contentType: req.headers['content-type'], form });
      const ok = form.secret === SECRET && form.response === 'solved';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(ok ? { success: true } : { success: false, 'error-codes': ['invalid-input-response'] }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/siteverify`, requests, close: () => new Promise((r) => server.close(r)) };
}

let node;
let verifier;
let faucet;
before(async () => {
  node = await startNode({ blockTime: '500ms' });
  verifier = await startVerifier();
  const secretFile = path.join(tempDir('ande-secret-'), 'captcha.secret');
  fs.writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  faucet = await startFaucet(node, {
    args: ['--trusted-proxies', '1'],
    env: { CAPTCHA_PROVIDER: 'turnstile', CAPTCHA_SITE_KEY: SITE_KEY, CAPTCHA_SECRET_FILE: secretFile, CAPTCHA_VERIFY_URL: verifier.url },
  });
});
const claim = (address, token, ip) => claimAt(faucet, address, ip, { token });

after(async () => {
  await faucet?.stop();
  await verifier?.close();
  await node?.stop();
});

test('info tells the page which widget to show, never the secret', async () => {
  const text = await (await fetch(`${faucet.url}/api/info`)).text();
  assert.deepEqual(JSON.parse(text).captcha, { provider: 'turnstile', site_key: SITE_KEY });
  assert.ok(!text.includes(SECRET));
});

test('a claim without a token is a 400; a refused token a 403 that spends no cooldown', async () => {
  const address = '0x00000000000000000000000000000000000ca701';
  const missing = await claim(address, undefined, '10.9.0.1');
  assert.equal(missing.status, 400);
  assert.match(missing.body.error, /captcha/);
  const refused = await claim(address, 'wrong', '10.9.0.1');
  assert.equal(refused.status, 403);
  assert.deepEqual(refused.body.codes, ['invalid-input-response']);
  const seen = verifier.requests.at(-1);
  assert.equal(seen.contentType, 'application/x-www-form-urlencoded');
  assert.equal(seen.form.secret, SECRET);
  assert.equal(seen.form.response, 'wrong');
  assert.equal(seen.form.remoteip, '10.9.0.1', 'the client IP behind the trusted proxy');
  const solved = await claim(address, 'solved', '10.9.0.1');
  assert.equal(solved.status, 202, 'the refused attempt did not start a cooldown');
  const metrics = await (await fetch(`${faucet.url}/metrics`)).text();
  assert.match(metrics, /^ande_faucet_captcha_refused_total 1$/m);
});

test('the page shows the provider\'s widget and sends its token with the claim', async () => {
  const ui = await startFaucetUi(faucet);
  const browser = await launch();
  try {
    const page = await browser.newPage();
    // The widget's script is served by a stand-in, so no request leaves the machine: like the
    // real one, it fills a hidden field of the enclosing form with the solved token.
    await page.route('https://challenges.cloudflare.com/**', (route) => route.fulfill({
      contentType: 'application/javascript',
      body: `for (const box of document.querySelectorAll('.cf-turnstile')) {
        window.widgetSiteKey = box.dataset.sitekey;
        box.innerHTML = '<input type="hidden" name="cf-turnstile-response" value="solved">';
      }
      window.turnstile = { reset() { window.widgetResets = (window.widgetResets || 0) + 1; } };`,
    }));
    await page.goto(ui.url);
    await page.waitForFunction(() => window.widgetSiteKey !== undefined);
    assert.equal(await page.evaluate(() => window.widgetSiteKey), SITE_KEY);
    const address = '0x00000000000000000000000000000000000ca703';
    await page.fill('#address', address);
    await page.click('#claim');
    await page.waitForFunction(() => document.getElementById('result').textContent.includes('Confirmed in block'), null, { timeout: 20_000 });
    assert.equal(verifier.requests.at(-1).form.response, 'solved');
    assert.equal(await page.evaluate(() => window.widgetResets), 1, 'the widget is reset for the next claim');
    assert.equal(BigInt(await rpc(node.rpcUrl, 'eth_getBalance', [address, 'latest'])), 10n ** 18n);
  } finally {
    await browser.close();
    await ui.stop();
  }
});

test('a verifier that does not answer is a 503, and the secret never reaches the logs', async () => {
  await verifier.close();
  const r = await claim('0x00000000000000000000000000000000000ca702', 'solved', '10.9.0.2');
  assert.equal(r.status, 503);
  assert.match(r.body.error, /captcha verification is unavailable/);
  assert.ok(!faucet.output.includes(SECRET));
});

test('a provider without its secret refuses to start', async () => {
  await assert.rejects(
    startFaucet(node, { env: { CAPTCHA_PROVIDER: 'hcaptcha', CAPTCHA_SITE_KEY: SITE_KEY } }),
    /CAPTCHA_SECRET_FILE/,
  );
});
