//! Order actions: the AI writes to a merchant's store for a shopper — a cancellation today;
//! address changes and return requests plug into the same protocol. One action = an
//! [`OrderAction`]: its kind and scopes, its arguments, its eligibility rules against the live
//! order and the org's policy, its summary and effects, its fingerprint, its approval
//! threshold, its Shopify mutation and its read-back verification; [`action_for`] maps a kind
//! to its action (a kind without one is `action_unavailable`). This folder is the protocol,
//! which never names an action:
//!
//! - this file: the protocol, its constants and the steps every operation shares;
//! - [`action`]: the [`OrderAction`] trait, what its steps answer, and [`action_for`];
//! - [`record`]: the action record, its ids and its events; [`repo`]: the port + adapters;
//! - [`ports`]: what the operations run on, the caller ([`Invocation`]), the answers;
//! - [`find`]: finding the order and checking whom it belongs to;
//! - [`cancel`]: `cancel_order` ([`Cancel`]): its rules, summary, approval threshold,
//!   fingerprint, staff note, `orderCancel` and its read-back;
//! - [`address`]: `update_shipping_address` ([`UpdateAddress`]): the new address, the shop's
//!   countries, its rules, summary, `orderUpdate` and the read-back that compares the address;
//! - [`rules`]: what several actions check alike (nothing on its way yet, the window) and the
//!   order's fingerprint;
//! - [`returns`]: `request_return` ([`RequestReturn`]): the items resolved against the
//!   returnable fulfillments, its rules, summary, `returnRequest` and the read-back of the
//!   return Shopify named (or, when its answer was lost, of the order's returns new since);
//! - [`propose`], [`execute`] (confirm, approve, decline and the write itself: lock,
//!   `executing`, the action's mutation once, polling Shopify's job, the action's read-back,
//!   the outcome), [`settle`] (`get_action`, crash recovery and the 5-minute schedule),
//!   [`outbox`];
//! - [`sidebar`]: the inbox sidebar's pending approvals of a contact's orders.
//!
//! **Two steps, always.** [`propose()`] finds the order, checks identity and the policy live,
//! and stores a *proposal* bound to the org, the verified contact email (normalized), the
//! conversation, the store, the order's GID, the exact arguments and the order's fingerprint,
//! for 10 minutes, and marks it for the schedule, which writes `expired` (and announces it) once
//! it lapses unconfirmed; a new proposal for the same order and action expires the open one. Checks
//! run in the contract's order: `action_disabled` → find and identity → `action_unavailable` /
//! `verification_unavailable` → policy. [`confirm()`] runs only with the shopper's own yes
//! (`shopper_confirmed`), re-reads the order and checks identity, expiry, the policy and the
//! fingerprint again (`order_changed`).
//!
//! **Exactly once.** Every record write is conditional on the version read. Executing is:
//! 1. take the order's lock (one action per order at a time: a proposal, a confirmation or an
//!    approval of another action of the order is `action_not_allowed`, reason
//!    `action_in_progress`, while it is held) *before* reading the order for the re-check;
//!    with less than [`MUTATION_TIME`] left, nothing starts (`shopify_unavailable`); mark the
//!    action unsettled;
//! 2. `proposed|approved → executing` with `executing_since`: of two confirmations (a retried
//!    invoke, two deliveries) exactly one wins; the other answers the recorded outcome
//!    (`executing` while it runs);
//! 3. send the action's mutation once (`orderCancel` has no idempotency key) — unless the
//!    writes before it left less than [`MUTATION_TIME`]: then `failed`, reason `not_sent`,
//!    and the order is let go;
//! 4. verify by reading back: poll Shopify's job within the budget (`ACTIONS_BUDGET_MS`, never
//!    past the invocation's deadline minus [`ANSWER_MARGIN`], keeping [`WRITE_RESERVE`] for the
//!    writes), then the action reads the order back: its effect there → `done` (a
//!    cancellation: cancelled); the job finished without it → `failed`; otherwise
//!    `in_progress` with the job id;
//! 5. write the outcome; once final, release the lock and clear the mark. From `executing`
//!    the lock is held for [`ORDER_HOLD`] (past [`UNSETTLED_LIMIT`]), so an `in_progress`
//!    action (a slow job, a lost answer, a crash) keeps the order until it is settled.
//!
//! Errors that mean Shopify did not run the mutation (refused before running it, or never
//! sent) are `failed`, reason `not_sent`, at once; the `executing` write carries a fresh
//! `execution_id`, so an attempt whose write landed but whose answer was lost knows it won.
//!
//! A mutation whose answer was lost (a timeout, a dropped connection) is never sent again: the
//! order is read, and the action is `done` or `in_progress`. An action still `executing`
//! [`EXECUTION_LEASE`] after `executing_since` belongs to an invocation that stopped: whoever
//! meets it (a retried confirm, `get_action`, the schedule) reads the order — cancelled →
//! `done`, otherwise `in_progress` — and never sends anything. `in_progress` is settled by
//! `get_action` and by [`settle_unsettled`] every 5 minutes (job and order read back → `done`
//! or `failed`; after [`UNSETTLED_LIMIT`] → `failed`, reason `unverified`).
//!
//! **People.** In `approval` mode, or above `approval_above`, a confirmation moves the
//! proposal to `pending_approval` (expiring after `APPROVAL_TTL_HOURS`); [`approve()`] checks
//! the policy (not the window), identity and the fingerprint against the live order again,
//! then executes as a confirmation does; [`decline()`] ends it. `simulate` mode answers
//! `simulated` and sends nothing.
//!
//! Each status change is announced once through the record's [`outbox`]. Emails are masked in
//! every log line.
//!
//! What a crash leaves behind, and who repairs it:
//!
//! | crash after | left behind | seen by users | repaired by |
//! |---|---|---|---|
//! | storing the proposal, before the open-proposal swap | an older proposal of the order still confirmable | both proposals read as proposals | the confirm re-checks the fingerprint; the lock lets one run |
//! | the proposal's mark, before the proposal | a mark without a record | nothing | the schedule drops it |
//! | the unsettled mark (1) | a mark for an action still `proposed` | nothing | the schedule expires the proposal at its expiry, then drops the mark |
//! | `executing` (2), before the mutation | `executing`, nothing sent | `executing` | after the lease: the order is read — not cancelled → `in_progress` → `failed`/`unverified` after 24 h (an address change or a return: its effect not on the order 2 minutes after sending → `failed`, `address_not_updated` / `return_not_created`); never sent |
//! | the mutation (3), before the outcome's write | `executing`, the order cancelling (readdressed, a return requested) | `executing` | after the lease: the order is read back → `done` (or `in_progress` until it is; a return is found among the order's returns by its items, those it had at the proposal left out) |
//! | the outcome's write (5), before the unlock (or an unlock that failed) | the order's hold, and the unsettled mark | a new action of the order refused as `action_in_progress` | the schedule lets the order go, then drops the mark |
//! | any write, before its events were put | events in the outbox | nothing | the next flush (any later write of the action, `get_action`, the schedule) |

