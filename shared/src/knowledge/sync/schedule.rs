//! The schedule: a tick queues an incremental run for every connected store with a source
//! enabled (and the removal of sources turned off that still have documents, and the
//! announcements still waiting), a page of stores per message; after the last page it sweeps
//! the sync states of stores no longer connected.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;

use super::outbox::{announce, ANNOUNCE_BUDGET};
use super::SyncPorts;
use crate::deadline::Deadline;
use crate::domain::{OrgSettings, OrganizationId, Source};
use crate::knowledge::ports::Job;
use crate::knowledge::state::RunKind;
use crate::knowledge::{request_run, KnowledgeError};
use crate::store::StoreError;

/// Queues an incremental run for every connected store with a source enabled, a page of the
/// table at a time (the next page is a job of its own).
pub async fn tick(
    ports: &SyncPorts,
    cursor: Option<String>,
    deadline: Deadline,
) -> Result<(), KnowledgeError> {
    let (stores, next) = deadline
        .run(ports.stores.scan(cursor.as_deref(), 100))
        .await?;
    let mut settings: HashMap<OrganizationId, OrgSettings> = HashMap::new();
    let mut queued = 0;
    for store in &stores {
        // An item this version cannot read (written by another one, say) is logged and passed
        // over: the stores after it are still queued.
        let requested = async {
            if !settings.contains_key(&store.org_id) {
                let org_settings = deadline
                    .run(ports.stores.get_settings(&store.org_id))
                    .await?;
                settings.insert(store.org_id.clone(), org_settings);
            }
            let knowledge = settings[&store.org_id].knowledge;
            // Sources turned off that the store still has a status (and maybe documents) for: their
            // removal was never queued, or never finished.
            if let Some(state) = deadline
                .run(ports.repo.state(&store.org_id, &store.shop_domain))
                .await?
            {
                // Announcements the bus refused every time so far are put again.
                if !state.outbox.is_empty() && !state.leased_by_other("", Utc::now()) {
                    let budget = deadline.within(ANNOUNCE_BUDGET);
                    let (org, shop) = (&store.org_id, &store.shop_domain);
                    if let Err(error) = announce(ports, &budget, org, shop, "").await {
                        tracing::warn!(shop = %store.shop_domain, %error, "knowledge announcements still wait in the outbox");
                    }
                }
                // Not while the settings hold a source this version cannot read.
                let unread = settings[&store.org_id].knowledge_unread;
                let stale: Vec<Source> = state
                    .sources
                    .keys()
                    .filter(|source| !unread && !knowledge.enabled(**source))
                    .copied()
                    .collect();
                if !stale.is_empty() {
                    let job = Job::remove(&store.org_id, &store.shop_domain, Some(stale));
                    deadline.run(ports.queue.send(&job, Duration::ZERO)).await?;
                }
            }
            let sources = knowledge.list();
            if sources.is_empty() {
                return Ok(false);
            }
            request_run(
                ports.repo.as_ref(),
                ports.queue.as_ref(),
                &deadline,
                &store.org_id,
                &store.shop_domain,
                RunKind::Incremental,
                &sources,
                false,
            )
            .await
        }
        .await;
        match requested {
            Ok(requested) => queued += usize::from(requested),
            Err(KnowledgeError::Store(StoreError::Corrupt(error))) => tracing::error!(
                org_id = %store.org_id,
                shop = %store.shop_domain,
                %error,
                "a store whose stored items cannot be read is passed over by the schedule"
            ),
            Err(error) => return Err(error),
        }
    }
    // The next page of stores, or, after the last, the sweep of what disconnected stores left.
    let job = Job::Tick {
        orphans: next.is_none(),
        cursor: next,
    };
    deadline.run(ports.queue.send(&job, Duration::ZERO)).await?;
    tracing::info!(stores = stores.len(), queued, "knowledge sync tick");
    Ok(())
}

/// Queues the removal of the documents and sync state of every store no longer connected (a
/// disconnect whose removal job was never queued), a page of sync states at a time.
pub(super) async fn sweep_orphans(
    ports: &SyncPorts,
    cursor: Option<String>,
    deadline: Deadline,
) -> Result<(), KnowledgeError> {
    let (states, next) = deadline
        .run(ports.repo.scan_states(cursor.as_deref(), 100))
        .await?;
    let mut orphans = 0;
    for state in &states {
        let connected = match deadline
            .run(ports.stores.get(&state.org_id, &state.shop_domain))
            .await
        {
            Ok(record) => record.is_some(),
            // A store item this version cannot read is not removed, nor does it stop the sweep.
            Err(StoreError::Corrupt(error)) => {
                tracing::error!(org_id = %state.org_id, shop = %state.shop_domain, %error, "a store item that cannot be read is passed over by the orphan sweep");
                true
            }
            Err(error) => return Err(error.into()),
        };
        if !connected {
            orphans += 1;
            let job = Job::remove(&state.org_id, &state.shop_domain, None);
            deadline.run(ports.queue.send(&job, Duration::ZERO)).await?;
        }
    }
    if let Some(cursor) = next {
        let job = Job::Tick {
            cursor: Some(cursor),
            orphans: true,
        };
        deadline.run(ports.queue.send(&job, Duration::ZERO)).await?;
    }
    if orphans > 0 {
        tracing::info!(
            orphans,
            "knowledge of disconnected stores queued for removal"
        );
    }
    Ok(())
}
