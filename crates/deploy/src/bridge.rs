//! The bridge's contracts, Hyperlane's own (@hyperlane-xyz/core), on AndeChain and on the other
//! chain. On each: a Mailbox whose domain is the chain id; a MerkleTreeHook as its default hook
//! (every message enters the tree the validators sign); a PausableHook as its required hook (the
//! owner's brake on everything sent out); a ValidatorAnnounce; as its default ISM, a message-id
//! multisig of the other chain's validators. Two warp routes join the chains: ANDE (HypNative on
//! AndeChain, locked; HypERC20 on the other chain, minted and burned) and ETH (the other way
//! round), each enrolled with its twin.
//!
//! They are created by the deployer (CREATE), not through the CREATE2 proxy: a Mailbox holds its
//! chain's domain, and the owner the constructors set must be the deployer. Hyperlane's
//! initializers are open to anyone, so a contract is recorded only once this deploy's own
//! initialization succeeded; one that someone else initialized first is refused, never used.

use crate::{Chain, DeployArgs, DeployError, Tx};
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::{SolCall, SolValue};
use ande_chain::Deployments;
use ande_contracts::Contract;
use ande_contracts::abi::{IMailbox, IMultisigIsmFactory, IWarpRoute};
use ande_contracts::bridge::{ISM, ISM_FACTORY, MAILBOX, MERKLE_TREE_HOOK, PAUSABLE_HOOK, VALIDATOR_ANNOUNCE, WARP_ANDE, WARP_ETH};
use ande_contracts::create2::Create2;
use std::path::PathBuf;
use tokio::sync::watch;

#[derive(Clone, Debug, clap::Args)]
pub struct BridgeArgs {
    /// The other chain's JSON-RPC URL. When set, the bridge is deployed on both chains and its
    /// routes enrolled both ways.
    #[arg(long = "bridge-remote-rpc-url", env = "BRIDGE_REMOTE_RPC_URL")]
    pub remote_rpc_url: Option<String>,
    /// The other chain's expected id (also its Hyperlane domain); refused when the node differs.
    #[arg(long = "bridge-remote-chain-id", env = "BRIDGE_REMOTE_CHAIN_ID")]
    pub remote_chain_id: Option<u64>,
    /// The other chain's network name: its addresses go to <name>.json beside this chain's file.
    /// Default: l1-<network>.
    #[arg(long = "bridge-remote-network", env = "BRIDGE_REMOTE_NETWORK")]
    pub remote_network: Option<String>,
    /// The validators that sign AndeChain's checkpoints (the other chain's ISM checks them),
    /// comma-separated addresses.
    #[arg(long = "bridge-validators", env = "BRIDGE_VALIDATORS", value_delimiter = ',')]
    pub validators: Vec<Address>,
    /// How many of them must sign a message.
    #[arg(long = "bridge-threshold", env = "BRIDGE_THRESHOLD", default_value = "1")]
    pub threshold: u8,
    /// The validators that sign the other chain's checkpoints (AndeChain's ISM checks them).
    /// Default: the same as BRIDGE_VALIDATORS.
    #[arg(long = "bridge-remote-validators", env = "BRIDGE_REMOTE_VALIDATORS", value_delimiter = ',')]
    pub remote_validators: Vec<Address>,
    /// How many of those must sign. Default: BRIDGE_THRESHOLD.
    #[arg(long = "bridge-remote-threshold", env = "BRIDGE_REMOTE_THRESHOLD")]
    pub remote_threshold: Option<u8>,
}

impl BridgeArgs {
    pub fn remote_network_name(&self, network: &str) -> String {
        self.remote_network.clone().unwrap_or_else(|| format!("l1-{network}"))
    }

    /// The other chain's deployments file: beside this chain's.
    pub fn remote_out_path(&self, args: &DeployArgs) -> PathBuf {
        args.out_path().with_file_name(format!("{}.json", self.remote_network_name(&args.network)))
    }
}

/// A warp route's side on one chain.
struct Route {
    name: &'static str,
    token: Token,
}

enum Token {
    /// The chain's own currency, locked in the route.
    Native,
    /// An ERC-20 the route mints on arrival and burns on departure.
    Wrapped { name: &'static str, symbol: &'static str },
}

const ANDE_SIDE: [Route; 2] = [
    Route { name: WARP_ANDE, token: Token::Native },
    Route { name: WARP_ETH, token: Token::Wrapped { name: "Wrapped Ether", symbol: "WETH" } },
];
const REMOTE_SIDE: [Route; 2] = [
    Route { name: WARP_ANDE, token: Token::Wrapped { name: "Wrapped ANDE", symbol: "WANDE" } },
    Route { name: WARP_ETH, token: Token::Native },
];

