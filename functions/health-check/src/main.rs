use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let ports = shared::health::check::HealthPorts::from_env().await?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let deadline = shared::queue::batch::deadline(event.context.deadline);
        let ports = &ports;
        // Boxed: the runtime's loop holds a pointer, not the handler's future, so the
        // future `main` builds at cold start stays small (README, "Cold start").
        Box::pin(async move {
            health_check::handle(ports, event.payload, deadline)
                .await
                .map_err(Error::from)
        })
    }))
    .await
}
