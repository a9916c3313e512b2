'use client';
// Balance and send: the fee estimated before sending, then pending and confirmed with a link.
import { useState } from 'react';
import { formatUnits, isAddress, parseUnits } from 'viem';
import { useConnection, useEstimateFeesPerGas, useEstimateGas, useSendTransaction, useWaitForTransactionReceipt } from 'wagmi';
import { Balance } from '@/components/Balance';
import { Page } from '@/components/Page';
import { useAppConfig } from '@/components/Providers';
import { useOnChain } from '@/components/Wallet';
import { explorerLink } from '@/lib/config';
import { describe } from '@/lib/errors';

function parseAmount(text: string, decimals: number): bigint | null {
  if (!/^\d+(\.\d+)?$/.test(text.trim())) return null;
  try {
    return parseUnits(text.trim(), decimals);
  } catch {
    return null;
  }
}

function Send() {
  const config = useAppConfig();
  const connection = useConnection();
  const { connected, onChain } = useOnChain();
  const [to, setTo] = useState('');
  const [amount, setAmount] = useState('');
  const validTo = isAddress(to.trim());
  const value = parseAmount(amount, config.currency.decimals);
  const ready = onChain && validTo && value !== null && value > 0n;
  const gas = useEstimateGas({ account: connection.address, to: validTo ? (to.trim() as `0x${string}`) : undefined, value: value ?? undefined, chainId: config.chainId, query: { enabled: ready } });
  const fees = useEstimateFeesPerGas({ chainId: config.chainId, query: { enabled: ready } });
  const send = useSendTransaction();
  const receipt = useWaitForTransactionReceipt({ hash: send.data, chainId: config.chainId });

  const maxFee = gas.data && fees.data?.maxFeePerGas ? gas.data * fees.data.maxFeePerGas : null;
  const toError = to && !validTo ? 'Not an address: 0x followed by 40 hex digits.' : null;
  const amountError = amount && (value === null || value === 0n) ? `Not an amount of ${config.currency.symbol}.` : null;
  const txLink = send.data ? explorerLink(config, 'tx', send.data) : null;

  return (
    <>
      <Balance />
      {!connected && <p className="muted" id="send-connect">Connect a wallet to send.</p>}
      {connected && !onChain && <p className="banner warn" id="send-wrong-network">Your wallet is on another network: switch to {config.chainName} above.</p>}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (!ready) return;
          send.reset();
          send.mutate({ to: to.trim() as `0x${string}`, value: value!, chainId: config.chainId });
        }}
      >
        <label htmlFor="to">Recipient</label>
        <input id="to" name="to" autoComplete="off" spellCheck={false} placeholder="0x…" value={to} onChange={(e) => setTo(e.target.value)} aria-invalid={!!toError} aria-describedby="to-error" />
        <span className="field-error" id="to-error" role="status">{toError ?? ''}</span>
        <label htmlFor="amount">Amount ({config.currency.symbol})</label>
        <input id="amount" name="amount" inputMode="decimal" autoComplete="off" placeholder="0.1" value={amount} onChange={(e) => setAmount(e.target.value)} aria-invalid={!!amountError} aria-describedby="amount-error" />
        <span className="field-error" id="amount-error" role="status">{amountError ?? ''}</span>
        <p className="muted" id="fee-estimate">
          Network fee: {maxFee !== null ? `at most ${formatUnits(maxFee, config.currency.decimals)} ${config.currency.symbol} (${gas.data} gas)` : gas.isError ? describe(gas.error) : '—'}
        </p>
        <button type="submit" className="primary" id="send" disabled={!ready || send.isPending}>
          {send.isPending ? 'Confirm in your wallet…' : 'Send'}
        </button>
      </form>
      <div id="send-result" aria-live="polite" className="result">
        {send.isError && <p role="alert" className="error-text">{describe(send.error)}</p>}
        {send.data && receipt.isLoading && <p id="send-pending">Pending: {send.data.slice(0, 18)}…</p>}
        {receipt.data && (
          <p id="send-confirmed" className={receipt.data.status === 'success' ? 'ok-text' : 'error-text'}>
            {receipt.data.status === 'success' ? 'Confirmed' : 'Reverted'} in block {receipt.data.blockNumber.toString()}.{' '}
            {txLink && <a href={txLink}>View in the explorer</a>}
          </p>
        )}
        {receipt.isError && <p role="alert" className="error-text">{describe(receipt.error)}</p>}
      </div>
    </>
  );
}

export default function SendPage() {
  return (
    <Page id="send-title" title="Send" intro="Send from the wallet you connected. The network fee is estimated before you confirm, and the transfer is followed until it is in a block." minHeight="26rem">
      {() => <Send />}
    </Page>
  );
}
