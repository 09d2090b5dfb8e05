//! The shops the fake serves: their identity, credentials, rate-limit bucket, behaviour, and
//! the orders, products and customers in them.

use std::time::Duration;

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
    /// The GraphQL rate-limit bucket: capacity and restore rate (points per second).
    pub bucket: (f64, f64),
    /// Every answer waits this long first.
    pub latency: Duration,
    /// How long a query runs once admitted: its requested cost is held for this long before
    /// the difference to the actual cost flows back (Shopify holds it while the query runs).
    pub execution: Duration,
    /// The shop accepts connections and never answers.
    pub hangs: bool,
    /// Customer order pages always claim a next page at the same cursor (a malformed answer).
    pub stuck_paging: bool,
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
            bucket: (2000.0, 100.0),
            latency: Duration::ZERO,
            execution: Duration::ZERO,
            hangs: false,
            stuck_paging: false,
        }
    }

    pub fn with_customer(mut self, customer: FakeCustomer) -> Self {
        self.customers.push(customer);
        self
    }

    pub fn with_order(mut self, order: FakeOrder) -> Self {
        self.orders.push(order);
        self
    }

    pub fn with_product(mut self, product: FakeProduct) -> Self {
        self.products.push(product);
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

    pub fn sold_out(mut self) -> Self {
        for variant in &mut self.variants {
            variant.3 = false;
        }
        self
    }
}
