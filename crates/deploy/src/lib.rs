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
use ande_contracts::{Contract, PAYMASTER};
use ande_contracts::abi::{IEntryPoint, IVerifyingPaymaster};
use ande_contracts::create2;
use ande_sender::{Journal, NodeClient, Sender, SenderArgs, State, TxRequest, wait_for_node};
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
    /// Where to write the addresses; deployments/<network>.json when unset.
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
    /// The paymaster signer's key file, read only for its address when PAYMASTER_SIGNER_ADDRESS
    /// is unset (the Docker stack has the secret, not the address).
    #[arg(long = "paymaster-signer-key-file", env = "PAYMASTER_SIGNER_KEY_FILE")]
    pub paymaster_signer_key_file: Option<PathBuf>,
    /// Tops the paymaster's deposit at the EntryPoint up to this many wei.
    #[arg(long = "paymaster-deposit", env = "PAYMASTER_DEPOSIT", default_value = "0")]
    pub paymaster_deposit: U256,
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
    let mut deployments = Deployments::load(&out)?.filter(|d| d.chain_id == chain_id).unwrap_or_default();
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
            None => sender.insert(open_sender(&args, node.clone(), chain_id, &missing.iter().map(|c| c.name).collect::<Vec<_>>()).await?),
        };
        let txs: Vec<Tx> = missing
            .iter()
            .map(|c| Tx { name: c.name.into(), key: format!("deploy:{}:{:#x}", c.name, c.address()), to: Some(create2::PROXY), input: c.calldata(), value: U256::ZERO })
            .collect();
        send_all(&args, sender, &txs, &mut shutdown).await?;
        for contract in &missing {
            let address = contract.address();
            if node.code(address).await?.is_empty() {
                return Err(DeployError::Failed { name: contract.name.into(), reason: format!("mined, but {address} has no code") });
            }
            tracing::info!(name = contract.name, %address, "deployed");
            deployments.contracts.insert(contract.name.into(), address);
        }
    }
    let signer = match args.paymaster_signer {
        Some(address) => Some(address),
        None => ande_sender::optional_signer(args.paymaster_signer_key_file.as_deref(), None, "paymaster signer")?.map(|k| k.address()),
    };
    if let Some(signer) = signer {
        let paymaster = paymaster(&args, &node, chain_id, signer, deployments.contracts.get(PAYMASTER).copied(), &mut sender, &mut shutdown).await?;
        deployments.contracts.insert(PAYMASTER.into(), paymaster);
    }
    deployments.save(&out)?;
    tracing::info!(file = %out.display(), contracts = deployments.contracts.len(), "deployments written");
    Ok(deployments)
}

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
                None => &*sender.insert(open_sender(args, node.clone(), chain_id, &[PAYMASTER]).await?),
            };
            let init_code: Bytes = [Contract::VerifyingPaymasterV07.creation_code().as_ref(), &(create2::ENTRY_POINT_V07, signer).abi_encode()].concat().into();
            let tx = Tx { name: PAYMASTER.into(), key: format!("deploy:{PAYMASTER}:{signer:#x}"), to: None, input: init_code, value: U256::ZERO };
            let record = send_all(args, sender, &[tx], shutdown).await?.remove(0);
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
            None => &*sender.insert(open_sender(args, node.clone(), chain_id, &["the paymaster's deposit"]).await?),
        };
        let input = IVerifyingPaymaster::depositCall {}.abi_encode().into();
        let key = format!("deposit:{address:#x}:{}", args.paymaster_deposit);
        let tx = Tx { name: "the paymaster's deposit".into(), key, to: Some(address), input, value: args.paymaster_deposit - deposit };
        send_all(args, sender, &[tx], shutdown).await?;
        tracing::info!(paymaster = %address, deposit = %args.paymaster_deposit, "paymaster deposit topped up");
    }
    Ok(address)
}

/// One transaction of a deploy: `key` makes it idempotent in the journal, `name` is for errors.
struct Tx {
    name: String,
    key: String,
    to: Option<Address>,
    input: Bytes,
    value: U256,
}

/// Estimates and sends `txs` together, then waits until each is mined successfully.
async fn send_all(args: &DeployArgs, sender: &Sender, txs: &[Tx], shutdown: &mut watch::Receiver<bool>) -> Result<Vec<ande_sender::Record>, DeployError> {
    let mut batch = Vec::with_capacity(txs.len());
    for tx in txs {
        let call = json!({ "from": sender.address(), "to": tx.to, "data": tx.input, "value": tx.value });
        let estimate = sender.node().estimate_gas(&call).await.map_err(|e| DeployError::Failed { name: tx.name.clone(), reason: e.to_string() })?;
        batch.push((tx.key.clone(), TxRequest { to: tx.to, value: tx.value, input: tx.input.clone(), gas_limit: estimate + estimate / 5, conditions: None }));
    }
    sender.submit(batch).await?;
    let deadline = Instant::now() + args.timeout;
    loop {
        sender.follow().await?;
        let mut mined = Vec::with_capacity(txs.len());
        for tx in txs {
            let Some(record) = sender.get(&tx.key).await? else { break };
            let failed = |reason: String| DeployError::Failed { name: tx.name.clone(), reason };
            match &record.state {
                State::Mined { success: true, .. } => mined.push(record),
                State::Mined { hash, .. } => return Err(failed(format!("transaction {hash} reverted"))),
                State::Refused { reason } => return Err(failed(reason.clone())),
                State::Dropped => return Err(failed("dropped".into())),
                State::Pending => break,
            }
        }
        if mined.len() == txs.len() {
            return Ok(mined);
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

async fn open_sender(args: &DeployArgs, node: NodeClient, chain_id: u64, missing: &[&str]) -> Result<Sender, DeployError> {
    let key = ande_sender::optional_signer(args.private_key_file.as_deref(), args.private_key.as_deref(), "deployer")?;
    let Some(key) = key else {
        return Err(DeployError::NoKey { missing: missing.join(", ") });
    };
    let journal = Journal::embedded(&args.data_dir, &node.chain_tag(chain_id).await?)?;
    Ok(Sender::new(node, key, chain_id, journal, args.sender.clone()))
}

