use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let state = mcp::State::from_env().await?;
    run(service_fn(|req| mcp::handle(&state, req))).await
}
