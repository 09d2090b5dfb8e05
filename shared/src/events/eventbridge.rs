//! [`EventPublisher`] on EventBridge.

use async_trait::async_trait;

use crate::aws::LazyClient;

use super::{
    EventError, EventPublisher, OrderActionEvent, StatusChanged, SyncedEvent,
    ORDER_ACTION_DETAIL_TYPE, STATUS_CHANGED_DETAIL_TYPE, SYNCED_DETAIL_TYPE,
};

/// [`EventPublisher`] on EventBridge (`EVENT_BUS_NAME`).
#[derive(Clone)]
pub struct EventBridgeEvents {
    client: LazyClient<aws_sdk_eventbridge::Client>,
    bus: String,
}

/// The `source` of every event the connector puts.
pub const EVENT_SOURCE: &str = "shopify-connector";

impl EventBridgeEvents {
    /// The publisher on `bus` over `client`, built already or at the first event.
    pub fn new(
        client: impl Into<LazyClient<aws_sdk_eventbridge::Client>>,
        bus: impl Into<String>,
    ) -> Self {
        Self {
            client: client.into(),
            bus: bus.into(),
        }
    }
}

impl EventBridgeEvents {
    async fn put(&self, detail_type: &str, detail: String) -> Result<(), EventError> {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(EVENT_SOURCE)
            .detail_type(detail_type)
            .detail(detail)
            .build();
        let output = self
            .client
            .get()
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| EventError(Box::new(e.into_service_error())))?;
        if output.failed_entry_count > 0 {
            return Err(EventError(Box::new(std::io::Error::other(
                "EventBridge refused the event",
            ))));
        }
        Ok(())
    }
}

#[async_trait]
impl EventPublisher for EventBridgeEvents {
    async fn knowledge_synced(&self, event: &SyncedEvent) -> Result<(), EventError> {
        let detail = serde_json::to_string(event).expect("an event always serializes");
        self.put(SYNCED_DETAIL_TYPE, detail).await
    }

    async fn store_status_changed(&self, event: &StatusChanged) -> Result<(), EventError> {
        let detail = serde_json::to_string(event).expect("an event always serializes");
        self.put(STATUS_CHANGED_DETAIL_TYPE, detail).await
    }

    async fn order_action(&self, event: &OrderActionEvent) -> Result<(), EventError> {
        let detail = serde_json::to_string(event).expect("an event always serializes");
        self.put(ORDER_ACTION_DETAIL_TYPE, detail).await
    }
}
