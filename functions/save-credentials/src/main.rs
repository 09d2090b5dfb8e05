use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let services = shared::Services::from_env_with_knowledge().await?;
    run(service_fn(|req| save_credentials::handle(&services, req))).await
}
