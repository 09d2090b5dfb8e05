use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let ports = shared::actions::ActionPorts::from_env().await?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let deadline = order_actions::deadline(&ports, event.context.deadline);
        let ports = &ports;
        // Boxed: the runtime's loop holds a pointer, not the handler's future, so the
        // future `main` builds at cold start stays small (README, "Cold start").
        Box::pin(async move {
            Ok::<_, Error>(order_actions::answer(ports, event.payload, deadline).await)
        })
    }))
    .await
}
