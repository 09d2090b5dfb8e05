//! The composition root: configuration and the adapters behind the ports, built once per cold
//! start and lent to every invocation. Handlers take the parts they use.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::access::Access;
use crate::actions::{
    ActionConfig, ActionPorts, ActionRepository, Clock, DynamoActions, PendingApprovals,
};
use crate::aws::LazyClient;
use crate::config::{AuthConfig, Budgets, Config, ConfigError};
use crate::events::{EventBridgeEvents, EventPublisher};
use crate::health::check::{HealthConfig, HealthJob, HealthPorts, LiveChecker};
use crate::health::delivery::WebhookPorts;
use crate::health::repo::DynamoHealth;
use crate::health::token::{SecretsManagerTokenKeys, WebhookTokens};
use crate::health::webhook::{SubscribeOnConnect, WebhookEndpoint};
use crate::knowledge::aws::{DynamoKnowledge, S3Documents};
use crate::knowledge::requests::{FirstSync, RemoveKnowledge};
use crate::knowledge::sync::{SyncConfig, SyncPorts, BUSY_PAUSE, STEP_RESERVE, THROTTLED_PAUSE};
use crate::knowledge::KnowledgePorts;
use crate::lifecycle::connect::{AfterConnect, Connector};
use crate::lifecycle::disconnect::{AfterDisconnect, Disconnector};
use crate::lifecycle::Storage;
use crate::queue::{Queue, SqsQueue};
use crate::secrets::{PutOutcome, SecretName, SecretStore, SecretsError, SecretsManagerStore};
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
    /// Reads the environment (see [`Config`]) and builds the AWS adapters of
    /// [`Services::from_sdk`] from one `SdkConfig`.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = crate::aws::sdk_config().await;
        Ok(Self::from_sdk(&config, &sdk))
    }

    /// These services with knowledge sync's real ports (when `KNOWLEDGE_QUEUE_URL` is set).
    pub fn with_knowledge(mut self, config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        self.knowledge = knowledge_ports(config, aws_sdk_dynamodb::Client::new(sdk), sdk);
        self
    }

    /// The real adapters for `config`, sharing `sdk`: credentials, the event bus and the
    /// webhooks' tokens (without knowledge sync's ports). A function composes its own instead
    /// ([`Services::compose`]).
    pub fn from_sdk(config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        Self::compose(config, sdk)
            .credentials()
            .event_bus()
            .webhooks()
            .build()
    }

    /// The real adapters, one AWS client at a time: a function's `main` names the clients its
    /// IAM policy lets it call, and only those are built. What is never built is never linked
    /// either (the release profile's LTO drops it), so a function's binary carries only its own
    /// clients. DynamoDB (the stores table) and the Shopify client are always there.
    pub fn compose<'a>(config: &'a Config, sdk: &'a aws_config::SdkConfig) -> Compose<'a> {
        Compose {
            config,
            sdk,
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            secrets: None,
            events: None,
            knowledge: None,
            webhook_tokens: None,
        }
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
            events: self.events.as_ref(),
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

/// Builds [`Services`] from the real adapters (see [`Services::compose`]).
pub struct Compose<'a> {
    config: &'a Config,
    sdk: &'a aws_config::SdkConfig,
    dynamodb: aws_sdk_dynamodb::Client,
    secrets: Option<Arc<dyn SecretStore>>,
    events: Option<Arc<dyn EventPublisher>>,
    knowledge: Option<KnowledgePorts>,
    webhook_tokens: Option<Arc<WebhookTokens>>,
}

impl Compose<'_> {
    /// Stores' credentials in Secrets Manager (`SECRETS_KMS_KEY_ID`). Without them, reading or
    /// writing credentials fails as Secrets Manager being unavailable.
    pub fn credentials(mut self) -> Self {
        self.secrets = Some(Arc::new(SecretsManagerStore::new(
            LazyClient::new(self.sdk, aws_sdk_secretsmanager::Client::new),
            self.config.kms_key_id.clone(),
        )));
        self
    }

    /// Status changes announced on EventBridge (`EVENT_BUS_NAME`). Without it they wait in the
    /// stores' outboxes for a function that has it.
    pub fn event_bus(self) -> Self {
        let events = event_bus(self.config, self.sdk);
        self.announcing(events)
    }

    /// Status changes announced on `events`.
    pub fn announcing(mut self, events: Arc<dyn EventPublisher>) -> Self {
        self.events = Some(events);
        self
    }

    /// Knowledge sync's ports (SQS), when `KNOWLEDGE_QUEUE_URL` is set.
    pub fn knowledge(mut self) -> Self {
        self.knowledge = knowledge_ports(self.config, self.dynamodb.clone(), self.sdk);
        self
    }

    /// The webhook callbacks' tokens, whose key is the Secrets Manager secret
    /// `WEBHOOK_TOKEN_SECRET` (none without it); webhooks are subscribed at `WEBHOOK_BASE_URL`.
    pub fn webhooks(mut self) -> Self {
        self.webhook_tokens = self
            .config
            .health
            .webhook_token_secret
            .as_ref()
            .map(|secret| {
                Arc::new(WebhookTokens::new(Arc::new(SecretsManagerTokenKeys::new(
                    LazyClient::new(self.sdk, aws_sdk_secretsmanager::Client::new),
                    secret.clone(),
                ))))
            });
        self
    }

    /// The DynamoDB client the services use, for a feature's own records in the stores table.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        self.dynamodb.clone()
    }

    /// The services with the clients named so far (DynamoDB and Shopify always).
    pub fn build(self) -> Services {
        let config = self.config;
        let storage = Storage {
            stores: Arc::new(DynamoStoreRepository::new(
                self.dynamodb,
                config.stores_table.clone(),
            )),
            secrets: self.secrets.unwrap_or_else(|| Arc::new(NoCredentials)),
            secret_prefix: config.secret_prefix.clone(),
        };
        let mut services = Services::new(
            config.auth.clone(),
            config.budgets,
            storage,
            ShopifyClient::new(config.shopify.clone()),
        );
        services.knowledge = self.knowledge;
        services.webhook_base_url = config.health.webhook_base_url.clone();
        services.webhook_tokens = self.webhook_tokens;
        match self.events {
            Some(events) => services.with_events(events),
            None => services,
        }
    }
}

