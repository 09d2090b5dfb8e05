use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = shared::Config::from_env()?;
    let sdk = shared::aws::sdk_config().await;
    // A disconnect deletes the credentials and asks for the store's knowledge to be removed.
    let services = shared::Services::compose(&config, &sdk)
        .credentials()
        .knowledge()
        .build();
    run(service_fn(|req| disconnect::handle(&services, req))).await
}
