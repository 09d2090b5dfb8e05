//! Connection health in tests: the health check's ports over memory or moto, its queue drained
//! the way Lambda's SQS event source mapping drives `health-check` (real SQS event shapes), the
//! webhook endpoint's ports, and the status-change events read back from the bus.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use shared::events::{EventBridgeEvents, EventPublisher, MemoryEvents};
use shared::health::check::{HealthConfig, HealthJob, HealthPorts, LiveChecker};
use shared::health::repo::{DynamoHealth, HealthRepository, MemoryHealth};
use shared::health::token::{
    MemoryTokenKeys, SecretsManagerTokenKeys, TokenKeySource, WebhookTokens,
};
use shared::health::webhook::WebhookEndpoint;
use shared::queue::{MemoryQueue, Queue, SqsQueue};
use shared::store::StoreRepository;
use shared::{Deadline, Services};

use crate::local_aws;
use crate::worker::sqs_event;

/// The function's time limit in the template; each delivery gets this much.
pub const INVOCATION: Duration = Duration::from_secs(120);

/// Where the health jobs wait.
#[derive(Clone)]
pub enum HealthQueueRig {
    Memory(Arc<MemoryQueue<HealthJob>>),
    Sqs {
        client: aws_sdk_sqs::Client,
        url: String,
    },
}

/// Where status-change events end up.
pub enum EventsRig {
    Memory(Arc<MemoryEvents>),
    /// A rule on the test's own bus copies every connector event into this queue.
    Sqs {
        client: aws_sdk_sqs::Client,
        url: String,
        seen: std::sync::Mutex<Vec<Value>>,
    },
}

/// The key of the webhook callbacks' tokens: in memory, or a Secrets Manager secret on moto.
pub enum TokenKeysRig {
    Memory(Arc<MemoryTokenKeys>),
    Moto {
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
    },
}

impl TokenKeysRig {
    /// A new key, as an operator's rotation puts it (the old one becomes the previous key).
    pub async fn rotate(&self) {
        let key = random_key();
        match self {
            TokenKeysRig::Memory(keys) => keys.rotate(&key, chrono::Utc::now()),
            TokenKeysRig::Moto { client, secret_id } => {
                client
                    .put_secret_value()
                    .secret_id(secret_id)
                    .secret_string(key)
                    .send()
                    .await
                    .expect("put a new token key");
            }
        }
    }
}

impl TokenKeysRig {
    /// A new reader of the same key (another container's view).
    pub fn source(&self) -> Arc<dyn TokenKeySource> {
        match self {
            TokenKeysRig::Memory(keys) => keys.clone(),
            TokenKeysRig::Moto { client, secret_id } => Arc::new(SecretsManagerTokenKeys::new(
                client.clone(),
                secret_id.clone(),
            )),
        }
    }
}

fn random_key() -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(64)
        .collect()
}

/// The token key over moto: a secret of its own, read through the real adapter.
async fn moto_token_keys(sdk: &aws_config::SdkConfig) -> (TokenKeysRig, Arc<WebhookTokens>) {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let secret_id = local_aws::unique("test/webhook-token-key");
    client
        .create_secret()
        .name(&secret_id)
        .secret_string(random_key())
        .send()
        .await
        .expect("create the token key secret");
    let tokens = Arc::new(WebhookTokens::new(Arc::new(SecretsManagerTokenKeys::new(
        client.clone(),
        &secret_id,
    ))));
    (TokenKeysRig::Moto { client, secret_id }, tokens)
}

/// The token key in memory.
fn memory_token_keys() -> (TokenKeysRig, Arc<WebhookTokens>) {
    let keys = Arc::new(MemoryTokenKeys::new(&random_key()));
    let tokens = Arc::new(WebhookTokens::new(keys.clone()));
    (TokenKeysRig::Memory(keys), tokens)
}

/// Everything connection health runs on in a test.
pub struct HealthRig {
    /// The webhook callbacks' tokens (shared by the app's functions, as one container's).
    pub tokens: Arc<WebhookTokens>,
    pub keys: TokenKeysRig,
    pub ports: HealthPorts,
    pub repo: Arc<dyn HealthRepository>,
    pub queue: HealthQueueRig,
    pub queue_port: Arc<dyn Queue<HealthJob>>,
    pub events: EventsRig,
    pub publisher: Arc<dyn EventPublisher>,
}

