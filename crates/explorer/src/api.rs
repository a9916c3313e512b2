//! Blockscout-style `/api/v2/...`: lists are `{items, next_page_params}` with keyset pages;
//! errors are JSON with a 4xx status.

use crate::queries::{self, PAGE, TransfersOf};
use crate::App;
use alloy_primitives::Address;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v2/blocks", get(blocks))
        .route("/api/v2/blocks/{id}", get(block))
        .route("/api/v2/blocks/{id}/transactions", get(block_transactions))
        .route("/api/v2/transactions", get(transactions))
        .route("/api/v2/transactions/{hash}", get(transaction))
        .route("/api/v2/transactions/{hash}/logs", get(transaction_logs))
        .route("/api/v2/transactions/{hash}/internal-transactions", get(transaction_internal))
        .route("/api/v2/transactions/{hash}/token-transfers", get(transaction_transfers))
        .route("/api/v2/addresses/{address}", get(address))
        .route("/api/v2/addresses/{address}/transactions", get(address_transactions))
        .route("/api/v2/addresses/{address}/token-transfers", get(address_transfers))
        .route("/api/v2/tokens", get(tokens))
        .route("/api/v2/tokens/{address}", get(token))
        .route("/api/v2/tokens/{address}/transfers", get(token_transfers))
        .route("/api/v2/search", get(search))
        .route("/api/v2/stats", get(stats))
}

/// An API error: a status and a JSON body naming what was wrong.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "message": self.1 }))).into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        tracing::warn!(error = %e, "database read failed");
        Self(StatusCode::SERVICE_UNAVAILABLE, "the index cannot be read right now".into())
    }
}

impl ApiError {
    pub fn unavailable(message: String) -> Self {
        Self(StatusCode::SERVICE_UNAVAILABLE, message)
    }
}

pub fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

pub fn not_found(what: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("{what} not found"))
}

type ApiResult = Result<Json<Value>, ApiError>;

/// Query-string parameters: a malformed one (`?block_number=abc`) is a JSON 400 like any other
/// bad input, not axum's plain-text rejection.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state).await.map(|Query(p)| Self(p)).map_err(|e| bad_request(e.body_text()))
    }
}

/// Keyset page parameters, as Blockscout names them.
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    block_number: Option<i64>,
    index: Option<i64>,
    batch_index: Option<i64>,
    contract_address_hash: Option<String>,
}

impl PageParams {
    fn position(&self) -> Option<(i64, i64)> {
        self.block_number.map(|b| (b, self.index.unwrap_or(i64::MAX)))
    }

    fn transfer_position(&self) -> Option<(i64, i64, i64)> {
        self.block_number.map(|b| (b, self.index.unwrap_or(i64::MAX), self.batch_index.unwrap_or(-1)))
    }
}

fn page(items: Vec<Value>, next: impl Fn(&Value) -> Value) -> Json<Value> {
    let next_page_params = if items.len() as i64 == PAGE { items.last().map(&next) } else { None };
    Json(json!({ "items": items, "next_page_params": next_page_params }))
}

fn tx_key(tx: &Value) -> Value {
    json!({ "block_number": tx["block_number"], "index": tx["position"], "items_count": PAGE })
}

fn transfer_key(t: &Value) -> Value {
    json!({ "block_number": t["block_number"], "index": t["log_index"], "batch_index": t["batch_index"], "items_count": PAGE })
}

/// A 0x address, lowercase, or a 400.
pub fn parse_address(text: &str) -> Result<String, ApiError> {
    text.parse::<Address>().map(|a| format!("{a:#x}")).map_err(|_| bad_request(format!("{text:?} is not an address")))
}

/// A 32-byte 0x hash, lowercase, or a 400.
pub fn parse_hash(text: &str) -> Result<String, ApiError> {
    text.parse::<alloy_primitives::B256>().map(|h| format!("{h:#x}")).map_err(|_| bad_request(format!("{text:?} is not a 32-byte hash")))
}

