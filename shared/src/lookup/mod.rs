//! The AI's read tools (order details, product search, shop details), answered the same way
//! whichever door they come through: the `lookup` function's direct invoke ([`answer`]) or
//! the `mcp` route ([`answer_tool`]). Always a JSON answer —
//! `{"ok": true, "action", "data", "stores_searched", "store_errors"}` or
//! `{"ok": false, "action", "error": {"code", "message"}}`. Expected failures are answers,
//! never errors. `arguments` come from the model and are untrusted. Messages are phrased so
//! the AI can relay them.
//!
//! The doors differ only in who vouches for the shopper:
//! - the direct invoke's `org_id` and `contact` are set by the platform and trusted (only its
//!   IAM principal may invoke `lookup`); order details check `contact.email` when the
//!   organization's `require_email_match` is on;
//! - over MCP the organization comes from the caller's verified token and nobody vouches for
//!   the shopper: `get_order_details` takes the shopper's `email` as an argument and always
//!   checks it against the order's, whatever `require_email_match` says (a mismatch answers
//!   exactly as a missing order).
//!
//! The arguments are checked before anything is read; then one DynamoDB query reads the
//! organization's stores and settings (so a disconnect or a settings change is seen at once),
//! and the stores are asked within the time budget ([`deadline`]): `LOOKUP_BUDGET_MS`, never
//! past the invocation's deadline minus 500 ms. A store that has not answered by then is
//! reported in `store_errors` as `shopify_unavailable`.
//!
//! - [`orders`]: `get_order_details`; [`products`]: `search_products`; [`shops`]:
//!   `get_shop_details`.

mod orders;
mod products;
mod shops;

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use tracing::Instrument;

use crate::access::{failure_code, Access, FanOut, StoreFailure};
use crate::config::Budgets;
use crate::deadline::Deadline;
use crate::domain::{OrganizationId, ShopDomain};
use crate::failure::Code;
use crate::store::{StoreRecord, StoreRepository};

/// The read tools, in the order the manifests list them.
pub const TOOLS: [&str; 3] = ["get_order_details", "search_products", "get_shop_details"];

/// Time kept between the end of the budget and the invocation's deadline, to answer.
pub const ANSWER_MARGIN: Duration = Duration::from_millis(500);

/// What the read tools run on: the organizations' stores and settings, and the stores'
/// credentials with the Shopify client.
#[derive(Clone, Copy)]
pub struct LookupPorts<'a> {
    pub stores: &'a dyn StoreRepository,
    pub access: &'a Access,
}

#[derive(Deserialize)]
struct Event {
    org_id: String,
    action: String,
    #[serde(default)]
    arguments: Value,
    #[serde(default)]
    contact: Option<Contact>,
}

/// What the platform knows about the person in the conversation.
#[derive(Default, Deserialize)]
struct Contact {
    #[serde(default)]
    email: Option<String>,
}

/// An answer that is not data.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: Code,
    pub message: String,
}

impl Failure {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid_arguments(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArguments, message)
    }

    /// Every asked store failed: the most telling code among them.
    pub fn no_store_answered(errors: &[StoreFailure]) -> Self {
        let code = failure_code(errors);
        if !errors.is_empty() && errors.iter().all(|e| e.code == Code::InvalidCredentials) {
            // The contract's code, with words that say the connection (not Shopify) is at fault.
            return Self::new(code, Code::InvalidCredentials.ai_message());
        }
        Self::new(code, code.ai_message())
    }
}

/// What an action found.
pub(crate) struct Success {
    pub data: Value,
    pub fan_out_searched: Vec<ShopDomain>,
    pub fan_out_errors: Vec<StoreFailure>,
}

impl Success {
    pub fn from_fan_out<T>(data: Value, fan_out: FanOut<'_, T>) -> Self {
        Self {
            data,
            fan_out_searched: fan_out.searched,
            fan_out_errors: fan_out.errors,
        }
    }
}

/// Which door a call came through, and so which arguments it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Door {
    /// The platform's direct invoke: the contact comes with the event.
    Platform,
    /// MCP: `get_order_details` takes the shopper's email as an argument.
    Mcp,
}

