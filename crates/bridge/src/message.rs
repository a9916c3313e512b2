//! Hyperlane's message: version ‖ nonce ‖ origin ‖ sender ‖ destination ‖ recipient ‖ body
//! (1, 4, 4, 32, 4, 32 bytes, then the body), its id the keccak256 of the whole.

use alloy_primitives::{B256, Bytes, keccak256};

pub const VERSION: u8 = 3;
const HEADER: usize = 1 + 4 + 4 + 32 + 4 + 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub version: u8,
    pub nonce: u32,
    pub origin: u32,
    pub sender: B256,
    pub destination: u32,
    pub recipient: B256,
    pub body: Bytes,
}

impl Message {
    /// The message in `bytes`; an error says what is wrong with it.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < HEADER {
            return Err(format!("a Hyperlane message is at least {HEADER} bytes, this one {}", bytes.len()));
        }
        let u32_at = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let message = Message {
            version: bytes[0],
            nonce: u32_at(1),
            origin: u32_at(5),
            sender: B256::from_slice(&bytes[9..41]),
            destination: u32_at(41),
            recipient: B256::from_slice(&bytes[45..77]),
            body: Bytes::copy_from_slice(&bytes[HEADER..]),
        };
        if message.version != VERSION {
            return Err(format!("message version {}, and the Mailbox speaks version {VERSION}", message.version));
        }
        Ok(message)
    }

    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(HEADER + self.body.len());
        out.push(self.version);
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(&self.origin.to_be_bytes());
        out.extend_from_slice(self.sender.as_slice());
        out.extend_from_slice(&self.destination.to_be_bytes());
        out.extend_from_slice(self.recipient.as_slice());
        out.extend_from_slice(&self.body);
        out.into()
    }

    pub fn id(&self) -> B256 {
        keccak256(self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_encodes_and_refuses_the_rest() {
        let message = Message { version: VERSION, nonce: 7, origin: 1234, sender: B256::repeat_byte(1), destination: 31337, recipient: B256::repeat_byte(2), body: Bytes::from_static(b"hello") };
        let bytes = message.encode();
        assert_eq!(bytes.len(), HEADER + 5);
        assert_eq!(Message::parse(&bytes).unwrap(), message);
        assert_eq!(message.id(), keccak256(&bytes));
        assert!(Message::parse(&bytes[..HEADER - 1]).unwrap_err().contains("at least 77 bytes"));
        let mut old = bytes.to_vec();
        old[0] = 2;
        assert!(Message::parse(&old).unwrap_err().contains("version 2"));
    }
}
