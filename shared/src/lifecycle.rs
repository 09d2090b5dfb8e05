//! How a store's record and its secret are kept in agreement, whatever fails or runs at once.
//!
//! The record is the source of truth: it names the Secrets Manager `VersionId` holding the
//! store's credentials (`credentials_version`), and every reader fetches exactly that version.
//! The `AWSCURRENT` label is brought in line with the record after each write, so operators
//! reading the secret in the console see the same credentials.
//!
//! **Connect / rotate** (`save-credentials`):
//! 1. validate the credentials live — nothing is written before this passes;
//! 2. put them as a new secret version: the first version of a new secret is current at once,
//!    a rotation's version is only staged (`AWSPENDING`);
//! 3. write the record conditionally on the `version` read (`attribute_not_exists` for a new
//!    store), naming the new secret version; on a conflict re-read and try again, staging the
//!    credentials anew if a concurrent disconnect removed the store meanwhile;
//! 4. [`converge_current`]: label the version the record names `AWSCURRENT`, and repeat while the
//!    record keeps changing, so the last writer always leaves record and label agreeing.
//!
//! **Disconnect** (`disconnect`): read the record; delete the secret; delete the record
//! conditionally on the version read; on a conflict (a concurrent rotation) start over.
//!
//! What a crash leaves behind, and who repairs it:
//! - after 2, before 3: a staged version no record names (or, for a new store, a secret without
//!   a record). Nobody reads it; the next connect of the shop reuses the same secret name.
//! - after 3, before 4: record and `AWSCURRENT` differ, but readers follow the record, so users
//!   see the new credentials. The next connect, rotation or `?verify=true` relabels.
//! - disconnect after deleting the secret, before deleting the record: the record names a
//!   version that is gone; readers treat the store as having no usable credentials (`verify`
//!   reports `invalid_credentials`), and repeating the DELETE finishes the job.

use crate::domain::{Credentials, OrganizationId, ShopDomain};
use crate::secrets::{SecretName, SecretsError};
use crate::store::StoreRecord;
use crate::Services;

/// Rounds of [`converge_current`] before leaving the rest to the next writer.
const CONVERGE_ROUNDS: usize = 8;

/// The secret holding `shop`'s credentials for `org`.
pub fn secret_name(services: &Services, org: &OrganizationId, shop: &ShopDomain) -> SecretName {
    SecretName::for_store(&services.secret_prefix, org, shop)
}

/// The credentials the record names; `None` when that version no longer exists.
pub async fn stored_credentials(
    services: &Services,
    record: &StoreRecord,
) -> Result<Option<Credentials>, SecretsError> {
    let name = secret_name(services, &record.org_id, &record.shop_domain);
    let value = services
        .secrets
        .get_version(&name, &record.credentials_version)
        .await?;
    Ok(value.as_ref().and_then(Credentials::from_secret_json))
}

/// Labels the version the record names as current, repeating while the record changes under
/// it. Failures are logged, not returned: readers follow the record, so a label left behind is
/// cosmetic and the next writer fixes it.
pub async fn converge_current(services: &Services, org: &OrganizationId, shop: &ShopDomain) {
    let name = secret_name(services, org, shop);
    for _ in 0..CONVERGE_ROUNDS {
        let before = match services.stores.get(org, shop).await {
            Ok(Some(record)) => record,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(shop = %shop, %error, "cannot read the record to relabel the secret");
                return;
            }
        };
        if let Err(error) = services
            .secrets
            .make_current(&name, &before.credentials_version)
            .await
        {
            tracing::warn!(shop = %shop, %error, "cannot relabel the current secret version");
            return;
        }
        match services.stores.get(org, shop).await {
            Ok(Some(after)) if after.version != before.version => continue,
            _ => return,
        }
    }
}
