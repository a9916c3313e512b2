//! `ande up`: the local development stack in one process, each service on its default port, the
//! contracts deployed, and a summary a newcomer can act on once it answers.

use alloy_primitives::{Address, B256, U256};
use ande_chain::{ChainSpec, Deployments};
use clap::Parser;
use eyre::WrapErr;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A service's options as their defaults and the environment set them.
#[derive(Parser)]
struct Defaults<T: clap::Args> {
    #[command(flatten)]
    args: T,
}

fn defaults<T: clap::Args>() -> eyre::Result<T> {
    Ok(Defaults::<T>::try_parse_from(["ande"])?.args)
}

/// The genesis' development keys: the DA batches are signed with the key of the sequencer
/// address the genesis names, the others go in address order. `ande up` gives each service its
/// own, so their nonces never collide. DEVELOPMENT ONLY: a public network's genesis lists none.
struct DevKeys {
    /// Signs DA batches (no transactions).
    da: B256,
    deployer: B256,
    bundler: B256,
    /// Signs sponsorships for the VerifyingPaymaster (no transactions).
    paymaster: B256,
    /// Signs the bridge's checkpoints on both chains (and announces them).
    validator: B256,
    /// Delivers the bridge's messages on both chains.
    relayer: B256,
    faucet: B256,
    all: Vec<(Address, B256)>,
}

fn dev_keys(spec: &ChainSpec, genesis: &std::path::Path) -> eyre::Result<DevKeys> {
    let all: Vec<(Address, B256)> = spec.genesis.alloc.iter().filter_map(|(address, account)| Some((*address, account.private_key?))).collect();
    if all.len() < 7 {
        eyre::bail!("{} lists {} development keys, and `ande up` needs 7; it is for local chains", genesis.display(), all.len());
    }
    let da = match spec.sequencer_address {
        None => 0,
        Some(named) => all.iter().position(|(address, _)| *address == named).ok_or_else(|| {
            eyre::eyre!("{} names {named} as its sequencer but lists no development key for it", genesis.display())
        })?,
    };
    let mut rest: Vec<B256> = all.iter().map(|(_, key)| *key).collect();
    let da = rest.remove(da);
    Ok(DevKeys { da, deployer: rest[0], bundler: rest[1], paymaster: rest[2], validator: rest[3], relayer: rest[4], faucet: rest[rest.len() - 1], all })
}

fn env_port(var: &str, default: u16) -> eyre::Result<u16> {
    match std::env::var(var) {
        Ok(value) => value.parse().wrap_err_with(|| format!("{var}={value} is not a port")),
        Err(_) => Ok(default),
    }
}

/// The local stand-in for Ethereum that the bridge joins: a second `ande node` on its own
/// genesis (AndeChain's, as chain 31337 with ETH), ports and data, not posting to DA, in a
/// process of its own (a node's metrics are the process's).
struct L1 {
    genesis: std::path::PathBuf,
    datadir: std::path::PathBuf,
    addr: std::net::IpAddr,
    http_port: u16,
    ws_port: u16,
    metrics_port: u16,
    internal_port: u16,
    block_time: Duration,
}

impl L1 {
    fn configured(node: &ande_node::NodeArgs) -> eyre::Result<Self> {
        let datadir = node.datadir.with_file_name("l1");
        Ok(L1 {
            genesis: l1_genesis(node, &datadir)?,
            datadir,
            addr: node.http_addr,
            http_port: env_port("L1_RPC_PORT", 8547)?,
            ws_port: env_port("L1_WS_PORT", 8548)?,
            metrics_port: env_port("L1_METRICS_PORT", 9011)?,
            internal_port: env_port("L1_INTERNAL_PORT", 8550)?,
            block_time: node.block_time,
        })
    }

    fn url(&self) -> String {
        format!("http://{}:{}", self.addr, self.http_port)
    }

