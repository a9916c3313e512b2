//! Parsing and validating a geth-style genesis file, with ev-reth's `config.evolve` extras.

use alloy_eips::eip1559::BaseFeeParams;
use alloy_genesis::Genesis;
use alloy_primitives::Address;
use serde::Deserialize;
use std::path::Path;

/// EIP-170's limit, used when the genesis sets none.
pub const DEFAULT_CONTRACT_SIZE_LIMIT: usize = 24 * 1024;
/// London's initial base fee, used when the genesis sets none.
pub const DEFAULT_INITIAL_BASE_FEE: u64 = 1_000_000_000;

#[derive(Debug, thiserror::Error)]
pub enum ChainSpecError {
    #[error("cannot read genesis file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("genesis file {path} is not valid genesis JSON: {source}")]
    Parse { path: String, source: serde_json::Error },
    #[error("genesis: {0}")]
    Invalid(String),
}

/// The chain's native currency, as wallets show it (`wallet_addEthereumChain`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct NativeCurrency {
    pub name: String,
    pub symbol: String,
    pub decimals: u8,
}

impl Default for NativeCurrency {
    fn default() -> Self {
        Self { name: "Ether".into(), symbol: "ETH".into(), decimals: 18 }
    }
}

/// ev-reth's chainspec extras (`config.evolve`), where they change execution.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EvolveConfig {
    base_fee_sink: Option<Address>,
    #[serde(default)]
    base_fee_redirect_activation_height: u64,
    contract_size_limit: Option<usize>,
    base_fee_max_change_denominator: Option<u64>,
    base_fee_elasticity_multiplier: Option<u64>,
}

/// AndeChain's own extras (`config.ande`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AndeConfig {
    sequencer_address: Option<Address>,
}

/// Everything the node needs to know about the chain, derived from the genesis file alone.
#[derive(Debug, Clone)]
pub struct ChainSpec {
    pub genesis: Genesis,
    pub chain_id: u64,
    /// Where the base fee goes instead of being burned, from `base_fee_sink_from` on.
    pub base_fee_sink: Option<Address>,
    pub base_fee_sink_from: u64,
    pub contract_size_limit: usize,
    pub base_fee_params: BaseFeeParams,
    pub initial_base_fee: u64,
    pub currency: NativeCurrency,
    /// The address whose signed DA batches full nodes accept (`config.ande.sequencerAddress`):
    /// the chain's own, so a full node needs no flag for it.
    pub sequencer_address: Option<Address>,
}

impl ChainSpec {
    pub fn from_file(path: &Path) -> Result<Self, ChainSpecError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| ChainSpecError::Read { path: display.clone(), source })?;
        let genesis: Genesis = serde_json::from_str(&text)
            .map_err(|source| ChainSpecError::Parse { path: display, source })?;
        Self::from_genesis(genesis)
    }

    pub fn from_genesis(genesis: Genesis) -> Result<Self, ChainSpecError> {
        check_forks(&genesis)?;
        let extra = &genesis.config.extra_fields;
        let evolve: EvolveConfig = extra
            .get_deserialized("evolve")
            .transpose()
            .map_err(|e| ChainSpecError::Invalid(format!("config.evolve: {e}")))?
            .unwrap_or_default();
        let currency: NativeCurrency = extra
            .get_deserialized("nativeCurrency")
            .transpose()
            .map_err(|e| ChainSpecError::Invalid(format!("config.nativeCurrency: {e}")))?
            .unwrap_or_default();
        let ande: AndeConfig = extra
            .get_deserialized("ande")
            .transpose()
            .map_err(|e| ChainSpecError::Invalid(format!("config.ande: {e}")))?
            .unwrap_or_default();
        let defaults = BaseFeeParams::ethereum();
        let base_fee_params = BaseFeeParams::new(
            evolve.base_fee_max_change_denominator.map_or(defaults.max_change_denominator, u128::from),
            evolve.base_fee_elasticity_multiplier.map_or(defaults.elasticity_multiplier, u128::from),
        );
        if base_fee_params.max_change_denominator == 0 || base_fee_params.elasticity_multiplier == 0 {
            return Err(ChainSpecError::Invalid(
                "EIP-1559 denominator and elasticity must be greater than zero".into(),
            ));
        }
        if genesis.gas_limit == 0 {
            return Err(ChainSpecError::Invalid("gasLimit must be greater than zero".into()));
        }
        let initial_base_fee = match genesis.base_fee_per_gas {
            None => DEFAULT_INITIAL_BASE_FEE,
            Some(fee) => u64::try_from(fee)
                .map_err(|_| ChainSpecError::Invalid("baseFeePerGas does not fit in 64 bits".into()))?,
        };
        Ok(Self {
            chain_id: genesis.config.chain_id,
            base_fee_sink: evolve.base_fee_sink,
            base_fee_sink_from: evolve.base_fee_redirect_activation_height,
            contract_size_limit: evolve.contract_size_limit.unwrap_or(DEFAULT_CONTRACT_SIZE_LIMIT),
            base_fee_params,
            initial_base_fee,
            currency,
            sequencer_address: ande.sequencer_address,
            genesis,
        })
    }

    /// The sink that receives the base fee of block `number`, if any.
    pub fn base_fee_sink_at(&self, number: u64) -> Option<Address> {
        self.base_fee_sink.filter(|_| number >= self.base_fee_sink_from)
    }
}

