//! Everything between the node and revm: the EVM environment for a block, the conversion of
//! signed transactions, and the state database revm executes against (stored state under an
//! overlay of the writes made so far).

use crate::error::{PoolError, StoreError};
use crate::storage::{StateAt, StoreReader, StoredAccount};
use alloy_consensus::{Transaction, TxEnvelope, Typed2718};
use alloy_primitives::{
    Address, B256, Bytes, KECCAK256_EMPTY, U256,
    map::{HashMap, HashSet},
};
use ande_chain::ChainSpec;
use revm::context::either::Either;
use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::database_interface::DBErrorMarker;
use revm::primitives::hardfork::SpecId;
use revm::state::{Account, AccountInfo, Bytecode};
use revm::{Database, DatabaseCommit, DatabaseRef};
use std::sync::Arc;

pub const SPEC: SpecId = SpecId::PRAGUE;

impl DBErrorMarker for StoreError {}

/// The fields of a block that execution depends on.
#[derive(Debug, Clone, Copy)]
pub struct BlockContext {
    pub number: u64,
    pub timestamp: u64,
    pub beneficiary: Address,
    pub base_fee: u64,
    pub gas_limit: u64,
    pub prevrandao: B256,
}

/// The chain's configuration for revm. Calls (`eth_call`, estimates) skip the nonce check, and
/// the base-fee check when the request names no gas price, as geth does.
pub fn cfg_env(spec: &ChainSpec, for_call: bool) -> CfgEnv {
    let mut cfg = CfgEnv::new_with_spec(SPEC);
    cfg.chain_id = spec.chain_id;
    cfg.limit_contract_code_size = Some(spec.contract_size_limit);
    cfg.limit_contract_initcode_size = Some(spec.contract_size_limit * 2);
    if for_call {
        cfg.disable_nonce_check = true;
    }
    cfg
}

impl BlockContext {
    /// The context a stored block executed in.
    pub fn of(header: &alloy_consensus::Header) -> Self {
        Self {
            number: header.number,
            timestamp: header.timestamp,
            beneficiary: header.beneficiary,
            base_fee: header.base_fee_per_gas.unwrap_or_default(),
            gas_limit: header.gas_limit,
            prevrandao: header.mix_hash,
        }
    }
}

pub fn block_env(block: &BlockContext) -> BlockEnv {
    let mut env = BlockEnv {
        number: U256::from(block.number),
        beneficiary: block.beneficiary,
        timestamp: U256::from(block.timestamp),
        gas_limit: block.gas_limit,
        basefee: block.base_fee,
        difficulty: U256::ZERO,
        prevrandao: Some(block.prevrandao),
        ..Default::default()
    };
    // No blobs on this chain: the blob base fee stays at its minimum.
    env.set_blob_excess_gas_and_price(0, revm::primitives::eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE);
    env
}

/// The revm view of a signed transaction. Blob transactions are refused: the chain carries none.
pub fn tx_env(tx: &TxEnvelope, sender: Address) -> Result<TxEnv, PoolError> {
    if tx.is_eip4844() {
        return Err(PoolError::TypeNotSupported);
    }
    let authorization_list = tx
        .authorization_list()
        .map(|list| list.iter().map(|auth| Either::Right(auth.clone().into_recovered())).collect())
        .unwrap_or_default();
    Ok(TxEnv {
        tx_type: tx.ty(),
        caller: sender,
        gas_limit: tx.gas_limit(),
        gas_price: tx.max_fee_per_gas(),
        kind: tx.kind(),
        value: tx.value(),
        data: tx.input().clone(),
        nonce: tx.nonce(),
        chain_id: tx.chain_id(),
        access_list: tx.access_list().cloned().unwrap_or_default(),
        gas_priority_fee: tx.max_priority_fee_per_gas(),
        authorization_list,
        ..Default::default()
    })
}

/// Where stored state comes from: the store at some block.
#[derive(Clone)]
pub struct StoredState {
    reader: Arc<StoreReader>,
    at: StateAt,
}

impl StoredState {
    pub fn new(reader: Arc<StoreReader>, at: StateAt) -> Self {
        Self { reader, at }
    }
}

/// Stored state under an overlay of writes. The overlay holds exactly what was written since the
/// database was made: the changes of a block being built, or the overrides of a call.
pub struct StateDb {
    source: StoredState,
    pub accounts: HashMap<Address, Option<AccountInfo>>,
    pub storage: HashMap<Address, HashMap<U256, U256>>,
    /// Accounts whose stored storage no longer counts (created, destroyed, or overridden whole).
    cleared: HashSet<Address>,
    pub codes: HashMap<B256, Bytecode>,
}

impl StateDb {
    pub fn new(source: StoredState) -> Self {
        Self {
            source,
            accounts: HashMap::default(),
            storage: HashMap::default(),
            cleared: HashSet::default(),
            codes: HashMap::default(),
        }
    }

