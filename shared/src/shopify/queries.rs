//! Every GraphQL document the project sends, each in its own `.graphql` file beside this one so
//! CI can validate it against Shopify's published Admin schema (see `infra/graphql/check.py`).

/// A named GraphQL operation.
#[derive(Clone, Copy, Debug)]
pub struct Query {
    /// The operation name, sent as `operationName` and used in logs.
    pub operation: &'static str,
    pub document: &'static str,
}

/// Connecting or verifying a store: shop identity and granted access scopes, and whether
/// customers' and orders' emails are visible (protected customer data).
const VALIDATION: &str = include_str!("queries/validate_credentials.graphql");

/// Shop identity, granted access scopes and a few recent customers' and orders' emails, read
/// when connecting or verifying a store.
pub const VALIDATE_CREDENTIALS: Query = Query {
    operation: "ValidateCredentials",
    document: VALIDATION,
};

/// Shop identity and granted access scopes alone, when Shopify denied the customers or orders
/// of [`VALIDATE_CREDENTIALS`].
pub const SHOP_AND_SCOPES: Query = Query {
    operation: "ShopAndScopes",
    document: VALIDATION,
};

/// The orders document: candidates by (fuzzy) name with their details, ordered by number.
const ORDERS: &str = include_str!("queries/orders.graphql");

/// A few orders whose name relates to a search term, with what the AI may tell about them.
pub const FIND_ORDERS_BY_NAME: Query = Query {
    operation: "FindOrdersByName",
    document: ORDERS,
};

/// More candidates' ids and names, when the first few did not hold the exact name.
pub const FIND_ORDER_IDS_BY_NAME: Query = Query {
    operation: "FindOrderIdsByName",
    document: ORDERS,
};

/// Orders by id, with their details.
pub const ORDERS_BY_IDS: Query = Query {
    operation: "OrdersByIds",
    document: ORDERS,
};

/// The carrier's events and items of an order's shipments, and its refunds, by order id.
pub const ORDER_TIMELINE: Query = Query {
    operation: "OrderTimeline",
    document: include_str!("queries/order_timeline.graphql"),
};

/// Active products matching a quoted search term.
pub const SEARCH_PRODUCTS: Query = Query {
    operation: "SearchProducts",
    document: include_str!("queries/search_products.graphql"),
};

/// What a shopper may be told about a shop.
pub const SHOP_DETAILS: Query = Query {
    operation: "ShopDetails",
    document: include_str!("queries/shop_details.graphql"),
};

/// The inbox sidebar's document: the customer with their newest orders, and more orders by id.
const SIDEBAR: &str = include_str!("queries/customer_by_email.graphql");

/// The customer with exactly this email, their newest orders in detail and the ids of the
/// 50 newest.
pub const CUSTOMER_BY_EMAIL: Query = Query {
    operation: "CustomerByEmail",
    document: SIDEBAR,
};

/// The sidebar's orders beyond the first few, by id, in the same detail.
pub const SIDEBAR_ORDERS_BY_IDS: Query = Query {
    operation: "SidebarOrdersByIds",
    document: SIDEBAR,
};

/// Knowledge sync's reads: content pages, ids, counts, the primary domain, policies.
const KNOWLEDGE: &str = include_str!("queries/knowledge.graphql");

pub const KNOWLEDGE_SHOP: Query = Query {
    operation: "KnowledgeShop",
    document: KNOWLEDGE,
};
pub const PAGES_PAGE: Query = Query {
    operation: "PagesPage",
    document: KNOWLEDGE,
};
pub const ARTICLES_PAGE: Query = Query {
    operation: "ArticlesPage",
    document: KNOWLEDGE,
};
pub const PRODUCTS_PAGE: Query = Query {
    operation: "ProductsPage",
    document: KNOWLEDGE,
};
/// A page's products' variants, naming their product by display name (one point a variant).
pub const VARIANTS_BY_PRODUCT: Query = Query {
    operation: "VariantsByProduct",
    document: KNOWLEDGE,
};
/// A page's products' variants, naming their product by id (two points a variant).
pub const VARIANTS_WITH_PRODUCT: Query = Query {
    operation: "VariantsWithProduct",
    document: KNOWLEDGE,
};
/// Products with more variants than a document lists: count, price range, first variants.
pub const MANY_VARIANT_PRODUCTS: Query = Query {
    operation: "ManyVariantProducts",
    document: KNOWLEDGE,
};
pub const PAGE_IDS: Query = Query {
    operation: "PageIds",
    document: KNOWLEDGE,
};
pub const ARTICLE_IDS: Query = Query {
    operation: "ArticleIds",
    document: KNOWLEDGE,
};
pub const PRODUCT_IDS: Query = Query {
    operation: "ProductIds",
    document: KNOWLEDGE,
};
pub const PAGES_COUNT: Query = Query {
    operation: "PagesCount",
    document: KNOWLEDGE,
};
pub const ACTIVE_PRODUCTS_COUNT: Query = Query {
    operation: "ActiveProductsCount",
    document: KNOWLEDGE,
};
pub const SHOP_POLICIES: Query = Query {
    operation: "ShopPolicies",
    document: KNOWLEDGE,
};

