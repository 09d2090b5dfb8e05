//! The `order-actions` function, invoked directly by the AI platform (only its IAM principal
//! may invoke it, as for `lookup`):
//! `{"org_id", "action", "arguments", "contact": {"email", "email_verified"},
//! "conversation_id", "shopper_confirmed"}` in, always a JSON answer out —
//! `{"ok": true, "action", "data"}` or `{"ok": false, "action", "error": {"code", "message",
//! "details"?}}`. `arguments` come from the model and are untrusted; `org_id`, `contact`,
//! `conversation_id` and `shopper_confirmed` are set by the platform and trusted. An event that
//! carries `requestContext` (anything routed through an HTTP front door) is refused unread.
//!
//! Actions: `cancel_order {order_number, reason?, shop_domain?}`, `update_shipping_address
//! {order_number, address, shop_domain?}` and `request_return {order_number, items, reason,
//! note?, shop_domain?}` propose, `confirm_action {proposal_id}` carries out a proposal the
//! shopper said yes to, `get_action {proposal_id}` says where it stands; each is one operation
//! of [`shared::actions`], which reads a proposing action's arguments (an address part by
//! part, naming the first bad one in `details.field`). The budget is `ACTIONS_BUDGET_MS`
//! (default 15000), never past the invocation's deadline minus 1 s.
//!
//! The 5-minute schedule invokes it with `{"schedule": "order-actions-settle"}`: unsettled
//! actions are read back and settled.
//!
//! The `mcp` route runs the same actions with [`answer_as`], for the caller its bearer token
//! names instead of the platform's event.

use serde::Deserialize;
use serde_json::{json, Value};
use shared::actions::{self, ActionFailure, ActionPorts, Invocation};
use shared::domain::{ActionKind, OrganizationId};
use shared::{Code, Deadline};
use tracing::Instrument;

/// The tool manifest the AI platform registers (`tools`), with the MCP variants (`mcp_tools`);
/// tested against what this function and the `mcp` route accept.
pub const TOOL_MANIFEST: &str = include_str!("../tools.json");

/// The event and every answer as JSON Schema; the manifest's input schemas are its
/// `$defs/{action}_arguments`. Tested against what this function accepts and answers.
pub const EVENT_SCHEMA: &str = include_str!("../order-actions.schema.json");

/// The schedule's event names this.
pub const SETTLE_SCHEDULE: &str = "order-actions-settle";

/// The longest `proposal_id` read; real ones are far shorter.
const MAX_PROPOSAL_ID: usize = 128;

#[derive(Deserialize)]
struct Event {
    org_id: String,
    action: String,
    #[serde(default)]
    arguments: Value,
    #[serde(default)]
    contact: Option<Contact>,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    shopper_confirmed: Option<bool>,
}

/// What the platform knows about the person in the conversation.
#[derive(Default, Deserialize)]
struct Contact {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<bool>,
}

/// `cancel_order`'s arguments as the manifest describes them; the operation reads them again.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CancelArguments {
    order_number: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    shop_domain: Option<String>,
    #[serde(default)]
    items: Option<Vec<Value>>,
}

/// `confirm_action` and `get_action`'s arguments.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProposalArguments {
    proposal_id: String,
}

/// One AI action with its checked arguments.
enum Action {
    Propose(ActionKind),
    Confirm(String),
    Get(String),
}

impl Action {
    fn parse(action: &str, raw: &Value) -> Result<Self, ActionFailure> {
        let raw = if raw.is_null() {
            json!({})
        } else {
            raw.clone()
        };
        match action {
            "confirm_action" => proposal_id(raw).map(Self::Confirm),
            "get_action" => proposal_id(raw).map(Self::Get),
            "cancel_order" => {
                let args: CancelArguments = arguments(raw.clone())?;
                let long = |value: Option<&str>, max: usize| {
                    value.is_some_and(|v| v.chars().count() > max)
                };
                if args.order_number.trim().is_empty() || long(Some(&args.order_number), 40) {
                    return Err(invalid(
                        "order_number must be the order number the customer gave, e.g. \"#1042\".",
                    ));
                }
                if long(args.reason.as_deref(), 500) {
                    return Err(invalid("reason must be at most 500 characters."));
                }
                if long(args.shop_domain.as_deref(), 255) {
                    return Err(invalid(
                        "shop_domain must be one of the connected .myshopify.com domains.",
                    ));
                }
                Ok(Self::Propose(ActionKind::CancelOrder))
            }
            other => match ActionKind::parse(other) {
                // The next actions: the operation answers whether they can run here.
                Some(kind) => Ok(Self::Propose(kind)),
                None => Err(invalid(format!(
                    "Unknown action {:?}; use cancel_order, update_shipping_address, request_return, confirm_action or get_action.",
                    other.chars().take(40).collect::<String>()
                ))),
            },
        }
    }
}

fn invalid(message: impl Into<String>) -> ActionFailure {
    ActionFailure::new(Code::InvalidArguments, message)
}

fn arguments<T: serde::de::DeserializeOwned>(raw: Value) -> Result<T, ActionFailure> {
    serde_json::from_value(raw).map_err(|e| invalid(format!("The arguments are not valid: {e}.")))
}

fn proposal_id(raw: Value) -> Result<String, ActionFailure> {
    let args: ProposalArguments = arguments(raw)?;
    let id = args.proposal_id.trim();
    if id.is_empty() || id.chars().count() > MAX_PROPOSAL_ID {
        return Err(invalid(
            "proposal_id must be the proposal_id of an earlier answer.",
        ));
    }
    Ok(id.to_owned())
}

