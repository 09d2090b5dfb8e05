//! The identity provider's signing keys: its JWKS document, read over HTTPS (plain `http` only
//! on a loopback host, for local and test runs), and the keys of it a token may be signed with.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use super::jws::PublicKey;

use crate::config::ConfigError;

/// A JWKS larger than this is refused (providers publish a few keys, a few KiB).
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Connecting to the JWKS host may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// One read of the JWKS, answer included, may take this long: a bearer waits on it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// Why the JWKS could not be read. Logged with its cause; a caller sees only
/// [`super::BearerError::KeysUnavailable`].
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("the JWKS request failed")]
    Request(#[source] reqwest::Error),
    #[error("the JWKS answered HTTP {0}")]
    Status(u16),
    #[error("the JWKS is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("the JWKS is not a JSON key set")]
    NotAKeySet,
    #[error("the JWKS has no RS256 or ES256 signing key with a kid")]
    NoUsableKey,
}

/// Where the JWKS document comes from: [`HttpJwks`] in the functions, a fake in tests.
#[async_trait]
pub trait JwksSource: Send + Sync {
    /// The document's bytes, read once.
    async fn fetch(&self) -> Result<Vec<u8>, JwksError>;
}

/// Reads the JWKS at one URL with the project's TLS setup (compiled-in roots, no redirects).
pub struct HttpJwks {
    http: reqwest::Client,
    url: reqwest::Url,
}

impl HttpJwks {
    /// A reader of `url`, which must be `https`, or `http` on a loopback host.
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        let url = jwks_url(url)?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("shopify-connector/", env!("CARGO_PKG_VERSION")))
            // Compiled-in public roots (see `crate::tls`): no read of the system store.
            .tls_backend_preconfigured(crate::tls::reqwest_tls())
            .build()
            .expect("the TLS backend is compiled in, so building the client cannot fail");
        Ok(Self { http, url })
    }
}

