//! ERC-4337 user operations as the RPC carries them (EntryPoint v0.7 and v0.8's unpacked form),
//! packed for the EntryPoint, hashed as it hashes them, and checked for what needs no state.

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_sol_types::{SolStruct, SolValue, eip712_domain};
use crate::abi::PackedUserOperation;
use serde::{Deserialize, Serialize};

/// The EntryPoint versions served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Version {
    V07,
    V08,
}

/// A user operation in the RPC's unpacked form. Gas fields and the signature may be left out
/// for an estimate (they read as zero and empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserOperation {
    pub sender: Address,
    pub nonce: U256,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factory: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factory_data: Option<Bytes>,
    pub call_data: Bytes,
    #[serde(default)]
    pub call_gas_limit: U256,
    #[serde(default)]
    pub verification_gas_limit: U256,
    #[serde(default)]
    pub pre_verification_gas: U256,
    #[serde(default)]
    pub max_fee_per_gas: U256,
    #[serde(default)]
    pub max_priority_fee_per_gas: U256,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paymaster: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paymaster_verification_gas_limit: Option<U256>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paymaster_post_op_gas_limit: Option<U256>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paymaster_data: Option<Bytes>,
    #[serde(default)]
    pub signature: Bytes,
    /// EIP-7702 authorisations (EntryPoint v0.8) are not served: refused, not ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eip7702_auth: Option<serde_json::Value>,
}

/// Why a user operation is malformed: ERC-4337's -32602.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

fn u128_field(name: &str, value: U256) -> Result<u128, Malformed> {
    u128::try_from(value).map_err(|_| Malformed(format!("{name} does not fit in 128 bits")))
}

fn pack_u128s(high: u128, low: u128) -> B256 {
    let mut word = [0u8; 32];
    word[..16].copy_from_slice(&high.to_be_bytes());
    word[16..].copy_from_slice(&low.to_be_bytes());
    B256::from(word)
}

/// The gas limits and fees, as the EntryPoint reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gas {
    pub call: u128,
    pub verification: u128,
    pub pre_verification: u128,
    pub max_fee: u128,
    pub max_priority_fee: u128,
    pub paymaster_verification: u128,
    pub paymaster_post_op: u128,
}

impl Gas {
    /// Every gas the operation may use: what its prefund pays for.
    pub fn total(&self) -> u128 {
        self.call
            .saturating_add(self.verification)
            .saturating_add(self.pre_verification)
            .saturating_add(self.paymaster_verification)
            .saturating_add(self.paymaster_post_op)
    }

    /// The most the operation can cost: all its gas at its fee cap.
    pub fn max_cost(&self) -> U256 {
        U256::from(self.total()) * U256::from(self.max_fee)
    }
}

impl UserOperation {
    /// Checks field sizes and combinations that need no state; the gas fields as u128s.
    pub fn check(&self) -> Result<Gas, Malformed> {
        if self.eip7702_auth.is_some() {
            return Err(Malformed("EIP-7702 authorisations are not supported by this bundler".into()));
        }
        if self.factory.is_none() && self.factory_data.as_ref().is_some_and(|d| !d.is_empty()) {
            return Err(Malformed("factoryData without a factory".into()));
        }
        let paymaster_fields = [self.paymaster_verification_gas_limit.is_some(), self.paymaster_post_op_gas_limit.is_some(), self.paymaster_data.as_ref().is_some_and(|d| !d.is_empty())];
        if self.paymaster.is_none() && paymaster_fields.iter().any(|set| *set) {
            return Err(Malformed("paymaster fields without a paymaster".into()));
        }
        let gas = Gas {
            call: u128_field("callGasLimit", self.call_gas_limit)?,
            verification: u128_field("verificationGasLimit", self.verification_gas_limit)?,
            pre_verification: u128_field("preVerificationGas", self.pre_verification_gas)?,
            max_fee: u128_field("maxFeePerGas", self.max_fee_per_gas)?,
            max_priority_fee: u128_field("maxPriorityFeePerGas", self.max_priority_fee_per_gas)?,
            paymaster_verification: u128_field("paymasterVerificationGasLimit", self.paymaster_verification_gas_limit.unwrap_or_default())?,
            paymaster_post_op: u128_field("paymasterPostOpGasLimit", self.paymaster_post_op_gas_limit.unwrap_or_default())?,
        };
        if gas.max_priority_fee > gas.max_fee {
            return Err(Malformed("maxPriorityFeePerGas is above maxFeePerGas".into()));
        }
        if self.paymaster.is_some() && self.paymaster_verification_gas_limit.is_none() {
            return Err(Malformed("a paymaster needs paymasterVerificationGasLimit".into()));
        }
        Ok(gas)
    }

