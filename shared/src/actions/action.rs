//! What one order action is, for the protocol that runs it: its kind and scopes, the
//! arguments it takes, whether the live order allows it under the org's policy, what the
//! shopper is told, the order's fingerprint, when a person must approve, its Shopify mutation
//! and the read-back that tells whether it took effect. [`action_for`] finds the action of a
//! kind; the protocol (locks, states, outbox, polling, settling) never names one.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::Value;

use super::address::UpdateAddress;
use super::cancel::Cancel;
use super::ports::{ActionFailure, ActionPorts};
use super::record::ActionRecord;
use super::returns::RequestReturn;
use crate::access::AccessError;
use crate::deadline::Deadline;
use crate::domain::{ActionKind, OrderActionsPolicy, OrderNumber, ShopDomain};
use crate::failure::Code;
use crate::shopify::actions::ActionOrder;
use crate::shopify::{action_scopes, ShopifyClient, ShopifyError};
use crate::store::StoreRecord;

/// Why an action is refused for an order: `details.reason`, `details.alternative`, and
/// words the AI can relay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub alternative: Option<&'static str>,
    pub message: String,
}

impl From<Refusal> for ActionFailure {
    fn from(refusal: Refusal) -> Self {
        ActionFailure::not_allowed(refusal.reason, refusal.alternative, refusal.message)
    }
}

/// When the rules are checked: the proposal and the shopper's confirmation check all of
/// them; a person's approval may skip some (a cancellation's window).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Proposal,
    Confirmation,
    Approval,
}

/// The model's arguments, parsed and validated: the order they name and what the proposal
/// stores (the mutation is sent with it).
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub order_number: OrderNumber,
    pub shop: Option<ShopDomain>,
    pub arguments: Value,
}

/// What sending the mutation came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Shopify started it; its job to poll, when it answered with one.
    Started { job_id: Option<String> },
    /// Shopify answered that it made the change (a mutation without a job): the read-back
    /// tells at once whether the order shows it (`job_finished`).
    Applied,
    /// As [`Sent::Applied`], and Shopify named what it created (a return's GID): the record
    /// keeps it ([`ActionRecord::created_id`]), and the read-back looks for exactly that.
    Created { id: String },
    /// Shopify refused it: `failed` with this reason.
    Refused(&'static str),
    /// Shopify denied the write scope: nothing was sent, and the store needs the scope.
    ScopeDenied,
    /// Nothing reached Shopify's write.
    NotSent,
    /// The answer was lost: it may have been done. Never sent again; the order is read back.
    Lost,
}

/// What reading the order back tells.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// The change is on the order; what Shopify says about it, for the answer.
    Done(Value),
    /// It will not be: `failed` with this reason.
    Failed(&'static str),
    /// It will not be as asked, and the order shows something else the shopper should know
    /// (part of a change): `failed` with this reason, and what Shopify says, for the answer.
    FailedShowing(&'static str, Value),
    /// Not yet known.
    Pending,
}

/// One order action. The protocol runs every step around these.
#[async_trait]
pub trait OrderAction: Send + Sync {
    fn kind(&self) -> ActionKind;

    /// The scopes the store's app needs for it.
    fn scopes(&self) -> &'static [&'static str] {
        action_scopes(self.kind())
    }

    /// Parses and validates the model's arguments (`invalid_arguments`).
    fn parse(&self, arguments: &Value) -> Result<Request, ActionFailure>;

    /// Whether the live `order` allows it under `policy` at `now`, asked with `arguments` (the
    /// model's at the proposal, the stored ones after), at `step`.
    fn check(
        &self,
        order: &ActionOrder,
        arguments: &Value,
        policy: &OrderActionsPolicy,
        now: DateTime<Utc>,
        step: Step,
    ) -> Result<(), Refusal>;

    /// Reads what the rules rest on beyond the order (the shop's countries, the order's
    /// returnable items) into `order.facts`, for the stored `arguments` (what
    /// [`OrderAction::parse`] kept), after the order was found and the shopper's identity and
    /// the store's scopes checked, before [`OrderAction::check`]. Arguments that name
    /// something the live facts do not have (an unknown return reason, an item not on the
    /// order) are `invalid_arguments` here. Nothing by default.
    async fn read_facts(
        &self,
        _ports: &ActionPorts,
        _deadline: &Deadline,
        _store: &StoreRecord,
        _arguments: &Value,
        _order: &mut ActionOrder,
    ) -> Result<(), ActionFailure> {
        Ok(())
    }

    /// The summary the AI reads back and the structured effects, for the stored
    /// `arguments` (what [`OrderAction::parse`] kept).
    fn summary(&self, order: &ActionOrder, arguments: &Value) -> (String, Value);

    /// What the decision rested on: a change between proposal and confirmation (or
    /// approval) is `order_changed`.
    fn fingerprint(&self, order: &ActionOrder) -> String;

    /// Whether a person must approve it under `policy` (besides `approval` mode).
    fn needs_approval(&self, order: &ActionOrder, policy: &OrderActionsPolicy) -> bool;

    /// Sends the mutation for `record` once, within `deadline`.
    async fn send(
        &self,
        ports: &ActionPorts,
        deadline: &Deadline,
        store: &StoreRecord,
        record: &ActionRecord,
    ) -> Sent;

    /// Reads the order back: whether the mutation took effect. `job_finished` when Shopify's
    /// job is known to have finished.
    async fn read_back(
        &self,
        ports: &ActionPorts,
        deadline: &Deadline,
        store: &StoreRecord,
        record: &ActionRecord,
        job_finished: bool,
    ) -> Verdict;
}

