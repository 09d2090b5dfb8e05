use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let state = contact_metadata::State::new(shared::Services::from_env().await?);
    run(service_fn(|req| contact_metadata::handle(&state, req))).await
}
