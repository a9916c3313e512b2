//! The rate limit's accuracy: one client sends `eth_blockNumber` at twice the node's
//! `RPC_RATE_LIMIT` for a while; the calls served are compared with what the limit allows
//! (the rate times the seconds, plus the burst).

use crate::client::Conn;
use crate::process::Target;
use crate::{Cli, GAS_LIMIT, fresh_dir, report, workload};
use eyre::{Result, eyre};
use hyper::body::Bytes;
use serde_json::json;
use std::time::{Duration, Instant};

pub async fn run(cli: &Cli, rate: u64, burst: u64, seconds: u64) -> Result<()> {
    let genesis = crate::write_genesis(&cli.workdir, &workload::genesis(&[workload::signer(0)], 0, GAS_LIMIT))?;
    let (rate_arg, burst_arg) = (rate.to_string(), burst.to_string());
    let args = ["--rpc.rate-limit", rate_arg.as_str(), "--rpc.rate-burst", burst_arg.as_str()];
    let node = Target::ande(&cli.ande, &genesis, &fresh_dir(&cli.workdir.join("ande-data"))?, "2s", &args).await?;
    // Let the bucket fill again after the start-up probes.
    tokio::time::sleep(Duration::from_secs_f64(burst as f64 / rate as f64 + 0.1)).await;
    let mut conn = Conn::open(node.addr).await?;
    let body = Bytes::from(json!({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}).to_string());
    let interval = Duration::from_secs_f64(1.0 / (2 * rate) as f64);
    let sends = 2 * rate * seconds;
    let (mut served, mut limited) = (0u64, 0u64);
    let started = Instant::now();
    for i in 0..sends {
        tokio::time::sleep_until((started + interval * i as u32).into()).await;
        let (status, answer) = conn.send(hyper::Method::POST, "/", body.clone(), &[]).await?;
        match status.as_u16() {
            200 => served += 1,
            429 => limited += 1,
            other => return Err(eyre!("HTTP {other}: {}", String::from_utf8_lossy(&answer))),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let allowed = rate as f64 * elapsed + burst as f64;
    let accuracy = served as f64 / allowed;
    println!(
        "rate limit {rate}/s, burst {burst}: sent {sends} in {elapsed:.2} s ({:.0}/s), served {served}, refused {limited}; allowed {allowed:.0}: served/allowed {accuracy:.4}",
        sends as f64 / elapsed
    );
    report("ratelimit", "ande", json!({ "rate": rate, "burst": burst, "sent": sends, "seconds": elapsed, "served": served, "refused": limited, "allowed": allowed, "served_over_allowed": accuracy }));
    Ok(())
}
