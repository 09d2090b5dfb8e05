//! The composition root: configuration and the adapters behind the ports, built once per cold
//! start and lent to every invocation. Handlers take the parts they use.

use std::sync::Arc;
use std::time::Duration;

use crate::access::Access;
use crate::actions::{
    ActionConfig, ActionPorts, ActionRepository, Clock, DynamoActions, PendingApprovals,
};
use crate::config::{AuthConfig, Budgets, Config, ConfigError};
use crate::events::{EventBridgeEvents, EventPublisher};
use crate::health::check::{HealthConfig, HealthJob, HealthPorts, LiveChecker};
use crate::health::delivery::WebhookPorts;
use crate::health::repo::DynamoHealth;
use crate::health::token::{SecretsManagerTokenKeys, WebhookTokens};
use crate::health::webhook::{SubscribeOnConnect, WebhookEndpoint};
use crate::knowledge::aws::{DynamoKnowledge, S3Documents};
use crate::knowledge::requests::{FirstSync, RemoveKnowledge};
use crate::knowledge::sync::{SyncConfig, SyncPorts, STEP_RESERVE, THROTTLED_PAUSE};
use crate::knowledge::KnowledgePorts;
use crate::lifecycle::connect::{AfterConnect, Connector};
use crate::lifecycle::disconnect::{AfterDisconnect, Disconnector};
use crate::lifecycle::Storage;
use crate::queue::{Queue, SqsQueue};
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
    /// The webhook callbacks' tokens (`WEBHOOK_TOKEN_SECRET`), read once per container.
    pub webhook_tokens: Option<Arc<WebhookTokens>>,
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
        services.webhook_tokens = config.health.webhook_token_secret.as_ref().map(|secret| {
            Arc::new(WebhookTokens::new(Arc::new(SecretsManagerTokenKeys::new(
                aws_sdk_secretsmanager::Client::new(sdk),
                secret.clone(),
            ))))
        });
        services
    }

    /// Where webhooks are subscribed: `WEBHOOK_BASE_URL` with the tokens (`None` without either).
    pub fn webhook_endpoint(&self) -> Option<WebhookEndpoint> {
        Some(WebhookEndpoint {
            base_url: self.webhook_base_url.clone()?,
            tokens: self.webhook_tokens.clone()?,
        })
    }

    /// What `POST /shopify/stores` runs: a connect (announcing a change of status), then the
    /// new connection's first knowledge sync (with knowledge sync's ports) and, last, its
    /// webhook subscriptions.
    pub fn connector(&self) -> Connector<'_> {
        let mut then: Vec<Box<dyn AfterConnect>> = Vec::new();
        if let Some(knowledge) = &self.knowledge {
            then.push(Box::new(FirstSync {
                stores: self.storage.stores.clone(),
                knowledge: knowledge.clone(),
            }));
        }
        then.push(Box::new(SubscribeOnConnect {
            shopify: self.shopify.clone(),
            endpoint: self.webhook_endpoint(),
        }));
        Connector {
            storage: &self.storage,
            shopify: &self.shopify,
            events: self.events.as_ref(),
            then,
        }
    }

    /// What `DELETE /shopify/stores/{shop}` runs: a disconnect, then (with knowledge sync's
    /// ports) the removal of the store's knowledge.
    pub fn disconnector(&self) -> Disconnector<'_> {
        let mut then: Vec<Box<dyn AfterDisconnect>> = Vec::new();
        if let Some(knowledge) = &self.knowledge {
            then.push(Box::new(RemoveKnowledge {
                knowledge: knowledge.clone(),
            }));
        }
        Disconnector {
            storage: &self.storage,
            then,
        }
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
            webhook_tokens: None,
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
        services.webhook_tokens = self.webhook_tokens.clone();
        match self.events.clone() {
            Some(events) => services.with_events(events),
            None => services,
        }
    }
}

// The features' ports, composed here so no feature module builds an adapter.

impl WebhookPorts {
    /// The real adapters: the stores table, Shopify, the event bus, the callback tokens
    /// (`WEBHOOK_TOKEN_SECRET`, required) and the health queue (`HEALTH_QUEUE_URL`; without it
    /// a `shop/update` checks the store inline).
    pub fn from_sdk(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let services = Services::from_sdk(config, sdk);
        let queue = config.health.queue_url.clone().map(|url| {
            Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(sdk), url)) as Arc<dyn Queue<HealthJob>>
        });
        let tokens = services
            .webhook_tokens
            .clone()
            .ok_or(ConfigError::Missing("WEBHOOK_TOKEN_SECRET"))?;
        Ok(Self {
            tokens,
            repo: Arc::new(DynamoHealth::new(
                aws_sdk_dynamodb::Client::new(sdk),
                config.stores_table.clone(),
            )),
            storage: services.storage,
            shopify: services.shopify,
            events: services.events,
            queue,
        })
    }

    /// [`WebhookPorts::from_sdk`] from the environment.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = crate::aws::sdk_config().await;
        Self::from_sdk(&config, &sdk)
    }
}

