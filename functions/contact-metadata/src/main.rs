use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = shared::config::Config::from_env()?;
    let sdk = shared::aws::sdk_config().await;
    let state = contact_metadata::State::new(shared::Services::from_sdk(&config, &sdk))
        .with_pending(shared::actions::PendingApprovals::from_sdk(&config, &sdk));
    run(service_fn(|req| contact_metadata::handle(&state, req))).await
}
