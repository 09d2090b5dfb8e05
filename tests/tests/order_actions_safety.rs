//! Order actions' safety under faults: one action per order while one is unsettled, the order
//! held before it is read, approvals that cannot start, time to send, errors that mean "not
//! sent", a lost answer to our own write, orders too large to vouch for, the record's
//! retention, the list's effective statuses and cursor, and a policy turned to `simulate`.
//! Every scenario runs in memory and on moto (records in DynamoDB).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use shared::actions::record::{new_action_id, ActionRecord};
use shared::actions::repo::{ActionPage, ListFilter, OrderKey, Unsettled};
use shared::actions::{self, ActionFailure, ActionPorts, ActionRepository};
use shared::domain::{ActionKind, ActionMode, ActionStatus, OrganizationId};
use shared::store::{Expect, StoreError};
use shared::Code;
use tests::actions::{
    deadline, enable, setup, shopper, us_shop, ActionRig, CONVERSATION, JANE, US,
};
use tests::app::TestApp;
use tests::fake_shopify::{CancelJob, FakeOrder, FakeShop, FakeTransaction, Fault};
use tokio::sync::Notify;

fn org(app: &TestApp) -> OrganizationId {
    OrganizationId::parse(&app.org).unwrap()
}

async fn propose(
    app: &TestApp,
    ports: &ActionPorts,
    order: &str,
) -> Result<actions::ActionAnswer, ActionFailure> {
    actions::propose(
        ports,
        &deadline(),
        &shopper(&app.org, JANE, CONVERSATION, false),
        ActionKind::CancelOrder,
        &json!({"order_number": order}),
    )
    .await
}

async fn confirm(
    app: &TestApp,
    ports: &ActionPorts,
    id: &str,
) -> Result<actions::ActionAnswer, ActionFailure> {
    actions::confirm(
        ports,
        &deadline(),
        &shopper(&app.org, JANE, CONVERSATION, true),
        id,
        true,
    )
    .await
}

fn reason(failure: &ActionFailure) -> &str {
    failure.details.as_ref().unwrap()["reason"]
        .as_str()
        .unwrap()
}

async fn record(app: &TestApp, rig: &ActionRig, id: &str) -> ActionRecord {
    rig.ports
        .actions
        .get(&org(app), id)
        .await
        .unwrap()
        .expect("the record")
}

/// A second proposal of the same order stored beside `id`'s (as a crash before the
/// open-proposal swap leaves one), still confirmable.
async fn second_proposal(app: &TestApp, rig: &ActionRig, id: &str) -> String {
    let mut copy = record(app, rig, id).await;
    rig.clock.advance(chrono::Duration::milliseconds(5));
    copy.action_id = new_action_id(rig.clock.now());
    copy.status = ActionStatus::Proposed;
    copy.outbox.clear();
    copy.version = 1;
    rig.ports.actions.put(&copy, Expect::Absent).await.unwrap();
    copy.action_id
}

/// Ports whose order-action budget is `budget`.
fn with_budget(rig: &ActionRig, budget: Duration) -> ActionPorts {
    let mut ports = rig.ports.clone();
    ports.config.budget = budget;
    ports
}

/// `ports` with an order-action budget of `budget`.
fn with_budget_of(mut ports: ActionPorts, budget: Duration) -> ActionPorts {
    ports.config.budget = budget;
    ports
}

/// Ports whose action repository is `repo`.
fn with_repo(rig: &ActionRig, repo: Arc<dyn ActionRepository>) -> ActionPorts {
    let mut ports = rig.ports.clone();
    ports.actions = repo;
    ports
}

/// Delegates to `inner`, except: the first `lock_order` for `gated` waits for `release`
/// (after telling `arrived`), and the first put of an `executing` record, with
/// `echo_conflict`, is applied and then answered with a conflict (its answer lost, its SDK
/// retry failing its condition); with `echo_unavailable`, applied and answered with an error.
/// With `fail_unlock`, the next `unlock_order` fails.
/// With `hold_until`, the order's hold (the lock taken for longer than a lease, before the
/// mutation) is answered only at that instant.
struct Scripted {
    inner: Arc<dyn ActionRepository>,
    gated: Mutex<Option<String>>,
    arrived: Notify,
    release: Notify,
    echo_conflict: AtomicBool,
    echo_unavailable: AtomicBool,
    fail_unlock: AtomicBool,
    hold_until: Mutex<Option<tokio::time::Instant>>,
}

