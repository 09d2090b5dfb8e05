//! The checked-in tool manifest (`functions/lookup/tools.json`) and the event and answer schema
//! (`functions/lookup/lookup.schema.json`) match what `lookup` accepts and answers: the same
//! actions, the manifest's input schemas exactly the schema file's, every schema example
//! accepted, every way of breaking the schema (unknown property, missing required one, wrong
//! type, out of range) refused, and every kind of answer valid against the answer schema.
//!
//! The MCP variants (`mcp_tools` of both manifests) are held against what the MCP door accepts
//! the same way: the read tools with `get_order_details` asking for the shopper's email, the
//! order actions with the arguments the direct invoke takes (the shopper is never one).

use serde_json::{json, Map, Value};
use tests::app::{Backend, TestApp};
use tests::fake_shopify::FakeShop;

fn manifest() -> Value {
    serde_json::from_str(lookup::TOOL_MANIFEST).expect("tools.json is JSON")
}

fn event_schema() -> Value {
    serde_json::from_str(lookup::EVENT_SCHEMA).expect("lookup.schema.json is JSON")
}

/// A validator for `$defs/{name}` of the schema file.
fn validator(name: &str) -> jsonschema::Validator {
    let mut schema = event_schema();
    let defs = schema["$defs"].take();
    let root =
        json!({"$schema": schema["$schema"], "$ref": format!("#/$defs/{name}"), "$defs": defs});
    jsonschema::validator_for(&root).expect("lookup.schema.json is a valid JSON Schema")
}