pub mod action;
pub mod address;
pub mod cancel;
pub mod execute;
pub mod find;
pub mod outbox;
pub mod ports;
pub mod propose;
pub mod record;
pub mod repo;
pub mod returns;
pub mod rules;
pub mod settle;
pub mod sidebar;

pub use action::{action_for, OrderAction, Refusal, Request, Sent, Step, Verdict};
pub use address::UpdateAddress;
pub use cancel::Cancel;
pub use execute::{approve, confirm, decline};
pub use ports::{ActionAnswer, ActionConfig, ActionFailure, ActionPorts, Clock, Invocation};
pub use propose::propose;
pub use record::{ActionRecord, ActionView};
pub use repo::{ActionPage, ActionRepository, DynamoActions, ListFilter, MemoryActions};
pub use returns::RequestReturn;
pub use settle::{get, list, settle_unsettled, Page, SettleReport};
pub use sidebar::PendingApprovals;

use std::time::Duration;

use crate::deadline::Deadline;
use crate::domain::{ActionKind, ActionStatus, OrgSettings, OrganizationId};
use crate::failure::Code;
use crate::shopify::blocked_actions;
use crate::store::{Expect, StoreError, StoreRecord};
use record::ActionRecord as Record;

/// Time kept between the end of the budget and the invocation's deadline, to answer.
pub const ANSWER_MARGIN: Duration = Duration::from_secs(1);

