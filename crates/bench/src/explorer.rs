//! The explorer's speed: how fast it catches up on a chain of transfers, how far behind the
//! head it stays under a steady load, and how fast its API answers over what it indexed.

use crate::client::{Conn, quantity};
use crate::process::{Target, free_port};
use crate::{Cli, GAS_LIMIT, fresh_dir, report, stats, workload};
use eyre::{Result, eyre};
use serde_json::{Value, json};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn get(conn: &mut Conn, path: &str) -> Result<Value> {
    let (status, body) = conn.send(hyper::Method::GET, path, hyper::body::Bytes::new(), &[]).await?;
    if !status.is_success() {
        return Err(eyre!("GET {path}: {status}"));
    }
    Ok(serde_json::from_slice(&body)?)
}

fn start_explorer(cli: &Cli, node: SocketAddr, database_url: &str) -> Result<Target> {
    let port = free_port()?;
    let child = Command::new(&cli.ande)
        .args(["explorer", "--rpc-url", &format!("http://{node}"), "--port", &port.to_string()])
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    Ok(Target::spawned(child, SocketAddr::from((Ipv4Addr::LOCALHOST, port))))
}

/// (head, indexed) as the explorer's /health says, once it answers.
async fn progress(explorer: &Target) -> Option<(u64, u64)> {
    let mut conn = Conn::open(explorer.addr).await.ok()?;
    let (_, body) = conn.send(hyper::Method::GET, "/health", hyper::body::Bytes::new(), &[]).await.ok()?;
    let health: Value = serde_json::from_slice(&body).ok()?;
    Some((health["head"].as_u64()?, health["indexed"].as_u64()?))
}

pub async fn run(cli: &Cli, per_sender: u64, seconds: u64, load_tps: u64, database_url: Option<&str>) -> Result<()> {
    let keys: Vec<_> = (0..1000).map(workload::signer).collect();
    let genesis = crate::write_genesis(&cli.workdir, &workload::genesis(&keys, 0, GAS_LIMIT))?;
    let txs = Arc::new(workload::signed_transfers(&keys, per_sender + (load_tps * seconds).div_ceil(1000))?);
    let (chain_txs, live_txs) = txs.split_at(keys.len() * per_sender as usize);
    let node = Target::ande(&cli.ande, &genesis, &fresh_dir(&cli.workdir.join("ande-data"))?, "2s", &["--txpool.max-count", "1000000"]).await?;
    crate::send_all(&node, Arc::new(chain_txs.to_vec()), 8, 200).await?;
    let mut conn = Conn::open(node.internal).await?;
    while quantity(&conn.call("txpool_status", json!([])).await?["pending"])? > 0 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let head = quantity(&conn.call("eth_blockNumber", json!([])).await?)?;
    let store = database_url.map_or("sqlite", |_| "postgres");
    let sqlite = format!("sqlite://{}", fresh_dir(&cli.workdir.join("explorer-data"))?.join("explorer.db").display());
    let database_url = database_url.map_or(sqlite, str::to_string);

    // Catch-up: from the explorer's start until it has the head.
    let started = Instant::now();
    let explorer = start_explorer(cli, node.internal, &database_url)?;
    loop {
        if let Some((_, indexed)) = progress(&explorer).await
            && indexed >= head
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(1800) {
            return Err(eyre!("the explorer did not catch up in 30 minutes"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let catch_up = started.elapsed().as_secs_f64();
    let rate = chain_txs.len() as f64 / catch_up;
    eprintln!("explorer ({store}): {} transactions in {head} blocks indexed in {catch_up:.1} s = {rate:.0} tx/s", chain_txs.len());
    report("explorer-catch-up", store, json!({ "transactions": chain_txs.len(), "blocks": head, "seconds": catch_up, "tx_per_second": rate }));

    // Empty blocks kept coming while it caught up: start the live run from no lag.
    loop {
        let node_head = quantity(&conn.call("eth_blockNumber", json!([])).await?)?;
        if progress(&explorer).await.is_some_and(|(_, indexed)| indexed + 1 >= node_head) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Live: the lag in blocks, sampled every 100 ms, under load_tps.
    let load = {
        let (addr, live) = (node.addr, live_txs.to_vec());
        tokio::spawn(async move { crate::pace(addr, &live, load_tps).await })
    };
    let mut lags = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        let node_head = quantity(&conn.call("eth_blockNumber", json!([])).await?)?;
        if let Some((_, indexed)) = progress(&explorer).await {
            lags.push(node_head.saturating_sub(indexed) as f64);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    load.abort();
    let max = lags.iter().copied().fold(0.0, f64::max);
    let (p50, p99) = (stats::percentile(&mut lags, 50.0), stats::percentile(&mut lags, 99.0));
    eprintln!("explorer ({store}): lag at {load_tps} tx/s over {seconds} s: p50 {p50} p99 {p99} max {max} blocks ({} samples)", lags.len());
    report("explorer-lag", store, json!({ "load_tps": load_tps, "seconds": seconds, "p50_blocks": p50, "p99_blocks": p99, "max_blocks": max }));

    // API latency over the index, one keep-alive connection, each endpoint 200 times.
    let mut api = Conn::open(explorer.addr).await?;
    let latest = get(&mut api, "/api/v2/transactions").await?;
    let tx = latest["items"][0]["hash"].as_str().ok_or_else(|| eyre!("no transactions indexed"))?.to_string();
    let sender = latest["items"][0]["from"]["hash"].as_str().unwrap_or_default().to_string();
    let paths = [
        "/api/v2/blocks".to_string(),
        format!("/api/v2/blocks/{}", head / 2),
        "/api/v2/transactions".to_string(),
        format!("/api/v2/transactions/{tx}"),
        format!("/api/v2/addresses/{sender}/transactions"),
        format!("/api?module=account&action=txlist&address={sender}&offset=50"),
        format!("/tx/{tx}"),
    ];
    for path in &paths {
        let mut times = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            let (status, _) = api.send(hyper::Method::GET, path, hyper::body::Bytes::new(), &[]).await?;
            if !status.is_success() {
                return Err(eyre!("GET {path}: {status}"));
            }
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let (p50, p99) = (stats::percentile(&mut times, 50.0), stats::percentile(&mut times, 99.0));
        let shown = path.split('?').next().unwrap_or(path);
        eprintln!("explorer ({store}): GET {shown:<48} p50 {p50:.2} ms p99 {p99:.2} ms");
        report("explorer-api", store, json!({ "path": shown, "indexed_transactions": chain_txs.len(), "p50_ms": p50, "p99_ms": p99 }));
    }
    Ok(())
}
