//! The Shopify client's order-action calls against the fake Shopify: orders read for an
//! action, `orderCancel` with its fixed arguments and its asynchronous job, Shopify's refusals,
//! and a write that is never sent twice when its answer is lost. No storage is involved: the
//! client talks to the fake directly, but for the store warnings, which go through connect.

mod common;

use std::time::{Duration, Instant};

use secrecy::SecretString;
use shared::domain::{NewAddress, ShopDomain};
use shared::shopify::actions::{ActionOrder, CancelRequest, STAFF_NOTE_MAX_CHARS};
use shared::shopify::{ShopifyClient, ShopifyConfig, ShopifyError};
use shared::Deadline;
use tests::fake_shopify::{
    CancelJob, CustomerDataAccess, FakeFulfillmentOrder, FakeOrder, FakeShop, FakeShopify,
    FakeTransaction, Fault,
};

const SHOP: &str = "acts.myshopify.com";
const TOKEN: &str = "shpat_actions_000000000000000000000000";
const JANE: &str = "jane@example.com";

fn shop() -> FakeShop {
    FakeShop::new("acts")
        .with_token(TOKEN)
        .with_order_action_scopes()
        .with_order(FakeOrder::unfulfilled("#1001", 5, JANE))
        .with_order(FakeOrder::new("#1002", "2026-11-01T10:00:00Z", JANE))
}

struct Rig {
    fake: FakeShopify,
    client: ShopifyClient,
    shop: ShopDomain,
    token: SecretString,
}

impl Rig {
    async fn start(shop: FakeShop) -> Self {
        Self::with_timeout(shop, Duration::from_secs(5)).await
    }

    async fn with_timeout(shop: FakeShop, request_timeout: Duration) -> Self {
        let fake = FakeShopify::start().await;
        fake.add_shop(shop);
        let client = ShopifyClient::new(ShopifyConfig {
            base_url: Some(fake.base_url.clone()),
            retry: tests::app::fast_retry(),
            request_timeout,
            ..ShopifyConfig::default()
        });
        Self {
            fake,
            client,
            shop: ShopDomain::parse(SHOP).unwrap(),
            token: SecretString::from(TOKEN),
        }
    }

    async fn named(&self, name: &str) -> Vec<ActionOrder> {
        self.client
            .action_orders_named(&deadline(), &self.shop, &self.token, name, |n| n == name)
            .await
            .unwrap()
    }

    async fn read(&self, name: &str) -> ActionOrder {
        let gid = self.fake.order_gid(SHOP, name);
        self.client
            .action_order(&deadline(), &self.shop, &self.token, &gid)
            .await
            .unwrap()
            .expect("the order exists")
    }

    fn request(&self, name: &str, note: &str) -> CancelRequest {
        CancelRequest {
            order_id: self.fake.order_gid(SHOP, name),
            staff_note: note.into(),
        }
    }

    async fn cancel(
        &self,
        name: &str,
    ) -> Result<
        Result<shared::shopify::actions::CancelStarted, shared::shopify::actions::CancelRefused>,
        ShopifyError,
    > {
        self.client
            .cancel_order(
                &deadline(),
                &self.shop,
                &self.token,
                &self.request(name, "conversation c-42: changed my mind"),
            )
            .await
    }

    async fn job_done(&self, job: &str) -> bool {
        self.client
            .job_done(&deadline(), &self.shop, &self.token, job)
            .await
            .unwrap()
    }
}

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(10))
}

