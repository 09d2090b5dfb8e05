//! The return side of the fake: an order's returnable fulfillments (its successful shipments
//! minus what is already on a return that was not declined or cancelled), the shop's return
//! reasons (deleted ones flagged), each line item's product's tags (the shop's product of the
//! line item's title), `returnRequest` — refused without `write_returns`, with user errors for
//! an item that is not returnable, a quantity above what is, or an unknown reason, or a
//! scripted refusal; counted per order — creating a `REQUESTED` return and setting the order's
//! return status, and, for the read-back, the order's returns a page at a time and a return by
//! its id. Reads need `read_returns` as Shopify's do. Returns someone else requests right after
//! the next request lands (the merchant, another app) can be scripted.
//!
//! What a return was sent (each fulfillment line item as the order's shipment and line item it
//! belongs to, the reason's id, the note, a deprecated `returnReason` if any) is what the
//! return records, so tests assert what Shopify was asked to do.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::actions::{access_denied, arguments, order_gid, order_id, order_index};
use super::model::{FakeOrder, FakeShop};
use super::{FakeShopify, Shared};

/// What the return actions need granted.
pub const RETURN_SCOPES: [&str; 2] = ["read_returns", "write_returns"];

/// The operations served here.
pub const OPERATIONS: [&str; 6] = [
    "ReturnableFulfillments",
    "ReturnContext",
    "ReturnReasons",
    "RequestReturn",
    "OrderReturns",
    "ReturnById",
];

/// A return reason of the shop's (`ReturnReasonDefinition`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeReturnReason {
    pub id: u64,
    pub handle: String,
    pub name: String,
    /// Replaced by a newer reason: still valid, not offered.
    pub deleted: bool,
}

impl FakeReturnReason {
    pub fn gid(&self) -> String {
        format!("gid://shopify/ReturnReasonDefinition/{}", self.id)
    }
}

/// A return of an order, as `returnRequest` created it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeReturn {
    pub id: String,
    pub name: String,
    /// `REQUESTED`, `OPEN`, `CLOSED`, `DECLINED`, `CANCELED`.
    pub status: String,
    pub created_at: String,
    pub lines: Vec<FakeReturnLine>,
}

/// One fulfillment line item on a return, as it was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeReturnLine {
    /// The shipment: its index in `FakeOrder::fulfillments`.
    pub fulfillment: usize,
    /// Its index in that shipment's `line_items`.
    pub entry: usize,
    /// The order line item: its index in `FakeOrder::line_items` (0 for the first).
    pub line_item: usize,
    pub quantity: i64,
    /// `returnReasonDefinitionId` as sent.
    pub reason_definition_id: Option<String>,
    /// The deprecated `returnReason`, when it was sent.
    pub deprecated_reason: Option<String>,
    /// `customerNote` as sent.
    pub customer_note: Option<String>,
}

/// An order's returns and the `returnRequest` mutations it received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderReturns {
    pub returns: Vec<FakeReturn>,
    /// `returnRequest` mutations received, refused ones included.
    pub requests: usize,
}

/// A return's lines as a test writes them: (shipment, entry, quantity) each.
pub type ReturnLines = Vec<(usize, usize, i64)>;

/// A shop's returns: its reasons, each order's returns (by the order's index), and a scripted
/// refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShopReturns {
    pub reasons: Vec<FakeReturnReason>,
    pub orders: BTreeMap<usize, OrderReturns>,
    /// `returnRequest` answers this user error (field path, code, message), creating nothing.
    pub refusal: Option<(Vec<String>, String, String)>,
    /// Returns requested by someone else on an order (by its index) right after the next
    /// `returnRequest` for it lands.
    pub alongside: BTreeMap<usize, Vec<ReturnLines>>,
}

impl Default for ShopReturns {
    /// The reasons every shop has here, one of them deleted.
    fn default() -> Self {
        let reasons = [
            ("size_too_small", "Size was too small", false),
            ("size_too_large", "Size was too large", false),
            ("defective", "Item was defective", false),
            ("not_as_described", "Item not as described", false),
            ("wrong_item", "Received the wrong item", false),
            ("unwanted", "Changed my mind", false),
            ("other", "Other", false),
            ("style", "Style", true),
        ];
        Self {
            reasons: reasons
                .iter()
                .enumerate()
                .map(|(i, (handle, name, deleted))| FakeReturnReason {
                    id: 9001 + i as u64,
                    handle: (*handle).into(),
                    name: (*name).into(),
                    deleted: *deleted,
                })
                .collect(),
            orders: BTreeMap::new(),
            refusal: None,
            alongside: BTreeMap::new(),
        }
    }
}