/// The action of `kind`; `action_unavailable` for a kind not offered yet.
pub fn action_for(kind: ActionKind) -> Result<&'static dyn OrderAction, ActionFailure> {
    match kind {
        ActionKind::CancelOrder => Ok(&Cancel),
        ActionKind::UpdateShippingAddress => Ok(&UpdateAddress),
        ActionKind::RequestReturn => Ok(&RequestReturn),
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> ActionFailure {
    ActionFailure::new(Code::InvalidArguments, message)
}

/// The model's `order_number`, or `invalid_arguments` asking the shopper for it.
pub(crate) fn order_number(raw: &str) -> Result<OrderNumber, ActionFailure> {
    OrderNumber::parse(raw).map_err(|_| {
        invalid(format!(
            "{:?} is not an order number. Ask the customer for their order number, which looks like #1042.",
            raw.chars().take(40).collect::<String>()
        ))
    })
}

/// The model's `shop_domain`, when it gave one.
pub(crate) fn shop_domain(raw: Option<&str>) -> Result<Option<ShopDomain>, ActionFailure> {
    raw.map(ShopDomain::parse)
        .transpose()
        .map_err(|_| invalid("shop_domain is not a store's .myshopify.com domain."))
}

/// Shopify's refusal of an action's mutation (its `userErrors`; nothing was changed).
pub(crate) trait Refused {
    /// The reason the action fails with when Shopify blames what the action asked of it (the
    /// address, the restock, an item); any other refusal fails with `shopify_refused`.
    const BLAMED: &'static str;

    /// Whether Shopify's user errors blame it.
    fn blamed(&self) -> bool;

    /// Logs the refusal with what Shopify blamed (never Shopify's texts: they may quote the
    /// order or the shopper's input).
    fn log(&self, record: &ActionRecord, store: &StoreRecord, reason: &'static str);
}

/// Sends one mutation with the store's token (`mutation` gets the Shopify client and the
/// token): what Shopify did, or what the action came to instead: [`Sent::Refused`] when
/// Shopify refused it (logged), or what failing to send came to ([`unsent`]; whether the
/// mutation itself was started, not only the token or the credentials, tells "not sent" from
/// "lost").
pub(crate) async fn send_once<'p, T, R, F, Fut>(
    ports: &'p ActionPorts,
    deadline: &Deadline,
    store: &StoreRecord,
    record: &ActionRecord,
    mutation: F,
) -> Result<T, Sent>
where
    R: Refused,
    F: Fn(&'p ShopifyClient, SecretString) -> Fut,
    Fut: Future<Output = Result<Result<T, R>, ShopifyError>>,
{
    let started = AtomicBool::new(false);
    let sent = ports
        .access
        .with_token(store, deadline, |token| {
            started.store(true, Ordering::SeqCst);
            mutation(ports.access.shopify(), token)
        })
        .await;
    match sent.map_err(|error| unsent(record, store, &error, started.load(Ordering::SeqCst)))? {
        Ok(done) => Ok(done),
        Err(refused) => {
            let reason = if refused.blamed() {
                R::BLAMED
            } else {
                "shopify_refused"
            };
            refused.log(record, store, reason);
            Err(Sent::Refused(reason))
        }
    }
}

/// What a failed attempt to send came to: the scope denied; not sent (refused before running
/// it — 401 after the credentials were read again, 402, 403, 404, 423, throttled, too
/// expensive — or never sent: no time left for an attempt, no credentials, or the mutation
/// itself never `started`); otherwise lost.
pub(crate) fn unsent(
    record: &ActionRecord,
    store: &StoreRecord,
    error: &AccessError,
    started: bool,
) -> Sent {
    let action = record.kind.as_str();
    match error {
        AccessError::Shopify(ShopifyError::AccessDenied { fields }) => {
            // The app lost the write scope since the store's last check: nothing was sent,
            // and the store needs the scope, not new credentials.
            tracing::warn!(org_id = %record.org_id, shop = %store.shop_domain, action_id = %record.action_id, action, ?fields, "Shopify denied the mutation's scope; it was not sent");
            Sent::ScopeDenied
        }
        error if !started || not_sent(error) => {
            tracing::warn!(org_id = %record.org_id, shop = %store.shop_domain, action_id = %record.action_id, action, %error, "the mutation was not sent");
            Sent::NotSent
        }
        error => {
            tracing::warn!(org_id = %record.org_id, shop = %store.shop_domain, action_id = %record.action_id, action, %error, "the mutation's answer was lost; reading the order back");
            Sent::Lost
        }
    }
}

/// Errors after which Shopify did not run the mutation.
fn not_sent(error: &AccessError) -> bool {
    matches!(
        error,
        AccessError::Shopify(
            ShopifyError::RateLimited { .. }
                | ShopifyError::Unauthorized
                | ShopifyError::PaymentRequired
                | ShopifyError::Forbidden
                | ShopifyError::ShopNotFound
                | ShopifyError::Locked
                | ShopifyError::MaxCostExceeded
                | ShopifyError::NotSent
        ) | AccessError::Secrets(_)
            | AccessError::CredentialsMissing
            | AccessError::NeedsReconnect
    )
}
