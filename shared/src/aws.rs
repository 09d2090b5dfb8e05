//! One `SdkConfig` per cold start, shared by the DynamoDB and Secrets Manager clients.
//! `AWS_ENDPOINT_URL` points both at a local emulator.

/// Loads region, credentials and endpoint from the standard AWS environment.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}
