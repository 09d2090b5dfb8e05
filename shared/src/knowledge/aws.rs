//! Knowledge ports on AWS: state and index in the stores table (DynamoDB), documents in S3,
//! jobs in SQS, events on EventBridge.
//!
//! Table layout: a store's sync state is `pk = ORG#{org}`, `sk = KSYNC#{shop}` in the stores
//! table (beside the store records, so an organization's states are one query); its document
//! index is `pk = KDOC#{org}#{shop}`, `sk = {source}#{numeric id, 20 digits}` in the index table
//! (`KNOWLEDGE_INDEX_TABLE`; one partition per store, entries in id order), so the schedule's
//! scan of the stores table does not grow with the documents.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use serde::{Deserialize, Serialize};

use super::ports::{BlobError, DocumentStore, KnowledgeRepository};
use super::state::{IndexEntry, SyncState};
use crate::aws::dynamo::{cursor_key, cursor_of, key};
use crate::domain::{OrganizationId, ShopDomain, Source};
use crate::store::dynamo_items::{
    batch_get, conditional, corrupt, put_versioned, read_as, read_item, readable, unavailable,
};
use crate::store::StoreError;

fn state_pk(org: &OrganizationId) -> String {
    format!("ORG#{org}")
}

fn state_sk(shop: &ShopDomain) -> String {
    format!("KSYNC#{shop}")
}

fn index_pk(org: &OrganizationId, shop: &ShopDomain) -> String {
    format!("KDOC#{org}#{shop}")
}

fn index_sk(source: Source, id: u64) -> String {
    format!("{source}#{id:020}")
}

#[derive(Serialize, Deserialize)]
struct StateItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    state: SyncState,
}

#[derive(Serialize, Deserialize)]
struct EntryItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    entry: IndexEntry,
}

/// [`KnowledgeRepository`] on the stores table.
#[derive(Clone)]
pub struct DynamoKnowledge {
    client: aws_sdk_dynamodb::Client,
    /// The stores table: sync states.
    table: String,
    /// `KNOWLEDGE_INDEX_TABLE`: the document index.
    index_table: String,
}

impl DynamoKnowledge {
    /// States in `table` (the stores table), the document index in `index_table`.
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        index_table: impl Into<String>,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            index_table: index_table.into(),
        }
    }
}

#[async_trait]
impl KnowledgeRepository for DynamoKnowledge {
    async fn state(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
    ) -> Result<Option<SyncState>, StoreError> {
        read_item(
            &self.client,
            &self.table,
            key(state_pk(org), state_sk(shop)),
        )
        .await?
        .map(|item| read_as::<StateItem>(item).map(|i| i.state))
        .transpose()
    }

    async fn put_state(&self, state: &SyncState, expect: Option<u64>) -> Result<(), StoreError> {
        let item = serde_dynamo::to_item(StateItem {
            pk: state_pk(&state.org_id),
            sk: state_sk(&state.shop_domain),
            state: state.clone(),
        })
        .map_err(corrupt)?;
        put_versioned(&self.client, &self.table, item, expect).await
    }

