//! ERC-7562's validation rules, applied to the trace of `simulateValidation`: which opcodes,
//! storage, code and calls each entity's validation may use. The rule names in the messages are
//! the ERC's.

use crate::errors::{self, RpcError};
use crate::trace::Frame;
use crate::entity::{self, Entity};
use ande_contracts::userop::UserOperation;
use alloy_primitives::{Address, B256, U256, keccak256};
use ande_contracts::abi::{IEntryPoint, StakeInfo, ValidationResult};
use alloy_sol_types::SolCall;
use revm::bytecode::opcode::{self, OpCode};
use std::collections::{BTreeMap, BTreeSet};

/// What the chain counts as staked (ERC-7562's MIN_STAKE_VALUE and MIN_UNSTAKE_DELAY).
#[derive(Debug, Clone, Copy)]
pub struct StakeRules {
    pub min_stake: U256,
    pub min_unstake_delay: u64,
}

impl StakeRules {
    pub fn is_staked(&self, info: &StakeInfo) -> bool {
        info.stake >= self.min_stake && info.unstakeDelaySec >= U256::from(self.min_unstake_delay)
    }
}

/// Which of the operation's entities are staked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Staked {
    pub account: bool,
    pub factory: bool,
    pub paymaster: bool,
}

impl Staked {
    pub fn of(&self, entity: Entity) -> bool {
        match entity {
            Entity::Account => self.account,
            Entity::Factory => self.factory,
            Entity::Paymaster => self.paymaster,
            Entity::Aggregator => false,
        }
    }
}

/// What a validation that passed depended on.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    pub staked: Staked,
    /// Storage the validation read in contracts it did not write, with the values read: the
    /// conditions its bundle is sent under.
    pub reads: BTreeMap<Address, BTreeMap<U256, B256>>,
    /// Every contract but the sender whose storage the validation touched: a sender among them
    /// later is STO-041 at the second validation.
    pub storage: BTreeSet<Address>,
}

/// [OP-011] and [OP-080]'s opcodes, never allowed, or only to staked entities.
const BANNED: [u8; 13] = [
    opcode::ORIGIN,
    opcode::GASPRICE,
    opcode::BLOCKHASH,
    opcode::COINBASE,
    opcode::TIMESTAMP,
    opcode::NUMBER,
    opcode::DIFFICULTY,
    opcode::GASLIMIT,
    opcode::BASEFEE,
    opcode::BLOBHASH,
    opcode::BLOBBASEFEE,
    opcode::INVALID,
    opcode::SELFDESTRUCT,
];
const STAKED_ONLY: [u8; 2] = [opcode::BALANCE, opcode::SELFBALANCE];
/// [OP-062]: the precompiles validation may call (0x01..=0x11 and EIP-7951's P256VERIFY).
fn is_allowed_precompile(address: &Address) -> bool {
    let value = U256::from_be_slice(address.as_slice());
    (U256::from(1)..=U256::from(0x11)).contains(&value) || value == U256::from(0x100)
}

/// Storage slot numbers "associated" with `address`: the address itself, and
/// keccak(address ++ x) + 0..128 for the preimages the validation hashed.
struct Associated {
    bases: BTreeMap<Address, Vec<U256>>,
}

impl Associated {
    fn new(preimages: &[alloy_primitives::Bytes]) -> Self {
        let mut bases: BTreeMap<Address, Vec<U256>> = BTreeMap::new();
        for preimage in preimages {
            if preimage.len() >= 32 && preimage[..12].iter().all(|b| *b == 0) {
                let address = Address::from_slice(&preimage[12..32]);
                bases.entry(address).or_default().push(U256::from_be_bytes(keccak256(preimage).0));
            }
        }
        Self { bases }
    }

    fn is(&self, slot: &B256, address: &Address) -> bool {
        if *slot == address.into_word() {
            return true;
        }
        let slot = U256::from_be_bytes(slot.0);
        self.bases.get(address).is_some_and(|bases| bases.iter().any(|base| slot >= *base && slot < base.saturating_add(U256::from(128))))
    }
}

/// Everything one entity's validation frame may look at.
struct Context<'a> {
    op: &'a UserOperation,
    entry_point: Address,
    staked: Staked,
    associated: Associated,
    /// The senders of the mempool's operations (STO-040, STO-041); the operation's own is
    /// not another's.
    mempool_senders: &'a BTreeSet<Address>,
}

fn violation(rule: &str, message: String) -> RpcError {
    RpcError::new(errors::OPCODE_VALIDATION, format!("{rule}: {message}"))
}

fn needs_stake(rule: &str, message: String) -> RpcError {
    RpcError::new(errors::STAKE_TOO_LOW, format!("{rule}: {message}"))
}

