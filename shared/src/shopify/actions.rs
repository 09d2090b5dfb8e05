//! Orders as the order actions see them, and the writes they send: an order found by exact
//! name or read back by id with everything a cancellation's rules, summary and fingerprint
//! rest on ([`ActionOrder`]); the cancellation itself, always with the same arguments
//! ([`ShopifyClient::cancel_order`]); and the job Shopify runs it in
//! ([`ShopifyClient::job_done`]).

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::named::{NameSearch, Named};
use super::orders::OrderCustomer;
use super::queries::{
    ACTION_JOB, ACTION_ORDER, ACTION_ORDERS_BY_IDS, ACTION_ORDERS_BY_NAME, CANCEL_ORDER,
};
use super::types::{Money, MoneyBag};
use super::{ShopifyClient, ShopifyError};
use crate::deadline::Deadline;
use crate::domain::ShopDomain;

/// Candidates read with their details in the first request (the exact name sorts first; the
/// second shows whether more follow). Keeps `ActionOrdersByName` under 150 points.
pub const ACTION_CANDIDATES: u32 = 2;

/// Names listed by the second request, when the first did not hold the exact name.
pub const MORE_ACTION_CANDIDATES: u32 = 50;

/// Transactions read per order (`transactions(first: 5)` in `action_orders.graphql`, a list
/// without page info): an order with this many may have more.
pub const ACTION_TRANSACTIONS: usize = 5;

/// Shopify's limit on `orderCancel`'s `staffNote`, in characters.
pub const STAFF_NOTE_MAX_CHARS: usize = 255;

/// A line item as it was ordered and as it stands (`currentQuantity` drops with removals and
/// refunds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionLineItem {
    /// The line item's GID.
    pub id: String,
    pub title: String,
    pub quantity: i64,
    pub current_quantity: i64,
}

/// The shipping address, every field Shopify's `MailingAddress` gives the actions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingAddress {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    /// Shopify's `provinceCode` (e.g. `ON`).
    pub province_code: Option<String>,
    pub zip: Option<String>,
    pub country: Option<String>,
    /// ISO 3166 alpha-2 (`countryCodeV2`).
    pub country_code: Option<String>,
    pub phone: Option<String>,
    /// The parts Shopify withheld as protected customer data (`firstName`, `phone`): `None`
    /// above, though the order may have them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<String>,
}

/// A fulfillment order's state: what decides whether an order may still be cancelled or
/// re-addressed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfillmentOrderState {
    /// The fulfillment order's GID.
    pub id: String,
    /// `FulfillmentOrderStatus`: `OPEN`, `SCHEDULED`, `ON_HOLD`, `IN_PROGRESS`, `INCOMPLETE`,
    /// `CLOSED`, `CANCELLED`.
    pub status: String,
    /// `FulfillmentOrderRequestStatus`: `UNSUBMITTED`, `SUBMITTED`, `ACCEPTED`, `REJECTED`,
    /// `CANCELLATION_REQUESTED`, ...
    pub request_status: String,
    /// Its delivery method's `DeliveryMethodType`: `SHIPPING`, `LOCAL`, `PICKUP_POINT`,
    /// `PICK_UP`, `RETAIL`, `NONE`; `None` when Shopify names none.
    #[serde(default)]
    pub delivery_method: Option<String>,
}

/// A payment transaction, for the summary's "refunded to ..." and for settling.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionTransaction {
    /// `OrderTransactionKind`: `SALE`, `AUTHORIZATION`, `CAPTURE`, `VOID`, `REFUND`, ...
    pub kind: String,
    /// `OrderTransactionStatus`: `SUCCESS`, `PENDING`, `FAILURE`, ...
    pub status: String,
    /// The payment gateway's handle (`shopify_payments`, `manual`, `gift_card`, ...).
    pub gateway: Option<String>,
    /// A manual payment (cash on delivery, bank transfer...): Shopify refunds nothing by itself.
    pub manual_payment_gateway: bool,
    /// In shop money.
    pub amount: Money,
}

