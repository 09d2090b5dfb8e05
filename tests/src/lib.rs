//! Test support shared by the handler and integration tiers and the local run: a fake Shopify,
//! real API Gateway v2 events, the moto-backed AWS tier, fault-injecting adapters, log capture
//! and a local gateway.

pub mod actions;
pub mod app;
pub mod bench;
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

/// An HTTP client for a test's own requests (to the local gateway, the fake Shopify's sandbox),
/// with the functions' TLS setup: rustls on ring, which reqwest does not choose by itself here.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(shared::tls::reqwest_tls())
        .build()
        .expect("the preconfigured TLS backend is reqwest's own rustls")
}
