//! Hyperlane's signed checkpoints, byte for byte and in its JSON: what a validator signs for
//! each message (the origin, its MerkleTreeHook, the tree's root and index right after the
//! message, the message id), signed EIP-191 as Hyperlane's validators sign, so Hyperlane's own
//! relayer reads ours and the message-id multisig ISM accepts them.

use alloy_primitives::{Address, B256, Signature, U256, keccak256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub merkle_tree_hook_address: B256,
    pub mailbox_domain: u32,
    pub root: B256,
    pub index: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointWithMessageId {
    pub checkpoint: Checkpoint,
    pub message_id: B256,
}

/// Hyperlane's domain separator: the origin and its tree, so a signature holds for one only.
pub fn domain_hash(merkle_tree_hook: B256, domain: u32) -> B256 {
    keccak256([&domain.to_be_bytes()[..], merkle_tree_hook.as_slice(), b"HYPERLANE"].concat())
}

impl CheckpointWithMessageId {
    /// What is signed (EIP-191 applied on top).
    pub fn signing_hash(&self) -> B256 {
        let c = &self.checkpoint;
        keccak256([domain_hash(c.merkle_tree_hook_address, c.mailbox_domain).as_slice(), c.root.as_slice(), &c.index.to_be_bytes(), self.message_id.as_slice()].concat())
    }

    pub fn sign(self, key: &PrivateKeySigner) -> Result<SignedCheckpoint, alloy_signer::Error> {
        let signature = key.sign_message_sync(self.signing_hash().as_slice())?;
        Ok(SignedCheckpoint { value: self, signature: JsonSignature::from(signature), serialized_signature: None })
    }
}

/// ethers' JSON form of a signature, which Hyperlane's files use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonSignature {
    pub r: U256,
    pub s: U256,
    pub v: u64,
}

impl From<Signature> for JsonSignature {
    fn from(signature: Signature) -> Self {
        JsonSignature { r: signature.r(), s: signature.s(), v: 27 + u64::from(signature.v()) }
    }
}

impl JsonSignature {
    /// r ‖ s ‖ v, as the ISM reads it.
    pub fn bytes(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[..32].copy_from_slice(&self.r.to_be_bytes::<32>());
        out[32..64].copy_from_slice(&self.s.to_be_bytes::<32>());
        out[64] = self.v as u8;
        out
    }

    /// As OpenZeppelin's ECDSA.recover wants it: v of 27 or 28, s in the lower half of the order.
    pub fn is_canonical(&self) -> bool {
        const HALF_ORDER: U256 = alloy_primitives::uint!(0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0_U256);
        matches!(self.v, 27 | 28) && self.s <= HALF_ORDER
    }

    fn signature(&self) -> Option<Signature> {
        let parity = match self.v {
            27 | 0 => false,
            28 | 1 => true,
            _ => return None,
        };
        Some(Signature::new(self.r, self.s, parity))
    }
}

/// A file of Hyperlane's checkpoint storage (`<index>_with_id.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    pub value: CheckpointWithMessageId,
    pub signature: JsonSignature,
    /// The signature's 65 bytes; Hyperlane writes it, and reads `signature`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serialized_signature: Option<alloy_primitives::Bytes>,
}

impl SignedCheckpoint {
    /// As written to storage: with the serialized signature.
    pub fn for_storage(mut self) -> Self {
        self.serialized_signature = Some(self.signature.bytes().to_vec().into());
        self
    }

    /// Who signed it; None for a signature that does not recover.
    pub fn signer(&self) -> Option<Address> {
        self.signature.signature()?.recover_address_from_msg(self.value.signing_hash().as_slice()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint() -> CheckpointWithMessageId {
        CheckpointWithMessageId {
            checkpoint: Checkpoint { merkle_tree_hook_address: Address::repeat_byte(0xaa).into_word(), mailbox_domain: 1234, root: B256::repeat_byte(1), index: 7 },
            message_id: B256::repeat_byte(2),
        }
    }

    #[test]
    fn signs_recovers_and_round_trips_in_hyperlanes_json() {
        let key = PrivateKeySigner::random();
        let signed = checkpoint().sign(&key).unwrap().for_storage();
        assert_eq!(signed.signer(), Some(key.address()));
        assert!(signed.signature.is_canonical(), "alloy signs with a low s");
        let json = serde_json::to_value(&signed).unwrap();
        assert_eq!(json["value"]["checkpoint"]["mailbox_domain"], 1234);
        assert_eq!(json["value"]["checkpoint"]["index"], 7);
        assert!(json["value"]["message_id"].as_str().unwrap().starts_with("0x0202"));
        assert!(matches!(json["signature"]["v"].as_u64(), Some(27 | 28)));
        assert_eq!(json["serialized_signature"].as_str().unwrap().len(), 2 + 130);
        let back: SignedCheckpoint = serde_json::from_value(json).unwrap();
        assert_eq!(back, signed);
        // Any change to what was signed: another signer recovered.
        let mut forged = signed.clone();
        forged.value.checkpoint.index = 8;
        assert_ne!(forged.signer(), Some(key.address()));
    }
}
