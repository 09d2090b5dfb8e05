//! Reading actions (`get_action`, the dashboard's list) and settling what is unsettled: an
//! action `executing` past its lease or `in_progress` is read back (the job, the order) and
//! moved to `done` or `failed` — never sent again; a proposal or a pending approval past its
//! expiry is written `expired` (one conditional write, one event, by whoever sees it first).
//! `get_action` and `confirm_action` settle the one they read; [`settle_unsettled`] (every 5
//! minutes) the ones marked, a page of marks at a time.

use super::execute::{fail, finish, verify};
use super::outbox;
use super::ports::{ActionAnswer, ActionFailure, ActionPorts, Invocation};
use super::propose::identity;
use super::record::{ActionRecord, ActionView};
use super::repo::{ListFilter, OrderKey, Unsettled};
use super::{budget, move_action, shopify_deadline, EXECUTION_LEASE, UNSETTLED_LIMIT};
use crate::deadline::Deadline;
use crate::domain::{ActionStatus, OrganizationId};
use crate::failure::Code;

/// Actions a listing page holds.
pub const PAGE_SIZE: usize = 25;

/// The longest cursor the list gives (an action id is 44 characters).
const MAX_CURSOR_CHARS: usize = 64;

/// Marks read per page of the schedule.
const SETTLE_PAGE: usize = 50;

/// A page of the dashboard's list.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Page {
    pub actions: Vec<ActionView>,
    pub next_cursor: Option<String>,
}

/// What a run of the schedule did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SettleReport {
    /// Actions looked at.
    pub visited: usize,
    /// Of those, now final.
    pub settled: usize,
    /// Whether marks were left for the next run (the budget ended).
    pub more: bool,
}

/// Settles `record` as far as it can now (see the module doc); answers it as it then stands.
pub(crate) async fn settle_one(
    ports: &ActionPorts,
    deadline: &Deadline,
    record: ActionRecord,
) -> Result<ActionRecord, ActionFailure> {
    let now = ports.clock.now();
    let record = outbox::flush(ports, deadline, record).await;
    match record.status {
        // Only from the status read: a proposal confirmed meanwhile has an expiry of its own.
        ActionStatus::Proposed | ActionStatus::PendingApproval if now >= record.expires_at => {
            let moved = move_action(ports, deadline, &record, &[record.status], |r| {
                r.moved(ActionStatus::Expired, &r.actor, now)
            })
            .await?;
            let current = match moved {
                Ok(r) | Err(r) => r,
            };
            if current.status.is_final() {
                let _ = deadline
                    .run(
                        ports
                            .actions
                            .clear_unsettled(&current.org_id, &current.action_id),
                    )
                    .await;
            }
            Ok(current)
        }
        // An approval whose invocation stopped before `executing`: nothing was sent.
        ActionStatus::Approved if now >= record.updated_at + EXECUTION_LEASE => {
            fail(ports, deadline, &record, "interrupted").await
        }
        ActionStatus::Executing
            if record
                .executing_since
                .is_none_or(|since| now >= since + EXECUTION_LEASE) =>
        {
            recover(ports, deadline, record).await
        }
        ActionStatus::InProgress => recover(ports, deadline, record).await,
        _ => Ok(record),
    }
}

/// Reads an unsettled action's outcome back from Shopify; never sends anything.
async fn recover(
    ports: &ActionPorts,
    deadline: &Deadline,
    record: ActionRecord,
) -> Result<ActionRecord, ActionFailure> {
    let now = ports.clock.now();
    let store = deadline
        .run(ports.stores.get(&record.org_id, &record.shop_domain))
        .await?;
    let (mut status, mut reason, outcome) = match &store {
        Some(store) => {
            verify(
                ports,
                &shopify_deadline(deadline),
                store,
                &record,
                record.job_id.as_deref(),
                false,
                false,
            )
            .await
        }
        None => (ActionStatus::InProgress, None, None),
    };
    let since = record.executing_since.unwrap_or(record.updated_at);
    if status == ActionStatus::InProgress && now >= since + UNSETTLED_LIMIT {
        status = ActionStatus::Failed;
        reason = Some("unverified");
    }
    if status == record.status {
        return Ok(record);
    }
    tracing::info!(org_id = %record.org_id, action_id = %record.action_id, from = record.status.as_str(), status = status.as_str(), "an unsettled order action was read back");
    finish(ports, deadline, &record, status, reason, outcome, None).await
}

/// `get_action`: where the invocation's shopper's action stands, settled first when it is
/// unsettled.
pub async fn get(
    ports: &ActionPorts,
    deadline: &Deadline,
    inv: &Invocation,
    proposal_id: &str,
) -> Result<ActionAnswer, ActionFailure> {
    let deadline = budget(ports, deadline);
    let (org, email, conversation) = identity(inv)?;
    let record = deadline
        .run(ports.actions.get(&org, proposal_id.trim()))
        .await?
        .filter(|r| r.contact_email == email && r.conversation_id == conversation)
        .ok_or_else(|| {
            ActionFailure::new(
                Code::ProposalNotFound,
                "I can't find that action for this customer.",
            )
        })?;
    let record = settle_one(ports, &deadline, record).await?;
    Ok(ActionAnswer::status(&record, ports.clock.now()))
}