impl Scripted {
    fn over(inner: Arc<dyn ActionRepository>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            gated: Mutex::new(None),
            arrived: Notify::new(),
            release: Notify::new(),
            echo_conflict: AtomicBool::new(false),
            echo_unavailable: AtomicBool::new(false),
            fail_unlock: AtomicBool::new(false),
            hold_until: Mutex::new(None),
        })
    }
}

#[async_trait]
impl ActionRepository for Scripted {
    async fn get(
        &self,
        org: &OrganizationId,
        id: &str,
    ) -> Result<Option<ActionRecord>, StoreError> {
        self.inner.get(org, id).await
    }
    async fn put(&self, record: &ActionRecord, expect: Expect) -> Result<(), StoreError> {
        if record.status == ActionStatus::Executing
            && self.echo_conflict.swap(false, Ordering::SeqCst)
        {
            self.inner.put(record, expect).await?;
            return Err(StoreError::Conflict);
        }
        if record.status == ActionStatus::Executing
            && self.echo_unavailable.swap(false, Ordering::SeqCst)
        {
            self.inner.put(record, expect).await?;
            return Err(StoreError::Unavailable(
                "injected: the answer was lost".into(),
            ));
        }
        self.inner.put(record, expect).await
    }
    async fn of_contact(
        &self,
        org: &OrganizationId,
        contact_email: &str,
        limit: usize,
    ) -> Result<Vec<ActionRecord>, StoreError> {
        self.inner.of_contact(org, contact_email, limit).await
    }
    async fn list(
        &self,
        org: &OrganizationId,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ActionPage, StoreError> {
        self.inner.list(org, filter, cursor, limit).await
    }
    async fn swap_open(
        &self,
        order: &OrderKey,
        kind: ActionKind,
        id: &str,
    ) -> Result<Option<String>, StoreError> {
        self.inner.swap_open(order, kind, id).await
    }
    async fn lock_order(
        &self,
        order: &OrderKey,
        id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let gate = {
            let mut gated = self.gated.lock().unwrap();
            if gated.as_deref() == Some(id) {
                gated.take()
            } else {
                None
            }
        };
        if gate.is_some() {
            self.arrived.notify_one();
            self.release.notified().await;
        }
        let hold = until - now > chrono::Duration::hours(1);
        let answer_at = *self.hold_until.lock().unwrap();
        if let Some(at) = answer_at.filter(|_| hold) {
            tokio::time::sleep_until(at).await;
        }
        self.inner.lock_order(order, id, until, now).await
    }
    async fn unlock_order(&self, order: &OrderKey, id: &str) -> Result<(), StoreError> {
        if self.fail_unlock.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Unavailable("injected: unlock failed".into()));
        }
        self.inner.unlock_order(order, id).await
    }
    async fn release_lease(
        &self,
        order: &OrderKey,
        id: &str,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.release_lease(order, id, until).await
    }
    async fn mark_unsettled(&self, org: &OrganizationId, id: &str) -> Result<(), StoreError> {
        self.inner.mark_unsettled(org, id).await
    }
    async fn clear_unsettled(&self, org: &OrganizationId, id: &str) -> Result<(), StoreError> {
        self.inner.clear_unsettled(org, id).await
    }
    async fn unsettled(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Unsettled>, Option<String>), StoreError> {
        self.inner.unsettled(cursor, limit).await
    }

    async fn settle_resume(&self) -> Result<Option<String>, StoreError> {
        self.inner.settle_resume().await
    }

    async fn set_settle_resume(&self, position: Option<&str>) -> Result<(), StoreError> {
        self.inner.set_settle_resume(position).await
    }
}

/// Ports whose settle schedule gives each action at most `each`.
fn settling_each(rig: &ActionRig, each: Duration) -> ActionPorts {
    let mut ports = rig.ports.clone();
    ports.config.settle_each = each;
    ports
}

