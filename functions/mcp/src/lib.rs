//! The `mcp` function: the AI's tools for any AI agent, over MCP's Streamable HTTP transport,
//! stateless (no session store; one JSON answer per `POST /mcp`), for protocol revisions
//! 2025-11-25 and 2026-07-28. rmcp serves the protocol ([`server`]); this file is the HTTP
//! edge around it, which answers on its own, in this order:
//!
//! 1. the route: `GET /.well-known/oauth-protected-resource` and
//!    `GET /.well-known/oauth-protected-resource/mcp` serve the RFC 9728 document, publicly;
//!    a method other than `POST` on `/mcp` is 405 with `Allow: POST`; any other path is 404;
//! 2. `Origin` on `/mcp`: absent passes; present must be one of `MCP_ALLOWED_ORIGINS`
//!    ([`AllowedOrigins`]), else 403;
//! 3. a body over 64 KiB is 413, unread;
//! 4. the bearer token ([`BearerVerifier`]): missing or refused is 401 with
//!    `WWW-Authenticate: Bearer resource_metadata="..."` (503 with `Retry-After` when the
//!    identity provider's keys cannot be read: ours to fix, not the caller's token); the
//!    organization, the shopper and the actor come only from its claims;
//! 5. the JSON-RPC envelope ([`envelope`]): `-32700`, `-32600` (a batch array included),
//!    `-32602`, as JSON-RPC error objects, never a 5xx;
//! 6. a message that does not name its revision itself (all but `initialize` and 2026-07-28
//!    requests, which rmcp negotiates) under an `MCP-Protocol-Version` header naming one not
//!    served here is 400 with a JSON-RPC error (rmcp would let through older ones it knows);
//! 7. rmcp's Streamable HTTP service, stateless with JSON answers; what it refuses before
//!    reading the message (a missing `Accept`, another `Content-Type`, a header
//!    that does not match the message) is also answered as a JSON-RPC error object, with its status.
//!
//! Budgets are the direct invoke's: `LOOKUP_BUDGET_MS` for the read tools and
//! `ACTIONS_BUDGET_MS` for the order actions, never past the invocation's deadline less their
//! margins. Env: `MCP_ISSUER`, `MCP_AUDIENCE`, `MCP_JWKS_URL`, `MCP_RESOURCE_URL`,
//! `MCP_ALLOWED_ORIGINS`, and what every function reads ([`shared::Config`]).

mod catalog;
pub mod envelope;
mod origins;
mod server;

use std::sync::Arc;

use http_body_util::BodyExt;
use lambda_http::http::header::{
    ALLOW, AUTHORIZATION, CONTENT_TYPE, ORIGIN, RETRY_AFTER, WWW_AUTHENTICATE,
};
use lambda_http::http::{HeaderValue, Method};
use lambda_http::{Body, Request, RequestExt, Response};
use rmcp::model::ErrorCode;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use shared::actions::{ActionPorts, DynamoActions};
use shared::bearer::{self, BearerConfig, BearerError, BearerVerifier, JwtVerifier};
use shared::config::ConfigError;
use shared::http::{self, MAX_BODY_BYTES};
use shared::{ApiError, Code, Config, Services};
use tracing::Instrument;

pub use catalog::{Catalog, LazyCatalog};
pub use origins::AllowedOrigins;
pub use server::PROTOCOL_VERSIONS;

use server::{Call, Ports, Tools};

/// Where the protected-resource document is served (RFC 9728 §3.1: the well-known prefix
/// before the resource's path `/mcp`, and at the root for clients that look there).
pub const METADATA_PATHS: [&str; 2] = [
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
];

/// The MCP route's path.
pub const MCP_PATH: &str = "/mcp";

/// How long before the invocation's end an answer still running is cut off. Less than every
/// tool's own margin (`shared::lookup::ANSWER_MARGIN`, `shared::actions::ANSWER_MARGIN`): a
/// tool that used its whole budget ends first and its result is answered, never the cut-off.
const BACKSTOP_MARGIN: std::time::Duration = std::time::Duration::from_millis(200);

/// When the answer to a request of the invocation ending at `invocation_deadline_ms` is cut
/// off if its tool has not ended (see [`BACKSTOP_MARGIN`]).
pub fn answer_deadline(invocation_deadline_ms: u64) -> shared::Deadline {
    shared::Deadline::from_epoch_millis(invocation_deadline_ms).minus(BACKSTOP_MARGIN)
}

/// The header a client names its negotiated protocol revision in.
const MCP_PROTOCOL_VERSION: &str = "mcp-protocol-version";

