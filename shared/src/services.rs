//! The composition root: configuration and the adapters behind the ports, built once per cold
//! start and lent to every invocation. Handlers take the parts they use.

use std::sync::Arc;

use crate::access::Access;
use crate::config::{AuthConfig, Budgets, Config, ConfigError};
use crate::knowledge::aws::{DynamoKnowledge, EventBridgeEvents, SqsQueue};
use crate::knowledge::ports::EventPublisher;
use crate::knowledge::KnowledgePorts;
use crate::lifecycle::Storage;
use crate::secrets::{SecretStore, SecretsManagerStore};
use crate::shopify::{ShopifyClient, ShopifyConfig};
use crate::store::{DynamoStoreRepository, StoreRepository};

/// Everything a function may need. Fields are trait objects (inside [`Storage`]) so tests can
/// build it from in-memory fakes and integration tests from the real adapters.
#[derive(Clone)]
pub struct Services {
    pub auth: AuthConfig,
    pub budgets: Budgets,
    pub storage: Storage,
    pub shopify: ShopifyClient,
    /// Decrypted credentials, per container (see [`Access`]).
    pub access: Arc<Access>,
    /// Asking for knowledge sync runs and removals (`None` without `KNOWLEDGE_QUEUE_URL`).
    pub knowledge: Option<KnowledgePorts>,
    /// Where store status changes are announced (`EVENT_BUS_NAME`); without it they wait in
    /// the stores' outboxes for a function that has it.
    pub events: Option<Arc<dyn EventPublisher>>,
    /// `WEBHOOK_BASE_URL`: where Shopify delivers webhooks (none subscribed without it).
    pub webhook_base_url: Option<String>,
}

impl Services {
    /// Reads the environment (see [`Config`]) and builds the AWS adapters from one `SdkConfig`.
    /// Without knowledge sync's ports: a function that never asks for a sync does not carry
    /// the SQS client.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = crate::aws::sdk_config().await;
        Ok(Self::from_sdk(&config, &sdk))
    }

    /// [`Services::from_env`] with knowledge sync's ports (when `KNOWLEDGE_QUEUE_URL` is set),
    /// for the functions that ask for syncs and removals.
    pub async fn from_env_with_knowledge() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = crate::aws::sdk_config().await;
        Ok(Self::from_sdk(&config, &sdk).with_knowledge(&config, &sdk))
    }

    /// These services with knowledge sync's real ports (when `KNOWLEDGE_QUEUE_URL` is set).
    pub fn with_knowledge(mut self, config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        self.knowledge = config
            .knowledge
            .queue_url
            .as_ref()
            .map(|url| KnowledgePorts {
                repo: Arc::new(DynamoKnowledge::new(
                    aws_sdk_dynamodb::Client::new(sdk),
                    config.stores_table.clone(),
                    config
                        .knowledge
                        .index_table
                        .clone()
                        .unwrap_or_else(|| config.stores_table.clone()),
                )),
                queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(sdk), url)),
            });
        self
    }

    /// The real adapters for `config`, sharing `sdk` (without knowledge sync's ports).
    pub fn from_sdk(config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        let stores = DynamoStoreRepository::new(dynamodb, config.stores_table.clone());
        let secrets = SecretsManagerStore::new(
            aws_sdk_secretsmanager::Client::new(sdk),
            config.kms_key_id.clone(),
        );
        let storage = Storage {
            stores: Arc::new(stores),
            secrets: Arc::new(secrets),
            secret_prefix: config.secret_prefix.clone(),
        };
        let events: Arc<dyn EventPublisher> = Arc::new(EventBridgeEvents::new(
            aws_sdk_eventbridge::Client::new(sdk),
            config.knowledge.event_bus.clone(),
        ));
        let mut services = Self::new(
            config.auth.clone(),
            config.budgets,
            storage,
            ShopifyClient::new(config.shopify.clone()),
        )
        .with_events(events);
        services.webhook_base_url = config.health.webhook_base_url.clone();
        services
    }

    /// These services announcing status changes on `events`; lookups and sidebars that meet a
    /// revoked token then mark the store (see [`Access`]).
    pub fn with_events(mut self, events: Arc<dyn EventPublisher>) -> Self {
        self.access = Arc::new(
            Access::new(
                self.storage.secrets.clone(),
                self.storage.secret_prefix.clone(),
                self.shopify.clone(),
            )
            .marking_revoked(self.storage.clone(), events.clone()),
        );
        self.events = Some(events);
        self
    }

    pub fn new(
        auth: AuthConfig,
        budgets: Budgets,
        storage: Storage,
        shopify: ShopifyClient,
    ) -> Self {
        let access = Arc::new(Access::new(
            storage.secrets.clone(),
            storage.secret_prefix.clone(),
            shopify.clone(),
        ));
        Self {
            auth,
            budgets,
            storage,
            shopify,
            access,
            knowledge: None,
            events: None,
            webhook_base_url: None,
        }
    }

    /// Services over the given adapters with default settings; for tests.
    pub fn with_adapters(
        stores: Arc<dyn StoreRepository>,
        secrets: Arc<dyn SecretStore>,
        shopify: ShopifyConfig,
    ) -> Self {
        let storage = Storage {
            stores,
            secrets,
            secret_prefix: "opencx/shopify".into(),
        };
        Self::new(
            AuthConfig::default(),
            Budgets::default(),
            storage,
            ShopifyClient::new(shopify),
        )
    }

    /// The same services over other storage (fault-injecting adapters, say); the credential
    /// cache is new, so it reads through the given secrets.
    pub fn with_storage(&self, storage: Storage) -> Self {
        let mut services = Self::new(
            self.auth.clone(),
            self.budgets,
            storage,
            self.shopify.clone(),
        );
        services.knowledge = self.knowledge.clone();
        services.webhook_base_url = self.webhook_base_url.clone();
        match self.events.clone() {
            Some(events) => services.with_events(events),
            None => services,
        }
    }
}
