//! A local stand-in for API Gateway: turns plain HTTP requests on 127.0.0.1 into API Gateway
//! v2 events and hands them to the same handlers Lambda runs.
//!
//! As strict as the deployed API: every route the template puts behind its JWT authorizer
//! needs `Authorization: Bearer <jwt>`, verified as that authorizer does (RS256 by a key of
//! the issuer's JWKS, `iss`, `aud`, `exp`), or it is answered `401 {"message":"Unauthorized"}`
//! before any function runs; the token's claims become the event's authorizer context. The
//! public routes ([`PUBLIC_ROUTES`]) get the request as it came. A method a path does not
//! declare is `405` with `Allow`. Tokens come from the dev issuer ([`crate::dev_issuer`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{to_bytes, Body as AxumBody};
use axum::extract::State;
use axum::http::{header, HeaderMap, Request as AxumRequest, StatusCode};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::Router;
use futures::future::BoxFuture;
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use shared::bearer::{BearerConfig, BearerError, JwtVerifier};
use shared::config::{AuthConfig, ConfigError};
use shared::knowledge::sync::SyncPorts;
use shared::Services;

use crate::events::HttpEvent;

/// A function handler as the gateway calls it.
pub type Handler = Arc<
    dyn Fn(Request) -> BoxFuture<'static, Result<Response<Body>, lambda_http::Error>> + Send + Sync,
>;

/// One `METHOD /path/{param}` route and the function behind it.
#[derive(Clone)]
pub struct Route {
    pub method: &'static str,
    pub route: &'static str,
    pub handler: Handler,
}

/// Wraps a function's `handle` as a gateway handler.
macro_rules! handler {
    ($services:expr, $function:path) => {{
        let services = $services.clone();
        let handler: Handler = Arc::new(move |req| {
            let services = services.clone();
            Box::pin(async move { $function(&services, req).await })
        });
        handler
    }};
}

/// The contract's dashboard routes, each wired to the function `template.yaml` wires it to.
pub fn dashboard_routes(services: Services) -> Vec<Route> {
    let route = |method, route, handler| Route {
        method,
        route,
        handler,
    };
    vec![
        route(
            "POST",
            "/shopify/stores",
            handler!(services, save_credentials::handle),
        ),
        route(
            "GET",
            "/shopify/stores",
            handler!(services, settings::handle),
        ),
        route(
            "GET",
            "/shopify/stores/{shop}",
            handler!(services, settings::handle),
        ),
        route(
            "DELETE",
            "/shopify/stores/{shop}",
            handler!(services, disconnect::handle),
        ),
        route(
            "GET",
            "/shopify/settings",
            handler!(services, settings::handle),
        ),
        route(
            "PUT",
            "/shopify/settings",
            handler!(services, settings::handle),
        ),
        sidebar_route(contact_metadata::State::new(services.clone())),
        route(
            "GET",
            "/shopify/knowledge",
            handler!(services, knowledge::handle),
        ),
        route(
            "POST",
            "/shopify/knowledge/sync",
            handler!(services, knowledge::handle),
        ),
        route(
            "GET",
            "/shopify/knowledge/documents",
            handler!(services, knowledge::handle),
        ),
    ]
}

/// `GET /shopify/contact-metadata` over `state`: one state per gateway, like one per warm
/// container, so its cache lives across calls.
pub fn sidebar_route(state: contact_metadata::State) -> Route {
    let state = Arc::new(state);
    let handler: Handler = Arc::new(move |req| {
        let state = state.clone();
        Box::pin(async move { contact_metadata::handle(&state, req).await })
    });
    Route {
        method: "GET",
        route: "/shopify/contact-metadata",
        handler,
    }
}

