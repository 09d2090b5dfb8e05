//! The local AWS tier: real SDK clients against moto in server mode, started by
//! `infra/local/stack.py` (which `infra/test` and `infra/run` call). It exports
//! `AWS_ENDPOINT_URL` and `STORES_TABLE`.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::time::Duration;

/// Moto's endpoint, when the local stack runs.
pub fn endpoint() -> Option<String> {
    std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// Whether the moto tier can run; when it cannot, says why once per test, so a plain
/// `cargo test --workspace` skips that tier visibly instead of failing (`./infra/test` always
/// runs it).
pub fn available(test: &str) -> bool {
    if endpoint().is_some() {
        return true;
    }
    eprintln!(
        "skipping {test}: the moto tier needs the local stack (AWS_ENDPOINT_URL is not set); \
         ./infra/test runs it, or `./infra/stack start` and load .local/stack.env"
    );
    false
}

/// The table the local stack created from template.yaml.
pub fn table() -> String {
    std::env::var("STORES_TABLE").unwrap_or_else(|_| "shopify-stores-local".into())
}

/// A new, empty table with the stores table's key schema, for a test whose work scans the
/// whole table (the knowledge schedule).
pub async fn fresh_table(client: &aws_sdk_dynamodb::Client) -> String {
    let source = client
        .describe_table()
        .table_name(table())
        .send()
        .await
        .expect("describe the local stores table")
        .table
        .expect("a table description");
    let name = unique("stores");
    // The secondary indexes too (the store index the schedules scan).
    let indexes = source
        .global_secondary_indexes
        .filter(|i| !i.is_empty())
        .map(|indexes| {
            indexes
                .into_iter()
                .map(|index| {
                    aws_sdk_dynamodb::types::GlobalSecondaryIndex::builder()
                        .set_index_name(index.index_name)
                        .set_key_schema(index.key_schema)
                        .set_projection(index.projection)
                        .build()
                        .expect("a global secondary index")
                })
                .collect()
        });
    client
        .create_table()
        .table_name(&name)
        .set_key_schema(source.key_schema)
        .set_attribute_definitions(source.attribute_definitions)
        .set_global_secondary_indexes(indexes)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create a test table");
    name
}

/// Timeouts of the clients against the emulator. The project's own (a few seconds; see
/// `shared::aws`) are proven against a server that never answers (`faults::BlackHole`); moto
/// is a single Python process that a busy machine can slow to seconds per call, and a test
/// must not fail because the machine is busy.
const EMULATOR_TIMEOUTS: (Duration, Duration) = (Duration::from_secs(30), Duration::from_secs(90));

/// One `SdkConfig` against moto, with dummy credentials.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let endpoint = endpoint().expect("the moto tier runs only with AWS_ENDPOINT_URL set");
    let (attempt, operation) = EMULATOR_TIMEOUTS;
    shared::aws::configure(aws_config::defaults(aws_config::BehaviorVersion::latest()))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(attempt)
                .operation_timeout(operation)
                .build(),
        )
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

/// A queue's ARN.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("a queue arn")
}

/// An event bus of the test's own and a queue its rule copies every connector event into (as
/// the platform would subscribe): the bus's name and the queue's URL.
pub async fn event_bus_with_queue(sdk: &aws_config::SdkConfig) -> (String, String) {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let eventbridge = aws_sdk_eventbridge::Client::new(sdk);
    let bus = unique("bus");
    eventbridge
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("create the event bus");
    let events_url = sqs
        .create_queue()
        .queue_name(unique("events"))
        .send()
        .await
        .expect("create the events queue")
        .queue_url
        .expect("a queue url");
    let events_arn = queue_arn(&sqs, &events_url).await;
    eventbridge
        .put_rule()
        .name("connector-events")
        .event_bus_name(&bus)
        .event_pattern(r#"{"source": ["shopify-connector"]}"#)
        .send()
        .await
        .expect("create the rule");
    eventbridge
        .put_targets()
        .rule("connector-events")
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("events-queue")
                .arn(events_arn)
                .build()
                .expect("a target"),
        )
        .send()
        .await
        .expect("target the events queue");
    (bus, events_url)
}

/// The connector's events waiting in `url` (a queue an event bus rule delivers to), as
/// envelopes (`source`, `detail-type`, `detail`), each read once (kept invisible meanwhile).
pub async fn receive_connector_events(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Vec<serde_json::Value> {
    let mut envelopes = Vec::new();
    loop {
        let Ok(output) = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .send()
            .await
        else {
            break;
        };
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            let envelope: serde_json::Value =
                serde_json::from_str(message.body.as_deref().unwrap_or("null"))
                    .unwrap_or(serde_json::Value::Null);
            assert_eq!(envelope["source"], "shopify-connector");
            envelopes.push(envelope);
        }
    }
    envelopes
}
