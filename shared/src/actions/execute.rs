//! `confirm_action`, the approvals, and the write itself: exactly once, verified by reading
//! the order back (see the module doc of [`crate::actions`]).

use serde_json::Value;

use super::action::{action_for, OrderAction, Sent, Step, Verdict};
use super::find::{belongs_to, read_order};
use super::ports::{ActionAnswer, ActionFailure, ActionPorts, Invocation};
use super::propose::identity;
use super::record::ActionRecord;
use super::repo::OrderKey;
use super::settle::settle_one;
use super::{
    budget, load_org, missing_scopes, move_action, no_time_to_send, outbox, read_before_write,
    release_lease, shopify_deadline, take_lease, unavailable, write_scopes, MUTATION_TIME,
    ORDER_HOLD,
};
use crate::deadline::Deadline;
use crate::domain::{ActionMode, ActionStatus, OrgSettings, OrganizationId};
use crate::failure::Code;
use crate::ids::new_id;
use crate::shopify::actions::ActionOrder;
use crate::store::StoreRecord;

/// What the summary of an action waiting for a person starts with.
pub const PENDING_PREFIX: &str =
    "Nothing has changed yet: a person at the store must approve this first. ";
/// What the summary of a simulated action starts with.
pub const SIMULATED_PREFIX: &str = "Simulation only: no change was made. ";

fn not_found() -> ActionFailure {
    ActionFailure::new(
        Code::ProposalNotFound,
        "I can't find that proposal for this customer. Ask again to get a new one.",
    )
}

fn expired() -> ActionFailure {
    ActionFailure::new(
        Code::ProposalExpired,
        "This proposal has expired. If the customer still wants it, ask again to get a new one.",
    )
}

fn disabled() -> ActionFailure {
    ActionFailure::new(
        Code::ActionDisabled,
        "The store has turned this off, so I can't do it here. A team member can help the customer.",
    )
}

fn order_gone(record: &ActionRecord) -> ActionFailure {
    ActionFailure::new(
        Code::OrderNotFound,
        format!(
            "I couldn't find order {} for this customer any more.",
            record.order_name
        ),
    )
}

/// The store, the live order and the checks a confirmation and an approval both make:
/// identity, scopes, the action's rules at `step`, the fingerprint.
async fn recheck(
    ports: &ActionPorts,
    deadline: &Deadline,
    action: &dyn OrderAction,
    record: &ActionRecord,
    stores: &[StoreRecord],
    settings: &OrgSettings,
    step: Step,
) -> Result<(StoreRecord, ActionOrder), ActionFailure> {
    let store = stores
        .iter()
        .find(|s| s.shop_domain == record.shop_domain)
        .ok_or_else(|| order_gone(record))?;
    let mut order = read_order(
        &ports.access,
        &read_before_write(deadline),
        store,
        &record.order_id,
    )
    .await?
    .filter(|o| belongs_to(o, &record.contact_email))
    .ok_or_else(|| order_gone(record))?;
    let missing = missing_scopes(store, record.kind);
    if !missing.is_empty() {
        return Err(unavailable(store, &missing));
    }
    action
        .read_facts(
            ports,
            &read_before_write(deadline),
            store,
            &record.arguments,
            &mut order,
        )
        .await?;
    action.check(
        &order,
        &record.arguments,
        &settings.order_actions,
        ports.clock.now(),
        step,
    )?;
    if action.fingerprint(&order) != record.fingerprint {
        return Err(ActionFailure::not_allowed(
            "order_changed",
            None,
            format!("Order {} changed since I proposed this, so I haven't done anything. Let me check it again.", order.name),
        ));
    }
    Ok((store.clone(), order))
}

