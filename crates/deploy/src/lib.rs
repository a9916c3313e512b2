//! `ande deploy`: puts the stack's contracts on a chain, idempotently, and writes their addresses
//! to `deployments/<network>.json`.
//!
//! Contracts go through the deterministic deployment proxy, so their addresses are the same on
//! every chain; one that already has code is left alone, so running it again (or against a chain
//! where someone else deployed them, like Ethereum) only checks and records. Transactions go
//! through the stack's sender: a deploy interrupted anywhere resumes without deploying twice.

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::{SolCall, SolValue};
use ande_chain::{Deployments, ensure_chain_id};
use ande_contracts::Contract;
use ande_contracts::abi::{IEntryPoint, IVerifyingPaymaster};
use ande_contracts::create2::{self, Create2};
use ande_sender::{EmbeddedJournal, Journal, NodeClient, Sender, SenderArgs, State, TxRequest, wait_for_node};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[derive(Clone, clap::Args)]
pub struct DeployArgs {
    /// The node's JSON-RPC URL.
    #[arg(long = "rpc-url", env = "WEB3_PROVIDER", default_value = "http://127.0.0.1:8545")]
    pub rpc_url: String,
    /// Expected chain id; refused against a node that says otherwise.
    #[arg(long = "chain-id", env = "CHAIN_ID")]
    pub chain_id: Option<u64>,
    /// The network's name: the deployments file is deployments/<network>.json.
    #[arg(long = "network", env = "STACK_ENV", default_value = "local")]
    pub network: String,
    /// Where to write the addresses (`-`: standard output); deployments/<network>.json when
    /// unset.
    #[arg(long = "out", env = "DEPLOYMENTS_FILE")]
    pub out: Option<PathBuf>,
    /// The funded key that pays for deployments, hex. Prefer DEPLOYER_PRIVATE_KEY_FILE. Not
    /// needed when everything is deployed already.
    #[arg(long = "private-key", env = "DEPLOYER_PRIVATE_KEY", hide_env_values = true)]
    pub private_key: Option<String>,
    /// A file holding the deployer's key (a Docker secret).
    #[arg(long = "private-key-file", env = "DEPLOYER_PRIVATE_KEY_FILE")]
    pub private_key_file: Option<PathBuf>,
    /// The signer of the sponsoring paymaster: when set, eth-infinitism's VerifyingPaymaster
    /// (EntryPoint v0.7) is deployed for it, owned by the deployer (a CREATE, so the owner can
    /// stake and withdraw), unless the deployments file names one with that signer already.
    #[arg(long = "paymaster-signer", env = "PAYMASTER_SIGNER_ADDRESS")]
    pub paymaster_signer: Option<Address>,
    /// Tops the paymaster's deposit at the EntryPoint up to this many wei.
    #[arg(long = "paymaster-deposit", env = "PAYMASTER_DEPOSIT", default_value = "0")]
    pub paymaster_deposit: U256,
    /// A deployments file to start from when writing to standard output (what is recorded
    /// there is checked, not deployed again).
    #[arg(long = "existing", env = "DEPLOYMENTS_EXISTING")]
    pub existing: Option<PathBuf>,
    /// Directory of the deployer's transaction journal (an interrupted deploy resumes from it).
    #[arg(long = "data-dir", env = "DEPLOY_DATA_DIR", default_value = "data/deploy")]
    pub data_dir: PathBuf,
    /// Longest wait for the deployments to be mined.
    #[arg(long = "timeout", env = "DEPLOY_TIMEOUT", default_value = "180s", value_parser = ande_chain::parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub sender: SenderArgs,
}

