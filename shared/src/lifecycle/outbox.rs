//! Status-change events: what changed about a store, why, and what the merchant should do,
//! delivered through an outbox on the store's own record.
//!
//! A write that changes a store's `status`, `granted_scopes`, order-number prefix/suffix or
//! warnings appends a [`StatusChanged`] (with a fresh `change_id`) to the record's `outbox` in
//! the same conditional write. [`flush`] then puts the outbox's events on the bus and removes
//! them from the record, conditionally on the version it read. So a change is announced once:
//! a crash between the write and the put leaves the change in the outbox for the next flush
//! (any check or webhook of the store, or the next health-check cycle), and a crash between the
//! put and the removal repeats the same `change_id`, which consumers use to drop the repeat.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;

use crate::deadline::Deadline;
use crate::domain::{OrganizationId, ShopDomain, StoreStatus, Warning};
use crate::events::{fix_for, DetectedBy, EventError, EventPublisher, StatusChanged};
use crate::ids::new_id;
use crate::lifecycle::Storage;
use crate::store::{Expect, Slot, StoreError, StoreRecord};

/// Rounds of [`flush`] against concurrent writers of the record.
const FLUSH_ROUNDS: usize = 8;

fn status_code(status: StoreStatus) -> &'static str {
    match status {
        StoreStatus::Connected => "connected",
        StoreStatus::InvalidCredentials => "invalid_credentials",
        StoreStatus::MissingScopes => "missing_scopes",
        StoreStatus::ShopUnavailable => "shop_unavailable",
    }
}

fn codes(warnings: &[Warning]) -> BTreeSet<&str> {
    warnings.iter().map(|w| w.code.as_str()).collect()
}

impl StatusChanged {
    /// The change from `before` to `after`, if anything the platform cares about changed.
    pub fn between(before: &StoreRecord, after: &StoreRecord, by: DetectedBy) -> Option<Self> {
        let scopes = |r: &StoreRecord| r.granted_scopes.iter().cloned().collect::<BTreeSet<_>>();
        let mut changed = Vec::new();
        if before.status != after.status {
            changed.push("status");
        }
        if scopes(before) != scopes(after) {
            changed.push("granted_scopes");
        }
        if before.order_number_prefix != after.order_number_prefix {
            changed.push("order_number_prefix");
        }
        if before.order_number_suffix != after.order_number_suffix {
            changed.push("order_number_suffix");
        }
        if codes(&before.warnings) != codes(&after.warnings) {
            changed.push("warnings");
        }
        if changed.is_empty() {
            return None;
        }
        let reason = Self::reason(before, after);
        Some(Self {
            change_id: new_id(),
            org_id: after.org_id.clone(),
            shop_domain: after.shop_domain.clone(),
            old_status: before.status,
            new_status: after.status,
            changed: changed.into_iter().map(String::from).collect(),
            fix: fix_for(&reason.code).to_owned(),
            reason,
            detected_by: by,
            granted_scopes: after.granted_scopes.clone(),
            order_number_prefix: after.order_number_prefix.clone(),
            order_number_suffix: after.order_number_suffix.clone(),
            warnings: after.warnings.clone(),
            occurred_at: Utc::now(),
        })
    }

