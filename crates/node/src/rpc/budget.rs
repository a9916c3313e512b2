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
    permits: Arc<Semaphore>,
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
        let lane = |limits: Limits| {
            let limits = Limits { running: limits.running.max(1), ..limits };
            Lane { permits: Arc::new(Semaphore::new(limits.running)), limits, admitted: AtomicUsize::new(0) }
        };
        // In the order of `Class`, which indexes them.
        Self { lanes: [lane(tracing), lane(logs), lane(calls)] }
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
struct Admitted {
    budget: Arc<Budget>,
    class: Class,
}

impl Admitted {
    fn enter(budget: &Arc<Budget>, class: Class) -> Option<Self> {
        let lane = budget.lane(class);
        let before = lane.admitted.fetch_add(1, Ordering::AcqRel);
        if before >= lane.limits.running + lane.limits.waiting {
            lane.admitted.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        crate::metrics::record_budget(class.name(), before + 1);
        Some(Admitted { budget: budget.clone(), class })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let left = self.budget.lane(self.class).admitted.fetch_sub(1, Ordering::AcqRel) - 1;
        crate::metrics::record_budget(self.class.name(), left);
    }
}

/// The request with everything it borrows copied, so it can outlive the connection.
fn owned(request: Request<'_>) -> Request<'static> {
    Request {
        jsonrpc: request.jsonrpc,
        id: request.id.into_owned(),
        method: std::borrow::Cow::Owned(request.method.into_owned()),
        params: request.params.map(|p| std::borrow::Cow::Owned(p.into_owned())),
        extensions: request.extensions,
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
            let Some(admitted) = Admitted::enter(&budget, class) else {
                crate::metrics::record_budget_refused(class.name());
                let message = format!("too many {} requests at once ({} running, {} waiting); try again shortly", class.name(), lane.limits.running, lane.limits.waiting);
                return MethodResponse::error(request.id, error::limit(message));
            };
            // The semaphore is never closed.
            let Ok(permit) = lane.permits.clone().acquire_owned().await else { return MethodResponse::error(request.id, error::internal("budget closed")) };
            let id = request.id.clone();
            let request = owned(request);
            // Its own task holds the permit until the work is done: a blocking method runs on
            // even when the caller hangs up, and must go on counting.
            let running = tokio::spawn(async move {
                let _held = (permit, admitted);
                service.call(request).await
            });
            running.await.unwrap_or_else(|_| MethodResponse::error(id, error::internal("the request's task failed")))
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
