//! `ande deploy`: puts the stack's contracts on a chain, idempotently, and writes their addresses
//! to `deployments/<network>.json`.
//!
//! Contracts go through the deterministic deployment proxy, so their addresses are the same on
//! every chain; one that already has code is left alone, so running it again (or against a chain
//! where someone else deployed them, like Ethereum) only checks and records. Transactions go
//! through the stack's sender: a deploy interrupted anywhere resumes without deploying twice.

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::SolCall;
use ande_chain::{Deployments, ensure_chain_id};
use ande_contracts::{Contract, PAYMASTER};
use ande_contracts::abi::{IEntryPoint, IVerifyingPaymaster};
use ande_contracts::create2;
use ande_sender::{Journal, NodeClient, Sender, SenderArgs, State, TxRequest, wait_for_node};
use serde_json::json;
use std::path::PathBuf;

mod bridge;
pub use bridge::BridgeArgs;
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
    #[command(flatten)]
    pub bridge: BridgeArgs,
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

    /// The deployer's address, when its key is given.
    fn deployer(&self) -> Result<Option<Address>, DeployError> {
        Ok(ande_sender::optional_signer(self.private_key_file.as_deref(), self.private_key.as_deref(), "deployer")?.map(|k| k.address()))
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
    #[error("the bridge: {0}")]
    Bridge(String),
}

/// Deploys what is missing, records every address, and returns the deployments written.
pub async fn run(args: DeployArgs, mut shutdown: watch::Receiver<bool>) -> Result<Deployments, DeployError> {
    let mut chain = Chain::connect(&args.rpc_url, args.chain_id, &mut shutdown).await?;
    let out = args.out_path();
    let mut deployments = chain.load(&args, &out)?;
    for wave in create2::account_abstraction() {
        chain.deterministic(&args, &mut deployments, wave, &mut shutdown).await?;
    }
    let signer = match args.paymaster_signer {
        Some(address) => Some(address),
        None => ande_sender::optional_signer(args.paymaster_signer_key_file.as_deref(), None, "paymaster signer")?.map(|k| k.address()),
    };
    if let Some(signer) = signer {
        let paymaster = paymaster(&args, &mut chain, signer, deployments.contracts.get(PAYMASTER).copied(), &mut shutdown).await?;
        deployments.contracts.insert(PAYMASTER.into(), paymaster);
    }
    deployments.save(&out)?;
    if args.bridge.remote_rpc_url.is_some() {
        bridge::deploy(&args, &mut chain, &mut deployments, &mut shutdown).await?;
        deployments.save(&out)?;
    }
    tracing::info!(file = %out.display(), contracts = deployments.contracts.len(), "deployments written");
    Ok(deployments)
}

/// One chain the deploy writes to: its node, and the deployer's sender, opened on first need.
struct Chain {
    node: NodeClient,
    chain_id: u64,
    sender: Option<Sender>,
}

impl Chain {
    async fn connect(url: &str, expected: Option<u64>, shutdown: &mut watch::Receiver<bool>) -> Result<Self, DeployError> {
        let node = NodeClient::new(url)?;
        let Some(chain_id) = wait_for_node(&node, shutdown).await else { return Err(DeployError::Stopped) };
        ensure_chain_id(expected, chain_id, format!("the node at {url}"))?;
        if node.code(create2::PROXY).await?.is_empty() {
            return Err(DeployError::NoProxy(create2::PROXY));
        }
        Ok(Chain { node, chain_id, sender: None })
    }

    /// The deployments recorded at `path` for this chain (none if they are another chain's).
    fn load(&self, args: &DeployArgs, path: &std::path::Path) -> Result<Deployments, DeployError> {
        let mut deployments = Deployments::load(path)?.filter(|d| d.chain_id == self.chain_id).unwrap_or_default();
        deployments.chain_id = self.chain_id;
        if deployments.network.is_empty() {
            deployments.network = args.network.clone();
        }
        deployments.contracts.insert("create2Deployer".into(), create2::PROXY);
        Ok(deployments)
    }

