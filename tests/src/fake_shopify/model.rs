//! The shops the fake serves: their identity, credentials, rate-limit bucket, behaviour, and
//! the orders, products and customers in them.

use std::time::Duration;

/// What an app sees of a shop's protected customer data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CustomerDataAccess {
    /// Approved (or a legacy custom app): every field comes back.
    Granted,
    /// Not approved for the Customer object: Shopify answers `ACCESS_DENIED` with the path.
    Denied,
    /// Approved for the objects but not the fields: emails (and names) come back empty.
    Redacted,
    /// Approved for names and emails but not addresses: each order's shipping address is null
    /// with an `ACCESS_DENIED` error for it.
    AddressDenied,
    /// Approved for emails and addresses but not names or phones: each order's shipping
    /// address comes back with its name and phone parts null, each with an `ACCESS_DENIED`
    /// error naming its path.
    NamesAndPhonesDenied,
}

/// One shop the fake knows.
#[derive(Clone, Debug)]
pub struct FakeShop {
    pub domain: String,
    pub name: String,
    pub currency: String,
    pub order_number_prefix: String,
    pub order_number_suffix: String,
    pub plan: String,
    pub scopes: Vec<String>,
    /// Static Admin API tokens that work.
    pub access_tokens: Vec<String>,
    /// A Dev Dashboard app's client id and secret that work.
    pub client: Option<(String, String)>,
    /// Tokens issued by the client-credentials exchange.
    pub issued_tokens: Vec<String>,
    /// `expires_in` of issued tokens, in seconds (Shopify: about a day).
    pub token_ttl: u64,
    pub description: String,
    pub contact_email: String,
    pub primary_domain: String,
    pub ships_to: Vec<String>,
    pub orders: Vec<FakeOrder>,
    pub products: Vec<FakeProduct>,
    pub customers: Vec<FakeCustomer>,
    pub pages: Vec<FakePage>,
    pub articles: Vec<FakeArticle>,
    pub policies: Vec<FakePolicy>,
    /// How long a bulk operation runs before its result is ready.
    pub bulk_duration: Duration,
    /// The GraphQL rate-limit bucket: capacity and restore rate (points per second).
    pub bucket: (f64, f64),
    /// Every answer leaves this long after its request was sent (the network and Shopify
    /// together; the fake's own work hides inside it).
    pub latency: Duration,
    /// How long a query runs once admitted: its requested cost is held for this long before
    /// the difference to the actual cost flows back (Shopify holds it while the query runs).
    pub execution: Duration,
    /// The shop accepts connections and never answers.
    pub hangs: bool,
    /// Every admin request is answered with this status (an outage), until cleared.
    pub outage: Option<u16>,
    /// How bulk results are written (Shopify promises no order beyond parent before child).
    pub bulk_style: BulkStyle,
    /// Variants' display names are their product's title alone, not "{product} - {variant}":
    /// nothing tells their product by them.
    pub bare_display_names: bool,
    /// A customer's order lists repeat their newest order over and over (a malformed answer).
    pub stuck_paging: bool,
    /// Orders (by name) whose read by id fails with a 503 however often it is asked: a request
    /// for several orders that includes one of them fails whole.
    pub unreadable_orders: Vec<String>,
    /// Products (by id) whose variants' read fails with a 503 however often it is asked: a
    /// read of several products' variants that includes one of them fails whole.
    pub unreadable_variants: Vec<u64>,
    /// What the app sees of protected customer data (names, emails, phones, addresses).
    pub customer_data: CustomerDataAccess,
    /// Tokens and client credentials taken away by the sandbox's `revoke`.
    pub revoked: Vec<String>,
    pub revoked_client: Option<(String, String)>,
    /// Operations answered with a fault every time they are asked.
    pub broken_operations: Vec<(String, super::Fault)>,
    /// Operations that run (a mutation takes effect) and whose answer is then replaced by a
    /// fault: the answer is lost on the way back.
    pub lost_answers: Vec<(String, super::Fault)>,
    /// How the asynchronous job an `orderCancel` starts ends.
    pub cancel_job: CancelJob,
    /// Return reasons, each order's returns, and how `returnRequest` answers.
    pub returns: super::returns::ShopReturns,
}

