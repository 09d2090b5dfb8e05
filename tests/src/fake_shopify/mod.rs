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
//! - [`faults`]: scripted misbehaviour (statuses, throttling, hangs, gates).

pub mod admin;
pub mod content;
pub mod cost;
pub mod faults;
pub mod model;
pub mod oauth;
pub mod search;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;

pub use cost::Bucket;
pub use faults::Fault;
pub use model::{
    BulkStyle, CustomerDataAccess, FakeArticle, FakeCustomer, FakeOrder, FakePage, FakePolicy,
    FakeProduct, FakeShop,
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
    throttled: Vec<String>,
    base_url: String,
    bulk: HashMap<String, content::BulkOp>,
    bulk_started: u64,
    bulk_downloads: std::sync::atomic::AtomicUsize,
    /// Webhook subscriptions per shop: (topic, address).
    webhooks: HashMap<String, Vec<(String, String)>>,
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

    /// Every request received so far.
    /// The shop's webhook subscriptions: (topic, address).
    pub fn webhook_subscriptions(&self, domain: &str) -> Vec<(String, String)> {
        self.inner
            .lock()
            .unwrap()
            .webhooks
            .get(domain)
            .cloned()
            .unwrap_or_default()
    }

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

/// A queued fault, a hanging shop or a slow one: what happens before the normal answer.
/// `Some` is an answer to send instead.
async fn misbehave(inner: &Shared, shop: &str) -> Option<Response> {
    let (fault, hangs, latency, outage) = {
        let mut guard = inner.lock().unwrap();
        let fault = guard.faults.get_mut(shop).and_then(VecDeque::pop_front);
        let (hangs, latency, outage) = guard
            .shops
            .get(shop)
            .map_or((false, Default::default(), None), |s| {
                (s.hangs, s.latency, s.outage)
            });
        (fault, hangs, latency, outage)
    };
    if hangs {
        return std::future::pending().await;
    }
    if let Some(status) = outage {
        return Some(faults::shopify_error(status, None));
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(fault) => faults::serve(fault).await,
        None => None,
    }
}

/// `POST /_sandbox/{shop}/{action}`: what a merchant does in the Shopify admin, for trying the
/// connector's health checks by hand — `revoke` (the app's tokens and client secret stop
/// working), `restore` (they work again), `freeze` (402, an unpaid bill), `thaw`,
/// `prefix?value=US-` (the order-number prefix changes).
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
        _ => {
            return (
                axum::http::StatusCode::NOT_FOUND,
                "actions: revoke, restore, freeze, thaw, prefix?value=",
            )
                .into_response()
        }
    }
    axum::Json(serde_json::json!({"shop": shop, "done": action})).into_response()
}
