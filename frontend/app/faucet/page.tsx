'use client';
// The faucet: a claim to the connected (or typed) address through the faucet API, its cooldown
// shown, the claim followed until it is confirmed.
import { useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { formatUnits, isAddress } from 'viem';
import { useConnection } from 'wagmi';
import { Balance } from '@/components/Balance';
import { Page } from '@/components/Page';
import { useAppConfig } from '@/components/Providers';
import { explorerLink } from '@/lib/config';
import { describe, formatWait } from '@/lib/errors';

type Info = { amount: string; cooldown_seconds: number; captcha: unknown | null; faucet_balance: string | null };
type Claim = { status: string; tx_hash: string | null; block?: number | null; error?: string | null };
type Outcome =
  | { kind: 'idle' }
  | { kind: 'sending' }
  | { kind: 'following'; id: string; claim: Claim; slow?: boolean }
  | { kind: 'cooldown'; message: string; retryAfter: number }
  | { kind: 'error'; message: string };

/** How long a claim is followed before the page says it is taking long. */
const FOLLOW_MS = 60_000;

function Faucet() {
  const config = useAppConfig();
  const connection = useConnection();
  const [address, setAddress] = useState('');
  const [outcome, setOutcome] = useState<Outcome>({ kind: 'idle' });
  const info = useQuery({
    queryKey: ['faucet-info'],
    queryFn: async (): Promise<Info> => {
      const response = await fetch('/api/faucet/info');
      if (!response.ok) throw new Error(`the faucet answered HTTP ${response.status}`);
      return response.json();
    },
  });
  // Filled in when a wallet connects or changes account, and then the user's to edit.
  useEffect(() => {
    if (connection.address) setAddress(connection.address);
  }, [connection.address]);

  const following = outcome.kind === 'following' ? outcome.id : null;
  useEffect(() => {
    if (!following) return;
    const started = Date.now();
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const update = (change: (o: Outcome & { kind: 'following' }) => Outcome) =>
      setOutcome((o) => (o.kind === 'following' && o.id === following ? change(o) : o));
    const poll = async () => {
      try {
        const response = await fetch(`/api/faucet/claim/${following}`, { cache: 'no-store' });
        // An error answer (the faucet restarting, say) is not the claim's state: asked again.
        if (response.ok) {
          const claim: Claim = await response.json();
          if (stopped) return;
          update((o) => ({ ...o, claim }));
          if (claim.status === 'confirmed' || claim.status === 'failed') return;
        }
      } catch {
        // A blip of the faucet: asked again below.
      }
      if (stopped) return;
      if (Date.now() - started < FOLLOW_MS) timer = setTimeout(poll, 1000);
      else update((o) => ({ ...o, slow: true }));
    };
    poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [following]);

  const valid = isAddress(address.trim());
  const claim = async () => {
    setOutcome({ kind: 'sending' });
    try {
      const response = await fetch('/api/faucet/claim', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: address.trim() }) });
      const body = await response.json().catch(() => ({}));
      if (response.status === 429) setOutcome({ kind: 'cooldown', message: body.error ?? 'Claimed too recently', retryAfter: Number(body.retry_after ?? response.headers.get('retry-after') ?? 0) });
      else if (!response.ok) setOutcome({ kind: 'error', message: body.error ?? `the faucet answered HTTP ${response.status}` });
      else setOutcome({ kind: 'following', id: body.claim_id, claim: { status: body.status, tx_hash: body.tx_hash } });
    } catch (e) {
      setOutcome({ kind: 'error', message: describe(e) });
    }
  };

  const amount = info.data ? `${formatUnits(BigInt(info.data.amount), config.currency.decimals)} ${config.currency.symbol}` : '—';
  const claimed = outcome.kind === 'following' ? outcome.claim : null;
  const txLink = claimed?.tx_hash ? explorerLink(config, 'tx', claimed.tx_hash) : null;
  return (
    <>
      <p id="faucet-summary">
        Get {amount}, once every {info.data ? formatWait(info.data.cooldown_seconds) : '—'} per address.
      </p>
      {connection.address && <Balance />}
      {info.isError && <p role="alert" className="banner error">The faucet does not answer: {(info.error as Error).message}.</p>}
      {info.data?.captcha ? (
        <p className="banner warn" id="faucet-captcha">
          This faucet asks for a captcha: claim on {config.faucetUrl ? <a href={config.faucetUrl}>the faucet page</a> : 'the faucet page'}.
        </p>
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (valid) claim();
          }}
        >
          <label htmlFor="faucet-address">Address</label>
          <input id="faucet-address" autoComplete="off" spellCheck={false} placeholder="0x…" value={address} onChange={(e) => setAddress(e.target.value)} aria-invalid={!!address && !valid} aria-describedby="faucet-address-error" />
          <span className="field-error" id="faucet-address-error" role="status">{address && !valid ? 'Not an address: 0x followed by 40 hex digits.' : ''}</span>
          <button type="submit" className="primary" id="claim" disabled={!valid || outcome.kind === 'sending'}>
            {outcome.kind === 'sending' ? 'Claiming…' : `Claim ${amount}`}
          </button>
        </form>
      )}
      <div id="claim-result" aria-live="polite" className="result">
        {outcome.kind === 'cooldown' && (
          <p role="alert" className="error-text" id="claim-cooldown">
            {outcome.message}. Try again in {formatWait(outcome.retryAfter)}.
          </p>
        )}
        {outcome.kind === 'error' && <p role="alert" className="error-text">{outcome.message}</p>}
        {claimed && claimed.status !== 'confirmed' && claimed.status !== 'failed' && (
          <p id="claim-pending">
            {outcome.kind === 'following' && outcome.slow
              ? `Still ${claimed.status} after a minute: the faucet will keep trying; check the explorer later.`
              : `Claim ${claimed.status}…`}{' '}
            {txLink && <a href={txLink}>View in the explorer</a>}
          </p>
        )}
        {claimed?.status === 'confirmed' && (
          <p className="ok-text" id="claim-confirmed">
            Confirmed in block {claimed.block}. {txLink && <a href={txLink}>View in the explorer</a>}
          </p>
        )}
        {claimed?.status === 'failed' && <p role="alert" className="error-text">The payout failed: {claimed.error}</p>}
      </div>
    </>
  );
}

export default function FaucetPage() {
  return (
    <Page id="faucet-title" title="Faucet" intro="Currency for trying the network out, paid by the faucet's account to the address you give, once per cooldown." minHeight="16rem">
      {(config) => (config.services.faucet ? <Faucet /> : <p className="muted">This network has no faucet.</p>)}
    </Page>
  );
}