/// One AI action with its checked arguments.
enum Action {
    OrderDetails(orders::Arguments),
    SearchProducts(products::Arguments),
    ShopDetails(shops::Arguments),
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Self::OrderDetails(_) => "get_order_details",
            Self::SearchProducts(_) => "search_products",
            Self::ShopDetails(_) => "get_shop_details",
        }
    }

    fn parse(action: &str, raw: &Value, door: Door) -> Result<Self, Failure> {
        match action {
            "get_order_details" if door == Door::Mcp => {
                orders::Arguments::parse_with_email(raw).map(Self::OrderDetails)
            }
            "get_order_details" => orders::Arguments::parse(raw).map(Self::OrderDetails),
            "search_products" => products::Arguments::parse(raw).map(Self::SearchProducts),
            "get_shop_details" => shops::Arguments::parse(raw).map(Self::ShopDetails),
            _ => Err(Failure::invalid_arguments(format!(
                "Unknown action {:?}; use get_order_details, search_products or get_shop_details.",
                action.chars().take(40).collect::<String>()
            ))),
        }
    }
}

/// Parses the model's arguments for one action; any mismatch is `invalid_arguments`.
pub(crate) fn arguments<T: serde::de::DeserializeOwned>(raw: &Value) -> Result<T, Failure> {
    let raw = if raw.is_null() {
        json!({})
    } else {
        raw.clone()
    };
    serde_json::from_value(raw)
        .map_err(|e| Failure::invalid_arguments(format!("The arguments are not valid: {e}.")))
}

/// Narrows `stores` to the one named by the model's `shop_domain`, if any.
fn choose_store<'a>(
    stores: &'a [StoreRecord],
    shop_domain: Option<&ShopDomain>,
) -> Result<Vec<&'a StoreRecord>, Failure> {
    match shop_domain {
        None => Ok(stores.iter().collect()),
        Some(shop) => {
            let chosen: Vec<_> = stores.iter().filter(|s| &s.shop_domain == shop).collect();
            if chosen.is_empty() {
                let known: Vec<_> = stores.iter().map(|s| s.shop_domain.as_str()).collect();
                return Err(Failure::invalid_arguments(format!(
                    "{shop} is not a connected store. Connected stores: {}.",
                    known.join(", ")
                )));
            }
            Ok(chosen)
        }
    }
}

