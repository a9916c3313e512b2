//! AndeChain's chain specification: the genesis file, the rules it sets for execution, and the
//! chain-id guard every service runs at start.

mod chain_id;
mod deployments;
mod duration;
mod secret;
mod spec;

pub use chain_id::{ChainIdMismatch, ensure_chain_id};
pub use deployments::{Deployments, DeploymentsError};
pub use duration::parse_duration;
pub use secret::{SecretFileError, read_secret};
pub use spec::{ChainSpec, ChainSpecError, NativeCurrency};