impl FakeShop {
    /// A shop `{handle}.myshopify.com` granting the three required scopes and `read_all_orders`,
    /// with an Advanced-plan bucket (2,000 points, 100/s).
    pub fn new(handle: &str) -> Self {
        Self {
            domain: format!("{handle}.myshopify.com"),
            name: handle.replace('-', " "),
            currency: "USD".into(),
            order_number_prefix: "#".into(),
            order_number_suffix: String::new(),
            plan: "Basic".into(),
            scopes: [
                "read_orders",
                "read_all_orders",
                "read_products",
                "read_customers",
            ]
            .map(String::from)
            .to_vec(),
            access_tokens: Vec::new(),
            client: None,
            issued_tokens: Vec::new(),
            token_ttl: 86_399,
            description: format!("{handle}: outdoor gear since 2010."),
            contact_email: format!("help@{handle}.example"),
            primary_domain: format!("{handle}.example"),
            ships_to: vec!["US".into(), "CA".into()],
            orders: Vec::new(),
            products: Vec::new(),
            customers: Vec::new(),
            pages: Vec::new(),
            articles: Vec::new(),
            policies: Vec::new(),
            bulk_duration: Duration::from_millis(300),
            bucket: (2000.0, 100.0),
            latency: Duration::ZERO,
            execution: Duration::ZERO,
            hangs: false,
            outage: None,
            bulk_style: BulkStyle::Sorted,
            bare_display_names: false,
            stuck_paging: false,
            unreadable_orders: Vec::new(),
            unreadable_variants: Vec::new(),
            revoked: Vec::new(),
            revoked_client: None,
            customer_data: CustomerDataAccess::Granted,
            broken_operations: Vec::new(),
            lost_answers: Vec::new(),
            cancel_job: CancelJob::default(),
            returns: Default::default(),
        }
    }

    /// Answers every query named `operation` with `fault` from now on.
    pub fn fail_operation(&mut self, operation: &str, fault: super::Fault) {
        self.broken_operations.push((operation.to_owned(), fault));
    }

    /// Runs every query named `operation` (a mutation takes effect), then answers with
    /// `fault` instead of the result: the answer is lost on the way back.
    pub fn lose_answer(&mut self, operation: &str, fault: super::Fault) {
        self.lost_answers.push((operation.to_owned(), fault));
    }

    /// Grants what the order actions need on top of the current scopes: `write_orders` and
    /// both fulfillment-order read scopes.
    pub fn with_order_action_scopes(mut self) -> Self {
        for scope in ORDER_ACTION_SCOPES {
            if !self.scopes.iter().any(|s| s == scope) {
                self.scopes.push(scope.into());
            }
        }
        self
    }

    /// Takes a granted scope away (`write_orders`, a fulfillment-order scope...).
    pub fn without_scope(mut self, scope: &str) -> Self {
        self.scopes.retain(|s| s != scope);
        self
    }

    /// How the jobs `orderCancel` starts end (see [`CancelJob`]).
    pub fn with_cancel_job(mut self, job: CancelJob) -> Self {
        self.cancel_job = job;
        self
    }

    /// Whether the app was granted `scope` (a `write_` grant includes its `read_`).
    pub fn grants(&self, scope: &str) -> bool {
        let write = scope.replacen("read_", "write_", 1);
        self.scopes.iter().any(|s| s == scope || *s == write)
    }

    /// A Dev Dashboard app whose protected customer data access was never set up: Shopify
    /// answers `ACCESS_DENIED` (`Denied`) or leaves the fields empty (`Redacted`).
    pub fn withholding_customer_data(mut self, access: CustomerDataAccess) -> Self {
        self.customer_data = access;
        self
    }

    pub fn with_customer(mut self, customer: FakeCustomer) -> Self {
        self.customers.push(customer);
        self
    }

    pub fn with_order(mut self, order: FakeOrder) -> Self {
        self.orders.push(order);
        self
    }

    /// Adds a product, giving it the next id unless it has one.
    pub fn with_product(mut self, mut product: FakeProduct) -> Self {
        if product.id == 0 {
            product.id = 7_000_000_001 + self.products.len() as u64;
        }
        self.products.push(product);
        self
    }

    pub fn with_page(mut self, page: FakePage) -> Self {
        self.pages.push(page);
        self
    }

    pub fn with_article(mut self, article: FakeArticle) -> Self {
        self.articles.push(article);
        self
    }

    pub fn with_policy(mut self, policy: FakePolicy) -> Self {
        self.policies.push(policy);
        self
    }

    /// A product catalog of `count` active products, each with two variants.
    pub fn with_catalog(mut self, count: usize) -> Self {
        for i in 0..count {
            let mut product = FakeProduct::active(&format!("Catalog item {i:05}"), "19.00");
            product.id = 8_000_000_001 + i as u64;
            product.description = format!("<p>Item {i} of the <b>catalog</b>.</p>");
            product.variants.push((
                "Large".into(),
                format!("CAT-{i:05}-L"),
                "21.00".into(),
                i % 3 != 0,
            ));
            self.products.push(product);
        }
        self
    }

