//! Connection health: noticing broken stores before shoppers do.
//!
//! - [`check`]: the scheduled health check, spread over the interval through a queue;
//! - [`webhook`]: subscribing stores to Shopify's `app/uninstalled` and `shop/update` webhooks,
//!   and their HMAC signatures;
//! - [`delivery`]: receiving those webhooks (the protocol behind `POST /shopify/webhooks`);
//! - [`token`]: the per-organization token in the webhook callback URL;
//! - [`reclaim`]: the sweep of secrets no store record names, queued by each schedule.

pub mod check;
pub mod delivery;
pub mod reclaim;
pub mod repo;
pub mod token;
pub mod webhook;
