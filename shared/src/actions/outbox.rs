//! Status-change events through an outbox on the action record, as the store records do
//! theirs (`lifecycle::outbox`): a write that changes an action's status appends its
//! [`OrderActionEvent`] (a fresh `event_id`) in the same conditional write; [`flush`] puts
//! the outbox's events on the bus and removes them, conditionally on the version it read. A
//! crash between the write and the put leaves the event for the next flush (any later write or
//! read of the action, or the schedule); a crash between the put and the removal repeats the
//! same `event_id`, which consumers use to drop the repeat.

use std::collections::BTreeSet;

use super::ports::ActionPorts;
use super::record::ActionRecord;
use crate::deadline::Deadline;
use crate::store::{Expect, StoreError};

const FLUSH_ROUNDS: usize = 8;

/// Puts `record`'s waiting events and removes them from it; answers the record as last seen.
/// Failures are logged: what could not be put stays for the next flush.
pub async fn flush(ports: &ActionPorts, deadline: &Deadline, record: ActionRecord) -> ActionRecord {
    let Some(events) = &ports.events else {
        return record;
    };
    let mut current = record;
    let mut put: BTreeSet<String> = BTreeSet::new();
    for _ in 0..FLUSH_ROUNDS {
        if current.outbox.is_empty() {
            return current;
        }
        for event in &current.outbox {
            if put.contains(&event.event_id) {
                continue;
            }
            if let Err(error) = deadline.run(events.order_action(event)).await {
                tracing::warn!(org_id = %current.org_id, action_id = %current.action_id, %error, "order action events stay in the outbox");
                return current;
            }
            put.insert(event.event_id.clone());
        }
        let mut cleared = current.clone();
        cleared.outbox.retain(|e| !put.contains(&e.event_id));
        cleared.version = current.version + 1;
        match deadline
            .run(
                ports
                    .actions
                    .put(&cleared, Expect::Version(current.version)),
            )
            .await
        {
            Ok(()) => return cleared,
            Err(StoreError::Conflict) => {
                match deadline
                    .run(ports.actions.get(&current.org_id, &current.action_id))
                    .await
                {
                    Ok(Some(fresh)) => current = fresh,
                    _ => return current,
                }
            }
            Err(error) => {
                tracing::warn!(org_id = %current.org_id, action_id = %current.action_id, %error, "announced events could not be cleared; they repeat with their ids");
                return current;
            }
        }
    }
    current
}