/// Time kept after the Shopify calls for the record writes (or a third of what is left).
pub const WRITE_RESERVE: Duration = Duration::from_secs(2);

/// After this long `executing`, an action's invocation is taken to have stopped. Longer than
/// any invocation may run.
pub const EXECUTION_LEASE: chrono::Duration = chrono::Duration::minutes(2);

/// An action not settled after this long is `failed`, reason `unverified`.
pub const UNSETTLED_LIMIT: chrono::Duration = chrono::Duration::hours(24);

/// How long an action that sent its mutation holds the order: past [`UNSETTLED_LIMIT`], so
/// the order stays held until the schedule settles it (the settling write releases it).
pub const ORDER_HOLD: chrono::Duration = chrono::Duration::hours(25);

/// The least time a mutation is sent with (on the Shopify calls' deadline): with less, its
/// answer would be lost. Short of it, nothing is sent and the answer is `shopify_unavailable`.
pub const MUTATION_TIME: Duration = Duration::from_secs(1);

/// Rounds of a conditional move against concurrent writers.
const MOVE_ROUNDS: usize = 8;

/// The part of the invocation's `deadline` this invocation works within.
fn budget(ports: &ActionPorts, deadline: &Deadline) -> Deadline {
    deadline.minus(ANSWER_MARGIN).within(ports.config.budget)
}

/// The part of `deadline` the Shopify calls may use.
fn shopify_deadline(deadline: &Deadline) -> Deadline {
    deadline.minus(WRITE_RESERVE.min(deadline.remaining() / 3))
}

/// The part of `deadline` a read before a mutation may use: it leaves the mutation
/// [`MUTATION_TIME`] and the writes their reserve (or half of what is left).
fn read_before_write(deadline: &Deadline) -> Deadline {
    deadline.minus((MUTATION_TIME + WRITE_RESERVE).min(deadline.remaining() / 2))
}

/// The order's key for `record`'s lock.
fn order_key(record: &Record) -> repo::OrderKey {
    repo::OrderKey::of(record)
}

fn order_busy(order_name: &str) -> ActionFailure {
    ActionFailure::not_allowed(
        "action_in_progress",
        None,
        format!("Another change to order {order_name} is being made right now, so I haven't done anything. Let me check again in a moment."),
    )
}

/// Takes the order's lock for `record` for [`EXECUTION_LEASE`], before anything about the
/// order is read for a write: `action_in_progress` while another action holds it. Answers
/// the lease's end, to release exactly this lease ([`release_lease`]).
async fn take_lease(
    ports: &ActionPorts,
    deadline: &Deadline,
    record: &Record,
) -> Result<chrono::DateTime<chrono::Utc>, ActionFailure> {
    let now = ports.clock.now();
    let until = now + EXECUTION_LEASE;
    let locked = deadline
        .run(
            ports
                .actions
                .lock_order(&order_key(record), &record.action_id, until, now),
        )
        .await?;
    if !locked {
        return Err(order_busy(&record.order_name));
    }
    Ok(until)
}

