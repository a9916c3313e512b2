//! Etherscan-style `/api?module=...&action=...`, for the tools that call it: `{status, message,
//! result}`, status "1" with results, "0" with none; malformed requests get a 400 in the same
//! shape.

use crate::api::{parse_address, parse_hash};
use crate::queries;
use crate::App;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Deserialize)]
pub struct Params {
    module: Option<String>,
    action: Option<String>,
    address: Option<String>,
    txhash: Option<String>,
    timestamp: Option<String>,
    closest: Option<String>,
    sort: Option<String>,
    page: Option<i64>,
    offset: Option<i64>,
    startblock: Option<i64>,
    endblock: Option<i64>,
}

fn ok(result: Value) -> Response {
    Json(json!({ "status": "1", "message": "OK", "result": result })).into_response()
}

fn none(message: &str) -> Response {
    Json(json!({ "status": "0", "message": message, "result": [] })).into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "status": "0", "message": "NOTOK", "result": format!("Error! {}", message.into()) }))).into_response()
}

pub async fn handle(State(app): State<Arc<App>>, query: Result<Query<Params>, QueryRejection>) -> Response {
    let p = match query {
        Ok(Query(p)) => p,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, rejection.body_text()),
    };
    match dispatch(&app, &p).await {
        Ok(response) => response,
        Err(response) => response,
    }
}

/// Most rows one call returns, as Etherscan caps `offset`.
const MAX_OFFSET: i64 = 10_000;

async fn dispatch(app: &App, p: &Params) -> Result<Response, Response> {
    let bad = |m: String| error(StatusCode::BAD_REQUEST, m);
    let db_err = |e: sqlx::Error| {
        tracing::warn!(error = %e, "database read failed");
        error(StatusCode::SERVICE_UNAVAILABLE, "the index cannot be read right now")
    };
    let address = || -> Result<String, Response> {
        let text = p.address.as_deref().ok_or_else(|| bad("Missing address".into()))?;
        parse_address(text).map_err(|_| bad(format!("Invalid address format: {text}")))
    };
    match (p.module.as_deref(), p.action.as_deref()) {
        (Some("account"), Some("balance")) => {
            let (balance, _) = crate::api::balance_and_code(app, &address()?).await.map_err(|_| error(StatusCode::SERVICE_UNAVAILABLE, "the node cannot be reached right now"))?;
            Ok(ok(balance.to_string().into()))
        }
        (Some("account"), Some(action @ ("txlist" | "tokentx"))) => {
            let address = address()?;
            let offset = p.offset.unwrap_or(MAX_OFFSET).clamp(1, MAX_OFFSET);
            let page = p.page.unwrap_or(1).max(1);
            if page.saturating_mul(offset) > MAX_OFFSET {
                return Err(bad(format!("Result window is too large, PageNo x Offset size must be less than or equal to {MAX_OFFSET}")));
            }
            let ascending = match p.sort.as_deref().unwrap_or("asc") {
                "asc" => true,
                "desc" => false,
                other => return Err(bad(format!("sort must be asc or desc, not {other}"))),
            };
            let window = queries::Window { start: p.startblock.unwrap_or(0), end: p.endblock.unwrap_or(i64::MAX), ascending, limit: page * offset };
            let rows = if action == "txlist" {
                queries::address_transactions_within(&app.db, &address, &window).await.map_err(db_err)?
            } else {
                queries::address_transfers_within(&app.db, &address, &window).await.map_err(db_err)?
            };
            let rows: Vec<Value> = rows.into_iter().skip(((page - 1) * offset) as usize).collect();
            if rows.is_empty() {
                return Ok(none(if action == "txlist" { "No transactions found" } else { "No token transfers found" }));
            }
            let head = app.progress.head.load(std::sync::atomic::Ordering::Relaxed) as i64;
            Ok(ok(rows.iter().map(|r| if action == "txlist" { tx_row(r, head) } else { transfer_row(r, head) }).collect()))
        }
        (Some("transaction"), Some("gettxreceiptstatus")) => {
            let text = p.txhash.as_deref().ok_or_else(|| bad("Missing txhash".into()))?;
            let hash = parse_hash(text).map_err(|_| bad(format!("Invalid txhash format: {text}")))?;
            let tx = queries::transaction(&app.db, &hash).await.map_err(db_err)?;
            let status = tx.map_or("", |tx| if tx["status"] == "ok" { "1" } else { "0" });
            Ok(ok(json!({ "status": status })))
        }
        (Some("block"), Some("getblocknobytime")) => {
            let text = p.timestamp.as_deref().ok_or_else(|| bad("Missing timestamp".into()))?;
            let timestamp: i64 = text.parse().map_err(|_| bad(format!("Invalid timestamp: {text}")))?;
            let after = match p.closest.as_deref().unwrap_or("before") {
                "before" => false,
                "after" => true,
                other => return Err(bad(format!("closest must be before or after, not {other}"))),
            };
            match queries::block_by_time(&app.db, timestamp, after).await.map_err(db_err)? {
                Some(number) => Ok(ok(number.to_string().into())),
                None => Err(error(StatusCode::NOT_FOUND, "No closest block found")),
            }
        }
        (Some(module), Some(action)) => Err(bad(format!("unsupported module/action {module}/{action}"))),
        _ => Err(bad("module and action are required".into())),
    }
}

fn hash_of(v: &Value) -> Value {
    v.get("hash").cloned().unwrap_or_else(|| "".into())
}

/// Unix seconds back from the ISO timestamp the shared queries give.
fn unix(r: &Value) -> String {
    r["timestamp_unix"].as_i64().map_or_else(String::new, |t| t.to_string())
}

fn tx_row(r: &Value, head: i64) -> Value {
    let block = r["block_number"].as_i64().unwrap_or_default();
    let ok = r["status"] == "ok";
    json!({
        "blockNumber": block.to_string(),
        "timeStamp": unix(r),
        "hash": r["hash"],
        "nonce": r["nonce"].to_string(),
        "transactionIndex": r["position"].to_string(),
        "from": hash_of(&r["from"]),
        "to": hash_of(&r["to"]),
        "value": r["value"],
        "gas": r["gas_limit"],
        "gasPrice": r["gas_price"],
        "isError": if ok { "0" } else { "1" },
        "txreceipt_status": if ok { "1" } else { "0" },
        "input": r["raw_input"],
        "contractAddress": hash_of(&r["created_contract"]),
        "gasUsed": r["gas_used"],
        "confirmations": (head - block + 1).max(0).to_string(),
    })
}

fn transfer_row(r: &Value, head: i64) -> Value {
    let block = r["block_number"].as_i64().unwrap_or_default();
    let token = &r["token"];
    json!({
        "blockNumber": block.to_string(),
        "timeStamp": unix(r),
        "hash": r["transaction_hash"],
        "logIndex": r["log_index"].to_string(),
        "from": hash_of(&r["from"]),
        "to": hash_of(&r["to"]),
        "contractAddress": token["address"],
        "value": r["total"]["value"],
        "tokenID": r["total"]["token_id"],
        "tokenName": token["name"],
        "tokenSymbol": token["symbol"],
        "tokenDecimal": token["decimals"],
        "confirmations": (head - block + 1).max(0).to_string(),
    })
}
