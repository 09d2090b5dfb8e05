//! `get_order_details`: route by order-number format, keep exact name matches, and release an
//! order only to the person it belongs to.

use serde::Deserialize;
use serde_json::{json, Value};
use shared::access::per_store;
use shared::domain::{OrderNumber, OrgSettings};
use shared::routing::{self, Target};
use shared::shopify::lookups::Order;
use shared::store::StoreRecord;
use shared::Services;

use crate::{arguments, Contact, Failure, StoreError, Success};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Arguments {
    order_number: String,
}

/// Whether `contact_email` is the order's or its customer's email (trimmed, any case).
pub(crate) fn email_matches(order: &Order, contact_email: &str) -> bool {
    let wanted = contact_email.trim();
    !wanted.is_empty()
        && order
            .emails()
            .any(|e| e.trim().eq_ignore_ascii_case(wanted))
}

fn lower(value: &str) -> String {
    value.to_ascii_lowercase()
}

fn view(order: &Order, store: &StoreRecord) -> Value {
    json!({
        "name": order.name,
        "shop_domain": store.shop_domain,
        "created_at": order.created_at,
        "financial_status": order.display_financial_status.as_deref().map(lower),
        "fulfillment_status": lower(&order.display_fulfillment_status),
        "cancelled_at": order.cancelled_at,
        "cancel_reason": order.cancel_reason.as_deref().map(lower),
        "total": {"amount": order.total_price_set.shop_money.amount, "currency": order.total_price_set.shop_money.currency_code},
        "line_items": order.line_items.nodes.iter().map(|l| json!({"title": l.title, "variant_title": l.variant_title, "quantity": l.quantity})).collect::<Vec<_>>(),
        "shipping_address": order.shipping_address.as_ref().map(|a| json!({"city": a.city, "province": a.province, "country": a.country, "zip": a.zip})),
        "fulfillments": order.fulfillments.iter().map(|f| json!({
            "status": lower(f.display_status.as_deref().unwrap_or(&f.status)),
            "tracking": f.tracking_info.iter().map(|t| json!({"company": t.company, "number": t.number, "url": t.url})).collect::<Vec<_>>(),
            "estimated_delivery_at": f.estimated_delivery_at,
            "delivered_at": f.delivered_at,
        })).collect::<Vec<_>>(),
        "status_page_url": order.status_page_url,
    })
}

/// Asks each target store for the number and keeps the orders that are exactly it and that
/// the contact may see.
async fn ask<'a>(
    services: &Services,
    stores: &'a [StoreRecord],
    targets: &[Target],
    contact_email: Option<&str>,
    searched: &mut Vec<String>,
    errors: &mut Vec<StoreError>,
) -> Vec<(&'a StoreRecord, Order)> {
    let chosen: Vec<&StoreRecord> = targets.iter().map(|t| &stores[t.index]).collect();
    let results = per_store(services, chosen, |store, token| {
        let target = targets
            .iter()
            .find(|t| std::ptr::eq(&stores[t.index], store))
            .expect("a target per store");
        let name = target.search_name.clone();
        async move {
            services
                .shopify
                .find_orders_by_name(&store.shop_domain, &token, &name)
                .await
        }
    })
    .await;
    let mut found = Vec::new();
    for ((store, result), target) in results.into_iter().zip(targets) {
        searched.push(store.shop_domain.to_string());
        match result {
            Ok(orders) => found.extend(
                orders
                    .into_iter()
                    .filter(|o| routing::is_exact(&o.name, target))
                    .filter(|o| contact_email.is_none_or(|email| email_matches(o, email)))
                    .map(|o| (store, o)),
            ),
            Err(error) => errors.push(StoreError {
                shop_domain: store.shop_domain.to_string(),
                code: error.code(),
            }),
        }
    }
    found
}

pub(crate) async fn get_order_details(
    services: &Services,
    stores: &[StoreRecord],
    settings: &OrgSettings,
    raw: &Value,
    contact: &Contact,
) -> Result<Success, Failure> {
    let args: Arguments = arguments(raw)?;
    let number = OrderNumber::parse(&args.order_number).map_err(|_| {
        Failure::invalid_arguments(format!(
            "{:?} is not an order number. Ask the customer for their order number, which looks like #1042.",
            args.order_number.chars().take(40).collect::<String>()
        ))
    })?;
    let contact_email = contact
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let required_email = if settings.require_email_match {
        Some(contact_email.ok_or_else(|| {
            Failure::new(
                "verification_required",
                "I need the email address the order was placed with before I can share order details.",
            )
        })?)
    } else {
        None
    };

    let plan = routing::plan(stores, &number);
    let mut searched = Vec::new();
    let mut errors = Vec::new();
    let mut found = ask(
        services,
        stores,
        &plan.first,
        required_email,
        &mut searched,
        &mut errors,
    )
    .await;
    if found.is_empty() && !plan.then.is_empty() {
        found = ask(
            services,
            stores,
            &plan.then,
            required_email,
            &mut searched,
            &mut errors,
        )
        .await;
    }
    if found.is_empty() {
        if !errors.is_empty() {
            return Err(Failure::from_store_errors(&errors));
        }
        return Err(Failure::new(
            "order_not_found",
            format!("I couldn't find order {number} for this customer. Please check the order number and the email address used for the order."),
        ));
    }
    found.sort_by(|a, b| b.1.created_at.cmp(&a.1.created_at));
    let (store, newest) = &found[0];
    let mut data = view(newest, store);
    let others: Vec<Value> = found[1..]
        .iter()
        .map(|(s, o)| json!({"shop_domain": s.shop_domain, "name": o.name}))
        .collect();
    if !others.is_empty() {
        data["other_matches"] = Value::Array(others);
    }
    Ok(Success {
        data,
        stores_searched: searched,
        store_errors: errors,
    })
}
