//! How a store's record and its secret are kept in agreement, whatever fails or runs at once.
//! This module is the protocol: the connect/rotate, disconnect and verify operations run here,
//! and every function calls them.
//!
//! **The record leads.** It names the Secrets Manager `VersionId` holding the store's
//! credentials (`credentials_version`), and every reader fetches exactly that version. The
//! `AWSCURRENT` label is brought in line with the record after each write, so operators reading
//! the secret in the console see the same credentials.
//!
//! **Slots and versions.** Each (organization, shop) has one slot: a live record, a tombstone,
//! or nothing. Every write is conditional on the slot's `version` as read and writes the next
//! one; a disconnect leaves a tombstone, so versions are never reused and a write based on what
//! a request read can never land on a later connection of the same shop. Each connection also
//! has a `connection_id`, kept by rotations and checks and new after a reconnect. Every write
//! carries a fresh `write_id`, so a request whose answer was lost (and whose retry then failed
//! its condition) recognises its own write instead of reporting a conflict.
//!
//! **Deletion is announced first.** Whoever deletes a secret (a disconnect, or the undo of a
//! connection whose record never landed) first marks the slot *deleting* (a tombstone with
//! `deleting_since`), then deletes, then clears the mark. Writers do not stage credentials
//! while a mark younger than [`DELETION_LEASE`] stands, and a writer re-stages whenever the
//! slot left the live connection it staged for. So a deletion can never hit credentials that a
//! record names: whoever staged before the mark finds the slot changed and stages again.
//!
//! **Connect / rotate** ([`connect`]):
//! 1. read the slot: a live record makes this request a rotation *of that connection*;
//! 2. validate the credentials live (leaving [`STORAGE_RESERVE`] of the deadline for the
//!    writes) — nothing is written before this passes;
//! 3. stage the credentials as a new secret version: the first version of a new secret is
//!    current at once, a rotation's version is only staged (`AWSPENDING`); a secret pending
//!    deletion is restored;
//! 4. write the record conditionally on the slot read, naming the new version; on a conflict
//!    read again and retry (staging again if the slot left the connection staged for). A
//!    rotation whose connection was disconnected meanwhile stops with
//!    [`LifecycleError::DisconnectedMeanwhile`]: a disconnect that answered 204 is never undone
//!    by a rotation that was in flight;
//! 5. [`converge_current`]: label the version the record names `AWSCURRENT`, repeating while
//!    the record keeps changing, so the last writer always leaves record and label agreeing.
//!
//! If the record write fails for good and this request created the secret, the secret is
//! scheduled for deletion (recoverable for 7 days; the next connect restores it) under a
//! deleting mark — unless a live record appeared meanwhile (a concurrent connect uses it).
//!
//! **Disconnect** ([`disconnect`]): mark the slot deleting (conditional on the version read;
//! the live record is gone from that moment, so no lookup uses the store), delete the secret
//! at once, clear the mark. When the secret is confirmed still there after a failed deletion,
//! the record is put back and the error returned: the store stays whole (when it cannot be told
//! whether the deletion happened, the store stays disconnected and a retry finishes the job).
//! A disconnect that finds a deleting mark (an earlier one that stopped half-way, or one still
//! running) takes it over and finishes the job — but leaves its own mark to expire instead of
//! clearing it, since the earlier deleter may still be inside its window. A deleting mark left
//! by the undo of a failed connect is not a connected store: a DELETE answers 404.
//!
//! **Verify** ([`record_check`]): a check's outcome is written conditionally on the version it
//! read, and only while the connection and credentials it checked are still the ones in use.
//!
//! What a crash leaves behind, and who repairs it:
//!
//! | crash after | left behind | seen by users | repaired by |
//! |---|---|---|---|
//! | 3 (connect) | a secret, or a staged version, no record names | nothing | the next connect of the shop reuses the secret |
//! | 4 (connect) | `AWSCURRENT` behind the record | nothing: readers follow the record | the next connect, rotation or `?verify=true` |
//! | the deleting mark (disconnect) | a tombstone marked deleting; the secret | the store is gone; a connect of the shop waits up to [`DELETION_LEASE`], then reuses the secret | repeating the DELETE (204) |
//! | the secret deletion (disconnect) | a tombstone marked deleting | nothing: the store is gone | the lease expiring; repeating the DELETE (204) |
//! | a failed record write (connect) | a new secret scheduled for deletion, or (storage down) the secret | the error | the retry restores and reuses it |

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::deadline::Deadline;
use crate::domain::{AuthType, Credentials, OrganizationId, ShopDomain};
use crate::failure::Code;
use crate::health::change::{flush_logged, with_change, DetectedBy};
use crate::knowledge::ports::EventPublisher;
use crate::secrets::{PutOutcome, SecretName, SecretStore, SecretsError};
use crate::shopify::{
    customer_data_warning, missing_scopes, scope_warnings, CustomerData, ShopInfo, ShopifyClient,
    ShopifyError, Warning, PROTECTED_DATA_WARNING,
};
use crate::store::{
    Expect, Slot, StoreError, StoreRecord, StoreRepository, StoreStatus, Tombstone, TombstoneOrigin,
};

