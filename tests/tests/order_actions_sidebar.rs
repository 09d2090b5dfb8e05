//! The inbox sidebar shows, on each of the contact's orders, the actions that wait for a person
//! (`pending_actions`) and the order's newest action whatever came of it (`last_action`), read
//! from the contact's own actions; a failure to read them never fails the sidebar. On both
//! backends.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shared::actions::repo::{ActionPage, ListFilter, OrderKey, Unsettled};
use shared::actions::{self, ActionRecord, ActionRepository, PendingApprovals};
use shared::domain::{ActionKind, ActionMode, OrganizationId};
use shared::store::{Expect, StoreError};
use shared::Deadline;
use tests::actions::{shopper, ActionRig};
use tests::app::{decode, TestApp};
use tests::events::HttpEvent;
use tests::fake_shopify::{FakeCustomer, FakeOrder, FakeShop};

const JANE: &str = "jane@example.com";
const BOB: &str = "bob@example.com";

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(30))
}

/// demo-us with Jane's #1001 and #1002 and Bob's #1003, cancellation on in approval mode.
async fn setup(app: &TestApp) -> ActionRig {
    tests::actions::setup(
        app,
        FakeShop::new("demo-us")
            .with_order_action_scopes()
            .with_customer(FakeCustomer::new(111, "Jane Doe", JANE))
            .with_customer(FakeCustomer::new(112, "Bob Roe", BOB))
            .with_order(FakeOrder::unfulfilled("#1001", 5, JANE))
            .with_order(FakeOrder::unfulfilled("#1002", 4, JANE))
            .with_order(FakeOrder::unfulfilled("#1003", 3, BOB)),
        ActionMode::Approval,
    )
    .await
}

/// Proposes cancelling `order` for `email`; confirmed (so waiting for a person) when `confirm`.
async fn cancel(app: &TestApp, rig: &ActionRig, email: &str, order: &str, confirm: bool) -> String {
    let conversation = format!("conv-{email}");
    let proposal = actions::propose(
        &rig.ports,
        &deadline(),
        &shopper(&app.org, email, &conversation, false),
        ActionKind::CancelOrder,
        &json!({"order_number": order}),
    )
    .await
    .unwrap();
    if confirm {
        let answer = actions::confirm(
            &rig.ports,
            &deadline(),
            &shopper(&app.org, email, &conversation, true),
            &proposal.proposal_id,
            true,
        )
        .await
        .unwrap();
        assert_eq!(answer.status, "pending_approval");
    }
    proposal.proposal_id
}

async fn sidebar(app: &TestApp, pending: PendingApprovals, email: &str) -> (u16, Value) {
    let state = contact_metadata::State::new(app.services.clone()).with_pending(pending);
    let event = HttpEvent::new("GET", "/shopify/contact-metadata")
        .claims(&[("org_id", app.org.as_str()), ("role", "agent")])
        .query("email", email);
    decode(
        contact_metadata::handle(&state, event.into_request())
            .await
            .expect("handlers answer"),
    )
}

fn order<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["stores"][0]["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {body}"))
}

fn pending(rig: &ActionRig) -> PendingApprovals {
    PendingApprovals {
        // The adapter itself (memory or DynamoDB), not the rig's fault-injecting wrapper.
        actions: rig.repo.inner.clone(),
        approval_ttl: Duration::from_secs(48 * 3600),
    }
}

/// A repository that is down.
struct Down;

fn down() -> StoreError {
    StoreError::Unavailable(Box::new(std::io::Error::other("injected fault")))
}