    fn reason(before: &StoreRecord, after: &StoreRecord) -> Warning {
        let warning = |code: &str, message: String| Warning {
            code: code.into(),
            message,
        };
        if after.status != StoreStatus::Connected {
            let code = status_code(after.status);
            if let Some(found) = after.warnings.iter().find(|w| w.code == code) {
                return found.clone();
            }
            return warning(code, format!("The store's status is now {code}."));
        }
        if before.status != StoreStatus::Connected {
            return warning(
                "connected",
                "Shopify accepts the store's credentials again and every required scope is granted.".into(),
            );
        }
        if before.order_number_prefix != after.order_number_prefix
            || before.order_number_suffix != after.order_number_suffix
        {
            return warning(
                "order_number_format_changed",
                format!(
                    "Order numbers now look like {}1001{} (they looked like {}1001{}).",
                    after.order_number_prefix,
                    after.order_number_suffix,
                    before.order_number_prefix,
                    before.order_number_suffix
                ),
            );
        }
        let old = codes(&before.warnings);
        if let Some(added) = after
            .warnings
            .iter()
            .find(|w| !old.contains(w.code.as_str()))
        {
            return added.clone();
        }
        let new = codes(&after.warnings);
        let cleared: Vec<&str> = old.difference(&new).copied().collect();
        let scopes = |r: &StoreRecord| r.granted_scopes.iter().cloned().collect::<BTreeSet<_>>();
        if !cleared.is_empty() && scopes(before) == scopes(after) {
            return warning(
                "warnings_cleared",
                format!("No longer limiting lookups: {}.", cleared.join(", ")),
            );
        }
        warning(
            "scopes_changed",
            format!(
                "The app's access scopes changed; granted now: {}.",
                after.granted_scopes.join(", ")
            ),
        )
    }
}

/// `after` with the change from `before` (if any) added to its outbox.
pub fn with_change(before: &StoreRecord, mut after: StoreRecord, by: DetectedBy) -> StoreRecord {
    if let Some(change) = StatusChanged::between(before, &after, by) {
        tracing::info!(
            org_id = %after.org_id,
            shop = %after.shop_domain,
            change_id = %change.change_id,
            old_status = ?change.old_status,
            new_status = ?change.new_status,
            reason = %change.reason.code,
            "store status changed"
        );
        after.outbox.push(change);
        if after.outbox.len() > MAX_OUTBOX {
            // The bus has been failing for a long time; the oldest changes are superseded by
            // the later ones, and the record must stay far below DynamoDB's item size limit.
            let dropped = after.outbox.len() - MAX_OUTBOX;
            tracing::error!(org_id = %after.org_id, shop = %after.shop_domain, dropped, "the status-change outbox is full; the oldest changes are dropped");
            after.outbox.drain(..dropped);
        }
    }
    after
}

/// The most changes a store's outbox keeps while the bus cannot be reached.
pub const MAX_OUTBOX: usize = 20;

/// Why an outbox could not be flushed; what is left stays for the next flush.
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    #[error(transparent)]
    Events(#[from] EventError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Puts the events waiting in the store's outbox and removes them from the record. Answers how
/// many were put. Safe to run concurrently: a record written meanwhile keeps its own new
/// changes, and an event put twice carries the same `change_id`.
pub async fn flush(
    storage: &Storage,
    events: &dyn EventPublisher,
    deadline: &Deadline,
    org: &OrganizationId,
    shop: &ShopDomain,
) -> Result<usize, FlushError> {
    let mut put: BTreeSet<String> = BTreeSet::new();
    for _ in 0..FLUSH_ROUNDS {
        let Slot::Live(record) = deadline.run(storage.stores.slot(org, shop)).await? else {
            return Ok(put.len());
        };
        if record.outbox.is_empty() {
            return Ok(put.len());
        }
        for change in &record.outbox {
            if put.contains(&change.change_id) {
                continue;
            }
            deadline.run(events.store_status_changed(change)).await?;
            put.insert(change.change_id.clone());
        }
        let mut cleared = record.clone();
        cleared.outbox.retain(|c| !put.contains(&c.change_id));
        cleared.version = record.version + 1;
        cleared.write_id = new_id();
        match deadline
            .run(
                storage
                    .stores
                    .put_live(&cleared, Expect::Version(record.version)),
            )
            .await
        {
            Ok(()) => return Ok(put.len()),
            Err(StoreError::Conflict) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Ok(put.len())
}

/// [`flush`], logging instead of failing: the outbox keeps what could not be put.
pub async fn flush_logged(
    storage: &Storage,
    events: Option<&Arc<dyn EventPublisher>>,
    deadline: &Deadline,
    org: &OrganizationId,
    shop: &ShopDomain,
) {
    let Some(events) = events else {
        return;
    };
    if let Err(error) = flush(storage, events.as_ref(), deadline, org, shop).await {
        tracing::warn!(org_id = %org, shop = %shop, %error, "status change events stay in the outbox");
    }
}