    async fn sender(&mut self, args: &DeployArgs, missing: &[&str]) -> Result<&Sender, DeployError> {
        if self.sender.is_none() {
            self.sender = Some(open_sender(args, self.node.clone(), self.chain_id, missing).await?);
        }
        Ok(self.sender.as_ref().expect("opened above"))
    }

    /// Sends `txs` together and waits until each is mined successfully.
    async fn send(&mut self, args: &DeployArgs, txs: &[Tx], shutdown: &mut watch::Receiver<bool>) -> Result<Vec<ande_sender::Record>, DeployError> {
        let names: Vec<&str> = txs.iter().map(|t| t.name.as_str()).collect();
        let sender = self.sender(args, &names).await?;
        send_all(args, sender, txs, shutdown).await
    }

    /// Deploys through the CREATE2 proxy those of `wave` that have no code yet, and records all.
    async fn deterministic(&mut self, args: &DeployArgs, deployments: &mut Deployments, wave: Vec<create2::Create2>, shutdown: &mut watch::Receiver<bool>) -> Result<(), DeployError> {
        let mut missing = Vec::new();
        for contract in wave {
            let address = contract.address();
            if self.node.code(address).await?.is_empty() {
                missing.push(contract);
            } else {
                tracing::info!(name = contract.name, %address, chain = self.chain_id, "present");
                deployments.contracts.insert(contract.name.into(), address);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let txs: Vec<Tx> = missing
            .iter()
            .map(|c| Tx { name: c.name.into(), key: format!("deploy:{}:{:#x}", c.name, c.address()), to: Some(create2::PROXY), input: c.calldata(), value: U256::ZERO })
            .collect();
        self.send(args, &txs, shutdown).await?;
        for contract in &missing {
            let address = contract.address();
            self.has_code(contract.name, address).await?;
            tracing::info!(name = contract.name, %address, chain = self.chain_id, "deployed");
            deployments.contracts.insert(contract.name.into(), address);
        }
        Ok(())
    }

    /// The address of the contract a transaction sent through this chain's sender created.
    fn created_by(&self, record: &ande_sender::Record) -> Address {
        self.sender.as_ref().expect("the record was sent through it").address().create(record.nonce)
    }

    async fn has_code(&self, name: &str, address: Address) -> Result<(), DeployError> {
        if self.node.code(address).await?.is_empty() {
            return Err(DeployError::Failed { name: name.into(), reason: format!("mined, but {address} has no code") });
        }
        Ok(())
    }
}

/// The VerifyingPaymaster for `signer`: the one recorded if it has code and that signer, else a
/// new one; its deposit topped up to `--paymaster-deposit`.
async fn paymaster(args: &DeployArgs, chain: &mut Chain, signer: Address, recorded: Option<Address>, shutdown: &mut watch::Receiver<bool>) -> Result<Address, DeployError> {
    let node = chain.node.clone();
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
            let init_code = Contract::VerifyingPaymasterV07.init_code((create2::ENTRY_POINT_V07, signer));
            let tx = Tx { name: PAYMASTER.into(), key: format!("deploy:{PAYMASTER}:{signer:#x}"), to: None, input: init_code, value: U256::ZERO };
            let record = chain.send(args, &[tx], shutdown).await?.remove(0);
            let address = chain.created_by(&record);
            chain.has_code(PAYMASTER, address).await?;
            tracing::info!(name = PAYMASTER, %address, %signer, "deployed");
            address
        }
    };
    let deposit = node.call(create2::ENTRY_POINT_V07, &IEntryPoint::balanceOfCall { account: address }.abi_encode()).await.map(|o| U256::from_be_slice(o.get(..32).unwrap_or_default()))?;
    if deposit < args.paymaster_deposit {
        let input = IVerifyingPaymaster::depositCall {}.abi_encode().into();
        let key = format!("deposit:{address:#x}:{}", args.paymaster_deposit);
        let tx = Tx { name: "the paymaster's deposit".into(), key, to: Some(address), input, value: args.paymaster_deposit - deposit };
        chain.send(args, &[tx], shutdown).await?;
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

