//! Verify: a live check of a store's stored credentials ([`verify()`], the health check's and
//! `?verify=true`'s), what it found ([`Finding`]), and recording a finding ([`record_check`]):
//! conditionally on the version read, only while the checked connection and credentials are
//! still in use, and announced when it changes the store's status.

use std::sync::Arc;

use chrono::Utc;

use super::outbox::{flush_logged, with_change};
use super::{
    check_deadline, converge_current, org_enabled_actions, store_warnings, stored_credentials,
    LifecycleError, Storage, WRITE_ROUNDS,
};
use crate::deadline::Deadline;
use crate::domain::{ActionKind, OrganizationId, ShopDomain, StoreStatus, Warning};
use crate::events::{DetectedBy, EventPublisher};
use crate::failure::Code;
use crate::ids::new_id;
use crate::secrets::SecretsError;
use crate::shopify::{missing_scopes, scope_warnings, ShopInfo, ShopifyClient, ShopifyError};
use crate::store::{Expect, StoreError, StoreRecord};

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
    /// `enabled`: the order actions the org turned on, for the scopes' warnings.
    fn applied_to(
        &self,
        record: &StoreRecord,
        write_id: &str,
        verified: bool,
        enabled: &[ActionKind],
    ) -> StoreRecord {
        let now = Utc::now();
        let mut updated = record.clone();
        updated.status = self.status;
        if let Some(scopes) = &self.granted_scopes {
            updated.warnings = match &self.shop {
                Some(info) => store_warnings(info, &record.warnings, record.auth_type, enabled),
                None => scope_warnings(scopes, enabled),
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
/// connection and credentials that were checked, and announces a change of status on `events`
/// (see [`super::outbox`]). Answers the record as stored afterwards. For a mark (a finding
/// without granted scopes: the warnings about scopes are kept); a full check goes through
/// [`verify_record`], which also reads the order actions the org turned on.
pub async fn record_check(
    storage: &Storage,
    events: Option<&Arc<dyn EventPublisher>>,
    deadline: &Deadline,
    checked: &StoreRecord,
    finding: &Finding,
    by: DetectedBy,
) -> Result<StoreRecord, LifecycleError> {
    record_finding(storage, events, deadline, checked, (finding, &[]), by).await
}

/// [`record_check`] with the order actions the org turned on.
async fn record_finding(
    storage: &Storage,
    events: Option<&Arc<dyn EventPublisher>>,
    deadline: &Deadline,
    checked: &StoreRecord,
    (finding, enabled): (&Finding, &[ActionKind]),
    by: DetectedBy,
) -> Result<StoreRecord, LifecycleError> {
    let stored = write_check(storage, deadline, checked, (finding, enabled), by).await?;
    if !stored.outbox.is_empty() {
        flush_logged(
            storage,
            events,
            deadline,
            &stored.org_id,
            &stored.shop_domain,
        )
        .await;
    }
    Ok(stored)
}

/// The conditional write of [`record_check`].
async fn write_check(
    storage: &Storage,
    deadline: &Deadline,
    checked: &StoreRecord,
    (finding, enabled): (&Finding, &[ActionKind]),
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
            finding.applied_to(&current, &write_id, verified, enabled),
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
/// records the outcome and announces a change of status on `events` (see [`super::outbox`]).
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
    let enabled = match finding.granted_scopes {
        Some(_) => org_enabled_actions(storage, &deadline, org).await?,
        None => Vec::new(),
    };
    let stored = record_finding(
        storage,
        events,
        &deadline,
        &record,
        (&finding, &enabled),
        by,
    )
    .await?;
    tracing::info!(org_id = %org, shop = %shop, status = ?stored.status, by = ?by, "store verified");
    Ok(stored)
}
