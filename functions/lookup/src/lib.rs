//! The `lookup` function, invoked directly by the AI platform:
//! `{"org_id", "action", "arguments", "contact"}` in, always a JSON answer out. The read tools
//! themselves are [`shared::lookup`], shared with the `mcp` route; this crate holds what the
//! platform registers (the tool manifest and the event's schema) and adapts the services.
//! `org_id` and `contact` are set by the platform and trusted: only its IAM principal may
//! invoke this function.

use serde_json::Value;
use shared::config::Budgets;
use shared::lookup::LookupPorts;
use shared::{Deadline, Services};

pub use shared::lookup::{answer_tool, ANSWER_MARGIN, TOOLS};

/// The tool manifest the AI platform registers (`tools`), with the MCP variants (`mcp_tools`);
/// tested against what this function and the `mcp` route accept.
pub const TOOL_MANIFEST: &str = include_str!("../tools.json");

/// The event and every answer as JSON Schema; the manifest's input schemas are its
/// `$defs/{action}_arguments`. Tested against what this function accepts and answers.
pub const EVENT_SCHEMA: &str = include_str!("../lookup.schema.json");

/// The read tools' ports in `services`.
pub fn ports(services: &Services) -> LookupPorts<'_> {
    LookupPorts {
        stores: services.storage.stores.as_ref(),
        access: services.access.as_ref(),
    }
}

/// The deadline of one invocation: `LOOKUP_BUDGET_MS` from now, and never past the
/// invocation's deadline (milliseconds since the epoch; `0` when unknown) minus 500 ms.
pub fn deadline(budgets: &Budgets, invocation_deadline_ms: u64) -> Deadline {
    shared::lookup::deadline(budgets, invocation_deadline_ms)
}

/// Answers one AI event within `deadline`. Never fails: every outcome is a JSON answer.
pub async fn answer(services: &Services, payload: Value, deadline: Deadline) -> Value {
    shared::lookup::answer(ports(services), payload, deadline).await
}
