//! Building the JSON-RPC shapes (alloy's RPC types) from stored blocks and receipts.

use crate::storage::{StoreReader, StoredTx};
use crate::error::StoreError;
use alloy_consensus::{Header, ReceiptEnvelope, Transaction as _, TxEnvelope, transaction::Recovered};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256, U256};
use alloy_rpc_types_eth::{Block, BlockTransactions, Log, Transaction, TransactionReceipt};

pub fn decode_tx(stored: &StoredTx) -> Result<TxEnvelope, StoreError> {
    TxEnvelope::decode_2718(&mut stored.encoded.as_ref()).map_err(|e| StoreError::Corrupt(format!("transaction: {e}")))
}

pub fn rpc_tx(tx: TxEnvelope, sender: Address, header: Option<(&Header, B256, u64)>) -> Transaction {
    let (block_hash, block_number, index, price, ts) = match header {
        Some((h, hash, index)) => {
            (Some(hash), Some(h.number), Some(index), Some(tx.effective_gas_price(h.base_fee_per_gas)), Some(h.timestamp))
        }
        None => (None, None, None, None, None),
    };
    Transaction {
        inner: Recovered::new_unchecked(tx, sender),
        block_hash,
        block_number,
        transaction_index: index,
        effective_gas_price: price,
        block_timestamp: ts,
    }
}

/// The RPC header of a stored header.
pub fn rpc_header(header: Header, hash: B256) -> alloy_rpc_types_eth::Header {
    let size = alloy_rlp::Encodable::length(&header);
    alloy_rpc_types_eth::Header { hash, inner: header, total_difficulty: Some(U256::ZERO), size: Some(U256::from(size)) }
}

/// A block with transaction hashes or full transactions.
pub fn rpc_block(reader: &StoreReader, header: Header, hash: B256, full: bool) -> Result<Block, StoreError> {
    let hashes = reader.block_tx_hashes(header.number)?;
    let mut stored_txs = Vec::with_capacity(hashes.len());
    for tx_hash in &hashes {
        stored_txs.push(reader.transaction(tx_hash)?.ok_or_else(|| StoreError::Corrupt(format!("missing tx {tx_hash}")))?);
    }
    let size = block_size(&header, &stored_txs);
    let transactions = if full {
        let mut txs = Vec::with_capacity(stored_txs.len());
        for (index, stored) in stored_txs.iter().enumerate() {
            txs.push(rpc_tx(decode_tx(stored)?, stored.sender, Some((&header, hash, index as u64))));
        }
        BlockTransactions::Full(txs)
    } else {
        BlockTransactions::Hashes(hashes)
    };
    let mut rpc_header = rpc_header(header, hash);
    rpc_header.size = Some(U256::from(size));
    Ok(Block { header: rpc_header, uncles: Vec::new(), transactions, withdrawals: Some(Default::default()) })
}

/// Length of the block's RLP: [header, transactions, uncles (empty), withdrawals (empty)].
fn block_size(header: &Header, txs: &[StoredTx]) -> usize {
    let tx_items: usize = txs
        .iter()
        .map(|tx| {
            let len = tx.encoded.len();
            // A legacy transaction is an RLP list as it is; a typed one is wrapped as a string.
            if tx.encoded.first().is_some_and(|b| *b >= 0xc0) { len } else { alloy_rlp::length_of_length(len) + len }
        })
        .sum();
    let payload = alloy_rlp::Encodable::length(header) + alloy_rlp::length_of_length(tx_items) + tx_items + 2;
    alloy_rlp::length_of_length(payload) + payload
}

/// Receipts of one block, in RPC form.
pub fn rpc_receipts(reader: &StoreReader, header: &Header, hash: B256) -> Result<Vec<TransactionReceipt>, StoreError> {
    let receipts = reader.receipts(header.number)?;
    let hashes = reader.block_tx_hashes(header.number)?;
    let mut out = Vec::with_capacity(receipts.len());
    let (mut log_index, mut previous_gas) = (0u64, 0u64);
    for (index, (receipt, tx_hash)) in receipts.into_iter().zip(hashes).enumerate() {
        let stored = reader.transaction(&tx_hash)?.ok_or_else(|| StoreError::Corrupt(format!("missing tx {tx_hash}")))?;
        let (logs, cumulative) = (receipt.logs().len() as u64, receipt.cumulative_gas_used());
        let meta = LogMeta::of(header, hash, tx_hash, index as u64);
        out.push(rpc_receipt(header, meta, &stored, receipt, previous_gas, log_index)?);
        (log_index, previous_gas) = (log_index + logs, cumulative);
    }
    Ok(out)
}

/// The receipt of one stored transaction: its block's receipts are read for the gas and log
/// positions before it, but only its own transaction is decoded.
pub fn rpc_receipt_of(reader: &StoreReader, header: &Header, hash: B256, tx_hash: B256, stored: &StoredTx) -> Result<Option<TransactionReceipt>, StoreError> {
    let mut receipts = reader.receipts(header.number)?;
    let index = stored.index as usize;
    if index >= receipts.len() {
        return Ok(None);
    }
    let log_index = receipts[..index].iter().map(|r| r.logs().len() as u64).sum();
    let previous_gas = index.checked_sub(1).map_or(0, |i| receipts[i].cumulative_gas_used());
    let receipt = receipts.swap_remove(index);
    let meta = LogMeta::of(header, hash, tx_hash, stored.index.into());
    Ok(Some(rpc_receipt(header, meta, stored, receipt, previous_gas, log_index)?))
}

/// One receipt in RPC form, from the gas used and the logs emitted before it in its block.
fn rpc_receipt(header: &Header, meta: LogMeta, stored: &StoredTx, receipt: ReceiptEnvelope, previous_gas: u64, mut log_index: u64) -> Result<TransactionReceipt, StoreError> {
    let tx = decode_tx(stored)?;
    let gas_used = receipt.cumulative_gas_used() - previous_gas;
    let (tx_hash, index, block_hash) = (meta.tx_hash, meta.tx_index, meta.block_hash);
    let inner = receipt.map_logs(|log| {
        let rpc = meta.log(log, log_index);
        log_index += 1;
        rpc
    });
    let contract_address = tx.kind().is_create().then(|| stored.sender.create(tx.nonce()));
    Ok(TransactionReceipt {
        inner,
        transaction_hash: tx_hash,
        transaction_index: Some(index),
        block_hash: Some(block_hash),
        block_number: Some(header.number),
        gas_used,
        effective_gas_price: tx.effective_gas_price(header.base_fee_per_gas),
        blob_gas_used: None,
        blob_gas_price: None,
        from: stored.sender,
        to: tx.to(),
        contract_address,
    })
}

/// Where a log sits in the chain.
pub struct LogMeta {
    pub block_hash: B256,
    pub block_number: u64,
    pub timestamp: u64,
    pub tx_hash: B256,
    pub tx_index: u64,
}

impl LogMeta {
    /// Transaction `tx_index` (`tx_hash`) of the block `header` (`hash`).
    pub fn of(header: &Header, hash: B256, tx_hash: B256, tx_index: u64) -> Self {
        Self { block_hash: hash, block_number: header.number, timestamp: header.timestamp, tx_hash, tx_index }
    }

    pub fn log(&self, log: alloy_primitives::Log, log_index: u64) -> Log {
        Log {
            inner: log,
            block_hash: Some(self.block_hash),
            block_number: Some(self.block_number),
            block_timestamp: Some(self.timestamp),
            transaction_hash: Some(self.tx_hash),
            transaction_index: Some(self.tx_index),
            log_index: Some(log_index),
            removed: false,
        }
    }
}