#[tokio::test]
async fn an_order_is_found_by_its_exact_name_with_everything_the_rules_read() {
    let rig = Rig::start(shop()).await;

    let found = rig.named("#1001").await;

    assert_eq!(found.len(), 1);
    let order = &found[0];
    assert_eq!(order.id, rig.fake.order_gid(SHOP, "#1001"));
    assert_eq!(order.emails().collect::<Vec<_>>(), [JANE]);
    assert!(order.cancelled_at.is_none());
    assert_eq!(order.display_fulfillment_status, "UNFULFILLED");
    assert_eq!(order.return_status, "NO_RETURN");
    assert!(order.requires_shipping && order.can_notify_customer);
    assert_eq!(order.currency_code, "USD");
    assert_eq!(order.net_payment.amount, "49.90");
    assert_eq!(order.fulfillment_orders.len(), 1);
    assert_eq!(
        (
            order.fulfillment_orders[0].status.as_str(),
            order.fulfillment_orders[0].request_status.as_str()
        ),
        ("OPEN", "UNSUBMITTED")
    );
    assert_eq!(order.transactions[0].kind, "SALE");
    assert_eq!(
        order.transactions[0].gateway.as_deref(),
        Some("shopify_payments")
    );
    assert_eq!(order.line_items[0].current_quantity, 1);
    let address = order.shipping_address.as_ref().unwrap();
    assert_eq!(address.province_code.as_deref(), Some("OR"));
    assert_eq!(address.country_code.as_deref(), Some("US"));
    let placed = order.placed_at().unwrap();
    assert!(chrono::Utc::now() - placed < chrono::Duration::minutes(10));
}

#[tokio::test]
async fn finding_an_order_for_an_action_takes_one_request_of_at_most_150_points() {
    let rig = Rig::start(shop()).await;

    rig.named("#1001").await;

    let spent = rig.fake.spent();
    assert_eq!(spent.len(), 1, "{spent:?}");
    assert_eq!(spent[0].1, "ActionOrdersByName");
    assert!(spent[0].2 <= 150.0, "requested {}", spent[0].2);
}

#[tokio::test]
async fn when_the_first_candidates_are_not_the_exact_name_more_are_listed_and_read_by_id() {
    let mut shop = shop();
    for n in 0..5 {
        shop = shop.with_order(FakeOrder::unfulfilled(&format!("#1001{n}"), 5, JANE));
    }
    let rig = Rig::start(shop).await;

    let found = rig
        .client
        .action_orders_named(&deadline(), &rig.shop, &rig.token, "#1001", |n| {
            n == "#10013"
        })
        .await
        .unwrap();

    assert_eq!(
        found.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        ["#10013"]
    );
    assert_eq!(found[0].fulfillment_orders[0].status, "OPEN");
    let operations: Vec<_> = rig.fake.spent().into_iter().map(|s| s.1).collect();
    assert_eq!(
        operations,
        [
            "ActionOrdersByName",
            "FindOrderIdsByName",
            "ActionOrdersByIds"
        ]
    );
}

#[tokio::test]
async fn an_order_is_read_back_by_its_gid_and_an_unknown_gid_is_none() {
    let rig = Rig::start(shop()).await;

    let order = rig.read("#1002").await;
    let unknown = rig
        .client
        .action_order(
            &deadline(),
            &rig.shop,
            &rig.token,
            "gid://shopify/Order/999999",
        )
        .await
        .unwrap();

    assert_eq!(order.name, "#1002");
    assert_eq!(order.display_fulfillment_status, "FULFILLED");
    assert_eq!(order.fulfillment_orders[0].status, "CLOSED");
    assert!(unknown.is_none());
}

#[tokio::test]
async fn fulfillment_orders_are_visible_only_with_their_read_scope() {
    let shop = FakeShop::new("acts")
        .with_token(TOKEN)
        .with_scopes(&[
            "read_orders",
            "read_products",
            "read_customers",
            "read_merchant_managed_fulfillment_orders",
        ])
        .with_order(FakeOrder::unfulfilled("#1001", 5, JANE))
        .with_order(
            FakeOrder::unfulfilled("#1003", 5, JANE).sent_to_fulfillment_service("SUBMITTED"),
        );
    let rig = Rig::start(shop).await;

    let merchant_managed = rig.read("#1001").await;
    let third_party = rig.read("#1003").await;
    rig.fake.update_shop(SHOP, |s| {
        s.scopes
            .retain(|x| x != "read_merchant_managed_fulfillment_orders")
    });
    let without_scopes = rig.read("#1001").await;

    assert_eq!(merchant_managed.fulfillment_orders.len(), 1);
    assert!(third_party.fulfillment_orders.is_empty());
    assert!(without_scopes.fulfillment_orders.is_empty());
}

