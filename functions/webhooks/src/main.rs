use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let ports = webhooks::WebhookPorts::from_env().await?;
    run(service_fn(|req| webhooks::handle(&ports, req))).await
}
