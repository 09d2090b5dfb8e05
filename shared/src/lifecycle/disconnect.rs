//! Disconnect: the slot marked deleting, the secret deleted at once and for good, the mark
//! cleared — or the store put back when Secrets Manager refused the deletion and the secret is
//! confirmed still there (see the protocol
//! in [`super`]). A disconnect that stopped half-way is taken over by the next one. And
//! [`Disconnector::remove`]: a disconnect with what follows it (each [`AfterDisconnect`]).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;

use super::{
    clear_mark, deletion_in_progress, within_delete_window, LifecycleError, Storage, WRITE_ROUNDS,
};
use crate::deadline::Deadline;
use crate::domain::{OrganizationId, ShopDomain};
use crate::events::EventPublisher;
use crate::ids::new_id;
use crate::secrets::{SecretName, SecretsError};
use crate::store::{Expect, Slot, StoreError, StoreRecord, Tombstone, TombstoneOrigin};

/// Disconnects `shop` from `org`: the record goes (a deleting mark takes its place), then the
/// secret, at once and for good. When Secrets Manager refused the deletion and the secret is
/// confirmed still there, the record is put back (the store stays whole) and the error
/// returned. A
/// disconnect that stopped half-way is taken over by the next one.
///
/// A takeover never shortens the deletion lease: only a deleter that marked a live record (or
/// a mark already expired) clears the mark; a takeover leaves its own fresh mark to expire, as
/// the first deleter may still be inside its window.
///
/// The status changes the record's outbox still held (their announcement had failed) are put
/// on `events` as soon as the mark lands, before the secret goes: whatever happens next, the
/// record that held them is gone (a record put back keeps them, and may announce them again
/// with the same `change_id`).
pub async fn disconnect(
    storage: &Storage,
    events: Option<&Arc<dyn EventPublisher>>,
    deadline: Deadline,
    org: &OrganizationId,
    shop: &ShopDomain,
) -> Result<(), LifecycleError> {
    let name = storage.secret_name(org, shop);
    let write_id = new_id();
    // What the slot held under our mark: the live record (to put back) and whether we are the
    // only deleter of this episode (so we may clear the mark).
    let mut under_mark: Option<(Option<StoreRecord>, bool)> = None;
    for _ in 0..WRITE_ROUNDS {
        let slot = storage.slot(&deadline, org, shop).await?;
        if let Slot::Gone(tombstone) = &slot {
            if tombstone.write_id == write_id {
                // Our mark landed; only its answer was lost.
                let (previous, sole) = under_mark.take().unwrap_or((None, false));
                return delete_marked(storage, events, &deadline, &name, tombstone, previous, sole)
                    .await;
            }
        }
        let attempt = match &slot {
            Slot::Absent => return Err(LifecycleError::NotConnected),
            Slot::Gone(tombstone)
                if tombstone.deleting_since.is_none()
                    || tombstone.origin == TombstoneOrigin::Undo =>
            {
                // Disconnected already, or never connected (a failed connect's undo).
                return Err(LifecycleError::NotConnected);
            }
            // A disconnect that stopped half-way (or is still running): finish it.
            Slot::Gone(_) => (None, !deletion_in_progress(&slot)),
            Slot::Live(record) => (Some(record.clone()), true),
        };
        let now = Utc::now();
        let mark = Tombstone {
            org_id: org.clone(),
            shop_domain: shop.clone(),
            version: slot.next_version(),
            write_id: write_id.clone(),
            deleting_since: Some(now),
            removed_at: now,
            origin: TombstoneOrigin::Disconnect,
        };
        under_mark = Some(attempt.clone());
        match deadline
            .run(storage.stores.put_gone(&mark, slot.expect()))
            .await
        {
            Ok(()) => {
                let (previous, sole) = attempt;
                return delete_marked(storage, events, &deadline, &name, &mark, previous, sole)
                    .await;
            }
            Err(StoreError::Conflict) => continue,
            Err(error) => {
                // The mark may have landed with only its answer lost.
                if let Ok(Slot::Gone(landed)) = storage.slot(&deadline, org, shop).await {
                    if landed.write_id == write_id {
                        let (previous, sole) = attempt;
                        return delete_marked(
                            storage, events, &deadline, &name, &landed, previous, sole,
                        )
                        .await;
                    }
                }
                return Err(error.into());
            }
        }
    }
    Err(LifecycleError::Contended)
}

/// What became of a secret deletion.
enum Deletion {
    Done,
    /// The secret is confirmed still there.
    Refused(LifecycleError),
    /// Unknown: the deletion may or may not have happened.
    Unknown(LifecycleError),
}

/// The second half of a disconnect: delete the secret under `mark`, then clear the mark if
/// this request is the episode's only deleter.
async fn delete_marked(
    storage: &Storage,
    events: Option<&Arc<dyn EventPublisher>>,
    deadline: &Deadline,
    name: &SecretName,
    mark: &Tombstone,
    previous: Option<StoreRecord>,
    sole: bool,
) -> Result<(), LifecycleError> {
    delete_under_mark(
        storage,
        events,
        deadline,
        name,
        mark,
        previous,
        sole,
        Removal::AtOnce,
    )
    .await?;
    tracing::info!(org_id = %mark.org_id, shop = %mark.shop_domain, "store disconnected");
    Ok(())
}

