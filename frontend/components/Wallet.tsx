'use client';
// Connect (EIP-6963 wallets, MetaMask first), and add or switch to the configured network.
import { useState } from 'react';
import { useConnect, useConnection, useConnectors, useDisconnect, useSwitchChain, type Connector } from 'wagmi';
import { useAppConfig } from './Providers';
import { addChainParameter } from '@/lib/config';
import { describe } from '@/lib/errors';

/** Announced wallets first, MetaMask first among them; the bare injected provider only when none announced itself. */
function ordered(connectors: readonly Connector[]): Connector[] {
  const announced = connectors.filter((c) => c.id !== 'injected');
  const list = announced.length > 0 ? announced : connectors.filter((c) => c.id === 'injected');
  return [...list].sort((a, b) => Number(b.id === 'io.metamask') - Number(a.id === 'io.metamask'));
}

export function useOnChain(): { connected: boolean; onChain: boolean } {
  const config = useAppConfig();
  const connection = useConnection();
  return { connected: connection.status === 'connected', onChain: connection.status === 'connected' && connection.chainId === config.chainId };
}

export function Wallet() {
  const config = useAppConfig();
  const connection = useConnection();
  const connectors = ordered(useConnectors());
  const connect = useConnect();
  const disconnect = useDisconnect();
  const switchChain = useSwitchChain();
  const [error, setError] = useState<string | null>(null);

  const wrongChain = connection.status === 'connected' && connection.chainId !== config.chainId;
  const onSwitch = () => {
    setError(null);
    switchChain.mutate({ chainId: config.chainId, addEthereumChainParameter: addChainParameter(config) }, { onError: (e) => setError(describe(e)) });
  };

  return (
    <div className="wallet" aria-live="polite">
      {connection.status === 'connected' ? (
        <>
          <span className="address" id="connected-address" title={connection.address}>
            {connection.address.slice(0, 6)}…{connection.address.slice(-4)}
          </span>
          {wrongChain ? (
            <button type="button" id="switch-network" className="primary" onClick={onSwitch} disabled={switchChain.isPending}>
              {switchChain.isPending ? 'Switching…' : `Switch to ${config.chainName}`}
            </button>
          ) : (
            <span className="badge ok" id="network-ok">{config.chainName}</span>
          )}
          <button type="button" onClick={() => disconnect.mutate()}>Disconnect</button>
        </>
      ) : connectors.length === 0 ? (
        <span className="muted" id="no-wallet">No wallet found: install MetaMask or another browser wallet.</span>
      ) : (
        connectors.map((connector) => (
          <button
            key={connector.uid}
            type="button"
            className="primary"
            data-connector={connector.id}
            onClick={() => {
              setError(null);
              connect.mutate({ connector }, { onError: (e) => setError(describe(e)) });
            }}
            disabled={connect.isPending}
          >
            {connect.isPending ? 'Connecting…' : `Connect ${connector.name}`}
          </button>
        ))
      )}
      {error && <span role="alert" className="error-text" id="wallet-error">{error}</span>}
    </div>
  );
}
