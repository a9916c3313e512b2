// Debian's headless Chromium driven by playwright-core.
import { chromium } from 'playwright-core';
import { tempDir } from './node.js';

export async function launch(args = []) {
  return chromium.launchPersistentContext(tempDir('ande-chromium-'), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', ...args],
  });
}