fn assert_valid(validator: &jsonschema::Validator, instance: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{instance}\n{errors:#?}");
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

/// Every way of breaking `schema`'s first example: an unknown property, each required one
/// missing, each property of a wrong type, out of range or over-long.
fn broken_arguments(schema: &Value) -> Vec<(&'static str, Value)> {
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
    broken
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anything_outside_the_schema_is_refused() {
    let app = app().await;
    for tool in manifest()["tools"].as_array().unwrap() {
        let action = tool["name"].as_str().unwrap();
        for (what, arguments) in broken_arguments(&tool["input_schema"]) {
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

#[test]
fn the_manifest_input_schemas_are_the_schema_files() {
    let schema = event_schema();
    for tool in manifest()["tools"].as_array().unwrap() {
        let name = tool["name"].as_str().unwrap();
        assert_eq!(
            tool["input_schema"],
            schema["$defs"][format!("{name}_arguments")],
            "tools.json's {name} is lookup.schema.json's $defs/{name}_arguments"
        );
    }
}

#[test]
fn every_manifest_example_is_a_valid_event() {
    let events = validator("event");
    for tool in manifest()["tools"].as_array().unwrap() {
        for example in tool["input_schema"]["examples"].as_array().unwrap() {
            let event = json!({"org_id": "org_1", "action": tool["name"], "arguments": example, "contact": {"email": "jane@example.com"}});
            assert_valid(&events, &event);
        }
    }
    let broken =
        json!({"org_id": "org_1", "action": "get_order_details", "arguments": {"order_number": 5}});
    assert!(
        !events.is_valid(&broken),
        "arguments are checked per action"
    );
    let no_action = json!({"org_id": "org_1", "action": "refund_order", "arguments": {}});
    assert!(!events.is_valid(&no_action));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_answer_matches_the_answer_schema() {
    use tests::fake_shopify::{FakeCustomer, FakeOrder, FakeProduct};
    let answers = validator("answer");
    let app = TestApp::spawn(Backend::Memory).await;
    let none = app.lookup("get_shop_details", json!({}), None).await;
    assert_eq!(none["error"]["code"], "no_store_connected");
    assert_valid(&answers, &none);
    app.shopify.add_shop(
        FakeShop::new("demo-us")
            .with_token("shpat_us")
            .with_customer(FakeCustomer::new(1, "Jane Doe", "jane@example.com"))
            .with_order(FakeOrder::new(
                "#1001",
                "2026-11-01T10:00:00Z",
                "jane@example.com",
            ))
            .with_product(FakeProduct::active("Trail Runner", "89.00")),
    );
    app.shopify.add_shop(
        FakeShop::new("demo-uk")
            .with_token("shpat_uk")
            .with_prefix("UK-")
            .with_order(FakeOrder::new(
                "UK-1001",
                "2026-11-02T10:00:00Z",
                "jane@example.com",
            )),
    );
    for (shop, token) in [("demo-us", "shpat_us"), ("demo-uk", "shpat_uk")] {
        let (code, _) = app
            .connect(json!({"shop_domain": shop, "access_token": token}))
            .await;
        assert_eq!(code, 201);
    }
    let jane = Some("jane@example.com");
    let cases = [
        (
            "get_order_details",
            json!({"order_number": "1001"}),
            jane,
            "order",
        ),
        (
            "get_order_details",
            json!({"order_number": "#1001"}),
            Some("bob@example.com"),
            "order_not_found",
        ),
        (
            "get_order_details",
            json!({"order_number": "1001"}),
            None,
            "verification_required",
        ),
        (
            "get_order_details",
            json!({"order_number": "not a number"}),
            jane,
            "invalid_arguments",
        ),
        (
            "search_products",
            json!({"query": "trail", "limit": 3}),
            None,
            "products",
        ),
        (
            "get_shop_details",
            json!({}),
            None,
            "shops, one store failing",
        ),
        ("refund_order", json!({}), None, "invalid_arguments"),
    ];
    for (action, arguments, email, what) in cases {
        if what.contains("failing") {
            app.shopify.update_shop("demo-uk.myshopify.com", |shop| {
                shop.outage = Some(503);
            });
        }
        let answer = app.lookup(action, arguments, email).await;
        assert_valid(&answers, &answer);
        if what.contains("failing") {
            assert_eq!(
                answer["store_errors"][0]["code"], "shopify_unavailable",
                "{answer}"
            );
        } else if what.starts_with(|c: char| c.is_ascii_lowercase()) && answer["ok"] == false {
            assert_eq!(answer["error"]["code"], what, "{answer}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_with_its_timeline_or_without_it_matches_the_answer_schema() {
    use tests::fake_shopify::{FakeFulfillment, FakeOrder, Fault};
    let answers = validator("answer");
    let app = TestApp::spawn(Backend::Memory).await;
    let shipped = FakeOrder::new("#1001", "2026-11-01T10:00:00Z", "jane@example.com")
        .with_fulfillments(vec![
            FakeFulfillment::delivered(&[(0, 1)], "2026-11-04T10:00:00Z"),
            FakeFulfillment::in_transit(&[(0, 1)])
                .without_estimate()
                .with_event(
                    "IN_TRANSIT",
                    "2026-11-05T10:00:00Z",
                    "Departed",
                    Some("Reno"),
                ),
        ])
        .with_return("RETURN_REQUESTED")
        .with_refund("10.00", "2026-11-06T10:00:00Z");
    app.shopify.add_shop(
        FakeShop::new("demo-us")
            .with_token("shpat_us")
            .with_order(shipped)
            .with_order(FakeOrder::unfulfilled("#1002", 30, "jane@example.com")),
    );
    let (code, _) = app
        .connect(json!({"shop_domain": "demo-us", "access_token": "shpat_us"}))
        .await;
    assert_eq!(code, 201);
    let jane = Some("jane@example.com");

    let whole = app
        .lookup("get_order_details", json!({"order_number": "1001"}), jane)
        .await;
    assert_eq!(
        whole["data"]["fulfillments"][1]["events"][0]["city"], "Reno",
        "{whole}"
    );
    assert_valid(&answers, &whole);
    let unread = app
        .lookup("get_order_details", json!({"order_number": "1002"}), jane)
        .await;
    assert_eq!(unread["data"]["missing"], json!(["refunds"]), "{unread}");
    assert_valid(&answers, &unread);

    app.shopify.update_shop("demo-us.myshopify.com", |shop| {
        shop.fail_operation("OrderTimeline", Fault::status(503))
    });
    let partial = app
        .lookup("get_order_details", json!({"order_number": "1001"}), jane)
        .await;
    assert_eq!(partial["data"]["refunds"], Value::Null, "{partial}");
    assert_valid(&answers, &partial);
}

fn mcp_tools(manifest: &Value) -> Vec<&Value> {
    manifest["mcp_tools"]
        .as_array()
        .expect("the manifest lists its MCP variants")
        .iter()
        .collect()
}

fn names(tools: &[&Value]) -> Vec<String> {
    tools
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// An MCP variant beside the platform's tool of the same name.
fn platform_tool<'a>(manifest: &'a Value, name: &str) -> &'a Value {
    manifest["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("{name} is a platform tool too"))
}

#[test]
fn the_mcp_read_tools_are_the_three_and_order_details_also_asks_for_the_order_email() {
    let manifest = manifest();
    let tools = mcp_tools(&manifest);
    assert_eq!(names(&tools), lookup::TOOLS);
    for tool in &tools {
        let name = tool["name"].as_str().unwrap();
        assert!(tool["description"].as_str().unwrap().len() > 100, "{name}");
        assert_eq!(tool["annotations"]["readOnlyHint"], true, "{name}");
        assert_eq!(tool["annotations"]["destructiveHint"], false, "{name}");
        let mut schema = tool["inputSchema"].clone();
        if name == "get_order_details" {
            let email = schema["properties"]
                .as_object_mut()
                .unwrap()
                .remove("email")
                .expect("the shopper's email is an argument over MCP");
            assert!(email["description"].as_str().unwrap().contains("checked"));
            assert_eq!(schema["required"], json!(["order_number", "email"]));
            schema["required"] = json!(["order_number"]);
            schema["examples"] = json!([{"order_number": "#1001"}, {"order_number": "UK-1001"}]);
            assert!(
                tool["description"]
                    .as_str()
                    .unwrap()
                    .contains("order_not_found"),
                "the agent is told what a mismatch answers"
            );
        }
        assert_eq!(
            schema,
            platform_tool(&manifest, name)["input_schema"],
            "{name}: the MCP variant takes what the direct invoke takes"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mcp_read_example_is_accepted_and_anything_outside_its_schema_is_refused() {
    let app = app().await;
    let org = shared::domain::OrganizationId::parse(&app.org).unwrap();
    let call = |tool: String, arguments: Value| {
        let services = app.services.clone();
        let org = org.clone();
        async move {
            lookup::answer_tool(
                lookup::ports(&services),
                &org,
                &tool,
                &arguments,
                shared::Deadline::after(services.budgets.lookup),
            )
            .await
        }
    };
    for tool in mcp_tools(&manifest()) {
        let name = tool["name"].as_str().unwrap().to_owned();
        for example in tool["inputSchema"]["examples"].as_array().unwrap() {
            let answer = call(name.clone(), example.clone()).await;
            assert_ne!(
                answer["error"]["code"], "invalid_arguments",
                "{name} {example}: {answer}"
            );
        }
        for (what, arguments) in broken_arguments(&tool["inputSchema"]) {
            let answer = call(name.clone(), arguments.clone()).await;
            assert_eq!(
                answer["error"]["code"], "invalid_arguments",
                "{name} with {what} ({arguments}) was accepted: {answer}"
            );
        }
    }
}

#[test]
fn the_mcp_action_tools_take_the_direct_invokes_arguments_and_say_they_write() {
    let manifest: Value =
        serde_json::from_str(order_actions::TOOL_MANIFEST).expect("tools.json is JSON");
    let tools = mcp_tools(&manifest);
    assert_eq!(
        names(&tools),
        [
            "cancel_order",
            "update_shipping_address",
            "request_return",
            "confirm_action",
            "get_action"
        ]
    );
    for tool in &tools {
        let name = tool["name"].as_str().unwrap();
        assert_eq!(
            tool["inputSchema"],
            platform_tool(&manifest, name)["input_schema"],
            "{name}: the shopper comes from the token, never from an argument"
        );
        let description = tool["description"].as_str().unwrap();
        assert!(description.contains("signed-in customer"), "{name}");
        let writes = name != "get_action";
        assert_eq!(tool["annotations"]["destructiveHint"], writes, "{name}");
        assert_eq!(tool["annotations"]["readOnlyHint"], !writes, "{name}");
        if name != "confirm_action" && writes {
            assert!(
                description.contains("Never confirm on the customer's behalf"),
                "{name}"
            );
        }
    }
}
