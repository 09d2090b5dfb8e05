//! A store's run, message by message: taking the run over (planning it from its request the
//! first time), working its sources step by step with progress saved after each, and ending
//! the invocation by pausing (a continuation message), finishing (outcome and announcement) or
//! failing. A source that fails on its own ends failed and the others go on.

use std::time::Duration;

use chrono::Utc;

use super::lease::{lease_end, release, save};
use super::outbox::{announce, record_announcement};
use super::sources::Stepper;
use super::{SyncPorts, GRACE, MAX_THROTTLED_PAUSES, OVERLAP};
use crate::access::AccessError;
use crate::deadline::Deadline;
use crate::domain::{OrgSettings, OrganizationId, ShopDomain, Source};
use crate::failure::Code;
use crate::ids::new_id;
use crate::knowledge::ports::Job;
use crate::knowledge::state::{
    ErrorView, LastRun, Outcome, Phase, Progress, Run, RunKind, SourceEnd, Step, SyncState,
    DOCUMENT_FORMAT,
};
use crate::knowledge::views::STOPPED_EVERY_TIME;
use crate::knowledge::KnowledgeError;
use crate::queue::MAX_RECEIVES;
use crate::store::StoreRecord;

/// How a piece of work ended.
enum Progressed {
    Finished,
    /// Stop here and continue in a new message after this delay.
    Paused(Duration),
}

/// A `Run` job: takes the run over, works until it is done or the time is nearly up, and
/// ends the invocation (finished, paused or failed); a transient failure releases the lease so
/// the message's next delivery resumes from the last saved progress.
pub(super) async fn run(
    ports: &SyncPorts,
    org: &OrganizationId,
    shop: &ShopDomain,
    ticket: &str,
    deadline: Deadline,
    receives: u32,
) -> Result<(), KnowledgeError> {
    let me = new_id();
    let Some((mut state, record)) =
        start(ports, org, shop, ticket, &deadline, &me, receives).await?
    else {
        return Ok(());
    };
    let outcome = work(ports, &deadline, &mut state, &record, &me, receives).await;
    // What is written after the work gets a moment of its own: the work may have used the
    // deadline up, and the function keeps a margin before Lambda's.
    let grace = Deadline::after(GRACE);
    let mut unfinished = state.clone();
    let ended = match outcome {
        Ok(Progressed::Finished) => finish(ports, &grace, state, &me).await,
        Ok(Progressed::Paused(delay)) => pause(ports, &grace, state, &me, delay).await,
        Err(KnowledgeError::LeaseLost) => return Ok(()),
        Err(error) if error.is_permanent() || receives >= MAX_RECEIVES => {
            tracing::warn!(shop = %shop, %error, receives, "knowledge sync failed");
            let permanent = error.is_permanent();
            match fail(ports, &grace, state, &me, &error).await {
                Ok(()) if permanent => Ok(()),
                Ok(()) => Err(error),
                Err(failure) => Err(failure),
            }
        }
        Err(error) => Err(error),
    };
    if ended.is_err() {
        // Transient, or the write that ended the invocation failed: the lease goes all the
        // same, so the message's next delivery resumes from the last saved progress at once.
        // (When that write did land, this one finds the run gone and changes nothing.)
        if let Some(run) = unfinished.run.as_mut() {
            run.interrupted = true;
        }
        release(&mut unfinished);
        let _ = save(ports, &grace, &mut unfinished, &me).await;
    }
    ended
}