/// Deploys the bridge on `local` (AndeChain) and on the other chain, enrolls the routes with
/// each other, and writes the other chain's deployments file.
pub(crate) async fn deploy(args: &DeployArgs, local: &mut Chain, local_deployments: &mut Deployments, shutdown: &mut watch::Receiver<bool>) -> Result<(), DeployError> {
    let bridge = &args.bridge;
    let url = bridge.remote_rpc_url.as_deref().expect("called with a remote");
    let (validators, threshold) = validator_set(&bridge.validators, bridge.threshold, "BRIDGE_VALIDATORS")?;
    let remote_set = if bridge.remote_validators.is_empty() { &bridge.validators } else { &bridge.remote_validators };
    let (remote_validators, remote_threshold) = validator_set(remote_set, bridge.remote_threshold.unwrap_or(threshold), "BRIDGE_REMOTE_VALIDATORS")?;
    let mut remote = Chain::connect(url, bridge.remote_chain_id, shutdown).await?;
    if remote.chain_id == local.chain_id {
        return Err(DeployError::Bridge(format!("the other chain has AndeChain's own chain id {}: a bridge joins two chains", local.chain_id)));
    }
    let remote_out = bridge.remote_out_path(args);
    let mut remote_deployments = remote.load(args, &remote_out)?;
    remote_deployments.network = bridge.remote_network_name(&args.network);
    let deployer = args.deployer()?;
    // Each chain's ISM holds the other chain's validators.
    let mut remote_shutdown = shutdown.clone();
    tokio::try_join!(
        side(args, deployer, local, local_deployments, (&remote_validators, remote_threshold), &ANDE_SIDE, shutdown),
        side(args, deployer, &mut remote, &mut remote_deployments, (&validators, threshold), &REMOTE_SIDE, &mut remote_shutdown),
    )?;
    remote_deployments.save(&remote_out)?;
    let (local_id, remote_id) = (local.chain_id, remote.chain_id);
    let mut remote_shutdown = shutdown.clone();
    tokio::try_join!(
        enroll(args, local, local_deployments, remote_id, &remote_deployments, shutdown),
        enroll(args, &mut remote, &remote_deployments, local_id, local_deployments, &mut remote_shutdown),
    )?;
    tracing::info!(file = %remote_out.display(), chain = remote_id, "the other chain's deployments written");
    Ok(())
}

/// The validators in ascending order (the order the ISM wants their signatures in), checked.
fn validator_set(validators: &[Address], threshold: u8, var: &str) -> Result<(Vec<Address>, u8), DeployError> {
    let mut sorted = validators.to_vec();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != validators.len() {
        return Err(DeployError::Bridge(format!("{var} names a validator twice")));
    }
    if threshold == 0 || usize::from(threshold) > sorted.len() {
        return Err(DeployError::Bridge(format!("{var}: a threshold of {threshold} needs between 1 and {} validators to sign, and there are {}", sorted.len().max(1), sorted.len())));
    }
    Ok((sorted, threshold))
}

/// A chain's id as its Hyperlane domain (32 bits).
fn domain(chain_id: u64) -> Result<u32, DeployError> {
    u32::try_from(chain_id).map_err(|_| DeployError::Bridge(format!("chain id {chain_id} does not fit a Hyperlane domain (32 bits)")))
}

/// Hyperlane's bytes32 form of an address.
fn word(address: Address) -> B256 {
    address.into_word()
}

