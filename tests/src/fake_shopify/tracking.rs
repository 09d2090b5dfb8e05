//! Where an order is, as the fake tells it: each shipment the way Shopify renders a
//! `Fulfillment` (display status, carrier events oldest first, the line items it carries), the
//! order's refunds, and the `OrderTimeline` query, whose lists are cut to the `first:` and
//! `last:` its document asks for.

use serde_json::{json, Value};

use super::actions::{order_gid, order_id, order_index};
use super::model::{FakeFulfillment, FakeOrder, FakeShop};

/// The GID the fake gives the shipment at `position` of the order at `index`.
pub fn fulfillment_gid(index: usize, position: usize) -> String {
    format!(
        "gid://shopify/Fulfillment/{}",
        order_id(index) * 100 + position as u64
    )
}

/// The GID of the order's line item at `position` (as the order node gives it).
fn line_item_gid(index: usize, position: usize) -> String {
    format!(
        "gid://shopify/LineItem/{}",
        order_id(index) * 100 + position as u64
    )
}

fn tracking(fulfillment: &FakeFulfillment) -> Vec<Value> {
    fulfillment
        .tracking
        .iter()
        .map(|(company, number)| json!({"company": company, "number": number, "url": format!("https://track.example/{number}")}))
        .collect()
}

/// The shipment at `position` of the order at `index`, with every field any document asks for.
pub fn fulfillment(index: usize, position: usize, order: &FakeOrder, f: &FakeFulfillment) -> Value {
    let mut events = f.events.clone();
    events.sort_by(|a, b| a.happened_at.cmp(&b.happened_at));
    let events: Vec<Value> = events
        .iter()
        .map(|e| json!({"status": e.status, "happenedAt": e.happened_at, "message": e.message, "city": e.city}))
        .collect();
    let items: Vec<Value> = f
        .line_items
        .iter()
        .filter_map(|(item, quantity)| {
            let (title, variant, _) = order.line_items.get(*item)?;
            Some(json!({
                "quantity": quantity,
                "lineItem": {"id": line_item_gid(index, *item), "title": title, "variantTitle": variant},
            }))
        })
        .collect();
    json!({
        "id": fulfillment_gid(index, position),
        "status": f.status, "displayStatus": f.display_status, "createdAt": f.created_at,
        "estimatedDeliveryAt": f.estimated_delivery_at, "deliveredAt": f.delivered_at,
        "trackingInfo": tracking(f),
        "events": {"pageInfo": {"hasNextPage": false}, "nodes": events},
        "fulfillmentLineItems": {"pageInfo": {"hasNextPage": false}, "nodes": items},
    })
}

/// The order's refunds, oldest first: its own, and the one a cancellation that gave money
/// back made (at the moment it was cancelled).
pub fn refunds(order: &FakeOrder) -> Vec<Value> {
    let money =
        |amount: &str| json!({"shopMoney": {"amount": amount, "currencyCode": order.currency}});
    let mut refunds: Vec<(String, Value)> = order
        .refunds
        .iter()
        .map(|r| (r.created_at.clone(), money(&r.amount)))
        .collect();
    if let (Some(cancellation), Some(at)) = (&order.cancellation, &order.cancelled_at) {
        let given: f64 = cancellation
            .refunds
            .iter()
            .map(|(_, amount)| amount.parse::<f64>().unwrap_or(0.0))
            .sum();
        if given > 0.0 {
            refunds.push((at.clone(), money(&format!("{given:.2}"))));
        }
    }
    refunds.sort_by(|a, b| a.0.cmp(&b.0));
    refunds
        .into_iter()
        .map(|(at, amount)| json!({"createdAt": at, "totalRefundedSet": amount}))
        .collect()
}

/// The `first:` or `last:` the document gives `field` (`(n, true)` for `last:`).
fn asked(document: &str, field: &str) -> Option<(usize, bool)> {
    let start = document.find(&format!("{field}("))? + field.len() + 1;
    let arguments = &document[start..start + document[start..].find(')')?];
    ["first:", "last:"].iter().find_map(|key| {
        let at = arguments.find(key)? + key.len();
        let digits: String = arguments[at..]
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        Some((digits.parse().ok()?, *key == "last:"))
    })
}

/// Keeps the `first:` (or `last:`) elements the document asks `field` for; whether some
/// after those were left out (a `first:` cut: the connection's `hasNextPage`).
fn cut(list: &mut Vec<Value>, document: &str, field: &str) -> bool {
    match asked(document, field) {
        Some((n, true)) if list.len() > n => {
            list.drain(..list.len() - n);
            false
        }
        Some((n, false)) if list.len() > n => {
            list.truncate(n);
            true
        }
        _ => false,
    }
}

/// `OrderTimeline`: the order (by GID) with its shipments' events and items and its refunds;
/// `order: null` for an unknown id.
pub fn order_timeline(shop: &FakeShop, document: &str, variables: &Value) -> Value {
    let Some(index) = variables["id"]
        .as_str()
        .and_then(|gid| order_index(shop, gid))
    else {
        return json!({"order": null});
    };
    let order = &shop.orders[index];
    let mut fulfillments: Vec<Value> = order
        .fulfillments
        .iter()
        .enumerate()
        .map(|(position, f)| fulfillment(index, position, order, f))
        .collect();
    cut(&mut fulfillments, document, "fulfillments");
    for f in &mut fulfillments {
        for field in ["events", "fulfillmentLineItems"] {
            if let Some(Value::Array(nodes)) = f[field].get_mut("nodes") {
                let more = cut(nodes, document, field);
                f[field]["pageInfo"]["hasNextPage"] = json!(more);
            }
        }
    }
    let mut refunds = refunds(order);
    cut(&mut refunds, document, "refunds");
    json!({"order": {"id": order_gid(index), "fulfillments": fulfillments, "refunds": refunds}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_events_are_kept_oldest_first() {
        let mut list: Vec<Value> = (1..=5).map(|n| json!(n)).collect();
        cut(
            &mut list,
            "events(last: 2, sortKey: HAPPENED_AT) { nodes { status } }",
            "events",
        );
        assert_eq!(list, [json!(4), json!(5)]);
        let mut list: Vec<Value> = (1..=5).map(|n| json!(n)).collect();
        cut(&mut list, "refunds(first: 3) { createdAt }", "refunds");
        assert_eq!(list, [json!(1), json!(2), json!(3)]);
    }
}
