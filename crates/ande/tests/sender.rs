//! The stack's transaction sender against a real `ande node`: a batch is signed once and mined
//! once across a restart of the sender, its journal is refused by a chain started again and
//! adopted under its per-chain name; a refusal in the middle of a batch leaves no nonce gap;
//! a nonce taken by a transaction the key did not sign is signed again; a node that lost its
//! pool (kill -9) gets the pending transactions again; a conditional transaction the sequencer
//! dropped finishes as dropped and its nonce goes to the next one.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use ande_sender::{EmbeddedJournal, Journal, NodeClient, Record, Sender, SenderArgs, State, TxRequest};
use std::path::Path;

mod common;
use common::{node, wait_for};

/// genesis/local.json's second development key (DEVELOPMENT ONLY).
const KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

fn args() -> SenderArgs {
    SenderArgs { resend_after_blocks: 2, min_tip: 1_000_000_000, max_fee_cap: 10_000_000_000_000, journal_retention: std::time::Duration::from_secs(3600) }
}

fn sender(url: &str, journal: &Path) -> Sender {
    let journal = Journal::Embedded(EmbeddedJournal::open(journal).unwrap());
    Sender::new(NodeClient::new(url).unwrap(), KEY.parse().unwrap(), 1234, journal, args())
}

fn transfer(to: Address, value: u64) -> TxRequest {
    TxRequest { to: Some(to), value: U256::from(value), input: Default::default(), gas_limit: 21_000, conditions: None }
}

fn recipient(i: u64) -> Address {
    Address::with_last_byte(0x40 + i as u8)
}

/// Follows until every key is final; their records.
async fn settled(sender: &Sender, keys: &[&str]) -> Vec<Record> {
    wait_for("every transaction final", async || {
        sender.follow().await.ok()?;
        let mut out = Vec::new();
        for key in keys {
            let record = sender.get(key).await.ok()??;
            if !record.state.is_final() {
                return None;
            }
            out.push(record);
        }
        Some(out)
    })
    .await
}

