'use client';
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import type { ReactNode } from 'react';
import { Wallet } from './Wallet';
import { useMaybeConfig } from './Providers';

const PAGES = [
  { href: '/', label: 'Network' },
  { href: '/send/', label: 'Send' },
  { href: '/faucet/', label: 'Faucet' },
  { href: '/account/', label: 'Smart account' },
];

export function Shell({ children }: { children: ReactNode }) {
  const config = useMaybeConfig();
  const path = usePathname();
  // Until the configuration is there, the pages every network has; the others join at the end.
  const offered: Record<string, boolean> = { '/faucet/': !!config?.services.faucet, '/account/': !!config?.services.bundler };
  const pages = PAGES.filter((p) => offered[p.href] ?? true);
  return (
    <>
      <header className="header">
        <nav aria-label="Main">
          <span className="brand">{config?.chainName ?? 'AndeChain'}</span>
          {pages.map((p) => (
            <Link key={p.href} href={p.href} aria-current={path === p.href || `${path}/` === p.href ? 'page' : undefined}>
              {p.label}
            </Link>
          ))}
        </nav>
        {config ? (
          <Wallet />
        ) : (
          <div className="wallet">
            <button type="button" className="primary" disabled>Connect a wallet</button>
          </div>
        )}
      </header>
      <main className="main">{children}</main>
    </>
  );
}
