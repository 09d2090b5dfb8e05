//! `POST /admin/api/{version}/graphql.json`: the read operations the connector sends, answered
//! from the shop's data, with the query's cost charged to the shop's bucket.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::actions::{self, order_gid, order_id, order_index};
use super::content;
use super::cost::costs;
use super::faults::{cost_extension, shopify_error, throttled};
use super::model::CustomerDataAccess;
use super::model::{FakeOrder, FakeProduct, FakeShop};
use super::returns;
use super::search::{canonical, filter_value, matches};
use super::tracking;
use super::{Received, Shared};

#[derive(Deserialize)]
pub struct GraphQlRequest {
    #[serde(default)]
    query: String,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Value,
}

pub async fn graphql(
    State(inner): State<Shared>,
    Path((shop, version)): Path<(String, String)>,
    headers: HeaderMap,
    Json(request): Json<GraphQlRequest>,
) -> Response {
    let token = headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    inner.lock().unwrap().received.push(Received {
        shop: shop.clone(),
        path: "graphql".into(),
        operation: request.operation_name.clone(),
        access_token: token.clone(),
        api_version: Some(version.clone()),
        variables: request.variables.clone(),
    });
    if let Some(answer) = super::misbehave(&inner, &shop).await {
        return answer;
    }
    let Some(record) = inner.lock().unwrap().shops.get(&shop).cloned() else {
        return shopify_error(404, None);
    };
    let authorized = token
        .as_ref()
        .is_some_and(|t| record.access_tokens.contains(t) || record.issued_tokens.contains(t));
    if !authorized {
        return shopify_error(401, None);
    }
    let vars = &request.variables;
    let operation = request.operation_name.as_deref().unwrap_or_default();
    if let Some((_, fault)) = record
        .broken_operations
        .iter()
        .find(|(op, _)| op == operation)
    {
        if let Some(answer) = super::faults::serve(fault.clone()).await {
            return answer;
        }
    }
    if content::reads_variants_of(operation, vars, &record.unreadable_variants) {
        return shopify_error(503, None);
    }
    if request.query.trim_start().starts_with("mutation")
        && ![
            "BulkProducts",
            "SubscribeWebhook",
            "RepointWebhook",
            "CancelOrder",
            "RequestReturn",
            "UpdateShippingAddress",
        ]
        .contains(&operation)
    {
        return Json(json!({"errors": [{"message": "this mutation is not served by the fake"}]}))
            .into_response();
    }
    if let Some(denied) = returns::denied(&record, operation) {
        return Json(denied).into_response();
    }
    if operation == "CancelOrder" && !record.grants("write_orders") {
        return Json(actions::access_denied("orderCancel", "write_orders")).into_response();
    }
    if operation == "UpdateShippingAddress" && !record.grants("write_orders") {
        return Json(actions::access_denied("orderUpdate", "write_orders")).into_response();
    }
    if operation == "ValidateCredentials" {
        if let Some(denied) = validation_denied(&record) {
            return Json(denied).into_response();
        }
    }
    if record.customer_data == CustomerDataAccess::Denied {
        // What Shopify answers an app not approved for protected customer data.
        let denied = match operation {
            "CustomerByEmail" => Some((
                json!({"customerByIdentifier": null}),
                vec![json!(["customerByIdentifier"])],
            )),
            _ => None,
        };
        if let Some((data, paths)) = denied {
            let errors: Vec<Value> = paths
                .into_iter()
                .map(|path| json!({
                    "message": "This app is not approved to access the Customer object. See https://partners.shopify.com/1/apps/1/customer_data for more details.",
                    "locations": [{"line": 2, "column": 3}],
                    "path": path,
                    "extensions": {"code": "ACCESS_DENIED", "documentation": "https://shopify.dev/docs/apps/launch/protected-customer-data"},
                }))
                .collect();
            return Json(json!({"data": data, "errors": errors})).into_response();
        }
    }
    if let Some(refused) = super::customers::refused(&record, operation, vars) {
        return refused;
    }
    let data = match operation {
        "ValidateCredentials" => validate_credentials(&record),
        "ShopAndScopes" => shop_and_scopes(&record),
        "FindOrdersByName" => find_orders(&record, &request.query, vars, false),
        "FindOrderIdsByName" => find_orders(&record, &request.query, vars, true),
        "OrdersByIds" | "ActionOrdersByIds" => orders_by_ids(&record, vars),
        "OrderTimeline" => tracking::order_timeline(&record, &request.query, vars),
        "ActionOrdersByName" => find_orders(&record, &request.query, vars, false),
        "ActionOrder" => action_order(&record, vars),
        "CancelOrder" => actions::cancel(&mut inner.lock().unwrap(), &shop, &request.query, vars),
        "ActionJob" => actions::poll(&mut inner.lock().unwrap(), vars),
        op if returns::OPERATIONS.contains(&op) => {
            returns::answer(&inner, &record, &shop, op, &request.query, vars)
        }
        "UpdateShippingAddress" => {
            super::address::update(&mut inner.lock().unwrap(), &shop, &request.query, vars)
        }
        "SearchProducts" => search_products(&record, vars),
        "ShopDetails" => shop_details(&record),
        "CustomerByEmail" => super::customers::customer_by_email(&record, &request.query, vars),
        "SidebarOrdersByIds" => super::customers::orders_by_ids(&record, vars),
        "BulkProducts" => content::start_bulk(&mut inner.lock().unwrap(), &record),
        "BulkOperationStatus" => content::bulk_status(&inner.lock().unwrap(), vars),
        "SubscribeWebhook" => super::webhooks::create(&mut inner.lock().unwrap(), &shop, vars),
        "WebhookSubscriptions" => super::webhooks::list(&inner.lock().unwrap(), &shop, vars),
        "RepointWebhook" => super::webhooks::repoint(&mut inner.lock().unwrap(), &shop, vars),
        other => match content::answer(&record, &request.query, other, vars) {
            Some(Ok(data)) => data,
            Some(Err(mut whole)) => {
                whole["extensions"] = cost_extension(1.0, Some(1.0), record.bucket.0, record.bucket.0, record.bucket.1);
                return Json(whole).into_response();
            }
            None => {
                return Json(json!({
                    "errors": [{"message": format!("the fake does not serve operation {other:?}"), "extensions": {"code": "UNKNOWN"}}]
                }))
                .into_response()
            }
        },
    };
    let data = if operation.starts_with("Action") {
        actions::as_asked(&request.query, data)
    } else {
        data
    };
    if let Some((_, fault)) = record.lost_answers.iter().find(|(op, _)| op == operation) {
        if let Some(answer) = super::faults::serve(fault.clone()).await {
            return answer;
        }
    }
    let (data, withheld) = withhold(&record, operation, data);
    let (requested, actual) = costs(
        &request.query,
        request.operation_name.as_deref(),
        vars,
        &data,
    );
    let (capacity, restore_rate) = record.bucket;
    {
        let mut guard = inner.lock().unwrap();
        let bucket = guard.bucket(&shop, capacity, restore_rate);
        if !bucket.admit(requested) {
            let available = bucket.available();
            guard.throttled.push(operation.to_owned());
            return throttled(requested, available, capacity, restore_rate);
        }
    }
    let admitted = tokio::time::Instant::now();
    // The query runs holding its requested cost; then the difference flows back.
    if !record.execution.is_zero() {
        tokio::time::sleep(record.execution).await;
    }
    let available = {
        let mut guard = inner.lock().unwrap();
        let bucket = guard.bucket(&shop, capacity, restore_rate);
        bucket.refund(requested - actual);
        let available = bucket.available();
        let operation = request.operation_name.clone().unwrap_or_default();
        guard.held.push(super::cost::Held {
            shop: shop.clone(),
            operation: operation.clone(),
            requested,
            from: admitted,
            to: tokio::time::Instant::now(),
        });
        guard
            .spent
            .push((shop.clone(), operation, requested, actual));
        available
    };
    let mut body = json!({
        "data": data,
        "extensions": cost_extension(requested, Some(actual), available, capacity, restore_rate),
    });
    if !withheld.is_empty() {
        body["errors"] = Value::Array(withheld);
    }
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert("X-Shopify-API-Version", version.parse().unwrap());
    response
}

