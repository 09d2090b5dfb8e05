//! The order actions' side of the fake: orders read for an action, `orderCancel` (refused
//! without `write_orders`, `orderCancelUserErrors` for an order that cannot be cancelled, an
//! asynchronous job otherwise) and `job(id:)`, which advances that job.
//!
//! A job advances only when it is polled or a test calls `FakeShopify::finish_jobs`: the
//! order's fate never depends on the clock. What the mutation was sent (its literal and
//! variable arguments alike) is what the cancellation records, so tests assert what Shopify
//! was asked to do, not what the connector meant to ask.

use graphql_parser::query::{
    parse_query, Definition, OperationDefinition, Selection, Value as GqlValue,
};
use serde_json::{json, Map, Value};

use super::model::{CancelJob, FakeCancellation, FakeOrder, FakeShop, FakeTransaction};
use super::Inner;

/// An `orderCancel` job.
#[derive(Clone, Debug)]
pub struct FakeJob {
    pub shop: String,
    pub order: usize,
    pub polls: u32,
    pub outcome: CancelJob,
    pub done: bool,
    arguments: Map<String, Value>,
}

/// The order's numeric id (its GID is `gid://shopify/Order/{id}`).
pub fn order_id(index: usize) -> u64 {
    5000 + index as u64
}

pub fn order_gid(index: usize) -> String {
    format!("gid://shopify/Order/{}", order_id(index))
}

/// The index of the order with this GID.
pub fn order_index(shop: &FakeShop, gid: &str) -> Option<usize> {
    let index = gid
        .strip_prefix("gid://shopify/Order/")?
        .parse::<u64>()
        .ok()?
        .checked_sub(5000)? as usize;
    (index < shop.orders.len()).then_some(index)
}

/// The order fields only the order actions ask for, beside those of `admin::order_node`.
/// Fulfillment orders are those the app's scopes let it see, as Shopify answers.
pub fn action_fields(shop: &FakeShop, index: usize, o: &FakeOrder) -> Map<String, Value> {
    let visible = |third_party: bool| {
        shop.grants(if third_party {
            "read_third_party_fulfillment_orders"
        } else {
            "read_merchant_managed_fulfillment_orders"
        })
    };
    let fulfillment_orders: Vec<Value> = o
        .fulfillment_orders
        .iter()
        .enumerate()
        .filter(|(_, f)| visible(f.third_party))
        .map(|(i, f)| {
            json!({
                "id": format!("gid://shopify/FulfillmentOrder/{}", order_id(index) * 100 + i as u64),
                "status": f.status,
                "requestStatus": f.request_status,
                "deliveryMethod": {"methodType": f.delivery_method},
            })
        })
        .collect();
    let money =
        |amount: String| json!({"shopMoney": {"amount": amount, "currencyCode": o.currency}});
    let transactions: Vec<Value> = o
        .transactions
        .iter()
        .map(|t| {
            json!({
                "kind": t.kind, "status": t.status, "gateway": t.gateway,
                "manualPaymentGateway": t.manual, "amountSet": money(t.amount.clone()),
            })
        })
        .collect();
    let a = &o.shipping_address;
    let fields = json!({
        "returnStatus": o.return_status,
        "requiresShipping": o.requires_shipping,
        "canNotifyCustomer": o.can_notify_customer,
        "currencyCode": o.currency,
        "netPaymentSet": money(format!("{:.2}", o.net_payment())),
        "tags": o.tags,
        "fulfillmentOrders": {"pageInfo": {"hasNextPage": false}, "nodes": fulfillment_orders},
        "transactions": transactions,
        "shippingAddress": {
            "firstName": a.first_name, "lastName": a.last_name, "company": a.company,
            "address1": a.address1, "address2": a.address2, "city": a.city,
            "province": a.province, "provinceCode": a.province_code, "zip": a.zip,
            "country": a.country, "countryCodeV2": a.country_code, "phone": a.phone,
        },
    });
    match fields {
        Value::Object(map) => map,
        _ => unreachable!("built as an object"),
    }
}