#[tokio::test]
async fn each_fulfillment_order_says_how_it_is_delivered_and_more_than_three_are_not_all_seen() {
    let pickup = FakeFulfillmentOrder::merchant("OPEN", "UNSUBMITTED").delivered_by("PICK_UP");
    let shop = shop()
        .with_order(FakeOrder::unfulfilled("#1003", 5, JANE).with_fulfillment(
            "UNFULFILLED",
            &[
                pickup.clone(),
                FakeFulfillmentOrder::merchant("OPEN", "UNSUBMITTED"),
            ],
        ))
        .with_order(
            FakeOrder::unfulfilled("#1004", 5, JANE)
                .with_fulfillment("UNFULFILLED", &vec![pickup; 4]),
        );
    let rig = Rig::start(shop).await;

    let mixed = rig.named("#1003").await.remove(0);
    let read_back = rig.read("#1003").await;
    let many = rig.read("#1004").await;

    let methods = |o: &ActionOrder| {
        o.fulfillment_orders
            .iter()
            .map(|f| f.delivery_method.clone())
            .collect::<Vec<_>>()
    };
    let expected = [Some("PICK_UP".to_owned()), Some("SHIPPING".to_owned())];
    assert_eq!(methods(&mixed), expected);
    assert_eq!(methods(&read_back), expected);
    assert!(!read_back.more_fulfillment_orders);
    assert_eq!(many.fulfillment_orders.len(), 3);
    assert!(
        many.more_fulfillment_orders,
        "the rules cannot vouch for the fourth"
    );
}

#[tokio::test]
async fn address_parts_shopify_withholds_are_told_apart_from_empty_ones() {
    let mut shop = shop().withholding_customer_data(CustomerDataAccess::NamesAndPhonesDenied);
    for n in 0..5 {
        shop = shop.with_order(FakeOrder::unfulfilled(&format!("#1001{n}"), 5, JANE));
    }
    let rig = Rig::start(shop).await;

    let named = rig.named("#1001").await.remove(0);
    let read_back = rig.read("#1001").await;
    let by_id = rig
        .client
        .action_orders_named(&deadline(), &rig.shop, &rig.token, "#1001", |n| {
            n == "#10013"
        })
        .await
        .unwrap()
        .remove(0);

    for order in [&named, &read_back, &by_id] {
        let address = order.shipping_address.as_ref().unwrap();
        assert_eq!(
            address.withheld,
            ["firstName", "lastName", "phone"],
            "{}",
            order.name
        );
        assert_eq!(
            (address.first_name.as_deref(), address.phone.as_deref()),
            (None, None)
        );
        assert_eq!(address.city.as_deref(), Some("Portland"));
        assert_eq!(order.emails().collect::<Vec<_>>(), [JANE]);
    }
    rig.fake
        .update_shop(SHOP, |s| s.customer_data = CustomerDataAccess::Granted);
    let seen = rig.read("#1001").await.shipping_address.unwrap();
    assert!(seen.withheld.is_empty());
    assert_eq!(seen.first_name.as_deref(), Some("Jane"));
}

