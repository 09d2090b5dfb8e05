//! The dashboard's order-action routes (the contract names this function `actions-api`):
//! - `GET /shopify/actions?status=&shop_domain=&order=&cursor=` (members) — the organization's
//!   actions, newest first, a page at a time: `{"actions": [...], "next_cursor"}`;
//! - `POST /shopify/actions/{id}/approve` and `/decline` (roles in `ACTION_APPROVER_ROLES`,
//!   default `admin,owner,agent`) — a pending action approved (re-checked live, then carried
//!   out) or declined; answered in the listing's shape, `409 action_not_pending` when it is not
//!   waiting for a person.
//!
//! The organization and the role come only from the JWT claims; another organization's action
//! reads as unknown. The AI platform's principal cannot invoke this function.

use std::collections::HashSet;

use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde::Serialize;
use shared::actions::{self, ActionFailure, ActionPorts, ActionView, ListFilter};
use shared::config::AuthConfig;
use shared::domain::{ActionStatus, ShopDomain};
use shared::http::{self, Caller};
use shared::{ApiError, Code};

/// What the routes run on.
pub struct State {
    pub ports: ActionPorts,
    pub auth: AuthConfig,
    /// `ACTION_APPROVER_ROLES`: roles that may approve and decline.
    pub approver_roles: HashSet<String>,
}

impl State {
    /// The real adapters and the claims' names from the environment.
    pub async fn from_env() -> Result<Self, shared::config::ConfigError> {
        let config = shared::Config::from_env()?;
        let sdk = shared::aws::sdk_config().await;
        Ok(Self {
            ports: ActionPorts::from_sdk(&config, &sdk),
            auth: config.auth.clone(),
            approver_roles: approver_roles(std::env::var("ACTION_APPROVER_ROLES").ok().as_deref()),
        })
    }
}

/// `ACTION_APPROVER_ROLES` (comma-separated), default `admin,owner,agent`.
pub fn approver_roles(raw: Option<&str>) -> HashSet<String> {
    let roles: HashSet<String> = raw
        .unwrap_or_default()
        .split(',')
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect();
    if roles.is_empty() {
        ["admin", "owner", "agent"]
            .into_iter()
            .map(String::from)
            .collect()
    } else {
        roles
    }
}

#[derive(Serialize)]
struct Listing {
    actions: Vec<ActionView>,
    next_cursor: Option<String>,
}

/// Handles one API Gateway request; always answers, errors included.
pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, Error> {
    let span = tracing::info_span!("actions_api", request_id = %http::request_id(&req));
    http::respond(span, route(state, &req)).await
}

async fn route(state: &State, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(req, &state.auth)?;
    let deadline = http::deadline(req);
    let ports = &state.ports;
    let route = http::route_key(req);
    match route.as_str() {
        "GET /shopify/actions" => {
            let (filter, cursor) = list_query(req)?;
            let page = actions::list(ports, &deadline, &caller.org, &filter, cursor.as_deref())
                .await
                .map_err(api_error)?;
            Ok(http::json_response(
                200,
                &Listing {
                    actions: page.actions,
                    next_cursor: page.next_cursor,
                },
            ))
        }
        "POST /shopify/actions/{id}/approve" | "POST /shopify/actions/{id}/decline" => {
            let user = approver(req, state)?;
            let id = action_id(req)?;
            let approve = route.ends_with("/approve");
            let record = if approve {
                actions::approve(ports, &deadline, &caller.org, &user, &id).await
            } else {
                actions::decline(ports, &deadline, &caller.org, &user, &id).await
            }
            .map_err(api_error)?;
            tracing::info!(org_id = %caller.org, action_id = %record.action_id, status = record.status.as_str(), approve, "a person answered a pending order action");
            Ok(http::json_response(200, &record.view(ports.clock.now())))
        }
        other => {
            tracing::error!(route = other, "route not served by this function");
            Err(ApiError::internal())
        }
    }
}

/// The JWT's claims, as API Gateway's authorizer put them.
fn claim<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| jwt.claims.get(name))
            .map(String::as_str),
        _ => None,
    }
}

/// Who approves: a caller whose role is an approver role, named by the token's `sub` (its
/// role when the token has none). Others are `403 forbidden`.
fn approver(req: &Request, state: &State) -> Result<String, ApiError> {
    let role = claim(req, &state.auth.role_claim)
        .map(str::trim)
        .unwrap_or_default();
    if !state.approver_roles.contains(role) {
        return Err(ApiError::new(
            Code::Forbidden,
            "Only an admin, owner or agent of your organization can approve or decline an action.",
        ));
    }
    let user = claim(req, "sub")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(role);
    Ok(user.chars().take(128).collect())
}

fn action_id(req: &Request) -> Result<String, ApiError> {
    let raw = req
        .path_parameters_ref()
        .and_then(|params| params.first("id"))
        .unwrap_or_default()
        .trim();
    if raw.is_empty()
        || raw.len() > 128
        || !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::new(
            Code::ProposalNotFound,
            Code::ProposalNotFound.merchant_message(),
        ));
    }
    Ok(raw.to_owned())
}

/// `status`, `shop_domain`, `order` and `cursor`; anything else is refused.
fn list_query(req: &Request) -> Result<(ListFilter, Option<String>), ApiError> {
    let mut filter = ListFilter::default();
    let mut cursor = None;
    let params = req.query_string_parameters_ref();
    for (name, value) in params.iter().flat_map(|p| p.iter()) {
        let value = value.trim();
        match name {
            "status" => {
                filter.status = Some(ActionStatus::parse(value).ok_or_else(|| {
                    ApiError::invalid_request("status must be one of proposed, pending_approval, approved, executing, in_progress, done, failed, declined, expired, simulated.")
                })?)
            }
            "shop_domain" => {
                filter.shop = Some(ShopDomain::parse(value).map_err(|_| {
                    ApiError::invalid_request("shop_domain must be a store's .myshopify.com domain.")
                })?)
            }
            "order" if !value.is_empty() && value.chars().count() <= 128 => filter.order = Some(value.to_owned()),
            "order" => return Err(ApiError::invalid_request("order must be an order's name, e.g. #1001.")),
            "cursor" => cursor = Some(value.to_owned()),
            other => {
                return Err(ApiError::invalid_request(format!(
                    "Unknown query parameter {:?}; use status, shop_domain, order or cursor.",
                    other.chars().take(40).collect::<String>()
                )))
            }
        }
    }
    Ok((filter, cursor))
}

/// An operation's refusal as the dashboard's error envelope.
fn api_error(failure: ActionFailure) -> ApiError {
    let message = match failure.code {
        // The AI's words speak of "the customer"; the merchant reads the dashboard's.
        Code::Internal | Code::StorageUnavailable => failure.code.merchant_message().to_owned(),
        _ => failure.message,
    };
    let error = ApiError::new(failure.code, message);
    match failure.details {
        Some(details) => error.with_details(details),
        None => error,
    }
}
