//! JSON-RPC errors, with the codes geth uses and clients match on.

use crate::error::{PoolError, StoreError};
use alloy_primitives::Bytes;
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned};

pub type RpcResult<T> = Result<T, ErrorObjectOwned>;

pub const INVALID_PARAMS: i32 = -32602;
pub const INTERNAL: i32 = -32603;
/// geth's code for server-side failures, including transaction pool refusals.
pub const SERVER: i32 = -32000;
/// geth's code for a call that reverted; the data carries the revert bytes.
pub const EXECUTION_REVERTED: i32 = 3;
pub const RESOURCE_NOT_FOUND: i32 = -32001;
pub const LIMIT_EXCEEDED: i32 = -32005;
/// EIP-1474's "transaction rejected": a conditional transaction whose conditions do not hold.
pub const TRANSACTION_REJECTED: i32 = -32003;

pub fn invalid_params(msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(INVALID_PARAMS, msg.into(), None::<()>)
}

pub fn server(msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(SERVER, msg.into(), None::<()>)
}

pub fn not_found(msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(RESOURCE_NOT_FOUND, msg.into(), None::<()>)
}

pub fn limit(msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(LIMIT_EXCEEDED, msg.into(), None::<()>)
}

pub fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObject::owned(INTERNAL, e.to_string(), None::<()>)
}

/// A revert: code 3, "execution reverted: <reason>" when the data is an `Error(string)`.
pub fn reverted(output: &Bytes) -> ErrorObjectOwned {
    let message = match revert_reason(output) {
        Some(reason) => format!("execution reverted: {reason}"),
        None => "execution reverted".to_string(),
    };
    ErrorObject::owned(EXECUTION_REVERTED, message, Some(output.to_string()))
}

/// Decodes Solidity's `Error(string)` revert payload.
fn revert_reason(output: &[u8]) -> Option<String> {
    const SELECTOR: [u8; 4] = [0x08, 0xc3, 0x79, 0xa0];
    let body = output.strip_prefix(&SELECTOR)?;
    let offset = usize::try_from(alloy_primitives::U256::from_be_slice(body.get(..32)?)).ok()?;
    let len_word = body.get(offset..offset.checked_add(32)?)?;
    let len = usize::try_from(alloy_primitives::U256::from_be_slice(len_word)).ok()?;
    let start = offset + 32;
    let bytes = body.get(start..start.checked_add(len)?)?;
    String::from_utf8(bytes.to_vec()).ok()
}

impl From<StoreError> for ErrorObjectOwned {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Pruned { .. } => server(e.to_string()),
            other => internal(other),
        }
    }
}

impl From<PoolError> for ErrorObjectOwned {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Internal(_) => internal(e),
            PoolError::Conditions(crate::conditional::ConditionError::TooCostly(_)) => limit(e.to_string()),
            PoolError::Conditions(_) => ErrorObject::owned(TRANSACTION_REJECTED, e.to_string(), None::<()>),
            other => server(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_error_string() {
        // Error("nope")
        let data: Bytes = "0x08c379a0000000000000000000000000000000000000000000000000000000000000002000000000000000000000000000000000000000000000000000000000000000046e6f706500000000000000000000000000000000000000000000000000000000".parse().unwrap();
        let err = reverted(&data);
        assert_eq!(err.code(), 3);
        assert_eq!(err.message(), "execution reverted: nope");
        assert_eq!(reverted(&Bytes::from_static(&[1, 2])).message(), "execution reverted");
        assert_eq!(revert_reason(&[0x08, 0xc3, 0x79, 0xa0, 0xff]), None);
    }
}
