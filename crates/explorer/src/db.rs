//! The explorer's store: Postgres (`postgres://...`) or SQLite (`sqlite://...`) through sqlx's
//! `Any` driver, with one schema and one set of queries for both.

use crate::model::{Block, NewToken, TokenTransfer};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub type DbResult<T> = Result<T, sqlx::Error>;

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
}

/// `scheme://user@host/...` with the password set, percent-encoded; `None` without a user.
pub fn with_password(url: &str, password: &str) -> Option<String> {
    let encoded: String = password
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let (userinfo, host) = authority.rsplit_once('@')?;
    let user = userinfo.split(':').next().unwrap_or_default();
    let path = path.map(|p| format!("/{p}")).unwrap_or_default();
    Some(format!("{scheme}://{user}:{encoded}@{host}{path}"))
}

/// A bound query parameter.
#[derive(Debug, Clone)]
pub enum Bind {
    Int(i64),
    Text(String),
    OptText(Option<String>),
    OptInt(Option<i64>),
}

fn int(v: u64) -> Bind {
    Bind::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn bind<'q>(query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>, value: &Bind) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    match value {
        Bind::Int(v) => query.bind(*v),
        Bind::Text(v) => query.bind(v.clone()),
        Bind::OptText(v) => query.bind(v.clone()),
        Bind::OptInt(v) => query.bind(*v),
    }
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
        // SQLite takes one writer at a time; readers go alongside in WAL mode, on every connection.
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        use sqlx::Executor;
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
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
    pub async fn write(&self, blocks: &[Block], transfers: &[TokenTransfer], tokens: &[NewToken]) -> DbResult<()> {
        let mut tx = self.pool.begin().await?;
        let rows = blocks.iter().map(|b| {
            vec![int(b.number), Bind::Text(b.hash.clone()), Bind::Text(b.parent_hash.clone()), int(b.timestamp), Bind::Text(b.miner.clone()),
                int(b.gas_used), int(b.gas_limit), Bind::OptText(b.base_fee.clone()), int(b.txs.len() as u64)]
        });
        insert(&mut tx, "blocks", &["number", "hash", "parent_hash", "timestamp", "miner", "gas_used", "gas_limit", "base_fee", "tx_count"], rows).await?;
        let rows = blocks.iter().flat_map(|b| &b.txs).map(|t| {
            vec![Bind::Text(t.hash.clone()), int(t.block_number), int(t.index), Bind::Text(t.from.clone()), Bind::OptText(t.to.clone()),
                Bind::Text(t.value.clone()), int(t.nonce), int(t.tx_type), int(t.gas_limit), int(t.gas_used), Bind::Text(t.gas_price.clone()),
                int(t.status), Bind::OptText(t.contract_address.clone()), Bind::Text(t.input.clone())]
        });
        insert(&mut tx, "transactions", &["hash", "block_number", "idx", "from_addr", "to_addr", "value", "nonce", "tx_type", "gas_limit",
            "gas_used", "gas_price", "status", "contract_address", "input"], rows).await?;
        let rows = blocks.iter().flat_map(|b| &b.logs).map(|l| {
            let topic = |i: usize| Bind::OptText(l.topics.get(i).cloned());
            vec![int(l.block_number), int(l.log_index), Bind::Text(l.tx_hash.clone()), Bind::Text(l.address.clone()), topic(0), topic(1), topic(2), topic(3), Bind::Text(l.data.clone())]
        });
        insert(&mut tx, "logs", &["block_number", "log_index", "tx_hash", "address", "topic0", "topic1", "topic2", "topic3", "data"], rows).await?;
        let rows = blocks.iter().flat_map(|b| &b.internal).map(|i| {
            vec![Bind::Text(i.tx_hash.clone()), int(i.index), int(i.block_number), Bind::Text(i.call_type.clone()), Bind::Text(i.from.clone()),
                Bind::OptText(i.to.clone()), Bind::Text(i.value.clone()), int(i.gas_used), Bind::OptText(i.error.clone())]
        });
        insert(&mut tx, "internal_transactions", &["tx_hash", "idx", "block_number", "call_type", "from_addr", "to_addr", "value", "gas_used", "error"], rows).await?;
        let rows = transfers.iter().map(|t| {
            vec![int(t.block_number), int(t.log_index), int(t.batch_index), Bind::Text(t.tx_hash.clone()), Bind::Text(t.token.clone()),
                Bind::Text(t.from.clone()), Bind::Text(t.to.clone()), Bind::OptText(t.amount.clone()), Bind::OptText(t.token_id.clone())]
        });
        insert(&mut tx, "token_transfers", &["block_number", "log_index", "batch_idx", "tx_hash", "token", "from_addr", "to_addr", "amount", "token_id"], rows).await?;
        let rows = tokens.iter().map(|t| {
            vec![Bind::Text(t.address.clone()), Bind::Text(t.kind.as_str().to_string()), Bind::OptText(t.name.clone()), Bind::OptText(t.symbol.clone()), Bind::OptInt(t.decimals), int(t.first_block)]
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
        binds.iter().fold(sqlx::query(sql), bind).fetch_all(&self.pool).await
    }
}

async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &str,
    columns: &[&str],
    rows: impl Iterator<Item = Vec<Bind>>,
) -> DbResult<()> {
    let rows: Vec<Vec<Bind>> = rows.collect();
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
        chunk.iter().flatten().fold(sqlx::query(&sql), bind).execute(&mut **tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_go_into_the_url_encoded() {
        assert_eq!(super::with_password("postgres://ande@postgres:5432/explorer", "s3cret").unwrap(), "postgres://ande:s3cret@postgres:5432/explorer");
        assert_eq!(super::with_password("postgres://ande:old@postgres/explorer", "a b/c@d").unwrap(), "postgres://ande:a%20b%2Fc%40d@postgres/explorer");
        assert_eq!(super::with_password("postgres://postgres/explorer", "p"), None, "no user to give the password to");
    }
}
