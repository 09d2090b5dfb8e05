//! [`StoreRepository`] on DynamoDB (`STORES_TABLE`): `pk = ORG#{org}`, `sk = STORE#{shop}`,
//! items mapped with `serde_dynamo`, every write conditional on the version read. A slot's
//! `state` attribute says whether it holds a live record (`live`, or no attribute on items
//! written before tombstones existed) or a tombstone (`gone`).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};

use super::{sort_for_listing, Expect, Slot, StoreError, StoreRecord, StoreRepository, Tombstone};
use crate::domain::{OrgSettings, OrganizationId, ShopDomain};

pub(crate) fn org_pk(org: &OrganizationId) -> String {
    format!("ORG#{org}")
}

fn store_sk(shop: &ShopDomain) -> String {
    format!("STORE#{shop}")
}

const STORE_SK_PREFIX: &str = "STORE#";
const SETTINGS_SK: &str = "SETTINGS";

#[derive(Serialize, Deserialize)]
struct SettingsItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    settings: OrgSettings,
    updated_at: chrono::DateTime<chrono::Utc>,
}

const STATE: &str = "state";

#[derive(Serialize, Deserialize)]
struct LiveItem {
    pk: String,
    sk: String,
    state: String,
    #[serde(flatten)]
    record: StoreRecord,
}

#[derive(Serialize, Deserialize)]
struct GoneItem {
    pk: String,
    sk: String,
    state: String,
    #[serde(flatten)]
    tombstone: Tombstone,
}

/// Reads a store item as the slot it holds.
fn slot_of(mut item: HashMap<String, AttributeValue>) -> Result<Slot, StoreError> {
    let state = match item.get(STATE) {
        Some(AttributeValue::S(state)) => state.clone(),
        _ => "live".to_owned(),
    };
    item.insert(STATE.into(), AttributeValue::S(state.clone()));
    match state.as_str() {
        "gone" => Ok(Slot::Gone(
            serde_dynamo::from_item::<_, GoneItem>(item)
                .map_err(corrupt)?
                .tombstone,
        )),
        _ => Ok(Slot::Live(
            serde_dynamo::from_item::<_, LiveItem>(item)
                .map_err(corrupt)?
                .record,
        )),
    }
}

/// The DynamoDB adapter; cheap to clone (the SDK client is an `Arc` inside).
#[derive(Clone)]
pub struct DynamoStoreRepository {
    client: Client,
    table: String,
}

impl DynamoStoreRepository {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Every item of the organization's partition (all pages, strongly consistent), optionally
    /// only those whose sort key starts with `sk_prefix`.
    async fn query_partition(
        &self,
        org: &OrganizationId,
        sk_prefix: Option<&str>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", AttributeValue::S(org_pk(org)))
            .consistent_read(true);
        let request = match sk_prefix {
            Some(prefix) => request
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.into())),
            None => request.key_condition_expression("pk = :pk"),
        };
        let mut pages = request.into_paginator().items().send();
        let mut items = Vec::new();
        while let Some(item) = pages.next().await {
            items.push(item.map_err(|e| unavailable(e.into_service_error()))?);
        }
        Ok(items)
    }
}

impl DynamoStoreRepository {
    /// `PutItem` of a whole slot, conditional on what the writer read.
    async fn put_conditionally(
        &self,
        item: HashMap<String, AttributeValue>,
        expect: Expect,
    ) -> Result<(), StoreError> {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = match expect {
            Expect::Absent => request.condition_expression("attribute_not_exists(pk)"),
            Expect::Version(v) => request
                .condition_expression("#v = :expected")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":expected", AttributeValue::N(v.to_string())),
        };
        conditional_put(request.send().await)
    }
}

/// A conditional `PutItem`'s outcome: a failed condition is [`StoreError::Conflict`], any
/// other failure [`StoreError::Unavailable`].
pub(crate) fn conditional_put<T>(
    result: Result<T, SdkError<PutItemError, aws_sdk_dynamodb::config::http::HttpResponse>>,
) -> Result<(), StoreError> {
    match result {
        Ok(_) => Ok(()),
        Err(SdkError::ServiceError(e))
            if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
        {
            Err(StoreError::Conflict)
        }
        Err(e) => Err(unavailable(e.into_service_error())),
    }
}

fn corrupt(e: serde_dynamo::Error) -> StoreError {
    StoreError::Corrupt(Box::new(e))
}

fn unavailable<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

fn key(org: &OrganizationId, shop: &ShopDomain) -> [(String, AttributeValue); 2] {
    [
        ("pk".into(), AttributeValue::S(org_pk(org))),
        ("sk".into(), AttributeValue::S(store_sk(shop))),
    ]
}

