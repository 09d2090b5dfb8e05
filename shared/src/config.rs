//! Configuration read once per cold start from the environment; missing required values fail
//! the start instead of the first request.

use std::collections::HashSet;
use std::time::Duration;

use crate::shopify::ShopifyConfig;

/// Who may do what, read from the authorizer's JWT claims.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// `ORG_ID_CLAIM`, default `org_id`.
    pub org_claim: String,
    /// `ROLE_CLAIM`, default `role`.
    pub role_claim: String,
    /// `ADMIN_ROLES`, comma-separated, default `admin,owner`.
    pub admin_roles: HashSet<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            org_claim: "org_id".into(),
            role_claim: "role".into(),
            admin_roles: ["admin", "owner"].into_iter().map(String::from).collect(),
        }
    }
}

/// How long the functions that fan out to stores may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budgets {
    /// `LOOKUP_BUDGET_MS`, default 8000 (never past the invocation's deadline minus 500 ms).
    pub lookup: Duration,
    /// `SIDEBAR_BUDGET_MS`, default 6000.
    pub sidebar: Duration,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            lookup: Duration::from_millis(8_000),
            sidebar: Duration::from_millis(6_000),
        }
    }
}

/// Knowledge sync's resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnowledgeConfig {
    /// `KNOWLEDGE_BUCKET`: where documents go (the sync worker needs it).
    pub bucket: Option<String>,
    /// `KNOWLEDGE_QUEUE_URL`: the sync jobs' queue (every function that asks for runs).
    pub queue_url: Option<String>,
    /// `KNOWLEDGE_INDEX_TABLE`: the document index's table (default: the stores table).
    pub index_table: Option<String>,
    /// `EVENT_BUS_NAME`, default `default`.
    pub event_bus: String,
    /// `KNOWLEDGE_BULK_THRESHOLD`, default 2000: above this many products a full run reads
    /// them with a bulk operation.
    pub bulk_threshold: u64,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        Self {
            bucket: None,
            queue_url: None,
            index_table: None,
            event_bus: "default".into(),
            bulk_threshold: 2000,
        }
    }
}

/// Connection health's resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthSettings {
    /// `HEALTH_QUEUE_URL`: the health check's jobs (the health check, and the webhook
    /// endpoint, which queues a check on `shop/update`).
    pub queue_url: Option<String>,
    /// `HEALTH_CHECK_INTERVAL_SECS`, default 3600: the schedule's rate, over which checks are
    /// spread.
    pub interval: Duration,
    /// `WEBHOOK_BASE_URL`: the public API's base URL; without it no webhooks are subscribed.
    pub webhook_base_url: Option<String>,
    /// `WEBHOOK_TOKEN_SECRET`: the Secrets Manager secret (name or ARN) whose value is the key
    /// of the webhook callbacks' tokens; required with `WEBHOOK_BASE_URL`.
    pub webhook_token_secret: Option<String>,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            queue_url: None,
            interval: Duration::from_secs(3600),
            webhook_base_url: None,
            webhook_token_secret: None,
        }
    }
}