/// `GET /shopify/actions`: `org`'s actions, newest first, a page at a time.
pub async fn list(
    ports: &ActionPorts,
    deadline: &Deadline,
    org: &OrganizationId,
    filter: &ListFilter,
    cursor: Option<&str>,
) -> Result<Page, ActionFailure> {
    if cursor.is_some_and(|c| {
        c.is_empty() || c.len() > MAX_CURSOR_CHARS || !c.chars().all(|ch| ch.is_ascii_hexdigit())
    }) {
        return Err(ActionFailure::new(
            Code::InvalidRequest,
            "The cursor is not one this list gave.",
        ));
    }
    let now = ports.clock.now();
    // A proposal or a pending approval past its expiry is `expired` before a write says so:
    // those statuses are filtered on what a reader sees, not on what is stored.
    let stored = match filter.status {
        Some(ActionStatus::Proposed | ActionStatus::PendingApproval | ActionStatus::Expired) => {
            ListFilter {
                status: None,
                ..filter.clone()
            }
        }
        _ => filter.clone(),
    };
    let page = deadline
        .run(ports.actions.list(org, &stored, cursor, PAGE_SIZE))
        .await?;
    Ok(Page {
        actions: page
            .actions
            .iter()
            .filter(|r| filter.status.is_none_or(|s| r.status_at(now) == s))
            .map(|r| r.view(now))
            .collect(),
        next_cursor: page.next_cursor,
    })
}

/// The 5-minute schedule: settles every marked action it reaches within `deadline` (proposals
/// and pending approvals past their expiry included), reading the marks a page at a time; a
/// mark stays until its action is final. Each action gets at most
/// [`ActionConfig::settle_each`](super::ActionConfig) of the run, and a run that runs out of
/// time records the last mark it looked at: the next run starts after it and comes round to
/// the beginning, so marks whose stores do not answer cannot keep the ones behind them waiting
/// run after run.
pub async fn settle_unsettled(
    ports: &ActionPorts,
    deadline: &Deadline,
) -> Result<SettleReport, ActionFailure> {
    // Where the run stopped is recorded within the margin kept before the invocation's end.
    let outer = *deadline;
    let deadline = deadline.minus(super::ANSWER_MARGIN);
    let mut report = SettleReport::default();
    let resume = match deadline.run(ports.actions.settle_resume()).await {
        Ok(resume) => resume,
        Err(error) => {
            tracing::warn!(error = %error, "where the last settle run stopped could not be read; starting at the first mark");
            None
        }
    };
    let mut cursor = resume.clone();
    let mut came_round = resume.is_none();
    let mut seen = std::collections::HashSet::new();
    let mut last: Option<String> = None;
    loop {
        if deadline.is_expired() {
            report.more = true;
            break;
        }
        let (marks, next) = match deadline
            .run(ports.actions.unsettled(cursor.as_deref(), SETTLE_PAGE))
            .await
        {
            Ok(page) => page,
            Err(error) => {
                let stop = last.as_deref().or(resume.as_deref());
                stopped(ports, &outer, report, resume.as_deref(), stop).await;
                return Err(error.into());
            }
        };
        for mark in marks {
            if !seen.insert((mark.org.clone(), mark.action_id.clone())) {
                // Round to a mark this run looked at: every mark was looked at.
                return Ok(stopped(ports, &outer, report, resume.as_deref(), None).await);
            }
            if deadline.remaining() < super::WRITE_RESERVE * 2 {
                report.more = true;
                break;
            }
            report.visited += 1;
            // The action's share leaves the run time to clear its mark and record where it
            // stopped, whatever the action's calls do.
            let share = deadline
                .minus(super::WRITE_RESERVE)
                .within(ports.config.settle_each);
            let settled = settle_mark(ports, &share, &mark).await;
            last = Some(mark.position.clone());
            if settled {
                report.settled += 1;
                if let Err(error) = deadline
                    .run(ports.actions.clear_unsettled(&mark.org, &mark.action_id))
                    .await
                {
                    tracing::warn!(org_id = %mark.org, action_id = %mark.action_id, %error, "a settled action's mark could not be cleared; the next run clears it");
                }
            }
        }
        if report.more {
            break;
        }
        match next {
            Some(next) => cursor = Some(next),
            None if !came_round => {
                came_round = true;
                cursor = None;
            }
            None => break,
        }
    }
    let stop = if report.more {
        last.as_deref().or(resume.as_deref())
    } else {
        None
    };
    Ok(stopped(ports, &outer, report, resume.as_deref(), stop).await)
}

/// Records where the run stopped (`None`: it looked at every mark) when that changed.
async fn stopped(
    ports: &ActionPorts,
    deadline: &Deadline,
    report: SettleReport,
    resume: Option<&str>,
    stop: Option<&str>,
) -> SettleReport {
    if stop != resume {
        if let Err(error) = deadline.run(ports.actions.set_settle_resume(stop)).await {
            tracing::warn!(error = %error, "where the settle run stopped could not be recorded");
        }
    }
    report
}

/// Settles `mark`'s action within `deadline`; whether it is final and its order let go (the
/// mark may go).
async fn settle_mark(ports: &ActionPorts, deadline: &Deadline, mark: &Unsettled) -> bool {
    let record = match deadline
        .run(ports.actions.get(&mark.org, &mark.action_id))
        .await
    {
        Ok(Some(record)) => record,
        Ok(None) => return true,
        Err(error) => {
            tracing::warn!(org_id = %mark.org, action_id = %mark.action_id, error = %error, "an unsettled action could not be read now");
            return false;
        }
    };
    let now = if record.status.is_final() {
        Ok(record)
    } else {
        settle_one(ports, deadline, record).await
    };
    match now {
        // The order is let go before the mark goes: an action that ended without letting it
        // go (its unlock failed) would hold it for a day.
        Ok(record) if record.status.is_final() => deadline
            .run(
                ports
                    .actions
                    .unlock_order(&OrderKey::of(&record), &record.action_id),
            )
            .await
            .is_ok(),
        Ok(_) => false,
        Err(error) => {
            tracing::warn!(org_id = %mark.org, action_id = %mark.action_id, code = %error.code, "an unsettled action could not be settled now");
            false
        }
    }
}
