//! The `mcp` route in tests: a bearer verifier that knows a few fixed tokens (the JWT checks
//! themselves are the `bearer` tests'), the route's state over a test app, and MCP requests
//! as API Gateway delivers them, for both protocol revisions.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use lambda_http::http::HeaderMap;
use serde_json::{json, Value};
use shared::bearer::{BearerClaims, BearerConfig, BearerError, BearerVerifier};
use shared::domain::OrganizationId;

use crate::actions::ActionRig;
use crate::app::TestApp;
use crate::events::HttpEvent;

/// `MCP_RESOURCE_URL` in these tests.
pub const RESOURCE: &str = "https://api.example.test/mcp";
/// The `WWW-Authenticate` of every 401.
pub const CHALLENGE: &str =
    "Bearer resource_metadata=\"https://api.example.test/.well-known/oauth-protected-resource/mcp\"";
/// A token of the app's org for shopper `agent-1` with Jane's verified email.
pub const JANE_TOKEN: &str = "token-jane";
/// A token of the app's org without a verified email.
pub const UNVERIFIED_TOKEN: &str = "token-unverified";
/// A token of another organization.
pub const OTHER_ORG_TOKEN: &str = "token-other-org";
/// The `sub` of [`JANE_TOKEN`] and [`UNVERIFIED_TOKEN`].
pub const SUBJECT: &str = "agent-1";
/// The revisions served.
pub const V2025: &str = "2025-11-25";
pub const V2026: &str = "2026-07-28";

/// A verifier that accepts exactly its tokens.
pub struct FakeVerifier {
    tokens: HashMap<String, BearerClaims>,
}

#[async_trait]
impl BearerVerifier for FakeVerifier {
    async fn verify(&self, token: &str) -> Result<BearerClaims, BearerError> {
        self.tokens
            .get(token)
            .cloned()
            .ok_or(BearerError::Invalid("unknown token"))
    }
}

/// The route's authorization settings in these tests.
pub fn bearer_config() -> BearerConfig {
    BearerConfig {
        issuer: "https://id.example.test".into(),
        audience: "shopify-connector".into(),
        jwks_url: "https://id.example.test/jwks.json".into(),
        resource_url: RESOURCE.into(),
    }
}

/// One answer of the route.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

/// The `mcp` route over a test app.
pub struct McpRig {
    pub state: mcp::State,
    pub actions: ActionRig,
    pub other_org: String,
}

impl McpRig {
    /// The route over `app`'s stores and a fresh order-action record store, with the
    /// default allowed origin (the resource's).
    pub async fn new(app: &TestApp) -> Self {
        let actions = ActionRig::new(app).await;
        let org = OrganizationId::parse(&app.org).unwrap();
        let other_org = app.other_org();
        let claims = |org: &OrganizationId, email: Option<&str>| BearerClaims {
            org_id: org.clone(),
            subject: SUBJECT.into(),
            verified_email: email.map(str::to_owned),
        };
        let tokens = HashMap::from([
            (
                JANE_TOKEN.to_owned(),
                claims(&org, Some(crate::actions::JANE)),
            ),
            (UNVERIFIED_TOKEN.to_owned(), claims(&org, None)),
            (
                OTHER_ORG_TOKEN.to_owned(),
                claims(
                    &OrganizationId::parse(&other_org).unwrap(),
                    Some(crate::actions::JANE),
                ),
            ),
        ]);
        let state = mcp::State::new(
            app.services.clone(),
            actions.ports.clone(),
            Arc::new(FakeVerifier { tokens }),
            bearer_config(),
            mcp::AllowedOrigins::parse(None, RESOURCE),
        );
        Self {
            state,
            actions,
            other_org,
        }
    }

    /// The route over the same stores and actions, verifying real bearer JWTs of `issuer`
    /// (its JWKS, read on first use) instead of this rig's fixed tokens.
    pub fn verifying(&self, app: &TestApp, issuer: &crate::dev_issuer::DevIssuer) -> mcp::State {
        self.verifying_pausing(app, issuer, shared::bearer::FAILED_READ_PAUSE)
    }

    /// The same, not reading the keys again for `pause` after a failed read.
    pub fn verifying_pausing(
        &self,
        app: &TestApp,
        issuer: &crate::dev_issuer::DevIssuer,
        pause: std::time::Duration,
    ) -> mcp::State {
        let bearer = issuer.bearer_config(RESOURCE);
        let verifier =
            shared::bearer::JwtVerifier::new(&bearer, &shared::config::AuthConfig::default())
                .expect("a loopback JWKS URL is accepted")
                .with_failed_read_pause(pause);
        mcp::State::new(
            app.services.clone(),
            self.actions.ports.clone(),
            Arc::new(verifier),
            bearer,
            mcp::AllowedOrigins::parse(None, RESOURCE),
        )
    }

    /// Sends `event` to the function.
    pub async fn send(&self, event: HttpEvent) -> Reply {
        let response = mcp::handle(&self.state, event.into_request())
            .await
            .expect("the function answers every request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match response.body() {
            lambda_http::Body::Text(text) => {
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
            }
            lambda_http::Body::Binary(bytes) => {
                serde_json::from_slice(bytes).unwrap_or(Value::Null)
            }
            _ => Value::Null,
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A JSON-RPC request with `token` under `version`, answered.
    pub async fn rpc(&self, token: &str, version: &str, method: &str, params: Value) -> Reply {
        self.send(request(Some(token), version, method, params))
            .await
    }

    /// `tools/call` of `tool` with `arguments` as Jane's agent under 2025-11-25: the result.
    pub async fn call(&self, tool: &str, arguments: Value) -> Value {
        self.call_as(JANE_TOKEN, tool, arguments).await
    }

    /// `tools/call` of `tool` with `arguments` with `token`: the result.
    pub async fn call_as(&self, token: &str, tool: &str, arguments: Value) -> Value {
        let reply = self
            .rpc(
                token,
                V2025,
                "tools/call",
                json!({"name": tool, "arguments": arguments}),
            )
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.body["result"].clone()
    }
}

/// `POST /mcp` with `body` as an MCP client sends it (JSON, accepting JSON and SSE).
pub fn post(token: Option<&str>, body: &str) -> HttpEvent {
    let mut event = HttpEvent::new("POST", mcp::MCP_PATH)
        .raw_body(body)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(token) = token {
        event = event.header("authorization", &format!("Bearer {token}"));
    }
    event
}

/// A JSON-RPC request (id 1) as a client of `version` sends it: the protocol header, and for
/// 2026-07-28 the per-request `_meta` and the standard `Mcp-Method` / `Mcp-Name` headers.
pub fn request(token: Option<&str>, version: &str, method: &str, params: Value) -> HttpEvent {
    let mut params = params;
    let mut headers = vec![("mcp-protocol-version", version.to_owned())];
    if version == V2026 {
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": V2026,
            "io.modelcontextprotocol/clientCapabilities": {},
        });
        headers.push(("mcp-method", method.to_owned()));
        if let Some(name) = params["name"].as_str() {
            headers.push(("mcp-name", name.to_owned()));
        }
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut event = post(token, &body.to_string());
    if method != "initialize" {
        for (name, value) in headers {
            event = event.header(name, &value);
        }
    }
    event
}