async fn balance(client: &NodeClient, address: Address) -> U256 {
    client.balance(address).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_signed_once_and_mined_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path(), &[], &[]);
    let client = NodeClient::new(&node.url).unwrap();
    wait_for("the node", async || client.block_number().await.ok()).await;
    let journal = dir.path().join("sender.redb");
    let keys = ["a", "b", "c", "d", "e"];
    let batch = |s: &[&str]| s.iter().enumerate().map(|(i, k)| (k.to_string(), transfer(recipient(i as u64), 1000 + i as u64))).collect::<Vec<_>>();

    let first = sender(&node.url, &journal);
    let signed = first.submit(batch(&keys)).await.unwrap();
    let nonces: Vec<u64> = signed.iter().map(|r| r.nonce).collect();
    assert_eq!(nonces, vec![0, 1, 2, 3, 4], "consecutive nonces from the key's first");
    let mined = settled(&first, &keys).await;
    assert!(mined.iter().all(|r| matches!(r.state, State::Mined { success: true, .. })), "{mined:?}");
    drop(first);

    // A new process on the same journal, asked for the same keys (a retry after a crash).
    let second = sender(&node.url, &journal);
    let again = second.submit(batch(&keys)).await.unwrap();
    assert_eq!(again.iter().map(|r| r.signed.hash).collect::<Vec<_>>(), signed.iter().map(|r| r.signed.hash).collect::<Vec<_>>());
    let address = KEY.parse::<PrivateKeySigner>().unwrap().address();
    assert_eq!(client.nonce(address, "pending").await.unwrap(), 5, "nothing signed twice");
    for i in 0..5 {
        assert_eq!(balance(&client, recipient(i)).await, U256::from(1000 + i), "paid once");
    }
    drop(second);

    // The chain started again (same genesis, same id): the journal's records are not of it.
    let restarted_dir = tempfile::tempdir().unwrap();
    let restarted = common::node(restarted_dir.path(), &[], &[]);
    let fresh = NodeClient::new(&restarted.url).unwrap();
    wait_for("the restarted node", async || fresh.block_number().await.ok()).await;
    let third = sender(&restarted.url, &journal);
    let refused = third.submit(batch(&["f"])).await.unwrap_err();
    assert!(matches!(refused, ande_sender::SendError::ForeignJournal { nonce: 4, chain_nonce: 0, .. }), "{refused}");
    assert_eq!(fresh.nonce(address, "pending").await.unwrap(), 0, "nothing sent on the new chain");
    drop(third);

    // `sender.redb`, as journals were named before they were per chain, is adopted by the
    // chain's journal: its records are there.
    let adopted = Journal::embedded(dir.path(), "1234-upgrade").unwrap();
    assert!(!journal.exists(), "the legacy file moved");
    let upgraded = Sender::new(NodeClient::new(&node.url).unwrap(), KEY.parse().unwrap(), 1234, adopted, args());
    assert_eq!(upgraded.get("a").await.unwrap().map(|r| r.signed.hash), Some(signed[0].signed.hash));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_in_the_middle_of_a_batch_leaves_no_nonce_gap() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path(), &[], &[]);
    let client = NodeClient::new(&node.url).unwrap();
    wait_for("the node", async || client.block_number().await.ok()).await;
    let sender = sender(&node.url, &dir.path().join("sender.redb"));
    let too_much = TxRequest { value: U256::from(10u64).pow(U256::from(30u64)), ..transfer(recipient(8), 0) };
    let records = sender.submit(vec![("ok-1".into(), transfer(recipient(7), 1)), ("broke".into(), too_much), ("ok-2".into(), transfer(recipient(9), 2))]).await.unwrap();
    assert!(matches!(&records[1].state, State::Refused { reason } if reason.contains("insufficient funds")), "{:?}", records[1]);
    let done = settled(&sender, &["ok-1", "ok-2"]).await;
    assert!(done.iter().all(|r| matches!(r.state, State::Mined { success: true, .. })), "the one after the refusal is not stuck: {done:?}");
    assert_eq!(balance(&client, recipient(9)).await, U256::from(2));
    assert_eq!(balance(&client, recipient(8)).await, U256::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_taken_by_a_foreign_transaction_is_signed_again() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path(), &[], &[]);
    let client = NodeClient::new(&node.url).unwrap();
    wait_for("the node", async || client.block_number().await.ok()).await;
    let sender = sender(&node.url, &dir.path().join("sender.redb"));
    settled(&sender, &[]).await;
    sender.submit(vec![("first".into(), transfer(recipient(1), 5))]).await.unwrap();
    settled(&sender, &["first"]).await;

    // The same key used behind the sender's back, at the nonce it would take next.
    let signer: PrivateKeySigner = KEY.parse().unwrap();
    let foreign = TxEip1559 {
        chain_id: 1234,
        nonce: 1,
        gas_limit: 21_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 2_000_000_000,
        to: TxKind::Call(recipient(2)),
        value: U256::from(77),
        ..Default::default()
    };
    let signature = signer.sign_hash_sync(&foreign.signature_hash()).unwrap();
    let raw = TxEnvelope::from(foreign.into_signed(signature)).encoded_2718();
    client.send_raw(&raw.into()).await.unwrap();
    wait_for("the foreign transaction mined", async || (client.nonce(signer.address(), "latest").await.ok()? == 2).then_some(())).await;

    let records = sender.submit(vec![("second".into(), transfer(recipient(3), 6))]).await.unwrap();
    assert_eq!(records[0].nonce, 1, "signed at the nonce the sender knew");
    let done = settled(&sender, &["second"]).await;
    assert!(matches!(done[0].state, State::Mined { success: true, .. }), "{:?}", done[0]);
    assert_eq!(done[0].nonce, 2, "signed again at a fresh nonce");
    assert_eq!(balance(&client, recipient(3)).await, U256::from(6), "paid once");
    assert_eq!(balance(&client, recipient(2)).await, U256::from(77));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_lost_its_pool_gets_the_pending_transactions_again() {
    let dir = tempfile::tempdir().unwrap();
    // One transfer per block, so most of the batch waits in the pool.
    let mut genesis: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(common::root().join("genesis/local.json")).unwrap()).unwrap();
    genesis["gasLimit"] = "0x5208".into();
    let genesis_file = dir.path().join("genesis.json");
    std::fs::write(&genesis_file, genesis.to_string()).unwrap();
    let datadir = dir.path().join("chain");
    let (genesis_arg, datadir_arg) = (genesis_file.to_str().unwrap(), datadir.to_str().unwrap());
    let flags = ["--genesis", genesis_arg, "--datadir", datadir_arg, "--block-time", "500ms"];
    let first = node(dir.path(), &flags, &[]);
    let client = NodeClient::new(&first.url).unwrap();
    wait_for("the node", async || client.block_number().await.ok()).await;
    let sender_journal = dir.path().join("sender.redb");
    let keys = ["p0", "p1", "p2", "p3", "p4", "p5"];
    let sender1 = sender(&first.url, &sender_journal);
    sender1.submit(keys.iter().enumerate().map(|(i, k)| (k.to_string(), transfer(recipient(20 + i as u64), 1))).collect()).await.unwrap();
    let address = KEY.parse::<PrivateKeySigner>().unwrap().address();
    wait_for("a first transfer mined", async || (client.nonce(address, "latest").await.ok()? >= 1).then_some(())).await;
    drop(first); // kill -9: the pool is gone
    drop(sender1);

    let second = node(dir.path(), &flags, &[]);
    let client = NodeClient::new(&second.url).unwrap();
    wait_for("the node again", async || client.block_number().await.ok()).await;
    let sender2 = sender(&second.url, &sender_journal);
    let done = settled(&sender2, &keys).await;
    assert!(done.iter().all(|r| matches!(r.state, State::Mined { success: true, .. })), "{done:?}");
    assert_eq!(client.nonce(address, "latest").await.unwrap(), 6, "each once");
    for i in 0..6 {
        assert_eq!(balance(&client, recipient(20 + i)).await, U256::from(1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_conditional_transaction_finishes_dropped_and_frees_its_nonce() {
    use alloy_rpc_types_eth::erc4337::{AccountStorage, TransactionConditional};
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path(), &["--block-time", "1s"], &[]);
    let client = NodeClient::new(&node.url).unwrap();
    wait_for("the node", async || client.block_number().await.ok()).await;
    let sender = sender(&node.url, &dir.path().join("sender.redb"));
    // A slot that holds zero now, asked to hold one: the block drops the transaction.
    let mut slots = alloy_primitives::map::HashMap::default();
    slots.insert(U256::ZERO, alloy_primitives::B256::with_last_byte(1));
    let mut conditions = TransactionConditional::default();
    conditions.known_accounts.insert(recipient(30), AccountStorage::Slots(slots));
    let refused = sender.submit(vec![("now".into(), TxRequest { conditions: Some(conditions.clone()), ..transfer(recipient(31), 1) })]).await.unwrap();
    assert!(matches!(&refused[0].state, State::Refused { reason } if reason.contains("conditions not met")), "checked at submission: {:?}", refused[0]);

    // Met at submission, broken by the block: a root no account has.
    let mut later = TransactionConditional::default();
    later.known_accounts.insert(recipient(30), AccountStorage::RootHash(alloy_primitives::B256::repeat_byte(9)));
    let sent = sender.submit(vec![("later".into(), TxRequest { conditions: Some(later), ..transfer(recipient(32), 1) })]).await.unwrap();
    assert_eq!(sent[0].state, State::Pending);
    let done = settled(&sender, &["later"]).await;
    assert_eq!(done[0].state, State::Dropped);
    let next = sender.submit(vec![("after".into(), transfer(recipient(33), 1))]).await.unwrap();
    assert_eq!(next[0].nonce, sent[0].nonce, "the dropped nonce is used again");
    assert!(matches!(settled(&sender, &["after"]).await[0].state, State::Mined { success: true, .. }));
    assert_eq!(balance(&client, recipient(32)).await, U256::ZERO);
}
