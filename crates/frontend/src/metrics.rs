//! `/metrics`: requests and server errors per route, and the chain id the RPC serves.

use axum::response::Response;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Copy)]
pub enum Route {
    Config,
    Rpc,
    Node,
    Da,
    Faucet,
    Bundler,
    Paymaster,
}

const ROUTES: [(Route, &str); 7] = [
    (Route::Config, "config"),
    (Route::Rpc, "rpc"),
    (Route::Node, "node"),
    (Route::Da, "da"),
    (Route::Faucet, "faucet"),
    (Route::Bundler, "bundler"),
    (Route::Paymaster, "paymaster"),
];

#[derive(Default)]
pub struct Metrics {
    requests: [AtomicU64; ROUTES.len()],
    /// Answers of 500 and above: the service behind failed or did not answer.
    errors: [AtomicU64; ROUTES.len()],
    /// 0 while the RPC does not answer.
    rpc_chain_id: AtomicU64,
}

impl Metrics {
    pub fn observe(&self, route: Route, response: Response) -> Response {
        self.requests[route as usize].fetch_add(1, Ordering::Relaxed);
        if response.status().is_server_error() {
            self.errors[route as usize].fetch_add(1, Ordering::Relaxed);
        }
        response
    }

    pub fn set_rpc_chain_id(&self, id: Option<u64>) {
        self.rpc_chain_id.store(id.unwrap_or(0), Ordering::Relaxed);
    }

    pub fn render(&self, chain_id: u64) -> String {
        let mut out = String::new();
        out.push_str("# HELP ande_frontend_requests_total Requests to the frontend's API routes.\n# TYPE ande_frontend_requests_total counter\n");
        for (route, name) in ROUTES {
            let _ = writeln!(out, "ande_frontend_requests_total{{route=\"{name}\"}} {}", self.requests[route as usize].load(Ordering::Relaxed));
        }
        out.push_str("# HELP ande_frontend_server_errors_total Answers of 500 and above, by route.\n# TYPE ande_frontend_server_errors_total counter\n");
        for (route, name) in ROUTES {
            let _ = writeln!(out, "ande_frontend_server_errors_total{{route=\"{name}\"}} {}", self.errors[route as usize].load(Ordering::Relaxed));
        }
        let rpc = self.rpc_chain_id.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP ande_frontend_chain_id The chain id the page is configured for.\n# TYPE ande_frontend_chain_id gauge\nande_frontend_chain_id {chain_id}");
        let _ = writeln!(out, "# HELP ande_frontend_rpc_chain_id The chain id its RPC serves (0: no answer).\n# TYPE ande_frontend_rpc_chain_id gauge\nande_frontend_rpc_chain_id {rpc}");
        out
    }
}
