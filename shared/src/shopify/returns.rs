//! Returns as the `request_return` action reads and writes them: what a return request rests
//! on — the order's returnable fulfillments, the shop's return reason, how much of each line
//! item has not shipped, its product's tags and the order's returns so far
//! ([`ShopifyClient::return_facts`]); the request itself ([`ShopifyClient::request_return`],
//! `returnRequest`: the merchant approves or declines it, and nothing is refunded by it); and,
//! to verify it, a return by its id ([`ShopifyClient::return_by_id`]) and the order's returns
//! ([`ShopifyClient::order_returns`]).

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{json, Value};

use super::queries::{
    ORDER_RETURNS, REQUEST_RETURN, RETURNABLE_FULFILLMENTS, RETURN_BY_ID, RETURN_CONTEXT,
    RETURN_REASONS,
};
use super::types::{Nodes, Page};
use super::{ShopifyClient, ShopifyError};
use crate::deadline::Deadline;
use crate::domain::ShopDomain;

/// Pages of returnable fulfillments read (`first: 3` each in `return_facts.graphql`): an order
/// with more is not read whole.
pub const RETURNABLE_PAGES: usize = 3;

/// The most fulfillment line items one request carries: what `ReturnById` reads of a return
/// (`returnLineItems(first: 20)`), so that its read-back sees all of them.
pub const MAX_RETURN_LINES: usize = 20;

/// Pages of the order's returns read (`first: 50` each in `order_returns.graphql`).
pub const RETURN_PAGES: usize = 4;

/// The longest customer note sent with each returned item, in characters.
pub const CUSTOMER_NOTE_MAX_CHARS: usize = 300;

/// What a return request rests on, read live: the order's returnable fulfillments, the reason
/// asked for, and the order's line items' shipping state; then the shopper's items resolved
/// against them (by the action, which owns those rules).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReturnFacts {
    /// The order's returnable fulfillments, as Shopify lists them.
    pub fulfillments: Vec<ReturnableFulfillment>,
    /// More returnable fulfillments, more returnable items of one of them, or more returns of
    /// the order exist than were read: what is returnable cannot be vouched for.
    pub incomplete: bool,
    /// The reason asked for by its handle; `None` when the shop has no such reason, or only a
    /// deleted one (not offered to shoppers).
    pub reason: Option<ReturnReason>,
    /// The order's line items (the first 20, in the order's own order, as
    /// `ActionOrder::line_items`), with what has not shipped yet.
    pub line_items: Vec<LineItemShipping>,
    /// The shopper's items resolved against these facts; empty until the action resolves them.
    pub items: Vec<ReturnItem>,
    /// The GIDs of the order's returns so far: a return request whose answer is lost is looked
    /// for among the returns that are not in this list.
    pub return_ids: Vec<String>,
}

/// A shipment that can still take a return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnableFulfillment {
    /// The fulfillment's GID.
    pub fulfillment_id: String,
    /// RFC 3339: when it was fulfilled.
    pub created_at: String,
    /// RFC 3339: when the carrier delivered it, when known.
    pub delivered_at: Option<String>,
    pub line_items: Vec<ReturnableLine>,
}

impl ReturnableFulfillment {
    /// When a return window opens for it: at delivery, or at the fulfillment when there is no
    /// delivery date.
    pub fn window_start(&self) -> &str {
        self.delivered_at.as_deref().unwrap_or(&self.created_at)
    }
}

/// A fulfillment line item and how many of it can still go back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnableLine {
    /// The fulfillment line item's GID: what a return request names.
    pub fulfillment_line_item_id: String,
    /// The order line item's GID.
    pub line_item_id: String,
    pub quantity: i64,
}

/// A return reason of the shop's (`ReturnReasonDefinition`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ReturnReason {
    /// Its GID: sent as `returnReasonDefinitionId`.
    pub id: String,
    /// What the shopper's `reason` names (`size_too_small`, `defective`...).
    pub handle: String,
    /// Shopify's words for it (`Size too small`).
    pub name: String,
}

