//! Deployments through the deterministic deployment proxy, which every AndeChain genesis
//! preinstalls (as anvil and the OP Stack do, and as Ethereum has it): the address depends only on
//! the salt and the creation code, so it is the same on every chain.

use crate::Contract;
use alloy_primitives::{Address, B256, Bytes, address, b256, keccak256};

/// The deterministic deployment proxy: calldata is `salt ++ creation code`.
pub const PROXY: Address = address!("4e59b44847b379578588920ca78fbf26c0b4956c");

/// The salts eth-infinitism deployed the EntryPoints with (their canonical addresses).
pub const ENTRY_POINT_V07_SALT: B256 = b256!("90d8084deab30c2a37c45e8d47f49f2f7965183cb6990a98943ef94940681de3");
pub const ENTRY_POINT_V08_SALT: B256 = b256!("0a59dbff790c23c976a548690c27297883cc66b4c67024f9117b0238995e35e9");

pub const ENTRY_POINT_V07: Address = address!("0000000071727De22E5E9d8BAf0edAc6f37da032");
pub const ENTRY_POINT_V08: Address = address!("4337084d9e255ff0702461cf8895ce9e3b5ff108");

/// One contract deployed through the proxy.
#[derive(Debug, Clone)]
pub struct Create2 {
    /// Its name in deployments/<network>.json.
    pub name: &'static str,
    pub salt: B256,
    /// Creation code with the constructor's arguments.
    pub init_code: Bytes,
}

impl Create2 {
    pub fn address(&self) -> Address {
        PROXY.create2(self.salt, keccak256(&self.init_code))
    }

    /// The proxy call that deploys it.
    pub fn calldata(&self) -> Bytes {
        [self.salt.as_slice(), &self.init_code].concat().into()
    }
}

/// The ERC-4337 contracts, in waves: a wave's contracts depend only on earlier waves.
pub fn account_abstraction() -> Vec<Vec<Create2>> {
    vec![
        vec![
            Create2 { name: "entryPointV07", salt: ENTRY_POINT_V07_SALT, init_code: Contract::EntryPointV07.creation_code() },
            Create2 { name: "entryPointV08", salt: ENTRY_POINT_V08_SALT, init_code: Contract::EntryPointV08.creation_code() },
        ],
        vec![
            Create2 { name: "simpleAccountFactoryV07", salt: B256::ZERO, init_code: Contract::SimpleAccountFactoryV07.init_code(ENTRY_POINT_V07) },
            Create2 { name: "simpleAccountFactoryV08", salt: B256::ZERO, init_code: Contract::SimpleAccountFactoryV08.init_code(ENTRY_POINT_V08) },
        ],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_addresses() {
        let waves = account_abstraction();
        let by_name = |name: &str| waves.iter().flatten().find(|c| c.name == name).unwrap().address();
        assert_eq!(by_name("entryPointV07"), ENTRY_POINT_V07);
        assert_eq!(by_name("entryPointV08"), ENTRY_POINT_V08);
        // eth-infinitism's SimpleAccountFactory deployments (salt 0).
        assert_eq!(by_name("simpleAccountFactoryV07"), address!("91E60e0613810449d098b0b5Ec8b51A0FE8c8985"));
        assert_eq!(by_name("simpleAccountFactoryV08"), address!("13E9ed32155810FDbd067D4522C492D6f68E5944"));
    }
}
