//! `POST /shopify/webhooks?org_id=...&token=...` — Shopify's webhooks for stores connected with
//! client credentials. No JWT. The request's query parameters, headers and raw body go to
//! [`shared::health::delivery::receive`], which runs the protocol (callback token, signature,
//! deduplication, the topic's effect); this function answers 200 with what was done, or the
//! error. Anything that does not verify answers the same 401. Everything fits in [`BUDGET`],
//! inside Shopify's 5-second timeout.

use std::time::Duration;

use lambda_http::{Body, Error, Request, RequestExt, Response};
use shared::health::delivery::{self, Incoming};
use shared::http;
use shared::ApiError;

pub use shared::health::delivery::WebhookPorts;

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

/// Handles one delivery; always answers.
pub async fn handle(ports: &WebhookPorts, req: Request) -> Result<Response<Body>, Error> {
    let span = tracing::info_span!("webhook", request_id = %http::request_id(&req));
    http::respond(span, async {
        let answer = receive(ports, &req).await?;
        Ok(http::json_response(
            200,
            &serde_json::json!({ "ok": true, "handled": answer }),
        ))
    })
    .await
}

/// What the endpoint may spend on a delivery: Shopify gives up after 5 seconds.
pub const BUDGET: Duration = Duration::from_millis(4_500);

async fn receive(ports: &WebhookPorts, req: &Request) -> Result<&'static str, ApiError> {
    let body = body_bytes(req);
    if body.len() > http::MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large());
    }
    let deadline = http::deadline(req).within(BUDGET);
    let query = req.query_string_parameters_ref();
    let param = |name| query.and_then(|q| q.first(name));
    let incoming = Incoming {
        org_id: param("org_id"),
        token: param("token"),
        shop_domain: header(req, "x-shopify-shop-domain"),
        signature: header(req, "x-shopify-hmac-sha256"),
        topic: header(req, "x-shopify-topic"),
        webhook_id: header(req, "x-shopify-webhook-id"),
        triggered_at: header(req, "x-shopify-triggered-at"),
        body,
    };
    Ok(delivery::receive(ports, &deadline, incoming).await?)
}
