//! Domain types: once one of these exists it is valid, so handlers never re-check strings.

pub mod address;
mod credentials;
mod email;
mod fields;
mod order_actions;
pub mod order_number;
mod org;
mod settings;
mod shop_domain;
mod store_status;

pub use address::{InvalidAddress, NewAddress};
pub use credentials::{AuthType, Credentials, InvalidCredentialsFormat};
pub use email::{Email, InvalidEmail};
pub use fields::{present, whole_number};
pub use order_actions::{
    ActionKind, ActionMode, ActionStatus, AddressPolicy, CancelPolicy, OrderActionsPolicy,
    ReturnPolicy,
};
pub use order_number::{InvalidOrderNumber, OrderNumber};
pub use org::{InvalidOrganizationId, OrganizationId};
pub use settings::{
    ActionToggles, KnowledgeSources, McpSettings, OrgSettings, SettingsUpdate, Source,
};
pub use shop_domain::{InvalidShopDomain, ShopDomain};
pub use store_status::{StoreStatus, Warning};
