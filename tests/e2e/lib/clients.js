// viem clients for a running node.
import { createPublicClient, createWalletClient, defineChain, http, webSocket } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

export function chainFor(node, id = 1234) {
  return defineChain({
    id,
    name: 'AndeChain Local',
    nativeCurrency: { name: 'Ande', symbol: 'ANDE', decimals: 18 },
    rpcUrls: { default: { http: [node.rpcUrl], webSocket: [node.wsUrl] } },
  });
}

export function clients(node, key) {
  const chain = chainFor(node);
  const publicClient = createPublicClient({ chain, transport: http(node.rpcUrl), pollingInterval: 100 });
  const account = key ? privateKeyToAccount(key) : undefined;
  const wallet = key ? createWalletClient({ chain, account, transport: http(node.rpcUrl) }) : undefined;
  return { chain, publicClient, wallet, account };
}

export function wsClient(node) {
  return createPublicClient({ chain: chainFor(node), transport: webSocket(node.wsUrl) });
}
