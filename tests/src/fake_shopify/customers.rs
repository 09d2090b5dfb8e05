//! The inbox sidebar's operations: `customerByIdentifier` with each list of the customer's
//! orders the document asks for (aliased lists answered under their alias, each as long as its
//! `first`), and `nodes(ids:)` for orders, whose read fails for an order the shop makes
//! unreadable.

use axum::response::Response;
use graphql_parser::query::{
    parse_query, Definition, OperationDefinition, Selection, SelectionSet, Value as GqlValue,
};
use serde_json::{json, Value};

use super::actions::order_index;
use super::admin::order_node;
use super::faults::shopify_error;
use super::model::{CustomerDataAccess, FakeOrder, FakeShop};

/// `CustomerByEmail`: the customer with exactly this email (case-insensitively), or null.
pub fn customer_by_email(shop: &FakeShop, document: &str, variables: &Value) -> Value {
    let email = variables["email"].as_str().unwrap_or_default();
    let redacted = shop.customer_data == CustomerDataAccess::Redacted;
    let Some(customer) = shop
        .customers
        .iter()
        .find(|c| !redacted && c.email.eq_ignore_ascii_case(email))
    else {
        return json!({"customerByIdentifier": null});
    };
    let mut orders: Vec<(usize, &FakeOrder)> = shop
        .orders
        .iter()
        .enumerate()
        .filter(|(_, o)| {
            o.email
                .iter()
                .chain(&o.customer_email)
                .any(|e| e.eq_ignore_ascii_case(&customer.email))
        })
        .collect();
    orders.sort_by(|a, b| b.1.created_at.cmp(&a.1.created_at));
    let mut answer = json!({
        "id": format!("gid://shopify/Customer/{}", customer.id),
        "legacyResourceId": customer.id.to_string(),
        "displayName": display_name(shop, customer),
        "defaultEmailAddress": {"emailAddress": customer.email},
        "defaultPhoneNumber": customer.phone.as_ref().map(|p| json!({"phoneNumber": p})),
        "numberOfOrders": orders.len().to_string(),
        "amountSpent": {"amount": customer.amount_spent, "currencyCode": shop.currency},
        "createdAt": "2025-01-15T09:00:00Z",
        "tags": customer.tags,
        "note": customer.note,
    });
    for (key, first) in order_lists(document, variables) {
        let nodes: Vec<Value> = if shop.stuck_paging {
            // A malformed answer: the newest order, over and over.
            orders
                .first()
                .map(|(index, o)| vec![order_node(shop, *index, o); first])
                .unwrap_or_default()
        } else {
            orders
                .iter()
                .take(first)
                .map(|(index, o)| order_node(shop, *index, o))
                .collect()
        };
        answer[key] = json!({
            "pageInfo": {"hasNextPage": orders.len() > first, "endCursor": null},
            "nodes": nodes,
        });
    }
    json!({"customerByIdentifier": answer})
}

/// `Customer.displayName` as Shopify computes it: the name, else the email, else the phone,
/// each only if the app may read it (`•••` otherwise), else `""`.
fn display_name(shop: &FakeShop, customer: &super::model::FakeCustomer) -> String {
    let names_and_phones = shop.customer_data != CustomerDataAccess::NamesAndPhonesDenied;
    let first = [
        (customer.name.as_str(), names_and_phones),
        (customer.email.as_str(), true),
        (
            customer.phone.as_deref().unwrap_or_default(),
            names_and_phones,
        ),
    ]
    .into_iter()
    .find(|(value, _)| !value.trim().is_empty());
    match first {
        Some((value, true)) => value.to_owned(),
        Some((_, false)) => "•••".to_owned(),
        None => String::new(),
    }
}

/// `SidebarOrdersByIds`: the orders with these GIDs, in the order asked; null for an id that
/// is no order of the shop.
pub fn orders_by_ids(shop: &FakeShop, variables: &Value) -> Value {
    let nodes: Vec<Value> = ids(variables)
        .map(|gid| {
            order_index(shop, gid).map_or(Value::Null, |i| order_node(shop, i, &shop.orders[i]))
        })
        .collect();
    json!({"nodes": nodes})
}

/// A 503 for a read by id that includes an order the shop makes unreadable.
pub fn refused(shop: &FakeShop, operation: &str, variables: &Value) -> Option<Response> {
    if operation != "SidebarOrdersByIds" || shop.unreadable_orders.is_empty() {
        return None;
    }
    let unreadable = ids(variables).any(|gid| {
        order_index(shop, gid)
            .is_some_and(|i| shop.unreadable_orders.contains(&shop.orders[i].name))
    });
    unreadable.then(|| shopify_error(503, None))
}

fn ids(variables: &Value) -> impl Iterator<Item = &str> {
    variables["ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// Each `orders` field the document selects on `customerByIdentifier`: its response key (the
/// alias, or `orders`) and its `first`.
fn order_lists(document: &str, variables: &Value) -> Vec<(String, usize)> {
    let Ok(doc) = parse_query::<String>(document) else {
        return Vec::new();
    };
    let Some(customer) = doc.definitions.iter().find_map(|d| match d {
        Definition::Operation(OperationDefinition::Query(q)) => {
            field_set(&q.selection_set, "customerByIdentifier")
        }
        _ => None,
    }) else {
        return Vec::new();
    };
    customer
        .items
        .iter()
        .filter_map(|item| match item {
            Selection::Field(field) if field.name == "orders" => {
                let first = field.arguments.iter().find_map(|(name, value)| {
                    (name == "first").then_some(())?;
                    match value {
                        GqlValue::Int(n) => n.as_i64().map(|n| n as u64),
                        GqlValue::Variable(var) => variables[var.as_str()].as_u64(),
                        _ => None,
                    }
                });
                let key = field.alias.clone().unwrap_or_else(|| field.name.clone());
                Some((key, first.unwrap_or(10) as usize))
            }
            _ => None,
        })
        .collect()
}

/// The selection of the field named `name` at the top of `set`.
fn field_set<'a>(
    set: &'a SelectionSet<'a, String>,
    name: &str,
) -> Option<&'a SelectionSet<'a, String>> {
    set.items.iter().find_map(|item| match item {
        Selection::Field(field) if field.name == name => Some(&field.selection_set),
        _ => None,
    })
}
