//! `ande-bridge`: the agents of AndeChain's Hyperlane bridge. `ande validator` signs the origin
//! chain's messages once final; `ande relayer` gathers the signatures and delivers each message
//! once. The checkpoint, tree and message formats are Hyperlane's own, so its agents and ours
//! read each other's.

pub mod checkpoint;
pub mod merkle;
pub mod message;
pub mod relayer;
mod rpc;
pub mod validator;

pub use relayer::{RelayerArgs, RelayerError};
pub use validator::{ValidatorArgs, ValidatorError};