/// Takes the store's lease for the run `ticket` names, planning the run from its request if it
/// has not begun. `None`: the delivery is stale or a duplicate, or the store is gone (its
/// removal is queued); [`KnowledgeError::Busy`]: another invocation holds the lease. A state
/// changed meanwhile by someone else (a request merged in, a removal) is read again.
async fn start(
    ports: &SyncPorts,
    org: &OrganizationId,
    shop: &ShopDomain,
    ticket: &str,
    deadline: &Deadline,
    me: &str,
    receives: u32,
) -> Result<Option<(SyncState, StoreRecord)>, KnowledgeError> {
    for _ in 0..8 {
        let Some(mut state) = deadline.run(ports.repo.state(org, shop)).await? else {
            return Ok(None);
        };
        let current = state
            .run
            .as_ref()
            .map(|r| r.ticket.as_str())
            .or(state.requested.as_ref().map(|r| r.run_id.as_str()));
        if current != Some(ticket) {
            tracing::info!(shop = %shop, ticket, "not the store's current ticket; dropped");
            // A run that finished but could not announce itself failed its message so that
            // it comes back: its announcement is put now. Past the message's last receive it
            // is left to the next run or the schedule, not to the dead-letter queue.
            if !state.outbox.is_empty() {
                if let Err(error) = announce(ports, deadline, org, shop, me).await {
                    if receives < MAX_RECEIVES {
                        return Err(error);
                    }
                }
            }
            return Ok(None);
        }
        let now = Utc::now();
        if state.leased_by_other(me, now) {
            // The same message twice at once, or an invocation that died holding the lease:
            // the message comes back after its visibility timeout, when the lease is over.
            tracing::info!(shop = %shop, ticket, "the run is under way in another invocation");
            return Err(KnowledgeError::Busy);
        }
        let Some(record) = deadline.run(ports.stores.get(org, shop)).await? else {
            // Disconnected meanwhile: its documents go, and so does this run.
            let job = Job::remove(org, shop, None);
            deadline.run(ports.queue.send(&job, Duration::ZERO)).await?;
            return Ok(None);
        };
        let settings = deadline.run(ports.stores.get_settings(org)).await?;
        // A lease left behind means the invocation before this one died mid-step: what it
        // wrote after its last save is not in the counts.
        let interrupted = state.lease_owner.is_some();
        if state.run.is_none() {
            let request = state.requested.take().expect("checked: a run or a request");
            state.run = Some(plan(
                &state,
                &request.sources,
                request.kind,
                &settings,
                &record,
                &request.run_id,
            ));
        }
        let run = state.run.as_mut().expect("planned");
        run.interrupted |= interrupted;
        if interrupted && receives >= MAX_RECEIVES {
            // Every delivery of this message died where the last one did (killed for time or
            // memory by what the source holds): the source fails alone, so the others sync and
            // the store does not stay running.
            if let Some(progress) = run.progress.iter_mut().find(|p| p.step != Step::Done) {
                tracing::error!(shop = %shop, source = %progress.source, receives, "every delivery of a run died in the same source; it fails and the run goes on");
                progress.step = Step::Done;
                progress.bulk = None;
                progress.end = Some(SourceEnd::Failed {
                    error: ErrorView::of(Code::Internal, STOPPED_EVERY_TIME),
                });
            }
        }
        // A source turned off since the run began has its documents removed by this run,
        // which holds the store (a removal job would wait for the run to end); none goes
        // while the settings hold a source this version cannot read. One whose scope the
        // store no longer grants has its documents removed too.
        if settings.knowledge_unread {
            run.progress
                .retain(|p| settings.knowledge.enabled(p.source));
        }
        for progress in &mut run.progress {
            let enabled = settings.knowledge.enabled(progress.source);
            match &progress.end {
                // Turned on again before its documents were all removed: read in full.
                Some(SourceEnd::TurnedOff) if enabled => turn_on_again(progress),
                // A source failed alone (every delivery died in it) stays failed; its
                // removal job takes its documents.
                Some(SourceEnd::TurnedOff | SourceEnd::Failed { .. }) => {}
                _ if !enabled => turn_off(progress),
                _ => {}
            }
        }
        for progress in &mut run.progress {
            if !progress.source.granted_by(&record.granted_scopes) && progress.end.is_none() {
                withdraw(progress);
            }
        }
        for progress in &run.progress {
            // Recorded from the start, so a source turned off mid-run is known to have files.
            state.sources.entry(progress.source).or_default();
        }
        state.phase = Phase::Running;
        state.lease_owner = Some(me.to_owned());
        state.lease_until = Some(lease_end(deadline));
        if let Some(run) = state.run.as_mut() {
            run.touched_at = Some(now);
        }
        let expect = state.version;
        state.version = expect + 1;
        match deadline
            .run(ports.repo.put_state(&state, Some(expect)))
            .await
        {
            Ok(()) => return Ok(Some((state, record))),
            Err(crate::store::StoreError::Conflict) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(KnowledgeError::Busy)
}

/// Saves the run's progress under a new ticket, releases the lease, and queues the message
/// that continues the run after `delay`. If that message cannot be sent, the old ticket is
/// put back, so this message's redelivery continues instead.
async fn pause(
    ports: &SyncPorts,
    deadline: &Deadline,
    mut state: SyncState,
    me: &str,
    delay: Duration,
) -> Result<(), KnowledgeError> {
    let run = state.run.as_mut().expect("a paused run");
    let previous = std::mem::replace(&mut run.ticket, new_id());
    let job = Job::Run {
        org_id: state.org_id.clone(),
        shop_domain: state.shop_domain.clone(),
        ticket: run.ticket.clone(),
    };
    release(&mut state);
    save(ports, deadline, &mut state, me).await?;
    if let Err(error) = deadline.run(ports.queue.send(&job, delay)).await {
        state.run.as_mut().expect("a paused run").ticket = previous;
        let _ = save(ports, deadline, &mut state, me).await;
        return Err(error.into());
    }
    Ok(())
}

/// The run a request turns into: the requested sources that are on and whose scopes the
/// store granted, each full or incremental; and those on whose scope the store no longer
/// grants but that still have documents, to be removed.
fn plan(
    state: &SyncState,
    requested: &[Source],
    kind: RunKind,
    settings: &OrgSettings,
    record: &StoreRecord,
    run_id: &str,
) -> Run {
    let now = Utc::now();
    let overlap = chrono::Duration::from_std(OVERLAP).expect("small");
    let progress = requested
        .iter()
        .copied()
        .filter(|s| settings.knowledge.enabled(*s))
        .filter(|s| {
            s.granted_by(&record.granted_scopes)
                || state
                    .sources
                    .get(s)
                    .is_some_and(|status| status.documents > 0 || status.synced_at.is_some())
        })
        .map(|source| {
            let status = state.sources.get(&source);
            // Documents of an older format are all written again.
            let synced = status
                .filter(|s| s.format >= DOCUMENT_FORMAT)
                .and_then(|s| s.synced_at);
            // Policies are few and read whole either way; an incremental run of a source
            // never synced is a full one.
            let (kind, since) = match (kind, synced) {
                (RunKind::Incremental, Some(at)) => (RunKind::Incremental, Some(at - overlap)),
                _ => (RunKind::Full, None),
            };
            let mut progress = Progress {
                source,
                kind,
                step: Step::List,
                cursor: None,
                merged_through: None,
                since,
                bulk: None,
                paged: false,
                documents: None,
                end: None,
                skipped: 0,
                // A status written before `unindexed` was kept counts its skipped items.
                unindexed_before: kind == RunKind::Incremental
                    && status.is_some_and(|s| s.unindexed || s.skipped > 0),
                swept_ids: 0,
                swept_indexed: 0,
            };
            if !source.granted_by(&record.granted_scopes) {
                withdraw(&mut progress);
            }
            progress
        })
        .collect::<Vec<_>>();
    let overall = if progress.iter().any(|p| p.kind == RunKind::Full) {
        RunKind::Full
    } else {
        RunKind::Incremental
    };
    Run {
        id: run_id.to_owned(),
        ticket: run_id.to_owned(),
        touched_at: Some(now),
        kind: overall,
        started_at: now,
        progress,
        added: 0,
        updated: 0,
        removed: 0,
        primary_url: None,
        currency: None,
        throttled: 0,
        interrupted: false,
    }
}

/// Starts `progress` over at `step`, ending as `end`: nothing it read so far is kept.
fn restart(progress: &mut Progress, step: Step, end: Option<SourceEnd>) {
    progress.step = step;
    progress.cursor = None;
    progress.merged_through = None;
    progress.bulk = None;
    progress.documents = None;
    progress.end = end;
}

/// A source turned off during the run: its documents are removed.
fn turn_off(progress: &mut Progress) {
    restart(progress, Step::Purge, Some(SourceEnd::TurnedOff));
}

/// A source turned back on while its documents were being removed: it is read in full, as a
/// source turned on is.
fn turn_on_again(progress: &mut Progress) {
    progress.kind = RunKind::Full;
    progress.since = None;
    progress.paged = false;
    progress.skipped = 0;
    restart(progress, Step::List, None);
}

/// Turns a source whose scope the store no longer grants into the removal of its documents.
fn withdraw(progress: &mut Progress) {
    let missing = progress
        .source
        .scopes()
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    restart(
        progress,
        Step::Purge,
        Some(SourceEnd::Withdrawn { missing }),
    );
}

/// Sends the message of the run asked for while the last one ran (`ticket`), if any.
async fn queue_follow_up(
    ports: &SyncPorts,
    deadline: &Deadline,
    state: &SyncState,
    ticket: Option<String>,
) -> Result<(), KnowledgeError> {
    let Some(ticket) = ticket else {
        return Ok(());
    };
    let job = Job::Run {
        org_id: state.org_id.clone(),
        shop_domain: state.shop_domain.clone(),
        ticket,
    };
    deadline.run(ports.queue.send(&job, Duration::ZERO)).await?;
    Ok(())
}

/// Records the run's outcome and its announcement in one write, queues the follow-up run if
/// one was asked for meanwhile, then puts the announcement. An announcement the bus refuses
/// stays in the state's outbox and fails the message, whose redelivery puts it again.
async fn finish(
    ports: &SyncPorts,
    deadline: &Deadline,
    mut state: SyncState,
    me: &str,
) -> Result<(), KnowledgeError> {
    let run = state.run.take().expect("a finished run");
    let failed = record_sources(&mut state, &run);
    state.last_run = Some(LastRun {
        kind: run.kind,
        started_at: run.started_at,
        finished_at: Utc::now(),
        outcome: if failed.is_some() {
            Outcome::Failed
        } else {
            Outcome::Succeeded
        },
        error: failed.clone(),
    });
    let follow_up = state.requested.as_ref().map(|r| r.run_id.clone());
    state.phase = match (&follow_up, &failed) {
        (Some(_), _) => Phase::Queued,
        (None, Some(_)) => Phase::Failed,
        (None, None) => Phase::Idle,
    };
    record_announcement(ports, &mut state, &run);
    release(&mut state);
    save(ports, deadline, &mut state, me).await?;
    tracing::info!(shop = %state.shop_domain, added = run.added, updated = run.updated, removed = run.removed, failed_sources = run.progress.iter().filter(|p| matches!(p.end, Some(SourceEnd::Failed { .. }))).count(), "knowledge sync finished");
    queue_follow_up(ports, deadline, &state, follow_up).await?;
    announce(ports, deadline, &state.org_id, &state.shop_domain, me).await?;
    Ok(())
}

/// Records in each source's status how it ended in `run`: its document count, and synced,
/// failed or withdrawn for the sources done. Answers the first source failure.
fn record_sources(state: &mut SyncState, run: &Run) -> Option<ErrorView> {
    let mut failed: Option<ErrorView> = None;
    for progress in &run.progress {
        if progress.end == Some(SourceEnd::TurnedOff) {
            // Its documents are gone: nothing of it is kept (a failed purge leaves the status,
            // and the source's removal job finishes it).
            if progress.step == Step::Done {
                state.sources.remove(&progress.source);
            }
            continue;
        }
        let status = state.sources.entry(progress.source).or_default();
        if let Some(documents) = progress.documents {
            status.documents = documents;
        }
        if progress.step != Step::Done {
            continue;
        }
        match &progress.end {
            None => {
                status.synced_at = Some(run.started_at);
                status.error = None;
                status.missing = None;
                if progress.kind == RunKind::Full {
                    status.format = DOCUMENT_FORMAT;
                }
                status.skipped = progress.skipped;
                // Cleared by a full run that rendered everything, or a sweep that found an
                // index entry for every id Shopify listed.
                status.unindexed = progress.skipped > 0
                    || (progress.kind == RunKind::Incremental
                        && progress.unindexed_before
                        && progress.swept_ids != progress.swept_indexed);
            }
            Some(SourceEnd::Failed { error }) => {
                status.error = Some(error.clone());
                failed.get_or_insert_with(|| error.clone());
            }
            Some(SourceEnd::Withdrawn { missing }) => {
                // Read in full once the scope is granted again.
                status.synced_at = None;
                status.error = None;
                status.missing = Some(missing.clone());
                status.skipped = 0;
            }
            // Handled before the status is read.
            Some(SourceEnd::TurnedOff) => {}
        }
    }
    failed
}

/// Records a run that cannot go on as failed (the sources done keep what they reached, the
/// source under way shows the error), releases the lease, queues the sync asked for meanwhile
/// and puts its announcement.
async fn fail(
    ports: &SyncPorts,
    deadline: &Deadline,
    mut state: SyncState,
    me: &str,
    error: &KnowledgeError,
) -> Result<(), KnowledgeError> {
    let view = error.view();
    if let Some(run) = state.run.take() {
        // The sources done before the failure keep what they reached.
        record_sources(&mut state, &run);
        if let Some(progress) = run.progress.iter().find(|p| p.step != Step::Done) {
            state.sources.entry(progress.source).or_default().error = Some(view.clone());
        }
        // What it wrote before failing is announced all the same.
        record_announcement(ports, &mut state, &run);
        state.last_run = Some(LastRun {
            kind: run.kind,
            started_at: run.started_at,
            finished_at: Utc::now(),
            outcome: Outcome::Failed,
            error: Some(view),
        });
    }
    // A sync asked for while this one ran still runs, as after a run that finished.
    let follow_up = state.requested.as_ref().map(|r| r.run_id.clone());
    state.phase = if follow_up.is_some() {
        Phase::Queued
    } else {
        Phase::Failed
    };
    release(&mut state);
    save(ports, deadline, &mut state, me).await?;
    queue_follow_up(ports, deadline, &state, follow_up).await?;
    if let Err(error) = announce(ports, deadline, &state.org_id, &state.shop_domain, me).await {
        // Kept in the outbox: the next delivery, run or schedule puts it.
        tracing::warn!(shop = %state.shop_domain, %error, "the failed run's announcement waits in the outbox");
    }
    Ok(())
}

/// Runs steps until the run is done, a pause is needed, or the time is nearly up. Progress
/// is saved after every step. A source that fails on its own (Shopify sends what cannot be
/// read, or keeps failing it past the message's receives) ends failed and the others go on;
/// one whose scope Shopify denies has its documents removed.
async fn work(
    ports: &SyncPorts,
    deadline: &Deadline,
    state: &mut SyncState,
    record: &StoreRecord,
    me: &str,
    receives: u32,
) -> Result<Progressed, KnowledgeError> {
    loop {
        if deadline.remaining() < ports.config.step_reserve {
            return Ok(Progressed::Paused(Duration::ZERO));
        }
        // A source done is counted before anything else happens, so no run finishes with a
        // source uncounted (the count after its last step may have failed or run out of time).
        count_done(ports, deadline, state).await?;
        let run = state.run.as_mut().expect("a running run");
        let Some(index) = run.progress.iter().position(|p| p.step != Step::Done) else {
            return Ok(Progressed::Finished);
        };
        let mut step = Stepper {
            ports,
            deadline,
            record,
            org: &record.org_id,
            shop: &record.shop_domain,
            run,
        };
        let source = step.run.progress[index].source;
        let next = match step.step(index).await {
            Ok(next) => {
                step.run.throttled = 0;
                next
            }
            Err(error)
                if error.code() == Code::ShopifyRateLimited
                    && step.run.throttled < MAX_THROTTLED_PAUSES =>
            {
                step.run.throttled += 1;
                tracing::info!(shop = %record.shop_domain, pauses = step.run.throttled, "Shopify throttled the sync; it steps aside for live lookups");
                Some(ports.config.throttled_pause)
            }
            Err(error) if access_denied(&error) => {
                // The scope was withdrawn since it was recorded: this source's documents go
                // and it shows `missing_scope`; the others go on.
                tracing::warn!(shop = %record.shop_domain, %source, "Shopify denied a source's scope; its documents are removed");
                withdraw(&mut step.run.progress[index]);
                None
            }
            Err(error)
                if fails_alone(&error, receives)
                    && (error.is_permanent()
                        || step
                            .run
                            .progress
                            .iter()
                            .filter(|p| p.step != Step::Done)
                            .count()
                            > 1) =>
            {
                tracing::warn!(shop = %record.shop_domain, %source, %error, receives, "a source failed; the run goes on with the others");
                let progress = &mut step.run.progress[index];
                progress.step = Step::Done;
                progress.bulk = None;
                progress.end = Some(SourceEnd::Failed {
                    error: error.view(),
                });
                None
            }
            Err(error) => return Err(error),
        };
        count_done(ports, deadline, state).await?;
        save(ports, deadline, state, me).await?;
        if let Some(delay) = next {
            return Ok(Progressed::Paused(delay));
        }
    }
}

/// Counts the documents of every source that is done and not counted yet.
async fn count_done(
    ports: &SyncPorts,
    deadline: &Deadline,
    state: &mut SyncState,
) -> Result<(), KnowledgeError> {
    let (org, shop) = (&state.org_id, &state.shop_domain);
    let run = state.run.as_mut().expect("a running run");
    for progress in &mut run.progress {
        if progress.step == Step::Done && progress.documents.is_none() {
            let count = ports.repo.count_entries(org, shop, progress.source);
            progress.documents = Some(deadline.run(count).await?);
        }
    }
    Ok(())
}

/// Whether `error` is the source's own, so that the run goes on with the other sources: what
/// Shopify sent cannot be read, or a transient failure outlasted the message's receives (and
/// another source is left to try: when none is, the run fails as a whole and its message goes
/// to the dead-letter queue). Failures of the store (its credentials, the shop) or of our
/// storage end the run.
fn fails_alone(error: &KnowledgeError, receives: u32) -> bool {
    match error {
        KnowledgeError::Malformed(_) => true,
        KnowledgeError::Access(AccessError::Shopify(e)) => match e.code() {
            Code::InvalidCredentials | Code::ShopUnavailable | Code::ShopNotFound => false,
            Code::Internal => true,
            _ => receives >= MAX_RECEIVES,
        },
        _ => false,
    }
}

/// Whether Shopify refused a query for want of a scope.
pub(super) fn access_denied(error: &KnowledgeError) -> bool {
    matches!(
        error,
        KnowledgeError::Access(AccessError::Shopify(
            crate::shopify::ShopifyError::AccessDenied { .. }
        ))
    )
}
