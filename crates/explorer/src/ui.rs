//! The web pages, rendered on the server and usable without JavaScript: home (latest blocks and
//! transactions, refreshed by the browser every few seconds), block, transaction, address,
//! token, and search. They read through the same queries as the API.

use crate::App;
use crate::api::{ApiError, SearchParams, balance_and_code, block_id, parse_address, parse_hash, resolve};
use crate::queries::{self, TransfersOf};
use alloy_primitives::U256;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use std::fmt::Write;
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(home))
        .route("/block/{id}", get(block))
        .route("/tx/{hash}", get(transaction))
        .route("/address/{address}", get(address))
        .route("/token/{address}", get(token))
        .route("/search", get(search))
}

/// HTML-escapes text.
fn e(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn v(value: &Value) -> String {
    match value {
        Value::String(s) => e(s),
        Value::Null => String::new(),
        other => e(&other.to_string()),
    }
}

/// An amount with `decimals` places, trailing zeros cut.
fn units(raw: &Value, decimals: u32) -> String {
    let Some(amount) = raw.as_str().and_then(|s| s.parse::<U256>().ok()) else { return v(raw) };
    if decimals > 77 {
        // 10^78 does not fit 256 bits: show the raw amount.
        return amount.to_string();
    }
    let scale = U256::from(10u64).pow(U256::from(decimals));
    let (whole, frac) = (amount / scale, amount % scale);
    if frac.is_zero() {
        return whole.to_string();
    }
    let frac = format!("{:0>width$}", frac.to_string(), width = decimals as usize);
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

fn link_address(value: &Value) -> String {
    match value.get("hash").and_then(Value::as_str) {
        Some(hash) => format!(r#"<a href="/address/{0}" class="mono">{0}</a>"#, e(hash)),
        None => "—".into(),
    }
}

fn layout(app: &App, title: &str, body: &str, refresh: bool) -> Html<String> {
    let refresh = if refresh { r#"<meta http-equiv="refresh" content="4">"# } else { "" };
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">{refresh}
<title>{title} · AndeChain explorer</title><style>
body{{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1b1f24}}header{{background:#0f3d3e;color:#fff;padding:12px 24px;display:flex;gap:24px;align-items:center}}
header a{{color:#fff;text-decoration:none;font-weight:600}}main{{padding:16px 24px;max-width:1200px}}table{{border-collapse:collapse;width:100%;background:#fff;margin-bottom:20px}}
td,th{{border-bottom:1px solid #e3e6ea;padding:6px 8px;text-align:left;font-size:14px;vertical-align:top}}.mono{{font-family:ui-monospace,monospace;word-break:break-all}}
.ok{{color:#137333}}.err{{color:#b3261e}}form input{{width:420px;padding:6px}}h2{{font-size:18px}}</style></head>
<body><header><a href="/">AndeChain explorer</a><span>chain {chain}</span><form action="/search"><input name="q" placeholder="Block, transaction, address or token" aria-label="search"> <button>Search</button></form></header>
<main><h1>{title}</h1>{body}</main></body></html>"#,
        title = e(title),
        chain = app.chain_id,
    ))
}

fn not_found(app: &App, what: &str) -> Response {
    (StatusCode::NOT_FOUND, layout(app, &format!("{what} not found"), "<p>Not in the index (yet).</p>", false)).into_response()
}

/// Any other path: a JSON 404 under /api, a page elsewhere.
pub async fn no_route(State(app): State<Arc<App>>, uri: Uri) -> Response {
    if uri.path().starts_with("/api") {
        crate::api::not_found(&format!("endpoint {}", uri.path())).into_response()
    } else {
        (StatusCode::NOT_FOUND, layout(&app, "Page not found", "<p>No such page.</p>", false)).into_response()
    }
}

fn tx_rows(app: &App, txs: &[Value]) -> String {
    let mut out = String::from("<table><tr><th>Hash</th><th>Block</th><th>From</th><th>To</th><th>Value</th><th>Status</th></tr>");
    for tx in txs {
        let to = if tx["to"].is_null() { format!("created {}", link_address(&tx["created_contract"])) } else { link_address(&tx["to"]) };
        let _ = write!(
            out,
            r#"<tr><td><a class="mono" href="/tx/{h}">{h}</a></td><td><a href="/block/{b}">{b}</a></td><td>{from}</td><td>{to}</td><td>{value} {sym}</td><td class="{cls}">{status}</td></tr>"#,
            h = v(&tx["hash"]),
            b = v(&tx["block_number"]),
            from = link_address(&tx["from"]),
            value = units(&tx["value"], 18),
            sym = e(&app.currency),
            cls = if tx["status"] == "ok" { "ok" } else { "err" },
            status = if tx["status"] == "ok" { "Success" } else { "Failed" },
        );
    }
    out + "</table>"
}

fn transfer_rows(transfers: &[Value]) -> String {
    let mut out = String::from("<table><tr><th>Transaction</th><th>Token</th><th>From</th><th>To</th><th>Amount</th></tr>");
    for t in transfers {
        let token = &t["token"];
        let decimals = token["decimals"].as_str().and_then(|d| d.parse().ok()).unwrap_or(0);
        let amount = if t["total"]["value"].is_null() { format!("#{}", v(&t["total"]["token_id"])) } else { units(&t["total"]["value"], decimals) };
        let _ = write!(
            out,
            r#"<tr><td><a class="mono" href="/tx/{h}">{h}</a></td><td><a href="/token/{a}">{sym}</a> ({kind})</td><td>{from}</td><td>{to}</td><td>{amount}</td></tr>"#,
            h = v(&t["transaction_hash"]),
            a = v(&token["address"]),
            sym = if token["symbol"].is_null() { v(&token["address"]) } else { v(&token["symbol"]) },
            kind = v(&token["type"]),
            from = link_address(&t["from"]),
            to = link_address(&t["to"]),
        );
    }
    out + "</table>"
}

fn facts(rows: &[(&str, String)]) -> String {
    let mut out = String::from("<table>");
    for (k, value) in rows {
        let _ = write!(out, "<tr><th>{}</th><td>{value}</td></tr>", e(k));
    }
    out + "</table>"
}

type Page = Result<Response, ApiError>;

async fn home(State(app): State<Arc<App>>) -> Page {
    let blocks = queries::blocks(&app.db, None, 10).await?;
    let txs = queries::transactions(&app.db, None, None, 10).await?;
    let progress = &app.progress;
    let head = progress.head.load(std::sync::atomic::Ordering::Relaxed);
    let mut body = facts(&[
        ("Chain id", app.chain_id.to_string()),
        ("Head", head.to_string()),
        ("Indexed", progress.indexed_next.load(std::sync::atomic::Ordering::Relaxed).saturating_sub(1).to_string()),
        ("Block time", app.block_time_ms().await?.map_or("—".into(), |ms| format!("{:.1} s", ms as f64 / 1000.0))),
    ]);
    body.push_str("<h2>Latest blocks</h2><table><tr><th>Block</th><th>Hash</th><th>Time</th><th>Transactions</th><th>Gas used</th></tr>");
    for b in &blocks {
        let _ = write!(
            body,
            r#"<tr><td><a href="/block/{n}">{n}</a></td><td class="mono">{h}</td><td>{t}</td><td>{c}</td><td>{g}</td></tr>"#,
            n = v(&b["height"]),
            h = v(&b["hash"]),
            t = v(&b["timestamp"]),
            c = v(&b["tx_count"]),
            g = v(&b["gas_used"])
        );
    }
    body.push_str("</table><h2>Latest transactions</h2>");
    body.push_str(&tx_rows(&app, &txs));
    Ok(layout(&app, "AndeChain", &body, true).into_response())
}

async fn block(State(app): State<Arc<App>>, Path(id): Path<String>) -> Page {
    let Some(b) = queries::block(&app.db, &block_id(&id)?).await? else { return Ok(not_found(&app, "Block")) };
    let number = b["height"].as_i64().unwrap_or_default();
    let txs = queries::transactions(&app.db, None, Some(number), queries::PAGE).await?;
    let mut body = facts(&[
        ("Number", v(&b["height"])),
        ("Hash", format!(r#"<span class="mono">{}</span>"#, v(&b["hash"]))),
        ("Parent", format!(r#"<a class="mono" href="/block/{0}">{0}</a>"#, v(&b["parent_hash"]))),
        ("Time", v(&b["timestamp"])),
        ("Fee recipient", link_address(&b["miner"])),
        ("Gas used / limit", format!("{} / {}", v(&b["gas_used"]), v(&b["gas_limit"]))),
        ("Base fee", format!("{} wei", v(&b["base_fee_per_gas"]))),
        ("Transactions", v(&b["tx_count"])),
    ]);
    body.push_str(&tx_rows(&app, &txs));
    Ok(layout(&app, &format!("Block {number}"), &body, false).into_response())
}

async fn transaction(State(app): State<Arc<App>>, Path(hash): Path<String>) -> Page {
    let hash = parse_hash(&hash)?;
    let Some(tx) = queries::transaction(&app.db, &hash).await? else { return Ok(not_found(&app, "Transaction")) };
    let logs = queries::logs(&app.db, &hash).await?;
    let internal = queries::internal_transactions(&app.db, &hash).await?;
    let transfers = queries::token_transfers(&app.db, TransfersOf::Tx(&hash), None, queries::PAGE).await?;
    let ok = tx["status"] == "ok";
    let mut body = facts(&[
        ("Hash", format!(r#"<span class="mono">{}</span>"#, v(&tx["hash"]))),
        ("Status", format!(r#"<span class="{}">{}</span>"#, if ok { "ok" } else { "err" }, if ok { "Success" } else { "Failed" })),
        ("Block", format!(r#"<a href="/block/{0}">{0}</a>"#, v(&tx["block_number"]))),
        ("Time", v(&tx["timestamp"])),
        ("From", link_address(&tx["from"])),
        ("To", if tx["to"].is_null() { format!("Contract created: {}", link_address(&tx["created_contract"])) } else { link_address(&tx["to"]) }),
        ("Value", format!("{} {}", units(&tx["value"], 18), e(&app.currency))),
        ("Fee", format!("{} {}", units(&tx["fee"]["value"], 18), e(&app.currency))),
        ("Gas used / limit", format!("{} / {}", v(&tx["gas_used"]), v(&tx["gas_limit"]))),
        ("Nonce", v(&tx["nonce"])),
    ]);
    if !transfers.is_empty() {
        body.push_str("<h2>Token transfers</h2>");
        body.push_str(&transfer_rows(&transfers));
    }
    if !internal.is_empty() {
        body.push_str("<h2>Internal calls</h2><table><tr><th>Type</th><th>From</th><th>To</th><th>Value</th><th>Result</th></tr>");
        for call in &internal {
            let to = if call["to"].is_null() { link_address(&call["created_contract"]) } else { link_address(&call["to"]) };
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{to}</td><td>{} {}</td><td>{}</td></tr>",
                v(&call["type"]),
                link_address(&call["from"]),
                units(&call["value"], 18),
                e(&app.currency),
                if call["success"] == true { "ok".to_string() } else { v(&call["error"]) }
            );
        }
        body.push_str("</table>");
    }
    if !logs.is_empty() {
        body.push_str("<h2>Logs</h2><table><tr><th>#</th><th>Address</th><th>Topics</th><th>Data</th></tr>");
        for log in &logs {
            let topics: Vec<String> = log["topics"].as_array().into_iter().flatten().map(v).collect();
            let event = log["decoded"]["method_call"].as_str().map(|m| format!("<div>{}</div>", e(m))).unwrap_or_default();
            let _ = write!(body, r#"<tr><td>{}</td><td>{}</td><td class="mono">{event}{}</td><td class="mono">{}</td></tr>"#,
                v(&log["index"]), link_address(&log["address"]), topics.join("<br>"), v(&log["data"]));
        }
        body.push_str("</table>");
    }
    Ok(layout(&app, "Transaction", &body, false).into_response())
}

async fn address(State(app): State<Arc<App>>, Path(address): Path<String>) -> Page {
    let address = parse_address(&address)?;
    let (balance, code_size) = balance_and_code(&app, &address).await?;
    let txs = queries::address_transactions(&app.db, &address, None, queries::PAGE).await?;
    let transfers = queries::token_transfers(&app.db, TransfersOf::Address(&address), None, queries::PAGE).await?;
    let mut rows = vec![
        ("Address", format!(r#"<span class="mono">{}</span>"#, e(&address))),
        ("Balance", format!("{} {}", units(&Value::String(balance.to_string()), 18), e(&app.currency))),
        ("Transactions", queries::transaction_count(&app.db, &address).await?.to_string()),
    ];
    if code_size > 0 {
        rows.push(("Contract code", format!("{code_size} bytes")));
    }
    if queries::token(&app.db, &address).await?.is_some() {
        rows.push(("Token", format!(r#"<a href="/token/{0}">token page</a>"#, e(&address))));
    }
    let mut body = facts(&rows);
    body.push_str("<h2>Transactions</h2>");
    body.push_str(&tx_rows(&app, &txs));
    body.push_str("<h2>Token transfers</h2>");
    body.push_str(&transfer_rows(&transfers));
    Ok(layout(&app, if code_size > 0 { "Contract" } else { "Address" }, &body, false).into_response())
}

async fn token(State(app): State<Arc<App>>, Path(address): Path<String>) -> Page {
    let address = parse_address(&address)?;
    let Some(t) = queries::token(&app.db, &address).await? else { return Ok(not_found(&app, "Token")) };
    let transfers = queries::token_transfers(&app.db, TransfersOf::Token(&address), None, queries::PAGE).await?;
    let mut body = facts(&[
        ("Name", v(&t["name"])),
        ("Symbol", v(&t["symbol"])),
        ("Type", v(&t["type"])),
        ("Decimals", v(&t["decimals"])),
        ("Contract", link_address(&serde_json::json!({ "hash": address }))),
    ]);
    body.push_str("<h2>Transfers</h2>");
    body.push_str(&transfer_rows(&transfers));
    let title = t["symbol"].as_str().map_or("Token".to_string(), |s| format!("Token {s}"));
    Ok(layout(&app, &title, &body, false).into_response())
}

/// Goes to what the term names, or says nothing matched.
async fn search(State(app): State<Arc<App>>, Query(p): Query<SearchParams>) -> Page {
    let q = p.q.unwrap_or_default();
    let found = resolve(&app, &q).await?;
    let target = found.first().and_then(|hit| match hit["type"].as_str()? {
        "block" => Some(format!("/block/{}", hit["block_number"])),
        "transaction" => Some(format!("/tx/{}", hit["transaction_hash"].as_str()?)),
        "token" => Some(format!("/token/{}", hit["address"].as_str()?)),
        "address" => Some(format!("/address/{}", hit["address"].as_str()?)),
        _ => None,
    });
    Ok(match target {
        Some(url) => Redirect::to(&url).into_response(),
        None => (StatusCode::NOT_FOUND, layout(&app, "Nothing found", &format!("<p>Nothing in the index matches <b>{}</b>.</p>", e(&q)), false)).into_response(),
    })
}
