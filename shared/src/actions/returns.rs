//! `request_return`: whether shipped items of an order may go back (decided here, from the
//! live order and its returnable fulfillments, never by the model), which fulfillment line
//! items the shopper's items are taken from (oldest fulfillment first), what the shopper is
//! told (the store reviews the request; nothing is refunded now), the fingerprint,
//! `returnRequest` and its read-back from the order's returns.
//!
//! The items resolved at the proposal are kept in its `effects` (each with the fulfillment
//! line items it is taken from) with the reason's id and the order's returns so far: the
//! fingerprint covers them, so a confirmation or an approval that passes its re-check sends
//! exactly what the shopper was told, and the returns kept are those the order had just before
//! the request.
//!
//! The read-back: when Shopify answered with the return it created, that return, read by its
//! id (absent → `failed`); when the answer was lost, a return that was not on the order before
//! the request, created around the time it was sent, carrying exactly those fulfillment line
//! items (none once the request can no longer land → `failed`).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::action::{
    invalid, order_number, send_once, shop_domain, OrderAction, Refusal, Refused, Request, Sent,
    Step, Verdict,
};
use super::cancel::fingerprint as order_fingerprint;
use super::ports::{ActionFailure, ActionPorts};
use super::record::ActionRecord;
use super::{unavailable, EXECUTION_LEASE};
use crate::access::AccessError;
use crate::deadline::Deadline;
use crate::domain::{ActionKind, OrderActionsPolicy, OrderNumber, ReturnPolicy, ShopDomain};
use crate::shopify::actions::ActionOrder;
use crate::shopify::returns::{
    ListedReturn, OrderReturn, ReturnFacts, ReturnItem, ReturnLine, ReturnRefused, ReturnRequest,
    ReturnRequestLine, ReturnableFulfillment, CUSTOMER_NOTE_MAX_CHARS, MAX_RETURN_LINES,
};
use crate::shopify::ShopifyError;
use crate::store::StoreRecord;

/// A return request for shipped items, reviewed by the store; never a refund.
pub struct RequestReturn;

/// Items one request may name (the manifest's `maxItems`).
const MAX_ITEMS: usize = 50;
/// The most of one item (the manifest's `maximum`).
const MAX_QUANTITY: i64 = 1000;
/// The highest line item position read.
const MAX_POSITION: u64 = 1000;
/// The longest line item title read.
const MAX_TITLE_CHARS: usize = 255;
/// The longest reason handle read (the manifest's `maxLength`).
const MAX_REASON_CHARS: usize = 100;
/// How far Shopify's clock may be from ours when a return's creation is compared with the
/// time the request was sent.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);
/// The most returns new since the request that are read by id, looking for one whose answer was
/// lost: with more, the outcome is left to a later read.
const MAX_CANDIDATES: usize = 5;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArguments {
    order_number: String,
    items: Vec<RawItem>,
    reason: String,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    shop_domain: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    line_item: Value,
    quantity: Value,
}

/// How the shopper names a line item: as `get_order_details` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum LineItemRef {
    /// Its title, trimmed (matched case-insensitively).
    Title(String),
    /// Its 1-based position in the order's line items.
    Position(usize),
}

impl LineItemRef {
    fn stored(&self) -> Value {
        match self {
            Self::Title(title) => Value::from(title.as_str()),
            Self::Position(position) => Value::from(*position),
        }
    }
}

/// The model's arguments, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Arguments {
    order_number: String,
    number: OrderNumber,
    shop: Option<ShopDomain>,
    items: Vec<(LineItemRef, i64)>,
    /// The reason's handle, trimmed and lowercase.
    reason: String,
    /// Trimmed; `None` when empty.
    note: Option<String>,
}

impl Arguments {
    fn parse(arguments: &Value) -> Result<Self, ActionFailure> {
        let raw: RawArguments = serde_json::from_value(arguments.clone())
            .map_err(|e| invalid(format!("The arguments are not valid: {e}.")))?;
        let number = order_number(&raw.order_number)?;
        let shop = shop_domain(raw.shop_domain.as_deref())?;
        if raw.items.is_empty() || raw.items.len() > MAX_ITEMS {
            return Err(field_error(
                "items",
                format!("items must list from 1 to {MAX_ITEMS} items going back."),
            ));
        }
        let items = raw
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                Ok((
                    line_item_ref(i, &item.line_item)?,
                    quantity(i, &item.quantity)?,
                ))
            })
            .collect::<Result<Vec<_>, ActionFailure>>()?;
        let reason = raw.reason.trim().to_ascii_lowercase();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return Err(field_error(
                "reason",
                "reason must be one of the store's return reason handles, e.g. \"defective\".",
            ));
        }
        let note = raw
            .note
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        if note
            .as_deref()
            .is_some_and(|n| n.chars().count() > CUSTOMER_NOTE_MAX_CHARS)
        {
            return Err(field_error(
                "note",
                format!("note must be at most {CUSTOMER_NOTE_MAX_CHARS} characters: keep the customer's words short."),
            ));
        }
        Ok(Self {
            order_number: raw.order_number,
            number,
            shop,
            items,
            reason,
            note,
        })
    }

    /// What the proposal keeps (and [`Arguments::parse`] reads again).
    fn stored(&self) -> Value {
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|(item, quantity)| json!({"line_item": item.stored(), "quantity": quantity}))
            .collect();
        let mut stored = json!({
            "order_number": self.order_number,
            "items": items,
            "reason": self.reason,
        });
        if let Some(note) = &self.note {
            stored["note"] = Value::from(note.as_str());
        }
        if let Some(shop) = &self.shop {
            stored["shop_domain"] = Value::from(shop.as_str());
        }
        stored
    }
}

fn field_error(field: &str, message: impl Into<String>) -> ActionFailure {
    invalid(message).with_details(json!({ "field": field }))
}