/// Confirms the proposal for the invocation's shopper. Runs only with `shopper_confirmed`;
/// a repeat answers the first outcome.
pub async fn confirm(
    ports: &ActionPorts,
    deadline: &Deadline,
    inv: &Invocation,
    proposal_id: &str,
    shopper_confirmed: bool,
) -> Result<ActionAnswer, ActionFailure> {
    let deadline = budget(ports, deadline);
    let (org, email, conversation) = identity(inv)?;
    let record = deadline
        .run(ports.actions.get(&org, proposal_id.trim()))
        .await?
        .filter(|r| r.contact_email == email && r.conversation_id == conversation)
        .ok_or_else(not_found)?;
    let (stores, settings) = load_org(ports, &deadline, &org).await?;
    let now = ports.clock.now();
    // A confirmation already under way or ended answers its outcome even when the merchant
    // has turned the action off since; only a proposal still waiting for its yes is refused.
    match record.status_at(now) {
        ActionStatus::Proposed => {}
        ActionStatus::Expired => {
            if record.status == ActionStatus::Proposed {
                let _ = move_action(ports, &deadline, &record, &[ActionStatus::Proposed], |r| {
                    r.moved(ActionStatus::Expired, &r.actor, now)
                })
                .await?;
            }
            return Err(expired());
        }
        _ => {
            let record = settle_one(ports, &deadline, record).await?;
            return Ok(ActionAnswer::status(&record, ports.clock.now()));
        }
    }
    let Some(mode) = settings.order_actions.mode_of(record.kind) else {
        return Err(disabled());
    };
    if !shopper_confirmed {
        return Ok(ActionAnswer::proposal(&record));
    }
    // The order is held first, then read: no other action of it can start or run meanwhile.
    let lease = take_lease(ports, &deadline, &record).await?;
    let outcome = confirm_leased(
        ports, &deadline, &record, &org, &stores, &settings, mode, now,
    )
    .await;
    let status = outcome
        .as_ref()
        .ok()
        .and_then(|a| ActionStatus::parse(&a.status));
    release_lease(ports, &deadline, &record, lease, status).await;
    outcome
}

