//! The chain id has one source, the genesis. Every service checks what it was told against what
//! the chain says, and refuses to run on a mismatch.

/// A configured chain id that disagrees with the chain's own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "chain id mismatch: configured CHAIN_ID is {configured} but {source_name} says the chain id is {actual}; \
     refusing to run against the wrong chain"
)]
pub struct ChainIdMismatch {
    pub configured: u64,
    pub actual: u64,
    pub source_name: String,
}

/// Checks an optional configured chain id against the actual one. `source_name` says where the
/// actual id came from ("the genesis file genesis/local.json", "the node at http://...").
pub fn ensure_chain_id(
    configured: Option<u64>,
    actual: u64,
    source_name: impl Into<String>,
) -> Result<(), ChainIdMismatch> {
    match configured {
        Some(configured) if configured != actual => {
            Err(ChainIdMismatch { configured, actual, source_name: source_name.into() })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatch_names_both_numbers() {
        let err = ensure_chain_id(Some(1234), 2019, "the node").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("1234") && msg.contains("2019"), "{msg}");
        assert!(ensure_chain_id(Some(2019), 2019, "the node").is_ok());
        assert!(ensure_chain_id(None, 2019, "the node").is_ok());
    }
}
