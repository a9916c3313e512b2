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
    faucet: B256,
    all: Vec<(Address, B256)>,
}

fn dev_keys(spec: &ChainSpec, genesis: &std::path::Path) -> eyre::Result<DevKeys> {
    let all: Vec<(Address, B256)> = spec.genesis.alloc.iter().filter_map(|(address, account)| Some((*address, account.private_key?))).collect();
    if all.len() < 5 {
        eyre::bail!("{} lists {} development keys, and `ande up` needs 5; it is for local chains", genesis.display(), all.len());
    }
    let da = match spec.sequencer_address {
        None => 0,
        Some(named) => all.iter().position(|(address, _)| *address == named).ok_or_else(|| {
            eyre::eyre!("{} names {named} as its sequencer but lists no development key for it", genesis.display())
        })?,
    };
    let mut rest: Vec<B256> = all.iter().map(|(_, key)| *key).collect();
    let da = rest.remove(da);
    Ok(DevKeys { da, deployer: rest[0], bundler: rest[1], paymaster: rest[2], faucet: rest[rest.len() - 1], all })
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
    };
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
        async {
            let deployments = ande_deploy::run(deploy, shutdown.clone()).await.wrap_err("ande deploy failed")?;
            // The paymaster signs for the contract the deploy just recorded.
            paymaster.paymaster = deployments.contracts.get(ande_contracts::PAYMASTER).copied();
            tokio::try_join!(
                async { ande_paymaster::run(paymaster, shutdown.clone()).await.wrap_err("ande paymaster failed") },
                async {
                    let ready = urls.wait_ready(shutdown.clone()).await;
                    println!("{}", summary(&summary_spec, block_time, &urls, &ready, &deployments, &deployments_file, &keys));
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
}

impl Urls {
    /// Waits (at most a minute) until every service answers its health check; which did not.
    async fn wait_ready(&self, mut shutdown: watch::Receiver<bool>) -> Vec<String> {
        let mut checks = vec![(format!("{}/health", self.rpc), "the node"), (format!("{}/health", self.da), "the DA node"), (format!("{}/health", self.faucet_api), "the faucet API"), (format!("{}/", self.faucet_ui), "the faucet page"), (format!("{}/health", self.explorer), "the explorer"), (format!("{}/health", self.bundler), "the bundler"), (format!("{}/health", self.paymaster), "the paymaster")];
        if let Some(frontend) = &self.frontend {
            checks.push((format!("{frontend}/health"), "the dApp"));
        }
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

fn summary(spec: &ChainSpec, block_time: Duration, urls: &Urls, not_ready: &[String], deployments: &Deployments, file: &std::path::Path, keys: &DevKeys) -> String {
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
    let _ = writeln!(out, "Contracts ({}):", file.display());
    for (name, address) in &deployments.contracts {
        let _ = writeln!(out, "  {name:<24} {address}");
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
        } else {
            ""
        };
        let _ = writeln!(out, "  {address} {key} {whole} {symbol}{role}");
    }
    let _ = write!(out, "Try: cast block-number --rpc-url {}", urls.rpc);
    out
}
