//! The one library every function links: domain types, the Shopify Admin client, storage ports
//! with their DynamoDB / Secrets Manager and in-memory adapters, the write protocol, and the
//! HTTP edges.

pub mod access;
pub mod aws;
pub mod config;
pub mod deadline;
pub mod domain;
pub mod error;
pub mod failure;
pub mod health;
pub mod http;
pub mod knowledge;
pub mod lifecycle;
pub mod routing;
pub mod secrets;
pub mod services;
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
