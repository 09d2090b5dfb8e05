//! `update_shipping_address`: whether an order's shipping address may still be changed
//! (decided here, from the live order, the shop's countries and the org's policy, never by the
//! model), what the shopper is told (the old and the new address in full; shipping costs and
//! taxes stay as they were), `orderUpdate` with the whole new address, and the read-back that
//! compares the order's address part by part.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::action::{
    invalid, order_number, send_once, shop_domain, OrderAction, Refusal, Refused, Request, Sent,
    Step, Verdict,
};
use super::find::read_order;
use super::ports::{ActionFailure, ActionPorts};
use super::record::ActionRecord;
use super::rules::{fingerprint, minutes_in_words, not_started, within_window, Started};
use crate::deadline::Deadline;
use crate::domain::address::same_zip;
use crate::domain::{ActionKind, NewAddress, OrderActionsPolicy};
use crate::shopify::actions::{ActionOrder, ShippingAddress};
use crate::shopify::address::AddressRefused;
use crate::store::StoreRecord;

/// The change of an order's whole shipping address.
pub struct UpdateAddress;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressArguments {
    order_number: String,
    #[serde(default)]
    address: Option<Value>,
    #[serde(default)]
    shop_domain: Option<String>,
}

/// How long after it was sent an `orderUpdate` whose answer was lost may still land (Shopify
/// runs it within its request, which ends well before this): once it has passed, an order
/// that does not show the new address did not take it.
pub const LATE_WRITE: chrono::Duration = chrono::Duration::minutes(2);

/// The parts of an address in the contract's order: `first_name`, `last_name`, `company`,
/// `address1`, `address2`, `city`, `province_code`, `zip`, `country_code`, `phone`.
const KEYS: [&str; 10] = [
    "first_name",
    "last_name",
    "company",
    "address1",
    "address2",
    "city",
    "province_code",
    "zip",
    "country_code",
    "phone",
];
const ZIP: usize = 7;

type Parts<'a> = [Option<&'a str>; 10];

fn parts_of_new(a: &NewAddress) -> Parts<'_> {
    [
        Some(a.first_name.as_str()),
        Some(a.last_name.as_str()),
        a.company.as_deref(),
        Some(a.address1.as_str()),
        a.address2.as_deref(),
        Some(a.city.as_str()),
        a.province_code.as_deref(),
        a.zip.as_deref(),
        Some(a.country_code.as_str()),
        a.phone.as_deref(),
    ]
}

fn parts_of_order(a: &ShippingAddress) -> Parts<'_> {
    [
        a.first_name.as_deref(),
        a.last_name.as_deref(),
        a.company.as_deref(),
        a.address1.as_deref(),
        a.address2.as_deref(),
        a.city.as_deref(),
        a.province_code.as_deref(),
        a.zip.as_deref(),
        a.country_code.as_deref(),
        a.phone.as_deref(),
    ]
}

/// An address as effects and answers show it: the contract's keys, absent parts left out.
fn shown(parts: &Parts<'_>) -> Value {
    let mut object = Map::new();
    for (key, value) in KEYS.iter().zip(parts) {
        if let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) {
            object.insert((*key).to_owned(), Value::from(value));
        }
    }
    Value::Object(object)
}