/// The contract's order-action routes (`actions-api`), over `ports`; approvers as the
/// template's default (`admin,owner,agent`).
pub fn action_routes(ports: shared::actions::ActionPorts) -> Vec<Route> {
    let state = Arc::new(actions_api::State {
        ports,
        auth: shared::config::AuthConfig::default(),
        approver_roles: actions_api::approver_roles(None),
    });
    let handler: Handler = Arc::new(move |req| {
        let state = state.clone();
        Box::pin(async move { actions_api::handle(&state, req).await })
    });
    [
        "/shopify/actions",
        "/shopify/actions/{id}/approve",
        "/shopify/actions/{id}/decline",
    ]
    .into_iter()
    .map(|route| Route {
        method: if route == "/shopify/actions" {
            "GET"
        } else {
            "POST"
        },
        route,
        handler: handler.clone(),
    })
    .collect()
}

fn matches(route: &str, path: &str) -> Option<HashMap<String, String>> {
    let route_parts: Vec<_> = route.trim_matches('/').split('/').collect();
    let path_parts: Vec<_> = path.trim_matches('/').split('/').collect();
    if route_parts.len() != path_parts.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (r, p) in route_parts.iter().zip(&path_parts) {
        if let Some(name) = r.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
            params.insert(name.to_owned(), percent_decode(p));
        } else if r != p {
            return None;
        }
    }
    Some(params)
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The routes with no JWT authorizer in the template: Shopify's webhooks, and the MCP route
/// with its protected-resource documents (the `mcp` function checks its own bearer tokens).
pub const PUBLIC_ROUTES: [&str; 4] = [
    WEBHOOKS_ROUTE,
    "/mcp",
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
];

/// The template's `DashboardJwt` authorizer: what API Gateway checks of a bearer token before
/// a function runs (RS256 only, by a key of the issuer's JWKS; `iss`, `aud`, `exp`, `nbf`).
#[derive(Clone)]
pub struct JwtAuthorizer {
    verifier: Arc<JwtVerifier>,
}

impl JwtAuthorizer {
    /// Checks tokens of `issuer` for `audience` against the JWKS at `jwks_url` (`https`, or
    /// `http` on loopback).
    pub fn new(issuer: &str, audience: &str, jwks_url: &str) -> Result<Self, ConfigError> {
        let config = BearerConfig {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            jwks_url: jwks_url.to_owned(),
            resource_url: issuer.to_owned(),
        };
        let verifier = JwtVerifier::new(&config, &AuthConfig::default())?;
        Ok(Self {
            verifier: Arc::new(verifier),
        })
    }

    /// Checks tokens of the dev issuer.
    pub fn of(issuer: &crate::dev_issuer::DevIssuer) -> Self {
        Self::new(&issuer.issuer, &issuer.audience, &issuer.jwks_url())
            .expect("the dev issuer serves its JWKS on loopback")
    }

