//! `/config.json`: everything network-specific the page needs, given at run time so one build
//! serves every network.

use crate::FrontendArgs;
use ande_chain::{ChainSpec, Deployments, NativeCurrency};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageConfig {
    pub chain_id: u64,
    pub chain_name: String,
    pub currency: NativeCurrency,
    /// Given to wallets; the page itself reads through its own `/rpc`.
    pub rpc_url: String,
    pub ws_url: Option<String>,
    pub explorer_url: Option<String>,
    pub faucet_url: Option<String>,
    /// Which of the proxied services this network has.
    pub services: Services,
    pub contracts: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Services {
    pub faucet: bool,
    pub bundler: bool,
    pub paymaster: bool,
}

impl PageConfig {
    pub fn new(args: &FrontendArgs, spec: &ChainSpec) -> Result<Self, String> {
        let public = |url: &Option<String>, setting: &str, schemes: &[&str]| -> Result<Option<String>, String> {
            url.as_deref().map(|u| public_url(u, setting, schemes)).transpose()
        };
        Ok(Self {
            chain_id: spec.chain_id,
            chain_name: args.chain_name.clone(),
            currency: spec.currency.clone(),
            rpc_url: public_url(&args.public_rpc_url, "NEXT_PUBLIC_RPC_URL", HTTP)?,
            ws_url: public(&args.public_ws_url, "NEXT_PUBLIC_WS_URL", WS)?,
            explorer_url: public(&args.explorer_url, "NEXT_PUBLIC_EXPLORER_URL", HTTP)?,
            faucet_url: public(&args.faucet_url, "NEXT_PUBLIC_FAUCET_URL", HTTP)?,
            services: Services { faucet: args.faucet_api_url.is_some(), bundler: args.bundler_url.is_some(), paymaster: args.paymaster_url.is_some() },
            contracts: BTreeMap::new(),
        })
    }

    /// This configuration with the contracts the deployments file lists now (none while it
    /// does not exist); a file for another chain is an error, never shown.
    pub fn with_deployments(&self, path: Option<&Path>) -> Result<Self, String> {
        let mut config = self.clone();
        let Some(path) = path else { return Ok(config) };
        if let Some(deployments) = Deployments::load(path).map_err(|e| e.to_string())? {
            if deployments.chain_id != self.chain_id {
                return Err(format!("{} is for chain {}, this page for chain {}", path.display(), deployments.chain_id, self.chain_id));
            }
            config.contracts = deployments.contracts.into_iter().map(|(name, address)| (name, address.to_checksum(None))).collect();
        }
        Ok(config)
    }
}

const HTTP: &[&str] = &["https", "http"];
const WS: &[&str] = &["wss", "ws"];

/// A URL a browser or wallet is sent to, in one of `schemes`, without a trailing slash.
fn public_url(url: &str, setting: &str, schemes: &[&str]) -> Result<String, String> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = schemes.iter().find_map(|scheme| trimmed.strip_prefix(scheme).and_then(|r| r.strip_prefix("://")));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) && !host.contains(['"', '<', '>', '@']) => Ok(trimmed.to_string()),
        _ => Err(format!("{setting} must be a {} URL, not {url:?}", schemes.join(" or "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_checked_and_trimmed() {
        assert_eq!(public_url("https://rpc.example.org/", "X", HTTP).unwrap(), "https://rpc.example.org");
        assert_eq!(public_url("ws://127.0.0.1:8546", "X", WS).unwrap(), "ws://127.0.0.1:8546");
        for bad in ["", "rpc.example.org", "https://", "javascript:alert(1)", "http://a b", "http://a\"<script>", "ws://127.0.0.1:8546", "https://u@x"] {
            assert!(public_url(bad, "NEXT_PUBLIC_RPC_URL", HTTP).unwrap_err().contains("NEXT_PUBLIC_RPC_URL"), "{bad}");
        }
        assert!(public_url("http://127.0.0.1:8546", "NEXT_PUBLIC_WS_URL", WS).unwrap_err().contains("wss or ws"));
    }

    #[test]
    fn deployments_of_another_chain_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("local.json");
        let config = PageConfig {
            chain_id: 1234,
            chain_name: "AndeChain".into(),
            currency: NativeCurrency::default(),
            rpc_url: "http://127.0.0.1:8545".into(),
            ws_url: None,
            explorer_url: None,
            faucet_url: None,
            services: Services { faucet: false, bundler: false, paymaster: false },
            contracts: BTreeMap::new(),
        };
        assert!(config.with_deployments(Some(&path)).unwrap().contracts.is_empty(), "no file yet: no contracts");
        let mut deployments = Deployments { network: "local".into(), chain_id: 1234, ..Default::default() };
        deployments.contracts.insert("entryPointV07".into(), "0x0000000071727de22e5e9d8baf0edac6f37da032".parse().unwrap());
        deployments.save(&path).unwrap();
        let listed = config.with_deployments(Some(&path)).unwrap();
        assert_eq!(listed.contracts["entryPointV07"], "0x0000000071727De22E5E9d8BAf0edAc6f37da032");
        deployments.chain_id = 2019;
        deployments.save(&path).unwrap();
        let e = config.with_deployments(Some(&path)).unwrap_err();
        assert!(e.contains("2019") && e.contains("1234"), "{e}");
    }
}
