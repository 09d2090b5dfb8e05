//! The store's sync lease: one invocation at a time works on a store's run or removal. The
//! holder saves its state with conditional writes (a request merged in meanwhile is kept); a
//! lease lasts until its invocation's deadline plus [`super::LEASE_MARGIN`], so the
//! redelivery of a killed invocation's message finds it free.

use chrono::Utc;

use super::{SyncPorts, LEASE_MARGIN};
use crate::deadline::Deadline;
use crate::domain::{OrganizationId, ShopDomain};
use crate::knowledge::state::SyncState;
use crate::knowledge::KnowledgeError;

/// When the lease of an invocation ending at `deadline` runs out.
pub(super) fn lease_end(deadline: &Deadline) -> chrono::DateTime<Utc> {
    let left = deadline.remaining().saturating_add(LEASE_MARGIN);
    Utc::now() + chrono::Duration::from_std(left).unwrap_or(chrono::Duration::MAX)
}

pub(super) fn release(state: &mut SyncState) {
    state.lease_owner = None;
    state.lease_until = None;
}

/// Releases the lease and saves, trying the write a second time if it fails: a lease left
/// behind would turn the message's redeliveries away until it ran out.
pub(super) async fn save_released(
    ports: &SyncPorts,
    deadline: &Deadline,
    state: &mut SyncState,
    me: &str,
) -> Result<(), KnowledgeError> {
    release(state);
    match save(ports, deadline, state, me).await {
        Err(KnowledgeError::Store(_) | KnowledgeError::Busy) => {
            save(ports, deadline, state, me).await
        }
        other => other,
    }
}

/// Saves `state` while this invocation holds the lease. Others only ever add a request to a
/// running store's state; such a change is merged in and the save retried.
pub(super) async fn save(
    ports: &SyncPorts,
    deadline: &Deadline,
    state: &mut SyncState,
    me: &str,
) -> Result<(), KnowledgeError> {
    if let Some(run) = state.run.as_mut() {
        run.touched_at = Some(Utc::now());
    }
    for _ in 0..16 {
        let expect = state.version;
        state.version = expect + 1;
        match deadline
            .run(ports.repo.put_state(state, Some(expect)))
            .await
        {
            Ok(()) => return Ok(()),
            Err(crate::store::StoreError::Conflict) => {
                state.version = expect;
                let Some(fresh) = deadline
                    .run(ports.repo.state(&state.org_id, &state.shop_domain))
                    .await?
                else {
                    return Err(KnowledgeError::LeaseLost);
                };
                let ours = fresh.lease_owner.as_deref() == Some(me)
                    || (fresh.lease_owner.is_none() && state.lease_owner.is_none());
                if !ours || fresh.run.as_ref().map(|r| &r.id) != state.run.as_ref().map(|r| &r.id) {
                    return Err(KnowledgeError::LeaseLost);
                }
                state.requested = fresh.requested;
                state.version = fresh.version;
            }
            Err(error) => {
                state.version = expect;
                return Err(error.into());
            }
        }
    }
    Err(KnowledgeError::LeaseLost)
}

/// Takes the store's sync lease for `me`, with `prepare`'s change in the same write; a store
/// without sync state gets one when `create` (a disconnect's removal: its announcement needs
/// a place to wait), else `None`. [`KnowledgeError::Busy`] while a run holds it.
pub(super) async fn take_lease(
    ports: &SyncPorts,
    deadline: &Deadline,
    org: &OrganizationId,
    shop: &ShopDomain,
    me: &str,
    create: bool,
    prepare: impl FnOnce(&mut SyncState),
) -> Result<Option<SyncState>, KnowledgeError> {
    let (mut state, expect) = match deadline.run(ports.repo.state(org, shop)).await? {
        Some(state) => {
            let expect = state.version;
            (state, Some(expect))
        }
        None if create => (SyncState::new(org, shop), None),
        None => return Ok(None),
    };
    if state.leased_by_other(me, Utc::now()) {
        tracing::info!(shop = %shop, "a run holds the store; the removal comes back later");
        return Err(KnowledgeError::Busy);
    }
    prepare(&mut state);
    state.lease_owner = Some(me.to_owned());
    state.lease_until = Some(lease_end(deadline));
    state.version = expect.map_or(0, |v| v + 1);
    match deadline.run(ports.repo.put_state(&state, expect)).await {
        Ok(()) => Ok(Some(state)),
        Err(crate::store::StoreError::Conflict) => Err(KnowledgeError::Busy),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::knowledge::sync::STEP_RESERVE;

    #[test]
    fn a_lease_ends_soon_after_its_invocation() {
        let deadline = Deadline::after(Duration::from_secs(58));
        let end = lease_end(&deadline);
        let left = (end - Utc::now()).to_std().unwrap();
        assert!(left > Duration::from_secs(62) && left <= Duration::from_secs(63));
        assert!(STEP_RESERVE < Duration::from_secs(60));
    }
}
