//! The local AWS tier: real SDK clients against moto in server mode, started by
//! `infra/local/stack.py` (which `infra/test` and `infra/run` call). It exports
//! `AWS_ENDPOINT_URL` and `STORES_TABLE`.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// Moto's endpoint, or a clear failure telling how to start it.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL is not set: run the tests with ./infra/test, or start the local \
             stack with `./infra/stack start` and load .local/stack.env"
        )
    })
}

/// The table the local stack created from template.yaml.
pub fn table() -> String {
    std::env::var("STORES_TABLE").unwrap_or_else(|_| "shopify-stores-local".into())
}

/// One `SdkConfig` against moto, with dummy credentials.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let endpoint = endpoint();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(
            std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
        ))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "local",
        ))
        .load()
        .await
}

/// Every item of the table, attribute values flattened to text.
pub async fn scan_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Vec<HashMap<String, AttributeValue>> {
    let mut items = Vec::new();
    let mut pages = client
        .scan()
        .table_name(table)
        .into_paginator()
        .items()
        .send();
    while let Some(item) = pages.next().await {
        items.push(item.expect("scan the local table"));
    }
    items
}

/// A fresh id, so tests sharing the table never see each other's data.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:016x}", fastrand::u64(..))
}