#[tokio::test]
async fn the_test_controls_show_each_state_the_rules_refuse() {
    let shop = FakeShop::new("acts")
        .with_token(TOKEN)
        .with_order_action_scopes()
        .with_order(FakeOrder::unfulfilled("#2001", 5, JANE).fulfilled())
        .with_order(FakeOrder::unfulfilled("#2002", 5, JANE).partly_fulfilled())
        .with_order(
            FakeOrder::unfulfilled("#2003", 5, JANE).sent_to_fulfillment_service("SUBMITTED"),
        )
        .with_order(
            FakeOrder::unfulfilled("#2004", 5, JANE).sent_to_fulfillment_service("ACCEPTED"),
        )
        .with_order(FakeOrder::unfulfilled("#2005", 5, JANE).with_return("IN_PROGRESS"))
        .with_order(FakeOrder::unfulfilled("#2006", 24 * 60, JANE))
        .with_order(FakeOrder::unfulfilled("#2007", 5, JANE).without_email())
        .with_order(FakeOrder::unfulfilled("#2008", 5, JANE).cancelled("2026-11-01T10:00:00Z"));
    let rig = Rig::start(shop).await;

    let fulfilled = rig.read("#2001").await;
    let partly = rig.read("#2002").await;
    let submitted = rig.read("#2003").await;
    let accepted = rig.read("#2004").await;
    let returning = rig.read("#2005").await;
    let old = rig.read("#2006").await;
    let no_email = rig.read("#2007").await;
    let cancelled = rig.read("#2008").await;

    assert_eq!(fulfilled.display_fulfillment_status, "FULFILLED");
    assert_eq!(partly.display_fulfillment_status, "PARTIALLY_FULFILLED");
    assert_eq!(partly.fulfillment_orders[0].status, "IN_PROGRESS");
    assert_eq!(submitted.fulfillment_orders[0].request_status, "SUBMITTED");
    assert_eq!(submitted.fulfillment_orders[0].status, "OPEN");
    assert_eq!(accepted.fulfillment_orders[0].request_status, "ACCEPTED");
    assert_eq!(returning.return_status, "IN_PROGRESS");
    assert!(chrono::Utc::now() - old.placed_at().unwrap() >= chrono::Duration::hours(24));
    assert_eq!(no_email.emails().count(), 0);
    assert!(!no_email.can_notify_customer);
    assert!(cancelled.is_cancelled());
}

#[tokio::test]
async fn a_cancellation_sends_the_fixed_arguments_and_its_job_refunds_and_restocks() {
    let rig = Rig::start(shop()).await;

    let started = rig.cancel("#1001").await.unwrap().expect("accepted");
    let before_poll = rig.fake.order(SHOP, "#1001");
    let done = rig.job_done(started.job_id.as_deref().unwrap()).await;
    let after = rig.read("#1001").await;

    assert!(
        before_poll.cancelled_at.is_none(),
        "the job runs asynchronously"
    );
    assert!(done);
    assert!(after.is_cancelled());
    assert_eq!(after.display_financial_status.as_deref(), Some("REFUNDED"));
    assert_eq!(after.net_payment.amount, "0.00");
    assert_eq!(after.line_items[0].current_quantity, 0);
    assert_eq!(after.fulfillment_orders[0].status, "CLOSED");
    let order = rig.fake.order(SHOP, "#1001");
    let cancellation = order.cancellation.expect("recorded");
    assert_eq!(cancellation.reason, "CUSTOMER");
    assert!(cancellation.restocked);
    assert!(cancellation.refund_to_original);
    assert!(cancellation.notify_customer);
    assert_eq!(
        cancellation.refunds,
        [("shopify_payments".to_owned(), "49.90".to_owned())]
    );
    assert_eq!(
        cancellation.staff_note.as_deref(),
        Some("conversation c-42: changed my mind")
    );
    assert_eq!(order.cancel_calls, 1);
}

#[tokio::test]
async fn a_job_completes_only_after_the_configured_number_of_polls() {
    let rig = Rig::start(shop().with_cancel_job(CancelJob::Completes { after_polls: 3 })).await;

    let job = rig.cancel("#1001").await.unwrap().unwrap().job_id.unwrap();
    let polls = [
        rig.job_done(&job).await,
        rig.job_done(&job).await,
        rig.job_done(&job).await,
    ];

    assert_eq!(polls, [false, false, true]);
    assert!(rig.read("#1001").await.is_cancelled());
}

#[tokio::test]
async fn a_job_that_fails_is_done_and_leaves_the_order_uncancelled() {
    let rig = Rig::start(shop().with_cancel_job(CancelJob::Fails { after_polls: 1 })).await;

    let job = rig.cancel("#1001").await.unwrap().unwrap().job_id.unwrap();
    let done = rig.job_done(&job).await;

    assert!(done, "finished is not succeeded");
    let order = rig.read("#1001").await;
    assert!(!order.is_cancelled());
    assert_eq!(order.display_financial_status.as_deref(), Some("PAID"));
    assert!(rig.fake.order(SHOP, "#1001").cancellation.is_none());
}

