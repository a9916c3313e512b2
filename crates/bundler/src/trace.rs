//! The node's `erc7562Tracer` output (geth's format), as validation reads it.

use alloy_primitives::{Address, B256, Bytes, U256};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Slots {
    #[serde(default)]
    pub reads: BTreeMap<B256, Vec<B256>>,
    #[serde(default)]
    pub writes: BTreeMap<B256, u64>,
    #[serde(default)]
    pub transient_reads: BTreeMap<B256, u64>,
    #[serde(default)]
    pub transient_writes: BTreeMap<B256, u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractSize {
    pub contract_size: u64,
    pub opcode: u8,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Frame {
    #[serde(rename = "type")]
    pub kind: String,
    pub from: Address,
    #[serde(default)]
    pub to: Option<Address>,
    #[serde(default)]
    pub input: Bytes,
    #[serde(default)]
    pub output: Option<Bytes>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub value: Option<U256>,
    #[serde(default)]
    pub gas_used: alloy_primitives::U64,
    #[serde(default)]
    pub accessed_slots: Slots,
    #[serde(default)]
    pub ext_code_access_info: Vec<Address>,
    /// Opcode as `0x54` -> times used.
    #[serde(default)]
    pub used_opcodes: BTreeMap<String, u64>,
    #[serde(default)]
    pub contract_size: BTreeMap<Address, ContractSize>,
    #[serde(default)]
    pub out_of_gas: bool,
    #[serde(default)]
    pub keccak: Vec<Bytes>,
    #[serde(default)]
    pub calls: Vec<Frame>,
}

impl Frame {
    /// The opcodes used, as bytes.
    pub fn opcodes(&self) -> impl Iterator<Item = u8> + '_ {
        self.used_opcodes.keys().filter_map(|k| k.strip_prefix("0x").and_then(|h| u8::from_str_radix(h, 16).ok()))
    }

    /// Whose storage the frame's SLOAD and SSTORE touch: the caller's for a delegate call.
    pub fn storage_address(&self) -> Option<Address> {
        match self.kind.as_str() {
            "DELEGATECALL" | "CALLCODE" => Some(self.from),
            _ => self.to,
        }
    }

    /// The 4-byte selector the frame was called with.
    pub fn selector(&self) -> Option<[u8; 4]> {
        self.input.get(..4).and_then(|s| s.try_into().ok())
    }

    /// This frame and every frame below it.
    pub fn walk(&self) -> Vec<&Frame> {
        let mut out = vec![self];
        let mut i = 0;
        while i < out.len() {
            out.extend(out[i].calls.iter());
            i += 1;
        }
        out
    }
}
