//! The one library every function links, in layers that import only downwards (the list is
//! `shared/LAYERS`, held against the code by `tests/architecture.rs`):
//! - vocabulary: `domain`, `ids`, `deadline`, `failure`, `telemetry`, `tls`;
//! - ports and their adapters: `shopify`, `secrets`, `store`, `queue`, `events`, `aws`, `config`, `bearer`
//!   (bearer tokens of the MCP route);
//! - the write protocol and what reads stores: `lifecycle`, `routing`, `views`, `access`;
//! - features: `health`, `knowledge`, `actions` (order actions), `lookup` (the AI's read tools), and `settings` (saving them
//!   and what their change sets going);
//! - edges: `services` (the only place adapters are built), `error`, `http`.

pub mod access;
pub mod actions;
pub mod aws;
pub mod bearer;
pub mod config;
pub mod deadline;
pub mod domain;
pub mod error;
pub mod events;
pub mod failure;
pub mod health;
pub mod http;
pub mod ids;
pub mod knowledge;
pub mod lifecycle;
pub mod lookup;
pub mod queue;
pub mod routing;
pub mod secrets;
pub mod services;
pub mod settings;
pub mod shopify;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod views;

pub use config::Config;
pub use deadline::Deadline;
pub use error::ApiError;
pub use failure::Code;
pub use services::Services;