/// How long a deleting mark holds writers off. A deleter only starts deleting within
/// [`DELETE_START_WINDOW`] of setting the mark, and the deletion call itself is bounded by the
/// AWS clients' operation timeout (5 s), so after the lease no deletion of the mark can still
/// land.
pub const DELETION_LEASE: Duration = Duration::from_secs(20);

/// A deleter that took longer than this to get from its mark to the deletion stops (the mark
/// stays; the next disconnect takes it over), so the lease above holds.
pub const DELETE_START_WINDOW: Duration = Duration::from_secs(8);

/// Time kept for the storage writes when a connect or verify checks credentials at Shopify
/// (half the time left, when less than twice this is left).
pub const STORAGE_RESERVE: Duration = Duration::from_secs(6);

/// The part of `deadline` a live check at Shopify may use.
fn check_deadline(deadline: &Deadline) -> Deadline {
    deadline.minus(STORAGE_RESERVE.min(deadline.remaining() / 2))
}

/// Rounds of [`converge_current`] before leaving the rest to the next writer.
const CONVERGE_ROUNDS: usize = 8;

/// Rounds of the write loops against concurrent writers of the same slot.
const WRITE_ROUNDS: usize = 64;

/// How often a writer looks again while a deletion is under way.
const LEASE_POLL: Duration = Duration::from_millis(150);

/// The storage ports the protocol runs on.
#[derive(Clone)]
pub struct Storage {
    pub stores: Arc<dyn StoreRepository>,
    pub secrets: Arc<dyn SecretStore>,
    /// `SECRET_PREFIX`.
    pub secret_prefix: String,
}

impl Storage {
    /// The secret holding `shop`'s credentials for `org`.
    pub fn secret_name(&self, org: &OrganizationId, shop: &ShopDomain) -> SecretName {
        SecretName::for_store(&self.secret_prefix, org, shop)
    }

    async fn slot(
        &self,
        deadline: &Deadline,
        org: &OrganizationId,
        shop: &ShopDomain,
    ) -> Result<Slot, StoreError> {
        deadline.run(self.stores.slot(org, shop)).await
    }
}

/// Why a lifecycle operation stopped.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The shop is not connected to the organization.
    #[error("the store is not connected")]
    NotConnected,
    /// A rotation found its connection disconnected (or replaced) meanwhile.
    #[error("the store was disconnected while its credentials were being replaced")]
    DisconnectedMeanwhile,
    /// A disconnect of the shop is under way and did not finish within the deadline.
    #[error("the store is being disconnected")]
    BeingDisconnected,
    /// The slot kept changing under concurrent writers.
    #[error("the store kept being changed by other requests")]
    Contended,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

