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

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await.wrap_err_with(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Self { sender, host: addr.to_string() })
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
