//! Order actions' vocabulary: which actions exist, the statuses an action moves through, and
//! the merchant's policy for each (`order_actions` in the settings). All off by default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A write the AI may do for a shopper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    CancelOrder,
    UpdateShippingAddress,
    RequestReturn,
}

impl ActionKind {
    pub const ALL: [ActionKind; 3] = [
        ActionKind::CancelOrder,
        ActionKind::UpdateShippingAddress,
        ActionKind::RequestReturn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CancelOrder => "cancel_order",
            Self::UpdateShippingAddress => "update_shipping_address",
            Self::RequestReturn => "request_return",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// Where an action stands. In answers, records and events alike.
///
/// ```text
/// proposed ──confirm──▶ executing ──▶ done | failed | in_progress ──settle──▶ done | failed
///    │  └──confirm (approval)──▶ pending_approval ──approve──▶ approved ──▶ executing ...
///    │                                   ├──decline──▶ declined
///    │                                   └──approve (mode now simulate)──▶ simulated
///    ├──confirm (simulate)──▶ simulated
///    └──10 minutes, or a newer proposal for the order──▶ expired
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Proposed,
    PendingApproval,
    Approved,
    Executing,
    InProgress,
    Done,
    Failed,
    Declined,
    Expired,
    Simulated,
}

impl ActionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proposed => "proposed",
            Self::PendingApproval => "pending_approval",
            Self::Approved => "approved",
            Self::Executing => "executing",
            Self::InProgress => "in_progress",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Declined => "declined",
            Self::Expired => "expired",
            Self::Simulated => "simulated",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Proposed,
            Self::PendingApproval,
            Self::Approved,
            Self::Executing,
            Self::InProgress,
            Self::Done,
            Self::Failed,
            Self::Declined,
            Self::Expired,
            Self::Simulated,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }

    /// Nothing moves an action on from here.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Done | Self::Failed | Self::Declined | Self::Expired | Self::Simulated
        )
    }

    /// Whether the state machine allows `self → next`. Every write of an action states the
    /// version it read, so of two writers making the same move only one lands.
    pub fn may_become(self, next: ActionStatus) -> bool {
        use ActionStatus::*;
        matches!(
            (self, next),
            (Proposed, Executing | PendingApproval | Simulated | Expired)
                // A person's approval is written with the move to `executing`.
                | (PendingApproval, Approved | Executing | Declined | Expired | Simulated)
                | (Approved, Executing | Failed)
                | (Executing, Done | Failed | InProgress)
                | (InProgress, Done | Failed)
        )
    }
}

/// How a confirmed action is carried out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionMode {
    /// Executed at once.
    #[default]
    Live,
    /// Every confirmed action waits for a person (`POST /shopify/actions/{id}/approve`).
    Approval,
    /// Everything but the write.
    Simulate,
}

/// `order_actions.cancel_order`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelPolicy {
    pub enabled: bool,
    pub mode: ActionMode,
    /// Orders placed at most this long ago (1–10080).
    #[serde(deserialize_with = "crate::domain::whole_number")]
    pub window_minutes: u32,
    /// By the shop's currency (`{"USD": "200.00"}`): a refund above it waits for a person.
    /// When set, a shop whose currency has no entry always waits.
    pub approval_above: Option<BTreeMap<String, String>>,
}

impl Default for CancelPolicy {
    fn default() -> Self {
        Self {
            enabled: false,
            mode: ActionMode::Live,
            window_minutes: 60,
            approval_above: None,
        }
    }
}

/// `order_actions.update_shipping_address`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressPolicy {
    pub enabled: bool,
    pub mode: ActionMode,
    #[serde(deserialize_with = "crate::domain::whole_number")]
    pub window_minutes: u32,
    pub same_country_only: bool,
}

impl Default for AddressPolicy {
    fn default() -> Self {
        Self {
            enabled: false,
            mode: ActionMode::Live,
            window_minutes: 60,
            same_country_only: true,
        }
    }
}

/// `order_actions.request_return`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnPolicy {
    pub enabled: bool,
    pub mode: ActionMode,
    /// Days after delivery (or fulfillment) a return may be asked for (1–365).
    #[serde(deserialize_with = "crate::domain::whole_number")]
    pub window_days: u32,
    pub excluded_tags: Vec<String>,
}

impl Default for ReturnPolicy {
    fn default() -> Self {
        Self {
            enabled: false,
            mode: ActionMode::Live,
            window_days: 30,
            excluded_tags: vec!["final-sale".into()],
        }
    }
}

/// `order_actions` in the settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderActionsPolicy {
    pub cancel_order: CancelPolicy,
    pub update_shipping_address: AddressPolicy,
    pub request_return: ReturnPolicy,
}

impl OrderActionsPolicy {
    /// Whether `kind` is on, and in which mode.
    pub fn mode_of(&self, kind: ActionKind) -> Option<ActionMode> {
        let (enabled, mode) = match kind {
            ActionKind::CancelOrder => (self.cancel_order.enabled, self.cancel_order.mode),
            ActionKind::UpdateShippingAddress => (
                self.update_shipping_address.enabled,
                self.update_shipping_address.mode,
            ),
            ActionKind::RequestReturn => (self.request_return.enabled, self.request_return.mode),
        };
        enabled.then_some(mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_every_action_off_as_the_contract_shows() {
        let json = serde_json::to_value(OrderActionsPolicy::default()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "cancel_order": {"enabled": false, "mode": "live", "window_minutes": 60, "approval_above": null},
                "update_shipping_address": {"enabled": false, "mode": "live", "window_minutes": 60, "same_country_only": true},
                "request_return": {"enabled": false, "mode": "live", "window_days": 30, "excluded_tags": ["final-sale"]}
            })
        );
        assert!(ActionKind::ALL
            .iter()
            .all(|k| OrderActionsPolicy::default().mode_of(*k).is_none()));
    }

    #[test]
    fn a_final_status_never_moves_and_execution_is_reached_only_from_a_yes() {
        use ActionStatus::*;
        let all = [
            Proposed,
            PendingApproval,
            Approved,
            Executing,
            InProgress,
            Done,
            Failed,
            Declined,
            Expired,
            Simulated,
        ];
        for from in all {
            for to in all {
                if from.is_final() {
                    assert!(!from.may_become(to), "{from:?} -> {to:?}");
                }
                if to == Executing && from.may_become(to) {
                    assert!(
                        matches!(from, Proposed | PendingApproval | Approved),
                        "{from:?}"
                    );
                }
            }
            assert_eq!(ActionStatus::parse(from.as_str()), Some(from));
        }
    }
}