/// Starting and following a bulk operation (the one mutation sent: it starts a read).
const BULK: &str = include_str!("queries/bulk.graphql");

pub const BULK_PRODUCTS: Query = Query {
    operation: "BulkProducts",
    document: BULK,
};
pub const BULK_OPERATION_STATUS: Query = Query {
    operation: "BulkOperationStatus",
    document: BULK,
};

/// The read a bulk operation runs (sent as `BulkProducts`' `query` variable).
pub const BULK_PRODUCTS_QUERY: Query = Query {
    operation: "BulkProductsQuery",
    document: include_str!("queries/bulk_products.graphql"),
};

/// Orders as the order actions read them (eligibility, summary, fingerprint).
const ACTION_ORDERS: &str = include_str!("queries/action_orders.graphql");

/// The first few candidates for an order action's order name, with what the rules read.
pub const ACTION_ORDERS_BY_NAME: Query = Query {
    operation: "ActionOrdersByName",
    document: ACTION_ORDERS,
};

/// The exact-name candidates listed by `FindOrderIdsByName`, read for an order action.
pub const ACTION_ORDERS_BY_IDS: Query = Query {
    operation: "ActionOrdersByIds",
    document: ACTION_ORDERS,
};

/// One order by GID, read for an order action (confirmation, approval, settling).
pub const ACTION_ORDER: Query = Query {
    operation: "ActionOrder",
    document: ACTION_ORDERS,
};

/// Cancels a whole order with the fixed arguments order actions always send.
pub const CANCEL_ORDER: Query = Query {
    operation: "CancelOrder",
    document: include_str!("queries/order_cancel.graphql"),
};

/// Replaces an order's shipping address, and nothing else.
pub const UPDATE_SHIPPING_ADDRESS: Query = Query {
    operation: "UpdateShippingAddress",
    document: include_str!("queries/order_update_address.graphql"),
};

/// Whether an asynchronous job (a cancellation) has finished.
pub const ACTION_JOB: Query = Query {
    operation: "ActionJob",
    document: include_str!("queries/action_job.graphql"),
};

/// What a return request rests on: returnable fulfillments, the reason, the reasons listed.
const RETURN_FACTS: &str = include_str!("queries/return_facts.graphql");

/// A page of the order's returnable fulfillments with their returnable line items.
pub const RETURNABLE_FULFILLMENTS: Query = Query {
    operation: "ReturnableFulfillments",
    document: RETURN_FACTS,
};

/// The return reason by handle, and how much of each line item has not shipped.
pub const RETURN_CONTEXT: Query = Query {
    operation: "ReturnContext",
    document: RETURN_FACTS,
};

/// The shop's return reasons, to list their handles.
pub const RETURN_REASONS: Query = Query {
    operation: "ReturnReasons",
    document: RETURN_FACTS,
};

/// Requests a return of shipped items for the merchant to approve (never a refund).
pub const REQUEST_RETURN: Query = Query {
    operation: "RequestReturn",
    document: include_str!("queries/return_request.graphql"),
};

/// Verifying a return request: a return by id, and the order's returns.
const RETURN_VERIFICATION: &str = include_str!("queries/order_returns.graphql");

/// The order's returns, a page at a time, to find a return request whose answer was lost.
pub const ORDER_RETURNS: Query = Query {
    operation: "OrderReturns",
    document: RETURN_VERIFICATION,
};