/// The shop, its scopes, and a few recent customers' and orders' emails.
fn validate_credentials(shop: &FakeShop) -> Value {
    let mut data = shop_and_scopes(shop);
    if let (Some(data), Value::Object(probe)) = (data.as_object_mut(), protected_data_probe(shop)) {
        data.extend(probe);
    }
    data
}

/// Shopify's answer to `ValidateCredentials` when it denies the customers or orders it reads:
/// without `read_customers` or `read_orders`, or without protected customer data access.
/// `customers` and `orders` cannot be null, so the denial nulls the whole answer.
fn validation_denied(shop: &FakeShop) -> Option<Value> {
    let scope_denial = |root: &str, scope: &str| {
        json!({
            "message": format!("Access denied for {root} field. Required access: `{scope}` access scope."),
            "locations": [{"line": 2, "column": 3}],
            "path": [root],
            "extensions": {"code": "ACCESS_DENIED", "documentation": "https://shopify.dev/api/usage/access-scopes"},
        })
    };
    let customer_data_denial = |path: Value| {
        json!({
            "message": "This app is not approved to access the Customer object. See https://partners.shopify.com/1/apps/1/customer_data for more details.",
            "locations": [{"line": 2, "column": 3}],
            "path": path,
            "extensions": {"code": "ACCESS_DENIED", "documentation": "https://shopify.dev/docs/apps/launch/protected-customer-data"},
        })
    };
    let denied_data = shop.customer_data == CustomerDataAccess::Denied;
    let mut errors = Vec::new();
    if !shop.grants("read_customers") {
        errors.push(scope_denial("customers", "read_customers"));
    } else if denied_data {
        errors.push(customer_data_denial(json!(["customers"])));
    }
    if !shop.grants("read_orders") {
        errors.push(scope_denial("orders", "read_orders"));
    } else if denied_data && !shop.orders.is_empty() {
        errors.push(customer_data_denial(json!(["orders", "nodes", 0, "email"])));
    }
    (!errors.is_empty()).then(|| json!({"data": null, "errors": errors}))
}