impl LifecycleError {
    pub fn code(&self) -> Code {
        match self {
            Self::NotConnected | Self::DisconnectedMeanwhile => Code::StoreNotFound,
            Self::Store(StoreError::Corrupt(_)) => Code::Internal,
            Self::BeingDisconnected | Self::Contended | Self::Store(_) | Self::Secrets(_) => {
                Code::StorageUnavailable
            }
        }
    }
}

/// A fresh random id for connections and writes.
pub fn new_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

fn deletion_in_progress(slot: &Slot) -> bool {
    let lease = chrono::Duration::from_std(DELETION_LEASE).expect("a small duration");
    matches!(slot, Slot::Gone(t) if t.deleting_since.is_some_and(|since| since > Utc::now() - lease))
}

/// The credentials the record names; `None` when that version no longer exists.
pub async fn stored_credentials(
    secrets: &dyn SecretStore,
    name: &SecretName,
    record: &StoreRecord,
    deadline: &Deadline,
) -> Result<Option<Credentials>, SecretsError> {
    let value = deadline
        .run(secrets.get_version(name, &record.credentials_version))
        .await?;
    Ok(value.as_ref().and_then(Credentials::from_secret_json))
}

/// Labels the version the record names as current, repeating while the record changes under
/// it. Failures are logged, not returned: readers follow the record, so a label left behind is
/// cosmetic and the next writer fixes it.
pub async fn converge_current(
    storage: &Storage,
    deadline: &Deadline,
    org: &OrganizationId,
    shop: &ShopDomain,
) {
    let name = storage.secret_name(org, shop);
    for _ in 0..CONVERGE_ROUNDS {
        let before = match storage.slot(deadline, org, shop).await {
            Ok(Slot::Live(record)) => record,
            Ok(_) => return,
            Err(error) => {
                tracing::warn!(shop = %shop, %error, "cannot read the record to relabel the secret");
                return;
            }
        };
        if let Err(error) = deadline
            .run(
                storage
                    .secrets
                    .make_current(&name, &before.credentials_version),
            )
            .await
        {
            tracing::warn!(shop = %shop, %error, "cannot relabel the current secret version");
            return;
        }
        match storage.slot(deadline, org, shop).await {
            Ok(Slot::Live(after)) if after.version != before.version => continue,
            _ => return,
        }
    }
}

/// How a connect ended.
#[derive(Debug)]
pub enum Connected {
    /// A new connection (201).
    New(StoreRecord),
    /// New credentials for a connected store (200).
    Rotated(StoreRecord),
}

impl Connected {
    pub fn record(&self) -> &StoreRecord {
        match self {
            Self::New(record) | Self::Rotated(record) => record,
        }
    }
}

/// Why a connect was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Shopify(#[from] ShopifyError),
    #[error("required scopes are missing: {0:?}")]
    MissingScopes(Vec<String>),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
}

impl From<StoreError> for ConnectError {
    fn from(e: StoreError) -> Self {
        Self::Lifecycle(e.into())
    }
}

/// Connects `shop` to `org`, or replaces its credentials: validated live first, then staged
/// and recorded by the protocol above.
pub async fn connect(
    storage: &Storage,
    shopify: &ShopifyClient,
    deadline: Deadline,
    org: &OrganizationId,
    shop: &ShopDomain,
    credentials: &Credentials,
) -> Result<Connected, ConnectError> {
    let seen = storage.slot(&deadline, org, shop).await?;
    let info = shopify
        .check_credentials(&check_deadline(&deadline), shop, credentials)
        .await?;
    if info.myshopify_domain != shop.as_str() {
        tracing::warn!(shop = %shop, answered = %info.myshopify_domain, "Shopify names the shop by another domain");
    }
    let missing = missing_scopes(&info.granted_scopes);
    if !missing.is_empty() {
        return Err(ConnectError::MissingScopes(missing));
    }
    let intent = match &seen {
        Slot::Live(record) => Some(record.connection_id.clone()),
        _ => None,
    };
    Ok(persist(storage, &deadline, org, shop, credentials, &info, intent).await?)
}

