//! A full node facing hostile DA content, with real `ande` processes: blobs in its namespace
//! that are not the sequencer's (garbage, a batch tampered with, a batch signed by another key)
//! are refused and logged while it follows the real chain; a batch signed by the sequencer
//! that does not re-execute to what it signed stops the node, naming the block and what differs.

use ande_node::da::batch;
use alloy_signer_local::PrivateKeySigner;
use celestia_rpc::{BlobClient, Client, HeaderClient, TxConfig};
use celestia_types::Blob;
use celestia_types::nmt::Namespace;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use serde_json::Value;
use std::time::Duration;

mod common;
use common::{Node, ande, free_port, node, wait_for};

/// The development key (DEVELOPMENT ONLY) of the sequencer genesis/local.json names.
const SEQUENCER_KEY: &str = "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356";

async fn da_status(node: &Node) -> Option<Value> {
    node.internal.request::<Value, _>("ande_daStatus", rpc_params![]).await.ok()
}

/// The first batch of `namespace` in DA, with the height holding it.
async fn first_batch(da: &Client, namespace: Namespace) -> (u64, Vec<u8>) {
    let head = da.header_network_head().await.unwrap().height();
    for height in 1..=head {
        if let Ok(Some(blobs)) = da.blob_get_all(height, &[namespace]).await
            && let Some(blob) = blobs.into_iter().next()
        {
            return (height, blob.data);
        }
    }
    panic!("no batch in DA");
}

async fn submit(da: &Client, namespace: Namespace, data: Vec<u8>) {
    da.blob_submit(&[Blob::new(namespace, data, None).unwrap()], TxConfig::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_refuses_foreign_blobs_and_stops_on_a_signed_lie() {
    let dir = tempfile::tempdir().unwrap();
    let da_port = free_port();
    let da_url = format!("http://127.0.0.1:{da_port}");
    let da_dir = dir.path().join("da");
    let _da = ande(dir.path(), &["da", "--port", &da_port.to_string(), "--block-time", "300ms", "--data-dir", da_dir.to_str().unwrap()], &[]);
    let client = wait_for("the DA node", async || Client::new(&da_url, None, None, None).await.ok()).await;
    wait_for("the DA head", async || client.header_network_head().await.ok()).await;

    let common = |namespace: &str| vec![("DA_URL", da_url.clone()), ("DA_NAMESPACE", namespace.to_string()), ("DA_BATCH_INTERVAL", "300ms".to_string())];
    let mut sequencer_env = common("hostile");
    sequencer_env.push(("SEQUENCER_KEY", SEQUENCER_KEY.to_string()));
    let sequencer = node(dir.path(), &[], &sequencer_env);
    let status = wait_for("a first batch", async || da_status(&sequencer).await.filter(|s| s["lastIncludedBlock"].as_u64() >= Some(3))).await;
    let namespace_bytes = alloy_primitives::hex::decode(status["namespace"].as_str().unwrap()).unwrap();
    let namespace = Namespace::from_raw(&namespace_bytes).unwrap();
    let (_, real) = first_batch(&client, namespace).await;
    let envelope = batch::open(&real).unwrap();
    let sequencer_key: PrivateKeySigner = SEQUENCER_KEY.parse().unwrap();
    assert_eq!(envelope.signer, sequencer_key.address());

    // Three blobs that are not the sequencer's, posted to its namespace.
    submit(&client, namespace, b"not a batch at all".to_vec()).await;
    let mut tampered = real.clone();
    *tampered.last_mut().unwrap() ^= 0x01;
    submit(&client, namespace, tampered).await;
    let decoded = batch::decode(&real, &envelope).unwrap();
    let impostor = PrivateKeySigner::random();
    submit(&client, namespace, batch::encode(decoded.chain_id, decoded.first, &decoded.blocks, &impostor)).await;

    let sequencer_address = sequencer_key.address().to_string();
    let mut full_env = common("hostile");
    full_env.push(("SEQUENCER_ADDRESS", sequencer_address.clone()));
    let full = node(dir.path(), &["--mode", "full"], &full_env);
    let head: u64 = status["lastIncludedBlock"].as_u64().unwrap();
    let full_status = wait_for("the full node past the hostile blobs", async || {
        da_status(&full).await.filter(|s| s["rejectedBlobs"].as_u64() == Some(3) && s["lastIncludedBlock"].as_u64() >= Some(head))
    })
    .await;
    assert_eq!(full_status["role"], "full");
    let hash = |n: u64| format!("0x{n:x}");
    let ours: Value = sequencer.rpc.request("eth_getBlockByNumber", rpc_params![hash(head), false]).await.unwrap();
    let theirs: Value = full.rpc.request("eth_getBlockByNumber", rpc_params![hash(head), false]).await.unwrap();
    assert_eq!(ours["hash"], theirs["hash"]);
    // Without SEQUENCER_URL a full node refuses transactions rather than keep them.
    let refused = full.rpc.request::<Value, _>("eth_sendRawTransaction", rpc_params!["0x02"]).await.unwrap_err();
    assert!(refused.to_string().contains("takes no transactions"), "{refused}");
    let output = full.proc.stop_and_output();
    assert!(output.contains("rejected a blob in the namespace"), "{output}");
    assert!(output.contains("not an AndeChain batch"), "{output}");
    assert_eq!(output.matches("bad signature").count(), 2, "the tampered batch and the impostor's: {output}");
    assert!(output.contains(&impostor.address().to_string()), "names who signed: {output}");

    // The sequencer's key signing a block that does not re-execute to what it says.
    let lie_ns = Namespace::new_v0(b"lie").unwrap();
    let mut lie = decoded.clone();
    lie.blocks[0].state_root = alloy_primitives::B256::repeat_byte(0x11);
    submit(&client, lie_ns, batch::encode(lie.chain_id, lie.first, &lie.blocks, &sequencer_key)).await;
    let lie_id = alloy_primitives::hex::encode(&lie_ns.as_bytes()[19..]);
    let mut lie_env = vec![("DA_URL", da_url.clone()), ("DA_NAMESPACE", lie_id)];
    lie_env.push(("SEQUENCER_ADDRESS", sequencer_address));
    let liar = node(dir.path(), &["--mode", "full"], &lie_env);
    let (ok, output) = liar.proc.wait_exit(Duration::from_secs(30));
    assert!(!ok, "the full node stops: {output}");
    assert!(output.contains(&format!("block {} from DA height", lie.first)), "{output}");
    assert!(output.contains("state root") && output.contains("0x1111111111111111"), "says what differs: {output}");
}