/// Connects demo-uk (orders `UK-…`, each Jane's) beside demo-us.
async fn connect_uk(app: &TestApp, orders: &[&str]) {
    let mut shop = FakeShop::new("demo-uk")
        .with_prefix("UK-")
        .with_order_action_scopes()
        .with_token(tests::actions::TOKEN);
    for name in orders {
        shop = shop.with_order(FakeOrder::unfulfilled(name, 5, JANE));
    }
    app.shopify.add_shop(shop);
    let (status, body) = app
        .connect(json!({"shop_domain": "demo-uk", "access_token": tests::actions::TOKEN}))
        .await;
    assert_eq!(status, 201, "{body}");
}

/// A cancellation of `name` whose mutation was sent and whose outcome was not recorded (left
/// `executing` for the schedule), proposed a moment after the ones before it.
async fn left_executing(app: &TestApp, rig: &ActionRig, name: &str) -> String {
    rig.clock.advance(chrono::Duration::milliseconds(5));
    let proposal = propose(app, &rig.ports, name).await.unwrap();
    rig.repo.fail_next(ActionStatus::Done);
    let answered = confirm(app, &rig.ports, &proposal.proposal_id)
        .await
        .unwrap();
    assert_eq!(answered.status, "in_progress", "{name}");
    proposal.proposal_id
}

/// demo-uk accepts every read and never answers.
fn hang_uk(app: &TestApp) {
    app.shopify.update_shop(UK, |s| {
        for operation in ["ActionJob", "ActionOrder", "OrderTimeline"] {
            s.fail_operation(operation, Fault::Hang);
        }
    });
}

const UK: &str = "demo-uk.myshopify.com";

/// An event bus that accepts every event and never answers.
struct SilentBus;

#[async_trait]
impl shared::events::EventPublisher for SilentBus {
    async fn knowledge_synced(
        &self,
        _: &shared::events::SyncedEvent,
    ) -> Result<(), shared::events::EventError> {
        std::future::pending().await
    }
    async fn store_status_changed(
        &self,
        _: &shared::events::StatusChanged,
    ) -> Result<(), shared::events::EventError> {
        std::future::pending().await
    }
    async fn order_action(
        &self,
        _: &shared::events::OrderActionEvent,
    ) -> Result<(), shared::events::EventError> {
        std::future::pending().await
    }
}