    pub fn named(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    pub fn with_token(mut self, token: &str) -> Self {
        self.access_tokens.push(token.into());
        self
    }

    pub fn with_client(mut self, id: &str, secret: &str) -> Self {
        self.client = Some((id.into(), secret.into()));
        self
    }

    pub fn with_scopes(mut self, scopes: &[&str]) -> Self {
        self.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.order_number_prefix = prefix.into();
        self
    }

    pub fn with_currency(mut self, currency: &str) -> Self {
        self.currency = currency.into();
        self
    }

    /// A bucket of `capacity` points restoring `restore_rate` points per second.
    pub fn with_bucket(mut self, capacity: f64, restore_rate: f64) -> Self {
        self.bucket = (capacity, restore_rate);
        self
    }

    /// Reading the order named `name` by id fails with a 503, every time.
    pub fn with_unreadable_order(mut self, name: &str) -> Self {
        self.unreadable_orders.push(name.to_owned());
        self
    }

    /// Queries run this long once admitted (their requested cost is held meanwhile).
    pub fn with_execution(mut self, execution: Duration) -> Self {
        self.execution = execution;
        self
    }

    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    pub fn hanging(mut self) -> Self {
        self.hangs = true;
        self
    }

    /// Grants the content scopes knowledge sync reads with (`read_online_store_pages`,
    /// `read_legal_policies`) on top of the current ones.
    pub fn with_content_scopes(mut self) -> Self {
        for scope in ["read_online_store_pages", "read_legal_policies"] {
            if !self.scopes.iter().any(|s| s == scope) {
                self.scopes.push(scope.into());
            }
        }
        self
    }

    /// A storefront's content: three pages (one unpublished, one with the markup a theme
    /// editor produces: a table, a list, an image, a script and an iframe), a blog with two
    /// articles, and four policies (one of them empty, as a store that never wrote it has).
    pub fn with_demo_content(self) -> Self {
        self.with_content_scopes()
            .with_page(FakePage::new(
                101,
                "About us",
                "<h2>Who we are</h2><p>Outdoor gear since <b>2010</b>, tested on real trails.</p>",
            ))
            .with_page(FakePage::new(
                102,
                "Shipping FAQ",
                "<h2>Where do you ship?</h2><ul><li>United States</li><li>Canada</li><li>Norway</li></ul>\
                 <table><tr><th>Zone</th><th>Days</th></tr><tr><td>US</td><td>2-4</td></tr><tr><td>Norway</td><td>5-8</td></tr></table>\
                 <p><img src=\"/map.png\" alt=\"Map of shipping zones\"></p>\
                 <script>track('faq')</script><style>p{color:red}</style>\
                 <iframe src=\"https://video.example/faq\"></iframe>\
                 <p>Questions? <a href=\"/pages/contact\">Contact us</a>.</p>",
            ))
            .with_page(
                FakePage::new(
                    103,
                    "Wholesale terms",
                    "<p>Net 30 for approved resellers. Minimum order 20 units.</p>",
                )
                .unpublished(),
            )
            .with_article(FakeArticle::new(
                201,
                "news",
                "Is the Trail Runner waterproof",
                "<p>Yes: the upper is a <em>waterproof membrane</em>, seam-sealed.</p>",
            ))
            .with_article(FakeArticle::new(
                202,
                "news",
                "Caring for your jacket",
                "<ol><li>Wash cold.</li><li>Hang dry.</li></ol>",
            ))
            .with_policy(FakePolicy::new(
                301,
                "REFUND_POLICY",
                "Refund policy",
                "<p>Returns within <strong>30 days</strong> of delivery, unworn, with tags.</p>",
            ))
            .with_policy(FakePolicy::new(
                302,
                "SHIPPING_POLICY",
                "Shipping policy",
                "<p>Free shipping over $75. We ship to the US, Canada and Norway.</p>",
            ))
            .with_policy(FakePolicy::new(
                303,
                "PRIVACY_POLICY",
                "Privacy policy",
                "<p>We never sell your data.</p>",
            ))
            .with_policy(FakePolicy::new(304, "TERMS_OF_SERVICE", "Terms of service", ""))
    }
}

/// How the fake writes a bulk operation's JSONL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BulkStyle {
    /// Products in id order, each followed by its variants, every line ending in `\n`.
    #[default]
    Sorted,
    /// Products in descending id order.
    Reversed,
    /// Sorted, without a newline after the last line.
    NoFinalNewline,
}

/// A customer the fake serves; their orders are the shop's orders with their email.
#[derive(Clone, Debug)]
pub struct FakeCustomer {
    pub id: u64,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub tags: Vec<String>,
    pub note: Option<String>,
    pub amount_spent: String,
}

impl FakeCustomer {
    pub fn new(id: u64, name: &str, email: &str) -> Self {
        Self {
            id,
            email: email.into(),
            name: name.into(),
            phone: Some("+15555550123".into()),
            tags: vec!["vip".into()],
            note: Some("Prefers email".into()),
            amount_spent: "139.80".into(),
        }
    }
}

/// What the order actions need granted: the write scope and both fulfillment-order reads.
pub const ORDER_ACTION_SCOPES: [&str; 3] = [
    "write_orders",
    "read_merchant_managed_fulfillment_orders",
    "read_third_party_fulfillment_orders",
];