fn line_item_ref(index: usize, value: &Value) -> Result<LineItemRef, ActionFailure> {
    let bad = || {
        field_error(
            &format!("items[{index}].line_item"),
            "Each item's line_item must be its title as get_order_details shows it, or its position in line_items (1 for the first).",
        )
    };
    match value {
        Value::String(title) => {
            let title = title.trim();
            if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
                return Err(bad());
            }
            Ok(LineItemRef::Title(title.to_owned()))
        }
        Value::Number(n) => n
            .as_u64()
            .filter(|p| (1..=MAX_POSITION).contains(p))
            .map(|p| LineItemRef::Position(p as usize))
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

fn quantity(index: usize, value: &Value) -> Result<i64, ActionFailure> {
    value
        .as_i64()
        .filter(|q| (1..=MAX_QUANTITY).contains(q))
        .ok_or_else(|| {
            field_error(
                &format!("items[{index}].quantity"),
                format!("Each item's quantity must be a whole number from 1 to {MAX_QUANTITY}."),
            )
        })
}

/// What the proposal's `effects` hold: the items going back, each with the fulfillment line
/// items it is taken from, and the reason with its id — what the mutation sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Effects {
    /// Always `request`: the store reviews it.
    #[serde(rename = "return")]
    kind: String,
    /// Always `false`: a return request refunds nothing.
    refund_now: bool,
    items: Vec<EffectItem>,
    reason: EffectReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    /// The GIDs of the order's returns when the proposal was made (the fingerprint keeps them
    /// unchanged until the request is sent): none of them is the one the request creates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    existing_returns: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct EffectItem {
    line_item: String,
    #[serde(default)]
    variant_title: Option<String>,
    position: usize,
    quantity: i64,
    fulfillment_line_items: Vec<EffectLine>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct EffectLine {
    id: String,
    quantity: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct EffectReason {
    handle: String,
    name: String,
    id: String,
}

impl Effects {
    fn of(record: &ActionRecord) -> Option<Self> {
        serde_json::from_value(record.effects.clone()).ok()
    }

    /// Each fulfillment line item going back and how many of it.
    fn lines(&self) -> BTreeMap<String, i64> {
        let mut lines = BTreeMap::new();
        for line in self.items.iter().flat_map(|i| &i.fulfillment_line_items) {
            *lines.entry(line.id.clone()).or_insert(0) += line.quantity;
        }
        lines
    }
}

#[async_trait]
impl OrderAction for RequestReturn {
    fn kind(&self) -> ActionKind {
        ActionKind::RequestReturn
    }

    fn parse(&self, arguments: &Value) -> Result<Request, ActionFailure> {
        let args = Arguments::parse(arguments)?;
        Ok(Request {
            order_number: args.number.clone(),
            shop: args.shop.clone(),
            arguments: args.stored(),
        })
    }

    /// The order's returnable fulfillments and the reason, then the shopper's items resolved
    /// against them: an unknown reason, an item not on the order or a title two items share
    /// is `invalid_arguments`.
    async fn read_facts(
        &self,
        ports: &ActionPorts,
        deadline: &Deadline,
        store: &StoreRecord,
        arguments: &Value,
        order: &mut ActionOrder,
    ) -> Result<(), ActionFailure> {
        let args = Arguments::parse(arguments)?;
        let access = &ports.access;
        let order_id = order.id.clone();
        let reason = args.reason.as_str();
        let mut facts = access
            .with_token(store, deadline, |token| {
                let order_id = &order_id;
                async move {
                    access
                        .shopify()
                        .return_facts(deadline, &store.shop_domain, &token, order_id, reason)
                        .await
                }
            })
            .await
            .map_err(|error| read_failure(store, &error))?;
        if facts.reason.is_none() {
            return Err(unknown_reason(ports, deadline, store, reason).await);
        }
        facts.items = resolve(order, &facts, &args.items)?;
        order.facts.returns = Some(facts);
        Ok(())
    }

    /// [`check`]; the window is checked at proposal and confirmation, not at approval.
    fn check(
        &self,
        order: &ActionOrder,
        _arguments: &Value,
        policy: &OrderActionsPolicy,
        now: DateTime<Utc>,
        step: Step,
    ) -> Result<(), Refusal> {
        check(order, &policy.request_return, now, step != Step::Approval)
    }

    fn summary(&self, order: &ActionOrder, arguments: &Value) -> (String, Value) {
        let note = Arguments::parse(arguments).ok().and_then(|a| a.note);
        summary(order, note.as_deref())
    }

    fn fingerprint(&self, order: &ActionOrder) -> String {
        fingerprint(order)
    }

    fn needs_approval(&self, _order: &ActionOrder, _policy: &OrderActionsPolicy) -> bool {
        false
    }

    /// `returnRequest` with the fulfillment line items and the reason the proposal holds, and
    /// the shopper's note. It has no idempotency key: the protocol sends it once.
    async fn send(
        &self,
        ports: &ActionPorts,
        deadline: &Deadline,
        store: &StoreRecord,
        record: &ActionRecord,
    ) -> Sent {
        let Some(request) = request_of(record) else {
            tracing::error!(org_id = %record.org_id, action_id = %record.action_id, "the proposal holds no items to return; nothing was sent");
            return Sent::NotSent;
        };
        let (request, shop) = (&request, &store.shop_domain);
        let sent = send_once(ports, deadline, store, record, |client, token| async move {
            client.request_return(deadline, shop, &token, request).await
        })
        .await;
        match sent {
            Ok(Some(created)) => {
                tracing::info!(org_id = %record.org_id, shop = %store.shop_domain, action_id = %record.action_id, return_id = %created.id, status = %created.status, "Shopify took the return request");
                Sent::Created { id: created.id }
            }
            Ok(None) => {
                tracing::warn!(org_id = %record.org_id, shop = %store.shop_domain, action_id = %record.action_id, "Shopify took the return request without naming the return; reading the order's returns");
                Sent::Applied
            }
            Err(sent) => sent,
        }
    }

    /// With the return Shopify named: that return, read by its id → done (its status and id
    /// in the answer); absent → failed, `return_not_created`; unreadable → pending. Without
    /// one (the answer was lost, or named nothing): see [`search`].
    async fn read_back(
        &self,
        ports: &ActionPorts,
        deadline: &Deadline,
        store: &StoreRecord,
        record: &ActionRecord,
        job_finished: bool,
    ) -> Verdict {
        let Some(effects) = Effects::of(record) else {
            // `send` sends nothing without them.
            return Verdict::Failed("return_not_created");
        };
        let Some(id) = record.created_id.as_deref() else {
            return search(ports, deadline, store, record, &effects, job_finished).await;
        };
        match read_return(ports, deadline, store, id).await {
            Ok(Some(found)) if found.order_id == record.order_id => {
                Verdict::Done(outcome(record, &found))
            }
            Ok(Some(_)) => {
                tracing::error!(action_id = %record.action_id, return_id = id, "the return Shopify named belongs to another order");
                Verdict::Pending
            }
            Ok(None) => {
                tracing::warn!(action_id = %record.action_id, return_id = id, "the return Shopify named is not there");
                Verdict::Failed("return_not_created")
            }
            Err(error) => {
                tracing::warn!(action_id = %record.action_id, return_id = id, %error, "the return could not be read");
                Verdict::Pending
            }
        }
    }
}

/// What the answer says of a return found: the order's return status and the return.
fn outcome(record: &ActionRecord, found: &OrderReturn) -> Value {
    json!({
        "name": record.order_name,
        "return_status": found.order_return_status,
        "return": {"id": found.id, "name": found.name, "status": found.status},
    })
}

async fn read_return(
    ports: &ActionPorts,
    deadline: &Deadline,
    store: &StoreRecord,
    id: &str,
) -> Result<Option<OrderReturn>, AccessError> {
    let access = &ports.access;
    access
        .with_token(store, deadline, |token| async move {
            access
                .shopify()
                .return_by_id(deadline, &store.shop_domain, &token, id)
                .await
        })
        .await
}

/// The read-back of a request whose answer was lost (or named no return): the order's
/// returns that were not there before the request (`Effects::existing_returns`) and were
/// created around the time it was sent ([`new_since`]), each read by id; the one carrying
/// exactly the requested fulfillment line items → done. None once nothing can still land →
/// failed, `return_not_created`: `returnRequest` is synchronous, so after its answer
/// (`job_finished`), or [`EXECUTION_LEASE`] after sending, the request has landed or never
/// will. Before that, or when the returns cannot all be read, pending.
async fn search(
    ports: &ActionPorts,
    deadline: &Deadline,
    store: &StoreRecord,
    record: &ActionRecord,
    effects: &Effects,
    job_finished: bool,
) -> Verdict {
    let access = &ports.access;
    let read = access
        .with_token(store, deadline, |token| async move {
            access
                .shopify()
                .order_returns(deadline, &store.shop_domain, &token, &record.order_id)
                .await
        })
        .await;
    let listed = match read {
        Ok(Some(listed)) => listed,
        Ok(None) => {
            tracing::warn!(action_id = %record.action_id, "the order's returns could not be read: no such order");
            return Verdict::Pending;
        }
        Err(error) => {
            tracing::warn!(action_id = %record.action_id, %error, "the order's returns could not be read");
            return Verdict::Pending;
        }
    };
    let sent_at = record.executing_since.unwrap_or(record.updated_at);
    let candidates = new_since(&listed.returns, &effects.existing_returns, sent_at);
    if candidates.len() > MAX_CANDIDATES {
        tracing::warn!(action_id = %record.action_id, candidates = candidates.len(), "too many new returns to read now; the outcome is read later");
        return Verdict::Pending;
    }
    let wanted = effects.lines();
    let mut unread = listed.incomplete;
    for candidate in candidates {
        match read_return(ports, deadline, store, &candidate.id).await {
            Ok(Some(found)) if found.order_id == record.order_id && lines_of(&found) == wanted => {
                return Verdict::Done(outcome(record, &found));
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(action_id = %record.action_id, return_id = %candidate.id, %error, "a new return could not be read");
                unread = true;
            }
        }
    }
    if unread {
        Verdict::Pending
    } else if job_finished || ports.clock.now() >= sent_at + EXECUTION_LEASE {
        Verdict::Failed("return_not_created")
    } else {
        Verdict::Pending
    }
}

/// The returns of `listed` not in `before` and created from `sent_at` less [`CLOCK_SKEW`] to
/// [`EXECUTION_LEASE`] and [`CLOCK_SKEW`] after it (a creation time that cannot be read counts
/// as within).
fn new_since<'a>(
    listed: &'a [ListedReturn],
    before: &[String],
    sent_at: DateTime<Utc>,
) -> Vec<&'a ListedReturn> {
    let before: BTreeSet<&str> = before.iter().map(String::as_str).collect();
    let earliest = sent_at - CLOCK_SKEW;
    let latest = sent_at + EXECUTION_LEASE + CLOCK_SKEW;
    listed
        .iter()
        .filter(|r| !before.contains(r.id.as_str()))
        .filter(|r| parse_time(&r.created_at).is_none_or(|at| (earliest..=latest).contains(&at)))
        .collect()
}

