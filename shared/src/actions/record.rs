//! The action record: one per proposal, kept per organization, moved through
//! [`ActionStatus::may_become`] by conditional writes, with the events of its status changes
//! waiting in its own outbox.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{ActionKind, ActionMode, ActionStatus, OrganizationId, ShopDomain};
use crate::events::OrderActionEvent;
use crate::ids::new_id;

/// How long a proposal may be confirmed.
pub const PROPOSAL_TTL: Duration = Duration::minutes(10);

/// How long a record is kept once it went past a proposal.
pub const RECORD_RETENTION: Duration = Duration::days(400);

/// How long an unconfirmed (or expired) proposal is kept after its expiry.
pub const PROPOSAL_RETENTION: Duration = Duration::days(1);

/// The actor of everything the AI does for the shopper.
pub const AI_ACTOR: &str = "ai";

/// A new action id: the creation time in milliseconds (12 hex digits, so ids sort by creation)
/// then 128 random bits.
pub fn new_action_id(now: DateTime<Utc>) -> String {
    format!("{:012x}{}", now.timestamp_millis().max(0), new_id())
}

/// An email as proposals bind it and orders are matched: trimmed, ASCII-lowercased (no Unicode
/// folding, no `+tag` or dot stripping).
pub fn normalize_email(email: &str) -> String {
    email
        .trim_matches(|c: char| c.is_ascii_whitespace())
        .to_ascii_lowercase()
}

/// One action, from its proposal to its verified outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// The proposal's id (`proposal_id` in the AI's answers).
    pub action_id: String,
    pub org_id: OrganizationId,
    pub kind: ActionKind,
    pub status: ActionStatus,
    pub shop_domain: ShopDomain,
    /// The order's GID.
    pub order_id: String,
    pub order_name: String,
    /// The contact's email, normalized ([`normalize_email`]).
    pub contact_email: String,
    pub conversation_id: String,
    /// The arguments as the model sent them (checked).
    pub arguments: Value,
    /// What the order looked like when the decision was made (see `OrderAction::fingerprint`).
    pub fingerprint: String,
    /// What will happen (or happened), in words the AI reads back.
    pub summary: String,
    pub effects: Value,
    /// Why, for `failed` (and what a refusal at confirmation said).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `ai`, or the user who approved or declined.
    pub actor: String,
    /// The mode the action was confirmed in.
    #[serde(default)]
    pub mode: ActionMode,
    /// Shopify's job of an asynchronous mutation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// What Shopify answered the mutation created, when it named it (a return's GID): the
    /// read-back verifies exactly that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_id: Option<String>,
    /// What Shopify says about the order after the action (for `done`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// A proposal's expiry (10 minutes), or a pending approval's (`APPROVAL_TTL_HOURS`).
    pub expires_at: DateTime<Utc>,
    /// When the mutation was (about to be) sent: a record still `executing` long after this
    /// belongs to an invocation that stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executing_since: Option<DateTime<Utc>>,
    /// A fresh id per attempt to execute, written with `executing`: the attempt recognizes
    /// its own write when the write's answer was lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    /// Every write states the version it read and writes the next one.
    pub version: u64,
    /// Status changes written with this state and not yet announced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<OrderActionEvent>,
}

/// An action as the dashboard lists it (`GET /shopify/actions`, approve, decline).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActionView {
    pub action_id: String,
    pub action: ActionKind,
    pub status: ActionStatus,
    pub shop_domain: ShopDomain,
    pub order_name: String,
    pub summary: String,
    pub actor: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ActionRecord {
    /// The status a reader sees at `now`: a proposal or a pending approval past its expiry
    /// is `expired` even before a write says so.
    pub fn status_at(&self, now: DateTime<Utc>) -> ActionStatus {
        match self.status {
            ActionStatus::Proposed | ActionStatus::PendingApproval if now >= self.expires_at => {
                ActionStatus::Expired
            }
            status => status,
        }
    }

    pub fn view(&self, now: DateTime<Utc>) -> ActionView {
        ActionView {
            action_id: self.action_id.clone(),
            action: self.kind,
            status: self.status_at(now),
            shop_domain: self.shop_domain.clone(),
            order_name: self.order_name.clone(),
            summary: self.summary.clone(),
            actor: self.actor.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// When DynamoDB may remove the record: a day after a proposal that was never confirmed
    /// expired, 400 days after creation for the rest (a pending approval that expired was
    /// confirmed by the shopper: it stays on the record).
    pub fn keep_until(&self) -> DateTime<Utc> {
        match self.status {
            ActionStatus::Proposed => self.expires_at + PROPOSAL_RETENTION,
            ActionStatus::Expired
                if self.executing_since.is_none()
                    && self.actor == AI_ACTOR
                    && self.mode != ActionMode::Approval =>
            {
                self.expires_at + PROPOSAL_RETENTION
            }
            _ => self.created_at + RECORD_RETENTION,
        }
    }

    /// Whether the schedule still has something to do with it.
    pub fn is_unsettled(&self) -> bool {
        matches!(
            self.status,
            ActionStatus::Executing
                | ActionStatus::InProgress
                | ActionStatus::PendingApproval
                | ActionStatus::Approved
        )
    }

    /// This record moved to `status` by `actor` at `now`: the next version, its event in the
    /// outbox. The caller has checked [`ActionStatus::may_become`].
    pub fn moved(&self, status: ActionStatus, actor: &str, now: DateTime<Utc>) -> Self {
        let mut next = self.clone();
        next.status = status;
        next.actor = actor.to_owned();
        next.updated_at = now;
        next.version = self.version + 1;
        next.outbox.push(next.event(now));
        next
    }

    /// The event announcing the record's current status.
    pub fn event(&self, now: DateTime<Utc>) -> OrderActionEvent {
        OrderActionEvent {
            event_id: new_id(),
            action_id: self.action_id.clone(),
            org_id: self.org_id.clone(),
            shop_domain: self.shop_domain.clone(),
            order_name: self.order_name.clone(),
            action: self.kind,
            status: self.status,
            summary: self.summary.clone(),
            actor: self.actor.clone(),
            conversation_id: Some(self.conversation_id.clone()),
            reason: self.reason.clone(),
            occurred_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_ids_sort_by_creation_and_carry_128_random_bits() {
        let earlier = new_action_id(Utc::now() - Duration::seconds(1));
        let later = new_action_id(Utc::now());
        assert!(earlier < later);
        assert_eq!(later.len(), 12 + 32);
        assert_ne!(new_action_id(Utc::now()), new_action_id(Utc::now()));
    }

    #[test]
    fn emails_are_trimmed_and_ascii_lowercased_only() {
        assert_eq!(
            normalize_email("  Jane.Doe+x@Example.COM "),
            "jane.doe+x@example.com"
        );
        assert_eq!(normalize_email("ÉLODIE@example.com"), "Élodie@example.com");
    }

    #[test]
    fn only_ascii_whitespace_is_trimmed_from_emails() {
        assert_eq!(
            normalize_email("\u{a0}Jane@Example.com\u{a0}"),
            "\u{a0}jane@example.com\u{a0}"
        );
        assert_eq!(
            normalize_email("\t jane@example.com\r\n"),
            "jane@example.com"
        );
    }
}
