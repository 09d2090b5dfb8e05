//! Finding the order a write is for, exactly as `get_order_details` does (routing, exact
//! name), and releasing it only to the shopper it belongs to: the order's or its customer's
//! email equal to the verified contact email (trimmed, ASCII-case-insensitive), always.

use serde_json::json;

use super::ports::ActionFailure;
use super::record::normalize_email;
use crate::access::{failure_code, Access};
use crate::deadline::Deadline;
use crate::domain::{OrderNumber, ShopDomain, StoreStatus};
use crate::failure::Code;
use crate::routing::{self, Target};
use crate::shopify::actions::ActionOrder;
use crate::shopify::PROTECTED_DATA_WARNING;
use crate::store::StoreRecord;

/// Whether the order belongs to `email` (already normalized). An order without any email
/// (POS, phone) belongs to no one for a write.
pub fn belongs_to(order: &ActionOrder, email: &str) -> bool {
    !email.is_empty() && order.emails().any(|e| normalize_email(e) == email)
}

/// Whether Shopify withholds customer emails from the store's app: ownership cannot be
/// checked there.
pub fn withholds_emails(store: &StoreRecord) -> bool {
    store.status == StoreStatus::Connected
        && store
            .warnings
            .iter()
            .any(|w| w.code == PROTECTED_DATA_WARNING)
}

fn not_found(number: &OrderNumber) -> ActionFailure {
    ActionFailure::new(
        Code::OrderNotFound,
        format!("I couldn't find order {number} for this customer. Please check the order number and the email address used for the order."),
    )
}

/// The one order named `number` (in `shop` when given) that belongs to `email`.
pub async fn find_order<'a>(
    access: &Access,
    deadline: &Deadline,
    stores: &'a [StoreRecord],
    number: &OrderNumber,
    shop: Option<&ShopDomain>,
    email: &str,
) -> Result<(&'a StoreRecord, ActionOrder), ActionFailure> {
    let chosen: Vec<StoreRecord> = stores
        .iter()
        .filter(|s| shop.is_none_or(|d| s.shop_domain == *d))
        .cloned()
        .collect();
    if chosen.is_empty() {
        return Err(not_found(number));
    }
    let plan = routing::plan(&chosen, number);
    let mut unverifiable = 0;
    let mut errors = Vec::new();
    let mut found: Vec<(usize, ActionOrder)> = Vec::new();
    for round in [plan.first, plan.then] {
        // The second round stands in for the first only when every store of the first
        // answered that the order is not there: a store that failed or was left out may hold
        // the order meant, and another store's order of the same number is a different one.
        if !found.is_empty() || !errors.is_empty() || unverifiable > 0 || round.is_empty() {
            continue;
        }
        let targets: Vec<&Target> = round
            .iter()
            .filter(|t| {
                let skip = withholds_emails(&chosen[t.index]);
                unverifiable += usize::from(skip);
                !skip
            })
            .collect();
        let fan_out = access
            .fan_out_targets(
                &chosen,
                targets,
                deadline,
                |store, token, target| async move {
                    access
                        .shopify()
                        .action_orders_named(
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
        errors.extend(fan_out.errors);
        for (store, orders) in fan_out.results {
            let index = chosen
                .iter()
                .position(|s| std::ptr::eq(s, store))
                .expect("a chosen store");
            found.extend(
                orders
                    .into_iter()
                    .filter(|o| belongs_to(o, email))
                    .map(|o| (index, o)),
            );
        }
    }
    match found.len() {
        0 if unverifiable > 0 => Err(ActionFailure::new(
            Code::VerificationUnavailable,
            format!("This store can't verify order emails yet, so I can't change order {number} here. A team member can help the customer."),
        )),
        0 if !errors.is_empty() => {
            let code = failure_code(&errors);
            Err(ActionFailure::new(code, code.ai_message()))
        }
        0 => Err(not_found(number)),
        1 => {
            let (index, order) = found.pop().expect("one order");
            let store = stores
                .iter()
                .find(|s| s.shop_domain == chosen[index].shop_domain)
                .expect("a chosen store is one of the stores");
            Ok((store, order))
        }
        _ => {
            let matches: Vec<_> = found
                .iter()
                .map(|(i, o)| json!({"shop_domain": chosen[*i].shop_domain, "name": o.name, "created_at": o.created_at}))
                .collect();
            Err(ActionFailure::new(
                Code::InvalidArguments,
                format!("More than one order {number} belongs to this customer. Ask which store it was placed in and pass its shop_domain."),
            )
            .with_details(json!({ "matches": matches })))
        }
    }
}

/// The order with `order_id` read live from `store`; `None` when it is gone.
pub async fn read_order(
    access: &Access,
    deadline: &Deadline,
    store: &StoreRecord,
    order_id: &str,
) -> Result<Option<ActionOrder>, ActionFailure> {
    access
        .with_token(store, deadline, |token| async move {
            access
                .shopify()
                .action_order(deadline, &store.shop_domain, &token, order_id)
                .await
        })
        .await
        .map_err(|error| {
            tracing::warn!(shop = %store.shop_domain, %error, "could not read the order back");
            let code = error.code();
            ActionFailure::new(code, code.ai_message())
        })
}
