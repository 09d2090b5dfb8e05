//! Connect and rotate: credentials validated live, staged as a secret version, recorded by a
//! conditional write and the `AWSCURRENT` label brought in line (steps 1–5 of the protocol in
//! [`super`]), the undo of a connection whose record never landed, and [`Connector::save`]: a
//! connect with what follows it (the status change announced, then each [`AfterConnect`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;

use super::outbox::{flush_logged, with_change};
use super::{
    check_deadline, clear_mark, converge_current, deletion_in_progress, org_enabled_actions,
    store_warnings, within_delete_window, LifecycleError, Storage, LEASE_POLL, WRITE_ROUNDS,
};
use crate::deadline::Deadline;
use crate::domain::{ActionKind, Credentials, OrganizationId, ShopDomain, StoreStatus};
use crate::events::{DetectedBy, EventPublisher};
use crate::ids::new_id;
use crate::secrets::{PutOutcome, SecretName};
use crate::shopify::{missing_scopes, ShopInfo, ShopifyClient, ShopifyError};
use crate::store::{Slot, StoreError, StoreRecord, Tombstone, TombstoneOrigin};

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
/// and recorded by the protocol in [`super`]. New credentials that mend the store (or change
/// its scopes) are announced on `events`.
pub async fn connect(
    storage: &Storage,
    shopify: &ShopifyClient,
    events: Option<&Arc<dyn EventPublisher>>,
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
    let enabled = org_enabled_actions(storage, &deadline, org).await?;
    let connected = persist(
        storage,
        &deadline,
        org,
        shop,
        credentials,
        (&info, &enabled),
        intent,
    )
    .await?;
    if !connected.record().outbox.is_empty() {
        flush_logged(storage, events, &deadline, org, shop).await;
    }
    Ok(connected)
}

/// A version staged in the store's secret, and the live connection it was staged for.
struct Staged {
    version_id: String,
    for_connection: Option<String>,
}

/// Steps 3–5 of a connect: stage, write conditionally, converge.
async fn persist(
    storage: &Storage,
    deadline: &Deadline,
    org: &OrganizationId,
    shop: &ShopDomain,
    credentials: &Credentials,
    (info, enabled): (&ShopInfo, &[ActionKind]),
    intent: Option<String>,
) -> Result<Connected, LifecycleError> {
    let name = storage.secret_name(org, shop);
    let secret = credentials.to_secret_json();
    let write_id = new_id();
    let mut staged: Option<Staged> = None;
    let mut created_secret = false;
    // Whether the last write sent went over a live record (a rotation, 200) or not (201).
    let mut wrote_over_live = false;
    // The connection a write of ours over no live record started: found live, it is ours,
    // whatever wrote over it since (a verify, a health check) — so its answer stays 201.
    let mut started: Option<String> = None;
    let ours = |slot: &Slot, started: &Option<String>| {
        slot.write_id() == Some(write_id.as_str())
            || matches!((slot, started), (Slot::Live(r), Some(id)) if &r.connection_id == id)
    };
    // Write attempts; waiting out a deletion does not count (the deadline bounds it).
    let mut round = 0;
    loop {
        if round == WRITE_ROUNDS {
            return Err(LifecycleError::Contended);
        }
        let slot = storage.slot(deadline, org, shop).await?;
        if ours(&slot, &started) {
            // An earlier write of ours landed; only its answer was lost.
            return Ok(finish(storage, deadline, slot, wrote_over_live).await);
        }
        if let Some(connection) = &intent {
            if !matches!(&slot, Slot::Live(r) if &r.connection_id == connection) {
                tracing::info!(org_id = %org, shop = %shop, "the store was disconnected during its rotation");
                if created_secret {
                    undo(storage, deadline, (org, shop), &name, slot).await;
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
            let put: PutOutcome = match deadline.run(storage.secrets.put(&name, &secret)).await {
                Ok(put) => put,
                Err(error) => {
                    // The write may have been carried out with its answer lost: unless a record
                    // uses the secret, it goes, as after a failed record write.
                    if let Ok(slot) = storage.slot(deadline, org, shop).await {
                        undo(storage, deadline, (org, shop), &name, slot).await;
                    }
                    return Err(error.into());
                }
            };
            created_secret |= put.created;
            staged = Some(Staged {
                version_id: put.version_id,
                for_connection: live_connection,
            });
        }
        let version_id = &staged.as_ref().expect("staged above").version_id;
        let record = connected_record(
            &slot,
            org,
            shop,
            credentials,
            (info, enabled),
            version_id,
            &write_id,
        );
        wrote_over_live = matches!(slot, Slot::Live(_));
        if !wrote_over_live {
            started = Some(record.connection_id.clone());
        }
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
                    Ok(slot) if ours(&slot, &started) => {
                        return Ok(finish(storage, deadline, slot, wrote_over_live).await);
                    }
                    // No record names what was staged: the secret goes, whether this request
                    // created it, restored it from a deletion, or found it left by another.
                    Ok(slot) => undo(storage, deadline, (org, shop), &name, slot).await,
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
    (info, enabled): (&ShopInfo, &[ActionKind]),
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
            enabled,
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

/// Schedules the secret of a connect whose record never landed for deletion (recoverable),
/// under a deleting mark, unless the slot is live (a concurrent connect uses the secret) or
/// another deletion is under way. Best effort: on any failure the secret stays, and the next connect reuses it.
async fn undo(
    storage: &Storage,
    deadline: &Deadline,
    (org, shop): (&OrganizationId, &ShopDomain),
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

/// Something a stored connection sets going (its first knowledge sync, its webhook
/// subscriptions). Best effort: it logs its own failure, and the scheduled work covers a store
/// it missed.
#[async_trait]
pub trait AfterConnect: Send + Sync {
    async fn connected(
        &self,
        deadline: &Deadline,
        connected: &Connected,
        credentials: &Credentials,
    );
}

/// What a connect runs on, and what follows it.
pub struct Connector<'a> {
    pub storage: &'a Storage,
    pub shopify: &'a ShopifyClient,
    /// Where a status change is announced; without it the change waits in the outbox.
    pub events: Option<&'a Arc<dyn EventPublisher>>,
    /// Run in order once the connection is stored.
    pub then: Vec<Box<dyn AfterConnect>>,
}

impl Connector<'_> {
    /// [`connect()`], then each of [`Connector::then`] in order: what `POST /shopify/stores`
    /// runs.
    pub async fn save(
        &self,
        deadline: Deadline,
        org: &OrganizationId,
        shop: &ShopDomain,
        credentials: &Credentials,
    ) -> Result<Connected, ConnectError> {
        let connected = connect(
            self.storage,
            self.shopify,
            self.events,
            deadline,
            org,
            shop,
            credentials,
        )
        .await?;
        for then in &self.then {
            then.connected(&deadline, &connected, credentials).await;
        }
        Ok(connected)
    }
}