#[tokio::test]
async fn a_job_that_never_finishes_is_never_done_and_the_order_stays_as_it_was() {
    let rig = Rig::start(shop().with_cancel_job(CancelJob::NeverFinishes)).await;

    let job = rig.cancel("#1001").await.unwrap().unwrap().job_id.unwrap();
    let polls = [rig.job_done(&job).await, rig.job_done(&job).await];
    rig.fake.finish_jobs(SHOP);

    assert_eq!(polls, [false, false]);
    assert_eq!(rig.fake.pending_jobs(SHOP), 1);
    assert!(!rig.read("#1001").await.is_cancelled());
}

#[tokio::test]
async fn finishing_jobs_cancels_the_order_without_any_poll() {
    let rig = Rig::start(shop().with_cancel_job(CancelJob::Completes { after_polls: 5 })).await;

    rig.cancel("#1001").await.unwrap().unwrap();
    rig.fake.finish_jobs(SHOP);

    assert!(rig.read("#1001").await.is_cancelled());
    assert_eq!(rig.fake.pending_jobs(SHOP), 0);
}

#[tokio::test]
async fn an_unknown_job_counts_as_done_so_the_order_decides() {
    let rig = Rig::start(shop()).await;

    assert!(rig.job_done("gid://shopify/Job/unknown").await);
}

#[tokio::test]
async fn cancelling_an_order_twice_is_refused_with_shopifys_user_error_and_counted() {
    let rig = Rig::start(shop().with_cancel_job(CancelJob::Completes { after_polls: 0 })).await;

    let first = rig.cancel("#1001").await.unwrap();
    let second = rig.cancel("#1001").await.unwrap();

    let started = first.expect("the first is accepted");
    assert!(started.job_id.is_some());
    let refused = second.expect_err("the second is refused");
    assert_eq!(refused.user_errors[0].code.as_deref(), Some("INVALID"));
    assert_eq!(
        refused.user_errors[0].field.as_deref(),
        Some(&["orderId".to_owned()][..])
    );
    assert_eq!(rig.fake.cancel_calls(SHOP, "#1001"), 2);
    assert_eq!(
        rig.fake
            .order(SHOP, "#1001")
            .cancellation
            .unwrap()
            .refunds
            .len(),
        1,
        "refunded once"
    );
}

#[tokio::test]
async fn a_fulfilled_order_or_a_scripted_refusal_is_refused_by_shopify() {
    let shop = shop().with_order(
        FakeOrder::unfulfilled("#1003", 5, JANE)
            .refusing_cancel("NO_REFUND_PERMISSION", "Not allowed to refund"),
    );
    let rig = Rig::start(shop).await;

    let fulfilled = rig.cancel("#1002").await.unwrap().unwrap_err();
    let scripted = rig.cancel("#1003").await.unwrap().unwrap_err();

    assert_eq!(fulfilled.user_errors[0].code.as_deref(), Some("INVALID"));
    assert_eq!(
        scripted.user_errors[0].code.as_deref(),
        Some("NO_REFUND_PERMISSION")
    );
    assert!(!rig.read("#1002").await.is_cancelled());
    assert!(!rig.read("#1003").await.is_cancelled());
}

#[tokio::test]
async fn without_write_orders_a_cancellation_is_access_denied_and_changes_nothing() {
    let rig = Rig::start(shop().without_scope("write_orders")).await;

    let answer = rig.cancel("#1001").await;

    match answer {
        Err(ShopifyError::AccessDenied { fields }) => assert_eq!(fields, ["orderCancel"]),
        other => panic!("expected ACCESS_DENIED, got {other:?}"),
    }
    assert!(!rig.read("#1001").await.is_cancelled());
    assert_eq!(rig.fake.cancel_calls(SHOP, "#1001"), 0);
}

/// A new address in New York, without a company, an apartment or a phone.
fn new_york() -> NewAddress {
    NewAddress::parse(&serde_json::json!({
        "first_name": "Jane", "last_name": "Doe", "address1": "350 Fifth Avenue",
        "city": "New York", "province_code": "NY", "zip": "10118", "country_code": "US",
    }))
    .unwrap()
}

async fn readdress(
    rig: &Rig,
    name: &str,
) -> Result<Result<(), shared::shopify::address::AddressRefused>, ShopifyError> {
    rig.client
        .update_shipping_address(
            &deadline(),
            &rig.shop,
            &rig.token,
            &rig.fake.order_gid(SHOP, name),
            &new_york(),
        )
        .await
}

