//! `ande probe`: the container health check, so images need no curl. A plain HTTP/1.1 request
//! to a local service: `--rpc` posts `eth_blockNumber` and wants a JSON-RPC result; otherwise a
//! GET that wants a 2xx. Exit code 0 when healthy, 1 otherwise, with the reason on stderr.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);
/// Health answers are small; more than this is not one.
const MAX_ANSWER: u64 = 64 * 1024;

#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// An http:// URL on a service of this stack.
    pub url: String,
    /// Probe a JSON-RPC endpoint with eth_blockNumber instead of a GET.
    #[arg(long)]
    pub rpc: bool,
}

/// `http://host:port/path` split into its address and path.
fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url}: only http:// URLs can be probed"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("{url}: no host"));
    }
    let authority = if authority.rsplit_once(':').is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())) && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_string()))
}

fn request(args: &ProbeArgs) -> Result<(u16, String), String> {
    let (authority, path) = split_url(&args.url)?;
    let addr = authority.to_socket_addrs().map_err(|e| format!("{authority}: {e}"))?.next().ok_or(format!("{authority}: no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("{addr}: {e}"))?;
    stream.set_read_timeout(Some(TIMEOUT)).and_then(|()| stream.set_write_timeout(Some(TIMEOUT))).map_err(|e| e.to_string())?;
    let host = authority.as_str();
    let message = if args.rpc {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}"#;
        format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
    } else {
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
    };
    stream.write_all(message.as_bytes()).map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream.take(MAX_ANSWER).read_to_end(&mut answer).map_err(|e| e.to_string())?;
    parse_answer(&answer)
}

/// Status code and body of an HTTP/1.1 answer (chunked bodies are returned as sent; the checks
/// below only look for a marker in them).
fn parse_answer(answer: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(answer);
    let status = text
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or("not an HTTP answer")?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body).to_string();
    Ok((status, body))
}

/// Ok when healthy; the reason otherwise.
pub fn probe(args: &ProbeArgs) -> Result<(), String> {
    let (status, body) = request(args)?;
    if !(200..300).contains(&status) {
        return Err(format!("HTTP {status}: {}", body.trim()));
    }
    if args.rpc && !body.contains("\"result\"") {
        return Err(format!("no JSON-RPC result: {}", body.trim()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(split_url("http://127.0.0.1:8545").unwrap(), ("127.0.0.1:8545".into(), "/".into()));
        assert_eq!(split_url("http://faucet-api:8081/health").unwrap(), ("faucet-api:8081".into(), "/health".into()));
        assert_eq!(split_url("http://localhost/health").unwrap(), ("localhost:80".into(), "/health".into()));
        assert!(split_url("https://x/").is_err());
        assert!(split_url("http:///x").is_err());
    }

    #[test]
    fn answers() {
        assert_eq!(parse_answer(b"HTTP/1.1 503 Service Unavailable\r\nA: b\r\n\r\n{\"status\":\"x\"}").unwrap(), (503, "{\"status\":\"x\"}".into()));
        assert!(parse_answer(b"SSH-2.0").is_err());
    }

    #[test]
    fn a_closed_port_is_unhealthy() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let args = ProbeArgs { url: format!("http://127.0.0.1:{port}/health"), rpc: false };
        assert!(probe(&args).is_err());
    }
}
