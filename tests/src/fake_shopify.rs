//! A fake Shopify: a real HTTP server that answers the Admin API the way Shopify does — status
//! codes, `X-Shopify-API-Version`, GraphQL `errors` with `extensions.code`, `THROTTLED` with
//! `extensions.cost`, the client-credentials token exchange — for the shops it is given.
//!
//! Shops are reached at `{base_url}/{shop}.myshopify.com/admin/...`, which is what
//! `SHOPIFY_BASE_URL` makes the client use.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

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

impl FakeShop {
    /// A shop `{handle}.myshopify.com` granting the three required scopes and `read_all_orders`.
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
}

/// A scripted misbehaviour, served instead of the next answer for a shop.
#[derive(Clone, Debug)]
pub enum Fault {
    /// An HTTP status with Shopify's usual body for it, and an optional `Retry-After`.
    Status {
        status: u16,
        retry_after: Option<String>,
    },
    /// GraphQL `THROTTLED` with the given bucket state.
    Throttled {
        requested: f64,
        available: f64,
        restore_rate: f64,
    },
    /// A 200 whose body is an HTML page.
    NotJson,
    /// A 200 with a GraphQL error of this `extensions.code`.
    GraphQlError(&'static str),
    /// Waits this long before answering normally.
    Delay(std::time::Duration),
}

impl Fault {
    pub fn status(status: u16) -> Self {
        Self::Status {
            status,
            retry_after: None,
        }
    }
}

/// A request the fake received, for assertions.
#[derive(Clone, Debug)]
pub struct Received {
    pub shop: String,
    pub path: String,
    pub operation: Option<String>,
    pub access_token: Option<String>,
    pub api_version: Option<String>,
    pub variables: Value,
}

#[derive(Default)]
struct Inner {
    shops: HashMap<String, FakeShop>,
    faults: HashMap<String, VecDeque<Fault>>,
    received: Vec<Received>,
    issued: u64,
}

type Shared = Arc<Mutex<Inner>>;

/// The running fake; dropping it stops the server.
pub struct FakeShopify {
    pub base_url: String,
    inner: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeShopify {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeShopify {
    /// Starts on a free loopback port.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_on(addr: SocketAddr) -> Self {
        let inner: Shared = Arc::default();
        let app = Router::new()
            .route("/{shop}/admin/api/{version}/graphql.json", post(graphql))
            .route("/{shop}/admin/oauth/access_token", post(access_token))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind fake Shopify");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake Shopify server");
        });
        Self {
            base_url,
            inner,
            task,
        }
    }

    pub fn add_shop(&self, shop: FakeShop) {
        self.inner
            .lock()
            .unwrap()
            .shops
            .insert(shop.domain.clone(), shop);
    }

    /// Changes a shop in place (revoke a token, remove a scope...).
    pub fn update_shop(&self, domain: &str, change: impl FnOnce(&mut FakeShop)) {
        let mut inner = self.inner.lock().unwrap();
        change(inner.shops.get_mut(domain).expect("unknown fake shop"));
    }

    /// Serves `fault` instead of the next answer to `domain`.
    pub fn push_fault(&self, domain: &str, fault: Fault) {
        self.inner
            .lock()
            .unwrap()
            .faults
            .entry(domain.into())
            .or_default()
            .push_back(fault);
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    pub fn requests_to(&self, domain: &str) -> usize {
        self.received().iter().filter(|r| r.shop == domain).count()
    }
}

fn shopify_error(status: u16, retry_after: Option<&str>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match status {
        401 => {
            json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
        }
        402 => json!({"errors": "Unavailable Shop"}),
        403 => json!({"errors": "User does not have access"}),
        404 => json!({"errors": "Not Found"}),
        423 => json!({"errors": "Locked"}),
        429 => {
            json!({"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."})
        }
        _ => json!({"errors": "Internal Server Error"}),
    };
    let mut response = (code, Json(body)).into_response();
    if let Some(wait) = retry_after {
        response
            .headers_mut()
            .insert("Retry-After", wait.parse().unwrap());
    }
    response
}

