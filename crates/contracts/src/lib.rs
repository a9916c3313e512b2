//! `ande-contracts`: the contracts the stack deploys and talks to. Their bytecode comes unchanged
//! from the audited npm packages (vendored in contracts/vendor); the addresses of those deployed
//! through the deterministic deployment proxy are the same on every chain.

pub mod abi;
mod artifacts;
pub mod create2;
pub mod userop;

pub use artifacts::Contract;

/// The sponsoring VerifyingPaymaster's name in a deployments file (it is deployed with CREATE,
/// so its address is per chain).
pub const PAYMASTER: &str = "verifyingPaymasterV07";
