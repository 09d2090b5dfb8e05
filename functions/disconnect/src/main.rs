use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = shared::Config::from_env()?;
    let sdk = shared::aws::sdk_config().await;
    // A disconnect deletes the credentials and asks for the store's knowledge to be removed.
    let services = shared::Services::compose(&config, &sdk)
        .credentials()
        .knowledge()
        .build();
    shared::http::run(|req| disconnect::handle(&services, req)).await
}