fn fulfillment_number(order: usize, fulfillment: usize) -> u64 {
    order_id(order) * 100 + fulfillment as u64
}

/// The GID of the order's `fulfillment`-th shipment.
pub fn fulfillment_gid(order: usize, fulfillment: usize) -> String {
    format!(
        "gid://shopify/Fulfillment/{}",
        fulfillment_number(order, fulfillment)
    )
}

/// The GID of the `entry`-th line of the order's `fulfillment`-th shipment.
pub fn fulfillment_line_item_gid(order: usize, fulfillment: usize, entry: usize) -> String {
    format!(
        "gid://shopify/FulfillmentLineItem/{}",
        fulfillment_number(order, fulfillment) * 100 + entry as u64
    )
}

/// The GID of the order's `index`-th line item, as every order query gives it.
pub fn line_item_gid(order: usize, index: usize) -> String {
    format!(
        "gid://shopify/LineItem/{}",
        order_id(order) * 100 + index as u64
    )
}

/// The (shipment, entry) a fulfillment line item GID of `order` names.
fn fulfillment_line(order: &FakeOrder, index: usize, gid: &str) -> Option<(usize, usize)> {
    let number: u64 = gid
        .strip_prefix("gid://shopify/FulfillmentLineItem/")?
        .parse()
        .ok()?;
    let (shipment, entry) = (number / 100, (number % 100) as usize);
    let fulfillment = shipment.checked_sub(order_id(index) * 100)? as usize;
    order.fulfillments.get(fulfillment)?.line_items.get(entry)?;
    Some((fulfillment, entry))
}

/// How many of the `entry`-th line of the order's `fulfillment`-th shipment can still go back:
/// a successful shipment's quantity minus what returns not declined or cancelled hold.
pub fn returnable(
    order: &FakeOrder,
    state: &OrderReturns,
    fulfillment: usize,
    entry: usize,
) -> i64 {
    let Some(shipment) = order.fulfillments.get(fulfillment) else {
        return 0;
    };
    if shipment.status != "SUCCESS" || order.cancelled_at.is_some() {
        return 0;
    }
    let shipped = shipment.line_items.get(entry).map_or(0, |(_, q)| *q);
    let taken: i64 = state
        .returns
        .iter()
        .filter(|r| !matches!(r.status.as_str(), "DECLINED" | "CANCELED"))
        .flat_map(|r| &r.lines)
        .filter(|l| l.fulfillment == fulfillment && l.entry == entry)
        .map(|l| l.quantity)
        .sum();
    (shipped - taken).max(0)
}

/// How many of the order's `index`-th line item have not shipped.
fn unfulfilled(order: &FakeOrder, index: usize) -> i64 {
    if order.cancelled_at.is_some() {
        return 0;
    }
    let shipped: i64 = order
        .fulfillments
        .iter()
        .filter(|f| f.status == "SUCCESS")
        .flat_map(|f| &f.line_items)
        .filter(|(position, _)| *position == index)
        .map(|(_, q)| q)
        .sum();
    (order.line_items[index].2 - shipped).max(0)
}

