//! The HTTP edge of the failure vocabulary ([`crate::failure`]): a failure as a dashboard caller
//! sees it, and the conversions from every module error.

use serde::Serialize;
use serde_json::Value;

use crate::domain::{InvalidCredentialsFormat, InvalidShopDomain};
use crate::failure::Code;
use crate::health::delivery::DeliveryError;
use crate::lifecycle::{ConnectError, LifecycleError, VerifyError};
use crate::secrets::SecretsError;
use crate::shopify::ShopifyError;
use crate::store::StoreError;

/// `{"error": {"code", "message", "details"}}` with its HTTP status.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    pub details: Option<Value>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: Code,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Value>,
}

impl ApiError {
    /// `code` with its standard merchant message.
    pub fn of(code: Code) -> Self {
        Self::new(code, code.merchant_message())
    }

    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn status(&self) -> u16 {
        self.code.http_status()
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidRequest, message)
    }

    pub fn unauthorized() -> Self {
        Self::of(Code::Unauthorized)
    }

    pub fn forbidden() -> Self {
        Self::of(Code::Forbidden)
    }

    pub fn store_not_found() -> Self {
        Self::of(Code::StoreNotFound)
    }

    pub fn payload_too_large() -> Self {
        Self::of(Code::PayloadTooLarge)
    }

    pub fn missing_scopes(missing: &[String]) -> Self {
        Self::new(
            Code::MissingScopes,
            format!(
                "The app is missing the {} access scope(s). Add them in the app's configuration, reinstall or release the app on the store, and connect again.",
                missing.join(", ")
            ),
        )
        .with_details(serde_json::json!({ "missing": missing }))
    }

    pub fn internal() -> Self {
        Self::of(Code::Internal)
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
/// carries only the contract's code and message, the log keeps the detail (which never holds
/// Shopify's answer texts or credentials).
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
    if api.status() >= 500 {
        tracing::error!(code = %api.code, error = %chain, "request failed");
    } else {
        tracing::info!(code = %api.code, error = %chain, "request refused");
    }
    api
}

impl From<InvalidShopDomain> for ApiError {
    fn from(e: InvalidShopDomain) -> Self {
        Self::new(Code::InvalidShopDomain, e.to_string())
    }
}

impl From<InvalidCredentialsFormat> for ApiError {
    fn from(e: InvalidCredentialsFormat) -> Self {
        Self::invalid_request(e.to_string())
    }
}

impl From<ShopifyError> for ApiError {
    fn from(e: ShopifyError) -> Self {
        let error = match e {
            ShopifyError::Forbidden | ShopifyError::AccessDenied { .. } => Self::new(
                Code::InvalidCredentials,
                "Shopify refused access for this app. Check that the app is installed on this store and has the read_orders, read_products and read_customers scopes.",
            ),
            ref other => Self::of(other.code()),
        };
        match e {
            ShopifyError::RateLimited {
                retry_after: Some(wait),
            } => error.with_details(serde_json::json!({
                "retry_after_seconds": wait.as_secs_f64().ceil() as u64
            })),
            _ => error,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => Self::of(Code::StorageUnavailable),
            StoreError::Conflict => Self::new(
                Code::StorageUnavailable,
                "The store was being changed by another request at the same time. Please try again.",
            ),
            StoreError::Corrupt(_) => Self::internal(),
        }
    }
}

impl From<SecretsError> for ApiError {
    fn from(_: SecretsError) -> Self {
        Self::of(Code::StorageUnavailable)
    }
}

impl From<LifecycleError> for ApiError {
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::Store(error) => error.into(),
            LifecycleError::Secrets(error) => error.into(),
            LifecycleError::DisconnectedMeanwhile => Self::new(
                Code::StoreNotFound,
                "This store was disconnected while its new credentials were being saved, so nothing was saved. Connect it again to use it.",
            ),
            LifecycleError::BeingDisconnected => Self::new(
                Code::StorageUnavailable,
                "This store is being disconnected right now. Try again in a minute.",
            ),
            other => Self::of(other.code()),
        }
    }
}

impl From<ConnectError> for ApiError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Shopify(error) => error.into(),
            ConnectError::MissingScopes(missing) => Self::missing_scopes(&missing),
            ConnectError::Lifecycle(error) => error.into(),
        }
    }
}

impl From<crate::knowledge::KnowledgeError> for ApiError {
    fn from(e: crate::knowledge::KnowledgeError) -> Self {
        Self::of(e.code())
    }
}

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Shopify(error) => error.into(),
            VerifyError::Lifecycle(error) => error.into(),
        }
    }
}

/// A webhook delivery's failure as Shopify sees it (a retry follows a 5xx); storage and
/// lifecycle failures are logged with their cause here, the others were logged where they
/// happened.
impl From<DeliveryError> for ApiError {
    fn from(e: DeliveryError) -> Self {
        match e {
            DeliveryError::NotSigned => Self::new(
                Code::Unauthorized,
                "The webhook is not signed by the app of a store connected to this organization.",
            ),
            DeliveryError::TokenKey(_) | DeliveryError::Queue(_) => {
                Self::of(Code::StorageUnavailable)
            }
            DeliveryError::InvalidWebhookId => Self::invalid_request(
                "X-Shopify-Webhook-Id is missing or not an id (1-128 letters, digits, - and _).",
            ),
            DeliveryError::InProgress => Self::new(
                Code::StorageUnavailable,
                "This delivery is being handled; Shopify will retry it.",
            ),
            DeliveryError::Unconfirmed(_) => Self::of(Code::ShopifyUnavailable),
            DeliveryError::Store(error) => logged(error),
            DeliveryError::Lifecycle(error) => logged(error),
            DeliveryError::Verify(error) => logged(error),
        }
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
    fn shopify_failures_map_to_the_contract_statuses() {
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
            assert_eq!((api.status(), api.code.as_str()), (status, code));
        }
    }

    #[test]
    fn an_invalid_shop_domain_is_always_422() {
        let api = ApiError::from(InvalidShopDomain::CustomDomain);
        assert_eq!((api.status(), api.code), (422, Code::InvalidShopDomain));
    }
}