#[async_trait]
impl JwksSource for HttpJwks {
    async fn fetch(&self) -> Result<Vec<u8>, JwksError> {
        let mut response = self
            .http
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(JwksError::Request)?;
        if !response.status().is_success() {
            return Err(JwksError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|length| length > MAX_BODY_BYTES as u64)
        {
            return Err(JwksError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(JwksError::Request)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(JwksError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// `MCP_JWKS_URL` checked: `https`, or plain `http` on a loopback host (local and test runs).
pub(super) fn jwks_url(raw: &str) -> Result<reqwest::Url, ConfigError> {
    let invalid = |why: &str| ConfigError::Invalid("MCP_JWKS_URL", why.to_owned());
    let url = reqwest::Url::parse(raw.trim()).map_err(|_| invalid("not a URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("a URL with credentials in it is refused"));
    }
    let Some(host) = url.host_str() else {
        return Err(invalid("the URL names no host"));
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(invalid("use https (plain http only on a loopback host)")),
        _ => Err(invalid("use an https URL")),
    }
}

/// The keys of one JWKS document a token may be signed with, by `kid`: RSA keys for RS256 and
/// P-256 keys for ES256. Keys for encryption, of other types or algorithms, or without a `kid`
/// are left out (one such key does not cost the others).
#[derive(Default)]
pub(super) struct KeySet {
    keys: HashMap<String, PublicKey>,
}

impl KeySet {
    pub fn parse(body: &[u8]) -> Result<Self, JwksError> {
        let document: Value = serde_json::from_slice(body).map_err(|_| JwksError::NotAKeySet)?;
        let Some(entries) = document.get("keys").and_then(Value::as_array) else {
            return Err(JwksError::NotAKeySet);
        };
        let mut keys: HashMap<String, PublicKey> = HashMap::new();
        // A kid named twice says nothing certain of either key: neither verifies.
        let mut doubled: Vec<String> = Vec::new();
        for jwk in entries
            .iter()
            .filter_map(|entry| Jwk::deserialize(entry).ok())
        {
            let (Some(kid), Some(key)) = (jwk.kid.clone(), jwk.signing_key()) else {
                continue;
            };
            if keys.insert(kid.clone(), key).is_some() {
                doubled.push(kid);
            }
        }
        for kid in &doubled {
            keys.remove(kid);
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKey);
        }
        Ok(Self { keys })
    }

    pub fn get(&self, kid: &str) -> Option<&PublicKey> {
        self.keys.get(kid)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }
}

/// The members of a JWK (RFC 7517) a signing key is read from; others are ignored.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    public_key_use: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

impl Jwk {
    /// The key when it is for signatures (or says nothing of its use) and is an RSA key for
    /// RS256 or a P-256 key for ES256 (or names no algorithm).
    fn signing_key(&self) -> Option<PublicKey> {
        if self.public_key_use.as_deref().is_some_and(|u| u != "sig") {
            return None;
        }
        match (self.kty.as_str(), self.alg.as_deref(), self.crv.as_deref()) {
            ("RSA", None | Some("RS256"), _) => {
                PublicKey::rsa(self.n.as_deref()?, self.e.as_deref()?)
            }
            ("EC", None | Some("ES256"), Some("P-256")) => {
                PublicKey::p256(self.x.as_deref()?, self.y.as_deref()?)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::jws::Algorithm;
    use super::*;

    const RSA: &str = r#"{"kty":"RSA","kid":"r1","use":"sig","alg":"RS256","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"}"#;
    const EC: &str = r#"{"kty":"EC","kid":"e1","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}"#;
    const P384: &str = r#"{"kty":"EC","kid":"e2","crv":"P-384","x":"iA7lWQLzVrKGEFjfGMfMHfTEZ2KnLiKU7JuNT3E7ygsfE7ygsfE7ygsfE7ygsfE7","y":"iA7lWQLzVrKGEFjfGMfMHfTEZ2KnLiKU7JuNT3E7ygsfE7ygsfE7ygsfE7ygsfE7"}"#;
    const HMAC: &str = r#"{"kty":"oct","kid":"h1","k":"c2VjcmV0"}"#;
    const ENCRYPTION: &str = r#"{"kty":"RSA","kid":"enc","use":"enc","n":"sXch","e":"AQAB"}"#;

    fn set(keys: &[&str]) -> Vec<u8> {
        format!("{{\"keys\":[{}]}}", keys.join(",")).into_bytes()
    }

    #[test]
    fn rsa_and_p256_signing_keys_are_kept_by_kid_with_their_algorithm() {
        let keys = KeySet::parse(&set(&[RSA, EC])).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.get("r1").unwrap().algorithm(), Algorithm::RS256);
        assert_eq!(keys.get("e1").unwrap().algorithm(), Algorithm::ES256);
    }

    #[test]
    fn shared_secrets_encryption_keys_other_curves_and_unknown_types_are_left_out() {
        let unknown = r#"{"kty":"OKP","kid":"o1","crv":"X25519","x":"abc"}"#;
        let without_kid = RSA.replace(r#""kid":"r1","#, "");
        let keys =
            KeySet::parse(&set(&[HMAC, ENCRYPTION, P384, unknown, &without_kid, EC])).unwrap();
        assert_eq!(keys.len(), 1);
        assert!(keys.get("e1").is_some());
        assert!(keys.get("h1").is_none());
    }

    #[test]
    fn a_kid_named_by_two_keys_is_left_out() {
        let twin = EC.replace(r#""kid":"e1""#, r#""kid":"r1""#);
        let keys = KeySet::parse(&set(&[RSA, &twin, EC])).unwrap();
        assert_eq!(keys.len(), 1);
        assert!(keys.get("r1").is_none());
        assert!(keys.get("e1").is_some());
    }

    #[test]
    fn a_document_without_a_usable_key_or_not_a_key_set_is_refused() {
        assert!(matches!(
            KeySet::parse(&set(&[HMAC])),
            Err(JwksError::NoUsableKey)
        ));
        assert!(matches!(
            KeySet::parse(b"<html>"),
            Err(JwksError::NotAKeySet)
        ));
        assert!(matches!(
            KeySet::parse(b"{\"keys\":{}}"),
            Err(JwksError::NotAKeySet)
        ));
    }

    #[test]
    fn the_jwks_is_read_over_https_or_plain_http_on_loopback_only() {
        for ok in [
            "https://idp.example.com/.well-known/jwks.json",
            "http://127.0.0.1:4000/jwks",
            "http://localhost:4000/jwks",
            "http://[::1]:4000/jwks",
        ] {
            assert!(jwks_url(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://idp.example.com/jwks",
            "http://10.0.0.1/jwks",
            "ftp://idp.example.com/jwks",
            "https://user:pass@idp.example.com/jwks",
            "not a url",
        ] {
            assert!(
                matches!(
                    jwks_url(refused),
                    Err(ConfigError::Invalid("MCP_JWKS_URL", _))
                ),
                "{refused}"
            );
        }
    }
}
