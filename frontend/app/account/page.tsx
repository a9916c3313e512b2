'use client';
// Smart account: an eth-infinitism SimpleAccount (EntryPoint v0.7) owned by the connected
// wallet, created by its first user operation; operations go through the bundler, sponsored by
// the paymaster while the account holds nothing.
import { useQuery } from '@tanstack/react-query';
import { toSimpleSmartAccount } from 'permissionless/accounts';
import { useState } from 'react';
import { formatUnits, http, isAddress, parseUnits, type Address, type Hash } from 'viem';
import { WaitForUserOperationReceiptTimeoutError, createBundlerClient, createPaymasterClient } from 'viem/account-abstraction';
import { usePublicClient, useWalletClient } from 'wagmi';
import { Page } from '@/components/Page';
import { useAppConfig } from '@/components/Providers';
import { useOnChain } from '@/components/Wallet';
import { explorerLink } from '@/lib/config';
import { describe } from '@/lib/errors';

type Sent =
  | { step: 'signing' }
  | { step: 'sent'; hash: Hash; slow: boolean }
  /** `paymaster`: who paid, from the receipt (none: the account). */
  | { step: 'included'; hash: Hash; paymaster: Address | null; block: bigint; tx: Hash; success: boolean };

/** How long the page waits for an operation's receipt before saying it is taking long, and how
 * many such waits it makes before leaving it to the explorer. */
const RECEIPT_WAIT_MS = 60_000;
const RECEIPT_WAITS = 5;

