//! The DA batch: consecutive blocks in one blob, compressed and signed by the sequencer.
//! The format is specified in docs/da-batch-format.md; this is its only implementation.
//!
//! A follower can read the block range and check the signature before decompressing anything,
//! so a blob someone else posted to the namespace costs one signature recovery to reject.

use alloy_primitives::{Address, B256, Bytes, Signature, keccak256};
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;

const MAGIC: &[u8; 4] = b"ANDE";
pub const VERSION: u8 = 1;
/// magic, version, chain id, first and last block.
const SIGNED_HEADER_LEN: usize = 4 + 1 + 8 + 8 + 8;
const HEADER_LEN: usize = SIGNED_HEADER_LEN + 65;
/// zstd level: batches are posted every few seconds, so ratio matters more than speed.
const COMPRESSION_LEVEL: i32 = 12;
/// Most bytes a payload may decompress to; larger is refused rather than allocated.
pub const MAX_DECOMPRESSED: usize = 64 << 20;

/// One block as a follower needs it to re-execute: what it cannot recompute (timestamp, fee
/// recipient, transactions), and what it must arrive at (hash, state root).
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct BatchBlock {
    pub timestamp: u64,
    pub beneficiary: Address,
    pub hash: B256,
    pub state_root: B256,
    /// EIP-2718 encodings, in block order.
    pub transactions: Vec<Bytes>,
}

impl BatchBlock {
    /// Bytes this block adds to a batch before compression.
    pub fn encoded_len(&self) -> usize {
        self.length()
    }
}

/// A decoded batch: blocks `first..=first + blocks.len() - 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub chain_id: u64,
    pub first: u64,
    pub blocks: Vec<BatchBlock>,
}

/// What the envelope says before the payload is trusted or decompressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope {
    pub chain_id: u64,
    pub first: u64,
    pub last: u64,
    pub signer: Address,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("not an AndeChain batch (no magic)")]
    NotABatch,
    #[error("unsupported batch version {0}")]
    Version(u8),
    #[error("truncated batch")]
    Truncated,
    #[error("bad block range {first}..={last}")]
    Range { first: u64, last: u64 },
    #[error("bad signature")]
    Signature,
    #[error("payload: {0}")]
    Payload(String),
    #[error("the payload holds {got} blocks, the envelope says {expected}")]
    Count { expected: u64, got: usize },
}

/// Encodes, compresses and signs blocks `first..` as one blob's data.
pub fn encode(chain_id: u64, first: u64, blocks: &[BatchBlock], key: &PrivateKeySigner) -> Vec<u8> {
    assert!(!blocks.is_empty(), "a batch holds at least one block");
    let last = first + blocks.len() as u64 - 1;
    let mut rlp = Vec::with_capacity(blocks.iter().map(BatchBlock::encoded_len).sum::<usize>() + 8);
    alloy_rlp::encode_list(blocks, &mut rlp);
    let payload = zstd::bulk::compress(&rlp, COMPRESSION_LEVEL).expect("zstd compresses into a growable buffer");
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&chain_id.to_be_bytes());
    out.extend_from_slice(&first.to_be_bytes());
    out.extend_from_slice(&last.to_be_bytes());
    let digest = signing_hash(&out, &payload);
    let signature = key.sign_hash_sync(&digest).expect("a local key signs any hash");
    out.extend_from_slice(&signature.r().to_be_bytes::<32>());
    out.extend_from_slice(&signature.s().to_be_bytes::<32>());
    out.push(u8::from(signature.v()));
    out.extend_from_slice(&payload);
    out
}

fn signing_hash(header: &[u8], payload: &[u8]) -> B256 {
    let mut signed = Vec::with_capacity(header.len() + payload.len());
    signed.extend_from_slice(header);
    signed.extend_from_slice(payload);
    keccak256(signed)
}

/// Reads the envelope and recovers who signed it, without decompressing the payload.
pub fn open(data: &[u8]) -> Result<Envelope, BatchError> {
    if data.len() < 5 || &data[..4] != MAGIC {
        return Err(BatchError::NotABatch);
    }
    if data[4] != VERSION {
        return Err(BatchError::Version(data[4]));
    }
    if data.len() < HEADER_LEN {
        return Err(BatchError::Truncated);
    }
    let word = |at: usize| u64::from_be_bytes(data[at..at + 8].try_into().expect("8 bytes"));
    let (chain_id, first, last) = (word(5), word(13), word(21));
    if last < first || first == 0 {
        return Err(BatchError::Range { first, last });
    }
    let sig = &data[SIGNED_HEADER_LEN..HEADER_LEN];
    let parity = match sig[64] {
        0 | 27 => false,
        1 | 28 => true,
        _ => return Err(BatchError::Signature),
    };
    let signature = Signature::from_bytes_and_parity(&sig[..64], parity);
    let digest = signing_hash(&data[..SIGNED_HEADER_LEN], &data[HEADER_LEN..]);
    let signer = signature.recover_address_from_prehash(&digest).map_err(|_| BatchError::Signature)?;
    Ok(Envelope { chain_id, first, last, signer })
}

