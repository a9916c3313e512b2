'use client';
import { formatUnits } from 'viem';
import { useBalance, useConnection } from 'wagmi';
import { useAppConfig } from './Providers';

/** The connected account's balance, refreshed every 2 s or on demand. */
export function Balance() {
  const config = useAppConfig();
  const connection = useConnection();
  const balance = useBalance({ address: connection.address, chainId: config.chainId, query: { enabled: !!connection.address, refetchInterval: 2000 } });
  return (
    <p className="balance">
      Balance:{' '}
      <span id="balance" aria-live="polite" data-updated={balance.dataUpdatedAt || undefined}>
        {balance.data ? `${formatUnits(balance.data.value, balance.data.decimals)} ${config.currency.symbol}` : '—'}
      </span>{' '}
      <button type="button" id="refresh-balance" onClick={() => balance.refetch()} disabled={!connection.address}>
        Refresh
      </button>
    </p>
  );
}
