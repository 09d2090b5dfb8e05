//! The Admin API client: one HTTP client and token cache per container, reused by every
//! invocation; GraphQL answers sorted into data or a typed [`ShopifyError`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use super::error::ShopifyError;
use super::queries::Query;
use super::retry::{throttle_wait, ThrottleStatus};
use super::token::{self, AccessToken, TokenCache};
use super::transport::{classify_status, Attempt, Resend, ShopifyConfig, Transport};
use crate::deadline::Deadline;
use crate::domain::{Credentials, ShopDomain};

/// The fields Shopify withheld from an answer as protected customer data, each null in the
/// data: their paths in the answer (`["order", "shippingAddress", "phone"]`; list positions as
/// digits). Paths only, never a value.
pub(super) type Withheld = Vec<Vec<String>>;

/// A cheap-to-clone handle on the shared HTTP client, token cache and bucket readings.
#[derive(Clone)]
pub struct ShopifyClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    tokens: TokenCache,
    buckets: Mutex<HashMap<String, (Instant, ThrottleStatus)>>,
    /// Points this container's sidebar requests in flight requested, per store: every
    /// sidebar open at once counts them against the same share of the bucket.
    sidebar: Mutex<HashMap<String, f64>>,
}

/// A sidebar request's points, counted against its store's share until it is dropped (the
/// request answered, failed or was cancelled).
pub(super) struct SidebarHold {
    client: ShopifyClient,
    shop: String,
    points: f64,
}

impl Drop for SidebarHold {
    fn drop(&mut self) {
        let mut held = self
            .client
            .inner
            .sidebar
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(points) = held.get_mut(&self.shop) {
            *points -= self.points;
            if *points <= 1e-9 {
                held.remove(&self.shop);
            }
        }
    }
}

/// What Shopify last said about a shop's rate-limit bucket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketReading {
    pub status: ThrottleStatus,
    pub at: Instant,
}

impl BucketReading {
    /// Points available now, assuming nobody else spent any since the reading.
    pub fn available_now(&self) -> f64 {
        let restored = self.at.elapsed().as_secs_f64() * self.status.restore_rate;
        (self.status.currently_available + restored).min(self.status.maximum_available)
    }
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
    /// Read only to recognise a protected-customer-data denial; never kept or logged (it may
    /// name a customer).
    #[serde(default)]
    message: Option<String>,
    extensions: Option<GraphQlErrorExtensions>,
    #[serde(default)]
    path: Vec<Value>,
}

impl GraphQlError {
    /// `ACCESS_DENIED`, or Shopify's protected-customer-data denial, which it sometimes sends
    /// without an `extensions.code` ("This app is not approved to access/use ...").
    fn is_access_denied(&self) -> bool {
        match self.extensions.as_ref().and_then(|x| x.code.as_deref()) {
            Some(code) => code == "ACCESS_DENIED",
            None => self.message.as_deref().is_some_and(|m| {
                m.contains("not approved to access") || m.contains("not approved to use")
            }),
        }
    }

    /// A denial of one field below a root field (`orders.nodes.0.email`): Shopify leaves that
    /// field null and answers the rest.
    fn is_field_denial(&self) -> bool {
        self.is_access_denied() && self.path.len() >= 2
    }

    /// The path, its list positions as digits.
    fn path_segments(&self) -> Vec<String> {
        self.path
            .iter()
            .map(|segment| match segment {
                Value::String(name) => name.clone(),
                other => other.to_string(),
            })
            .collect()
    }
}

#[derive(Deserialize)]
struct GraphQlErrorExtensions {
    code: Option<String>,
}

