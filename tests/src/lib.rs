//! Test support shared by the handler and integration tiers and the local run: a fake Shopify,
//! real API Gateway v2 events, the moto-backed AWS tier, fault-injecting adapters, log capture
//! and a local gateway.

pub mod actions;
pub mod app;
pub mod catalog;
pub mod dev_issuer;
pub mod events;
pub mod fake_shopify;
pub mod faults;
pub mod gateway;
pub mod health;
pub mod knowledge;
pub mod local_aws;
pub mod logs;
pub mod mcp;
pub mod worker;
