//! `TestApp`: one isolated tenant against either backend — in-memory fakes (handler tier) or
//! moto through the real SDK clients (integration tier) — with its own fake Shopify.

use std::sync::Arc;
use std::time::Duration;

use lambda_http::{Body, Request, Response};
use serde_json::Value;
use shared::config::{AuthConfig, Budgets};
use shared::lifecycle::Storage;
use shared::secrets::{MemorySecretStore, SecretName, SecretStore, SecretsManagerStore};
use shared::shopify::{RetryPolicy, ShopifyClient, ShopifyConfig};
use shared::store::{DynamoStoreRepository, MemoryStoreRepository, StoreRecord, StoreRepository};
use shared::{Deadline, Services};

use crate::events::HttpEvent;
use crate::fake_shopify::FakeShopify;
use crate::local_aws;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Moto,
}

/// AWS clients of the moto tier, for looking behind the adapters.
pub struct Aws {
    pub dynamo: aws_sdk_dynamodb::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub table: String,
}

pub struct TestApp {
    pub backend: Backend,
    pub shopify: FakeShopify,
    pub services: Services,
    pub org: String,
    pub aws: Option<Aws>,
    pub memory_secrets: Option<Arc<MemorySecretStore>>,
    /// Knowledge sync's ports and worker ([`TestApp::with_knowledge`]).
    pub knowledge: Option<crate::knowledge::KnowledgeRig>,
    /// Connection health's ports, queue and events ([`TestApp::with_health`]).
    pub health: Option<crate::health::HealthRig>,
    shopify_config: ShopifyConfig,
}

/// The public API base the health tier subscribes webhooks at.
pub const WEBHOOK_BASE: &str = "https://hooks.example.test";

