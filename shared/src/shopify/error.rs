//! Everything that can go wrong talking to Shopify, as the caller needs to tell it apart, and
//! the one place where it is sorted into the contract's codes ([`ShopifyError::code`]).
//!
//! No variant carries text from Shopify's answers (error messages and bodies may hold customer
//! data): only statuses, GraphQL error codes and the paths of our own query.

use std::time::Duration;

use crate::deadline::TimedOut;
use crate::failure::Code;

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
    /// An attempt ran out of time, or no time was left for another one.
    #[error("Shopify did not answer in time")]
    Timeout,
    /// A write was not sent: no time was left for an attempt (and any earlier attempt was
    /// throttled, so not run). Unlike [`Self::Timeout`], Shopify surely did not run it.
    #[error("no time was left to send the request to Shopify")]
    NotSent,
    /// Connection refused/reset, DNS failure... past the retry budget.
    #[error("could not reach Shopify")]
    Network(#[source] reqwest::Error),
    /// A body that is not the JSON we expect (HTML error pages, truncated answers, a
    /// redirect we refuse to follow, an unexpected status). The text is ours, never Shopify's.
    #[error("Shopify sent an unexpected answer: {0}")]
    InvalidResponse(String),
    /// GraphQL `ACCESS_DENIED`: fields of our query need a scope (or protected customer data
    /// access) the app was not granted. `fields` are the paths Shopify named, from our query.
    #[error("Shopify denied access to {}", if fields.is_empty() { "part of the query".to_owned() } else { fields.join(", ") })]
    AccessDenied { fields: Vec<String> },
    /// GraphQL `MAX_COST_EXCEEDED`: the query is too expensive; a bug on our side.
    #[error("the query exceeds Shopify's single-query cost limit")]
    MaxCostExceeded,
    /// Any other GraphQL `errors` entry, by its `extensions.code`s.
    #[error("Shopify answered with GraphQL errors {codes:?}")]
    GraphQl { codes: Vec<String> },
}

impl From<TimedOut> for ShopifyError {
    fn from(_: TimedOut) -> Self {
        Self::Timeout
    }
}

impl ShopifyError {
    /// Whether a later attempt of the same (read-only) request may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Timeout | Self::Network(_)
        )
    }

    /// The contract code for this failure — the one classification every function uses.
    pub fn code(&self) -> Code {
        match self {
            Self::Unauthorized | Self::Forbidden | Self::AccessDenied { .. } => {
                Code::InvalidCredentials
            }
            Self::ShopNotFound => Code::ShopNotFound,
            Self::PaymentRequired | Self::Locked => Code::ShopUnavailable,
            Self::RateLimited { .. } => Code::ShopifyRateLimited,
            Self::Server { .. }
            | Self::Timeout
            | Self::NotSent
            | Self::Network(_)
            | Self::InvalidResponse(_) => Code::ShopifyUnavailable,
            Self::MaxCostExceeded | Self::GraphQl { .. } => Code::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shopify_failures_sort_into_the_contract_codes() {
        let cases = [
            (ShopifyError::Unauthorized, Code::InvalidCredentials),
            (ShopifyError::Forbidden, Code::InvalidCredentials),
            (
                ShopifyError::AccessDenied { fields: vec![] },
                Code::InvalidCredentials,
            ),
            (ShopifyError::ShopNotFound, Code::ShopNotFound),
            (ShopifyError::PaymentRequired, Code::ShopUnavailable),
            (ShopifyError::Locked, Code::ShopUnavailable),
            (
                ShopifyError::RateLimited { retry_after: None },
                Code::ShopifyRateLimited,
            ),
            (
                ShopifyError::Server { status: 503 },
                Code::ShopifyUnavailable,
            ),
            (ShopifyError::Timeout, Code::ShopifyUnavailable),
            (
                ShopifyError::InvalidResponse("x".into()),
                Code::ShopifyUnavailable,
            ),
            (ShopifyError::MaxCostExceeded, Code::Internal),
            (ShopifyError::GraphQl { codes: vec![] }, Code::Internal),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code, "{error}");
        }
    }
}
