//! Gathering validator signatures for a message: the destination's ISM names the validators and
//! the threshold, the origin's ValidatorAnnounce where each publishes, and each checkpoint is
//! checked (its message, index, origin, tree and signer) before it counts.

use super::record::Signatures;
use crate::checkpoint::SignedCheckpoint;
use alloy_primitives::{Address, B256, Bytes};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// A checkpoint file is a few hundred bytes.
const MAX_FILE: usize = 64 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// What a validator must have signed for this message to count.
pub struct Expected {
    pub origin: u32,
    pub merkle_tree_hook: Address,
    pub index: u32,
    pub message_id: B256,
}

/// The outcome: the metadata once `threshold` valid signatures are in, and the account of it.
pub struct Gathered {
    pub metadata: Option<Bytes>,
    pub signatures: Signatures,
}

pub struct Fetcher {
    client: Client<HttpConnector, Empty<hyper::body::Bytes>>,
}

impl Default for Fetcher {
    fn default() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(FETCH_TIMEOUT));
        Fetcher { client: Client::builder(TokioExecutor::new()).build(connector) }
    }
}

impl Fetcher {
    /// The checkpoint file at `location` (http:// or file://, as announced); None when the
    /// validator has not written it (yet).
    async fn checkpoint(&self, location: &str, index: u32) -> Result<Option<SignedCheckpoint>, String> {
        let file = format!("{index}_with_id.json");
        let bytes = if let Some(dir) = location.strip_prefix("file://") {
            match tokio::fs::read(std::path::Path::new(dir).join(&file)).await {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e.to_string()),
            }
        } else if location.starts_with("http://") {
            let url: hyper::Uri = format!("{}/{file}", location.trim_end_matches('/')).parse().map_err(|e| format!("{location}: {e}"))?;
            let response = tokio::time::timeout(FETCH_TIMEOUT, self.client.get(url)).await.map_err(|_| "no answer in time".to_string())?.map_err(|e| e.to_string())?;
            if response.status() == hyper::StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !response.status().is_success() {
                return Err(format!("HTTP {}", response.status()));
            }
            let body = tokio::time::timeout(FETCH_TIMEOUT, Limited::new(response.into_body(), MAX_FILE).collect()).await.map_err(|_| "the body took too long".to_string())?.map_err(|e| e.to_string())?;
            body.to_bytes().to_vec()
        } else {
            return Err(format!("the location {location} is neither http:// nor file://"));
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("not a signed checkpoint: {e}"))
    }

    /// Each validator's latest announced location asked for the message's checkpoint, in the
    /// ISM's order; metadata from the first `threshold` that are valid.
    pub async fn gather(&self, expected: &Expected, validators: &[Address], threshold: usize, locations: &[Vec<String>]) -> Gathered {
        let mut valid: Vec<(Address, SignedCheckpoint)> = Vec::new();
        let mut missing = Vec::new();
        for (i, validator) in validators.iter().enumerate() {
            if valid.len() == threshold {
                break;
            }
            let Some(location) = locations.get(i).and_then(|l| l.last()) else {
                missing.push(format!("{validator} has announced no location"));
                continue;
            };
            match self.checkpoint(location, expected.index).await {
                Ok(Some(checkpoint)) => match check(expected, *validator, &checkpoint) {
                    Ok(()) => valid.push((*validator, checkpoint)),
                    Err(why) => missing.push(format!("{validator}'s checkpoint {} at {location} {why}", expected.index)),
                },
                Ok(None) => missing.push(format!("{validator} has not signed index {} yet ({location})", expected.index)),
                Err(e) => missing.push(format!("{validator} at {location}: {e}")),
            }
        }
        let signatures = Signatures { have: valid.len(), need: threshold, signed: valid.iter().map(|(v, _)| *v).collect(), missing };
        if valid.len() < threshold || threshold == 0 {
            return Gathered { metadata: None, signatures };
        }
        // Every valid checkpoint is of the same tree at the same index: one root.
        let root = valid[0].1.value.checkpoint.root;
        let mut metadata = Vec::with_capacity(68 + 65 * threshold);
        metadata.extend_from_slice(expected.merkle_tree_hook.into_word().as_slice());
        metadata.extend_from_slice(root.as_slice());
        metadata.extend_from_slice(&expected.index.to_be_bytes());
        for (_, checkpoint) in &valid {
            metadata.extend_from_slice(&checkpoint.signature.bytes());
        }
        Gathered { metadata: Some(metadata.into()), signatures }
    }
}

/// A checkpoint counts only if it is of this message and signed by this validator.
fn check(expected: &Expected, validator: Address, checkpoint: &SignedCheckpoint) -> Result<(), &'static str> {
    let value = &checkpoint.value;
    if value.message_id != expected.message_id || value.checkpoint.index != expected.index {
        return Err("is of another message");
    }
    if value.checkpoint.mailbox_domain != expected.origin || value.checkpoint.merkle_tree_hook_address != expected.merkle_tree_hook.into_word() {
        return Err("is of another chain's tree");
    }
    if checkpoint.signer() != Some(validator) {
        return Err("is not signed by it");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Checkpoint, CheckpointWithMessageId};
    use alloy_signer_local::PrivateKeySigner;

    #[test]
    fn only_the_messages_own_checkpoint_by_its_validator_counts() {
        let hook = Address::repeat_byte(9);
        let expected = Expected { origin: 1234, merkle_tree_hook: hook, index: 3, message_id: B256::repeat_byte(5) };
        let value = CheckpointWithMessageId { checkpoint: Checkpoint { merkle_tree_hook_address: hook.into_word(), mailbox_domain: 1234, root: B256::repeat_byte(1), index: 3 }, message_id: expected.message_id };
        let key = PrivateKeySigner::random();
        let signed = value.sign(&key).unwrap();
        assert_eq!(check(&expected, key.address(), &signed), Ok(()));
        assert_eq!(check(&expected, Address::repeat_byte(1), &signed), Err("is not signed by it"));
        let other = CheckpointWithMessageId { message_id: B256::repeat_byte(6), ..value }.sign(&key).unwrap();
        assert_eq!(check(&expected, key.address(), &other), Err("is of another message"));
        let mut wrong_chain = value;
        wrong_chain.checkpoint.mailbox_domain = 1;
        assert_eq!(check(&expected, key.address(), &wrong_chain.sign(&key).unwrap()), Err("is of another chain's tree"));
    }
}
