use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = shared::Config::from_env()?;
    let sdk = shared::aws::sdk_config().await;
    // Verifying a store reads its credentials and announces a change; a change of sources asks
    // for a knowledge sync.
    let services = shared::Services::compose(&config, &sdk)
        .credentials()
        .event_bus()
        .knowledge()
        .build();
    shared::http::run(|req| settings::handle(&services, req)).await
}