/// Decompresses and decodes the blocks of a batch whose envelope was opened.
pub fn decode(data: &[u8], envelope: &Envelope) -> Result<Batch, BatchError> {
    use std::io::Read;
    let payload = data.get(HEADER_LEN..).ok_or(BatchError::Truncated)?;
    let decoder = zstd::stream::read::Decoder::new(payload).map_err(|e| BatchError::Payload(e.to_string()))?;
    let mut rlp = Vec::new();
    decoder.take(MAX_DECOMPRESSED as u64 + 1).read_to_end(&mut rlp).map_err(|e| BatchError::Payload(e.to_string()))?;
    if rlp.len() > MAX_DECOMPRESSED {
        return Err(BatchError::Payload(format!("decompresses to more than {MAX_DECOMPRESSED} bytes")));
    }
    let mut slice = rlp.as_slice();
    let blocks = Vec::<BatchBlock>::decode(&mut slice).map_err(|e| BatchError::Payload(e.to_string()))?;
    if !slice.is_empty() {
        return Err(BatchError::Payload("trailing bytes".into()));
    }
    let expected = envelope.last - envelope.first + 1;
    if blocks.len() as u64 != expected {
        return Err(BatchError::Count { expected, got: blocks.len() });
    }
    Ok(Batch { chain_id: envelope.chain_id, first: envelope.first, blocks })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n: u8) -> BatchBlock {
        BatchBlock {
            timestamp: 1_700_000_000 + u64::from(n),
            beneficiary: Address::repeat_byte(n),
            hash: B256::repeat_byte(n),
            state_root: B256::repeat_byte(n + 1),
            transactions: vec![Bytes::from(vec![2, n, n]), Bytes::from(vec![1, 2, 3])],
        }
    }

    #[test]
    fn round_trip_and_signer() {
        let key = PrivateKeySigner::random();
        let blocks = vec![block(1), block(2), block(3)];
        let data = encode(1234, 7, &blocks, &key);
        let envelope = open(&data).unwrap();
        assert_eq!(envelope, Envelope { chain_id: 1234, first: 7, last: 9, signer: key.address() });
        assert_eq!(decode(&data, &envelope).unwrap(), Batch { chain_id: 1234, first: 7, blocks });
    }

    #[test]
    fn any_changed_byte_changes_the_signer_or_fails() {
        let key = PrivateKeySigner::random();
        let data = encode(1234, 1, &[block(1)], &key);
        // The chain id, the block range, r, s, v, and the payload.
        for at in [5, 13, 21, 29, 61, 93, HEADER_LEN, data.len() - 1] {
            let mut tampered = data.clone();
            tampered[at] ^= 1;
            match open(&tampered) {
                Ok(envelope) => assert_ne!(envelope.signer, key.address(), "byte {at}"),
                Err(e) => assert!(matches!(e, BatchError::Signature | BatchError::Range { .. }), "byte {at}: {e}"),
            }
        }
    }

    #[test]
    fn garbage_is_refused_clearly() {
        assert_eq!(open(b"hello"), Err(BatchError::NotABatch));
        assert_eq!(open(b"ANDE\x02rest"), Err(BatchError::Version(2)));
        assert_eq!(open(b"ANDE\x01short"), Err(BatchError::Truncated));
        let key = PrivateKeySigner::random();
        let data = encode(1, 1, &[block(1)], &key);
        let envelope = open(&data).unwrap();
        assert!(matches!(decode(&data[..HEADER_LEN + 3], &envelope), Err(BatchError::Payload(_))));
        // A payload that holds another number of blocks than the envelope says.
        let two = encode(1, 1, &[block(1), block(2)], &key);
        let mut one = envelope;
        one.last = 1;
        assert_eq!(decode(&two, &one), Err(BatchError::Count { expected: 1, got: 2 }));
    }

    #[test]
    fn a_payload_that_inflates_past_the_cap_is_refused() {
        let key = PrivateKeySigner::random();
        let data = encode(1, 1, &[block(1)], &key);
        let mut bomb = data[..HEADER_LEN].to_vec();
        bomb.extend(zstd::bulk::compress(&vec![0u8; MAX_DECOMPRESSED + 1], 1).unwrap());
        let envelope = open(&data).unwrap();
        match decode(&bomb, &envelope) {
            Err(BatchError::Payload(message)) => assert!(message.contains("more than"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}
