//! `ande paymaster`: a sponsoring paymaster service (ERC-7677: `pm_getPaymasterStubData`,
//! `pm_getPaymasterData`) signing for eth-infinitism's VerifyingPaymaster (EntryPoint v0.7), so
//! a user holding nothing can send an operation. What it signs is bounded by a policy: an
//! optional allow-list of senders, gas per sender per day, and wei per day for everyone, charged
//! atomically in a store that survives restarts (embedded, or Redis shared by replicas).

mod budget;

use alloy_primitives::{Address, B256, Bytes, U64, U256, keccak256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, SolValue};
use ande_chain::{ensure_chain_id, parse_duration};
use ande_contracts::abi::{IEntryPoint, IVerifyingPaymaster, PackedUserOperation};
use ande_contracts::create2::ENTRY_POINT_V07;
use ande_contracts::userop::UserOperation;
use ande_http::{Intercept, InterceptLayer, is_plain_get, json_response};
use ande_sender::{NodeClient, wait_for_node};
use budget::{Budget, Caps, Charge};
use jsonrpsee::core::{RpcResult, async_trait};
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::server::{HttpBody, HttpResponse, Server, ServerConfig};
use jsonrpsee::types::ErrorObjectOwned;
use parking_lot::RwLock;
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The paymaster's own validation gas, offered in the stub (the bundler's estimate refines it).
const STUB_VERIFICATION_GAS: u64 = 60_000;

#[derive(Clone, clap::Args)]
pub struct PaymasterArgs {
    /// The node's JSON-RPC URL.
    #[arg(long = "rpc-url", env = "WEB3_PROVIDER", default_value = "http://127.0.0.1:8545")]
    pub rpc_url: String,
    /// Expected chain id; refused against a node that says otherwise.
    #[arg(long = "chain-id", env = "CHAIN_ID")]
    pub chain_id: Option<u64>,
    #[arg(long = "addr", env = "PAYMASTER_ADDR", default_value = "127.0.0.1")]
    pub addr: IpAddr,
    /// ERC-7677's RPC, with GET /health and /metrics.
    #[arg(long = "port", env = "PAYMASTER_PORT", default_value_t = 4338)]
    pub port: u16,
    /// The VerifyingPaymaster contract signed for (deployments/<network>.json's
    /// `verifyingPaymasterV07`).
    #[arg(long = "paymaster", env = "PAYMASTER_CONTRACT")]
    pub paymaster: Option<Address>,
    /// Where to read the contract's address when PAYMASTER_CONTRACT is unset: a deployments
    /// file (its `verifyingPaymasterV07`), waited for until the deploy writes it.
    #[arg(long = "deployments", env = "DEPLOYMENTS_FILE")]
    pub deployments: Option<PathBuf>,
    /// The key the contract's `verifyingSigner` is, hex. Prefer PAYMASTER_SIGNER_KEY_FILE.
    #[arg(long = "signer-key", env = "PAYMASTER_SIGNER_KEY", hide_env_values = true)]
    pub signer_key: Option<String>,
    /// A file holding the signer key (a Docker secret).
    #[arg(long = "signer-key-file", env = "PAYMASTER_SIGNER_KEY_FILE")]
    pub signer_key_file: Option<PathBuf>,
    /// Senders sponsored, comma-separated; empty: every sender.
    #[arg(long = "allow", env = "SPONSOR_ALLOWLIST", value_delimiter = ',')]
    pub allow: Vec<Address>,
    /// Gas sponsored per sender per UTC day (each operation counts all its gas limits).
    #[arg(long = "sender-daily-gas", env = "SPONSOR_SENDER_DAILY_GAS", default_value_t = 5_000_000)]
    pub sender_daily_gas: u64,
    /// Wei sponsored per UTC day, all senders together (each operation counts its gas at its fee cap).
    #[arg(long = "daily-wei", env = "SPONSOR_DAILY_WEI", default_value = "10000000000000000000")]
    pub daily_wei: U256,
    /// How long a signature stays valid.
    #[arg(long = "validity", env = "SPONSOR_VALIDITY", default_value = "10m", value_parser = parse_duration)]
    pub validity: Duration,
    /// Below this deposit (wei) at the EntryPoint, /health says the paymaster cannot sponsor.
    #[arg(long = "min-deposit", env = "PAYMASTER_MIN_DEPOSIT", default_value = "100000000000000000")]
    pub min_deposit: U256,
    /// The name ERC-7677's stub answer gives wallets.
    #[arg(long = "name", env = "SPONSOR_NAME", default_value = "AndeChain")]
    pub name: String,
    /// Directory of the embedded budget store.
    #[arg(long = "data-dir", env = "PAYMASTER_DATA_DIR", default_value = "data/paymaster")]
    pub data_dir: PathBuf,
    /// Redis for the budget counters, shared by replicas.
    #[arg(long = "redis-url", env = "REDIS_URL")]
    pub redis_url: Option<String>,
}

