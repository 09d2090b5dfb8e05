use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let services = shared::Services::from_env().await?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        Ok::<_, Error>(lookup::answer(&services, event.payload).await)
    }))
    .await
}
