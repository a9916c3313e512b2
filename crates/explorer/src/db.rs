//! The explorer's store: Postgres (`postgres://...`) or SQLite (`sqlite://...`) through sqlx's
//! `Any` driver, with one schema and one set of queries for both.

use crate::model::{Block, TokenTransfer};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub type DbResult<T> = Result<T, sqlx::Error>;

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
}

/// `scheme://user@host/...` with the password set, percent-encoded.
pub fn with_password(url: &str, password: &str) -> String {
    let encoded: String = password
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let Some((userinfo, host)) = authority.rsplit_once('@') else { return url.to_string() };
    let user = userinfo.split(':').next().unwrap_or_default();
    let path = path.map(|p| format!("/{p}")).unwrap_or_default();
    format!("{scheme}://{user}:{encoded}@{host}{path}")
}

/// One bound value of a multi-row insert.
enum Arg {
    Int(i64),
    Text(String),
    OptText(Option<String>),
    OptInt(Option<i64>),
}

fn int(v: u64) -> Arg {
    Arg::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

/// Rows per INSERT statement: Postgres takes at most 65,535 parameters in one.
const ROWS_PER_INSERT: usize = 500;

impl Db {
    pub async fn connect(url: &str) -> DbResult<Self> {
        sqlx::any::install_default_drivers();
        let url = match url.strip_prefix("sqlite://") {
            // The embedded default: create the file (and its folder) on first start.
            Some(path) if !path.contains('?') => {
                if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
                }
                format!("{url}?mode=rwc")
            }
            _ => url.to_string(),
        };
        let sqlite = url.starts_with("sqlite:");
        // SQLite takes one writer at a time; readers go alongside in WAL mode.
        let pool = AnyPoolOptions::new().max_connections(if sqlite { 4 } else { 16 }).connect(&url).await?;
        if sqlite {
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
            sqlx::query("PRAGMA synchronous = NORMAL").execute(&pool).await?;
            sqlx::query("PRAGMA busy_timeout = 5000").execute(&pool).await?;
        }
        let db = Self { pool };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> DbResult<()> {
        // Comments out first: they may hold a ';'.
        let schema: String = include_str!("schema.sql").lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
        for statement in schema.split(';').filter(|s| !s.trim().is_empty()) {
            sqlx::query(statement).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// The highest block indexed, if any.
    pub async fn last_indexed(&self) -> DbResult<Option<u64>> {
        let row = sqlx::query("SELECT MAX(number) AS n FROM blocks").fetch_one(&self.pool).await?;
        Ok(row.try_get::<Option<i64>, _>("n")?.map(|n| n as u64))
    }

    pub async fn block_hash(&self, number: u64) -> DbResult<Option<String>> {
        let row = sqlx::query("SELECT hash FROM blocks WHERE number = $1").bind(number as i64).fetch_optional(&self.pool).await?;
        row.map(|r| r.try_get("hash")).transpose()
    }

    /// Tokens already known, so metadata is read once per token.
    pub async fn has_token(&self, address: &str) -> DbResult<bool> {
        Ok(sqlx::query("SELECT 1 AS one FROM tokens WHERE address = $1").bind(address).fetch_optional(&self.pool).await?.is_some())
    }

    /// Writes blocks with their transactions, logs, internal calls, token transfers and new
    /// tokens in one transaction: after a crash a block is there whole or not at all.
    pub async fn write(&self, blocks: &[Block], transfers: &[TokenTransfer], tokens: &[(String, &'static str, Option<String>, Option<String>, Option<i64>, u64)]) -> DbResult<()> {
        let mut tx = self.pool.begin().await?;
        let rows = blocks.iter().map(|b| {
            vec![int(b.number), Arg::Text(b.hash.clone()), Arg::Text(b.parent_hash.clone()), int(b.timestamp), Arg::Text(b.miner.clone()),
                int(b.gas_used), int(b.gas_limit), Arg::OptText(b.base_fee.clone()), int(b.txs.len() as u64)]
        });
        insert(&mut tx, "blocks", &["number", "hash", "parent_hash", "timestamp", "miner", "gas_used", "gas_limit", "base_fee", "tx_count"], rows).await?;
        let rows = blocks.iter().flat_map(|b| &b.txs).map(|t| {
            vec![Arg::Text(t.hash.clone()), int(t.block_number), int(t.index), Arg::Text(t.from.clone()), Arg::OptText(t.to.clone()),
                Arg::Text(t.value.clone()), int(t.nonce), int(t.tx_type), int(t.gas_limit), int(t.gas_used), Arg::Text(t.gas_price.clone()),
                int(t.status), Arg::OptText(t.contract_address.clone()), Arg::Text(t.input.clone())]
        });
        insert(&mut tx, "transactions", &["hash", "block_number", "idx", "from_addr", "to_addr", "value", "nonce", "tx_type", "gas_limit",
            "gas_used", "gas_price", "status", "contract_address", "input"], rows).await?;
        let rows = blocks.iter().flat_map(|b| &b.logs).map(|l| {
            let topic = |i: usize| Arg::OptText(l.topics.get(i).cloned());
            vec![int(l.block_number), int(l.log_index), Arg::Text(l.tx_hash.clone()), Arg::Text(l.address.clone()), topic(0), topic(1), topic(2), topic(3), Arg::Text(l.data.clone())]
        });
        insert(&mut tx, "logs", &["block_number", "log_index", "tx_hash", "address", "topic0", "topic1", "topic2", "topic3", "data"], rows).await?;
        let rows = blocks.iter().flat_map(|b| &b.internal).map(|i| {
            vec![Arg::Text(i.tx_hash.clone()), int(i.index), int(i.block_number), Arg::Text(i.call_type.clone()), Arg::Text(i.from.clone()),
                Arg::OptText(i.to.clone()), Arg::Text(i.value.clone()), int(i.gas_used), Arg::OptText(i.error.clone())]
        });
        insert(&mut tx, "internal_transactions", &["tx_hash", "idx", "block_number", "call_type", "from_addr", "to_addr", "value", "gas_used", "error"], rows).await?;
        let rows = transfers.iter().map(|t| {
            vec![int(t.block_number), int(t.log_index), int(t.batch_index), Arg::Text(t.tx_hash.clone()), Arg::Text(t.token.clone()),
                Arg::Text(t.from.clone()), Arg::Text(t.to.clone()), Arg::OptText(t.amount.clone()), Arg::OptText(t.token_id.clone())]
        });
        insert(&mut tx, "token_transfers", &["block_number", "log_index", "batch_idx", "tx_hash", "token", "from_addr", "to_addr", "amount", "token_id"], rows).await?;
        let rows = tokens.iter().map(|(address, kind, name, symbol, decimals, first)| {
            vec![Arg::Text(address.clone()), Arg::Text((*kind).to_string()), Arg::OptText(name.clone()), Arg::OptText(symbol.clone()), Arg::OptInt(*decimals), int(*first)]
        });
        insert(&mut tx, "tokens", &["address", "kind", "name", "symbol", "decimals", "first_block"], rows).await?;
        tx.commit().await
    }

    /// Removes everything indexed from block `first` up (the node's chain differs from there).
    pub async fn truncate_from(&self, first: u64) -> DbResult<()> {
        let keep = first as i64 - 1;
        let mut tx = self.pool.begin().await?;
        for table in ["token_transfers", "internal_transactions", "logs", "transactions"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE block_number > $1")).bind(keep).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM tokens WHERE first_block > $1").bind(keep).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM blocks WHERE number > $1").bind(keep).execute(&mut *tx).await?;
        tx.commit().await
    }

    pub async fn fetch_all(&self, sql: &str, binds: &[Bind]) -> DbResult<Vec<AnyRow>> {
        let mut query = sqlx::query(sql);
        for bind in binds {
            query = match bind {
                Bind::Int(v) => query.bind(*v),
                Bind::Text(v) => query.bind(v.clone()),
            };
        }
        query.fetch_all(&self.pool).await
    }
}

/// A parameter of a read query.
#[derive(Debug, Clone)]
pub enum Bind {
    Int(i64),
    Text(String),
}

async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &str,
    columns: &[&str],
    rows: impl Iterator<Item = Vec<Arg>>,
) -> DbResult<()> {
    let rows: Vec<Vec<Arg>> = rows.collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut n = 0;
        for (i, _) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 0..columns.len() {
                n += 1;
                if c > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${n}"));
            }
            sql.push(')');
        }
        sql.push_str(" ON CONFLICT DO NOTHING");
        let mut query = sqlx::query(&sql);
        for row in chunk {
            for arg in row {
                query = match arg {
                    Arg::Int(v) => query.bind(*v),
                    Arg::Text(v) => query.bind(v.clone()),
                    Arg::OptText(v) => query.bind(v.clone()),
                    Arg::OptInt(v) => query.bind(*v),
                };
            }
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_go_into_the_url_encoded() {
        assert_eq!(super::with_password("postgres://ande@postgres:5432/explorer", "s3cret"), "postgres://ande:s3cret@postgres:5432/explorer");
        assert_eq!(super::with_password("postgres://ande:old@postgres/explorer", "a b/c@d"), "postgres://ande:a%20b%2Fc%40d@postgres/explorer");
        assert_eq!(super::with_password("sqlite://data/x.db", "p"), "sqlite://data/x.db");
    }
}
