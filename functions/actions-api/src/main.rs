use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let state = actions_api::State::from_env().await?;
    run(service_fn(|req| actions_api::handle(&state, req))).await
}
