use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let state = actions_api::State::from_env().await?;
    shared::http::run(|req| actions_api::handle(&state, req)).await
}