/// One chain's side: its Mailbox and hooks, the ISM of the other chain's validators, its routes,
/// in waves of transactions that depend only on earlier waves.
async fn side(args: &DeployArgs, deployer: Option<Address>, chain: &mut Chain, d: &mut Deployments, (validators, threshold): (&[Address], u8), routes: &[Route], shutdown: &mut watch::Receiver<bool>) -> Result<(), DeployError> {
    let domain = domain(chain.chain_id)?;
    let factory = Create2 { name: ISM_FACTORY, salt: B256::ZERO, init_code: Contract::MessageIdMultisigIsmFactory.creation_code() };
    let factory_address = factory.address();
    chain.deterministic(args, d, vec![factory], shutdown).await?;

    let mut wave = Wave::default();
    let ism = ism(chain, factory_address, validators, threshold, &mut wave).await?;
    let recorded_mailbox = chain.recorded(d, MAILBOX).await?;
    let new_mailbox = recorded_mailbox.is_none().then(|| wave.create(MAILBOX, Contract::Mailbox.init_code(domain)));
    let new_pause = chain.recorded(d, PAUSABLE_HOOK).await?.is_none().then(|| wave.create(PAUSABLE_HOOK, Contract::PausableHook.creation_code()));
    let records = chain.run(args, &wave, shutdown).await?;
    chain.has_code(ISM, ism).await?;
    d.contracts.insert(ISM.into(), ism);
    let mailbox = match new_mailbox {
        Some(i) => chain.created(&records, i, MAILBOX).await?,
        None => recorded_mailbox.expect("recorded when not new"),
    };
    if let Some(i) = new_pause {
        d.contracts.insert(PAUSABLE_HOOK.into(), chain.created(&records, i, PAUSABLE_HOOK).await?);
    }

    // Their constructors make the deployer the owner: nothing to initialize.
    let mut wave = Wave::default();
    let mut made = Vec::new();
    for (name, contract) in [(MERKLE_TREE_HOOK, Contract::MerkleTreeHook), (VALIDATOR_ANNOUNCE, Contract::ValidatorAnnounce)] {
        if chain.recorded(d, name).await?.is_none() {
            made.push((name, wave.create(name, contract.init_code(mailbox))));
        }
    }
    let records = chain.run(args, &wave, shutdown).await?;
    for (name, i) in made {
        d.contracts.insert(name.into(), chain.created(&records, i, name).await?);
    }
    let (merkle, pause) = (d.contracts[MERKLE_TREE_HOOK], d.contracts[PAUSABLE_HOOK]);
    let Some(deployer) = deployer else {
        // Everything exists and no key is given: check that the Mailbox is set up, only.
        configured(chain, mailbox, ism, merkle, pause).await?;
        return missing_routes(chain, d, routes).await;
    };

    // The Mailbox's initialization (or its new settings), and the routes, which need it.
    let mut wave = Wave::default();
    match recorded_mailbox {
        None => {
            let init = IMailbox::initializeCall { owner: deployer, defaultIsm: ism, defaultHook: merkle, requiredHook: pause }.abi_encode();
            wave.txs.push(chain.initialize(args, MAILBOX, mailbox, init.into()).await?);
        }
        Some(_) => converge_mailbox(chain, deployer, mailbox, ism, merkle, pause, &mut wave).await?,
    }
    let mut new_routes = Vec::new();
    for route in routes {
        if chain.recorded(d, route.name).await?.is_some() {
            continue;
        }
        let (code, init) = match route.token {
            Token::Native => (
                Contract::HypNative.init_code((U256::from(1), U256::from(1), mailbox)),
                IWarpRoute::initialize_0Call { hook: Address::ZERO, ism: Address::ZERO, owner: deployer }.abi_encode(),
            ),
            Token::Wrapped { name, symbol } => (
                Contract::HypErc20.init_code((U256::from(18), U256::from(1), U256::from(1), mailbox)),
                IWarpRoute::initialize_1Call { totalSupply: U256::ZERO, name: name.into(), symbol: symbol.into(), hook: Address::ZERO, ism: Address::ZERO, owner: deployer }.abi_encode(),
            ),
        };
        new_routes.push((route.name, wave.create(route.name, code), init));
    }
    let records = chain.run(args, &wave, shutdown).await?;
    d.contracts.insert(MAILBOX.into(), mailbox);
    configured(chain, mailbox, ism, merkle, pause).await?;

    let mut wave = Wave::default();
    let mut initialized = Vec::new();
    for (name, i, init) in new_routes {
        let address = chain.created(&records, i, name).await?;
        wave.txs.push(chain.initialize(args, name, address, init.into()).await?);
        initialized.push((name, address));
    }
    chain.run(args, &wave, shutdown).await?;
    d.contracts.extend(initialized.into_iter().map(|(name, address)| (name.to_string(), address)));
    Ok(())
}

/// Without a key nothing can be deployed: the routes must be there already.
async fn missing_routes(chain: &Chain, d: &Deployments, routes: &[Route]) -> Result<(), DeployError> {
    let mut missing = Vec::new();
    for route in routes {
        if chain.recorded(d, route.name).await?.is_none() {
            missing.push(route.name);
        }
    }
    match missing.is_empty() {
        true => Ok(()),
        false => Err(DeployError::NoKey { missing: missing.join(", ") }),
    }
}

/// The transactions of one step of a deploy, sent together.
#[derive(Default)]
struct Wave {
    txs: Vec<Tx>,
}

