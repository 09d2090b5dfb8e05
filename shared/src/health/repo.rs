//! What the health check and the webhook endpoint keep: the current check cycle, and the
//! webhook deliveries already handled. Port + adapters (DynamoDB in `STORES_TABLE`, memory).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{OrganizationId, ShopDomain};
use crate::store::StoreError;

/// One pass of the health check over every store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cycle {
    pub cycle_id: String,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Pages of the store table queued so far; the next tick's page number.
    pub pages: u64,
    /// Stores queued so far.
    pub stores: u64,
    /// Where the next page starts (`None` before the first page, and after the last).
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// Pages the previous cycle had: how far apart this cycle's pages are spread.
    pub expected_pages: u64,
}

/// How a webhook delivery's claim went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// First delivery (or one whose earlier handler stopped half-way): handle it.
    New,
    /// Already handled: acknowledge, change nothing.
    Done,
    /// Another handler is at it right now.
    InProgress,
}

/// A claim older than this whose handler never finished is taken over by a redelivery.
pub const CLAIM_LEASE: Duration = Duration::seconds(60);

/// How long a handled delivery's id is remembered (Shopify retries for 48 hours).
pub const WEBHOOK_MEMORY: Duration = Duration::days(7);

#[async_trait]
pub trait HealthRepository: Send + Sync {
    /// The current (or last) cycle.
    async fn cycle(&self) -> Result<Option<Cycle>, StoreError>;

    /// Writes `cycle` if the stored one is still `expect` (its id and pages), or absent when
    /// `expect` is `None`; [`StoreError::Conflict`] otherwise.
    async fn put_cycle(&self, cycle: &Cycle, expect: Option<&Cycle>) -> Result<(), StoreError>;

    /// Claims the delivery `webhook_id` for `(org, shop)`.
    async fn claim_webhook(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        webhook_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError>;

    /// Marks a claimed delivery handled.
    async fn finish_webhook(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        webhook_id: &str,
    ) -> Result<(), StoreError>;

    /// Gives a claim up (its handling failed), so Shopify's retry handles it.
    async fn release_webhook(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        webhook_id: &str,
    ) -> Result<(), StoreError>;
}

const CYCLE_PK: &str = "HEALTH#CYCLE";

fn webhook_pk(org: &OrganizationId, shop: &ShopDomain) -> String {
    format!("WEBHOOK#{org}#{shop}")
}

fn delivery_sk(webhook_id: &str) -> String {
    format!("DELIVERY#{webhook_id}")
}

/// Whether `id` can be an `X-Shopify-Webhook-Id` (Shopify sends UUIDs): 1–128 letters, digits,
/// `-` and `_`. Anything else is refused before it reaches a key.
pub fn valid_webhook_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// [`HealthRepository`] on the stores table. Items: `pk = HEALTH#CYCLE, sk = -` (the cycle) and
/// `pk = WEBHOOK#{org}#{shop}, sk = DELIVERY#{webhook id}` (deliveries, expiring through the
/// table's `expires_at` TTL). No key of these can look like a store's (`ORG#…`, `STORE#…`).
#[derive(Clone)]
pub struct DynamoHealth {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoHealth {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct CycleItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    cycle: Cycle,
}

fn unavailable<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

#[async_trait]
impl HealthRepository for DynamoHealth {
    async fn cycle(&self) -> Result<Option<Cycle>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(CYCLE_PK))
            .key("sk", s("-"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        output
            .item
            .map(|item| {
                serde_dynamo::from_item::<_, CycleItem>(item)
                    .map(|i| i.cycle)
                    .map_err(|e| StoreError::Corrupt(Box::new(e)))
            })
            .transpose()
    }

    async fn put_cycle(&self, cycle: &Cycle, expect: Option<&Cycle>) -> Result<(), StoreError> {
        let item = serde_dynamo::to_item(CycleItem {
            pk: CYCLE_PK.into(),
            sk: "-".into(),
            cycle: cycle.clone(),
        })
        .map_err(|e| StoreError::Corrupt(Box::new(e)))?;
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = match expect {
            None => request.condition_expression("attribute_not_exists(pk)"),
            Some(expected) => request
                .condition_expression("cycle_id = :id AND pages = :pages")
                .expression_attribute_values(":id", s(&expected.cycle_id))
                .expression_attribute_values(":pages", n(expected.pages as i64)),
        };
        crate::store::conditional_put(request.send().await)
    }

    async fn claim_webhook(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        webhook_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(webhook_pk(org, shop)))
            .item("sk", s(delivery_sk(webhook_id)))
            .item("claimed_at", n(now.timestamp()))
            .item("done", AttributeValue::Bool(false))
            .item("expires_at", n((now + WEBHOOK_MEMORY).timestamp()))
            .condition_expression(
                "attribute_not_exists(pk) OR (done = :false AND claimed_at < :stale)",
            )
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":stale", n((now - CLAIM_LEASE).timestamp()))
            .send()
            .await;
        match crate::store::conditional_put(put) {
            Ok(()) => Ok(Claim::New),
            Err(StoreError::Conflict) => {
                let item = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key("pk", s(webhook_pk(org, shop)))
                    .key("sk", s(delivery_sk(webhook_id)))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| unavailable(e.into_service_error()))?
                    .item
                    .unwrap_or_default();
                Ok(match item.get("done") {
                    Some(AttributeValue::Bool(true)) => Claim::Done,
                    _ => Claim::InProgress,
                })
            }
            Err(error) => Err(error),
        }
    }

    async fn finish_webhook(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        webhook_id: &str,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(webhook_pk(org, shop)))
            .key("sk", s(delivery_sk(webhook_id)))
            .update_expression("SET done = :true")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }

    async fn release_webhook(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        webhook_id: &str,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(webhook_pk(org, shop)))
            .key("sk", s(delivery_sk(webhook_id)))
            .condition_expression("done = :false")
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| match e {
                SdkError::ServiceError(e) if e.err().is_conditional_check_failed_exception() => {
                    Ok(())
                }
                e => Err(unavailable(e.into_service_error())),
            })
    }
}