/// An order's line items, fulfillment orders and transactions cut to the `first` the document
/// asks for, as Shopify answers: the connections' pages say more follow; the transactions list
/// just ends.
pub fn as_asked(document: &str, mut data: Value) -> Value {
    fn first(document: &str, field: &str) -> Option<usize> {
        let at = document.find(&format!("{field}(first:"))? + field.len() + "(first:".len();
        let digits: String = document[at..]
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    }
    fn cut(value: &mut Value, pages: &[(&str, Option<usize>)], transactions: Option<usize>) {
        match value {
            Value::Object(map) => {
                for (field, limit) in pages {
                    if let (Some(limit), Some(Value::Object(items))) = (limit, map.get_mut(*field))
                    {
                        if let Some(Value::Array(nodes)) = items.get_mut("nodes") {
                            if nodes.len() > *limit {
                                nodes.truncate(*limit);
                                items.insert("pageInfo".into(), json!({"hasNextPage": true}));
                            }
                        }
                    }
                }
                if let (Some(limit), Some(Value::Array(list))) =
                    (transactions, map.get_mut("transactions"))
                {
                    list.truncate(limit);
                }
                for child in map.values_mut() {
                    cut(child, pages, transactions);
                }
            }
            Value::Array(list) => {
                for child in list {
                    cut(child, pages, transactions);
                }
            }
            _ => {}
        }
    }
    let pages = [
        ("lineItems", first(document, "lineItems")),
        ("fulfillmentOrders", first(document, "fulfillmentOrders")),
    ];
    cut(&mut data, &pages, first(document, "transactions"));
    data
}

/// Shopify's answer to a mutation the app has no scope for: `data.{field}` null and an
/// `ACCESS_DENIED` error naming the scope.
pub fn access_denied(field: &str, scope: &str) -> Value {
    json!({
        "data": {field: null},
        "errors": [{
            "message": format!("Access denied for {field} field. Required access: `{scope}` access scope."),
            "locations": [{"line": 2, "column": 3}],
            "path": [field],
            "extensions": {
                "code": "ACCESS_DENIED",
                "documentation": "https://shopify.dev/api/usage/access-scopes",
                "requiredAccess": format!("`{scope}` access scope."),
            },
        }],
    })
}

/// The root field's arguments as sent: literals and variables resolved alike.
pub(super) fn arguments(document: &str, field: &str, variables: &Value) -> Map<String, Value> {
    let Ok(doc) = parse_query::<String>(document) else {
        return Map::new();
    };
    for definition in &doc.definitions {
        let Definition::Operation(OperationDefinition::Mutation(mutation)) = definition else {
            continue;
        };
        for item in &mutation.selection_set.items {
            if let Selection::Field(f) = item {
                if f.name == field {
                    return f
                        .arguments
                        .iter()
                        .map(|(name, value)| (name.clone(), resolve(value, variables)))
                        .collect();
                }
            }
        }
    }
    Map::new()
}

fn resolve(value: &GqlValue<'_, String>, variables: &Value) -> Value {
    match value {
        GqlValue::Variable(name) => variables.get(name).cloned().unwrap_or(Value::Null),
        GqlValue::Int(n) => json!(n.as_i64()),
        GqlValue::Float(f) => json!(f),
        GqlValue::String(s) => json!(s),
        GqlValue::Boolean(b) => json!(b),
        GqlValue::Null => Value::Null,
        GqlValue::Enum(e) => json!(e),
        GqlValue::List(items) => items.iter().map(|v| resolve(v, variables)).collect(),
        GqlValue::Object(fields) => fields
            .iter()
            .map(|(k, v)| (k.clone(), resolve(v, variables)))
            .collect::<Map<_, _>>()
            .into(),
    }
}

fn user_error(code: &str, message: &str) -> Value {
    json!({"orderCancel": {"job": null, "orderCancelUserErrors": [
        {"field": ["orderId"], "message": message, "code": code}
    ]}})
}

/// `orderCancel`: counted per order; refused with `orderCancelUserErrors` when the order
/// cannot be cancelled; otherwise a job that ends as the shop's [`CancelJob`] says. The
/// caller has checked `write_orders`.
pub fn cancel(inner: &mut Inner, shop: &str, document: &str, variables: &Value) -> Value {
    let arguments = arguments(document, "orderCancel", variables);
    let gid = arguments
        .get("orderId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let pending = |inner: &Inner, index: usize| {
        inner
            .jobs
            .values()
            .any(|j| j.shop == shop && j.order == index && !j.done)
    };
    let Some(record) = inner.shops.get(shop) else {
        return user_error("NOT_FOUND", "Order does not exist");
    };
    let outcome = record.cancel_job;
    let Some(index) = order_index(record, &gid) else {
        return user_error("NOT_FOUND", "Order does not exist");
    };
    let busy = pending(inner, index);
    let order = &mut inner.shops.get_mut(shop).expect("found above").orders[index];
    order.cancel_calls += 1;
    if let Some((code, message)) = order.cancel_refusal.clone() {
        return user_error(&code, &message);
    }
    if order.cancelled_at.is_some() {
        return user_error("INVALID", "Order has already been cancelled");
    }
    if busy {
        return user_error("INVALID", "Order is already being cancelled");
    }
    if matches!(
        order.fulfillment_status.as_str(),
        "FULFILLED" | "PARTIALLY_FULFILLED"
    ) {
        return user_error("INVALID", "Orders that have fulfillments can't be canceled");
    }
    inner.job_ids += 1;
    let id = format!(
        "gid://shopify/Job/{:08x}-fake-{}",
        fastrand::u32(..),
        inner.job_ids
    );
    let mut job = FakeJob {
        shop: shop.to_owned(),
        order: index,
        polls: 0,
        outcome,
        done: false,
        arguments,
    };
    advance(inner, &mut job, false);
    let done = job.done;
    inner.jobs.insert(id.clone(), job);
    json!({"orderCancel": {"job": {"id": id, "done": done}, "orderCancelUserErrors": []}})
}

