//! `cancel_order`: whether an order may be cancelled (decided here, from the live order,
//! never by the model), what the shopper is told will happen, when a person must approve,
//! the order's fingerprint, the staff note Shopify keeps, `orderCancel` and its read-back.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

pub use super::action::Refusal;
use super::action::{
    invalid, order_number, send_once, shop_domain, OrderAction, Refused, Request, Sent, Step,
    Verdict,
};
use super::find::read_order;
use super::ports::{ActionFailure, ActionPorts};
use super::record::ActionRecord;
pub use super::rules::fingerprint;
use super::rules::{minutes_in_words, not_started, within_window, Started};
use crate::deadline::Deadline;
use crate::domain::{ActionKind, CancelPolicy, OrderActionsPolicy};
use crate::shopify::actions::{
    ActionOrder, CancelRefused, CancelRequest, ACTION_TRANSACTIONS, STAFF_NOTE_MAX_CHARS,
};
use crate::store::StoreRecord;

/// The cancellation of a whole order, restocked and refunded.
pub struct Cancel;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelArguments {
    order_number: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    shop_domain: Option<String>,
    /// Accepted only to refuse a partial cancellation in words the AI can relay ([`check`]
    /// reads it from the model's arguments, once the order is found).
    #[serde(default, rename = "items")]
    _items: Option<Value>,
}

/// The longest shopper's reason kept.
const MAX_REASON_CHARS: usize = 500;

#[async_trait]
impl OrderAction for Cancel {
    fn kind(&self) -> ActionKind {
        ActionKind::CancelOrder
    }

    fn parse(&self, arguments: &Value) -> Result<Request, ActionFailure> {
        let args: CancelArguments = serde_json::from_value(arguments.clone())
            .map_err(|e| invalid(format!("The arguments are not valid: {e}.")))?;
        let order_number = order_number(&args.order_number)?;
        let shop = shop_domain(args.shop_domain.as_deref())?;
        let reason: Option<String> = args
            .reason
            .as_deref()
            .map(|r| r.trim().chars().take(MAX_REASON_CHARS).collect());
        let mut stored = json!({ "order_number": args.order_number });
        if let Some(reason) = &reason {
            stored["reason"] = Value::from(reason.as_str());
        }
        if let Some(shop) = &shop {
            stored["shop_domain"] = Value::from(shop.as_str());
        }
        Ok(Request {
            order_number,
            shop,
            arguments: stored,
        })
    }

    /// A partial cancellation is refused first (`items`), then [`check`]; the window is
    /// checked at proposal and confirmation, not at approval.
    fn check(
        &self,
        order: &ActionOrder,
        arguments: &Value,
        policy: &OrderActionsPolicy,
        now: DateTime<Utc>,
        step: Step,
    ) -> Result<(), Refusal> {
        if arguments
            .get("items")
            .is_some_and(|i| !i.is_null() && i.as_array().is_none_or(|a| !a.is_empty()))
        {
            return Err(refuse(
                "partial_cancellation",
                Some("request_return"),
                format!("I can only cancel order {} as a whole. For some of the items, I can start a return request once they arrive.", order.name),
            ));
        }
        check(order, &policy.cancel_order, now, step != Step::Approval)
    }

    fn summary(&self, order: &ActionOrder, _arguments: &Value) -> (String, Value) {
        summary(order)
    }

    fn fingerprint(&self, order: &ActionOrder) -> String {
        fingerprint(order)
    }

    fn needs_approval(&self, order: &ActionOrder, policy: &OrderActionsPolicy) -> bool {
        needs_approval(order, &policy.cancel_order)
    }

    /// `orderCancel`, whole order, restocked, refunded to the original payment methods, with
    /// the staff note. It has no idempotency key: the protocol sends it once.
    async fn send(
        &self,
        ports: &ActionPorts,
        deadline: &Deadline,
        store: &StoreRecord,
        record: &ActionRecord,
    ) -> Sent {
        let request = CancelRequest {
            order_id: record.order_id.clone(),
            staff_note: staff_note(
                &record.conversation_id,
                record.arguments.get("reason").and_then(Value::as_str),
            ),
        };
        let (request, shop) = (&request, &store.shop_domain);
        let sent = send_once(ports, deadline, store, record, |client, token| async move {
            client.cancel_order(deadline, shop, &token, request).await
        })
        .await;
        match sent {
            Ok(started) => Sent::Started {
                job_id: started.job_id,
            },
            Err(sent) => sent,
        }
    }