#[async_trait]
impl ActionRepository for Down {
    async fn get(&self, _: &OrganizationId, _: &str) -> Result<Option<ActionRecord>, StoreError> {
        Err(down())
    }
    async fn put(&self, _: &ActionRecord, _: Expect) -> Result<(), StoreError> {
        Err(down())
    }
    async fn list(
        &self,
        _: &OrganizationId,
        _: &ListFilter,
        _: Option<&str>,
        _: usize,
    ) -> Result<ActionPage, StoreError> {
        Err(down())
    }
    async fn of_contact(
        &self,
        _: &OrganizationId,
        _: &str,
        _: usize,
    ) -> Result<Vec<ActionRecord>, StoreError> {
        Err(down())
    }
    async fn swap_open(
        &self,
        _: &OrderKey,
        _: ActionKind,
        _: &str,
    ) -> Result<Option<String>, StoreError> {
        Err(down())
    }
    async fn lock_order(
        &self,
        _: &OrderKey,
        _: &str,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Err(down())
    }
    async fn unlock_order(&self, _: &OrderKey, _: &str) -> Result<(), StoreError> {
        Err(down())
    }
    async fn mark_unsettled(&self, _: &OrganizationId, _: &str) -> Result<(), StoreError> {
        Err(down())
    }
    async fn clear_unsettled(&self, _: &OrganizationId, _: &str) -> Result<(), StoreError> {
        Err(down())
    }
    async fn unsettled(
        &self,
        _: Option<&str>,
        _: usize,
    ) -> Result<(Vec<Unsettled>, Option<String>), StoreError> {
        Err(down())
    }

    async fn settle_resume(&self) -> Result<Option<String>, StoreError> {
        Err(down())
    }

    async fn set_settle_resume(&self, _: Option<&str>) -> Result<(), StoreError> {
        Err(down())
    }
}