/// An order the fake serves.
#[derive(Clone, Debug)]
pub struct FakeOrder {
    pub name: String,
    pub created_at: String,
    pub email: Option<String>,
    pub customer_email: Option<String>,
    /// Closed (archived) orders are found too unless a search asks for `status:open`.
    pub closed: bool,
    pub financial_status: String,
    pub fulfillment_status: String,
    pub total: String,
    pub currency: String,
    pub line_items: Vec<(String, Option<String>, i64)>,
    /// Its shipments, oldest first.
    pub fulfillments: Vec<FakeFulfillment>,
    pub cancelled_at: Option<String>,
    /// `OrderReturnStatus`.
    pub return_status: String,
    /// Money given back, oldest first (a cancellation's refund is rendered beside these).
    pub refunds: Vec<FakeRefund>,
    pub requires_shipping: bool,
    pub can_notify_customer: bool,
    pub tags: Vec<String>,
    pub shipping_address: FakeAddress,
    pub fulfillment_orders: Vec<FakeFulfillmentOrder>,
    pub transactions: Vec<FakeTransaction>,
    /// What `orderCancel` did, once its job succeeded.
    pub cancellation: Option<FakeCancellation>,
    /// `orderCancel` answers this user error (code, message) instead of starting a job.
    pub cancel_refusal: Option<(String, String)>,
    /// `orderCancel` mutations received for this order.
    pub cancel_calls: usize,
    /// What `orderUpdate` does with a new shipping address.
    pub address_update: AddressUpdate,
    /// `orderUpdate` mutations received for this order, refused and ignored ones included.
    pub address_update_calls: usize,
}

/// What `orderUpdate` does with a new shipping address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AddressUpdate {
    /// The address is changed as sent (parts sent as null cleared, parts left out kept).
    #[default]
    Applies,
    /// Shopify answers success and changes nothing (seen in the wild).
    Ignored,
    /// Shopify answers this user error (its `field` path and message) and changes nothing.
    Refused { field: Vec<String>, message: String },
    /// Shopify answers success, changes the parts sent with a value and keeps those sent as
    /// `null` (a partial update).
    KeepsNulls,
}

/// A shipping address (Shopify's `MailingAddress`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeAddress {
    pub first_name: String,
    pub last_name: String,
    pub company: Option<String>,
    pub address1: String,
    pub address2: Option<String>,
    pub city: String,
    pub province: Option<String>,
    pub province_code: Option<String>,
    pub zip: Option<String>,
    pub country: String,
    pub country_code: String,
    pub phone: Option<String>,
}

impl Default for FakeAddress {
    fn default() -> Self {
        Self {
            first_name: "Jane".into(),
            last_name: "Doe".into(),
            company: None,
            address1: "1 Pine St".into(),
            address2: None,
            city: "Portland".into(),
            province: Some("Oregon".into()),
            province_code: Some("OR".into()),
            zip: Some("97201".into()),
            country: "United States".into(),
            country_code: "US".into(),
            phone: None,
        }
    }
}

/// One shipment of an order (Shopify's `Fulfillment`): what it carries, where the carrier says
/// it is, and the carrier's events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeFulfillment {
    /// `FulfillmentStatus`: `SUCCESS`, `CANCELLED`, `ERROR`, `FAILURE`, ...
    pub status: String,
    /// `FulfillmentDisplayStatus`: `LABEL_PRINTED`, `IN_TRANSIT`, `OUT_FOR_DELIVERY`,
    /// `ATTEMPTED_DELIVERY`, `DELAYED`, `DELIVERED`, `FAILURE`, ...
    pub display_status: String,
    /// RFC 3339: when it was fulfilled.
    pub created_at: String,
    pub delivered_at: Option<String>,
    /// Only when the carrier gave one.
    pub estimated_delivery_at: Option<String>,
    /// (company, number); the URL is `https://track.example/{number}`.
    pub tracking: Vec<(String, String)>,
    /// The order's line items it carries: (position in `FakeOrder::line_items`, quantity).
    pub line_items: Vec<(usize, i64)>,
    /// The carrier's events, oldest first.
    pub events: Vec<FakeFulfillmentEvent>,
}

/// Money given back on an order (Shopify's `Refund`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeRefund {
    /// In the order's currency.
    pub amount: String,
    /// RFC 3339.
    pub created_at: String,
}

/// One carrier event of a fulfillment (Shopify's `FulfillmentEvent`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeFulfillmentEvent {
    /// `FulfillmentEventStatus`: `LABEL_PRINTED`, `IN_TRANSIT`, `OUT_FOR_DELIVERY`,
    /// `ATTEMPTED_DELIVERY`, `DELAYED`, `DELIVERED`, `FAILURE`, ...
    pub status: String,
    pub happened_at: String,
    pub message: Option<String>,
    pub city: Option<String>,
}