/// A return by its id, with its order and the fulfillment line items it carries.
pub const RETURN_BY_ID: Query = Query {
    operation: "ReturnById",
    document: RETURN_VERIFICATION,
};

/// All documents, so tests can check each file is used and named as it says.
pub const ALL: &[Query] = &[
    CUSTOMER_BY_EMAIL,
    SIDEBAR_ORDERS_BY_IDS,
    VALIDATE_CREDENTIALS,
    FIND_ORDERS_BY_NAME,
    FIND_ORDER_IDS_BY_NAME,
    ORDERS_BY_IDS,
    ORDER_TIMELINE,
    SEARCH_PRODUCTS,
    SHOP_DETAILS,
    KNOWLEDGE_SHOP,
    PAGES_PAGE,
    ARTICLES_PAGE,
    PRODUCTS_PAGE,
    VARIANTS_BY_PRODUCT,
    VARIANTS_WITH_PRODUCT,
    MANY_VARIANT_PRODUCTS,
    PAGE_IDS,
    ARTICLE_IDS,
    PRODUCT_IDS,
    PAGES_COUNT,
    ACTIVE_PRODUCTS_COUNT,
    SHOP_POLICIES,
    BULK_PRODUCTS,
    BULK_OPERATION_STATUS,
    BULK_PRODUCTS_QUERY,
    SUBSCRIBE_WEBHOOK,
    WEBHOOK_SUBSCRIPTIONS,
    REPOINT_WEBHOOK,
    SHOP_AND_SCOPES,
    ACTION_ORDERS_BY_NAME,
    ACTION_ORDERS_BY_IDS,
    ACTION_ORDER,
    CANCEL_ORDER,
    UPDATE_SHIPPING_ADDRESS,
    ACTION_JOB,
    RETURNABLE_FULFILLMENTS,
    RETURN_CONTEXT,
    RETURN_REASONS,
    REQUEST_RETURN,
    ORDER_RETURNS,
    RETURN_BY_ID,
];

/// Subscribes the app to a webhook topic (`app/uninstalled`, `shop/update`) at our endpoint.
pub const SUBSCRIBE_WEBHOOK: Query = Query {
    operation: "SubscribeWebhook",
    document: include_str!("queries/webhook_subscribe.graphql"),
};

/// The app's subscriptions to the connector's topics, with their addresses.
pub const WEBHOOK_SUBSCRIPTIONS: Query = Query {
    operation: "WebhookSubscriptions",
    document: include_str!("queries/webhook_subscriptions.graphql"),
};

/// Points a webhook subscription at a new address.
pub const REPOINT_WEBHOOK: Query = Query {
    operation: "RepointWebhook",
    document: include_str!("queries/webhook_repoint.graphql"),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_document_declares_the_operation_it_is_sent_as() {
        for query in ALL {
            let declared = [
                format!("query {}", query.operation),
                format!("mutation {}", query.operation),
            ];
            assert!(
                declared.iter().any(|d| query.document.contains(d.as_str())),
                "{} must be declared in its document",
                query.operation
            );
            let mutations = query.document.matches("\nmutation ").count();
            let allowed = query
                .document
                .contains("# read-only-mutation: BulkProducts")
                || query
                    .document
                    .contains("# webhook-mutation: SubscribeWebhook")
                || query
                    .document
                    .contains("# webhook-mutation: RepointWebhook")
                || query
                    .document
                    .contains("# order-action-mutation: CancelOrder")
                || query
                    .document
                    .contains("# order-action-mutation: UpdateShippingAddress")
                || query
                    .document
                    .contains("# order-action-mutation: RequestReturn");
            assert!(
                mutations == 0 || (allowed && mutations == 1),
                "every document is read-only, but for the bulk start, the webhook subscriptions and the order actions' writes"
            );
        }
    }

    #[test]
    fn every_graphql_file_is_registered() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/shopify/queries");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "graphql"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect();
        files.sort();
        let mut used: Vec<String> = ALL.iter().map(|q| q.document.to_owned()).collect();
        used.sort();
        used.dedup();
        assert_eq!(files, used, "a .graphql file is not listed in queries::ALL");
    }
}