/// `first: N` written in `field(...)`'s arguments in the document's `operation`.
fn literal_first(document: &str, operation: &str, field: &str) -> Option<usize> {
    let document = &document[document.find(&format!("query {operation}"))?..];
    let at = document.find(&format!("{field}("))? + field.len() + 1;
    let arguments = &document[at..at + document[at..].find(')')?];
    let first = arguments.find("first:")? + "first:".len();
    arguments[first..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// What Shopify answers an app without the scope an operation here needs.
pub fn denied(shop: &FakeShop, operation: &str) -> Option<Value> {
    match operation {
        "RequestReturn" if !shop.grants("write_returns") => {
            Some(access_denied("returnRequest", "write_returns"))
        }
        "ReturnContext" | "ReturnReasons" if !shop.grants("read_returns") => {
            Some(access_denied("returnReasonDefinitions", "read_returns"))
        }
        "OrderReturns" if !shop.grants("read_returns") => {
            Some(access_denied("order", "read_returns"))
        }
        "ReturnById" if !shop.grants("read_returns") => {
            Some(access_denied("return", "read_returns"))
        }
        _ => None,
    }
}

/// Answers one of [`OPERATIONS`] for `shop` (the caller checked the scopes with [`denied`]).
pub fn answer(
    inner: &Shared,
    record: &FakeShop,
    shop: &str,
    operation: &str,
    document: &str,
    variables: &Value,
) -> Value {
    match operation {
        "ReturnableFulfillments" => returnable_fulfillments(record, document, variables),
        "ReturnContext" => context(record, document, variables),
        "ReturnReasons" => reasons(record, document),
        "RequestReturn" => match inner.lock().unwrap().shops.get_mut(shop) {
            Some(record) => request(record, document, variables),
            None => user_error(&["input", "orderId"], "NOT_FOUND", "Order does not exist"),
        },
        "ReturnById" => return_by_id(record, document, variables),
        _ => order_returns(record, document, variables),
    }
}

fn order_of<'a>(
    shop: &'a FakeShop,
    variables: &Value,
    key: &str,
) -> Option<(usize, &'a FakeOrder)> {
    let index = variables[key]
        .as_str()
        .and_then(|gid| order_index(shop, gid))?;
    Some((index, &shop.orders[index]))
}

/// `returnableFulfillments(orderId:)`: the shipments with something left to return, a page
/// at a time (the cursor is the offset).
fn returnable_fulfillments(shop: &FakeShop, document: &str, variables: &Value) -> Value {
    let empty = json!({"returnableFulfillments": {"pageInfo": {"hasNextPage": false, "endCursor": null}, "nodes": []}});
    let Some((index, order)) = order_of(shop, variables, "orderId") else {
        return empty;
    };
    let state = shop.returns.orders.get(&index).cloned().unwrap_or_default();
    let first =
        literal_first(document, "ReturnableFulfillments", "returnableFulfillments").unwrap_or(50);
    let items_first = literal_first(
        document,
        "ReturnableFulfillments",
        "returnableFulfillmentLineItems",
    )
    .unwrap_or(50);
    let start: usize = variables["after"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let all: Vec<Value> = order
        .fulfillments
        .iter()
        .enumerate()
        .filter_map(|(f, shipment)| {
            let lines: Vec<Value> = shipment
                .line_items
                .iter()
                .enumerate()
                .filter_map(|(entry, (position, _))| {
                    let quantity = returnable(order, &state, f, entry);
                    (quantity > 0).then(|| {
                        json!({
                            "quantity": quantity,
                            "fulfillmentLineItem": {
                                "id": fulfillment_line_item_gid(index, f, entry),
                                "lineItem": {"id": line_item_gid(index, *position)},
                            },
                        })
                    })
                })
                .collect();
            if lines.is_empty() {
                return None;
            }
            let more = lines.len() > items_first;
            Some(json!({
                "id": format!("gid://shopify/ReturnableFulfillment/{}", fulfillment_number(index, f)),
                "fulfillment": {
                    "id": fulfillment_gid(index, f),
                    "createdAt": shipment.created_at,
                    "deliveredAt": shipment.delivered_at,
                },
                "returnableFulfillmentLineItems": {
                    "pageInfo": {"hasNextPage": more},
                    "nodes": lines.into_iter().take(items_first).collect::<Vec<_>>(),
                },
            }))
        })
        .collect();
    let page: Vec<Value> = all.iter().skip(start).take(first).cloned().collect();
    let end = start + page.len();
    json!({"returnableFulfillments": {
        "pageInfo": {"hasNextPage": end < all.len(), "endCursor": end.to_string()},
        "nodes": page,
    }})
}

/// The reason by handle (`returnReasonDefinitions(handles:)`, deleted or not), the order's line
/// items with what has not shipped and their product's tags (the shop's product of the line
/// item's title; none without one), and the ids of the order's returns.
fn context(shop: &FakeShop, document: &str, variables: &Value) -> Value {
    let handle = variables["reason"].as_str().unwrap_or_default();
    let reasons: Vec<Value> = shop
        .returns
        .reasons
        .iter()
        .filter(|r| r.handle == handle)
        .take(1)
        .map(|r| json!({"id": r.gid(), "handle": r.handle, "name": r.name, "deleted": r.deleted}))
        .collect();
    let first = literal_first(document, "ReturnContext", "lineItems").unwrap_or(50);
    let returns_first = literal_first(document, "ReturnContext", "returns").unwrap_or(50);
    let order = order_of(shop, variables, "orderId").map_or(Value::Null, |(index, order)| {
        let nodes: Vec<Value> = order
            .line_items
            .iter()
            .enumerate()
            .take(first)
            .map(|(i, (title, variant, _))| {
                let product = shop
                    .products
                    .iter()
                    .find(|p| p.title == *title)
                    .map_or(Value::Null, |p| json!({"tags": p.tags}));
                json!({
                    "id": line_item_gid(index, i),
                    "variantTitle": variant,
                    "unfulfilledQuantity": unfulfilled(order, i),
                    "product": product,
                })
            })
            .collect();
        let returns = shop
            .returns
            .orders
            .get(&index)
            .map(|s| s.returns.clone())
            .unwrap_or_default();
        let ids: Vec<Value> = returns
            .iter()
            .take(returns_first)
            .map(|r| json!({"id": r.id}))
            .collect();
        json!({
            "lineItems": {"nodes": nodes},
            "returns": {"pageInfo": {"hasNextPage": returns.len() > returns_first}, "nodes": ids},
        })
    });
    json!({"returnReasonDefinitions": {"nodes": reasons}, "order": order})
}

/// Every reason of the shop, by handle, deleted ones included (flagged).
fn reasons(shop: &FakeShop, document: &str) -> Value {
    let first = literal_first(document, "ReturnReasons", "returnReasonDefinitions").unwrap_or(50);
    let mut reasons = shop.returns.reasons.clone();
    reasons.sort_by(|a, b| a.handle.cmp(&b.handle));
    let nodes: Vec<Value> = reasons
        .iter()
        .take(first)
        .map(|r| json!({"handle": r.handle, "deleted": r.deleted}))
        .collect();
    json!({"returnReasonDefinitions": {"nodes": nodes}})
}

fn user_error(field: &[&str], code: &str, message: &str) -> Value {
    json!({"returnRequest": {"return": null, "userErrors": [
        {"field": field, "message": message, "code": code}
    ]}})
}

/// `returnRequest`: counted per order; refused (nothing created) for an unknown order, the
/// scripted refusal, an item not on the order's shipments or not returnable in that
/// quantity, or an unknown reason; otherwise a `REQUESTED` return, and the order's return
/// status `RETURN_REQUESTED`.
fn request(shop: &mut FakeShop, document: &str, variables: &Value) -> Value {
    let arguments = arguments(document, "returnRequest", variables);
    let input = arguments.get("input").cloned().unwrap_or(Value::Null);
    let Some(index) = input["orderId"]
        .as_str()
        .and_then(|gid| order_index(shop, gid))
    else {
        return user_error(&["input", "orderId"], "NOT_FOUND", "Order does not exist");
    };
    shop.returns.orders.entry(index).or_default().requests += 1;
    if let Some((field, code, message)) = shop.returns.refusal.clone() {
        let field: Vec<&str> = field.iter().map(String::as_str).collect();
        return user_error(&field, &code, &message);
    }
    let order = &shop.orders[index];
    let state = shop.returns.orders[&index].clone();
    let items = input["returnLineItems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if items.is_empty() {
        return user_error(
            &["input", "returnLineItems"],
            "BLANK",
            "Return line items can't be blank",
        );
    }
    let mut lines = Vec::new();
    let mut asked: BTreeMap<(usize, usize), i64> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let at = i.to_string();
        let path = |leaf: &'static str| ["input", "returnLineItems", at.as_str(), leaf];
        let Some((fulfillment, entry)) = item["fulfillmentLineItemId"]
            .as_str()
            .and_then(|gid| fulfillment_line(order, index, gid))
        else {
            return user_error(
                &path("fulfillmentLineItemId"),
                "INVALID",
                "Fulfillment line item is not returnable",
            );
        };
        let quantity = item["quantity"].as_i64().unwrap_or(0);
        let total = asked.entry((fulfillment, entry)).or_insert(0);
        *total += quantity;
        if quantity < 1 || *total > returnable(order, &state, fulfillment, entry) {
            return user_error(
                &path("quantity"),
                "INVALID",
                "Quantity is greater than the returnable quantity",
            );
        }
        let reason_definition_id = item["returnReasonDefinitionId"].as_str().map(String::from);
        let deprecated_reason = item["returnReason"].as_str().map(String::from);
        match &reason_definition_id {
            Some(id) if !shop.returns.reasons.iter().any(|r| r.gid() == *id) => {
                return user_error(
                    &path("returnReasonDefinitionId"),
                    "NOT_FOUND",
                    "Return reason definition does not exist",
                );
            }
            None if deprecated_reason.is_none() => {
                return user_error(
                    &path("returnReasonDefinitionId"),
                    "BLANK",
                    "A return reason is required",
                );
            }
            _ => {}
        }
        lines.push(FakeReturnLine {
            fulfillment,
            entry,
            line_item: order.fulfillments[fulfillment].line_items[entry].0,
            quantity,
            reason_definition_id,
            deprecated_reason,
            customer_note: item["customerNote"].as_str().map(String::from),
        });
    }
    let number = state.returns.len();
    let created = FakeReturn {
        id: format!(
            "gid://shopify/Return/{}",
            order_id(index) * 100 + number as u64
        ),
        name: format!("{}-R{}", order.name, number + 1),
        status: "REQUESTED".into(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        lines,
    };
    let answer = json!({"returnRequest": {
        "return": {"id": created.id, "name": created.name, "status": created.status},
        "userErrors": [],
    }});
    shop.orders[index].return_status = "RETURN_REQUESTED".into();
    shop.returns
        .orders
        .get_mut(&index)
        .expect("counted above")
        .returns
        .push(created);
    for lines in shop.returns.alongside.remove(&index).unwrap_or_default() {
        push_return(shop, index, &lines, &chrono::Utc::now().to_rfc3339());
    }
    answer
}

/// A `REQUESTED` return of the order's `index`-th order with (shipment, entry, quantity) lines
/// and the deprecated reason `OTHER`, created at `created_at`; the order's return status
/// becomes `RETURN_REQUESTED`.
fn push_return(shop: &mut FakeShop, index: usize, lines: &[(usize, usize, i64)], created_at: &str) {
    let order = &mut shop.orders[index];
    order.return_status = "RETURN_REQUESTED".into();
    let state = shop.returns.orders.entry(index).or_default();
    let number = state.returns.len();
    state.returns.push(FakeReturn {
        id: format!(
            "gid://shopify/Return/{}",
            order_id(index) * 100 + number as u64
        ),
        name: format!("{}-R{}", order.name, number + 1),
        status: "REQUESTED".into(),
        created_at: created_at.into(),
        lines: lines
            .iter()
            .map(|(fulfillment, entry, quantity)| FakeReturnLine {
                fulfillment: *fulfillment,
                entry: *entry,
                line_item: order.fulfillments[*fulfillment].line_items[*entry].0,
                quantity: *quantity,
                reason_definition_id: None,
                deprecated_reason: Some("OTHER".into()),
                customer_note: None,
            })
            .collect(),
    });
}

/// `order(id:) { returnStatus returns }`: oldest first (newest first with `reverse: true`), a
/// page at a time (the cursor is the offset), each with its id and creation time.
fn order_returns(shop: &FakeShop, document: &str, variables: &Value) -> Value {
    let Some((index, order)) = order_of(shop, variables, "id") else {
        return json!({"order": null});
    };
    let mut returns = shop
        .returns
        .orders
        .get(&index)
        .map(|s| s.returns.clone())
        .unwrap_or_default();
    if document.contains("reverse: true") {
        returns.reverse();
    }
    let first = literal_first(document, "OrderReturns", "returns").unwrap_or(50);
    let start: usize = variables["after"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let nodes: Vec<Value> = returns
        .iter()
        .skip(start)
        .take(first)
        .map(|r| json!({"id": r.id, "createdAt": r.created_at}))
        .collect();
    let end = start + nodes.len();
    json!({"order": {"returnStatus": order.return_status, "returns": {
        "pageInfo": {"hasNextPage": end < returns.len(), "endCursor": end.to_string()},
        "nodes": nodes,
    }}})
}

/// `return(id:)`: the return with its order and the fulfillment line items it carries; null
/// for an id the shop does not have.
fn return_by_id(shop: &FakeShop, document: &str, variables: &Value) -> Value {
    let id = variables["id"].as_str().unwrap_or_default();
    let found = shop.returns.orders.iter().find_map(|(index, state)| {
        state
            .returns
            .iter()
            .find(|r| r.id == id)
            .map(|r| (*index, r))
    });
    let Some((index, r)) = found else {
        return json!({"return": null});
    };
    let lines_first = literal_first(document, "ReturnById", "returnLineItems").unwrap_or(50);
    json!({"return": {
        "id": r.id, "name": r.name, "status": r.status, "createdAt": r.created_at,
        "order": {"id": order_gid(index), "returnStatus": shop.orders[index].return_status},
        "returnLineItems": {"nodes": r.lines.iter().take(lines_first).map(|l| json!({
            "quantity": l.quantity,
            "fulfillmentLineItem": {"id": fulfillment_line_item_gid(index, l.fulfillment, l.entry)},
        })).collect::<Vec<_>>()},
    }})
}

impl FakeShop {
    /// Grants `read_returns` and `write_returns` on top of the current scopes.
    pub fn with_return_scopes(mut self) -> Self {
        for scope in RETURN_SCOPES {
            if !self.scopes.iter().any(|s| s == scope) {
                self.scopes.push(scope.into());
            }
        }
        self
    }

    /// `returnRequest` answers this user error (its `field` path, code and message) and
    /// creates nothing.
    pub fn refusing_returns(mut self, field: &[&str], code: &str, message: &str) -> Self {
        self.returns.refusal = Some((
            field.iter().map(|f| (*f).to_owned()).collect(),
            code.into(),
            message.into(),
        ));
        self
    }

    /// A return already requested on the order named `name`: (shipment, entry, quantity)
    /// each; the order's return status becomes `RETURN_REQUESTED`.
    pub fn with_requested_return(mut self, name: &str, lines: &[(usize, usize, i64)]) -> Self {
        let index = self.order_position(name);
        push_return(&mut self, index, lines, "2026-01-01T00:00:00Z");
        self
    }

    /// Right after the next `returnRequest` for the order named `name` lands, someone else (the
    /// merchant, another app) requests these returns on it: each (shipment, entry, quantity)
    /// lines, created after the request's return.
    pub fn with_returns_requested_alongside(
        mut self,
        name: &str,
        returns: &[&[(usize, usize, i64)]],
    ) -> Self {
        let index = self.order_position(name);
        self.returns
            .alongside
            .entry(index)
            .or_default()
            .extend(returns.iter().map(|lines| lines.to_vec()));
        self
    }

    fn order_position(&self, name: &str) -> usize {
        self.orders
            .iter()
            .position(|o| o.name == name)
            .unwrap_or_else(|| panic!("no order {name}"))
    }
}

impl FakeShopify {
    fn order_returns_of(&self, domain: &str, name: &str) -> OrderReturns {
        let inner = self.inner.lock().unwrap();
        let shop = inner.shops.get(domain).expect("unknown fake shop");
        let index = shop
            .orders
            .iter()
            .position(|o| o.name == name)
            .unwrap_or_else(|| panic!("no order {name} in {domain}"));
        shop.returns.orders.get(&index).cloned().unwrap_or_default()
    }

    /// The returns of the order named `name`, oldest first.
    pub fn returns(&self, domain: &str, name: &str) -> Vec<FakeReturn> {
        self.order_returns_of(domain, name).returns
    }

    /// `returnRequest` mutations received for the order named `name`, refused ones included.
    pub fn return_requests(&self, domain: &str, name: &str) -> usize {
        self.order_returns_of(domain, name).requests
    }

    /// The GID of `domain`'s return reason `handle`.
    pub fn return_reason_id(&self, domain: &str, handle: &str) -> String {
        let inner = self.inner.lock().unwrap();
        let shop = inner.shops.get(domain).expect("unknown fake shop");
        shop.returns
            .reasons
            .iter()
            .find(|r| r.handle == handle)
            .map(FakeReturnReason::gid)
            .unwrap_or_else(|| panic!("no return reason {handle}"))
    }
}
