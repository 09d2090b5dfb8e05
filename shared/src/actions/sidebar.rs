//! The inbox sidebar's part of order actions: the actions of a contact's orders that wait for a
//! person's approval (`pending_actions` in the sidebar's order summaries), read in one query of
//! the organization's recent records.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::record::{normalize_email, ActionRecord, PROPOSAL_TTL};
use super::repo::ActionRepository;
use crate::deadline::Deadline;
use crate::domain::{ActionStatus, OrganizationId, ShopDomain};
use crate::views::{OrderSummary, PendingActionView};

/// Where the sidebar reads pending approvals. Built in `services.rs`.
#[derive(Clone)]
pub struct PendingApprovals {
    pub actions: Arc<dyn ActionRepository>,
    /// `APPROVAL_TTL_HOURS`: no pending approval is older than this (and its proposal's 10
    /// minutes), so the read covers only that much of the record.
    pub approval_ttl: Duration,
}

impl PendingApprovals {
    /// The actions of `email`'s orders waiting for a person now, within `deadline`. A failure
    /// is logged and reads as none: it never fails the sidebar.
    pub async fn of_contact(
        &self,
        deadline: &Deadline,
        org: &OrganizationId,
        email: &str,
    ) -> Vec<ActionRecord> {
        let now = Utc::now();
        let oldest = now
            - chrono::Duration::from_std(self.approval_ttl).unwrap_or(chrono::Duration::hours(48))
            - PROPOSAL_TTL;
        let email = normalize_email(email);
        match deadline
            .run(self.actions.pending_approvals(org, &email, oldest))
            .await
        {
            Ok(found) => found
                .into_iter()
                .filter(|r| r.status_at(now) == ActionStatus::PendingApproval)
                .collect(),
            Err(error) => {
                tracing::warn!(org_id = %org, %error, "could not read the pending approvals; the sidebar shows none");
                Vec::new()
            }
        }
    }
}

/// Puts each of `pending` on its order among `orders` of `shop`.
pub fn attach(pending: &[ActionRecord], shop: &ShopDomain, orders: &mut [OrderSummary]) {
    for order in orders {
        order.pending_actions = pending
            .iter()
            .filter(|r| r.shop_domain == *shop)
            .filter(|r| match &order.order_id {
                Some(id) => *id == r.order_id,
                None => r.order_name == order.basics.name,
            })
            .map(|r| PendingActionView {
                action_id: r.action_id.clone(),
                action: r.kind.as_str(),
                status: ActionStatus::PendingApproval.as_str(),
                summary: r.summary.clone(),
                created_at: r.created_at,
            })
            .collect();
    }
}
