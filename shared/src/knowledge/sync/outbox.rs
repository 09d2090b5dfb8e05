//! Announcements of what a run or removal changed (`knowledge.synced` events): recorded in the
//! store's sync state in the same write as the outcome they announce, then put on the bus and
//! removed from the state; one the bus refuses waits there for the next attempt.

use std::time::Duration;

use chrono::Utc;

use super::SyncPorts;
use crate::deadline::Deadline;
use crate::domain::{OrganizationId, ShopDomain};
use crate::events::SyncedEvent;
use crate::ids::new_id;
use crate::knowledge::document::store_uri;
use crate::knowledge::state::{Run, SyncState};
use crate::knowledge::KnowledgeError;

/// What the schedule spends at most on putting one store's waiting announcements.
pub(super) const ANNOUNCE_BUDGET: Duration = Duration::from_secs(2);

/// The prefix of a removal's announcement id.
const REMOVAL: &str = "removal-";

/// Adds the announcement of `run`'s changes to the outbox, when it changed anything (or may
/// have: an interrupted invocation's writes are not all in its counts).
pub(super) fn record_announcement(ports: &SyncPorts, state: &mut SyncState, run: &Run) {
    if run.added + run.updated + run.removed == 0 && !run.interrupted {
        return;
    }
    if state.outbox.iter().any(|e| e.event_id == run.id) {
        return;
    }
    let event = SyncedEvent {
        event_id: run.id.clone(),
        org_id: state.org_id.clone(),
        shop_domain: state.shop_domain.clone(),
        prefix: store_uri(&ports.config.bucket, &state.org_id, &state.shop_domain),
        added: run.added,
        updated: run.updated,
        removed: run.removed,
    };
    state.outbox.push(event);
}

/// Puts the announcements waiting in the store's outbox, oldest first, and removes those the
/// bus accepted from the stored state, changing nothing else in it (a conditional write on the
/// state as read, read again on a conflict). The first refusal stops it: what is left stays for
/// the next attempt (the message's redelivery, a later run, the schedule). While another
/// invocation holds the lease nothing is done: that run puts them when it ends. Answers the
/// state as stored afterwards (`None` when there is none).
pub(super) async fn announce(
    ports: &SyncPorts,
    deadline: &Deadline,
    org: &OrganizationId,
    shop: &ShopDomain,
    me: &str,
) -> Result<Option<SyncState>, KnowledgeError> {
    let mut put: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut refused = None;
    for _ in 0..8 {
        let Some(mut state) = deadline.run(ports.repo.state(org, shop)).await? else {
            return Ok(None);
        };
        if state.leased_by_other(me, Utc::now()) {
            return Ok(Some(state));
        }
        if refused.is_none() {
            for event in &state.outbox {
                if put.contains(&event.event_id) {
                    continue;
                }
                match deadline.run(ports.events.knowledge_synced(event)).await {
                    Ok(()) => {
                        put.insert(event.event_id.clone());
                    }
                    Err(error) => {
                        tracing::warn!(shop = %shop, %error, waiting = state.outbox.len(), "the bus refused a knowledge announcement; it stays in the outbox");
                        refused = Some(error);
                        break;
                    }
                }
            }
        }
        let before = state.outbox.len();
        state.outbox.retain(|e| !put.contains(&e.event_id));
        if state.outbox.len() < before {
            let expect = state.version;
            state.version = expect + 1;
            match deadline
                .run(ports.repo.put_state(&state, Some(expect)))
                .await
            {
                Ok(()) => {}
                // Written meanwhile: read again, and remove what was put from that.
                Err(crate::store::StoreError::Conflict) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        return match refused {
            Some(error) => Err(error.into()),
            None => Ok(Some(state)),
        };
    }
    // Written over and over meanwhile: what was put stays listed, and a later attempt puts it
    // again with the same id.
    refused.map_or(Ok(None), |error| Err(error.into()))
}

/// Records in `state`'s outbox that `removed` documents of the store were removed: the
/// pending removal announcement's count goes up to it, or one is added.
pub(super) fn note_removal(bucket: &str, state: &mut SyncState, removed: u64) {
    if let Some(event) = state
        .outbox
        .iter_mut()
        .find(|e| e.event_id.starts_with(REMOVAL))
    {
        event.removed = event.removed.max(removed);
        return;
    }
    let event = SyncedEvent {
        event_id: format!("{REMOVAL}{}", new_id()),
        org_id: state.org_id.clone(),
        shop_domain: state.shop_domain.clone(),
        prefix: store_uri(bucket, &state.org_id, &state.shop_domain),
        added: 0,
        updated: 0,
        removed,
    };
    state.outbox.push(event);
}
