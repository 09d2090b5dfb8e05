//! The checked-in tool manifest (`functions/lookup/tools.json`) matches what `lookup` accepts:
//! the same actions, every schema example accepted, and every way of breaking the schema
//! (unknown property, missing required one, wrong type, out of range) refused.

use serde_json::{json, Map, Value};
use tests::app::{Backend, TestApp};
use tests::fake_shopify::FakeShop;

fn manifest() -> Value {
    serde_json::from_str(lookup::TOOL_MANIFEST).expect("tools.json is JSON")
}

fn wrong_type(schema: &Value) -> Value {
    match schema["type"].as_str() {
        Some("string") => json!(12345),
        Some("integer") => json!("five"),
        _ => json!(null),
    }
}

async fn app() -> TestApp {
    let app = TestApp::spawn(Backend::Memory).await;
    app.shopify
        .add_shop(FakeShop::new("demo-us").with_token("shpat_us"));
    assert_eq!(
        app.connect(json!({"shop_domain": "demo-us", "access_token": "shpat_us"}))
            .await
            .0,
        201
    );
    app
}

#[test]
fn the_manifest_describes_exactly_the_three_actions_for_an_llm() {
    let manifest = manifest();
    let tools = manifest["tools"].as_array().unwrap();
    let names: Vec<_> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["get_order_details", "search_products", "get_shop_details"]
    );
    for tool in tools {
        assert!(
            tool["description"].as_str().unwrap().len() > 100,
            "{} needs a real description",
            tool["name"]
        );
        let schema = &tool["input_schema"];
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false);
        for (name, property) in schema["properties"].as_object().unwrap() {
            assert!(
                property["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{name} needs a description"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_in_the_manifest_is_accepted() {
    let app = app().await;
    for tool in manifest()["tools"].as_array().unwrap() {
        let action = tool["name"].as_str().unwrap();
        for example in tool["input_schema"]["examples"].as_array().unwrap() {
            let answer = app
                .lookup(action, example.clone(), Some("jane@example.com"))
                .await;
            assert_ne!(
                answer["error"]["code"], "invalid_arguments",
                "{action} {example}: {answer}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anything_outside_the_schema_is_refused() {
    let app = app().await;
    for tool in manifest()["tools"].as_array().unwrap() {
        let action = tool["name"].as_str().unwrap();
        let schema = &tool["input_schema"];
        let valid: Map<String, Value> = schema["examples"][0].as_object().unwrap().clone();
        let properties = schema["properties"].as_object().unwrap();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default();

        let mut broken = Vec::new();
        let mut extra = valid.clone();
        extra.insert("not_in_the_schema".into(), json!("x"));
        broken.push(("an unknown property", Value::Object(extra)));
        for name in &required {
            let mut missing = valid.clone();
            missing.remove(*name);
            broken.push(("a missing required property", Value::Object(missing)));
        }
        for (name, property) in properties {
            let mut typed = valid.clone();
            typed.insert(name.clone(), wrong_type(property));
            broken.push(("a wrong type", Value::Object(typed)));
            for (bound, delta) in [("minimum", -1), ("maximum", 1)] {
                if let Some(limit) = property[bound].as_i64() {
                    let mut out = valid.clone();
                    out.insert(name.clone(), json!(limit + delta));
                    broken.push(("an out-of-range value", Value::Object(out)));
                }
            }
            if let Some(max) = property["maxLength"].as_u64() {
                let mut long = valid.clone();
                long.insert(name.clone(), json!("7".repeat(max as usize + 1)));
                broken.push(("an over-long value", Value::Object(long)));
            }
        }
        for (what, arguments) in broken {
            let answer = app
                .lookup(action, arguments.clone(), Some("jane@example.com"))
                .await;
            assert_eq!(
                answer["error"]["code"], "invalid_arguments",
                "{action} with {what} ({arguments}) was accepted: {answer}"
            );
        }
    }
}
