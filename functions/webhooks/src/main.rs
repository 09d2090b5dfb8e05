use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let ports = webhooks::WebhookPorts::from_env().await?;
    shared::http::run(|req| webhooks::handle(&ports, req)).await
}