/// An order as the order actions read it: found, checked, summarized and fingerprinted.
///
/// Enum-valued fields are Shopify's own values as strings (Shopify adds values over time; the
/// rules name the ones they accept). Protected customer data the app may not see is `None`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionOrder {
    /// The order's GID (`gid://shopify/Order/...`): what a proposal binds.
    pub id: String,
    pub name: String,
    /// RFC 3339, as Shopify gives it (see [`ActionOrder::placed_at`]).
    pub created_at: String,
    pub email: Option<String>,
    /// The customer's default email, when the order has a customer.
    pub customer_email: Option<String>,
    pub cancelled_at: Option<String>,
    pub display_financial_status: Option<String>,
    pub display_fulfillment_status: String,
    /// `OrderReturnStatus`: `NO_RETURN`, `RETURN_REQUESTED`, `IN_PROGRESS`, `RETURNED`, ...
    pub return_status: String,
    pub requires_shipping: bool,
    /// Whether Shopify can email the customer about this order (`notifyCustomer` does
    /// nothing otherwise).
    pub can_notify_customer: bool,
    /// The shop's currency for this order.
    pub currency_code: String,
    /// What the customer has paid, net of refunds, in shop money.
    pub net_payment: Money,
    pub line_items: Vec<ActionLineItem>,
    /// More line items exist than were read.
    pub more_line_items: bool,
    pub shipping_address: Option<ShippingAddress>,
    /// Every fulfillment order visible with the app's scopes, cancelled and closed included.
    pub fulfillment_orders: Vec<FulfillmentOrderState>,
    /// More fulfillment orders exist than were read: the rules cannot vouch for all of them.
    pub more_fulfillment_orders: bool,
    pub transactions: Vec<ActionTransaction>,
    pub tags: Vec<String>,
    /// What an action's rules rest on beyond the order, read live beside it by the action
    /// that needs it (`OrderAction::read_facts`); empty until then.
    #[serde(skip)]
    pub facts: Facts,
}

/// Live facts beyond the order that an action's rules, summary and fingerprint rest on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The countries the shop ships to (ISO 3166 alpha-2), for an address change.
    pub ships_to: Option<Vec<String>>,
    /// The order's returnable items, the reason and the shopper's items resolved against
    /// them, for a return request.
    pub returns: Option<super::returns::ReturnFacts>,
}

impl ActionOrder {
    /// The order's own email and its customer's, as given.
    pub fn emails(&self) -> impl Iterator<Item = &str> {
        self.email
            .as_deref()
            .into_iter()
            .chain(self.customer_email.as_deref())
    }

    /// When the order was placed; `None` if Shopify's timestamp does not parse.
    pub fn placed_at(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.created_at)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled_at.is_some()
    }
}

/// What a cancellation sends besides its fixed arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelRequest {
    /// The order's GID.
    pub order_id: String,
    /// Names the conversation, then the shopper's reason; cut to [`STAFF_NOTE_MAX_CHARS`].
    pub staff_note: String,
}

/// Shopify accepted the cancellation and runs it as a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelStarted {
    /// The job to poll with [`ShopifyClient::job_done`]; `None` when Shopify answered
    /// without one (then only reading the order back tells the outcome).
    pub job_id: Option<String>,
}

/// One of `orderCancelUserErrors`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CancelUserError {
    /// The argument path Shopify blames (e.g. `["orderId"]`).
    #[serde(default)]
    pub field: Option<Vec<String>>,
    /// Shopify's text: shown to no one as is and never logged; map `code` instead.
    pub message: String,
    /// `OrderCancelUserErrorCode`: `INVALID`, `NOT_FOUND`, `NO_REFUND_PERMISSION`, ...
    #[serde(default)]
    pub code: Option<String>,
}