both_backends! {
    async fn no_second_cancellation_is_proposed_or_sent_while_a_slow_one_is_in_progress(app: TestApp) {
        let shop = us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)).with_cancel_job(CancelJob::Completes { after_polls: 1000 });
        let rig = setup(&app, shop, ActionMode::Live).await;
        let first = propose(&app, &rig.ports, "#1001").await.unwrap();
        let second = second_proposal(&app, &rig, &first.proposal_id).await;

        let answered = confirm(&app, &with_budget(&rig, Duration::from_secs(4)), &first.proposal_id).await.unwrap();
        assert_eq!(answered.status, "in_progress");
        let refused = confirm(&app, &rig.ports, &second).await.unwrap_err();
        let proposed = propose(&app, &rig.ports, "#1001").await.unwrap_err();

        assert_eq!(refused.code, Code::ActionNotAllowed);
        assert_eq!(reason(&refused), "action_in_progress");
        assert_eq!(reason(&proposed), "action_in_progress");
        assert_eq!(record(&app, &rig, &second).await.status, ActionStatus::Proposed);
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1);
        app.shopify.finish_jobs(US);
        actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();
        assert_eq!(record(&app, &rig, &first.proposal_id).await.status, ActionStatus::Done);
        let after = propose(&app, &rig.ports, "#1001").await.unwrap_err();
        assert_eq!(reason(&after), "already_cancelled", "the settled action released the order");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1);
    }

    async fn no_second_cancellation_is_sent_while_a_lost_answer_is_unsettled(app: TestApp) {
        let mut shop = us_shop(FakeOrder::unfulfilled("#1001", 5, JANE));
        shop.lose_answer("CancelOrder", Fault::Status { status: 502, retry_after: None });
        let rig = setup(&app, shop, ActionMode::Live).await;
        let first = propose(&app, &rig.ports, "#1001").await.unwrap();
        let second = second_proposal(&app, &rig, &first.proposal_id).await;

        let answered = confirm(&app, &rig.ports, &first.proposal_id).await.unwrap();
        assert_eq!(answered.status, "in_progress");
        let refused = confirm(&app, &rig.ports, &second).await.unwrap_err();
        let proposed = propose(&app, &rig.ports, "#1001").await.unwrap_err();

        assert_eq!(reason(&refused), "action_in_progress");
        assert_eq!(reason(&proposed), "action_in_progress");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1);
    }

    async fn an_older_pending_approval_is_not_sent_while_another_cancellation_is_in_progress(app: TestApp) {
        let shop = us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)).with_cancel_job(CancelJob::Completes { after_polls: 1000 });
        let rig = setup(&app, shop, ActionMode::Approval).await;
        let older = propose(&app, &rig.ports, "#1001").await.unwrap();
        assert_eq!(confirm(&app, &rig.ports, &older.proposal_id).await.unwrap().status, "pending_approval");
        enable(&app, ActionMode::Live, None).await;
        let newer = propose(&app, &rig.ports, "#1001").await.unwrap();
        let answered = confirm(&app, &with_budget(&rig, Duration::from_secs(4)), &newer.proposal_id).await.unwrap();
        assert_eq!(answered.status, "in_progress");

        let refused = actions::approve(&rig.ports, &deadline(), &org(&app), "rep-1", &older.proposal_id).await.unwrap_err();

        assert_eq!(reason(&refused), "action_in_progress");
        assert_eq!(record(&app, &rig, &older.proposal_id).await.status, ActionStatus::PendingApproval);
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1);
    }

    async fn a_confirmation_reads_the_order_only_once_it_holds_it(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let first = propose(&app, &rig.ports, "#1001").await.unwrap();
        let second = second_proposal(&app, &rig, &first.proposal_id).await;
        let scripted = Scripted::over(rig.ports.actions.clone());
        *scripted.gated.lock().unwrap() = Some(second.clone());
        let gated_ports = with_repo(&rig, scripted.clone());
        let later = tokio::spawn({
            let inv = shopper(&app.org, JANE, CONVERSATION, true);
            let second = second.clone();
            async move { actions::confirm(&gated_ports, &deadline(), &inv, &second, true).await }
        });
        scripted.arrived.notified().await;

        let done = confirm(&app, &rig.ports, &first.proposal_id).await.unwrap();
        scripted.release.notify_one();
        let refused = later.await.unwrap().unwrap_err();

        assert_eq!(done.status, "done");
        assert_eq!(reason(&refused), "already_cancelled", "read after the first one finished");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1);
    }

    async fn an_approval_refused_by_the_order_lock_stays_pending(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Approval).await;
        let proposal = propose(&app, &rig.ports, "#1001").await.unwrap();
        assert_eq!(confirm(&app, &rig.ports, &proposal.proposal_id).await.unwrap().status, "pending_approval");
        let key = OrderKey::of(&record(&app, &rig, &proposal.proposal_id).await);
        let now = rig.clock.now();
        assert!(rig.ports.actions.lock_order(&key, "another-action", now + chrono::Duration::hours(1), now).await.unwrap());

        let refused = actions::approve(&rig.ports, &deadline(), &org(&app), "rep-1", &proposal.proposal_id).await.unwrap_err();

        assert_eq!(reason(&refused), "action_in_progress");
        assert_eq!(record(&app, &rig, &proposal.proposal_id).await.status, ActionStatus::PendingApproval);
        assert_eq!(reason(&propose(&app, &rig.ports, "#1001").await.unwrap_err()), "action_in_progress");
        rig.ports.actions.unlock_order(&key, "another-action").await.unwrap();
        let approved = actions::approve(&rig.ports, &deadline(), &org(&app), "rep-1", &proposal.proposal_id).await.unwrap();
        assert_eq!(approved.status, ActionStatus::Done);
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1);
    }

    async fn a_cancellation_is_not_sent_when_the_order_read_left_too_little_time(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let proposal = propose(&app, &rig.ports, "#1001").await.unwrap();
        app.shopify.update_shop(US, |s| s.fail_operation("ActionOrder", Fault::Delay(Duration::from_millis(7400))));

        let refused = confirm(&app, &with_budget(&rig, Duration::from_secs(10)), &proposal.proposal_id).await.unwrap_err();

        assert_eq!(refused.code, Code::ShopifyUnavailable);
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 0);
        assert_eq!(record(&app, &rig, &proposal.proposal_id).await.status, ActionStatus::Proposed);
    }

    async fn a_cancellation_shopify_refused_to_run_fails_at_once_as_not_sent(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let proposal = propose(&app, &rig.ports, "#1001").await.unwrap();
        app.shopify.update_shop(US, |s| s.fail_operation("CancelOrder", Fault::status(423)));

        let answered = confirm(&app, &rig.ports, &proposal.proposal_id).await.unwrap();

        assert_eq!(answered.status, "failed");
        assert_eq!(answered.details.unwrap()["reason"], "not_sent");
        assert_eq!(record(&app, &rig, &proposal.proposal_id).await.status, ActionStatus::Failed);
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 0);
        assert_eq!(propose(&app, &rig.ports, "#1001").await.unwrap().status, "confirmation_required", "the order is free again");
    }

    async fn a_store_that_does_not_answer_holds_the_settle_run_for_its_share_only(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        connect_uk(&app, &["UK-2001"]).await;
        let stuck = left_executing(&app, &rig, "UK-2001").await;
        let behind = left_executing(&app, &rig, "#1001").await;
        hang_uk(&app);
        rig.clock.advance(chrono::Duration::minutes(3));

        // 6 s after the answer margin; each action 1 s of it.
        let run = shared::Deadline::after(Duration::from_secs(7));
        let report = actions::settle_unsettled(&settling_each(&rig, Duration::from_secs(1)), &run).await.unwrap();

        assert_eq!((report.visited, report.settled), (2, 1), "{report:?}");
        assert_eq!(record(&app, &rig, &behind).await.status, ActionStatus::Done, "the action behind the stuck store is settled");
        assert_eq!(record(&app, &rig, &stuck).await.status, ActionStatus::InProgress, "read back as far as it could be");
    }

    async fn settle_runs_that_run_out_of_time_go_on_where_the_last_one_stopped(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let uk = ["UK-2001", "UK-2002", "UK-2003"];
        connect_uk(&app, &uk).await;
        let mut stuck = Vec::new();
        for name in uk {
            stuck.push(left_executing(&app, &rig, name).await);
        }
        let behind = left_executing(&app, &rig, "#1001").await;
        hang_uk(&app);
        rig.clock.advance(chrono::Duration::minutes(3));
        let ports = settling_each(&rig, Duration::from_secs(1));

        // 4.5 s after the answer margin: one stuck action's second leaves less than the
        // schedule's reserve, so a run looks at one action.
        let mut reports = Vec::new();
        for _ in 0..4 {
            let run = shared::Deadline::after(Duration::from_millis(5500));
            reports.push(actions::settle_unsettled(&ports, &run).await.unwrap());
        }

        assert!(reports[..3].iter().all(|r| r.visited == 1), "{reports:?}");
        assert_eq!(record(&app, &rig, &behind).await.status, ActionStatus::Done, "{reports:?}");
        for id in &stuck {
            assert_eq!(record(&app, &rig, id).await.status, ActionStatus::InProgress);
        }
        let round = actions::settle_unsettled(&ports, &deadline()).await.unwrap();
        assert_eq!((round.visited, round.settled, round.more), (3, 0, false), "a run with time looks at each mark once: {round:?}");
    }

    async fn a_settle_run_whose_last_action_hangs_still_records_where_it_stopped(app: TestApp) {
        let shop = us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)).with_order(FakeOrder::unfulfilled("#1002", 5, JANE));
        let rig = setup(&app, shop, ActionMode::Live).await;
        left_executing(&app, &rig, "#1001").await;
        left_executing(&app, &rig, "#1002").await;
        rig.clock.advance(chrono::Duration::minutes(3));
        // The bus accepts the announcement of the first action's outcome and never answers;
        // each action may take far longer than the run has.
        let mut ports = settling_each(&rig, Duration::from_secs(60));
        ports.events = Some(Arc::new(SilentBus));

        let run = shared::Deadline::after(Duration::from_millis(5500));
        let report = actions::settle_unsettled(&ports, &run).await.unwrap();

        assert_eq!((report.visited, report.more), (1, true), "{report:?}");
        assert!(rig.ports.actions.settle_resume().await.unwrap().is_some(), "the next run starts after the action that hung");
    }

    async fn an_order_an_ended_action_could_not_let_go_is_let_go_by_the_schedule(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let proposal = propose(&app, &rig.ports, "#1001").await.unwrap();
        app.shopify.update_shop(US, |s| s.fail_operation("CancelOrder", Fault::status(423)));
        let scripted = Scripted::over(rig.ports.actions.clone());
        scripted.fail_unlock.store(true, Ordering::SeqCst);

        let answered = confirm(&app, &with_repo(&rig, scripted.clone()), &proposal.proposal_id).await.unwrap();

        assert!(!scripted.fail_unlock.load(Ordering::SeqCst), "the fault was served");
        assert_eq!(answered.status, "failed");
        let held = propose(&app, &rig.ports, "#1001").await.unwrap_err();
        assert_eq!(reason(&held), "action_in_progress", "the order is still held: {held:?}");

        let report = actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();

        assert_eq!(report.settled, 1, "{report:?}");
        assert_eq!(propose(&app, &rig.ports, "#1001").await.unwrap().status, "confirmation_required", "the order is free again");
    }

    async fn a_confirmation_recognizes_its_own_executing_write_whose_answer_was_lost(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let proposal = propose(&app, &rig.ports, "#1001").await.unwrap();
        let scripted = Scripted::over(rig.ports.actions.clone());
        scripted.echo_conflict.store(true, Ordering::SeqCst);

        let answered = confirm(&app, &with_repo(&rig, scripted.clone()), &proposal.proposal_id).await.unwrap();

        assert!(!scripted.echo_conflict.load(Ordering::SeqCst), "the fault was served");
        assert_eq!(answered.status, "done");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1);
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "done"]);
    }

    async fn an_executing_write_whose_answer_was_an_error_ends_as_not_sent(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let proposal = propose(&app, &rig.ports, "#1001").await.unwrap();
        let scripted = Scripted::over(rig.ports.actions.clone());
        scripted.echo_unavailable.store(true, Ordering::SeqCst);

        let answered = confirm(&app, &with_repo(&rig, scripted.clone()), &proposal.proposal_id).await.unwrap();

        assert!(!scripted.echo_unavailable.load(Ordering::SeqCst), "the fault was served");
        assert_eq!((answered.status.as_str(), answered.details.clone()), ("failed", Some(json!({"reason": "not_sent"}))), "{answered:?}");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 0);
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "failed"], "not left executing for the schedule");
        let again = propose(&app, &rig.ports, "#1001").await.unwrap();
        assert_eq!(again.status, "confirmation_required", "the shopper can ask again");
    }

    async fn an_order_with_more_items_or_payments_than_read_is_refused(app: TestApp) {
        let mut many_items = FakeOrder::unfulfilled("#1001", 5, JANE);
        many_items.line_items = (0..21).map(|i| (format!("Item {i}"), None, 1)).collect();
        let payments: Vec<FakeTransaction> = (0..6).map(|_| FakeTransaction::new("SALE", "shopify_payments", "5.00")).collect();
        let many_payments = FakeOrder::unfulfilled("#1002", 5, JANE).with_transactions(&payments);
        let rig = setup(&app, us_shop(many_items).with_order(many_payments), ActionMode::Live).await;

        for name in ["#1001", "#1002"] {
            let refused = propose(&app, &rig.ports, name).await.unwrap_err();
            assert_eq!(refused.code, Code::ActionNotAllowed, "{name}");
            assert_eq!(reason(&refused), "too_many_items", "{name}");
            assert_eq!(app.shopify.cancel_calls(US, name), 0);
        }
    }

    async fn an_expired_pending_approval_is_kept_on_the_record_for_400_days(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Approval).await;
        let proposal = propose(&app, &rig.ports, "#1001").await.unwrap();
        assert_eq!(confirm(&app, &rig.ports, &proposal.proposal_id).await.unwrap().status, "pending_approval");
        rig.clock.advance(chrono::Duration::hours(49));

        actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();

        let expired = record(&app, &rig, &proposal.proposal_id).await;
        assert_eq!(expired.status, ActionStatus::Expired);
        assert!(expired.keep_until() >= expired.created_at + chrono::Duration::days(400), "{}", expired.keep_until());
    }

    async fn the_list_filters_on_the_status_a_reader_sees_and_refuses_an_oversized_cursor(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Live).await;
        let proposal = propose(&app, &rig.ports, "#1001").await.unwrap();
        rig.clock.advance(chrono::Duration::minutes(11));
        let list = |status| {
            let filter = ListFilter { status: Some(status), ..Default::default() };
            let ports = rig.ports.clone();
            let org = org(&app);
            async move { actions::list(&ports, &deadline(), &org, &filter, None).await.unwrap() }
        };

        let expired = list(ActionStatus::Expired).await;
        let proposed = list(ActionStatus::Proposed).await;

        assert_eq!(expired.actions.len(), 1);
        assert_eq!(expired.actions[0].action_id, proposal.proposal_id);
        assert!(proposed.actions.is_empty());
        let oversized = "a".repeat(10_000);
        let refused = actions::list(&rig.ports, &deadline(), &org(&app), &ListFilter::default(), Some(&oversized)).await.unwrap_err();
        assert_eq!(refused.code, Code::InvalidRequest);
    }

    async fn an_approval_after_the_policy_turned_to_simulate_is_simulated(app: TestApp) {
        let rig = setup(&app, us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)), ActionMode::Approval).await;
        let proposal = propose(&app, &rig.ports, "#1001").await.unwrap();
        assert_eq!(confirm(&app, &rig.ports, &proposal.proposal_id).await.unwrap().status, "pending_approval");
        enable(&app, ActionMode::Simulate, None).await;

        let approved = actions::approve(&rig.ports, &deadline(), &org(&app), "rep-1", &proposal.proposal_id).await.unwrap();

        assert_eq!(approved.status, ActionStatus::Simulated);
        assert!(approved.summary.starts_with(actions::execute::SIMULATED_PREFIX), "{}", approved.summary);
        assert_eq!(approved.actor, "rep-1");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 0);
        assert!(app.shopify.order(US, "#1001").cancelled_at.is_none());
    }
}