/// The event bus `EVENT_BUS_NAME`.
fn event_bus(config: &Config, sdk: &aws_config::SdkConfig) -> Arc<dyn EventPublisher> {
    Arc::new(EventBridgeEvents::new(
        LazyClient::new(sdk, aws_sdk_eventbridge::Client::new),
        config.knowledge.event_bus.clone(),
    ))
}

/// Knowledge sync's real ports, when `KNOWLEDGE_QUEUE_URL` is set.
fn knowledge_ports(
    config: &Config,
    dynamodb: aws_sdk_dynamodb::Client,
    sdk: &aws_config::SdkConfig,
) -> Option<KnowledgePorts> {
    let url = config.knowledge.queue_url.as_ref()?;
    Some(KnowledgePorts {
        repo: Arc::new(DynamoKnowledge::new(
            dynamodb,
            config.stores_table.clone(),
            config
                .knowledge
                .index_table
                .clone()
                .unwrap_or_else(|| config.stores_table.clone()),
        )),
        queue: Arc::new(SqsQueue::lazy(sdk, url)),
    })
}

/// The credentials of a function composed without Secrets Manager: every call fails, as
/// Secrets Manager would for a function its IAM policy does not let in.
struct NoCredentials;

impl NoCredentials {
    fn refused<T>(&self) -> Result<T, SecretsError> {
        Err(SecretsError::Unavailable(
            "this function is composed without Secrets Manager".into(),
        ))
    }
}

#[async_trait]
impl SecretStore for NoCredentials {
    async fn put(&self, _: &SecretName, _: &SecretString) -> Result<PutOutcome, SecretsError> {
        self.refused()
    }

    async fn current_version(&self, _: &SecretName) -> Result<Option<String>, SecretsError> {
        self.refused()
    }

    async fn get_version(
        &self,
        _: &SecretName,
        _: &str,
    ) -> Result<Option<SecretString>, SecretsError> {
        self.refused()
    }

    async fn make_current(&self, _: &SecretName, _: &str) -> Result<(), SecretsError> {
        self.refused()
    }

    async fn schedule_deletion(&self, _: &SecretName) -> Result<(), SecretsError> {
        self.refused()
    }

    async fn delete(&self, _: &SecretName) -> Result<(), SecretsError> {
        self.refused()
    }

    async fn list(
        &self,
        _: &str,
        _: Option<&str>,
    ) -> Result<crate::secrets::SecretPage, SecretsError> {
        self.refused()
    }
}

// The features' ports, composed here so no feature module builds an adapter.