    /// The claims of the request's token as API Gateway hands them on (every value a string),
    /// or the 401 it answers.
    async fn authorize(
        &self,
        headers: &HeaderMap,
    ) -> Result<HashMap<String, String>, AxumResponse> {
        // The identity source is the whole header: the token, with or without `Bearer `.
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
        else {
            return Err(unauthorized(None));
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .unwrap_or(value)
            .trim();
        let rsa = jsonwebtoken::decode_header(token)
            .is_ok_and(|h| h.alg == jsonwebtoken::Algorithm::RS256);
        if !rsa {
            return Err(unauthorized(Some("the token is not a JWT signed RS256")));
        }
        match self.verifier.verified_claims(token).await {
            Ok(claims) => Ok(claims
                .into_iter()
                .map(|(name, value)| (name, claim_string(value)))
                .collect()),
            Err(BearerError::Invalid(why)) => Err(unauthorized(Some(why))),
            Err(error) => Err(unauthorized(Some(&error.to_string()))),
        }
    }
}

/// A claim as API Gateway puts it in `requestContext.authorizer.jwt.claims`: strings as they
/// are, arrays as `[a b]`, anything else as its JSON text.
fn claim_string(value: Value) -> String {
    match value {
        Value::String(text) => text,
        Value::Array(items) => format!(
            "[{}]",
            items
                .into_iter()
                .map(claim_string)
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

/// API Gateway's refusal by the JWT authorizer: `401 {"message":"Unauthorized"}`, saying why in
/// `www-authenticate` when there was a token.
fn unauthorized(why: Option<&str>) -> AxumResponse {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        axum::Json(serde_json::json!({"message": "Unauthorized"})),
    )
        .into_response();
    if let Some(why) = why {
        let challenge = format!(
            "Bearer scope=\"\" error=\"invalid_token\" error_description=\"{}\"",
            why.replace('"', "'")
        );
        if let Ok(value) = challenge.parse() {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
    }
    response
}

/// Routes wired only so that their function answers them 405 (`GET` and `DELETE /mcp`, as
/// template.yaml wires them): no method the path takes, so never in another answer's `Allow`.
const METHOD_NOT_ALLOWED_ONLY: [(&str, &str); 2] = [("GET", "/mcp"), ("DELETE", "/mcp")];

/// What the gateway routes: the functions' routes and the authorizer in front of them.
struct Gateway {
    routes: Vec<Route>,
    authorizer: JwtAuthorizer,
}

async fn dispatch(
    State(gateway): State<Arc<Gateway>>,
    request: AxumRequest<AxumBody>,
) -> AxumResponse {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let method = parts.method.as_str().to_owned();
    let candidates: Vec<_> = gateway
        .routes
        .iter()
        .filter_map(|r| matches(r.route, &path).map(|params| (r, params)))
        .collect();
    if candidates.is_empty() {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"message": "Not Found"})),
        )
            .into_response();
    }
    let Some((route, params)) = candidates.iter().find(|(r, _)| r.method == method) else {
        let mut allowed: Vec<&str> = candidates
            .iter()
            .map(|(r, _)| r.method)
            .filter(|method| !METHOD_NOT_ALLOWED_ONLY.contains(&(*method, &path)))
            .collect();
        allowed.sort_unstable();
        allowed.dedup();
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, allowed.join(", "))],
            axum::Json(serde_json::json!({"message": "Method Not Allowed"})),
        )
            .into_response();
    };
    let claims = if PUBLIC_ROUTES.contains(&route.route) {
        None
    } else {
        match gateway.authorizer.authorize(&parts.headers).await {
            Ok(claims) => Some(claims),
            Err(refusal) => return refusal,
        }
    };
    // API Gateway itself refuses payloads over 10 MB; the functions enforce their own limit.
    let Ok(bytes) = to_bytes(body, 10 * 1024 * 1024).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let mut event = HttpEvent::new(&method, route.route);
    event.path = path.clone();
    event.path_parameters = params.clone();
    if let Some(query) = parts.uri.query() {
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            event = event.query(
                &percent_decode(&k.replace('+', " ")),
                &percent_decode(&v.replace('+', " ")),
            );
        }
    }
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            event
                .headers
                .insert(name.as_str().to_owned(), value.to_owned());
        }
    }
    if !bytes.is_empty() {
        event = event.raw_body(&String::from_utf8_lossy(&bytes));
    }
    event.claims = claims;
    let response = match (route.handler)(event.into_request()).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "handler returned a Lambda error");
            return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response();
        }
    };
    let (parts, body) = response.into_parts();
    let bytes: Vec<u8> = match body {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    AxumResponse::from_parts(parts, AxumBody::from(bytes))
}

/// `POST /invoke/lookup`: the body is the event the AI platform sends with `Invoke`.
async fn invoke_lookup(State(services): State<Services>, body: axum::body::Bytes) -> AxumResponse {
    let Ok(event) = serde_json::from_slice(&body) else {
        return not_json();
    };
    let deadline = shared::Deadline::after(services.budgets.lookup);
    axum::Json(lookup::answer(&services, event, deadline).await).into_response()
}

/// `POST /invoke/order-actions`: the body is the event the AI platform sends with `Invoke`
/// (or the settle schedule's `{"schedule": "order-actions-settle"}`).
async fn invoke_order_actions(
    State(ports): State<shared::actions::ActionPorts>,
    body: axum::body::Bytes,
) -> AxumResponse {
    let Ok(event) = serde_json::from_slice(&body) else {
        return not_json();
    };
    let deadline = order_actions::deadline(&ports, 0);
    axum::Json(order_actions::answer(&ports, event, deadline).await).into_response()
}

