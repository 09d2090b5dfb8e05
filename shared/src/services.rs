//! What the dashboard functions share: configuration and the adapters behind the ports,
//! built once per cold start and lent to every invocation.

use std::sync::Arc;

use crate::access::CredentialCache;
use crate::config::{AuthConfig, Config, ConfigError};
use crate::secrets::{SecretStore, SecretsManagerStore};
use crate::shopify::{ShopifyClient, ShopifyConfig};
use crate::store::{DynamoStoreRepository, StoreRepository};

/// The state every dashboard handler takes. Fields are trait objects so tests can build it
/// from in-memory fakes and integration tests from the real adapters.
#[derive(Clone)]
pub struct Services {
    pub auth: AuthConfig,
    pub secret_prefix: String,
    pub stores: Arc<dyn StoreRepository>,
    pub secrets: Arc<dyn SecretStore>,
    pub shopify: ShopifyClient,
    /// Decrypted credentials, per container (see [`CredentialCache`]).
    pub credentials: Arc<CredentialCache>,
}

impl Services {
    /// Reads the environment (see [`Config`]) and builds the AWS adapters from one `SdkConfig`.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = crate::aws::sdk_config().await;
        Ok(Self::from_sdk(&config, &sdk))
    }

    /// The real adapters for `config`, sharing `sdk`.
    pub fn from_sdk(config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        let stores = DynamoStoreRepository::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.stores_table.clone(),
        );
        let secrets = SecretsManagerStore::new(
            aws_sdk_secretsmanager::Client::new(sdk),
            config.kms_key_id.clone(),
        );
        Self {
            auth: config.auth.clone(),
            secret_prefix: config.secret_prefix.clone(),
            stores: Arc::new(stores),
            secrets: Arc::new(secrets),
            shopify: ShopifyClient::new(config.shopify.clone()),
            credentials: Arc::default(),
        }
    }

    /// Services over the given adapters with default auth settings; for tests.
    pub fn with_adapters(
        stores: Arc<dyn StoreRepository>,
        secrets: Arc<dyn SecretStore>,
        shopify: ShopifyConfig,
    ) -> Self {
        Self {
            auth: AuthConfig::default(),
            secret_prefix: "opencx/shopify".into(),
            stores,
            secrets,
            shopify: ShopifyClient::new(shopify),
            credentials: Arc::default(),
        }
    }
}
