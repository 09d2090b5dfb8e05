//! The API Gateway (HTTP API, payload v2) edges: who is calling, reading bodies, writing
//! responses. The organization comes only from the authorizer's JWT claims.

use std::future::Future;

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use crate::config::AuthConfig;
use crate::deadline::Deadline;
use crate::domain::{OrganizationId, ShopDomain};
use crate::error::ApiError;

/// Request bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Serves an HTTP API function: [`lambda_http::run`] with each response handed to API Gateway
/// as the handler built it.
///
/// `lambda_http` otherwise treats a `Response<Body>` as any HTTP body: it collects it again and
/// re-decodes text by its `Content-Type` charset, which links `encoding_rs`'s tables of every
/// legacy encoding (about 0.15 MiB) into each function for bodies that are UTF-8 `Body::Text`
/// from the start. Here `Body::Text` goes out as text, `Body::Binary` base64-encoded,
/// `Body::Empty` as no body: what API Gateway expects of each.
pub async fn run<'a, H, F, E>(mut handler: H) -> Result<(), lambda_http::Error>
where
    H: FnMut(Request) -> F,
    F: Future<Output = Result<Response<Body>, E>> + Send + 'a,
    E: std::fmt::Debug + Into<lambda_http::lambda_runtime::Diagnostic>,
{
    lambda_http::run(lambda_http::service_fn(move |req| {
        let answer = handler(req);
        async move { answer.await.map(AsBuilt) }
    }))
    .await
}

/// A response API Gateway gets as it is (see [`run`]).
#[derive(Debug)]
pub struct AsBuilt(pub Response<Body>);

impl lambda_http::IntoResponse for AsBuilt {
    fn into_response(self) -> std::pin::Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
        Box::pin(std::future::ready(self.0))
    }
}

/// Time kept to answer after the work: the dashboard functions' budget is the invocation's
/// deadline minus this.
pub const ANSWER_MARGIN: std::time::Duration = std::time::Duration::from_secs(1);

/// The time budget of a dashboard request: its invocation's deadline minus [`ANSWER_MARGIN`]
/// (28 s from now when the request carries no Lambda context, as locally).
pub fn deadline(req: &Request) -> Deadline {
    let deadline_ms = req
        .lambda_context_ref()
        .map_or(0, |context| context.deadline);
    Deadline::from_epoch_millis(deadline_ms).minus(ANSWER_MARGIN)
}

/// The authenticated caller of a dashboard route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub org: OrganizationId,
    pub is_admin: bool,
}

impl Caller {
    /// Reads the org and role claims named by `auth`; every other claim is ignored.
    pub fn from_request(req: &Request, auth: &AuthConfig) -> Result<Self, ApiError> {
        let claims = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx
                .authorizer
                .as_ref()
                .and_then(|a| a.jwt.as_ref())
                .map(|jwt| &jwt.claims),
            _ => None,
        }
        .ok_or_else(ApiError::unauthorized)?;
        let org = claims
            .get(&auth.org_claim)
            .and_then(|raw| OrganizationId::parse(raw).ok())
            .ok_or_else(ApiError::unauthorized)?;
        let is_admin = claims
            .get(&auth.role_claim)
            .is_some_and(|role| auth.admin_roles.contains(role.trim()));
        Ok(Self { org, is_admin })
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

/// The route API Gateway matched, e.g. `GET /shopify/stores/{shop}`.
pub fn route_key(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// The `{shop}` path parameter as a shop domain. A path that does not name a shop is a
/// malformed request — `400 invalid_request`, as the contract says for an unknown `{shop}`
/// format — not a domain a merchant typed (`invalid_shop_domain`, for bodies).
pub fn shop_param(req: &Request) -> Result<ShopDomain, ApiError> {
    let raw = req
        .path_parameters_ref()
        .and_then(|params| params.first("shop"))
        .unwrap_or_default();
    ShopDomain::parse(raw).map_err(|e| {
        ApiError::invalid_request(format!(
            "The path must name a store as /shopify/stores/{{shop}}: {e}"
        ))
    })
}

/// A query string flag such as `?verify=true`.
pub fn query_flag(req: &Request, name: &str) -> bool {
    req.query_string_parameters_ref()
        .and_then(|params| params.first(name))
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// The API Gateway request id, for log lines.
pub fn request_id(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// Decodes a JSON body of at most [`MAX_BODY_BYTES`].
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large());
    }
    // Every body of this API is an object; serde would also read a struct from an array.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::invalid_request(
            "The request body must be a JSON object.",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        // serde's message names the field and the expected type but never echoes values.
        let what = match e.classify() {
            serde_json::error::Category::Data => {
                format!("The request body has a wrong or missing field: {e}.")
            }
            _ => "The request body is not valid JSON.".to_owned(),
        };
        ApiError::invalid_request(what)
    })
}

