//! The bundler benchmark: `ande bundler` (EntryPoint v0.7, full ERC-7562 tracing) on `ande node`
//! with 2 s blocks, SimpleAccounts as the senders. It measures eth_sendUserOperation's latency
//! over distinct senders (accounts deployed beforehand), and over first operations that deploy
//! their account; the time from eth_sendUserOperation to the receipt at a steady rate; the
//! operations per second sustained for a minute and what bounds them; and the
//! preVerificationGas the bundler asks for next to the reference formula's.

use crate::client::{Conn, quantity};
use crate::process::{self, Target, free_port, key_file};
use crate::{GAS_LIMIT, fresh_dir, report, send_all, stats, workload, write_genesis};
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, SolValue};
use ande_contracts::abi::{ISimpleAccount, ISimpleAccountFactory};
use ande_contracts::create2::{ENTRY_POINT_V07, PROXY};
use ande_contracts::userop::{UserOperation, Version};
use eyre::{Result, WrapErr, eyre};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Genesis accounts that fund and deploy the SimpleAccounts (the node's pool takes 1024
/// transactions per sender).
const FUNDERS: u64 = 40;
const BLOCK_TIME: Duration = Duration::from_secs(2);
/// How often receipts are asked for after a block is published: the resolution of the
/// inclusion times; for how long at most.
const RECEIPT_POLL: Duration = Duration::from_millis(5);
const RECEIPT_WINDOW: Duration = Duration::from_millis(500);
/// Connections the receipts are asked for over, side by side.
const RECEIPT_CONNECTIONS: usize = 8;
/// How often the node's head is asked for: the resolution of when blocks are published.
const HEAD_POLL: Duration = Duration::from_millis(2);
const MAX_FEE: u64 = 100_000_000_000;
const TIP: u64 = 1_000_000_000;

pub struct Options {
    pub senders: usize,
    pub deploying: usize,
    pub rate: u64,
    pub rate_seconds: u64,
    pub sustained_seconds: u64,
    pub connections: usize,
}

struct Account {
    owner: PrivateKeySigner,
    address: Address,
    /// The next nonce to sign with.
    nonce: AtomicU64,
}

/// The gas fields every operation of one shape is sent with.
#[derive(Clone, Copy)]
struct Limits {
    call: U256,
    verification: U256,
    pre_verification: U256,
}

struct Bench {
    node: Target,
    bundler: Target,
    factory: Address,
    /// `senders` deployed accounts, then `deploying` whose first operation deploys them.
    accounts: Vec<Account>,
    senders: usize,
}

pub async fn run(ande: &Path, workdir: &Path, options: Options) -> Result<()> {
    let funders: Vec<PrivateKeySigner> = (0..FUNDERS).map(workload::signer).collect();
    let bundler_key = workload::signer(FUNDERS);
    let deployer = workload::signer(FUNDERS + 1);
    let mut funded = funders.clone();
    funded.extend([bundler_key.clone(), deployer.clone()]);
    let mut genesis = workload::genesis(&funded, 0, GAS_LIMIT);
    genesis["alloc"][PROXY.to_string()] = proxy_alloc()?;
    let genesis = write_genesis(&workdir.join("bundler"), &genesis)?;
    let node = Target::ande(ande, &genesis, &fresh_dir(&workdir.join("ande-data"))?, "2s", &["--txpool.max-count", "100000"]).await?;
    let factory = deploy(ande, workdir, &node, &deployer)?;
    let bundler = start_bundler(ande, workdir, &node, &bundler_key).await?;
    let owners: Vec<PrivateKeySigner> = (0..(options.senders + options.deploying) as u64).map(|i| workload::signer(1_000_000 + i)).collect();
    let accounts = prepare_accounts(&node, factory, owners, options.senders, &funders).await?;
    eprintln!("bundler: {} SimpleAccounts funded, {} of them deployed", accounts.len(), options.senders);
    let bench = Arc::new(Bench { node, bundler, factory, accounts, senders: options.senders });

    let validated = validation(&bench).await?;
    let gas = pre_verification_gas(&bench).await?;
    let deploying = deploying(&bench).await?;
    let rate = inclusion(&bench, options.rate, options.rate_seconds, options.connections).await?;
    let sustained = sustained(&bench, options.sustained_seconds, options.connections).await?;
    report("bundler", "ande", json!({ "validation": validated, "deploying": deploying, "pre_verification_gas": gas, "inclusion": rate, "sustained": sustained }));
    Ok(())
}

/// The deterministic deployment proxy's genesis entry, as the stack's genesis files have it.
fn proxy_alloc() -> Result<Value> {
    let local: Value = serde_json::from_slice(&std::fs::read("genesis/local.json").wrap_err("genesis/local.json (run from the repository)")?)?;
    let entry = local["alloc"].as_object().and_then(|a| a.iter().find(|(k, _)| k.parse::<Address>().ok() == Some(PROXY))).map(|(_, v)| v.clone());
    entry.ok_or_else(|| eyre!("genesis/local.json has no {PROXY}"))
}

/// `ande deploy`; the SimpleAccountFactory v0.7's address.
fn deploy(ande: &Path, workdir: &Path, node: &Target, deployer: &PrivateKeySigner) -> Result<Address> {
    let dir = fresh_dir(&workdir.join("deploy"))?;
    let out = dir.join("deployments.json");
    let status = Command::new(ande)
        .args(["deploy", "--rpc-url", &format!("http://{}", node.addr), "--network", "bench"])
        .arg("--private-key-file")
        .arg(key_file(&dir, deployer)?)
        .arg("--out")
        .arg(&out)
        .arg("--data-dir")
        .arg(dir.join("journal"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(eyre!("ande deploy failed: {status}"));
    }
    let deployments: Value = serde_json::from_slice(&std::fs::read(&out)?)?;
    Ok(deployments["contracts"]["simpleAccountFactoryV07"].as_str().ok_or_else(|| eyre!("no simpleAccountFactoryV07 in {deployments}"))?.parse()?)
}

async fn start_bundler(ande: &Path, workdir: &Path, node: &Target, key: &PrivateKeySigner) -> Result<Target> {
    let dir = fresh_dir(&workdir.join("bundler-data"))?;
    let port = free_port()?;
    let child = Command::new(ande)
        .args(["bundler", "--rpc-url", &format!("http://{}", node.internal), "--ws-url", &format!("ws://{}", node.internal)])
        .args(["--port", &port.to_string(), "--entry-points", "v0.7", "--mempool.max-ops", "50000"])
        .arg("--private-key-file")
        .arg(key_file(&dir, key)?)
        .arg("--data-dir")
        .arg(dir.join("store"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let bundler = Target::spawned(child, SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut conn) = Conn::open(bundler.addr).await
            && let Ok((status, _)) = conn.send(hyper::Method::GET, "/health", Default::default(), &[]).await
            && status.is_success()
        {
            return Ok(bundler);
        }
        if Instant::now() > deadline {
            return Err(eyre!("the bundler did not become healthy within 60 s"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The owners' SimpleAccount addresses (the factory's getAddress), each funded with 1 ANDE; the
/// first `deployed` deployed by calling the factory directly.
async fn prepare_accounts(node: &Target, factory: Address, owners: Vec<PrivateKeySigner>, deployed: usize, funders: &[PrivateKeySigner]) -> Result<Vec<Account>> {
    let mut conn = Conn::open(node.addr).await?;
    let mut accounts = Vec::with_capacity(owners.len());
    for chunk in owners.chunks(500) {
        let calls: Vec<Value> = chunk.iter().map(|o| json!([{ "to": factory, "data": create_account(o.address(), false) }, "latest"])).collect();
        for (owner, result) in chunk.iter().zip(conn.batch("eth_call", &calls).await?) {
            let output: Bytes = serde_json::from_value(result.map_err(|e| eyre!("getAddress: {e}"))?)?;
            accounts.push(Account { owner: owner.clone(), address: Address::abi_decode(&output)?, nonce: AtomicU64::new(0) });
        }
    }
    let mut nonces = vec![0u64; funders.len()];
    let mut txs = Vec::with_capacity(accounts.len() + deployed);
    for (i, account) in accounts.iter().enumerate() {
        let f = i % funders.len();
        txs.push(workload::transfer(&funders[f], nonces[f], account.address, U256::from(10u64).pow(U256::from(18u64)))?);
        nonces[f] += 1;
        if i < deployed {
            txs.push(workload::call(&funders[f], nonces[f], factory, U256::ZERO, create_account(account.owner.address(), true), 500_000)?);
            nonces[f] += 1;
        }
    }
    // One connection: each funder's nonces arrive in order.
    let refused = send_all(node, Arc::new(txs), 1, 200).await?;
    if refused > 0 {
        return Err(eyre!("{refused} set-up transactions refused"));
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let params: Vec<Value> = funders.iter().map(|f| json!([f.address(), "latest"])).collect();
        let mined = conn.batch("eth_getTransactionCount", &params).await?;
        let short: Vec<String> = mined
            .iter()
            .zip(&nonces)
            .zip(funders)
            .filter(|((n, want), _)| n.as_ref().ok().and_then(|v| quantity(v).ok()) != Some(**want))
            .map(|((n, want), f)| format!("{} at {:?} of {want}", f.address(), n.as_ref().ok()))
            .collect();
        if short.is_empty() {
            return Ok(accounts);
        }
        if Instant::now() > deadline {
            let pool = Conn::open(node.internal).await?.call("txpool_status", json!([])).await?;
            return Err(eyre!("the set-up transactions were not all mined within 180 s (pool {pool}): {}", short.join(", ")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The factory's createAccount (`create`) or getAddress calldata for `owner`, salt 0.
fn create_account(owner: Address, create: bool) -> Bytes {
    if create {
        ISimpleAccountFactory::createAccountCall { owner, salt: U256::ZERO }.abi_encode().into()
    } else {
        ISimpleAccountFactory::getAddressCall { owner, salt: U256::ZERO }.abi_encode().into()
    }
}

impl Bench {
    /// `account`'s next operation, signed: a call to a fresh address, and its account's
    /// deployment when `deploy`.
    fn operation(&self, index: usize, deploy: bool, limits: Limits) -> Result<UserOperation> {
        let account = &self.accounts[index];
        let call_data = ISimpleAccount::executeCall { dest: workload::recipient(index as u64), value: U256::ZERO, func: Bytes::new() }.abi_encode();
        let factory_data = deploy.then(|| create_account(account.owner.address(), true));
        let mut op = UserOperation {
            sender: account.address,
            nonce: U256::from(account.nonce.fetch_add(1, Ordering::Relaxed)),
            factory: deploy.then_some(self.factory),
            factory_data,
            call_data: call_data.into(),
            call_gas_limit: limits.call,
            verification_gas_limit: limits.verification,
            pre_verification_gas: limits.pre_verification,
            max_fee_per_gas: U256::from(MAX_FEE),
            max_priority_fee_per_gas: U256::from(TIP),
            paymaster: None,
            paymaster_verification_gas_limit: None,
            paymaster_post_op_gas_limit: None,
            paymaster_data: None,
            signature: Bytes::new(),
            eip7702_auth: None,
        };
        // SimpleAccount v0.7 checks an EIP-191 signature of the operation's hash.
        let hash = op.hash(Version::V07, ENTRY_POINT_V07, workload::CHAIN_ID);
        op.signature = account.owner.sign_message_sync(hash.as_slice())?.as_bytes().to_vec().into();
        Ok(op)
    }

    /// The bundler's estimate for `index`'s next operation (not spent: the nonce is given back),
    /// with margins for the other senders' slightly different bytes and signatures.
    async fn limits(&self, index: usize, deploy: bool) -> Result<(Limits, UserOperation, U256)> {
        let probe = Limits { call: U256::from(100_000), verification: U256::from(400_000), pre_verification: U256::from(100_000) };
        let op = self.operation(index, deploy, probe)?;
        self.accounts[index].nonce.fetch_sub(1, Ordering::Relaxed);
        let estimate = Conn::open(self.bundler.addr).await?.call("eth_estimateUserOperationGas", json!([op, ENTRY_POINT_V07])).await?;
        let field = |name: &str| -> Result<U256> { Ok(U256::from(quantity(&estimate[name])?)) };
        let pvg = field("preVerificationGas")?;
        let limits = Limits { call: field("callGasLimit")? * U256::from(11) / U256::from(10), verification: field("verificationGasLimit")? * U256::from(11) / U256::from(10), pre_verification: pvg + U256::from(2_000) };
        Ok((limits, op, pvg))
    }
}

/// eth-infinitism's reference preVerificationGas: 21,000 per bundle (of one), 18,300 per
/// operation, 4 per 32-byte word and 4 / 16 per zero / non-zero byte of the ABI-encoded packed
/// operation, whose signature counts as 65 bytes of 0x01 when empty.
fn reference_pvg(op: &UserOperation) -> u64 {
    let mut op = op.clone();
    if op.signature.is_empty() {
        op.signature = vec![1u8; 65].into();
    }
    let packed = op.packed().abi_encode();
    let bytes: u64 = packed.iter().map(|b| if *b == 0 { 4 } else { 16 }).sum();
    let words = (packed.len() as f64 + 31.0) / 32.0;
    (bytes as f64 + 21_000.0 + 18_300.0 + 4.0 * words).round() as u64
}

/// Sends `op` to the bundler; the hash it answers with, or its error.
async fn send(conn: &mut Conn, op: &UserOperation) -> Result<B256> {
    let hash = conn.call("eth_sendUserOperation", json!([op, ENTRY_POINT_V07])).await?;
    Ok(serde_json::from_value(hash)?)
}

/// eth_sendUserOperation one at a time, one per deployed sender.
async fn validation(bench: &Bench) -> Result<Value> {
    let (limits, _, _) = bench.limits(0, false).await?;
    let mut conn = Conn::open(bench.bundler.addr).await?;
    let mut latencies = Vec::with_capacity(bench.senders);
    let mut sent = Vec::new();
    let mut refused = Vec::new();
    for index in 0..bench.senders {
        let op = bench.operation(index, false, limits)?;
        let started = Instant::now();
        match send(&mut conn, &op).await {
            Ok(hash) => {
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                sent.push((hash, started));
            }
            Err(e) => {
                bench.accounts[index].nonce.fetch_sub(1, Ordering::Relaxed);
                refused.push(e.to_string());
            }
        }
    }
    let seen = track(bench, sent.clone(), Duration::from_secs(120)).await?;
    let (p50, p99) = (stats::percentile(&mut latencies, 50.0), stats::percentile(&mut latencies, 99.0));
    eprintln!(
        "bundler validation: {} of {} operations accepted ({} refused{}), eth_sendUserOperation p50 {p50:.1} ms p99 {p99:.1} ms; {} included",
        sent.len(),
        bench.senders,
        refused.len(),
        refused.first().map(|e| format!(", first: {e}")).unwrap_or_default(),
        seen.len()
    );
    Ok(json!({ "senders": bench.senders, "accepted": sent.len(), "refused": refused.len(), "included": seen.len(), "p50_ms": p50, "p99_ms": p99 }))
}

/// First operations that deploy their account, one at a time. The factory is unstaked, so
/// ERC-7562 caps its operations in the mempool (UREP-020: 10, plus what its inclusions earn);
/// an operation refused for that is sent again 100 ms later, and only accepted sends are timed.
async fn deploying(bench: &Bench) -> Result<Value> {
    if bench.accounts.len() == bench.senders {
        return Ok(Value::Null);
    }
    let (limits, _, _) = bench.limits(bench.senders, true).await?;
    let mut conn = Conn::open(bench.bundler.addr).await?;
    let mut latencies = Vec::new();
    let mut sent = Vec::new();
    let mut retries = 0usize;
    let deadline = Instant::now() + Duration::from_secs(600);
    for index in bench.senders..bench.accounts.len() {
        let op = bench.operation(index, true, limits)?;
        loop {
            let started = Instant::now();
            match send(&mut conn, &op).await {
                Ok(hash) => {
                    latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                    sent.push((hash, started));
                    break;
                }
                Err(e) if e.to_string().contains("-32504") && Instant::now() < deadline => {
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e.wrap_err("a deploying operation")),
            }
        }
    }
    let seen = track(bench, sent.clone(), Duration::from_secs(120)).await?;
    let (p50, p99) = (stats::percentile(&mut latencies, 50.0), stats::percentile(&mut latencies, 99.0));
    eprintln!(
        "bundler validation, deploying: {} operations accepted ({retries} sends refused for the factory's mempool allowance and sent again), eth_sendUserOperation p50 {p50:.1} ms p99 {p99:.1} ms; {} included",
        sent.len(),
        seen.len()
    );
    Ok(json!({ "accepted": sent.len(), "retries": retries, "included": seen.len(), "p50_ms": p50, "p99_ms": p99 }))
}

/// What eth_estimateUserOperationGas says for a SimpleAccount operation, deployed and (before
/// the deploying run) deploying, next to the reference formula on the same signed operation.
async fn pre_verification_gas(bench: &Bench) -> Result<Value> {
    let mut cases = vec![("deployed", 0, false)];
    if bench.accounts.len() > bench.senders {
        cases.push(("deploying", bench.accounts.len() - 1, true));
    }
    let mut figures = serde_json::Map::new();
    for (name, index, deploy) in cases {
        let (limits, _, ours) = bench.limits(index, deploy).await?;
        let signed = bench.operation(index, deploy, limits)?;
        bench.accounts[index].nonce.fetch_sub(1, Ordering::Relaxed);
        let reference = reference_pvg(&signed);
        eprintln!("bundler preVerificationGas, SimpleAccount v0.7 {name}: ours {ours}, reference formula {reference}");
        figures.insert(name.into(), json!({ "ours": ours.to::<u64>(), "reference": reference }));
    }
    Ok(figures.into())
}

/// When each operation's receipt was first seen at the bundler, until all are seen or `bound`
/// passes after the last was handed over.
async fn track(bench: &Bench, sent: Vec<(B256, Instant)>, bound: Duration) -> Result<HashMap<B256, Seen>> {
    let (tx, rx) = mpsc::unbounded_channel();
    for item in sent {
        tx.send(item)?;
    }
    drop(tx);
    follow_receipts(bench.node.addr, bench.bundler.addr, rx, bound).await
}

/// A receipt as first seen: when, and the block that included the operation.
#[derive(Clone, Copy)]
struct Seen {
    at: Instant,
    block: u64,
}

/// Receipts are asked for when the node publishes a block (its head polled every HEAD_POLL),
/// then every RECEIPT_POLL until a look finds nothing new or RECEIPT_WINDOW passes: a receipt
/// cannot exist before its block, and asking for every outstanding operation all the time
/// would load the node and the bundler more than the operations themselves do.
async fn follow_receipts(node: SocketAddr, bundler: SocketAddr, mut rx: mpsc::UnboundedReceiver<(B256, Instant)>, bound: Duration) -> Result<HashMap<B256, Seen>> {
    let mut conns = Vec::with_capacity(RECEIPT_CONNECTIONS);
    for _ in 0..RECEIPT_CONNECTIONS {
        conns.push(Conn::open(bundler).await?);
    }
    let mut heads = Conn::open(node).await?;
    let mut head = 0;
    let (mut window_until, mut found_in_window) = (Instant::now(), false);
    let mut outstanding: Vec<B256> = Vec::new();
    let mut seen = HashMap::new();
    let mut closed_at = None;
    loop {
        loop {
            match rx.try_recv() {
                Ok((hash, _)) => outstanding.push(hash),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed_at.get_or_insert_with(Instant::now);
                    break;
                }
            }
        }
        if closed_at.is_some_and(|t: Instant| outstanding.is_empty() || t.elapsed() > bound) {
            return Ok(seen);
        }
        let number = quantity(&heads.call("eth_blockNumber", json!([])).await?)?;
        if number > head {
            head = number;
            (window_until, found_in_window) = (Instant::now() + RECEIPT_WINDOW, false);
        }
        if Instant::now() >= window_until || outstanding.is_empty() {
            tokio::time::sleep(HEAD_POLL).await;
            continue;
        }
        let before = seen.len();
        outstanding = receipts_pass(&mut conns, outstanding, &mut seen).await?;
        let found = seen.len() > before;
        if found_in_window && !found {
            window_until = Instant::now();
        }
        found_in_window |= found;
        tokio::time::sleep(RECEIPT_POLL).await;
    }
}

/// One look at every outstanding operation's receipt; returns those still without one. Each
/// receipt carries its bundle's whole transaction receipt: small batches, side by side, so a
/// look takes about one batch's time however many are outstanding.
async fn receipts_pass(conns: &mut [Conn], outstanding: Vec<B256>, seen: &mut HashMap<B256, Seen>) -> Result<Vec<B256>> {
    let share = outstanding.len().div_ceil(conns.len()).max(1);
    let passes = conns.iter_mut().zip(outstanding.chunks(share)).map(|(conn, part)| async move {
        let mut answered = Vec::with_capacity(part.len());
        for chunk in part.chunks(25) {
            let params: Vec<Value> = chunk.iter().map(|h| json!([h])).collect();
            let answers = conn.batch("eth_getUserOperationReceipt", &params).await?;
            answered.extend(chunk.iter().copied().zip(answers).map(|(h, a)| (h, a, Instant::now())));
        }
        Ok::<_, eyre::Report>(answered)
    });
    let mut still = Vec::with_capacity(outstanding.len());
    for answered in futures_util::future::try_join_all(passes).await? {
        for (hash, answer, at) in answered {
            match answer {
                Ok(receipt) if !receipt.is_null() => {
                    seen.insert(hash, Seen { at, block: quantity(&receipt["receipt"]["blockNumber"])? });
                }
                _ => still.push(hash),
            }
        }
    }
    Ok(still)
}

/// When each block was first seen at the node (polled every HEAD_POLL), in order, until `stop`.
async fn watch_heads(node: SocketAddr, mut stop: tokio::sync::watch::Receiver<bool>) -> Result<Vec<(u64, Instant)>> {
    let mut conn = Conn::open(node).await?;
    let mut heads: Vec<(u64, Instant)> = Vec::new();
    while !*stop.borrow_and_update() {
        let number = quantity(&conn.call("eth_blockNumber", json!([])).await?)?;
        if heads.last().is_none_or(|(n, _)| *n < number) {
            heads.push((number, Instant::now()));
        }
        tokio::select! {
            _ = tokio::time::sleep(HEAD_POLL) => {}
            _ = stop.changed() => {}
        }
    }
    Ok(heads)
}

/// Operations at `rate` per second for `seconds`, from senders whose accounts exist: the time
/// from eth_sendUserOperation to the receipt.
async fn inclusion(bench: &Bench, rate: u64, seconds: u64, connections: usize) -> Result<Value> {
    let count = ((rate * seconds) as usize).min(bench.accounts.len());
    let (limits, _, _) = bench.limits(0, false).await?;
    let ops: Vec<UserOperation> = (0..count).map(|i| bench.operation(i, false, limits)).collect::<Result<_>>()?;
    let ops = Arc::new(ops);
    let (tx, rx) = mpsc::unbounded_channel();
    let follower = tokio::spawn(follow_receipts(bench.node.addr, bench.bundler.addr, rx, Duration::from_secs(60)));
    let (stop_heads, stopped) = tokio::sync::watch::channel(false);
    let heads = tokio::spawn(watch_heads(bench.node.addr, stopped));
    let start = Instant::now() + Duration::from_millis(100);
    let refused = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..connections {
        let (ops, tx, refused) = (ops.clone(), tx.clone(), refused.clone());
        let mut conn = Conn::open(bench.bundler.addr).await?;
        workers.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for i in (worker..ops.len()).step_by(connections) {
                tokio::time::sleep_until((start + Duration::from_secs_f64(i as f64 / rate as f64)).into()).await;
                let at = Instant::now();
                match send(&mut conn, &ops[i]).await {
                    Ok(hash) => {
                        sent.push((hash, at));
                        let _ = tx.send((hash, at));
                    }
                    Err(_) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Ok::<_, eyre::Report>(sent)
        }));
    }
    drop(tx);
    let mut sent = Vec::new();
    for worker in workers {
        sent.extend(worker.await??);
    }
    let seen = follower.await??;
    stop_heads.send(true)?;
    let heads = heads.await??;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut latencies: Vec<f64> = sent.iter().filter_map(|(h, at)| seen.get(h).map(|s| ms(s.at.duration_since(*at)))).collect();
    // Where the time goes: did the operation make the first block published after it was sent,
    // and how long after its block was published did its receipt answer.
    let (mut next_block, mut lag) = (0usize, Vec::new());
    for (hash, at) in &sent {
        let Some(s) = seen.get(hash) else { continue };
        let first = heads.iter().find(|(_, t)| t > at).map(|(n, _)| *n);
        next_block += usize::from(first == Some(s.block));
        if let Some((_, published)) = heads.iter().find(|(n, _)| *n == s.block) {
            lag.push(ms(s.at.saturating_duration_since(*published)));
        }
    }
    let goal = ms(BLOCK_TIME + Duration::from_millis(100));
    let within = latencies.iter().filter(|l| **l <= goal).count();
    let (p50, p99, max) = (stats::percentile(&mut latencies, 50.0), stats::percentile(&mut latencies, 99.0), stats::percentile(&mut latencies, 100.0));
    let (lag50, lag99) = (stats::percentile(&mut lag, 50.0), stats::percentile(&mut lag, 99.0));
    eprintln!(
        "bundler inclusion at {rate} ops/s: {} of {} sent included ({} refused); send to receipt p50 {p50:.0} ms p99 {p99:.0} ms max {max:.0} ms; {within} within one block time + 100 ms; {next_block} in the first block published after their send; block published to receipt p50 {lag50:.0} ms p99 {lag99:.0} ms",
        seen.len(),
        sent.len(),
        refused.load(Ordering::Relaxed)
    );
    Ok(json!({ "rate": rate, "sent": sent.len(), "included": seen.len(), "refused": refused.load(Ordering::Relaxed),
        "p50_ms": p50, "p99_ms": p99, "max_ms": max, "within_block_time_plus_100ms": within,
        "in_next_block": next_block, "published_to_receipt_p50_ms": lag50, "published_to_receipt_p99_ms": lag99 }))
}

/// Operations as fast as `connections` clients get them accepted for `seconds`; how many were
/// accepted and included per second, the CPU the node and the bundler used, and how full the
/// blocks were.
async fn sustained(bench: &Arc<Bench>, seconds: u64, connections: usize) -> Result<Value> {
    let (limits, _, _) = bench.limits(0, false).await?;
    let mut conn = Conn::open(bench.node.addr).await?;
    let first_block = quantity(&conn.call("eth_blockNumber", json!([])).await?)? + 1;
    let cpu_before = (bench.node.cpu_seconds()?, bench.bundler.cpu_seconds()?, process::cpu_seconds(std::process::id())?);
    let (tx, rx) = mpsc::unbounded_channel();
    let follower = tokio::spawn(follow_receipts(bench.node.addr, bench.bundler.addr, rx, Duration::from_secs(120)));
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let next = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (bench, tx, next, refused) = (bench.clone(), tx.clone(), next.clone(), refused.clone());
        let mut conn = Conn::open(bench.bundler.addr).await?;
        workers.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            while Instant::now() < end {
                let index = next.fetch_add(1, Ordering::Relaxed) % bench.accounts.len();
                let op = bench.operation(index, false, limits)?;
                let at = Instant::now();
                match send(&mut conn, &op).await {
                    Ok(hash) => {
                        sent.push((hash, at));
                        let _ = tx.send((hash, at));
                    }
                    Err(_) => {
                        // Its previous operation is still waiting: the bundler is behind.
                        bench.accounts[index].nonce.fetch_sub(1, Ordering::Relaxed);
                        refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            Ok::<_, eyre::Report>(sent)
        }));
    }
    drop(tx);
    let mut sent = Vec::new();
    for worker in workers {
        sent.extend(worker.await??);
    }
    let window = started.elapsed().as_secs_f64();
    let cpu = (
        (bench.node.cpu_seconds()? - cpu_before.0) / window,
        (bench.bundler.cpu_seconds()? - cpu_before.1) / window,
        (process::cpu_seconds(std::process::id())? - cpu_before.2) / window,
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let last_block = quantity(&conn.call("eth_blockNumber", json!([])).await?)?;
    let seen = follower.await??;
    let drained = started.elapsed().as_secs_f64();
    let in_window = seen.values().filter(|s| s.at <= end).count();
    let (mut used, mut fullest) = (0u64, 0f64);
    for number in first_block..=last_block {
        let block = conn.call("eth_getBlockByNumber", json!([format!("{number:#x}"), false])).await?;
        let gas = quantity(&block["gasUsed"])?;
        used += gas;
        fullest = fullest.max(gas as f64 / GAS_LIMIT as f64);
    }
    let blocks = (last_block + 1).saturating_sub(first_block).max(1);
    let gas_share = used as f64 / (blocks * GAS_LIMIT) as f64;
    let bound = if fullest > 0.9 {
        "gas"
    } else if cpu.0 + cpu.1 + cpu.2 > 0.9 * cores {
        "cpu"
    } else {
        "neither gas nor cpu"
    };
    eprintln!(
        "bundler sustained over {window:.0} s, {connections} clients: {:.0} ops/s accepted ({} refused), {:.0} ops/s included within the window, all {} included after {drained:.0} s; CPU of {cores} cores: node {:.2}, bundler {:.2}, load generator {:.2}; blocks {:.1} % full on average, fullest {:.1} %: bounded by {bound}",
        sent.len() as f64 / window,
        refused.load(Ordering::Relaxed),
        in_window as f64 / window,
        seen.len(),
        cpu.0,
        cpu.1,
        cpu.2,
        gas_share * 100.0,
        fullest * 100.0
    );
    Ok(json!({ "seconds": window, "clients": connections, "accepted_per_second": sent.len() as f64 / window, "refused": refused.load(Ordering::Relaxed),
        "included_per_second_in_window": in_window as f64 / window, "included": seen.len(), "accepted": sent.len(), "drained_after_s": drained,
        "node_cores": cpu.0, "bundler_cores": cpu.1, "load_generator_cores": cpu.2, "block_gas_share": gas_share, "fullest_block_share": fullest, "bound": bound }))
}