/// Timed by the clock (the hold answered with 1.2 s of a 6 s budget left), so on the in-memory
/// tier alone: what it proves is the confirmation's own check, and a busy machine's slower
/// DynamoDB calls after the check must not decide it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_is_not_sent_when_the_writes_before_it_left_too_little_time() {
    let app = TestApp::spawn(tests::app::Backend::Memory).await;
    let rig = setup(
        &app,
        us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)),
        ActionMode::Live,
    )
    .await;
    let proposal = propose(&app, &rig.ports, "#1001").await.unwrap();
    app.shopify.update_shop(US, |s| {
        s.fail_operation("CancelOrder", Fault::Delay(Duration::from_secs(3)))
    });
    let scripted = Scripted::over(rig.ports.actions.clone());
    // A 6 s budget; the hold is answered with 1.2 s of it left, so the Shopify calls'
    // part (all but a third of that, kept for the writes) is under MUTATION_TIME.
    let ports = with_repo(&rig, scripted.clone());
    let ports = with_budget_of(ports, Duration::from_secs(6));
    *scripted.hold_until.lock().unwrap() =
        Some(tokio::time::Instant::now() + Duration::from_millis(4800));

    let answer = confirm(&app, &ports, &proposal.proposal_id).await.unwrap();

    assert_eq!(
        app.shopify.cancel_calls(US, "#1001"),
        0,
        "nothing is sent with too little time to hear the answer"
    );
    assert_eq!(
        (answer.status.as_str(), answer.details.clone()),
        ("failed", Some(json!({"reason": "not_sent"}))),
        "{answer:?}"
    );
    let written = record(&app, &rig, &proposal.proposal_id).await;
    assert_eq!(written.status, ActionStatus::Failed);
    let again = propose(&app, &rig.ports, "#1001").await.unwrap();
    assert_eq!(
        again.status, "confirmation_required",
        "the order is not left held"
    );
}
