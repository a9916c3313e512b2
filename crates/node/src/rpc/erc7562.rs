//! `erc7562Tracer`: the trace ERC-4337 bundlers validate user operations with, as geth 1.16's
//! native tracer of that name writes it, so a bundler that validates against geth works against
//! this node unchanged. Per call frame: the opcodes used (without the arithmetic and stack
//! opcodes geth leaves out by default), the storage slots read (with their value) and written,
//! transient storage, the addresses whose code was looked at, the code size of every EXTCODE* and
//! CALL* target, and whether it ran out of gas; the KECCAK256 preimages of the whole call.
//!
//! Where revm-inspectors' tracer of the same name differs from geth, this one follows geth: a
//! GAS counts only when the next opcode is not a call (`gas()` passed to CALL is allowed by
//! ERC-7562); an EXTCODESIZE followed by ISZERO (a "has code" check) is not an access to the
//! code; CALL targets have their code size recorded too; SELFDESTRUCT opens a frame.

use crate::evm::StateDb;
use alloy_primitives::{Address, B256, Bytes, Log, U256, map::HashSet};
use revm::bytecode::opcode;
use revm::context::ContextTr;
use revm::context_interface::JournalTr;
use revm::inspector::JournalExt;
use revm::interpreter::interpreter_types::{InputsTr, Jumps};
use revm::interpreter::{CallInputs, CallOutcome, CallScheme, CreateInputs, CreateOutcome, InstructionResult, Interpreter};
use revm::{DatabaseRef, Inspector};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// geth's limit on the zero padding of a KECCAK256 preimage read past the end of memory.
const MAX_PADDING: usize = 1024 * 1024;

/// The tracer's options, as geth reads them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Erc7562Config {
    /// Opcodes left out of `usedOpcodes`; geth's default set when absent.
    #[serde(default)]
    pub ignored_opcodes: Option<Vec<alloy_primitives::U64>>,
    #[serde(default)]
    pub with_log: bool,
}