fn cost(requested: f64, available: f64, restore_rate: f64) -> Value {
    json!({"cost": {
        "requestedQueryCost": requested,
        "actualQueryCost": if available >= requested { Some(requested) } else { None },
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": available, "restoreRate": restore_rate}
    }})
}

/// Serves a queued fault, if any. `Delay` is awaited here and then the answer goes on.
async fn take_fault(inner: &Shared, shop: &str) -> Option<Response> {
    let fault = inner
        .lock()
        .unwrap()
        .faults
        .get_mut(shop)
        .and_then(|q| q.pop_front())?;
    Some(match fault {
        Fault::Status { status, retry_after } => shopify_error(status, retry_after.as_deref()),
        Fault::Throttled { requested, available, restore_rate } => Json(json!({
            "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
            "extensions": cost(requested, available, restore_rate),
        }))
        .into_response(),
        Fault::NotJson => (
            StatusCode::OK,
            [("content-type", "text/html")],
            "<html><body>Shopify is down for maintenance</body></html>",
        )
            .into_response(),
        Fault::GraphQlError(code) => Json(json!({
            "errors": [{"message": format!("{code} error"), "extensions": {"code": code}}],
            "extensions": cost(1.0, 1999.0, 100.0),
        }))
        .into_response(),
        Fault::Delay(duration) => {
            tokio::time::sleep(duration).await;
            return None;
        }
    })
}

#[derive(Deserialize)]
struct GraphQlRequest {
    #[serde(default)]
    query: String,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Value,
}

async fn graphql(
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
    if let Some(fault) = take_fault(&inner, &shop).await {
        return fault;
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
    if request.query.contains("mutation") {
        return Json(json!({"errors": [{"message": "mutations are not served by the fake"}]}))
            .into_response();
    }
    let data = match request.operation_name.as_deref() {
        Some("ValidateCredentials") => validate_credentials(&record),
        Some("FindOrdersByName") => find_orders(&record, &request.variables),
        Some("SearchProducts") => search_products(&record, &request.variables),
        Some("ShopDetails") => shop_details(&record),
        Some("CustomerByEmail") => customer_by_email(&record, &request.variables),
        other => {
            return Json(json!({
                "errors": [{"message": format!("the fake does not serve operation {other:?}"), "extensions": {"code": "UNKNOWN"}}]
            }))
            .into_response()
        }
    };
    let mut response =
        Json(json!({"data": data, "extensions": cost(3.0, 1997.0, 100.0)})).into_response();
    response
        .headers_mut()
        .insert("X-Shopify-API-Version", version.parse().unwrap());
    response
}

fn validate_credentials(shop: &FakeShop) -> Value {
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

fn canonical(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// One token of Shopify's search syntax.
#[derive(Debug, PartialEq)]
enum Token {
    /// A quoted phrase: always a literal term.
    Quoted(String),
    /// An unquoted word: a term, an operator (`OR`, `AND`) or a `field:value` filter.
    Bare(String),
}

fn tokenize(query: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() || c == '(' || c == ')' {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut phrase = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => phrase.extend(chars.next()),
                    '"' => break,
                    c => phrase.push(c),
                }
            }
            tokens.push(Token::Quoted(phrase));
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '(' || c == ')' {
                    break;
                }
                if c == '"' {
                    // field:"value"
                    chars.next();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => word.extend(chars.next()),
                            '"' => break,
                            c => word.push(c),
                        }
                    }
                    continue;
                }
                word.push(c);
                chars.next();
            }
            tokens.push(Token::Bare(word));
        }
    }
    tokens
}