/// (org, shop, webhook id); the value is (claimed at, done).
type DeliveryKey = (String, String, String);

/// [`HealthRepository`] in memory, for fast tests and the simulation.
#[derive(Default)]
pub struct MemoryHealth {
    cycle: Mutex<Option<Cycle>>,
    webhooks: Mutex<HashMap<DeliveryKey, (DateTime<Utc>, bool)>>,
}

fn webhook_key(org: &OrganizationId, shop: &ShopDomain, id: &str) -> DeliveryKey {
    (org.to_string(), shop.to_string(), id.to_owned())
}

#[async_trait]
impl HealthRepository for MemoryHealth {
    async fn cycle(&self) -> Result<Option<Cycle>, StoreError> {
        Ok(self.cycle.lock().unwrap().clone())
    }

    async fn put_cycle(&self, cycle: &Cycle, expect: Option<&Cycle>) -> Result<(), StoreError> {
        let mut stored = self.cycle.lock().unwrap();
        let matches = match (stored.as_ref(), expect) {
            (None, None) => true,
            (Some(s), Some(e)) => s.cycle_id == e.cycle_id && s.pages == e.pages,
            _ => false,
        };
        if !matches {
            return Err(StoreError::Conflict);
        }
        *stored = Some(cycle.clone());
        Ok(())
    }

    async fn claim_webhook(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        webhook_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let mut webhooks = self.webhooks.lock().unwrap();
        let key = webhook_key(org, shop, webhook_id);
        match webhooks.get(&key) {
            Some((_, true)) => Ok(Claim::Done),
            Some((at, false)) if *at >= now - CLAIM_LEASE => Ok(Claim::InProgress),
            _ => {
                webhooks.insert(key, (now, false));
                Ok(Claim::New)
            }
        }
    }

    async fn finish_webhook(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        webhook_id: &str,
    ) -> Result<(), StoreError> {
        if let Some(entry) = self
            .webhooks
            .lock()
            .unwrap()
            .get_mut(&webhook_key(org, shop, webhook_id))
        {
            entry.1 = true;
        }
        Ok(())
    }

    async fn release_webhook(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        webhook_id: &str,
    ) -> Result<(), StoreError> {
        let mut webhooks = self.webhooks.lock().unwrap();
        let key = webhook_key(org, shop, webhook_id);
        if webhooks.get(&key).is_some_and(|(_, done)| !done) {
            webhooks.remove(&key);
        }
        Ok(())
    }
}