/// A version staged in the store's secret, and the live connection it was staged for.
struct Staged {
    version_id: String,
    /// This request created the secret (it did not exist, not even pending deletion).
    created: bool,
    for_connection: Option<String>,
}

/// Steps 3–5 of a connect: stage, write conditionally, converge.
async fn persist(
    storage: &Storage,
    deadline: &Deadline,
    org: &OrganizationId,
    shop: &ShopDomain,
    credentials: &Credentials,
    info: &ShopInfo,
    intent: Option<String>,
) -> Result<Connected, LifecycleError> {
    let name = storage.secret_name(org, shop);
    let secret = credentials.to_secret_json();
    let write_id = new_id();
    let mut staged: Option<Staged> = None;
    let mut created_secret = false;
    // Whether the last write sent went over a live record (a rotation, 200) or not (201).
    let mut wrote_over_live = false;
    // Write attempts; waiting out a deletion does not count (the deadline bounds it).
    let mut round = 0;
    loop {
        if round == WRITE_ROUNDS {
            return Err(LifecycleError::Contended);
        }
        let slot = storage.slot(deadline, org, shop).await?;
        if slot.write_id() == Some(write_id.as_str()) {
            // An earlier write of ours landed; only its answer was lost.
            return Ok(finish(storage, deadline, slot, wrote_over_live).await);
        }
        if let Some(connection) = &intent {
            if !matches!(&slot, Slot::Live(r) if &r.connection_id == connection) {
                tracing::info!(org_id = %org, shop = %shop, "the store was disconnected during its rotation");
                if created_secret {
                    undo(storage, deadline, org, shop, &name, slot).await;
                }
                return Err(LifecycleError::DisconnectedMeanwhile);
            }
        }
        if deletion_in_progress(&slot) {
            deadline
                .sleep(LEASE_POLL, Duration::ZERO)
                .await
                .map_err(|_| LifecycleError::BeingDisconnected)?;
            continue;
        }
        let live_connection = match &slot {
            Slot::Live(record) => Some(record.connection_id.clone()),
            _ => None,
        };
        let reusable = staged
            .as_ref()
            .is_some_and(|s| s.for_connection.is_some() && s.for_connection == live_connection);
        if !reusable {
            let put: PutOutcome = deadline.run(storage.secrets.put(&name, &secret)).await?;
            created_secret |= put.created;
            staged = Some(Staged {
                version_id: put.version_id,
                created: put.created,
                for_connection: live_connection,
            });
        }
        let version_id = &staged.as_ref().expect("staged above").version_id;
        let record = connected_record(&slot, org, shop, credentials, info, version_id, &write_id);
        wrote_over_live = matches!(slot, Slot::Live(_));
        round += 1;
        match deadline
            .run(storage.stores.put_live(&record, slot.expect()))
            .await
        {
            Ok(()) => {
                let rotated = wrote_over_live;
                tracing::info!(
                    org_id = %org,
                    shop = %shop,
                    auth_type = ?record.auth_type,
                    rotated,
                    round,
                    "store connected"
                );
                return Ok(finish(storage, deadline, Slot::Live(record), rotated).await);
            }
            Err(StoreError::Conflict) => {
                let jitter = fastrand::u64(0..=10 * round as u64).min(200);
                tokio::time::sleep(Duration::from_millis(jitter)).await;
            }
            Err(error) => {
                // The write may still have landed; the next read tells.
                match storage.slot(deadline, org, shop).await {
                    Ok(slot) if slot.write_id() == Some(write_id.as_str()) => {
                        return Ok(finish(storage, deadline, slot, wrote_over_live).await);
                    }
                    Ok(slot) => {
                        if staged.as_ref().is_some_and(|s| s.created) || created_secret {
                            undo(storage, deadline, org, shop, &name, slot).await;
                        }
                    }
                    Err(_) => {}
                }
                return Err(error.into());
            }
        }
    }
}

