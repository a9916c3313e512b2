//! Starting the nodes under test, and reading their memory.

use crate::client::Conn;
use eyre::{Result, eyre};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Target {
    pub addr: SocketAddr,
    /// Its RPC with every namespace (`txpool_`, `debug_`, `ande_`): ande's internal port.
    pub internal: SocketAddr,
    child: Child,
}

pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// CPU time (user and system) process `pid` used so far, in seconds.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| eyre!("unreadable /proc/{pid}/stat"));
    // utime and stime (fields 14 and 15), in USER_HZ (100 on Linux) ticks.
    Ok((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

impl Target {
    pub async fn ande(bin: &Path, genesis: &Path, datadir: &Path, block_time: &str, extra: &[&str]) -> Result<Self> {
        Self::ande_logging(bin, genesis, datadir, block_time, extra, None).await
    }

    /// [`Self::ande`], writing its info-level JSON log to `log` when given.
    pub async fn ande_logging(bin: &Path, genesis: &Path, datadir: &Path, block_time: &str, extra: &[&str], log: Option<&Path>) -> Result<Self> {
        let (port, ws, internal) = (free_port()?, free_port()?, free_port()?);
        let mut command = Command::new(bin);
        match log {
            Some(path) => command.env("RUST_LOG", "info").env("LOG_FORMAT", "json").stderr(std::fs::File::create(path)?),
            None => command.env("RUST_LOG", "warn").stderr(Stdio::inherit()),
        };
        let child = command
            .args(["node", "--genesis"])
            .arg(genesis)
            .arg("--datadir")
            .arg(datadir)
            .args(["--block-time", block_time, "--http.port", &port.to_string()])
            .args(["--ws.port", &ws.to_string(), "--metrics.port", &free_port()?.to_string()])
            .args(["--rpc.internal-port", &internal.to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()?;
        Self::ready("ande", child, port, internal).await
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
        Self::ready("anvil", child, port, port).await
    }

    /// A process already started, listening (or about to) on `addr`; killed when dropped.
    pub fn spawned(child: Child, addr: SocketAddr) -> Self {
        Self { addr, internal: addr, child }
    }

    async fn ready(name: &'static str, mut child: Child, port: u16, internal: u16) -> Result<Self> {
        let [addr, internal] = [port, internal].map(|port| SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                return Err(eyre!("{name} exited at start: {status}"));
            }
            if let Ok(mut conn) = Conn::open(addr).await
                && conn.call("eth_blockNumber", serde_json::json!([])).await.is_ok() {
                    return Ok(Self { addr, internal, child });
                }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        Err(eyre!("{name} did not answer within 120 s"))
    }

    /// CPU time (user and system) the process used so far, in seconds.
    pub fn cpu_seconds(&self) -> Result<f64> {
        cpu_seconds(self.child.id())
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

/// Writes `key` as a secret file `dir/key`, the way the services read keys; its path.
pub fn key_file(dir: &Path, key: &alloy_signer_local::PrivateKeySigner) -> Result<PathBuf> {
    let path = dir.join("key");
    std::fs::write(&path, format!("{}\n", alloy_primitives::hex::encode_prefixed(key.to_bytes())))?;
    Ok(path)
}
