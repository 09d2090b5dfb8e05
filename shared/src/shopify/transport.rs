//! Sending one logical request to a shop: each attempt bounded by `min(attempt timeout, time
//! left)`, retried after Shopify's own wait (`Retry-After`, the throttle bucket) or a jittered
//! backoff — but only while the wait and another attempt still fit before the deadline.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};

use super::error::ShopifyError;
use super::retry::RetryPolicy;
use crate::deadline::Deadline;
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
    /// The longest one attempt may take (connect, send, read the whole answer).
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

/// Answers larger than this are refused rather than held in memory (ours are a few KiB).
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// An attempt is not started with less time than this left: it could not finish.
pub(super) const MIN_ATTEMPT: Duration = Duration::from_millis(200);

/// What one attempt came to.
pub(super) enum Attempt<T> {
    Done(T),
    /// Worth another try after `wait` (or the policy's backoff when `None`).
    Retry(ShopifyError, Option<Duration>),
    Fatal(ShopifyError),
}

/// The HTTP client and configuration shared by every request of the container.
pub(super) struct Transport {
    pub http: reqwest::Client,
    pub config: ShopifyConfig,
}

impl Transport {
    pub fn new(config: ShopifyConfig) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("shopify-connector/", env!("CARGO_PKG_VERSION")))
            // Compiled-in public roots (see `crate::tls`): no read of the system store.
            .tls_backend_preconfigured(crate::tls::reqwest_tls())
            .build()
            .expect("the TLS backend is compiled in, so building the client cannot fail");
        Self { http, config }
    }

    /// `https://{shop}/admin` or `{SHOPIFY_BASE_URL}/{shop}/admin`.
    pub fn admin_url(&self, shop: &ShopDomain) -> String {
        match &self.config.base_url {
            Some(base) => format!("{}/{shop}/admin", base.trim_end_matches('/')),
            None => format!("https://{shop}/admin"),
        }
    }

    /// Sends a request built by `build`, reading each answer with `read`, retrying as the
    /// answer, the policy and the deadline allow.
    pub async fn send<T>(
        &self,
        deadline: &Deadline,
        operation: &str,
        shop: &ShopDomain,
        build: impl Fn() -> RequestBuilder,
        read: impl Fn(StatusCode, &HeaderMap, &[u8]) -> Attempt<T>,
    ) -> Result<T, ShopifyError> {
        self.send_as(deadline, operation, shop, Resend::Retryable, build, read)
            .await
    }

    /// [`Self::send`] for a request that `resend` says may or may not be sent twice.
    pub async fn send_as<T>(
        &self,
        deadline: &Deadline,
        operation: &str,
        shop: &ShopDomain,
        resend: Resend,
        build: impl Fn() -> RequestBuilder,
        read: impl Fn(StatusCode, &HeaderMap, &[u8]) -> Attempt<T>,
    ) -> Result<T, ShopifyError> {
        let policy = &self.config.retry;
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            let Some(budget) = deadline.attempt(self.config.request_timeout) else {
                // A write gets here only before its first attempt or after throttled ones.
                return Err(match resend {
                    Resend::OnlyRefused => ShopifyError::NotSent,
                    Resend::Retryable => ShopifyError::Timeout,
                });
            };
            let outcome = match tokio::time::timeout(budget, exchange(build())).await {
                Err(_) => Attempt::Retry(ShopifyError::Timeout, None),
                Ok(Err(error)) => Attempt::Retry(error, None),
                Ok(Ok((status, headers, body))) => read(status, &headers, &body),
            };
            let (error, wait) = match outcome {
                Attempt::Done(value) => return Ok(value),
                Attempt::Fatal(error) => return Err(error),
                Attempt::Retry(error, _)
                    if resend == Resend::OnlyRefused && !is_refused(&error) =>
                {
                    tracing::warn!(shop = %shop, operation, error = %error, "Shopify write unanswered; not resent");
                    return Err(error);
                }
                Attempt::Retry(error, wait) => (error, wait),
            };
            attempt += 1;
            let wait = wait.unwrap_or_else(|| policy.backoff(attempt - 1));
            let out_of_budget = attempt >= policy.max_attempts
                || wait > policy.max_single_wait
                || waited + wait > policy.max_total_wait
                || !deadline.allows(wait, MIN_ATTEMPT);
            tracing::warn!(
                shop = %shop,
                operation,
                attempt,
                wait_ms = wait.as_millis() as u64,
                left_ms = deadline.remaining().as_millis() as u64,
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

/// Whether a request may be sent again after an attempt whose outcome is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Resend {
    /// Reads: any transient failure is retried.
    Retryable,
    /// Writes without an idempotency key: retried only when Shopify refused the attempt
    /// before running it (429, `THROTTLED`); a timeout, a dropped connection or a 5xx may
    /// have run it, so the caller reads the outcome instead of sending it again.
    OnlyRefused,
}

/// Throttling is Shopify declining to run the request at all.
fn is_refused(error: &ShopifyError) -> bool {
    matches!(error, ShopifyError::RateLimited { .. })
}

/// One attempt: send, then read the whole answer (at most [`MAX_BODY_BYTES`]).
async fn exchange(
    request: RequestBuilder,
) -> Result<(StatusCode, HeaderMap, Vec<u8>), ShopifyError> {
    let mut response = request.send().await.map_err(transport_error)?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ShopifyError::InvalidResponse(
                "the answer is larger than expected".into(),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, headers, body))
}

fn transport_error(error: reqwest::Error) -> ShopifyError {
    if error.is_timeout() {
        ShopifyError::Timeout
    } else {
        ShopifyError::Network(error)
    }
}

/// `Retry-After` in seconds, capped at an hour.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "2.5".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(2500)));
        headers.insert(RETRY_AFTER, "99999999".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3600)));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}
