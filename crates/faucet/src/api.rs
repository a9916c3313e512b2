//! faucet-api: `POST /api/claim`, `GET /api/claim/{id or tx hash}`, `GET /api/info`,
//! `GET /health`, `GET /metrics`. Bad input is a 400 with a JSON error; a cooldown a 429 with
//! `Retry-After`.

use crate::App;
use ande_http::json_error as error;
use crate::captcha::Verdict;
use crate::store::{Claim, ClaimStatus, Reservation, now_secs};
use alloy_primitives::Address;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

const MAX_BODY: usize = 4 * 1024;
/// How long a claim request waits for its transaction hash before answering without it.
const SIGN_WAIT: Duration = Duration::from_secs(3);

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/api/claim", post(claim))
        .route("/api/claim/{key}", get(claim_status))
        .route("/api/info", get(info))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not found") })
        .with_state(app)
}

/// The client's address: the connecting peer, or, behind `trusted` proxies, the entry that many
/// places from the right of X-Forwarded-For (entries further left are the client's to forge).
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: usize) -> String {
    if trusted == 0 {
        return peer.ip().to_string();
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    match forwarded.len().checked_sub(trusted) {
        Some(i) => forwarded[i].to_string(),
        None => peer.ip().to_string(),
    }
}

/// Parses a claim address: hex, with a valid EIP-55 checksum when mixed-case, not zero.
pub fn parse_address(text: &str) -> Result<Address, String> {
    let text = text.trim();
    let hex = text.strip_prefix("0x").ok_or("address must start with 0x")?;
    if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("address must be 0x followed by 40 hex digits".into());
    }
    let mixed = hex.bytes().any(|b| b.is_ascii_lowercase()) && hex.bytes().any(|b| b.is_ascii_uppercase());
    let address = if mixed {
        Address::parse_checksummed(text, None).map_err(|_| "address has an invalid EIP-55 checksum".to_string())?
    } else {
        text.parse::<Address>().map_err(|e| e.to_string())?
    };
    if address.is_zero() {
        return Err("the zero address cannot claim".into());
    }
    Ok(address)
}

async fn claim(State(app): State<Arc<App>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap, body: Body) -> Response {
    app.stats.record_claim();
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
    if !is_json {
        return error(StatusCode::BAD_REQUEST, "content type must be application/json");
    }
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return error(StatusCode::BAD_REQUEST, format!("request body larger than {MAX_BODY} bytes"));
    };
    #[derive(serde::Deserialize)]
    struct Request {
        address: String,
        /// The captcha widget's token, when the faucet requires one.
        captcha_token: Option<String>,
    }
    let request: Request = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("body must be {{\"address\": \"0x...\"}}: {e}")),
    };
    let address = match parse_address(&request.address) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let ip = client_ip(peer, &headers, app.args.trusted_proxies);
    // Before the reservation: an unsolved captcha must not spend the address's cooldown.
    if let Some(captcha) = &app.captcha {
        let Some(token) = request.captcha_token.as_deref().filter(|t| !t.is_empty()) else {
            return error(StatusCode::BAD_REQUEST, "this faucet requires a captcha: solve it and send its token as captcha_token");
        };
        match captcha.verify(token, &ip).await {
            Ok(Verdict::Passed) => {}
            Ok(Verdict::Refused(codes)) => {
                app.stats.record_captcha_refused();
                let body = json!({ "error": "the captcha was not solved; try again", "codes": codes });
                return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
            }
            Err(e) => {
                tracing::warn!(error = %e, "captcha verification failed");
                return error(StatusCode::SERVICE_UNAVAILABLE, "captcha verification is unavailable; try again shortly");
            }
        }
    }
    let mut claim = Claim {
        id: format!("{:032x}", crate::random_u128()),
        address,
        ip,
        amount: app.args.amount,
        created_at: now_secs(),
        status: ClaimStatus::Queued,
    };
    let mut signed = app.signed.subscribe();
    let refused = match app.store.reserve(&app.reservation(&claim), &claim).await {
        Ok(Reservation::Granted) => None,
        Ok(Reservation::AddressCooling { retry_after }) => Some(("this address claimed recently", retry_after)),
        Ok(Reservation::IpCooling { retry_after }) => Some(("a claim was made from this IP recently", retry_after)),
        Ok(Reservation::HourlyCapReached { retry_after }) => Some(("the faucet's hourly budget is spent", retry_after)),
        Err(e) => return unavailable(e),
    };
    if let Some((reason, retry_after)) = refused {
        // The address, not the IP: logs are kept and shipped more widely than the store.
        tracing::info!(%address, reason, retry_after, "claim refused");
        return too_many(reason, retry_after);
    }
    app.wake.notify_one();
    // Wait briefly for the payout worker to sign it, so the answer can carry the hash: this
    // process's worker says when; another replica's is seen by polling the store.
    let deadline = tokio::time::Instant::now() + SIGN_WAIT;
    loop {
        let woke = tokio::time::timeout_at(deadline.min(tokio::time::Instant::now() + Duration::from_millis(100)), signed.recv()).await;
        let mine = matches!(&woke, Ok(Ok(id)) if *id == claim.id);
        if (mine || woke.is_err() || matches!(woke, Ok(Err(_))))
            && let Ok(Some(latest)) = app.store.get(&claim.id).await {
                claim = latest;
            }
        if claim.tx_hash().is_some() || tokio::time::Instant::now() >= deadline {
            break;
        }
    }
    let body = json!({
        "claim_id": claim.id,
        "tx_hash": claim.tx_hash(),
        "amount": claim.amount.to_string(),
        "next_claim_at": claim.created_at + app.args.cooldown_secs,
        "status": status_name(&claim.status),
    });
    (StatusCode::ACCEPTED, axum::Json(body)).into_response()
}