/// The confirmation of a proposal, under the order's lease: the live re-check, then the
/// simulation, the wait for a person, or the write.
#[allow(clippy::too_many_arguments)]
async fn confirm_leased(
    ports: &ActionPorts,
    deadline: &Deadline,
    record: &ActionRecord,
    org: &OrganizationId,
    stores: &[StoreRecord],
    settings: &OrgSettings,
    mode: ActionMode,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ActionAnswer, ActionFailure> {
    let action = action_for(record.kind)?;
    let (store, order) = match recheck(
        ports,
        deadline,
        action,
        record,
        stores,
        settings,
        Step::Confirmation,
    )
    .await
    {
        Ok(found) => found,
        Err(refusal) => {
            return match moved_meanwhile(ports, deadline, record).await {
                Some(answer) => answer,
                None => Err(refusal),
            }
        }
    };
    let waits =
        mode == ActionMode::Approval || action.needs_approval(&order, &settings.order_actions);
    if mode == ActionMode::Simulate {
        let moved = move_action(ports, deadline, record, &[ActionStatus::Proposed], |r| {
            let mut next = r.clone();
            next.summary = format!("{SIMULATED_PREFIX}{}", r.summary);
            next.mode = mode;
            next.moved(ActionStatus::Simulated, &r.actor, now)
        })
        .await?;
        return Ok(ActionAnswer::status(&settled(moved), now));
    }
    if waits {
        deadline
            .run(ports.actions.mark_unsettled(org, &record.action_id))
            .await?;
        let ttl = chrono::Duration::from_std(ports.config.approval_ttl)
            .unwrap_or(chrono::Duration::hours(48));
        let moved = move_action(ports, deadline, record, &[ActionStatus::Proposed], |r| {
            let mut next = r.clone();
            next.summary = format!("{PENDING_PREFIX}{}", r.summary);
            next.mode = ActionMode::Approval;
            next.expires_at = now + ttl;
            next.moved(ActionStatus::PendingApproval, &r.actor, now)
        })
        .await?;
        return Ok(ActionAnswer::status(&settled(moved), now));
    }
    let record = execute(ports, deadline, action, &store, record, None).await?;
    Ok(ActionAnswer::status(&record, ports.clock.now()))
}

/// A confirmation whose re-check refused: when another confirmation moved the proposal
/// meanwhile (and, say, cancelled the order the re-check then read), the answer is that
/// one's outcome, not the refusal.
async fn moved_meanwhile(
    ports: &ActionPorts,
    deadline: &Deadline,
    record: &ActionRecord,
) -> Option<Result<ActionAnswer, ActionFailure>> {
    let current = deadline
        .run(ports.actions.get(&record.org_id, &record.action_id))
        .await
        .ok()
        .flatten()
        .filter(|current| current.status != ActionStatus::Proposed)?;
    Some(
        settle_one(ports, deadline, current)
            .await
            .map(|current| ActionAnswer::status(&current, ports.clock.now())),
    )
}

/// The record a move left, whichever way it went.
fn settled(moved: Result<ActionRecord, ActionRecord>) -> ActionRecord {
    match moved {
        Ok(record) | Err(record) => record,
    }
}

fn not_pending() -> ActionFailure {
    ActionFailure::new(
        Code::ActionNotPending,
        "This action is not waiting for an approval.",
    )
}

/// An action of `org` waiting for a person, with pending approvals past their expiry moved to
/// `expired`.
async fn pending(
    ports: &ActionPorts,
    deadline: &Deadline,
    org: &OrganizationId,
    action_id: &str,
) -> Result<ActionRecord, ActionFailure> {
    let record = deadline
        .run(ports.actions.get(org, action_id))
        .await?
        .ok_or_else(|| ActionFailure::new(Code::ProposalNotFound, "There is no such action."))?;
    if record.status == ActionStatus::PendingApproval
        && record.status_at(ports.clock.now()) == ActionStatus::Expired
    {
        settle_one(ports, deadline, record).await?;
        return Err(not_pending());
    }
    if record.status != ActionStatus::PendingApproval {
        return Err(not_pending());
    }
    Ok(record)
}

/// A person approves a pending action: the policy (not the window), identity and the order's
/// fingerprint are checked live again, then it executes as a confirmation does. Answers the
/// action as it then stands.
pub async fn approve(
    ports: &ActionPorts,
    deadline: &Deadline,
    org: &OrganizationId,
    user: &str,
    action_id: &str,
) -> Result<ActionRecord, ActionFailure> {
    let deadline = budget(ports, deadline);
    let record = pending(ports, &deadline, org, action_id).await?;
    let (stores, settings) = load_org(ports, &deadline, org).await?;
    let Some(mode) = settings.order_actions.mode_of(record.kind) else {
        return Err(disabled());
    };
    // Held first: refused while another action of the order runs, leaving this one pending.
    let lease = take_lease(ports, &deadline, &record).await?;
    let outcome = approve_leased(ports, &deadline, &record, user, &stores, &settings, mode).await;
    let status = outcome.as_ref().ok().map(|r| r.status);
    release_lease(ports, &deadline, &record, lease, status).await;
    outcome
}

/// The approval under the order's lease: the live re-check, then the simulation (the policy
/// may have turned to `simulate` since the shopper's yes) or the write.
async fn approve_leased(
    ports: &ActionPorts,
    deadline: &Deadline,
    record: &ActionRecord,
    user: &str,
    stores: &[StoreRecord],
    settings: &OrgSettings,
    mode: ActionMode,
) -> Result<ActionRecord, ActionFailure> {
    let action = action_for(record.kind)?;
    let (store, _) = recheck(
        ports,
        deadline,
        action,
        record,
        stores,
        settings,
        Step::Approval,
    )
    .await?;
    let now = ports.clock.now();
    if mode == ActionMode::Simulate {
        return move_action(
            ports,
            deadline,
            record,
            &[ActionStatus::PendingApproval],
            |r| {
                let mut next = r.clone();
                let summary = r.summary.strip_prefix(PENDING_PREFIX).unwrap_or(&r.summary);
                next.summary = format!("{SIMULATED_PREFIX}{summary}");
                next.mode = mode;
                next.moved(ActionStatus::Simulated, user, now)
            },
        )
        .await?
        .map_err(|_| not_pending());
    }
    execute(ports, deadline, action, &store, record, Some(user)).await
}

/// A person declines a pending action.
pub async fn decline(
    ports: &ActionPorts,
    deadline: &Deadline,
    org: &OrganizationId,
    user: &str,
    action_id: &str,
) -> Result<ActionRecord, ActionFailure> {
    let deadline = budget(ports, deadline);
    let record = pending(ports, &deadline, org, action_id).await?;
    let now = ports.clock.now();
    let declined = move_action(
        ports,
        &deadline,
        &record,
        &[ActionStatus::PendingApproval],
        |r| r.moved(ActionStatus::Declined, user, now),
    )
    .await?
    .map_err(|_| not_pending())?;
    let _ = deadline
        .run(ports.actions.clear_unsettled(org, &declined.action_id))
        .await;
    Ok(declined)
}

/// Runs a `proposed` action, or a `pending_approval` one `approver` approved: lock,
/// `executing`, the mutation once, the read-back, the outcome. Answers the action as it then
/// stands. An approval is written with the move to `executing` (its `approved` event first,
/// in the same write): an approval that stops before that write leaves the action pending,
/// for the person to approve again.
pub(crate) async fn execute(
    ports: &ActionPorts,
    deadline: &Deadline,
    action: &dyn OrderAction,
    store: &StoreRecord,
    record: &ActionRecord,
    approver: Option<&str>,
) -> Result<ActionRecord, ActionFailure> {
    if shopify_deadline(deadline).remaining() < MUTATION_TIME {
        tracing::warn!(org_id = %record.org_id, action_id = %record.action_id, action = record.kind.as_str(), "too little time left to send the mutation; nothing was sent");
        return Err(no_time_to_send());
    }
    let now = ports.clock.now();
    let key = OrderKey::of(record);
    let attempt = new_id();
    deadline
        .run(
            ports
                .actions
                .mark_unsettled(&record.org_id, &record.action_id),
        )
        .await?;
    let from: &[ActionStatus] = match approver {
        Some(_) => &[ActionStatus::PendingApproval],
        None => &[ActionStatus::Proposed],
    };
    let started = move_action(ports, deadline, record, from, |r| {
        let yes = match approver {
            Some(user) => {
                let mut approved = r.clone();
                approved.summary = r
                    .summary
                    .strip_prefix(PENDING_PREFIX)
                    .unwrap_or(&r.summary)
                    .to_owned();
                let mut approved = approved.moved(ActionStatus::Approved, user, now);
                approved.version = r.version;
                approved
            }
            None => r.clone(),
        };
        let mut next = yes.moved(ActionStatus::Executing, &yes.actor, now);
        next.executing_since = Some(now);
        next.execution_id = Some(attempt.clone());
        if next.mode != ActionMode::Approval {
            next.mode = ActionMode::Live;
        }
        // The event went into the outbox before `executing_since` was set; same content.
        next
    })
    .await;
    let started = match started {
        Ok(started) => started,
        // The write may have landed though its answer was lost: then the action stands
        // `executing` with nothing sent, and is ended as such rather than left to the schedule
        // (which would report it in progress for a day).
        Err(error) => {
            let current = deadline
                .run(ports.actions.get(&record.org_id, &record.action_id))
                .await;
            return match current {
                Ok(Some(current))
                    if current.status == ActionStatus::Executing
                        && current.execution_id.as_deref() == Some(attempt.as_str()) =>
                {
                    fail(ports, deadline, &current, "not_sent").await
                }
                _ => Err(error.into()),
            };
        }
    };
    let executing = match started {
        Ok(executing) => executing,
        // Our own write, whose answer was lost and whose retry then failed its condition.
        Err(current)
            if current.status == ActionStatus::Executing
                && current.execution_id.as_deref() == Some(attempt.as_str()) =>
        {
            outbox::flush(ports, deadline, current).await
        }
        // Another approval or a decline came first.
        Err(_) if approver.is_some() => return Err(not_pending()),
        // Another confirmation won: its outcome is the answer (`executing` while it runs).
        Err(current) => return Ok(current),
    };
    // Once sent, the order stays held until the action is settled (final).
    let held = deadline
        .run(
            ports
                .actions
                .lock_order(&key, &record.action_id, now + ORDER_HOLD, now),
        )
        .await;
    if !matches!(held, Ok(true)) {
        tracing::warn!(org_id = %record.org_id, action_id = %record.action_id, action = record.kind.as_str(), ?held, "the order could not be held for the mutation; nothing was sent");
        return fail(ports, deadline, &executing, "not_sent").await;
    }
    let shopify = shopify_deadline(deadline);
    // The writes before the send took their time: the mutation still needs its own, or a
    // request cut short would leave an answer lost that was never sent.
    if shopify.remaining() < MUTATION_TIME {
        tracing::warn!(org_id = %record.org_id, action_id = %record.action_id, action = record.kind.as_str(), "too little time left after holding the order; nothing was sent");
        return fail(ports, deadline, &executing, "not_sent").await;
    }
    let mut executing = executing;
    let (job_id, applied) = match action.send(ports, &shopify, store, record).await {
        Sent::Started { job_id } => (job_id, false),
        Sent::Applied => (None, true),
        // Kept with the outcome, so every later read-back looks for what Shopify named.
        Sent::Created { id } => {
            executing.created_id = Some(id);
            (None, true)
        }
        Sent::Refused(reason) => {
            return fail(ports, deadline, &executing, reason).await;
        }
        Sent::ScopeDenied => {
            // The app lost the write scope since the store's last check: nothing was sent,
            // and the store needs the scope, not new credentials.
            fail(ports, deadline, &executing, "not_sent").await?;
            return Err(unavailable(store, &write_scopes(action)));
        }
        Sent::NotSent => {
            return fail(ports, deadline, &executing, "not_sent").await;
        }
        // The answer was lost: it may have been done. Never sent again; read back.
        Sent::Lost => (None, false),
    };
    let (status, reason, outcome) = verify(
        ports,
        &shopify,
        store,
        &executing,
        job_id.as_deref(),
        true,
        applied,
    )
    .await;
    finish(ports, deadline, &executing, status, reason, outcome, job_id).await
}

/// Settles an action whose mutation was not sent (or was refused) as failed for `reason`
/// (nothing was done to the order: no outcome, no job).
pub(crate) async fn fail(
    ports: &ActionPorts,
    deadline: &Deadline,
    record: &ActionRecord,
    reason: &'static str,
) -> Result<ActionRecord, ActionFailure> {
    finish(
        ports,
        deadline,
        record,
        ActionStatus::Failed,
        Some(reason),
        None,
        None,
    )
    .await
}

/// What reading back tells: Shopify's job (polled within `deadline` with `wait`), then the
/// action's read-back of the order: `done`, `failed` with its reason, or `in_progress`.
/// `applied`: Shopify answered that the change is made (no job), so the work is known finished.
pub(crate) async fn verify(
    ports: &ActionPorts,
    deadline: &Deadline,
    store: &StoreRecord,
    record: &ActionRecord,
    job_id: Option<&str>,
    wait: bool,
    applied: bool,
) -> (ActionStatus, Option<&'static str>, Option<Value>) {
    let mut job_done = applied.then_some(true);
    if let Some(job) = job_id {
        loop {
            let done = ports
                .access
                .with_token(store, deadline, |token| async move {
                    ports
                        .access
                        .shopify()
                        .job_done(deadline, &store.shop_domain, &token, job)
                        .await
                })
                .await;
            match done {
                Ok(true) => {
                    job_done = Some(true);
                    break;
                }
                Ok(false) => {
                    job_done = Some(false);
                    if !wait
                        || deadline
                            .sleep(ports.config.job_poll, std::time::Duration::from_millis(500))
                            .await
                            .is_err()
                    {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(action_id = %record.action_id, %error, "could not read the job");
                    break;
                }
            }
        }
    }
    let Ok(action) = action_for(record.kind) else {
        return (ActionStatus::InProgress, None, None);
    };
    match action
        .read_back(ports, deadline, store, record, job_done == Some(true))
        .await
    {
        Verdict::Done(outcome) => (ActionStatus::Done, None, Some(outcome)),
        Verdict::Failed(reason) => (ActionStatus::Failed, Some(reason), None),
        Verdict::FailedShowing(reason, order) => (ActionStatus::Failed, Some(reason), Some(order)),
        Verdict::Pending => (ActionStatus::InProgress, None, None),
    }
}

/// Writes the outcome of an `executing` (or `in_progress`) action, releases the order and,
/// once final, the schedule's mark. A write that fails leaves the action `executing`, which
/// recovery settles by reading the order; the answer then says `in_progress`.
pub(crate) async fn finish(
    ports: &ActionPorts,
    deadline: &Deadline,
    record: &ActionRecord,
    status: ActionStatus,
    reason: Option<&'static str>,
    outcome: Option<Value>,
    job_id: Option<String>,
) -> Result<ActionRecord, ActionFailure> {
    let now = ports.clock.now();
    let moved = move_action(ports, deadline, record, &[record.status], |r| {
        let mut next = r.clone();
        next.reason = reason.map(str::to_owned);
        next.outcome = outcome.clone();
        if job_id.is_some() {
            next.job_id = job_id.clone();
        }
        if record.created_id.is_some() {
            next.created_id = record.created_id.clone();
        }
        next.moved(status, &r.actor, now)
    })
    .await;
    let written = match moved {
        Ok(Ok(written)) => written,
        Ok(Err(current)) => return Ok(current),
        Err(error) => {
            tracing::error!(org_id = %record.org_id, action_id = %record.action_id, %error, status = status.as_str(), "the action's outcome could not be written; recovery reads the order back");
            let mut shown = record.clone();
            shown.status = ActionStatus::InProgress;
            return Ok(shown);
        }
    };
    if written.status.is_final() {
        let key = OrderKey::of(&written);
        if let Err(error) = deadline
            .run(ports.actions.unlock_order(&key, &written.action_id))
            .await
        {
            // The mark stays, so the schedule lets the order go (a hold lasts a day).
            tracing::warn!(action_id = %written.action_id, %error, "the order could not be let go; the schedule will");
            return Ok(written);
        }
        let _ = deadline
            .run(
                ports
                    .actions
                    .clear_unsettled(&written.org_id, &written.action_id),
            )
            .await;
    }
    Ok(written)
}
