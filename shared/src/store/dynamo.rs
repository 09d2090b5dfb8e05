//! [`StoreRepository`] on DynamoDB (`STORES_TABLE`): `pk = ORG#{org}`, `sk = STORE#{shop}`,
//! items mapped with `serde_dynamo`, every write conditional on the version read. A slot's
//! `state` attribute says whether it holds a live record (`live`, or no attribute on items
//! written before tombstones existed) or a tombstone (`gone`).
//!
//! A live record also carries `store_key` (`{pk}#{sk}`), the key of the table's sparse index
//! [`STORE_INDEX`]: only live records are in it, so a scan page of N holds N stores however
//! many sync states, settings and webhook items the table holds. Records written before the
//! index existed, or by an older version during a deploy or after a rollback, are put in by
//! [`StoreRepository::index_unlisted`] (the health check runs it; it looks again once a day).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};

use super::dynamo_items::{
    conditional, corrupt, put_versioned, read_as, read_item, readable, unavailable,
};
use super::{sort_for_listing, Expect, Slot, StoreError, StoreRecord, StoreRepository, Tombstone};
use crate::aws::dynamo::{cursor_key, cursor_of, key_of, Item};
use crate::deadline::Deadline;
use crate::domain::{OrgSettings, OrganizationId, ShopDomain};

pub(crate) fn org_pk(org: &OrganizationId) -> String {
    format!("ORG#{org}")
}

fn store_sk(shop: &ShopDomain) -> String {
    format!("STORE#{shop}")
}

const STORE_SK_PREFIX: &str = "STORE#";
const SETTINGS_SK: &str = "SETTINGS";

/// The sparse global secondary index holding live store records only (template.yaml).
pub const STORE_INDEX: &str = "stores";
/// Its key attribute, on live store records only.
const STORE_KEY: &str = "store_key";
/// The item remembering that every record written before the index existed is in it.
const INDEXED_PK: &str = "INDEX#STORES";
/// How long a finished [`StoreRepository::index_unlisted`] is trusted: records an older version
/// writes during a deploy or after a rollback lack the index key, so once a day the table is
/// looked over again.
const INDEX_RECHECK: chrono::TimeDelta = chrono::TimeDelta::hours(24);

fn store_key(pk: &str, sk: &str) -> String {
    format!("{pk}#{sk}")
}

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
    /// Absent on records written before the store index existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    store_key: Option<String>,
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
        "gone" => Ok(Slot::Gone(read_as::<GoneItem>(item)?.tombstone)),
        _ => Ok(Slot::Live(read_as::<LiveItem>(item)?.record)),
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
    async fn put_conditionally(&self, item: Item, expect: Expect) -> Result<(), StoreError> {
        let version = match expect {
            Expect::Absent => None,
            Expect::Version(v) => Some(v),
        };
        put_versioned(&self.client, &self.table, item, version).await
    }
}