/// Lambda's refusal of an invocation payload that is not JSON (before the function runs).
fn not_json() -> AxumResponse {
    (
        StatusCode::BAD_REQUEST,
        "the invocation payload must be JSON",
    )
        .into_response()
}

/// A function's answer as Lambda's `Invoke` returns it: the value, or its `errorMessage`.
fn invocation_answer(result: Result<serde_json::Value, String>) -> AxumResponse {
    match result {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(serde_json::json!({"errorMessage": error})),
        )
            .into_response(),
    }
}

/// `POST /invoke/knowledge-sync`: the body is an event for `knowledge-sync` (the schedule's
/// `{"schedule": "knowledge-sync"}`, say), handled as one invocation of its timeout.
async fn invoke_knowledge_sync(
    State(ports): State<SyncPorts>,
    body: axum::body::Bytes,
) -> AxumResponse {
    let Ok(event) = serde_json::from_slice(&body) else {
        return not_json();
    };
    let deadline = shared::Deadline::after(crate::worker::INVOCATION);
    invocation_answer(knowledge_sync::handle(&ports, event, deadline).await)
}

/// The API description, served at `/openapi.yaml`.
pub const OPENAPI: &str = include_str!("../../openapi.yaml");

/// The renderer's files `/docs` loads (swagger-ui-dist, fetched from npm by `infra/lib.sh`).
const DOCS_ASSETS: [(&str, &str); 3] = [
    ("swagger-ui.css", "text/css; charset=utf-8"),
    ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    (
        "swagger-ui-standalone-preset.js",
        "text/javascript; charset=utf-8",
    ),
];

const DOCS_PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Shopify connector API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.yaml",
      dom_id: "#swagger-ui",
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout",
      deepLinking: true,
    });
  </script>
</body>
</html>
"##;

/// Where the renderer's files are: `API_DOCS_ASSETS`, or `.cache/swagger-ui-dist/package`.
fn docs_assets_dir() -> std::path::PathBuf {
    std::env::var_os("API_DOCS_ASSETS")
        .map(Into::into)
        .unwrap_or_else(|| ".cache/swagger-ui-dist/package".into())
}

async fn openapi() -> AxumResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/yaml")],
        OPENAPI,
    )
        .into_response()
}

async fn docs_page() -> AxumResponse {
    if !docs_assets_dir().join(DOCS_ASSETS[1].0).exists() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "The API reference's renderer is not here yet: ./infra/run fetches it (npm swagger-ui-dist). /openapi.yaml is served meanwhile.",
        )
            .into_response();
    }
    axum::response::Html(DOCS_PAGE).into_response()
}