/// The ports over moto: the health repository in `table`, a queue, and an event bus whose
/// rule copies connector events into a queue the test reads.
pub async fn moto(sdk: &aws_config::SdkConfig, services: &Services, table: &str) -> HealthRig {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let eventbridge = aws_sdk_eventbridge::Client::new(sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name(local_aws::unique("health"))
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "150",
        )
        .send()
        .await
        .expect("create the health queue")
        .queue_url
        .expect("a queue url");
    let (bus, events_url) = local_aws::event_bus_with_queue(sdk).await;
    let repo: Arc<dyn HealthRepository> =
        Arc::new(DynamoHealth::new(aws_sdk_dynamodb::Client::new(sdk), table));
    let queue_port: Arc<dyn Queue<HealthJob>> = Arc::new(SqsQueue::new(sqs.clone(), &queue_url));
    let publisher: Arc<dyn EventPublisher> = Arc::new(EventBridgeEvents::new(eventbridge, &bus));
    rig(
        services,
        moto_token_keys(sdk).await,
        repo,
        queue_port,
        HealthQueueRig::Sqs {
            client: sqs.clone(),
            url: queue_url,
        },
        EventsRig::Sqs {
            client: sqs,
            url: events_url,
            seen: Default::default(),
        },
        publisher,
    )
}

/// The ports over in-memory fakes.
pub fn memory(services: &Services) -> HealthRig {
    let queue = Arc::new(MemoryQueue::<HealthJob>::default());
    let events = Arc::new(MemoryEvents::default());
    rig(
        services,
        memory_token_keys(),
        Arc::new(MemoryHealth::default()),
        queue.clone(),
        HealthQueueRig::Memory(queue),
        EventsRig::Memory(events.clone()),
        events,
    )
}

fn rig(
    services: &Services,
    (keys, tokens): (TokenKeysRig, Arc<WebhookTokens>),
    repo: Arc<dyn HealthRepository>,
    queue_port: Arc<dyn Queue<HealthJob>>,
    queue: HealthQueueRig,
    events: EventsRig,
    publisher: Arc<dyn EventPublisher>,
) -> HealthRig {
    let stores: Arc<dyn StoreRepository> = services.storage.stores.clone();
    HealthRig {
        tokens: tokens.clone(),
        keys,
        ports: HealthPorts {
            stores,
            storage: services.storage.clone(),
            repo: repo.clone(),
            queue: queue_port.clone(),
            checker: Arc::new(LiveChecker {
                storage: services.storage.clone(),
                // The function's own client and token cache.
                shopify: shared::shopify::ShopifyClient::new(services.shopify.config().clone()),
                events: Some(publisher.clone()),
                webhooks: Some(WebhookEndpoint {
                    base_url: crate::app::WEBHOOK_BASE.into(),
                    tokens,
                }),
            }),
            // Tests check stores right after connecting them.
            config: HealthConfig {
                fresh_for: Duration::ZERO,
                ..HealthConfig::for_interval(Duration::from_secs(3600))
            },
        },
        repo,
        queue,
        queue_port,
        events,
        publisher,
    }
}

struct Delivery {
    id: String,
    body: String,
    receives: u32,
    receipt: Option<String>,
}

impl HealthRig {
    /// Invokes `health-check` with the schedule's event, as EventBridge Scheduler does.
    pub async fn schedule(&self) -> Result<Value, String> {
        health_check::handle(
            &self.ports,
            json!({"schedule": "health-check"}),
            Deadline::after(INVOCATION),
        )
        .await
    }

    async fn receive(&self) -> Option<Delivery> {
        match &self.queue {
            HealthQueueRig::Memory(queue) => {
                let (job, _delay) = queue.take()?;
                Some(Delivery {
                    id: format!("memory-{}", fastrand::u64(..)),
                    body: serde_json::to_string(&job).expect("a job serializes"),
                    receives: 1,
                    receipt: None,
                })
            }
            HealthQueueRig::Sqs { client, url } => {
                let output = client
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(1)
                    .message_system_attribute_names(
                        aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                    )
                    .send()
                    .await
                    .ok()?;
                let message = output.messages?.into_iter().next()?;
                let receives = message
                    .attributes
                    .as_ref()
                    .and_then(|a| {
                        a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                    })
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                Some(Delivery {
                    id: message.message_id.unwrap_or_default(),
                    body: message.body.unwrap_or_default(),
                    receives,
                    receipt: message.receipt_handle,
                })
            }
        }
    }

    async fn settle(&self, delivery: &Delivery, failed: bool) {
        match (&self.queue, &delivery.receipt) {
            (HealthQueueRig::Sqs { client, url }, Some(receipt)) => {
                if failed {
                    let _ = client
                        .change_message_visibility()
                        .queue_url(url)
                        .receipt_handle(receipt)
                        .visibility_timeout(0)
                        .send()
                        .await;
                } else {
                    let _ = client
                        .delete_message()
                        .queue_url(url)
                        .receipt_handle(receipt)
                        .send()
                        .await;
                }
            }
            (HealthQueueRig::Memory(queue), _) if failed => {
                if let Ok(job) = serde_json::from_str(&delivery.body) {
                    queue.put_back(job);
                }
            }
            _ => {}
        }
    }