async fn finish(storage: &Storage, deadline: &Deadline, slot: Slot, rotated: bool) -> Connected {
    let record = slot
        .live()
        .expect("finish is called with the live record written");
    converge_current(storage, deadline, &record.org_id, &record.shop_domain).await;
    if rotated {
        Connected::Rotated(record)
    } else {
        Connected::New(record)
    }
}

fn connected_record(
    slot: &Slot,
    org: &OrganizationId,
    shop: &ShopDomain,
    credentials: &Credentials,
    info: &ShopInfo,
    credentials_version: &str,
    write_id: &str,
) -> StoreRecord {
    let now = Utc::now();
    let previous = match slot {
        Slot::Live(record) => Some(record),
        _ => None,
    };
    let record = StoreRecord {
        org_id: org.clone(),
        shop_domain: shop.clone(),
        shop_name: info.name.clone(),
        auth_type: credentials.auth_type(),
        status: StoreStatus::Connected,
        granted_scopes: info.granted_scopes.clone(),
        order_number_prefix: info.order_number_prefix.clone(),
        order_number_suffix: info.order_number_suffix.clone(),
        currency: info.currency.clone(),
        plan: info.plan.clone(),
        warnings: store_warnings(
            info,
            previous.map(|r| &r.warnings[..]).unwrap_or_default(),
            credentials.auth_type(),
        ),
        connected_at: previous.map_or(now, |r| r.connected_at),
        updated_at: now,
        credentials_updated_at: now,
        last_verified_at: now,
        credentials_version: credentials_version.to_owned(),
        connection_id: previous.map_or_else(new_id, |r| r.connection_id.clone()),
        version: slot.next_version(),
        write_id: write_id.to_owned(),
        previous_credentials_version: previous
            .map(|r| r.credentials_version.clone())
            .filter(|v| v != credentials_version),
        outbox: previous.map(|r| r.outbox.clone()).unwrap_or_default(),
    };
    // New credentials for a connected store may mend it (or change its scopes or format).
    match previous {
        Some(previous) => with_change(previous, record, DetectedBy::Rotation),
        None => record,
    }
}

/// Schedules a secret this request created for deletion (recoverable), under a deleting mark,
/// unless the slot is live (a concurrent connect uses the secret) or another deletion is under
/// way. Best effort: on any failure the secret stays, and the next connect reuses it.
async fn undo(
    storage: &Storage,
    deadline: &Deadline,
    org: &OrganizationId,
    shop: &ShopDomain,
    name: &SecretName,
    seen: Slot,
) {
    if matches!(seen, Slot::Live(_)) || deletion_in_progress(&seen) {
        return;
    }
    let now = Utc::now();
    let mark = Tombstone {
        org_id: org.clone(),
        shop_domain: shop.clone(),
        version: seen.next_version(),
        write_id: new_id(),
        deleting_since: Some(now),
        removed_at: now,
        origin: TombstoneOrigin::Undo,
    };
    if let Err(error) = deadline
        .run(storage.stores.put_gone(&mark, seen.expect()))
        .await
    {
        tracing::warn!(shop = %shop, %error, "not removing the secret of a failed connection; the next connect reuses it");
        return;
    }
    if within_delete_window(&mark) {
        if let Err(error) = deadline.run(storage.secrets.schedule_deletion(name)).await {
            tracing::warn!(shop = %shop, %error, "could not schedule the secret of a failed connection for deletion");
        }
    }
    clear_mark(storage, deadline, &mark).await;
}

