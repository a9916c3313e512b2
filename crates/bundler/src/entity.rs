//! The contracts a user operation names, as ERC-7562's rules and reputation speak of them.

use alloy_primitives::Address;
use ande_contracts::userop::UserOperation;
use serde::{Deserialize, Serialize};

/// The kinds of contract a user operation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Entity {
    Account,
    Factory,
    Paymaster,
    Aggregator,
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Entity::Account => "account",
            Entity::Factory => "factory",
            Entity::Paymaster => "paymaster",
            Entity::Aggregator => "aggregator",
        })
    }
}

/// The entities an operation names besides its sender.
pub fn named(op: &UserOperation) -> impl Iterator<Item = (Entity, Address)> + '_ {
    [(Entity::Factory, op.factory), (Entity::Paymaster, op.paymaster)].into_iter().filter_map(|(e, a)| a.map(|a| (e, a)))
}