/// A block number, or a block hash (lowercase), or a 400.
pub fn block_id(text: &str) -> Result<String, ApiError> {
    if text.parse::<u64>().is_ok() { Ok(text.to_string()) } else { parse_hash(text) }
}

async fn blocks(State(app): State<Arc<App>>, Params(p): Params<PageParams>) -> ApiResult {
    let items = queries::blocks(&app.db, p.block_number, PAGE).await?;
    Ok(page(items, |b| json!({ "block_number": b["height"], "items_count": PAGE })))
}

async fn block(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    queries::block(&app.db, &block_id(&id)?).await?.map(Json).ok_or_else(|| not_found("block"))
}

async fn block_transactions(State(app): State<Arc<App>>, Path(id): Path<String>, Params(p): Params<PageParams>) -> ApiResult {
    let block = queries::block(&app.db, &block_id(&id)?).await?.ok_or_else(|| not_found("block"))?;
    let number = block["height"].as_i64().unwrap_or_default();
    let items = queries::transactions(&app.db, p.position(), Some(number), PAGE).await?;
    Ok(page(items, tx_key))
}

async fn transactions(State(app): State<Arc<App>>, Params(p): Params<PageParams>) -> ApiResult {
    Ok(page(queries::transactions(&app.db, p.position(), None, PAGE).await?, tx_key))
}

/// A transaction with its logs, internal calls and token transfers.
async fn transaction(State(app): State<Arc<App>>, Path(hash): Path<String>) -> ApiResult {
    let hash = parse_hash(&hash)?;
    let mut tx = queries::transaction(&app.db, &hash).await?.ok_or_else(|| not_found("transaction"))?;
    tx["logs"] = queries::logs(&app.db, &hash).await?.into();
    tx["internal_transactions"] = queries::internal_transactions(&app.db, &hash).await?.into();
    tx["token_transfers"] = queries::token_transfers(&app.db, TransfersOf::Tx(&hash), None, PAGE).await?.into();
    let head = app.progress.head.load(std::sync::atomic::Ordering::Relaxed) as i64;
    tx["confirmations"] = (head - tx["block_number"].as_i64().unwrap_or(head) + 1).max(0).into();
    Ok(Json(tx))
}

async fn transaction_logs(State(app): State<Arc<App>>, Path(hash): Path<String>) -> ApiResult {
    let items = queries::logs(&app.db, &parse_hash(&hash)?).await?;
    Ok(Json(json!({ "items": items, "next_page_params": null })))
}

async fn transaction_internal(State(app): State<Arc<App>>, Path(hash): Path<String>) -> ApiResult {
    let items = queries::internal_transactions(&app.db, &parse_hash(&hash)?).await?;
    Ok(Json(json!({ "items": items, "next_page_params": null })))
}

async fn transaction_transfers(State(app): State<Arc<App>>, Path(hash): Path<String>) -> ApiResult {
    let items = queries::token_transfers(&app.db, TransfersOf::Tx(&parse_hash(&hash)?), None, PAGE).await?;
    Ok(Json(json!({ "items": items, "next_page_params": null })))
}

/// An address's balance and code size, from the node (never stale).
pub async fn balance_and_code(app: &App, address: &str) -> Result<(alloy_primitives::U256, usize), ApiError> {
    let parsed: Address = address.parse().map_err(|_| bad_request(format!("{address:?} is not an address")))?;
    tokio::try_join!(app.node.balance(parsed), app.node.code_size(parsed)).map_err(|e| {
        tracing::warn!(error = %e, "reading an address from the node failed");
        ApiError::unavailable("the node cannot be reached right now".into())
    })
}