impl ShopifyClient {
    pub fn new(config: ShopifyConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                transport: Transport::new(config),
                tokens: TokenCache::default(),
                buckets: Mutex::default(),
                sidebar: Mutex::default(),
            }),
        }
    }

    pub fn config(&self) -> &ShopifyConfig {
        &self.inner.transport.config
    }

    /// The last throttle status Shopify reported for `shop`, if any.
    pub fn bucket(&self, shop: &ShopDomain) -> Option<BucketReading> {
        let buckets = self.inner.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets
            .get(shop.as_str())
            .map(|(at, status)| BucketReading {
                status: *status,
                at: *at,
            })
    }

    /// Points this container's sidebar requests in flight to `shop` requested.
    pub(super) fn sidebar_held(&self, shop: &ShopDomain) -> f64 {
        let held = self.inner.sidebar.lock().unwrap_or_else(|p| p.into_inner());
        held.get(shop.as_str()).copied().unwrap_or(0.0)
    }

    /// Holds `points` for a sidebar request to `shop` when `fits`, given what this container's
    /// sidebar requests hold already, says it fits; the check and the hold are one step, so
    /// sidebars opened at once never both take the last room.
    pub(super) fn sidebar_hold<E>(
        &self,
        shop: &ShopDomain,
        points: f64,
        fits: impl FnOnce(f64) -> Result<(), E>,
    ) -> Result<SidebarHold, E> {
        let mut held = self.inner.sidebar.lock().unwrap_or_else(|p| p.into_inner());
        let entry = held.entry(shop.as_str().to_owned()).or_insert(0.0);
        fits(*entry)?;
        *entry += points;
        Ok(SidebarHold {
            client: self.clone(),
            shop: shop.as_str().to_owned(),
            points,
        })
    }

    /// Runs one read-only GraphQL query and decodes `data` into `T`.
    ///
    /// Throttling (`THROTTLED`, 429), 5xx, timeouts and network errors are retried within the
    /// retry policy and the deadline; every other failure is returned at once.
    pub async fn query<T: DeserializeOwned>(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        query: &Query,
        variables: Value,
    ) -> Result<T, ShopifyError> {
        self.request(deadline, shop, token, query, variables, Resend::Retryable)
            .await
            .map(|(data, _)| data)
    }

    /// [`ShopifyClient::query`], also telling which fields of the answer Shopify withheld as
    /// protected customer data (null in `T`, though the store may have them), for a read that
    /// must not take a withheld field for an empty one.
    pub(super) async fn query_withheld<T: DeserializeOwned>(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        query: &Query,
        variables: Value,
    ) -> Result<(T, Withheld), ShopifyError> {
        self.request(deadline, shop, token, query, variables, Resend::Retryable)
            .await
    }

    /// Runs one mutation that writes to the store and decodes `data` into `T`. It is sent
    /// again only when Shopify throttled it (and so did not run it): after a timeout, a
    /// dropped connection or a 5xx the write may have happened, and the error is returned for
    /// the caller to read the outcome from the store rather than write twice.
    pub(super) async fn mutate<T: DeserializeOwned>(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        query: &Query,
        variables: Value,
    ) -> Result<T, ShopifyError> {
        self.request(deadline, shop, token, query, variables, Resend::OnlyRefused)
            .await
            .map(|(data, _)| data)
    }

    async fn request<T: DeserializeOwned>(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        query: &Query,
        variables: Value,
        resend: Resend,
    ) -> Result<(T, Withheld), ShopifyError> {
        let transport = &self.inner.transport;
        let url = format!(
            "{}/api/{}/graphql.json",
            transport.admin_url(shop),
            transport.config.api_version
        );
        let body = serde_json::json!({
            "query": query.document,
            "operationName": query.operation,
            "variables": variables,
        });
        let mut header =
            HeaderValue::from_str(token.expose_secret()).map_err(|_| ShopifyError::Unauthorized)?;
        header.set_sensitive(true);
        let (data, withheld): (Value, Withheld) = transport
            .send_as(
                deadline,
                query.operation,
                shop,
                resend,
                || {
                    transport
                        .http
                        .post(&url)
                        .header("X-Shopify-Access-Token", header.clone())
                        .json(&body)
                },
                |status, headers, text| self.read_graphql(shop, query, status, headers, text),
            )
            .await?;
        let data = serde_json::from_value(data).map_err(|e| {
            // serde's message may quote values (customer data); keep only where it broke.
            ShopifyError::InvalidResponse(format!(
                "{} data did not match the expected shape ({:?} error at line {} column {})",
                query.operation,
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        Ok((data, withheld))
    }

    fn read_graphql(
        &self,
        shop: &ShopDomain,
        query: &Query,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Attempt<(Value, Withheld)> {
        if let Some(early) = classify_status(status, headers) {
            return early;
        }
        let api_version = &self.inner.transport.config.api_version;
        if let Some(answered) = headers
            .get("x-shopify-api-version")
            .and_then(|v| v.to_str().ok())
        {
            if answered != api_version {
                tracing::warn!(
                    shop = %shop,
                    requested = %api_version,
                    answered,
                    "Shopify answered with a different API version"
                );
            }
        }
        let response: GraphQlResponse = match serde_json::from_slice(body) {
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
            if let Some(status) = cost.throttle_status {
                self.inner
                    .buckets
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(shop.to_string(), (Instant::now(), status));
            }
        }
        if let Some(errors) = response.errors {
            // Fields withheld as protected customer data come back null, each with an error,
            // beside everything else: the answer is used, with those fields empty (an order
            // without a visible email then matches no contact, exactly like a missing order).
            let list: Vec<GraphQlError> =
                serde_json::from_value(errors.clone()).unwrap_or_default();
            let partial = !list.is_empty() && list.iter().all(GraphQlError::is_field_denial);
            match response.data {
                Some(data) if partial && !data.is_null() => {
                    tracing::info!(
                        shop = %shop,
                        operation = query.operation,
                        fields = list.len(),
                        "Shopify withheld protected fields; using the rest of the answer"
                    );
                    let withheld = list.iter().map(GraphQlError::path_segments).collect();
                    return Attempt::Done((data, withheld));
                }
                _ => {
                    return match classify_graphql_errors(errors, cost.as_ref()) {
                        Attempt::Done(data) => Attempt::Done((data, Withheld::new())),
                        Attempt::Retry(error, wait) => Attempt::Retry(error, wait),
                        Attempt::Fatal(error) => Attempt::Fatal(error),
                    }
                }
            }
        }
        match response.data {
            Some(data) => Attempt::Done((data, Withheld::new())),
            None => Attempt::Retry(
                ShopifyError::InvalidResponse("the answer has neither data nor errors".into()),
                None,
            ),
        }
    }

    /// Exchanges client credentials for a fresh token and caches it.
    pub async fn exchange_client_credentials(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        client_id: &str,
        client_secret: &SecretString,
    ) -> Result<AccessToken, ShopifyError> {
        let token = token::exchange(
            &self.inner.transport,
            deadline,
            shop,
            client_id,
            client_secret,
        )
        .await?;
        let tokens = &self.inner.tokens;
        tokens.put(tokens.key(shop, client_id, client_secret), token.clone());
        Ok(token)
    }

    /// The token to send for `credentials`: the static token, or a cached/refreshed
    /// client-credentials token.
    pub async fn access_token(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        credentials: &Credentials,
    ) -> Result<SecretString, ShopifyError> {
        self.token(deadline, shop, credentials, true).await
    }

    /// A token for the live check behind connect and verify: client credentials are always
    /// exchanged anew (never taken from the cache), so the check is about them.
    pub async fn fresh_token(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        credentials: &Credentials,
    ) -> Result<SecretString, ShopifyError> {
        self.token(deadline, shop, credentials, false).await
    }

    async fn token(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        credentials: &Credentials,
        cached: bool,
    ) -> Result<SecretString, ShopifyError> {
        match credentials {
            Credentials::AccessToken(token) => Ok(token.clone()),
            Credentials::ClientCredentials {
                client_id,
                client_secret,
            } => {
                let tokens = &self.inner.tokens;
                let key = tokens.key(shop, client_id, client_secret);
                if let Some(token) = tokens.get(&key).filter(|_| cached) {
                    return Ok(token);
                }
                Ok(self
                    .exchange_client_credentials(deadline, shop, client_id, client_secret)
                    .await?
                    .token)
            }
        }
    }

    /// Drops a cached token Shopify has just refused, so the next call exchanges anew.
    pub fn forget_token(&self, shop: &ShopDomain, credentials: &Credentials) {
        if let Credentials::ClientCredentials {
            client_id,
            client_secret,
        } = credentials
        {
            let tokens = &self.inner.tokens;
            tokens.remove(&tokens.key(shop, client_id, client_secret));
        }
    }
}

/// A bulk operation's JSONL result, read a chunk at a time (never held whole).
pub struct BulkResult {
    response: reqwest::Response,
    /// Bytes still to skip: a server that ignored `Range` sends the file from its start.
    skip: u64,
}

impl BulkResult {
    /// The next bytes of the result; `None` at its end.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ShopifyError> {
        loop {
            let Some(chunk) = self.response.chunk().await.map_err(|e| {
                if e.is_timeout() {
                    ShopifyError::Timeout
                } else {
                    ShopifyError::Network(e)
                }
            })?
            else {
                return Ok(None);
            };
            if self.skip >= chunk.len() as u64 {
                self.skip -= chunk.len() as u64;
                continue;
            }
            let from = self.skip as usize;
            self.skip = 0;
            return Ok(Some(chunk[from..].to_vec()));
        }
    }
}

impl ShopifyClient {
    /// Opens a bulk operation's result at byte `offset`. The URL is Shopify's signed storage
    /// URL: fetched over HTTPS (plain HTTP only with `SHOPIFY_BASE_URL`, locally) and without
    /// the store's token.
    pub async fn bulk_result(
        &self,
        deadline: &Deadline,
        url: &str,
        offset: u64,
    ) -> Result<BulkResult, ShopifyError> {
        let transport = &self.inner.transport;
        let local = transport.config.base_url.is_some();
        if !(url.starts_with("https://") || (local && url.starts_with("http://"))) {
            return Err(ShopifyError::InvalidResponse(
                "a bulk result URL that is not HTTPS".into(),
            ));
        }
        let Some(budget) = deadline.attempt(deadline.remaining()) else {
            return Err(ShopifyError::Timeout);
        };
        let mut request = transport.http.get(url).timeout(budget);
        if offset > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={offset}-"));
        }
        let response = deadline
            .run(async {
                request.send().await.map_err(|e| {
                    if e.is_timeout() {
                        ShopifyError::Timeout
                    } else {
                        ShopifyError::Network(e)
                    }
                })
            })
            .await?;
        let skip = match response.status().as_u16() {
            206 => 0,
            200 => offset,
            416 => {
                return Err(ShopifyError::InvalidResponse(
                    "the bulk result is shorter than the saved offset".into(),
                ))
            }
            status => {
                return Err(ShopifyError::InvalidResponse(format!(
                    "the bulk result answered HTTP {status}"
                )))
            }
        };
        Ok(BulkResult { response, skip })
    }
}

fn classify_graphql_errors(errors: Value, cost: Option<&Cost>) -> Attempt<Value> {
    let list: Vec<GraphQlError> = match errors {
        Value::Array(_) => serde_json::from_value(errors).unwrap_or_default(),
        _ => Vec::new(),
    };
    let codes: Vec<String> = list
        .iter()
        .filter_map(|e| {
            e.extensions
                .as_ref()
                .and_then(|x| x.code.clone())
                .or_else(|| e.is_access_denied().then(|| "ACCESS_DENIED".to_owned()))
        })
        .collect();
    let has = |code: &str| codes.iter().any(|c| c == code);
    if has("THROTTLED") {
        // Shopify admits a query once the bucket holds its requested cost.
        let wait = cost.and_then(|c| {
            Some(throttle_wait(
                c.requested_query_cost?,
                c.throttle_status.as_ref()?,
            ))
        });
        return Attempt::Retry(ShopifyError::RateLimited { retry_after: wait }, wait);
    }
    if has("ACCESS_DENIED") {
        let fields = list
            .iter()
            .filter(|e| e.is_access_denied())
            .filter(|e| !e.path.is_empty())
            .map(|e| {
                e.path
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .collect();
        return Attempt::Fatal(ShopifyError::AccessDenied { fields });
    }
    if has("MAX_COST_EXCEEDED") {
        return Attempt::Fatal(ShopifyError::MaxCostExceeded);
    }
    if has("INTERNAL_SERVER_ERROR") {
        return Attempt::Retry(ShopifyError::Server { status: 500 }, None);
    }
    Attempt::Fatal(ShopifyError::GraphQl { codes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn graphql_error_texts_are_never_kept() {
        let errors = json!([{"message": "Customer jane@example.com is hidden", "extensions": {"code": "ACCESS_DENIED"}, "path": ["orders", "nodes", 0, "email"]}]);
        match classify_graphql_errors(errors, None) {
            Attempt::Fatal(error @ ShopifyError::AccessDenied { .. }) => {
                let text = format!("{error} {error:?}");
                assert!(!text.contains("jane@"), "{text}");
                assert!(text.contains("orders.nodes.email"), "{text}");
            }
            _ => panic!("ACCESS_DENIED is fatal"),
        }
        let other = json!([{"message": "Order 1042 of jane@example.com failed", "extensions": {"code": "BAD_USER_INPUT"}}]);
        match classify_graphql_errors(other, None) {
            Attempt::Fatal(error) => assert!(!format!("{error:?}").contains("jane@")),
            _ => panic!("unknown GraphQL errors are fatal"),
        }
    }

    #[test]
    fn a_protected_data_denial_without_a_code_is_access_denied() {
        let errors = json!([{"message": "This app is not approved to access the Customer object.", "path": ["customers"]}]);
        assert!(matches!(
            classify_graphql_errors(errors, None),
            Attempt::Fatal(ShopifyError::AccessDenied { .. })
        ));
    }

    #[test]
    fn a_throttled_answer_waits_for_the_cost_shopify_names() {
        let cost = Cost {
            requested_query_cost: Some(116.0),
            actual_query_cost: None,
            throttle_status: Some(ThrottleStatus {
                maximum_available: 1000.0,
                currently_available: 16.0,
                restore_rate: 50.0,
            }),
        };
        let errors = json!([{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]);
        match classify_graphql_errors(errors, Some(&cost)) {
            Attempt::Retry(ShopifyError::RateLimited { .. }, Some(wait)) => {
                assert_eq!(wait, Duration::from_secs(2))
            }
            _ => panic!("THROTTLED is retried after the bucket refills"),
        }
    }
}
