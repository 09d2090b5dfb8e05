//! The Admin API client: one `reqwest::Client` per container, reused by every invocation.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::error::ShopifyError;
use super::queries::Query;
use super::retry::{throttle_wait, RetryPolicy, ThrottleStatus};
use super::token::TokenCache;
use crate::domain::ShopDomain;

/// How the client reaches Shopify.
#[derive(Clone, Debug)]
pub struct ShopifyConfig {
    /// `SHOPIFY_API_VERSION`, default `2026-10`.
    pub api_version: String,
    /// `SHOPIFY_BASE_URL`: local and test use only. When set, `X.myshopify.com` is reached at
    /// `{base}/X.myshopify.com/admin/...` instead of `https://X.myshopify.com/admin/...`.
    pub base_url: Option<String>,
    pub retry: RetryPolicy,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

impl Default for ShopifyConfig {
    fn default() -> Self {
        Self {
            api_version: "2026-10".into(),
            base_url: None,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// A cheap-to-clone handle on the shared HTTP client and token cache.
#[derive(Clone)]
pub struct ShopifyClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: ShopifyConfig,
    pub(super) tokens: TokenCache,
}

/// What one attempt came to.
pub(super) enum Attempt<T> {
    Done(T),
    /// Worth another try after `wait` (or the policy's backoff when `None`).
    Retry(ShopifyError, Option<Duration>),
    Fatal(ShopifyError),
}

#[derive(Deserialize)]
struct GraphQlResponse {
    data: Option<Value>,
    errors: Option<Value>,
    extensions: Option<Extensions>,
}

#[derive(Deserialize)]
struct Extensions {
    cost: Option<Cost>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cost {
    requested_query_cost: Option<f64>,
    actual_query_cost: Option<f64>,
    throttle_status: Option<ThrottleStatus>,
}

#[derive(Deserialize)]
struct GraphQlError {
    #[serde(default)]
    message: String,
    extensions: Option<GraphQlErrorExtensions>,
}

#[derive(Deserialize)]
struct GraphQlErrorExtensions {
    code: Option<String>,
}

impl ShopifyClient {
    pub fn new(config: ShopifyConfig) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("shopify-connector/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the TLS backend is compiled in, so building the client cannot fail");
        Self {
            inner: Arc::new(Inner {
                http,
                config,
                tokens: TokenCache::default(),
            }),
        }
    }

    pub fn config(&self) -> &ShopifyConfig {
        &self.inner.config
    }

    pub(super) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(super) fn tokens(&self) -> &TokenCache {
        &self.inner.tokens
    }

    /// `https://{shop}/admin` or `{SHOPIFY_BASE_URL}/{shop}/admin`.
    pub(super) fn admin_url(&self, shop: &ShopDomain) -> String {
        match &self.inner.config.base_url {
            Some(base) => format!("{}/{shop}/admin", base.trim_end_matches('/')),
            None => format!("https://{shop}/admin"),
        }
    }

    /// Runs one read-only GraphQL query and decodes `data` into `T`.
    ///
    /// Throttling (`THROTTLED`, 429), 5xx, timeouts and network errors are retried within the
    /// [`RetryPolicy`]; every other failure is returned at once as a typed [`ShopifyError`].
    pub async fn query<T: DeserializeOwned>(
        &self,
        shop: &ShopDomain,
        token: &SecretString,
        query: &Query,
        variables: Value,
    ) -> Result<T, ShopifyError> {
        let url = format!(
            "{}/api/{}/graphql.json",
            self.admin_url(shop),
            self.inner.config.api_version
        );
        let body = serde_json::json!({
            "query": query.document,
            "operationName": query.operation,
            "variables": variables,
        });
        let mut header =
            HeaderValue::from_str(token.expose_secret()).map_err(|_| ShopifyError::Unauthorized)?;
        header.set_sensitive(true);
        let data: Value = self
            .send_with_retry(
                query.operation,
                shop,
                || {
                    self.inner
                        .http
                        .post(&url)
                        .header("X-Shopify-Access-Token", header.clone())
                        .json(&body)
                },
                |status, headers, text| self.read_graphql(shop, query, status, headers, text),
            )
            .await?;
        serde_json::from_value(data).map_err(|e| {
            ShopifyError::InvalidResponse(format!("{} data did not match: {e}", query.operation))
        })
    }

    fn read_graphql(
        &self,
        shop: &ShopDomain,
        query: &Query,
        status: StatusCode,
        headers: &HeaderMap,
        text: &str,
    ) -> Attempt<Value> {
        if let Some(early) = classify_status(status, headers) {
            return early;
        }
        if let Some(answered) = headers
            .get("x-shopify-api-version")
            .and_then(|v| v.to_str().ok())
        {
            if answered != self.inner.config.api_version {
                tracing::warn!(
                    shop = %shop,
                    requested = %self.inner.config.api_version,
                    answered,
                    "Shopify answered with a different API version"
                );
            }
        }
        let response: GraphQlResponse = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(_) => {
                return Attempt::Retry(
                    ShopifyError::InvalidResponse("the body is not GraphQL JSON".into()),
                    None,
                )
            }
        };
        let cost = response.extensions.and_then(|e| e.cost);
        if let Some(cost) = &cost {
            tracing::debug!(
                shop = %shop,
                operation = query.operation,
                requested_cost = cost.requested_query_cost,
                actual_cost = cost.actual_query_cost,
                available = cost.throttle_status.map(|t| t.currently_available),
                "Shopify query cost"
            );
        }
        if let Some(errors) = response.errors {
            return classify_graphql_errors(errors, cost.as_ref());
        }
        match response.data {
            Some(data) => Attempt::Done(data),
            None => Attempt::Retry(
                ShopifyError::InvalidResponse("the answer has neither data nor errors".into()),
                None,
            ),
        }
    }

    /// Sends a request built by `build`, reading each answer with `read`, retrying as the
    /// answer and the policy allow.
    pub(super) async fn send_with_retry<T>(
        &self,
        operation: &str,
        shop: &ShopDomain,
        build: impl Fn() -> RequestBuilder,
        read: impl Fn(StatusCode, &HeaderMap, &str) -> Attempt<T>,
    ) -> Result<T, ShopifyError> {
        let policy = &self.inner.config.retry;
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            let outcome = match build().send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    match response.text().await {
                        Ok(text) => read(status, &headers, &text),
                        Err(e) if e.is_timeout() => Attempt::Retry(ShopifyError::Timeout, None),
                        Err(e) => Attempt::Retry(ShopifyError::Network(e), None),
                    }
                }
                Err(e) if e.is_timeout() => Attempt::Retry(ShopifyError::Timeout, None),
                Err(e) => Attempt::Retry(ShopifyError::Network(e), None),
            };
            let (error, wait) = match outcome {
                Attempt::Done(value) => return Ok(value),
                Attempt::Fatal(error) => return Err(error),
                Attempt::Retry(error, wait) => (error, wait),
            };
            attempt += 1;
            let wait = wait.unwrap_or_else(|| policy.backoff(attempt - 1));
            let out_of_budget = attempt >= policy.max_attempts
                || wait > policy.max_single_wait
                || waited + wait > policy.max_total_wait;
            tracing::warn!(
                shop = %shop,
                operation,
                attempt,
                wait_ms = wait.as_millis() as u64,
                giving_up = out_of_budget,
                error = %error,
                "Shopify request failed"
            );
            if out_of_budget {
                return Err(match error {
                    ShopifyError::RateLimited { .. } => ShopifyError::RateLimited {
                        retry_after: Some(wait),
                    },
                    other => other,
                });
            }
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let seconds: f64 = value.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

/// The statuses that decide an attempt before its body is read; `None` for 200.
pub(super) fn classify_status<T>(status: StatusCode, headers: &HeaderMap) -> Option<Attempt<T>> {
    Some(match status.as_u16() {
        200 => return None,
        401 => Attempt::Fatal(ShopifyError::Unauthorized),
        402 => Attempt::Fatal(ShopifyError::PaymentRequired),
        403 => Attempt::Fatal(ShopifyError::Forbidden),
        404 => Attempt::Fatal(ShopifyError::ShopNotFound),
        423 => Attempt::Fatal(ShopifyError::Locked),
        429 => {
            let wait = retry_after(headers);
            Attempt::Retry(ShopifyError::RateLimited { retry_after: wait }, wait)
        }
        s @ 500..=599 => {
            let wait = if s == 503 { retry_after(headers) } else { None };
            Attempt::Retry(ShopifyError::Server { status: s }, wait)
        }
        s => Attempt::Fatal(ShopifyError::InvalidResponse(format!(
            "unexpected HTTP {s}"
        ))),
    })
}

fn classify_graphql_errors(errors: Value, cost: Option<&Cost>) -> Attempt<Value> {
    let list: Vec<GraphQlError> = match errors {
        Value::Array(_) => serde_json::from_value(errors).unwrap_or_default(),
        Value::String(message) => vec![GraphQlError {
            message,
            extensions: None,
        }],
        _ => Vec::new(),
    };
    let has = |code: &str| {
        list.iter().any(|e| {
            e.extensions
                .as_ref()
                .and_then(|x| x.code.as_deref())
                .is_some_and(|c| c == code)
        })
    };
    let messages = || {
        let joined = list
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        if joined.is_empty() {
            "unknown error".to_owned()
        } else {
            joined
        }
    };
    if has("THROTTLED") {
        let wait = cost.and_then(|c| {
            Some(throttle_wait(
                c.requested_query_cost?,
                c.throttle_status.as_ref()?,
            ))
        });
        return Attempt::Retry(
            ShopifyError::RateLimited { retry_after: wait },
            wait.or(Some(Duration::from_secs(1))),
        );
    }
    if has("ACCESS_DENIED") {
        return Attempt::Fatal(ShopifyError::AccessDenied(messages()));
    }
    if has("MAX_COST_EXCEEDED") {
        return Attempt::Fatal(ShopifyError::MaxCostExceeded);
    }
    if has("INTERNAL_SERVER_ERROR") {
        return Attempt::Retry(ShopifyError::Server { status: 500 }, None);
    }
    Attempt::Fatal(ShopifyError::GraphQl(messages()))
}
