// One static export for every network: nothing network-specific is read at build time. The
// page fetches /config.json from `ande frontend` when it loads. `npm run dev` forwards those
// requests to a running `ande frontend` (ANDE_FRONTEND_URL, `make up`'s by default).
const dev = process.env.NODE_ENV === 'development';
const upstream = process.env.ANDE_FRONTEND_URL ?? 'http://127.0.0.1:3000';

/** @type {import('next').NextConfig} */
const config = {
  output: dev ? undefined : 'export',
  trailingSlash: true,
  reactStrictMode: true,
  poweredByHeader: false,
  images: { unoptimized: true },
  ...(dev && {
    async rewrites() {
      return ['/config.json', '/rpc', '/api/:path*', '/bundler', '/paymaster'].map((source) => ({ source, destination: `${upstream}${source}` }));
    },
  }),
};

export default config;
