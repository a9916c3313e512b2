//! `ande-bridge`: the agents of AndeChain's Hyperlane bridge. `ande validator` signs the origin
//! chain's messages once final; the checkpoint and tree formats are Hyperlane's own, so its
//! agents and ours read each other's.

pub mod checkpoint;
pub mod merkle;
mod store;
pub mod validator;

pub use validator::{ValidatorArgs, ValidatorError};