impl HealthPorts {
    /// The real adapters: the stores table, `HEALTH_QUEUE_URL`, Shopify, the event bus.
    pub fn from_sdk(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let services = Services::from_sdk(config, sdk);
        let url = config
            .health
            .queue_url
            .clone()
            .ok_or(ConfigError::Missing("HEALTH_QUEUE_URL"))?;
        Ok(Self {
            stores: services.storage.stores.clone(),
            repo: Arc::new(DynamoHealth::new(
                aws_sdk_dynamodb::Client::new(sdk),
                config.stores_table.clone(),
            )),
            queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(sdk), url)),
            checker: Arc::new(LiveChecker {
                storage: services.storage.clone(),
                shopify: services.shopify.clone(),
                events: services.events.clone(),
                webhooks: services.webhook_endpoint(),
            }),
            config: HealthConfig::for_interval(config.health.interval),
        })
    }

    /// [`HealthPorts::from_sdk`] from the environment.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = crate::aws::sdk_config().await;
        Self::from_sdk(&config, &sdk)
    }
}

impl PendingApprovals {
    /// The inbox sidebar's read of pending approvals: records in the stores table,
    /// `APPROVAL_TTL_HOURS` from the environment.
    pub fn from_sdk(config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        Self {
            actions: Arc::new(DynamoActions::new(
                aws_sdk_dynamodb::Client::new(sdk),
                config.stores_table.clone(),
            )),
            approval_ttl: ActionConfig::from_env().approval_ttl,
        }
    }
}

impl ActionPorts {
    /// Order actions over `services`' stores, credentials and bus, keeping records in
    /// `actions`; budgets from the environment ([`ActionConfig::from_env`]).
    pub fn from_services(services: &Services, actions: Arc<dyn ActionRepository>) -> Self {
        Self {
            stores: services.storage.stores.clone(),
            access: services.access.clone(),
            actions,
            events: services.events.clone(),
            config: ActionConfig::from_env(),
            clock: Clock::default(),
        }
    }

    /// The real adapters for `config`, sharing `sdk`: records in the stores table.
    pub fn from_sdk(config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        let services = Services::from_sdk(config, sdk);
        let actions = Arc::new(DynamoActions::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.stores_table.clone(),
        ));
        Self::from_services(&services, actions)
    }

    /// [`ActionPorts::from_sdk`] from the environment.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = crate::aws::sdk_config().await;
        Ok(Self::from_sdk(&config, &sdk))
    }
}

impl SyncPorts {
    /// The real adapters, from the environment (`KNOWLEDGE_BUCKET` and `KNOWLEDGE_QUEUE_URL`
    /// are required); a missing one fails the cold start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = crate::aws::sdk_config().await;
        Self::from_sdk(&config, &sdk)
    }

    /// The real adapters for `config`, sharing `sdk`.
    pub fn from_sdk(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let services = Services::from_sdk(config, sdk).with_knowledge(config, sdk);
        let bucket = config
            .knowledge
            .bucket
            .clone()
            .ok_or(ConfigError::Missing("KNOWLEDGE_BUCKET"))?;
        let knowledge = services
            .knowledge
            .clone()
            .ok_or(ConfigError::Missing("KNOWLEDGE_QUEUE_URL"))?;
        let local = std::env::var_os("AWS_ENDPOINT_URL").is_some();
        Ok(Self {
            stores: services.storage.stores.clone(),
            repo: knowledge.repo,
            documents: Arc::new(S3Documents::new(sdk, bucket.clone(), local)),
            queue: knowledge.queue,
            events: Arc::new(EventBridgeEvents::new(
                aws_sdk_eventbridge::Client::new(sdk),
                config.knowledge.event_bus.clone(),
            )),
            access: services.access.clone(),
            config: SyncConfig {
                bucket,
                bulk_threshold: config.knowledge.bulk_threshold,
                bulk_poll: Duration::from_secs(10),
                step_reserve: STEP_RESERVE,
                throttled_pause: THROTTLED_PAUSE,
            },
        })
    }
}
