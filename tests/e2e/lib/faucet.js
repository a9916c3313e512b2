// Faucet API calls shared by the faucet tests: a claim, and waiting for one to confirm.
import { waitFor } from './node.js';

/**
 * POSTs a claim to `service.url` (the API, or faucet-ui's proxy); `ip` is sent as
 * X-Forwarded-For when given, `token` as the captcha token.
 */
export async function claim(service, address, ip, { token, headers = {} } = {}) {
  const res = await fetch(`${service.url}/api/claim`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(ip ? { 'x-forwarded-for': ip } : {}), ...headers },
    body: JSON.stringify(token === undefined ? { address } : { address, captcha_token: token }),
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

/** Waits until the claim (id or transaction hash) is confirmed; fails fast when it failed. */
export async function confirmed(service, key, timeout = 30_000) {
  return waitFor(async () => {
    const body = await (await fetch(`${service.url}/api/claim/${key}`)).json();
    if (body.status === 'failed') throw new Error(`claim failed: ${body.error}`);
    return body.status === 'confirmed' ? body : null;
  }, { timeout, what: `claim ${key} to confirm` });
}
