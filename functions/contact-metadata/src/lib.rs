//! `GET /shopify/contact-metadata?email=...`: for each connected store of the caller's
//! organization, at once, the customer with exactly that email and their 50 most recent orders,
//! with links into the Shopify admin. One broken or slow store gives that store
//! `status: "error"`; it never blanks the sidebar: the answer comes within `SIDEBAR_BUDGET_MS`
//! (and the invocation's deadline minus one second) with whatever the stores said by then.
//! A store answers in two round trips: the customer with their newest orders and the ids of
//! the rest, then the rest by id at once, within what the store's bucket holds beyond a
//! reserve for the AI's order lookups (`shared::shopify::customers`); orders that do not fit
//! in the budget, or whose request fails, are the oldest ones, left out.
//!
//! Each order summary carries the order's actions waiting for a person's approval
//! (`pending_actions`) and its newest action whatever came of it (`last_action`), read beside
//! the stores from the contact's own action records (one query, one batch read); when that
//! read fails the lists are empty, `last_action` is null, and the sidebar answers as usual.
//!
//! Answers are cached per container for at most 60 s, keyed by organization, email and every
//! store's credentials version, so a disconnect or a rotation is never served stale.

mod cache;

use lambda_http::http::header::CACHE_CONTROL;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::Value;
use shared::access::Access;
use shared::actions::{sidebar::attach, PendingApprovals};
use shared::domain::{Email, ShopDomain};
use shared::error::logged;
use shared::http::{self, Caller};
use shared::shopify::customers::Customer;
use shared::store::StoreRecord;
use shared::views::{CustomerProfile, OrderSummary};
use shared::{ApiError, Code, Deadline, Services};

pub use cache::SidebarCache;

/// Most recent orders shown per store.
pub const MAX_ORDERS: usize = 50;

/// The function's state: the shared services, where pending approvals are read (none without
/// it) and this container's answer cache.
pub struct State {
    pub services: Services,
    pub pending: Option<PendingApprovals>,
    pub cache: SidebarCache,
}

impl State {
    pub fn new(services: Services) -> Self {
        Self {
            services,
            pending: None,
            cache: SidebarCache::default(),
        }
    }

    /// This state, showing the pending approvals `pending` reads.
    pub fn with_pending(mut self, pending: PendingApprovals) -> Self {
        self.pending = Some(pending);
        self
    }
}

/// Handles one API Gateway request; always answers, errors included.
pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, Error> {
    let span = tracing::info_span!("contact_metadata", request_id = %http::request_id(&req));
    http::respond(span, async {
        let mut response = http::json_response(200, &answer(state, &req).await?);
        response.headers_mut().insert(
            CACHE_CONTROL,
            "private, max-age=60".parse().expect("a static header"),
        );
        Ok(response)
    })
    .await
}

async fn answer(state: &State, req: &Request) -> Result<Value, ApiError> {
    let services = &state.services;
    let caller = Caller::from_request(req, &services.auth)?;
    let raw = req
        .query_string_parameters_ref()
        .and_then(|q| q.first("email"))
        .unwrap_or_default();
    let email = Email::parse(raw).map_err(|e| ApiError::invalid_request(e.to_string()))?;
    let deadline = http::deadline(req).within(services.budgets.sidebar);
    let stores = deadline
        .run(services.storage.stores.list(&caller.org))
        .await
        .map_err(logged)?;
    let key = SidebarCache::key(&caller.org, &email, &stores);
    if let Some(body) = state.cache.get(&key) {
        tracing::info!(org_id = %caller.org, email = %email.masked(), "sidebar served from cache");
        return Ok(body);
    }
    let pending = async {
        match &state.pending {
            Some(pending) => {
                pending
                    .of_contact(&deadline, &caller.org, email.as_str())
                    .await
            }
            None => Vec::new(),
        }
    };
    let (mut sections, pending) = tokio::join!(
        sidebar(&services.access, &deadline, &stores, &email),
        pending
    );
    for section in &mut sections {
        attach(&pending, section.shop_domain, &mut section.orders);
    }
    let failed = sections.iter().filter(|s| s.status == "error").count();
    let body = serde_json::to_value(Sidebar {
        email: email.as_str(),
        stores: sections,
    })
    .expect("a sidebar always serializes");
    tracing::info!(org_id = %caller.org, email = %email.masked(), stores = stores.len(), failed, left_ms = deadline.remaining().as_millis() as u64, "sidebar answered");
    if failed == 0 {
        state.cache.put(key, body.clone());
    }
    Ok(body)
}

#[derive(Serialize)]
struct Sidebar<'a> {
    email: &'a str,
    stores: Vec<Section<'a>>,
}

#[derive(Serialize)]
struct SectionError {
    code: Code,
    message: &'static str,
}

/// One store's part of the sidebar.
#[derive(Serialize)]
struct Section<'a> {
    shop_domain: &'a ShopDomain,
    shop_name: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<SectionError>,
    customer: Option<CustomerProfile>,
    orders: Vec<OrderSummary>,
}

/// Every store's section, in the stores' order, within `deadline`.
async fn sidebar<'a>(
    access: &Access,
    deadline: &Deadline,
    stores: &'a [StoreRecord],
    email: &Email,
) -> Vec<Section<'a>> {
    // A store whose app Shopify withholds customer emails from cannot find anyone by email:
    // its section says why instead of reading "not found".
    let fan_out = access
        .fan_out(
            stores.iter().filter(|s| !s.withholds_emails()).collect(),
            deadline,
            |store, token| async move {
                access
                    .shopify()
                    .customer_by_email(
                        deadline,
                        &store.shop_domain,
                        &token,
                        email.as_str(),
                        MAX_ORDERS,
                    )
                    .await
            },
        )
        .await;
    let mut found: Vec<(&StoreRecord, Option<Customer>)> = fan_out.results;
    stores
        .iter()
        .map(|store| {
            let head = |status, error, customer, orders| Section {
                shop_domain: &store.shop_domain,
                shop_name: &store.shop_name,
                status,
                error,
                customer,
                orders,
            };
            if let Some(at) = found.iter().position(|(s, _)| std::ptr::eq(*s, store)) {
                return match found.swap_remove(at).1 {
                    Some(customer) => head(
                        "found",
                        None,
                        Some(CustomerProfile::new(&customer, store)),
                        customer
                            .orders
                            .iter()
                            .map(|o| OrderSummary::new(o, store))
                            .collect(),
                    ),
                    None => head("not_found", None, None, Vec::new()),
                };
            }
            let code = if store.withholds_emails() {
                Code::ProtectedCustomerDataUnavailable
            } else {
                fan_out
                    .errors
                    .iter()
                    .find(|e| e.shop_domain == store.shop_domain)
                    .map_or(Code::ShopifyUnavailable, |e| e.code)
            };
            head(
                "error",
                Some(SectionError {
                    code,
                    message: code.sidebar_message(),
                }),
                None,
                Vec::new(),
            )
        })
        .collect()
}
