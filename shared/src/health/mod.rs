//! Connection health: noticing broken stores before shoppers do.
//!
//! - [`change`]: status-change events and the outbox that announces each change once;
//! - [`check`]: the scheduled health check, spread over the interval through a queue;
//! - [`webhook`]: Shopify's `app/uninstalled` and `shop/update` webhooks, HMAC-verified.

pub mod change;
pub mod check;
pub mod repo;
pub mod webhook;