/// Replaces a deleting mark by a plain tombstone. Failures only mean writers wait for the
/// lease to expire.
async fn clear_mark(storage: &Storage, deadline: &Deadline, mark: &Tombstone) {
    let done = Tombstone {
        version: mark.version + 1,
        write_id: new_id(),
        deleting_since: None,
        ..mark.clone()
    };
    if let Err(error) = deadline
        .run(
            storage
                .stores
                .put_gone(&done, Expect::Version(mark.version)),
        )
        .await
    {
        tracing::warn!(shop = %mark.shop_domain, %error, "could not clear the deleting mark; it expires by itself");
    }
}

/// Disconnects `shop` from `org`: the record goes (a deleting mark takes its place), then the
/// secret, at once and for good. When the secret is confirmed still there after a failed
/// deletion, the record is put back (the store stays whole) and the error returned. A
/// disconnect that stopped half-way is taken over by the next one.
///
/// A takeover never shortens the deletion lease: only a deleter that marked a live record (or
/// a mark already expired) clears the mark; a takeover leaves its own fresh mark to expire, as
/// the first deleter may still be inside its window.
pub async fn disconnect(
    storage: &Storage,
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
                return delete_marked(storage, &deadline, &name, tombstone, previous, sole).await;
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
                return delete_marked(storage, &deadline, &name, &mark, previous, sole).await;
            }
            Err(StoreError::Conflict) => continue,
            Err(error) => {
                // The mark may have landed with only its answer lost.
                if let Ok(Slot::Gone(landed)) = storage.slot(&deadline, org, shop).await {
                    if landed.write_id == write_id {
                        let (previous, sole) = attempt;
                        return delete_marked(storage, &deadline, &name, &landed, previous, sole)
                            .await;
                    }
                }
                return Err(error.into());
            }
        }
    }
    Err(LifecycleError::Contended)
}

