use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let services = shared::Services::from_env().await?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let deadline = lookup::deadline(&services.budgets, event.context.deadline);
        let services = &services;
        async move { Ok::<_, Error>(lookup::answer(services, event.payload, deadline).await) }
    }))
    .await
}
