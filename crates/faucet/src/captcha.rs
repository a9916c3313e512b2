//! Optional captcha on claims: hCaptcha or Cloudflare Turnstile. Both verify a widget's token
//! the same way: a form POST of `secret`, `response` and `remoteip` to the provider's siteverify
//! URL, answered by `{"success": bool, "error-codes": [...]}`.

use axum::body::Body;
use axum::http::{Request, Uri, header};
use http_body_util::BodyExt;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_platform_verifier::BuilderVerifierExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const VERIFY_TIMEOUT: Duration = Duration::from_secs(10);
/// Larger answers are not a siteverify answer.
const MAX_ANSWER: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Hcaptcha,
    Turnstile,
}

impl Provider {
    fn verify_url(self) -> &'static str {
        match self {
            Provider::Hcaptcha => "https://api.hcaptcha.com/siteverify",
            Provider::Turnstile => "https://challenges.cloudflare.com/turnstile/v0/siteverify",
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct CaptchaArgs {
    /// Require a captcha on claims: hcaptcha or turnstile. Off when unset.
    #[arg(long = "captcha-provider", env = "CAPTCHA_PROVIDER", value_enum)]
    pub provider: Option<Provider>,
    /// The site key the page's widget uses (public).
    #[arg(long = "captcha-site-key", env = "CAPTCHA_SITE_KEY")]
    pub site_key: Option<String>,
    /// The provider's secret. Prefer CAPTCHA_SECRET_FILE.
    #[arg(long = "captcha-secret", env = "CAPTCHA_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// A file holding the provider's secret (a Docker secret).
    #[arg(long = "captcha-secret-file", env = "CAPTCHA_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    /// Where tokens are verified; the provider's siteverify URL when unset.
    #[arg(long = "captcha-verify-url", env = "CAPTCHA_VERIFY_URL")]
    pub verify_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptchaConfigError {
    #[error("CAPTCHA_PROVIDER is set: CAPTCHA_SITE_KEY and CAPTCHA_SECRET_FILE (or CAPTCHA_SECRET) are required too")]
    Incomplete,
    #[error(transparent)]
    File(#[from] ande_chain::SecretFileError),
    #[error("CAPTCHA_VERIFY_URL is not an http(s) URL: {0}")]
    Url(String),
    #[error("cannot set up TLS for captcha verification: {0}")]
    Tls(String),
}

/// The verdict on one token.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// The provider refused the token; its error codes.
    Refused(Vec<String>),
}

#[derive(Debug, thiserror::Error)]
#[error("captcha verification unavailable: {0}")]
pub struct VerifyError(String);

pub struct Captcha {
    pub provider: Provider,
    pub site_key: String,
    secret: String,
    url: Uri,
    client: Client<HttpsConnector<HttpConnector>, Body>,
}

impl std::fmt::Debug for Captcha {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Captcha").field("provider", &self.provider).field("url", &self.url).finish_non_exhaustive()
    }
}

impl Captcha {
    /// None when no provider is configured.
    pub fn from_args(args: &CaptchaArgs) -> Result<Option<Captcha>, CaptchaConfigError> {
        let Some(provider) = args.provider else { return Ok(None) };
        let secret = ande_chain::read_secret(args.secret_file.as_deref(), args.secret.as_deref())?.ok_or(CaptchaConfigError::Incomplete)?;
        let site_key = args.site_key.clone().filter(|k| !k.trim().is_empty()).ok_or(CaptchaConfigError::Incomplete)?;
        if secret.is_empty() {
            return Err(CaptchaConfigError::Incomplete);
        }
        let text = args.verify_url.clone().unwrap_or_else(|| provider.verify_url().to_string());
        let url: Uri = text.parse().map_err(|_| CaptchaConfigError::Url(text.clone()))?;
        if !matches!(url.scheme_str(), Some("http" | "https")) || url.authority().is_none() {
            return Err(CaptchaConfigError::Url(text));
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| CaptchaConfigError::Tls(e.to_string()))?
            .with_platform_verifier()
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Some(Captcha { provider, site_key, secret, url, client }))
    }

    pub async fn verify(&self, token: &str, remote_ip: &str) -> Result<Verdict, VerifyError> {
        let form = form_urlencoded(&[("secret", &self.secret), ("response", token), ("remoteip", remote_ip), ("sitekey", &self.site_key)]);
        let request = Request::post(self.url.clone())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .map_err(|e| VerifyError(e.to_string()))?;
        let response = tokio::time::timeout(VERIFY_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| VerifyError("no answer in 10 s".into()))?
            .map_err(|e| VerifyError(e.to_string()))?;
        let status = response.status();
        let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| VerifyError(e.to_string()))?
            .to_bytes();
        if !status.is_success() {
            return Err(VerifyError(format!("the provider answered HTTP {status}")));
        }
        parse_answer(&body)
    }
}

fn parse_answer(body: &[u8]) -> Result<Verdict, VerifyError> {
    #[derive(serde::Deserialize)]
    struct Answer {
        success: bool,
        #[serde(rename = "error-codes", default)]
        error_codes: Vec<String>,
    }
    let answer: Answer = serde_json::from_slice(body).map_err(|e| VerifyError(format!("unreadable answer: {e}")))?;
    Ok(if answer.success { Verdict::Passed } else { Verdict::Refused(answer.error_codes) })
}

fn form_urlencoded(pairs: &[(&str, &str)]) -> String {
    fn encode(text: &str, out: &mut String) {
        for b in text.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode(key, &mut out);
        out.push('=');
        encode(value, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_escapes_reserved_bytes() {
        assert_eq!(form_urlencoded(&[("a b", "x&y=z/é"), ("k", "v")]), "a+b=x%26y%3Dz%2F%C3%A9&k=v");
    }

    #[test]
    fn answers() {
        assert_eq!(parse_answer(br#"{"success":true}"#).unwrap(), Verdict::Passed);
        assert_eq!(
            parse_answer(br#"{"success":false,"error-codes":["invalid-input-response"]}"#).unwrap(),
            Verdict::Refused(vec!["invalid-input-response".into()])
        );
        assert!(parse_answer(b"<html>").is_err());
    }

    #[test]
    fn provider_needs_key_and_secret() {
        let mut args = CaptchaArgs { provider: None, site_key: None, secret: None, secret_file: None, verify_url: None };
        assert!(Captcha::from_args(&args).unwrap().is_none());
        args.provider = Some(Provider::Turnstile);
        assert!(matches!(Captcha::from_args(&args), Err(CaptchaConfigError::Incomplete)));
        args.site_key = Some("site".into());
        args.secret = Some("s3cret".into());
        let captcha = Captcha::from_args(&args).unwrap().unwrap();
        assert_eq!(captcha.url, Provider::Turnstile.verify_url().parse::<Uri>().unwrap());
        assert!(!format!("{captcha:?}").contains("s3cret"));
        args.verify_url = Some("ftp://x".into());
        assert!(matches!(Captcha::from_args(&args), Err(CaptchaConfigError::Url(_))));
    }
}