/// An address on one line, as the shopper reads it back.
fn in_words(parts: &Parts<'_>) -> String {
    let join = |items: &[Option<&str>]| {
        items
            .iter()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let phone = parts[9].map(|p| format!("phone {}", p.trim()));
    [
        join(&parts[0..2]),
        join(&parts[2..3]),
        join(&parts[3..4]),
        join(&parts[4..5]),
        join(&parts[5..8]),
        join(&parts[8..9]),
        phone.unwrap_or_default(),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(", ")
}

/// A part as compared: trimmed, inner whitespace collapsed, ASCII-lowercase; absent and blank
/// alike.
fn compared(value: Option<&str>) -> String {
    let value = value.unwrap_or_default();
    let words: Vec<&str> = value.split_whitespace().collect();
    words.join(" ").to_ascii_lowercase()
}

/// Whether the part at `index` ([`KEYS`]) reads the same in `a` and `b`: a postal code as
/// Shopify may rewrite it ([`same_zip`]: `1540023` is kept as `154-0023`), any other part by
/// [`compared`].
fn same_part(index: usize, a: Option<&str>, b: Option<&str>) -> bool {
    if index == ZIP {
        same_zip(a.unwrap_or_default(), b.unwrap_or_default())
    } else {
        compared(a) == compared(b)
    }
}

/// Whether the order's address is `expected`, part by part.
fn same(read: &ShippingAddress, expected: &NewAddress) -> bool {
    parts_of_order(read)
        .iter()
        .zip(parts_of_new(expected))
        .enumerate()
        .all(|(i, (a, b))| same_part(i, *a, b))
}

/// The parts of `old` (as the effects show it: [`KEYS`], absent parts left out) that the
/// change was to make different and that `read` now shows as `expected` has them: some but
/// not all of them means Shopify took part of the change.
fn parts_changed(old: &Value, read: &ShippingAddress, expected: &NewAddress) -> usize {
    if !old.is_object() {
        return 0;
    }
    let read = parts_of_order(read);
    let new = parts_of_new(expected);
    KEYS.iter()
        .enumerate()
        .filter(|(i, key)| {
            let before = old.get(**key).and_then(Value::as_str);
            !same_part(*i, before, new[*i]) && same_part(*i, read[*i], new[*i])
        })
        .count()
}

/// The parts ([`KEYS`]) in which `read` is not `expected`: names only, for the logs.
fn parts_differing(read: &ShippingAddress, expected: &NewAddress) -> Vec<&'static str> {
    let read = parts_of_order(read);
    let new = parts_of_new(expected);
    KEYS.iter()
        .enumerate()
        .filter(|(i, _)| !same_part(*i, read[*i], new[*i]))
        .map(|(_, key)| *key)
        .collect()
}

/// `DeliveryMethodType`s that bring the order to an address the shopper gave (a carrier or
/// the store's local delivery). A pickup (`PICK_UP`), an in-store sale (`RETAIL`) and a
/// delivery of nothing physical (`NONE`) have no shipping address to change; a pickup point
/// (`PICKUP_POINT`) is its own address, chosen at checkout with the shipping method. A method
/// Shopify adds later is not vouched for.
const ADDRESSED: [&str; 2] = ["SHIPPING", "LOCAL"];

/// The delivery method of `order` that has no address to change, if one has none: the first
/// fulfillment order (not cancelled) whose method is not [`ADDRESSED`]. One without a method
/// is taken as shipped, as `requiresShipping` says.
fn unaddressed(order: &ActionOrder) -> Option<&str> {
    order
        .fulfillment_orders
        .iter()
        .filter(|f| f.status != "CANCELLED")
        .filter_map(|f| f.delivery_method.as_deref())
        .find(|method| !ADDRESSED.contains(method))
}

/// The new address the arguments hold (the model's at the proposal, the stored ones after).
fn new_address(arguments: &Value) -> Result<NewAddress, crate::domain::InvalidAddress> {
    NewAddress::parse(arguments.get("address").unwrap_or(&Value::Null))
}

fn refuse(reason: &'static str, message: String) -> Refusal {
    Refusal {
        reason,
        alternative: None,
        message,
    }
}

/// What the shopper is told when `order` (named `name`) is already on its way.
fn too_late(started: Started, name: &str) -> Refusal {
    let message = match started {
        Started::Fulfilled => format!("Order {name} has already shipped, so its address can't be changed any more. A team member can check with the carrier."),
        Started::PartiallyFulfilled => format!("Part of order {name} has already shipped, so its address can't be changed here. A team member can help."),
        Started::Submitted => format!("Order {name} has already been sent to the warehouse, so its address can't be changed here. A team member can check whether it can still be updated."),
        Started::InProgress => format!("Order {name} is already being prepared for shipping, so its address can't be changed here. A team member can check whether it can still be updated."),
        Started::Unknown => format!("I can't see how order {name} will be fulfilled, so I can't change its address here. A team member can help."),
    };
    refuse(started.reason(), message)
}

impl Refused for AddressRefused {
    const BLAMED: &'static str = "address_rejected";

    /// Shopify blames the address.
    fn blamed(&self) -> bool {
        self.user_errors.iter().any(|e| e.about_address())
    }

    fn log(&self, record: &ActionRecord, store: &StoreRecord, reason: &'static str) {
        tracing::warn!(org_id = %record.org_id, shop = %store.shop_domain, action_id = %record.action_id, reason, fields = ?self.user_errors.iter().map(|e| e.field.clone()).collect::<Vec<_>>(), "Shopify refused the address change");
    }
}

/// What Shopify says about the order's address, for the answer.
fn order_view(order: &ActionOrder) -> Value {
    json!({
        "name": order.name,
        "shipping_address": order.shipping_address.as_ref().map(|a| shown(&parts_of_order(a))),
    })
}

#[async_trait]
impl OrderAction for UpdateAddress {
    fn kind(&self) -> ActionKind {
        ActionKind::UpdateShippingAddress
    }

    /// The order number, the shop when given, and the address checked part by part:
    /// `invalid_arguments` with `details.field` naming the first part missing or wrong.
    fn parse(&self, arguments: &Value) -> Result<Request, ActionFailure> {
        let args: AddressArguments = serde_json::from_value(arguments.clone())
            .map_err(|e| invalid(format!("The arguments are not valid: {e}.")))?;
        let order_number = order_number(&args.order_number)?;
        let shop = shop_domain(args.shop_domain.as_deref())?;
        let address = NewAddress::parse(args.address.as_ref().unwrap_or(&Value::Null))
            .map_err(|bad| invalid(bad.message).with_details(json!({ "field": bad.field })))?;
        let mut stored = json!({
            "order_number": args.order_number,
            "address": address.to_value(),
        });
        if let Some(shop) = &shop {
            stored["shop_domain"] = Value::from(shop.as_str());
        }
        Ok(Request {
            order_number,
            shop,
            arguments: stored,
        })
    }

    /// The countries the shop ships to (`Shop.shipsToCountries`).
    async fn read_facts(
        &self,
        ports: &ActionPorts,
        deadline: &Deadline,
        store: &StoreRecord,
        _arguments: &Value,
        order: &mut ActionOrder,
    ) -> Result<(), ActionFailure> {
        let shop = ports
            .access
            .with_token(store, deadline, |token| async move {
                ports
                    .access
                    .shopify()
                    .shop_details(deadline, &store.shop_domain, &token)
                    .await
            })
            .await
            .map_err(|error| {
                tracing::warn!(shop = %store.shop_domain, %error, "could not read the countries the shop ships to");
                let code = error.code();
                ActionFailure::new(code, code.ai_message())
            })?;
        order.facts.ships_to = Some(shop.ships_to_countries);
        Ok(())
    }

    /// Not cancelled; shipped at all; nothing on its way yet; within the window (at proposal
    /// and confirmation, not at approval); the current address readable; a country the shop
    /// ships to, and the same one under `same_country_only`; a different address.
    fn check(
        &self,
        order: &ActionOrder,
        arguments: &Value,
        policy: &OrderActionsPolicy,
        now: DateTime<Utc>,
        step: Step,
    ) -> Result<(), Refusal> {
        let policy = &policy.update_shipping_address;
        let name = &order.name;
        let new = new_address(arguments).map_err(|bad| {
            refuse(
                "invalid_address",
                format!("{} ({})", bad.message, bad.field),
            )
        })?;
        if order.is_cancelled() {
            return Err(refuse(
                "already_cancelled",
                format!("Order {name} is cancelled, so there is no shipment to re-address."),
            ));
        }
        if !order.requires_shipping {
            return Err(refuse(
                "not_shipped",
                format!("Order {name} isn't shipped (it is picked up or needs no delivery), so it has no shipping address to change."),
            ));
        }
        match unaddressed(order) {
            Some("PICKUP_POINT") => {
                return Err(refuse(
                    "pickup_point",
                    format!("Order {name} goes to a pickup point chosen at checkout, so its address can't be changed here. A team member can help."),
                ))
            }
            Some(_) => {
                return Err(refuse(
                    "not_shipped",
                    format!("Order {name} isn't shipped (it is picked up or needs no delivery), so it has no shipping address to change."),
                ))
            }
            None => {}
        }
        not_started(order).map_err(|started| too_late(started, name))?;
        if step != Step::Approval && !within_window(order, policy.window_minutes, now) {
            return Err(refuse(
                "outside_window",
                format!(
                    "Order {name} was placed more than {} ago, so its address can no longer be changed here. A team member can help.",
                    minutes_in_words(policy.window_minutes)
                ),
            ));
        }
        let unavailable = || {
            refuse(
                "address_unavailable",
                format!("I can't see the current shipping address of order {name}, so I can't change it here. A team member can help."),
            )
        };
        // Parts Shopify withholds from the app would read back empty: a change could never be
        // verified, so none is made.
        let Some(current) = order
            .shipping_address
            .as_ref()
            .filter(|a| a.withheld.is_empty())
        else {
            return Err(unavailable());
        };
        let country = new.country_code.as_str();
        let ships_there = order
            .facts
            .ships_to
            .as_ref()
            .is_some_and(|countries| countries.iter().any(|c| c.eq_ignore_ascii_case(country)));
        if !ships_there {
            return Err(refuse(
                "country_not_shipped_to",
                format!("The store doesn't ship to {country}, so I can't send order {name} there. Ask the customer for an address in a country the store ships to."),
            ));
        }
        if policy.same_country_only {
            let Some(old_country) = current
                .country_code
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
            else {
                return Err(unavailable());
            };
            if !old_country.eq_ignore_ascii_case(country) {
                return Err(refuse(
                "country_change_not_allowed",
                    format!("The store only changes an address within the same country, so order {name} can't be moved from {old_country} to {country} here. A team member can help."),
                ));
            }
        }
        if same(current, &new) {
            return Err(refuse(
                "same_address",
                format!("That is already the shipping address of order {name}, so there is nothing to change."),
            ));
        }
        Ok(())
    }

    /// The old and the new address in full, and that shipping costs and taxes stay as they
    /// are; the effects hold both addresses.
    fn summary(&self, order: &ActionOrder, arguments: &Value) -> (String, Value) {
        let old = order.shipping_address.as_ref().map(parts_of_order);
        let old_value = old.as_ref().map_or(Value::Null, shown);
        let old_words = old
            .as_ref()
            .map_or_else(|| "no address on file".to_owned(), in_words);
        let (new_value, new_words) = match new_address(arguments) {
            Ok(new) => {
                let parts = parts_of_new(&new);
                (shown(&parts), in_words(&parts))
            }
            Err(_) => (Value::Null, "an address that does not read".to_owned()),
        };
        let summary = format!(
            "The shipping address of order {} will change from {old_words} to {new_words}. Only the address changes: shipping costs and taxes are not recalculated.",
            order.name
        );
        (
            summary,
            json!({ "old_address": old_value, "new_address": new_value }),
        )
    }

    fn fingerprint(&self, order: &ActionOrder) -> String {
        fingerprint(order)
    }

    /// Only `approval` mode makes an address change wait for a person.
    fn needs_approval(&self, _order: &ActionOrder, _policy: &OrderActionsPolicy) -> bool {
        false
    }

    /// `orderUpdate` with the order's id and the whole new address. It has no idempotency
    /// key: the protocol sends it once.
    async fn send(
        &self,
        ports: &ActionPorts,
        deadline: &Deadline,
        store: &StoreRecord,
        record: &ActionRecord,
    ) -> Sent {
        let Ok(address) = new_address(&record.arguments) else {
            tracing::error!(org_id = %record.org_id, action_id = %record.action_id, "the stored address does not read; nothing was sent");
            return Sent::NotSent;
        };
        let address = &address;
        let sent = send_once(ports, deadline, store, record, |client, token| async move {
            client
                .update_shipping_address(
                    deadline,
                    &store.shop_domain,
                    &token,
                    &record.order_id,
                    address,
                )
                .await
        })
        .await;
        match sent {
            Ok(()) => Sent::Applied,
            Err(sent) => sent,
        }
    }

    /// The order shows the new address → done (with the order's address). It shows some of
    /// the parts that were to change but not the whole address (Shopify kept a part sent as
    /// null, dropped a province code) → failed, `address_partly_updated`, with the order's
    /// address in the answer, so the shopper hears what it says now (the write ran: waiting
    /// cannot change it). It shows none of them, and Shopify answered (`job_finished`) or
    /// [`LATE_WRITE`] has passed since it was sent → failed, `address_not_updated` (Shopify has
    /// been seen to answer success and change nothing: never done). Otherwise (not read, or an
    /// answer lost a moment ago) pending.
    async fn read_back(
        &self,
        ports: &ActionPorts,
        deadline: &Deadline,
        store: &StoreRecord,
        record: &ActionRecord,
        job_finished: bool,
    ) -> Verdict {
        let Ok(expected) = new_address(&record.arguments) else {
            return Verdict::Pending;
        };
        let sent_at = record.executing_since.unwrap_or(record.updated_at);
        let settled = job_finished || ports.clock.now() >= sent_at + LATE_WRITE;
        let Ok(Some(order)) = read_order(&ports.access, deadline, store, &record.order_id).await
        else {
            return Verdict::Pending;
        };
        let old = record.effects.get("old_address").unwrap_or(&Value::Null);
        match &order.shipping_address {
            Some(read) if same(read, &expected) => Verdict::Done(order_view(&order)),
            Some(read) if parts_changed(old, read, &expected) > 0 => {
                tracing::warn!(org_id = %record.org_id, shop = %store.shop_domain, action_id = %record.action_id, differing = ?parts_differing(read, &expected), "the order shows only part of the new address");
                Verdict::FailedShowing("address_partly_updated", order_view(&order))
            }
            _ if settled => {
                tracing::warn!(org_id = %record.org_id, shop = %store.shop_domain, action_id = %record.action_id, "the order does not show the new address");
                Verdict::Failed("address_not_updated")
            }
            _ => Verdict::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AddressPolicy;
    use crate::shopify::actions::{Facts, FulfillmentOrderState};
    use crate::shopify::types::Money;

    fn order() -> ActionOrder {
        let mut order = ActionOrder {
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
            net_payment: Money {
                amount: "10.0".into(),
                currency_code: "USD".into(),
            },
            line_items: vec![],
            more_line_items: false,
            shipping_address: Some(ShippingAddress {
                first_name: Some("Jane".into()),
                last_name: Some("Doe".into()),
                address1: Some("1 Pine St".into()),
                address2: Some("Apt 2".into()),
                city: Some("Portland".into()),
                province: Some("Oregon".into()),
                province_code: Some("OR".into()),
                zip: Some("97201".into()),
                country: Some("United States".into()),
                country_code: Some("US".into()),
                ..ShippingAddress::default()
            }),
            fulfillment_orders: vec![FulfillmentOrderState {
                id: "gid://shopify/FulfillmentOrder/1".into(),
                status: "OPEN".into(),
                request_status: "UNSUBMITTED".into(),
                delivery_method: Some("SHIPPING".into()),
            }],
            more_fulfillment_orders: false,
            transactions: vec![],
            tags: vec![],
            facts: Facts::default(),
        };
        order.facts.ships_to = Some(vec!["US".into(), "CA".into()]);
        order
    }

    fn arguments(country: &str, province: &str, zip: &str) -> Value {
        json!({"order_number": "#1001", "address": {
            "first_name": "Jane", "last_name": "Doe", "address1": "350 Fifth Avenue",
            "city": "New York", "province_code": province, "zip": zip, "country_code": country,
        }})
    }

    fn policy(same_country_only: bool) -> OrderActionsPolicy {
        OrderActionsPolicy {
            update_shipping_address: AddressPolicy {
                enabled: true,
                same_country_only,
                ..AddressPolicy::default()
            },
            ..OrderActionsPolicy::default()
        }
    }

    fn reason(order: &ActionOrder, arguments: &Value, same_country_only: bool) -> &'static str {
        UpdateAddress
            .check(
                order,
                arguments,
                &policy(same_country_only),
                Utc::now(),
                Step::Proposal,
            )
            .unwrap_err()
            .reason
    }

    #[test]
    fn an_unshipped_recent_order_may_get_a_new_address_in_a_country_the_shop_ships_to() {
        let ny = arguments("US", "NY", "10118");
        assert_eq!(
            UpdateAddress.check(&order(), &ny, &policy(true), Utc::now(), Step::Proposal),
            Ok(())
        );
    }

    #[test]
    fn each_state_that_forbids_a_new_address_has_its_reason() {
        let ny = arguments("US", "NY", "10118");
        let mut o = order();
        o.cancelled_at = Some("2026-01-01T00:00:00Z".into());
        assert_eq!(reason(&o, &ny, true), "already_cancelled");
        let mut o = order();
        o.requires_shipping = false;
        assert_eq!(reason(&o, &ny, true), "not_shipped");
        let mut o = order();
        o.display_fulfillment_status = "FULFILLED".into();
        assert_eq!(reason(&o, &ny, true), "fulfilled");
        let mut o = order();
        o.fulfillment_orders[0].request_status = "ACCEPTED".into();
        assert_eq!(reason(&o, &ny, true), "submitted_to_fulfillment_service");
        let mut o = order();
        o.fulfillment_orders.clear();
        assert_eq!(reason(&o, &ny, true), "fulfillment_unknown");
        let mut o = order();
        o.created_at = (Utc::now() - chrono::Duration::minutes(61)).to_rfc3339();
        assert_eq!(reason(&o, &ny, true), "outside_window");
        assert_eq!(
            UpdateAddress.check(&o, &ny, &policy(true), Utc::now(), Step::Approval),
            Ok(()),
            "approvals skip the window"
        );
        let mut o = order();
        o.shipping_address = None;
        assert_eq!(reason(&o, &ny, true), "address_unavailable");
        let toronto = arguments("CA", "ON", "M5V 2T6");
        assert_eq!(
            reason(&order(), &toronto, true),
            "country_change_not_allowed"
        );
        assert_eq!(
            UpdateAddress.check(
                &order(),
                &toronto,
                &policy(false),
                Utc::now(),
                Step::Proposal
            ),
            Ok(())
        );
        let mut o = order();
        o.facts.ships_to = Some(vec!["CA".into()]);
        assert_eq!(reason(&o, &ny, false), "country_not_shipped_to");
        o.facts.ships_to = None;
        assert_eq!(
            reason(&o, &ny, false),
            "country_not_shipped_to",
            "unknown is no"
        );
    }

    #[test]
    fn only_an_order_delivered_to_an_address_may_get_a_new_one() {
        let ny = arguments("US", "NY", "10118");
        for (method, expected) in [
            ("PICK_UP", Err("not_shipped")),
            ("RETAIL", Err("not_shipped")),
            ("NONE", Err("not_shipped")),
            ("DRONE", Err("not_shipped")),
            ("PICKUP_POINT", Err("pickup_point")),
            ("LOCAL", Ok(())),
            ("SHIPPING", Ok(())),
        ] {
            let mut o = order();
            o.fulfillment_orders[0].delivery_method = Some(method.into());
            let checked = UpdateAddress
                .check(&o, &ny, &policy(true), Utc::now(), Step::Proposal)
                .map_err(|r| r.reason);
            assert_eq!(checked, expected, "{method}");
        }
        let mut o = order();
        o.fulfillment_orders[0].delivery_method = None;
        assert_eq!(
            UpdateAddress.check(&o, &ny, &policy(true), Utc::now(), Step::Proposal),
            Ok(()),
            "no method named: requiresShipping decides"
        );
        let mut o = order();
        o.fulfillment_orders.push(FulfillmentOrderState {
            id: "gid://shopify/FulfillmentOrder/2".into(),
            status: "CANCELLED".into(),
            request_status: "UNSUBMITTED".into(),
            delivery_method: Some("PICK_UP".into()),
        });
        assert_eq!(
            UpdateAddress.check(&o, &ny, &policy(true), Utc::now(), Step::Proposal),
            Ok(()),
            "a cancelled pickup does not count"
        );
    }

    #[test]
    fn an_address_with_parts_shopify_withholds_is_not_changed() {
        let ny = arguments("US", "NY", "10118");
        let mut o = order();
        let current = o.shipping_address.as_mut().unwrap();
        current.first_name = None;
        current.withheld = vec!["firstName".into(), "phone".into()];

        assert_eq!(reason(&o, &ny, true), "address_unavailable");
        assert_eq!(reason(&o, &ny, false), "address_unavailable");
    }

    #[test]
    fn an_unreadable_country_is_an_unavailable_address_when_the_country_must_stay() {
        let ny = arguments("US", "NY", "10118");
        for unreadable in [None, Some(""), Some("  ")] {
            let mut o = order();
            o.shipping_address.as_mut().unwrap().country_code = unreadable.map(String::from);

            let refused = UpdateAddress
                .check(&o, &ny, &policy(true), Utc::now(), Step::Proposal)
                .unwrap_err();

            assert_eq!(refused.reason, "address_unavailable", "{unreadable:?}");
            assert!(
                !refused.message.contains("moved from"),
                "{}",
                refused.message
            );
            assert_eq!(
                UpdateAddress.check(&o, &ny, &policy(false), Utc::now(), Step::Proposal),
                Ok(()),
                "any country the shop ships to: {unreadable:?}"
            );
        }
    }

    #[test]
    fn a_read_back_showing_some_of_the_new_parts_is_a_partial_change() {
        let (_, effects) = UpdateAddress.summary(&order(), &arguments("US", "NY", "10118"));
        let old = &effects["old_address"];
        let expected = NewAddress::parse(&arguments("US", "NY", "10118")["address"]).unwrap();
        let before = order().shipping_address.unwrap();
        assert_eq!(parts_changed(old, &before, &expected), 0, "nothing taken");
        let mut kept_apartment = before.clone();
        kept_apartment.address1 = Some("350 Fifth Avenue".into());
        kept_apartment.city = Some("New York".into());
        kept_apartment.province_code = Some("NY".into());
        kept_apartment.zip = Some("10118".into());
        assert_eq!(parts_changed(old, &kept_apartment, &expected), 4);
        assert!(!same(&kept_apartment, &expected));
        assert_eq!(parts_differing(&kept_apartment, &expected), ["address2"]);
        assert_eq!(
            parts_changed(&Value::Null, &kept_apartment, &expected),
            0,
            "without the old address nothing is known"
        );
    }

    #[test]
    fn the_same_address_is_nothing_to_change() {
        let same = json!({"order_number": "#1001", "address": {
            "first_name": "jane", "last_name": "DOE ", "address1": "1  Pine St",
            "address2": "apt 2", "city": "Portland", "province_code": "or", "zip": "97201",
            "country_code": "US",
        }});
        assert_eq!(reason(&order(), &same, true), "same_address");
    }

    #[test]
    fn a_postal_code_shopify_rewrites_reads_back_as_the_one_sent() {
        let expected = NewAddress::parse(&json!({
            "first_name": "Hanako", "last_name": "Sato", "address1": "1-2-3 Sangenjaya",
            "city": "Setagaya", "province_code": "JP-13", "zip": "1540023", "country_code": "JP",
        }))
        .unwrap();
        let read = ShippingAddress {
            first_name: Some("Hanako".into()),
            last_name: Some("Sato".into()),
            address1: Some("1-2-3 Sangenjaya".into()),
            city: Some("Setagaya".into()),
            province_code: Some("JP-13".into()),
            zip: Some("154-0023".into()),
            country_code: Some("JP".into()),
            ..ShippingAddress::default()
        };
        assert!(same(&read, &expected));
        let elsewhere = ShippingAddress {
            zip: Some("154-0024".into()),
            ..read
        };
        assert!(!same(&elsewhere, &expected));
    }

    #[test]
    fn the_read_back_compares_trimmed_parts_case_insensitively_and_zips_without_spaces() {
        let expected = NewAddress::parse(&arguments("CA", "ON", "m5v2t6")["address"]).unwrap();
        let mut read = ShippingAddress {
            first_name: Some(" JANE".into()),
            last_name: Some("doe".into()),
            company: Some(String::new()),
            address1: Some("350 fifth avenue".into()),
            city: Some("New York".into()),
            province: Some("Ontario".into()),
            province_code: Some("on".into()),
            zip: Some("M5V 2T6".into()),
            country: Some("Canada".into()),
            country_code: Some("CA".into()),
            ..ShippingAddress::default()
        };
        assert!(same(&read, &expected));
        read.address2 = Some("Apt 2".into());
        assert!(!same(&read, &expected), "a part left out must be cleared");
        read.address2 = None;
        read.zip = Some("M5V 2T7".into());
        assert!(!same(&read, &expected));
    }

    #[test]
    fn the_summary_shows_both_addresses_in_full_and_that_costs_are_not_recalculated() {
        let mut args = arguments("US", "NY", "10118");
        args["address"]["phone"] = json!("+12125550100");

        let (summary, effects) = UpdateAddress.summary(&order(), &args);

        assert!(
            summary.contains("from Jane Doe, 1 Pine St, Apt 2, Portland OR 97201, US to Jane Doe, 350 Fifth Avenue, New York NY 10118, US, phone +12125550100."),
            "{summary}"
        );
        assert!(summary.contains("shipping costs and taxes are not recalculated"));
        assert_eq!(effects["old_address"]["address2"], "Apt 2");
        assert_eq!(effects["new_address"]["zip"], "10118");
        assert!(effects["new_address"].get("address2").is_none());
    }

    #[test]
    fn a_bad_address_names_its_field_in_the_refusal() {
        let mut args = arguments("US", "NY", "10118");
        args["address"].as_object_mut().unwrap().remove("zip");

        let refused = UpdateAddress.parse(&args).unwrap_err();

        assert_eq!(refused.code, crate::failure::Code::InvalidArguments);
        assert_eq!(refused.details.unwrap()["field"], "address.zip");
        let refused = UpdateAddress
            .parse(&json!({"order_number": "#1001"}))
            .unwrap_err();
        assert_eq!(refused.details.unwrap()["field"], "address");
    }

    #[test]
    fn the_stored_arguments_hold_the_normalized_address() {
        let request = UpdateAddress
            .parse(&arguments("us", "ny", "10118"))
            .unwrap();
        assert_eq!(request.arguments["address"]["country_code"], "US");
        assert_eq!(request.arguments["address"]["province_code"], "NY");
        assert!(request.arguments.get("shop_domain").is_none());
    }
}
