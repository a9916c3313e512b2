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

/// The bridge's contracts' names in a deployments file (the same on both chains).
pub mod bridge {
    pub const MAILBOX: &str = "mailbox";
    pub const MERKLE_TREE_HOOK: &str = "merkleTreeHook";
    pub const PAUSABLE_HOOK: &str = "pausableHook";
    pub const VALIDATOR_ANNOUNCE: &str = "validatorAnnounce";
    pub const ISM_FACTORY: &str = "messageIdMultisigIsmFactory";
    pub const ISM: &str = "messageIdMultisigIsm";
    /// ANDE: HypNative on AndeChain, HypERC20 on the other chain.
    pub const WARP_ANDE: &str = "warpAnde";
    /// The other chain's ETH: HypNative there, HypERC20 on AndeChain.
    pub const WARP_ETH: &str = "warpEth";
}