impl std::fmt::Debug for DeployArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeployArgs")
            .field("rpc_url", &self.rpc_url)
            .field("network", &self.network)
            .field("private_key", &self.private_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl DeployArgs {
    pub fn out_path(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| PathBuf::from("deployments").join(format!("{}.json", self.network)))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    ChainId(#[from] ande_chain::ChainIdMismatch),
    #[error(transparent)]
    Node(#[from] ande_sender::NodeError),
    #[error(transparent)]
    Send(#[from] ande_sender::SendError),
    #[error(transparent)]
    Journal(#[from] ande_sender::JournalError),
    #[error(transparent)]
    Key(#[from] ande_sender::KeyError),
    #[error(transparent)]
    Deployments(#[from] ande_chain::DeploymentsError),
    #[error(
        "the deterministic deployment proxy {0} has no code on this chain: AndeChain's genesis files preinstall it; \
         elsewhere, send its presigned deployment transaction first"
    )]
    NoProxy(Address),
    #[error("{missing} must be deployed, but no deployer key is set: set DEPLOYER_PRIVATE_KEY_FILE (or DEPLOYER_PRIVATE_KEY)")]
    NoKey { missing: String },
    #[error("deploying {name}: {reason}")]
    Failed { name: String, reason: String },
    #[error("the deployments were not mined within {0:?}")]
    Timeout(Duration),
    #[error("stopped before the deployments were mined")]
    Stopped,
}

/// Deploys what is missing, records every address, and returns the deployments written.
pub async fn run(args: DeployArgs, mut shutdown: watch::Receiver<bool>) -> Result<Deployments, DeployError> {
    let node = NodeClient::new(&args.rpc_url)?;
    let Some(chain_id) = wait_for_node(&node, &mut shutdown).await else { return Err(DeployError::Stopped) };
    ensure_chain_id(args.chain_id, chain_id, format!("the node at {}", args.rpc_url))?;
    if node.code(create2::PROXY).await?.is_empty() {
        return Err(DeployError::NoProxy(create2::PROXY));
    }
    let out = args.out_path();
    let to_stdout = out.as_os_str() == "-";
    let existing = Deployments::load(args.existing.as_deref().unwrap_or(&out)).or_else(|e| if to_stdout && args.existing.is_none() { Ok(None) } else { Err(e) })?;
    let mut deployments = existing.filter(|d| d.chain_id == chain_id).unwrap_or_default();
    deployments.network = args.network.clone();
    deployments.chain_id = chain_id;
    deployments.contracts.insert("create2Deployer".into(), create2::PROXY);
    let mut sender = None;
    for wave in create2::account_abstraction() {
        let mut missing = Vec::new();
        for contract in wave {
            let address = contract.address();
            if node.code(address).await?.is_empty() {
                missing.push(contract);
            } else {
                tracing::info!(name = contract.name, %address, "present");
                deployments.contracts.insert(contract.name.into(), address);
            }
        }
        if missing.is_empty() {
            continue;
        }
        let sender = match &sender {
            Some(s) => s,
            None => sender.insert(open_sender(&args, node.clone(), chain_id, &missing.iter().map(|c| c.name).collect::<Vec<_>>())?),
        };
        deploy_wave(&args, sender, &missing, &mut shutdown).await?;
        for contract in &missing {
            let address = contract.address();
            if node.code(address).await?.is_empty() {
                return Err(DeployError::Failed { name: contract.name.into(), reason: format!("mined, but {address} has no code") });
            }
            tracing::info!(name = contract.name, %address, "deployed");
            deployments.contracts.insert(contract.name.into(), address);
        }
    }
    if let Some(signer) = args.paymaster_signer {
        let paymaster = paymaster(&args, &node, chain_id, signer, deployments.contracts.get(PAYMASTER).copied(), &mut sender, &mut shutdown).await?;
        deployments.contracts.insert(PAYMASTER.into(), paymaster);
    }
    if to_stdout {
        println!("{}", serde_json::to_string_pretty(&deployments).map_err(|e| DeployError::Failed { name: "deployments".into(), reason: e.to_string() })?);
    } else {
        deployments.save(&out)?;
        tracing::info!(file = %out.display(), contracts = deployments.contracts.len(), "deployments written");
    }
    Ok(deployments)
}

/// The name of the sponsoring paymaster in deployments/<network>.json.
pub const PAYMASTER: &str = "verifyingPaymasterV07";

/// The VerifyingPaymaster for `signer`: the one recorded if it has code and that signer, else a
/// new one; its deposit topped up to `--paymaster-deposit`.
async fn paymaster(args: &DeployArgs, node: &NodeClient, chain_id: u64, signer: Address, recorded: Option<Address>, sender: &mut Option<Sender>, shutdown: &mut watch::Receiver<bool>) -> Result<Address, DeployError> {
    let mut found = None;
    if let Some(address) = recorded
        && !node.code(address).await?.is_empty()
        && node.call(address, &IVerifyingPaymaster::verifyingSignerCall {}.abi_encode()).await.ok().and_then(|o| IVerifyingPaymaster::verifyingSignerCall::abi_decode_returns(&o).ok()) == Some(signer)
    {
        tracing::info!(name = PAYMASTER, %address, "present");
        found = Some(address);
    }
    let address = match found {
        Some(address) => address,
        None => {
            let sender = match sender {
                Some(s) => &*s,
                None => &*sender.insert(open_sender(args, node.clone(), chain_id, &[PAYMASTER])?),
            };
            let init_code: Bytes = [Contract::VerifyingPaymasterV07.creation_code().as_ref(), &(create2::ENTRY_POINT_V07, signer).abi_encode()].concat().into();
            let key = format!("deploy:{PAYMASTER}:{signer:#x}");
            let record = send_and_wait(args, sender, &key, None, init_code, shutdown).await?;
            let address = sender.address().create(record.nonce);
            if node.code(address).await?.is_empty() {
                return Err(DeployError::Failed { name: PAYMASTER.into(), reason: format!("mined, but {address} has no code") });
            }
            tracing::info!(name = PAYMASTER, %address, %signer, "deployed");
            address
        }
    };
    let deposit = node.call(create2::ENTRY_POINT_V07, &IEntryPoint::balanceOfCall { account: address }.abi_encode()).await.map(|o| U256::from_be_slice(o.get(..32).unwrap_or_default()))?;
    if deposit < args.paymaster_deposit {
        let sender = match sender {
            Some(s) => &*s,
            None => &*sender.insert(open_sender(args, node.clone(), chain_id, &["the paymaster's deposit"])?),
        };
        let top_up = args.paymaster_deposit - deposit;
        let key = format!("deposit:{address:#x}:{}", args.paymaster_deposit);
        let input: Bytes = IVerifyingPaymaster::depositCall {}.abi_encode().into();
        send_and_wait_value(args, sender, &key, Some(address), input, top_up, shutdown).await?;
        tracing::info!(paymaster = %address, deposit = %args.paymaster_deposit, "paymaster deposit topped up");
    }
    Ok(address)
}

async fn send_and_wait(args: &DeployArgs, sender: &Sender, key: &str, to: Option<Address>, input: Bytes, shutdown: &mut watch::Receiver<bool>) -> Result<ande_sender::Record, DeployError> {
    send_and_wait_value(args, sender, key, to, input, U256::ZERO, shutdown).await
}

/// One transaction through the sender, estimated, waited for until mined successfully.
async fn send_and_wait_value(args: &DeployArgs, sender: &Sender, key: &str, to: Option<Address>, input: Bytes, value: U256, shutdown: &mut watch::Receiver<bool>) -> Result<ande_sender::Record, DeployError> {
    let estimate = sender.node().estimate_gas(&json!({ "from": sender.address(), "to": to, "data": input, "value": value })).await.map_err(|e| DeployError::Failed { name: key.into(), reason: e.to_string() })?;
    sender.submit(vec![(key.to_string(), TxRequest { to, value, input, gas_limit: estimate + estimate / 5, conditions: None })]).await?;
    let deadline = Instant::now() + args.timeout;
    loop {
        sender.follow().await?;
        if let Some(record) = sender.get(key).await? {
            match &record.state {
                State::Mined { success: true, .. } => return Ok(record),
                State::Mined { hash, .. } => return Err(DeployError::Failed { name: key.into(), reason: format!("transaction {hash} reverted") }),
                State::Refused { reason } => return Err(DeployError::Failed { name: key.into(), reason: reason.clone() }),
                State::Dropped => return Err(DeployError::Failed { name: key.into(), reason: "dropped".into() }),
                State::Pending => {}
            }
        }
        if Instant::now() >= deadline {
            return Err(DeployError::Timeout(args.timeout));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = shutdown.changed() => return Err(DeployError::Stopped),
        }
    }
}

fn open_sender(args: &DeployArgs, node: NodeClient, chain_id: u64, missing: &[&str]) -> Result<Sender, DeployError> {
    let key = ande_sender::optional_signer(args.private_key_file.as_deref(), args.private_key.as_deref(), "deployer")?;
    let Some(key) = key else {
        return Err(DeployError::NoKey { missing: missing.join(", ") });
    };
    let journal = Journal::Embedded(EmbeddedJournal::open(&args.data_dir.join(format!("sender-{chain_id}.redb")))?);
    Ok(Sender::new(node, key, chain_id, journal, args.sender.clone()))
}

/// Sends one wave's deployments together and waits until each is mined.
async fn deploy_wave(args: &DeployArgs, sender: &Sender, wave: &[Create2], shutdown: &mut watch::Receiver<bool>) -> Result<(), DeployError> {
    let mut batch = Vec::new();
    for contract in wave {
        let calldata = contract.calldata();
        let call = json!({ "from": sender.address(), "to": create2::PROXY, "data": calldata });
        let estimate = sender.node().estimate_gas(&call).await.map_err(|e| DeployError::Failed { name: contract.name.into(), reason: e.to_string() })?;
        let request = TxRequest { to: Some(create2::PROXY), value: U256::ZERO, input: calldata, gas_limit: estimate + estimate / 5, conditions: None };
        batch.push((format!("deploy:{}:{:#x}", contract.name, contract.address()), request));
    }
    let keys: Vec<String> = batch.iter().map(|(k, _)| k.clone()).collect();
    sender.submit(batch).await?;
    let deadline = Instant::now() + args.timeout;
    loop {
        sender.follow().await?;
        let mut done = true;
        for (key, contract) in keys.iter().zip(wave) {
            let state = sender.get(key).await?.map(|r| r.state);
            match state {
                Some(State::Mined { success: true, .. }) => {}
                Some(State::Mined { success: false, hash, .. }) => {
                    return Err(DeployError::Failed { name: contract.name.into(), reason: format!("transaction {hash} reverted") });
                }
                Some(State::Refused { reason }) => return Err(DeployError::Failed { name: contract.name.into(), reason }),
                _ => done = false,
            }
        }
        if done {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(DeployError::Timeout(args.timeout));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = shutdown.changed() => return Err(DeployError::Stopped),
        }
    }
}