/// An order line item's shipping state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineItemShipping {
    /// The line item's GID.
    pub id: String,
    pub variant_title: Option<String>,
    /// How many have not shipped yet.
    pub unfulfilled_quantity: i64,
    /// Its product's tags (none when the product is gone).
    pub product_tags: Vec<String>,
}

/// One item of a return request, resolved: the order line item the shopper named and the
/// fulfillment line items its quantity is taken from (oldest fulfillment first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnItem {
    /// 1-based, in the order's line items as the order lookup lists them.
    pub position: usize,
    /// The line item's GID.
    pub line_item_id: String,
    pub title: String,
    pub variant_title: Option<String>,
    /// How many go back.
    pub quantity: i64,
    /// How many of it can go back now, over all its returnable fulfillments.
    pub returnable: i64,
    /// How many of it have not shipped yet.
    pub unfulfilled: i64,
    /// Its product's tags.
    pub product_tags: Vec<String>,
    /// Where the quantity comes from; it covers at most `returnable`.
    pub lines: Vec<ReturnLine>,
}

/// The part of an item's quantity taken from one fulfillment line item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnLine {
    pub fulfillment_line_item_id: String,
    pub quantity: i64,
    /// How many of this fulfillment line item could go back.
    pub returnable: i64,
    /// RFC 3339: when its return window opened (delivery, or fulfillment without one).
    pub window_start: String,
}

/// What `returnRequest` sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnRequest {
    /// The order's GID.
    pub order_id: String,
    pub lines: Vec<ReturnRequestLine>,
    /// The reason's GID, sent as each item's `returnReasonDefinitionId`.
    pub reason_definition_id: String,
    /// The shopper's note, sent as each item's `customerNote`.
    pub customer_note: Option<String>,
}

/// One fulfillment line item going back, and how many.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnRequestLine {
    pub fulfillment_line_item_id: String,
    pub quantity: i64,
}

/// The return Shopify created (status `REQUESTED`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ReturnRequested {
    pub id: String,
    pub name: String,
    /// `ReturnStatus`: `REQUESTED`, `OPEN`, `CLOSED`, `DECLINED`, `CANCELED`.
    pub status: String,
}

/// One of `returnRequest`'s `userErrors`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ReturnUserError {
    /// The input path Shopify blames (e.g. `["input", "returnLineItems", "0", "quantity"]`).
    #[serde(default)]
    pub field: Option<Vec<String>>,
    /// Shopify's text: shown to no one as is and never logged; map `code` instead.
    pub message: String,
    /// `ReturnErrorCode`: `INVALID`, `GREATER_THAN`, `NOT_FOUND`, ...
    #[serde(default)]
    pub code: Option<String>,
}

/// Shopify refused the return request (nothing was created).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnRefused {
    pub user_errors: Vec<ReturnUserError>,
}

/// The order's returns, as far as they were read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderReturns {
    /// `OrderReturnStatus`: `NO_RETURN`, `RETURN_REQUESTED`, `IN_PROGRESS`, ...
    pub return_status: String,
    /// In Shopify's order (which it does not document).
    pub returns: Vec<ListedReturn>,
    /// More returns exist than [`RETURN_PAGES`] pages held.
    pub incomplete: bool,
}

/// A return as the order lists it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedReturn {
    pub id: String,
    /// RFC 3339.
    pub created_at: String,
}