impl FakeFulfillment {
    /// On its way with UPS (`1Z999AA10123456784`), fulfilled 2026-11-24, the carrier's
    /// estimate 2026-11-28, no events yet; carrying `line_items` (position, quantity).
    pub fn in_transit(line_items: &[(usize, i64)]) -> Self {
        Self {
            status: "SUCCESS".into(),
            display_status: "IN_TRANSIT".into(),
            created_at: "2026-11-24T10:00:00Z".into(),
            delivered_at: None,
            estimated_delivery_at: Some("2026-11-28T00:00:00Z".into()),
            tracking: vec![("UPS".into(), "1Z999AA10123456784".into())],
            line_items: line_items.to_vec(),
            events: Vec::new(),
        }
    }

    /// Delivered at `delivered_at` (RFC 3339), fulfilled two days before.
    pub fn delivered(line_items: &[(usize, i64)], delivered_at: &str) -> Self {
        let created_at = chrono::DateTime::parse_from_rfc3339(delivered_at)
            .map(|t| {
                (t - chrono::Duration::days(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            })
            .unwrap_or_else(|_| delivered_at.to_owned());
        Self {
            display_status: "DELIVERED".into(),
            created_at,
            delivered_at: Some(delivered_at.into()),
            ..Self::in_transit(line_items)
        }
    }

    pub fn with_display_status(mut self, status: &str) -> Self {
        self.display_status = status.into();
        self
    }

    pub fn created_at(mut self, created_at: &str) -> Self {
        self.created_at = created_at.into();
        self
    }

    /// No carrier estimate.
    pub fn without_estimate(mut self) -> Self {
        self.estimated_delivery_at = None;
        self
    }

    pub fn with_tracking(mut self, company: &str, number: &str) -> Self {
        self.tracking = vec![(company.into(), number.into())];
        self
    }

    /// Adds a carrier event (status, RFC 3339 time, message, city).
    pub fn with_event(
        mut self,
        status: &str,
        happened_at: &str,
        message: &str,
        city: Option<&str>,
    ) -> Self {
        self.events.push(FakeFulfillmentEvent {
            status: status.into(),
            happened_at: happened_at.into(),
            message: Some(message.into()),
            city: city.map(Into::into),
        });
        self
    }
}

/// A fulfillment order: what is (or is not yet) on its way, and who fulfills it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeFulfillmentOrder {
    /// `FulfillmentOrderStatus`: `OPEN`, `IN_PROGRESS`, `CLOSED`, `CANCELLED`, ...
    pub status: String,
    /// `FulfillmentOrderRequestStatus`: `UNSUBMITTED`, `SUBMITTED`, `ACCEPTED`, ...
    pub request_status: String,
    /// Assigned to a fulfillment service's location: visible with
    /// `read_third_party_fulfillment_orders`; otherwise merchant-managed, visible with
    /// `read_merchant_managed_fulfillment_orders`.
    pub third_party: bool,
    /// Its delivery method's `DeliveryMethodType`: `SHIPPING` (the default), `LOCAL`,
    /// `PICK_UP`, `PICKUP_POINT`, `RETAIL`, `NONE`.
    pub delivery_method: String,
}

impl FakeFulfillmentOrder {
    pub fn merchant(status: &str, request_status: &str) -> Self {
        Self {
            status: status.into(),
            request_status: request_status.into(),
            third_party: false,
            delivery_method: "SHIPPING".into(),
        }
    }

    /// Delivered by this `DeliveryMethodType` (`PICK_UP`: the customer collects it).
    pub fn delivered_by(mut self, method: &str) -> Self {
        self.delivery_method = method.into();
        self
    }

    pub fn third_party(status: &str, request_status: &str) -> Self {
        Self {
            third_party: true,
            ..Self::merchant(status, request_status)
        }
    }
}

/// A payment transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeTransaction {
    /// `SALE`, `AUTHORIZATION`, `CAPTURE`, `REFUND`, `VOID`.
    pub kind: String,
    pub status: String,
    pub gateway: String,
    pub manual: bool,
    pub amount: String,
}

impl FakeTransaction {
    pub fn new(kind: &str, gateway: &str, amount: &str) -> Self {
        Self {
            kind: kind.into(),
            status: "SUCCESS".into(),
            gateway: gateway.into(),
            manual: gateway == "manual",
            amount: amount.into(),
        }
    }
}

/// What a successful `orderCancel` did, as the fake recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeCancellation {
    /// `reason` as sent (`CUSTOMER`).
    pub reason: String,
    pub staff_note: Option<String>,
    pub notify_customer: bool,
    /// `restock: true` was sent and the items went back to stock.
    pub restocked: bool,
    /// `refundMethod.originalPaymentMethodsRefund` was sent.
    pub refund_to_original: bool,
    /// What went back to each gateway: (gateway, amount); voided authorizations are not in it.
    pub refunds: Vec<(String, String)>,
    /// Authorizations voided, by gateway.
    pub voided: Vec<String>,
}

