// An EIP-1193 wallet injected into a page (as window.ethereum and announced by EIP-6963) that
// really signs, with viem, with a development key, and sends to the RPC of the chain it is on.
// It starts on chain 1 and knows only the chains a page adds, as a fresh MetaMask would.
import { createWalletClient, defineChain, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

export const WALLET_RDNS = 'org.andechain.testwallet';

export async function injectWallet(page, key) {
  const account = privateKeyToAccount(key);
  const wallet = { address: account.address, calls: [], chainId: 1, chains: new Map([[1, null]]), connected: false, rejectNext: false };
  const fail = (code, message) => ({ error: { code, message } });
  const emit = (event, value) => page.evaluate(([e, v]) => window.__andeWalletEmit(e, v), [event, value]);
  const forward = async (method, params) => {
    const url = wallet.chains.get(wallet.chainId);
    if (!url) return fail(-32603, `no RPC for chain ${wallet.chainId}`);
    const body = await (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) })).json();
    return body.error ? { error: body.error } : { result: body.result };
  };
  await page.exposeFunction('__andeWallet', async (method, params) => {
    wallet.calls.push({ method, params });
    switch (method) {
      case 'eth_chainId':
        return { result: `0x${wallet.chainId.toString(16)}` };
      case 'eth_accounts':
        return { result: wallet.connected ? [account.address] : [] };
      case 'eth_requestAccounts':
        wallet.connected = true;
        return { result: [account.address] };
      case 'wallet_requestPermissions':
        wallet.connected = true;
        return { result: [{ parentCapability: 'eth_accounts' }] };
      case 'wallet_revokePermissions':
        wallet.connected = false;
        return { result: null };
      case 'wallet_switchEthereumChain': {
        const id = Number(BigInt(params[0].chainId));
        if (!wallet.chains.has(id)) return fail(4902, `Unrecognized chain ID ${params[0].chainId}. Try adding the chain using wallet_addEthereumChain first.`);
        wallet.chainId = id;
        await emit('chainChanged', params[0].chainId);
        return { result: null };
      }
      case 'wallet_addEthereumChain': {
        // Like MetaMask: the chain is added, then switched to.
        const id = Number(BigInt(params[0].chainId));
        wallet.chains.set(id, params[0].rpcUrls[0]);
        wallet.chainId = id;
        await emit('chainChanged', params[0].chainId);
        return { result: null };
      }
      case 'eth_sendTransaction': {
        if (wallet.rejectNext) {
          wallet.rejectNext = false;
          return fail(4001, 'User rejected the request.');
        }
        const tx = params[0];
        const url = wallet.chains.get(wallet.chainId);
        const chain = defineChain({ id: wallet.chainId, name: `chain ${wallet.chainId}`, nativeCurrency: { name: 'x', symbol: 'x', decimals: 18 }, rpcUrls: { default: { http: [url] } } });
        const client = createWalletClient({ account, chain, transport: http(url) });
        try {
          const hash = await client.sendTransaction({ to: tx.to, value: tx.value ? BigInt(tx.value) : 0n, data: tx.data, gas: tx.gas ? BigInt(tx.gas) : undefined });
          return { result: hash };
        } catch (e) {
          return fail(-32603, e.shortMessage ?? e.message);
        }
      }
      case 'personal_sign':
        return { result: await account.signMessage({ message: { raw: params[0] } }) };
      default:
        return forward(method, params);
    }
  });
  await page.addInitScript((rdns) => {
    const listeners = {};
    const provider = {
      request: async ({ method, params }) => {
        const answer = await window.__andeWallet(method, params ?? []);
        if (answer.error) throw Object.assign(new Error(answer.error.message), { code: answer.error.code });
        return answer.result;
      },
      on(event, fn) {
        (listeners[event] ??= []).push(fn);
        return provider;
      },
      removeListener(event, fn) {
        listeners[event] = (listeners[event] ?? []).filter((f) => f !== fn);
        return provider;
      },
    };
    window.__andeWalletEmit = (event, value) => (listeners[event] ?? []).forEach((fn) => fn(value));
    window.ethereum = provider;
    const info = { uuid: '5d2b3c8e-6a1f-4f0e-9a57-3c1f4b2e7d10', name: 'Test Wallet', icon: 'data:image/svg+xml,%3Csvg xmlns="http://www.w3.org/2000/svg"/%3E', rdns };
    const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail: Object.freeze({ info, provider }) }));
    window.addEventListener('eip6963:requestProvider', announce);
    announce();
  }, WALLET_RDNS);
  return wallet;
}
