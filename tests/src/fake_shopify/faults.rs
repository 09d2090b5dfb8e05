//! Scripted misbehaviour, served instead of a shop's next answer, and Shopify's error bodies.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tokio::sync::Notify;

/// A scripted misbehaviour, served instead of the next answer for a shop.
#[derive(Clone, Debug)]
pub enum Fault {
    /// An HTTP status with Shopify's usual body for it, and an optional `Retry-After`.
    Status {
        status: u16,
        retry_after: Option<String>,
    },
    /// GraphQL `THROTTLED` with the given bucket state.
    Throttled {
        requested: f64,
        available: f64,
        restore_rate: f64,
    },
    /// A 200 whose body is an HTML page.
    NotJson,
    /// A 200 with a GraphQL error of this `extensions.code`, and a message holding customer
    /// data (as Shopify's messages may).
    GraphQlError(&'static str),
    /// Waits this long before answering normally.
    Delay(Duration),
    /// Waits until the test releases it (`Notify::notify_one`), then answers normally.
    Gate(Arc<Notify>),
    /// Accepts the request and never answers.
    Hang,
}

impl Fault {
    pub fn status(status: u16) -> Self {
        Self::Status {
            status,
            retry_after: None,
        }
    }

    /// A gate and the handle that opens it.
    pub fn gate() -> (Self, Arc<Notify>) {
        let notify = Arc::new(Notify::new());
        (Self::Gate(notify.clone()), notify)
    }
}

/// Shopify's answer for an error status.
pub fn shopify_error(status: u16, retry_after: Option<&str>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match status {
        401 => {
            json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
        }
        402 => json!({"errors": "Unavailable Shop"}),
        403 => json!({"errors": "User does not have access"}),
        404 => json!({"errors": "Not Found"}),
        423 => json!({"errors": "Locked"}),
        429 => {
            json!({"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."})
        }
        _ => json!({"errors": "Internal Server Error"}),
    };
    let mut response = (code, Json(body)).into_response();
    if let Some(wait) = retry_after {
        response
            .headers_mut()
            .insert("Retry-After", wait.parse().unwrap());
    }
    response
}

/// `extensions.cost` of an answer.
pub fn cost_extension(
    requested: f64,
    actual: Option<f64>,
    available: f64,
    capacity: f64,
    restore_rate: f64,
) -> Value {
    json!({"cost": {
        "requestedQueryCost": requested,
        "actualQueryCost": actual,
        "throttleStatus": {"maximumAvailable": capacity, "currentlyAvailable": available, "restoreRate": restore_rate}
    }})
}

/// Shopify's `THROTTLED` answer: HTTP 200, no data, the bucket state.
pub fn throttled(requested: f64, available: f64, capacity: f64, restore_rate: f64) -> Response {
    Json(json!({
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
        "extensions": cost_extension(requested, None, available, capacity, restore_rate),
    }))
    .into_response()
}

/// Serves `fault`; `None` when the request should then be answered normally.
pub async fn serve(fault: Fault) -> Option<Response> {
    Some(match fault {
        Fault::Status {
            status,
            retry_after,
        } => shopify_error(status, retry_after.as_deref()),
        Fault::Throttled {
            requested,
            available,
            restore_rate,
        } => throttled(requested, available, 2000.0, restore_rate),
        Fault::NotJson => (
            StatusCode::OK,
            [("content-type", "text/html")],
            "<html><body>Shopify is down for maintenance</body></html>",
        )
            .into_response(),
        Fault::GraphQlError(code) => Json(json!({
            "errors": [{"message": format!("{code} for customer jane.doe.leak@example.com"), "extensions": {"code": code}, "path": ["orders", "nodes", 0, "email"]}],
            "extensions": cost_extension(1.0, Some(1.0), 1999.0, 2000.0, 100.0),
        }))
        .into_response(),
        Fault::Delay(duration) => {
            tokio::time::sleep(duration).await;
            return None;
        }
        Fault::Gate(notify) => {
            notify.notified().await;
            return None;
        }
        Fault::Hang => std::future::pending().await,
    })
}
