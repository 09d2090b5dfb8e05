//! `get_order_details`: route by order-number format, keep exact name matches, and release an
//! order only to the person it belongs to — with where it is (each shipment's carrier events
//! and items) and where its refunds are, read by a second request for the one order answered.
//!
//! That second request (`OrderTimeline`) is sent only when the order has shipments or may have
//! refunds ([`Order::needs_timeline`]); otherwise its refunds are `null` and named in
//! `data.missing`, never claimed to be none. The search leaves the timeline a slice of the
//! budget ([`search_deadline`]), so one store that hangs cannot spend it all, and the timeline
//! has a time limit of its own ([`TIMELINE_CAP`]), so a slow one holds back a ready answer
//! only that long. When it fails or runs out of time the order is still answered, from what
//! the first request read (status, tracking, the carrier's estimate): the events, the items per
//! shipment and the refunds are then `null` and named in `data.missing`, and the store is not
//! an error (it answered the order).
//!
//! Whom an order belongs to: over the direct invoke, the platform's `contact.email` when the
//! organization's `require_email_match` is on; over MCP, the `email` argument given with the
//! order number, always (the two facts together). A mismatch answers `order_not_found`, the
//! same answer as a missing order.

use std::time::Duration;

use crate::access::{Access, AccessError, StoreFailure};
use crate::deadline::Deadline;
use crate::domain::{Email, OrderNumber};
use crate::failure::Code;
use crate::routing::{self, Target};
use crate::shopify::orders::{Order, OrderTimeline};
use crate::store::StoreRecord;
use crate::views::OrderDetails;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{arguments, Failure, Success};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    order_number: String,
}

/// The MCP variant: the shopper's email is an argument, never vouched for by a platform.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWithEmail {
    order_number: String,
    email: String,
}

/// The checked arguments.
pub(super) struct Arguments {
    number: OrderNumber,
    /// The email given with the order number (MCP): always checked against the order's.
    email: Option<Email>,
}

impl Arguments {
    /// The direct invoke's arguments: `{order_number}`; the contact comes with the event.
    pub fn parse(raw: &Value) -> Result<Self, Failure> {
        let raw: Raw = arguments(raw)?;
        Ok(Self {
            number: order_number(&raw.order_number)?,
            email: None,
        })
    }

    /// MCP's arguments: `{order_number, email}`, both required.
    pub fn parse_with_email(raw: &Value) -> Result<Self, Failure> {
        let raw: RawWithEmail = arguments(raw)?;
        let number = order_number(&raw.order_number)?;
        let email = Email::parse(&raw.email).map_err(|_| {
            Failure::invalid_arguments(
                "email must be the email address the order was placed with, such as jane@example.com. Ask the customer for it.",
            )
        })?;
        Ok(Self {
            number,
            email: Some(email),
        })
    }

    /// The email given with the order number, if this door takes one.
    pub fn email(&self) -> Option<&str> {
        self.email.as_ref().map(Email::as_str)
    }
}

fn order_number(raw: &str) -> Result<OrderNumber, Failure> {
    OrderNumber::parse(raw).map_err(|_| {
        Failure::invalid_arguments(format!(
            "{:?} is not an order number. Ask the customer for their order number, which looks like #1042.",
            raw.chars().take(40).collect::<String>()
        ))
    })
}

/// Whether `contact_email` is the order's or its customer's email (trimmed, any case).
pub(super) fn email_matches(order: &Order, contact_email: &str) -> bool {
    let wanted = contact_email.trim();
    !wanted.is_empty()
        && order
            .emails()
            .any(|e| e.trim().eq_ignore_ascii_case(wanted))
}

/// Whether the store's app sees only the last 60 days of orders (no `read_all_orders`).
fn sees_only_60_days(store: &StoreRecord) -> bool {
    store
        .warnings
        .iter()
        .any(|w| w.code == "orders_limited_to_60_days")
}

