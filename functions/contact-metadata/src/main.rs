use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = shared::config::Config::from_env()?;
    let sdk = shared::aws::sdk_config().await;
    // Credentials, the bus a revoked token is announced on, and the actions' records.
    let services = shared::Services::compose(&config, &sdk)
        .credentials()
        .event_bus()
        .build();
    let state = contact_metadata::State::new(services)
        .with_pending(shared::actions::PendingApprovals::from_sdk(&config, &sdk));
    shared::http::run(|req| contact_metadata::handle(&state, req)).await
}
