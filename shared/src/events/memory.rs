//! [`EventPublisher`] in memory, for tests.

use std::sync::Mutex;

use async_trait::async_trait;

use super::{EventError, EventPublisher, OrderActionEvent, StatusChanged, SyncedEvent};

/// Events in memory, for assertions.
#[derive(Default)]
pub struct MemoryEvents {
    events: Mutex<Vec<SyncedEvent>>,
    status_changes: Mutex<Vec<StatusChanged>>,
    order_actions: Mutex<Vec<OrderActionEvent>>,
}

impl MemoryEvents {
    pub fn events(&self) -> Vec<SyncedEvent> {
        self.events.lock().unwrap().clone()
    }

    /// The `Shopify Store Status Changed` events put so far.
    pub fn status_changes(&self) -> Vec<StatusChanged> {
        self.status_changes.lock().unwrap().clone()
    }

    /// The `Shopify Order Action` events put so far.
    pub fn order_actions(&self) -> Vec<OrderActionEvent> {
        self.order_actions.lock().unwrap().clone()
    }
}

#[async_trait]
impl EventPublisher for MemoryEvents {
    async fn knowledge_synced(&self, event: &SyncedEvent) -> Result<(), EventError> {
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }

    async fn store_status_changed(&self, event: &StatusChanged) -> Result<(), EventError> {
        self.status_changes.lock().unwrap().push(event.clone());
        Ok(())
    }

    async fn order_action(&self, event: &OrderActionEvent) -> Result<(), EventError> {
        self.order_actions.lock().unwrap().push(event.clone());
        Ok(())
    }
}