function Account() {
  const config = useAppConfig();
  const { connected, onChain } = useOnChain();
  const client = usePublicClient();
  const wallet = useWalletClient();
  const [to, setTo] = useState('');
  const [amount, setAmount] = useState('0');
  const [sent, setSent] = useState<Sent | null>(null);
  const [error, setError] = useState<string | null>(null);
  const entryPoint = config.contracts.entryPointV07 as Address | undefined;
  const factory = config.contracts.simpleAccountFactoryV07 as Address | undefined;
  const available = config.services.bundler && !!entryPoint && !!factory;

  const account = useQuery({
    queryKey: ['smart-account', wallet.data?.account.address, entryPoint, factory],
    enabled: onChain && available && !!wallet.data && !!client,
    queryFn: () => toSimpleSmartAccount({ client: client!, owner: wallet.data!, factoryAddress: factory, entryPoint: { address: entryPoint!, version: '0.7' } }),
    staleTime: Infinity,
  });
  const state = useQuery({
    queryKey: ['smart-account-state', account.data?.address],
    enabled: !!account.data,
    queryFn: async () => {
      const address = account.data!.address;
      const [balance, code] = await Promise.all([client!.getBalance({ address }), client!.getCode({ address })]);
      return { balance, deployed: !!code && code !== '0x' };
    },
    refetchInterval: 2000,
  });

  if (!available) return <p className="muted">This network has no bundler.</p>;

  const recipient = to.trim() || wallet.data?.account.address || '';
  const validTo = isAddress(recipient);
  let value: bigint | null = null;
  try {
    value = /^\d+(\.\d+)?$/.test(amount.trim()) ? parseUnits(amount.trim(), config.currency.decimals) : null;
  } catch {
    value = null;
  }
  // Decided from the account's balance as last read: nothing to send before it is known.
  const sponsored = config.services.paymaster && state.data?.balance === 0n;
  const busy = sent?.step === 'signing' || sent?.step === 'sent';
  const ready = onChain && !!account.data && !!state.data && validTo && value !== null && !busy;

  const send = async () => {
    if (!ready || !client || !account.data) return;
    setError(null);
    setSent({ step: 'signing' });
    const origin = window.location.origin;
    const bundler = createBundlerClient({
      account: account.data,
      client,
      transport: http(`${origin}/bundler`),
      paymaster: sponsored ? createPaymasterClient({ transport: http(`${origin}/paymaster`) }) : undefined,
    });
    let hash: Hash;
    try {
      hash = await bundler.sendUserOperation({ calls: [{ to: recipient as Address, value: value! }] });
    } catch (e) {
      setSent(null);
      setError(describe(e));
      return;
    }
    // Once the bundler has it, the operation is not sent again from here: it is followed.
    setSent({ step: 'sent', hash, slow: false });
    for (let wait = 1; wait <= RECEIPT_WAITS; wait++) {
      try {
        const receipt = await bundler.waitForUserOperationReceipt({ hash, timeout: RECEIPT_WAIT_MS, pollingInterval: 500 });
        const paymaster = receipt.paymaster && BigInt(receipt.paymaster) !== 0n ? receipt.paymaster : null;
        setSent({ step: 'included', hash, paymaster, block: receipt.receipt.blockNumber, tx: receipt.receipt.transactionHash, success: receipt.success });
        state.refetch();
        return;
      } catch (e) {
        if (!(e instanceof WaitForUserOperationReceiptTimeoutError)) {
          setError(`${describe(e)} The operation ${hash} may still be included.`);
          return;
        }
        setSent({ step: 'sent', hash, slow: true });
      }
    }
    setError(`No receipt for ${hash} after ${(RECEIPT_WAITS * RECEIPT_WAIT_MS) / 60_000} minutes: look for it in the explorer before sending again.`);
  };

  const txLink = sent?.step === 'included' ? explorerLink(config, 'tx', sent.tx) : null;
  return (
    <>
      {!connected && <p className="muted">Connect a wallet: it will own the account.</p>}
      {connected && !onChain && <p className="banner warn">Your wallet is on another network: switch to {config.chainName} above.</p>}
      <dl className="facts">
        <dt>Account</dt>
        <dd id="smart-account-address">{account.data?.address ?? '—'}</dd>
        <dt>State</dt>
        <dd id="smart-account-state">{state.data ? (state.data.deployed ? 'Created' : 'Not created yet: the first operation creates it') : '—'}</dd>
        <dt>Balance</dt>
        <dd id="smart-account-balance">{state.data ? `${formatUnits(state.data.balance, config.currency.decimals)} ${config.currency.symbol}` : '—'}</dd>
        <dt>Gas paid by</dt>
        <dd id="smart-account-payer">{state.data ? (sponsored ? 'the paymaster (the account holds nothing)' : 'the account') : '—'}</dd>
      </dl>
      {account.isError && <p role="alert" className="error-text">{describe(account.error)}</p>}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        <label htmlFor="op-to">Call to</label>
        <input id="op-to" autoComplete="off" spellCheck={false} placeholder={wallet.data?.account.address ?? '0x…'} value={to} onChange={(e) => setTo(e.target.value)} aria-invalid={!!to && !validTo} aria-describedby="op-to-error" />
        <span className="field-error" id="op-to-error" role="status">{to && !validTo ? 'Not an address: 0x followed by 40 hex digits.' : ''}</span>
        <label htmlFor="op-amount">Value ({config.currency.symbol})</label>
        <input id="op-amount" inputMode="decimal" autoComplete="off" value={amount} onChange={(e) => setAmount(e.target.value)} aria-invalid={value === null} aria-describedby="op-amount-error" />
        <span className="field-error" id="op-amount-error" role="status">{value === null ? `Not an amount of ${config.currency.symbol}.` : ''}</span>
        <button type="submit" className="primary" id="send-operation" disabled={!ready}>
          {sent?.step === 'signing' ? 'Sign in your wallet…' : sent?.step === 'sent' ? 'Waiting for the bundle…' : state.data?.deployed ? 'Send operation' : 'Create the account and send'}
        </button>
      </form>
      <div id="operation-result" aria-live="polite" className="result">
        {error && <p role="alert" className="error-text">{error}</p>}
        {sent?.step === 'sent' && (
          <p id="operation-pending">
            {sent.slow ? 'Still waiting for a bundle after a minute' : 'Sent to the bundler'}: {sent.hash.slice(0, 18)}…
          </p>
        )}
        {sent?.step === 'included' && (
          <p id="operation-included" className={sent.success ? 'ok-text' : 'error-text'}>
            {sent.success ? 'Included' : 'Included but reverted'} in block {sent.block.toString()}
            {sent.paymaster ? `, gas paid by the paymaster ${sent.paymaster.slice(0, 10)}…` : ', gas paid by the account'}.{' '}
            {txLink && <a href={txLink}>View in the explorer</a>}
          </p>
        )}
      </div>
    </>
  );
}

export default function AccountPage() {
  return (
    <Page id="account-title" title="Smart account" intro="An ERC-4337 SimpleAccount owned by your wallet. Its first operation creates it; while it holds nothing, the paymaster pays for its gas." minHeight="26rem">
      {() => <Account />}
    </Page>
  );
}
