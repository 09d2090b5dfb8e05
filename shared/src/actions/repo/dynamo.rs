//! [`ActionRepository`] on DynamoDB (`STORES_TABLE`). Items:
//! - `pk = ORG#{org}#ACTIONS, sk = ACTION#{action id}`: the records (ids sort by creation, so a
//!   query backwards is newest first); a partition of its own, so reading an organization's
//!   stores and settings never reads its actions;
//! - `… sk = OPEN#{shop}#{order GID}#{action}`: the open proposal of an order and action;
//! - `… sk = LOCK#{shop}#{order GID}`: the order lock (`holder`, `until` in epoch ms);
//! - `… sk = CONTACT#{contact email}#{action id}`: the contact's actions, newest last, written
//!   just before the record is created (an entry whose record was never written is skipped),
//!   so the inbox sidebar reads one contact's actions, never the organization's;
//! - `pk = ACTIONS#UNSETTLED, sk = {org}#{action id}`: the schedule's marks.
//!
//! Every item has an `expires_at` (epoch seconds) for the table's TTL: a day after an
//! unconfirmed proposal expired, 400 days for the other records, a day for the small items.
//! The record's own expiry is kept as `action_expires_at`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Duration, Utc};

use super::{ActionPage, ActionRepository, ListFilter, OrderKey, Unsettled};
use crate::actions::record::ActionRecord;
use crate::aws::dynamo::{key, n, s, Item};
use crate::domain::{ActionKind, OrganizationId};
use crate::store::{
    batch_get, conditional, corrupt, put_versioned, read_as, read_item, unavailable, Expect,
    StoreError,
};

const RECORD_PREFIX: &str = "ACTION#";
const UNSETTLED_PK: &str = "ACTIONS#UNSETTLED";
/// The item holding where the settle schedule stopped.
const SETTLE_RESUME_PK: &str = "ACTIONS#SETTLE";
const SETTLE_RESUME_SK: &str = "resume";
/// The table's TTL attribute.
const TTL: &str = "expires_at";
/// Where the record's `expires_at` is kept.
const RECORD_EXPIRY: &str = "action_expires_at";
/// How long the small items (open proposals, locks, marks) outlive their use.
const SMALL_ITEM_TTL: Duration = Duration::days(1);

fn actions_pk(org: &OrganizationId) -> String {
    format!("ORG#{org}#ACTIONS")
}

fn record_sk(action_id: &str) -> String {
    format!("{RECORD_PREFIX}{action_id}")
}

const CONTACT_PREFIX: &str = "CONTACT#";

fn contact_prefix(contact_email: &str) -> String {
    format!("{CONTACT_PREFIX}{contact_email}#")
}

fn order_part(order: &OrderKey) -> String {
    format!("{}#{}", order.shop, order.order_id)
}

fn ttl(at: DateTime<Utc>) -> AttributeValue {
    n(at.timestamp())
}

/// The DynamoDB adapter; cheap to clone.
#[derive(Clone)]
pub struct DynamoActions {
    client: Client,
    table: String,
}

impl DynamoActions {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Deletes the order's lock if `action_id` holds it (and, with `until`, it lapses then).
    async fn delete_lock(
        &self,
        order: &OrderKey,
        action_id: &str,
        until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(actions_pk(&order.org)))
            .key("sk", s(format!("LOCK#{}", order_part(order))))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", s(action_id));
        if let Some(until) = until {
            request = request
                .condition_expression("holder = :me AND #until = :until")
                .expression_attribute_names("#until", "until")
                .expression_attribute_values(":until", n(until.timestamp_millis()));
        }
        match conditional(request.send().await) {
            Err(StoreError::Conflict) => Ok(()),
            other => other,
        }
    }
}

fn to_item(record: &ActionRecord) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(record).map_err(corrupt)?;
    if let Some(expiry) = item.remove("expires_at") {
        item.insert(RECORD_EXPIRY.into(), expiry);
    }
    item.insert(TTL.into(), ttl(record.keep_until()));
    item.insert("pk".into(), s(actions_pk(&record.org_id)));
    item.insert("sk".into(), s(record_sk(&record.action_id)));
    Ok(item)
}

