// One sentence a user can act on, for any error a wallet, viem or a service gives.
import { BaseError, UserRejectedRequestError } from 'viem';

export function describe(error: unknown): string {
  if (error instanceof BaseError) {
    if (error.walk((e) => e instanceof UserRejectedRequestError)) return 'You rejected the request in your wallet.';
    const code = (error.walk((e) => typeof (e as { code?: unknown }).code === 'number') as { code?: number } | null)?.code;
    if (code === 4001) return 'You rejected the request in your wallet.';
    if (/fetch|HTTP request failed|network/i.test(error.shortMessage)) return 'The RPC does not answer. Try again in a moment.';
    return error.shortMessage;
  }
  if (typeof error === 'object' && error && (error as { code?: number }).code === 4001) return 'You rejected the request in your wallet.';
  if (error instanceof TypeError) return 'The service does not answer. Try again in a moment.';
  return error instanceof Error ? error.message : String(error);
}

/** A wait in hours and minutes, rounded up to the minute: "23h 59m", "24h", "5m". */
export function formatWait(seconds: number): string {
  const minutes = Math.max(Math.ceil(seconds / 60), 1);
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return h === 0 ? `${m}m` : m === 0 ? `${h}h` : `${h}h ${m}m`;
}
