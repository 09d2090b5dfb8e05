//! The DynamoDB helpers of the storage port's adapters (the store's, knowledge's, health's and
//! order actions'): DynamoDB's answers read as [`StoreError`]s, a versioned conditional put,
//! one consistent read, items read back as what they were written from, and a scan page that
//! passes over an item it cannot read. Not an adapter itself: the adapters share it.

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;

use super::StoreError;
use crate::aws::dynamo::{label, ConditionalWrite, Item, WriteFailure};

/// `PutItem` of an item with a `version` attribute: only while the stored one has `version`,
/// or while there is none when `version` is `None`; [`StoreError::Conflict`] otherwise.
pub(crate) async fn put_versioned(
    client: &Client,
    table: &str,
    item: Item,
    version: Option<u64>,
) -> Result<(), StoreError> {
    let request = client.put_item().table_name(table).set_item(Some(item));
    let request = match version {
        None => request.condition_expression("attribute_not_exists(pk)"),
        Some(v) => request
            .condition_expression("#v = :expected")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":expected", AttributeValue::N(v.to_string())),
    };
    conditional(request.send().await)
}

/// A conditional write's outcome: a failed condition is [`StoreError::Conflict`], any other
/// failure [`StoreError::Unavailable`].
pub(crate) fn conditional(result: impl ConditionalWrite) -> Result<(), StoreError> {
    result.condition().map_err(|failure| match failure {
        WriteFailure::ConditionFailed => StoreError::Conflict,
        WriteFailure::Other(e) => unavailable(e),
    })
}

/// An item that cannot be read back (or written) as what it should hold.
pub(crate) fn corrupt(e: serde_dynamo::Error) -> StoreError {
    StoreError::Corrupt(Box::new(e))
}

/// DynamoDB failed, could not be reached, or did not answer in time.
pub(crate) fn unavailable<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

/// The item at `key` in `table`, read strongly consistently.
pub(crate) async fn read_item(
    client: &Client,
    table: &str,
    key: Item,
) -> Result<Option<Item>, StoreError> {
    client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map(|output| output.item)
        .map_err(|e| unavailable(e.into_service_error()))
}

/// The items at `keys` (at most 100, no duplicates) in `table`, read strongly consistently in
/// one `BatchGetItem`, its unprocessed keys asked again a few times; keys without an item are
/// left out, in no particular order.
pub(crate) async fn batch_get(
    client: &Client,
    table: &str,
    keys: Vec<Item>,
) -> Result<Vec<Item>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut pending = Some(
        KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(unavailable)?,
    );
    let mut found = Vec::new();
    for _ in 0..8 {
        let Some(request) = pending.take() else { break };
        let output = client
            .batch_get_item()
            .request_items(table, request)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        found.extend(
            output
                .responses
                .unwrap_or_default()
                .remove(table)
                .unwrap_or_default(),
        );
        pending = output
            .unprocessed_keys
            .and_then(|mut u| u.remove(table))
            .filter(|k| !k.keys.is_empty());
        if pending.is_some() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    if pending.is_some() {
        return Err(unavailable(std::io::Error::other(
            "DynamoDB kept keys unprocessed",
        )));
    }
    Ok(found)
}

/// An item read back as the `T` it was written from.
pub(crate) fn read_as<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(corrupt)
}

/// What a scan page's items read as. One that does not read (`what` names it in the log, by its
/// key) is passed over: a single bad item must not stop a sweep over every item after it.
pub(crate) fn readable<T, E: std::fmt::Display>(
    items: Option<Vec<Item>>,
    mut read: impl FnMut(Item) -> Result<T, E>,
    what: &str,
) -> Vec<T> {
    let mut read_items = Vec::new();
    for item in items.unwrap_or_default() {
        let key = label(&item);
        match read(item) {
            Ok(value) => read_items.push(value),
            Err(error) => {
                tracing::error!(item = %key, %error, "{what} is skipped by the scan")
            }
        }
    }
    read_items
}