/// `job(id:)`: one poll, which may finish the job.
pub fn poll(inner: &mut Inner, variables: &Value) -> Value {
    let id = variables["id"].as_str().unwrap_or_default().to_owned();
    let Some(mut job) = inner.jobs.remove(&id) else {
        return json!({"job": null});
    };
    advance(inner, &mut job, true);
    let done = job.done;
    inner.jobs.insert(id.clone(), job);
    json!({"job": {"id": id, "done": done}})
}

/// Finishes every job of `shop` that can finish (not `NeverFinishes`), as if its polls had
/// come.
pub fn finish(inner: &mut Inner, shop: &str) {
    let ids: Vec<String> = inner
        .jobs
        .iter()
        .filter(|(_, j)| j.shop == shop && !j.done)
        .map(|(id, _)| id.clone())
        .collect();
    for id in ids {
        let mut job = inner.jobs.remove(&id).expect("listed above");
        job.polls = u32::MAX;
        advance(inner, &mut job, false);
        inner.jobs.insert(id, job);
    }
}

fn advance(inner: &mut Inner, job: &mut FakeJob, polled: bool) {
    if job.done {
        return;
    }
    if polled {
        job.polls = job.polls.saturating_add(1);
    }
    match job.outcome {
        CancelJob::Completes { after_polls } if job.polls >= after_polls => {
            job.done = true;
            if let Some(order) = inner
                .shops
                .get_mut(&job.shop)
                .and_then(|s| s.orders.get_mut(job.order))
            {
                apply(order, &job.arguments);
            }
        }
        CancelJob::Fails { after_polls } if job.polls >= after_polls => job.done = true,
        _ => {}
    }
}

/// What Shopify does once a cancellation succeeds: the order is cancelled, captured payments
/// go back to their gateways (manual ones excepted) and authorizations are voided when a
/// refund to the original methods was asked, items return to stock when asked, and the
/// fulfillment orders close.
fn apply(order: &mut FakeOrder, arguments: &Map<String, Value>) {
    let flag = |value: Option<&Value>| value.and_then(Value::as_bool).unwrap_or(false);
    let refund_to_original = flag(
        arguments
            .get("refundMethod")
            .and_then(|m| m.get("originalPaymentMethodsRefund")),
    );
    let mut refunds = Vec::new();
    let mut voided = Vec::new();
    if refund_to_original {
        let captured: Vec<FakeTransaction> = order
            .transactions
            .iter()
            .filter(|t| t.status == "SUCCESS")
            .cloned()
            .collect();
        let any_capture = captured
            .iter()
            .any(|t| matches!(t.kind.as_str(), "SALE" | "CAPTURE"));
        for t in captured {
            match t.kind.as_str() {
                "SALE" | "CAPTURE" if !t.manual => {
                    refunds.push((t.gateway.clone(), t.amount.clone()));
                    order
                        .transactions
                        .push(FakeTransaction::new("REFUND", &t.gateway, &t.amount));
                }
                "AUTHORIZATION" if !any_capture => {
                    voided.push(t.gateway.clone());
                    order
                        .transactions
                        .push(FakeTransaction::new("VOID", &t.gateway, &t.amount));
                }
                _ => {}
            }
        }
    }
    if !refunds.is_empty() {
        order.financial_status = if order.net_payment() <= 0.0 {
            "REFUNDED".into()
        } else {
            "PARTIALLY_REFUNDED".into()
        };
    } else if !voided.is_empty() {
        order.financial_status = "VOIDED".into();
    }
    for f in &mut order.fulfillment_orders {
        if f.status != "CANCELLED" {
            f.status = "CLOSED".into();
        }
    }
    order.cancelled_at =
        Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    order.cancellation = Some(FakeCancellation {
        reason: arguments
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        staff_note: arguments
            .get("staffNote")
            .and_then(Value::as_str)
            .map(String::from),
        notify_customer: flag(arguments.get("notifyCustomer")),
        restocked: flag(arguments.get("restock")),
        refund_to_original,
        refunds,
        voided,
    });
}
