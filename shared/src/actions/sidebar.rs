//! The inbox sidebar's part of order actions: on each of a contact's orders, the actions that
//! wait for a person's approval (`pending_actions`), so a rep approves or declines from the
//! conversation, and the order's last action whatever came of it (`last_action`). Read in one
//! query of the contact's own actions (their newest [`CONTACT_ACTIONS`]) and one batch read of
//! the records.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::record::{normalize_email, ActionRecord};
use super::repo::ActionRepository;
use crate::deadline::Deadline;
use crate::domain::{ActionStatus, OrganizationId, ShopDomain};
use crate::views::{LastActionView, OrderSummary, PendingActionView};

/// How many of a contact's newest actions the sidebar reads: more than its 50 orders ever
/// carry in practice, and one batch read.
pub const CONTACT_ACTIONS: usize = 100;

/// Where the sidebar reads a contact's order actions. Built in `services.rs`.
#[derive(Clone)]
pub struct PendingApprovals {
    pub actions: Arc<dyn ActionRepository>,
    /// `APPROVAL_TTL_HOURS`: how long an action waits for a person before it expires.
    pub approval_ttl: Duration,
}

impl PendingApprovals {
    /// `email`'s newest order actions, newest first, within `deadline`. A failure is logged
    /// and reads as none: it never fails the sidebar.
    pub async fn of_contact(
        &self,
        deadline: &Deadline,
        org: &OrganizationId,
        email: &str,
    ) -> Vec<ActionRecord> {
        let email = normalize_email(email);
        match deadline
            .run(self.actions.of_contact(org, &email, CONTACT_ACTIONS))
            .await
        {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(org_id = %org, %error, "could not read the contact's order actions; the sidebar shows none");
                Vec::new()
            }
        }
    }
}

/// Puts `actions` (newest first) on their orders among `orders` of `shop`: those waiting for
/// a person now as `pending_actions`, the newest as `last_action`.
pub fn attach(actions: &[ActionRecord], shop: &ShopDomain, orders: &mut [OrderSummary]) {
    let now = Utc::now();
    for order in orders {
        let mut on_order = actions
            .iter()
            .filter(|r| r.shop_domain == *shop)
            .filter(|r| match &order.order_id {
                Some(id) => *id == r.order_id,
                None => r.order_name == order.basics.name,
            })
            .peekable();
        order.last_action = on_order.peek().map(|r| LastActionView {
            action_id: r.action_id.clone(),
            action: r.kind.as_str(),
            status: r.status_at(now).as_str(),
            summary: r.summary.clone(),
            actor: r.actor.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        });
        order.pending_actions = on_order
            .filter(|r| r.status_at(now) == ActionStatus::PendingApproval)
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
