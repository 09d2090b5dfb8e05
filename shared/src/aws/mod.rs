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

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::ConfigLoader;

/// Connecting to an AWS endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1_500);
/// One attempt of one operation.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// One operation, retries included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts per operation, the first included.
pub const MAX_ATTEMPTS: u32 = 3;

/// Loads region, credentials and endpoint from the standard AWS environment. The HTTPS client
/// trusts compiled-in roots and builds its TLS connector at the first request (see
/// [`crate::tls`]), so no certificate is read or parsed at cold start.
pub async fn sdk_config() -> aws_config::SdkConfig {
    configure(aws_config::defaults(aws_config::BehaviorVersion::latest()))
        .http_client(crate::tls::aws_http_client())
        .load()
        .await
}

/// The timeouts and retries every client of the project uses.
pub fn configure(loader: ConfigLoader) -> ConfigLoader {
    loader
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_max_backoff(Duration::from_secs(1)),
        )
}
