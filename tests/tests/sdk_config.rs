//! The functions' own `SdkConfig` (`shared::aws::sdk_config`) reads only what Lambda sets in
//! the environment: the region, the execution role's credentials and, locally, the emulator's
//! endpoint. Against the local stack, that is enough for a real call to go through.

#[macro_use]
mod common;

mod a_function_s_sdk_config_reaches_aws_with_the_region_and_credentials_of_its_environment {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_moto() {
        needs_moto!();
        let sdk = shared::aws::sdk_config().await;
        assert_eq!(
            sdk.endpoint_url(),
            tests::local_aws::endpoint().as_deref(),
            "AWS_ENDPOINT_URL points the clients at the emulator"
        );
        let table = tests::local_aws::table();
        let described = aws_sdk_dynamodb::Client::new(&sdk)
            .describe_table()
            .table_name(&table)
            .send()
            .await
            .expect("a signed call with the environment's credentials reaches the table");
        let arn = described
            .table
            .and_then(|t| t.table_arn)
            .expect("the table's ARN");
        let region = std::env::var("AWS_REGION").expect("the local stack sets AWS_REGION");
        assert!(
            arn.starts_with(&format!("arn:aws:dynamodb:{region}:")),
            "the call was made in the environment's region: {arn}"
        );
    }
}