#[tokio::test]
async fn an_address_change_replaces_the_whole_address_in_one_request_of_at_most_150_points() {
    let rig = Rig::start(shop()).await;
    rig.fake.update_order(SHOP, "#1001", |o| {
        o.shipping_address.company = Some("Pine Co".into());
        o.shipping_address.address2 = Some("Apt 2".into());
    });

    let answer = readdress(&rig, "#1001").await;

    assert_eq!(answer.unwrap(), Ok(()));
    let address = rig.read("#1001").await.shipping_address.unwrap();
    assert_eq!(address.address1.as_deref(), Some("350 Fifth Avenue"));
    assert_eq!(
        (address.province_code.as_deref(), address.zip.as_deref()),
        (Some("NY"), Some("10118"))
    );
    assert_eq!(
        (address.company, address.address2),
        (None, None),
        "cleared, not kept"
    );
    assert_eq!(rig.fake.address_updates(SHOP, "#1001"), 1);
    let spent: Vec<_> = rig
        .fake
        .spent()
        .into_iter()
        .filter(|s| s.1 == "UpdateShippingAddress")
        .collect();
    assert_eq!(spent.len(), 1);
    assert!(spent[0].2 <= 150.0, "{spent:?}");
}

#[tokio::test]
async fn an_address_shopify_refuses_comes_back_as_its_user_errors_and_changes_nothing() {
    let rig = Rig::start(shop()).await;
    rig.fake.update_order(SHOP, "#1001", |o| {
        *o = o
            .clone()
            .refusing_address_update(&["shippingAddress", "zip"], "Zip is invalid");
    });

    let refused = readdress(&rig, "#1001").await.unwrap().unwrap_err();

    assert!(refused.user_errors[0].about_address());
    assert_eq!(
        rig.read("#1001")
            .await
            .shipping_address
            .unwrap()
            .city
            .as_deref(),
        Some("Portland")
    );
    assert_eq!(rig.fake.address_updates(SHOP, "#1001"), 1);
}

#[tokio::test]
async fn without_write_orders_an_address_change_is_access_denied_and_changes_nothing() {
    let rig = Rig::start(shop().without_scope("write_orders")).await;

    match readdress(&rig, "#1001").await {
        Err(ShopifyError::AccessDenied { fields }) => assert_eq!(fields, ["orderUpdate"]),
        other => panic!("expected ACCESS_DENIED, got {other:?}"),
    }
    assert_eq!(rig.fake.address_updates(SHOP, "#1001"), 0);
}

#[tokio::test]
async fn an_address_change_whose_answer_is_lost_is_not_sent_again_and_the_order_tells_the_outcome()
{
    let mut shop = shop();
    shop.lose_answer("UpdateShippingAddress", Fault::status(503));
    let rig = Rig::start(shop).await;

    let answer = readdress(&rig, "#1001").await;

    assert!(
        matches!(answer, Err(ShopifyError::Server { status: 503 })),
        "{answer:?}"
    );
    assert_eq!(rig.fake.address_updates(SHOP, "#1001"), 1);
    assert_eq!(
        rig.read("#1001")
            .await
            .shipping_address
            .unwrap()
            .city
            .as_deref(),
        Some("New York")
    );
}

#[tokio::test]
async fn a_cancellation_whose_answer_is_lost_is_not_sent_again_and_the_order_tells_the_outcome() {
    let mut shop = shop().with_cancel_job(CancelJob::Completes { after_polls: 0 });
    shop.lose_answer("CancelOrder", Fault::status(503));
    let rig = Rig::start(shop).await;

    let answer = rig.cancel("#1001").await;

    assert!(
        matches!(answer, Err(ShopifyError::Server { status: 503 })),
        "{answer:?}"
    );
    assert_eq!(rig.fake.cancel_calls(SHOP, "#1001"), 1);
    assert!(rig.read("#1001").await.is_cancelled());
}

