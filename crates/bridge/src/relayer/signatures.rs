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
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A checkpoint file is a few hundred bytes.
const MAX_FILE: usize = 64 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a validator's latest signed index is believed: messages past it are not asked for,
/// so a backlog waiting for finality costs one request a validator, not one a message.
const LATEST_TTL: Duration = Duration::from_millis(150);

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
    /// location -> (when read, the latest index signed there).
    latest: Mutex<HashMap<String, (Instant, Option<u32>)>>,
}

impl Default for Fetcher {
    fn default() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(FETCH_TIMEOUT));
        Fetcher { client: Client::builder(TokioExecutor::new()).build(connector), latest: Mutex::default() }
    }
}

impl Fetcher {
    /// The latest index signed at `location` (its `index.json`), read at most every LATEST_TTL.
    async fn latest(&self, location: &str) -> Result<Option<u32>, String> {
        if let Some((at, index)) = self.latest.lock().get(location)
            && at.elapsed() < LATEST_TTL
        {
            return Ok(*index);
        }
        let index = match self.file(location, "index.json").await? {
            None => None,
            Some(bytes) => Some(String::from_utf8_lossy(&bytes).trim().parse::<u32>().map_err(|e| format!("index.json: {e}"))?),
        };
        self.latest.lock().insert(location.to_string(), (Instant::now(), index));
        Ok(index)
    }

    /// The checkpoint file at `location` (http:// or file://, as announced); None when the
    /// validator has not written it (yet).
    async fn checkpoint(&self, location: &str, index: u32) -> Result<Option<SignedCheckpoint>, String> {
        let Some(bytes) = self.file(location, &format!("{index}_with_id.json")).await? else { return Ok(None) };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("not a signed checkpoint: {e}"))
    }

    /// A file of a validator's storage; None when it is not there.
    async fn file(&self, location: &str, file: &str) -> Result<Option<Vec<u8>>, String> {
        let bytes = if let Some(dir) = location.strip_prefix("file://") {
            match tokio::fs::read(std::path::Path::new(dir).join(file)).await {
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
        Ok(Some(bytes))
    }

    /// Each validator's latest announced location asked for the message's checkpoint, in the
    /// ISM's order; metadata from the first `threshold` valid ones that agree on the root.
    pub async fn gather(&self, expected: &Expected, validators: &[Address], threshold: usize, locations: &[Vec<String>]) -> Gathered {
        let mut valid: Vec<(Address, SignedCheckpoint)> = Vec::new();
        let mut missing = Vec::new();
        for (i, validator) in validators.iter().enumerate() {
            let Some(location) = locations.get(i).and_then(|l| l.last()) else {
                missing.push(format!("{validator} has announced no location"));
                continue;
            };
            match self.latest(location).await {
                Ok(latest) if latest.is_none_or(|l| l < expected.index) => {
                    let latest = latest.map_or("none".to_string(), |l| l.to_string());
                    missing.push(format!("{validator} has not signed index {} yet (its latest: {latest}; {location})", expected.index));
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    missing.push(format!("{validator} at {location}: {e}"));
                    continue;
                }
            }
            match self.checkpoint(location, expected.index).await {
                Ok(Some(checkpoint)) => match check(expected, *validator, &checkpoint) {
                    Ok(()) => valid.push((*validator, checkpoint)),
                    Err(why) => missing.push(format!("{validator}'s checkpoint {} at {location} {why}", expected.index)),
                },
                Ok(None) => missing.push(format!("{validator} has not signed index {} yet ({location})", expected.index)),
                Err(e) => missing.push(format!("{validator} at {location}: {e}")),
            }
        }
        // The ISM checks every signature against one root: the root most of them signed.
        let mut roots: Vec<(B256, usize)> = Vec::new();
        for (_, checkpoint) in &valid {
            let root = checkpoint.value.checkpoint.root;
            match roots.iter_mut().find(|(r, _)| *r == root) {
                Some((_, n)) => *n += 1,
                None => roots.push((root, 1)),
            }
        }
        let root = roots.iter().max_by_key(|(_, n)| *n).map(|(r, _)| *r);
        let (agreeing, other): (Vec<_>, Vec<_>) = valid.into_iter().partition(|(_, c)| Some(c.value.checkpoint.root) == root);
        missing.extend(other.iter().map(|(v, _)| format!("{v} signed another root than the others for index {}", expected.index)));
        let signatures = Signatures { have: agreeing.len(), need: threshold, signed: agreeing.iter().map(|(v, _)| *v).collect(), missing };
        let Some(root) = root.filter(|_| agreeing.len() >= threshold && threshold > 0) else {
            return Gathered { metadata: None, signatures };
        };
        let mut metadata = Vec::with_capacity(68 + 65 * threshold);
        metadata.extend_from_slice(expected.merkle_tree_hook.into_word().as_slice());
        metadata.extend_from_slice(root.as_slice());
        metadata.extend_from_slice(&expected.index.to_be_bytes());
        for (_, checkpoint) in agreeing.iter().take(threshold) {
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
    // What OpenZeppelin's ECDSA.recover, in the ISM, accepts: v of 27 or 28 and a low s.
    if !checkpoint.signature.is_canonical() {
        return Err("has a signature the ISM refuses (v not 27 or 28, or a high s)");
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
        // The same signature with a high s (and the other parity) recovers, and the ISM refuses it.
        let order = alloy_primitives::uint!(0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141_U256);
        let mut high = signed.clone();
        high.signature.s = order - high.signature.s;
        high.signature.v = if high.signature.v == 27 { 28 } else { 27 };
        assert!(!high.signature.is_canonical());
        assert!(check(&expected, key.address(), &high).is_err());
        let mut wrong_chain = value;
        wrong_chain.checkpoint.mailbox_domain = 1;
        assert_eq!(check(&expected, key.address(), &wrong_chain.sign(&key).unwrap()), Err("is of another chain's tree"));
    }
}
