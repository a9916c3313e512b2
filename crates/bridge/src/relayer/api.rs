//! The relayer's status API: `GET /messages/{id}`, `GET /messages?sender=`, `/health`, `/metrics`.

use super::record::MessageRecord;
use super::{App, RelayerError, now_ms};
use alloy_primitives::{Address, B256};
use ande_http::json_error;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::watch;

/// The most messages `GET /messages?sender=` lists.
const LIST_LIMIT: usize = 100;

pub(super) async fn serve(app: Arc<App>, mut shutdown: watch::Receiver<bool>) -> Result<tokio::task::JoinHandle<()>, RelayerError> {
    let addr = SocketAddr::new(app.args.addr, app.args.port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| RelayerError::Listen { addr, source })?;
    let router = Router::new()
        .route("/messages", get(list))
        .route("/messages/{id}", get(one))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(app);
    tracing::info!(%addr, "relayer status API listening");
    Ok(tokio::spawn(async move {
        let _ = axum::serve(listener, router).with_graceful_shutdown(async move { while shutdown.changed().await.is_ok() && !*shutdown.borrow() {} }).await;
    }))
}

/// A record as the API shows it: without the relayer's working parts.
fn view(record: &MessageRecord) -> Value {
    let mut value = serde_json::to_value(record).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.remove("sendKey");
        object.insert("sender".into(), json!(Address::from_word(record.sender)));
        object.insert("recipient".into(), json!(Address::from_word(record.recipient)));
    }
    value
}

async fn one(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<B256>() else {
        return json_error(StatusCode::BAD_REQUEST, format!("{id} is not a message id (32 bytes, 0x-prefixed hex)"));
    };
    match app.store.get(id) {
        Ok(Some(record)) => axum::Json(view(&record)).into_response(),
        Ok(None) => json_error(StatusCode::NOT_FOUND, format!("message {id} is not known to this relayer (not dispatched, or not indexed yet)")),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn list(State(app): State<Arc<App>>, Query(query): Query<HashMap<String, String>>) -> Response {
    let Some(sender) = query.get("sender") else {
        return json_error(StatusCode::BAD_REQUEST, "ask for ?sender=<address>");
    };
    let Ok(sender) = sender.parse::<Address>() else {
        return json_error(StatusCode::BAD_REQUEST, format!("{sender} is not an address"));
    };
    match app.store.by_sender(sender, LIST_LIMIT) {
        Ok(records) => axum::Json(json!({ "messages": records.iter().map(view).collect::<Vec<_>>() })).into_response(),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let status = app.status.read().clone();
    let stale = status.last_success_ms.is_none_or(|t| now_ms().saturating_sub(t) > 60_000);
    let degraded = stale && status.last_error.is_some();
    let chains: serde_json::Map<String, Value> = status.chains.iter().map(|(domain, (head, cursor))| (domain.to_string(), json!({ "head": head, "indexed": cursor }))).collect();
    let body = json!({
        "status": if degraded { "degraded" } else { "ok" },
        "chains": chains,
        "pending": status.pending.values().sum::<usize>(),
        "waitingForSignatures": status.waiting_for_signatures,
        "oldestPendingSeconds": status.oldest_pending_ms.map(|ms| ms / 1000),
        "lastError": status.last_error,
    });
    let code = if degraded { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    (code, axum::Json(body)).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let status = app.status.read().clone();
    let mut out = String::new();
    out.push_str("# HELP ande_relayer_pending Messages not delivered yet, by route.\n# TYPE ande_relayer_pending gauge\n");
    for (i, chain) in app.chains.iter().enumerate() {
        let other = &app.chains[1 - i];
        let pending = status.pending.get(&(chain.domain, other.domain)).copied().unwrap_or(0);
        out.push_str(&format!("ande_relayer_pending{{origin=\"{}\",destination=\"{}\"}} {pending}\n", chain.domain, other.domain));
    }
    let gauge = |name: &str, kind: &str, help: &str, value: String| format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n");
    out.push_str(&gauge("ande_relayer_oldest_pending_seconds", "gauge", "Age of the oldest message not delivered.", status.oldest_pending_ms.map_or(0, |ms| ms / 1000).to_string()));
    out.push_str(&gauge("ande_relayer_waiting_for_signatures", "gauge", "Messages with fewer validator signatures than their ISM needs.", status.waiting_for_signatures.to_string()));
    out.push_str(&gauge("ande_relayer_delivered_total", "counter", "Messages this relayer delivered.", app.stats.delivered.load(Ordering::Relaxed).to_string()));
    out.push_str(&gauge("ande_relayer_failed_attempts_total", "counter", "Delivery attempts that failed (each retried).", app.stats.failed_attempts.load(Ordering::Relaxed).to_string()));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
