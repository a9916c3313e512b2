//! Error types of the node's parts.

use alloy_primitives::B256;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] redb::Error),
    #[error("storage i/o: {0}")]
    Io(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("block {number} does not follow the stored head {head}")]
    NotNext { head: u64, number: u64 },
    #[error(
        "the data directory holds a chain with genesis {stored}, but the genesis file gives {genesis}; \
         use another data directory or the matching genesis"
    )]
    GenesisMismatch { stored: B256, genesis: B256 },
    #[error("historical state for block {requested} is pruned; the earliest available is {earliest}")]
    Pruned { requested: u64, earliest: u64 },
}

/// Why the pool refused a transaction. The messages are geth's, which clients match on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("already known")]
    AlreadyKnown,
    #[error("nonce too low")]
    NonceTooLow,
    #[error("insufficient funds for gas * price + value")]
    InsufficientFunds,
    #[error("replacement transaction underpriced")]
    ReplacementUnderpriced,
    #[error("intrinsic gas too low")]
    IntrinsicGasTooLow,
    #[error("max fee per gas less than block base fee")]
    FeeCapBelowBaseFee,
    #[error("max priority fee per gas higher than max fee per gas")]
    TipAboveFeeCap,
    #[error("exceeds block gas limit")]
    GasLimitExceeded,
    #[error("transaction type not supported")]
    TypeNotSupported,
    #[error("oversized data")]
    Oversized,
    #[error("invalid chain id for signer")]
    WrongChainId,
    #[error("only replay-protected (EIP-155) transactions allowed over RPC")]
    Unprotected,
    #[error("invalid sender")]
    InvalidSender,
    #[error("txpool is full")]
    PoolFull,
    #[error("account limit exceeded: too many transactions from this sender in the pool")]
    SenderLimit,
    #[error("EIP-7702 transaction with empty auth list")]
    EmptyAuthList,
    #[error("max initcode size exceeded")]
    InitcodeTooLarge,
    #[error("rlp: {0}")]
    Decode(String),
    #[error("transaction conditions not met: {0}")]
    Conditions(crate::conditional::ConditionError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for PoolError {
    fn from(e: StoreError) -> Self {
        PoolError::Internal(e.to_string())
    }
}
