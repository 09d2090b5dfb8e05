use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = shared::Config::from_env()?;
    let sdk = shared::aws::sdk_config().await;
    // Reads the knowledge records and queues syncs; no credentials, no bus.
    let services = shared::Services::compose(&config, &sdk).knowledge().build();
    shared::http::run(|req| knowledge::handle(&services, req)).await
}
