//! Starting the nodes under test, and reading their memory.

use crate::client::Conn;
use eyre::{Result, eyre};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Target {
    pub addr: SocketAddr,
    child: Child,
}

pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

impl Target {
    pub async fn ande(bin: &Path, genesis: &Path, datadir: &Path, block_time: &str, extra: &[&str]) -> Result<Self> {
        let port = free_port()?;
        let child = Command::new(bin)
            .args(["node", "--genesis"])
            .arg(genesis)
            .arg("--datadir")
            .arg(datadir)
            .args(["--block-time", block_time, "--http.port", &port.to_string()])
            .args(["--ws.port", &free_port()?.to_string(), "--metrics.port", &free_port()?.to_string()])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        Self::ready("ande", child, port).await
    }

    pub async fn anvil(bin: &Path, genesis: &Path, block_time: &str, gas_limit: u64) -> Result<Self> {
        let port = free_port()?;
        let child = Command::new(bin)
            .arg("--init")
            .arg(genesis)
            .args(["--port", &port.to_string(), "--host", "127.0.0.1", "--block-time", block_time])
            .args(["--gas-limit", &gas_limit.to_string(), "--silent"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        Self::ready("anvil", child, port).await
    }

    /// A process already started, listening (or about to) on `addr`; killed when dropped.
    pub fn spawned(child: Child, addr: SocketAddr) -> Self {
        Self { addr, child }
    }

    async fn ready(name: &'static str, mut child: Child, port: u16) -> Result<Self> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                return Err(eyre!("{name} exited at start: {status}"));
            }
            if let Ok(mut conn) = Conn::open(addr).await
                && conn.call("eth_blockNumber", serde_json::json!([])).await.is_ok() {
                    return Ok(Self { addr, child });
                }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        Err(eyre!("{name} did not answer within 120 s"))
    }

    /// (current, peak) resident memory in bytes.
    pub fn rss(&self) -> Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(0, |kb| kb * 1024)
        };
        Ok((field("VmRSS:"), field("VmHWM:")))
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
