//! The bare `lambda_runtime` function of `bare-runtime.rs` on a current-thread runtime, as every
//! function of `template.yaml` starts: `cargo bench -p tests --bench cold_start` holds each
//! function's init against the bare start with the same runtime as well as against the usual
//! template.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        Ok::<_, Error>(event.payload)
    }))
    .await
}
