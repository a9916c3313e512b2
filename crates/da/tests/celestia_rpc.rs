//! `ande da` driven by `celestia-rpc`, the Rust client used against real celestia-node: what a
//! rollup needs (submit, get, get all, headers) works over HTTP and WebSocket, errors read as
//! celestia-node's, the token is enforced, and blocks survive a restart.

use ande_da::{DaArgs, run};
use celestia_rpc::{BlobClient, Client, HeaderClient, StateClient, TxConfig};
use celestia_types::nmt::Namespace;
use celestia_types::Blob;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::sync::{oneshot, watch};

const TOKEN: &str = "local-da-token";

struct Running {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), ande_da::DaError>>,
}

async fn start(dir: &Path, token: Option<&str>) -> Running {
    start_with_block_time(dir, token, Duration::from_millis(300)).await
}

async fn start_with_block_time(dir: &Path, token: Option<&str>, block_time: Duration) -> Running {
    start_with(dir, token, block_time, Duration::ZERO).await
}

async fn start_with(dir: &Path, token: Option<&str>, block_time: Duration, retain_empty: Duration) -> Running {
    let args = DaArgs {
        addr: "127.0.0.1".parse().unwrap(),
        port: 0,
        block_time,
        retain_empty,
        data_dir: dir.to_path_buf(),
        max_blob_bytes: 64 * 1024,
        auth_token: token.map(str::to_string),
        auth_token_file: None,
    };
    let (stop, shutdown) = watch::channel(false);
    let (bound, addr) = oneshot::channel();
    let task = tokio::spawn(run(args, shutdown, Some(bound)));
    Running { addr: addr.await.unwrap(), stop, task }
}

