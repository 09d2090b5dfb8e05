//! Proposing an action (`cancel_order`, and the next actions through their [`OrderAction`]):
//! parse its arguments, find the order, check the action's rules, and store a proposal the
//! shopper confirms.
//!
//! [`OrderAction`]: super::action::OrderAction

use serde_json::Value;

use super::action::{action_for, invalid, Step};
use super::find::find_order;
use super::ports::{ActionAnswer, ActionFailure, ActionPorts, Invocation};
use super::record::{new_action_id, normalize_email, ActionRecord, AI_ACTOR, PROPOSAL_TTL};
use super::repo::OrderKey;
use super::{budget, load_org, missing_scopes, move_action, order_busy, outbox, unavailable};
use crate::deadline::Deadline;
use crate::domain::{ActionKind, ActionMode, ActionStatus, OrganizationId};
use crate::failure::Code;
use crate::store::Expect;
use crate::telemetry::mask_email;

/// Who the shopper is: the org, the verified email (normalized) and the conversation.
pub(crate) fn identity(
    inv: &Invocation,
) -> Result<(OrganizationId, String, String), ActionFailure> {
    let org = inv
        .org
        .clone()
        .ok_or_else(|| invalid("The event names no organization."))?;
    let email = inv
        .email
        .as_deref()
        .map(normalize_email)
        .filter(|e| !e.is_empty());
    let (Some(email), true) = (email, inv.email_verified) else {
        return Err(ActionFailure::new(
            Code::VerificationRequired,
            "I need to confirm the customer's email address before I can change an order. Once the customer has verified the email the order was placed with, I can help.",
        ));
    };
    let conversation = inv
        .conversation_id
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| invalid("Order actions need the conversation's id."))?;
    Ok((org, email, conversation.to_owned()))
}

/// Proposes `kind` with the model's `arguments` for the invocation's shopper. Answers
/// `confirmation_required` with the proposal, or a refusal the AI can relay.
pub async fn propose(
    ports: &ActionPorts,
    deadline: &Deadline,
    inv: &Invocation,
    kind: ActionKind,
    arguments: &Value,
) -> Result<ActionAnswer, ActionFailure> {
    let deadline = budget(ports, deadline);
    let org = inv
        .org
        .clone()
        .ok_or_else(|| invalid("The event names no organization."))?;
    let (stores, settings) = load_org(ports, &deadline, &org).await?;
    let policy = &settings.order_actions;
    if policy.mode_of(kind).is_none() {
        return Err(ActionFailure::new(
            Code::ActionDisabled,
            "The store hasn't turned this on, so I can't do it here. A team member can help the customer.",
        ));
    }
    let action = action_for(kind)?;
    let request = action.parse(arguments)?;
    let (org, email, conversation) = identity(inv)?;
    if stores.is_empty() {
        return Err(ActionFailure::new(
            Code::NoStoreConnected,
            "No store is connected yet, so I can't look up orders.",
        ));
    }
    let (store, mut order) = find_order(
        &ports.access,
        &super::shopify_deadline(&deadline),
        &stores,
        &request.order_number,
        request.shop.as_ref(),
        &email,
    )
    .await?;
    let missing = missing_scopes(store, kind);
    if !missing.is_empty() {
        return Err(unavailable(store, &missing));
    }
    action
        .read_facts(
            ports,
            &super::shopify_deadline(&deadline),
            store,
            &request.arguments,
            &mut order,
        )
        .await?;
    let now = ports.clock.now();
    action.check(&order, arguments, policy, now, Step::Proposal)?;
    // One action per order at a time: nothing is proposed while another holds the order.
    let action_id = new_action_id(now);
    let order_key = OrderKey {
        org: org.clone(),
        shop: store.shop_domain.clone(),
        order_id: order.id.clone(),
    };
    let free = deadline
        .run(ports.actions.lock_order(
            &order_key,
            &action_id,
            now - chrono::Duration::milliseconds(1),
            now,
        ))
        .await?;
    if !free {
        return Err(order_busy(&order.name));
    }
    let (summary, effects) = action.summary(&order, &request.arguments);
    let mut record = ActionRecord {
        action_id,
        org_id: org.clone(),
        kind,
        status: ActionStatus::Proposed,
        shop_domain: store.shop_domain.clone(),
        order_id: order.id.clone(),
        order_name: order.name.clone(),
        contact_email: email.clone(),
        conversation_id: conversation,
        arguments: request.arguments,
        fingerprint: action.fingerprint(&order),
        summary,
        effects,
        reason: None,
        actor: inv.actor.clone().unwrap_or_else(|| AI_ACTOR.into()),
        mode: ActionMode::Live,
        job_id: None,
        created_id: None,
        outcome: None,
        created_at: now,
        updated_at: now,
        expires_at: now + PROPOSAL_TTL,
        executing_since: None,
        execution_id: None,
        version: 1,
        outbox: Vec::new(),
    };
    record.outbox.push(record.event(now));
    // Marked first, so a proposal never goes unseen by the schedule that expires it.
    deadline
        .run(ports.actions.mark_unsettled(&org, &record.action_id))
        .await?;
    deadline
        .run(ports.actions.put(&record, Expect::Absent))
        .await?;
    tracing::info!(
        org_id = %org,
        shop = %record.shop_domain,
        action_id = %record.action_id,
        action = kind.as_str(),
        email = %mask_email(&email),
        order = %record.order_name,
        "order action proposed"
    );
    let record = outbox::flush(ports, &deadline, record).await;
    let replaced = deadline
        .run(
            ports
                .actions
                .swap_open(&OrderKey::of(&record), kind, &record.action_id),
        )
        .await?;
    if let Some(previous) = replaced.filter(|p| *p != record.action_id) {
        if let Ok(Some(old)) = deadline.run(ports.actions.get(&org, &previous)).await {
            let expired = move_action(ports, &deadline, &old, &[ActionStatus::Proposed], |r| {
                r.moved(ActionStatus::Expired, &r.actor, now)
            })
            .await;
            if let Err(error) = expired {
                tracing::warn!(org_id = %org, action_id = %previous, %error, "the replaced proposal could not be expired; the lock and the fingerprint still guard it");
            }
        }
    }
    Ok(ActionAnswer::proposal(&record))
}