/// Each fulfillment line item a return carries and how many of it.
fn lines_of(found: &OrderReturn) -> BTreeMap<String, i64> {
    let mut lines = BTreeMap::new();
    for (id, quantity) in &found.lines {
        *lines.entry(id.clone()).or_insert(0) += quantity;
    }
    lines
}

/// Why the facts could not be read: the store's app lost `read_returns` (`action_unavailable`),
/// or Shopify's own failure.
fn read_failure(store: &StoreRecord, error: &AccessError) -> ActionFailure {
    if let AccessError::Shopify(ShopifyError::AccessDenied { .. }) = error {
        return unavailable(store, &["read_returns"]);
    }
    tracing::warn!(shop = %store.shop_domain, %error, "could not read what the return request rests on");
    let code = error.code();
    ActionFailure::new(code, code.ai_message())
}

/// `invalid_arguments` naming the shop's reason handles (when they can be read).
async fn unknown_reason(
    ports: &ActionPorts,
    deadline: &Deadline,
    store: &StoreRecord,
    reason: &str,
) -> ActionFailure {
    let access = &ports.access;
    let handles = access
        .with_token(store, deadline, |token| async move {
            access
                .shopify()
                .return_reason_handles(deadline, &store.shop_domain, &token)
                .await
        })
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(shop = %store.shop_domain, %error, "could not list the store's return reasons");
            Vec::new()
        });
    let listed = if handles.is_empty() {
        String::new()
    } else {
        format!(" Use one of: {}.", handles.join(", "))
    };
    invalid(format!(
        "{reason:?} is not one of this store's return reasons.{listed}"
    ))
    .with_details(json!({ "field": "reason", "handles": handles }))
}

