//! A bare `lambda_runtime` function (echoes its event), as `cargo lambda new` generates it (a
//! multi-thread runtime): a yardstick `cargo bench -p tests --bench cold_start` measures every
//! function's init against, built with the same profile.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        Ok::<_, Error>(event.payload)
    }))
    .await
}