/// How the job an `orderCancel` starts ends. It advances only when polled (`job(id:)`) or
/// when a test calls `FakeShopify::finish_jobs`, so tests never wait on the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelJob {
    /// The order is cancelled (refunded, restocked) when the job is polled for the
    /// `after_polls`-th time; `0`: already when `orderCancel` answers (the job is `done`).
    Completes { after_polls: u32 },
    /// Done after `after_polls` polls, and the order is left as it was.
    Fails { after_polls: u32 },
    /// Never done; the order is left as it was.
    NeverFinishes,
}

impl Default for CancelJob {
    fn default() -> Self {
        Self::Completes { after_polls: 1 }
    }
}

impl FakeOrder {
    /// A paid order, fulfilled and on its way (tracked by UPS), placed at `created_at`.
    pub fn new(name: &str, created_at: &str, email: &str) -> Self {
        let total = "49.90";
        Self {
            name: name.into(),
            created_at: created_at.into(),
            email: Some(email.into()),
            customer_email: None,
            closed: false,
            financial_status: "PAID".into(),
            fulfillment_status: "FULFILLED".into(),
            total: total.into(),
            currency: "USD".into(),
            line_items: vec![("Trail Runner".into(), Some("42 / Blue".into()), 1)],
            fulfillments: vec![FakeFulfillment::in_transit(&[(0, 1)])],
            cancelled_at: None,
            return_status: "NO_RETURN".into(),
            refunds: Vec::new(),
            requires_shipping: true,
            can_notify_customer: true,
            tags: Vec::new(),
            shipping_address: FakeAddress::default(),
            fulfillment_orders: vec![FakeFulfillmentOrder::merchant("CLOSED", "UNSUBMITTED")],
            transactions: vec![FakeTransaction::new("SALE", "shopify_payments", total)],
            cancellation: None,
            cancel_refusal: None,
            cancel_calls: 0,
            address_update: AddressUpdate::default(),
            address_update_calls: 0,
        }
    }

    /// A paid order nothing of which has shipped yet, placed `minutes` ago: what a shopper
    /// may still cancel.
    pub fn unfulfilled(name: &str, minutes: i64, email: &str) -> Self {
        Self::new(name, "", email)
            .placed_minutes_ago(minutes)
            .with_fulfillment(
                "UNFULFILLED",
                &[FakeFulfillmentOrder::merchant("OPEN", "UNSUBMITTED")],
            )
    }

    pub fn closed(mut self) -> Self {
        self.closed = true;
        self
    }

    pub fn currency(mut self, currency: &str) -> Self {
        self.currency = currency.into();
        self
    }

    /// The order has no email of its own, only its customer's.
    pub fn customer_email_only(mut self) -> Self {
        self.customer_email = self.email.take();
        self
    }

    /// Placed `minutes` before now (outside a cancellation window when it is longer).
    pub fn placed_minutes_ago(mut self, minutes: i64) -> Self {
        self.created_at = (chrono::Utc::now() - chrono::Duration::minutes(minutes))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self
    }

    /// No email at all (a POS or phone order): Shopify cannot notify the customer.
    pub fn without_email(mut self) -> Self {
        self.email = None;
        self.customer_email = None;
        self.can_notify_customer = false;
        self
    }

    /// Shopify cannot email the customer about this order (`canNotifyCustomer: false`).
    pub fn cannot_notify(mut self) -> Self {
        self.can_notify_customer = false;
        self
    }

    /// The display fulfillment status and the fulfillment orders behind it; tracking only
    /// when something was fulfilled.
    pub fn with_fulfillment(mut self, status: &str, orders: &[FakeFulfillmentOrder]) -> Self {
        self.fulfillment_status = status.into();
        self.fulfillment_orders = orders.to_vec();
        if matches!(status, "UNFULFILLED" | "SCHEDULED" | "ON_HOLD") {
            self.fulfillments.clear();
        }
        self
    }

    /// Its shipments, replacing the ones it had.
    pub fn with_fulfillments(mut self, fulfillments: Vec<FakeFulfillment>) -> Self {
        self.fulfillments = fulfillments;
        self
    }

    /// Everything shipped.
    pub fn fulfilled(self) -> Self {
        self.with_fulfillment(
            "FULFILLED",
            &[FakeFulfillmentOrder::merchant("CLOSED", "UNSUBMITTED")],
        )
    }

    /// Some items shipped, others are still to go.
    pub fn partly_fulfilled(self) -> Self {
        self.with_fulfillment(
            "PARTIALLY_FULFILLED",
            &[FakeFulfillmentOrder::merchant("IN_PROGRESS", "UNSUBMITTED")],
        )
    }

    /// Nothing shipped, but the order went to a fulfillment service, which has the request
    /// (`SUBMITTED`, still `OPEN`) or took it on (`ACCEPTED`, `IN_PROGRESS`).
    pub fn sent_to_fulfillment_service(self, request_status: &str) -> Self {
        let status = if request_status == "ACCEPTED" {
            "IN_PROGRESS"
        } else {
            "OPEN"
        };
        self.with_fulfillment(
            "UNFULFILLED",
            &[FakeFulfillmentOrder::third_party(status, request_status)],
        )
    }