impl std::fmt::Debug for PaymasterArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymasterArgs")
            .field("rpc_url", &self.rpc_url)
            .field("paymaster", &self.paymaster)
            .field("signer_key", &self.signer_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PaymasterError {
    #[error(transparent)]
    Key(#[from] ande_sender::KeyError),
    #[error(transparent)]
    ChainId(#[from] ande_chain::ChainIdMismatch),
    #[error(transparent)]
    Node(#[from] ande_sender::NodeError),
    #[error(transparent)]
    Budget(#[from] budget::BudgetError),
    #[error("the paymaster contract {contract} signs with {on_chain}, but PAYMASTER_SIGNER_KEY is {ours}'s key")]
    WrongSigner { contract: Address, on_chain: Address, ours: Address },
    #[error("{0} is not a VerifyingPaymaster: {1}")]
    NotAPaymaster(Address, String),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("no paymaster contract: set PAYMASTER_CONTRACT, or DEPLOYMENTS_FILE to a deployments file that lists verifyingPaymasterV07")]
    NoContract,
    #[error(transparent)]
    Deployments(#[from] ande_chain::DeploymentsError),
}

#[derive(Default)]
struct Stats {
    sponsored: AtomicU64,
    refused: AtomicU64,
    deposit_gwei: AtomicU64,
    spent_gwei: AtomicU64,
}

struct App {
    args: PaymasterArgs,
    /// The VerifyingPaymaster contract.
    paymaster: Address,
    chain_id: u64,
    node: NodeClient,
    signer: PrivateKeySigner,
    /// Signs the stub: a real signature from a throwaway key, so the contract's ECDSA.recover
    /// returns an address (a failed check) instead of reverting.
    stub_signer: PrivateKeySigner,
    budget: Budget,
    stats: Stats,
    checked: RwLock<Option<Instant>>,
}

fn rpc_error(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

pub async fn run(args: PaymasterArgs, mut shutdown: watch::Receiver<bool>) -> Result<(), PaymasterError> {
    let Some(paymaster) = contract(&args, &mut shutdown).await? else { return Ok(()) };
    let signer = ande_sender::signer(args.signer_key_file.as_deref(), args.signer_key.as_deref(), "paymaster signer", "PAYMASTER_SIGNER_KEY")?;
    let node = NodeClient::new(&args.rpc_url)?;
    let Some(chain_id) = wait_for_node(&node, &mut shutdown).await else { return Ok(()) };
    ensure_chain_id(args.chain_id, chain_id, format!("the node at {}", args.rpc_url))?;
    let on_chain = loop {
        match verifying_signer(&node, paymaster).await {
            Ok(address) => break address,
            // `ande up` deploys the contract beside this service's start.
            Err(e) => tracing::debug!(error = %e, "waiting for the paymaster contract"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return Ok(()),
        }
    };
    if on_chain != signer.address() {
        return Err(PaymasterError::WrongSigner { contract: paymaster, on_chain, ours: signer.address() });
    }
    let budget = match &args.redis_url {
        Some(url) => Budget::connect_redis(url, &format!("{chain_id}:{paymaster:#x}")).await?,
        None => Budget::open_embedded(&args.data_dir.join("paymaster.redb"))?,
    };
    let stub_signer = PrivateKeySigner::from_bytes(&keccak256(b"ande paymaster stub")).map_err(|_| ande_sender::KeyError::Invalid { what: "stub" })?;
    tracing::info!(%paymaster, signer = %signer.address(), chain_id, allow = args.allow.len(), "paymaster starting");
    let app = Arc::new(App { paymaster, chain_id, node, signer, stub_signer, budget, stats: Stats::default(), checked: RwLock::new(None), args });
    refresh(&app).await;
    let addr = SocketAddr::new(app.args.addr, app.args.port);
    let mut module = jsonrpsee::RpcModule::new(());
    module.merge(PaymasterApiServer::into_rpc(Rpc { app: app.clone() })).map_err(|e| PaymasterError::Listen { addr, source: std::io::Error::other(e) })?;
    let http = tower::ServiceBuilder::new().layer(InterceptLayer::new(Endpoints { app: app.clone() })).layer(ande_http::cors("*"));
    let config = ServerConfig::builder().max_request_body_size(256 * 1024).build();
    let server = Server::builder().set_config(config).set_http_middleware(http).build(addr).await.map_err(|source| PaymasterError::Listen { addr, source })?;
    let local = server.local_addr().map_err(|source| PaymasterError::Listen { addr, source })?;
    let handle = server.start(module);
    tracing::info!(%local, "paymaster RPC listening");
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => refresh(&app).await,
            _ = shutdown.changed() => break,
        }
    }
    let _ = handle.stop();
    handle.stopped().await;
    tracing::info!("paymaster stopped");
    Ok(())
}

/// The contract: PAYMASTER_CONTRACT, or the deployments file's entry once it is there (the
/// stack's one-shot deploy writes it); None when stopped while waiting.
async fn contract(args: &PaymasterArgs, shutdown: &mut watch::Receiver<bool>) -> Result<Option<Address>, PaymasterError> {
    if let Some(address) = args.paymaster {
        return Ok(Some(address));
    }
    let path = args.deployments.as_ref().ok_or(PaymasterError::NoContract)?;
    let mut waited = 0u64;
    loop {
        if let Some(address) = ande_chain::Deployments::load(path)?.and_then(|d| d.contracts.get(ande_contracts::PAYMASTER).copied()) {
            return Ok(Some(address));
        }
        if waited.is_multiple_of(60) {
            tracing::info!(file = %path.display(), name = ande_contracts::PAYMASTER, "waiting for the deployments file to name the paymaster");
        }
        waited += 1;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return Ok(None),
        }
    }
}

async fn verifying_signer(node: &NodeClient, paymaster: Address) -> Result<Address, PaymasterError> {
    let output = node.call(paymaster, &IVerifyingPaymaster::verifyingSignerCall {}.abi_encode()).await?;
    IVerifyingPaymaster::verifyingSignerCall::abi_decode_returns(&output).map_err(|e| PaymasterError::NotAPaymaster(paymaster, e.to_string()))
}

async fn refresh(app: &App) {
    let deposit = app.node.call(ENTRY_POINT_V07, &IEntryPoint::balanceOfCall { account: app.paymaster }.abi_encode()).await;
    if let Ok(deposit) = deposit.map(|d| U256::from_be_slice(d.get(..32).unwrap_or_default())) {
        let gwei = u64::try_from(deposit / U256::from(1_000_000_000u64)).unwrap_or(u64::MAX);
        app.stats.deposit_gwei.store(gwei, Ordering::Relaxed);
        *app.checked.write() = Some(Instant::now());
    }
    if let Ok(spent) = app.budget.spent_today(ande_sender::now_secs() / 86_400).await {
        app.stats.spent_gwei.store(spent, Ordering::Relaxed);
    }
}

/// What VerifyingPaymaster's `getHash` computes for an operation and a validity window.
pub fn paymaster_hash(op: &PackedUserOperation, chain_id: u64, paymaster: Address, valid_until: u64, valid_after: u64) -> B256 {
    let paymaster_gas = U256::from_be_slice(op.paymasterAndData.get(20..52).unwrap_or_default());
    keccak256(
        (
            op.sender,
            op.nonce,
            keccak256(&op.initCode),
            keccak256(&op.callData),
            op.accountGasLimits,
            paymaster_gas,
            op.preVerificationGas,
            op.gasFees,
            U256::from(chain_id),
            paymaster,
            U256::from(valid_until),
            U256::from(valid_after),
        )
            .abi_encode(),
    )
}

#[rpc(server, namespace = "pm")]
pub trait PaymasterApi {
    #[method(name = "getPaymasterStubData")]
    async fn get_paymaster_stub_data(&self, op: UserOperation, entry_point: Address, chain_id: U64, policy_context: Option<Value>) -> RpcResult<Value>;
    #[method(name = "getPaymasterData")]
    async fn get_paymaster_data(&self, op: UserOperation, entry_point: Address, chain_id: U64, policy_context: Option<Value>) -> RpcResult<Value>;
}

struct Rpc {
    app: Arc<App>,
}

impl Rpc {
    /// The request's checks: the chain, the EntryPoint, the fields, the allow-list.
    fn check(&self, op: &UserOperation, entry_point: Address, chain_id: U64) -> Result<(), ErrorObjectOwned> {
        if chain_id.to::<u64>() != self.app.chain_id {
            return Err(rpc_error(-32602, format!("chain {chain_id} asked for; this paymaster sponsors on chain {}", self.app.chain_id)));
        }
        if entry_point != ENTRY_POINT_V07 {
            return Err(rpc_error(-32602, format!("EntryPoint {entry_point} is not supported: this paymaster sponsors for EntryPoint v0.7 ({ENTRY_POINT_V07})")));
        }
        op.check().map_err(|e| rpc_error(-32602, e.0))?;
        if !self.app.args.allow.is_empty() && !self.app.args.allow.contains(&op.sender) {
            return Err(self.refuse(-32003, format!("{} is not on this paymaster's allow-list", op.sender)));
        }
        Ok(())
    }

    fn refuse(&self, code: i32, message: String) -> ErrorObjectOwned {
        self.app.stats.refused.fetch_add(1, Ordering::Relaxed);
        tracing::info!(%message, "sponsorship refused");
        rpc_error(code, message)
    }

    /// The op as it will be sent: this paymaster, its gas limits (the op's, or the stub's).
    fn sponsored(&self, op: &UserOperation) -> UserOperation {
        let mut op = op.clone();
        op.paymaster = Some(self.app.paymaster);
        op.paymaster_verification_gas_limit = Some(op.paymaster_verification_gas_limit.unwrap_or(U256::from(STUB_VERIFICATION_GAS)));
        op.paymaster_post_op_gas_limit = Some(op.paymaster_post_op_gas_limit.unwrap_or_default());
        op
    }

    fn window(&self) -> (u64, u64) {
        let now = ande_sender::now_secs();
        (now + self.app.args.validity.as_secs(), now.saturating_sub(60))
    }

    fn paymaster_data(valid_until: u64, valid_after: u64, signature: &[u8]) -> Bytes {
        [(U256::from(valid_until), U256::from(valid_after)).abi_encode().as_slice(), signature].concat().into()
    }
}

#[async_trait]
impl PaymasterApiServer for Rpc {
    async fn get_paymaster_stub_data(&self, op: UserOperation, entry_point: Address, chain_id: U64, _context: Option<Value>) -> RpcResult<Value> {
        self.check(&op, entry_point, chain_id)?;
        let (valid_until, valid_after) = self.window();
        let stub = self.app.stub_signer.sign_message_sync(B256::ZERO.as_slice()).map_err(|e| rpc_error(-32603, e.to_string()))?;
        Ok(json!({
            "paymaster": self.app.paymaster,
            "paymasterData": Self::paymaster_data(valid_until, valid_after, &stub.as_bytes()),
            "paymasterVerificationGasLimit": U64::from(STUB_VERIFICATION_GAS),
            "paymasterPostOpGasLimit": U64::ZERO,
            "sponsor": { "name": self.app.args.name },
            "isFinal": false,
        }))
    }

    async fn get_paymaster_data(&self, op: UserOperation, entry_point: Address, chain_id: U64, _context: Option<Value>) -> RpcResult<Value> {
        self.check(&op, entry_point, chain_id)?;
        let op = self.sponsored(&op);
        let gas = op.check().map_err(|e| rpc_error(-32602, e.0))?;
        let total = u64::try_from(gas.total()).unwrap_or(u64::MAX);
        let gwei = u64::try_from(gas.max_cost().div_ceil(U256::from(1_000_000_000u64))).unwrap_or(u64::MAX);
        let caps = Caps { sender_gas: self.app.args.sender_daily_gas, global_gwei: u64::try_from(self.app.args.daily_wei / U256::from(1_000_000_000u64)).unwrap_or(u64::MAX) };
        let day = ande_sender::now_secs() / 86_400;
        match self.app.budget.charge(day, op.sender, total, gwei, caps).await.map_err(|e| rpc_error(-32603, format!("the budget store: {e}")))? {
            Charge::Granted => {}
            Charge::SenderSpent => return Err(self.refuse(-32005, format!("{} has used its {} gas of sponsorship today", op.sender, caps.sender_gas))),
            Charge::GlobalSpent => return Err(self.refuse(-32005, "today's sponsorship budget is spent".into())),
        }
        let (valid_until, valid_after) = self.window();
        // The signature covers the paymaster's gas limits (set above), not its own data.
        let hash = paymaster_hash(&op.packed(), self.app.chain_id, self.app.paymaster, valid_until, valid_after);
        let signature = self.app.signer.sign_message_sync(hash.as_slice()).map_err(|e| rpc_error(-32603, e.to_string()))?;
        self.app.stats.sponsored.fetch_add(1, Ordering::Relaxed);
        tracing::info!(sender = %op.sender, gas = total, gwei, "sponsored");
        Ok(json!({ "paymaster": self.app.paymaster, "paymasterData": Self::paymaster_data(valid_until, valid_after, &signature.as_bytes()) }))
    }
}

struct Endpoints {
    app: Arc<App>,
}

impl Intercept for Endpoints {
    fn intercept(&self, method: &hyper::Method, uri: &hyper::Uri, headers: &hyper::HeaderMap) -> Option<HttpResponse> {
        let stats = &self.app.stats;
        if is_plain_get(method, uri, headers, &["/health"]) {
            let fresh = self.app.checked.read().is_some_and(|t| t.elapsed() < Duration::from_secs(10));
            let deposit = U256::from(stats.deposit_gwei.load(Ordering::Relaxed)) * U256::from(1_000_000_000u64);
            let reason = if !fresh {
                Some("the node's RPC does not answer")
            } else if deposit < self.app.args.min_deposit {
                Some("the paymaster's deposit at the EntryPoint is low")
            } else {
                None
            };
            let body = json!({
                "status": if reason.is_none() { "ok" } else { "unavailable" },
                "reason": reason,
                "chain_id": self.app.chain_id,
                "paymaster": self.app.paymaster,
                "deposit": deposit.to_string(),
                "spent_today_gwei": stats.spent_gwei.load(Ordering::Relaxed),
            });
            let status = if reason.is_none() { hyper::StatusCode::OK } else { hyper::StatusCode::SERVICE_UNAVAILABLE };
            return Some(json_response(status, &body));
        }
        if is_plain_get(method, uri, headers, &["/metrics"]) {
            let text = format!(
                "# HELP ande_paymaster_sponsored_total Operations signed for.\n# TYPE ande_paymaster_sponsored_total counter\nande_paymaster_sponsored_total {}\n\
                 # HELP ande_paymaster_refused_total Sponsorships refused by the policy.\n# TYPE ande_paymaster_refused_total counter\nande_paymaster_refused_total {}\n\
                 # HELP ande_paymaster_spent_today_ether Sponsorship charged today, at the operations' fee caps.\n# TYPE ande_paymaster_spent_today_ether gauge\nande_paymaster_spent_today_ether {}\n\
                 # HELP ande_paymaster_deposit_ether The paymaster's deposit at the EntryPoint.\n# TYPE ande_paymaster_deposit_ether gauge\nande_paymaster_deposit_ether {}\n",
                stats.sponsored.load(Ordering::Relaxed),
                stats.refused.load(Ordering::Relaxed),
                stats.spent_gwei.load(Ordering::Relaxed) as f64 / 1e9,
                stats.deposit_gwei.load(Ordering::Relaxed) as f64 / 1e9,
            );
            let mut response = HttpResponse::new(HttpBody::from(text));
            response.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"));
            return Some(response);
        }
        None
    }
}
