//! A bounded budget for heavy RPC: tracing, log scans and EVM calls each get a number of
//! concurrent requests (permits) and a bounded queue, so a flood of one cannot take the cores
//! from block production or from the cheap reads. The methods themselves run on the blocking
//! pool (`blocking` in their declarations); this layer decides how many run at once. Past the
//! queue a request is refused at once with -32005, as a rate limit would.

use super::error;
use jsonrpsee::core::middleware::{Batch, BatchEntry, Notification, RpcServiceT};
use jsonrpsee::core::server::BatchResponseBuilder;
use jsonrpsee::types::Request;
use jsonrpsee::MethodResponse;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Semaphore;

/// The heavy method families, each with its own budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Tracing,
    Logs,
    Calls,
}

impl Class {
    pub fn of(method: &str) -> Option<Class> {
        match method {
            m if m.starts_with("debug_trace") => Some(Class::Tracing),
            "eth_getLogs" | "eth_getFilterLogs" | "eth_getFilterChanges" => Some(Class::Logs),
            "eth_call" | "eth_estimateGas" | "eth_createAccessList" | "eth_getProof" | "eth_feeHistory" => Some(Class::Calls),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Class::Tracing => "tracing",
            Class::Logs => "logs",
            Class::Calls => "calls",
        }
    }
}

/// Concurrent requests and queue length for one class.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub running: usize,
    pub waiting: usize,
}

struct Lane {
    class: Class,
    permits: Semaphore,
    limits: Limits,
    /// Requests holding or waiting for a permit.
    admitted: AtomicUsize,
}

pub struct Budget {
    lanes: [Lane; 3],
}

impl Budget {
    /// From the node's flags; a running limit of 0 takes a share of the cores.
    pub fn from_args(args: &crate::config::NodeArgs) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let limits = |set: usize, default: usize| Limits { running: if set == 0 { default.max(1) } else { set }, waiting: args.rpc_max_waiting_requests };
        Self::new(limits(args.rpc_max_tracing_requests, cores.saturating_sub(2).max(2)), limits(args.rpc_max_logs_requests, cores), limits(args.rpc_max_call_requests, cores * 2))
    }

    pub fn new(tracing: Limits, logs: Limits, calls: Limits) -> Self {
        let lane = |class, limits: Limits| {
            let limits = Limits { running: limits.running.max(1), ..limits };
            Lane { class, permits: Semaphore::new(limits.running), limits, admitted: AtomicUsize::new(0) }
        };
        Self { lanes: [lane(Class::Tracing, tracing), lane(Class::Logs, logs), lane(Class::Calls, calls)] }
    }

    fn lane(&self, class: Class) -> &Lane {
        &self.lanes[class as usize]
    }
}

/// The middleware: heavy calls wait for their class's permit; everything else passes.
#[derive(Clone)]
pub struct RpcBudget<S> {
    pub service: S,
    pub budget: Arc<Budget>,
    /// The response limit a batch is built within, as the server's own batches are.
    pub max_response_bytes: usize,
}

/// A request's place in its lane (running or waiting) until it finishes.
struct Admitted<'a>(&'a Lane);

impl<'a> Admitted<'a> {
    fn enter(lane: &'a Lane) -> Option<Self> {
        let before = lane.admitted.fetch_add(1, Ordering::AcqRel);
        if before >= lane.limits.running + lane.limits.waiting {
            lane.admitted.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        crate::metrics::record_budget(lane.class.name(), before + 1);
        Some(Admitted(lane))
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        let left = self.0.admitted.fetch_sub(1, Ordering::AcqRel) - 1;
        crate::metrics::record_budget(self.0.class.name(), left);
    }
}

impl<S> RpcServiceT for RpcBudget<S>
where
    S: RpcServiceT<MethodResponse = MethodResponse, BatchResponse = MethodResponse, NotificationResponse = MethodResponse> + Send + Sync + Clone + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let service = self.service.clone();
        let budget = self.budget.clone();
        async move {
            let Some(class) = Class::of(request.method_name()) else { return service.call(request).await };
            let lane = budget.lane(class);
            let Some(_admitted) = Admitted::enter(lane) else {
                crate::metrics::record_budget_refused(class.name());
                let message = format!("too many {} requests at once ({} running, {} waiting); try again shortly", class.name(), lane.limits.running, lane.limits.waiting);
                return MethodResponse::error(request.id, error::limit(message));
            };
            // The semaphore is never closed.
            let Ok(_permit) = lane.permits.acquire().await else { return MethodResponse::error(request.id, error::internal("budget closed")) };
            service.call(request).await
        }
    }

    /// Entry by entry through this layer, so a batch of heavy calls waits as single calls do.
    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        let this = self.clone();
        async move {
            let mut responses = BatchResponseBuilder::new_with_limit(this.max_response_bytes);
            let mut notified = false;
            for entry in batch.into_iter() {
                let response = match entry {
                    Ok(BatchEntry::Call(request)) => this.call(request).await,
                    Ok(BatchEntry::Notification(n)) => {
                        notified = true;
                        this.service.notification(n).await;
                        continue;
                    }
                    Err(e) => {
                        let (e, id) = e.into_parts();
                        MethodResponse::error(id, e)
                    }
                };
                if let Err(too_big) = responses.append(response) {
                    return too_big;
                }
            }
            if responses.is_empty() && notified { MethodResponse::notification() } else { MethodResponse::from_batch(responses.finish()) }
        }
    }

    fn notification<'a>(&self, n: Notification<'a>) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.service.notification(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_methods_have_their_class() {
        assert_eq!(Class::of("debug_traceCall"), Some(Class::Tracing));
        assert_eq!(Class::of("debug_traceBlockByNumber"), Some(Class::Tracing));
        assert_eq!(Class::of("eth_getLogs"), Some(Class::Logs));
        assert_eq!(Class::of("eth_getFilterChanges"), Some(Class::Logs));
        assert_eq!(Class::of("eth_call"), Some(Class::Calls));
        assert_eq!(Class::of("eth_getProof"), Some(Class::Calls));
        assert_eq!(Class::of("eth_blockNumber"), None);
        assert_eq!(Class::of("eth_sendRawTransaction"), None);
    }
}