/// An item as the shopper may be shown it: its position, title and variant.
fn item_view(order: &ActionOrder, facts: &ReturnFacts, index: usize) -> Value {
    let line = &order.line_items[index];
    json!({
        "position": index + 1,
        "title": line.title,
        "variant_title": variant_of(facts, &line.id),
        "quantity": line.quantity,
    })
}

fn variant_of<'a>(facts: &'a ReturnFacts, line_item_id: &str) -> Option<&'a str> {
    facts
        .line_items
        .iter()
        .find(|l| l.id == line_item_id)
        .and_then(|l| l.variant_title.as_deref())
}

fn in_words(title: &str, variant: Option<&str>) -> String {
    match variant {
        Some(variant) if !variant.trim().is_empty() => format!("{title} ({variant})"),
        _ => title.to_owned(),
    }
}

/// An item the order does not have: `invalid_arguments` listing the order's items — or, when
/// the order has more items than were read, a refusal (the item may be among them).
fn not_on_order(order: &ActionOrder, facts: &ReturnFacts, named: &str) -> ActionFailure {
    if order.more_line_items {
        return too_many_items(&order.name).into();
    }
    let items: Vec<Value> = (0..order.line_items.len())
        .map(|i| item_view(order, facts, i))
        .collect();
    let listed: Vec<String> = order
        .line_items
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                "{}. {}",
                i + 1,
                in_words(&l.title, variant_of(facts, &l.id))
            )
        })
        .collect();
    invalid(format!(
        "Order {} has no item {named}. Its items are: {}.",
        order.name,
        listed.join("; ")
    ))
    .with_details(json!({ "field": "items", "line_items": items }))
}

/// The index of the line item `item` names.
fn find_line_item(
    order: &ActionOrder,
    facts: &ReturnFacts,
    item: &LineItemRef,
) -> Result<usize, ActionFailure> {
    match item {
        LineItemRef::Position(position) => {
            if (1..=order.line_items.len()).contains(position) {
                Ok(position - 1)
            } else {
                Err(not_on_order(
                    order,
                    facts,
                    &format!("at position {position}"),
                ))
            }
        }
        LineItemRef::Title(title) => {
            let wanted = title.to_lowercase();
            let matches: Vec<usize> = order
                .line_items
                .iter()
                .enumerate()
                .filter(|(_, l)| l.title.trim().to_lowercase() == wanted)
                .map(|(i, _)| i)
                .collect();
            match matches[..] {
                [] => Err(not_on_order(order, facts, &format!("called {title:?}"))),
                [index] => Ok(index),
                _ => {
                    let listed: Vec<String> = matches
                        .iter()
                        .map(|i| {
                            let l = &order.line_items[*i];
                            format!(
                                "{}. {}",
                                i + 1,
                                in_words(&l.title, variant_of(facts, &l.id))
                            )
                        })
                        .collect();
                    Err(invalid(format!(
                        "More than one item of order {} is called {title:?}: {}. Ask the customer which one and pass its position instead.",
                        order.name,
                        listed.join("; ")
                    ))
                    .with_details(json!({
                        "field": "items",
                        "matches": matches.iter().map(|i| item_view(order, facts, *i)).collect::<Vec<_>>(),
                    })))
                }
            }
        }
    }
}

fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The shopper's items resolved against `facts`: each named line item (the same one named
/// twice counts once, with the quantities added) and its quantity spread over its returnable
/// fulfillment line items, oldest fulfillment first.
fn resolve(
    order: &ActionOrder,
    facts: &ReturnFacts,
    wanted: &[(LineItemRef, i64)],
) -> Result<Vec<ReturnItem>, ActionFailure> {
    let mut chosen: Vec<(usize, i64)> = Vec::new();
    for (item, quantity) in wanted {
        let index = find_line_item(order, facts, item)?;
        match chosen.iter_mut().find(|(i, _)| *i == index) {
            Some((_, total)) => *total += quantity,
            None => chosen.push((index, *quantity)),
        }
    }
    let mut oldest_first: Vec<&ReturnableFulfillment> = facts.fulfillments.iter().collect();
    oldest_first.sort_by_key(|f| {
        let at = parse_time(&f.created_at);
        (at.is_none(), at, f.fulfillment_id.clone())
    });
    Ok(chosen
        .into_iter()
        .map(|(index, quantity)| allocate(order, facts, &oldest_first, index, quantity))
        .collect())
}

fn allocate(
    order: &ActionOrder,
    facts: &ReturnFacts,
    oldest_first: &[&ReturnableFulfillment],
    index: usize,
    quantity: i64,
) -> ReturnItem {
    let line = &order.line_items[index];
    let mut left = quantity;
    let mut returnable = 0;
    let mut lines = Vec::new();
    for fulfillment in oldest_first {
        for part in fulfillment
            .line_items
            .iter()
            .filter(|l| l.line_item_id == line.id && l.quantity > 0)
        {
            returnable += part.quantity;
            let take = left.min(part.quantity);
            if take > 0 {
                lines.push(ReturnLine {
                    fulfillment_line_item_id: part.fulfillment_line_item_id.clone(),
                    quantity: take,
                    returnable: part.quantity,
                    window_start: fulfillment.window_start().to_owned(),
                });
                left -= take;
            }
        }
    }
    let shipping = facts.line_items.iter().find(|l| l.id == line.id);
    ReturnItem {
        position: index + 1,
        line_item_id: line.id.clone(),
        title: line.title.clone(),
        variant_title: shipping.and_then(|s| s.variant_title.clone()),
        quantity,
        returnable,
        unfulfilled: shipping.map_or(0, |s| s.unfulfilled_quantity),
        product_tags: shipping.map_or_else(Vec::new, |s| s.product_tags.clone()),
        lines,
    }
}

fn refuse(reason: &'static str, alternative: Option<&'static str>, message: String) -> Refusal {
    Refusal {
        reason,
        alternative,
        message,
    }
}

fn too_many_items(name: &str) -> Refusal {
    refuse(
        "too_many_items",
        None,
        format!("Order {name} has more items or shipments than I can check here, so I can't start the return myself. A team member can help."),
    )
}

