//! `cargo bench -p tests --bench order_actions`: what one cancellation costs — the Shopify
//! points its queries and mutation request (as the fake computes them from the documents:
//! `2 + first × node` per connection, 10 for a mutation) and its round trips (Shopify requests,
//! DynamoDB requests) for a proposal and for its confirmation, in live mode with Shopify's job
//! done at its first poll.
//!
//! DynamoDB requests are counted by an SDK interceptor on the local stack (moto), every attempt
//! a request; without the stack (`AWS_ENDPOINT_URL` unset) the records are kept in memory and
//! that figure is not printed. Credentials are read once before measuring (a warm invocation).
//! Prints figures; asserts only that the cancellation went through.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use serde_json::json;
use shared::actions::{self, ActionPorts, DynamoActions};
use shared::domain::{ActionKind, ActionMode};
use shared::store::DynamoStoreRepository;
use shared::Deadline;
use tests::actions::{setup, shopper};
use tests::app::{Backend, TestApp};
use tests::bench;
use tests::fake_shopify::{FakeOrder, FakeShop};
use tests::local_aws;

const SHOP: &str = "demo-us.myshopify.com";
const JANE: &str = "jane@example.com";
const CONVERSATION: &str = "conv-bench";

/// Every DynamoDB request the client sends (retries included).
#[derive(Clone, Debug, Default)]
struct Requests(Arc<AtomicUsize>);

impl Intercept for Requests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// What one step cost.
struct Figures {
    requested: f64,
    shopify: usize,
    operations: Vec<String>,
    dynamo: Option<usize>,
}

struct Meter<'a> {
    app: &'a TestApp,
    dynamo: Option<Requests>,
}

impl Meter<'_> {
    fn mark(&self) -> (usize, usize, Option<usize>) {
        (
            self.app.shopify.received().len(),
            self.app.shopify.spent().len(),
            self.dynamo.as_ref().map(|d| d.0.load(Ordering::SeqCst)),
        )
    }

    fn since(&self, (received, spent, dynamo): (usize, usize, Option<usize>)) -> Figures {
        let requests: Vec<_> = self.app.shopify.received()[received..]
            .iter()
            .filter(|r| r.shop == SHOP)
            .map(|r| r.operation.clone().unwrap_or_default())
            .collect();
        let requested = self.app.shopify.spent()[spent..]
            .iter()
            .filter(|s| s.0 == SHOP)
            .map(|s| s.2)
            .sum();
        Figures {
            requested,
            shopify: requests.len(),
            operations: requests,
            dynamo: self
                .dynamo
                .as_ref()
                .zip(dynamo)
                .map(|(d, before)| d.0.load(Ordering::SeqCst) - before),
        }
    }
}

fn row(step: &str, figures: &Figures) {
    let dynamo = figures
        .dynamo
        .map_or("(needs the local stack)".to_owned(), |n| n.to_string());
    println!(
        "{step:<14} {:>16.0} {:>18} {:>18}   {}",
        figures.requested,
        figures.shopify,
        dynamo,
        figures.operations.join(", ")
    );
}

fn main() {
    bench::quiet_tracing();
    let runtime = bench::runtime();
    runtime.block_on(cancellation());
}

async fn cancellation() {
    let moto = local_aws::endpoint().is_some();
    let app = TestApp::spawn(if moto { Backend::Moto } else { Backend::Memory }).await;
    let rig = setup(
        &app,
        FakeShop::new("demo-us")
            .with_order_action_scopes()
            .with_order(FakeOrder::unfulfilled("#1000", 5, JANE))
            .with_order(FakeOrder::unfulfilled("#1001", 5, JANE)),
        ActionMode::Live,
    )
    .await;
    let mut ports: ActionPorts = rig.ports.clone();
    let mut dynamo = None;
    if let Some(aws) = &app.aws {
        let requests = Requests::default();
        let config = aws_sdk_dynamodb::config::Builder::from(&local_aws::sdk_config().await)
            .interceptor(requests.clone())
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(config);
        let actions_table = local_aws::fresh_table(&aws.dynamo).await;
        ports.stores = Arc::new(DynamoStoreRepository::new(
            client.clone(),
            aws.table.clone(),
        ));
        ports.actions = Arc::new(DynamoActions::new(client, actions_table));
        dynamo = Some(requests);
    }
    ports.config.job_poll = Duration::from_millis(10);
    let meter = Meter { app: &app, dynamo };
    let deadline = || Deadline::after(Duration::from_secs(30));
    let propose = |order: &'static str| {
        let ports = ports.clone();
        let org = app.org.clone();
        async move {
            actions::propose(
                &ports,
                &deadline(),
                &shopper(&org, JANE, CONVERSATION, false),
                ActionKind::CancelOrder,
                &json!({"order_number": order, "reason": "ordered the wrong size"}),
            )
            .await
            .unwrap()
        }
    };
    // Warm: the store's credentials read and cached, connections open.
    propose("#1000").await;

    let before = meter.mark();
    let proposal = propose("#1001").await;
    let proposed = meter.since(before);
    let before = meter.mark();
    let done = actions::confirm(
        &ports,
        &deadline(),
        &shopper(&app.org, JANE, CONVERSATION, true),
        &proposal.proposal_id,
        true,
    )
    .await
    .unwrap();
    let confirmed = meter.since(before);
    assert_eq!(done.status, "done", "{done:?}");
    assert_eq!(app.shopify.cancel_calls(SHOP, "#1001"), 1);

    println!(
        "{:<14} {:>16} {:>18} {:>18}   Shopify operations",
        "order action", "Shopify points", "Shopify requests", "DynamoDB requests"
    );
    row("proposal", &proposed);
    row("confirmation", &confirmed);
}
