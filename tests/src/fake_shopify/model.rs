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
    /// Every answer waits this long first.
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
    /// Customer order pages always claim a next page at the same cursor (a malformed answer).
    pub stuck_paging: bool,
    /// What the app sees of protected customer data (names, emails, phones, addresses).
    pub customer_data: CustomerDataAccess,
    /// Tokens and client credentials taken away by the sandbox's `revoke`.
    pub revoked: Vec<String>,
    pub revoked_client: Option<(String, String)>,
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
            stuck_paging: false,
            revoked: Vec::new(),
            revoked_client: None,
            customer_data: CustomerDataAccess::Granted,
        }
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
    pub tracking: Option<(String, String)>,
}

impl FakeOrder {
    pub fn new(name: &str, created_at: &str, email: &str) -> Self {
        Self {
            name: name.into(),
            created_at: created_at.into(),
            email: Some(email.into()),
            customer_email: None,
            closed: false,
            financial_status: "PAID".into(),
            fulfillment_status: "FULFILLED".into(),
            total: "49.90".into(),
            currency: "USD".into(),
            line_items: vec![("Trail Runner".into(), Some("42 / Blue".into()), 1)],
            tracking: Some(("UPS".into(), "1Z999AA10123456784".into())),
        }
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
    pub vendor: String,
    pub product_type: String,
    pub description: String,
    /// (title, sku, price, available for sale)
    pub variants: Vec<(String, String, String, bool)>,
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
            vendor: "Demo Outfitters".into(),
            product_type: "Shoes".into(),
            description: format!("{title}: made to last."),
            variants: vec![(
                "Default Title".into(),
                format!("SKU-{handle}"),
                price.into(),
                true,
            )],
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
