// The dApp's interaction latency in Chromium (click or keystroke -> the result on screen, for
// interactions that need no new block), measured inside the page with performance.now(), and
// Lighthouse's scores of the status and send pages. Runs `ande frontend` against a real node
// and faucet. `make bench-frontend`; figures in docs/benchmarks.md.
//   node bench/frontend.js [--rounds 40] [--lighthouse-runs 3] [--no-lighthouse]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { generatePrivateKey } from 'viem/accounts';
import { startFaucet, startFrontend, startNode, tempDir } from '../lib/node.js';
import { launch } from '../lib/browser.js';
import { WALLET_RDNS, injectWallet } from '../lib/wallet.js';

const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf('--rounds') + 1] || 0) || 40;
const LIGHTHOUSE = !args.includes('--no-lighthouse');
const LIGHTHOUSE_RUNS = Number(args[args.indexOf('--lighthouse-runs') + 1] || 0) || 3;

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};

// Starts `act` in the page and resolves with the milliseconds until `done` holds, checked on
// every DOM change and animation frame (so the figure includes React's render and commit).
async function timed(page, act, done, arg) {
  return page.evaluate(([actSrc, doneSrc, a]) => new Promise((resolve, reject) => {
    const act = new Function('arg', actSrc);
    const done = new Function('arg', doneSrc);
    const start = performance.now();
    const check = () => {
      if (done(a)) {
        observer.disconnect();
        resolve(performance.now() - start);
        return true;
      }
      return false;
    };
    const observer = new MutationObserver(check);
    observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    setTimeout(() => { observer.disconnect(); reject(new Error(`not done within 10 s: ${doneSrc}`)); }, 10_000);
    act(a);
    const frame = () => { if (!check()) requestAnimationFrame(frame); };
    requestAnimationFrame(frame);
  }), [act, done, arg]);
}

// Sets a React-controlled input's value as typing would.
const TYPE = `const input = document.getElementById(arg.id);
  Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(input, arg.value);
  input.dispatchEvent(new Event('input', { bubbles: true }));`;

async function interactions(frontend) {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const wallet = await injectWallet(page, generatePrivateKey());
    await page.goto(`${frontend.url}/send/`);
    await page.click(`[data-connector="${WALLET_RDNS}"]`);
    await page.click('#switch-network');
    await page.waitForSelector('#network-ok');
    await page.waitForSelector('#balance[data-updated]');
    const samples = { 'form validation': [], 'balance refresh': [], 'network switch': [], 'page change': [] };
    for (let i = 0; i < ROUNDS; i++) {
      samples['form validation'].push(await timed(page, TYPE, "return document.getElementById('to-error').textContent !== ''", { id: 'to', value: `0x${i}` }));
      await timed(page, TYPE, "return document.getElementById('to-error').textContent === ''", { id: 'to', value: '' });
      const before = await page.getAttribute('#balance', 'data-updated');
      samples['balance refresh'].push(await timed(page, "document.getElementById('refresh-balance').click()",
        "return document.getElementById('balance').dataset.updated !== arg", before));
      // The wallet moves to another chain on its own; the page offers the switch back.
      wallet.chainId = 1;
      await page.evaluate(() => window.__andeWalletEmit('chainChanged', '0x1'));
      await page.waitForSelector('#switch-network');
      samples['network switch'].push(await timed(page, "document.getElementById('switch-network').click()", "return !!document.getElementById('network-ok')"));
      samples['page change'].push(await timed(page, "[...document.querySelectorAll('nav a')].find((a) => a.textContent === 'Network').click()", "return !!document.getElementById('status-title')"));
      await timed(page, "[...document.querySelectorAll('nav a')].find((a) => a.textContent === 'Send').click()", "return !!document.getElementById('send-title') && !!document.querySelector('#balance[data-updated]')");
    }
    return Object.entries(samples).map(([name, values]) => ({ name, samples: values.length, p50_ms: quantile(values, 0.5), p95_ms: quantile(values, 0.95), max_ms: Math.max(...values) }));
  } finally {
    await browser.close();
  }
}

// Lighthouse 12.2.3 (the last for Node 20), installed for this bench only, on Debian's Chromium.
function lighthouse(url) {
  const dir = path.join(import.meta.dirname, 'lighthouse');
  if (!fs.existsSync(path.join(dir, 'node_modules'))) execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'inherit' });
  const out = path.join(tempDir('ande-lighthouse-'), 'report.json');
  execFileSync(path.join(dir, 'node_modules/.bin/lighthouse'), [url, '--quiet', '--output=json', `--output-path=${out}`,
    '--only-categories=performance,accessibility,best-practices', '--chrome-flags=--headless --no-sandbox --disable-gpu'],
  { env: { ...process.env, CHROME_PATH: process.env.CHROMIUM ?? '/usr/bin/chromium' }, stdio: ['ignore', 'ignore', 'inherit'] });
  const report = JSON.parse(fs.readFileSync(out, 'utf8'));
  const score = (c) => Math.round(report.categories[c].score * 100);
  return {
    url,
    performance: score('performance'),
    accessibility: score('accessibility'),
    best_practices: score('best-practices'),
    transfer_bytes: report.audits['total-byte-weight'].numericValue,
    fcp_ms: Math.round(report.audits['first-contentful-paint'].numericValue),
    lcp_ms: Math.round(report.audits['largest-contentful-paint'].numericValue),
    tbt_ms: Math.round(report.audits['total-blocking-time'].numericValue),
    speed_index_ms: Math.round(report.audits['speed-index'].numericValue),
    cls: report.audits['cumulative-layout-shift'].numericValue,
    failed: Object.values(report.audits).filter((a) => a.score !== null && a.score < 1 && a.scoreDisplayMode === 'binary').map((a) => a.id),
  };
}

const node = await startNode({ blockTime: '2s' });
const faucet = await startFaucet(node, { args: ['--trusted-proxies', '1'] });
const frontend = await startFrontend(node, { faucet });
try {
  for (const figure of await interactions(frontend)) console.log(JSON.stringify({ bench: 'frontend-interaction', ...figure }));
  if (LIGHTHOUSE) {
    // Lighthouse's figures move from run to run: the run of median performance, and every run's score.
    for (const page of ['/', '/send/']) {
      const runs = Array.from({ length: LIGHTHOUSE_RUNS }, () => lighthouse(`${frontend.url}${page}`)).sort((a, b) => a.performance - b.performance);
      console.log(JSON.stringify({ bench: 'frontend-lighthouse', ...runs[Math.floor(runs.length / 2)], performance_runs: runs.map((r) => r.performance) }));
    }
  }
} finally {
  await frontend.stop();
  await faucet.stop();
  await node.stop();
}
