//! The MCP server behind the route, as rmcp serves it: `initialize` / `server/discover` for
//! protocol revisions 2025-11-25 and 2026-07-28, `tools/list` (the [`Catalog`] the caller's
//! organization may see) and `tools/call`, which runs the same operation as the direct invoke
//! (`shared::lookup` for the read tools, `order-actions`' for the actions) and carries its JSON
//! answer both as `structuredContent` and as one text item; a failure answer is a result with
//! `isError: true` carrying the same JSON.
//!
//! Who the caller is comes only from the verified bearer token ([`Call`]): the organization
//! for everything; for the order actions also the shopper (the token's verified `email`, never
//! an argument; without one the operation answers `verification_required`), the conversation
//! the proposals bind to (`mcp:{sub}`) and the actor on the record (`sub`). Over MCP the
//! caller is the shopper's own agent with the shopper's token, and MCP clients ask their user
//! before a destructive tool runs: `confirm_action` called this way is the shopper's yes.

use std::borrow::Cow;
use std::sync::Arc;

use lambda_http::http::request::Parts;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, Implementation,
    ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig,
    Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{json, Value};
use shared::actions::{ActionPorts, Invocation};
use shared::bearer::BearerClaims;
use shared::{Code, Services};

use crate::catalog::{Kind, LazyCatalog};

/// The protocol revisions served.
pub const PROTOCOL_VERSIONS: [ProtocolVersion; 2] =
    [ProtocolVersion::V_2025_11_25, ProtocolVersion::V_2026_07_28];

/// Who is calling and the invocation's deadline (milliseconds since the epoch, `0` when
/// unknown): put on the HTTP request by the route once the token is verified.
#[derive(Clone, Debug)]
pub struct Call {
    pub claims: BearerClaims,
    pub invocation_deadline_ms: u64,
}

/// What the tools run on, built once per cold start.
pub struct Ports {
    pub services: Services,
    pub actions: ActionPorts,
    pub catalog: LazyCatalog,
}

/// The MCP server; one per request (rmcp's stateless service makes one for each), sharing
/// the ports.
#[derive(Clone)]
pub struct Tools(pub Arc<Ports>);

impl Tools {
    async fn read(&self, call: &Call, tool: &str, arguments: &Value) -> Value {
        let services = &self.0.services;
        let deadline = shared::lookup::deadline(&services.budgets, call.invocation_deadline_ms);
        shared::lookup::answer_tool(
            lookup::ports(services),
            &call.claims.org_id,
            tool,
            arguments,
            deadline,
        )
        .await
    }

    async fn act(&self, call: &Call, tool: &str, arguments: &Value) -> Value {
        let ports = &self.0.actions;
        let deadline = order_actions::deadline(ports, call.invocation_deadline_ms);
        let org = &call.claims.org_id;
        match deadline.run(ports.stores.get_settings(org)).await {
            Ok(settings) if settings.mcp.order_actions => {}
            Ok(_) => {
                tracing::info!(org_id = %org, action = tool, "an order action over MCP was refused: not opened to MCP");
                return failure(
                    tool,
                    Code::ActionDisabled,
                    "This store has not turned on order changes for assistants connected this way, so I can't do that here. A team member can help instead.",
                );
            }
            Err(error) => {
                tracing::error!(org_id = %org, %error, "cannot read the organization's settings");
                return failure(tool, Code::Internal, Code::Internal.ai_message());
            }
        }
        let claims = &call.claims;
        let invocation = Invocation {
            org: Some(org.clone()),
            email: claims.verified_email.clone(),
            email_verified: claims.verified_email.is_some(),
            conversation_id: Some(format!("mcp:{}", claims.subject)),
            shopper_confirmed: true,
            actor: Some(claims.subject.clone()),
        };
        order_actions::answer_as(ports, &invocation, tool, arguments, deadline).await
    }
}

/// A refusal in the direct invoke's answer shape.
fn failure(tool: &str, code: Code, message: &str) -> Value {
    json!({"ok": false, "action": tool, "error": {"code": code, "message": message}})
}

/// The direct invoke's `answer` as a tool result.
fn result(answer: Value) -> CallToolResult {
    if answer["ok"] == true {
        CallToolResult::structured(answer)
    } else {
        CallToolResult::structured_error(answer)
    }
}

/// The caller the route verified.
fn call_of(context: &RequestContext<RoleServer>) -> Result<Call, ErrorData> {
    context
        .extensions
        .get::<Parts>()
        .and_then(|parts| parts.extensions.get::<Call>())
        .cloned()
        .ok_or_else(|| {
            tracing::error!("a request reached the tools without a verified caller");
            ErrorData::internal_error("The request could not be served.", None)
        })
}

impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "shopify-connector",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Tools over the merchant's connected Shopify stores: order details (with the order number and the email it was placed with), product search and shop details; and, when the store allows it, changes to the signed-in customer's orders, always proposed first and carried out only after the customer says yes.",
            )
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(&PROTOCOL_VERSIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let call = call_of(&context)?;
        let services = &self.0.services;
        let deadline = shared::lookup::deadline(&services.budgets, call.invocation_deadline_ms);
        let org = &call.claims.org_id;
        let settings = deadline
            .run(services.storage.stores.get_settings(org))
            .await
            .map_err(|error| {
                tracing::error!(org_id = %org, %error, "cannot read the organization's settings");
                ErrorData::internal_error(
                    "The tools could not be listed just now; try again.",
                    None,
                )
            })?;
        let tools = self.0.catalog.get().listed(&settings);
        tracing::info!(org_id = %org, tools = tools.len(), "tools listed");
        // What is listed depends on the organization's settings: never shared between callers.
        Ok(ListToolsResult::with_all_items(tools).with_cache_scope(CacheScope::Private))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let call = call_of(&context)?;
        let name = request.name.as_ref();
        let Some((_, kind)) = self.0.catalog.get().find(name) else {
            return Err(ErrorData::invalid_params(
                format!(
                    "Unknown tool {:?}; tools/list names the tools.",
                    name.chars().take(40).collect::<String>()
                ),
                None,
            ));
        };
        let arguments = request.arguments.map_or(Value::Null, Value::Object);
        let answer = match kind {
            Kind::Read => self.read(&call, name, &arguments).await,
            Kind::Action => self.act(&call, name, &arguments).await,
        };
        Ok(result(answer).into())
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.0
            .catalog
            .get()
            .find(name)
            .map(|(tool, _)| tool.clone())
    }
}
