//! The edge's cost: `eth_blockNumber` and `eth_call` over keep-alive connections to the node
//! direct (HTTP) and through Caddy running the stack's own `docker/edge/Caddyfile` (HTTPS from
//! its local CA), in rounds in one run (which goes first alternating); the ratio of requests a
//! second and the p99 latency the edge adds, medians over the rounds.

use crate::client::{Conn, hammer, tls_trusting};
use crate::process::{Target, free_port};
use crate::{Cli, GAS_LIMIT, fresh_dir, report, stats, workload};
use eyre::{Result, WrapErr, eyre};
use hyper::body::Bytes;
use serde_json::json;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DOMAIN: &str = "andechain.localhost";

/// The stack's Caddyfile for this host: the node's port for the sequencer's, no admin API.
fn local_caddyfile(stack: &str, rpc: SocketAddr) -> Result<String> {
    let (global, rest) = stack.split_once("{\n").ok_or_else(|| eyre!("the Caddyfile has no global options block"))?;
    for upstream in ["ev-reth-sequencer:8545", "ev-reth-sequencer:8546"] {
        if !rest.contains(upstream) {
            return Err(eyre!("the Caddyfile no longer proxies to {upstream}"));
        }
    }
    let rest = rest.replace("ev-reth-sequencer:8545", &rpc.to_string()).replace("ev-reth-sequencer:8546", &rpc.to_string());
    Ok(format!("{global}{{\n\tadmin off\n{rest}"))
}

pub async fn run(cli: &Cli, caddy: &Path, connections: usize, seconds: u64, rounds: usize) -> Result<()> {
    let genesis = crate::write_genesis(&cli.workdir, &workload::genesis(&[workload::signer(0)], 0, GAS_LIMIT))?;
    let node = Target::ande(&cli.ande, &genesis, &fresh_dir(&cli.workdir.join("ande-data"))?, "2s", &[]).await?;
    let dir = fresh_dir(&cli.workdir.join("edge"))?;
    let (http, https) = (free_port()?, free_port()?);
    let stack = std::fs::read_to_string("docker/edge/Caddyfile").wrap_err("read docker/edge/Caddyfile (run from the repository's root)")?;
    let caddyfile = dir.join("Caddyfile");
    std::fs::write(&caddyfile, local_caddyfile(&stack, node.addr)?)?;
    let child = Command::new(caddy)
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&caddyfile)
        .env("PUBLIC_DOMAIN", DOMAIN)
        .env("EDGE_TLS", "internal")
        .env("EDGE_HTTP_PORT", http.to_string())
        .env("EDGE_HTTPS_PORT", https.to_string())
        .env("XDG_DATA_HOME", &dir)
        .env("XDG_CONFIG_HOME", &dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("caddy.log"))?)
        .spawn()
        .wrap_err_with(|| format!("start {} (Debian's caddy package, or --caddy)", caddy.display()))?;
    let edge_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, https));
    let _edge = Target::spawned(child, edge_addr);
    let name = format!("rpc.{DOMAIN}");
    let tls = edge_ready(&dir, edge_addr, &name).await?;

    let calls = [("eth_blockNumber", json!([])), ("eth_call", json!([{ "to": workload::READER, "data": "0x" }, "latest"]))];
    for (method, params) in &calls {
        let body = Bytes::from(json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string());
        let (mut ratios, mut added) = (Vec::new(), Vec::new());
        for round in 1..=rounds {
            let direct = || load(connections, || Conn::open(node.addr), &body, seconds);
            let proxied = || load(connections, || Conn::open_tls(edge_addr, &name, &tls), &body, seconds);
            // Which goes first alternates, so neither always meets a warmer machine.
            let ((d_rps, d_p50, d_p99), (e_rps, e_p50, e_p99)) = if round % 2 == 1 {
                (direct().await?, proxied().await?)
            } else {
                let e = proxied().await?;
                (direct().await?, e)
            };
            ratios.push(e_rps / d_rps);
            added.push(e_p99 - d_p99);
            eprintln!(
                "round {round} {method:<16} direct {d_rps:>7.0} req/s p50 {d_p50:.2} ms p99 {d_p99:.2} ms | edge {e_rps:>7.0} req/s p50 {e_p50:.2} ms p99 {e_p99:.2} ms | ratio {:.2}",
                e_rps / d_rps
            );
        }
        let (ratio, p99_added) = (stats::median(&ratios), stats::median(&added));
        println!("{method}: edge/direct requests a second, median of {rounds}: {ratio:.2}; p99 added {p99_added:.2} ms ({connections} connections, {seconds} s each)");
        report("edge", "ande", json!({ "method": method, "connections": connections, "seconds": seconds, "rounds": rounds, "ratio_median": ratio, "ratios": ratios, "p99_added_ms_median": p99_added }));
    }
    Ok(())
}

/// `connections` connections from `open`, loaded with `body` for `seconds` ([`hammer`]).
async fn load<F: Future<Output = Result<Conn>>>(connections: usize, open: impl Fn() -> F, body: &Bytes, seconds: u64) -> Result<(f64, f64, f64)> {
    let mut conns = Vec::new();
    for _ in 0..connections {
        conns.push(open().await?);
    }
    hammer(conns, body.clone(), seconds).await
}

/// Waits (30 s at most) for the edge's local CA and an answer through it; a client trusting it.
async fn edge_ready(dir: &Path, addr: SocketAddr, name: &str) -> Result<tokio_rustls::TlsConnector> {
    let root = dir.join("caddy/pki/authorities/local/root.crt");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = eyre!("no local CA at {}", root.display());
    while Instant::now() < deadline {
        if root.exists() {
            let tls = tls_trusting(&root)?;
            match Conn::open_tls(addr, name, &tls).await {
                Ok(mut conn) => match conn.call("eth_blockNumber", json!([])).await {
                    Ok(_) => return Ok(tls),
                    Err(e) => last = e,
                },
                Err(e) => last = e,
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last.wrap_err(format!("the edge did not answer within 30 s (its log: {})", dir.join("caddy.log").display())))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stack_caddyfile_is_rewritten_for_this_host() {
        let stack = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docker/edge/Caddyfile")).unwrap();
        let local = super::local_caddyfile(&stack, "127.0.0.1:18545".parse().unwrap()).unwrap();
        assert!(!local.contains("ev-reth-sequencer"));
        assert!(local.contains("reverse_proxy 127.0.0.1:18545"));
        assert!(local.contains("{\n\tadmin off\n"));
        assert_eq!(local.matches("{\n").count(), stack.matches("{\n").count(), "one global block, as before");
    }
}