fn too_many(message: &str, retry_after: u64) -> Response {
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(json!({ "error": message, "retry_after": retry_after }))).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "faucet store unavailable");
    error(StatusCode::SERVICE_UNAVAILABLE, "the faucet's store is unavailable; try again shortly")
}

fn status_name(status: &ClaimStatus) -> &'static str {
    match status {
        ClaimStatus::Queued => "queued",
        ClaimStatus::Pending { .. } => "pending",
        ClaimStatus::Confirmed { .. } => "confirmed",
        ClaimStatus::Failed { .. } => "failed",
    }
}

async fn claim_status(State(app): State<Arc<App>>, Path(key): Path<String>) -> Response {
    let valid = (key.len() == 66 && key.starts_with("0x") && key[2..].bytes().all(|b| b.is_ascii_hexdigit()))
        || (key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()));
    if !valid {
        return error(StatusCode::BAD_REQUEST, "expected a transaction hash (0x + 64 hex digits) or a claim id");
    }
    match app.store.get(&key).await {
        Ok(Some(claim)) => {
            let (block, error_text) = match &claim.status {
                ClaimStatus::Confirmed { block, .. } => (Some(*block), None),
                ClaimStatus::Failed { error } => (None, Some(error.clone())),
                _ => (None, None),
            };
            axum::Json(json!({
                "claim_id": claim.id,
                "address": claim.address,
                "amount": claim.amount.to_string(),
                "status": status_name(&claim.status),
                "tx_hash": claim.tx_hash(),
                "block": block,
                "error": error_text,
            }))
            .into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, "no such claim"),
        Err(e) => unavailable(e),
    }
}

async fn info(State(app): State<Arc<App>>) -> Response {
    let snapshot = app.snapshot.read().clone();
    axum::Json(json!({
        "chain_id": app.chain_id,
        "chain_id_hex": format!("{:#x}", app.chain_id),
        "currency": app.currency,
        "amount": app.args.amount.to_string(),
        "cooldown_seconds": app.args.cooldown_secs,
        "faucet_address": app.address,
        "faucet_balance": snapshot.balance.map(|b| b.to_string()),
        "explorer_url": app.args.explorer_url,
        "rpc_url": app.args.public_rpc_url,
        "captcha": app.captcha.as_ref().map(|c| json!({ "provider": c.provider, "site_key": c.site_key })),
    }))
    .into_response()
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let snapshot = app.snapshot.read().clone();
    let fresh = snapshot.checked_at.is_some_and(|t| t.elapsed() < Duration::from_secs(10));
    let funded = snapshot.balance.is_some_and(|b| b >= app.min_balance());
    let ready = fresh && snapshot.rpc_ok && funded;
    let reason = if !fresh || !snapshot.rpc_ok {
        Some("the node's RPC does not answer")
    } else if !funded {
        Some("the faucet balance does not cover a payout")
    } else {
        None
    };
    let body = json!({
        "status": if ready { "ok" } else { "unavailable" },
        "reason": reason,
        "chain_id": app.chain_id,
        "faucet_balance": snapshot.balance.map(|b| b.to_string()),
        "head": snapshot.head,
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let depth = app.store.queue_depth().await.unwrap_or(0);
    let balance = app.snapshot.read().balance;
    let text = app.stats.render(depth, balance);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(parse_address("0x70997970C51812dc3A010C7d01b50e0d17dc79C8").is_ok());
        assert!(parse_address("0x70997970c51812dc3a010c7d01b50e0d17dc79c8").is_ok());
        assert!(parse_address("0x70997970C51812dc3A010C7d01b50e0d17dc79c8").unwrap_err().contains("checksum"));
        assert!(parse_address("0x0000000000000000000000000000000000000000").unwrap_err().contains("zero"));
        assert!(parse_address("70997970c51812dc3a010c7d01b50e0d17dc79c8").is_err());
        assert!(parse_address("0x1234").is_err());
        assert!(parse_address("0xzz997970c51812dc3a010c7d01b50e0d17dc79c8").is_err());
    }

    #[test]
    fn forwarded_for_counts_trusted_proxies_from_the_right() {
        let peer: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6, 1.2.3.4"));
        assert_eq!(client_ip(peer, &headers, 0), "10.0.0.2");
        assert_eq!(client_ip(peer, &headers, 1), "1.2.3.4");
        assert_eq!(client_ip(peer, &headers, 2), "6.6.6.6");
        assert_eq!(client_ip(peer, &headers, 3), "10.0.0.2");
    }
}