    /// A return is under way (`returnStatus`), whatever the fulfillment state says.
    pub fn with_return(mut self, return_status: &str) -> Self {
        self.return_status = return_status.into();
        self
    }

    /// `amount` given back at `created_at` (RFC 3339): the financial status becomes
    /// `PARTIALLY_REFUNDED`, or `REFUNDED` once the refunds reach the total, as in Shopify.
    pub fn with_refund(mut self, amount: &str, created_at: &str) -> Self {
        self.refunds.push(FakeRefund {
            amount: amount.into(),
            created_at: created_at.into(),
        });
        let refunded: f64 = self
            .refunds
            .iter()
            .map(|r| r.amount.parse::<f64>().unwrap_or(0.0))
            .sum();
        let total: f64 = self.total.parse().unwrap_or(0.0);
        self.financial_status = if refunded >= total {
            "REFUNDED".into()
        } else {
            "PARTIALLY_REFUNDED".into()
        };
        self
    }

    /// Already cancelled (without the fake's cancellation record).
    pub fn cancelled(mut self, at: &str) -> Self {
        self.cancelled_at = Some(at.into());
        self
    }

    /// Payment only authorized, not captured: a cancellation voids it.
    pub fn authorized(mut self) -> Self {
        self.financial_status = "AUTHORIZED".into();
        self.transactions = vec![FakeTransaction::new(
            "AUTHORIZATION",
            "shopify_payments",
            &self.total,
        )];
        self
    }

    /// Paid manually (cash on delivery, bank transfer): nothing is refunded automatically.
    pub fn paid_manually(mut self) -> Self {
        self.transactions = vec![FakeTransaction::new("SALE", "manual", &self.total)];
        self
    }

    pub fn with_transactions(mut self, transactions: &[FakeTransaction]) -> Self {
        self.transactions = transactions.to_vec();
        self
    }

    /// The total, and the one payment that paid it.
    pub fn total(mut self, amount: &str) -> Self {
        self.total = amount.into();
        for t in &mut self.transactions {
            t.amount = amount.into();
        }
        self
    }

    pub fn with_tags(mut self, tags: &[&str]) -> Self {
        self.tags = tags.iter().map(|t| (*t).to_owned()).collect();
        self
    }

    pub fn not_shipped(mut self) -> Self {
        self.requires_shipping = false;
        self
    }

    pub fn with_address(mut self, address: FakeAddress) -> Self {
        self.shipping_address = address;
        self
    }

    /// `orderUpdate` answers success for a new shipping address and changes nothing.
    pub fn ignoring_address_updates(mut self) -> Self {
        self.address_update = AddressUpdate::Ignored;
        self
    }

    /// `orderUpdate` changes the parts of a new shipping address sent with a value and keeps
    /// those sent as `null`.
    pub fn keeping_cleared_address_parts(mut self) -> Self {
        self.address_update = AddressUpdate::KeepsNulls;
        self
    }

    /// `orderUpdate` refuses a new shipping address with a user error on `field` (a path such
    /// as `["shippingAddress", "zip"]`).
    pub fn refusing_address_update(mut self, field: &[&str], message: &str) -> Self {
        self.address_update = AddressUpdate::Refused {
            field: field.iter().map(|f| (*f).to_owned()).collect(),
            message: message.into(),
        };
        self
    }

    /// `orderCancel` answers this `orderCancelUserErrors` code and message.
    pub fn refusing_cancel(mut self, code: &str, message: &str) -> Self {
        self.cancel_refusal = Some((code.into(), message.into()));
        self
    }

    /// What the customer paid, net of refunds: captured and sold amounts minus refunds.
    pub fn net_payment(&self) -> f64 {
        let amount = |kinds: &[&str]| -> f64 {
            self.transactions
                .iter()
                .filter(|t| t.status == "SUCCESS" && kinds.contains(&t.kind.as_str()))
                .map(|t| t.amount.parse::<f64>().unwrap_or(0.0))
                .sum()
        };
        amount(&["SALE", "CAPTURE"]) - amount(&["REFUND"])
    }

    /// Each line item's quantity now: nothing is left once the order is cancelled.
    pub fn current_quantity(&self, quantity: i64) -> i64 {
        if self.cancelled_at.is_some() {
            0
        } else {
            quantity
        }
    }
}