#[async_trait]
impl StoreRepository for DynamoStoreRepository {
    async fn slot(&self, org: &OrganizationId, shop: &ShopDomain) -> Result<Slot, StoreError> {
        let [(pk, pkv), (sk, skv)] = key(org, shop);
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(pk, pkv)
            .key(sk, skv)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        output.item.map_or(Ok(Slot::Absent), slot_of)
    }

    async fn list(&self, org: &OrganizationId) -> Result<Vec<StoreRecord>, StoreError> {
        let mut records = Vec::new();
        for item in self.query_partition(org, Some(STORE_SK_PREFIX)).await? {
            records.extend(slot_of(item)?.live());
        }
        sort_for_listing(&mut records);
        Ok(records)
    }

    async fn scan(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<StoreRecord>, Option<String>), StoreError> {
        let start = cursor.and_then(|c| {
            let (pk, sk) = c.split_once('\n')?;
            Some(HashMap::from([
                ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
                ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
            ]))
        });
        let output = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(pk, :org) AND begins_with(sk, :store)")
            .expression_attribute_values(":org", AttributeValue::S("ORG#".into()))
            .expression_attribute_values(":store", AttributeValue::S(STORE_SK_PREFIX.into()))
            .limit(limit.clamp(1, 1000) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        // One malformed item must not stop the schedules that page through every store: it is
        // logged (by key) and passed over.
        let mut records = Vec::new();
        for item in output.items.unwrap_or_default() {
            let key = match (item.get("pk"), item.get("sk")) {
                (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => format!("{pk} {sk}"),
                _ => String::new(),
            };
            match slot_of(item) {
                Ok(slot) => records.extend(slot.live()),
                Err(error) => {
                    tracing::error!(item = %key, %error, "a malformed store item is skipped by the scan")
                }
            }
        }
        let next = output
            .last_evaluated_key
            .and_then(|key| match (key.get("pk"), key.get("sk")) {
                (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => {
                    Some(format!("{pk}\n{sk}"))
                }
                _ => None,
            });
        Ok((records, next))
    }

    /// One query over the organization's partition: store items and the settings item.
    async fn load_org(
        &self,
        org: &OrganizationId,
    ) -> Result<(Vec<StoreRecord>, OrgSettings), StoreError> {
        let mut records = Vec::new();
        let mut settings = OrgSettings::default();
        for item in self.query_partition(org, None).await? {
            match item.get("sk") {
                Some(AttributeValue::S(sk)) if sk == SETTINGS_SK => {
                    settings = serde_dynamo::from_item::<_, SettingsItem>(item)
                        .map_err(corrupt)?
                        .settings;
                }
                Some(AttributeValue::S(sk)) if sk.starts_with(STORE_SK_PREFIX) => {
                    records.extend(slot_of(item)?.live());
                }
                _ => {}
            }
        }
        sort_for_listing(&mut records);
        Ok((records, settings))
    }

    async fn put_live(&self, record: &StoreRecord, expect: Expect) -> Result<(), StoreError> {
        let item = serde_dynamo::to_item(LiveItem {
            pk: org_pk(&record.org_id),
            sk: store_sk(&record.shop_domain),
            state: "live".into(),
            record: record.clone(),
        })
        .map_err(corrupt)?;
        self.put_conditionally(item, expect).await
    }

    async fn put_gone(&self, tombstone: &Tombstone, expect: Expect) -> Result<(), StoreError> {
        let item = serde_dynamo::to_item(GoneItem {
            pk: org_pk(&tombstone.org_id),
            sk: store_sk(&tombstone.shop_domain),
            state: "gone".into(),
            tombstone: tombstone.clone(),
        })
        .map_err(corrupt)?;
        self.put_conditionally(item, expect).await
    }

    async fn get_settings(&self, org: &OrganizationId) -> Result<OrgSettings, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(org_pk(org)))
            .key("sk", AttributeValue::S(SETTINGS_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        match output.item {
            Some(item) => serde_dynamo::from_item::<_, SettingsItem>(item)
                .map(|i| i.settings)
                .map_err(corrupt),
            None => Ok(OrgSettings::default()),
        }
    }

    async fn put_settings(
        &self,
        org: &OrganizationId,
        settings: &OrgSettings,
    ) -> Result<(), StoreError> {
        let item = serde_dynamo::to_item(SettingsItem {
            pk: org_pk(org),
            sk: SETTINGS_SK.into(),
            settings: *settings,
            updated_at: chrono::Utc::now(),
        })
        .map_err(corrupt)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }
}
