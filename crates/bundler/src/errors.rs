//! ERC-4337's JSON-RPC error codes (ERC-7769), which bundler clients match on.

use jsonrpsee::types::ErrorObjectOwned;

pub const INVALID_FIELDS: i32 = -32602;
/// The EntryPoint's simulation rejected the operation (account or factory): the AAxx reason.
pub const REJECTED_BY_ENTRY_POINT: i32 = -32500;
/// The paymaster's validation rejected it.
pub const REJECTED_BY_PAYMASTER: i32 = -32501;
/// A banned opcode or storage access (ERC-7562).
pub const OPCODE_VALIDATION: i32 = -32502;
/// Expired, or not valid yet, or expiring too soon.
pub const OUT_OF_TIME_RANGE: i32 = -32503;
/// A throttled or banned entity.
pub const REPUTATION: i32 = -32504;
/// An entity's stake or unstake delay is too low for what it did.
pub const STAKE_TOO_LOW: i32 = -32505;
pub const UNSUPPORTED_AGGREGATOR: i32 = -32506;
/// The account's or paymaster's signature check failed.
pub const INVALID_SIGNATURE: i32 = -32507;
pub const INTERNAL: i32 = -32603;
/// A method that is not served (the debug namespace when it is off).
pub const METHOD_NOT_FOUND: i32 = -32601;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RpcError {
    pub code: i32,
    pub message: String,
}

impl RpcError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(INVALID_FIELDS, message)
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(INTERNAL, message.to_string())
    }
}

impl From<RpcError> for ErrorObjectOwned {
    fn from(e: RpcError) -> Self {
        ErrorObjectOwned::owned(e.code, e.message, None::<()>)
    }
}

impl From<ande_sender::NodeError> for RpcError {
    fn from(e: ande_sender::NodeError) -> Self {
        RpcError::internal(format!("the node: {e}"))
    }
}

impl From<crate::store::StoreError> for RpcError {
    fn from(e: crate::store::StoreError) -> Self {
        RpcError::internal(format!("the bundler's store: {e}"))
    }
}

impl From<ande_contracts::userop::Malformed> for RpcError {
    fn from(e: ande_contracts::userop::Malformed) -> Self {
        RpcError::invalid(e.0)
    }
}
