//! `eth_sendRawTransactionConditional` (as Arbitrum, the OP Stack and ERC-4337 bundlers use it):
//! a transaction that may be included only while its conditions hold. They are checked when it
//! is submitted and again when a block takes it, against the state that block has reached, so a
//! bundle whose validation state changed is dropped instead of reverting on chain.

use alloy_primitives::{Address, B256, U256};
use alloy_rpc_types_eth::erc4337::{AccountStorage, TransactionConditional};

/// Storage lookups one transaction's conditions may ask for (OP Stack's limit).
pub const MAX_COST: u64 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    #[error("conditions cost {0} storage lookups, more than {MAX_COST}")]
    TooCostly(u64),
    #[error("block number {number} is outside the transaction's range")]
    BlockNumber { number: u64 },
    #[error("timestamp {timestamp} is outside the transaction's range")]
    Timestamp { timestamp: u64 },
    #[error("storage root of {0} differs from the expected one")]
    StorageRoot(Address),
    #[error("storage slot {slot} of {address} differs from the expected value")]
    Slot { address: Address, slot: U256 },
}

/// The state a block has reached, as conditions read it.
pub trait ConditionState {
    /// The slot's value; None when it cannot be read, which counts as a mismatch.
    fn slot(&self, address: Address, slot: U256) -> Option<U256>;
    fn storage_root(&self, address: Address) -> Root;
}

/// What a state says of an account's storage root.
pub enum Root {
    Is(B256),
    /// The block wrote to the account's storage already: not known without hashing, so no match.
    Changed,
    /// Not checked here: a submission leaves storage roots to the block that takes it.
    Deferred,
}

/// Whether the conditions are within the cost limit, for a submission.
pub fn check_cost(conditions: &TransactionConditional) -> Result<(), ConditionError> {
    let cost = conditions.cost();
    if cost > MAX_COST {
        return Err(ConditionError::TooCostly(cost));
    }
    Ok(())
}

/// Whether the conditions hold for a block numbered `number` at `timestamp` over `state`.
pub fn check(conditions: &TransactionConditional, number: u64, timestamp: u64, state: &impl ConditionState) -> Result<(), ConditionError> {
    check_cost(conditions)?;
    if !conditions.matches_block_number(number) {
        return Err(ConditionError::BlockNumber { number });
    }
    if !conditions.matches_timestamp(timestamp) {
        return Err(ConditionError::Timestamp { timestamp });
    }
    for (address, expected) in &conditions.known_accounts {
        match expected {
            AccountStorage::RootHash(expected) => match state.storage_root(*address) {
                Root::Is(root) if root == *expected => {}
                Root::Deferred => {}
                Root::Is(_) | Root::Changed => return Err(ConditionError::StorageRoot(*address)),
            },
            AccountStorage::Slots(slots) => {
                for (slot, value) in slots {
                    if state.slot(*address, *slot).map(B256::from) != Some(*value) {
                        return Err(ConditionError::Slot { address: *address, slot: *slot });
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::map::HashMap;

    struct Fixed;
    impl ConditionState for Fixed {
        fn slot(&self, _: Address, slot: U256) -> Option<U256> {
            Some(slot + U256::from(1))
        }
        fn storage_root(&self, address: Address) -> Root {
            if address == Address::ZERO { Root::Is(B256::repeat_byte(7)) } else { Root::Changed }
        }
    }

    #[test]
    fn each_condition_is_checked() {
        let mut c = TransactionConditional { block_number_min: Some(5), block_number_max: Some(6), ..Default::default() };
        assert_eq!(check(&c, 4, 0, &Fixed), Err(ConditionError::BlockNumber { number: 4 }));
        assert_eq!(check(&c, 5, 0, &Fixed), Ok(()));
        assert_eq!(check(&c, 7, 0, &Fixed), Err(ConditionError::BlockNumber { number: 7 }));
        c.timestamp_max = Some(100);
        assert_eq!(check(&c, 5, 101, &Fixed), Err(ConditionError::Timestamp { timestamp: 101 }));
        c.known_accounts.insert(Address::ZERO, AccountStorage::RootHash(B256::repeat_byte(7)));
        assert_eq!(check(&c, 5, 100, &Fixed), Ok(()));
        c.known_accounts.insert(Address::repeat_byte(1), AccountStorage::RootHash(B256::repeat_byte(7)));
        assert_eq!(check(&c, 5, 100, &Fixed), Err(ConditionError::StorageRoot(Address::repeat_byte(1))));
        c.known_accounts.remove(&Address::repeat_byte(1));
        let mut slots = HashMap::default();
        slots.insert(U256::from(1), B256::from(U256::from(2)));
        c.known_accounts.insert(Address::repeat_byte(2), AccountStorage::Slots(slots.clone()));
        assert_eq!(check(&c, 5, 100, &Fixed), Ok(()));
        slots.insert(U256::from(3), B256::ZERO);
        c.known_accounts.insert(Address::repeat_byte(2), AccountStorage::Slots(slots));
        assert_eq!(check(&c, 5, 100, &Fixed), Err(ConditionError::Slot { address: Address::repeat_byte(2), slot: U256::from(3) }));
    }

    #[test]
    fn too_many_lookups_are_refused() {
        let mut c = TransactionConditional::default();
        for i in 0..600u32 {
            let mut slots = HashMap::default();
            slots.insert(U256::from(i), B256::ZERO);
            c.known_accounts.insert(Address::left_padding_from(&i.to_be_bytes()), AccountStorage::Slots(slots));
        }
        assert_eq!(check_cost(&c), Err(ConditionError::TooCostly(1200)));
    }
}