    /// Cancelled → done; the job finished and the order is not cancelled → failed
    /// (`cancellation_failed`); otherwise (not read, or still cancelling) pending.
    async fn read_back(
        &self,
        ports: &ActionPorts,
        deadline: &Deadline,
        store: &StoreRecord,
        record: &ActionRecord,
        job_finished: bool,
    ) -> Verdict {
        match read_order(&ports.access, deadline, store, &record.order_id).await {
            Ok(Some(order)) if order.is_cancelled() => Verdict::Done(order_view(&order)),
            Ok(Some(_)) if job_finished => Verdict::Failed("cancellation_failed"),
            _ => Verdict::Pending,
        }
    }
}

impl Refused for CancelRefused {
    const BLAMED: &'static str = "restock_unavailable";

    /// The restock is what failed.
    fn blamed(&self) -> bool {
        self.user_errors.iter().any(|e| {
            e.field
                .as_ref()
                .is_some_and(|f| f.iter().any(|p| p.eq_ignore_ascii_case("restock")))
                || e.code
                    .as_deref()
                    .is_some_and(|c| c.to_ascii_lowercase().contains("restock"))
        })
    }

    fn log(&self, record: &ActionRecord, store: &StoreRecord, reason: &'static str) {
        tracing::warn!(org_id = %record.org_id, shop = %store.shop_domain, action_id = %record.action_id, reason, codes = ?self.user_errors.iter().map(|e| e.code.clone()).collect::<Vec<_>>(), "Shopify refused the cancellation");
    }
}

/// What Shopify says about a cancelled order, for the answer.
pub(crate) fn order_view(order: &ActionOrder) -> Value {
    json!({
        "name": order.name,
        "cancelled_at": order.cancelled_at,
        "financial_status": order.display_financial_status,
        "fulfillment_status": order.display_fulfillment_status,
    })
}

fn refuse(reason: &'static str, alternative: Option<&'static str>, message: String) -> Refusal {
    Refusal {
        reason,
        alternative,
        message,
    }
}

/// What the shopper is told when `order` (named `name`) is already on its way.
fn not_cancellable(started: Started, name: &str) -> Refusal {
    let (alternative, message) = match started {
        Started::Fulfilled => (
            Some("request_return"),
            format!("Order {name} has already shipped, so it can't be cancelled. I can start a return request instead."),
        ),
        Started::PartiallyFulfilled => (
            Some("request_return"),
            format!("Part of order {name} has already shipped, so it can't be cancelled. I can start a return request for the shipped items instead."),
        ),
        Started::Unknown => (
            None,
            format!("I can't see how order {name} will be fulfilled, so I can't cancel it here. A team member can help."),
        ),
        Started::Submitted => (
            None,
            format!("Order {name} has already been sent to the warehouse, so it can't be cancelled here. A team member can check whether it can still be stopped."),
        ),
        Started::InProgress => (
            None,
            format!("Order {name} is already being prepared for shipping, so it can't be cancelled here. A team member can check whether it can still be stopped."),
        ),
    };
    refuse(started.reason(), alternative, message)
}

/// Whether `order` may be cancelled under `policy` at `now`. The window is checked at
/// proposal and confirmation (`check_window`), not at approval.
pub fn check(
    order: &ActionOrder,
    policy: &CancelPolicy,
    now: DateTime<Utc>,
    check_window: bool,
) -> Result<(), Refusal> {
    let name = &order.name;
    if order.is_cancelled() {
        return Err(refuse(
            "already_cancelled",
            None,
            format!("Order {name} is already cancelled."),
        ));
    }
    if order.more_line_items || order.transactions.len() >= ACTION_TRANSACTIONS {
        // What the order holds was not read whole: the summary and the fingerprint could not
        // vouch for what is refunded and restocked.
        return Err(refuse(
            "too_many_items",
            None,
            format!("Order {name} has more items or payments than I can check here, so I can't cancel it myself. A team member can help."),
        ));
    }
    if let Err(started) = not_started(order) {
        return Err(not_cancellable(started, name));
    }
    if order.return_status != "NO_RETURN" {
        return Err(refuse(
            "return_in_progress",
            None,
            format!("Order {name} has a return in progress, so it can't be cancelled."),
        ));
    }
    if check_window && !within_window(order, policy.window_minutes, now) {
        return Err(refuse(
            "outside_window",
            None,
            format!(
                "Order {name} was placed more than {} ago, so it can no longer be cancelled here. A team member can help.",
                minutes_in_words(policy.window_minutes)
            ),
        ));
    }
    Ok(())
}