/// Retries sized for tests: real backoff logic, millisecond waits.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        max_total_wait: Duration::from_secs(3),
        base_backoff: Duration::from_millis(5),
        max_single_wait: Duration::from_secs(2),
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::build(backend, false, false).await
    }

    /// An app with connection health: status changes announced on a bus of its own, the
    /// health check behind a queue, the webhook endpoint, and webhooks subscribed at
    /// [`WEBHOOK_BASE`]. On moto the app gets a table of its own, so the health check's scan
    /// sees only its stores.
    pub async fn with_health(backend: Backend) -> Self {
        let mut app = Self::build(backend, false, true).await;
        let rig = match (&app.aws, backend) {
            (Some(aws), Backend::Moto) => {
                let sdk = local_aws::sdk_config().await;
                crate::health::moto(&sdk, &app.services, &aws.table).await
            }
            _ => crate::health::memory(&app.services),
        };
        app.services = app.services.clone().with_events(rig.publisher.clone());
        app.services.webhook_base_url = Some(WEBHOOK_BASE.into());
        app.services.webhook_tokens = Some(rig.tokens.clone());
        app.health = Some(rig);
        app
    }

    /// The health tier, to configure; panics for an app spawned without it.
    pub fn health_mut(&mut self) -> &mut crate::health::HealthRig {
        self.health.as_mut().expect("an app spawned with_health")
    }

    /// The health tier; panics for an app spawned without it.
    pub fn health(&self) -> &crate::health::HealthRig {
        self.health.as_ref().expect("an app spawned with_health")
    }

    /// An app with the knowledge sync tier too: the dashboard's knowledge routes, the
    /// connect/settings/disconnect hooks, and `knowledge-sync` behind a queue. On moto the
    /// app gets a table of its own, so the schedule's scan sees only its stores.
    pub async fn with_knowledge(backend: Backend) -> Self {
        Self::build(backend, true, true).await
    }

    async fn build(backend: Backend, knowledge: bool, own_table: bool) -> Self {
        crate::logs::capture();
        let shopify = FakeShopify::start().await;
        let shopify_config = ShopifyConfig {
            base_url: Some(shopify.base_url.clone()),
            retry: fast_retry(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            ..ShopifyConfig::default()
        };
        let mut sdk = None;
        let (stores, secrets, aws, memory_secrets): (
            Arc<dyn StoreRepository>,
            Arc<dyn SecretStore>,
            _,
            _,
        ) = match backend {
            Backend::Memory => {
                let secrets = Arc::new(MemorySecretStore::new());
                (
                    Arc::new(MemoryStoreRepository::new()),
                    secrets.clone(),
                    None,
                    Some(secrets),
                )
            }
            Backend::Moto => {
                let config = local_aws::sdk_config().await;
                let dynamo = aws_sdk_dynamodb::Client::new(&config);
                let sm = aws_sdk_secretsmanager::Client::new(&config);
                sdk = Some(config);
                let table = if own_table {
                    local_aws::fresh_table(&dynamo).await
                } else {
                    local_aws::table()
                };
                (
                    Arc::new(DynamoStoreRepository::new(dynamo.clone(), table.clone())),
                    Arc::new(SecretsManagerStore::new(sm.clone(), None)),
                    Some(Aws {
                        dynamo,
                        secrets: sm,
                        table,
                    }),
                    None,
                )
            }
        };
        let storage = Storage {
            stores,
            secrets,
            secret_prefix: local_aws::unique("test/shopify"),
        };
        let mut services = Services::new(
            AuthConfig::default(),
            Budgets::default(),
            storage.clone(),
            ShopifyClient::new(shopify_config.clone()),
        );
        let rig = if knowledge {
            let access = crate::knowledge::worker_access(
                storage.secrets.clone(),
                storage.secret_prefix.clone(),
                shopify_config.clone(),
            );
            let rig = match (&sdk, &aws) {
                (Some(sdk), Some(aws)) => {
                    crate::knowledge::moto(sdk, storage.stores.clone(), &aws.table, access).await
                }
                _ => crate::knowledge::memory(storage.stores.clone(), access),
            };
            services.knowledge = Some(rig.ports.clone());
            Some(rig)
        } else {
            None
        };
        Self {
            backend,
            shopify,
            services,
            org: local_aws::unique("org"),
            aws,
            memory_secrets,
            knowledge: rig,
            health: None,
            shopify_config,
        }
    }

    /// The knowledge tier; panics for an app spawned without it.
    pub fn rig(&self) -> &crate::knowledge::KnowledgeRig {
        self.knowledge
            .as_ref()
            .expect("an app spawned with_knowledge")
    }

    /// The Shopify client settings every function of this app uses.
    pub fn shopify_config(&self) -> &ShopifyConfig {
        &self.shopify_config
    }

    /// Another organization on the same backend, tables, bucket and queue.
    pub fn other_org(&self) -> String {
        local_aws::unique("org")
    }

    /// Claims of an admin of this app's org.
    pub fn admin(&self) -> [(&str, &str); 2] {
        [("org_id", self.org.as_str()), ("role", "admin")]
    }

    /// Sends `event` to `handler` and decodes the answer.
    pub async fn call<F, Fut>(&self, handler: F, event: HttpEvent) -> (u16, Value)
    where
        F: FnOnce(Services, Request) -> Fut,
        Fut: std::future::Future<Output = Result<Response<Body>, lambda_http::Error>>,
    {
        let response = handler(self.services.clone(), event.into_request())
            .await
            .expect("handlers answer every request");
        decode(response)
    }

    /// `POST /shopify/stores` as an admin of this org.
    pub async fn connect(&self, body: Value) -> (u16, Value) {
        let event = HttpEvent::new("POST", "/shopify/stores")
            .claims(&self.admin())
            .json(&body);
        self.call(
            |s, r| async move { save_credentials::handle(&s, r).await },
            event,
        )
        .await
    }

    /// Sends `event` the way API Gateway would: to the function wired to its route.
    pub async fn send(&self, event: HttpEvent) -> (u16, Value) {
        self.send_with(&self.services, event).await
    }

    /// `GET /shopify/contact-metadata?email=...` as a member of this org, through one gateway
    /// (so its cache lives across calls), with the response headers.
    pub async fn sidebar(
        &self,
        routes: &[crate::gateway::Route],
        email: &str,
    ) -> (u16, lambda_http::http::HeaderMap, Value) {
        let event = HttpEvent::new("GET", "/shopify/contact-metadata")
            .claims(&[("org_id", self.org.as_str()), ("role", "agent")])
            .query("email", email);
        let route = routes
            .iter()
            .find(|r| r.route == "/shopify/contact-metadata")
            .expect("the sidebar route");
        let response = (route.handler)(event.into_request())
            .await
            .expect("handlers answer");
        let headers = response.headers().clone();
        let (status, body) = decode(response);
        (status, headers, body)
    }

    /// [`TestApp::send`] with other services (fault-injecting adapters, say).
    pub async fn send_with(&self, services: &Services, event: HttpEvent) -> (u16, Value) {
        let routes = crate::gateway::dashboard_routes(services.clone());
        let route = routes
            .iter()
            .find(|r| r.method == event.method && r.route == event.route)
            .unwrap_or_else(|| panic!("no function serves {} {}", event.method, event.route));
        decode(
            (route.handler)(event.into_request())
                .await
                .expect("handlers answer every request"),
        )
    }

    /// Sends `event` as an invocation that times out in `timeout`, to the function wired to its
    /// route; answers the status, the body and how long it took.
    pub async fn send_within(
        &self,
        services: &Services,
        event: HttpEvent,
        timeout: Duration,
    ) -> (u16, Value, Duration) {
        let routes = crate::gateway::dashboard_routes(services.clone());
        let route = routes
            .iter()
            .find(|r| r.method == event.method && r.route == event.route)
            .unwrap_or_else(|| panic!("no function serves {} {}", event.method, event.route));
        let started = std::time::Instant::now();
        let response = (route.handler)(event.into_invocation(timeout))
            .await
            .expect("handlers answer every request");
        let elapsed = started.elapsed();
        let (status, body) = decode(response);
        (status, body, elapsed)
    }

    /// An event to `route` carrying this org's admin claims.
    pub fn as_admin(&self, method: &str, route: &str) -> HttpEvent {
        HttpEvent::new(method, route).claims(&self.admin())
    }

    /// `GET /shopify/stores` as this org.
    pub async fn list(&self) -> (u16, Value) {
        self.send(self.as_admin("GET", "/shopify/stores")).await
    }

    /// `GET /shopify/stores/{shop}`, optionally with `?verify=true`.
    pub async fn get_store(&self, shop: &str, verify: bool) -> (u16, Value) {
        let mut event = self
            .as_admin("GET", "/shopify/stores/{shop}")
            .path_param("shop", shop);
        if verify {
            event = event.query("verify", "true");
        }
        self.send(event).await
    }

    /// `DELETE /shopify/stores/{shop}` as an admin of this org.
    pub async fn disconnect(&self, shop: &str) -> (u16, Value) {
        self.send(
            self.as_admin("DELETE", "/shopify/stores/{shop}")
                .path_param("shop", shop),
        )
        .await
    }

    /// Invokes `lookup` the way the AI platform does, as this org.
    pub async fn lookup(&self, action: &str, arguments: Value, email: Option<&str>) -> Value {
        let mut event =
            serde_json::json!({"org_id": self.org, "action": action, "arguments": arguments});
        if let Some(email) = email {
            event["contact"] = serde_json::json!({"email": email});
        }
        self.invoke(&self.services, event).await
    }

    /// Invokes `lookup` with `event` as it is, with the default budget.
    pub async fn invoke(&self, services: &Services, event: Value) -> Value {
        lookup::answer(services, event, Deadline::after(services.budgets.lookup)).await
    }

    /// These services with other storage adapters (fault-injecting ones, say).
    pub fn with_storage(
        &self,
        stores: Option<Arc<dyn StoreRepository>>,
        secrets: Option<Arc<dyn SecretStore>>,
    ) -> Services {
        let current = &self.services.storage;
        self.services.with_storage(Storage {
            stores: stores.unwrap_or_else(|| current.stores.clone()),
            secrets: secrets.unwrap_or_else(|| current.secrets.clone()),
            secret_prefix: current.secret_prefix.clone(),
        })
    }

    /// `PUT /shopify/settings` as an admin of this org.
    pub async fn put_settings(&self, settings: Value) -> (u16, Value) {
        self.send(self.as_admin("PUT", "/shopify/settings").json(&settings))
            .await
    }

    /// The secret name of one of this org's stores.
    pub fn secret_name(&self, shop: &str) -> SecretName {
        let org = shared::domain::OrganizationId::parse(&self.org).unwrap();
        let shop = shared::domain::ShopDomain::parse(shop).unwrap();
        SecretName::for_store(&self.services.storage.secret_prefix, &org, &shop)
    }

    /// The org's store records, through the port.
    pub async fn records(&self) -> Vec<StoreRecord> {
        let org = shared::domain::OrganizationId::parse(&self.org).unwrap();
        self.services.storage.stores.list(&org).await.unwrap()
    }

    /// Names of this app's secrets that exist (not scheduled for deletion).
    pub async fn secret_names(&self) -> Vec<String> {
        match (&self.aws, &self.memory_secrets) {
            (Some(aws), _) => {
                let mut names = Vec::new();
                let mut pages = aws
                    .secrets
                    .list_secrets()
                    .filters(
                        aws_sdk_secretsmanager::types::Filter::builder()
                            .key(aws_sdk_secretsmanager::types::FilterNameStringType::Name)
                            .values(self.services.storage.secret_prefix.clone())
                            .build(),
                    )
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    for secret in page.unwrap().secret_list.unwrap_or_default() {
                        if secret.deleted_date.is_none() {
                            names.extend(secret.name);
                        }
                    }
                }
                names.retain(|n| n.starts_with(&self.services.storage.secret_prefix));
                names.sort();
                names
            }
            (None, Some(memory)) => memory
                .names()
                .into_iter()
                .filter(|n| n.starts_with(&self.services.storage.secret_prefix))
                .collect(),
            _ => unreachable!("a backend is always set"),
        }
    }

    /// Whether Secrets Manager still holds the secret `name` in any way, scheduled for
    /// deletion included (the in-memory store removes a secret when its deletion is scheduled).
    pub async fn secret_held(&self, name: &str) -> bool {
        match (&self.aws, &self.memory_secrets) {
            (Some(aws), _) => aws
                .secrets
                .describe_secret()
                .secret_id(name)
                .send()
                .await
                .is_ok(),
            (None, Some(memory)) => memory.names().iter().any(|n| n == name),
            _ => unreachable!("a backend is always set"),
        }
    }

    /// The current secret value of a store, read behind the port.
    pub async fn current_secret(&self, shop: &str) -> Option<Value> {
        let org = shared::domain::OrganizationId::parse(&self.org).unwrap();
        let shop = shared::domain::ShopDomain::parse(shop).unwrap();
        let name = SecretName::for_store(&self.services.storage.secret_prefix, &org, &shop);
        let raw = match (&self.aws, &self.memory_secrets) {
            (Some(aws), _) => {
                aws.secrets
                    .get_secret_value()
                    .secret_id(name.as_str())
                    .version_stage("AWSCURRENT")
                    .send()
                    .await
                    .ok()?
                    .secret_string?
            }
            (None, Some(memory)) => memory.current(&name)?,
            _ => unreachable!(),
        };
        serde_json::from_str(&raw).ok()
    }
}

/// The sidebar section of `shop` in a contact-metadata answer.
pub fn section<'a>(body: &'a Value, shop: &str) -> &'a Value {
    body["stores"]
        .as_array()
        .expect("a sidebar answer")
        .iter()
        .find(|s| s["shop_domain"] == shop)
        .unwrap_or_else(|| panic!("no section for {shop}: {body}"))
}

/// Status and JSON body of a handler's answer (`Value::Null` for an empty body).
pub fn decode(response: Response<Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).expect("JSON body"),
        Body::Binary(bytes) => serde_json::from_slice(bytes).expect("JSON body"),
        _ => Value::Null,
    };
    (status, body)
}
