//! One `SdkConfig` per cold start, shared by every AWS client. `AWS_ENDPOINT_URL` points them at
//! a local emulator.
//!
//! The clients' own timeouts are short next to any function's budget (AWS answers these calls
//! in milliseconds): an attempt that hangs is abandoned after [`ATTEMPT_TIMEOUT`] and retried
//! at most [`MAX_ATTEMPTS`] times within [`OPERATION_TIMEOUT`]. Callers additionally bound each
//! call by their invocation's deadline (`Deadline::run`).
//!
//! [`dynamo`] holds what every DynamoDB adapter shares: keys, scan cursors, conditional writes.

pub mod dynamo;
mod http;
mod lazy;

pub use http::http_client;
pub use lazy::LazyClient;

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_sdk_dynamodb::config::SharedCredentialsProvider;

/// Connecting to an AWS endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1_500);
/// One attempt of one operation.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// One operation, retries included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts per operation, the first included.
pub const MAX_ATTEMPTS: u32 = 3;

/// The `SdkConfig` of a function, read from what Lambda sets in its environment and nothing
/// else: the region (`AWS_REGION`, else `AWS_DEFAULT_REGION`), the execution role's credentials
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, read again whenever the
/// cached ones expire) and, for a local emulator, `AWS_ENDPOINT_URL`.
///
/// `aws_config`'s loader is not used: it also reads `~/.aws` profiles, walks a chain of
/// credential sources (SSO, STS web identity, ECS, IMDS) and resolves per-service settings,
/// none of which exists in Lambda, and all of which every function would link and the cold
/// start would run. The HTTPS client trusts compiled-in roots and builds its TLS connector at
/// the first request (see [`crate::tls`]), so no certificate is read or parsed at cold start.
pub async fn sdk_config() -> SdkConfig {
    from_lambda_env(|name| std::env::var(name).ok())
}

/// [`sdk_config`] over the environment `var` reads.
fn from_lambda_env(var: impl Fn(&str) -> Option<String>) -> SdkConfig {
    let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .http_client(http_client())
        .timeout_config(timeouts())
        .retry_config(retries());
    builder.set_region(
        set("AWS_REGION")
            .or_else(|| set("AWS_DEFAULT_REGION"))
            .map(Region::new),
    );
    builder.set_endpoint_url(set("AWS_ENDPOINT_URL"));
    builder.build()
}

/// The project's timeouts, retries and HTTPS client on `loader`: for tests and tools that load
/// an `SdkConfig` with `aws_config`.
pub fn configure(loader: ConfigLoader) -> ConfigLoader {
    loader
        .http_client(http_client())
        .timeout_config(timeouts())
        .retry_config(retries())
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

fn retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_max_backoff(Duration::from_secs(1))
}

/// An SDK configuration whose every request fails at once, as a dispatch failure: nothing
/// listens on port 9 of the loopback, and retries are off.
#[cfg(test)]
pub(crate) fn unreachable_sdk() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "test"),
        ))
        .endpoint_url("http://127.0.0.1:9")
        .retry_config(RetryConfig::disabled())
        .http_client(http_client())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lambda(vars: &'static [(&'static str, &'static str)]) -> SdkConfig {
        from_lambda_env(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn the_region_is_aws_region_before_aws_default_region() {
        let sdk = lambda(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ]);
        assert_eq!(sdk.region().map(Region::as_ref), Some("eu-west-1"));
        let sdk = lambda(&[("AWS_DEFAULT_REGION", "us-east-1")]);
        assert_eq!(sdk.region().map(Region::as_ref), Some("us-east-1"));
    }

    #[test]
    fn blank_settings_count_as_unset() {
        let sdk = lambda(&[
            ("AWS_REGION", " "),
            ("AWS_DEFAULT_REGION", "ap-south-1"),
            ("AWS_ENDPOINT_URL", ""),
        ]);
        assert_eq!(sdk.region().map(Region::as_ref), Some("ap-south-1"));
        assert_eq!(sdk.endpoint_url(), None);
    }

    #[test]
    fn aws_endpoint_url_points_every_client_at_the_emulator() {
        let sdk = lambda(&[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]);
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:5000"));
    }

    #[test]
    fn every_client_keeps_the_project_s_timeouts_retries_and_https_client() {
        let sdk = lambda(&[("AWS_REGION", "us-east-1")]);
        assert!(sdk.credentials_provider().is_some());
        assert!(sdk.http_client().is_some());
        let timeouts = sdk.timeout_config().expect("timeouts are set");
        assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(timeouts.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(timeouts.operation_timeout(), Some(OPERATION_TIMEOUT));
        let retries = sdk.retry_config().expect("retries are set");
        assert_eq!(retries.max_attempts(), MAX_ATTEMPTS);
        assert_eq!(retries.max_backoff(), Duration::from_secs(1));
    }
}