/// An amount in ten-thousandths of a unit (exact for every currency's decimals).
fn units(amount: &str) -> Option<i64> {
    let amount = amount.trim();
    let (negative, amount) = match amount.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, amount),
    };
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let mut fraction: String = fraction.chars().take(4).collect();
    while fraction.len() < 4 {
        fraction.push('0');
    }
    let value =
        whole.parse::<i64>().unwrap_or(0).checked_mul(10_000)? + fraction.parse::<i64>().ok()?;
    Some(if negative { -value } else { value })
}

fn show(units: i64) -> String {
    let cents = (units + 50) / 100;
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// What a cancellation gives back, per payment method.
struct Refunds {
    /// gateway → (amount, automatic)
    refunded: BTreeMap<String, (i64, bool)>,
    voided: BTreeMap<String, i64>,
}

fn refunds(order: &ActionOrder) -> Refunds {
    let mut refunded: BTreeMap<String, (i64, bool)> = BTreeMap::new();
    let mut authorized: BTreeMap<String, i64> = BTreeMap::new();
    for t in order.transactions.iter().filter(|t| t.status == "SUCCESS") {
        let gateway = t.gateway.clone().unwrap_or_else(|| "payment".into());
        let amount = units(&t.amount.amount).unwrap_or(0);
        let manual = t.manual_payment_gateway || gateway == "manual";
        match t.kind.as_str() {
            "SALE" | "CAPTURE" => {
                let entry = refunded.entry(gateway.clone()).or_insert((0, !manual));
                entry.0 += amount;
                if t.kind == "CAPTURE" {
                    *authorized.entry(gateway).or_default() -= amount;
                }
            }
            "REFUND" => refunded.entry(gateway).or_insert((0, !manual)).0 -= amount,
            "AUTHORIZATION" => *authorized.entry(gateway).or_default() += amount,
            "VOID" => *authorized.entry(gateway).or_default() -= amount,
            _ => {}
        }
    }
    refunded.retain(|_, (amount, _)| *amount > 0);
    authorized.retain(|_, amount| *amount > 0);
    Refunds {
        refunded,
        voided: authorized,
    }
}

fn method_words(gateway: &str) -> String {
    match gateway {
        "shopify_payments" => "the original card".into(),
        "gift_card" => "the gift card".into(),
        "manual" => "a manual payment".into(),
        "paypal" => "PayPal".into(),
        other => format!("the original payment method ({})", other.replace('_', " ")),
    }
}

/// The summary the AI reads back and the structured effects of cancelling `order`.
pub fn summary(order: &ActionOrder) -> (String, Value) {
    let currency = &order.currency_code;
    let money = |u: i64| format!("{} {currency}", show(u));
    let found = refunds(order);
    let mut sentences = vec![format!(
        "Order {} will be cancelled as a whole and every item goes back to stock.",
        order.name
    )];
    let mut refund_effects = Vec::new();
    for (gateway, (amount, automatic)) in &found.refunded {
        if *automatic {
            sentences.push(format!(
                "{} will be refunded to {}.",
                money(*amount),
                method_words(gateway)
            ));
        } else {
            sentences.push(format!(
                "{} was paid by {} and is not refunded automatically: the store will arrange that refund.",
                money(*amount),
                method_words(gateway)
            ));
        }
        refund_effects.push(json!({
            "method": gateway, "amount": show(*amount), "currency": currency, "automatic": automatic,
        }));
    }
    let mut void_effects = Vec::new();
    for (gateway, amount) in &found.voided {
        sentences.push(format!(
            "The payment authorization of {} on {} will be released, so it is never charged.",
            money(*amount),
            method_words(gateway)
        ));
        void_effects
            .push(json!({"method": gateway, "amount": show(*amount), "currency": currency}));
    }
    if found.refunded.is_empty() && found.voided.is_empty() {
        sentences.push("Nothing was paid, so there is nothing to refund.".into());
    }
    if order.can_notify_customer {
        sentences.push("Shopify will email the customer a confirmation.".into());
    } else {
        sentences.push("No email will come from the store about it.".into());
    }
    let effects = json!({
        "cancel": "whole_order",
        "refunds": refund_effects,
        "voids": void_effects,
        "restock": true,
        "notify_customer": order.can_notify_customer,
    });
    (sentences.join(" "), effects)
}

/// The refund (net payment) in shop money, in ten-thousandths.
fn refund_units(order: &ActionOrder) -> i64 {
    units(&order.net_payment.amount).unwrap_or(i64::MAX)
}

/// Whether a person must approve this cancellation: `approval_above` is a map by the shop's
/// currency, compared with the refund in shop money; a currency without an entry always
/// waits (and so does an amount that does not read).
pub fn needs_approval(order: &ActionOrder, policy: &CancelPolicy) -> bool {
    let Some(limits) = &policy.approval_above else {
        return false;
    };
    let currency = &order.net_payment.currency_code;
    let Some(limit) = limits
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(currency))
        .and_then(|(_, amount)| units(amount))
    else {
        return true;
    };
    refund_units(order) > limit
}

