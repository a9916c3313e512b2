//! What the integration tests share: real `ande` processes on free loopback ports, killed when
//! dropped, and bounded waits.

#![allow(dead_code)] // each test binary uses its own part

use jsonrpsee::http_client::HttpClient;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().parent().unwrap()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process logging to a file (a pipe nobody reads would fill and block it), killed
/// when dropped so a failing test leaves nothing running.
pub struct Proc(pub Child, pub std::path::PathBuf);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    /// Waits for the process to exit on its own; its exit status and output.
    pub fn wait_exit(mut self, timeout: Duration) -> (bool, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return (status.success(), std::fs::read_to_string(&self.1).unwrap());
            }
            assert!(Instant::now() < deadline, "the process did not exit");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn stop_and_output(mut self) -> String {
        let _ = self.0.kill();
        let _ = self.0.wait();
        std::fs::read_to_string(&self.1).unwrap()
    }
}

pub fn ande(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Proc {
    let log = dir.join(format!("ande-{}.log", free_port()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_ande"));
    command.args(args).current_dir(root()).env("RUST_LOG", "info").stdout(Stdio::null());
    command.stderr(std::fs::File::create(&log).unwrap());
    for (key, value) in env {
        command.env(key, value);
    }
    Proc(command.spawn().unwrap(), log)
}

pub struct Node {
    pub proc: Proc,
    pub rpc: HttpClient,
    /// The internal port: every namespace (`ande_`, `txpool_`, `debug_`).
    pub internal: HttpClient,
    pub url: String,
}

pub fn node(dir: &Path, extra: &[&str], env: &[(&str, String)]) -> Node {
    let (http, ws, metrics, internal) = (free_port(), free_port(), free_port(), free_port());
    let datadir = dir.join(format!("node-{http}"));
    let mut args = vec!["node"];
    if !extra.contains(&"--datadir") {
        args.extend(["--datadir", datadir.to_str().unwrap()]);
    }
    if !extra.contains(&"--block-time") {
        args.extend(["--block-time", "200ms"]);
    }
    let ports = [http.to_string(), ws.to_string(), metrics.to_string(), internal.to_string()];
    args.extend(["--http.port", &ports[0], "--ws.port", &ports[1], "--metrics.port", &ports[2], "--rpc.internal-port", &ports[3]]);
    args.extend(extra);
    let proc = ande(dir, &args, env);
    let url = format!("http://127.0.0.1:{http}");
    let rpc = HttpClient::builder().build(&url).unwrap();
    let internal = HttpClient::builder().build(format!("http://127.0.0.1:{internal}")).unwrap();
    Node { proc, rpc, internal, url }
}

pub async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

