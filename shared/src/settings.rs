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
    let left_out = (
        update.knowledge.is_none(),
        update.order_actions.is_none(),
        update.mcp.is_none(),
    );
    let settings = update.apply(&before);
    // A part the request left out is not written (as a part this version cannot read): what
    // another save wrote there since the read stands, instead of the value read coming back.
    let mut written = settings.clone();
    written.knowledge_unread |= left_out.0;
    written.order_actions_unread |= left_out.1;
    written.mcp_unread |= left_out.2;
    deadline.run(stores.put_settings(org, &written)).await?;
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
    // The answer is what is stored: a part left out may have changed since the read (when
    // the read back fails, the settings as this save wrote them).
    if left_out == (false, false, false) {
        return Ok(settings);
    }
    Ok(deadline
        .run(stores.get_settings(org))
        .await
        .unwrap_or(settings))
}
