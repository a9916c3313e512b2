//! The faucet benchmark: claims for distinct addresses from many concurrent clients against
//! `ande faucet` on `ande node`; API latency and claim-to-confirmation time.

use crate::client::{Conn, quantity};
use crate::process::{Target, free_port};
use crate::{fresh_dir, report, stats, workload, write_genesis};
use eyre::{Result, eyre};
use hyper::Method;
use hyper::body::Bytes;
use serde_json::json;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub async fn run(ande: &Path, workdir: &Path, claims: usize, clients: usize) -> Result<()> {
    let key = workload::signer(0);
    let genesis = write_genesis(workdir, &workload::genesis(std::slice::from_ref(&key), 0, 30_000_000))?;
    let node = Target::ande(ande, &genesis, &fresh_dir(&workdir.join("ande-data"))?, "2s", &[]).await?;
    let faucet_dir = fresh_dir(&workdir.join("faucet-data"))?;
    let key_file = crate::process::key_file(&faucet_dir, &key)?;
    let port = free_port()?;
    let mut faucet = Command::new(ande)
        .args(["faucet", "--web3-provider", &format!("http://{}", node.internal), "--trusted-proxies", "1", "--port", &port.to_string()])
        .arg("--private-key-file")
        .arg(&key_file)
        .arg("--data-dir")
        .arg(faucet_dir.join("store"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let api = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let result = measure(node.addr, api, claims, clients).await;
    let _ = faucet.kill();
    let _ = faucet.wait();
    result
}

async fn measure(node: SocketAddr, api: SocketAddr, claims: usize, clients: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut conn) = Conn::open(api).await
            && let Ok((status, _)) = conn.send(Method::GET, "/health", Bytes::new(), &[]).await
                && status.is_success() {
                    break;
                }
        if Instant::now() > deadline {
            return Err(eyre!("the faucet did not become healthy"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let start_block = quantity(&Conn::open(node).await?.call("eth_blockNumber", json!([])).await?)?;
    let per_client = claims.div_ceil(clients);
    let mut tasks = Vec::new();
    for c in 0..clients {
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(api).await?;
            let mut out = Vec::new();
            for i in 0..per_client {
                let n = c * per_client + i;
                if n >= claims {
                    break;
                }
                let body = Bytes::from(json!({ "address": workload::recipient(2_000_000 + n as u64) }).to_string());
                let ip = format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255);
                let sent = Instant::now();
                let (status, bytes) = conn.send(Method::POST, "/api/claim", body, &[("x-forwarded-for", ip)]).await?;
                let latency = sent.elapsed();
                let response: serde_json::Value = serde_json::from_slice(&bytes)?;
                if status.as_u16() != 202 {
                    return Err(eyre!("claim refused: {status} {response}"));
                }
                let hash = response["tx_hash"].as_str().ok_or_else(|| eyre!("no tx hash in {response}"))?.to_string();
                out.push((hash, sent, latency));
            }
            Ok::<_, eyre::Report>(out)
        }));
    }
    let mut sent = HashMap::new();
    let mut latencies = Vec::new();
    for task in tasks {
        for (hash, at, latency) in task.await?? {
            latencies.push(latency.as_secs_f64() * 1000.0);
            sent.insert(hash, at);
        }
    }
    // Follow blocks until every payout is in one.
    let mut conn = Conn::open(node).await?;
    let mut confirm = Vec::new();
    let mut next = start_block + 1;
    let deadline = Instant::now() + Duration::from_secs(60);
    while confirm.len() < sent.len() && Instant::now() < deadline {
        let head = quantity(&conn.call("eth_blockNumber", json!([])).await?)?;
        while next <= head {
            let block = conn.call("eth_getBlockByNumber", json!([format!("{next:#x}"), false])).await?;
            let seen = Instant::now();
            for tx in block["transactions"].as_array().into_iter().flatten() {
                if let Some(at) = tx.as_str().and_then(|h| sent.get(h)) {
                    confirm.push(seen.duration_since(*at).as_secs_f64());
                }
            }
            next += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let metrics = String::from_utf8_lossy(&Conn::open(api).await?.send(Method::GET, "/metrics", Bytes::new(), &[]).await?.1).to_string();
    let failures = metrics.lines().find_map(|l| l.strip_prefix("ande_faucet_failures_total ")).unwrap_or("?").to_string();
    let (api_p50, api_p99) = (stats::percentile(&mut latencies, 50.0), stats::percentile(&mut latencies, 99.0));
    let (c_p50, c_p99) = (stats::percentile(&mut confirm, 50.0), stats::percentile(&mut confirm, 99.0));
    eprintln!(
        "faucet: {} of {} claims confirmed; failures {failures}; API p50 {api_p50:.1} ms p99 {api_p99:.1} ms; claim to confirmation p50 {c_p50:.2} s p99 {c_p99:.2} s",
        confirm.len(),
        sent.len()
    );
    report("faucet", "ande", json!({ "claims": sent.len(), "confirmed": confirm.len(), "failures": failures,
        "api_p50_ms": api_p50, "api_p99_ms": api_p99, "confirm_p50_s": c_p50, "confirm_p99_s": c_p99 }));
    Ok(())
}