/// The node executes Prague only: every fork through Prague must be active at genesis.
fn check_forks(genesis: &Genesis) -> Result<(), ChainSpecError> {
    let c = &genesis.config;
    let blocks = [
        ("homesteadBlock", c.homestead_block),
        ("eip150Block", c.eip150_block),
        ("eip155Block", c.eip155_block),
        ("eip158Block", c.eip158_block),
        ("byzantiumBlock", c.byzantium_block),
        ("constantinopleBlock", c.constantinople_block),
        ("petersburgBlock", c.petersburg_block),
        ("istanbulBlock", c.istanbul_block),
        ("berlinBlock", c.berlin_block),
        ("londonBlock", c.london_block),
    ];
    for (name, at) in blocks {
        if at != Some(0) {
            return Err(ChainSpecError::Invalid(format!(
                "config.{name} must be 0: every fork through Prague is active at genesis"
            )));
        }
    }
    let times = [("shanghaiTime", c.shanghai_time), ("cancunTime", c.cancun_time), ("pragueTime", c.prague_time)];
    for (name, at) in times {
        match at {
            Some(t) if t <= genesis.timestamp => {}
            _ => {
                return Err(ChainSpecError::Invalid(format!(
                    "config.{name} must be at or before the genesis timestamp: every fork through Prague is active at genesis"
                )));
            }
        }
    }
    if c.osaka_time.is_some() {
        return Err(ChainSpecError::Invalid("config.osakaTime: Osaka is not supported yet".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_genesis(name: &str) -> ChainSpec {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../genesis").join(name);
        ChainSpec::from_file(&path).unwrap()
    }

    #[test]
    fn shipped_genesis_files_parse() {
        let local = repo_genesis("local.json");
        assert_eq!(local.chain_id, 1234);
        assert!(local.genesis.alloc.len() >= 10);
        let testnet = repo_genesis("testnet.json");
        assert_eq!(testnet.chain_id, 2019);
        assert_eq!(testnet.currency.symbol, "ANDE");
        assert_eq!(testnet.currency.decimals, 18);
        assert!(testnet.genesis.alloc.values().all(|a| a.private_key.is_none()));
    }

    #[test]
    fn evolve_extras_are_read() {
        let json = r#"{"config":{"chainId":7,"homesteadBlock":0,"eip150Block":0,"eip155Block":0,"eip158Block":0,
            "byzantiumBlock":0,"constantinopleBlock":0,"petersburgBlock":0,"istanbulBlock":0,"berlinBlock":0,
            "londonBlock":0,"shanghaiTime":0,"cancunTime":0,"pragueTime":0,
            "evolve":{"baseFeeSink":"0x00000000000000000000000000000000000000aa","contractSizeLimit":49152,
            "baseFeeMaxChangeDenominator":50,"baseFeeElasticityMultiplier":4,"baseFeeRedirectActivationHeight":5}},
            "gasLimit":"0x1c9c380","baseFeePerGas":"0x7","alloc":{}}"#;
        let spec = ChainSpec::from_genesis(serde_json::from_str(json).unwrap()).unwrap();
        assert_eq!(spec.contract_size_limit, 49152);
        assert_eq!(spec.base_fee_params, BaseFeeParams::new(50, 4));
        assert_eq!(spec.initial_base_fee, 7);
        assert_eq!(spec.base_fee_sink_at(4), None);
        assert!(spec.base_fee_sink_at(5).is_some());
    }

    #[test]
    fn the_sequencer_address_is_read_and_unknown_ande_fields_refused() {
        let genesis = |ande: &str| {
            let json = format!(r#"{{"config":{{"chainId":7,"homesteadBlock":0,"eip150Block":0,"eip155Block":0,"eip158Block":0,
                "byzantiumBlock":0,"constantinopleBlock":0,"petersburgBlock":0,"istanbulBlock":0,"berlinBlock":0,
                "londonBlock":0,"shanghaiTime":0,"cancunTime":0,"pragueTime":0,"ande":{ande}}},
                "gasLimit":"0x1c9c380","alloc":{{}}}}"#);
            ChainSpec::from_genesis(serde_json::from_str(&json).unwrap())
        };
        let spec = genesis(r#"{"sequencerAddress":"0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"}"#).unwrap();
        assert_eq!(spec.sequencer_address, Some(alloy_primitives::address!("0x14dC79964da2C08b23698B3D3cc7Ca32193d9955")));
        let err = genesis(r#"{"sequencer":"0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"}"#).unwrap_err();
        assert!(err.to_string().contains("config.ande"), "{err}");
    }

    #[test]
    fn pre_prague_genesis_is_refused() {
        let json = r#"{"config":{"chainId":7,"homesteadBlock":0,"eip150Block":0,"eip155Block":0,"eip158Block":0,
            "byzantiumBlock":0,"constantinopleBlock":0,"petersburgBlock":0,"istanbulBlock":0,"berlinBlock":0,
            "londonBlock":0,"shanghaiTime":0,"cancunTime":0},"gasLimit":"0x1c9c380","alloc":{}}"#;
        let err = ChainSpec::from_genesis(serde_json::from_str(json).unwrap()).unwrap_err();
        assert!(err.to_string().contains("pragueTime"), "{err}");
    }
}