/// Whether a deleter that set `mark` may still start deleting (see [`DELETION_LEASE`]).
fn within_delete_window(mark: &Tombstone) -> bool {
    let window = chrono::Duration::from_std(DELETE_START_WINDOW).expect("a small duration");
    mark.deleting_since
        .is_some_and(|since| Utc::now() < since + window)
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
    deadline: &Deadline,
    name: &SecretName,
    mark: &Tombstone,
    previous: Option<StoreRecord>,
    sole: bool,
) -> Result<(), LifecycleError> {
    let shop = &mark.shop_domain;
    let deletion = if !within_delete_window(mark) {
        // Too late to start: the lease no longer covers this deletion. Nothing was deleted.
        Deletion::Refused(LifecycleError::Contended)
    } else {
        match deadline.run(storage.secrets.delete(name)).await {
            Ok(()) => Deletion::Done,
            // The call failed, but the secret may be gone anyway.
            Err(error) => match deadline.run(storage.secrets.current_version(name)).await {
                Ok(None) => Deletion::Done,
                Ok(Some(_)) => Deletion::Refused(LifecycleError::Secrets(error)),
                Err(_) => Deletion::Unknown(LifecycleError::Secrets(error)),
            },
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
    tracing::info!(org_id = %mark.org_id, shop = %shop, "store disconnected");
    Ok(())
}

/// What a live check of a store's stored credentials found.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub status: StoreStatus,
    /// The granted scopes, when the check got that far.
    pub granted_scopes: Option<Vec<String>>,
    /// The warning explaining a status other than connected.
    pub warning: Option<Warning>,
    /// The shop's identity, when the check got that far.
    pub shop: Option<ShopInfo>,
}

/// Warning codes a check sets or clears (scope warnings are recomputed from the scopes).
const CHECK_WARNINGS: [&str; 3] = ["invalid_credentials", "shop_unavailable", "missing_scopes"];

/// What limits lookups on a store Shopify described as `info`: the scopes' warnings, and the
/// protected-customer-data warning — kept from `previous` when the probe could not tell.
pub fn store_warnings(info: &ShopInfo, previous: &[Warning], auth_type: AuthType) -> Vec<Warning> {
    let mut warnings = scope_warnings(&info.granted_scopes);
    match &info.customer_data {
        CustomerData::Withheld(fields) => warnings.push(customer_data_warning(fields, auth_type)),
        CustomerData::Visible => {}
        CustomerData::Unknown => warnings.extend(
            previous
                .iter()
                .filter(|w| w.code == PROTECTED_DATA_WARNING)
                .cloned(),
        ),
    }
    warnings
}

impl Finding {
    /// The stored credentials are gone (a disconnect is under way).
    pub fn credentials_missing() -> Self {
        Self {
            status: StoreStatus::InvalidCredentials,
            granted_scopes: None,
            warning: Some(Warning {
                code: "invalid_credentials".into(),
                message: "The stored credentials are missing. Paste the store's credentials again to reconnect it.".into(),
            }),
            shop: None,
        }
    }

    /// What Shopify's answer to the check means for the store; `Err` for a failure that says
    /// nothing about the store (Shopify down, throttling, a timeout).
    pub fn from_check(result: Result<ShopInfo, ShopifyError>) -> Result<Self, ShopifyError> {
        let info = match result {
            Ok(info) => info,
            Err(error) => {
                let (status, code, message) = match error.code() {
                    Code::InvalidCredentials => (
                        StoreStatus::InvalidCredentials,
                        "invalid_credentials",
                        "Shopify no longer accepts the stored credentials (the token was revoked, the client secret rotated or the app uninstalled). Paste new credentials to reconnect the store.",
                    ),
                    Code::ShopUnavailable | Code::ShopNotFound => (
                        StoreStatus::ShopUnavailable,
                        "shop_unavailable",
                        "Shopify says this store is frozen, locked or closed. Resolve it in the Shopify admin, then verify again.",
                    ),
                    _ => return Err(error),
                };
                return Ok(Self {
                    status,
                    granted_scopes: None,
                    warning: Some(Warning {
                        code: code.into(),
                        message: message.into(),
                    }),
                    shop: None,
                });
            }
        };
        let missing = missing_scopes(&info.granted_scopes);
        Ok(Self {
            status: if missing.is_empty() {
                StoreStatus::Connected
            } else {
                StoreStatus::MissingScopes
            },
            granted_scopes: Some(info.granted_scopes.clone()),
            warning: (!missing.is_empty()).then(|| Warning {
                code: "missing_scopes".into(),
                message: format!(
                    "The app no longer has the {} access scope(s), so lookups that need them fail. Add them in the app's configuration, reinstall or release the app, then connect again.",
                    missing.join(", ")
                ),
            }),
            shop: Some(info),
        })
    }

    /// `record` with this finding applied: only the fields a check establishes change.
    /// `verified` says whether the finding comes from a full check (which then counts as the
    /// store's last verification) or from a mark (a refused token, an uninstall), which
    /// verified nothing else and leaves the store due for its next check.
    fn applied_to(&self, record: &StoreRecord, write_id: &str, verified: bool) -> StoreRecord {
        let now = Utc::now();
        let mut updated = record.clone();
        updated.status = self.status;
        if let Some(scopes) = &self.granted_scopes {
            updated.warnings = match &self.shop {
                Some(info) => store_warnings(info, &record.warnings, record.auth_type),
                None => scope_warnings(scopes),
            };
            updated.granted_scopes = scopes.clone();
        }
        if let Some(info) = &self.shop {
            updated.shop_name = info.name.clone();
            updated.currency = info.currency.clone();
            updated.order_number_prefix = info.order_number_prefix.clone();
            updated.order_number_suffix = info.order_number_suffix.clone();
            updated.plan = info.plan.clone();
        }
        updated
            .warnings
            .retain(|w| !CHECK_WARNINGS.contains(&w.code.as_str()));
        updated.warnings.extend(self.warning.clone());
        if verified {
            updated.last_verified_at = now;
        }
        updated.updated_at = now;
        updated.version = record.version + 1;
        updated.write_id = write_id.to_owned();
        updated
    }
}

/// Records what a check of `checked` found, conditionally on the slot still holding the
/// connection and credentials that were checked. Answers the record as stored afterwards.
pub async fn record_check(
    storage: &Storage,
    deadline: &Deadline,
    checked: &StoreRecord,
    finding: &Finding,
    by: DetectedBy,
) -> Result<StoreRecord, LifecycleError> {
    let write_id = new_id();
    let mut current = checked.clone();
    for _ in 0..WRITE_ROUNDS {
        if current.write_id == write_id {
            return Ok(current);
        }
        if current.connection_id != checked.connection_id
            || current.credentials_version != checked.credentials_version
        {
            // Rotated or reconnected meanwhile: what was checked is no longer in use.
            return Ok(current);
        }
        let verified = !matches!(by, DetectedBy::Lookup | DetectedBy::Webhook);
        let updated = with_change(
            &current,
            finding.applied_to(&current, &write_id, verified),
            by,
        );
        match deadline
            .run(
                storage
                    .stores
                    .put_live(&updated, Expect::Version(current.version)),
            )
            .await
        {
            Ok(()) => {
                // A lookup or webhook only marks the store (those functions write no secret
                // labels); the next connect, rotation or check brings the label in line.
                if verified {
                    converge_current(storage, deadline, &updated.org_id, &updated.shop_domain)
                        .await;
                }
                return Ok(updated);
            }
            Err(StoreError::Conflict) => {}
            Err(error) => return Err(error.into()),
        }
        current = storage
            .slot(deadline, &checked.org_id, &checked.shop_domain)
            .await?
            .live()
            .ok_or(LifecycleError::NotConnected)?;
    }
    Err(LifecycleError::Contended)
}

/// Why a verify could not answer.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Shopify failed in a way that says nothing about the store.
    #[error(transparent)]
    Shopify(#[from] ShopifyError),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
}

impl From<StoreError> for VerifyError {
    fn from(e: StoreError) -> Self {
        Self::Lifecycle(e.into())
    }
}

impl From<SecretsError> for VerifyError {
    fn from(e: SecretsError) -> Self {
        Self::Lifecycle(e.into())
    }
}

/// Re-validates the stored credentials of `shop` against Shopify, exactly as a connect does,
/// records the outcome and announces a change of status (see [`crate::health::change`]).
pub async fn verify(
    storage: &Storage,
    shopify: &ShopifyClient,
    events: Option<&Arc<dyn EventPublisher>>,
    deadline: Deadline,
    org: &OrganizationId,
    shop: &ShopDomain,
    by: DetectedBy,
) -> Result<StoreRecord, VerifyError> {
    let record = storage
        .slot(&deadline, org, shop)
        .await?
        .live()
        .ok_or(LifecycleError::NotConnected)?;
    verify_record(storage, shopify, events, deadline, record, by).await
}

/// [`verify`] of a record already read.
pub async fn verify_record(
    storage: &Storage,
    shopify: &ShopifyClient,
    events: Option<&Arc<dyn EventPublisher>>,
    deadline: Deadline,
    record: StoreRecord,
    by: DetectedBy,
) -> Result<StoreRecord, VerifyError> {
    let (org, shop) = (&record.org_id, &record.shop_domain);
    let name = storage.secret_name(org, shop);
    let credentials =
        stored_credentials(storage.secrets.as_ref(), &name, &record, &deadline).await?;
    let finding = match credentials {
        None => Finding::credentials_missing(),
        Some(credentials) => {
            let check = check_deadline(&deadline);
            Finding::from_check(shopify.check_credentials(&check, shop, &credentials).await)?
        }
    };
    let stored = record_check(storage, &deadline, &record, &finding, by).await?;
    tracing::info!(org_id = %org, shop = %shop, status = ?stored.status, by = ?by, "store verified");
    if !stored.outbox.is_empty() {
        flush_logged(storage, events, &deadline, org, shop).await;
    }
    Ok(stored)
}