/// geth's default: PUSH0..SWAP16 and the arithmetic, comparison and bitwise opcodes.
fn default_ignored() -> HashSet<u8> {
    let mut set: HashSet<u8> = (opcode::PUSH0..=opcode::SWAP16).collect();
    set.extend([
        opcode::POP,
        opcode::ADD,
        opcode::SUB,
        opcode::MUL,
        opcode::DIV,
        opcode::EQ,
        opcode::LT,
        opcode::GT,
        opcode::SLT,
        opcode::SGT,
        opcode::SHL,
        opcode::SHR,
        opcode::AND,
        opcode::OR,
        opcode::NOT,
        opcode::ISZERO,
    ]);
    set
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessedSlots {
    pub reads: BTreeMap<B256, Vec<B256>>,
    pub writes: BTreeMap<B256, u64>,
    pub transient_reads: BTreeMap<B256, u64>,
    pub transient_writes: BTreeMap<B256, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractSize {
    pub contract_size: usize,
    pub opcode: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogFrame {
    pub address: Address,
    pub topics: Vec<B256>,
    pub data: Bytes,
    #[serde(with = "alloy_serde::quantity")]
    pub index: u64,
    #[serde(with = "alloy_serde::quantity")]
    pub position: u64,
}

/// One call frame, serialised as geth's `callFrameWithOpcodes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Frame {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub from: Address,
    #[serde(with = "alloy_serde::quantity")]
    pub gas: u64,
    #[serde(with = "alloy_serde::quantity")]
    pub gas_used: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Address>,
    pub input: Bytes,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Bytes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revert_reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<LogFrame>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<U256>,
    pub accessed_slots: AccessedSlots,
    pub ext_code_access_info: Vec<Address>,
    /// Opcode (as geth writes it, `0x54`) -> times used.
    pub used_opcodes: BTreeMap<String, u64>,
    pub contract_size: BTreeMap<Address, ContractSize>,
    pub out_of_gas: bool,
    /// The whole call's KECCAK256 preimages, sorted, on the outermost frame only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keccak: Vec<Bytes>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<Frame>,
    #[serde(skip)]
    opcodes: BTreeMap<u8, u64>,
    /// Logs emitted in this frame and below that are still in force (geth's log index counts
    /// only those).
    #[serde(skip)]
    live_logs: u64,
    #[serde(skip)]
    failed: bool,
}

impl Frame {
    fn new(kind: &'static str, from: Address, to: Address, input: Bytes, gas: u64, value: Option<U256>) -> Self {
        Self {
            kind,
            from,
            gas,
            gas_used: 0,
            to: Some(to),
            input,
            output: None,
            error: None,
            revert_reason: None,
            logs: Vec::new(),
            value,
            accessed_slots: AccessedSlots::default(),
            ext_code_access_info: Vec::new(),
            used_opcodes: BTreeMap::new(),
            contract_size: BTreeMap::new(),
            out_of_gas: false,
            keccak: Vec::new(),
            calls: Vec::new(),
            opcodes: BTreeMap::new(),
            live_logs: 0,
            failed: false,
        }
    }

    /// Records how the frame ended, as geth's `processOutput` does.
    fn finish(&mut self, result: InstructionResult, output: &Bytes, gas_used: u64) {
        self.gas_used = gas_used;
        self.used_opcodes = self.opcodes.iter().map(|(op, n)| (format!("{op:#x}"), *n)).collect();
        if result.is_ok() {
            self.output = (!output.is_empty()).then(|| output.clone());
            return;
        }
        self.failed = true;
        self.error = Some(error_message(result));
        if matches!(self.kind, "CREATE" | "CREATE2") {
            self.to = None;
        }
        if result == InstructionResult::Revert && !output.is_empty() {
            self.output = Some(output.clone());
            self.revert_reason = revert_reason(output);
        }
    }

    /// Logs of failed frames were never emitted; drops them, here and below.
    fn clear_failed_logs(&mut self, parent_failed: bool) {
        let failed = self.failed || parent_failed;
        if failed {
            self.logs.clear();
        }
        for call in &mut self.calls {
            call.clear_failed_logs(failed);
        }
    }
}

/// geth's error texts for a frame that did not succeed.
fn error_message(result: InstructionResult) -> String {
    use InstructionResult as R;
    match result {
        R::Revert => "execution reverted".into(),
        R::OutOfGas | R::MemoryOOG | R::MemoryLimitOOG | R::PrecompileOOG | R::InvalidOperandOOG | R::ReentrancySentryOOG => "out of gas".into(),
        R::InvalidFEOpcode => "invalid opcode: INVALID".into(),
        R::OpcodeNotFound => "invalid opcode".into(),
        R::InvalidJump => "invalid jump destination".into(),
        R::StackUnderflow => "stack underflow".into(),
        R::StackOverflow => "stack limit reached 1024".into(),
        R::CallNotAllowedInsideStatic | R::StateChangeDuringStaticCall => "write protection".into(),
        R::OutOfFunds => "insufficient balance for transfer".into(),
        R::CallTooDeep => "max call depth exceeded".into(),
        R::CreateCollision => "contract address collision".into(),
        R::CreateContractSizeLimit => "max code size exceeded".into(),
        R::CreateContractStartingWithEF => "invalid code: must not begin with 0xef".into(),
        R::CreateInitCodeSizeLimit => "max initcode size exceeded".into(),
        R::OutOfOffset => "return data out of bounds".into(),
        R::NonceOverflow => "nonce uint64 overflow".into(),
        R::OverflowPayment => "gas uint64 overflow".into(),
        other => format!("{other:?}"),
    }
}

fn is_out_of_gas(result: InstructionResult) -> bool {
    use InstructionResult as R;
    matches!(result, R::OutOfGas | R::MemoryOOG | R::MemoryLimitOOG | R::PrecompileOOG | R::InvalidOperandOOG | R::ReentrancySentryOOG)
}

/// Solidity's `Error(string)` and `Panic(uint256)`, as geth's `abi.UnpackRevert` reads them.
fn revert_reason(output: &[u8]) -> Option<String> {
    use alloy_sol_types::{Panic, Revert, SolError};
    if let Ok(revert) = Revert::abi_decode(output) {
        return Some(revert.reason);
    }
    Panic::abi_decode(output).ok().map(|panic| panic.to_string())
}

fn is_ext(op: u8) -> bool {
    matches!(op, opcode::EXTCODESIZE | opcode::EXTCODECOPY | opcode::EXTCODEHASH)
}

fn is_call(op: u8) -> bool {
    matches!(op, opcode::CALL | opcode::CALLCODE | opcode::DELEGATECALL | opcode::STATICCALL)
}

/// The previous opcode and the top of its stack (for the EXTCODE* address).
#[derive(Clone, Copy)]
struct LastOp {
    op: u8,
    top: Option<U256>,
}

pub struct Erc7562Inspector {
    ignored: HashSet<u8>,
    with_log: bool,
    /// The open frames, outermost first.
    frames: Vec<Frame>,
    root: Option<Frame>,
    last: Option<LastOp>,
    /// An SLOAD whose value is read once it ran: (contract, slot).
    pending_read: Option<(Address, B256)>,
    keccak: BTreeSet<Bytes>,
}

impl Erc7562Inspector {
    pub fn new(config: Erc7562Config) -> Self {
        Self {
            // Opcodes are one byte: anything larger names none.
            ignored: config.ignored_opcodes.map_or_else(default_ignored, |ops| ops.into_iter().filter_map(|op| u8::try_from(op).ok()).collect()),
            with_log: config.with_log,
            frames: Vec::new(),
            root: None,
            last: None,
            pending_read: None,
            keccak: BTreeSet::new(),
        }
    }

    /// The trace of the transaction that ran: the outermost frame carries the transaction's gas
    /// limit and its gas used (refunds taken off), as a receipt says.
    pub fn into_frame(mut self, gas_limit: u64, tx_gas_used: u64) -> Frame {
        let mut root = self.root.take().or_else(|| self.frames.drain(..).next()).unwrap_or_else(|| Frame::new("CALL", Address::ZERO, Address::ZERO, Bytes::new(), 0, None));
        root.gas = gas_limit;
        root.gas_used = tx_gas_used;
        root.keccak = self.keccak.into_iter().collect();
        if self.with_log {
            root.clear_failed_logs(false);
        }
        root
    }

    fn enter(&mut self, frame: Frame) {
        self.frames.push(frame);
    }

    /// Closes the innermost frame; a frame that failed other than by reverting used all its gas.
    fn exit(&mut self, result: InstructionResult, output: &Bytes, spent: u64) {
        let Some(mut frame) = self.frames.pop() else { return };
        let gas_used = if result.is_ok_or_revert() { spent } else { frame.gas };
        frame.finish(result, output, gas_used);
        let Some(parent) = self.frames.last_mut() else {
            // The outermost frame: its out-of-gas flag stays unset, as geth leaves it.
            self.root = Some(frame);
            return;
        };
        frame.out_of_gas = is_out_of_gas(result);
        if !frame.failed {
            parent.live_logs += frame.live_logs;
        }
        parent.calls.push(frame);
    }

    /// The length of `address`'s code as the call sees it now (this transaction's changes
    /// included), read without warming the account.
    fn code_len<CTX: ContextTr<Db = StateDb, Journal: JournalExt>>(context: &CTX, address: Address) -> usize {
        let info = match context.journal_ref().evm_state().get(&address) {
            Some(account) => Some(account.info.clone()),
            None => context.db_ref().basic_ref(address).ok().flatten(),
        };
        let Some(info) = info else { return 0 };
        if let Some(code) = &info.code {
            return code.original_bytes().len();
        }
        context.db_ref().code_by_hash_ref(info.code_hash).map_or(0, |code| code.original_bytes().len())
    }

    fn live_log_count(&self) -> u64 {
        self.frames.iter().map(|f| f.live_logs).sum()
    }
}

/// The item `n` places below the top of the stack.
fn peek(stack: &[U256], n: usize) -> Option<U256> {
    stack.len().checked_sub(n + 1).map(|i| stack[i])
}

/// `memory[offset..offset + len]`, zero-padded past its end (geth's `GetMemoryCopyPadded`).
fn padded_copy(memory: &[u8], offset: U256, len: U256) -> Option<Bytes> {
    let (offset, len) = (usize::try_from(offset).ok()?, usize::try_from(len).ok()?);
    let end = offset.checked_add(len)?;
    if end.saturating_sub(memory.len()) > MAX_PADDING {
        return None;
    }
    let mut out = vec![0u8; len];
    if offset < memory.len() {
        let available = &memory[offset..end.min(memory.len())];
        out[..available.len()].copy_from_slice(available);
    }
    Some(out.into())
}

impl<CTX: ContextTr<Db = StateDb, Journal: JournalExt>> Inspector<CTX> for Erc7562Inspector {
    fn step(&mut self, interp: &mut Interpreter, context: &mut CTX) {
        let op = interp.bytecode.opcode();
        if op == opcode::REVERT || op == opcode::RETURN {
            self.last = None;
        }
        let stack = interp.stack.data();
        let top = peek(stack, 0);
        let Some(frame) = self.frames.last_mut() else { return };
        if let Some(last) = self.last {
            // [OP-051]: `extcodesize(a) == 0` is a check, not a use of the code.
            if is_ext(last.op) && !(last.op == opcode::EXTCODESIZE && op == opcode::ISZERO)
                && let Some(word) = last.top
            {
                frame.ext_code_access_info.push(Address::from_word(word.into()));
            }
            // [OP-012]: GAS is allowed right before a call.
            if last.op == opcode::GAS && !is_call(op) {
                *frame.opcodes.entry(opcode::GAS).or_default() += 1;
            }
        }
        // [OP-041]: the size of the code at every address looked at or called.
        if is_ext(op) || is_call(op) {
            let depth = if is_ext(op) { 0 } else { 1 };
            if let Some(word) = peek(stack, depth) {
                let address = Address::from_word(word.into());
                frame.contract_size.entry(address).or_insert_with(|| ContractSize { contract_size: Self::code_len(context, address), opcode: op });
            }
        }
        if op != opcode::GAS && !self.ignored.contains(&op) {
            *frame.opcodes.entry(op).or_default() += 1;
        }
        match (op, top) {
            (opcode::SLOAD, Some(slot)) => {
                let slot = B256::from(slot);
                let slots = &frame.accessed_slots;
                if !slots.reads.contains_key(&slot) && !slots.writes.contains_key(&slot) {
                    self.pending_read = Some((interp.input.target_address(), slot));
                }
            }
            (opcode::SSTORE, Some(slot)) => *frame.accessed_slots.writes.entry(B256::from(slot)).or_default() += 1,
            (opcode::TLOAD, Some(slot)) => *frame.accessed_slots.transient_reads.entry(B256::from(slot)).or_default() += 1,
            (opcode::TSTORE, Some(slot)) => *frame.accessed_slots.transient_writes.entry(B256::from(slot)).or_default() += 1,
            (opcode::KECCAK256, Some(offset)) => {
                if let Some(len) = peek(stack, 1) {
                    let memory = interp.memory.context_memory();
                    if let Some(preimage) = padded_copy(&memory, offset, len) {
                        self.keccak.insert(preimage);
                    }
                }
            }
            _ => {}
        }
        self.last = Some(LastOp { op, top });
    }

    fn step_end(&mut self, _interp: &mut Interpreter, context: &mut CTX) {
        let Some((address, slot)) = self.pending_read.take() else { return };
        // The value SLOAD read: the slot as this transaction left it so far.
        let value = context.journal_ref().evm_state().get(&address).and_then(|a| a.storage.get(&U256::from_be_bytes(slot.0))).map(|s| s.present_value);
        if let (Some(value), Some(frame)) = (value, self.frames.last_mut()) {
            frame.accessed_slots.reads.insert(slot, vec![B256::from(value)]);
        }
    }

    fn log(&mut self, _context: &mut CTX, log: Log) {
        if !self.with_log {
            return;
        }
        let index = self.live_log_count();
        let Some(frame) = self.frames.last_mut() else { return };
        frame.live_logs += 1;
        frame.logs.push(LogFrame { address: log.address, topics: log.topics().to_vec(), data: log.data.data, index, position: frame.calls.len() as u64 });
    }

    fn call(&mut self, context: &mut CTX, inputs: &mut CallInputs) -> Option<CallOutcome> {
        let (kind, from, value) = match inputs.scheme {
            CallScheme::Call => ("CALL", inputs.caller, Some(inputs.call_value())),
            CallScheme::CallCode => ("CALLCODE", inputs.caller, Some(inputs.call_value())),
            // The frame runs in the caller's context; it carries the value the caller got.
            CallScheme::DelegateCall => ("DELEGATECALL", inputs.target_address, Some(inputs.call_value())),
            CallScheme::StaticCall => ("STATICCALL", inputs.caller, None),
        };
        let input = inputs.input.bytes(context);
        self.enter(Frame::new(kind, from, inputs.bytecode_address, input, inputs.gas_limit, value));
        None
    }

    fn call_end(&mut self, _context: &mut CTX, _inputs: &CallInputs, outcome: &mut CallOutcome) {
        let result = &outcome.result;
        self.exit(result.result, &result.output, result.gas.total_gas_spent());
    }

    fn create(&mut self, context: &mut CTX, inputs: &mut CreateInputs) -> Option<CreateOutcome> {
        let kind = match inputs.scheme() {
            revm::context_interface::CreateScheme::Create => "CREATE",
            _ => "CREATE2",
        };
        let nonce = context.journal_ref().evm_state().get(&inputs.caller()).map_or(0, |a| a.info.nonce);
        let address = inputs.created_address(nonce);
        self.enter(Frame::new(kind, inputs.caller(), address, inputs.init_code().clone(), inputs.gas_limit(), Some(inputs.value())));
        None
    }

    fn create_end(&mut self, _context: &mut CTX, _inputs: &CreateInputs, outcome: &mut CreateOutcome) {
        if let (Some(frame), Some(address)) = (self.frames.last_mut(), outcome.address) {
            frame.to = Some(address);
        }
        let result = &outcome.result;
        self.exit(result.result, &result.output, result.gas.total_gas_spent());
    }

    fn selfdestruct(&mut self, contract: Address, target: Address, value: U256) {
        // geth opens and closes a frame of its own for it.
        let mut frame = Frame::new("SELFDESTRUCT", contract, target, Bytes::new(), 0, Some(value));
        frame.finish(InstructionResult::Stop, &Bytes::new(), 0);
        if let Some(parent) = self.frames.last_mut() {
            parent.calls.push(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preimages_are_padded_as_geth_pads_them() {
        let memory = [1u8, 2, 3];
        assert_eq!(padded_copy(&memory, U256::from(1), U256::from(4)).unwrap().as_ref(), &[2, 3, 0, 0]);
        assert_eq!(padded_copy(&memory, U256::from(10), U256::from(2)).unwrap().as_ref(), &[0, 0]);
        assert_eq!(padded_copy(&memory, U256::ZERO, U256::ZERO).unwrap().len(), 0);
        assert!(padded_copy(&memory, U256::ZERO, U256::from(MAX_PADDING + 10)).is_none());
        assert!(padded_copy(&memory, U256::MAX, U256::from(1)).is_none());
    }

    #[test]
    fn reverts_are_read_as_geth_reads_them() {
        use alloy_sol_types::{Revert, SolError};
        assert_eq!(revert_reason(&Revert::from("AA23 reverted").abi_encode()).as_deref(), Some("AA23 reverted"));
        assert_eq!(revert_reason(&[0xde, 0xad]), None);
    }
}