/// Applies the rules to a validation trace; what the validation depended on when it passes.
pub fn analyse(
    op: &UserOperation,
    entry_point: Address,
    sender_creator: Address,
    result: &ValidationResult,
    trace: &Frame,
    stake: &StakeRules,
    mempool_senders: &BTreeSet<Address>,
) -> Result<Analysis, RpcError> {
    let staked = Staked {
        account: stake.is_staked(&result.senderInfo),
        factory: op.factory.is_some() && stake.is_staked(&result.factoryInfo),
        paymaster: op.paymaster.is_some() && stake.is_staked(&result.paymasterInfo),
    };
    // [EREP-050], [LIM-020]
    let context_len = result.returnInfo.paymasterContext.len();
    if context_len > 0 && !staked.paymaster {
        return Err(needs_stake("EREP-050", "an unstaked paymaster may not return a context".into()));
    }
    if context_len > 2048 {
        return Err(violation("LIM-020", format!("the paymaster's context is {context_len} bytes, more than 2048")));
    }
    // [STO-040]: an entity may not be another operation's sender.
    for (entity, address) in entity::named(op) {
        if address != op.sender && mempool_senders.contains(&address) {
            return Err(violation("STO-040", format!("the {entity} {address} is the sender of another operation in the mempool")));
        }
    }
    let ctx = Context { op, entry_point, staked, associated: Associated::new(&trace.keccak), mempool_senders };
    let mut analysis = Analysis { staked, ..Default::default() };
    let written = written_addresses(trace);
    for call in &trace.calls {
        let Some(to) = call.to else { continue };
        if to == sender_creator {
            // The deployment frame: the EntryPoint's SenderCreator calls the factory.
            for deploy in call.calls.iter().filter(|c| c.from == sender_creator && c.to == op.factory) {
                check_entity(&ctx, Entity::Factory, deploy, &written, &mut analysis)?;
            }
        } else if to == op.sender {
            check_entity(&ctx, Entity::Account, call, &written, &mut analysis)?;
        } else if Some(to) == op.paymaster {
            check_entity(&ctx, Entity::Paymaster, call, &written, &mut analysis)?;
        }
    }
    Ok(analysis)
}

/// Contracts whose storage any frame of the validation wrote.
fn written_addresses(trace: &Frame) -> BTreeSet<Address> {
    trace
        .walk()
        .into_iter()
        .filter(|f| !f.accessed_slots.writes.is_empty() || !f.accessed_slots.transient_writes.is_empty() || matches!(f.kind.as_str(), "CREATE" | "CREATE2"))
        .filter_map(|f| f.storage_address())
        .collect()
}

fn check_entity(ctx: &Context, entity: Entity, top: &Frame, written: &BTreeSet<Address>, analysis: &mut Analysis) -> Result<(), RpcError> {
    let entity_address = top.to.unwrap_or_default();
    let staked = ctx.staked.of(entity);
    let mut creates = 0usize;
    let mut stack = vec![top];
    while let Some(frame) = stack.pop() {
        let Some(to) = frame.to else { continue };
        if to == ctx.entry_point && frame.from != ctx.entry_point {
            check_entry_point_call(ctx, entity, frame)?;
            // The EntryPoint's own code is trusted; what it does inside is not the entity's.
            continue;
        }
        // [OP-020]
        if frame.out_of_gas {
            return Err(violation("OP-020", format!("the {entity} reverted out of gas")));
        }
        // [OP-061]
        if frame.kind == "CALL" && frame.value.is_some_and(|v| !v.is_zero()) {
            return Err(violation("OP-061", format!("the {entity} called {to} with value")));
        }
        check_opcodes(ctx, entity, staked, frame)?;
        match frame.kind.as_str() {
            "CREATE2" => {
                creates += 1;
                // [OP-031]: the factory deploys the sender, once; [EREP-060]: more when staked.
                let allowed = ctx.staked.factory && matches!(entity, Entity::Factory | Entity::Account) || entity == Entity::Factory && to == ctx.op.sender && creates == 1;
                if !allowed {
                    return Err(violation("OP-031", format!("the {entity} used CREATE2 other than to deploy the sender once")));
                }
            }
            "CREATE" => {}
            _ => {}
        }
        // [OP-054]: the EntryPoint's code is not to be looked at.
        if frame.ext_code_access_info.contains(&ctx.entry_point) {
            return Err(violation("OP-054", format!("the {entity} accessed the EntryPoint's code")));
        }
        // [OP-041], [OP-042], [OP-062]
        for (address, size) in &frame.contract_size {
            if size.contract_size == 0 && *address != ctx.op.sender && !is_allowed_precompile(address) {
                let op_name = OpCode::new(size.opcode).map_or("an opcode".to_string(), |o| o.as_str().to_string());
                return Err(violation("OP-041", format!("the {entity} used {op_name} on {address}, which has no code")));
            }
        }
        check_storage(ctx, entity, entity_address, staked, frame, written, analysis)?;
        stack.extend(frame.calls.iter());
    }
    Ok(())
}