/// The timeline request's own time limit, within what is left of the lookup's: one request,
/// retried only if the retry fits in it. A slow or hanging timeline costs the answer this
/// long at most, and then only its events, items and refunds.
pub(super) const TIMELINE_CAP: Duration = Duration::from_secs(2);

/// The deadline of the search: the lookup's, less what is kept for the timeline — a quarter
/// of the time left, at most [`TIMELINE_CAP`] (2 s of the default 8 s budget). A store still
/// searching then is reported like any store out of time; the order another store found is
/// still answered with its timeline.
fn search_deadline(deadline: &Deadline) -> Deadline {
    deadline.minus(TIMELINE_CAP.min(deadline.remaining() / 4))
}

/// Asks each target store for the number and keeps the orders that are exactly it and that
/// the contact may see.
async fn ask<'a>(
    access: &Access,
    deadline: &Deadline,
    stores: &'a [StoreRecord],
    targets: &[Target],
    contact_email: Option<&str>,
    searched: &mut Vec<crate::domain::ShopDomain>,
    errors: &mut Vec<StoreFailure>,
) -> Vec<(&'a StoreRecord, Order)> {
    let fan_out = access
        .fan_out_targets(
            stores,
            targets,
            deadline,
            |store, token, target| async move {
                access
                    .shopify()
                    .find_orders_named(
                        deadline,
                        &store.shop_domain,
                        &token,
                        &target.search_name,
                        |name| routing::is_exact(name, target),
                    )
                    .await
            },
        )
        .await;
    searched.extend(fan_out.searched);
    errors.extend(fan_out.errors);
    fan_out
        .results
        .into_iter()
        .flat_map(|(store, orders)| orders.into_iter().map(move |o| (store, o)))
        .filter(|(_, o)| contact_email.is_none_or(|email| email_matches(o, email)))
        .collect()
}

/// The order's timeline, read from its store within [`TIMELINE_CAP`] (and `deadline`); `None`
/// when it is not worth a request ([`Order::needs_timeline`]) or the read failed.
async fn timeline(
    access: &Access,
    deadline: &Deadline,
    store: &StoreRecord,
    order: &Order,
) -> Option<OrderTimeline> {
    if !order.needs_timeline() {
        return None;
    }
    let id = order.id.as_deref()?;
    let deadline = &deadline.within(TIMELINE_CAP);
    let read: Result<Option<OrderTimeline>, AccessError> = deadline
        .run(access.with_token(store, deadline, |token| async move {
            access
                .shopify()
                .order_timeline(deadline, &store.shop_domain, &token, id)
                .await
        }))
        .await;
    match read {
        Ok(Some(timeline)) => Some(timeline),
        Ok(None) => {
            tracing::warn!(shop = %store.shop_domain, "the order was gone when its timeline was read; answering without it");
            None
        }
        Err(error) => {
            tracing::warn!(shop = %store.shop_domain, code = %error.code(), %error, "the order's timeline could not be read; answering without it");
            None
        }
    }
}

