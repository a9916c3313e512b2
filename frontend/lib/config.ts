// The page's configuration, served at run time by `ande frontend` (/config.json).
import { defineChain, type Chain } from 'viem';

export type AppConfig = {
  chainId: number;
  chainName: string;
  currency: { name: string; symbol: string; decimals: number };
  /** Given to wallets; the page itself reads through its own /rpc. */
  rpcUrl: string;
  wsUrl: string | null;
  explorerUrl: string | null;
  faucetUrl: string | null;
  services: { faucet: boolean; bundler: boolean; paymaster: boolean };
  contracts: Record<string, string>;
};

export async function loadConfig(): Promise<AppConfig> {
  const response = await fetch('/config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`/config.json answered HTTP ${response.status}`);
  return response.json();
}

export function chainOf(config: AppConfig): Chain {
  return defineChain({
    id: config.chainId,
    name: config.chainName,
    nativeCurrency: config.currency,
    rpcUrls: { default: { http: [config.rpcUrl], webSocket: config.wsUrl ? [config.wsUrl] : undefined } },
    blockExplorers: config.explorerUrl ? { default: { name: `${config.chainName} explorer`, url: config.explorerUrl } } : undefined,
  });
}

/** What `wallet_addEthereumChain` is given: the live chain's data. */
export function addChainParameter(config: AppConfig) {
  return {
    chainName: config.chainName,
    nativeCurrency: config.currency,
    rpcUrls: [config.rpcUrl],
    blockExplorerUrls: config.explorerUrl ? [config.explorerUrl] : undefined,
  };
}

export function explorerLink(config: AppConfig, kind: 'tx' | 'address' | 'block', id: string | bigint): string | null {
  return config.explorerUrl ? `${config.explorerUrl}/${kind}/${id}` : null;
}

/** A JSON-RPC call through the page's own /rpc. */
export async function rpc<T>(method: string, params: unknown[] = []): Promise<T> {
  const response = await fetch('/rpc', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = await response.json().catch(() => null);
  if (!body) throw new Error(`the RPC answered HTTP ${response.status}`);
  if (body.error) throw new Error(body.error.message ?? JSON.stringify(body.error));
  return body.result as T;
}
