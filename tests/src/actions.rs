//! Order actions in tests: the ports over memory or moto (records in a table of the test's
//! own, so the schedule sees only its actions), events kept in memory, an injectable clock,
//! and a repository whose writes fail at a chosen point.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use shared::actions::repo::{ActionPage, ListFilter, OrderKey, Unsettled};
use shared::actions::{
    ActionConfig, ActionPorts, ActionRecord, ActionRepository, Clock, DynamoActions, Invocation,
    MemoryActions,
};
use shared::domain::{ActionKind, ActionStatus, OrganizationId};
use shared::events::{EventPublisher, MemoryEvents};
use shared::store::{Expect, StoreError};

use crate::app::TestApp;
use crate::fake_shopify::{FakeOrder, FakeShop};
use crate::local_aws;

/// A repository whose next put of a record moving to a chosen status (or the next write that
/// clears a record's outbox) fails as if DynamoDB were down (the invocation then stops there,
/// as a crash would).
pub struct FailingActions {
    pub inner: Arc<dyn ActionRepository>,
    fail_on: Mutex<Option<ActionStatus>>,
    fail_clear: AtomicBool,
}

impl FailingActions {
    /// Fails the next put of a record whose status is `status`.
    pub fn fail_next(&self, status: ActionStatus) {
        *self.fail_on.lock().unwrap() = Some(status);
    }

    /// Fails the next put that leaves a record's outbox empty: the events were put on the bus,
    /// the write that clears them fails.
    pub fn fail_next_clear(&self) {
        self.fail_clear.store(true, Ordering::SeqCst);
    }
}

#[async_trait]
impl ActionRepository for FailingActions {
    async fn get(
        &self,
        org: &OrganizationId,
        id: &str,
    ) -> Result<Option<ActionRecord>, StoreError> {
        self.inner.get(org, id).await
    }
    async fn put(&self, record: &ActionRecord, expect: Expect) -> Result<(), StoreError> {
        {
            let mut fail = self.fail_on.lock().unwrap();
            if *fail == Some(record.status) {
                *fail = None;
                return Err(StoreError::Unavailable(Box::new(std::io::Error::other(
                    "injected fault",
                ))));
            }
        }
        if record.outbox.is_empty()
            && matches!(expect, Expect::Version(_))
            && self.fail_clear.swap(false, Ordering::SeqCst)
        {
            return Err(StoreError::Unavailable(Box::new(std::io::Error::other(
                "injected fault",
            ))));
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
        self.inner.lock_order(order, id, until, now).await
    }
    async fn unlock_order(&self, order: &OrderKey, id: &str) -> Result<(), StoreError> {
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

/// Everything order actions run on in a test.
pub struct ActionRig {
    pub ports: ActionPorts,
    pub events: Arc<MemoryEvents>,
    pub repo: Arc<FailingActions>,
    pub clock: Clock,
    /// On moto: the records' table.
    pub table: Option<String>,
}

impl ActionRig {
    /// The app's stores and credentials, records in memory or in a fresh moto table.
    pub async fn new(app: &TestApp) -> Self {
        let (inner, table): (Arc<dyn ActionRepository>, _) = match &app.aws {
            Some(aws) => {
                let table = local_aws::fresh_table(&aws.dynamo).await;
                (
                    Arc::new(DynamoActions::new(aws.dynamo.clone(), table.clone())),
                    Some(table),
                )
            }
            None => (Arc::new(MemoryActions::new()), None),
        };
        let repo = Arc::new(FailingActions {
            inner,
            fail_on: Mutex::new(None),
            fail_clear: AtomicBool::new(false),
        });
        let events = Arc::new(MemoryEvents::default());
        let clock = Clock::default();
        let ports = ActionPorts {
            stores: app.services.storage.stores.clone(),
            access: app.services.access.clone(),
            actions: repo.clone(),
            events: Some(events.clone() as Arc<dyn EventPublisher>),
            config: ActionConfig {
                job_poll: std::time::Duration::from_millis(10),
                ..ActionConfig::default()
            },
            clock: clock.clone(),
        };
        Self {
            ports,
            events,
            repo,
            clock,
            table,
        }
    }

    /// The statuses announced for `action_id`, in order.
    pub fn statuses(&self, action_id: &str) -> Vec<String> {
        self.events
            .order_actions()
            .into_iter()
            .filter(|e| e.action_id == action_id)
            .map(|e| e.status.as_str().to_owned())
            .collect()
    }
}

/// The invocation of a verified shopper in `conversation`.
pub fn shopper(org: &str, email: &str, conversation: &str, confirmed: bool) -> Invocation {
    Invocation {
        org: Some(OrganizationId::parse(org).unwrap()),
        email: Some(email.into()),
        email_verified: true,
        conversation_id: Some(conversation.into()),
        shopper_confirmed: confirmed,
        actor: None,
    }
}

/// The demo store's token in these tests, the store, its shopper and her conversation.
pub const TOKEN: &str = "shpat_actions_0000000000000000000000";
pub const US: &str = "demo-us.myshopify.com";
pub const JANE: &str = "jane@example.com";
pub const CONVERSATION: &str = "conv-42";
/// Each call's invocation time limit.
pub const INVOCATION: std::time::Duration = std::time::Duration::from_secs(30);

/// Connects `shop` (holding its orders, with the order-action scopes) and turns cancellation on
/// in `mode`.
pub async fn setup(app: &TestApp, shop: FakeShop, mode: shared::domain::ActionMode) -> ActionRig {
    let handle = shop.domain.trim_end_matches(".myshopify.com").to_owned();
    app.shopify.add_shop(shop.with_token(TOKEN));
    let (status, body) = app
        .connect(serde_json::json!({"shop_domain": handle, "access_token": TOKEN}))
        .await;
    assert_eq!(status, 201, "{body}");
    enable(app, mode, None).await;
    ActionRig::new(app).await
}

/// Turns cancellation on in `mode`, waiting for a person above `approval_above` (currency,
/// amount) when given.
pub async fn enable(
    app: &TestApp,
    mode: shared::domain::ActionMode,
    approval_above: Option<(&str, &str)>,
) {
    let org = OrganizationId::parse(&app.org).unwrap();
    let stores = &app.services.storage.stores;
    let mut settings = stores.get_settings(&org).await.unwrap();
    settings.order_actions.cancel_order.enabled = true;
    settings.order_actions.cancel_order.mode = mode;
    settings.order_actions.cancel_order.approval_above =
        approval_above.map(|(c, a)| [(c.to_owned(), a.to_owned())].into_iter().collect());
    stores.put_settings(&org, &settings).await.unwrap();
}

/// Turns address changes on in `mode`, keeping them to the order's country when
/// `same_country_only`.
pub async fn enable_address_changes(
    app: &TestApp,
    mode: shared::domain::ActionMode,
    same_country_only: bool,
) {
    let org = OrganizationId::parse(&app.org).unwrap();
    let stores = &app.services.storage.stores;
    let mut settings = stores.get_settings(&org).await.unwrap();
    let policy = &mut settings.order_actions.update_shipping_address;
    policy.enabled = true;
    policy.mode = mode;
    policy.same_country_only = same_country_only;
    stores.put_settings(&org, &settings).await.unwrap();
}

/// demo-us with the order-action scopes, holding `order`.
pub fn us_shop(order: FakeOrder) -> FakeShop {
    FakeShop::new("demo-us")
        .with_order_action_scopes()
        .with_order(order)
}

/// A deadline of one invocation from now.
pub fn deadline() -> shared::Deadline {
    shared::Deadline::after(INVOCATION)
}