/// Shopify refused the cancellation (nothing was changed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelRefused {
    pub user_errors: Vec<CancelUserError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLineItem {
    id: String,
    title: String,
    quantity: i64,
    current_quantity: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAddress {
    first_name: Option<String>,
    last_name: Option<String>,
    company: Option<String>,
    address1: Option<String>,
    address2: Option<String>,
    city: Option<String>,
    province: Option<String>,
    province_code: Option<String>,
    zip: Option<String>,
    country: Option<String>,
    country_code_v2: Option<String>,
    phone: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFulfillmentOrder {
    id: String,
    status: String,
    request_status: String,
    delivery_method: Option<RawDeliveryMethod>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDeliveryMethod {
    method_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTransaction {
    kind: String,
    status: String,
    gateway: Option<String>,
    manual_payment_gateway: bool,
    amount_set: MoneyBag,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MorePageInfo {
    has_next_page: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Connection<T> {
    page_info: MorePageInfo,
    nodes: Vec<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawOrder {
    id: String,
    name: String,
    created_at: String,
    email: Option<String>,
    customer: Option<OrderCustomer>,
    cancelled_at: Option<String>,
    display_financial_status: Option<String>,
    display_fulfillment_status: String,
    return_status: String,
    requires_shipping: bool,
    can_notify_customer: bool,
    currency_code: String,
    net_payment_set: MoneyBag,
    line_items: Connection<RawLineItem>,
    shipping_address: Option<RawAddress>,
    fulfillment_orders: Connection<RawFulfillmentOrder>,
    transactions: Vec<RawTransaction>,
    tags: Vec<String>,
    /// The fields Shopify withheld as protected customer data, as paths below the order.
    #[serde(skip)]
    withheld: Vec<String>,
}

impl From<RawOrder> for ActionOrder {
    fn from(raw: RawOrder) -> Self {
        let withheld_parts: Vec<String> = raw
            .withheld
            .iter()
            .filter_map(|field| field.strip_prefix("shippingAddress."))
            .map(str::to_owned)
            .collect();
        Self {
            id: raw.id,
            name: raw.name,
            created_at: raw.created_at,
            email: raw.email,
            customer_email: raw
                .customer
                .and_then(|c| c.default_email_address)
                .map(|e| e.email_address),
            cancelled_at: raw.cancelled_at,
            display_financial_status: raw.display_financial_status,
            display_fulfillment_status: raw.display_fulfillment_status,
            return_status: raw.return_status,
            requires_shipping: raw.requires_shipping,
            can_notify_customer: raw.can_notify_customer,
            currency_code: raw.currency_code,
            net_payment: raw.net_payment_set.shop_money,
            more_line_items: raw.line_items.page_info.has_next_page,
            line_items: raw
                .line_items
                .nodes
                .into_iter()
                .map(|l| ActionLineItem {
                    id: l.id,
                    title: l.title,
                    quantity: l.quantity,
                    current_quantity: l.current_quantity,
                })
                .collect(),
            shipping_address: raw.shipping_address.map(|a| ShippingAddress {
                first_name: a.first_name,
                last_name: a.last_name,
                company: a.company,
                address1: a.address1,
                address2: a.address2,
                city: a.city,
                province: a.province,
                province_code: a.province_code,
                zip: a.zip,
                country: a.country,
                country_code: a.country_code_v2,
                phone: a.phone,
                withheld: withheld_parts,
            }),
            more_fulfillment_orders: raw.fulfillment_orders.page_info.has_next_page,
            fulfillment_orders: raw
                .fulfillment_orders
                .nodes
                .into_iter()
                .map(|f| FulfillmentOrderState {
                    id: f.id,
                    status: f.status,
                    request_status: f.request_status,
                    delivery_method: f.delivery_method.and_then(|d| d.method_type),
                })
                .collect(),
            transactions: raw
                .transactions
                .into_iter()
                .map(|t| ActionTransaction {
                    kind: t.kind,
                    status: t.status,
                    gateway: t.gateway,
                    manual_payment_gateway: t.manual_payment_gateway,
                    amount: t.amount_set.shop_money,
                })
                .collect(),
            tags: raw.tags,
            facts: Facts::default(),
        }
    }
}

impl Named for RawOrder {
    fn name(&self) -> &str {
        &self.name
    }

    fn withheld(&mut self, field: &str) {
        self.withheld.push(field.to_owned());
    }
}

/// How an order action searches: fewer candidates with their (larger) details first.
const SEARCH: NameSearch = NameSearch {
    by_name: &ACTION_ORDERS_BY_NAME,
    first: ACTION_CANDIDATES,
    more: MORE_ACTION_CANDIDATES,
    by_ids: &ACTION_ORDERS_BY_IDS,
};

#[derive(Deserialize)]
struct ByIdData {
    order: Option<RawOrder>,
}

#[derive(Deserialize)]
struct Job {
    id: String,
    done: bool,
}

#[derive(Deserialize)]
struct JobData {
    job: Option<Job>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelPayload {
    job: Option<Job>,
    #[serde(default)]
    order_cancel_user_errors: Vec<CancelUserError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelData {
    order_cancel: Option<CancelPayload>,
}

/// The note cut to Shopify's limit, on a character boundary.
fn staff_note(note: &str) -> String {
    note.chars().take(STAFF_NOTE_MAX_CHARS).collect()
}

impl ShopifyClient {
    /// The orders named exactly as `is_exact` says, read for an order action. One request
    /// when the exact name is among the first candidates or there are no more; otherwise the
    /// candidates' names are listed and the exact ones read by id (three requests).
    pub async fn action_orders_named(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        name: &str,
        is_exact: impl Fn(&str) -> bool,
    ) -> Result<Vec<ActionOrder>, ShopifyError> {
        let found: Vec<RawOrder> = self
            .orders_named(deadline, shop, token, &SEARCH, name, is_exact)
            .await?;
        Ok(found.into_iter().map(ActionOrder::from).collect())
    }

    /// The order with this GID, read live; `None` when the store has no such order.
    pub async fn action_order(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        order_id: &str,
    ) -> Result<Option<ActionOrder>, ShopifyError> {
        let (data, withheld): (ByIdData, _) = self
            .query_withheld(
                deadline,
                shop,
                token,
                &ACTION_ORDER,
                json!({ "id": order_id }),
            )
            .await?;
        Ok(data.order.map(|mut order| {
            for path in withheld {
                if let Some(("order", field)) = path.split_first().map(|(r, f)| (r.as_str(), f)) {
                    order.withheld(&field.join("."));
                }
            }
            ActionOrder::from(order)
        }))
    }

    /// Cancels the whole order: `reason: CUSTOMER`, `restock: true`, `refundMethod:
    /// {originalPaymentMethodsRefund: true}`, `notifyCustomer: true`, and the request's staff
    /// note (cut to [`STAFF_NOTE_MAX_CHARS`]).
    ///
    /// Sent once: it is resent only when Shopify throttled it. An `Err` that Shopify answers
    /// before running a request (throttled, 401, 402, 403, 404, 423, `ACCESS_DENIED`,
    /// `MAX_COST_EXCEEDED`) or [`ShopifyError::NotSent`] means it was not run; any other
    /// leaves the outcome unknown: read the order back before doing anything else, never send
    /// it again blindly (`orderCancel` has no idempotency key).
    pub async fn cancel_order(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        request: &CancelRequest,
    ) -> Result<Result<CancelStarted, CancelRefused>, ShopifyError> {
        let data: CancelData = self
            .mutate(
                deadline,
                shop,
                token,
                &CANCEL_ORDER,
                json!({
                    "orderId": request.order_id,
                    "staffNote": staff_note(&request.staff_note),
                }),
            )
            .await?;
        let Some(payload) = data.order_cancel else {
            return Err(ShopifyError::InvalidResponse(
                "CancelOrder answered without its payload".into(),
            ));
        };
        if !payload.order_cancel_user_errors.is_empty() {
            return Ok(Err(CancelRefused {
                user_errors: payload.order_cancel_user_errors,
            }));
        }
        Ok(Ok(CancelStarted {
            job_id: payload.job.map(|j| j.id),
        }))
    }

    /// Whether the job has finished — or Shopify no longer knows it, so waiting cannot tell
    /// more. Finished is not succeeded: read the order back for the outcome.
    pub async fn job_done(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        job_id: &str,
    ) -> Result<bool, ShopifyError> {
        let data: JobData = self
            .query(deadline, shop, token, &ACTION_JOB, json!({ "id": job_id }))
            .await?;
        Ok(data.job.is_none_or(|j| j.done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_staff_note_is_cut_to_shopifys_limit_on_a_character_boundary() {
        let note = "é".repeat(300);
        let cut = staff_note(&note);
        assert_eq!(cut.chars().count(), STAFF_NOTE_MAX_CHARS);
        assert_eq!(staff_note("conversation c-1"), "conversation c-1");
    }

    #[test]
    fn an_order_is_read_with_its_fulfillment_orders_transactions_and_address() {
        let raw: RawOrder = serde_json::from_value(json!({
            "id": "gid://shopify/Order/1", "name": "#1001", "createdAt": "2026-01-02T03:04:05Z",
            "email": null, "customer": {"defaultEmailAddress": {"emailAddress": "a@example.com"}},
            "cancelledAt": null, "displayFinancialStatus": "PAID",
            "displayFulfillmentStatus": "UNFULFILLED", "returnStatus": "NO_RETURN",
            "requiresShipping": true, "canNotifyCustomer": true, "currencyCode": "USD",
            "netPaymentSet": {"shopMoney": {"amount": "20.0", "currencyCode": "USD"}},
            "lineItems": {"pageInfo": {"hasNextPage": false}, "nodes": [
                {"id": "gid://shopify/LineItem/1", "title": "Hat", "quantity": 2, "currentQuantity": 2}]},
            "shippingAddress": {"firstName": "A", "lastName": "B", "company": null,
                "address1": "1 Main St", "address2": null, "city": "Ottawa", "province": "Ontario",
                "provinceCode": "ON", "zip": "K1A 0A1", "country": "Canada", "countryCodeV2": "CA",
                "phone": null},
            "fulfillmentOrders": {"pageInfo": {"hasNextPage": true}, "nodes": [
                {"id": "gid://shopify/FulfillmentOrder/1", "status": "OPEN", "requestStatus": "UNSUBMITTED",
                 "deliveryMethod": {"methodType": "PICK_UP"}}]},
            "transactions": [{"kind": "SALE", "status": "SUCCESS", "gateway": "manual",
                "manualPaymentGateway": true,
                "amountSet": {"shopMoney": {"amount": "20.0", "currencyCode": "USD"}}}],
            "tags": ["vip"]
        }))
        .unwrap();
        let order = ActionOrder::from(raw);
        assert_eq!(order.emails().collect::<Vec<_>>(), ["a@example.com"]);
        assert_eq!(
            order
                .shipping_address
                .as_ref()
                .unwrap()
                .country_code
                .as_deref(),
            Some("CA")
        );
        assert!(order.more_fulfillment_orders && !order.more_line_items);
        assert_eq!(order.fulfillment_orders[0].request_status, "UNSUBMITTED");
        assert_eq!(
            order.fulfillment_orders[0].delivery_method.as_deref(),
            Some("PICK_UP")
        );
        assert!(order.transactions[0].manual_payment_gateway);
        assert_eq!(
            order.placed_at().unwrap().to_rfc3339(),
            "2026-01-02T03:04:05+00:00"
        );
    }
}
