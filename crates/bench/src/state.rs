//! What a block costs as the state grows: one SSTORE into a contract holding many slots against
//! one holding few, and one transfer in a state of many accounts against one of few (ande only).
//! Build and commit times come from the node's own log line for each block; restart is the time
//! from starting the node on the stored state to its first RPC answer.

use crate::client::{Conn, quantity};
use crate::process::Target;
use crate::{Cli, GAS_LIMIT, fresh_dir, report, stats, workload, write_genesis};
use alloy_primitives::{Address, B256, Bytes, U256};
use eyre::{Result, eyre};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// sstore(calldata[0..32], calldata[32..64]).
const STORE_CODE: &str = "0x602035600035550000";
const STORE: Address = Address::new([0x5e, 0x70, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01]);

pub async fn run(cli: &Cli, slots: u64, accounts: u64, blocks: u64) -> Result<()> {
    for (workload, few, many) in [("sstore", 10, slots), ("transfer", 1_000, accounts)] {
        let small = measure(cli, workload, few, blocks).await?;
        let large = measure(cli, workload, many, blocks).await?;
        let ratio = large / small.max(0.001);
        eprintln!("{workload}: block build + commit at {many} is {ratio:.2} x the one at {few}");
        report("state", "ande", json!({ "workload": workload, "small": few, "large": many, "ratio": ratio }));
    }
    Ok(())
}

/// Median build + commit milliseconds of `blocks` blocks of one transaction each, on a state
/// of `size` slots (sstore) or accounts (transfer).
async fn measure(cli: &Cli, workload: &str, size: u64, blocks: u64) -> Result<f64> {
    let sender = workload::signer(0);
    let dir = cli.workdir.join(format!("state-{workload}-{size}"));
    let mut genesis = workload::genesis(std::slice::from_ref(&sender), if workload == "transfer" { size } else { 0 }, GAS_LIMIT);
    if workload == "sstore" {
        let storage: serde_json::Map<String, Value> =
            (0..size).map(|slot| (B256::from(U256::from(slot)).to_string(), json!("0x01"))).collect();
        genesis["alloc"][STORE.to_string()] = json!({ "balance": "0x0", "code": STORE_CODE, "storage": storage });
    }
    let genesis = write_genesis(&dir, &genesis)?;
    let datadir = fresh_dir(&dir.join("data"))?;
    let log = dir.join("node.log");
    let target = Target::ande_logging(&cli.ande, &genesis, &datadir, "1s", &[], Some(&log)).await?;
    let mut conn = Conn::open(target.addr).await?;
    for nonce in 0..blocks {
        let tx = match workload {
            "sstore" => {
                let slot = U256::from(nonce * 7919 % size);
                let input = [B256::from(slot), B256::from(U256::from(nonce + 2))].concat();
                workload::call(&sender, nonce, STORE, U256::ZERO, Bytes::from(input), 100_000)?
            }
            _ => workload::transfer(&sender, nonce, workload::recipient(1_000_000 + nonce * 7919 % size), U256::from(1u64))?,
        };
        let hash = conn.call("eth_sendRawTransaction", json!([tx])).await?;
        wait_receipt(&mut conn, &hash).await?;
    }
    let (rss, _) = target.rss()?;
    drop(target);
    let restarted = Instant::now();
    drop(Target::ande(&cli.ande, &genesis, &datadir, "1s", &[]).await?);
    let restart = restarted.elapsed().as_secs_f64();

    let (mut build, mut commit, mut work) = (Vec::new(), Vec::new(), Vec::new());
    for line in std::fs::read_to_string(&log)?.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else { continue };
        let fields = &entry["fields"];
        if fields["message"] == "produced block" && fields["txs"] == 1 {
            let (b, c) = (fields["build_ms"].as_f64().unwrap_or(0.0), fields["commit_ms"].as_f64().unwrap_or(0.0));
            build.push(b);
            commit.push(c);
            work.push(b + c);
        }
    }
    if work.len() as u64 != blocks {
        return Err(eyre!("{workload} at {size}: {} blocks of one transaction logged, {blocks} expected ({})", work.len(), log.display()));
    }
    let median = stats::median(&work);
    eprintln!(
        "{workload:>8} at {size:>9}: build p50 {:.2} ms, commit p50 {:.2} ms, build + commit p50 {median:.2} ms max {:.2} ms; RSS {} MB; restart to RPC {restart:.2} s",
        stats::median(&build),
        stats::median(&commit),
        work.iter().cloned().fold(0.0, f64::max),
        rss >> 20,
    );
    report("state", "ande", json!({
        "workload": workload, "size": size, "blocks": blocks, "build_p50_ms": stats::median(&build),
        "commit_p50_ms": stats::median(&commit), "work_p50_ms": median, "rss_bytes": rss, "restart_seconds": restart,
    }));
    Ok(median)
}

async fn wait_receipt(conn: &mut Conn, hash: &Value) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let receipt = conn.call("eth_getTransactionReceipt", json!([hash])).await?;
        if !receipt.is_null() {
            if quantity(&receipt["status"])? != 1 {
                return Err(eyre!("transaction {hash} reverted"));
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(eyre!("no receipt for {hash} within 20 s"))
}