    pub fn init_code(&self) -> Bytes {
        match self.factory {
            Some(factory) => [factory.as_slice(), self.factory_data.as_ref().map_or(&[][..], |b| &b[..])].concat().into(),
            None => Bytes::new(),
        }
    }

    pub fn paymaster_and_data(&self) -> Bytes {
        let Some(paymaster) = self.paymaster else { return Bytes::new() };
        let verification = u128::try_from(self.paymaster_verification_gas_limit.unwrap_or_default()).unwrap_or(u128::MAX);
        let post_op = u128::try_from(self.paymaster_post_op_gas_limit.unwrap_or_default()).unwrap_or(u128::MAX);
        [paymaster.as_slice(), &verification.to_be_bytes(), &post_op.to_be_bytes(), self.paymaster_data.as_ref().map_or(&[][..], |b| &b[..])].concat().into()
    }

    /// The operation as the EntryPoint takes it (fields that do not fit saturate; `check` first).
    pub fn packed(&self) -> PackedUserOperation {
        let u = |v: U256| u128::try_from(v).unwrap_or(u128::MAX);
        PackedUserOperation {
            sender: self.sender,
            nonce: self.nonce,
            initCode: self.init_code(),
            callData: self.call_data.clone(),
            accountGasLimits: pack_u128s(u(self.verification_gas_limit), u(self.call_gas_limit)),
            preVerificationGas: self.pre_verification_gas,
            gasFees: pack_u128s(u(self.max_priority_fee_per_gas), u(self.max_fee_per_gas)),
            paymasterAndData: self.paymaster_and_data(),
            signature: self.signature.clone(),
        }
    }

    /// The RPC form of a packed operation (as read back from a bundle).
    pub fn unpack(packed: PackedUserOperation) -> Self {
        let halves = |word: B256| (U256::from_be_slice(&word[..16]), U256::from_be_slice(&word[16..]));
        let (verification, call) = halves(packed.accountGasLimits);
        let (priority, max_fee) = halves(packed.gasFees);
        let (factory, factory_data) = match packed.initCode.len() {
            0..20 => (None, None),
            _ => (Some(Address::from_slice(&packed.initCode[..20])), Some(Bytes::copy_from_slice(&packed.initCode[20..]))),
        };
        let pm = &packed.paymasterAndData;
        let (paymaster, pm_verification, pm_post_op, pm_data) = if pm.len() >= 52 {
            (Some(Address::from_slice(&pm[..20])), Some(U256::from_be_slice(&pm[20..36])), Some(U256::from_be_slice(&pm[36..52])), Some(Bytes::copy_from_slice(&pm[52..])))
        } else {
            (None, None, None, None)
        };
        Self {
            sender: packed.sender,
            nonce: packed.nonce,
            factory,
            factory_data,
            call_data: packed.callData,
            call_gas_limit: call,
            verification_gas_limit: verification,
            pre_verification_gas: packed.preVerificationGas,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: priority,
            paymaster,
            paymaster_verification_gas_limit: pm_verification,
            paymaster_post_op_gas_limit: pm_post_op,
            paymaster_data: pm_data,
            signature: packed.signature,
            eip7702_auth: None,
        }
    }

    /// The operation's hash, as `EntryPoint.getUserOpHash` computes it.
    pub fn hash(&self, version: Version, entry_point: Address, chain_id: u64) -> B256 {
        hash_packed(&self.packed(), version, entry_point, chain_id)
    }

    /// The sender's nonce key (the upper 192 bits) and sequence.
    pub fn nonce_key(&self) -> U256 {
        self.nonce >> 64
    }

}

alloy_sol_types::sol! {
    /// The EIP-712 type EntryPoint v0.8 hashes operations with.
    struct PackedUserOperationTyped {
        address sender;
        uint256 nonce;
        bytes initCode;
        bytes callData;
        bytes32 accountGasLimits;
        uint256 preVerificationGas;
        bytes32 gasFees;
        bytes paymasterAndData;
    }
}