    async fn delete_state(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        version: u64,
    ) -> Result<(), StoreError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(state_pk(org), state_sk(shop))))
            .condition_expression("attribute_not_exists(pk) OR #v = :expected")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":expected", AttributeValue::N(version.to_string()))
            .send()
            .await;
        conditional(deleted)
    }

    async fn states(&self, org: &OrganizationId) -> Result<Vec<SyncState>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(state_pk(org)))
            .expression_attribute_values(":prefix", AttributeValue::S("KSYNC#".into()))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut states = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| unavailable(e.into_service_error()))?;
            states.push(read_as::<StateItem>(item)?.state);
        }
        Ok(states)
    }

    async fn scan_states(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<SyncState>, Option<String>), StoreError> {
        let start = cursor.and_then(cursor_key);
        let output = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(sk, :prefix)")
            .expression_attribute_values(":prefix", AttributeValue::S("KSYNC#".into()))
            .limit(limit.clamp(1, 1000) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        // The sweep covers every store: a state this version cannot read is passed over.
        let states = readable(
            output.items,
            |item| serde_dynamo::from_item::<_, StateItem>(item).map(|i| i.state),
            "a sync state that cannot be read",
        );
        let next = output.last_evaluated_key.as_ref().and_then(cursor_of);
        Ok((states, next))
    }

    async fn entries(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        source: Source,
        after: Option<u64>,
        through: Option<u64>,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        let low = after.map_or(0, |a| a.saturating_add(1));
        let high = through.unwrap_or(u64::MAX);
        if low > high || limit == 0 {
            return Ok(Vec::new());
        }
        let output = self
            .client
            .query()
            .table_name(&self.index_table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :low AND :high")
            .expression_attribute_values(":pk", AttributeValue::S(index_pk(org, shop)))
            .expression_attribute_values(":low", AttributeValue::S(index_sk(source, low)))
            .expression_attribute_values(":high", AttributeValue::S(index_sk(source, high)))
            .limit(limit.min(1000) as i32)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| read_as::<EntryItem>(item).map(|i| i.entry))
            .collect()
    }

    async fn entries_by_id(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        source: Source,
        ids: &[u64],
    ) -> Result<Vec<IndexEntry>, StoreError> {
        let mut found = Vec::new();
        for chunk in ids.chunks(100) {
            let mut keys: Vec<_> = chunk
                .iter()
                .map(|id| key(index_pk(org, shop), index_sk(source, *id)))
                .collect();
            keys.dedup();
            for item in batch_get(&self.client, &self.index_table, keys).await? {
                found.push(read_as::<EntryItem>(item)?.entry);
            }
        }
        Ok(found)
    }

    async fn put_entry(&self, entry: &IndexEntry) -> Result<(), StoreError> {
        let item = serde_dynamo::to_item(EntryItem {
            pk: index_pk(&entry.org_id, &entry.shop_domain),
            sk: index_sk(entry.source, entry.id),
            entry: entry.clone(),
        })
        .map_err(corrupt)?;
        self.client
            .put_item()
            .table_name(&self.index_table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }

    async fn delete_entry(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        source: Source,
        id: u64,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.index_table)
            .set_key(Some(key(index_pk(org, shop), index_sk(source, id))))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }

    async fn count_entries(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        source: Source,
    ) -> Result<u64, StoreError> {
        let mut count = 0u64;
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.index_table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", AttributeValue::S(index_pk(org, shop)))
                .expression_attribute_values(":prefix", AttributeValue::S(format!("{source}#")))
                .select(Select::Count)
                // Right after the source's last writes: an eventually consistent count may
                // miss them.
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
            count += output.count.max(0) as u64;
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(count),
            }
        }
    }
}

/// [`DocumentStore`] on S3 (`KNOWLEDGE_BUCKET`).
///
/// Its client is built by the first call: a sync that finds nothing changed writes nothing,
/// and building an S3 client costs a cold start the parse of the SDK's endpoint partition
/// table.
#[derive(Clone)]
pub struct S3Documents {
    client: crate::aws::LazyClient<aws_sdk_s3::Client>,
    bucket: String,
}

impl S3Documents {
    /// `path_style` for a local emulator (set when `AWS_ENDPOINT_URL` is).
    pub fn new(sdk: &aws_config::SdkConfig, bucket: impl Into<String>, path_style: bool) -> Self {
        let build: fn(&aws_config::SdkConfig) -> aws_sdk_s3::Client = if path_style {
            |sdk| s3_client(sdk, true)
        } else {
            |sdk| s3_client(sdk, false)
        };
        Self {
            client: crate::aws::LazyClient::new(sdk, build),
            bucket: bucket.into(),
        }
    }

    /// Whether its client has been built (by a call).
    pub fn is_connected(&self) -> bool {
        self.client.is_built()
    }
}

fn s3_client(sdk: &aws_config::SdkConfig, path_style: bool) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

fn blob<E: std::error::Error + Send + Sync + 'static>(e: E) -> BlobError {
    BlobError(Box::new(e))
}

#[async_trait]
impl DocumentStore for S3Documents {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), BlobError> {
        self.client
            .get()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(body.into())
            .send()
            .await
            .map_err(|e| blob(e.into_service_error()))?;
        Ok(())
    }

    async fn delete(&self, keys: &[String]) -> Result<(), BlobError> {
        use aws_sdk_s3::types::{Delete, ObjectIdentifier};
        for chunk in keys.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|key| ObjectIdentifier::builder().key(key).build().map_err(blob))
                .collect::<Result<Vec<_>, _>>()?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(blob)?;
            let output = self
                .client
                .get()
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| blob(e.into_service_error()))?;
            if let Some(error) = output.errors.unwrap_or_default().into_iter().next() {
                return Err(blob(std::io::Error::other(format!(
                    "S3 refused to delete a document ({})",
                    error.code.unwrap_or_default()
                ))));
            }
        }
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<(Vec<String>, bool), BlobError> {
        let output = self
            .client
            .get()
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_start_after(start_after.map(str::to_owned))
            .max_keys(1000)
            .send()
            .await
            .map_err(|e| blob(e.into_service_error()))?;
        let keys = output
            .contents
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| o.key)
            .collect();
        Ok((keys, output.is_truncated.unwrap_or(false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_s3_client_is_built_by_the_first_call_not_before() {
        let sdk = crate::aws::unreachable_sdk();
        for path_style in [true, false] {
            let documents = S3Documents::new(&sdk, "knowledge", path_style);
            assert!(!documents.is_connected(), "built with the store");
            let listed = documents.list("org_1/", None).await;
            assert!(listed.is_err(), "nothing listens on port 9");
            assert!(documents.is_connected());
        }
    }
}