fn shop_and_scopes(shop: &FakeShop) -> Value {
    json!({
        "shop": {
            "name": shop.name,
            "myshopifyDomain": shop.domain,
            "currencyCode": shop.currency,
            "orderNumberFormatPrefix": shop.order_number_prefix,
            "orderNumberFormatSuffix": shop.order_number_suffix,
            "plan": {"publicDisplayName": shop.plan, "partnerDevelopment": false},
        },
        "currentAppInstallation": {
            "accessScopes": shop.scopes.iter().map(|s| json!({"handle": s})).collect::<Vec<_>>(),
        },
    })
}

/// The digits of the order's name, as a number (what `sortKey: ORDER_NUMBER` sorts by).
pub fn order_number(order: &FakeOrder) -> u64 {
    order
        .name
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or(0)
}

/// Protected fields the app may not read, as Shopify answers them: each one null, with an
/// `ACCESS_DENIED` error naming its path, and the rest of the answer intact. Nothing is denied
/// where no record is returned.
fn withhold(shop: &FakeShop, operation: &str, mut data: Value) -> (Value, Vec<Value>) {
    const ORDERS: [&str; 5] = [
        "FindOrdersByName",
        "OrdersByIds",
        "ActionOrdersByName",
        "ActionOrdersByIds",
        "ActionOrder",
    ];
    let fields: &[&str] = match shop.customer_data {
        CustomerDataAccess::Denied if ORDERS.contains(&operation) => {
            &["email", "customer", "shippingAddress"]
        }
        CustomerDataAccess::AddressDenied if ORDERS.contains(&operation) => &["shippingAddress"],
        CustomerDataAccess::NamesAndPhonesDenied if ORDERS.contains(&operation) => &[
            "shippingAddress.firstName",
            "shippingAddress.lastName",
            "shippingAddress.phone",
        ],
        _ => return (data, Vec::new()),
    };
    // (path to the list or the one order, the orders there)
    let (root, nodes): (Vec<Value>, Vec<(Option<usize>, &mut Value)>) =
        if data.get("order").is_some() {
            let order = data
                .get_mut("order")
                .into_iter()
                .map(|o| (None, o))
                .collect();
            (vec![json!("order")], order)
        } else {
            let (root, nodes) = match data.get_mut("orders") {
                Some(orders) => (
                    vec![json!("orders"), json!("nodes")],
                    orders.get_mut("nodes"),
                ),
                None => (vec![json!("nodes")], data.get_mut("nodes")),
            };
            let nodes = match nodes {
                Some(Value::Array(nodes)) => nodes
                    .iter_mut()
                    .enumerate()
                    .map(|(i, n)| (Some(i), n))
                    .collect(),
                _ => Vec::new(),
            };
            (root, nodes)
        };
    let mut errors = Vec::new();
    {
        for (i, node) in nodes {
            let Some(object) = node.as_object_mut() else {
                continue;
            };
            for field in fields {
                // `shippingAddress.phone`: the part of the object below the order.
                let (parents, name) = field.rsplit_once('.').unwrap_or(("", field));
                let mut object = Some(&mut *object);
                for parent in parents.split('.').filter(|p| !p.is_empty()) {
                    object = object
                        .and_then(|o| o.get_mut(parent))
                        .and_then(Value::as_object_mut);
                }
                let Some(object) = object else {
                    continue;
                };
                if object.contains_key(name) {
                    object.insert(name.to_owned(), Value::Null);
                    let mut path = root.clone();
                    path.extend(i.map(|i| json!(i)));
                    path.extend(field.split('.').map(|segment| json!(segment)));
                    errors.push(json!({
                        "message": format!("This app is not approved to use the {field} field."),
                        "path": path,
                        "extensions": {"code": "ACCESS_DENIED"},
                    }));
                }
            }
        }
    }
    (data, errors)
}

