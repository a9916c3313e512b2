//! `ande-bench`: measures ande node against anvil on the same genesis and workload, one after
//! the other in the same run, and prints a table and one JSON line per figure.

mod bundler;
mod client;
mod da;
mod edge;
mod explorer;
mod faucet;
mod process;
mod ratelimit;
mod state;
mod stats;
mod workload;

use clap::{Parser, Subcommand};
use client::{Conn, quantity};
use eyre::{Result, eyre};
use hyper::body::Bytes;
use process::Target;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Benchmarks of ande node, side by side with anvil")]
struct Cli {
    /// The ande binary.
    #[arg(long, default_value = "target/release/ande")]
    ande: PathBuf,
    /// The anvil binary (from npm's @foundry-rs/anvil).
    #[arg(long, default_value = "tests/e2e/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")]
    anvil: PathBuf,
    /// Working directory for genesis files and data.
    #[arg(long, default_value = "target/bench")]
    workdir: PathBuf,
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Pre-signed transfers from many senders, sent as fast as each node accepts them.
    Throughput {
        #[arg(long, default_value_t = 1000)]
        senders: u64,
        #[arg(long, default_value_t = 120)]
        per_sender: u64,
        #[arg(long, default_value_t = 8)]
        connections: usize,
        #[arg(long, default_value_t = 200)]
        batch: usize,
    },
    /// eth_blockNumber, eth_getBalance and eth_call over keep-alive HTTP connections.
    Rpc {
        #[arg(long, default_value_t = 64)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Block production against the schedule, idle and under load.
    Cadence {
        #[arg(long, default_value_t = 300)]
        seconds: u64,
        /// Transactions per second sent during the loaded run.
        #[arg(long, default_value_t = 1000)]
        load_tps: u64,
        /// Which nodes to measure.
        #[arg(long, value_delimiter = ',', default_value = "ande,anvil")]
        targets: Vec<String>,
    },
    /// 500 faucet claims for distinct addresses from 100 concurrent clients (ande only).
    Faucet {
        #[arg(long, default_value_t = 500)]
        claims: usize,
        #[arg(long, default_value_t = 100)]
        clients: usize,
    },
    /// Bytes posted to DA per transfer under steady load, and a full node's replay speed from DA
    /// (ande only).
    Da {
        #[arg(long, default_value_t = 120)]
        seconds: u64,
        #[arg(long, default_value_t = 1000)]
        load_tps: u64,
    },
    /// The explorer: catch-up rate on a chain of transfers, live lag at a steady load, API
    /// latency over the result (ande only).
    Explorer {
        /// Transfers in the chain to catch up on (1000 senders).
        #[arg(long, default_value_t = 100)]
        per_sender: u64,
        /// Seconds of live load at `load_tps` after the catch-up.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        #[arg(long, default_value_t = 1000)]
        load_tps: u64,
        /// postgres://... to measure on Postgres; SQLite otherwise.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// `ande bundler` with SimpleAccounts: eth_sendUserOperation latency over distinct senders,
    /// send-to-receipt time at a steady rate, sustained ops/s, preVerificationGas (ande only).
    Bundler {
        /// Distinct senders, their accounts deployed beforehand.
        #[arg(long, default_value_t = 10_000)]
        senders: usize,
        /// First operations that deploy their account.
        #[arg(long, default_value_t = 1000)]
        deploying: usize,
        /// Operations per second of the inclusion run.
        #[arg(long, default_value_t = 100)]
        rate: u64,
        #[arg(long, default_value_t = 30)]
        rate_seconds: u64,
        /// Seconds of the sustained run.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Concurrent clients of the inclusion and sustained runs.
        #[arg(long, default_value_t = 16)]
        connections: usize,
    },
    /// Block build + commit time as the state grows: one SSTORE into a contract of `slots`
    /// slots against one of 10, one transfer among `accounts` accounts against 1,000 (ande only).
    State {
        #[arg(long, default_value_t = 1_000_000)]
        slots: u64,
        #[arg(long, default_value_t = 1_000_000)]
        accounts: u64,
        /// Blocks of one transaction measured per state.
        #[arg(long, default_value_t = 20)]
        blocks: u64,
    },
    /// eth_blockNumber and eth_call through the edge (Caddy with docker/edge/Caddyfile, over
    /// HTTPS) against the node direct, in alternating rounds (ande only).
    Edge {
        /// The caddy binary (Debian's caddy package; the stack's image runs the official one).
        #[arg(long, default_value = "caddy")]
        caddy: PathBuf,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// The node's per-client rate limit under twice its rate: calls served against those the
    /// limit allows (ande only).
    Ratelimit {
        #[arg(long, default_value_t = 200)]
        rate: u64,
        #[arg(long, default_value_t = 200)]
        burst: u64,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
    /// ande's resident memory and database bytes per transfer after a large chain.
    Memory {
        #[arg(long, default_value_t = 100_000)]
        accounts: u64,
        #[arg(long, default_value_t = 1000)]
        senders: u64,
        #[arg(long, default_value_t = 1000)]
        per_sender: u64,
    },
}

const GAS_LIMIT: u64 = 1_000_000_000;

pub(crate) fn report(bench: &str, target: &str, figures: serde_json::Value) {
    println!("{}", json!({ "bench": bench, "target": target, "figures": figures }));
}

pub(crate) fn write_genesis(dir: &Path, genesis: &serde_json::Value) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("genesis.json");
    std::fs::write(&path, serde_json::to_vec(genesis)?)?;
    Ok(path)
}

pub(crate) fn fresh_dir(path: &Path) -> Result<PathBuf> {
    let _ = std::fs::remove_dir_all(path);
    std::fs::create_dir_all(path)?;
    Ok(path.to_path_buf())
}

/// Starts the node named `name` ("ande" or "anvil") on the genesis, fresh.
async fn start(cli: &Cli, name: &str, genesis: &Path, ande_args: &[&str]) -> Result<Target> {
    match name {
        "ande" => Target::ande(&cli.ande, genesis, &fresh_dir(&cli.workdir.join("ande-data"))?, "2s", ande_args).await,
        "anvil" => Target::anvil(&cli.anvil, genesis, "2", GAS_LIMIT).await,
        other => Err(eyre!("unknown node {other}: ande or anvil")),
    }
}

/// Sends every raw transaction in batches over `connections` connections; returns how many the
/// node refused.
pub(crate) async fn send_all(target: &Target, txs: Arc<Vec<alloy_primitives::Bytes>>, connections: usize, batch: usize) -> Result<usize> {
    let next = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (txs, next, refused) = (txs.clone(), next.clone(), refused.clone());
        let mut conn = Conn::open(target.addr).await?;
        tasks.push(tokio::spawn(async move {
            loop {
                let start = next.fetch_add(batch, Ordering::Relaxed);
                if start >= txs.len() {
                    return Ok::<(), eyre::Report>(());
                }
                let end = (start + batch).min(txs.len());
                let calls: Vec<_> = (start..end)
                    .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [txs[i]]}))
                    .collect();
                let response = conn.post(Bytes::from(serde_json::to_vec(&calls)?)).await?;
                let errors = response.as_array().map_or(end - start, |a| a.iter().filter(|r| r.get("error").is_some()).count());
                refused.fetch_add(errors, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(refused.load(Ordering::Relaxed))
}

/// Sends `txs` at `load_tps`: ten batches a second of `load_tps / 10` transactions each.
pub(crate) async fn pace(addr: std::net::SocketAddr, txs: &[alloy_primitives::Bytes], load_tps: u64) -> Result<()> {
    let mut conn = Conn::open(addr).await?;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for chunk in txs.chunks((load_tps / 10).max(1) as usize) {
        tick.tick().await;
        let calls: Vec<_> = chunk.iter().map(|tx| json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [tx]})).collect();
        conn.post(Bytes::from(serde_json::to_vec(&calls)?)).await?;
    }
    Ok(())
}

/// Follows the chain until `expected` transactions were included after `from_block`, or no
/// block adds any for `idle`. Returns per-block (seen at, tx count).
async fn follow_inclusion(addr: std::net::SocketAddr, from_block: u64, expected: usize, idle: Duration) -> Result<Vec<(Instant, usize)>> {
    let mut conn = Conn::open(addr).await?;
    let mut blocks = Vec::new();
    let mut included = 0;
    let mut next = from_block + 1;
    let mut last_progress = Instant::now();
    while included < expected && last_progress.elapsed() < idle {
        let head = quantity(&conn.call("eth_blockNumber", json!([])).await?)?;
        while next <= head {
            let count = quantity(&conn.call("eth_getBlockTransactionCountByNumber", json!([format!("{next:#x}")])).await?)? as usize;
            blocks.push((Instant::now(), count));
            if count > 0 {
                included += count;
                last_progress = Instant::now();
            }
            next += 1;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Ok(blocks)
}

async fn throughput(cli: &Cli, senders: u64, per_sender: u64, connections: usize, batch: usize) -> Result<()> {
    let keys: Vec<_> = (0..senders).map(workload::signer).collect();
    let genesis = write_genesis(&cli.workdir, &workload::genesis(&keys, 0, GAS_LIMIT))?;
    let signing = Instant::now();
    let txs = Arc::new(workload::signed_transfers(&keys, per_sender)?);
    eprintln!("signed {} transfers in {:.1} s", txs.len(), signing.elapsed().as_secs_f64());
    for name in ["ande", "anvil"] {
        let target = start(cli, name, &genesis, &["--txpool.max-count", "1000000"]).await?;
        let mut conn = Conn::open(target.addr).await?;
        let start_block = quantity(&conn.call("eth_blockNumber", json!([])).await?)?;
        let started = Instant::now();
        let follower = {
            let expected = txs.len();
            let addr = target.addr;
            tokio::spawn(async move { follow_inclusion(addr, start_block, expected, Duration::from_secs(30)).await })
        };
        let refused = send_all(&target, txs.clone(), connections, batch).await?;
        let sent_in = started.elapsed();
        let blocks = follower.await??;
        let included: usize = blocks.iter().map(|(_, n)| n).sum();
        let last = blocks.iter().rev().find(|(_, n)| *n > 0).map(|(t, _)| *t).ok_or_else(|| eyre!("{name}: nothing included"))?;
        let elapsed = last.duration_since(started).as_secs_f64();
        let per_block: Vec<f64> = blocks.iter().filter(|(_, n)| *n > 0).map(|(_, n)| *n as f64 / 2.0).collect();
        let (rss, peak) = target.rss()?;
        eprintln!(
            "{name:>6}: {included} of {} included in {elapsed:.1} s = {:.0} tx/s (accepted at {:.0} tx/s, {refused} refused, median block {:.0} tx/s); RSS {} MB, peak {} MB",
            txs.len(),
            included as f64 / elapsed,
            txs.len() as f64 / sent_in.as_secs_f64(),
            stats::median(&per_block),
            rss >> 20,
            peak >> 20
        );
        report("throughput", name, json!({
            "transactions": txs.len(), "included": included, "refused": refused,
            "seconds": elapsed, "included_per_second": included as f64 / elapsed,
            "accepted_per_second": txs.len() as f64 / sent_in.as_secs_f64(),
            "median_block_tx_per_second": stats::median(&per_block),
            "rss_bytes": rss, "peak_rss_bytes": peak,
        }));
    }
    Ok(())
}

async fn rpc(cli: &Cli, connections: usize, seconds: u64) -> Result<()> {
    let keys: Vec<_> = (0..10).map(workload::signer).collect();
    let genesis = write_genesis(&cli.workdir, &workload::genesis(&keys, 0, GAS_LIMIT))?;
    let holder = keys[0].address();
    let calls = [
        ("eth_blockNumber", json!([])),
        ("eth_getBalance", json!([holder, "latest"])),
        ("eth_call", json!([{ "to": workload::READER, "data": "0x" }, "latest"])),
    ];
    for name in ["ande", "anvil"] {
        let target = start(cli, name, &genesis, &[]).await?;
        for (method, params) in &calls {
            let body = Bytes::from(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string());
            let mut conns = Vec::new();
            for _ in 0..connections {
                conns.push(Conn::open(target.addr).await?);
            }
            let (rps, p50, p99) = client::hammer(conns, body, seconds).await?;
            eprintln!("{name:>6} {method:<16} {rps:>9.0} req/s  p50 {p50:.2} ms  p99 {p99:.2} ms");
            report("rpc", name, json!({ "method": method, "connections": connections, "requests_per_second": rps, "p50_ms": p50, "p99_ms": p99 }));
        }
    }
    Ok(())
}

/// Watches `latest` every 2 ms for `seconds`; returns (block number, first seen, timestamp).
/// Polls `latest` every 2 ms for `seconds`; each block's number, when it was first seen, and its
/// timestamp. The poller runs on a thread and runtime of its own, so the load generator's tasks
/// in this process never delay an observation.
async fn watch_blocks(addr: std::net::SocketAddr, seconds: u64) -> Result<Vec<(u64, Instant, u64)>> {
    let poller = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async {
            let mut conn = Conn::open(addr).await?;
            let mut seen = Vec::new();
            let mut last = None;
            let deadline = Instant::now() + Duration::from_secs(seconds);
            while Instant::now() < deadline {
                let block = conn.call("eth_getBlockByNumber", json!(["latest", false])).await?;
                let number = quantity(&block["number"])?;
                if last != Some(number) {
                    seen.push((number, Instant::now(), quantity(&block["timestamp"])?));
                    last = Some(number);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Ok(seen)
        })
    });
    tokio::task::spawn_blocking(move || poller.join().map_err(|_| eyre!("the block poller panicked"))?).await?
}

async fn cadence(cli: &Cli, seconds: u64, load_tps: u64, targets: &[String]) -> Result<()> {
    let keys: Vec<_> = (0..100).map(workload::signer).collect();
    let genesis = write_genesis(&cli.workdir, &workload::genesis(&keys, 0, GAS_LIMIT))?;
    let per_sender = (load_tps * seconds).div_ceil(keys.len() as u64) + 1;
    let txs = Arc::new(workload::signed_transfers(&keys, per_sender)?);
    for name in targets.iter().map(String::as_str) {
        for loaded in [false, true] {
            let target = start(cli, name, &genesis, &[]).await?;
            let load = loaded.then(|| {
                let (addr, txs) = (target.addr, txs.clone());
                tokio::spawn(async move { pace(addr, &txs, load_tps).await })
            });
            // Block 0 is the genesis, seen at start rather than produced on the schedule.
            let seen: Vec<_> = watch_blocks(target.addr, seconds).await?.into_iter().filter(|(n, _, _)| *n > 0).collect();
            if let Some(load) = load {
                load.abort();
            }
            let (first_n, first_t, first_ts) = seen.first().copied().ok_or_else(|| eyre!("{name}: no blocks"))?;
            // Offsets from an ideal 2 s schedule; the median offset anchors it.
            let offsets: Vec<f64> = seen
                .iter()
                .map(|(n, t, _)| t.duration_since(first_t).as_secs_f64() * 1000.0 - (n - first_n) as f64 * 2000.0)
                .collect();
            let anchor = stats::median(&offsets);
            let mut deviations: Vec<f64> = offsets.iter().map(|o| (o - anchor).abs()).collect();
            let timestamp_misses = seen.iter().filter(|(n, _, ts)| ts - first_ts != (n - first_n) * 2).count();
            let p99 = stats::percentile(&mut deviations, 99.0);
            let p50 = stats::percentile(&mut deviations, 50.0);
            let label = if loaded { "loaded" } else { "idle" };
            eprintln!("{name:>6} {label:>6}: {} blocks, production deviation p50 {p50:.1} ms p99 {p99:.1} ms, timestamps off schedule: {timestamp_misses}", seen.len());
            report("cadence", name, json!({ "load_tps": if loaded { load_tps } else { 0 }, "blocks": seen.len(), "p50_ms": p50, "p99_ms": p99, "timestamps_off_schedule": timestamp_misses }));
        }
    }
    Ok(())
}

async fn memory(cli: &Cli, accounts: u64, senders: u64, per_sender: u64) -> Result<()> {
    let keys: Vec<_> = (0..senders).map(workload::signer).collect();
    let genesis = write_genesis(&cli.workdir, &workload::genesis(&keys, accounts, GAS_LIMIT))?;
    let txs = Arc::new(workload::signed_transfers(&keys, per_sender)?);
    let datadir = fresh_dir(&cli.workdir.join("ande-data"))?;
    // The genesis alone, measured offline first.
    let stored_before = {
        let target = Target::ande(&cli.ande, &genesis, &datadir, "2s", &[]).await?;
        drop(target);
        db_bytes(&datadir.join("chain.redb"))?.0
    };
    let target = Target::ande(&cli.ande, &genesis, &datadir, "2s", &["--txpool.max-count", "2000000"]).await?;
    let mut conn = Conn::open(target.addr).await?;
    let start_block = quantity(&conn.call("eth_blockNumber", json!([])).await?)?;
    // Send in slices, each included before the next, so the pool never holds the whole run.
    let started = Instant::now();
    for slice in txs.chunks(100_000) {
        let head = quantity(&conn.call("eth_blockNumber", json!([])).await?)?;
        let follower = tokio::spawn(follow_inclusion(target.addr, head, slice.len(), Duration::from_secs(30)));
        send_all(&target, Arc::new(slice.to_vec()), 8, 200).await?;
        follower.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let head = quantity(&conn.call("eth_blockNumber", json!([])).await?)?;
    let mut included = 0;
    for number in start_block + 1..=head {
        included += quantity(&conn.call("eth_getBlockTransactionCountByNumber", json!([format!("{number:#x}")])).await?)? as usize;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss, peak) = target.rss()?;
    drop(target);
    let (stored, file) = db_bytes(&datadir.join("chain.redb"))?;
    let per_tx = (stored - stored_before) as f64 / txs.len() as f64;
    eprintln!("ande: {accounts} extra accounts, {included} of {} transfers included in {elapsed:.0} s; RSS {} MB (peak {} MB); DB {} MB stored ({} MB file), {per_tx:.0} bytes per transfer",
        txs.len(), rss >> 20, peak >> 20, stored >> 20, file >> 20);
    report("memory", "ande", json!({ "accounts": accounts + senders, "transfers": txs.len(), "included": included, "seconds": elapsed, "rss_bytes": rss, "peak_rss_bytes": peak, "db_stored_bytes": stored, "db_file_bytes": file, "db_bytes_per_transfer": per_tx }));
    Ok(())
}

/// (bytes redb uses for data and metadata, file length) of a database no process holds open.
fn db_bytes(path: &Path) -> Result<(u64, u64)> {
    let db = redb::Database::open(path)?;
    let stats = db.begin_write()?.stats()?;
    Ok((stats.stored_bytes() + stats.metadata_bytes(), std::fs::metadata(path)?.len()))
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Bench::Throughput { senders, per_sender, connections, batch } => throughput(&cli, senders, per_sender, connections, batch).await,
        Bench::Rpc { connections, seconds } => rpc(&cli, connections, seconds).await,
        Bench::Cadence { seconds, load_tps, ref targets } => cadence(&cli, seconds, load_tps, targets).await,
        Bench::Da { seconds, load_tps } => da::run(&cli, seconds, load_tps).await,
        Bench::Explorer { per_sender, seconds, load_tps, ref database_url } => explorer::run(&cli, per_sender, seconds, load_tps, database_url.as_deref()).await,
        Bench::State { slots, accounts, blocks } => state::run(&cli, slots, accounts, blocks).await,
        Bench::Edge { ref caddy, connections, seconds, rounds } => edge::run(&cli, caddy, connections, seconds, rounds).await,
        Bench::Ratelimit { rate, burst, seconds } => ratelimit::run(&cli, rate, burst, seconds).await,
        Bench::Memory { accounts, senders, per_sender } => memory(&cli, accounts, senders, per_sender).await,
        Bench::Faucet { claims, clients } => faucet::run(&cli.ande, &cli.workdir, claims, clients).await,
        Bench::Bundler { senders, deploying, rate, rate_seconds, seconds, connections } => {
            bundler::run(&cli.ande, &cli.workdir, bundler::Options { senders, deploying, rate, rate_seconds, sustained_seconds: seconds, connections }).await
        }
    }
}