pub fn hash_packed(op: &PackedUserOperation, version: Version, entry_point: Address, chain_id: u64) -> B256 {
    match version {
        Version::V07 => {
            let inner = (
                op.sender,
                op.nonce,
                keccak256(&op.initCode),
                keccak256(&op.callData),
                op.accountGasLimits,
                op.preVerificationGas,
                op.gasFees,
                keccak256(&op.paymasterAndData),
            )
                .abi_encode();
            keccak256((keccak256(inner), entry_point, U256::from(chain_id)).abi_encode())
        }
        Version::V08 => {
            // The struct is named PackedUserOperation in its type string.
            let typed = PackedUserOperationTyped {
                sender: op.sender,
                nonce: op.nonce,
                initCode: op.initCode.clone(),
                callData: op.callData.clone(),
                accountGasLimits: op.accountGasLimits,
                preVerificationGas: op.preVerificationGas,
                gasFees: op.gasFees,
                paymasterAndData: op.paymasterAndData.clone(),
            };
            let type_hash = keccak256(
                "PackedUserOperation(address sender,uint256 nonce,bytes initCode,bytes callData,bytes32 accountGasLimits,uint256 preVerificationGas,bytes32 gasFees,bytes paymasterAndData)",
            );
            let mut encoded = type_hash.to_vec();
            encoded.extend_from_slice(&typed.eip712_encode_data());
            let struct_hash = keccak256(encoded);
            let domain = eip712_domain! { name: "ERC4337", version: "1", chain_id: chain_id, verifying_contract: entry_point, };
            keccak256([&[0x19, 0x01][..], domain.separator().as_slice(), struct_hash.as_slice()].concat())
        }
    }
}

/// The ABI-encoded size of the packed operation (ERC-7562's LIM-010 counts it).
pub fn encoded_size(op: &PackedUserOperation) -> usize {
    op.abi_encode().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> UserOperation {
        UserOperation {
            sender: Address::repeat_byte(1),
            nonce: U256::from(7) << 64 | U256::from(3),
            factory: Some(Address::repeat_byte(2)),
            factory_data: Some(Bytes::from_static(&[9, 9])),
            call_data: Bytes::from_static(&[1, 2, 3]),
            call_gas_limit: U256::from(100_000),
            verification_gas_limit: U256::from(200_000),
            pre_verification_gas: U256::from(50_000),
            max_fee_per_gas: U256::from(3_000_000_000u64),
            max_priority_fee_per_gas: U256::from(1_000_000_000u64),
            paymaster: Some(Address::repeat_byte(3)),
            paymaster_verification_gas_limit: Some(U256::from(60_000)),
            paymaster_post_op_gas_limit: Some(U256::from(10_000)),
            paymaster_data: Some(Bytes::from_static(&[4, 5])),
            signature: Bytes::from_static(&[6; 65]),
            eip7702_auth: None,
        }
    }

    #[test]
    fn packing_round_trips() {
        let op = sample();
        let packed = op.packed();
        assert_eq!(packed.initCode.len(), 22);
        assert_eq!(packed.paymasterAndData.len(), 54);
        assert_eq!(U256::from_be_slice(&packed.accountGasLimits[..16]), U256::from(200_000));
        assert_eq!(UserOperation::unpack(packed), op);
        assert_eq!(op.nonce_key(), U256::from(7));
    }

    #[test]
    fn field_sizes_and_combinations_are_checked() {
        let mut op = sample();
        op.call_gas_limit = U256::MAX;
        assert!(op.check().unwrap_err().0.contains("callGasLimit"));
        let mut op = sample();
        op.max_priority_fee_per_gas = U256::from(4_000_000_000u64);
        assert!(op.check().is_err());
        let mut op = sample();
        op.paymaster = None;
        assert!(op.check().unwrap_err().0.contains("paymaster fields"));
        let gas = sample().check().unwrap();
        assert_eq!(gas.total(), 100_000 + 200_000 + 50_000 + 60_000 + 10_000);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut json = serde_json::to_value(sample()).unwrap();
        json["initCode"] = serde_json::json!("0x");
        assert!(serde_json::from_value::<UserOperation>(json).is_err(), "v0.6's initCode is not a v0.7 field");
    }
}