/// The staff note: the conversation, then the shopper's reason, cut to Shopify's limit.
pub fn staff_note(conversation_id: &str, reason: Option<&str>) -> String {
    let mut note = format!(
        "Cancelled by the AI assistant for the customer in conversation {conversation_id}."
    );
    if let Some(reason) = reason.map(str::trim).filter(|r| !r.is_empty()) {
        note.push_str(" Reason: ");
        note.push_str(reason);
    }
    note.chars().take(STAFF_NOTE_MAX_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shopify::actions::{ActionLineItem, ActionTransaction, FulfillmentOrderState};
    use crate::shopify::types::Money;

    fn money(amount: &str) -> Money {
        Money {
            amount: amount.into(),
            currency_code: "USD".into(),
        }
    }

    fn order() -> ActionOrder {
        ActionOrder {
            id: "gid://shopify/Order/1".into(),
            name: "#1001".into(),
            created_at: (Utc::now() - chrono::Duration::minutes(5)).to_rfc3339(),
            email: Some("jane@example.com".into()),
            customer_email: None,
            cancelled_at: None,
            display_financial_status: Some("PAID".into()),
            display_fulfillment_status: "UNFULFILLED".into(),
            return_status: "NO_RETURN".into(),
            requires_shipping: true,
            can_notify_customer: true,
            currency_code: "USD".into(),
            net_payment: money("120.00"),
            line_items: vec![ActionLineItem {
                id: "gid://shopify/LineItem/1".into(),
                title: "Hat".into(),
                quantity: 1,
                current_quantity: 1,
            }],
            more_line_items: false,
            shipping_address: None,
            fulfillment_orders: vec![FulfillmentOrderState {
                id: "gid://shopify/FulfillmentOrder/1".into(),
                status: "OPEN".into(),
                request_status: "UNSUBMITTED".into(),
                delivery_method: None,
            }],
            more_fulfillment_orders: false,
            transactions: vec![ActionTransaction {
                kind: "SALE".into(),
                status: "SUCCESS".into(),
                gateway: Some("shopify_payments".into()),
                manual_payment_gateway: false,
                amount: money("120.00"),
            }],
            tags: vec![],
            facts: Default::default(),
        }
    }

    fn policy() -> CancelPolicy {
        CancelPolicy {
            enabled: true,
            ..CancelPolicy::default()
        }
    }

    fn reason(order: &ActionOrder) -> &'static str {
        check(order, &policy(), Utc::now(), true)
            .unwrap_err()
            .reason
    }

    #[test]
    fn an_unfulfilled_recent_order_may_be_cancelled() {
        assert_eq!(check(&order(), &policy(), Utc::now(), true), Ok(()));
    }

    #[test]
    fn each_state_that_forbids_a_cancellation_has_its_reason() {
        let mut o = order();
        o.cancelled_at = Some("2026-01-01T00:00:00Z".into());
        assert_eq!(reason(&o), "already_cancelled");
        let mut o = order();
        o.display_fulfillment_status = "FULFILLED".into();
        let refusal = check(&o, &policy(), Utc::now(), true).unwrap_err();
        assert_eq!(
            (refusal.reason, refusal.alternative),
            ("fulfilled", Some("request_return"))
        );
        let mut o = order();
        o.display_fulfillment_status = "PARTIALLY_FULFILLED".into();
        assert_eq!(reason(&o), "partially_fulfilled");
        let mut o = order();
        o.fulfillment_orders[0].request_status = "SUBMITTED".into();
        assert_eq!(reason(&o), "submitted_to_fulfillment_service");
        let mut o = order();
        o.fulfillment_orders[0].request_status = "ACCEPTED".into();
        assert_eq!(reason(&o), "submitted_to_fulfillment_service");
        let mut o = order();
        o.fulfillment_orders[0].status = "IN_PROGRESS".into();
        assert_eq!(reason(&o), "fulfillment_in_progress");
        let mut o = order();
        o.fulfillment_orders.clear();
        assert_eq!(reason(&o), "fulfillment_unknown");
        let mut o = order();
        o.fulfillment_orders[0].status = "CANCELLED".into();
        assert_eq!(
            reason(&o),
            "fulfillment_unknown",
            "no visible live fulfillment order"
        );
        let mut o = order();
        o.return_status = "RETURN_REQUESTED".into();
        assert_eq!(reason(&o), "return_in_progress");
        let mut o = order();
        o.created_at = (Utc::now() - chrono::Duration::minutes(61)).to_rfc3339();
        assert_eq!(reason(&o), "outside_window");
        assert_eq!(
            check(&o, &policy(), Utc::now(), false),
            Ok(()),
            "approvals skip the window"
        );
    }

    #[test]
    fn a_rejected_request_and_an_on_hold_order_still_qualify() {
        let mut o = order();
        o.fulfillment_orders[0].request_status = "REJECTED".into();
        o.fulfillment_orders[0].status = "ON_HOLD".into();
        o.fulfillment_orders.push(FulfillmentOrderState {
            id: "gid://shopify/FulfillmentOrder/2".into(),
            status: "CANCELLED".into(),
            request_status: "SUBMITTED".into(),
            delivery_method: None,
        });
        assert_eq!(check(&o, &policy(), Utc::now(), true), Ok(()));
    }

    #[test]
    fn the_summary_names_each_refund_and_a_manual_payment_is_not_refunded_automatically() {
        let mut o = order();
        o.transactions.push(ActionTransaction {
            kind: "SALE".into(),
            status: "SUCCESS".into(),
            gateway: Some("manual".into()),
            manual_payment_gateway: true,
            amount: money("5.5"),
        });
        o.can_notify_customer = false;
        let (summary, effects) = summary(&o);
        assert!(
            summary.contains("120.00 USD will be refunded to the original card"),
            "{summary}"
        );
        assert!(
            summary.contains(
                "5.50 USD was paid by a manual payment and is not refunded automatically"
            ),
            "{summary}"
        );
        assert!(summary.contains("No email will come"), "{summary}");
        assert_eq!(effects["refunds"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn approval_above_compares_the_refund_in_the_shops_currency() {
        let mut p = policy();
        assert!(!needs_approval(&order(), &p));
        p.approval_above = Some(BTreeMap::from([("USD".into(), "200.00".into())]));
        assert!(!needs_approval(&order(), &p));
        p.approval_above = Some(BTreeMap::from([("USD".into(), "100".into())]));
        assert!(needs_approval(&order(), &p));
        p.approval_above = Some(BTreeMap::from([("EUR".into(), "1000".into())]));
        assert!(
            needs_approval(&order(), &p),
            "no entry for USD: a person decides"
        );
    }

    #[test]
    fn the_fingerprint_ignores_tags_and_sees_fulfillment_changes() {
        let mut tagged = order();
        tagged.tags.push("vip".into());
        assert_eq!(fingerprint(&order()), fingerprint(&tagged));
        let mut submitted = order();
        submitted.fulfillment_orders[0].request_status = "SUBMITTED".into();
        assert_ne!(fingerprint(&order()), fingerprint(&submitted));
    }

    #[test]
    fn the_staff_note_names_the_conversation_first_and_fits_shopifys_limit() {
        let note = staff_note("conv-9", Some(&"x".repeat(400)));
        assert!(note.starts_with(
            "Cancelled by the AI assistant for the customer in conversation conv-9. Reason: x"
        ));
        assert_eq!(note.chars().count(), STAFF_NOTE_MAX_CHARS);
    }
}
