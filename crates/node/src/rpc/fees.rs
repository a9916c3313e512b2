//! `eth_feeHistory`: base fees, gas-used ratios and tip percentiles of recent blocks.

use super::convert;
use super::error::{self, RpcResult};
use super::eth::EthRpc;
use crate::chain::{Chain, next_base_fee};
use crate::storage::StoreReader;
use alloy_consensus::Transaction;
use alloy_rpc_types_eth::{BlockNumberOrTag, FeeHistory};

const MAX_BLOCKS: u64 = 1024;
const MAX_PERCENTILES: usize = 100;

pub fn fee_history(
    chain: &Chain,
    reader: &StoreReader,
    count: u64,
    newest: BlockNumberOrTag,
    percentiles: Option<Vec<f64>>,
) -> RpcResult<FeeHistory> {
    if let Some(p) = &percentiles {
        if p.len() > MAX_PERCENTILES {
            return Err(error::invalid_params(format!("too many reward percentiles (at most {MAX_PERCENTILES})")));
        }
        if p.iter().any(|v| !(0.0..=100.0).contains(v)) || p.windows(2).any(|w| w[0] > w[1]) {
            return Err(error::invalid_params("reward percentiles must be ascending values in [0, 100]"));
        }
    }
    let newest = EthRpc::number_of(reader, newest)?.ok_or_else(|| error::invalid_params("request beyond head block"))?;
    let count = count.min(MAX_BLOCKS).min(newest + 1);
    if count == 0 {
        return Ok(FeeHistory::default());
    }
    let oldest = newest + 1 - count;
    let mut history = FeeHistory { oldest_block: oldest, ..Default::default() };
    let mut rewards = Vec::new();
    let mut last = None;
    for number in oldest..=newest {
        let header = reader.header(number)?.ok_or_else(|| error::internal("missing header"))?;
        let base_fee = header.base_fee_per_gas.unwrap_or_default();
        history.base_fee_per_gas.push(u128::from(base_fee));
        history.gas_used_ratio.push(header.gas_used as f64 / header.gas_limit.max(1) as f64);
        history.base_fee_per_blob_gas.push(1);
        history.blob_gas_used_ratio.push(0.0);
        if let Some(percentiles) = &percentiles {
            rewards.push(block_rewards(reader, number, base_fee, header.gas_used, percentiles)?);
        }
        last = Some(header);
    }
    if let Some(header) = last {
        history.base_fee_per_gas.push(u128::from(next_base_fee(&chain.spec, &header)));
        history.base_fee_per_blob_gas.push(1);
    }
    history.reward = percentiles.map(|_| rewards);
    Ok(history)
}

/// Tips at the given percentiles of the block's gas, as geth weighs them.
fn block_rewards(reader: &StoreReader, number: u64, base_fee: u64, gas_used: u64, percentiles: &[f64]) -> RpcResult<Vec<u128>> {
    let hashes = reader.block_tx_hashes(number)?;
    if hashes.is_empty() || gas_used == 0 {
        return Ok(vec![0; percentiles.len()]);
    }
    let receipts = reader.receipts(number)?;
    let mut tips = Vec::with_capacity(hashes.len());
    let mut previous = 0u64;
    for (hash, receipt) in hashes.iter().zip(&receipts) {
        let stored = reader.transaction(hash)?.ok_or_else(|| error::internal("missing transaction"))?;
        let tx = convert::decode_tx(&stored)?;
        let cumulative = receipt.cumulative_gas_used();
        tips.push((tx.effective_tip_per_gas(base_fee).unwrap_or_default(), cumulative - previous));
        previous = cumulative;
    }
    tips.sort_unstable_by_key(|(tip, _)| *tip);
    let mut out = Vec::with_capacity(percentiles.len());
    let mut index = 0;
    let mut sum = tips[0].1;
    for p in percentiles {
        let threshold = (gas_used as f64 * p / 100.0) as u64;
        while sum < threshold && index + 1 < tips.len() {
            index += 1;
            sum += tips[index].1;
        }
        out.push(tips[index].0);
    }
    Ok(out)
}