/// An address: balance and code size from the node, counts from the index.
async fn address(State(app): State<Arc<App>>, Path(address): Path<String>) -> ApiResult {
    let address = parse_address(&address)?;
    let (balance, code_size) = balance_and_code(&app, &address).await?;
    let token = queries::token(&app.db, &address).await?;
    Ok(Json(json!({
        "hash": address,
        "coin_balance": balance.to_string(),
        "is_contract": code_size > 0,
        "code_size": code_size,
        "transactions_count": queries::transaction_count(&app.db, &address).await?,
        "token": token,
    })))
}

async fn address_transactions(State(app): State<Arc<App>>, Path(address): Path<String>, Params(p): Params<PageParams>) -> ApiResult {
    let items = queries::address_transactions(&app.db, &parse_address(&address)?, p.position(), PAGE).await?;
    Ok(page(items, tx_key))
}

async fn address_transfers(State(app): State<Arc<App>>, Path(address): Path<String>, Params(p): Params<PageParams>) -> ApiResult {
    let address = parse_address(&address)?;
    let items = queries::token_transfers(&app.db, TransfersOf::Address(&address), p.transfer_position(), PAGE).await?;
    Ok(page(items, transfer_key))
}

async fn tokens(State(app): State<Arc<App>>, Params(p): Params<PageParams>) -> ApiResult {
    let items = queries::tokens(&app.db, p.contract_address_hash.as_deref(), PAGE).await?;
    Ok(page(items, |t| json!({ "contract_address_hash": t["address"], "items_count": PAGE })))
}

async fn token(State(app): State<Arc<App>>, Path(address): Path<String>) -> ApiResult {
    queries::token(&app.db, &parse_address(&address)?).await?.map(Json).ok_or_else(|| not_found("token"))
}

async fn token_transfers(State(app): State<Arc<App>>, Path(address): Path<String>, Params(p): Params<PageParams>) -> ApiResult {
    let address = parse_address(&address)?;
    let items = queries::token_transfers(&app.db, TransfersOf::Token(&address), p.transfer_position(), PAGE).await?;
    Ok(page(items, transfer_key))
}

#[derive(Deserialize)]
pub struct SearchParams {
    pub q: Option<String>,
}

/// What a search term names: a block (number or hash), a transaction, an address or token.
pub async fn resolve(app: &App, q: &str) -> Result<Vec<Value>, ApiError> {
    let q = q.trim();
    if let Ok(number) = q.parse::<u64>() {
        return Ok(queries::block(&app.db, &number.to_string()).await?.map(|b| json!({ "type": "block", "block_number": b["height"], "block_hash": b["hash"] })).into_iter().collect());
    }
    if let Ok(hash) = parse_hash(q) {
        if let Some(tx) = queries::transaction(&app.db, &hash).await? {
            return Ok(vec![json!({ "type": "transaction", "transaction_hash": tx["hash"] })]);
        }
        return Ok(queries::block(&app.db, &hash).await?.map(|b| json!({ "type": "block", "block_number": b["height"], "block_hash": b["hash"] })).into_iter().collect());
    }
    if let Ok(address) = parse_address(q) {
        return Ok(vec![match queries::token(&app.db, &address).await? {
            Some(token) => json!({ "type": "token", "address": address, "name": token["name"], "symbol": token["symbol"] }),
            None => json!({ "type": "address", "address": address }),
        }]);
    }
    Ok(Vec::new())
}

async fn search(State(app): State<Arc<App>>, Params(p): Params<SearchParams>) -> ApiResult {
    let q = p.q.ok_or_else(|| bad_request("q is required"))?;
    Ok(Json(json!({ "items": resolve(&app, &q).await?, "next_page_params": null })))
}

async fn stats(State(app): State<Arc<App>>) -> ApiResult {
    let progress = &app.progress;
    Ok(Json(json!({
        "chain_id": app.chain_id,
        "head": progress.head.load(std::sync::atomic::Ordering::Relaxed),
        "lag": progress.lag(),
        "block_time_ms": app.block_time_ms().await?,
    })))
}
