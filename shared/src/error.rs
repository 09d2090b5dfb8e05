//! The one place where failures become the contract's HTTP status, error code and message.

use serde::Serialize;
use serde_json::Value;

use crate::domain::{InvalidCredentialsFormat, InvalidShopDomain};
use crate::secrets::SecretsError;
use crate::shopify::ShopifyError;
use crate::store::StoreError;

/// A failure as a dashboard caller sees it: `{"error": {"code", "message", "details"}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Value>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            401,
            "unauthorized",
            "Sign in again: the request did not say which organization it is for.",
        )
    }

    pub fn forbidden() -> Self {
        Self::new(
            403,
            "forbidden",
            "Only an organization admin can do this. Ask an admin of your organization.",
        )
    }

    pub fn store_not_found() -> Self {
        Self::new(
            404,
            "store_not_found",
            "This Shopify store is not connected to your organization.",
        )
    }

    pub fn payload_too_large() -> Self {
        Self::new(
            413,
            "payload_too_large",
            "The request body is larger than 64 KiB.",
        )
    }

    pub fn missing_scopes(missing: &[String]) -> Self {
        Self::new(
            422,
            "missing_scopes",
            format!(
                "The app is missing the {} access scope(s). Add them in the app's configuration, reinstall or release the app on the store, and connect again.",
                missing.join(", ")
            ),
        )
        .with_details(serde_json::json!({ "missing": missing }))
    }

    pub fn internal() -> Self {
        Self::new(500, "internal", "Something went wrong on our side. Please try again; if it keeps happening, contact support.")
    }

    /// The JSON body of the response.
    pub fn body(&self) -> String {
        serde_json::to_string(&Envelope {
            error: Body {
                code: self.code,
                message: &self.message,
                details: self.details.as_ref(),
            },
        })
        .expect("an error envelope always serializes")
    }
}

/// Converts a module error for the caller, logging its full cause chain first: the response
/// carries only the contract's code and message, the log keeps the detail.
pub fn logged<E>(error: E) -> ApiError
where
    E: std::error::Error + Into<ApiError>,
{
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    let api: ApiError = error.into();
    if api.status >= 500 {
        tracing::error!(code = api.code, error = %chain, "request failed");
    } else {
        tracing::info!(code = api.code, error = %chain, "request refused");
    }
    api
}

impl From<InvalidShopDomain> for ApiError {
    fn from(e: InvalidShopDomain) -> Self {
        Self::new(422, "invalid_shop_domain", e.to_string())
    }
}

impl From<InvalidCredentialsFormat> for ApiError {
    fn from(e: InvalidCredentialsFormat) -> Self {
        Self::invalid_request(e.to_string())
    }
}

impl From<ShopifyError> for ApiError {
    fn from(e: ShopifyError) -> Self {
        match e {
            ShopifyError::Unauthorized => Self::new(
                422,
                "invalid_credentials",
                "Shopify rejected these credentials. Copy the Admin API access token (or the client ID and secret) again from the app and make sure the app is installed on this store.",
            ),
            ShopifyError::Forbidden | ShopifyError::AccessDenied(_) => Self::new(
                422,
                "invalid_credentials",
                "Shopify refused access for this app. Check that the app is installed on this store and has the read_orders, read_products and read_customers scopes.",
            ),
            ShopifyError::ShopNotFound => Self::new(
                422,
                "shop_not_found",
                "Shopify has no store at this domain. Check the .myshopify.com domain in your Shopify admin (Settings → Domains).",
            ),
            ShopifyError::PaymentRequired | ShopifyError::Locked => Self::new(
                422,
                "shop_unavailable",
                "Shopify says this store is frozen or locked (for example an unpaid bill). Resolve it in the Shopify admin, then try again.",
            ),
            ShopifyError::RateLimited { retry_after } => {
                let error = Self::new(
                    429,
                    "shopify_rate_limited",
                    "Shopify is rate-limiting requests for this store. Wait a moment and try again.",
                );
                match retry_after {
                    Some(wait) => error.with_details(serde_json::json!({ "retry_after_seconds": wait.as_secs_f64().ceil() as u64 })),
                    None => error,
                }
            }
            ShopifyError::Server { .. }
            | ShopifyError::Timeout
            | ShopifyError::Network(_)
            | ShopifyError::InvalidResponse(_) => Self::new(
                502,
                "shopify_unavailable",
                "Shopify is not answering properly right now. Try again in a few minutes.",
            ),
            ShopifyError::MaxCostExceeded | ShopifyError::GraphQl(_) => Self::internal(),
        }
    }
}

fn storage_unavailable() -> ApiError {
    ApiError::new(503, "storage_unavailable", "Our storage is temporarily unavailable. Nothing was changed; please try again in a moment.")
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => storage_unavailable(),
            StoreError::Conflict => Self::new(
                503,
                "storage_unavailable",
                "The store was being changed by another request at the same time. Please try again.",
            ),
            StoreError::Corrupt(_) => Self::internal(),
        }
    }
}

impl From<SecretsError> for ApiError {
    fn from(_: SecretsError) -> Self {
        storage_unavailable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_follow_the_contract_envelope() {
        let body: Value =
            serde_json::from_str(&ApiError::missing_scopes(&["read_orders".into()]).body())
                .unwrap();
        assert_eq!(body["error"]["code"], "missing_scopes");
        assert_eq!(body["error"]["details"]["missing"][0], "read_orders");
        let body: Value = serde_json::from_str(&ApiError::unauthorized().body()).unwrap();
        assert!(body["error"].get("details").is_none());
    }

    #[test]
    fn shopify_failures_map_to_the_contract_codes() {
        let cases = [
            (ShopifyError::Unauthorized, 422, "invalid_credentials"),
            (ShopifyError::ShopNotFound, 422, "shop_not_found"),
            (ShopifyError::PaymentRequired, 422, "shop_unavailable"),
            (ShopifyError::Locked, 422, "shop_unavailable"),
            (
                ShopifyError::RateLimited { retry_after: None },
                429,
                "shopify_rate_limited",
            ),
            (
                ShopifyError::Server { status: 503 },
                502,
                "shopify_unavailable",
            ),
            (ShopifyError::Timeout, 502, "shopify_unavailable"),
            (ShopifyError::MaxCostExceeded, 500, "internal"),
        ];
        for (error, status, code) in cases {
            let api = ApiError::from(error);
            assert_eq!((api.status, api.code), (status, code));
        }
    }
}