fn plural_days(days: u32) -> String {
    if days == 1 {
        "1 day".into()
    } else {
        format!("{days} days")
    }
}

/// Whether the items of `order.facts.returns` may go back under `policy` at `now`: neither the
/// order nor the product of an item going back is tagged with an excluded tag
/// (case-insensitive), the order is not cancelled, every item shipped and is still returnable
/// in the quantity asked, and (`check_window`: at proposal and confirmation, not at approval)
/// every fulfillment it comes from was delivered — or, without a delivery date, fulfilled —
/// within `window_days`.
pub fn check(
    order: &ActionOrder,
    policy: &ReturnPolicy,
    now: DateTime<Utc>,
    check_window: bool,
) -> Result<(), Refusal> {
    let name = &order.name;
    if order.is_cancelled() {
        return Err(refuse(
            "already_cancelled",
            None,
            format!("Order {name} was cancelled, so there is nothing to return."),
        ));
    }
    let excluded = |tags: &[String]| {
        tags.iter().any(|tag| {
            policy
                .excluded_tags
                .iter()
                .any(|x| x.trim().to_lowercase() == tag.trim().to_lowercase())
        })
    };
    if excluded(&order.tags) {
        return Err(refuse(
            "excluded_tag",
            None,
            format!("Items from order {name} can't be returned under the store's return policy. A team member can help."),
        ));
    }
    let Some(facts) = order.facts.returns.as_ref() else {
        return Err(refuse(
            "not_returnable",
            None,
            format!("I can't see which items of order {name} can be returned, so I can't start a return here. A team member can help."),
        ));
    };
    if let Some(item) = facts.items.iter().find(|i| excluded(&i.product_tags)) {
        return Err(refuse(
            "excluded_tag",
            None,
            format!(
                "{} from order {name} can't be returned under the store's return policy. A team member can help.",
                in_words(&item.title, item.variant_title.as_deref())
            ),
        ));
    }
    let lines: usize = facts.items.iter().map(|i| i.lines.len()).sum();
    if facts.incomplete || lines > MAX_RETURN_LINES {
        return Err(too_many_items(name));
    }
    for item in &facts.items {
        if item.quantity <= item.returnable {
            continue;
        }
        let what = in_words(&item.title, item.variant_title.as_deref());
        let refusal = match (item.unfulfilled > 0, item.returnable) {
            (true, 0) if order.display_fulfillment_status == "UNFULFILLED" => refuse(
                "not_fulfilled",
                Some("cancel_order"),
                format!("Nothing from order {name} has shipped yet, so it can't be returned. I can check whether the order can still be cancelled instead."),
            ),
            (true, 0) => refuse(
                "not_fulfilled",
                None,
                format!("{what} from order {name} hasn't shipped yet, so it can't be returned."),
            ),
            (true, n) => refuse(
                "not_fulfilled",
                None,
                format!("Only {n} of {what} from order {name} have shipped so far, so only those can be returned now."),
            ),
            (false, 0) => refuse(
                "not_returnable",
                None,
                format!("{what} from order {name} can't be returned: it is already on a return or isn't returnable. A team member can help."),
            ),
            (false, n) => refuse(
                "not_returnable",
                None,
                format!("Only {n} of {what} from order {name} can still be returned; the rest is already on a return or isn't returnable."),
            ),
        };
        return Err(refusal);
    }
    if check_window {
        let window = chrono::Duration::days(i64::from(policy.window_days));
        for item in &facts.items {
            let late = item.lines.iter().any(|line| {
                parse_time(&line.window_start).is_none_or(|start| now > start + window)
            });
            if late {
                return Err(refuse(
                    "outside_window",
                    None,
                    format!(
                        "{} from order {name} arrived more than {} ago, so it can no longer be returned here. A team member can help.",
                        in_words(&item.title, item.variant_title.as_deref()),
                        plural_days(policy.window_days)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The summary the AI reads back and the effects (which the mutation sends): the items and
/// quantities going back, the reason, and that the store reviews the request — nothing is
/// refunded now.
pub fn summary(order: &ActionOrder, note: Option<&str>) -> (String, Value) {
    let Some(facts) = order.facts.returns.as_ref() else {
        return (
            format!(
                "A return request for items of order {} will be sent to the store.",
                order.name
            ),
            json!({"return": "request", "refund_now": false}),
        );
    };
    let reason = facts.reason.clone().map_or(
        EffectReason {
            handle: String::new(),
            name: String::new(),
            id: String::new(),
        },
        |r| EffectReason {
            handle: r.handle,
            name: r.name,
            id: r.id,
        },
    );
    let listed: Vec<String> = facts
        .items
        .iter()
        .map(|i| {
            format!(
                "{} × {}",
                i.quantity,
                in_words(&i.title, i.variant_title.as_deref())
            )
        })
        .collect();
    let items = match listed.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    };
    let mut sentences = vec![
        format!(
            "A return request for order {} will be sent to the store: {items}, reason \"{}\".",
            order.name, reason.name
        ),
        "The store reviews the request and tells the customer how to send the items back; nothing is refunded now.".to_owned(),
    ];
    if note.is_some() {
        sentences.push("The customer's note goes with it.".into());
    }
    let effects = Effects {
        kind: "request".into(),
        refund_now: false,
        items: facts
            .items
            .iter()
            .map(|i| EffectItem {
                line_item: i.title.clone(),
                variant_title: i.variant_title.clone(),
                position: i.position,
                quantity: i.quantity,
                fulfillment_line_items: i
                    .lines
                    .iter()
                    .map(|l| EffectLine {
                        id: l.fulfillment_line_item_id.clone(),
                        quantity: l.quantity,
                    })
                    .collect(),
            })
            .collect(),
        reason,
        note: note.map(str::to_owned),
        existing_returns: facts.return_ids.clone(),
    };
    (
        sentences.join(" "),
        serde_json::to_value(effects).unwrap_or(Value::Null),
    )
}

/// What the decision rested on: the contract's order fields, the reason, each item with the
/// fulfillment line items it is taken from and their returnable quantities, and the order's
/// returns so far.
pub fn fingerprint(order: &ActionOrder) -> String {
    let returns = order.facts.returns.as_ref();
    let existing: Option<BTreeSet<&str>> =
        returns.map(|f| f.return_ids.iter().map(String::as_str).collect());
    let shape = json!({
        "returns": existing,
        "order": order_fingerprint(order),
        "reason": returns.and_then(|f| f.reason.as_ref()).map(|r| r.id.clone()),
        "items": returns.map(|f| f.items.iter().map(|i| json!([
            i.line_item_id, i.quantity, i.returnable,
            i.lines.iter().map(|l| json!([l.fulfillment_line_item_id, l.quantity, l.returnable])).collect::<Vec<_>>(),
        ])).collect::<Vec<_>>()),
    });
    let digest = ring::digest::digest(&ring::digest::SHA256, shape.to_string().as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The request the proposal's effects and arguments hold; `None` when they hold no item.
fn request_of(record: &ActionRecord) -> Option<ReturnRequest> {
    let effects = Effects::of(record)?;
    let lines: Vec<ReturnRequestLine> = effects
        .lines()
        .into_iter()
        .filter(|(_, quantity)| *quantity > 0)
        .map(|(id, quantity)| ReturnRequestLine {
            fulfillment_line_item_id: id,
            quantity,
        })
        .collect();
    if lines.is_empty() || effects.reason.id.is_empty() {
        return None;
    }
    Some(ReturnRequest {
        order_id: record.order_id.clone(),
        lines,
        reason_definition_id: effects.reason.id,
        customer_note: record
            .arguments
            .get("note")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

impl Refused for ReturnRefused {
    const BLAMED: &'static str = "not_returnable";

    /// Shopify blames an item or its quantity.
    fn blamed(&self) -> bool {
        self.user_errors.iter().any(|e| {
            e.field.as_ref().is_some_and(|f| {
                f.iter()
                    .any(|p| p == "quantity" || p == "fulfillmentLineItemId")
            })
        })
    }

    fn log(&self, record: &ActionRecord, store: &StoreRecord, reason: &'static str) {
        tracing::warn!(org_id = %record.org_id, shop = %store.shop_domain, action_id = %record.action_id, reason, codes = ?self.user_errors.iter().map(|e| e.code.clone()).collect::<Vec<_>>(), "Shopify refused the return request");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shopify::actions::{ActionLineItem, FulfillmentOrderState};
    use crate::shopify::returns::{LineItemShipping, ReturnReason, ReturnableLine};
    use crate::shopify::types::Money;

    fn days_ago(days: i64) -> String {
        (Utc::now() - chrono::Duration::days(days)).to_rfc3339()
    }

    fn line_item(n: u32, title: &str, quantity: i64) -> ActionLineItem {
        ActionLineItem {
            id: format!("gid://shopify/LineItem/{n}"),
            title: title.into(),
            quantity,
            current_quantity: quantity,
        }
    }

    fn order() -> ActionOrder {
        ActionOrder {
            id: "gid://shopify/Order/1".into(),
            name: "#1001".into(),
            created_at: days_ago(20),
            email: Some("jane@example.com".into()),
            customer_email: None,
            cancelled_at: None,
            display_financial_status: Some("PAID".into()),
            display_fulfillment_status: "FULFILLED".into(),
            return_status: "NO_RETURN".into(),
            requires_shipping: true,
            can_notify_customer: true,
            currency_code: "USD".into(),
            net_payment: Money {
                amount: "80.00".into(),
                currency_code: "USD".into(),
            },
            line_items: vec![
                line_item(1, "Trail Runner", 3),
                line_item(2, "Wool Hat", 1),
                line_item(3, "Wool Hat", 1),
            ],
            more_line_items: false,
            shipping_address: None,
            fulfillment_orders: vec![FulfillmentOrderState {
                id: "gid://shopify/FulfillmentOrder/1".into(),
                status: "CLOSED".into(),
                request_status: "UNSUBMITTED".into(),
                delivery_method: None,
            }],
            more_fulfillment_orders: false,
            transactions: vec![],
            tags: vec![],
            facts: Default::default(),
        }
    }

    fn part(fli: u32, line: u32, quantity: i64) -> ReturnableLine {
        ReturnableLine {
            fulfillment_line_item_id: format!("gid://shopify/FulfillmentLineItem/{fli}"),
            line_item_id: format!("gid://shopify/LineItem/{line}"),
            quantity,
        }
    }

    /// A newer shipment listed first (2 runners, delivered), then an older one (1 runner and
    /// both hats, no delivery date).
    fn facts() -> ReturnFacts {
        ReturnFacts {
            fulfillments: vec![
                ReturnableFulfillment {
                    fulfillment_id: "gid://shopify/Fulfillment/2".into(),
                    created_at: days_ago(4),
                    delivered_at: Some(days_ago(2)),
                    line_items: vec![part(21, 1, 2)],
                },
                ReturnableFulfillment {
                    fulfillment_id: "gid://shopify/Fulfillment/1".into(),
                    created_at: days_ago(10),
                    delivered_at: None,
                    line_items: vec![part(11, 1, 1), part(12, 2, 1), part(13, 3, 1)],
                },
            ],
            incomplete: false,
            reason: Some(ReturnReason {
                id: "gid://shopify/ReturnReasonDefinition/3".into(),
                handle: "defective".into(),
                name: "Defective".into(),
            }),
            line_items: vec![
                LineItemShipping {
                    id: "gid://shopify/LineItem/2".into(),
                    variant_title: Some("Red".into()),
                    unfulfilled_quantity: 0,
                    product_tags: vec![],
                },
                LineItemShipping {
                    id: "gid://shopify/LineItem/3".into(),
                    variant_title: Some("Blue".into()),
                    unfulfilled_quantity: 0,
                    product_tags: vec!["Final-Sale".into()],
                },
            ],
            items: vec![],
            return_ids: vec!["gid://shopify/Return/1".into()],
        }
    }

    fn resolved(wanted: &[(LineItemRef, i64)]) -> ActionOrder {
        let mut o = order();
        let mut f = facts();
        f.items = resolve(&o, &f, wanted).unwrap();
        o.facts.returns = Some(f);
        o
    }

    fn title(t: &str) -> LineItemRef {
        LineItemRef::Title(t.into())
    }

    fn policy() -> ReturnPolicy {
        ReturnPolicy {
            enabled: true,
            ..ReturnPolicy::default()
        }
    }

    fn reason(order: &ActionOrder) -> &'static str {
        check(order, &policy(), Utc::now(), true)
            .unwrap_err()
            .reason
    }

    #[test]
    fn the_arguments_are_kept_trimmed_with_positions_as_numbers() {
        let request = RequestReturn
            .parse(&json!({
                "order_number": "#1001",
                "items": [{"line_item": "  Trail Runner ", "quantity": 2}, {"line_item": 3, "quantity": 1}],
                "reason": " Defective ",
                "note": "  too tight  ",
            }))
            .unwrap();
        assert_eq!(
            request.arguments,
            json!({
                "order_number": "#1001",
                "items": [{"line_item": "Trail Runner", "quantity": 2}, {"line_item": 3, "quantity": 1}],
                "reason": "defective",
                "note": "too tight",
            })
        );
        assert_eq!(
            Arguments::parse(&request.arguments).unwrap().stored(),
            request.arguments,
            "what is kept reads back the same"
        );
    }

    #[test]
    fn arguments_out_of_bounds_are_invalid_and_name_the_field() {
        let base = json!({"order_number": "#1001", "items": [{"line_item": 1, "quantity": 1}], "reason": "defective"});
        let cases = [
            ("items", json!([])),
            (
                "items",
                Value::Array(vec![json!({"line_item": 1, "quantity": 1}); 51]),
            ),
            (
                "items[0].quantity",
                json!([{"line_item": 1, "quantity": 0}]),
            ),
            (
                "items[0].quantity",
                json!([{"line_item": 1, "quantity": 1.5}]),
            ),
            (
                "items[0].line_item",
                json!([{"line_item": 0, "quantity": 1}]),
            ),
            (
                "items[0].line_item",
                json!([{"line_item": "  ", "quantity": 1}]),
            ),
            (
                "items[0].line_item",
                json!([{"line_item": true, "quantity": 1}]),
            ),
        ];
        for (field, items) in cases {
            let mut args = base.clone();
            args["items"] = items;
            let refused = RequestReturn.parse(&args).unwrap_err();
            assert_eq!(refused.code, crate::failure::Code::InvalidArguments);
            assert_eq!(refused.details.unwrap()["field"], field, "{args}");
        }
        let mut long = base.clone();
        long["note"] = Value::from("x".repeat(301));
        assert_eq!(
            RequestReturn.parse(&long).unwrap_err().details.unwrap()["field"],
            "note"
        );
        long["note"] = Value::from(format!("  {}  ", "x".repeat(300)));
        assert!(
            RequestReturn.parse(&long).is_ok(),
            "300 characters once trimmed"
        );
        let mut blank = base.clone();
        blank["reason"] = Value::from(" ");
        assert!(RequestReturn.parse(&blank).is_err());
        let mut extra = base;
        extra["refund"] = Value::from(true);
        assert!(
            RequestReturn.parse(&extra).is_err(),
            "unknown keys are refused"
        );
    }

    #[test]
    fn a_quantity_is_spread_over_the_returnable_fulfillments_oldest_first() {
        let o = resolved(&[(title("trail runner"), 2)]);
        let item = &o.facts.returns.as_ref().unwrap().items[0];
        assert_eq!((item.position, item.returnable), (1, 3));
        let lines: Vec<_> = item
            .lines
            .iter()
            .map(|l| (l.fulfillment_line_item_id.as_str(), l.quantity))
            .collect();
        assert_eq!(
            lines,
            [
                ("gid://shopify/FulfillmentLineItem/11", 1),
                ("gid://shopify/FulfillmentLineItem/21", 1)
            ]
        );
        assert_eq!(check(&o, &policy(), Utc::now(), true), Ok(()));
    }

    #[test]
    fn a_position_names_the_line_item_and_the_same_item_twice_adds_up() {
        let o = resolved(&[(LineItemRef::Position(3), 1)]);
        let items = &o.facts.returns.as_ref().unwrap().items;
        assert_eq!(items[0].line_item_id, "gid://shopify/LineItem/3");
        assert_eq!(items[0].variant_title.as_deref(), Some("Blue"));
        let o = resolved(&[(title("Trail Runner"), 1), (LineItemRef::Position(1), 2)]);
        let items = &o.facts.returns.as_ref().unwrap().items;
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].quantity, 3);
    }

    #[test]
    fn a_title_two_items_share_or_an_item_not_on_the_order_is_invalid_with_the_items_listed() {
        let o = order();
        let f = facts();
        let ambiguous = resolve(&o, &f, &[(title("WOOL HAT"), 1)]).unwrap_err();
        assert_eq!(ambiguous.code, crate::failure::Code::InvalidArguments);
        let matches = &ambiguous.details.as_ref().unwrap()["matches"];
        assert_eq!(matches[0]["position"], 2);
        assert_eq!(matches[1]["variant_title"], "Blue");
        assert!(
            ambiguous.message.contains("2. Wool Hat (Red)"),
            "{}",
            ambiguous.message
        );
        let missing = resolve(&o, &f, &[(title("Scarf"), 1)]).unwrap_err();
        assert_eq!(missing.code, crate::failure::Code::InvalidArguments);
        assert_eq!(
            missing.details.unwrap()["line_items"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        let beyond = resolve(&o, &f, &[(LineItemRef::Position(4), 1)]).unwrap_err();
        assert_eq!(beyond.code, crate::failure::Code::InvalidArguments);
    }

    #[test]
    fn each_state_that_forbids_a_return_has_its_reason() {
        let mut o = resolved(&[(title("Trail Runner"), 4)]);
        assert_eq!(reason(&o), "not_returnable", "3 of 4 returnable");
        o.facts.returns.as_mut().unwrap().items[0].unfulfilled = 1;
        assert_eq!(reason(&o), "not_fulfilled", "the fourth has not shipped");
        let mut o = resolved(&[(title("Trail Runner"), 1)]);
        o.cancelled_at = Some(days_ago(1));
        assert_eq!(reason(&o), "already_cancelled");
        let mut o = resolved(&[(title("Trail Runner"), 1)]);
        o.tags = vec!["Final-Sale".into()];
        assert_eq!(
            reason(&o),
            "excluded_tag",
            "tags compare case-insensitively"
        );
        let mut o = resolved(&[(title("Trail Runner"), 1)]);
        o.facts.returns.as_mut().unwrap().incomplete = true;
        assert_eq!(reason(&o), "too_many_items");
        let mut o = order();
        o.display_fulfillment_status = "UNFULFILLED".into();
        let mut f = facts();
        f.fulfillments.clear();
        f.line_items[0].unfulfilled_quantity = 1;
        f.items = resolve(&o, &f, &[(LineItemRef::Position(2), 1)]).unwrap();
        o.facts.returns = Some(f);
        let refusal = check(&o, &policy(), Utc::now(), true).unwrap_err();
        assert_eq!(
            (refusal.reason, refusal.alternative),
            ("not_fulfilled", Some("cancel_order"))
        );
    }

    #[test]
    fn the_window_counts_from_delivery_or_else_from_the_fulfillment_and_approvals_skip_it() {
        let mut p = policy();
        p.window_days = 3;
        let runner_from_old = resolved(&[(title("Trail Runner"), 1)]);
        let refusal = check(&runner_from_old, &p, Utc::now(), true).unwrap_err();
        assert_eq!(
            refusal.reason, "outside_window",
            "fulfilled 10 days ago, no delivery date"
        );
        assert!(refusal.message.contains("3 days"), "{}", refusal.message);
        assert_eq!(check(&runner_from_old, &p, Utc::now(), false), Ok(()));
        let mut delivered = resolved(&[(title("Trail Runner"), 1)]);
        let f = delivered.facts.returns.as_mut().unwrap();
        f.fulfillments.retain(|f| f.delivered_at.is_some());
        f.items = resolve(&order(), f, &[(title("Trail Runner"), 1)]).unwrap();
        assert_eq!(
            check(&delivered, &p, Utc::now(), true),
            Ok(()),
            "fulfilled 4 days ago but delivered 2 days ago"
        );
    }

    #[test]
    fn the_fingerprint_sees_returnable_quantities_and_ignores_tags_and_deliveries() {
        let o = resolved(&[(title("Trail Runner"), 1)]);
        let mut tagged = o.clone();
        tagged.tags.push("vip".into());
        assert_eq!(fingerprint(&o), fingerprint(&tagged));
        let mut delivered = o.clone();
        delivered.facts.returns.as_mut().unwrap().items[0].lines[0].window_start = days_ago(0);
        assert_eq!(
            fingerprint(&o),
            fingerprint(&delivered),
            "a delivery date arriving meanwhile changes nothing the shopper agreed to"
        );
        let mut fewer = order();
        let mut f = facts();
        f.fulfillments[1].line_items[0].quantity = 0;
        f.items = resolve(&fewer, &f, &[(title("Trail Runner"), 1)]).unwrap();
        fewer.facts.returns = Some(f);
        assert_ne!(fingerprint(&o), fingerprint(&fewer));
    }

    #[test]
    fn the_summary_lists_what_goes_back_and_refunds_nothing_now() {
        let o = resolved(&[(title("Trail Runner"), 2), (LineItemRef::Position(2), 1)]);
        let (summary, effects) = summary(&o, Some("too tight"));
        assert!(
            summary.contains("2 × Trail Runner and 1 × Wool Hat (Red), reason \"Defective\""),
            "{summary}"
        );
        assert!(summary.contains("nothing is refunded now"), "{summary}");
        assert_eq!(effects["refund_now"], false);
        assert_eq!(effects["reason"]["handle"], "defective");
        assert_eq!(
            effects["items"][0]["fulfillment_line_items"][0]["quantity"],
            1
        );
        assert_eq!(effects["note"], "too tight");
    }

    #[test]
    fn only_returns_new_since_the_request_and_created_around_it_are_looked_at() {
        let sent_at = Utc::now();
        let listed = |id: &str, created: DateTime<Utc>| ListedReturn {
            id: id.into(),
            created_at: created.to_rfc3339(),
        };
        let returns = [
            listed(
                "gid://shopify/Return/1",
                sent_at - chrono::Duration::minutes(1),
            ),
            listed(
                "gid://shopify/Return/2",
                sent_at - chrono::Duration::minutes(6),
            ),
            listed(
                "gid://shopify/Return/3",
                sent_at + chrono::Duration::seconds(1),
            ),
            listed(
                "gid://shopify/Return/4",
                sent_at + chrono::Duration::minutes(8),
            ),
            ListedReturn {
                id: "gid://shopify/Return/5".into(),
                created_at: "yesterday".into(),
            },
        ];
        let before = ["gid://shopify/Return/1".to_owned()];
        let found: Vec<&str> = new_since(&returns, &before, sent_at)
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(
            found,
            ["gid://shopify/Return/3", "gid://shopify/Return/5"],
            "1 was there before; 2 is older than the clocks' skew; 4 came after the request could land"
        );
    }

    #[test]
    fn a_product_tagged_with_an_excluded_tag_is_not_returned_though_the_order_is_not_tagged() {
        let blue = resolved(&[(LineItemRef::Position(3), 1)]);
        let refusal = check(&blue, &policy(), Utc::now(), true).unwrap_err();
        assert_eq!(refusal.reason, "excluded_tag");
        assert!(
            refusal.message.contains("Wool Hat (Blue)"),
            "{}",
            refusal.message
        );
        let red = resolved(&[(LineItemRef::Position(2), 1)]);
        assert_eq!(
            check(&red, &policy(), Utc::now(), true),
            Ok(()),
            "its product has no tag"
        );
    }

    #[test]
    fn the_proposal_keeps_the_orders_returns_so_far_and_a_new_one_changes_the_fingerprint() {
        let o = resolved(&[(title("Trail Runner"), 1)]);
        let (_, effects) = summary(&o, None);
        assert_eq!(
            effects["existing_returns"],
            json!(["gid://shopify/Return/1"])
        );
        let mut another = o.clone();
        another
            .facts
            .returns
            .as_mut()
            .unwrap()
            .return_ids
            .push("gid://shopify/Return/2".into());
        assert_ne!(fingerprint(&o), fingerprint(&another));
    }
}
