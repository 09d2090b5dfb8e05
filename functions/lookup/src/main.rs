use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = shared::Config::from_env()?;
    let sdk = shared::aws::sdk_config().await;
    // Credentials, and the bus a revoked token is announced on.
    let services = shared::Services::compose(&config, &sdk)
        .credentials()
        .event_bus()
        .build();
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let deadline = lookup::deadline(&services.budgets, event.context.deadline);
        let services = &services;
        // Boxed: the runtime's loop holds a pointer, not the handler's future, so the
        // future `main` builds at cold start stays small (README, "Cold start").
        Box::pin(
            async move { Ok::<_, Error>(lookup::answer(services, event.payload, deadline).await) },
        )
    }))
    .await
}