/// Evaluates a search the way Shopify does for what matters here: `OR` separates
/// alternatives, everything else must hold; `field:value` filters, other words and quoted
/// phrases must appear in one of `text`'s fields.
fn search_matches(query: &str, fields: &HashMap<&str, String>, text: &str) -> bool {
    let text = text.to_lowercase();
    let mut groups: Vec<Vec<Token>> = vec![Vec::new()];
    for token in tokenize(query) {
        match &token {
            Token::Bare(w) if w == "OR" => groups.push(Vec::new()),
            Token::Bare(w) if w == "AND" => {}
            _ => groups.last_mut().unwrap().push(token),
        }
    }
    groups.iter().any(|group| {
        group.iter().all(|token| match token {
            Token::Quoted(term) => text.contains(&term.to_lowercase()),
            Token::Bare(word) => match word.split_once(':') {
                Some((field, value)) => fields
                    .get(field)
                    .is_some_and(|actual| actual.eq_ignore_ascii_case(value)),
                None => text.contains(&word.to_lowercase()),
            },
        })
    })
}

fn find_orders(shop: &FakeShop, variables: &Value) -> Value {
    let query = variables["query"].as_str().unwrap_or_default();
    let only_open = query.contains("status:open");
    let wanted: String = tokenize(query)
        .into_iter()
        .find_map(|t| match t {
            Token::Bare(w) => w.strip_prefix("name:").map(canonical),
            Token::Quoted(_) => None,
        })
        .unwrap_or_default();
    let digits: String = wanted.chars().filter(char::is_ascii_digit).collect();
    // Shopify's name search is fuzzy: #1042, #10420 and UK-1042 all come back for "1042".
    let mut orders: Vec<&FakeOrder> = shop
        .orders
        .iter()
        .filter(|o| !digits.is_empty() && canonical(&o.name).contains(&digits))
        .filter(|o| !(only_open && o.closed))
        .collect();
    orders.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    let nodes: Vec<Value> = orders.iter().take(8).map(|o| {
        json!({
            "name": o.name,
            "createdAt": o.created_at,
            "email": o.email,
            "customer": o.customer_email.as_ref().map(|e| json!({"defaultEmailAddress": {"emailAddress": e}})),
            "displayFinancialStatus": o.financial_status,
            "displayFulfillmentStatus": o.fulfillment_status,
            "cancelledAt": null,
            "cancelReason": null,
            "totalPriceSet": {"shopMoney": {"amount": o.total, "currencyCode": o.currency}},
            "lineItems": {"nodes": o.line_items.iter().map(|(t, v, q)| json!({"title": t, "variantTitle": v, "quantity": q})).collect::<Vec<_>>()},
            "shippingAddress": {"city": "Portland", "province": "Oregon", "country": "United States", "zip": "97201"},
            "fulfillments": o.tracking.iter().map(|(company, number)| json!({
                "status": "SUCCESS", "displayStatus": "IN_TRANSIT", "estimatedDeliveryAt": "2026-11-28T00:00:00Z", "deliveredAt": null,
                "trackingInfo": [{"company": company, "number": number, "url": format!("https://track.example/{number}")}],
            })).collect::<Vec<_>>(),
            "statusPageUrl": format!("https://{}/orders/{}/status", shop.primary_domain, canonical(&o.name)),
        })
    }).collect();
    json!({"orders": {"nodes": nodes}})
}

fn search_products(shop: &FakeShop, variables: &Value) -> Value {
    let query = variables["query"].as_str().unwrap_or_default();
    let first = variables["first"].as_u64().unwrap_or(10) as usize;
    let nodes: Vec<Value> = shop
        .products
        .iter()
        .filter(|p| {
            let fields = HashMap::from([
                ("status", p.status.clone()),
                ("vendor", p.vendor.clone()),
                ("product_type", p.product_type.clone()),
            ]);
            let text = format!("{} {} {} {}", p.title, p.description, p.vendor, p.product_type);
            search_matches(query, &fields, &text)
        })
        .take(first)
        .map(|p| {
            let prices: Vec<f64> = p.variants.iter().map(|v| v.2.parse().unwrap_or(0.0)).collect();
            let min = prices.iter().cloned().fold(f64::MAX, f64::min);
            let max = prices.iter().cloned().fold(0.0, f64::max);
            json!({
                "title": p.title, "handle": p.handle, "description": p.description,
                "productType": p.product_type, "vendor": p.vendor, "status": p.status,
                "onlineStoreUrl": format!("https://{}/products/{}", shop.primary_domain, p.handle),
                "priceRangeV2": {
                    "minVariantPrice": {"amount": format!("{min:.2}"), "currencyCode": shop.currency},
                    "maxVariantPrice": {"amount": format!("{max:.2}"), "currencyCode": shop.currency},
                },
                "featuredMedia": {"preview": {"image": {"url": format!("https://cdn.example/{}.jpg", p.handle)}}},
                "variants": {"nodes": p.variants.iter().map(|(t, sku, price, available)| json!({"title": t, "sku": sku, "price": price, "availableForSale": available})).collect::<Vec<_>>()},
            })
        })
        .collect();
    json!({"products": {"nodes": nodes}})
}

