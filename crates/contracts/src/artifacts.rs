//! The contracts' bytecode, vendored unchanged from their npm packages (contracts/vendor,
//! written by scripts/vendor-contracts.mjs; the end-to-end tests check it against the packages).

use alloy_primitives::Bytes;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::LazyLock;

#[derive(Deserialize)]
struct Package {
    contracts: BTreeMap<String, Artifact>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Artifact {
    bytecode: Option<Bytes>,
    deployed_bytecode: Option<Bytes>,
}

static AA_V07: LazyLock<Package> = LazyLock::new(|| parse(include_str!("../../../contracts/vendor/account-abstraction-0.7.0.json")));
static AA_V08: LazyLock<Package> = LazyLock::new(|| parse(include_str!("../../../contracts/vendor/account-abstraction-0.8.0.json")));
static HYPERLANE: LazyLock<Package> = LazyLock::new(|| parse(include_str!("../../../contracts/vendor/hyperlane-core-12.1.0.json")));

fn parse(text: &str) -> Package {
    // Embedded at build time; `every_contract_is_vendored` proves it parses.
    serde_json::from_str(text).expect("the vendored contracts parse")
}

/// Every vendored contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    EntryPointV07,
    EntryPointSimulationsV07,
    SimpleAccountFactoryV07,
    VerifyingPaymasterV07,
    EntryPointV08,
    EntryPointSimulationsV08,
    SimpleAccountFactoryV08,
    Mailbox,
    MerkleTreeHook,
    PausableHook,
    ValidatorAnnounce,
    MessageIdMultisigIsmFactory,
    HypNative,
    HypErc20,
}

impl Contract {
    pub const ALL: [Contract; 14] = [
        Contract::EntryPointV07,
        Contract::EntryPointSimulationsV07,
        Contract::SimpleAccountFactoryV07,
        Contract::VerifyingPaymasterV07,
        Contract::EntryPointV08,
        Contract::EntryPointSimulationsV08,
        Contract::SimpleAccountFactoryV08,
        Contract::Mailbox,
        Contract::MerkleTreeHook,
        Contract::PausableHook,
        Contract::ValidatorAnnounce,
        Contract::MessageIdMultisigIsmFactory,
        Contract::HypNative,
        Contract::HypErc20,
    ];

    fn artifact(self) -> Option<&'static Artifact> {
        let (package, name) = match self {
            Contract::EntryPointV07 => (&*AA_V07, "EntryPoint"),
            Contract::EntryPointSimulationsV07 => (&*AA_V07, "EntryPointSimulations"),
            Contract::SimpleAccountFactoryV07 => (&*AA_V07, "SimpleAccountFactory"),
            Contract::VerifyingPaymasterV07 => (&*AA_V07, "VerifyingPaymaster"),
            Contract::EntryPointV08 => (&*AA_V08, "EntryPoint"),
            Contract::EntryPointSimulationsV08 => (&*AA_V08, "EntryPointSimulations"),
            Contract::SimpleAccountFactoryV08 => (&*AA_V08, "SimpleAccountFactory"),
            Contract::Mailbox => (&*HYPERLANE, "Mailbox"),
            Contract::MerkleTreeHook => (&*HYPERLANE, "MerkleTreeHook"),
            Contract::PausableHook => (&*HYPERLANE, "PausableHook"),
            Contract::ValidatorAnnounce => (&*HYPERLANE, "ValidatorAnnounce"),
            Contract::MessageIdMultisigIsmFactory => (&*HYPERLANE, "StaticMessageIdMultisigIsmFactory"),
            Contract::HypNative => (&*HYPERLANE, "HypNative"),
            Contract::HypErc20 => (&*HYPERLANE, "HypERC20"),
        };
        package.contracts.get(name)
    }

    /// The creation code (constructor arguments not included); empty if none is vendored.
    pub fn creation_code(self) -> Bytes {
        self.artifact().and_then(|a| a.bytecode.clone()).unwrap_or_default()
    }

    /// The creation code followed by the constructor's arguments (static types only: their
    /// encoding is the same as a tuple's and as a parameter list's).
    pub fn init_code(self, args: impl alloy_sol_types::SolValue) -> Bytes {
        [self.creation_code().as_ref(), &args.abi_encode()].concat().into()
    }

    /// The runtime code, for state overrides; empty if none is vendored.
    pub fn runtime_code(self) -> Bytes {
        self.artifact().and_then(|a| a.deployed_bytecode.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_is_vendored() {
        for contract in Contract::ALL {
            let simulations = matches!(contract, Contract::EntryPointSimulationsV07 | Contract::EntryPointSimulationsV08);
            let code = if simulations { contract.runtime_code() } else { contract.creation_code() };
            assert!(code.len() > 1000, "{contract:?} has its code vendored");
        }
    }
}