impl Wave {
    /// Adds a contract the deployer creates; its index in the wave. The journal key holds the
    /// init code's hash, so a deploy resumed after a crash finds what it created before.
    fn create(&mut self, name: &str, code: Bytes) -> usize {
        let key = format!("create:{name}:{}", alloy_primitives::keccak256(&code));
        self.txs.push(Tx { name: name.into(), key, to: None, input: code, value: U256::ZERO });
        self.txs.len() - 1
    }
}

/// The message-id multisig ISM of `validators`: the factory puts it at an address that depends
/// on the set and threshold only; its deployment joins `wave` when it has no code there yet.
async fn ism(chain: &Chain, factory: Address, validators: &[Address], threshold: u8, wave: &mut Wave) -> Result<Address, DeployError> {
    let address_call = IMultisigIsmFactory::getAddressCall { validators: validators.to_vec(), threshold };
    let answer = chain.node.call(factory, &address_call.abi_encode()).await?;
    let address = IMultisigIsmFactory::getAddressCall::abi_decode_returns(&answer).map_err(|e| DeployError::Failed { name: ISM.into(), reason: e.to_string() })?;
    if chain.node.code(address).await?.is_empty() {
        let input = IMultisigIsmFactory::deployCall { validators: validators.to_vec(), threshold }.abi_encode().into();
        wave.txs.push(Tx { name: ISM.into(), key: format!("deploy:{ISM}:{address:#x}"), to: Some(factory), input, value: U256::ZERO });
        tracing::info!(name = ISM, %address, validators = validators.len(), threshold, chain = chain.chain_id, "deploying");
    }
    Ok(address)
}

/// A recorded Mailbox brought to the configuration asked for (a new validator set is a new ISM).
async fn converge_mailbox(chain: &Chain, deployer: Address, mailbox: Address, ism: Address, merkle: Address, pause: Address, wave: &mut Wave) -> Result<(), DeployError> {
    let current = read_mailbox(chain, mailbox).await?;
    let mut changes = Vec::new();
    if current.ism != ism {
        changes.push(("setDefaultIsm", IMailbox::setDefaultIsmCall { module: ism }.abi_encode()));
    }
    if current.default_hook != merkle {
        changes.push(("setDefaultHook", IMailbox::setDefaultHookCall { hook: merkle }.abi_encode()));
    }
    if current.required_hook != pause {
        changes.push(("setRequiredHook", IMailbox::setRequiredHookCall { hook: pause }.abi_encode()));
    }
    if !changes.is_empty() && current.owner != deployer {
        return Err(DeployError::Bridge(format!("the Mailbox {mailbox} needs reconfiguring, and its owner is {}, not the deployer {deployer}", current.owner)));
    }
    for (what, input) in changes {
        let key = format!("call:{mailbox:#x}:{}", alloy_primitives::hex::encode(&input));
        wave.txs.push(Tx { name: format!("{MAILBOX}.{what}"), key, to: Some(mailbox), input: input.into(), value: U256::ZERO });
    }
    Ok(())
}

struct MailboxConfig {
    owner: Address,
    ism: Address,
    default_hook: Address,
    required_hook: Address,
}

async fn read_mailbox(chain: &Chain, mailbox: Address) -> Result<MailboxConfig, DeployError> {
    let read = async |input: Vec<u8>| -> Result<Address, DeployError> {
        let answer = chain.node.call(mailbox, &input).await?;
        Address::abi_decode(&answer).map_err(|e| DeployError::Failed { name: MAILBOX.into(), reason: e.to_string() })
    };
    Ok(MailboxConfig {
        owner: read(IMailbox::ownerCall {}.abi_encode()).await?,
        ism: read(IMailbox::defaultIsmCall {}.abi_encode()).await?,
        default_hook: read(IMailbox::defaultHookCall {}.abi_encode()).await?,
        required_hook: read(IMailbox::requiredHookCall {}.abi_encode()).await?,
    })
}

/// Refuses a Mailbox that is not set up as this deploy sets it up.
async fn configured(chain: &Chain, mailbox: Address, ism: Address, merkle: Address, pause: Address) -> Result<(), DeployError> {
    let current = read_mailbox(chain, mailbox).await?;
    if current.owner.is_zero() || current.ism != ism || current.default_hook != merkle || current.required_hook != pause {
        return Err(DeployError::Bridge(format!(
            "the Mailbox {mailbox} on chain {} has ISM {}, hooks {} and {} (wanted {ism}, {merkle} and {pause}); run the deploy with the deployer's key to set them",
            chain.chain_id, current.ism, current.default_hook, current.required_hook
        )));
    }
    Ok(())
}

