//! Polled filters (`eth_newFilter` and friends). A filter not polled for five minutes expires,
//! as in geth.

use super::error::{self, RpcResult};
use super::eth::EthRpc;
use crate::chain::Chain;
use alloy_primitives::{B256, U256};
use alloy_rpc_types_eth::{BlockNumberOrTag, Filter, FilterChanges};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

const EXPIRY: Duration = Duration::from_secs(300);
const MAX_FILTERS: usize = 10_000;
const MAX_PENDING_HASHES: usize = 10_000;

enum Kind {
    Logs(Filter),
    Blocks,
    Pending(broadcast::Receiver<B256>),
}

struct Installed {
    kind: Kind,
    /// The last block whose changes were returned.
    last_block: u64,
    polled: Instant,
}

#[derive(Default)]
pub struct Filters {
    next_id: Mutex<u64>,
    installed: Mutex<HashMap<U256, Installed>>,
}

impl Filters {
    fn install(&self, kind: Kind, head: u64) -> U256 {
        let mut installed = self.installed.lock();
        installed.retain(|_, f| f.polled.elapsed() < EXPIRY);
        if installed.len() >= MAX_FILTERS {
            // Oldest-polled goes first.
            if let Some(oldest) = installed.iter().min_by_key(|(_, f)| f.polled).map(|(id, _)| *id) {
                installed.remove(&oldest);
            }
        }
        let mut next = self.next_id.lock();
        *next += 1;
        let id = U256::from(*next);
        installed.insert(id, Installed { kind, last_block: head, polled: Instant::now() });
        id
    }

    pub fn install_logs(&self, filter: Filter, head: u64) -> U256 {
        self.install(Kind::Logs(filter), head)
    }

    pub fn install_blocks(&self, head: u64) -> U256 {
        self.install(Kind::Blocks, head)
    }

    pub fn install_pending(&self, chain: &Chain) -> U256 {
        self.install(Kind::Pending(chain.pending_txs.subscribe()), chain.head().header.number)
    }

    pub fn uninstall(&self, id: U256) -> bool {
        self.installed.lock().remove(&id).is_some()
    }

    pub fn log_filter(&self, id: U256) -> RpcResult<Filter> {
        match self.installed.lock().get(&id).map(|f| &f.kind) {
            Some(Kind::Logs(filter)) => Ok(filter.clone()),
            Some(_) => Err(error::invalid_params("filter is not a log filter")),
            None => Err(error::server("filter not found")),
        }
    }

    /// What changed since the filter was last polled. The registry's lock is held only to claim
    /// the range, never across the scan; a scan that fails hands its range back, unless another
    /// poll claimed past it meanwhile.
    pub fn changes(&self, chain: &Chain, id: U256) -> RpcResult<FilterChanges> {
        let reader = chain.reader()?;
        let head = reader.head()?.unwrap_or_default();
        let (from, ranged) = {
            let mut installed = self.installed.lock();
            let filter = installed.get_mut(&id).ok_or_else(|| error::server("filter not found"))?;
            filter.polled = Instant::now();
            let from = filter.last_block + 1;
            match &mut filter.kind {
                Kind::Pending(rx) => return Ok(FilterChanges::Hashes(drain_pending(rx))),
                Kind::Blocks => {
                    filter.last_block = head.max(filter.last_block);
                    (from, None)
                }
                Kind::Logs(log_filter) => {
                    if from > head {
                        return Ok(FilterChanges::Empty);
                    }
                    let to = match log_filter.block_option.get_to_block() {
                        Some(BlockNumberOrTag::Number(n)) => (*n).min(head),
                        _ => head,
                    };
                    let start = match log_filter.block_option.get_from_block() {
                        Some(BlockNumberOrTag::Number(n)) => (*n).max(from),
                        _ => from,
                    };
                    filter.last_block = head;
                    if start > to {
                        return Ok(FilterChanges::Empty);
                    }
                    (from, Some(log_filter.clone().from_block(start).to_block(to)))
                }
            }
        };
        let scanned = match ranged {
            None => (from..=head).filter_map(|number| reader.block_hash(number).transpose()).collect::<Result<Vec<_>, _>>().map(FilterChanges::Hashes).map_err(Into::into),
            Some(ranged) => EthRpc::filter_logs_now(chain, &reader, &ranged).map(FilterChanges::Logs),
        };
        if scanned.is_err()
            && let Some(filter) = self.installed.lock().get_mut(&id).filter(|f| f.last_block == head)
        {
            filter.last_block = from - 1;
        }
        scanned
    }
}

/// The pending transactions' hashes a filter has not returned yet, at most MAX_PENDING_HASHES.
fn drain_pending(rx: &mut broadcast::Receiver<B256>) -> Vec<B256> {
    let mut hashes = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(hash) if hashes.len() < MAX_PENDING_HASHES => hashes.push(hash),
            Ok(_) | Err(broadcast::error::TryRecvError::Empty) | Err(broadcast::error::TryRecvError::Closed) => break,
            Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
        }
    }
    hashes
}