fn customer_by_email(shop: &FakeShop, variables: &Value) -> Value {
    let email = variables["email"].as_str().unwrap_or_default();
    let first = variables["first"].as_u64().unwrap_or(10) as usize;
    let start: usize = variables["after"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let Some(customer) = shop
        .customers
        .iter()
        .find(|c| c.email.eq_ignore_ascii_case(email))
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
    let page: Vec<Value> = orders
        .iter()
        .skip(start)
        .take(first)
        .map(|(index, o)| json!({
            "legacyResourceId": (5000 + index).to_string(),
            "name": o.name,
            "createdAt": o.created_at,
            "displayFinancialStatus": o.financial_status,
            "displayFulfillmentStatus": o.fulfillment_status,
            "cancelledAt": null,
            "totalPriceSet": {"shopMoney": {"amount": o.total, "currencyCode": o.currency}},
            "lineItems": {"nodes": o.line_items.iter().map(|(t, v, q)| json!({"title": t, "variantTitle": v, "quantity": q})).collect::<Vec<_>>()},
            "fulfillments": o.tracking.iter().map(|(company, number)| json!({"trackingInfo": [{"company": company, "number": number, "url": format!("https://track.example/{number}")}]})).collect::<Vec<_>>(),
        }))
        .collect();
    let end = start + page.len();
    json!({"customerByIdentifier": {
        "id": format!("gid://shopify/Customer/{}", customer.id),
        "legacyResourceId": customer.id.to_string(),
        "displayName": customer.name,
        "defaultEmailAddress": {"emailAddress": customer.email},
        "defaultPhoneNumber": customer.phone.as_ref().map(|p| json!({"phoneNumber": p})),
        "numberOfOrders": orders.len().to_string(),
        "amountSpent": {"amount": customer.amount_spent, "currencyCode": shop.currency},
        "createdAt": "2025-01-15T09:00:00Z",
        "tags": customer.tags,
        "note": customer.note,
        "orders": {"pageInfo": {"hasNextPage": end < orders.len(), "endCursor": end.to_string()}, "nodes": page},
    }})
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

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: String,
    client_id: String,
    client_secret: String,
}

async fn access_token(
    State(inner): State<Shared>,
    Path(shop): Path<String>,
    Form(request): Form<TokenRequest>,
) -> Response {
    inner.lock().unwrap().received.push(Received {
        shop: shop.clone(),
        path: "oauth/access_token".into(),
        operation: None,
        access_token: None,
        api_version: None,
        variables: Value::Null,
    });
    if let Some(fault) = take_fault(&inner, &shop).await {
        return fault;
    }
    let mut guard = inner.lock().unwrap();
    let state = &mut *guard;
    let Some(record) = state.shops.get_mut(&shop) else {
        return shopify_error(404, None);
    };
    let valid = request.grant_type == "client_credentials"
        && record.client.as_ref().is_some_and(|(id, secret)| {
            *id == request.client_id && *secret == request.client_secret
        });
    if !valid {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_client", "error_description": "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."})),
        )
            .into_response();
    }
    state.issued += 1;
    let token = format!(
        "shpat_cc_{}_{}",
        record.domain.split('.').next().unwrap(),
        state.issued
    );
    record.issued_tokens.push(token.clone());
    Json(json!({"access_token": token, "scope": record.scopes.join(","), "expires_in": record.token_ttl}))
        .into_response()
}
