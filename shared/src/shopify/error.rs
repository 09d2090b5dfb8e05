//! Everything that can go wrong talking to Shopify, as the caller needs to tell it apart.

use std::time::Duration;

/// A failed Admin API call, after the retry budget was spent where retrying made sense.
#[derive(Debug, thiserror::Error)]
pub enum ShopifyError {
    /// 401, or the client id/secret were refused at the token exchange.
    #[error("Shopify rejected the credentials")]
    Unauthorized,
    /// 403: the token is valid but the app may not do this.
    #[error("Shopify refused access for this app")]
    Forbidden,
    /// 404: no shop answers at this domain.
    #[error("Shopify has no shop at this domain")]
    ShopNotFound,
    /// 402: the shop is frozen for an unpaid bill.
    #[error("the shop is frozen (payment required)")]
    PaymentRequired,
    /// 423: the shop is locked.
    #[error("the shop is locked")]
    Locked,
    /// 429 or GraphQL `THROTTLED` past the retry budget.
    #[error("Shopify kept throttling the requests")]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx past the retry budget.
    #[error("Shopify answered with HTTP {status}")]
    Server { status: u16 },
    /// Connect or total timeout past the retry budget.
    #[error("Shopify did not answer in time")]
    Timeout,
    /// Connection refused/reset, DNS failure... past the retry budget.
    #[error("could not reach Shopify")]
    Network(#[source] reqwest::Error),
    /// A body that is not the JSON we expect (HTML error pages, truncated answers, a
    /// redirect we refuse to follow, an unexpected status).
    #[error("Shopify sent an unexpected answer: {0}")]
    InvalidResponse(String),
    /// GraphQL `ACCESS_DENIED`: a field needs a scope the app was not granted.
    #[error("Shopify denied access to part of the query: {0}")]
    AccessDenied(String),
    /// GraphQL `MAX_COST_EXCEEDED`: the query is too expensive; a bug on our side.
    #[error("the query exceeds Shopify's single-query cost limit")]
    MaxCostExceeded,
    /// Any other GraphQL `errors` entry.
    #[error("Shopify GraphQL error: {0}")]
    GraphQl(String),
}

impl ShopifyError {
    /// Whether a later attempt of the same (read-only) request may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Timeout | Self::Network(_)
        )
    }
}
