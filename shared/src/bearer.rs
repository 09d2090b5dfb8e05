//! Bearer tokens of the platform's identity provider, checked in the function itself (the MCP
//! route has no API Gateway authorizer): a JWT signed RS256 or ES256 by a key of the JWKS at
//! `MCP_JWKS_URL`, issued by `MCP_ISSUER` for `MCP_AUDIENCE`, unexpired (60 s leeway), naming
//! the organization in the `ORG_ID_CLAIM` claim.
//!
//! [`BearerVerifier`] is the port; the JWKS-backed verifier implements it. A refusal carries no
//! detail a caller could use to probe keys: every refusal is answered the same way (401 with
//! [`www_authenticate`]).

use async_trait::async_trait;
use serde_json::{json, Value};

use crate::domain::OrganizationId;

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
