'use client';
// A page's frame: its title and introduction are static (in the exported HTML), its content
// joins once the configuration is loaded, in a slot that keeps its height meanwhile.
import type { ReactNode } from 'react';
import type { AppConfig } from '@/lib/config';
import { useMaybeConfig } from './Providers';

export function Page({ id, title, intro, minHeight, children }: { id: string; title: string; intro: string; minHeight: string; children: (config: AppConfig) => ReactNode }) {
  const config = useMaybeConfig();
  return (
    <section className="card" aria-labelledby={id}>
      <h1 id={id}>{title}</h1>
      <p className="intro">{intro}</p>
      <div style={{ minHeight }} aria-busy={!config}>
        {config ? children(config) : <p className="muted">Loading the network…</p>}
      </div>
    </section>
  );
}
