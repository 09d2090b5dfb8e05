use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = shared::Config::from_env()?;
    let sdk = shared::aws::sdk_config().await;
    // A connect writes credentials, announces the store, asks for its first knowledge sync and
    // subscribes its webhooks.
    let services = shared::Services::compose(&config, &sdk)
        .credentials()
        .event_bus()
        .knowledge()
        .webhooks()
        .build();
    shared::http::run(|req| save_credentials::handle(&services, req)).await
}
