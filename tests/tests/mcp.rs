//! The `mcp` route: the AI's tools for any AI agent over MCP's Streamable HTTP transport,
//! through the function's handler with API Gateway events (the protocol revisions, the tools
//! and their answers against the direct invoke's, the org and the shopper from the token, the
//! HTTP edges, malformed JSON-RPC), and the `mcp` switches of the organization's settings that
//! open the order actions to it.

mod common;

use aws_sdk_dynamodb::types::AttributeValue as A;
use proptest::prelude::*;
use serde_json::{json, Value};
use shared::domain::{ActionMode, OrganizationId};
use tests::actions::{enable, us_shop, JANE, TOKEN, US};
use tests::app::{Backend, TestApp};
use tests::events::HttpEvent;
use tests::fake_shopify::{FakeOrder, FakeProduct, FakeShop};
use tests::mcp::{
    post, request, McpRig, CHALLENGE, JANE_TOKEN, OTHER_ORG_TOKEN, RESOURCE, SUBJECT,
    UNVERIFIED_TOKEN, V2025, V2026,
};

const BOB: &str = "bob@example.com";

/// demo-us with Jane's `#1001`, Bob's `#1005` and a product, connected; the route over it.
async fn shop_app() -> (TestApp, McpRig) {
    let app = TestApp::spawn(Backend::Memory).await;
    app.shopify.add_shop(
        FakeShop::new("demo-us")
            .named("Demo US")
            .with_token("shpat_us")
            .with_order(FakeOrder::new("#1001", "2026-11-01T10:00:00Z", JANE))
            .with_order(FakeOrder::new("#1005", "2026-10-01T10:00:00Z", BOB))
            .with_product(FakeProduct::active("Trail Runner", "89.00")),
    );
    let (status, body) = app
        .connect(json!({"shop_domain": "demo-us", "access_token": "shpat_us"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let rig = McpRig::new(&app).await;
    (app, rig)
}

/// The direct invoke's answer for `action` with `arguments` and `contact_email`.
async fn direct(
    app: &TestApp,
    action: &str,
    arguments: Value,
    contact_email: Option<&str>,
) -> Value {
    app.lookup(action, arguments, contact_email).await
}

/// The tools a `tools/list` answer names.
fn listed(reply: &tests::mcp::Reply) -> Vec<String> {
    reply.body["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("a tools/list answer: {reply:?}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Opens the order actions to MCP (`mcp.order_actions`) through the settings route.
async fn open_to_mcp(app: &TestApp, on: bool) {
    let (_, mut settings) = app.send(app.as_admin("GET", "/shopify/settings")).await;
    settings["mcp"] = json!({"order_actions": on});
    let (status, body) = app.put_settings(settings).await;
    assert_eq!(status, 200, "{body}");
}

/// Requests Shopify received so far.
fn shopify_requests(app: &TestApp) -> usize {
    app.shopify.received().len()
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_initializes_with_2025_11_25_and_discovers_the_server_with_2026_07_28() {
    let (_app, rig) = shop_app().await;
    let client = json!({"capabilities": {}, "clientInfo": {"name": "agent", "version": "1.0"}});

    let mut params = client.clone();
    params["protocolVersion"] = json!(V2025);
    let reply = rig.rpc(JANE_TOKEN, V2025, "initialize", params).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.headers["content-type"], "application/json",
        "one JSON answer, no stream"
    );
    assert!(
        reply.headers.get("mcp-session-id").is_none(),
        "stateless: no session"
    );
    let result = &reply.body["result"];
    assert_eq!(result["protocolVersion"], V2025, "{reply:?}");
    assert!(result["capabilities"]["tools"].is_object());
    assert_eq!(result["serverInfo"]["name"], "shopify-connector");

    let mut params = client.clone();
    params["protocolVersion"] = json!(V2026);
    let reply = rig
        .send(request(Some(JANE_TOKEN), V2025, "initialize", params))
        .await;
    assert_eq!(
        reply.body["result"]["protocolVersion"], V2025,
        "2026-07-28 has no handshake: initialize answers the newest revision that has one"
    );

    let initialized = rig
        .send(
            post(
                Some(JANE_TOKEN),
                r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            )
            .header("mcp-protocol-version", V2025),
        )
        .await;
    assert_eq!(initialized.status, 202, "{initialized:?}");

    let reply = rig
        .rpc(JANE_TOKEN, V2026, "server/discover", json!({}))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body["result"]["supportedVersions"],
        json!([V2025, V2026])
    );
    assert!(reply.body["result"]["capabilities"]["tools"].is_object());
    assert!(
        !rig.state.catalog_loaded(),
        "the handshake and discovery read no tool manifest"
    );

    for version in [V2025, V2026] {
        let reply = rig.rpc(JANE_TOKEN, version, "tools/list", json!({})).await;
        assert_eq!(reply.status, 200, "{version}: {reply:?}");
        assert_eq!(listed(&reply), lookup::TOOLS, "{version}");
    }
    assert!(rig.state.catalog_loaded());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_revisions_served_are_spoken_and_a_client_asking_for_another_is_told_which() {
    let (app, rig) = shop_app().await;
    let before = shopify_requests(&app);
    // An initialization asking for a revision before 2025-11-25 is answered with the one
    // served, as the lifecycle says: the client then speaks it or disconnects.
    let params = json!({
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "agent", "version": "1.0"},
    });
    let reply = rig
        .send(post(
            Some(JANE_TOKEN),
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params})
                .to_string(),
        ))
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["result"]["protocolVersion"], V2025, "{reply:?}");
    // The same with the header naming it (a client initializing again keeps it).
    let reply = rig
        .send(
            post(
                Some(JANE_TOKEN),
                &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params})
                    .to_string(),
            )
            .header("mcp-protocol-version", "2025-06-18"),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["result"]["protocolVersion"], V2025, "{reply:?}");
    // A client of a later revision asks by discovery, naming it in the request: it is told
    // the revisions served, for its request, and can fall back to one of them.
    for later in ["2027-01-01", "2025-06-18"] {
        let discover = json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "server/discover",
            "params": {"_meta": {
                "io.modelcontextprotocol/protocolVersion": later,
                "io.modelcontextprotocol/clientCapabilities": {},
            }},
        });
        let reply = rig
            .send(
                post(Some(JANE_TOKEN), &discover.to_string())
                    .header("mcp-protocol-version", later)
                    .header("mcp-method", "server/discover"),
            )
            .await;
        assert_eq!(reply.status, 400, "{later}: {reply:?}");
        assert_eq!(reply.body["id"], 1, "{later}: {reply:?}");
        assert_eq!(
            reply.body["error"]["code"], -32022,
            "unsupported protocol version: {reply:?}"
        );
        assert_eq!(
            reply.body["error"]["data"]["supported"],
            json!([V2025, V2026]),
            "{later}: {reply:?}"
        );
    }
    // A request under a revision not served (one rmcp knows, and one nobody does) is refused.
    for version in ["2025-06-18", "2025-03-26", "2024-11-05", "1999-01-01"] {
        let reply = rig
            .rpc(
                JANE_TOKEN,
                version,
                "tools/call",
                json!({"name": "get_shop_details", "arguments": {}}),
            )
            .await;
        assert_eq!(reply.status, 400, "{version}: {reply:?}");
        assert_eq!(reply.body["error"]["code"], -32600, "{version}: {reply:?}");
        assert_eq!(reply.body["id"], 1, "the request's own id: {reply:?}");
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("2025-11-25, 2026-07-28")),
            "{reply:?}"
        );
    }
    assert_eq!(shopify_requests(&app), before, "no tool ran");
    for version in [V2025, V2026] {
        let reply = rig.rpc(JANE_TOKEN, version, "tools/list", json!({})).await;
        assert_eq!(reply.status, 200, "{version}: {reply:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_list_offers_the_manifests_read_tools_and_the_write_tools_only_once_opened_to_mcp() {
    let (app, rig) = shop_app().await;
    let manifest: Value = serde_json::from_str(lookup::TOOL_MANIFEST).unwrap();
    let reply = rig.rpc(JANE_TOKEN, V2025, "tools/list", json!({})).await;
    let tools = reply.body["result"]["tools"].as_array().unwrap().clone();
    assert_eq!(
        Value::Array(tools),
        manifest["mcp_tools"],
        "names, descriptions, input schemas and annotations exactly as tools.json lists them"
    );

    enable(&app, ActionMode::Live, None).await;
    let reply = rig.rpc(JANE_TOKEN, V2025, "tools/list", json!({})).await;
    assert_eq!(
        listed(&reply),
        lookup::TOOLS,
        "cancellation is on, but not for MCP"
    );

    open_to_mcp(&app, true).await;
    let reply = rig.rpc(JANE_TOKEN, V2025, "tools/list", json!({})).await;
    assert_eq!(
        listed(&reply),
        [
            "get_order_details",
            "search_products",
            "get_shop_details",
            "cancel_order",
            "confirm_action",
            "get_action"
        ],
        "only the enabled action, with confirm_action and get_action"
    );
    let actions: Value = serde_json::from_str(order_actions::TOOL_MANIFEST).unwrap();
    for tool in reply.body["result"]["tools"].as_array().unwrap() {
        let name = tool["name"].as_str().unwrap();
        if lookup::TOOLS.contains(&name) {
            assert_eq!(tool["annotations"]["readOnlyHint"], true, "{name}");
            continue;
        }
        let listed_as = actions["mcp_tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap();
        assert_eq!(tool, listed_as, "{name} as tools.json lists it");
        let writes = name != "get_action";
        assert_eq!(tool["annotations"]["destructiveHint"], writes, "{name}");
    }
    let reply = rig
        .rpc(OTHER_ORG_TOKEN, V2025, "tools/list", json!({}))
        .await;
    assert_eq!(
        listed(&reply),
        lookup::TOOLS,
        "another organization's settings are its own"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_read_tool_answers_the_same_json_as_the_direct_invoke() {
    let (app, rig) = shop_app().await;
    let cases = [
        (
            "get_order_details",
            json!({"order_number": "#1001", "email": JANE}),
            json!({"order_number": "#1001"}),
            Some(JANE),
        ),
        (
            "search_products",
            json!({"query": "trail runner"}),
            json!({"query": "trail runner"}),
            None,
        ),
        ("get_shop_details", json!({}), json!({}), None),
    ];
    for version in [V2025, V2026] {
        for (tool, arguments, direct_arguments, contact) in &cases {
            let reply = rig
                .rpc(
                    JANE_TOKEN,
                    version,
                    "tools/call",
                    json!({"name": tool, "arguments": arguments}),
                )
                .await;
            assert_eq!(reply.status, 200, "{tool}: {reply:?}");
            let result = &reply.body["result"];
            let expected = direct(&app, tool, direct_arguments.clone(), *contact).await;
            assert_eq!(expected["ok"], true, "{expected}");
            assert_eq!(result["structuredContent"], expected, "{version} {tool}");
            assert_eq!(result["isError"], false, "{tool}");
            let text = result["content"][0]["text"]
                .as_str()
                .expect("one text item");
            assert_eq!(
                serde_json::from_str::<Value>(text).unwrap(),
                expected,
                "{tool}"
            );
            assert_eq!(result["content"].as_array().unwrap().len(), 1);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_details_need_the_orders_own_email_whatever_require_email_match_says() {
    let (app, rig) = shop_app().await;
    let wrong = json!({"order_number": "#1001", "email": BOB});

    let refused = rig.call("get_order_details", wrong.clone()).await;
    assert_eq!(refused["isError"], true, "{refused}");
    let answer = &refused["structuredContent"];
    assert_eq!(answer["error"]["code"], "order_not_found", "{answer}");
    assert_eq!(
        *answer,
        direct(
            &app,
            "get_order_details",
            json!({"order_number": "#1001"}),
            Some(BOB)
        )
        .await,
        "the same answer as the direct invoke gives a stranger"
    );
    let missing = rig
        .call(
            "get_order_details",
            json!({"order_number": "#1009", "email": JANE}),
        )
        .await;
    assert_eq!(
        missing["structuredContent"]["error"]["code"],
        "order_not_found"
    );

    let (_, mut settings) = app.send(app.as_admin("GET", "/shopify/settings")).await;
    settings["require_email_match"] = json!(false);
    assert_eq!(app.put_settings(settings).await.0, 200);
    let released = direct(
        &app,
        "get_order_details",
        json!({"order_number": "#1001"}),
        None,
    )
    .await;
    assert_eq!(
        released["ok"], true,
        "the direct invoke no longer checks: {released}"
    );
    let still = rig.call("get_order_details", wrong).await;
    assert_eq!(
        still["structuredContent"], *answer,
        "over MCP the email is always checked"
    );

    let no_email = rig
        .call("get_order_details", json!({"order_number": "#1001"}))
        .await;
    assert_eq!(no_email["isError"], true);
    assert_eq!(
        no_email["structuredContent"]["error"]["code"], "invalid_arguments",
        "{no_email}"
    );
    let right = rig
        .call(
            "get_order_details",
            json!({"order_number": "1001", "email": "JANE@example.com"}),
        )
        .await;
    assert_eq!(
        right["structuredContent"]["data"]["name"], "#1001",
        "{right}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organizations_token_never_reaches_this_organizations_stores() {
    let (_app, rig) = shop_app().await;
    let before = shopify_requests(&_app);
    for (tool, arguments) in [
        (
            "get_order_details",
            json!({"order_number": "#1001", "email": JANE}),
        ),
        (
            "search_products",
            json!({"query": "trail", "shop_domain": US}),
        ),
        ("get_shop_details", json!({"shop_domain": US})),
    ] {
        let result = rig.call_as(OTHER_ORG_TOKEN, tool, arguments).await;
        assert_eq!(result["isError"], true, "{tool}: {result}");
        assert_eq!(
            result["structuredContent"]["error"]["code"], "no_store_connected",
            "{tool}: {result}"
        );
    }
    assert_eq!(
        shopify_requests(&_app),
        before,
        "nothing was asked of this org's store"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_refused_token_is_401_with_the_resource_metadata_challenge() {
    let (app, rig) = shop_app().await;
    let before = shopify_requests(&app);
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_shop_details", "arguments": {}}}).to_string();
    for authorization in [
        None,
        Some("Bearer nope"),
        Some("Basic dXNlcjpwYXNz"),
        Some("Bearer "),
        Some(JANE_TOKEN),
    ] {
        let mut event = post(None, &call);
        if let Some(value) = authorization {
            event = event.header("authorization", value);
        }
        let reply = rig.send(event).await;
        assert_eq!(reply.status, 401, "{authorization:?}: {reply:?}");
        assert_eq!(
            reply.headers["www-authenticate"], CHALLENGE,
            "{authorization:?}"
        );
        assert_eq!(reply.body["error"]["code"], "unauthorized");
    }
    assert_eq!(
        shopify_requests(&app),
        before,
        "nothing was read for a refused caller"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_protected_resource_document_is_served_publicly_at_both_well_known_paths() {
    let (_app, rig) = shop_app().await;
    for path in mcp::METADATA_PATHS {
        let reply = rig.send(HttpEvent::new("GET", path)).await;
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        assert_eq!(
            reply.body,
            json!({"resource": RESOURCE, "authorization_servers": ["https://id.example.test"], "bearer_methods_supported": ["header"]})
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_post_is_served_at_mcp() {
    let (_app, rig) = shop_app().await;
    for method in ["GET", "DELETE", "PUT"] {
        for token in [None, Some(JANE_TOKEN)] {
            let mut event =
                HttpEvent::new(method, mcp::MCP_PATH).header("accept", "text/event-stream");
            if let Some(token) = token {
                event = event.header("authorization", &format!("Bearer {token}"));
            }
            let reply = rig.send(event).await;
            assert_eq!(reply.status, 405, "{method}: {reply:?}");
            assert_eq!(reply.headers["allow"], "POST");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_64_kib_is_refused_before_it_is_read() {
    let (app, rig) = shop_app().await;
    let before = shopify_requests(&app);
    let padding = "x".repeat(64 * 1024);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_shop_details", "arguments": {}, "_meta": {"padding": padding}}}).to_string();
    let reply = rig
        .send(post(Some(JANE_TOKEN), &body).header("mcp-protocol-version", V2025))
        .await;
    assert_eq!(reply.status, 413, "{reply:?}");
    assert_eq!(reply.body["error"]["code"], "payload_too_large");
    let reply = rig.send(post(None, &body)).await;
    assert_eq!(reply.status, 413, "the size is checked before the token");
    assert_eq!(shopify_requests(&app), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_from_an_origin_not_allowed_is_forbidden() {
    let (_app, rig) = shop_app().await;
    let list = || request(Some(JANE_TOKEN), V2025, "tools/list", json!({}));
    for origin in ["https://evil.example", "http://api.example.test", "null"] {
        let reply = rig.send(list().header("origin", origin)).await;
        assert_eq!(reply.status, 403, "{origin}: {reply:?}");
        assert_eq!(reply.body["error"]["code"], "forbidden");
    }
    let reply = rig
        .send(list().header("origin", "https://api.example.test"))
        .await;
    assert_eq!(reply.status, 200, "the resource's own origin: {reply:?}");
    assert_eq!(
        rig.send(list()).await.status,
        200,
        "no Origin: an agent's own client"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_tool_is_invalid_params_and_an_unknown_method_is_method_not_found() {
    let (app, rig) = shop_app().await;
    let before = shopify_requests(&app);
    let reply = rig
        .rpc(
            JANE_TOKEN,
            V2025,
            "tools/call",
            json!({"name": "refund_order", "arguments": {}}),
        )
        .await;
    assert_eq!(reply.body["error"]["code"], -32602, "{reply:?}");
    assert_eq!(reply.body["id"], 1);
    let reply = rig.rpc(JANE_TOKEN, V2025, "orders/delete", json!({})).await;
    assert!(reply.status < 500);
    assert_eq!(reply.body["error"]["code"], -32601, "{reply:?}");
    let reply = rig
        .send(post(
            Some(JANE_TOKEN),
            r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]"#,
        ))
        .await;
    assert_eq!(reply.body["error"]["code"], -32600, "a batch: {reply:?}");
    let reply = rig.send(post(Some(JANE_TOKEN), "{\"jsonrpc\": ")).await;
    assert_eq!(reply.body["error"]["code"], -32700, "{reply:?}");
    let reply = rig
        .send(
            post(
                Some(JANE_TOKEN),
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            )
            .header("accept", "application/json"),
        )
        .await;
    assert_eq!(reply.status, 406, "{reply:?}");
    assert_eq!(
        reply.body["error"]["code"], -32600,
        "the transport's refusal, as JSON-RPC"
    );
    assert_eq!(reply.body["id"], 1, "the request's own id: {reply:?}");
    assert_eq!(
        reply.body["error"]["message"],
        "Not acceptable: Accept must take both application/json and text/event-stream.",
        "in words of our own, never the SDK's text"
    );
    assert_eq!(shopify_requests(&app), before);
}

/// A malformed JSON-RPC message of one of the kinds an agent (or an attacker) could send.
fn malformed() -> impl Strategy<Value = String> {
    let id = prop_oneof![
        Just(json!({})),
        Just(json!([1])),
        Just(json!(1.5)),
        Just(json!(true)),
        Just(json!(null)),
        Just(json!(1e300)),
        Just(json!(u64::MAX)),
    ];
    let wrong_value = prop_oneof![
        Just(json!(null)),
        Just(json!(7)),
        Just(json!("text")),
        Just(json!([1, 2])),
        Just(json!({"a": {"b": []}})),
    ];
    let method = prop_oneof![
        Just("tools/call".to_owned()),
        Just("tools/list".to_owned()),
        Just("initialize".to_owned()),
        "[a-z/]{1,30}",
    ];
    prop_oneof![
        // random bytes, lossily text
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        // a batch
        proptest::collection::vec(method.clone(), 0..4).prop_map(|methods| {
            Value::Array(methods.into_iter().enumerate().map(|(i, m)| json!({"jsonrpc": "2.0", "id": i, "method": m})).collect()).to_string()
        }),
        // an id of a wrong type or out of range
        (id, method.clone()).prop_map(|(id, method)| json!({"jsonrpc": "2.0", "id": id, "method": method}).to_string()),
        ("[1-9][0-9]{19,40}", method.clone()).prop_map(|(digits, method)| format!(r#"{{"jsonrpc":"2.0","id":{digits},"method":"{method}"}}"#)),
        // a method, params or version of a wrong type
        wrong_value.clone().prop_map(|method| json!({"jsonrpc": "2.0", "id": 1, "method": method}).to_string()),
        (method.clone(), wrong_value.clone().prop_filter("params that are not an object", |v| !v.is_object())).prop_map(|(method, params)| json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()),
        (wrong_value.clone(), method.clone()).prop_map(|(version, method)| json!({"jsonrpc": version, "id": 1, "method": method}).to_string()),
        // a tool call whose name or arguments are of a wrong type
        (wrong_value.clone(), wrong_value).prop_map(|(name, arguments)| json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}).to_string()),
        // an unknown method
        "[a-z]{3,12}/[a-z]{3,12}".prop_map(|method| json!({"jsonrpc": "2.0", "id": "x", "method": format!("x-{method}")}).to_string()),
    ]
}

#[test]
fn malformed_json_rpc_never_gets_a_5xx_and_always_gets_a_json_rpc_error() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (app, rig) = runtime.block_on(shop_app());
    let before = shopify_requests(&app);
    let config = ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(body in malformed(), version in prop_oneof![Just(V2025), Just(V2026)])| {
        let reply = runtime.block_on(rig.send(post(Some(JANE_TOKEN), &body).header("mcp-protocol-version", version)));
        prop_assert!(reply.status < 500, "{body}: {reply:?}");
        prop_assert_eq!(&reply.body["jsonrpc"], "2.0", "{}: {:?}", body, reply);
        let code = reply.body["error"]["code"].as_i64();
        prop_assert!(
            matches!(code, Some(-32700 | -32600 | -32601 | -32602 | -32020)),
            "{}: {:?}", body, reply
        );
        prop_assert!(reply.body["error"]["message"].is_string());
    });
    assert_eq!(
        shopify_requests(&app),
        before,
        "nothing malformed reached Shopify"
    );
}

/// End to end over HTTP: the local gateway as the template wires the MCP routes (public), the
/// function's real JWT verifier, tokens of the dev identity provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_with_a_token_of_the_identity_provider_is_served_over_http_and_others_are_not() {
    let (app, rig) = shop_app().await;
    let issuer = tests::dev_issuer::DevIssuer::start().await;
    let state = rig.verifying(&app, &issuer);
    let routes = tests::gateway::mcp_routes(std::sync::Arc::new(state));
    let base = tests::gateway::serve(tests::gateway::routes_app(
        routes,
        tests::gateway::JwtAuthorizer::of(&issuer),
    ))
    .await;
    let http = tests::http_client();
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "get_order_details", "arguments": {"order_number": "#1001", "email": JANE}}});
    let send = |token: String| {
        http.post(format!("{base}/mcp"))
            .header("authorization", format!("Bearer {token}"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", V2025)
            .json(&call)
            .send()
    };

    let token = issuer.token(&app.org, "shopper");
    let answer: Value = send(token).await.unwrap().json().await.unwrap();
    assert_eq!(answer["id"], 7);
    assert_eq!(
        answer["result"]["structuredContent"]["data"]["name"], "#1001",
        "{answer}"
    );

    let mut expired = issuer.claims(&app.org, "shopper");
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 3600);
    let mut other_audience = issuer.claims(&app.org, "shopper");
    other_audience["aud"] = json!("another-api");
    let mut other_issuer = issuer.claims(&app.org, "shopper");
    other_issuer["iss"] = json!("https://id.elsewhere.test");
    let mut without_org = issuer.claims(&app.org, "shopper");
    let org_claim = shared::config::AuthConfig::default().org_claim;
    without_org.as_object_mut().unwrap().remove(&org_claim);
    // Claims valid in every way, signed by a key the identity provider never published.
    let stranger = tests::dev_issuer::DevIssuer::start().await;
    let refused_tokens = [
        ("expired", issuer.sign(&expired)),
        ("another audience", issuer.sign(&other_audience)),
        ("another issuer", issuer.sign(&other_issuer)),
        ("without the org claim", issuer.sign(&without_org)),
        (
            "another issuer's key",
            stranger.sign(&issuer.claims(&app.org, "shopper")),
        ),
        ("not a JWT", "not-a-jwt".to_owned()),
        ("empty", String::new()),
    ];
    for (what, token) in refused_tokens {
        let refused = send(token).await.unwrap();
        assert_eq!(refused.status(), 401, "{what}");
        assert_eq!(refused.headers()["www-authenticate"], "Bearer resource_metadata=\"https://api.example.test/.well-known/oauth-protected-resource/mcp\"", "{what}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized", "{what}: {body}");
    }
    let document: Value = http
        .get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["authorization_servers"], json!([issuer.issuer]));

    // POST is the path's one method, whoever answers: the function (GET and DELETE, routed to
    // it) or the gateway (any method not routed).
    for method in ["GET", "DELETE", "OPTIONS", "PATCH"] {
        let answer = http
            .request(method.parse().unwrap(), format!("{base}/mcp"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 405, "{method}");
        assert_eq!(answer.headers()["allow"], "POST", "{method}");
    }
}

both_backends! {
    async fn an_agent_cancels_the_signed_in_shoppers_order_once_the_store_opens_order_actions_to_mcp(app: TestApp) {
        app.shopify.add_shop(us_shop(FakeOrder::unfulfilled("#1001", 5, JANE)).with_token(TOKEN));
        let (status, body) = app.connect(json!({"shop_domain": "demo-us", "access_token": TOKEN})).await;
        assert_eq!(status, 201, "{body}");
        enable(&app, ActionMode::Live, None).await;
        let rig = McpRig::new(&app).await;
        let cancel = json!({"order_number": "#1001", "reason": "ordered twice"});

        let closed = rig.call("cancel_order", cancel.clone()).await;
        assert_eq!(closed["isError"], true, "{closed}");
        assert_eq!(closed["structuredContent"]["error"]["code"], "action_disabled", "not opened to MCP");

        open_to_mcp(&app, true).await;
        let unverified = rig.call_as(UNVERIFIED_TOKEN, "cancel_order", cancel.clone()).await;
        assert_eq!(unverified["structuredContent"]["error"]["code"], "verification_required", "{unverified}");
        let smuggled = rig.call("cancel_order", json!({"order_number": "#1001", "email": BOB})).await;
        assert_eq!(smuggled["structuredContent"]["error"]["code"], "invalid_arguments", "the shopper is never an argument");

        let proposal = rig.call("cancel_order", cancel).await;
        assert_eq!(proposal["isError"], false, "{proposal}");
        let data = &proposal["structuredContent"]["data"];
        assert_eq!(data["status"], "confirmation_required", "{proposal}");
        let id = data["proposal_id"].as_str().unwrap().to_owned();
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 0, "a proposal changes nothing");

        // Another organization that opened the same action to MCP still cannot reach the proposal.
        let other = OrganizationId::parse(&rig.other_org).unwrap();
        let stores = &app.services.storage.stores;
        let mut settings = stores.get_settings(&other).await.unwrap();
        settings.mcp.order_actions = true;
        settings.order_actions.cancel_order.enabled = true;
        stores.put_settings(&other, &settings).await.unwrap();
        let stranger = rig.call_as(OTHER_ORG_TOKEN, "confirm_action", json!({"proposal_id": id})).await;
        assert_eq!(stranger["structuredContent"]["error"]["code"], "proposal_not_found", "{stranger}");

        let done = rig.call("confirm_action", json!({"proposal_id": id})).await;
        assert_eq!(done["structuredContent"]["data"]["status"], "done", "{done}");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 1);
        let org = OrganizationId::parse(&app.org).unwrap();
        let record = rig.actions.ports.actions.get(&org, &id).await.unwrap().expect("the action's record");
        assert_eq!(record.actor, SUBJECT, "the token's sub acted");
        assert_eq!(record.contact_email, JANE, "the token's verified email is the shopper");
        assert_eq!(record.conversation_id, format!("mcp:{SUBJECT}"));

        open_to_mcp(&app, false).await;
        let after = rig.call("get_action", json!({"proposal_id": id})).await;
        assert_eq!(after["structuredContent"]["error"]["code"], "action_disabled", "closed again: {after}");
    }
}

/// The identity provider's keys out of reach is our outage, not the caller's token: 503 with
/// `Retry-After`, so an agent retries instead of throwing a good token away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_cannot_be_checked_for_want_of_keys_is_503_to_retry_not_401() {
    let (app, rig) = shop_app().await;
    let issuer = tests::dev_issuer::DevIssuer::start().await;
    // The keys are read again as soon as asked (the pause after a failed read has its own test).
    let state = rig.verifying_pausing(&app, &issuer, std::time::Duration::ZERO);
    issuer.jwks_down(true);
    let token = issuer.token(&app.org, "shopper");

    let event = tests::mcp::request(Some(&token), V2025, "tools/list", json!({}));
    let response = mcp::handle(&state, event.into_request()).await.unwrap();

    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    assert!(response.headers().get("www-authenticate").is_none());
    issuer.jwks_down(false);
    let event = tests::mcp::request(Some(&token), V2025, "tools/list", json!({}));
    let response = mcp::handle(&state, event.into_request()).await.unwrap();
    assert_eq!(response.status(), 200, "served once the keys can be read");
}

#[test]
fn an_answer_is_cut_off_only_after_every_tools_own_deadline() {
    let invocation = tests::events::deadline_ms(std::time::Duration::from_secs(20));
    let cut_off = mcp::answer_deadline(invocation).instant();
    let budgets = shared::config::Budgets {
        lookup: std::time::Duration::from_secs(60),
        ..Default::default()
    };
    let lookup = shared::lookup::deadline(&budgets, invocation).instant();
    // An order action's deadline: the invocation's less its margin (a budget as long as it).
    let action = shared::Deadline::from_epoch_millis(invocation)
        .minus(shared::actions::ANSWER_MARGIN)
        .instant();
    for (tool, ends) in [("lookup", lookup), ("order action", action)] {
        assert!(
            cut_off >= ends + std::time::Duration::from_millis(100),
            "the {tool} tools end before the answer is cut off"
        );
    }
}
