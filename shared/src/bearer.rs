//! Bearer tokens of the platform's identity provider, checked in the function itself (the MCP
//! route has no API Gateway authorizer): a JWT signed RS256 or ES256 by a key of the JWKS at
//! `MCP_JWKS_URL`, issued by `MCP_ISSUER` for `MCP_AUDIENCE`, unexpired (60 s leeway), naming
//! the organization in the `ORG_ID_CLAIM` claim.
//!
//! [`BearerVerifier`] is the port; [`JwtVerifier`] (keys read by [`HttpJwks`]) implements it. A refusal carries no
//! detail a caller could use to probe keys: every refusal is answered the same way (401 with
//! [`www_authenticate`]).

use async_trait::async_trait;
use serde_json::{json, Value};

use crate::config::ConfigError;
use crate::domain::OrganizationId;

mod jwks;
mod jws;
mod jwt;

pub use jwks::{HttpJwks, JwksError, JwksSource};
pub use jwt::{JwtVerifier, FAILED_READ_PAUSE};

/// What a valid token says about its bearer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BearerClaims {
    /// The organization, from the `ORG_ID_CLAIM` claim.
    pub org_id: OrganizationId,
    /// `sub`: recorded as the actor of what the bearer does.
    pub subject: String,
    /// `email`, present only when `email_verified` is `true` in the token.
    pub verified_email: Option<String>,
}

/// Why a token is refused. Logged (never the token), never shown beyond "invalid token".
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum BearerError {
    /// No `Authorization: Bearer ...` header.
    #[error("no bearer token")]
    Missing,
    /// Malformed, badly signed, expired, of another issuer or audience, or without the org claim.
    #[error("invalid bearer token: {0}")]
    Invalid(&'static str),
    /// The JWKS could not be read (and no cached key matches): the caller may retry.
    #[error("signing keys unavailable")]
    KeysUnavailable,
}

/// Checks a bearer token.
#[async_trait]
pub trait BearerVerifier: Send + Sync {
    /// The claims of `token` (the header's value without `Bearer `), or why it is refused.
    async fn verify(&self, token: &str) -> Result<BearerClaims, BearerError>;
}

/// The MCP route's authorization settings: `MCP_ISSUER`, `MCP_AUDIENCE`, `MCP_JWKS_URL`,
/// `MCP_RESOURCE_URL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BearerConfig {
    pub issuer: String,
    pub audience: String,
    pub jwks_url: String,
    pub resource_url: String,
}

impl BearerConfig {
    /// Reads `MCP_ISSUER`, `MCP_AUDIENCE`, `MCP_JWKS_URL` and `MCP_RESOURCE_URL`, all required;
    /// the JWKS URL must be `https` (plain `http` only on a loopback host, for local and test
    /// runs).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// [`Self::from_env`] through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |key: &'static str| {
            lookup(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(key))
        };
        let config = Self {
            issuer: get("MCP_ISSUER")?,
            audience: get("MCP_AUDIENCE")?,
            jwks_url: get("MCP_JWKS_URL")?,
            resource_url: get("MCP_RESOURCE_URL")?,
        };
        jwks::jwks_url(&config.jwks_url)?;
        Ok(config)
    }
}

/// The `WWW-Authenticate` value of every 401 on the MCP route (RFC 9728 §5.1).
pub fn www_authenticate(config: &BearerConfig) -> String {
    format!(
        "Bearer resource_metadata=\"{}\"",
        protected_resource_metadata_url(&config.resource_url)
    )
}

/// Where the protected-resource document of `resource_url` is served (RFC 9728 §3.1: the
/// well-known prefix inserted before the resource's path).
pub fn protected_resource_metadata_url(resource_url: &str) -> String {
    let (origin, path) = match resource_url.find("://") {
        Some(scheme) => match resource_url[scheme + 3..].find('/') {
            Some(slash) => resource_url.split_at(scheme + 3 + slash),
            None => (resource_url, ""),
        },
        None => (resource_url, ""),
    };
    format!(
        "{origin}/.well-known/oauth-protected-resource{}",
        path.trim_end_matches('/')
    )
}

/// The RFC 9728 protected-resource document, served publicly.
pub fn protected_resource_document(config: &BearerConfig) -> Value {
    json!({
        "resource": config.resource_url,
        "authorization_servers": [config.issuer],
        "bearer_methods_supported": ["header"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    const LOCAL: [(&str, &str); 4] = [
        ("MCP_ISSUER", "http://127.0.0.1:4000"),
        ("MCP_AUDIENCE", "shopify-connector"),
        (
            "MCP_JWKS_URL",
            "http://127.0.0.1:4000/.well-known/jwks.json",
        ),
        ("MCP_RESOURCE_URL", "http://127.0.0.1:3000/mcp"),
    ];

    #[test]
    fn the_settings_are_read_from_the_four_variables() {
        let config = BearerConfig::from_lookup(env(&LOCAL)).unwrap();
        assert_eq!(config.issuer, "http://127.0.0.1:4000");
        assert_eq!(config.audience, "shopify-connector");
        assert_eq!(
            config.jwks_url,
            "http://127.0.0.1:4000/.well-known/jwks.json"
        );
        assert_eq!(config.resource_url, "http://127.0.0.1:3000/mcp");
    }

    #[test]
    fn a_missing_or_blank_variable_is_named_in_the_error() {
        for (missing, _) in LOCAL {
            let mut pairs: Vec<_> = LOCAL
                .iter()
                .filter(|(k, _)| *k != missing)
                .copied()
                .collect();
            let error = BearerConfig::from_lookup(env(&pairs)).unwrap_err();
            assert!(matches!(error, ConfigError::Missing(name) if name == missing));
            pairs.push((missing, "  "));
            let error = BearerConfig::from_lookup(env(&pairs)).unwrap_err();
            assert!(matches!(error, ConfigError::Missing(name) if name == missing));
        }
    }

    #[test]
    fn a_jwks_url_over_plain_http_to_another_host_is_a_config_error() {
        let mut pairs = LOCAL.to_vec();
        pairs[2] = (
            "MCP_JWKS_URL",
            "http://idp.example.com/.well-known/jwks.json",
        );
        let error = BearerConfig::from_lookup(env(&pairs)).unwrap_err();
        assert!(matches!(error, ConfigError::Invalid("MCP_JWKS_URL", _)));
        assert!(error.to_string().contains("https"), "{error}");
    }

    #[test]
    fn the_metadata_url_inserts_the_well_known_prefix_before_the_resource_path() {
        assert_eq!(
            protected_resource_metadata_url("https://api.example.com/mcp"),
            "https://api.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            protected_resource_metadata_url("https://api.example.com"),
            "https://api.example.com/.well-known/oauth-protected-resource"
        );
    }
}
