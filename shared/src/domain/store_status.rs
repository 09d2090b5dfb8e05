//! Where a store stands and what limits it: the words a store record, a status change and the
//! dashboard share.

use serde::{Deserialize, Serialize};

/// Where a store stands, as last checked against Shopify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreStatus {
    Connected,
    InvalidCredentials,
    MissingScopes,
    ShopUnavailable,
}

/// A limitation the merchant should know about; shown in the dashboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub code: String,
    pub message: String,
}