fn from_item(mut item: Item) -> Result<ActionRecord, StoreError> {
    item.remove("pk");
    item.remove("sk");
    item.remove(TTL);
    if let Some(expiry) = item.remove(RECORD_EXPIRY) {
        item.insert("expires_at".into(), expiry);
    }
    read_as::<ActionRecord>(item)
}

#[async_trait]
impl ActionRepository for DynamoActions {
    async fn get(
        &self,
        org: &OrganizationId,
        action_id: &str,
    ) -> Result<Option<ActionRecord>, StoreError> {
        read_item(
            &self.client,
            &self.table,
            key(actions_pk(org), record_sk(action_id)),
        )
        .await?
        .map(from_item)
        .transpose()
    }

    async fn put(&self, record: &ActionRecord, expect: Expect) -> Result<(), StoreError> {
        let version = match expect {
            Expect::Absent => None,
            Expect::Version(v) => Some(v),
        };
        if version.is_none() {
            // The contact's entry first: a crash before the record leaves an entry that reads
            // as nothing; the other order would leave a record the sidebar never shows.
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(actions_pk(&record.org_id)))
                .item(
                    "sk",
                    s(format!(
                        "{}{}",
                        contact_prefix(&record.contact_email),
                        record.action_id
                    )),
                )
                .item("action_id", s(&record.action_id))
                .item(
                    TTL,
                    ttl(record.created_at + crate::actions::record::RECORD_RETENTION),
                )
                .send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
        }
        put_versioned(&self.client, &self.table, to_item(record)?, version).await
    }

    async fn list(
        &self,
        org: &OrganizationId,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ActionPage, StoreError> {
        let pk = actions_pk(org);
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":prefix", s(RECORD_PREFIX))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(limit.clamp(1, 1000) as i32);
        if let Some(cursor) = cursor {
            request = request.set_exclusive_start_key(Some(key(&pk, record_sk(cursor))));
        }
        let mut conditions = Vec::new();
        if let Some(status) = filter.status {
            conditions.push("#status = :status");
            request = request
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(status.as_str()));
        }
        if let Some(shop) = &filter.shop {
            conditions.push("shop_domain = :shop");
            request = request.expression_attribute_values(":shop", s(shop.as_str()));
        }
        if let Some(order) = &filter.order {
            conditions.push("(order_name = :order OR order_id = :order)");
            request = request.expression_attribute_values(":order", s(order));
        }
        if !conditions.is_empty() {
            request = request.filter_expression(conditions.join(" AND "));
        }
        let output = request
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        let actions = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = output.last_evaluated_key.and_then(|k| match k.get("sk") {
            Some(AttributeValue::S(sk)) => sk.strip_prefix(RECORD_PREFIX).map(str::to_owned),
            _ => None,
        });
        Ok(ActionPage {
            actions,
            next_cursor,
        })
    }

    async fn of_contact(
        &self,
        org: &OrganizationId,
        contact_email: &str,
        limit: usize,
    ) -> Result<Vec<ActionRecord>, StoreError> {
        let pk = actions_pk(org);
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":prefix", s(contact_prefix(contact_email)))
            .projection_expression("action_id")
            .scan_index_forward(false)
            .limit(limit.clamp(1, 100) as i32)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        let keys: Vec<Item> = output
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|mut item| match item.remove("action_id") {
                Some(AttributeValue::S(id)) => Some(key(&pk, record_sk(&id))),
                _ => None,
            })
            .collect();
        let mut found = batch_get(&self.client, &self.table, keys)
            .await?
            .into_iter()
            .map(from_item)
            .collect::<Result<Vec<_>, _>>()?;
        // The email is part of the key only up to its `#`s: the record says whose it is.
        found.retain(|r| r.contact_email == contact_email);
        found.sort_by(|a, b| b.action_id.cmp(&a.action_id));
        Ok(found)
    }

    async fn swap_open(
        &self,
        order: &OrderKey,
        kind: ActionKind,
        action_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let output = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(HashMap::from([
                ("pk".to_owned(), s(actions_pk(&order.org))),
                (
                    "sk".to_owned(),
                    s(format!("OPEN#{}#{}", order_part(order), kind.as_str())),
                ),
                ("action_id".to_owned(), s(action_id)),
                (TTL.to_owned(), ttl(Utc::now() + SMALL_ITEM_TTL)),
            ])))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(output
            .attributes
            .and_then(|mut old| match old.remove("action_id") {
                Some(AttributeValue::S(id)) => Some(id),
                _ => None,
            }))
    }

    async fn lock_order(
        &self,
        order: &OrderKey,
        action_id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(actions_pk(&order.org)))
            .item("sk", s(format!("LOCK#{}", order_part(order))))
            .item("holder", s(action_id))
            .item("until", n(until.timestamp_millis()))
            .item(TTL, ttl(until + SMALL_ITEM_TTL))
            .condition_expression(
                "attribute_not_exists(pk) OR #until < :now OR (holder = :me AND #until <= :until)",
            )
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":me", s(action_id))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .expression_attribute_values(":until", n(until.timestamp_millis()))
            .send()
            .await;
        match conditional(put) {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict) => {
                // Held by another action, or by this one for longer than asked.
                let held = read_item(
                    &self.client,
                    &self.table,
                    key(
                        actions_pk(&order.org),
                        format!("LOCK#{}", order_part(order)),
                    ),
                )
                .await?;
                Ok(held.is_some_and(|item| {
                    matches!(item.get("holder"), Some(AttributeValue::S(h)) if h == action_id)
                }))
            }
            Err(error) => Err(error),
        }
    }

    async fn unlock_order(&self, order: &OrderKey, action_id: &str) -> Result<(), StoreError> {
        self.delete_lock(order, action_id, None).await
    }

    async fn release_lease(
        &self,
        order: &OrderKey,
        action_id: &str,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.delete_lock(order, action_id, Some(until)).await
    }
    async fn mark_unsettled(
        &self,
        org: &OrganizationId,
        action_id: &str,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(UNSETTLED_PK))
            .item("sk", s(format!("{org}#{action_id}")))
            .item("org_id", s(org.as_str()))
            .item("action_id", s(action_id))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }

    async fn clear_unsettled(
        &self,
        org: &OrganizationId,
        action_id: &str,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(UNSETTLED_PK))
            .key("sk", s(format!("{org}#{action_id}")))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }

    async fn unsettled(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Unsettled>, Option<String>), StoreError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(UNSETTLED_PK))
            .consistent_read(true)
            .limit(limit.clamp(1, 1000) as i32);
        if let Some(cursor) = cursor {
            request = request.set_exclusive_start_key(Some(key(UNSETTLED_PK, cursor)));
        }
        let output = request
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        let page = output
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|item| {
                let text = |name: &str| match item.get(name) {
                    Some(AttributeValue::S(v)) => Some(v.clone()),
                    _ => None,
                };
                Some(Unsettled {
                    org: OrganizationId::parse(&text("org_id")?).ok()?,
                    action_id: text("action_id")?,
                    position: text("sk")?,
                })
            })
            .collect();
        let next = output.last_evaluated_key.and_then(|k| match k.get("sk") {
            Some(AttributeValue::S(sk)) => Some(sk.clone()),
            _ => None,
        });
        Ok((page, next))
    }

    async fn settle_resume(&self) -> Result<Option<String>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(SETTLE_RESUME_PK, SETTLE_RESUME_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(
            match output.item.as_ref().and_then(|item| item.get("after")) {
                Some(AttributeValue::S(after)) => Some(after.clone()),
                _ => None,
            },
        )
    }

    async fn set_settle_resume(&self, position: Option<&str>) -> Result<(), StoreError> {
        match position {
            Some(after) => self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(SETTLE_RESUME_PK))
                .item("sk", s(SETTLE_RESUME_SK))
                .item("after", s(after))
                .send()
                .await
                .map(drop)
                .map_err(|e| unavailable(e.into_service_error())),
            None => self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(SETTLE_RESUME_PK, SETTLE_RESUME_SK)))
                .send()
                .await
                .map(drop)
                .map_err(|e| unavailable(e.into_service_error())),
        }
    }
}