impl WebhookPorts {
    /// The real adapters: the stores table, Shopify, the event bus, the callback tokens
    /// (`WEBHOOK_TOKEN_SECRET`, required) and the health queue (`HEALTH_QUEUE_URL`; without it
    /// a `shop/update` checks the store inline).
    pub fn from_sdk(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let compose = Services::compose(config, sdk)
            .credentials()
            .event_bus()
            .webhooks();
        let repo = Arc::new(DynamoHealth::new(
            compose.dynamodb(),
            config.stores_table.clone(),
        ));
        let services = compose.build();
        let queue = config
            .health
            .queue_url
            .clone()
            .map(|url| Arc::new(SqsQueue::lazy(sdk, url)) as Arc<dyn Queue<HealthJob>>);
        let tokens = services
            .webhook_tokens
            .clone()
            .ok_or(ConfigError::Missing("WEBHOOK_TOKEN_SECRET"))?;
        Ok(Self {
            tokens,
            repo,
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
        let url = config
            .health
            .queue_url
            .clone()
            .ok_or(ConfigError::Missing("HEALTH_QUEUE_URL"))?;
        let compose = Services::compose(config, sdk)
            .credentials()
            .event_bus()
            .webhooks();
        let repo = Arc::new(DynamoHealth::new(
            compose.dynamodb(),
            config.stores_table.clone(),
        ));
        let services = compose.build();
        Ok(Self {
            stores: services.storage.stores.clone(),
            storage: services.storage.clone(),
            repo,
            queue: Arc::new(SqsQueue::lazy(sdk, url)),
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
    /// The inbox sidebar's read of pending approvals: records in the stores table through
    /// the services' DynamoDB client ([`Compose::dynamodb`]; a client of its own would be
    /// built at every cold start for nothing), `APPROVAL_TTL_HOURS` from the environment.
    pub fn from_dynamodb(config: &Config, dynamodb: aws_sdk_dynamodb::Client) -> Self {
        Self {
            actions: Arc::new(DynamoActions::new(dynamodb, config.stores_table.clone())),
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
        let compose = Services::compose(config, sdk).credentials().event_bus();
        let actions = Arc::new(DynamoActions::new(
            compose.dynamodb(),
            config.stores_table.clone(),
        ));
        Self::from_services(&compose.build(), actions)
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
        let events = event_bus(config, sdk);
        let services = Services::compose(config, sdk)
            .credentials()
            .announcing(events.clone())
            .knowledge()
            .build();
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
            events,
            access: services.access.clone(),
            config: SyncConfig {
                bucket,
                bulk_threshold: config.knowledge.bulk_threshold,
                bulk_poll: Duration::from_secs(10),
                step_reserve: STEP_RESERVE,
                throttled_pause: THROTTLED_PAUSE,
                busy_pause: BUSY_PAUSE,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrganizationId, ShopDomain};

    fn config(vars: &[(&str, &str)]) -> Config {
        let vars: Vec<(String, String)> = vars
            .iter()
            .chain(&[("STORES_TABLE", "stores")])
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|key| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
            .unwrap()
    }

    fn sdk() -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .http_client(crate::aws::http_client())
            .build()
    }

    fn secret() -> SecretName {
        SecretName::for_store(
            "opencx/shopify",
            &OrganizationId::parse("org_1").unwrap(),
            &ShopDomain::parse("demo.myshopify.com").unwrap(),
        )
    }

    #[tokio::test]
    async fn a_function_composed_without_secrets_manager_reads_no_credentials() {
        let config = config(&[("WEBHOOK_TOKEN_SECRET", "webhook-key")]);
        let sdk = sdk();
        let services = Services::compose(&config, &sdk).knowledge().build();
        let read = services.storage.secrets.get_version(&secret(), "v1").await;
        assert!(
            matches!(read, Err(SecretsError::Unavailable(ref e)) if e.to_string().contains("without Secrets Manager")),
            "{read:?}"
        );
        assert!(services.storage.secrets.delete(&secret()).await.is_err());
        assert!(services.events.is_none());
        assert!(services.webhook_tokens.is_none());
        assert!(services.webhook_endpoint().is_none());
    }

    #[test]
    fn knowledge_ports_are_composed_only_with_a_knowledge_queue() {
        let sdk = sdk();
        let without = config(&[]);
        assert!(Services::compose(&without, &sdk)
            .knowledge()
            .build()
            .knowledge
            .is_none());
        let with = config(&[("KNOWLEDGE_QUEUE_URL", "https://sqs.example/knowledge")]);
        assert!(Services::compose(&with, &sdk)
            .knowledge()
            .build()
            .knowledge
            .is_some());
        assert!(Services::compose(&with, &sdk).build().knowledge.is_none());
    }

    #[test]
    fn webhooks_are_subscribed_only_by_a_function_composed_with_their_tokens() {
        let sdk = sdk();
        let config = config(&[
            ("WEBHOOK_TOKEN_SECRET", "webhook-key"),
            ("WEBHOOK_BASE_URL", "https://api.example.com"),
        ]);
        let without = Services::compose(&config, &sdk).credentials().build();
        assert!(without.webhook_endpoint().is_none());
        let with = Services::compose(&config, &sdk)
            .credentials()
            .webhooks()
            .build();
        let endpoint = with.webhook_endpoint().expect("an endpoint");
        assert_eq!(endpoint.base_url, "https://api.example.com");
    }

    #[test]
    fn the_services_of_tests_and_tools_have_credentials_the_bus_and_webhooks() {
        let sdk = sdk();
        let config = config(&[
            ("WEBHOOK_TOKEN_SECRET", "webhook-key"),
            ("WEBHOOK_BASE_URL", "https://api.example.com"),
        ]);
        let services = Services::from_sdk(&config, &sdk);
        assert!(services.events.is_some());
        assert!(services.webhook_endpoint().is_some());
        assert!(services.knowledge.is_none());
    }
}