/// A few recent customers and orders with their emails (empty when redacted).
fn protected_data_probe(shop: &FakeShop) -> Value {
    let redacted = shop.customer_data == CustomerDataAccess::Redacted;
    let email = |e: &str| if redacted { Value::Null } else { json!(e) };
    let customers: Vec<Value> = shop
        .customers
        .iter()
        .rev()
        .take(5)
        .map(|c| json!({"defaultEmailAddress": {"emailAddress": email(&c.email)}}))
        .collect();
    let mut orders: Vec<&FakeOrder> = shop.orders.iter().collect();
    orders.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    let orders: Vec<Value> = orders
        .iter()
        .take(5)
        .map(|o| json!({"email": o.email.as_deref().map_or(Value::Null, email)}))
        .collect();
    json!({"customers": {"nodes": customers}, "orders": {"nodes": orders}})
}

/// An order with every field any document asks for.
pub(super) fn order_node(shop: &FakeShop, index: usize, o: &FakeOrder) -> Value {
    let redacted = shop.customer_data == CustomerDataAccess::Redacted;
    let o = &{
        let mut o = o.clone();
        if redacted {
            o.email = None;
            o.customer_email = None;
        }
        o
    };
    let mut node = json!({
        "id": order_gid(index),
        "legacyResourceId": order_id(index).to_string(),
        "name": o.name,
        "createdAt": o.created_at,
        "email": o.email,
        "customer": o.customer_email.as_ref().map(|e| json!({"defaultEmailAddress": {"emailAddress": e}})),
        "displayFinancialStatus": o.financial_status,
        "displayFulfillmentStatus": o.fulfillment_status,
        "cancelledAt": o.cancelled_at,
        "cancelReason": o.cancellation.as_ref().map(|c| c.reason.clone()),
        "totalPriceSet": {"shopMoney": {"amount": o.total, "currencyCode": o.currency}},
        "lineItems": {"pageInfo": {"hasNextPage": false}, "nodes": o.line_items.iter().enumerate().map(|(i, (t, v, q))| json!({
            "id": format!("gid://shopify/LineItem/{}", order_id(index) * 100 + i as u64),
            "title": t, "variantTitle": v, "quantity": q, "currentQuantity": o.current_quantity(*q),
        })).collect::<Vec<_>>()},
        "fulfillments": o.fulfillments.iter().enumerate().map(|(position, f)| tracking::fulfillment(index, position, o, f)).collect::<Vec<_>>(),
        "refunds": tracking::refunds(o),
        "statusPageUrl": format!("https://{}/orders/{}/status", shop.primary_domain, canonical(&o.name)),
    });
    if let Value::Object(object) = &mut node {
        object.extend(actions::action_fields(shop, index, o));
    }
    node
}

/// `order(id:)`: one order by GID, or null.
fn action_order(shop: &FakeShop, variables: &Value) -> Value {
    let order = variables["id"]
        .as_str()
        .and_then(|gid| order_index(shop, gid))
        .map_or(Value::Null, |i| order_node(shop, i, &shop.orders[i]));
    json!({"order": order})
}

