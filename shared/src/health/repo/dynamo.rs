//! [`HealthRepository`] on DynamoDB (`STORES_TABLE`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Claim, Cycle, HealthRepository, CLAIM_LEASE, WEBHOOK_MEMORY};
use crate::aws::dynamo::{key, n, s};
use crate::domain::{OrganizationId, ShopDomain};
use crate::ids::new_id;
use crate::store::dynamo_items::{conditional, corrupt, read_as, read_item, unavailable};
use crate::store::StoreError;

const CYCLE_PK: &str = "HEALTH#CYCLE";

/// The attribute naming the claim of a delivery (see `claim_webhook`).
const CLAIM_ID: &str = "claim_id";

fn webhook_pk(org: &OrganizationId, shop: &ShopDomain) -> String {
    format!("WEBHOOK#{org}#{shop}")
}

fn delivery_sk(webhook_id: &str) -> String {
    format!("DELIVERY#{webhook_id}")
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

#[async_trait]
impl HealthRepository for DynamoHealth {
    async fn cycle(&self) -> Result<Option<Cycle>, StoreError> {
        read_item(&self.client, &self.table, key(CYCLE_PK, "-"))
            .await?
            .map(|item| read_as::<CycleItem>(item).map(|i| i.cycle))
            .transpose()
    }

    async fn put_cycle(&self, cycle: &Cycle, expect: Option<&Cycle>) -> Result<(), StoreError> {
        let item = serde_dynamo::to_item(CycleItem {
            pk: CYCLE_PK.into(),
            sk: "-".into(),
            cycle: cycle.clone(),
        })
        .map_err(corrupt)?;
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
        conditional(request.send().await)
    }

    async fn claim_webhook(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        webhook_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        // Tells this claim apart from another delivery's when the SDK's retry of a claim that
        // landed (its answer lost) fails the condition.
        let claim_id = new_id();
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(webhook_pk(org, shop)))
            .item("sk", s(delivery_sk(webhook_id)))
            .item(CLAIM_ID, s(&claim_id))
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
        match conditional(put) {
            Ok(()) => Ok(Claim::New),
            Err(StoreError::Conflict) => {
                let delivery = key(webhook_pk(org, shop), delivery_sk(webhook_id));
                let item = read_item(&self.client, &self.table, delivery)
                    .await?
                    .unwrap_or_default();
                Ok(match (item.get("done"), item.get(CLAIM_ID)) {
                    (Some(AttributeValue::Bool(true)), _) => Claim::Done,
                    (_, Some(AttributeValue::S(id))) if *id == claim_id => Claim::New,
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
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(webhook_pk(org, shop)))
            .key("sk", s(delivery_sk(webhook_id)))
            .condition_expression("done = :false")
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        // Already handled after all: the claim stays.
        match conditional(deleted) {
            Err(StoreError::Conflict) => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    //! A claim whose answer was lost, replayed through the real SDK client with canned
    //! answers: the SDK's retry meets the condition the first attempt's write now fails.

    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
    use aws_sdk_dynamodb::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    use super::*;

    type Item = HashMap<String, AttributeValue>;

    /// Claims `w-1` against a table whose item, read after the condition failed, is what
    /// `stored` makes of the item the claim tried to write.
    async fn claim(stored: impl Fn(Item) -> Item + Send + Sync + 'static) -> Claim {
        let written: Arc<Mutex<Option<Item>>> = Arc::default();
        let seen = written.clone();
        let refused = mock!(Client::put_item)
            .match_requests(move |put| {
                *seen.lock().unwrap() = put.item().cloned();
                true
            })
            .then_error(|| {
                PutItemError::ConditionalCheckFailedException(
                    ConditionalCheckFailedException::builder().build(),
                )
            });
        let read = mock!(Client::get_item).then_compute_output(move |_| {
            let item = written.lock().unwrap().clone().expect("the claim was sent");
            GetItemOutput::builder()
                .set_item(Some(stored(item)))
                .build()
        });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&refused, &read]);
        let repo = DynamoHealth::new(client, "stores");
        let org = OrganizationId::parse("org").unwrap();
        let shop = ShopDomain::parse("demo").unwrap();
        repo.claim_webhook(&org, &shop, "w-1", Utc::now())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_claim_that_landed_with_its_answer_lost_is_this_deliverys() {
        assert_eq!(claim(|ours| ours).await, Claim::New);
    }

    #[tokio::test]
    async fn another_deliverys_claim_is_in_progress_and_a_finished_one_done() {
        let theirs = |mut item: Item| {
            item.insert(CLAIM_ID.into(), s("another"));
            item
        };
        assert_eq!(claim(theirs).await, Claim::InProgress);
        let done = move |item: Item| {
            let mut item = theirs(item);
            item.insert("done".into(), AttributeValue::Bool(true));
            item
        };
        assert_eq!(claim(done).await, Claim::Done);
    }
}
