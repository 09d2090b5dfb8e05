//! Rules several order actions share, decided from the live order: whether nothing of it is on
//! its way yet (what a cancellation and an address change both need), whether it was placed
//! within a policy's window, and the fingerprint a proposal keeps of it.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::shopify::actions::ActionOrder;

/// How far an order is on its way: why it can no longer be changed as if nothing had
/// started. Each is a refusal's `details.reason`; the words are the action's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Started {
    /// Everything shipped.
    Fulfilled,
    /// Some items shipped.
    PartiallyFulfilled,
    /// Being prepared, picked or packed (a fulfillment order in progress, a status the
    /// rules do not know).
    InProgress,
    /// No fulfillment order is visible (or not all of them are): nothing can be vouched for.
    Unknown,
    /// A fulfillment service has the request or accepted it.
    Submitted,
}

impl Started {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Fulfilled => "fulfilled",
            Self::PartiallyFulfilled => "partially_fulfilled",
            Self::InProgress => "fulfillment_in_progress",
            Self::Unknown => "fulfillment_unknown",
            Self::Submitted => "submitted_to_fulfillment_service",
        }
    }
}

/// Fulfillment statuses of an order nothing of which has been fulfilled or started.
const UNSTARTED: [&str; 5] = [
    "UNFULFILLED",
    "OPEN",
    "SCHEDULED",
    "ON_HOLD",
    "REQUEST_DECLINED",
];
/// Fulfillment order statuses of work not started.
const FO_WAITING: [&str; 3] = ["OPEN", "SCHEDULED", "ON_HOLD"];
/// Request statuses of a fulfillment order no fulfillment service has taken.
const FO_UNREQUESTED: [&str; 2] = ["UNSUBMITTED", "REJECTED"];

/// Whether nothing of `order` is on its way: nothing fulfilled, and every non-cancelled
/// fulfillment order `OPEN`, `SCHEDULED` or `ON_HOLD` with `requestStatus` `UNSUBMITTED` or
/// `REJECTED`. An order with no visible fulfillment order (or more than were read) is
/// refused: what cannot be seen cannot be vouched for.
pub fn not_started(order: &ActionOrder) -> Result<(), Started> {
    match order.display_fulfillment_status.as_str() {
        "FULFILLED" => return Err(Started::Fulfilled),
        "PARTIALLY_FULFILLED" => return Err(Started::PartiallyFulfilled),
        status if !UNSTARTED.contains(&status) => return Err(Started::InProgress),
        _ => {}
    }
    let live: Vec<_> = order
        .fulfillment_orders
        .iter()
        .filter(|f| f.status != "CANCELLED")
        .collect();
    if live.is_empty() || order.more_fulfillment_orders {
        return Err(Started::Unknown);
    }
    if live
        .iter()
        .any(|f| !FO_UNREQUESTED.contains(&f.request_status.as_str()))
    {
        return Err(Started::Submitted);
    }
    if live
        .iter()
        .any(|f| !FO_WAITING.contains(&f.status.as_str()))
    {
        return Err(Started::InProgress);
    }
    Ok(())
}

/// Whether `order` was placed at most `window_minutes` before `now` (an order whose
/// timestamp does not read is not).
pub fn within_window(order: &ActionOrder, window_minutes: u32, now: DateTime<Utc>) -> bool {
    let window = chrono::Duration::minutes(i64::from(window_minutes));
    order
        .placed_at()
        .is_some_and(|placed| now <= placed + window)
}

/// `90 minutes`, `2 hours`, `1 day`: a window as the shopper is told it.
pub fn minutes_in_words(minutes: u32) -> String {
    match minutes {
        m if m % 1440 == 0 => plural(m / 1440, "day"),
        m if m % 60 == 0 => plural(m / 60, "hour"),
        m => plural(m, "minute"),
    }
}

fn plural(n: u32, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// What a decision about `order` rested on: a change to any of it between proposal and
/// confirmation (or approval) is `order_changed`. `cancelledAt`, the financial status, the
/// net payment (shop money), line items and quantities, the shipping address, the fulfillment
/// orders' ids, statuses and request statuses, the return status. Tags, notes and metafields
/// do not count.
pub fn fingerprint(order: &ActionOrder) -> String {
    let shape = json!({
        "cancelled_at": order.cancelled_at,
        "financial_status": order.display_financial_status,
        "net_payment": [order.net_payment.amount, order.net_payment.currency_code],
        "line_items": order.line_items.iter().map(|l| json!([l.id, l.quantity, l.current_quantity])).collect::<Vec<_>>(),
        "more_line_items": order.more_line_items,
        "shipping_address": order.shipping_address,
        "fulfillment_orders": order.fulfillment_orders.iter().map(|f| json!([f.id, f.status, f.request_status])).collect::<Vec<_>>(),
        "return_status": order.return_status,
    });
    let digest = ring::digest::digest(&ring::digest::SHA256, shape.to_string().as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