/// A JSON response.
pub fn json_response<T: Serialize + ?Sized>(status: u16, value: &T) -> Response<Body> {
    let body = serde_json::to_string(value).expect("response types always serialize");
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::Text(body))
        .expect("a static status and header always build")
}

/// A `204 No Content` response.
pub fn no_content() -> Response<Body> {
    Response::builder()
        .status(204)
        .body(Body::Empty)
        .expect("a static status always builds")
}

/// The contract's error envelope.
pub fn error_response(error: &ApiError) -> Response<Body> {
    Response::builder()
        .status(error.status())
        .header(CONTENT_TYPE, "application/json")
        .body(Body::Text(error.body()))
        .expect("a valid status and header always build")
}

/// Every dashboard and webhook function's answer: runs the request's `operation` inside its
/// `span` and answers with the response it made or, when it failed, the contract's error
/// envelope. Never an `Err`: API Gateway only ever sees a response.
pub async fn respond<F>(
    span: tracing::Span,
    operation: F,
) -> Result<Response<Body>, lambda_http::Error>
where
    F: Future<Output = Result<Response<Body>, ApiError>>,
{
    let response = async {
        match operation.await {
            Ok(response) => response,
            Err(error) => error_response(&error),
        }
    }
    .instrument(span)
    .await;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `lambda_http` hands the Runtime API for `response`, answered to an HTTP API event.
    async fn to_api_gateway(response: Response<Body>) -> serde_json::Value {
        use lambda_http::tower::Service;
        let event = serde_json::json!({
            "version": "2.0", "routeKey": "GET /x", "rawPath": "/x", "rawQueryString": "",
            "headers": {}, "isBase64Encoded": false,
            "requestContext": {
                "accountId": "1", "apiId": "a", "domainName": "d", "domainPrefix": "d",
                "http": {"method": "GET", "path": "/x", "protocol": "HTTP/1.1",
                         "sourceIp": "192.0.2.1", "userAgent": "test"},
                "requestId": "r", "routeKey": "GET /x", "stage": "$default",
                "time": "05/Dec/2026:00:00:00 +0000", "timeEpoch": 0
            }
        });
        let event = lambda_http::LambdaEvent::new(
            serde_json::from_value(event).unwrap(),
            lambda_http::Context::default(),
        );
        let response = std::sync::Mutex::new(Some(response));
        let handler = lambda_http::service_fn(|_req: Request| {
            let response = response.lock().unwrap().take().unwrap();
            async move { Ok::<_, lambda_http::Error>(AsBuilt(response)) }
        });
        let mut adapter = lambda_http::Adapter::from(handler);
        let answer = adapter.call(event).await.unwrap();
        serde_json::to_value(answer).unwrap()
    }

    #[tokio::test]
    async fn responses_reach_api_gateway_as_built() {
        // Text is sent as it is, whatever charset its type names (lambda_http's conversion
        // would re-decode it: "héllo" as ISO-8859-1 is "hÃ©llo").
        let text = Response::builder()
            .status(200)
            .header(CONTENT_TYPE, "text/plain; charset=iso-8859-1")
            .body(Body::Text("héllo".into()))
            .unwrap();
        let sent = to_api_gateway(text).await;
        assert_eq!(sent["statusCode"], 200);
        assert_eq!(sent["body"], "héllo");
        assert_eq!(sent["isBase64Encoded"], false);
        assert_eq!(
            sent["headers"]["content-type"],
            "text/plain; charset=iso-8859-1"
        );

        let binary = Response::builder()
            .status(200)
            .header(CONTENT_TYPE, "application/json")
            .body(Body::Binary(b"{}".to_vec()))
            .unwrap();
        let sent = to_api_gateway(binary).await;
        assert_eq!(sent["body"], "e30=");
        assert_eq!(sent["isBase64Encoded"], true);

        let sent = to_api_gateway(no_content()).await;
        assert_eq!(sent["statusCode"], 204);
        assert!(sent["body"].is_null(), "{sent}");
    }

    #[tokio::test]
    async fn an_operation_answers_with_its_response_or_its_error_envelope() {
        let done = respond(tracing::Span::none(), async { Ok(no_content()) })
            .await
            .unwrap();
        assert_eq!(done.status(), 204);

        let refused = respond(tracing::Span::none(), async {
            Err(ApiError::store_not_found())
        })
        .await
        .unwrap();
        assert_eq!(refused.status(), ApiError::store_not_found().status());
        assert_eq!(
            refused.body(),
            &Body::Text(ApiError::store_not_found().body())
        );
    }

    fn event(claims: serde_json::Value, body: Option<&str>) -> Request {
        let event = serde_json::json!({
            "version": "2.0",
            "routeKey": "POST /shopify/stores",
            "rawPath": "/shopify/stores",
            "rawQueryString": "",
            "headers": {"content-type": "application/json"},
            "requestContext": {
                "accountId": "123456789012", "apiId": "api", "domainName": "x", "domainPrefix": "x",
                "http": {"method": "POST", "path": "/shopify/stores", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
                "requestId": "rid-1", "routeKey": "POST /shopify/stores", "stage": "$default",
                "time": "25/Nov/2026:20:00:00 +0000", "timeEpoch": 0,
                "authorizer": {"jwt": {"claims": claims, "scopes": null}}
            },
            "body": body, "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    #[test]
    fn the_org_and_role_come_from_the_configured_claims() {
        let auth = AuthConfig::default();
        let caller = Caller::from_request(
            &event(
                serde_json::json!({"org_id": "org_1", "role": "owner"}),
                None,
            ),
            &auth,
        )
        .unwrap();
        assert_eq!(caller.org.as_str(), "org_1");
        assert!(caller.is_admin);
        let member = Caller::from_request(
            &event(
                serde_json::json!({"org_id": "org_1", "role": "agent"}),
                None,
            ),
            &auth,
        )
        .unwrap();
        assert_eq!(
            member.require_admin().unwrap_err().code,
            crate::failure::Code::Forbidden
        );
    }

    #[test]
    fn a_missing_or_malformed_org_claim_is_unauthorized() {
        let auth = AuthConfig::default();
        for claims in [
            serde_json::json!({}),
            serde_json::json!({"org_id": "a/b"}),
            serde_json::json!({"org": "x", "role": "admin"}),
        ] {
            let err = Caller::from_request(&event(claims, None), &auth).unwrap_err();
            assert_eq!((err.status(), err.code.as_str()), (401, "unauthorized"));
        }
    }

    #[test]
    fn bodies_over_64_kib_are_refused() {
        let big = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_BODY_BYTES));
        let err =
            json_body::<serde_json::Value>(&event(serde_json::json!({"org_id": "o"}), Some(&big)))
                .unwrap_err();
        assert_eq!(
            (err.status(), err.code.as_str()),
            (413, "payload_too_large")
        );
    }
}
