//! A minimal keep-alive JSON-RPC client over one HTTP/1.1 connection per task, so the load a
//! benchmark applies is exactly the connections it opens.

use eyre::{Result, WrapErr, eyre};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::net::SocketAddr;

pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

async fn connect(addr: SocketAddr) -> Result<tokio::net::TcpStream> {
    let stream = tokio::net::TcpStream::connect(addr).await.wrap_err_with(|| format!("connect {addr}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Self> {
        Self::handshake(connect(addr).await?, addr.to_string()).await
    }

    /// Over TLS to `addr`, `name` being the server's (its certificate, SNI and Host).
    pub async fn open_tls(addr: SocketAddr, name: &str, tls: &tokio_rustls::TlsConnector) -> Result<Self> {
        let server = rustls::pki_types::ServerName::try_from(name.to_string())?;
        let stream = tls.connect(server, connect(addr).await?).await.wrap_err_with(|| format!("TLS to {name} at {addr}"))?;
        Self::handshake(stream, name.to_string()).await
    }

    async fn handshake<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static>(stream: T, host: String) -> Result<Self> {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Self { sender, host })
    }

    /// Sends one request; the status and the body.
    pub async fn send(&mut self, method: hyper::Method, path: &str, body: Bytes, headers: &[(&str, String)]) -> Result<(hyper::StatusCode, Bytes)> {
        self.sender.ready().await?;
        let mut request = hyper::Request::builder().method(method).uri(path).header("host", &self.host);
        if !body.is_empty() {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = self.sender.send_request(request.body(Full::new(body))?).await?;
        let status = response.status();
        Ok((status, response.into_body().collect().await?.to_bytes()))
    }

    /// Posts a raw JSON-RPC body and returns the parsed response.
    pub async fn post(&mut self, body: Bytes) -> Result<Value> {
        let (status, bytes) = self.send(hyper::Method::POST, "/", body, &[]).await?;
        if !status.is_success() {
            return Err(eyre!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)));
        }
        Ok(serde_json::from_slice(&bytes)?)
    }

    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let response = self.post(Bytes::from(body.to_string())).await?;
        if let Some(error) = response.get("error") {
            return Err(eyre!("{method}: {error}"));
        }
        Ok(response.get("result").cloned().unwrap_or(Value::Null))
    }
}

impl Conn {
    /// One JSON-RPC batch: `method` with each of `params`; each call's result or error, in order.
    pub async fn batch(&mut self, method: &str, params: &[Value]) -> Result<Vec<Result<Value, Value>>> {
        let calls: Vec<Value> = params.iter().enumerate().map(|(id, p)| serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": p})).collect();
        let response = self.post(Bytes::from(serde_json::to_vec(&calls)?)).await?;
        let mut out = vec![Err(Value::Null); params.len()];
        for answer in response.as_array().ok_or_else(|| eyre!("{method}: not a batch answer: {response}"))? {
            let Some(slot) = answer["id"].as_u64().and_then(|id| out.get_mut(id as usize)) else { continue };
            *slot = match answer.get("error") {
                Some(error) => Err(error.clone()),
                None => Ok(answer.get("result").cloned().unwrap_or(Value::Null)),
            };
        }
        Ok(out)
    }
}

pub fn quantity(value: &Value) -> Result<u64> {
    let text = value.as_str().ok_or_else(|| eyre!("expected a quantity, got {value}"))?;
    u64::from_str_radix(text.trim_start_matches("0x"), 16).wrap_err_with(|| format!("bad quantity {text}"))
}

/// A TLS client trusting only the certificates in the PEM file `ca` (HTTP/1.1, no ALPN).
pub fn tls_trusting(ca: &std::path::Path) -> Result<tokio_rustls::TlsConnector> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).wrap_err_with(|| format!("read {}", ca.display()))? {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)))
}

/// Each of `conns` posts `body` back to back until `seconds` pass; (requests a second, p50 and
/// p99 latency in ms). Every answer must carry a result.
pub async fn hammer(conns: Vec<Conn>, body: Bytes, seconds: u64) -> Result<(f64, f64, f64)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            let body = body.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while std::time::Instant::now() < deadline {
                    let t = std::time::Instant::now();
                    let response = conn.post(body.clone()).await?;
                    if response.get("result").is_none() {
                        return Err(eyre!("error response: {response}"));
                    }
                    latencies.push(t.elapsed().as_micros() as f64);
                }
                Ok::<_, eyre::Report>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let rps = latencies.len() as f64 / seconds as f64;
    Ok((rps, crate::stats::percentile(&mut latencies, 50.0) / 1000.0, crate::stats::percentile(&mut latencies, 99.0) / 1000.0))
}
