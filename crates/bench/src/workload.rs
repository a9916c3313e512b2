//! The benchmark workload: deterministic funded senders, a genesis shared by both nodes, and
//! pre-signed transfers.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use eyre::Result;
use serde_json::{Value, json};

pub const CHAIN_ID: u64 = 1234;
/// A contract whose code returns storage slot 0 (42), the target of the eth_call benchmark.
pub const READER: Address = Address::new([0xc0, 0xde, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01]);

pub fn signer(index: u64) -> PrivateKeySigner {
    let mut seed = b"ande-bench-sender".to_vec();
    seed.extend_from_slice(&index.to_be_bytes());
    PrivateKeySigner::from_bytes(&keccak256(seed)).expect("a keccak digest is a valid key with overwhelming probability")
}

pub fn recipient(index: u64) -> Address {
    let mut seed = b"ande-bench-recipient".to_vec();
    seed.extend_from_slice(&index.to_be_bytes());
    Address::from_slice(&keccak256(seed)[12..])
}

/// A Prague genesis with `senders` funded accounts and `extra_funded` more (for memory runs).
pub fn genesis(senders: &[PrivateKeySigner], extra_funded: u64, gas_limit: u64) -> Value {
    let mut alloc = serde_json::Map::new();
    let balance = "0xd3c21bcecceda1000000"; // 1,000,000 ether
    for signer in senders {
        alloc.insert(signer.address().to_string(), json!({ "balance": balance }));
    }
    for i in 0..extra_funded {
        alloc.insert(recipient(1_000_000 + i).to_string(), json!({ "balance": "0x1" }));
    }
    alloc.insert(
        READER.to_string(),
        json!({ "balance": "0x0", "code": "0x60005460005260206000f3",
                "storage": { "0x0000000000000000000000000000000000000000000000000000000000000000": "0x000000000000000000000000000000000000000000000000000000000000002a" } }),
    );
    let forks = ["homesteadBlock", "eip150Block", "eip155Block", "eip158Block", "byzantiumBlock", "constantinopleBlock",
        "petersburgBlock", "istanbulBlock", "berlinBlock", "londonBlock"];
    let mut config = serde_json::Map::new();
    config.insert("chainId".into(), json!(CHAIN_ID));
    for fork in forks {
        config.insert(fork.into(), json!(0));
    }
    for fork in ["shanghaiTime", "cancunTime", "pragueTime"] {
        config.insert(fork.into(), json!(0));
    }
    config.insert("terminalTotalDifficulty".into(), json!(0));
    config.insert("terminalTotalDifficultyPassed".into(), json!(true));
    json!({
        "config": config,
        "nonce": "0x0", "timestamp": "0x0", "extraData": "0x", "difficulty": "0x0",
        "gasLimit": format!("{gas_limit:#x}"),
        "baseFeePerGas": "0x3b9aca00",
        "mixHash": B256::ZERO, "coinbase": Address::ZERO,
        "alloc": alloc,
    })
}

/// Signed transfers, ordered nonce-major so every sender's nonce `n` comes before its `n + 1`.
pub fn signed_transfers(senders: &[PrivateKeySigner], per_sender: u64) -> Result<Vec<Bytes>> {
    let mut out = Vec::with_capacity(senders.len() * per_sender as usize);
    for nonce in 0..per_sender {
        for (i, signer) in senders.iter().enumerate() {
            out.push(transfer(signer, nonce, recipient(i as u64), U256::from(1u64))?);
        }
    }
    Ok(out)
}

/// One signed EIP-1559 transfer.
pub fn transfer(signer: &PrivateKeySigner, nonce: u64, to: Address, value: U256) -> Result<Bytes> {
    call(signer, nonce, to, value, Bytes::new(), 21_000)
}

/// One signed EIP-1559 call.
pub fn call(signer: &PrivateKeySigner, nonce: u64, to: Address, value: U256, input: Bytes, gas_limit: u64) -> Result<Bytes> {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit,
        // Generous: full blocks raise the base fee, and a tight cap would price transactions
        // out and measure that instead of throughput.
        max_fee_per_gas: 1_000_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to),
        value,
        input,
        ..Default::default()
    };
    let signature = signer.sign_hash_sync(&tx.signature_hash())?;
    Ok(TxEnvelope::from(tx.into_signed(signature)).encoded_2718().into())
}
