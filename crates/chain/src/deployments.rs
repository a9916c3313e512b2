//! `deployments/<network>.json`: the one place the stack's contract addresses are written down.
//! The deploy command writes it; services and the dApp read it.

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployments {
    pub network: String,
    pub chain_id: u64,
    /// Contract name -> address.
    pub contracts: BTreeMap<String, Address>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeploymentsError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not a deployments file: {source}")]
    Parse { path: String, source: serde_json::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("{path} lists no `{name}`; run the deploy command for this network first")]
    Missing { path: String, name: String },
}

impl Deployments {
    /// The file at `path`; None when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Self>, DeploymentsError> {
        let display = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|source| DeploymentsError::Parse { path: display, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(DeploymentsError::Read { path: display, source }),
        }
    }

    /// Writes the file whole or not at all (a temporary file renamed over it).
    pub fn save(&self, path: &Path) -> Result<(), DeploymentsError> {
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("json.tmp");
            let mut text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
            text.push('\n');
            std::fs::write(&tmp, text)?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|source| DeploymentsError::Write { path: path.display().to_string(), source })
    }

    pub fn address(&self, name: &str, path: &Path) -> Result<Address, DeploymentsError> {
        self.contracts.get(name).copied().ok_or_else(|| DeploymentsError::Missing { path: path.display().to_string(), name: name.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_what_is_missing() {
        let dir = std::env::temp_dir().join(format!("ande-deployments-test-{}", std::process::id()));
        let path = dir.join("local.json");
        assert_eq!(Deployments::load(&path).unwrap(), None);
        let mut d = Deployments { network: "local".into(), chain_id: 1234, ..Default::default() };
        d.contracts.insert("entryPointV07".into(), Address::repeat_byte(7));
        d.save(&path).unwrap();
        let back = Deployments::load(&path).unwrap().unwrap();
        assert_eq!(back, d);
        assert!(std::fs::read_to_string(&path).unwrap().contains("\"chainId\": 1234"));
        assert!(back.address("bridge", &path).unwrap_err().to_string().contains("`bridge`"));
        std::fs::write(&path, "{").unwrap();
        assert!(Deployments::load(&path).unwrap_err().to_string().contains("not a deployments file"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