/// Everything a request needs, built once per cold start.
pub struct State {
    mcp: StreamableHttpService<Tools, NeverSessionManager>,
    /// What rmcp's per-request servers share (kept here to tell what has been loaded).
    ports: Arc<Ports>,
    verifier: Arc<dyn BearerVerifier>,
    bearer: BearerConfig,
    origins: AllowedOrigins,
}

impl State {
    /// The route over `services` (the read tools), `actions` (the order actions) and
    /// `verifier` (bearer tokens), with the authorization settings `bearer`.
    pub fn new(
        services: Services,
        actions: ActionPorts,
        verifier: Arc<dyn BearerVerifier>,
        bearer: BearerConfig,
        origins: AllowedOrigins,
    ) -> Self {
        let ports = Arc::new(Ports {
            services,
            actions,
            catalog: LazyCatalog::default(),
        });
        let tools = Tools(ports.clone());
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_sse_keep_alive(None)
            .with_sse_retry(None)
            // API Gateway names the host; the Origin check and the token guard the route.
            .disable_allowed_hosts()
            .disable_allowed_origins()
            .with_max_request_body_bytes(MAX_BODY_BYTES);
        let mcp = StreamableHttpService::new(
            move || Ok(tools.clone()),
            Arc::new(NeverSessionManager::default()),
            config,
        );
        Self {
            mcp,
            ports,
            verifier,
            bearer,
            origins,
        }
    }

    /// Whether the tool manifests have been read (at the first request that lists or calls a
    /// tool, never at the cold start).
    pub fn catalog_loaded(&self) -> bool {
        self.ports.catalog.is_loaded()
    }

    /// The real adapters from the environment; a missing setting fails the cold start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = shared::aws::sdk_config().await;
        // The services' clients (as `Services::from_sdk` names them), and the actions'
        // records through the same DynamoDB client.
        let compose = Services::compose(&config, &sdk)
            .credentials()
            .event_bus()
            .webhooks();
        let records = DynamoActions::new(compose.dynamodb(), config.stores_table.clone());
        let services = compose.build();
        let actions = ActionPorts::from_services(&services, Arc::new(records));
        let bearer = BearerConfig::from_env()?;
        let verifier = Arc::new(JwtVerifier::new(&bearer, &config.auth)?);
        let origins = AllowedOrigins::from_env(&bearer.resource_url);
        Ok(Self::new(services, actions, verifier, bearer, origins))
    }
}

/// Handles one API Gateway request; always answers.
pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    let span = tracing::info_span!("mcp", request_id = %http::request_id(&req));
    Ok(route(state, req).instrument(span).await)
}

async fn route(state: &State, req: Request) -> Response<Body> {
    let path = req.uri().path();
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    if METADATA_PATHS.contains(&path) {
        return if req.method() == Method::GET {
            let mut response =
                http::json_response(200, &bearer::protected_resource_document(&state.bearer));
            response
                .headers_mut()
                .insert("access-control-allow-origin", HeaderValue::from_static("*"));
            response
        } else {
            method_not_allowed("GET")
        };
    }
    if path != MCP_PATH {
        return http::error_response(&ApiError::new(
            Code::InvalidRequest,
            "There is nothing here: MCP is served at POST /mcp.",
        ))
        .into_status(404);
    }
    let origin = req.headers().get(ORIGIN).map(|v| v.to_str().unwrap_or(""));
    if !state.origins.allows(origin) {
        tracing::warn!(
            origin = origin.unwrap_or_default(),
            "a request from an origin not allowed was refused"
        );
        return http::error_response(&ApiError::new(
            Code::Forbidden,
            "Requests from this origin may not use the MCP endpoint.",
        ));
    }
    if req.method() != Method::POST {
        return method_not_allowed("POST");
    }
    post(state, req).await
}

/// 405 with `Allow: {allow}`.
fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = http::error_response(&ApiError::new(
        Code::InvalidRequest,
        format!("Use {allow} here."),
    ))
    .into_status(405);
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

trait IntoStatus {
    fn into_status(self, status: u16) -> Self;
}

impl IntoStatus for Response<Body> {
    fn into_status(mut self, status: u16) -> Self {
        if let Ok(status) = lambda_http::http::StatusCode::from_u16(status) {
            *self.status_mut() = status;
        }
        self
    }
}