async fn docs_asset(axum::extract::Path(file): axum::extract::Path<String>) -> AxumResponse {
    let Some((name, content_type)) = DOCS_ASSETS.iter().find(|(name, _)| *name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match tokio::fs::read(docs_assets_dir().join(name)).await {
        Ok(bytes) => ([(axum::http::header::CONTENT_TYPE, *content_type)], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The public webhook route (no JWT authorizer in the template).
pub const WEBHOOKS_ROUTE: &str = "/shopify/webhooks";

/// `POST /shopify/webhooks`, wired to `webhooks`.
pub fn webhook_route(ports: webhooks::WebhookPorts) -> Route {
    let handler: Handler = Arc::new(move |req| {
        let ports = ports.clone();
        Box::pin(async move { webhooks::handle(&ports, req).await })
    });
    Route {
        method: "POST",
        route: WEBHOOKS_ROUTE,
        handler,
    }
}

/// The MCP routes (public: the `mcp` function checks its own bearer tokens), over `state`:
/// `POST`, `GET` and `DELETE /mcp` and the two protected-resource documents, as the template
/// wires them.
pub fn mcp_routes(state: Arc<mcp::State>) -> Vec<Route> {
    let handler: Handler = Arc::new(move |req| {
        let state = state.clone();
        Box::pin(async move { mcp::handle(&state, req).await })
    });
    [
        ("POST", mcp::MCP_PATH),
        ("GET", mcp::MCP_PATH),
        ("DELETE", mcp::MCP_PATH),
        ("GET", mcp::METADATA_PATHS[0]),
        ("GET", mcp::METADATA_PATHS[1]),
    ]
    .into_iter()
    .map(|(method, route)| Route {
        method,
        route,
        handler: handler.clone(),
    })
    .collect()
}

/// `POST /invoke/health-check`: the body is an event for `health-check` (the schedule's
/// `{"schedule": "health-check"}`), handled as one invocation of its timeout.
async fn invoke_health_check(
    State(ports): State<shared::health::check::HealthPorts>,
    body: axum::body::Bytes,
) -> AxumResponse {
    let Ok(event) = serde_json::from_slice(&body) else {
        return not_json();
    };
    let deadline = shared::Deadline::after(crate::health::INVOCATION);
    invocation_answer(health_check::handle(&ports, event, deadline).await)
}

/// The gateway as an axum app: the dashboard routes (order actions' included) behind
/// `authorizer`, the public webhook route and the MCP routes (over `mcp`), plus `POST /invoke/lookup` and
/// `POST /invoke/order-actions` standing in for the AI platform's direct invocations,
/// `POST /invoke/knowledge-sync` and `POST /invoke/health-check` for invoking those functions
/// as their schedules do, and the API description at `/openapi.yaml` rendered at `/docs`.
pub fn app(
    services: Services,
    sync: SyncPorts,
    health: shared::health::check::HealthPorts,
    webhooks: webhooks::WebhookPorts,
    actions: shared::actions::ActionPorts,
    mcp: mcp::State,
    authorizer: JwtAuthorizer,
) -> Router {
    let invoke = Router::new()
        .route("/invoke/lookup", axum::routing::post(invoke_lookup))
        .with_state(services.clone());
    let invoke_actions = Router::new()
        .route(
            "/invoke/order-actions",
            axum::routing::post(invoke_order_actions),
        )
        .with_state(actions.clone());
    let invoke_sync = Router::new()
        .route(
            "/invoke/knowledge-sync",
            axum::routing::post(invoke_knowledge_sync),
        )
        .with_state(sync);
    let invoke_health = Router::new()
        .route(
            "/invoke/health-check",
            axum::routing::post(invoke_health_check),
        )
        .with_state(health);
    let mut routes = dashboard_routes(services.clone());
    // The sidebar shows the contact's pending approvals, as the deployed function does.
    let pending = shared::actions::PendingApprovals {
        actions: actions.actions.clone(),
        approval_ttl: actions.config.approval_ttl,
    };
    routes.retain(|r| r.route != "/shopify/contact-metadata");
    routes.push(sidebar_route(
        contact_metadata::State::new(services).with_pending(pending),
    ));
    routes.push(webhook_route(webhooks));
    routes.extend(action_routes(actions));
    routes.extend(mcp_routes(Arc::new(mcp)));
    let docs = Router::new()
        .route("/openapi.yaml", axum::routing::get(openapi))
        .route("/docs", axum::routing::get(docs_page))
        .route("/docs/{file}", axum::routing::get(docs_asset));
    routes_app(routes, authorizer)
        .merge(invoke)
        .merge(invoke_actions)
        .merge(invoke_sync)
        .merge(invoke_health)
        .merge(docs)
}

/// `routes` behind `authorizer`, as API Gateway serves them (no invoke or docs routes).
pub fn routes_app(routes: Vec<Route>, authorizer: JwtAuthorizer) -> Router {
    Router::new()
        .fallback(dispatch)
        .with_state(Arc::new(Gateway { routes, authorizer }))
}

/// Serves `app` on a free loopback port; its base URL. The server lives as long as the runtime.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the local gateway");
    let base = format!("http://{}", listener.local_addr().expect("a bound address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_literal_and_parameter_segments() {
        assert!(matches("/shopify/stores", "/shopify/stores")
            .unwrap()
            .is_empty());
        let params = matches("/shopify/stores/{shop}", "/shopify/stores/a.myshopify.com").unwrap();
        assert_eq!(params["shop"], "a.myshopify.com");
        assert!(matches("/shopify/stores/{shop}", "/shopify/stores").is_none());
        assert_eq!(percent_decode("a%40b.com"), "a@b.com");
    }
}