/// Releases the lease [`take_lease`] took, unless the outcome still holds the order
/// (`executing`, `in_progress`: the lock then lasts until the action is final).
async fn release_lease(
    ports: &ActionPorts,
    deadline: &Deadline,
    record: &Record,
    until: chrono::DateTime<chrono::Utc>,
    outcome: Option<ActionStatus>,
) {
    if matches!(
        outcome,
        Some(ActionStatus::Executing | ActionStatus::InProgress)
    ) {
        return;
    }
    if let Err(error) = deadline
        .run(
            ports
                .actions
                .release_lease(&order_key(record), &record.action_id, until),
        )
        .await
    {
        tracing::warn!(action_id = %record.action_id, %error, "the order's lease stays until it lapses");
    }
}

/// `shopify_unavailable`: too little time is left to send a mutation and hear its answer.
fn no_time_to_send() -> ActionFailure {
    ActionFailure::new(
        Code::ShopifyUnavailable,
        Code::ShopifyUnavailable.ai_message(),
    )
}

/// The organization's stores and settings, in one read.
async fn load_org(
    ports: &ActionPorts,
    deadline: &Deadline,
    org: &OrganizationId,
) -> Result<(Vec<StoreRecord>, OrgSettings), ActionFailure> {
    Ok(deadline.run(ports.stores.load_org(org)).await?)
}

/// The scopes `store`'s app lacks for `kind`, as the store's warnings name them.
fn missing_scopes(store: &StoreRecord, kind: ActionKind) -> Vec<&'static str> {
    blocked_actions(&store.granted_scopes)
        .into_iter()
        .find(|(blocked, _)| *blocked == kind)
        .map(|(_, missing)| missing)
        .unwrap_or_default()
}

/// The write scopes `action` needs: what the app lacks when Shopify denies its mutation (the
/// scopes were taken away after the store's last check).
fn write_scopes(action: &dyn OrderAction) -> Vec<&'static str> {
    action
        .scopes()
        .iter()
        .copied()
        .filter(|scope| scope.starts_with("write_"))
        .collect()
}

fn unavailable(store: &StoreRecord, missing: &[&str]) -> ActionFailure {
    tracing::info!(shop = %store.shop_domain, ?missing, "the store's app lacks scopes for order actions");
    ActionFailure::new(
        Code::ActionUnavailable,
        format!(
            "This store isn't set up to let me do that yet (the app needs the {} access). A team member can help the customer.",
            missing.join(", ")
        ),
    )
    .with_details(serde_json::json!({ "missing": missing }))
}

/// Moves the action from one of `from` with `step`, conditionally, re-reading on conflicts;
/// then announces the change. `Ok(Err(current))` when the action is in another status.
async fn move_action(
    ports: &ActionPorts,
    deadline: &Deadline,
    record: &Record,
    from: &[ActionStatus],
    step: impl Fn(&Record) -> Record,
) -> Result<Result<Record, Record>, StoreError> {
    let mut current = record.clone();
    for _ in 0..MOVE_ROUNDS {
        if !from.contains(&current.status) {
            return Ok(Err(current));
        }
        let next = step(&current);
        debug_assert!(current.status.may_become(next.status));
        match deadline
            .run(ports.actions.put(&next, Expect::Version(current.version)))
            .await
        {
            Ok(()) => {
                tracing::info!(
                    org_id = %next.org_id,
                    shop = %next.shop_domain,
                    action_id = %next.action_id,
                    action = next.kind.as_str(),
                    from = current.status.as_str(),
                    status = next.status.as_str(),
                    actor = %next.actor,
                    "order action moved"
                );
                return Ok(Ok(outbox::flush(ports, deadline, next).await));
            }
            Err(StoreError::Conflict) => {
                current = deadline
                    .run(ports.actions.get(&record.org_id, &record.action_id))
                    .await?
                    .ok_or(StoreError::Conflict)?;
            }
            Err(error) => return Err(error),
        }
    }
    Err(StoreError::Conflict)
}
