//! Saving an organization's settings (`PUT /shopify/settings`): the update applied to what is
//! stored and written, then what the change sets going — knowledge sources turned on are
//! synced on every store, sources turned off lose their documents.

use crate::deadline::Deadline;
use crate::domain::{OrgSettings, OrganizationId, SettingsUpdate};
use crate::knowledge::KnowledgePorts;
use crate::store::{StoreError, StoreRepository};

/// Applies `update` to `org`'s settings and saves them, then (with knowledge sync's ports)
/// asks for the knowledge work their change of sources calls for. That request is best
/// effort: the scheduled run catches up if it fails.
pub async fn save(
    stores: &dyn StoreRepository,
    knowledge: Option<&KnowledgePorts>,
    deadline: &Deadline,
    org: &OrganizationId,
    update: SettingsUpdate,
) -> Result<OrgSettings, StoreError> {
    let before = deadline.run(stores.get_settings(org)).await?;
    let settings = update.apply(&before);
    deadline.run(stores.put_settings(org, &settings)).await?;
    tracing::info!(org_id = %org, ?settings, "settings saved");
    if let Some(knowledge) = knowledge {
        let changed = knowledge
            .sources_changed(
                stores,
                deadline,
                org,
                &before.knowledge,
                &settings.knowledge,
            )
            .await;
        if let Err(error) = changed {
            tracing::warn!(org_id = %org, %error, "could not queue the knowledge changes");
        }
    }
    Ok(settings)
}
