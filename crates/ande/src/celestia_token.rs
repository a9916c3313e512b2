//! `ande celestia-token`: mints the token the sequencer sends to a celestia-node light node.
//! celestia-node checks HS256 JWTs signed with a key from its keystore; the stack makes that key
//! (the `celestia_jwt_secret` secret, in the keystore's `{"body": "<base64>"}` form) and installs
//! it in the light node, so a token minted here from the same key is accepted. The key is read
//! from standard input, never from the command line.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Read;

/// Far enough never to matter: celestia-node refuses tokens past `ExpiresAt`.
const EXPIRES_AT: &str = "9999-12-31T23:59:59Z";

#[derive(Debug, clap::Args)]
pub struct CelestiaTokenArgs {
    /// The permissions the token grants; blob.Submit needs `write`, reading headers `read`.
    #[arg(long, value_delimiter = ',', default_value = "public,read,write")]
    pub allow: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    #[error("the key is not celestia-node keystore JSON ({{\"body\": \"<base64>\"}}): {0}")]
    NotKeystoreJson(String),
    #[error("the key's body is not base64")]
    NotBase64,
    #[error("the key is {0} bytes; celestia-node makes 32")]
    Length(usize),
}

#[derive(serde::Deserialize)]
struct Keystore {
    body: String,
}

/// The signing key from celestia-node's keystore form.
pub fn parse_key(json: &str) -> Result<Vec<u8>, TokenError> {
    let keystore: Keystore = serde_json::from_str(json).map_err(|e| TokenError::NotKeystoreJson(e.to_string()))?;
    let key = STANDARD.decode(keystore.body.trim()).map_err(|_| TokenError::NotBase64)?;
    if key.len() != 32 {
        return Err(TokenError::Length(key.len()));
    }
    Ok(key)
}

/// An HS256 JWT with celestia-node's claims: `Allow`, a random `Nonce` (the handle its
/// revocation list uses) and `ExpiresAt`.
pub fn mint(key: &[u8], allow: &[String], nonce: [u8; 32]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = serde_json::json!({ "Allow": allow, "Nonce": STANDARD.encode(nonce), "ExpiresAt": EXPIRES_AT });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

pub fn run(args: &CelestiaTokenArgs) -> eyre::Result<()> {
    let mut json = String::new();
    std::io::stdin().take(4096).read_to_string(&mut json)?;
    let key = parse_key(&json)?;
    let mut nonce = [0u8; 32];
    getrandom::fill(&mut nonce).map_err(|e| eyre::eyre!("no randomness for the token's nonce: {e}"))?;
    println!("{}", mint(&key, &args.allow, nonce));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(token: &str) -> serde_json::Value {
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    #[test]
    fn the_signature_is_hs256_over_header_and_payload() {
        let key = [7u8; 32];
        let token = mint(&key, &["public".into(), "read".into(), "write".into()], [9; 32]);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[0]).unwrap(), br#"{"alg":"HS256","typ":"JWT"}"#);
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).expect("verifies with the key");
        let mut other = Hmac::<Sha256>::new_from_slice(&[8u8; 32]).unwrap();
        other.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        assert!(other.verify_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).is_err(), "another key does not verify it");
    }

    #[test]
    fn claims_are_celestia_nodes() {
        let token = mint(&[1; 32], &["public".into(), "read".into()], [2; 32]);
        let c = claims(&token);
        assert_eq!(c["Allow"], serde_json::json!(["public", "read"]));
        assert_eq!(STANDARD.decode(c["Nonce"].as_str().unwrap()).unwrap(), [2u8; 32]);
        assert_eq!(c["ExpiresAt"], EXPIRES_AT);
    }

    #[test]
    fn the_hmac_matches_rfc_4231() {
        // RFC 4231 test case 2: HMAC-SHA256 with key "Jefe".
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn keys_that_are_not_a_keystore_entry_are_refused() {
        let good = format!(r#"{{"body":"{}"}}"#, STANDARD.encode([5u8; 32]));
        assert_eq!(parse_key(&good).unwrap(), vec![5u8; 32]);
        assert!(matches!(parse_key("not json"), Err(TokenError::NotKeystoreJson(_))));
        assert_eq!(parse_key(r#"{"body":"!!"}"#), Err(TokenError::NotBase64));
        assert_eq!(parse_key(&format!(r#"{{"body":"{}"}}"#, STANDARD.encode([5u8; 16]))), Err(TokenError::Length(16)));
    }
}