    /// Delivers the queue's messages to `health-check` until it is empty (at most `max`),
    /// as the event source mapping does. Answers the deliveries made.
    pub async fn drain(&self, max: usize) -> usize {
        let mut delivered = 0;
        let mut idle = 0;
        while delivered < max {
            let Some(delivery) = self.receive().await else {
                idle += 1;
                // SQS may hand out nothing once while messages are in flight.
                if idle > 3 || matches!(self.queue, HealthQueueRig::Memory(_)) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            idle = 0;
            delivered += 1;
            let event = sqs_event(&delivery.id, &delivery.body, delivery.receives);
            let answer =
                health_check::handle(&self.ports, event, Deadline::after(INVOCATION)).await;
            let failed = match answer {
                Ok(response) => response["batchItemFailures"]
                    .as_array()
                    .is_some_and(|f| !f.is_empty()),
                Err(_) => true,
            };
            self.settle(&delivery, failed).await;
        }
        delivered
    }

    /// Takes jobs off the queue without running them: every job, or only the check jobs
    /// (ticks stay queued).
    pub async fn take_jobs(&self, only_checks: bool) -> Vec<shared::health::check::HealthJob> {
        use shared::health::check::HealthJob;
        let wanted = |job: &HealthJob| !only_checks || matches!(job, HealthJob::Check { .. });
        match &self.queue {
            HealthQueueRig::Memory(queue) => {
                let mut taken = Vec::new();
                let mut kept = Vec::new();
                while let Some((job, delay)) = queue.take() {
                    if wanted(&job) {
                        taken.push(job);
                    } else {
                        kept.push((job, delay));
                    }
                }
                for (job, delay) in kept {
                    queue.send(&job, delay).await.unwrap();
                }
                taken
            }
            HealthQueueRig::Sqs { client, url } => {
                let mut taken = Vec::new();
                let mut kept = Vec::new();
                loop {
                    let output = client
                        .receive_message()
                        .queue_url(url)
                        .max_number_of_messages(10)
                        .send()
                        .await
                        .expect("receive");
                    let messages = output.messages.unwrap_or_default();
                    if messages.is_empty() {
                        break;
                    }
                    for message in messages {
                        let job: HealthJob =
                            serde_json::from_str(message.body.as_deref().unwrap_or_default())
                                .expect("a health job");
                        let receipt = message.receipt_handle.unwrap_or_default();
                        if wanted(&job) {
                            client
                                .delete_message()
                                .queue_url(url)
                                .receipt_handle(receipt)
                                .send()
                                .await
                                .expect("delete");
                            taken.push(job);
                        } else {
                            kept.push(receipt);
                        }
                    }
                }
                for receipt in kept {
                    client
                        .change_message_visibility()
                        .queue_url(url)
                        .receipt_handle(receipt)
                        .visibility_timeout(0)
                        .send()
                        .await
                        .expect("release");
                }
                taken
            }
        }
    }

    /// A full health check: the schedule, then the queue drained.
    pub async fn run_cycle(&self) {
        self.schedule().await.expect("the schedule starts a cycle");
        self.drain(10_000).await;
    }

    /// The `Shopify Store Status Changed` events put so far, as `detail` objects.
    pub async fn status_changes(&self) -> Vec<Value> {
        match &self.events {
            EventsRig::Memory(events) => events
                .status_changes()
                .iter()
                .map(|e| serde_json::to_value(e).expect("an event serializes"))
                .collect(),
            EventsRig::Sqs { client, url, seen } => {
                let mut all = seen.lock().unwrap().clone();
                for envelope in local_aws::receive_connector_events(client, url).await {
                    if envelope["detail-type"] == "Shopify Store Status Changed" {
                        all.push(envelope["detail"].clone());
                    }
                }
                *seen.lock().unwrap() = all.clone();
                all
            }
        }
    }

    /// The webhook endpoint's ports over the same storage, queue and bus.
    pub fn webhook_ports(&self, services: &Services) -> webhooks::WebhookPorts {
        webhooks::WebhookPorts {
            storage: services.storage.clone(),
            shopify: services.shopify.clone(),
            events: services.events.clone(),
            tokens: self.tokens.clone(),
            repo: self.repo.clone(),
            queue: Some(self.queue_port.clone()),
        }
    }
}