#[tokio::test]
async fn a_cancellation_that_times_out_is_not_sent_again_and_answers_within_the_deadline() {
    let mut shop = shop();
    shop.lose_answer("CancelOrder", Fault::Hang);
    let rig = Rig::with_timeout(shop, Duration::from_millis(300)).await;
    let started = Instant::now();

    let answer = rig
        .client
        .cancel_order(
            &Deadline::after(Duration::from_secs(5)),
            &rig.shop,
            &rig.token,
            &rig.request("#1001", "conversation c-42"),
        )
        .await;

    assert!(matches!(answer, Err(ShopifyError::Timeout)), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(rig.fake.cancel_calls(SHOP, "#1001"), 1);
    rig.fake.finish_jobs(SHOP);
    assert!(rig.read("#1001").await.is_cancelled());
}

#[tokio::test]
async fn a_throttled_cancellation_is_sent_again_because_shopify_did_not_run_it() {
    let rig = Rig::start(shop()).await;
    rig.fake.push_fault(
        SHOP,
        Fault::Throttled {
            requested: 13.0,
            available: 12.9,
            restore_rate: 100.0,
        },
    );

    let answer = rig.cancel("#1001").await;

    assert!(matches!(answer, Ok(Ok(_))), "{answer:?}");
    assert_eq!(rig.fake.cancel_calls(SHOP, "#1001"), 1);
    let operations: Vec<_> = rig
        .fake
        .received()
        .into_iter()
        .filter_map(|r| r.operation)
        .collect();
    assert_eq!(operations, ["CancelOrder", "CancelOrder"]);
}

#[tokio::test]
async fn a_read_that_hangs_answers_within_the_deadline() {
    let mut shop = shop();
    shop.fail_operation("ActionOrder", Fault::Hang);
    let rig = Rig::with_timeout(shop, Duration::from_millis(300)).await;
    let started = Instant::now();

    let answer = rig
        .client
        .action_order(
            &Deadline::after(Duration::from_millis(800)),
            &rig.shop,
            &rig.token,
            &rig.fake.order_gid(SHOP, "#1001"),
        )
        .await;

    assert!(matches!(answer, Err(ShopifyError::Timeout)), "{answer:?}");
    assert!(started.elapsed() < Duration::from_millis(800) + Duration::from_secs(1));
}

#[tokio::test]
async fn an_authorized_payment_is_voided_and_a_manual_one_is_not_refunded() {
    let shop = shop()
        .with_cancel_job(CancelJob::Completes { after_polls: 0 })
        .with_order(FakeOrder::unfulfilled("#1003", 5, JANE).authorized())
        .with_order(FakeOrder::unfulfilled("#1004", 5, JANE).paid_manually())
        .with_order(
            FakeOrder::unfulfilled("#1005", 5, JANE)
                .total("80.00")
                .with_transactions(&[
                    FakeTransaction::new("SALE", "shopify_payments", "50.00"),
                    FakeTransaction::new("SALE", "gift_card", "30.00"),
                ]),
        );
    let rig = Rig::start(shop).await;

    let read = rig.read("#1004").await;
    for name in ["#1003", "#1004", "#1005"] {
        rig.cancel(name).await.unwrap().unwrap();
    }

    assert!(read.transactions[0].manual_payment_gateway);
    let authorized = rig.fake.order(SHOP, "#1003").cancellation.unwrap();
    assert_eq!(authorized.voided, ["shopify_payments"]);
    assert!(authorized.refunds.is_empty());
    assert_eq!(
        rig.read("#1003").await.display_financial_status.as_deref(),
        Some("VOIDED")
    );
    assert!(rig
        .fake
        .order(SHOP, "#1004")
        .cancellation
        .unwrap()
        .refunds
        .is_empty());
    assert_eq!(
        rig.fake.order(SHOP, "#1005").cancellation.unwrap().refunds,
        [
            ("shopify_payments".to_owned(), "50.00".to_owned()),
            ("gift_card".to_owned(), "30.00".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_long_staff_note_reaches_shopify_cut_to_its_limit() {
    let rig = Rig::start(shop().with_cancel_job(CancelJob::Completes { after_polls: 0 })).await;
    let note = format!("conversation c-42: {}", "é".repeat(400));

    rig.client
        .cancel_order(
            &deadline(),
            &rig.shop,
            &rig.token,
            &rig.request("#1001", &note),
        )
        .await
        .unwrap()
        .unwrap();

    let sent = rig
        .fake
        .order(SHOP, "#1001")
        .cancellation
        .unwrap()
        .staff_note
        .unwrap();
    assert_eq!(sent.chars().count(), STAFF_NOTE_MAX_CHARS);
    assert!(sent.starts_with("conversation c-42: "));
}

#[tokio::test]
async fn withheld_customer_data_leaves_a_read_back_order_without_its_email() {
    let rig = Rig::start(shop().withholding_customer_data(CustomerDataAccess::Denied)).await;

    let order = rig.read("#1001").await;
    let named = rig.named("#1001").await;

    assert_eq!(order.emails().count(), 0);
    assert!(order.shipping_address.is_none());
    assert_eq!(named[0].emails().count(), 0);
    assert_eq!(
        order.fulfillment_orders.len(),
        1,
        "the rest of the answer is used"
    );
}

#[tokio::test]
async fn the_sandbox_places_an_order_a_shopper_can_still_cancel_and_fulfills_it_on_request() {
    let rig = Rig::start(shop()).await;
    let http = tests::http_client();
    let sandbox = |action: &str| format!("{}/_sandbox/{SHOP}/{action}", rig.fake.base_url);

    let placed: serde_json::Value = http
        .post(sandbox("place?email=bob@example.com"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let name = placed["order"].as_str().unwrap().to_owned();
    let fresh = rig.read(&name).await;
    http.post(sandbox(&format!(
        "fulfill?order={}",
        name.replace('#', "%23")
    )))
    .send()
    .await
    .unwrap()
    .error_for_status()
    .unwrap();
    let shipped = rig.read(&name).await;

    assert_eq!(name, "#1003");
    assert_eq!(fresh.emails().collect::<Vec<_>>(), ["bob@example.com"]);
    assert_eq!(fresh.fulfillment_orders[0].status, "OPEN");
    assert!(chrono::Utc::now() - fresh.placed_at().unwrap() < chrono::Duration::minutes(5));
    assert_eq!(shipped.display_fulfillment_status, "FULFILLED");
    assert_eq!(shipped.fulfillment_orders[0].status, "CLOSED");
}

both_backends! {
    async fn a_store_whose_app_lacks_write_orders_is_warned_which_actions_it_blocks(app: TestApp) {
        app.shopify.add_shop(shop().without_scope("write_orders"));

        let (status, body) = app.connect(serde_json::json!({"shop_domain": SHOP, "access_token": TOKEN})).await;

        assert_eq!(status, 201, "{body}");
        let warning = body["warnings"].as_array().unwrap().iter()
            .find(|w| w["code"] == "order_actions_unavailable")
            .unwrap_or_else(|| panic!("no order actions warning: {body}"));
        let message = warning["message"].as_str().unwrap();
        assert!(message.contains("cancel_order needs write_orders"), "{message}");
        assert!(message.contains("update_shipping_address needs write_orders"), "{message}");
    }

    async fn a_store_whose_app_lacks_the_fulfillment_order_scopes_is_warned_which_to_add(app: TestApp) {
        app.shopify.add_shop(
            shop()
                .without_scope("read_merchant_managed_fulfillment_orders")
                .without_scope("read_third_party_fulfillment_orders"),
        );

        let (status, body) = app.connect(serde_json::json!({"shop_domain": SHOP, "access_token": TOKEN})).await;

        assert_eq!(status, 201, "{body}");
        let codes: Vec<_> = body["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["order_actions_unavailable"]);
        let message = body["warnings"][0]["message"].as_str().unwrap();
        assert!(message.contains("cancel_order needs read_merchant_managed_fulfillment_orders, read_third_party_fulfillment_orders"), "{message}");
    }

    async fn a_store_with_every_order_action_scope_gets_no_order_actions_warning(app: TestApp) {
        app.shopify.add_shop(shop());

        let (status, body) = app.connect(serde_json::json!({"shop_domain": SHOP, "access_token": TOKEN})).await;

        assert_eq!(status, 201, "{body}");
        assert_eq!(body["warnings"], serde_json::json!([]));
    }
}