/// How a secret is removed under a deleting mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Removal {
    /// At once and for good: a disconnect.
    AtOnce,
    /// After Secrets Manager's recovery window (a later connect restores it): the sweep.
    Recoverable,
}

/// [`delete_marked`] without its log line, removing the secret as `removal` says.
#[allow(clippy::too_many_arguments)]
async fn delete_under_mark(
    storage: &Storage,
    events: Option<&Arc<dyn EventPublisher>>,
    deadline: &Deadline,
    name: &SecretName,
    mark: &Tombstone,
    previous: Option<StoreRecord>,
    sole: bool,
    removal: Removal,
) -> Result<(), LifecycleError> {
    let shop = &mark.shop_domain;
    if let (Some(events), Some(record)) = (events, &previous) {
        announce_left(events, deadline, record).await;
    }
    let deletion = if !within_delete_window(mark) {
        // Too late to start: the lease no longer covers this deletion. Nothing was deleted.
        Deletion::Refused(LifecycleError::Contended)
    } else {
        let removed = match removal {
            Removal::AtOnce => deadline.run(storage.secrets.delete(name)).await,
            Removal::Recoverable => deadline.run(storage.secrets.schedule_deletion(name)).await,
        };
        match removed {
            Ok(()) => Deletion::Done,
            // The call failed, but the secret may be gone anyway. Only a deletion Secrets
            // Manager refused is known not to land later: one that went unanswered (timed out,
            // its connection lost) may still be carried out after the secret was read.
            Err(error) => {
                let refused = matches!(error, SecretsError::Refused(_));
                match deadline.run(storage.secrets.current_version(name)).await {
                    Ok(None) => Deletion::Done,
                    Ok(Some(_)) if refused => Deletion::Refused(LifecycleError::Secrets(error)),
                    Ok(Some(_)) | Err(_) => Deletion::Unknown(LifecycleError::Secrets(error)),
                }
            }
        }
    };
    match deletion {
        Deletion::Done => {}
        Deletion::Refused(error) => {
            if let Some(record) = previous {
                // The secret is still there: put the store back as it was.
                let restored = StoreRecord {
                    version: mark.version + 1,
                    write_id: new_id(),
                    ..record
                };
                if let Err(restore) = deadline
                    .run(
                        storage
                            .stores
                            .put_live(&restored, Expect::Version(mark.version)),
                    )
                    .await
                {
                    tracing::warn!(shop = %shop, error = %restore, "could not put the store back after a failed disconnect; the next disconnect finishes it");
                }
            }
            return Err(error);
        }
        // The store stays disconnected (its record is gone); a retry finishes the deletion.
        Deletion::Unknown(error) => return Err(error),
    }
    if sole {
        clear_mark(storage, deadline, mark).await;
    } else {
        tracing::info!(shop = %shop, "took over a disconnect under way; its mark expires by itself");
    }
    Ok(())
}

/// What [`reclaim`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reclaimed {
    /// A live record names the shop's secret: it is in use and stays.
    InUse,
    /// A deletion of the shop's secret is under way (a deleting mark within its lease): it is
    /// left to that deleter.
    Busy,
    /// The secret is gone or its deletion is scheduled already (a listing of Secrets Manager
    /// may still show it for a few minutes): nothing was written.
    Gone,
    /// Scheduled for deletion (Secrets Manager's shortest recovery window, 7 days; a later
    /// connect of the shop restores it), under a deleting mark: unreadable from now on.
    Deleted,
}

