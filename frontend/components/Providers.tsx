'use client';
// Loads the run-time configuration, checks the RPC serves the configured chain before anything
// else, then provides wagmi (EIP-6963 discovery plus the injected provider) and TanStack Query.
// Until then the pages show their static frame (title, intro, placeholders), which is also what
// the exported HTML holds, so the first paint is the page and nothing moves when data arrives.
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { WagmiProvider, createConfig, http, injected } from 'wagmi';
import { chainOf, loadConfig, rpc, type AppConfig } from '@/lib/config';

const ConfigContext = createContext<AppConfig | null>(null);

/** The configuration once the chain is checked; null while it loads. */
export function useMaybeConfig(): AppConfig | null {
  return useContext(ConfigContext);
}

/** For components rendered only once the configuration is there. */
export function useAppConfig(): AppConfig {
  const config = useContext(ConfigContext);
  if (!config) throw new Error('useAppConfig before the configuration loaded');
  return config;
}

type Guard =
  | { state: 'loading' }
  | { state: 'ready'; config: AppConfig }
  | { state: 'mismatch'; config: AppConfig; actual: number }
  | { state: 'unreachable'; reason: string };

const RETRY_MS = 5000;
/** How often a page already running asks again, so an RPC moved to another chain blocks it too. */
const RECHECK_MS = 10_000;

export function Providers({ children }: { children: ReactNode }) {
  const [guard, setGuard] = useState<Guard>({ state: 'loading' });
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout>;
    let config: AppConfig | null = null;
    const check = async () => {
      try {
        config ??= await loadConfig().catch((e) => {
          throw new Error(`the page's configuration is unavailable (${e instanceof Error ? e.message : e})`);
        });
        const actual = Number(BigInt(await rpc<string>('eth_chainId').catch(() => {
          throw new Error('the network does not answer');
        })));
        if (stopped) return;
        if (actual !== config.chainId) {
          setGuard({ state: 'mismatch', config, actual });
          return;
        }
        const ready = config;
        // The same object while nothing changed, so the providers below are not rebuilt.
        setGuard((g) => (g.state === 'ready' ? g : { state: 'ready', config: ready }));
        timer = setTimeout(check, RECHECK_MS);
      } catch (e) {
        if (stopped) return;
        setGuard((g) => (g.state === 'ready' ? g : { state: 'unreachable', reason: e instanceof Error ? e.message : String(e) }));
        timer = setTimeout(check, RETRY_MS);
      }
    };
    check();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);

  if (guard.state === 'loading') return <>{children}</>;
  if (guard.state === 'unreachable') {
    return (
      <main className="main">
        <div role="alert" className="banner error" id="rpc-down">
          <strong>This page cannot start:</strong> {guard.reason}. Retrying every {RETRY_MS / 1000} s.
        </div>
      </main>
    );
  }
  if (guard.state === 'mismatch') {
    return (
      <main className="main">
        <div role="alert" className="banner error" id="chain-mismatch">
          <strong>Wrong network configuration.</strong> This page is set up for chain {guard.config.chainId} ({guard.config.chainName}),
          but its RPC serves chain {guard.actual}. Nothing can be sent from here until the operator fixes it.
        </div>
      </main>
    );
  }
  return <Ready config={guard.config}>{children}</Ready>;
}

function Ready({ config, children }: { config: AppConfig; children: ReactNode }) {
  const [queryClient] = useState(() => new QueryClient({ defaultOptions: { queries: { refetchOnWindowFocus: false } } }));
  const wagmi = useMemo(() => {
    const chain = chainOf(config);
    return createConfig({
      chains: [chain],
      connectors: [injected()],
      transports: { [chain.id]: http(new URL('/rpc', window.location.origin).href) },
      multiInjectedProviderDiscovery: true,
      ssr: false,
    });
  }, [config]);
  return (
    <ConfigContext.Provider value={config}>
      <WagmiProvider config={wagmi}>
        <QueryClientProvider client={queryClient}>{children}</QueryClientProvider>
      </WagmiProvider>
    </ConfigContext.Provider>
  );
}