    /// Whether the writes so far changed `address`'s storage (or destroyed the account).
    pub fn storage_touched(&self, address: &Address) -> bool {
        self.storage.contains_key(address) || self.cleared.contains(address) || matches!(self.accounts.get(address), Some(None))
    }

    /// Credits a transaction's base fee to the chain's sink, if it has one, instead of burning it.
    pub fn credit_base_fee(&mut self, sink: Option<Address>, gas_used: u64, base_fee: u64) -> Result<(), StoreError> {
        let Some(sink) = sink else { return Ok(()) };
        let mut info = self.basic_ref(sink)?.unwrap_or_default();
        info.balance = info.balance.saturating_add(U256::from(gas_used) * U256::from(base_fee));
        self.accounts.insert(sink, Some(info));
        Ok(())
    }

    /// Replaces an account's fields, as a state override does.
    pub fn override_account(
        &mut self,
        address: Address,
        balance: Option<U256>,
        nonce: Option<u64>,
        code: Option<Bytes>,
    ) -> Result<(), StoreError> {
        let mut info = self.basic_ref(address)?.unwrap_or_default();
        if let Some(balance) = balance {
            info.balance = balance;
        }
        if let Some(nonce) = nonce {
            info.nonce = nonce;
        }
        if let Some(code) = code {
            let bytecode = Bytecode::new_raw(code);
            info.code_hash = bytecode.hash_slow();
            self.codes.insert(info.code_hash, bytecode.clone());
            info.code = Some(bytecode);
        }
        self.accounts.insert(address, Some(info));
        Ok(())
    }

    /// Sets storage slots; with `replace_all`, every other slot of the account reads zero.
    pub fn override_storage(&mut self, address: Address, slots: impl IntoIterator<Item = (U256, U256)>, replace_all: bool) {
        if replace_all {
            self.cleared.insert(address);
            self.storage.remove(&address);
        }
        self.storage.entry(address).or_default().extend(slots);
    }

    fn info_from(account: StoredAccount) -> AccountInfo {
        AccountInfo {
            balance: account.balance,
            nonce: account.nonce,
            code_hash: account.code_hash,
            code: if account.code_hash == KECCAK256_EMPTY { Some(Bytecode::default()) } else { None },
            ..Default::default()
        }
    }
}

impl DatabaseRef for StateDb {
    type Error = StoreError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, StoreError> {
        if let Some(account) = self.accounts.get(&address) {
            return Ok(account.clone());
        }
        Ok(self.source.reader.account(&address, self.source.at)?.map(Self::info_from))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, StoreError> {
        if code_hash == KECCAK256_EMPTY || code_hash == B256::ZERO {
            return Ok(Bytecode::default());
        }
        if let Some(code) = self.codes.get(&code_hash) {
            return Ok(code.clone());
        }
        let code = self.source.reader.code(&code_hash)?.ok_or_else(|| StoreError::Corrupt(format!("missing code {code_hash}")))?;
        Ok(Bytecode::new_raw(code))
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, StoreError> {
        if let Some(value) = self.storage.get(&address).and_then(|s| s.get(&index)) {
            return Ok(*value);
        }
        if self.cleared.contains(&address) {
            return Ok(U256::ZERO);
        }
        self.source.reader.storage(&address, &index, self.source.at)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, StoreError> {
        Ok(self.source.reader.block_hash(number)?.unwrap_or_default())
    }
}

impl Database for StateDb {
    type Error = StoreError;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, StoreError> {
        self.basic_ref(address)
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, StoreError> {
        self.code_by_hash_ref(code_hash)
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, StoreError> {
        self.storage_ref(address, index)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, StoreError> {
        self.block_hash_ref(number)
    }
}

impl DatabaseCommit for StateDb {
    fn commit(&mut self, changes: alloy_primitives::map::AddressMap<Account>) {
        for (address, account) in changes {
            if !account.is_touched() {
                continue;
            }
            // EIP-161: touched empty accounts are removed; so are destroyed ones.
            if account.is_selfdestructed() || account.state_clear_aware_is_empty(SPEC) {
                self.accounts.insert(address, None);
                self.storage.remove(&address);
                self.cleared.insert(address);
                continue;
            }
            if account.is_created() {
                self.storage.remove(&address);
                self.cleared.insert(address);
            }
            let mut info = account.info;
            if let Some(code) = info.code.take() {
                if info.code_hash != KECCAK256_EMPTY && !self.codes.contains_key(&info.code_hash) {
                    self.codes.insert(info.code_hash, code.clone());
                }
                info.code = Some(code);
            }
            let slots = self.storage.entry(address).or_default();
            for (slot, value) in account.storage {
                if value.is_changed() {
                    slots.insert(slot, value.present_value);
                }
            }
            self.accounts.insert(address, Some(info));
        }
    }
}