/// Everything a function needs to know about its environment.
#[derive(Clone, Debug)]
pub struct Config {
    /// `STORES_TABLE` (required).
    pub stores_table: String,
    pub health: HealthSettings,
    /// `SECRET_PREFIX`, default `opencx/shopify`.
    pub secret_prefix: String,
    /// `SECRETS_KMS_KEY_ID`: customer-managed KMS key for new secrets (optional).
    pub kms_key_id: Option<String>,
    pub shopify: ShopifyConfig,
    pub auth: AuthConfig,
    pub budgets: Budgets,
    pub knowledge: KnowledgeConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the environment variable {0} is required")]
    Missing(&'static str),
    #[error("the environment variable {0} is invalid: {1}")]
    Invalid(&'static str, String),
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |key: &str| {
            lookup(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let stores_table = get("STORES_TABLE").ok_or(ConfigError::Missing("STORES_TABLE"))?;
        let mut shopify = ShopifyConfig::default();
        if let Some(version) = get("SHOPIFY_API_VERSION") {
            let valid = version.len() == 7
                && version.as_bytes()[4] == b'-'
                && version
                    .bytes()
                    .enumerate()
                    .all(|(i, b)| i == 4 || b.is_ascii_digit());
            if !valid && version != "unstable" {
                return Err(ConfigError::Invalid(
                    "SHOPIFY_API_VERSION",
                    "expected YYYY-MM".into(),
                ));
            }
            shopify.api_version = version;
        }
        if let Some(base) = get("SHOPIFY_BASE_URL") {
            if !(base.starts_with("http://") || base.starts_with("https://")) {
                return Err(ConfigError::Invalid(
                    "SHOPIFY_BASE_URL",
                    "expected an http(s) URL".into(),
                ));
            }
            shopify.base_url = Some(base);
        }
        let mut auth = AuthConfig::default();
        if let Some(claim) = get("ORG_ID_CLAIM") {
            auth.org_claim = claim;
        }
        if let Some(claim) = get("ROLE_CLAIM") {
            auth.role_claim = claim;
        }
        if let Some(roles) = get("ADMIN_ROLES") {
            auth.admin_roles = roles
                .split(',')
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
                .collect();
        }
        let millis = |key: &'static str, default: Duration| match get(key) {
            None => Ok(default),
            Some(raw) => match raw.parse::<u64>() {
                Ok(ms) if (100..=60_000).contains(&ms) => Ok(Duration::from_millis(ms)),
                _ => Err(ConfigError::Invalid(
                    key,
                    "expected milliseconds between 100 and 60000".into(),
                )),
            },
        };
        let defaults = Budgets::default();
        let budgets = Budgets {
            lookup: millis("LOOKUP_BUDGET_MS", defaults.lookup)?,
            sidebar: millis("SIDEBAR_BUDGET_MS", defaults.sidebar)?,
        };
        let bulk_threshold = match get("KNOWLEDGE_BULK_THRESHOLD") {
            None => KnowledgeConfig::default().bulk_threshold,
            Some(raw) => raw.parse().map_err(|_| {
                ConfigError::Invalid("KNOWLEDGE_BULK_THRESHOLD", "expected a number".into())
            })?,
        };
        let knowledge = KnowledgeConfig {
            bucket: get("KNOWLEDGE_BUCKET"),
            queue_url: get("KNOWLEDGE_QUEUE_URL"),
            index_table: get("KNOWLEDGE_INDEX_TABLE"),
            event_bus: get("EVENT_BUS_NAME").unwrap_or_else(|| "default".into()),
            bulk_threshold,
        };
        let interval = match get("HEALTH_CHECK_INTERVAL_SECS") {
            None => HealthSettings::default().interval,
            Some(raw) => match raw.parse::<u64>() {
                Ok(secs) if (60..=7 * 86_400).contains(&secs) => Duration::from_secs(secs),
                _ => {
                    return Err(ConfigError::Invalid(
                        "HEALTH_CHECK_INTERVAL_SECS",
                        "expected seconds between 60 and 604800".into(),
                    ))
                }
            },
        };
        let webhook_base_url = get("WEBHOOK_BASE_URL").filter(|u| !u.trim().is_empty());
        if let Some(url) = &webhook_base_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ConfigError::Invalid(
                    "WEBHOOK_BASE_URL",
                    "expected an http(s) URL".into(),
                ));
            }
        }
        let webhook_token_secret = get("WEBHOOK_TOKEN_SECRET").filter(|s| !s.trim().is_empty());
        if webhook_base_url.is_some() && webhook_token_secret.is_none() {
            return Err(ConfigError::Missing("WEBHOOK_TOKEN_SECRET"));
        }
        let health = HealthSettings {
            queue_url: get("HEALTH_QUEUE_URL"),
            interval,
            webhook_base_url,
            webhook_token_secret,
        };
        Ok(Self {
            stores_table,
            health,
            secret_prefix: get("SECRET_PREFIX").unwrap_or_else(|| "opencx/shopify".into()),
            kms_key_id: get("SECRETS_KMS_KEY_ID"),
            shopify,
            auth,
            budgets,
            knowledge,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config = Config::from_lookup(env(&[("STORES_TABLE", "stores")])).unwrap();
        assert_eq!(config.secret_prefix, "opencx/shopify");
        assert_eq!(config.shopify.api_version, "2026-10");
        assert_eq!(config.shopify.base_url, None);
        assert_eq!(config.auth.org_claim, "org_id");
        assert!(config.auth.admin_roles.contains("owner"));
        assert_eq!(config.budgets.lookup, Duration::from_millis(8_000));
        assert_eq!(config.budgets.sidebar, Duration::from_millis(6_000));
    }

    #[test]
    fn knowledge_settings_are_read_with_their_defaults() {
        let config = Config::from_lookup(env(&[("STORES_TABLE", "t")])).unwrap();
        assert_eq!(config.knowledge, KnowledgeConfig::default());
        assert_eq!(config.knowledge.event_bus, "default");
        let config = Config::from_lookup(env(&[
            ("STORES_TABLE", "t"),
            ("KNOWLEDGE_BUCKET", "docs"),
            ("KNOWLEDGE_QUEUE_URL", "https://sqs/q"),
            ("EVENT_BUS_NAME", "bus"),
            ("KNOWLEDGE_BULK_THRESHOLD", "50"),
        ]))
        .unwrap();
        assert_eq!(config.knowledge.bucket.as_deref(), Some("docs"));
        assert_eq!(config.knowledge.bulk_threshold, 50);
        assert!(Config::from_lookup(env(&[
            ("STORES_TABLE", "t"),
            ("KNOWLEDGE_BULK_THRESHOLD", "many")
        ]))
        .is_err());
    }

    #[test]
    fn budgets_are_read_and_checked() {
        let config = Config::from_lookup(env(&[
            ("STORES_TABLE", "t"),
            ("LOOKUP_BUDGET_MS", "2500"),
            ("SIDEBAR_BUDGET_MS", "1500"),
        ]))
        .unwrap();
        assert_eq!(config.budgets.lookup, Duration::from_millis(2_500));
        assert_eq!(config.budgets.sidebar, Duration::from_millis(1_500));
        for bad in ["0", "soon", "999999"] {
            assert!(matches!(
                Config::from_lookup(env(&[("STORES_TABLE", "t"), ("LOOKUP_BUDGET_MS", bad)])),
                Err(ConfigError::Invalid("LOOKUP_BUDGET_MS", _))
            ));
        }
    }

    #[test]
    fn a_missing_table_or_bad_version_fails_the_cold_start() {
        assert!(matches!(
            Config::from_lookup(env(&[])),
            Err(ConfigError::Missing("STORES_TABLE"))
        ));
        assert!(Config::from_lookup(env(&[
            ("STORES_TABLE", "t"),
            ("SHOPIFY_API_VERSION", "latest")
        ]))
        .is_err());
    }

    #[test]
    fn overrides_are_read() {
        let config = Config::from_lookup(env(&[
            ("STORES_TABLE", "t"),
            ("ADMIN_ROLES", " superuser , admin "),
            ("ORG_ID_CLAIM", "custom:org"),
            ("SHOPIFY_BASE_URL", "http://127.0.0.1:9"),
        ]))
        .unwrap();
        assert_eq!(config.auth.admin_roles.len(), 2);
        assert_eq!(config.auth.org_claim, "custom:org");
        assert_eq!(
            config.shopify.base_url.as_deref(),
            Some("http://127.0.0.1:9")
        );
    }
}