/// Deletes the secret of `shop` (recoverably: see [`Reclaimed::Deleted`]) unless a live record
/// names it: the repair of a disconnect
/// that stopped between its mark and the secret's deletion and was never repeated (the store
/// had left the merchant's list), and of a connect that left a secret no record names. It runs
/// the disconnect's protocol: the slot marked deleting (conditional on the slot read, so a
/// connect or rotation whose record lands first wins and the secret stays; one that staged
/// before the mark stages again after it), the secret's deletion scheduled, the mark cleared
/// (that of a disconnect that stopped half-way is left to expire, so the merchant's repeated
/// DELETE still finishes that disconnect at once). The
/// mark keeps the tombstone's origin (a shop never connected gets an undo's, so a DELETE of it
/// still answers 404). A secret already gone or pending deletion is left as it is, nothing
/// written. Callers pass only secrets unchanged for a while: a connect in flight
/// changed its secret moments ago.
pub async fn reclaim(
    storage: &Storage,
    deadline: &Deadline,
    org: &OrganizationId,
    shop: &ShopDomain,
) -> Result<Reclaimed, LifecycleError> {
    let name = storage.secret_name(org, shop);
    let write_id = new_id();
    // Whether the secret was seen readable (checked once, before the first mark).
    let mut readable = false;
    // Whether our mark is to stay (see `reclaim_marked`), decided with the slot it replaced.
    let mut leave_mark = false;
    for _ in 0..WRITE_ROUNDS {
        let slot = storage.slot(deadline, org, shop).await?;
        let (origin, removed_at) = match &slot {
            Slot::Live(_) => return Ok(Reclaimed::InUse),
            Slot::Gone(landed) if landed.write_id == write_id => {
                // Our mark landed; only its answer was lost.
                return reclaim_marked(storage, deadline, &name, landed, leave_mark).await;
            }
            Slot::Gone(_) if deletion_in_progress(&slot) => return Ok(Reclaimed::Busy),
            Slot::Gone(tombstone) => (tombstone.origin, tombstone.removed_at),
            Slot::Absent => (TombstoneOrigin::Undo, Utc::now()),
        };
        if !readable {
            // Gone or pending deletion already (a listing may show it for a few minutes more):
            // nothing to write.
            if deadline
                .run(storage.secrets.current_version(&name))
                .await?
                .is_none()
            {
                return Ok(Reclaimed::Gone);
            }
            readable = true;
        }
        // A disconnect that stopped after its mark: the mark stays for its repeated DELETE.
        leave_mark = matches!(&slot, Slot::Gone(t) if t.origin == TombstoneOrigin::Disconnect && t.deleting_since.is_some());
        let mark = Tombstone {
            org_id: org.clone(),
            shop_domain: shop.clone(),
            version: slot.next_version(),
            write_id: write_id.clone(),
            deleting_since: Some(Utc::now()),
            removed_at,
            origin,
        };
        match deadline
            .run(storage.stores.put_gone(&mark, slot.expect()))
            .await
        {
            Ok(()) => return reclaim_marked(storage, deadline, &name, &mark, leave_mark).await,
            Err(StoreError::Conflict) => continue,
            Err(error) => {
                // The mark may have landed with only its answer lost.
                if let Ok(Slot::Gone(landed)) = storage.slot(deadline, org, shop).await {
                    if landed.write_id == write_id {
                        return reclaim_marked(storage, deadline, &name, &landed, leave_mark).await;
                    }
                }
                return Err(error.into());
            }
        }
    }
    Err(LifecycleError::Contended)
}

/// Schedules the deletion under `mark`, then clears it — unless `leave_mark`: the mark
/// replaced that of a disconnect that stopped half-way, and stays (it expires by itself) so
/// the merchant's repeated DELETE takes it over and deletes the secret at once and for good,
/// as a disconnect does.
async fn reclaim_marked(
    storage: &Storage,
    deadline: &Deadline,
    name: &SecretName,
    mark: &Tombstone,
    leave_mark: bool,
) -> Result<Reclaimed, LifecycleError> {
    delete_under_mark(
        storage,
        None,
        deadline,
        name,
        mark,
        None,
        !leave_mark,
        Removal::Recoverable,
    )
    .await?;
    tracing::info!(org_id = %mark.org_id, shop = %mark.shop_domain, "scheduled the deletion of a secret no store record named");
    Ok(Reclaimed::Deleted)
}

/// The most of a disconnect's deadline the changes left in the outbox may take.
const ANNOUNCE_SHARE: std::time::Duration = std::time::Duration::from_secs(2);

/// Puts the changes `record`'s outbox still held, in order, within [`ANNOUNCE_SHARE`];
/// stops at the first the bus refuses (the disconnect goes on regardless).
async fn announce_left(
    events: &Arc<dyn EventPublisher>,
    deadline: &Deadline,
    record: &StoreRecord,
) {
    let share = deadline.within(ANNOUNCE_SHARE);
    for change in &record.outbox {
        if let Err(error) = share.run(events.store_status_changed(change)).await {
            tracing::warn!(org_id = %record.org_id, shop = %record.shop_domain, change_id = %change.change_id, %error, "a status change of a store being disconnected could not be announced");
            return;
        }
    }
}

/// Something a disconnect sets going (the removal of the store's knowledge). Best effort: it
/// logs its own failure, and the scheduled work covers a store it missed.
#[async_trait]
pub trait AfterDisconnect: Send + Sync {
    async fn disconnected(&self, deadline: &Deadline, org: &OrganizationId, shop: &ShopDomain);
}

/// What a disconnect runs on, and what follows it.
pub struct Disconnector<'a> {
    pub storage: &'a Storage,
    /// Where the status changes the store's outbox still held are announced.
    pub events: Option<&'a Arc<dyn EventPublisher>>,
    /// Run in order once the store is disconnected.
    pub then: Vec<Box<dyn AfterDisconnect>>,
}

impl Disconnector<'_> {
    /// [`disconnect()`], then each of [`Disconnector::then`] in order: what
    /// `DELETE /shopify/stores/{shop}` runs.
    pub async fn remove(
        &self,
        deadline: Deadline,
        org: &OrganizationId,
        shop: &ShopDomain,
    ) -> Result<(), LifecycleError> {
        disconnect(self.storage, self.events, deadline, org, shop).await?;
        for then in &self.then {
            then.disconnected(&deadline, org, shop).await;
        }
        Ok(())
    }
}