/// Enrolls each of `d`'s routes with its twin on the other chain, where it is not already.
async fn enroll(args: &DeployArgs, chain: &mut Chain, d: &Deployments, remote_id: u64, remote: &Deployments, shutdown: &mut watch::Receiver<bool>) -> Result<(), DeployError> {
    let remote_domain = domain(remote_id)?;
    let mut txs = Vec::new();
    for route in ANDE_SIDE.iter().map(|r| r.name) {
        let (Some(&here), Some(&there)) = (d.contracts.get(route), remote.contracts.get(route)) else { continue };
        let answer = chain.node.call(here, &IWarpRoute::routersCall { domain: remote_domain }.abi_encode()).await?;
        if B256::abi_decode(&answer).ok() == Some(word(there)) {
            tracing::info!(route, %here, remote = %there, "enrolled");
            continue;
        }
        let input = IWarpRoute::enrollRemoteRouterCall { domain: remote_domain, router: word(there) }.abi_encode().into();
        txs.push(Tx { name: format!("{route}.enrollRemoteRouter"), key: format!("enroll:{here:#x}:{remote_domain}:{there:#x}"), to: Some(here), input, value: U256::ZERO });
    }
    if !txs.is_empty() {
        chain.send(args, &txs, shutdown).await?;
        tracing::info!(routes = txs.len(), chain = chain.chain_id, remote = remote_id, "routes enrolled");
    }
    Ok(())
}

impl Chain {
    /// `name`'s recorded address, if it has code.
    async fn recorded(&self, d: &Deployments, name: &str) -> Result<Option<Address>, DeployError> {
        match d.contracts.get(name) {
            Some(&address) if !self.node.code(address).await?.is_empty() => {
                tracing::info!(name, %address, chain = self.chain_id, "present");
                Ok(Some(address))
            }
            _ => Ok(None),
        }
    }

    async fn run(&mut self, args: &DeployArgs, wave: &Wave, shutdown: &mut watch::Receiver<bool>) -> Result<Vec<ande_sender::Record>, DeployError> {
        if wave.txs.is_empty() {
            return Ok(Vec::new());
        }
        self.send(args, &wave.txs, shutdown).await
    }

    /// The contract the wave's `i`-th transaction created, checked for code.
    async fn created(&self, records: &[ande_sender::Record], i: usize, name: &str) -> Result<Address, DeployError> {
        let address = self.created_by(&records[i]);
        self.has_code(name, address).await?;
        tracing::info!(name, %address, chain = self.chain_id, "deployed");
        Ok(address)
    }

    /// A contract's open initializer as this deploy's own first call to it; refused when someone
    /// else's call came first.
    async fn initialize(&mut self, args: &DeployArgs, name: &str, address: Address, input: Bytes) -> Result<Tx, DeployError> {
        let key = format!("init:{name}:{address:#x}");
        let sender = self.sender(args, &[name]).await?;
        // From the deployer: HypERC20's initializer mints its (zero) supply to the caller.
        let first = serde_json::json!({ "from": sender.address(), "to": address, "data": input });
        if sender.get(&key).await?.is_none() && self.node.estimate_gas(&first).await.is_err() {
            return Err(DeployError::Bridge(format!(
                "{name} at {address} on chain {} was initialized by someone else before this deploy could: it is not recorded; deploy again with a new DEPLOY_DATA_DIR",
                self.chain_id
            )));
        }
        Ok(Tx { name: format!("{name}.initialize"), key, to: Some(address), input, value: U256::ZERO })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validator_sets_are_sorted_and_checked() {
        let (a, b, c) = (Address::repeat_byte(3), Address::repeat_byte(1), Address::repeat_byte(2));
        assert_eq!(validator_set(&[a, b, c], 2, "V").unwrap(), (vec![b, c, a], 2));
        assert!(validator_set(&[a, a], 1, "V").unwrap_err().to_string().contains("names a validator twice"));
        assert!(validator_set(&[a], 2, "V").unwrap_err().to_string().contains("a threshold of 2 needs between 1 and 1"));
        assert!(validator_set(&[a], 0, "V").is_err());
        assert!(validator_set(&[], 1, "V").is_err());
    }

    #[test]
    fn a_domain_is_a_32_bit_chain_id() {
        assert_eq!(domain(1234).unwrap(), 1234);
        assert!(domain(u64::from(u32::MAX) + 1).unwrap_err().to_string().contains("does not fit"));
    }
}
