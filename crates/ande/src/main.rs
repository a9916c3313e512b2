//! `ande`: the AndeChain stack in one binary. Each subcommand runs one service; `ande up` runs
//! the local development stack in one process.

mod celestia_token;
mod probe;
mod up;

use clap::{Parser, Subcommand, ValueEnum};
use eyre::WrapErr;
use tokio::sync::watch;

// mimalloc returns freed memory to the OS far better than glibc's per-thread arenas, which kept
// the node's RSS at its transaction-pool peak long after the pool drained.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "ande", version, about = "The AndeChain stack: sequencer, DA, faucet, explorer, bundler, bridge")]
struct Cli {
    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the sequencer (block production, execution, storage, JSON-RPC, posting to DA), or
    /// with `--mode full` a full node that rebuilds and verifies the chain from DA.
    Node(ande_node::NodeArgs),
    /// Run a local Celestia-compatible data availability node (celestia-node's RPC on 26658).
    Da(ande_da::DaArgs),
    /// Run the faucet API: claims, limits and payouts.
    Faucet(ande_faucet::FaucetArgs),
    /// Run the faucet page, which forwards /api/* to the faucet API.
    FaucetUi(ande_faucet::ui::FaucetUiArgs),
    /// Run the explorer: the indexer, the Blockscout- and Etherscan-style APIs and the pages (4000).
    Explorer(ande_explorer::ExplorerArgs),
    /// Run the ERC-4337 bundler (4337): EntryPoint v0.7 and v0.8, ERC-7562 validation through the
    /// node's erc7562Tracer, crash-safe bundles.
    Bundler(ande_bundler::BundlerArgs),
    /// Run the sponsoring paymaster service (4338, ERC-7677) for the VerifyingPaymaster, under
    /// its daily budget.
    Paymaster(ande_paymaster::PaymasterArgs),
    /// Run the dApp (3000): the static export of frontend/, its run-time configuration, and
    /// same-origin proxies to the node, the faucet, the bundler and the paymaster.
    Frontend(ande_frontend::FrontendArgs),
    /// Run a bridge validator (9440): signs the origin chain's messages once final, as
    /// Hyperlane's validators do, and serves the signed checkpoints.
    Validator(ande_bridge::ValidatorArgs),
    /// Run the bridge relayer (9450): delivers every message between AndeChain and the other
    /// chain once, with the validators' signatures; its status API is /messages.
    Relayer(ande_bridge::RelayerArgs),
    /// Deploy the stack's contracts (through the deterministic CREATE2 proxy, skipping what is
    /// there) and write their addresses to deployments/<network>.json.
    Deploy(ande_deploy::DeployArgs),
    /// Run the local development stack in one process: the sequencer (8545/8546) posting its
    /// blocks to the local DA node (26658), the faucet API (8081) paying from the genesis' last
    /// development key, the faucet page (3001), the explorer (4000, SQLite), the contracts
    /// deployed (deployments/local.json), the ERC-4337 bundler (4337), the sponsoring
    /// paymaster (4338), the dApp (3000), and the bridge: the other chain (8547, its own
    /// process), a validator for each chain (9440, 9441) and the relayer (9450).
    Up(ande_node::NodeArgs),
    /// Check a local service's health (the container health check): exit 0 when healthy.
    Probe(probe::ProbeArgs),
    /// Mint the token for a celestia-node light node's RPC from its JWT key (keystore JSON on
    /// standard input); the stack's `prod-secrets` runs it.
    CelestiaToken(celestia_token::CelestiaTokenArgs),
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Fires on SIGINT or SIGTERM.
fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
        tracing::info!("shutdown requested");
        let _ = tx.send(true);
    });
    rx
}

fn main() -> std::process::ExitCode {
    unset_empty_env();
    let cli = Cli::parse();
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Compose passes `VAR: ${VAR:-}` as an empty string; an empty setting means "not set", as it
/// would in a shell, instead of an invalid value.
fn unset_empty_env() {
    let empty: Vec<_> = std::env::vars_os().filter(|(_, value)| value.is_empty()).map(|(key, _)| key).collect();
    for key in empty {
        // SAFETY: called first thing in main, before any other thread exists.
        unsafe { std::env::remove_var(key) };
    }
}

async fn run(cli: Cli) -> std::process::ExitCode {
    init_logging(cli.log_format);
    let shutdown = shutdown_signal();
    let result: eyre::Result<()> = match cli.command {
        Command::Node(args) => ande_node::run(args, shutdown).await.wrap_err("ande node failed"),
        Command::Up(args) => up::run(args, shutdown).await,
        Command::Da(args) => ande_da::run(args, shutdown, None).await.wrap_err("ande da failed"),
        Command::Faucet(args) => ande_faucet::run(args, shutdown).await.wrap_err("ande faucet failed"),
        Command::FaucetUi(args) => ande_faucet::ui::run(args, shutdown).await.wrap_err("ande faucet-ui failed"),
        Command::Explorer(args) => ande_explorer::run(args, shutdown, None).await.wrap_err("ande explorer failed"),
        Command::Bundler(args) => ande_bundler::run(args, shutdown).await.wrap_err("ande bundler failed"),
        Command::Paymaster(args) => ande_paymaster::run(args, shutdown).await.wrap_err("ande paymaster failed"),
        Command::Frontend(args) => ande_frontend::run(args, shutdown).await.wrap_err("ande frontend failed"),
        Command::Relayer(args) => ande_bridge::relayer::run(args, shutdown).await.wrap_err("ande relayer failed"),
        Command::Validator(args) => ande_bridge::validator::run(args, shutdown).await.wrap_err("ande validator failed"),
        Command::Deploy(args) => ande_deploy::run(args, shutdown).await.map(drop).wrap_err("ande deploy failed"),
        Command::Probe(args) => probe::probe(&args).map_err(|reason| eyre::eyre!("unhealthy: {}: {reason}", args.url)),
        Command::CelestiaToken(args) => celestia_token::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The cause chain on one line, without a backtrace: this is an operator's message.
            tracing::error!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
