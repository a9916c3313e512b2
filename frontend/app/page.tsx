'use client';
// Network status: chain id, head and its age, block time, DA status, links to the explorer.
import { useQuery } from '@tanstack/react-query';
import { usePublicClient } from 'wagmi';
import { Page } from '@/components/Page';
import { useAppConfig } from '@/components/Providers';
import { explorerLink } from '@/lib/config';

type NodeHealth = { status: string; chain_id: number; head: number; head_age_ms: number; reason?: string };
type DaStatus = { role: 'sequencer' | 'full' | 'off'; lastIncludedBlock: number; lastIncludedDaHeight: number | null; pendingBlocks: number; failures: number };

const SAMPLE = 20n;

function Status() {
  const config = useAppConfig();
  const client = usePublicClient();
  const health = useQuery({
    queryKey: ['node-health'],
    queryFn: async (): Promise<NodeHealth> => {
      const response = await fetch('/api/node', { cache: 'no-store' });
      const body = await response.json().catch(() => null);
      if (!body || typeof body.head !== 'number') throw new Error(`the node answered HTTP ${response.status}`);
      return body;
    },
    refetchInterval: 2000,
  });
  const daStatus = useQuery({
    queryKey: ['da-status'],
    queryFn: async (): Promise<DaStatus | null> => {
      const response = await fetch('/api/da', { cache: 'no-store' });
      if (response.status === 404) return null;
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return response.json();
    },
    refetchInterval: 5000,
  });
  const head = health.data?.head;
  // The average over the last blocks changes slowly: asked again every 20 s, not every head.
  const blockTime = useQuery({
    queryKey: ['block-time'],
    enabled: head !== undefined && head > 1 && !!client,
    queryFn: async () => {
      const latest = await client!.getBlock();
      // The genesis' timestamp is not a block time: leave block 0 out.
      const from = latest.number > SAMPLE ? latest.number - SAMPLE : 1n;
      const earlier = await client!.getBlock({ blockNumber: from });
      const blocks = Number(latest.number - earlier.number);
      return blocks > 0 ? Number(latest.timestamp - earlier.timestamp) / blocks : null;
    },
    refetchInterval: 20_000,
  });

  const nodeState = !health.data ? '—' : health.data.status === 'ok' ? 'Healthy' : `${health.data.status}: ${health.data.reason ?? 'unknown'}`;
  const da = daLine(daStatus.data, daStatus.isError);
  const headLink = head !== undefined ? explorerLink(config, 'block', String(head)) : null;
  return (
    <>
      {health.isError && (
        <p role="alert" className="banner error" id="status-error">
          The node does not answer: {(health.error as Error).message}.
        </p>
      )}
      <dl className="facts">
        <dt>Chain id</dt>
        <dd id="chain-id">{config.chainId}</dd>
        <dt>Currency</dt>
        <dd>{config.currency.name} ({config.currency.symbol})</dd>
        <dt>Head block</dt>
        <dd id="head">{head === undefined ? '—' : headLink ? <a href={headLink}>{head}</a> : head}</dd>
        <dt>Head age</dt>
        <dd id="head-age">{health.data ? `${(health.data.head_age_ms / 1000).toFixed(1)} s` : '—'}</dd>
        <dt>Block time</dt>
        <dd id="block-time">{blockTime.data ? `${blockTime.data.toFixed(1)} s` : '—'}</dd>
        <dt>Node</dt>
        <dd id="node-state">{nodeState}</dd>
        <dt>Data availability</dt>
        <dd id="da-status">{da}</dd>
        <dt>RPC for wallets</dt>
        <dd><code>{config.rpcUrl}</code></dd>
      </dl>
      {config.explorerUrl && (
        <p>
          <a href={config.explorerUrl}>Open the explorer</a>
        </p>
      )}
    </>
  );
}

function daLine(status: DaStatus | null | undefined, failed: boolean): string {
  if (failed) return 'Unknown: the node gave no DA status';
  if (status === undefined) return '—';
  if (status === null) return 'Not shown here';
  if (status.role === 'off') return 'Off: this node posts to no DA layer';
  const where = status.lastIncludedDaHeight === null ? '' : ` at DA height ${status.lastIncludedDaHeight}`;
  if (status.role === 'full') return `Following DA: block ${status.lastIncludedBlock}${where}`;
  return `Block ${status.lastIncludedBlock} is in DA${where}; ${status.pendingBlocks} waiting`;
}

export default function StatusPage() {
  return (
    <Page id="status-title" title="Network status" intro="The chain's live state, read from its RPC: the head block and its age, how fast blocks come, and whether they reach data availability." minHeight="19rem">
      {() => <Status />}
    </Page>
  );
}
