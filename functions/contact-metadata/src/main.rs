use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = shared::config::Config::from_env()?;
    let sdk = shared::aws::sdk_config().await;
    // Credentials, the bus a revoked token is announced on, and the actions' records.
    let compose = shared::Services::compose(&config, &sdk)
        .credentials()
        .event_bus();
    let pending = shared::actions::PendingApprovals::from_dynamodb(&config, compose.dynamodb());
    let state = contact_metadata::State::new(compose.build()).with_pending(pending);
    shared::http::run(|req| contact_metadata::handle(&state, req)).await
}