/// A return read by its id, with its order and the fulfillment line items it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderReturn {
    pub id: String,
    pub name: String,
    /// `ReturnStatus`: `REQUESTED`, `OPEN`, `CLOSED`, `DECLINED`, `CANCELED`.
    pub status: String,
    /// RFC 3339.
    pub created_at: String,
    /// The order's GID.
    pub order_id: String,
    /// The order's `OrderReturnStatus`.
    pub order_return_status: String,
    /// (fulfillment line item GID, quantity); an item not tied to a fulfillment is left out.
    pub lines: Vec<(String, i64)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFulfillment {
    id: String,
    created_at: String,
    delivered_at: Option<String>,
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFulfillmentLineItem {
    id: String,
    line_item: Id,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawReturnableLine {
    quantity: i64,
    fulfillment_line_item: RawFulfillmentLineItem,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawReturnable {
    fulfillment: RawFulfillment,
    returnable_fulfillment_line_items: Page<RawReturnableLine>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReturnableData {
    returnable_fulfillments: Page<RawReturnable>,
}

#[derive(Deserialize)]
struct Tags {
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLineItem {
    id: String,
    variant_title: Option<String>,
    unfulfilled_quantity: i64,
    #[serde(default)]
    product: Option<Tags>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContextOrder {
    line_items: Nodes<RawLineItem>,
    returns: Page<Id>,
}

#[derive(Deserialize)]
struct ContextReason {
    #[serde(flatten)]
    reason: ReturnReason,
    deleted: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContextData {
    return_reason_definitions: Nodes<ContextReason>,
    order: Option<ContextOrder>,
}

#[derive(Deserialize)]
struct ListedReason {
    handle: String,
    deleted: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReasonsData {
    return_reason_definitions: Nodes<ListedReason>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestPayload {
    #[serde(rename = "return")]
    created: Option<ReturnRequested>,
    #[serde(default)]
    user_errors: Vec<ReturnUserError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestData {
    return_request: Option<RequestPayload>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawReturnLine {
    quantity: i64,
    #[serde(default)]
    fulfillment_line_item: Option<Id>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReturnOrder {
    id: String,
    return_status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawReturn {
    id: String,
    name: String,
    status: String,
    created_at: String,
    order: ReturnOrder,
    return_line_items: Nodes<RawReturnLine>,
}

#[derive(Deserialize)]
struct ReturnData {
    #[serde(rename = "return")]
    found: Option<RawReturn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawOrderReturns {
    return_status: String,
    returns: Page<ListedReturn>,
}

#[derive(Deserialize)]
struct ReturnsData {
    order: Option<RawOrderReturns>,
}

/// `returnRequest`'s `input`: every item with the reason's id and the note.
fn request_input(request: &ReturnRequest) -> Value {
    let note: Option<String> = request
        .customer_note
        .as_deref()
        .map(|n| n.chars().take(CUSTOMER_NOTE_MAX_CHARS).collect());
    let lines: Vec<Value> = request
        .lines
        .iter()
        .map(|line| {
            let mut item = json!({
                "fulfillmentLineItemId": line.fulfillment_line_item_id,
                "quantity": line.quantity,
                "returnReasonDefinitionId": request.reason_definition_id,
            });
            if let Some(note) = &note {
                item["customerNote"] = Value::from(note.as_str());
            }
            item
        })
        .collect();
    json!({ "input": { "orderId": request.order_id, "returnLineItems": lines } })
}

impl ShopifyClient {
    /// What a return request for `order_id` with the reason `reason_handle` rests on: the
    /// returnable fulfillments (up to [`RETURNABLE_PAGES`] pages), the reason (unless deleted),
    /// the order's line items' shipping state and products' tags, and the order's returns so
    /// far. The items are left for the action to resolve.
    pub async fn return_facts(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        order_id: &str,
        reason_handle: &str,
    ) -> Result<ReturnFacts, ShopifyError> {
        let context = self.query::<ContextData>(
            deadline,
            shop,
            token,
            &RETURN_CONTEXT,
            json!({ "orderId": order_id, "reason": reason_handle }),
        );
        let (context, (fulfillments, incomplete)) = tokio::try_join!(
            context,
            self.returnable_fulfillments(deadline, shop, token, order_id)
        )?;
        let (line_items, returns) = context
            .order
            .map(|o| (o.line_items.nodes, Some(o.returns)))
            .unwrap_or_default();
        let more_returns = returns.as_ref().is_some_and(|r| r.page_info.has_next_page);
        Ok(ReturnFacts {
            fulfillments,
            incomplete: incomplete || more_returns,
            reason: context
                .return_reason_definitions
                .nodes
                .into_iter()
                .filter(|r| !r.deleted)
                .map(|r| r.reason)
                .find(|r| r.handle.eq_ignore_ascii_case(reason_handle)),
            line_items: line_items
                .into_iter()
                .map(|l| LineItemShipping {
                    id: l.id,
                    variant_title: l.variant_title,
                    unfulfilled_quantity: l.unfulfilled_quantity,
                    product_tags: l.product.map(|p| p.tags).unwrap_or_default(),
                })
                .collect(),
            items: Vec::new(),
            return_ids: returns
                .map(|r| r.nodes.into_iter().map(|n| n.id).collect())
                .unwrap_or_default(),
        })
    }

    /// The order's returnable fulfillments, a page at a time, and whether more exist than
    /// were read.
    async fn returnable_fulfillments(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        order_id: &str,
    ) -> Result<(Vec<ReturnableFulfillment>, bool), ShopifyError> {
        let mut fulfillments = Vec::new();
        let mut incomplete = false;
        let mut after: Option<String> = None;
        for page in 1..=RETURNABLE_PAGES {
            let data: ReturnableData = self
                .query(
                    deadline,
                    shop,
                    token,
                    &RETURNABLE_FULFILLMENTS,
                    json!({ "orderId": order_id, "after": after }),
                )
                .await?;
            let connection = data.returnable_fulfillments;
            for node in connection.nodes {
                let items = node.returnable_fulfillment_line_items;
                incomplete |= items.page_info.has_next_page;
                fulfillments.push(ReturnableFulfillment {
                    fulfillment_id: node.fulfillment.id,
                    created_at: node.fulfillment.created_at,
                    delivered_at: node.fulfillment.delivered_at,
                    line_items: items
                        .nodes
                        .into_iter()
                        .map(|l| ReturnableLine {
                            fulfillment_line_item_id: l.fulfillment_line_item.id,
                            line_item_id: l.fulfillment_line_item.line_item.id,
                            quantity: l.quantity,
                        })
                        .collect(),
                });
            }
            if !connection.page_info.has_next_page {
                return Ok((fulfillments, incomplete));
            }
            match connection.page_info.end_cursor {
                Some(cursor) if page < RETURNABLE_PAGES => after = Some(cursor),
                _ => break,
            }
        }
        Ok((fulfillments, true))
    }

    /// The handles of the shop's return reasons a shopper may be offered (deleted ones left
    /// out), for an answer that lists them.
    pub async fn return_reason_handles(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
    ) -> Result<Vec<String>, ShopifyError> {
        let data: ReasonsData = self
            .query(deadline, shop, token, &RETURN_REASONS, json!({}))
            .await?;
        Ok(data
            .return_reason_definitions
            .nodes
            .into_iter()
            .filter(|r| !r.deleted)
            .map(|r| r.handle)
            .collect())
    }

    /// Requests a return of the request's fulfillment line items, each with the reason's id
    /// and the note (cut to [`CUSTOMER_NOTE_MAX_CHARS`]). The merchant approves or declines
    /// it; nothing is refunded by it. `Ok(Err(..))`: Shopify refused it and created nothing.
    ///
    /// Sent once: it is resent only when Shopify throttled it. An `Err` that Shopify answers
    /// before running a request (throttled, 401, 402, 403, 404, 423, `ACCESS_DENIED`,
    /// `MAX_COST_EXCEEDED`) or [`ShopifyError::NotSent`] means it was not run; any other
    /// leaves the outcome unknown: read the order's returns before doing anything else, never
    /// send it again blindly (`returnRequest` has no idempotency key).
    pub async fn request_return(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        request: &ReturnRequest,
    ) -> Result<Result<Option<ReturnRequested>, ReturnRefused>, ShopifyError> {
        let data: RequestData = self
            .mutate(
                deadline,
                shop,
                token,
                &REQUEST_RETURN,
                request_input(request),
            )
            .await?;
        let Some(payload) = data.return_request else {
            return Err(ShopifyError::InvalidResponse(
                "RequestReturn answered without its payload".into(),
            ));
        };
        if !payload.user_errors.is_empty() {
            return Ok(Err(ReturnRefused {
                user_errors: payload.user_errors,
            }));
        }
        Ok(Ok(payload.created))
    }

    /// The order's return status and its returns (ids and creation times), up to
    /// [`RETURN_PAGES`] pages; `None` when the store has no such order.
    pub async fn order_returns(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        order_id: &str,
    ) -> Result<Option<OrderReturns>, ShopifyError> {
        let mut found: Option<OrderReturns> = None;
        let mut after: Option<String> = None;
        for page in 1..=RETURN_PAGES {
            let data: ReturnsData = self
                .query(
                    deadline,
                    shop,
                    token,
                    &ORDER_RETURNS,
                    json!({ "id": order_id, "after": after }),
                )
                .await?;
            let Some(order) = data.order else {
                return Ok(found);
            };
            let connection = order.returns;
            let read = found.get_or_insert_with(|| OrderReturns {
                return_status: order.return_status,
                returns: Vec::new(),
                incomplete: false,
            });
            read.returns.extend(connection.nodes);
            if !connection.page_info.has_next_page {
                return Ok(found);
            }
            match connection.page_info.end_cursor {
                Some(cursor) if page < RETURN_PAGES => after = Some(cursor),
                _ => break,
            }
        }
        if let Some(read) = found.as_mut() {
            read.incomplete = true;
        }
        Ok(found)
    }

    /// The return `return_id`, with its order and the fulfillment line items it carries;
    /// `None` when the store has no such return.
    pub async fn return_by_id(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        return_id: &str,
    ) -> Result<Option<OrderReturn>, ShopifyError> {
        let data: ReturnData = self
            .query(
                deadline,
                shop,
                token,
                &RETURN_BY_ID,
                json!({ "id": return_id }),
            )
            .await?;
        Ok(data.found.map(|r| OrderReturn {
            id: r.id,
            name: r.name,
            status: r.status,
            created_at: r.created_at,
            order_id: r.order.id,
            order_return_status: r.order.return_status,
            lines: r
                .return_line_items
                .nodes
                .into_iter()
                .filter_map(|l| Some((l.fulfillment_line_item?.id, l.quantity)))
                .collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_names_each_fulfillment_line_item_with_the_reasons_id_and_the_note() {
        let input = request_input(&ReturnRequest {
            order_id: "gid://shopify/Order/1".into(),
            lines: vec![
                ReturnRequestLine {
                    fulfillment_line_item_id: "gid://shopify/FulfillmentLineItem/1".into(),
                    quantity: 2,
                },
                ReturnRequestLine {
                    fulfillment_line_item_id: "gid://shopify/FulfillmentLineItem/2".into(),
                    quantity: 1,
                },
            ],
            reason_definition_id: "gid://shopify/ReturnReasonDefinition/7".into(),
            customer_note: Some("é".repeat(400)),
        });
        let lines = input["input"]["returnLineItems"].as_array().unwrap();
        assert_eq!(input["input"]["orderId"], "gid://shopify/Order/1");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["quantity"], 1);
        assert_eq!(
            lines[0]["returnReasonDefinitionId"],
            "gid://shopify/ReturnReasonDefinition/7"
        );
        assert!(lines[0].get("returnReason").is_none(), "deprecated");
        assert_eq!(
            lines[0]["customerNote"].as_str().unwrap().chars().count(),
            CUSTOMER_NOTE_MAX_CHARS
        );
    }

    #[test]
    fn a_request_without_a_note_sends_no_customer_note() {
        let input = request_input(&ReturnRequest {
            order_id: "gid://shopify/Order/1".into(),
            lines: vec![ReturnRequestLine {
                fulfillment_line_item_id: "gid://shopify/FulfillmentLineItem/1".into(),
                quantity: 1,
            }],
            reason_definition_id: "gid://shopify/ReturnReasonDefinition/7".into(),
            customer_note: None,
        });
        assert!(input["input"]["returnLineItems"][0]
            .get("customerNote")
            .is_none());
    }
}