#[async_trait]
impl StoreRepository for DynamoStoreRepository {
    async fn slot(&self, org: &OrganizationId, shop: &ShopDomain) -> Result<Slot, StoreError> {
        let key = crate::aws::dynamo::key(org_pk(org), store_sk(shop));
        read_item(&self.client, &self.table, key)
            .await?
            .map_or(Ok(Slot::Absent), slot_of)
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
        let start = cursor.and_then(cursor_key).map(|mut key| {
            if let Some((pk, sk)) = key_of(&key) {
                let value = store_key(pk, sk);
                key.insert(STORE_KEY.into(), AttributeValue::S(value));
            }
            key
        });
        // The sparse index holds live store records only: the limit counts stores.
        let output = self
            .client
            .scan()
            .table_name(&self.table)
            .index_name(STORE_INDEX)
            .limit(limit.clamp(1, 1000) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        // The schedules page through every store.
        let records = readable(output.items, slot_of, "a malformed store item")
            .into_iter()
            .filter_map(Slot::live)
            .collect();
        let next = output.last_evaluated_key.as_ref().and_then(cursor_of);
        Ok((records, next))
    }

    async fn index_unlisted(
        &self,
        cursor: Option<&str>,
        until: &Deadline,
    ) -> Result<Option<String>, StoreError> {
        let marker = || {
            HashMap::from([
                ("pk".to_owned(), AttributeValue::S(INDEXED_PK.into())),
                ("sk".to_owned(), AttributeValue::S("-".into())),
            ])
        };
        let start = match cursor {
            Some(c) => Some(cursor_key(c).unwrap_or_else(|| crate::aws::dynamo::key(c, ""))),
            None => {
                let done = read_item(&self.client, &self.table, marker()).await?;
                let indexed_at = done.as_ref().and_then(|item| match item.get("indexed_at") {
                    Some(AttributeValue::S(at)) => chrono::DateTime::parse_from_rfc3339(at).ok(),
                    _ => None,
                });
                // A marker without a readable time is as good as an old one.
                if indexed_at.is_some_and(|at| chrono::Utc::now() - at.to_utc() < INDEX_RECHECK) {
                    return Ok(None);
                }
                None
            }
        };
        let output = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression(
                "begins_with(pk, :org) AND begins_with(sk, :store) AND attribute_not_exists(#key) \
                 AND (attribute_not_exists(#state) OR #state = :live)",
            )
            .expression_attribute_names("#key", STORE_KEY)
            .expression_attribute_names("#state", STATE)
            .expression_attribute_values(":org", AttributeValue::S("ORG#".into()))
            .expression_attribute_values(":store", AttributeValue::S(STORE_SK_PREFIX.into()))
            .expression_attribute_values(":live", AttributeValue::S("live".into()))
            .limit(1000)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        let mut added = 0;
        let (mut last, mut cut) = (None, false);
        for (n, item) in output.items.unwrap_or_default().into_iter().enumerate() {
            let Some((pk, sk)) = key_of(&item) else {
                continue;
            };
            // Out of time: the rest of the page is the next call's, from after the last one done.
            if n > 0 && until.is_expired() {
                cut = true;
                break;
            }
            last = cursor_of(&item);
            // Only while the record is the one read: a writer since has written the key itself.
            let request = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(pk.to_owned()))
                .key("sk", AttributeValue::S(sk.to_owned()))
                .update_expression("SET #key = :key")
                .expression_attribute_names("#key", STORE_KEY)
                .expression_attribute_values(":key", AttributeValue::S(store_key(pk, sk)));
            // An item without a version is no record; the scan would pass over it anyway.
            let Some(version) = item.get("version") else {
                continue;
            };
            let request = request
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", version.clone());
            match conditional(request.send().await) {
                Ok(()) => added += 1,
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
        let next = if cut {
            last
        } else {
            output.last_evaluated_key.as_ref().and_then(cursor_of)
        };
        if added > 0 {
            tracing::info!(added, "store records put in the store index");
        }
        if next.is_none() {
            let mut item = marker();
            item.insert(
                "indexed_at".into(),
                AttributeValue::S(chrono::Utc::now().to_rfc3339()),
            );
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
            tracing::info!("every store record is in the store index");
        }
        Ok(next)
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
                    settings = read_as::<SettingsItem>(item)?.settings;
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
        let (pk, sk) = (org_pk(&record.org_id), store_sk(&record.shop_domain));
        let item = serde_dynamo::to_item(LiveItem {
            store_key: Some(store_key(&pk, &sk)),
            pk,
            sk,
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
        let key = crate::aws::dynamo::key(org_pk(org), SETTINGS_SK);
        match read_item(&self.client, &self.table, key).await? {
            Some(item) => read_as::<SettingsItem>(item).map(|i| i.settings),
            None => Ok(OrgSettings::default()),
        }
    }

    async fn put_settings(
        &self,
        org: &OrganizationId,
        settings: &OrgSettings,
    ) -> Result<(), StoreError> {
        // Only the fields this version knows are set: what another version stored beside them
        // stays, and sources or order-action policies this version could not read are left as
        // they are.
        let mut update =
            String::from("SET actions = :actions, require_email_match = :email, updated_at = :at");
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(org_pk(org)))
            .key("sk", AttributeValue::S(SETTINGS_SK.into()))
            .expression_attribute_values(
                ":actions",
                serde_dynamo::to_attribute_value(settings.actions).map_err(corrupt)?,
            )
            .expression_attribute_values(
                ":email",
                AttributeValue::Bool(settings.require_email_match),
            )
            .expression_attribute_values(
                ":at",
                serde_dynamo::to_attribute_value(chrono::Utc::now()).map_err(corrupt)?,
            );
        if !settings.knowledge_unread {
            update.push_str(", knowledge = :knowledge");
            request = request.expression_attribute_values(
                ":knowledge",
                serde_dynamo::to_attribute_value(settings.knowledge).map_err(corrupt)?,
            );
        }
        if !settings.order_actions_unread {
            update.push_str(", order_actions = :order_actions");
            request = request.expression_attribute_values(
                ":order_actions",
                serde_dynamo::to_attribute_value(&settings.order_actions).map_err(corrupt)?,
            );
        }
        if !settings.mcp_unread {
            update.push_str(", mcp = :mcp");
            request = request.expression_attribute_values(
                ":mcp",
                serde_dynamo::to_attribute_value(settings.mcp).map_err(corrupt)?,
            );
        }
        request
            .update_expression(update)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }
}