/// The deadline of one invocation: the invocation's own (milliseconds since the epoch; `0`
/// when unknown, then `ACTIONS_BUDGET_MS` plus the answer margin from now). The operations
/// keep within `ACTIONS_BUDGET_MS` and stop 1 s before it.
pub fn deadline(ports: &ActionPorts, invocation_deadline_ms: u64) -> Deadline {
    if invocation_deadline_ms == 0 {
        return Deadline::after(ports.config.budget + actions::ANSWER_MARGIN);
    }
    Deadline::from_epoch_millis(invocation_deadline_ms)
}

/// Answers one event within `deadline`. Never fails: every outcome is a JSON answer.
pub async fn answer(ports: &ActionPorts, payload: Value, deadline: Deadline) -> Value {
    if payload.get("requestContext").is_some() {
        tracing::warn!(
            "an event with requestContext was refused: order-actions is invoked directly only"
        );
        let failure = ActionFailure::new(
            Code::InvalidRequest,
            "order-actions is invoked directly by the AI platform only.",
        );
        return refusal("", &failure);
    }
    if is_settle_schedule(&payload) {
        return settle(ports, &deadline).await;
    }
    let action = payload
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .chars()
        .take(40)
        .collect::<String>();
    let span = tracing::info_span!("order_actions", %action);
    match run(ports, payload, &deadline).instrument(span).await {
        Ok(data) => json!({"ok": true, "action": action, "data": data}),
        Err(failure) => refusal(&action, &failure),
    }
}

/// Answers one action for `invocation`, the caller as another door vouches for it (the `mcp`
/// route: the org, the shopper's verified email and the actor from its bearer token), within
/// `deadline`: the same operation and the same answer as [`answer`]. Never fails.
pub async fn answer_as(
    ports: &ActionPorts,
    invocation: &Invocation,
    action: &str,
    arguments: &Value,
    deadline: Deadline,
) -> Value {
    let name = action.chars().take(40).collect::<String>();
    let span = tracing::info_span!("order_actions", action = %name);
    match perform(ports, &deadline, invocation, action, arguments)
        .instrument(span)
        .await
    {
        Ok(data) => json!({"ok": true, "action": name, "data": data}),
        Err(failure) => refusal(&name, &failure),
    }
}

fn refusal(action: &str, failure: &ActionFailure) -> Value {
    let mut error = json!({"code": failure.code, "message": failure.message});
    if let Some(details) = &failure.details {
        error["details"] = details.clone();
    }
    json!({"ok": false, "action": action, "error": error})
}

fn is_settle_schedule(payload: &Value) -> bool {
    payload.as_object().is_some_and(|event| {
        event.len() == 1 && event.get("schedule").and_then(Value::as_str) == Some(SETTLE_SCHEDULE)
    })
}

async fn settle(ports: &ActionPorts, deadline: &Deadline) -> Value {
    let span = tracing::info_span!("order_actions_settle");
    match actions::settle_unsettled(ports, deadline)
        .instrument(span)
        .await
    {
        Ok(report) => {
            tracing::info!(?report, "unsettled order actions looked at");
            json!({"ok": true, "action": "settle", "data": report})
        }
        Err(failure) => {
            tracing::error!(code = %failure.code, "the settle schedule could not read the unsettled actions");
            refusal("settle", &failure)
        }
    }
}

async fn run(
    ports: &ActionPorts,
    payload: Value,
    deadline: &Deadline,
) -> Result<Value, ActionFailure> {
    let event: Event = serde_json::from_value(payload)
        .map_err(|_| invalid("The event needs org_id, action and arguments."))?;
    let org = OrganizationId::parse(&event.org_id)
        .map_err(|_| invalid("The event's org_id is not a valid organization id."))?;
    let contact = event.contact.unwrap_or_default();
    let invocation = Invocation {
        org: Some(org),
        email: contact.email,
        email_verified: contact.email_verified == Some(true),
        conversation_id: event.conversation_id,
        shopper_confirmed: event.shopper_confirmed == Some(true),
        actor: None,
    };
    perform(
        ports,
        deadline,
        &invocation,
        &event.action,
        &event.arguments,
    )
    .await
}

/// Checks the arguments of `action`, then runs its operation for `invocation`.
async fn perform(
    ports: &ActionPorts,
    deadline: &Deadline,
    invocation: &Invocation,
    action_name: &str,
    arguments: &Value,
) -> Result<Value, ActionFailure> {
    let action = Action::parse(action_name, arguments)?;
    let org = invocation
        .org
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let answer = match &action {
        Action::Propose(kind) => {
            actions::propose(ports, deadline, invocation, *kind, arguments).await
        }
        Action::Confirm(id) => {
            actions::confirm(
                ports,
                deadline,
                invocation,
                id,
                invocation.shopper_confirmed,
            )
            .await
        }
        Action::Get(id) => actions::get(ports, deadline, invocation, id).await,
    };
    let action = action_name.chars().take(40).collect::<String>();
    match &answer {
        Ok(answer) => {
            tracing::info!(org_id = %org, %action, status = %answer.status, proposal_id = %answer.proposal_id, left_ms = deadline.remaining().as_millis() as u64, "order action answered")
        }
        Err(failure) => {
            tracing::info!(org_id = %org, %action, code = %failure.code, "order action refused")
        }
    }
    answer.map(|answer| serde_json::to_value(answer).expect("answers always serialize"))
}
