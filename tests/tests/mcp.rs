//! The `mcp` route: the AI's tools for any AI agent over MCP's Streamable HTTP transport, and
//! the `mcp` switches of the organization's settings that open the order actions to it.

mod common;

use aws_sdk_dynamodb::types::AttributeValue as A;
use serde_json::{json, Value};
use shared::domain::OrganizationId;
use tests::app::{Backend, TestApp};

/// The settings object with every read tool on and the email check on, and `mcp` as given.
fn settings_with(mcp: Option<Value>) -> Value {
    let mut settings = json!({
        "actions": {"get_order_details": true, "search_products": true, "get_shop_details": true},
        "require_email_match": true,
    });
    if let Some(mcp) = mcp {
        settings["mcp"] = mcp;
    }
    settings
}

both_backends! {
    async fn mcp_order_actions_stay_off_until_an_admin_turns_them_on_and_a_put_without_them_keeps_them(app: TestApp) {
        let (status, shown) = app.send(app.as_admin("GET", "/shopify/settings")).await;
        assert_eq!(status, 200, "{shown}");
        assert_eq!(shown["mcp"], json!({"order_actions": false}));

        let (status, saved) = app.put_settings(settings_with(Some(json!({"order_actions": true})))).await;
        assert_eq!(status, 200, "{saved}");
        assert_eq!(saved["mcp"], json!({"order_actions": true}));
        let (_, shown) = app.send(app.as_admin("GET", "/shopify/settings")).await;
        assert_eq!(shown["mcp"], json!({"order_actions": true}));

        let (status, saved) = app.put_settings(settings_with(None)).await;
        assert_eq!(status, 200, "{saved}");
        let (_, shown) = app.send(app.as_admin("GET", "/shopify/settings")).await;
        assert_eq!(shown["mcp"], json!({"order_actions": true}), "left out, kept");

        for bad in [json!(null), json!({}), json!({"order_actions": "yes"}), json!({"order_actions": true, "prompts": true})] {
            let (status, body) = app.put_settings(settings_with(Some(bad.clone()))).await;
            assert_eq!(status, 400, "{bad}: {body}");
            assert_eq!(body["error"]["code"], "invalid_request");
        }
        let (_, shown) = app.send(app.as_admin("GET", "/shopify/settings")).await;
        assert_eq!(shown["mcp"], json!({"order_actions": true}), "a refused PUT changes nothing");

        let (status, _) = app
            .send(tests::events::HttpEvent::new("PUT", "/shopify/settings").claims(&[("org_id", app.org.as_str()), ("role", "agent")]).json(&settings_with(Some(json!({"order_actions": false})))))
            .await;
        assert_eq!(status, 403, "only admins open order actions to MCP");
    }
}

/// Settings stored before MCP existed (no `mcp` attribute) read with MCP's order actions off,
/// and saving them with `mcp` stores it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_stored_before_mcp_existed_read_with_mcp_order_actions_off() {
    needs_moto!();
    let app = TestApp::spawn(Backend::Moto).await;
    let aws = app.aws.as_ref().expect("the moto tier");
    let org = OrganizationId::parse(&app.org).unwrap();
    let on = |names: &[&str]| {
        A::M(
            names
                .iter()
                .map(|name| (name.to_string(), A::Bool(true)))
                .collect(),
        )
    };
    let item = [
        ("pk", A::S(format!("ORG#{org}"))),
        ("sk", A::S("SETTINGS".into())),
        ("updated_at", A::S(chrono::Utc::now().to_rfc3339())),
        (
            "actions",
            on(&["get_order_details", "search_products", "get_shop_details"]),
        ),
        ("require_email_match", A::Bool(false)),
    ];
    aws.dynamo
        .put_item()
        .table_name(&aws.table)
        .set_item(Some(
            item.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        ))
        .send()
        .await
        .unwrap();

    let (status, shown) = app.send(app.as_admin("GET", "/shopify/settings")).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["mcp"], json!({"order_actions": false}));
    assert_eq!(
        shown["require_email_match"], false,
        "the old record was read"
    );

    let (status, _) = app
        .put_settings(settings_with(Some(json!({"order_actions": true}))))
        .await;
    assert_eq!(status, 200);
    let stored = aws
        .dynamo
        .get_item()
        .table_name(&aws.table)
        .key("pk", A::S(format!("ORG#{org}")))
        .key("sk", A::S("SETTINGS".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the settings item");
    let mcp = stored
        .get("mcp")
        .and_then(|v| v.as_m().ok())
        .expect("mcp is stored");
    assert_eq!(mcp.get("order_actions"), Some(&A::Bool(true)));
}
