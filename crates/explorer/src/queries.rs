//! The reads the API and the pages share, as JSON in Blockscout's shapes: one query per view,
//! keyset-paginated (a page continues below the last row of the one before).

use crate::db::{Bind, Db, DbResult};
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

pub const PAGE: i64 = 50;

/// Unix seconds as ISO 8601 UTC, as Blockscout writes timestamps.
pub fn iso8601(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000000Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn s(row: &AnyRow, col: &str) -> Value {
    row.try_get::<Option<String>, _>(col).ok().flatten().map_or(Value::Null, Value::String)
}

fn i(row: &AnyRow, col: &str) -> i64 {
    row.try_get::<i64, _>(col).unwrap_or_default()
}

fn addr(row: &AnyRow, col: &str) -> Value {
    match s(row, col) {
        Value::String(hash) => json!({ "hash": hash }),
        _ => Value::Null,
    }
}

const BLOCK_COLUMNS: &str = "number, hash, parent_hash, timestamp, miner, gas_used, gas_limit, base_fee, tx_count";

fn block_json(row: &AnyRow) -> Value {
    json!({
        "height": i(row, "number"),
        "hash": s(row, "hash"),
        "parent_hash": s(row, "parent_hash"),
        "timestamp": iso8601(i(row, "timestamp")),
        "miner": addr(row, "miner"),
        "gas_used": i(row, "gas_used").to_string(),
        "gas_limit": i(row, "gas_limit").to_string(),
        "base_fee_per_gas": s(row, "base_fee"),
        "tx_count": i(row, "tx_count"),
        "transaction_count": i(row, "tx_count"),
    })
}

const TX_COLUMNS: &str = "t.hash, t.block_number, t.idx, t.from_addr, t.to_addr, t.value, t.nonce, t.tx_type, t.gas_limit, t.gas_used, \
    t.gas_price, t.status, t.contract_address, t.input, b.timestamp";

fn tx_json(row: &AnyRow) -> Value {
    let gas_used = i(row, "gas_used");
    let price: alloy_primitives::U256 = s(row, "gas_price").as_str().and_then(|p| p.parse().ok()).unwrap_or_default();
    let fee = price * alloy_primitives::U256::from(gas_used.max(0) as u64);
    let ok = i(row, "status") == 1;
    json!({
        "hash": s(row, "hash"),
        "block_number": i(row, "block_number"),
        "block": i(row, "block_number"),
        "position": i(row, "idx"),
        "timestamp": iso8601(i(row, "timestamp")),
        "timestamp_unix": i(row, "timestamp"),
        "from": addr(row, "from_addr"),
        "to": addr(row, "to_addr"),
        "created_contract": addr(row, "contract_address"),
        "value": s(row, "value"),
        "nonce": i(row, "nonce"),
        "type": i(row, "tx_type"),
        "gas_limit": i(row, "gas_limit").to_string(),
        "gas_used": gas_used.to_string(),
        "gas_price": s(row, "gas_price"),
        "fee": { "type": "actual", "value": fee.to_string() },
        "status": if ok { "ok" } else { "error" },
        "result": if ok { "success" } else { "reverted" },
        "raw_input": s(row, "input"),
    })
}

const TRANSFER_COLUMNS: &str = "x.block_number, x.log_index, x.batch_idx, x.tx_hash, x.token, x.from_addr, x.to_addr, x.amount, x.token_id, \
    k.kind, k.name, k.symbol, k.decimals, b.timestamp";

fn transfer_json(row: &AnyRow) -> Value {
    let decimals = row.try_get::<Option<i64>, _>("decimals").ok().flatten();
    json!({
        "transaction_hash": s(row, "tx_hash"),
        "block_number": i(row, "block_number"),
        "log_index": i(row, "log_index"),
        "batch_index": i(row, "batch_idx"),
        "timestamp": iso8601(i(row, "timestamp")),
        "timestamp_unix": i(row, "timestamp"),
        "from": addr(row, "from_addr"),
        "to": addr(row, "to_addr"),
        "token": { "address": s(row, "token"), "type": s(row, "kind"), "name": s(row, "name"), "symbol": s(row, "symbol"),
                   "decimals": decimals.map(|d| d.to_string()) },
        "total": { "value": s(row, "amount"), "token_id": s(row, "token_id"), "decimals": decimals.map(|d| d.to_string()) },
    })
}

fn token_json(row: &AnyRow) -> Value {
    json!({
        "address": s(row, "address"),
        "type": s(row, "kind"),
        "name": s(row, "name"),
        "symbol": s(row, "symbol"),
        "decimals": row.try_get::<Option<i64>, _>("decimals").ok().flatten().map(|d| d.to_string()),
    })
}

/// Blocks, newest first, below `before` when given.
pub async fn blocks(db: &Db, before: Option<i64>, limit: i64) -> DbResult<Vec<Value>> {
    let rows = db
        .fetch_all(&format!("SELECT {BLOCK_COLUMNS} FROM blocks WHERE number < $1 ORDER BY number DESC LIMIT $2"), &[Bind::Int(before.unwrap_or(i64::MAX)), Bind::Int(limit)])
        .await?;
    Ok(rows.iter().map(block_json).collect())
}

/// A block by number or hash.
pub async fn block(db: &Db, id: &str) -> DbResult<Option<Value>> {
    let (sql, bind) = match id.parse::<i64>() {
        Ok(n) => (format!("SELECT {BLOCK_COLUMNS} FROM blocks WHERE number = $1"), Bind::Int(n)),
        Err(_) => (format!("SELECT {BLOCK_COLUMNS} FROM blocks WHERE hash = $1"), Bind::Text(id.to_lowercase())),
    };
    Ok(db.fetch_all(&sql, &[bind]).await?.first().map(block_json))
}

/// The newest transactions below position (`block`, `index`), over all or one block.
pub async fn transactions(db: &Db, before: Option<(i64, i64)>, block: Option<i64>, limit: i64) -> DbResult<Vec<Value>> {
    let (b, idx) = before.unwrap_or((i64::MAX, i64::MAX));
    let rows = match block {
        Some(number) => {
            db.fetch_all(&format!("SELECT {TX_COLUMNS} FROM transactions t JOIN blocks b ON b.number = t.block_number \
                WHERE t.block_number = $1 AND t.idx < $2 ORDER BY t.idx DESC LIMIT $3"), &[Bind::Int(number), Bind::Int(idx), Bind::Int(limit)]).await?
        }
        None => {
            db.fetch_all(&format!("SELECT {TX_COLUMNS} FROM transactions t JOIN blocks b ON b.number = t.block_number \
                WHERE t.block_number < $1 OR (t.block_number = $1 AND t.idx < $2) ORDER BY t.block_number DESC, t.idx DESC LIMIT $3"),
                &[Bind::Int(b), Bind::Int(idx), Bind::Int(limit)]).await?
        }
    };
    Ok(rows.iter().map(tx_json).collect())
}

/// `SELECT {columns} {from} WHERE {each filter} AND {condition} ORDER BY {order} LIMIT $4`,
/// one branch per filter, each cut to the limit on its own index before they are merged: an
/// address with a long history costs a page, not its history.
fn merged(columns: &str, from: &str, filters: &[&str], condition: &str, order: &str) -> String {
    let branches: Vec<String> = filters
        .iter()
        .enumerate()
        .map(|(n, filter)| format!("SELECT * FROM (SELECT {columns} {from} WHERE {filter} AND {condition} ORDER BY {order} LIMIT $4) AS branch{n}"))
        .collect();
    let bare_order = order.replace("t.", "").replace("x.", "");
    format!("{} ORDER BY {bare_order} LIMIT $4", branches.join(" UNION "))
}

const TX_FROM: &str = "FROM transactions t JOIN blocks b ON b.number = t.block_number";
/// Sent, received, or the creation of the address.
const TX_OF_ADDRESS: [&str; 3] = ["t.from_addr = $1", "t.to_addr = $1", "t.contract_address = $1"];

/// An address's transactions, newest first, below position `before`.
pub async fn address_transactions(db: &Db, address: &str, before: Option<(i64, i64)>, limit: i64) -> DbResult<Vec<Value>> {
    let (b, idx) = before.unwrap_or((i64::MAX, i64::MAX));
    let keyset = "(t.block_number < $2 OR (t.block_number = $2 AND t.idx < $3))";
    let sql = merged(TX_COLUMNS, TX_FROM, &TX_OF_ADDRESS, keyset, "t.block_number DESC, t.idx DESC");
    let rows = db.fetch_all(&sql, &[Bind::Text(address.to_string()), Bind::Int(b), Bind::Int(idx), Bind::Int(limit)]).await?;
    Ok(rows.iter().map(tx_json).collect())
}

/// Oldest or newest first, within blocks `start..=end`: the first `limit` (Etherscan's paging).
pub struct Window {
    pub start: i64,
    pub end: i64,
    pub ascending: bool,
    pub limit: i64,
}

impl Window {
    fn order(&self, columns: &str) -> String {
        let dir = if self.ascending { "ASC" } else { "DESC" };
        columns.split(", ").map(|c| format!("{c} {dir}")).collect::<Vec<_>>().join(", ")
    }

    fn binds(&self, key: &str) -> [Bind; 4] {
        [Bind::Text(key.to_string()), Bind::Int(self.start), Bind::Int(self.end), Bind::Int(self.limit)]
    }
}

pub async fn address_transactions_within(db: &Db, address: &str, window: &Window) -> DbResult<Vec<Value>> {
    let sql = merged(TX_COLUMNS, TX_FROM, &TX_OF_ADDRESS, "t.block_number >= $2 AND t.block_number <= $3", &window.order("t.block_number, t.idx"));
    Ok(db.fetch_all(&sql, &window.binds(address)).await?.iter().map(tx_json).collect())
}

pub async fn address_transfers_within(db: &Db, address: &str, window: &Window) -> DbResult<Vec<Value>> {
    let sql = merged(TRANSFER_COLUMNS, TRANSFER_FROM, &TRANSFER_OF_ADDRESS, "x.block_number >= $2 AND x.block_number <= $3", &window.order("x.block_number, x.log_index, x.batch_idx"));
    Ok(db.fetch_all(&sql, &window.binds(address)).await?.iter().map(transfer_json).collect())
}

pub async fn transaction(db: &Db, hash: &str) -> DbResult<Option<Value>> {
    let rows = db.fetch_all(&format!("SELECT {TX_COLUMNS} FROM transactions t JOIN blocks b ON b.number = t.block_number WHERE t.hash = $1"), &[Bind::Text(hash.to_lowercase())]).await?;
    Ok(rows.first().map(tx_json))
}

/// A transaction's logs, with ERC-20/721 `Transfer` decoded.
pub async fn logs(db: &Db, tx_hash: &str) -> DbResult<Vec<Value>> {
    let rows = db
        .fetch_all("SELECT log_index, address, topic0, topic1, topic2, topic3, data FROM logs WHERE tx_hash = $1 ORDER BY log_index", &[Bind::Text(tx_hash.to_lowercase())])
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let topics: Vec<Value> = ["topic0", "topic1", "topic2", "topic3"].iter().map(|t| s(row, t)).filter(|v| !v.is_null()).collect();
            let decoded = (topics.first().and_then(Value::as_str) == Some(crate::tokens::TRANSFER_TOPIC)).then(|| {
                json!({ "method_call": "Transfer(address indexed from, address indexed to, uint256 value)", "method_id": "ddf252ad" })
            });
            json!({ "index": i(row, "log_index"), "address": addr(row, "address"), "topics": topics, "data": s(row, "data"), "decoded": decoded })
        })
        .collect())
}

