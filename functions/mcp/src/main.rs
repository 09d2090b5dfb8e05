use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let state = mcp::State::from_env().await?;
    shared::http::run(|req| mcp::handle(&state, req)).await
}