pub(super) async fn get_order_details(
    access: &Access,
    deadline: &Deadline,
    stores: &[StoreRecord],
    require_email_match: bool,
    args: &Arguments,
    contact_email: Option<&str>,
) -> Result<Success, Failure> {
    let number = &args.number;
    let required_email = if require_email_match {
        Some(contact_email.ok_or_else(|| {
            Failure::new(
                Code::VerificationRequired,
                "I need the email address the order was placed with before I can share order details.",
            )
        })?)
    } else {
        None
    };

    // A store that withholds customer emails cannot check whom an order belongs to: it is
    // not asked at all, so the answer cannot depend on whether the order is there. Routing is
    // planned over every store first, so leaving one out sends its numbers nowhere else.
    let mut plan = routing::plan(stores, number);
    // Stores left out of each round: [first, then].
    let mut unverifiable = [0; 2];
    if required_email.is_some() {
        for (left_out, round) in unverifiable
            .iter_mut()
            .zip([&mut plan.first, &mut plan.then])
        {
            let before = round.len();
            round.retain(|t| !stores[t.index].withholds_emails());
            *left_out = before - round.len();
        }
    }
    let (unverifiable_first, unverifiable) = (unverifiable[0], unverifiable[0] + unverifiable[1]);
    let mut searched = Vec::new();
    let mut errors = Vec::new();
    let search = search_deadline(deadline);
    let mut found = ask(
        access,
        &search,
        stores,
        &plan.first,
        required_email,
        &mut searched,
        &mut errors,
    )
    .await;
    // The second round asks the stores the number routes to less well; it stands in for the
    // first only when every store of the first answered that the order is not there. A store
    // of the first that failed or was left out may hold the order the shopper means, and the
    // other stores' order of the same number is then someone else's.
    let first_round_sure = errors.is_empty() && unverifiable_first == 0;
    if found.is_empty() && first_round_sure && !plan.then.is_empty() && !search.is_expired() {
        found = ask(
            access,
            &search,
            stores,
            &plan.then,
            required_email,
            &mut searched,
            &mut errors,
        )
        .await;
    }
    if found.is_empty() {
        if unverifiable > 0 {
            return Err(Failure::new(
                Code::VerificationUnavailable,
                format!("This store can't verify order emails yet, so I can't share the details of order {number} here. A team member can look it up for the customer."),
            ));
        }
        if !errors.is_empty() {
            return Err(Failure::no_store_answered(&errors));
        }
        let mut message = format!("I couldn't find order {number} for this customer. Please check the order number and the email address used for the order.");
        if stores
            .iter()
            .filter(|s| searched.contains(&s.shop_domain))
            .any(sees_only_60_days)
        {
            message.push_str(" Orders placed more than 60 days ago can't be looked up here yet, so if the order is older, a team member can check it.");
        }
        return Err(Failure::new(Code::OrderNotFound, message));
    }
    found.sort_by(|a, b| b.1.created_at.cmp(&a.1.created_at));
    let (store, newest) = &found[0];
    let timeline = timeline(access, deadline, store, newest).await;
    let mut data = serde_json::to_value(OrderDetails::new(newest, store, timeline.as_ref()))
        .expect("an order view always serializes");
    let others: Vec<Value> = found[1..]
        .iter()
        .map(|(s, o)| json!({"shop_domain": s.shop_domain, "name": o.name}))
        .collect();
    if !others.is_empty() {
        data["other_matches"] = Value::Array(others);
    }
    Ok(Success {
        data,
        fan_out_searched: searched,
        fan_out_errors: errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_mcp_variant_needs_the_order_number_and_an_email_together() {
        let args = Arguments::parse_with_email(
            &json!({"order_number": "#1001", "email": " Jane@Example.com "}),
        )
        .expect("both given");
        assert_eq!(args.email(), Some("Jane@Example.com"));
        for raw in [
            json!({"order_number": "#1001"}),
            json!({"order_number": "#1001", "email": "jane"}),
            json!({"order_number": "#1001", "email": ""}),
            json!({"order_number": "#1001", "email": 7}),
            json!({"order_number": "#1001", "email": "jane@example.com", "contact": "x"}),
        ] {
            let failure = Arguments::parse_with_email(&raw).err().expect("refused");
            assert_eq!(failure.code, Code::InvalidArguments, "{raw}");
        }
    }

    #[test]
    fn the_direct_invoke_takes_no_email_argument() {
        assert!(Arguments::parse(&json!({"order_number": "#1001"}))
            .expect("the number alone")
            .email()
            .is_none());
        let failure =
            Arguments::parse(&json!({"order_number": "#1001", "email": "jane@example.com"}))
                .err()
                .expect("the contact comes with the event");
        assert_eq!(failure.code, Code::InvalidArguments);
    }
}