/// [OP-011], [OP-012], [OP-013], [OP-032], [OP-080], [EREP-060]
fn check_opcodes(ctx: &Context, entity: Entity, staked: bool, frame: &Frame) -> Result<(), RpcError> {
    for op in frame.opcodes() {
        let name = || OpCode::new(op).map_or(format!("{op:#04x}"), |o| o.as_str().to_string());
        if BANNED.contains(&op) {
            return Err(violation("OP-011", format!("the {entity} used the banned opcode {}", name())));
        }
        if op == opcode::GAS {
            return Err(violation("OP-012", format!("the {entity} used GAS other than right before a call")));
        }
        if OpCode::new(op).is_none() {
            return Err(violation("OP-013", format!("the {entity} used the unassigned opcode {op:#04x}")));
        }
        if STAKED_ONLY.contains(&op) && !staked {
            return Err(needs_stake("OP-080", format!("the unstaked {entity} used {}", name())));
        }
        if op == opcode::CREATE {
            let sender_itself = entity == Entity::Account && frame.storage_address() == Some(ctx.op.sender) && ctx.op.factory.is_some();
            let staked_factory = ctx.staked.factory && matches!(entity, Entity::Factory | Entity::Account);
            if !sender_itself && !staked_factory {
                return Err(violation("OP-011", format!("the {entity} used CREATE")));
            }
        }
    }
    Ok(())
}

/// [OP-052], [OP-053], [OP-054], [OP-055]: the calls an entity may make into the EntryPoint.
fn check_entry_point_call(ctx: &Context, entity: Entity, frame: &Frame) -> Result<(), RpcError> {
    let from_sender = frame.from == ctx.op.sender;
    let allowed = match frame.selector() {
        None => frame.input.is_empty() && from_sender,
        Some(selector) if selector == IEntryPoint::depositToCall::SELECTOR => from_sender || Some(frame.from) == ctx.op.factory,
        Some(selector) if selector == IEntryPoint::incrementNonceCall::SELECTOR => from_sender,
        Some(_) => false,
    };
    if !allowed {
        return Err(violation("OP-054", format!("the {entity} called the EntryPoint other than depositTo, incrementNonce or its fallback")));
    }
    Ok(())
}

/// [STO-010], [STO-021], [STO-022], [STO-031], [STO-032], [STO-033], [STO-041], [OP-070]
fn check_storage(ctx: &Context, entity: Entity, entity_address: Address, staked: bool, frame: &Frame, written: &BTreeSet<Address>, analysis: &mut Analysis) -> Result<(), RpcError> {
    let Some(address) = frame.storage_address() else { return Ok(()) };
    let slots = &frame.accessed_slots;
    let accessed = slots
        .reads
        .keys()
        .map(|s| (s, false))
        .chain(slots.writes.keys().map(|s| (s, true)))
        .chain(slots.transient_reads.keys().map(|s| (s, false)))
        .chain(slots.transient_writes.keys().map(|s| (s, true)));
    let sender = ctx.op.sender;
    let entities: BTreeSet<Address> = std::iter::once(sender).chain(entity::named(ctx.op).map(|(_, a)| a)).collect();
    for (slot, is_write) in accessed {
        // A write in the same frame counts for reads of that slot too.
        let is_write = is_write || slots.writes.contains_key(slot) || slots.transient_writes.contains_key(slot);
        if address == sender {
            record(address, slot, slots, written, analysis);
            continue;
        }
        analysis.storage.insert(address);
        // Not the operation's own sender: that was handled above.
        if ctx.mempool_senders.contains(&address) {
            return Err(violation("STO-041", format!("the {entity} accessed storage of {address}, the sender of another operation in the mempool")));
        }
        if ctx.associated.is(slot, &sender) {
            if ctx.op.factory.is_none() || ctx.staked.factory {
                record(address, slot, slots, written, analysis);
                continue;
            }
            return Err(needs_stake("STO-022", format!("the {entity} accessed storage of {address} associated with the sender while an unstaked factory deploys it")));
        }
        // What a stake would allow: the entity's own storage, storage associated with it, and
        // reads of any non-entity contract.
        let own = address == entity_address;
        let associated_with_entity = ctx.associated.is(slot, &entity_address) && !entities.contains(&address);
        let read_only = !is_write && !entities.contains(&address);
        let rule = if own { "STO-031" } else if associated_with_entity { "STO-032" } else { "STO-033" };
        if own || associated_with_entity || read_only {
            if staked {
                record(address, slot, slots, written, analysis);
                continue;
            }
            let kind = if is_write { "wrote" } else { "read" };
            return Err(needs_stake(rule, format!("the unstaked {entity} {kind} slot {slot} of {address}")));
        }
        let kind = if is_write { "write to" } else { "read of" };
        return Err(violation("STO-010", format!("the {entity} made a forbidden {kind} slot {slot} of {address}")));
    }
    Ok(())
}

/// Notes a read the validation depended on, unless the validation itself wrote to that contract
/// (its values then are the simulation's, not the chain's).
fn record(address: Address, slot: &B256, slots: &crate::trace::Slots, written: &BTreeSet<Address>, analysis: &mut Analysis) {
    if written.contains(&address) {
        return;
    }
    if let Some(value) = slots.reads.get(slot).and_then(|v| v.first()) {
        analysis.reads.entry(address).or_default().insert(U256::from_be_bytes(slot.0), *value);
    }
}