both_backends! {
    async fn the_sidebar_shows_the_contacts_pending_approvals_on_their_orders(app: TestApp) {
        let rig = setup(&app).await;
        let waiting = cancel(&app, &rig, JANE, "#1001", true).await;
        cancel(&app, &rig, JANE, "#1002", false).await;
        cancel(&app, &rig, BOB, "#1003", true).await;

        let (status, body) = sidebar(&app, pending(&rig), "Jane@Example.com").await;

        assert_eq!(status, 200, "{body}");
        let shown = &order(&body, "#1001")["pending_actions"];
        assert_eq!(shown.as_array().unwrap().len(), 1, "{shown}");
        assert_eq!(shown[0]["action_id"], waiting);
        assert_eq!(shown[0]["action"], "cancel_order");
        assert_eq!(shown[0]["status"], "pending_approval");
        assert!(shown[0]["summary"].as_str().unwrap().starts_with("Nothing has changed yet"), "{shown}");
        assert!(shown[0]["created_at"].is_string());
        assert_eq!(order(&body, "#1002")["pending_actions"], json!([]), "a proposal waits for the shopper, not a person");
        let (_, bob) = sidebar(&app, pending(&rig), BOB).await;
        assert_eq!(order(&bob, "#1003")["pending_actions"].as_array().unwrap().len(), 1);
        assert_eq!(order(&bob, "#1003")["pending_actions"][0]["action_id"].as_str().map(|id| id == waiting), Some(false));

        // Approved, it is no longer pending.
        let org = OrganizationId::parse(&app.org).unwrap();
        actions::approve(&rig.ports, &deadline(), &org, "agent-1", &waiting).await.unwrap();
        let (_, after) = sidebar(&app, pending(&rig), JANE).await;
        assert_eq!(order(&after, "#1001")["pending_actions"], json!([]));
    }

    async fn another_orgs_pending_approvals_never_reach_the_sidebar(app: TestApp) {
        let rig = setup(&app).await;
        cancel(&app, &rig, JANE, "#1001", true).await;
        let other = OrganizationId::parse(&app.other_org()).unwrap();

        let found = pending(&rig).of_contact(&deadline(), &other, JANE).await;

        assert!(found.is_empty(), "{found:?}");
    }

    async fn a_failed_read_of_pending_approvals_leaves_them_empty_and_the_sidebar_whole(app: TestApp) {
        let rig = setup(&app).await;
        cancel(&app, &rig, JANE, "#1001", true).await;

        let (status, body) = sidebar(&app, PendingApprovals { actions: Arc::new(Down), approval_ttl: Duration::from_secs(3600) }, JANE).await;

        assert_eq!(status, 200, "{body}");
        assert_eq!(body["stores"][0]["status"], "found");
        assert_eq!(order(&body, "#1001")["pending_actions"], json!([]));
    }

    async fn each_order_shows_its_last_action_whatever_came_of_it(app: TestApp) {
        let rig = setup(&app).await;
        let first = cancel(&app, &rig, JANE, "#1001", true).await;
        let org = OrganizationId::parse(&app.org).unwrap();
        actions::decline(&rig.ports, &deadline(), &org, "agent-7", &first).await.unwrap();
        let second = cancel(&app, &rig, JANE, "#1001", true).await;
        let proposed = cancel(&app, &rig, JANE, "#1002", false).await;

        let (status, body) = sidebar(&app, pending(&rig), JANE).await;

        assert_eq!(status, 200, "{body}");
        let last = &order(&body, "#1001")["last_action"];
        assert_eq!(last["action_id"], second, "the newest of the order's actions: {last}");
        assert_eq!(last["action"], "cancel_order");
        assert_eq!(last["status"], "pending_approval");
        assert_eq!(last["actor"], "ai");
        assert!(last["summary"].as_str().is_some_and(|s| !s.is_empty()), "{last}");
        assert!(last["created_at"].is_string() && last["updated_at"].is_string(), "{last}");
        let pending_ids: Vec<_> = order(&body, "#1001")["pending_actions"].as_array().unwrap().iter().map(|p| p["action_id"].clone()).collect();
        assert_eq!(pending_ids, [json!(second)], "the declined one is not pending");
        assert_eq!(order(&body, "#1002")["last_action"]["action_id"], proposed);
        assert_eq!(order(&body, "#1002")["last_action"]["status"], "proposed");

        // Declined, the order's last action says so, with who declined it.
        actions::decline(&rig.ports, &deadline(), &org, "agent-7", &second).await.unwrap();
        let (_, after) = sidebar(&app, pending(&rig), JANE).await;
        assert_eq!(order(&after, "#1001")["last_action"]["status"], "declined");
        assert_eq!(order(&after, "#1001")["last_action"]["actor"], "agent-7");
        assert_eq!(order(&after, "#1001")["pending_actions"], json!([]));
    }

    async fn an_order_without_actions_has_no_last_action_and_other_contacts_actions_stay_theirs(app: TestApp) {
        let rig = setup(&app).await;
        cancel(&app, &rig, BOB, "#1003", true).await;

        let (_, jane) = sidebar(&app, pending(&rig), JANE).await;
        let (_, bob) = sidebar(&app, pending(&rig), BOB).await;

        assert_eq!(order(&jane, "#1001")["last_action"], Value::Null);
        assert_eq!(order(&bob, "#1003")["last_action"]["status"], "pending_approval");
        let theirs = pending(&rig).of_contact(&deadline(), &OrganizationId::parse(&app.org).unwrap(), JANE).await;
        assert!(theirs.is_empty(), "Jane sees none of Bob's actions: {theirs:?}");
    }
}

/// A proposal whose record was never written (the invocation stopped between the contact's
/// entry and the record) reads as nothing; the contact's other actions still show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_entry_without_its_record_reads_as_nothing() {
    needs_moto!();
    let app = TestApp::spawn(tests::app::Backend::Moto).await;
    let rig = setup(&app).await;
    let kept = cancel(&app, &rig, JANE, "#1001", true).await;
    let lost = cancel(&app, &rig, JANE, "#1002", true).await;
    let aws = app.aws.as_ref().unwrap();
    aws.dynamo
        .delete_item()
        .table_name(rig.table.as_deref().unwrap())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ORG#{}#ACTIONS", app.org)),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ACTION#{lost}")),
        )
        .send()
        .await
        .unwrap();

    let (status, body) = sidebar(&app, pending(&rig), JANE).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(order(&body, "#1001")["last_action"]["action_id"], kept);
    assert_eq!(order(&body, "#1002")["last_action"], Value::Null);
    assert_eq!(order(&body, "#1002")["pending_actions"], json!([]));
}
