//! What the operations run on and speak: the ports, the clock, the budgets, the caller, the
//! answers and the failures.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::record::ActionRecord;
use super::repo::ActionRepository;
use crate::access::Access;
use crate::domain::{ActionStatus, OrganizationId};
use crate::events::EventPublisher;
use crate::failure::Code;
use crate::store::{StoreError, StoreRepository};

/// The time budgets of order actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActionConfig {
    /// `ACTIONS_BUDGET_MS`, default 15000: an invocation answers within it, and never past its
    /// deadline minus [`super::ANSWER_MARGIN`].
    pub budget: Duration,
    /// `APPROVAL_TTL_HOURS`, default 48: how long an action waits for a person.
    pub approval_ttl: Duration,
    /// How often Shopify's job is asked about while an invocation waits for it.
    pub job_poll: Duration,
    /// The most of a settle run one action may take (its reads, its store's Shopify calls,
    /// its writes): a store that does not answer holds the run this long, not to its end.
    pub settle_each: Duration,
}

impl Default for ActionConfig {
    fn default() -> Self {
        Self {
            budget: Duration::from_millis(15_000),
            approval_ttl: Duration::from_secs(48 * 3600),
            job_poll: Duration::from_millis(500),
            settle_each: Duration::from_secs(5),
        }
    }
}

impl ActionConfig {
    /// Reads `ACTIONS_BUDGET_MS` and `APPROVAL_TTL_HOURS` (defaults when unset or unreadable).
    pub fn from_env() -> Self {
        let number = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|v| *v > 0)
        };
        let defaults = Self::default();
        Self {
            budget: number("ACTIONS_BUDGET_MS")
                .map(Duration::from_millis)
                .unwrap_or(defaults.budget),
            approval_ttl: number("APPROVAL_TTL_HOURS")
                .map(|h| Duration::from_secs(h * 3600))
                .unwrap_or(defaults.approval_ttl),
            job_poll: defaults.job_poll,
            settle_each: defaults.settle_each,
        }
    }
}

/// The wall clock the protocol reads (expiries, windows, leases). Tests move it forward
/// instead of waiting.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Moves this clock (and every copy of it) `by` forward.
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }
}

/// Everything the operations use. Built in `services.rs`.
#[derive(Clone)]
pub struct ActionPorts {
    pub stores: Arc<dyn StoreRepository>,
    /// Stores' credentials and the Shopify client.
    pub access: Arc<Access>,
    pub actions: Arc<dyn ActionRepository>,
    /// `EVENT_BUS_NAME`; without it events wait in the records' outboxes.
    pub events: Option<Arc<dyn EventPublisher>>,
    pub config: ActionConfig,
    pub clock: Clock,
}

/// Who is asking, as the platform's event says (trusted: only its principal may invoke).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invocation {
    pub org: Option<OrganizationId>,
    /// `contact.email`.
    pub email: Option<String>,
    /// `contact.email_verified`: the platform proved the shopper owns the address.
    pub email_verified: bool,
    pub conversation_id: Option<String>,
    /// Set by the platform from the shopper's own reply or button, never by the model.
    pub shopper_confirmed: bool,
    /// Who acts for the shopper, recorded as the proposal's `actor`: the platform's AI (`ai`)
    /// when `None`; over MCP, the bearer token's `sub`.
    pub actor: Option<String>,
}

/// What the AI is answered: a proposal (`confirmation_required`), or where an action stands.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActionAnswer {
    pub proposal_id: String,
    /// `confirmation_required`, or an [`ActionStatus`].
    pub status: String,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effects: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// What Shopify now says about the order (for `done`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<Value>,
    /// `{"reason": ...}` for `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl ActionAnswer {
    /// A proposal waiting for the shopper's yes.
    pub fn proposal(record: &ActionRecord) -> Self {
        Self {
            proposal_id: record.action_id.clone(),
            status: "confirmation_required".into(),
            summary: record.summary.clone(),
            effects: Some(record.effects.clone()),
            expires_at: Some(record.expires_at),
            order: None,
            details: None,
        }
    }

    /// Where `record` stands at `now`.
    pub fn status(record: &ActionRecord, now: DateTime<Utc>) -> Self {
        let status = record.status_at(now);
        Self {
            proposal_id: record.action_id.clone(),
            status: status.as_str().into(),
            summary: record.summary.clone(),
            effects: None,
            expires_at: matches!(status, ActionStatus::PendingApproval)
                .then_some(record.expires_at),
            order: record.outcome.clone(),
            details: record
                .reason
                .as_ref()
                .filter(|_| status == ActionStatus::Failed)
                .map(|reason| serde_json::json!({ "reason": reason })),
        }
    }
}

/// An answer that is not an action: a contract code, words the AI (or the merchant) can
/// relay, and `details` (`reason`, `alternative`, `matches`, `missing`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActionFailure {
    pub code: Code,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl ActionFailure {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// `action_not_allowed` with `details.reason` (and `details.alternative`).
    pub fn not_allowed(
        reason: &str,
        alternative: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        let mut details = serde_json::json!({ "reason": reason });
        if let Some(alternative) = alternative {
            details["alternative"] = Value::from(alternative);
        }
        Self::new(Code::ActionNotAllowed, message).with_details(details)
    }
}

impl From<StoreError> for ActionFailure {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "action storage failed");
        let code = match error {
            StoreError::Corrupt(_) => Code::Internal,
            _ => Code::StorageUnavailable,
        };
        Self::new(code, code.ai_message())
    }
}