/// Asks the stores `shop` narrows to (every store when `None`) with `call`, within the
/// deadline; `Err` when none of them answered.
pub(crate) async fn ask_stores<'a, T, F, Fut>(
    access: &Access,
    deadline: &Deadline,
    stores: &'a [StoreRecord],
    shop: Option<&ShopDomain>,
    call: F,
) -> Result<FanOut<'a, T>, Failure>
where
    F: Fn(&'a StoreRecord, secrecy::SecretString) -> Fut + Clone,
    Fut: std::future::Future<Output = Result<T, crate::shopify::ShopifyError>>,
{
    let chosen = choose_store(stores, shop)?;
    let fan_out = access.fan_out(chosen, deadline, call).await;
    if fan_out.results.is_empty() {
        return Err(Failure::no_store_answered(&fan_out.errors));
    }
    Ok(fan_out)
}

/// A `shop_domain` argument as a domain; `invalid_arguments` otherwise.
pub(crate) fn shop_argument(raw: Option<&str>) -> Result<Option<ShopDomain>, Failure> {
    raw.map(|raw| {
        ShopDomain::parse(raw).map_err(|_| {
            Failure::invalid_arguments(
                "shop_domain must be one of the connected .myshopify.com domains.",
            )
        })
    })
    .transpose()
}

/// The deadline of one invocation: `LOOKUP_BUDGET_MS` from now, and never past the
/// invocation's deadline (milliseconds since the epoch; `0` when unknown) minus 500 ms.
pub fn deadline(budgets: &Budgets, invocation_deadline_ms: u64) -> Deadline {
    let budget = Deadline::after(budgets.lookup);
    if invocation_deadline_ms == 0 {
        return budget;
    }
    budget.min(Deadline::from_epoch_millis(invocation_deadline_ms).minus(ANSWER_MARGIN))
}

/// Answers one direct-invoke event (`{"org_id", "action", "arguments", "contact"}`) within
/// `deadline`. Never fails: every outcome is a JSON answer.
pub async fn answer(ports: LookupPorts<'_>, payload: Value, deadline: Deadline) -> Value {
    let action = short(
        payload
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    let span = tracing::info_span!("lookup", %action);
    let result = async {
        let event: Event = serde_json::from_value(payload).map_err(|_| {
            Failure::invalid_arguments("The event needs org_id, action and arguments.")
        })?;
        let org = OrganizationId::parse(&event.org_id).map_err(|_| {
            Failure::invalid_arguments("The event's org_id is not a valid organization id.")
        })?;
        let action = Action::parse(&event.action, &event.arguments, Door::Platform)?;
        let contact_email = event
            .contact
            .and_then(|c| c.email)
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty());
        run(ports, &org, action, contact_email.as_deref(), &deadline).await
    }
    .instrument(span)
    .await;
    render(&action, result)
}

/// Answers one MCP tool call of `org` (from the caller's verified token) within `deadline`,
/// with MCP's arguments (`get_order_details` takes `{order_number, email}` and always checks
/// the email against the order's). The same JSON answer as [`answer`]; never fails.
pub async fn answer_tool(
    ports: LookupPorts<'_>,
    org: &OrganizationId,
    tool: &str,
    arguments: &Value,
    deadline: Deadline,
) -> Value {
    let action = short(tool);
    let span = tracing::info_span!("lookup", %action, door = "mcp");
    let result = async {
        let action = Action::parse(tool, arguments, Door::Mcp)?;
        run(ports, org, action, None, &deadline).await
    }
    .instrument(span)
    .await;
    render(&action, result)
}

/// At most 40 characters of a name the caller chose, for answers and logs.
fn short(name: &str) -> String {
    name.chars().take(40).collect()
}

fn render(action: &str, result: Result<Success, Failure>) -> Value {
    match result {
        Ok(success) => json!({
            "ok": true,
            "action": action,
            "data": success.data,
            "stores_searched": success.fan_out_searched,
            "store_errors": success.fan_out_errors.iter().map(|e| json!({"shop_domain": e.shop_domain, "code": e.code})).collect::<Vec<_>>(),
        }),
        Err(failure) => json!({
            "ok": false,
            "action": action,
            "error": {"code": failure.code, "message": failure.message},
        }),
    }
}

async fn run(
    ports: LookupPorts<'_>,
    org: &OrganizationId,
    action: Action,
    contact_email: Option<&str>,
    deadline: &Deadline,
) -> Result<Success, Failure> {
    let (stores, settings) = deadline
        .run(ports.stores.load_org(org))
        .await
        .map_err(|error| {
            tracing::error!(%error, "cannot read the organization's stores");
            Failure::new(Code::Internal, Code::Internal.ai_message())
        })?;
    let name = action.name();
    if settings.action_enabled(name) != Some(true) {
        return Err(Failure::new(
            Code::ActionDisabled,
            "This store has turned this kind of lookup off, so I can't do it here. A team member can help instead.",
        ));
    }
    if stores.is_empty() {
        return Err(Failure::new(
            Code::NoStoreConnected,
            "No Shopify store is connected yet, so I can't look this up.",
        ));
    }
    let access = ports.access;
    let result = match &action {
        Action::OrderDetails(args) => {
            // An email given with the order number is always checked; the platform's contact
            // as the organization's settings say.
            let (email, require_email_match) = match args.email() {
                Some(email) => (Some(email), true),
                None => (contact_email, settings.require_email_match),
            };
            orders::get_order_details(access, deadline, &stores, require_email_match, args, email)
                .await
        }
        Action::SearchProducts(args) => {
            products::search_products(access, deadline, &stores, args).await
        }
        Action::ShopDetails(args) => shops::get_shop_details(access, deadline, &stores, args).await,
    };
    match &result {
        Ok(success) => {
            tracing::info!(org_id = %org, action = name, stores = success.fan_out_searched.len(), failed = success.fan_out_errors.len(), left_ms = deadline.remaining().as_millis() as u64, "lookup answered")
        }
        Err(failure) => {
            tracing::info!(org_id = %org, action = name, code = %failure.code, "lookup refused")
        }
    }
    result
}
