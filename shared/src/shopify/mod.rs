//! The Shopify Admin API: one reused HTTP client, typed errors, retries that respect Shopify's
//! throttling and the caller's deadline, the client-credentials token exchange, and the
//! GraphQL documents we send.

pub mod actions;
pub mod address;
mod client;
pub mod content;
pub mod customers;
mod error;
mod named;
pub mod orders;
pub mod products;
pub mod queries;
mod retry;
pub mod returns;
mod scopes;
pub mod shop;
mod token;
mod transport;
pub mod types;
mod validate;

pub use client::{BucketReading, BulkResult, ShopifyClient};
pub use error::ShopifyError;
pub use retry::{throttle_wait, RetryPolicy, ThrottleStatus};
pub use scopes::{
    action_scopes, blocked_actions, customer_data_warning, missing_scopes, order_actions_warning,
    scope_warnings, ORDER_ACTIONS_WARNING, PROTECTED_DATA_WARNING, REQUIRED_SCOPES,
};
pub use token::AccessToken;
pub use transport::ShopifyConfig;
pub use validate::{CustomerData, ShopInfo};
