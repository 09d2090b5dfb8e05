//! The tools MCP offers, exactly as the manifests' `mcp_tools` list them (names, descriptions,
//! input schemas, annotations): the read tools of `functions/lookup/tools.json` always, the
//! order actions of `functions/order-actions/tools.json` only for an organization that opened
//! them to MCP (`mcp.order_actions`), each proposing action only while it is enabled in the
//! organization's `order_actions`, and `confirm_action` / `get_action` while any is.

use std::sync::OnceLock;

use rmcp::model::Tool;
use serde::Deserialize;
use shared::domain::{ActionKind, OrgSettings};

/// What a tool is, for calling it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A read tool of `shared::lookup`.
    Read,
    /// An order action of the `order-actions` operations.
    Action,
}

/// Every MCP tool, in the manifests' order.
#[derive(Clone, Debug)]
pub struct Catalog {
    reads: Vec<Tool>,
    actions: Vec<Tool>,
}

impl Catalog {
    /// The manifests' `mcp_tools`, compiled in. Both are tested to parse and to list exactly
    /// what the code serves, so a failure here is a build that was never tested.
    pub fn load() -> Self {
        Self {
            reads: mcp_tools(lookup::TOOL_MANIFEST),
            actions: mcp_tools(order_actions::TOOL_MANIFEST),
        }
    }

    /// The tools `settings` let this organization see.
    pub fn listed(&self, settings: &OrgSettings) -> Vec<Tool> {
        let mut tools = self.reads.clone();
        if settings.mcp.order_actions {
            let enabled = |kind: ActionKind| settings.order_actions.mode_of(kind).is_some();
            let any = ActionKind::ALL.into_iter().any(enabled);
            tools.extend(
                self.actions
                    .iter()
                    .filter(|tool| match ActionKind::parse(&tool.name) {
                        Some(kind) => enabled(kind),
                        None => any,
                    })
                    .cloned(),
            );
        }
        tools
    }

    /// The tool named `name`, whatever an organization's settings say.
    pub fn find(&self, name: &str) -> Option<(&Tool, Kind)> {
        let reads = self.reads.iter().map(|tool| (tool, Kind::Read));
        let actions = self.actions.iter().map(|tool| (tool, Kind::Action));
        reads.chain(actions).find(|(tool, _)| tool.name == name)
    }
}

/// The catalog, read from the manifests at its first use: `initialize`, `ping` and
/// notifications never need it, so a cold start does not pay for it.
#[derive(Debug, Default)]
pub struct LazyCatalog(OnceLock<Catalog>);

impl LazyCatalog {
    pub fn get(&self) -> &Catalog {
        self.0.get_or_init(Catalog::load)
    }

    pub fn is_loaded(&self) -> bool {
        self.0.get().is_some()
    }
}

/// The part of a manifest MCP serves; the rest (the AI platform's own tool definitions) is
/// skipped by the parser, not built.
#[derive(Deserialize)]
struct Manifest {
    mcp_tools: Vec<Tool>,
}

fn mcp_tools(manifest: &str) -> Vec<Tool> {
    serde_json::from_str::<Manifest>(manifest)
        .expect("a manifest's mcp_tools are MCP tools")
        .mcp_tools
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::{McpSettings, OrgSettings};

    fn names(tools: &[Tool]) -> Vec<&str> {
        tools.iter().map(|tool| tool.name.as_ref()).collect()
    }

    #[test]
    fn the_read_tools_are_listed_and_the_actions_only_once_opened_to_mcp_and_enabled() {
        let catalog = Catalog::load();
        let mut settings = OrgSettings::default();
        settings.order_actions.cancel_order.enabled = true;
        assert_eq!(
            names(&catalog.listed(&settings)),
            ["get_order_details", "search_products", "get_shop_details"]
        );
        settings.mcp = McpSettings {
            order_actions: true,
        };
        assert_eq!(
            names(&catalog.listed(&settings)),
            [
                "get_order_details",
                "search_products",
                "get_shop_details",
                "cancel_order",
                "confirm_action",
                "get_action"
            ]
        );
        settings.order_actions.cancel_order.enabled = false;
        assert_eq!(catalog.listed(&settings).len(), 3, "no action is enabled");
    }

    #[test]
    fn every_tool_is_found_by_name_with_its_kind() {
        let catalog = Catalog::load();
        assert_eq!(
            catalog.find("search_products").map(|t| t.1),
            Some(Kind::Read)
        );
        assert_eq!(
            catalog.find("confirm_action").map(|t| t.1),
            Some(Kind::Action)
        );
        assert!(catalog.find("refund_order").is_none());
    }
}
