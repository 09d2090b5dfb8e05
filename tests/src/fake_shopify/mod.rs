//! A fake Shopify: a real HTTP server that answers the Admin API the way Shopify does — status
//! codes, `X-Shopify-API-Version`, GraphQL `errors` with `extensions.code`, a leaky-bucket rate
//! limit with `THROTTLED` and `extensions.cost`, the client-credentials token exchange — for
//! the shops it is given.
//!
//! Shops are reached at `{base_url}/{shop}.myshopify.com/admin/...`, which is what
//! `SHOPIFY_BASE_URL` makes the client use.
//!
//! - [`model`]: the shops and what is in them;
//! - [`admin`]: the GraphQL operations; [`oauth`]: the token exchange;
//! - [`cost`]: query cost and the bucket; [`search`]: Shopify's search syntax;
//! - [`customers`]: the inbox sidebar's customer with their orders, and orders by id;
//! - [`returns`]: returnable fulfillments, return reasons, `returnRequest` and returns;
//! - [`tracking`]: shipments, carrier events and refunds, and the order timeline query;
//! - [`faults`]: scripted misbehaviour (statuses, throttling, hangs, gates).

pub mod actions;
pub mod address;
pub mod admin;
pub mod content;
pub mod cost;
pub mod customers;
pub mod faults;
pub mod model;
pub mod oauth;
pub mod returns;
pub mod search;
pub mod select;
pub mod tracking;
pub mod webhooks;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{RawPathParams, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;

pub use cost::Bucket;
pub use faults::Fault;
pub use model::{
    AddressUpdate, BulkStyle, CancelJob, CustomerDataAccess, FakeAddress, FakeArticle,
    FakeCancellation, FakeCustomer, FakeFulfillment, FakeFulfillmentEvent, FakeFulfillmentOrder,
    FakeOrder, FakePage, FakePolicy, FakeProduct, FakeRefund, FakeShop, FakeTransaction,
    ORDER_ACTION_SCOPES,
};

/// A request the fake received, for assertions.
#[derive(Clone, Debug)]
pub struct Received {
    pub shop: String,
    pub path: String,
    pub operation: Option<String>,
    pub access_token: Option<String>,
    pub api_version: Option<String>,
    pub variables: Value,
}

/// One admitted query: shop, operation, requested and actual cost.
pub type Spent = (String, String, f64, f64);

#[derive(Default)]
pub struct Inner {
    shops: HashMap<String, FakeShop>,
    faults: HashMap<String, VecDeque<Fault>>,
    received: Vec<Received>,
    issued: u64,
    buckets: HashMap<String, Bucket>,
    spent: Vec<Spent>,
    /// Every admitted query's hold on its bucket.
    held: Vec<cost::Held>,
    throttled: Vec<String>,
    base_url: String,
    bulk: HashMap<String, content::BulkOp>,
    bulk_started: u64,
    bulk_downloads: std::sync::atomic::AtomicUsize,
    /// Webhook subscriptions per shop.
    webhooks: HashMap<String, Vec<webhooks::FakeSubscription>>,
    /// The last webhook subscription id given out.
    webhook_ids: u64,
    /// `orderCancel` jobs by id.
    jobs: HashMap<String, actions::FakeJob>,
    /// Jobs given out so far.
    job_ids: u64,
}

impl Inner {
    /// The shop's bucket, created full on first use.
    fn bucket(&mut self, shop: &str, capacity: f64, restore_rate: f64) -> &mut Bucket {
        let bucket = self
            .buckets
            .entry(shop.to_owned())
            .or_insert_with(|| Bucket::new(capacity, restore_rate));
        if bucket.capacity != capacity || bucket.restore_rate != restore_rate {
            bucket.resize(capacity, restore_rate);
        }
        bucket
    }
}

pub type Shared = Arc<Mutex<Inner>>;

/// The running fake; dropping it stops the server.
pub struct FakeShopify {
    pub base_url: String,
    inner: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeShopify {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeShopify {
    /// Starts on a free loopback port.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_on(addr: SocketAddr) -> Self {
        let inner: Shared = Arc::default();
        let app = Router::new()
            .route(
                "/{shop}/admin/api/{version}/graphql.json",
                post(admin::graphql),
            )
            .route(
                "/{shop}/admin/oauth/access_token",
                post(oauth::access_token),
            )
            .route_layer(middleware::from_fn_with_state(inner.clone(), paced))
            .route("/bulk-results/{file}", get(content::bulk_result))
            .route("/_sandbox/{shop}/{action}", post(sandbox))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind fake Shopify");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        inner.lock().unwrap().base_url = base_url.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake Shopify server");
        });
        Self {
            base_url,
            inner,
            task,
        }
    }

    pub fn add_shop(&self, shop: FakeShop) {
        self.inner
            .lock()
            .unwrap()
            .shops
            .insert(shop.domain.clone(), shop);
    }

    /// Changes a shop in place (revoke a token, remove a scope...).
    pub fn update_shop(&self, domain: &str, change: impl FnOnce(&mut FakeShop)) {
        let mut inner = self.inner.lock().unwrap();
        change(inner.shops.get_mut(domain).expect("unknown fake shop"));
    }

    /// Serves `fault` instead of the next answer to `domain`.
    pub fn push_fault(&self, domain: &str, fault: Fault) {
        self.inner
            .lock()
            .unwrap()
            .faults
            .entry(domain.into())
            .or_default()
            .push_back(fault);
    }

    /// The shop's webhook subscriptions: (topic, address).
    pub fn webhook_subscriptions(&self, domain: &str) -> Vec<(String, String)> {
        self.inner
            .lock()
            .unwrap()
            .webhooks
            .get(domain)
            .into_iter()
            .flatten()
            .map(|s| (s.topic.clone(), s.uri.clone()))
            .collect()
    }

    /// Deletes the shop's subscriptions to `topic`, as Shopify does after 8 failed deliveries.
    pub fn delete_webhook_subscriptions(&self, domain: &str, topic: &str) {
        if let Some(subscriptions) = self.inner.lock().unwrap().webhooks.get_mut(domain) {
            subscriptions.retain(|s| s.topic != topic);
        }
    }

    /// Points the shop's subscriptions at `uri`, as a subscription made under an older token
    /// (or before tokens) is.
    pub fn point_webhook_subscriptions(&self, domain: &str, uri: &str) {
        if let Some(subscriptions) = self.inner.lock().unwrap().webhooks.get_mut(domain) {
            for subscription in subscriptions {
                subscription.uri = uri.to_owned();
            }
        }
    }

    /// The order named `name` as it stands now (cancelled? refunded? restocked?).
    pub fn order(&self, domain: &str, name: &str) -> FakeOrder {
        let inner = self.inner.lock().unwrap();
        let shop = inner.shops.get(domain).expect("unknown fake shop");
        shop.orders
            .iter()
            .find(|o| o.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no order {name} in {domain}"))
    }

    /// The GID the fake gives the order named `name`.
    pub fn order_gid(&self, domain: &str, name: &str) -> String {
        let inner = self.inner.lock().unwrap();
        let shop = inner.shops.get(domain).expect("unknown fake shop");
        let index = shop
            .orders
            .iter()
            .position(|o| o.name == name)
            .unwrap_or_else(|| panic!("no order {name} in {domain}"));
        actions::order_gid(index)
    }

    /// Changes an order in place (fulfilled meanwhile, a return started, a new address...).
    pub fn update_order(&self, domain: &str, name: &str, change: impl FnOnce(&mut FakeOrder)) {
        let mut inner = self.inner.lock().unwrap();
        let shop = inner.shops.get_mut(domain).expect("unknown fake shop");
        let order = shop
            .orders
            .iter_mut()
            .find(|o| o.name == name)
            .unwrap_or_else(|| panic!("no order {name} in {domain}"));
        change(order);
    }

    /// `orderCancel` mutations received for the order named `name`, refused ones included.
    pub fn cancel_calls(&self, domain: &str, name: &str) -> usize {
        self.order(domain, name).cancel_calls
    }

    /// `orderUpdate` mutations received for the order named `name`, refused and ignored ones
    /// included.
    pub fn address_updates(&self, domain: &str, name: &str) -> usize {
        self.order(domain, name).address_update_calls
    }

    /// Finishes `domain`'s pending cancel jobs as their shop's `CancelJob` says, as if they
    /// had been polled enough (a job that never finishes stays pending).
    pub fn finish_jobs(&self, domain: &str) {
        actions::finish(&mut self.inner.lock().unwrap(), domain);
    }

    /// `domain`'s cancel jobs not done yet.
    pub fn pending_jobs(&self, domain: &str) -> usize {
        self.inner
            .lock()
            .unwrap()
            .jobs
            .values()
            .filter(|j| j.shop == domain && !j.done)
            .count()
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    pub fn requests_to(&self, domain: &str) -> usize {
        self.received().iter().filter(|r| r.shop == domain).count()
    }

    /// Every admitted query with its requested and actual cost.
    pub fn spent(&self) -> Vec<Spent> {
        self.inner.lock().unwrap().spent.clone()
    }

    /// The most `domain`'s bucket held at one moment for queries named one of `operations`
    /// (all when empty): (requested points, queries). A query holds its requested points from
    /// admission until it has run ([`FakeShop::with_execution`]).
    pub fn peak_held(&self, domain: &str, operations: &[&str]) -> (f64, usize) {
        let inner = self.inner.lock().unwrap();
        cost::peak(inner.held.iter().filter(|h| {
            h.shop == domain
                && (operations.is_empty() || operations.contains(&h.operation.as_str()))
        }))
    }

    /// Sets the points in `domain`'s bucket now, as if another app had spent the rest.
    pub fn set_available(&self, domain: &str, points: f64) {
        let mut inner = self.inner.lock().unwrap();
        let (capacity, rate) = inner.shops.get(domain).expect("unknown fake shop").bucket;
        inner.bucket(domain, capacity, rate).set_available(points);
    }

    /// How many queries were answered `THROTTLED` by a bucket.
    pub fn throttled(&self) -> usize {
        self.inner.lock().unwrap().throttled.len()
    }

    /// The operations that were throttled, in order.
    pub fn throttled_operations(&self) -> Vec<String> {
        self.inner.lock().unwrap().throttled.clone()
    }

    /// Bulk operations started so far.
    pub fn bulk_started(&self) -> u64 {
        self.inner.lock().unwrap().bulk_started
    }

    /// Bulk results downloaded (or resumed) so far.
    pub fn bulk_downloads(&self) -> usize {
        self.inner
            .lock()
            .unwrap()
            .bulk_downloads
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Points in `domain`'s bucket now.
    pub fn available(&self, domain: &str) -> Option<f64> {
        let mut inner = self.inner.lock().unwrap();
        let (capacity, rate) = inner.shops.get(domain)?.bucket;
        Some(inner.bucket(domain, capacity, rate).available())
    }
}

/// A slow shop's round trip: its request is looked at half the latency after it arrives, and
/// the answer leaves the whole latency after it arrived, or once ready if the fake took longer.
/// The fake's own work (building and costing answers) hides inside the latency, as Shopify's
/// does inside a real round trip, so a bench that counts round trips counts the connector's
/// time, not the fake's.
async fn paced(
    State(inner): State<Shared>,
    params: RawPathParams,
    request: Request,
    next: Next,
) -> Response {
    let latency = params
        .iter()
        .find(|(name, _)| *name == "shop")
        .and_then(|(_, shop)| inner.lock().unwrap().shops.get(shop).map(|s| s.latency))
        .unwrap_or_default();
    if latency.is_zero() {
        return next.run(request).await;
    }
    let sent = tokio::time::Instant::now();
    tokio::time::sleep(latency / 2).await;
    let response = next.run(request).await;
    tokio::time::sleep_until(sent + latency).await;
    response
}

/// A queued fault, a hanging shop or one in an outage: what happens before the normal answer.
/// `Some` is an answer to send instead.
async fn misbehave(inner: &Shared, shop: &str) -> Option<Response> {
    let (fault, hangs, outage) = {
        let mut guard = inner.lock().unwrap();
        let fault = guard.faults.get_mut(shop).and_then(VecDeque::pop_front);
        let (hangs, outage) = guard
            .shops
            .get(shop)
            .map_or((false, None), |s| (s.hangs, s.outage));
        (fault, hangs, outage)
    };
    if hangs {
        return std::future::pending().await;
    }
    if let Some(status) = outage {
        return Some(faults::shopify_error(status, None));
    }
    match fault {
        Some(fault) => faults::serve(fault).await,
        None => None,
    }
}

/// `POST /_sandbox/{shop}/{action}`: what a merchant (or a shopper) does in Shopify, for
/// trying the connector by hand — `revoke` (the app's tokens and client secret stop working),
/// `restore` (they work again), `freeze` (402, an unpaid bill), `thaw`, `prefix?value=US-`
/// (the order-number prefix changes); for order actions, `place?email=jane@example.com` (a
/// new paid, unfulfilled order placed now; answers its name), `fulfill?order=%231004` (it
/// ships), `cancel-jobs?outcome=complete|fail|hang` (how the next cancellations end) and
/// `finish-jobs` (pending cancellations end now).
async fn sandbox(
    axum::extract::State(inner): axum::extract::State<Shared>,
    axum::extract::Path((shop, action)): axum::extract::Path<(String, String)>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    use axum::response::IntoResponse;
    let mut guard = inner.lock().unwrap();
    let Some(record) = guard.shops.get_mut(&shop) else {
        return (axum::http::StatusCode::NOT_FOUND, "no such shop").into_response();
    };
    match action.as_str() {
        "revoke" => {
            let tokens: Vec<String> = record
                .access_tokens
                .drain(..)
                .chain(record.issued_tokens.drain(..))
                .collect();
            record.revoked.extend(tokens);
            if let Some(client) = record.client.take() {
                record.revoked_client = Some(client);
            }
        }
        "restore" => {
            let tokens: Vec<String> = record.revoked.drain(..).collect();
            record.access_tokens.extend(tokens);
            if let Some(client) = record.revoked_client.take() {
                record.client = Some(client);
            }
        }
        "freeze" => record.outage = Some(402),
        "thaw" => record.outage = None,
        "prefix" => record.order_number_prefix = query.get("value").cloned().unwrap_or_default(),
        "place" => {
            let number = 1 + record
                .orders
                .iter()
                .map(admin::order_number)
                .max()
                .unwrap_or(1000)
                .max(1000);
            let name = format!("{}{number}", record.order_number_prefix);
            let email = query.get("email").map_or("jane@example.com", String::as_str);
            let order = FakeOrder::unfulfilled(&name, 0, email).currency(&record.currency);
            record.orders.push(order);
            return axum::Json(serde_json::json!({"shop": shop, "done": action, "order": name}))
                .into_response();
        }
        "fulfill" => {
            let name = query.get("order").cloned().unwrap_or_default();
            let Some(order) = record.orders.iter_mut().find(|o| o.name == name) else {
                return (axum::http::StatusCode::NOT_FOUND, "no such order").into_response();
            };
            let all: Vec<(usize, i64)> = order
                .line_items
                .iter()
                .enumerate()
                .map(|(i, (_, _, quantity))| (i, *quantity))
                .collect();
            *order = order
                .clone()
                .fulfilled()
                .with_fulfillments(vec![FakeFulfillment::in_transit(&all)]);
        }
        "cancel-jobs" => {
            record.cancel_job = match query.get("outcome").map(String::as_str) {
                Some("fail") => CancelJob::Fails { after_polls: 1 },
                Some("hang") => CancelJob::NeverFinishes,
                _ => CancelJob::default(),
            }
        }
        "finish-jobs" => {
            actions::finish(&mut guard, &shop);
        }
        _ => {
            return (
                axum::http::StatusCode::NOT_FOUND,
                "actions: revoke, restore, freeze, thaw, prefix?value=, place?email=, fulfill?order=, cancel-jobs?outcome=, finish-jobs",
            )
                .into_response()
        }
    }
    axum::Json(serde_json::json!({"shop": shop, "done": action})).into_response()
}