/// A product the fake serves.
#[derive(Clone, Debug)]
pub struct FakeProduct {
    /// The numeric Shopify id; `0` until the shop assigns one.
    pub id: u64,
    pub updated_at: String,
    pub tags: Vec<String>,
    pub title: String,
    pub handle: String,
    pub status: String,
    /// Published on the Online Store sales channel (it then has an `onlineStoreUrl`). An active
    /// product may not be: a scheduled launch, sold on POS or to B2B catalogs only.
    pub published: bool,
    /// What Shopify's search index last saw of `published`: it lags behind a change for a while.
    pub indexed_published: bool,
    pub vendor: String,
    pub product_type: String,
    pub description: String,
    /// (title, sku, price, available for sale)
    pub variants: Vec<(String, String, String, bool)>,
    /// Its last variants that Shopify's search index has not seen yet (just added): a search
    /// of variants (`productVariants(query:)`) does not find them, the product itself lists them.
    pub unindexed_variants: usize,
}

impl FakeProduct {
    pub fn active(title: &str, price: &str) -> Self {
        let handle = title.to_ascii_lowercase().replace(' ', "-");
        Self {
            id: 0,
            updated_at: "2026-10-01T10:00:00Z".into(),
            tags: Vec::new(),
            title: title.into(),
            handle: handle.clone(),
            status: "ACTIVE".into(),
            published: true,
            indexed_published: true,
            vendor: "Demo Outfitters".into(),
            product_type: "Shoes".into(),
            description: format!("{title}: made to last."),
            variants: vec![(
                "Default Title".into(),
                format!("SKU-{handle}"),
                price.into(),
                true,
            )],
            unindexed_variants: 0,
        }
    }

    pub fn draft(title: &str, price: &str) -> Self {
        Self {
            status: "DRAFT".into(),
            ..Self::active(title, price)
        }
    }

    pub fn with_id(mut self, id: u64) -> Self {
        self.id = id;
        self
    }

    /// Active but not published on the Online Store (a scheduled launch, POS- or B2B-only).
    pub fn unpublished(mut self) -> Self {
        self.published = false;
        self.indexed_published = false;
        self
    }

    /// Taken off the Online Store a moment ago: the search index still has it as published.
    pub fn unpublished_after_indexing(mut self) -> Self {
        self.published = false;
        self.indexed_published = true;
        self
    }

    /// Its `onlineStoreUrl`: only an active product published on the Online Store has one.
    pub fn online_store_url(&self, shop: &FakeShop) -> Option<String> {
        (self.status == "ACTIVE" && self.published)
            .then(|| format!("https://{}/products/{}", shop.primary_domain, self.handle))
    }

    /// `published_status:` as Shopify's search answers it from its index: `published` and
    /// `visible` are published on the Online Store, `unpublished` is not, `online_store_channel`
    /// and `any` are either; any other value (another channel) matches nothing here.
    pub fn published_status_matches(&self, value: &str) -> bool {
        match value.to_ascii_lowercase().as_str() {
            "published" | "visible" => self.indexed_published,
            "unpublished" => !self.indexed_published,
            "online_store_channel" | "any" => true,
            _ => false,
        }
    }

    pub fn sold_out(mut self) -> Self {
        for variant in &mut self.variants {
            variant.3 = false;
        }
        self
    }
}

/// An Online Store page.
#[derive(Clone, Debug)]
pub struct FakePage {
    pub id: u64,
    pub title: String,
    pub handle: String,
    pub body: String,
    pub published: bool,
    pub updated_at: String,
}

impl FakePage {
    pub fn new(id: u64, title: &str, body: &str) -> Self {
        Self {
            id,
            title: title.into(),
            handle: title.to_ascii_lowercase().replace(' ', "-"),
            body: body.into(),
            published: true,
            updated_at: "2026-10-01T10:00:00Z".into(),
        }
    }

    pub fn unpublished(mut self) -> Self {
        self.published = false;
        self
    }
}

/// A blog article.
#[derive(Clone, Debug)]
pub struct FakeArticle {
    pub id: u64,
    pub title: String,
    pub handle: String,
    pub body: String,
    pub blog_handle: String,
    pub author: String,
    pub tags: Vec<String>,
    pub published: bool,
    pub published_at: Option<String>,
    pub updated_at: String,
}

impl FakeArticle {
    pub fn new(id: u64, blog: &str, title: &str, body: &str) -> Self {
        Self {
            id,
            title: title.into(),
            handle: title.to_ascii_lowercase().replace(' ', "-"),
            body: body.into(),
            blog_handle: blog.into(),
            author: "Ana Ortiz".into(),
            tags: vec!["guides".into()],
            published: true,
            published_at: Some("2026-09-15T08:00:00Z".into()),
            updated_at: "2026-10-01T10:00:00Z".into(),
        }
    }
}

/// A shop policy.
#[derive(Clone, Debug)]
pub struct FakePolicy {
    pub id: u64,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub updated_at: String,
}

impl FakePolicy {
    pub fn new(id: u64, kind: &str, title: &str, body: &str) -> Self {
        Self {
            id,
            kind: kind.into(),
            title: title.into(),
            body: body.into(),
            updated_at: "2026-10-01T10:00:00Z".into(),
        }
    }
}