impl Running {
    async fn stop(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

fn blob(ns: Namespace, data: &[u8]) -> Blob {
    Blob::new(ns, data.to_vec(), None).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollup_client_submits_and_reads_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let da = start(dir.path(), Some(TOKEN)).await;
    let http = Client::new(&format!("http://{}", da.addr), Some(TOKEN), None, None).await.unwrap();
    let ws = Client::new(&format!("ws://{}", da.addr), Some(TOKEN), None, None).await.unwrap();
    let ns = Namespace::new_v0(b"andechain").unwrap();
    let other = Namespace::new_v0(b"other").unwrap();

    let first = blob(ns, b"batch one");
    let second = blob(ns, &[7u8; 3000]);
    let elsewhere = blob(other, b"another rollup");
    let before = http.header_network_head().await.unwrap().height();
    let height = http.blob_submit(&[first.clone(), elsewhere.clone(), second.clone()], TxConfig::default()).await.unwrap();
    assert!(height > before, "included in a block made after the call");

    let got = ws.blob_get(height, ns, first.commitment).await.unwrap();
    assert_eq!(got.data, first.data);
    assert_eq!(got.commitment, first.commitment);
    let all = http.blob_get_all(height, &[ns]).await.unwrap().unwrap();
    assert_eq!(all.iter().map(|b| b.data.clone()).collect::<Vec<_>>(), vec![first.data.clone(), second.data.clone()]);
    // In the order the namespaces are asked for.
    let both = http.blob_get_all(height, &[other, ns]).await.unwrap().unwrap();
    assert_eq!(both.iter().map(|b| b.data.clone()).collect::<Vec<_>>(), vec![elsewhere.data.clone(), first.data.clone(), second.data.clone()]);

    // "blob: not found" for a namespace with nothing at that height.
    let nothing = Namespace::new_v0(b"nothing").unwrap();
    let missing = http.blob_get_all(height, &[nothing]).await.unwrap_err();
    assert!(missing.to_string().contains("blob: not found"), "{missing}");
    let future = http.blob_get_all(height + 1000, &[ns]).await.unwrap_err();
    assert!(future.to_string().contains("from the future"), "{future}");

    // Headers decode and validate as celestia-types' (it validates on decoding).
    let header = http.header_get_by_height(height).await.unwrap();
    assert_eq!(header.height(), height);
    header.validate().unwrap();
    let later = ws.header_wait_for_height(height + 2).await.unwrap();
    assert_eq!(later.height(), height + 2);
    assert!(http.header_network_head().await.unwrap().height() >= height + 2);
    assert!(http.header_local_head().await.unwrap().height() >= height + 2);
    assert!(http.state_balance().await.unwrap().amount() > 0);
    da.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_heights_past_retention_lose_their_headers_and_blobs_stay() {
    let dir = tempfile::tempdir().unwrap();
    // 5 ms blocks kept 50 ms: ten heights; pruning runs every 256.
    let da = start_with(dir.path(), None, Duration::from_millis(5), Duration::from_millis(50)).await;
    let http = Client::new(&format!("http://{}", da.addr), None, None, None).await.unwrap();
    let ns = Namespace::new_v0(b"kept").unwrap();
    let kept = blob(ns, b"a batch");
    let with_blob = http.blob_submit(std::slice::from_ref(&kept), TxConfig::default()).await.unwrap();
    let reached = http.header_wait_for_height(with_blob + 600).await.unwrap().height();
    let empty = (1..reached - 300).find(|h| *h != with_blob).unwrap();
    let gone = http.header_get_by_height(empty).await.unwrap_err();
    assert!(gone.to_string().contains(&format!("height {empty} held no blobs and is past DA_RETAIN_EMPTY")), "{gone}");
    // Reading blobs at a pruned height answers as at any empty height.
    assert!(http.blob_get_all(empty, &[ns]).await.unwrap_err().to_string().contains("blob: not found"));
    assert_eq!(http.header_get_by_height(with_blob).await.unwrap().height(), with_blob, "a height with blobs keeps its header");
    assert_eq!(http.blob_get_all(with_blob, &[ns]).await.unwrap().unwrap()[0].data, kept.data);
    assert_eq!(http.header_get_by_height(reached).await.unwrap().height(), reached, "recent heights keep theirs");
    da.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_node_has_a_head_as_soon_as_it_answers() {
    let dir = tempfile::tempdir().unwrap();
    // A block time no test waits for: the head can only be the one made at start.
    let da = start_with_block_time(dir.path(), None, Duration::from_secs(3600)).await;
    let client = Client::new(&format!("http://{}", da.addr), None, None, None).await.unwrap();
    let head = client.header_network_head().await.unwrap();
    assert_eq!(head.height(), 1);
    assert_eq!(client.header_local_head().await.unwrap().height(), 1);
    da.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_auth_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let da = start(dir.path(), Some(TOKEN)).await;
    let ns = Namespace::new_v0(b"andechain").unwrap();

    let anonymous = Client::new(&format!("http://{}", da.addr), None, None, None).await.unwrap();
    let refused = anonymous.header_network_head().await.unwrap_err();
    assert!(refused.to_string().contains("401"), "{refused}");
    let wrong = Client::new(&format!("http://{}", da.addr), Some("not-the-token"), None, None).await.unwrap();
    assert!(wrong.header_network_head().await.unwrap_err().to_string().contains("401"));
    // The health check needs no token.
    let mut stream = std::net::TcpStream::connect(da.addr).unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: da\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"status\":\"ok\""), "{answer}");

    let client = Client::new(&format!("http://{}", da.addr), Some(TOKEN), None, None).await.unwrap();
    let too_big = blob(ns, &vec![1u8; 64 * 1024 + 1]);
    let err = client.blob_submit(&[too_big], TxConfig::default()).await.unwrap_err();
    assert!(err.to_string().contains("blob: over size limit"), "{err}");
    let mut forged = blob(ns, b"data");
    forged.data = b"other data".to_vec();
    let err = client.blob_submit(&[forged], TxConfig::default()).await.unwrap_err();
    assert!(err.to_string().contains("commitment"), "{err}");
    let err = client.header_get_by_height(0).await.unwrap_err();
    assert!(err.to_string().contains("bigger than zero"), "{err}");
    da.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_and_blobs_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ns = Namespace::new_v0(b"andechain").unwrap();
    let kept = blob(ns, b"kept across restarts");
    let (height, hash, last) = {
        let da = start(dir.path(), None).await;
        let client = Client::new(&format!("http://{}", da.addr), None, None, None).await.unwrap();
        let height = client.blob_submit(std::slice::from_ref(&kept), TxConfig::default()).await.unwrap();
        let hash = client.header_get_by_height(height).await.unwrap().hash();
        da.stop().await;
        (height, hash, stored_head(dir.path()).await)
    };
    let da = start(dir.path(), None).await;
    let client = Client::new(&format!("http://{}", da.addr), None, None, None).await.unwrap();
    assert_eq!(client.header_get_by_height(height).await.unwrap().hash(), hash);
    assert_eq!(client.blob_get(height, ns, kept.commitment).await.unwrap().data, kept.data);
    // The restarted node makes a block above the last stored one.
    let next = tokio::time::timeout(Duration::from_secs(10), client.header_wait_for_height(last + 1))
        .await
        .expect("a new block after the restart")
        .unwrap();
    assert_eq!(next.height(), last + 1, "heights continue after the restart");
    da.stop().await;
}

/// The last height stored in a stopped node's data directory, read through a node started with
/// a block time too long to add any.
async fn stored_head(dir: &Path) -> u64 {
    let da = start_with_block_time(dir, None, Duration::from_secs(3600)).await;
    let client = Client::new(&format!("http://{}", da.addr), None, None, None).await.unwrap();
    let head = client.header_network_head().await.unwrap().height();
    da.stop().await;
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_answers_waiting_calls_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    // No block comes in the test's lifetime: the submission and the wait stay pending.
    let da = start_with_block_time(dir.path(), None, Duration::from_secs(3600)).await;
    let client = std::sync::Arc::new(Client::new(&format!("ws://{}", da.addr), None, None, None).await.unwrap());
    let ns = Namespace::new_v0(b"andechain").unwrap();
    let submit = tokio::spawn({
        let client = client.clone();
        async move { client.blob_submit(&[blob(ns, b"never included")], TxConfig::default()).await }
    });
    let wait = tokio::spawn({
        let client = client.clone();
        async move { client.header_wait_for_height(1000).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::time::timeout(Duration::from_secs(10), da.stop()).await.expect("the node stops with calls in flight");
    let submitted = submit.await.unwrap().unwrap_err();
    assert!(submitted.to_string().contains("shutting down"), "{submitted}");
    assert!(wait.await.unwrap().is_err());
}
