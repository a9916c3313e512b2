//! DA costs of ande: bytes posted to DA per transfer at a steady load, and how fast a full node
//! rebuilds the chain from DA compared with the time the chain took to make.

use crate::client::{Conn, quantity};
use crate::process::{Target, free_port};
use crate::{Cli, GAS_LIMIT, fresh_dir, report, workload};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use eyre::{Result, eyre};
use hyper::body::Bytes;
use serde_json::{Value, json};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NAMESPACE: &str = "ande-bench";

async fn start_da(cli: &Cli) -> Result<Target> {
    let port = free_port()?;
    let child = Command::new(&cli.ande)
        .args(["da", "--port", &port.to_string(), "--block-time", "1s", "--data-dir"])
        .arg(fresh_dir(&cli.workdir.join("da-data"))?)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let da = Target::spawned(child, SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(mut conn) = Conn::open(da.addr).await
            && conn.call("header.NetworkHead", json!([])).await.is_ok()
        {
            return Ok(da);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(eyre!("ande da did not answer within 30 s"))
}

pub async fn run(cli: &Cli, seconds: u64, load_tps: u64) -> Result<()> {
    let keys: Vec<_> = (0..1000).map(workload::signer).collect();
    let genesis = crate::write_genesis(&cli.workdir, &workload::genesis(&keys, 0, GAS_LIMIT))?;
    let per_sender = (load_tps * seconds).div_ceil(keys.len() as u64);
    let txs = Arc::new(workload::signed_transfers(&keys, per_sender)?);
    let da = start_da(cli).await?;
    let da_url = format!("http://{}", da.addr);
    let sequencer_key = workload::signer(u64::MAX);
    let key_hex = alloy_primitives::hex::encode_prefixed(sequencer_key.to_bytes());
    let da_args = ["--da.url", &da_url, "--da.namespace", NAMESPACE];
    let mut args = da_args.to_vec();
    args.extend(["--sequencer-key", &key_hex, "--txpool.max-count", "1000000"]);
    let sequencer = Target::ande(&cli.ande, &genesis, &fresh_dir(&cli.workdir.join("ande-data"))?, "2s", &args).await?;

    let mut conn = Conn::open(sequencer.internal).await?;
    let start_block = quantity(&conn.call("eth_blockNumber", json!([])).await?)?;
    crate::pace(sequencer.addr, &txs, load_tps).await?;
    // Everything included, then everything in DA.
    let head = loop {
        let pending = quantity(&conn.call("txpool_status", json!([])).await?["pending"])?;
        if pending == 0 {
            break quantity(&conn.call("eth_blockNumber", json!([])).await?)?;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let status = loop {
        let status = conn.call("ande_daStatus", json!([])).await?;
        if status["lastIncludedBlock"].as_u64() >= Some(head) {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (blobs, bytes) = posted(da.addr, &status).await?;
    let mut included = 0;
    for n in 1..=head {
        included += quantity(&conn.call("eth_getBlockTransactionCountByNumber", json!([format!("{n:#x}")])).await?)?;
    }
    let per_tx = bytes as f64 / included as f64;
    eprintln!(
        "ande da: {included} transfers in blocks 1..={head} ({} loaded from block {start_block}) posted as {blobs} blobs, {bytes} bytes = {per_tx:.1} bytes per transfer",
        head - start_block
    );
    report("da-bytes", "ande", json!({ "load_tps": load_tps, "transfers": included, "blocks": head, "blobs": blobs, "bytes": bytes, "bytes_per_transfer": per_tx }));

    // A fresh full node rebuilds blocks 1..=head from DA.
    let chain_seconds = block_time(&mut conn, head).await? - block_time(&mut conn, 1).await? + 2;
    let address = sequencer_key.address().to_string();
    let mut args = da_args.to_vec();
    args.extend(["--mode", "full", "--sequencer-address", &address]);
    let started = Instant::now();
    let full = Target::ande(&cli.ande, &genesis, &fresh_dir(&cli.workdir.join("ande-full-data"))?, "2s", &args).await?;
    let mut full_conn = Conn::open(full.addr).await?;
    while quantity(&full_conn.call("eth_blockNumber", json!([])).await?)? < head {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let replay = started.elapsed().as_secs_f64();
    let ours = conn.call("eth_getBlockByNumber", json!([format!("{head:#x}"), false])).await?;
    let theirs = full_conn.call("eth_getBlockByNumber", json!([format!("{head:#x}"), false])).await?;
    if ours["hash"] != theirs["hash"] {
        return Err(eyre!("the full node's block {head} differs: {} vs {}", theirs["hash"], ours["hash"]));
    }
    let speed = chain_seconds as f64 / replay;
    eprintln!(
        "ande full node: {head} blocks ({chain_seconds} s of chain, {included} transfers) replayed from DA in {replay:.1} s = {:.0} blocks/s, {:.0} tx/s, {speed:.1}x real time",
        head as f64 / replay,
        included as f64 / replay
    );
    report("da-replay", "ande", json!({ "blocks": head, "transfers": included, "chain_seconds": chain_seconds, "replay_seconds": replay,
        "blocks_per_second": head as f64 / replay, "tx_per_second": included as f64 / replay, "times_real_time": speed }));
    Ok(())
}

async fn block_time(conn: &mut Conn, number: u64) -> Result<u64> {
    quantity(&conn.call("eth_getBlockByNumber", json!([format!("{number:#x}"), false])).await?["timestamp"])
}

/// Blobs and bytes in the namespace up to the DA height of the last included block.
async fn posted(da: SocketAddr, status: &Value) -> Result<(usize, usize)> {
    let namespace_hex = status["namespace"].as_str().ok_or_else(|| eyre!("no namespace in {status}"))?;
    let namespace = alloy_primitives::hex::decode(namespace_hex)?;
    let namespace = BASE64.encode(namespace);
    let last = status["lastIncludedDaHeight"].as_u64().ok_or_else(|| eyre!("nothing in DA: {status}"))?;
    let mut conn = Conn::open(da).await?;
    let (mut blobs, mut bytes) = (0, 0);
    for height in 1..=last {
        let body = conn.post(Bytes::from(json!({"jsonrpc": "2.0", "id": 1, "method": "blob.GetAll", "params": [height, [namespace]]}).to_string())).await?;
        for blob in body["result"].as_array().into_iter().flatten() {
            blobs += 1;
            bytes += BASE64.decode(blob["data"].as_str().unwrap_or_default())?.len();
        }
    }
    Ok((blobs, bytes))
}