/// Orders whose name Shopify's (fuzzy) name search relates to the query: every name that
/// contains the digits searched for. Ordered as the document asks.
fn find_orders(shop: &FakeShop, document: &str, variables: &Value, ids_only: bool) -> Value {
    let query = variables["query"].as_str().unwrap_or_default();
    let only_open = query.contains("status:open");
    let wanted = filter_value(query, "name")
        .map(|n| canonical(&n))
        .unwrap_or_default();
    let digits: String = wanted.chars().filter(char::is_ascii_digit).collect();
    let mut orders: Vec<(usize, &FakeOrder)> = shop
        .orders
        .iter()
        .enumerate()
        .filter(|(_, o)| !digits.is_empty() && canonical(&o.name).contains(&digits))
        .filter(|(_, o)| !(only_open && o.closed))
        .collect();
    if document.contains("sortKey: ORDER_NUMBER") {
        orders.sort_by_key(|(i, o)| (order_number(o), *i));
    } else {
        orders.sort_by(|a, b| b.1.created_at.cmp(&a.1.created_at));
    }
    let first = variables["first"].as_u64().unwrap_or(10) as usize;
    let start: usize = variables["after"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = orders
        .iter()
        .skip(start)
        .take(first)
        .map(|(i, o)| {
            if ids_only {
                json!({"id": order_gid(*i), "name": o.name})
            } else {
                order_node(shop, *i, o)
            }
        })
        .collect();
    let end = start + page.len();
    json!({"orders": {"pageInfo": {"hasNextPage": end < orders.len(), "endCursor": end.to_string()}, "nodes": page}})
}

fn orders_by_ids(shop: &FakeShop, variables: &Value) -> Value {
    let ids = variables["ids"].as_array().cloned().unwrap_or_default();
    let nodes: Vec<Value> = ids
        .iter()
        .map(|id| {
            id.as_str()
                .and_then(|id| id.strip_prefix("gid://shopify/Order/"))
                .and_then(|n| n.parse::<u64>().ok())
                .and_then(|n| n.checked_sub(5000))
                .and_then(|i| {
                    shop.orders
                        .get(i as usize)
                        .map(|o| order_node(shop, i as usize, o))
                })
                .unwrap_or(Value::Null)
        })
        .collect();
    json!({"nodes": nodes})
}

fn search_products(shop: &FakeShop, variables: &Value) -> Value {
    let query = variables["query"].as_str().unwrap_or_default();
    let first = variables["first"].as_u64().unwrap_or(10) as usize;
    // Cursors are positions among the matches, as opaque to the caller as Shopify's.
    let start: usize = variables["after"]
        .as_str()
        .and_then(|c| c.strip_prefix("search:"))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let matching: Vec<&FakeProduct> = shop
        .products
        .iter()
        .filter(|p| {
            let mut fields = HashMap::from([
                ("status", p.status.clone()),
                ("vendor", p.vendor.clone()),
                ("product_type", p.product_type.clone()),
            ]);
            // `published_status:` is answered from the search index, which may lag.
            if let Some(value) = filter_value(query, "published_status") {
                if !p.published_status_matches(&value) {
                    return false;
                }
                fields.insert("published_status", value);
            }
            let text = format!(
                "{} {} {} {}",
                p.title, p.description, p.vendor, p.product_type
            );
            matches(query, &fields, &text)
        })
        .collect();
    let end = matching.len().min(start + first);
    let nodes: Vec<Value> = matching[start.min(end)..end]
        .iter()
        .map(|p| {
            let prices: Vec<f64> = p.variants.iter().map(|v| v.2.parse().unwrap_or(0.0)).collect();
            let min = prices.iter().cloned().fold(f64::MAX, f64::min);
            let max = prices.iter().cloned().fold(0.0, f64::max);
            json!({
                "title": p.title, "handle": p.handle, "description": p.description,
                "productType": p.product_type, "vendor": p.vendor, "status": p.status,
                "onlineStoreUrl": p.online_store_url(shop),
                "priceRangeV2": {
                    "minVariantPrice": {"amount": format!("{min:.2}"), "currencyCode": shop.currency},
                    "maxVariantPrice": {"amount": format!("{max:.2}"), "currencyCode": shop.currency},
                },
                "featuredMedia": {"image": {"url": format!("https://cdn.example/{}.jpg", p.handle)}},
                "variants": {"nodes": p.variants.iter().map(|(t, sku, price, available)| json!({"title": t, "sku": sku, "price": price, "availableForSale": available})).collect::<Vec<_>>()},
            })
        })
        .collect();
    let page_info =
        json!({"hasNextPage": end < matching.len(), "endCursor": format!("search:{end}")});
    json!({"products": {"pageInfo": page_info, "nodes": nodes}})
}

fn shop_details(shop: &FakeShop) -> Value {
    json!({"shop": {
        "name": shop.name,
        "description": shop.description,
        "currencyCode": shop.currency,
        "shipsToCountries": shop.ships_to,
        "contactEmail": shop.contact_email,
        "primaryDomain": {"host": shop.primary_domain, "url": format!("https://{}", shop.primary_domain)},
    }})
}