    /// Runs it until `shutdown`, then stops it (SIGTERM) and waits for it.
    async fn run(self, mut shutdown: watch::Receiver<bool>) -> eyre::Result<()> {
        let (addr, block_time) = (self.addr.to_string(), format!("{}ms", self.block_time.as_millis()));
        let ports = [self.http_port, self.ws_port, self.metrics_port, self.internal_port].map(|p| p.to_string());
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("node")
            .arg("--genesis")
            .arg(&self.genesis)
            .arg("--datadir")
            .arg(&self.datadir)
            .args(["--http.addr", &addr, "--rpc.internal-addr", &addr, "--block-time", &block_time])
            .args(["--http.port", &ports[0], "--ws.port", &ports[1], "--metrics.port", &ports[2], "--rpc.internal-port", &ports[3]])
            // AndeChain's settings are not the other chain's.
            .env_remove("DA_URL")
            .env_remove("CHAIN_ID")
            .env_remove("SEQUENCER_KEY")
            .env_remove("SEQUENCER_KEY_FILE")
            .kill_on_drop(true)
            .spawn()
            .wrap_err("starting the other chain's node")?;
        tokio::select! {
            status = child.wait() => eyre::bail!("the other chain's node exited: {}", status?),
            _ = shutdown.changed() => {}
        }
        if let Some(pid) = child.id() {
            // SAFETY: a plain signal to the child this function started and still holds.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
        child.wait().await?;
        Ok(())
    }
}

/// The other chain's chain id.
const L1_CHAIN_ID: u64 = 31337;

/// The other chain's genesis: L1_GENESIS, or AndeChain's own as chain 31337 with ETH as its
/// currency (the same development accounts and CREATE2 proxy, no DA sequencer), written beside
/// the other chain's data: derived, so the development keys are written down once.
fn l1_genesis(node: &ande_node::NodeArgs, datadir: &std::path::Path) -> eyre::Result<std::path::PathBuf> {
    if let Some(file) = std::env::var_os("L1_GENESIS") {
        return Ok(file.into());
    }
    let text = std::fs::read_to_string(&node.genesis).wrap_err_with(|| format!("reading {}", node.genesis.display()))?;
    let mut genesis: serde_json::Value = serde_json::from_str(&text).wrap_err_with(|| format!("{} is not JSON", node.genesis.display()))?;
    let config = genesis.get_mut("config").and_then(|c| c.as_object_mut()).ok_or_else(|| eyre::eyre!("{} has no config", node.genesis.display()))?;
    config.insert("chainId".into(), L1_CHAIN_ID.into());
    config.insert("nativeCurrency".into(), serde_json::json!({ "name": "Ether", "symbol": "ETH", "decimals": 18 }));
    config.remove("ande");
    std::fs::create_dir_all(datadir).wrap_err_with(|| format!("creating {}", datadir.display()))?;
    let path = datadir.join("genesis.json");
    std::fs::write(&path, serde_json::to_string_pretty(&genesis)?).wrap_err_with(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The bridge's local parts: the other chain, a validator for each chain, the relayer.
struct Bridge {
    node: L1,
    spec: ChainSpec,
    validators: [ande_bridge::ValidatorArgs; 2],
    relayer: ande_bridge::RelayerArgs,
}

impl Bridge {
    fn urls(&self) -> BridgeUrls {
        let validator = |v: &ande_bridge::ValidatorArgs| format!("http://{}:{}", v.addr, v.port);
        BridgeUrls {
            l1: self.node.url(),
            validators: [validator(&self.validators[0]), validator(&self.validators[1])],
            relayer: format!("http://{}:{}", self.relayer.addr, self.relayer.port),
        }
    }
}

struct BridgeUrls {
    l1: String,
    validators: [String; 2],
    relayer: String,
}

pub async fn run(mut node: ande_node::NodeArgs, shutdown: watch::Receiver<bool>) -> eyre::Result<()> {
    let spec = ChainSpec::from_file(&node.genesis)?;
    let keys = dev_keys(&spec, &node.genesis)?;
    let rpc_url = format!("http://{}:{}", node.http_addr, node.http_port);
    // The faucet, the explorer and the bundler read `ande_*` or trace: they use the internal port.
    let internal = std::net::SocketAddr::new(node.access.internal_addr, node.access.internal_port);
    let mut faucet: ande_faucet::FaucetArgs = defaults()?;
    let mut ui: ande_faucet::ui::FaucetUiArgs = defaults()?;
    faucet.web3_provider = format!("http://{internal}");
    if std::env::var_os("PUBLIC_RPC_URL").is_none() {
        faucet.public_rpc_url = rpc_url.clone();
    }
    faucet.chain_id = Some(spec.chain_id);
    faucet.private_key = Some(keys.faucet.to_string());
    faucet.private_key_file = None;
    // Behind its own page's proxy.
    faucet.trusted_proxies = faucet.trusted_proxies.max(1);
    if std::env::var_os("FAUCET_AMOUNT").is_none() {
        // The spec's local amount: 10 of the native currency.
        faucet.amount = U256::from(10u64) * U256::from(10u64).pow(U256::from(18u64));
    }
    ui.api_url = format!("http://{}:{}", faucet.addr, faucet.port);
    let mut da: ande_da::DaArgs = defaults()?;
    if std::env::var_os("DA_DATA_DIR").is_none() {
        // Beside the node's data: data/node and data/da by default.
        da.data_dir = node.datadir.with_file_name("da");
    }
    if node.da.url.is_none() {
        node.da.url = Some(format!("http://{}:{}", da.addr, da.port));
        if node.da.sequencer_key.is_none() && node.da.sequencer_key_file.is_none() {
            node.da.sequencer_key = Some(keys.da.to_string());
        }
    }
    let mut explorer: ande_explorer::ExplorerArgs = defaults()?;
    explorer.rpc_url = format!("http://{internal}");
    explorer.ws_url = Some(format!("ws://{internal}"));
    explorer.chain_id = Some(spec.chain_id);
    if std::env::var_os("DATABASE_URL").is_none() {
        // Beside the node's data: data/node and data/explorer by default.
        explorer.database_url = format!("sqlite://{}", node.datadir.with_file_name("explorer").join("explorer.db").display());
    }
    if faucet.explorer_url.is_none() {
        faucet.explorer_url = Some(format!("http://{}:{}", explorer.addr, explorer.port));
    }
    let mut deploy: ande_deploy::DeployArgs = defaults()?;
    deploy.rpc_url = rpc_url.clone();
    deploy.chain_id = Some(spec.chain_id);
    deploy.private_key = Some(keys.deployer.to_string());
    deploy.private_key_file = None;
    if std::env::var_os("DEPLOY_DATA_DIR").is_none() {
        deploy.data_dir = node.datadir.with_file_name("deploy");
    }
    deploy.paymaster_signer = keys.all.iter().find(|(_, key)| *key == keys.paymaster).map(|(address, _)| *address);
    if std::env::var_os("PAYMASTER_DEPOSIT").is_none() {
        // Sponsorship for local development: 100 of the native currency.
        deploy.paymaster_deposit = U256::from(100u64) * U256::from(10u64).pow(U256::from(18u64));
    }
    let address_of = |key: B256| keys.all.iter().find(|(_, k)| *k == key).map(|(address, _)| *address).expect("a development key of the genesis");
    let bridge = {
        let l1 = L1::configured(&node)?;
        let l1_spec = ChainSpec::from_file(&l1.genesis)?;
        let l1_url = l1.url();
        deploy.bridge.remote_rpc_url = Some(l1_url.clone());
        deploy.bridge.remote_chain_id = Some(l1_spec.chain_id);
        if std::env::var_os("BRIDGE_VALIDATORS").is_none() {
            deploy.bridge.validators = vec![address_of(keys.validator)];
        }
        let remote_file = deploy.bridge.remote_out_path(&deploy);
        let mut ande_validator: ande_bridge::ValidatorArgs = defaults()?;
        ande_validator.rpc_url = format!("http://{internal}");
        ande_validator.chain_id = Some(spec.chain_id);
        ande_validator.deployments = deploy.out_path();
        ande_validator.private_key = Some(keys.validator.to_string());
        ande_validator.private_key_file = None;
        if std::env::var_os("VALIDATOR_DATA_DIR").is_none() {
            ande_validator.data_dir = node.datadir.with_file_name("validator");
        }
        let mut l1_validator = ande_validator.clone();
        l1_validator.rpc_url = l1_url.clone();
        l1_validator.chain_id = Some(l1_spec.chain_id);
        l1_validator.deployments = remote_file.clone();
        // One producer, no reorganisation: its head is final.
        l1_validator.finality = ande_bridge::validator::Finality::Depth;
        l1_validator.port = env_port("L1_VALIDATOR_PORT", ande_validator.port + 1)?;
        l1_validator.public_url = None;
        l1_validator.checkpoint_dir = ande_validator.checkpoint_dir.as_ref().map(|d| d.join("l1"));
        l1_validator.data_dir = ande_validator.data_dir.with_file_name("validator-l1");
        let mut relayer = Defaults::<ande_bridge::RelayerArgs>::try_parse_from(["ande", "--remote-rpc-url", l1_url.as_str()])?.args;
        relayer.rpc_url = rpc_url.clone();
        relayer.chain_id = Some(spec.chain_id);
        relayer.deployments = deploy.out_path();
        relayer.remote_rpc_url = l1_url;
        relayer.remote_chain_id = Some(l1_spec.chain_id);
        relayer.remote_deployments = remote_file;
        relayer.private_key = Some(keys.relayer.to_string());
        relayer.private_key_file = None;
        if std::env::var_os("RELAYER_DATA_DIR").is_none() {
            relayer.data_dir = node.datadir.with_file_name("relayer");
        }
        Bridge { node: l1, spec: l1_spec, validators: [ande_validator, l1_validator], relayer }
    };
    let mut paymaster: ande_paymaster::PaymasterArgs = defaults()?;
    paymaster.rpc_url = rpc_url.clone();
    paymaster.chain_id = Some(spec.chain_id);
    paymaster.signer_key = Some(keys.paymaster.to_string());
    paymaster.signer_key_file = None;
    if std::env::var_os("PAYMASTER_DATA_DIR").is_none() {
        paymaster.data_dir = node.datadir.with_file_name("paymaster");
    }
    let mut bundler: ande_bundler::BundlerArgs = defaults()?;
    bundler.rpc_url = format!("http://{internal}");
    bundler.ws_url = Some(format!("ws://{internal}"));
    bundler.chain_id = Some(spec.chain_id);
    bundler.private_key = Some(keys.bundler.to_string());
    bundler.private_key_file = None;
    if std::env::var_os("BUNDLER_DATA_DIR").is_none() {
        bundler.data_dir = node.datadir.with_file_name("bundler");
    }
    let mut frontend: ande_frontend::FrontendArgs = defaults()?;
    frontend.genesis = node.genesis.clone();
    frontend.chain_id = Some(spec.chain_id);
    frontend.rpc_url = rpc_url.clone();
    if std::env::var_os("NEXT_PUBLIC_RPC_URL").is_none() {
        frontend.public_rpc_url = rpc_url.clone();
    }
    frontend.public_ws_url.get_or_insert(format!("ws://{}:{}", node.http_addr, node.ws_port));
    frontend.explorer_url.get_or_insert(format!("http://{}:{}", explorer.addr, explorer.port));
    frontend.faucet_url.get_or_insert(format!("http://{}:{}", ui.addr, ui.port));
    frontend.faucet_api_url.get_or_insert(format!("http://{}:{}", faucet.addr, faucet.port));
    frontend.bundler_url.get_or_insert(format!("http://{}:{}", bundler.addr, bundler.port));
    frontend.paymaster_url.get_or_insert(format!("http://{}:{}", paymaster.addr, paymaster.port));
    frontend.deployments.get_or_insert(deploy.out_path());
    frontend.da_status_url.get_or_insert(format!("http://{internal}"));
    // `make up` builds it; a bare `ande up` without the export runs the rest and says so.
    let frontend = frontend.dir.join("index.html").is_file().then_some(frontend).or_else(|| {
        tracing::warn!("the dApp is not built (`make frontend`): ande up runs without it");
        None
    });
    let urls = Urls {
        frontend: frontend.as_ref().map(|f| format!("http://{}:{}", f.addr, f.port)),
        rpc: rpc_url,
        ws: format!("ws://{}:{}", node.http_addr, node.ws_port),
        internal: format!("http://{internal}"),
        metrics: format!("http://{}:{}/metrics", node.http_addr, node.metrics_port),
        da: format!("http://{}:{}", da.addr, da.port),
        faucet_api: format!("http://{}:{}", faucet.addr, faucet.port),
        faucet_ui: format!("http://{}:{}", ui.addr, ui.port),
        explorer: format!("http://{}:{}", explorer.addr, explorer.port),
        bundler: format!("http://{}:{}", bundler.addr, bundler.port),
        paymaster: format!("http://{}:{}", paymaster.addr, paymaster.port),
        bridge: bridge.urls(),
    };
    let bridge_file = deploy.bridge.remote_out_path(&deploy);
    let l1_chain = (bridge.spec.chain_id, bridge.spec.currency.symbol.clone());
    let summary_spec = spec.clone();
    let block_time = node.block_time;
    let deployments_file = deploy.out_path();
    tokio::try_join!(
        async { ande_node::run(node, shutdown.clone()).await.wrap_err("ande node failed") },
        async { ande_da::run(da, shutdown.clone(), None).await.wrap_err("ande da failed") },
        async { ande_faucet::run(faucet, shutdown.clone()).await.wrap_err("ande faucet failed") },
        async { ande_faucet::ui::run(ui, shutdown.clone()).await.wrap_err("ande faucet-ui failed") },
        async { ande_explorer::run(explorer, shutdown.clone(), None).await.wrap_err("ande explorer failed") },
        async {
            match frontend {
                Some(frontend) => ande_frontend::run(frontend, shutdown.clone()).await.wrap_err("ande frontend failed"),
                None => Ok(()),
            }
        },
        // It waits for the EntryPoints, which the deploy below puts there.
        async { ande_bundler::run(bundler, shutdown.clone()).await.wrap_err("ande bundler failed") },
        // They wait for the other chain and for the deployments files the deploy writes.
        async {
            let Bridge { node: l1, validators: [ande_validator, l1_validator], relayer, .. } = bridge;
            tokio::try_join!(
                l1.run(shutdown.clone()),
                async { ande_bridge::validator::run(ande_validator, shutdown.clone()).await.wrap_err("ande validator (AndeChain) failed") },
                async { ande_bridge::validator::run(l1_validator, shutdown.clone()).await.wrap_err("ande validator (the other chain) failed") },
                async { ande_bridge::relayer::run(relayer, shutdown.clone()).await.wrap_err("ande relayer failed") },
            )?;
            Ok(())
        },
        async {
            let deployments = ande_deploy::run(deploy, shutdown.clone()).await.wrap_err("ande deploy failed")?;
            // The paymaster signs for the contract the deploy just recorded.
            paymaster.paymaster = deployments.contracts.get(ande_contracts::PAYMASTER).copied();
            tokio::try_join!(
                async { ande_paymaster::run(paymaster, shutdown.clone()).await.wrap_err("ande paymaster failed") },
                async {
                    let ready = urls.wait_ready(shutdown.clone()).await;
                    let remote = Deployments::load(&bridge_file).ok().flatten().map(|d| (l1_chain.0, l1_chain.1.as_str(), d));
                    println!("{}", summary(&summary_spec, block_time, &urls, &ready, (&deployments, &deployments_file), remote.as_ref().map(|(id, symbol, d)| (*id, *symbol, d, bridge_file.as_path())), &keys));
                    Ok(())
                },
            )?;
            Ok(())
        },
    )?;
    Ok(())
}

struct Urls {
    /// None when the dApp is not built.
    frontend: Option<String>,
    rpc: String,
    internal: String,
    ws: String,
    metrics: String,
    da: String,
    faucet_api: String,
    faucet_ui: String,
    explorer: String,
    bundler: String,
    paymaster: String,
    bridge: BridgeUrls,
}

impl Urls {
    /// Waits (at most a minute) until every service answers its health check; which did not.
    async fn wait_ready(&self, mut shutdown: watch::Receiver<bool>) -> Vec<String> {
        let mut checks = vec![(format!("{}/health", self.rpc), "the node"), (format!("{}/health", self.da), "the DA node"), (format!("{}/health", self.faucet_api), "the faucet API"), (format!("{}/", self.faucet_ui), "the faucet page"), (format!("{}/health", self.explorer), "the explorer"), (format!("{}/health", self.bundler), "the bundler"), (format!("{}/health", self.paymaster), "the paymaster")];
        if let Some(frontend) = &self.frontend {
            checks.push((format!("{frontend}/health"), "the dApp"));
        }
        let bridge = &self.bridge;
        checks.push((format!("{}/health", bridge.l1), "the other chain"));
        checks.push((format!("{}/health", bridge.validators[0]), "the AndeChain validator"));
        checks.push((format!("{}/health", bridge.validators[1]), "the other chain's validator"));
        checks.push((format!("{}/health", bridge.relayer), "the relayer"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let urls: Vec<String> = checks.iter().map(|(u, _)| u.clone()).collect();
            let failing = tokio::task::spawn_blocking(move || {
                urls.into_iter().enumerate().filter(|(_, url)| crate::probe::probe(&crate::probe::ProbeArgs { url: url.clone(), rpc: false }).is_err()).map(|(i, _)| i).collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            if failing.is_empty() || Instant::now() >= deadline {
                return failing.into_iter().map(|i| checks[i].1.to_string()).collect();
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = shutdown.changed() => return Vec::new(),
            }
        }
    }
}

/// The start-up summary: every URL, the contracts of both chains, the development accounts.
fn summary(spec: &ChainSpec, block_time: Duration, urls: &Urls, not_ready: &[String], (deployments, file): (&Deployments, &std::path::Path), remote: Option<(u64, &str, &Deployments, &std::path::Path)>, keys: &DevKeys) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let symbol = &spec.currency.symbol;
    let _ = writeln!(out, "\nAndeChain local stack: chain id {} ({symbol}), a block every {block_time:?}", spec.chain_id);
    if !not_ready.is_empty() {
        let _ = writeln!(out, "  not answering yet: {}", not_ready.join(", "));
    }
    let not_built = "not built: run make frontend".to_string();
    let rows = [
        ("dApp", urls.frontend.as_ref().unwrap_or(&not_built)),
        ("JSON-RPC", &urls.rpc),
        ("WebSocket", &urls.ws),
        ("Internal RPC", &urls.internal),
        ("Faucet page", &urls.faucet_ui),
        ("Faucet API", &urls.faucet_api),
        ("Explorer", &urls.explorer),
        ("Bundler", &urls.bundler),
        ("Paymaster", &urls.paymaster),
        ("DA node", &urls.da),
        ("Metrics", &urls.metrics),
    ];
    for (name, url) in rows {
        let _ = writeln!(out, "  {name:<12} {url}");
    }
    if let Some((id, symbol, _, _)) = remote {
        let bridge = &urls.bridge;
        let _ = writeln!(out, "Bridge (Hyperlane) to the other chain, chain id {id} ({symbol}):");
        let _ = writeln!(out, "  {:<12} {}", "Its RPC", bridge.l1);
        let _ = writeln!(out, "  {:<12} {}/messages/<id>", "Relayer", bridge.relayer);
        let _ = writeln!(out, "  {:<12} {} (AndeChain's), {} (the other chain's)", "Validators", bridge.validators[0], bridge.validators[1]);
    }
    let _ = writeln!(out, "Contracts ({}):", file.display());
    for (name, address) in &deployments.contracts {
        let _ = writeln!(out, "  {name:<28} {address}");
    }
    if let Some((_, _, remote, remote_file)) = remote {
        let _ = writeln!(out, "Contracts on the other chain ({}):", remote_file.display());
        for (name, address) in &remote.contracts {
            let _ = writeln!(out, "  {name:<28} {address}");
        }
    }
    let _ = writeln!(out, "Development accounts (DEVELOPMENT ONLY: these keys are public; balances at genesis):");
    for (address, key) in &keys.all {
        let balance = spec.genesis.alloc.get(address).map_or(U256::ZERO, |a| a.balance);
        let whole = balance / U256::from(10u64).pow(U256::from(spec.currency.decimals));
        let role = if *key == keys.faucet {
            " (the faucet's)"
        } else if *key == keys.deployer {
            " (deploys the contracts)"
        } else if *key == keys.bundler {
            " (sends the bundler's bundles)"
        } else if *key == keys.paymaster {
            " (signs the paymaster's sponsorships)"
        } else if *key == keys.da {
            " (signs DA batches)"
        } else if *key == keys.validator {
            " (signs the bridge's checkpoints)"
        } else if *key == keys.relayer {
            " (delivers the bridge's messages)"
        } else {
            ""
        };
        let _ = writeln!(out, "  {address} {key} {whole} {symbol}{role}");
    }
    let _ = write!(out, "Try: cast block-number --rpc-url {}", urls.rpc);
    out
}