async fn post(state: &State, mut req: Request) -> Response<Body> {
    let body: &[u8] = match req.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if body.len() > MAX_BODY_BYTES {
        return http::error_response(&ApiError::payload_too_large());
    }
    let claims = match authorize(state, &req).await {
        Ok(claims) => claims,
        Err(response) => return response,
    };
    // rmcp reads the message as restated here, so both read the same thing (a key sent twice
    // counts once, as it did for the check).
    let checked = match envelope::check(body) {
        Ok(checked) => checked,
        Err(refusal) => {
            tracing::info!(org_id = %claims.org_id, code = refusal.code.0, "a malformed JSON-RPC message was refused");
            return refusal.response();
        }
    };
    // A message naming its revision itself is negotiated by rmcp (a revision not served is
    // answered with the ones that are); for the others the header names it, and rmcp would let
    // through every revision it knows: only the ones served here pass.
    if !checked.names_its_revision {
        if let Some(version) = req.headers().get(MCP_PROTOCOL_VERSION) {
            let version = version.to_str().unwrap_or_default();
            if !PROTOCOL_VERSIONS
                .iter()
                .any(|served| served.as_str() == version)
            {
                let version: String = version.chars().take(40).collect();
                tracing::info!(org_id = %claims.org_id, %version, "a request of a protocol revision not served was refused");
                return envelope::error_response(
                    400,
                    ErrorCode::INVALID_REQUEST,
                    transport_refusal(400),
                    &checked.id,
                );
            }
        }
    }
    let id = checked.id;
    *req.body_mut() = Body::Text(checked.body);
    let invocation_deadline_ms = req.lambda_context_ref().map_or(0, |c| c.deadline);
    let deadline = answer_deadline(invocation_deadline_ms);
    req.extensions_mut().insert(Call {
        claims,
        invocation_deadline_ms,
    });
    // The whole answer (rmcp runs the tool before it answers with JSON) within the deadline.
    let answered = tokio::time::timeout(deadline.remaining(), async {
        let (parts, body) = state.mcp.handle(req).await.into_parts();
        match body.collect().await {
            Ok(collected) => (parts, collected.to_bytes()),
            Err(never) => match never {},
        }
    })
    .await;
    let Ok((parts, bytes)) = answered else {
        tracing::error!("the MCP answer did not end within the invocation");
        return envelope::error_response(
            500,
            ErrorCode::INTERNAL_ERROR,
            "The request could not be answered in time.",
            &id,
        );
    };
    let is_json = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !parts.status.is_success() && !is_json {
        // rmcp refused the request before reading the message: say why as JSON-RPC does, in
        // words of our own (its text is logged, never answered).
        let why = String::from_utf8_lossy(&bytes);
        tracing::info!(status = parts.status.as_u16(), %why, "the MCP transport refused the request");
        let status = parts.status.as_u16();
        let code = if parts.status.is_server_error() {
            ErrorCode::INTERNAL_ERROR
        } else {
            ErrorCode::INVALID_REQUEST
        };
        return envelope::error_response(status, code, transport_refusal(status), &id);
    }
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(binary) => Body::Binary(binary.into_bytes()),
        }
    };
    Response::from_parts(parts, body)
}

/// What a refusal of rmcp's transport (by its status) is answered with.
fn transport_refusal(status: u16) -> &'static str {
    match status {
        400 => "Bad request: the MCP-Protocol-Version header names a revision this server does not serve (2025-11-25, 2026-07-28), or a header does not match the message.",
        406 => "Not acceptable: Accept must take both application/json and text/event-stream.",
        415 => "Unsupported media type: the body must be application/json.",
        413 => "Payload too large: the body is over 64 KiB.",
        status if status >= 500 => "The request could not be served.",
        _ => "The request could not be served as sent.",
    }
}

/// The claims of the request's bearer token, or the 401 that refuses it (503 when the
/// identity provider's keys cannot be read: the token may well be good).
async fn authorize(state: &State, req: &Request) -> Result<bearer::BearerClaims, Response<Body>> {
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    let verified = match token {
        Some(token) => state.verifier.verify(token).await,
        None => Err(BearerError::Missing),
    };
    verified.map_err(|error| {
        if error == BearerError::KeysUnavailable {
            tracing::error!("the identity provider's signing keys cannot be read; a bearer token could not be checked");
            let mut response = http::error_response(&ApiError::new(
                Code::Internal,
                "Sign-in cannot be checked just now; try again in a few seconds.",
            ))
            .into_status(503);
            // No read is tried sooner than that: asking earlier would be answered the same.
            let pause = shared::bearer::FAILED_READ_PAUSE.as_secs();
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(pause));
            return response;
        }
        tracing::info!(reason = %error, "a bearer token was refused");
        let mut response = http::error_response(&ApiError::new(
            Code::Unauthorized,
            "A valid bearer token from the store's sign-in is required. Sign in again.",
        ));
        if let Ok(value) = HeaderValue::from_str(&bearer::www_authenticate(&state.bearer)) {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response
    })
}