pub async fn internal_transactions(db: &Db, tx_hash: &str) -> DbResult<Vec<Value>> {
    let rows = db
        .fetch_all("SELECT idx, block_number, call_type, from_addr, to_addr, value, gas_used, error FROM internal_transactions WHERE tx_hash = $1 ORDER BY idx", &[Bind::Text(tx_hash.to_lowercase())])
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let kind = s(row, "call_type");
            let created = matches!(kind.as_str(), Some("CREATE" | "CREATE2"));
            json!({
                "index": i(row, "idx"),
                "transaction_hash": tx_hash.to_lowercase(),
                "block_number": i(row, "block_number"),
                "type": kind.as_str().map(str::to_lowercase),
                "from": addr(row, "from_addr"),
                "to": if created { Value::Null } else { addr(row, "to_addr") },
                "created_contract": if created { addr(row, "to_addr") } else { Value::Null },
                "value": s(row, "value"),
                "gas_used": i(row, "gas_used").to_string(),
                "success": row.try_get::<Option<String>, _>("error").ok().flatten().is_none(),
                "error": s(row, "error"),
            })
        })
        .collect())
}

/// Which token transfers: of a transaction, an address (either side) or a token.
pub enum TransfersOf<'a> {
    Tx(&'a str),
    Address(&'a str),
    Token(&'a str),
}

const TRANSFER_FROM: &str = "FROM token_transfers x JOIN tokens k ON k.address = x.token JOIN blocks b ON b.number = x.block_number";
const TRANSFER_OF_ADDRESS: [&str; 2] = ["x.from_addr = $1", "x.to_addr = $1"];

/// Newest first, below position `before` = (block, log index, batch index): the items of one
/// ERC-1155 batch share a log and are ordered by their batch index.
pub async fn token_transfers(db: &Db, of: TransfersOf<'_>, before: Option<(i64, i64, i64)>, limit: i64) -> DbResult<Vec<Value>> {
    let (b, li, bi) = before.unwrap_or((i64::MAX, i64::MAX, -1));
    let keyset = "(x.block_number < $2 OR (x.block_number = $2 AND (x.log_index < $3 OR (x.log_index = $3 AND x.batch_idx > $5))))";
    let order = "x.block_number DESC, x.log_index DESC, x.batch_idx";
    let (filters, key): (&[&str], &str) = match &of {
        TransfersOf::Tx(k) => (&["x.tx_hash = $1"], k),
        TransfersOf::Token(k) => (&["x.token = $1"], k),
        TransfersOf::Address(k) => (&TRANSFER_OF_ADDRESS, k),
    };
    let sql = merged(TRANSFER_COLUMNS, TRANSFER_FROM, filters, keyset, order);
    let rows = db.fetch_all(&sql, &[Bind::Text(key.to_lowercase()), Bind::Int(b), Bind::Int(li), Bind::Int(limit), Bind::Int(bi)]).await?;
    Ok(rows.iter().map(transfer_json).collect())
}

pub async fn tokens(db: &Db, before: Option<&str>, limit: i64) -> DbResult<Vec<Value>> {
    let rows = db
        .fetch_all("SELECT address, kind, name, symbol, decimals FROM tokens WHERE address > $1 ORDER BY address LIMIT $2", &[Bind::Text(before.unwrap_or("").to_string()), Bind::Int(limit)])
        .await?;
    Ok(rows.iter().map(token_json).collect())
}

pub async fn token(db: &Db, address: &str) -> DbResult<Option<Value>> {
    let rows = db.fetch_all("SELECT address, kind, name, symbol, decimals FROM tokens WHERE address = $1", &[Bind::Text(address.to_lowercase())]).await?;
    Ok(rows.first().map(token_json))
}

/// How many transactions an address sent or received.
pub async fn transaction_count(db: &Db, address: &str) -> DbResult<i64> {
    // Three index counts; a transfer to oneself counts once.
    let rows = db
        .fetch_all(
            "SELECT (SELECT COUNT(*) FROM transactions WHERE from_addr = $1) + (SELECT COUNT(*) FROM transactions WHERE to_addr = $1 AND from_addr <> $1) \
             + (SELECT COUNT(*) FROM transactions WHERE contract_address = $1) AS n",
            &[Bind::Text(address.to_string())],
        )
        .await?;
    Ok(rows.first().map_or(0, |r| i(r, "n")))
}

/// The last block at or before (`closest = before`) or at or after a timestamp.
pub async fn block_by_time(db: &Db, timestamp: i64, after: bool) -> DbResult<Option<i64>> {
    let sql = if after {
        "SELECT number FROM blocks WHERE timestamp >= $1 ORDER BY timestamp, number LIMIT 1"
    } else {
        "SELECT number FROM blocks WHERE timestamp <= $1 ORDER BY timestamp DESC, number DESC LIMIT 1"
    };
    Ok(db.fetch_all(sql, &[Bind::Int(timestamp)]).await?.first().map(|r| i(r, "number")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso8601_dates() {
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(super::iso8601(1_709_251_199), "2024-02-29T23:59:59.000000Z");
        assert_eq!(super::iso8601(1_798_761_600), "2027-01-01T00:00:00.000000Z");
    }
}
