//! Removing knowledge: a disconnected store's documents and sync state, or the documents of
//! sources turned off, under the store's lease, a piece per message; its announcement is
//! written before anything is deleted.

use std::time::Duration;

use super::lease::{save_released, take_lease};
use super::outbox::{announce, note_removal};
use super::{SyncPorts, GRACE};
use crate::deadline::Deadline;
use crate::domain::{OrganizationId, ShopDomain, Source};
use crate::ids::new_id;
use crate::knowledge::document::{sidecar_key, source_prefix, store_prefix};
use crate::knowledge::ports::Job;
use crate::knowledge::state::SyncState;
use crate::knowledge::KnowledgeError;

/// Removes a store's documents (all, when it was disconnected) or some sources' documents
/// (turned off): index entries and their files first, then any file left under the prefix.
/// It holds the store's lease meanwhile, so no run writes while documents go; a run holding
/// it makes this job come back later.
pub(super) async fn remove(
    ports: &SyncPorts,
    org: &OrganizationId,
    shop: &ShopDomain,
    sources: Option<Vec<Source>>,
    (after, removed_before): (Option<String>, u64),
    deadline: Deadline,
) -> Result<(), KnowledgeError> {
    let whole_store = sources.is_none();
    if whole_store && deadline.run(ports.stores.get(org, shop)).await?.is_some() {
        // Connected again meanwhile: the new connection's runs keep what is right.
        return Ok(());
    }
    let settings = deadline.run(ports.stores.get_settings(org)).await?;
    let targets: Vec<Source> = match &sources {
        None => Source::ALL.to_vec(),
        // A source turned back on meanwhile keeps its documents, and none goes while the
        // settings hold a source this version cannot read.
        Some(_) if settings.knowledge_unread => Vec::new(),
        Some(list) => list
            .iter()
            .copied()
            .filter(|s| !settings.knowledge.enabled(*s))
            .collect(),
    };
    if targets.is_empty() {
        return Ok(());
    }
    let me = new_id();
    // The removal's announcement is written with the lease, before anything is deleted, when
    // there is anything to delete: whatever fails from here on, it waits in the outbox.
    let bucket = ports.config.bucket.as_str();
    let leased = take_lease(ports, &deadline, org, shop, &me, whole_store, |state| {
        // The documents the state counts are the ones about to go.
        let documents: u64 = targets
            .iter()
            .filter_map(|s| state.sources.get(s))
            .map(|status| status.documents)
            .sum();
        if documents > 0 || removed_before > 0 {
            note_removal(bucket, state, documents.max(removed_before));
        }
    })
    .await;
    let pause = |after: Option<String>, removed: u64| {
        Job::remove_after(org, shop, sources.clone(), after, removed)
    };
    let mut state = match leased {
        // A run holds the store: this removal comes back in a message of its own, later.
        Err(KnowledgeError::Busy) => {
            deadline
                .run(
                    ports
                        .queue
                        .send(&pause(after, removed_before), ports.config.busy_pause),
                )
                .await?;
            return Ok(());
        }
        other => other?,
    };
    let mut removed = removed_before;
    let outcome = remove_documents(
        ports,
        &deadline,
        (org, shop),
        &targets,
        whole_store,
        after,
        &mut removed,
    )
    .await;
    let grace = Deadline::after(GRACE);
    let Some(mut state) = state.take() else {
        // A source's documents without any sync state (not a disconnect): put at once.
        outcome?;
        if removed > 0 {
            let mut lone = SyncState::new(org, shop);
            note_removal(bucket, &mut lone, removed);
            grace
                .run(ports.events.knowledge_synced(&lone.outbox[0]))
                .await?;
        }
        return Ok(());
    };
    if removed > 0 {
        note_removal(bucket, &mut state, removed);
    }
    let continue_after = match outcome {
        Ok(done) => done,
        Err(error) => {
            let _ = save_released(ports, &grace, &mut state, &me).await;
            return Err(error);
        }
    };
    if let Some(after) = continue_after {
        save_released(ports, &grace, &mut state, &me).await?;
        grace
            .run(ports.queue.send(&pause(after, removed), Duration::ZERO))
            .await?;
        return Ok(());
    }
    tracing::info!(shop = %shop, sources = ?targets, removed, "knowledge documents removed");
    for source in &targets {
        state.sources.remove(source);
    }
    save_released(ports, &grace, &mut state, &me).await?;
    // Announced before the state may go.
    let stored = announce(ports, &grace, org, shop, &me).await?;
    if let Some(stored) = stored.filter(|s| whole_store && s.outbox.is_empty()) {
        // Only if the store is still gone and nobody asked for a run meanwhile (a reconnect,
        // whose runs keep the state): then its state goes too.
        if grace.run(ports.stores.get(org, shop)).await?.is_none() {
            match grace
                .run(ports.repo.delete_state(org, shop, stored.version))
                .await
            {
                Ok(()) | Err(crate::store::StoreError::Conflict) => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    Ok(())
}

/// Deletes the documents of `targets`; `Ok(Some(after))` when the time ran short and the work
/// continues in a new message (from `after` in the listing of leftover files).
pub(super) async fn remove_documents(
    ports: &SyncPorts,
    deadline: &Deadline,
    (org, shop): (&OrganizationId, &ShopDomain),
    targets: &[Source],
    whole_store: bool,
    after: Option<String>,
    removed: &mut u64,
) -> Result<Option<Option<String>>, KnowledgeError> {
    for source in targets {
        loop {
            if deadline.remaining() < ports.config.step_reserve {
                return Ok(Some(None));
            }
            let entries = deadline
                .run(ports.repo.entries(org, shop, *source, None, None, 500))
                .await?;
            if entries.is_empty() {
                break;
            }
            let keys: Vec<String> = entries
                .iter()
                .flat_map(|e| [e.key.clone(), sidecar_key(&e.key)])
                .collect();
            deadline.run(ports.documents.delete(&keys)).await?;
            for entry in &entries {
                deadline
                    .run(ports.repo.delete_entry(org, shop, entry.source, entry.id))
                    .await?;
                *removed += 1;
            }
        }
    }
    // Files without an index entry (a run that died between the two writes).
    let prefixes: Vec<String> = if whole_store {
        vec![store_prefix(org, shop)]
    } else {
        targets
            .iter()
            .map(|s| source_prefix(org, shop, *s))
            .collect()
    };
    let mut start = after;
    for prefix in prefixes {
        if start.as_deref().is_some_and(|s| !s.starts_with(&prefix)) {
            continue;
        }
        loop {
            if deadline.remaining() < ports.config.step_reserve {
                return Ok(Some(start));
            }
            let (keys, more) = deadline
                .run(ports.documents.list(&prefix, start.as_deref()))
                .await?;
            if !keys.is_empty() {
                deadline.run(ports.documents.delete(&keys)).await?;
            }
            start = keys.last().cloned();
            if !more {
                start = None;
                break;
            }
        }
    }
    Ok(None)
}
