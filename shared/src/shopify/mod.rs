//! The Shopify Admin API: one reused HTTP client, typed errors, retries that respect Shopify's
//! throttling, the client-credentials token exchange, and the GraphQL documents we send.

mod client;
pub mod customers;
mod error;
pub mod lookups;
pub mod queries;
mod retry;
mod scopes;
mod token;
mod validate;

pub use client::{ShopifyClient, ShopifyConfig};
pub use error::ShopifyError;
pub use retry::{throttle_wait, RetryPolicy, ThrottleStatus};
pub use scopes::{missing_scopes, scope_warnings, Warning, REQUIRED_SCOPES};
pub use token::AccessToken;
pub use validate::ShopInfo;
