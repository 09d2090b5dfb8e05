//! How a store's record and its secret are kept in agreement, whatever fails or runs at once.
//! This folder is the protocol: the connect/rotate, disconnect and verify operations run here,
//! and every function calls them. Each operation that writes a change of a store's status also
//! announces it (its [`outbox`] flushed when an event publisher is given), so no caller can
//! forget to.
//!
//! - this file: the protocol, the [`Storage`] it runs on, its errors and shared steps;
//! - [`connect`]: connect and rotate (staging, the conditional write, converging the label),
//!   and [`connect::save`], a connect with what follows it;
//! - [`disconnect`]: the deleting mark, the secret's deletion, putting a store back, and
//!   [`disconnect::Disconnector`], a disconnect with what follows it;
//! - [`verify`]: live checks of stored credentials and recording what they found;
//! - [`outbox`]: the status-change outbox.
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
//! **Connect / rotate** ([`connect()`]):
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
//! If the record write fails for good and no record names the secret (a first connect: this
//! request created it, restored it from an earlier undo, or found it left by a crash), the
//! secret is scheduled for deletion (recoverable for 7 days; the next connect restores it)
//! under a deleting mark — unless a live record appeared meanwhile (a concurrent connect uses
//! it).
//!
//! **Disconnect** ([`disconnect()`]): mark the slot deleting (conditional on the version read;
//! the live record is gone from that moment, so no lookup uses the store), delete the secret
//! at once, clear the mark. When Secrets Manager refused the deletion and the secret is
//! confirmed still there, the record is put back and the error returned: the store stays whole
//! (when it cannot be told whether the deletion happened or may still happen — a deletion that
//! went unanswered can land after the secret was read — the store stays disconnected and a
//! retry finishes the job).
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
//! | 3 (connect) | a secret, or a staged version, no record names | nothing | the next connect of the shop reuses the secret; a first connect's secret: the health check's sweep ([`reclaim`]) |
//! | 4 (connect) | `AWSCURRENT` behind the record | nothing: readers follow the record | the next connect, rotation or `?verify=true` |
//! | the deleting mark (disconnect) | a tombstone marked deleting; the secret | the store is gone; a connect of the shop waits up to [`DELETION_LEASE`], then reuses the secret | repeating the DELETE (204); the health check's sweep ([`reclaim`]) |
//! | the secret deletion (disconnect) | a tombstone marked deleting | nothing: the store is gone | the lease expiring; repeating the DELETE (204) |
//! | a failed record write (connect) | a new secret scheduled for deletion, or (storage down) the secret | the error | the retry restores and reuses it |

pub mod connect;
pub mod disconnect;
pub mod outbox;
pub mod verify;

pub use connect::{connect, ConnectError, Connected};
pub use disconnect::{disconnect, reclaim, Reclaimed};
pub use verify::{record_check, verify, verify_record, Finding, VerifyError};

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::deadline::Deadline;
use crate::domain::{
    ActionKind, AuthType, Credentials, OrgSettings, OrganizationId, ShopDomain, Warning,
};
use crate::failure::Code;
use crate::ids::new_id;
use crate::secrets::{SecretName, SecretStore, SecretsError};
use crate::shopify::{
    customer_data_warning, scope_warnings, CustomerData, ShopInfo, PROTECTED_DATA_WARNING,
};
use crate::store::{Expect, Slot, StoreError, StoreRecord, StoreRepository, Tombstone};

/// How long a deleting mark holds writers off. A deleter only starts deleting within
/// [`DELETE_START_WINDOW`] of setting the mark, and the deletion call itself, its own retries
/// included, ends within the AWS clients' operation timeout (5 s), so after the lease no
/// deletion of the mark can still land.
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
    credentials_at(secrets, name, &record.credentials_version, deadline).await
}

/// The credentials held in `version` of the secret `name` (the record's, or the one before a
/// rotation); `None` when that version no longer exists.
pub async fn credentials_at(
    secrets: &dyn SecretStore,
    name: &SecretName,
    version: &str,
    deadline: &Deadline,
) -> Result<Option<Credentials>, SecretsError> {
    let value = deadline.run(secrets.get_version(name, version)).await?;
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

/// Whether a deleter that set `mark` may still start deleting (see [`DELETION_LEASE`]).
fn within_delete_window(mark: &Tombstone) -> bool {
    let window = chrono::Duration::from_std(DELETE_START_WINDOW).expect("a small duration");
    mark.deleting_since
        .is_some_and(|since| Utc::now() < since + window)
}

/// The order actions `settings` turn on: a store's scopes are warned about for them.
pub fn enabled_actions(settings: &OrgSettings) -> Vec<ActionKind> {
    ActionKind::ALL
        .into_iter()
        .filter(|kind| settings.order_actions.mode_of(*kind).is_some())
        .collect()
}

/// [`enabled_actions`] of `org`, read from its settings (one read).
async fn org_enabled_actions(
    storage: &Storage,
    deadline: &Deadline,
    org: &OrganizationId,
) -> Result<Vec<ActionKind>, StoreError> {
    let settings = deadline.run(storage.stores.get_settings(org)).await?;
    Ok(enabled_actions(&settings))
}

/// What limits lookups and order actions on a store Shopify described as `info`: the scopes'
/// warnings (for the order actions `enabled` by the org, see [`scope_warnings`]), and the
/// protected-customer-data warning — kept from `previous` when the probe could not tell.
pub fn store_warnings(
    info: &ShopInfo,
    previous: &[Warning],
    auth_type: AuthType,
    enabled: &[ActionKind],
) -> Vec<Warning> {
    let mut warnings = scope_warnings(&info.granted_scopes, enabled);
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
