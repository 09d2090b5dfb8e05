//! The order actions' surfaces: the `order-actions` function (its event, its tool manifest and
//! schema held against what it accepts and answers, its refusal of HTTP events, the settle
//! schedule) and the `actions-api` routes (list, approve, decline, roles, org isolation).

mod common;

use serde_json::{json, Value};
use shared::domain::ActionMode;
use tests::actions::ActionRig;
use tests::app::TestApp;
use tests::events::HttpEvent;
use tests::fake_shopify::{FakeOrder, FakeShop};

const TOKEN: &str = "shpat_actions_0000000000000000000000";
const JANE: &str = "jane@example.com";

fn manifest() -> Value {
    serde_json::from_str(order_actions::TOOL_MANIFEST).expect("tools.json is JSON")
}

fn schema() -> Value {
    serde_json::from_str(order_actions::EVENT_SCHEMA).expect("order-actions.schema.json is JSON")
}

fn validator(name: &str) -> jsonschema::Validator {
    let mut schema = schema();
    let defs = schema["$defs"].take();
    let root =
        json!({"$schema": schema["$schema"], "$ref": format!("#/$defs/{name}"), "$defs": defs});
    jsonschema::validator_for(&root).expect("order-actions.schema.json is a valid JSON Schema")
}

fn assert_valid(validator: &jsonschema::Validator, instance: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{instance}\n{errors:#?}");
}

/// demo-us with `#1001` (Jane's, unfulfilled, 5 minutes old), cancellation on in `mode`.
async fn setup(app: &TestApp, mode: ActionMode) -> ActionRig {
    app.shopify.add_shop(
        FakeShop::new("demo-us")
            .with_order_action_scopes()
            .with_order(FakeOrder::unfulfilled("#1001", 5, JANE))
            .with_token(TOKEN),
    );
    let (status, body) = app
        .connect(json!({"shop_domain": "demo-us", "access_token": TOKEN}))
        .await;
    assert_eq!(status, 201, "{body}");
    let mut settings = app.send(app.as_admin("GET", "/shopify/settings")).await.1;
    settings["order_actions"]["cancel_order"]["enabled"] = json!(true);
    settings["order_actions"]["cancel_order"]["mode"] = serde_json::to_value(mode).unwrap();
    assert_eq!(
        app.send(app.as_admin("PUT", "/shopify/settings").json(&settings))
            .await
            .0,
        200
    );
    ActionRig::new(app).await
}

fn event(app: &TestApp, action: &str, arguments: Value, confirmed: bool) -> Value {
    json!({"org_id": app.org, "action": action, "arguments": arguments,
           "contact": {"email": JANE, "email_verified": true},
           "conversation_id": "conv-7", "shopper_confirmed": confirmed})
}

async fn invoke(rig: &ActionRig, event: Value) -> Value {
    let deadline = order_actions::deadline(&rig.ports, 0);
    order_actions::answer(&rig.ports, event, deadline).await
}

async fn send(rig: &ActionRig, event: HttpEvent) -> (u16, Value) {
    let routes = tests::gateway::action_routes(rig.ports.clone());
    let route = routes
        .iter()
        .find(|r| r.method == event.method && r.route == event.route)
        .unwrap();
    let response = (route.handler)(event.into_request())
        .await
        .expect("handlers answer every request");
    let status = response.status().as_u16();
    let body = match response.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text).unwrap(),
        lambda_http::Body::Binary(bytes) => serde_json::from_slice(bytes).unwrap(),
        _ => Value::Null,
    };
    (status, body)
}

fn decide(org: &str, role: &str, id: &str, verb: &str) -> HttpEvent {
    let route: &'static str = if verb == "approve" {
        "/shopify/actions/{id}/approve"
    } else {
        "/shopify/actions/{id}/decline"
    };
    HttpEvent::new("POST", route).path_param("id", id).claims(&[
        ("org_id", org),
        ("role", role),
        ("sub", "user-9"),
    ])
}

#[test]
fn the_manifest_offers_the_five_tools_and_tells_the_ai_to_wait_for_the_shoppers_yes() {
    let manifest = manifest();
    let tools = manifest["tools"].as_array().unwrap();
    let names: Vec<_> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "cancel_order",
            "update_shipping_address",
            "request_return",
            "confirm_action",
            "get_action"
        ]
    );
    let tool = |name: &str| {
        tools.iter().find(|t| t["name"] == name).unwrap()["description"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for proposing in ["cancel_order", "update_shipping_address", "request_return"] {
        let description = tool(proposing);
        assert!(
            description.contains("Read the summary back")
                && description.contains("says yes")
                && description.contains("confirm_action"),
            "{proposing}: {description}"
        );
    }
    let confirm = tool("confirm_action");
    assert!(confirm.contains("answered yes"), "{confirm}");
    let defs = &schema()["$defs"];
    for tool in tools {
        let name = tool["name"].as_str().unwrap();
        assert_eq!(
            tool["input_schema"],
            defs[format!("{name}_arguments")],
            "tools.json's {name} is the schema file's"
        );
        assert_eq!(tool["input_schema"]["additionalProperties"], false);
        for (property, spec) in tool["input_schema"]["properties"].as_object().unwrap() {
            assert!(
                spec["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{name}.{property}"
            );
        }
    }
    let events = validator("event");
    for tool in tools {
        for example in tool["input_schema"]["examples"].as_array().unwrap() {
            assert_valid(
                &events,
                &json!({"org_id": "org_1", "action": tool["name"], "arguments": example, "contact": {"email": JANE, "email_verified": true}, "conversation_id": "c"}),
            );
        }
    }
    assert!(!events.is_valid(
        &json!({"org_id": "org_1", "action": "cancel_order", "arguments": {}, "requestContext": {}})
    ));
}

both_backends! {
    async fn anything_outside_the_manifest_is_refused_before_anything_is_read(app: TestApp) {
        let rig = setup(&app, ActionMode::Live).await;
        let id = "a".repeat(40);
        let broken = [
            ("cancel_order", json!({"order_number": "#1001", "not_in_the_schema": 1})),
            ("cancel_order", json!({})),
            ("cancel_order", json!({"order_number": 1001})),
            ("cancel_order", json!({"order_number": "7".repeat(41)})),
            ("cancel_order", json!({"order_number": "#1001", "reason": "x".repeat(501)})),
            ("confirm_action", json!({"proposal_id": id, "extra": true})),
            ("confirm_action", json!({})),
            ("get_action", json!({"proposal_id": "7".repeat(129)})),
            ("get_action", json!({"proposal_id": 5})),
            ("refund_order", json!({})),
        ];
        for (action, arguments) in broken {
            let answer = invoke(&rig, event(&app, action, arguments.clone(), true)).await;
            assert_eq!(answer["error"]["code"], "invalid_arguments", "{action} {arguments}: {answer}");
        }
        assert_eq!(app.shopify.cancel_calls("demo-us.myshopify.com", "#1001"), 0);
    }

    async fn an_http_event_is_refused_unread(app: TestApp) {
        let rig = setup(&app, ActionMode::Live).await;
        let mut routed = event(&app, "cancel_order", json!({"order_number": "#1001"}), true);
        routed["requestContext"] = json!({"http": {"method": "POST"}});

        let answer = invoke(&rig, routed).await;

        assert_eq!(answer["ok"], false);
        assert_eq!(answer["error"]["code"], "invalid_request");
        assert!(rig.events.order_actions().is_empty(), "nothing was proposed");
    }

    async fn a_shopper_proposes_confirms_and_checks_a_cancellation_through_the_function(app: TestApp) {
        let rig = setup(&app, ActionMode::Live).await;
        let answers = validator("answer");

        let proposal = invoke(&rig, event(&app, "cancel_order", json!({"order_number": "#1001", "reason": "wrong size"}), false)).await;
        assert_valid(&answers, &proposal);
        assert_eq!(proposal["data"]["status"], "confirmation_required", "{proposal}");
        let id = proposal["data"]["proposal_id"].as_str().unwrap().to_owned();

        let no_yes = invoke(&rig, event(&app, "confirm_action", json!({"proposal_id": id}), false)).await;
        assert_valid(&answers, &no_yes);
        assert_eq!(no_yes["data"]["status"], "confirmation_required", "without the shopper's own yes nothing runs: {no_yes}");
        assert_eq!(app.shopify.cancel_calls("demo-us.myshopify.com", "#1001"), 0);

        let done = invoke(&rig, event(&app, "confirm_action", json!({"proposal_id": id}), true)).await;
        assert_valid(&answers, &done);
        assert_eq!(done["data"]["status"], "done", "{done}");
        let again = invoke(&rig, event(&app, "get_action", json!({"proposal_id": id}), false)).await;
        assert_valid(&answers, &again);
        assert_eq!(again["data"]["status"], "done");
        assert_eq!(app.shopify.cancel_calls("demo-us.myshopify.com", "#1001"), 1);

        let mut stranger = event(&app, "get_action", json!({"proposal_id": id}), false);
        stranger["org_id"] = json!(app.other_org());
        let hidden = invoke(&rig, stranger).await;
        assert_valid(&answers, &hidden);
        assert_eq!(hidden["error"]["code"], "proposal_not_found");

        let settled = invoke(&rig, json!({"schedule": order_actions::SETTLE_SCHEDULE})).await;
        assert_valid(&answers, &settled);
        assert_eq!(settled["ok"], true, "{settled}");
    }

    async fn a_person_approves_or_declines_a_pending_action_and_the_record_lists_it(app: TestApp) {
        let rig = setup(&app, ActionMode::Approval).await;
        let propose = || invoke(&rig, event(&app, "cancel_order", json!({"order_number": "#1001"}), false));
        let first = propose().await["data"]["proposal_id"].as_str().unwrap().to_owned();
        let waiting = invoke(&rig, event(&app, "confirm_action", json!({"proposal_id": first}), true)).await;
        assert_eq!(waiting["data"]["status"], "pending_approval", "{waiting}");

        let viewer = decide(&app.org, "viewer", &first, "approve");
        assert_eq!(send(&rig, viewer).await.1["error"]["code"], "forbidden");
        let elsewhere = send(&rig, decide(&app.other_org(), "admin", &first, "approve")).await;
        assert_eq!((elsewhere.0, elsewhere.1["error"]["code"].as_str()), (404, Some("proposal_not_found")), "another org sees nothing");
        let (status, declined) = send(&rig, decide(&app.org, "agent", &first, "decline")).await;
        assert_eq!(status, 200, "{declined}");
        assert_eq!((declined["status"].as_str(), declined["actor"].as_str()), (Some("declined"), Some("user-9")));
        let late = send(&rig, decide(&app.org, "admin", &first, "approve")).await;
        assert_eq!((late.0, late.1["error"]["code"].as_str()), (409, Some("action_not_pending")));
        assert_eq!(app.shopify.cancel_calls("demo-us.myshopify.com", "#1001"), 0);

        let second = propose().await["data"]["proposal_id"].as_str().unwrap().to_owned();
        invoke(&rig, event(&app, "confirm_action", json!({"proposal_id": second}), true)).await;
        let (status, approved) = send(&rig, decide(&app.org, "owner", &second, "approve")).await;
        assert_eq!(status, 200, "{approved}");
        assert_eq!(approved["status"], "done");
        assert_eq!(app.shopify.cancel_calls("demo-us.myshopify.com", "#1001"), 1);

        let member = |query: &[(&str, &str)]| {
            let mut e = HttpEvent::new("GET", "/shopify/actions").claims(&[("org_id", &app.org), ("role", "agent")]);
            for (k, v) in query {
                e = e.query(k, v);
            }
            e
        };
        let (status, listed) = send(&rig, member(&[])).await;
        assert_eq!(status, 200, "{listed}");
        let ids: Vec<_> = listed["actions"].as_array().unwrap().iter().map(|a| a["action_id"].as_str().unwrap()).collect();
        assert_eq!(ids, [second.as_str(), first.as_str()], "newest first");
        let keys: Vec<_> = listed["actions"][0].as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 9, "{keys:?}");
        assert!(listed["next_cursor"].is_null());
        let (_, done) = send(&rig, member(&[("status", "done"), ("shop_domain", "demo-us"), ("order", "#1001")])).await;
        assert_eq!(done["actions"].as_array().unwrap().len(), 1, "{done}");
        for bad in [[("status", "finished")], [("color", "red")], [("shop_domain", "shop.example.com")]] {
            assert_eq!(send(&rig, member(&bad)).await.1["error"]["code"], "invalid_request", "{bad:?}");
        }
        let other = HttpEvent::new("GET", "/shopify/actions").claims(&[("org_id", &app.other_org()), ("role", "admin")]);
        assert_eq!(send(&rig, other).await.1["actions"], json!([]), "another org sees nothing");
    }

    async fn the_record_lists_one_orders_actions_by_its_name_or_its_id(app: TestApp) {
        let rig = setup(&app, ActionMode::Live).await;
        app.shopify.update_shop("demo-us.myshopify.com", |shop| {
            shop.orders.push(FakeOrder::unfulfilled("#1002", 5, JANE));
        });
        let mut proposed = Vec::new();
        for order in ["#1001", "#1002", "#1001"] {
            let answer = invoke(&rig, event(&app, "cancel_order", json!({"order_number": order}), false)).await;
            proposed.push((order, answer["data"]["proposal_id"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned()));
        }
        let list = |order: &str| {
            HttpEvent::new("GET", "/shopify/actions")
                .claims(&[("org_id", &app.org), ("role", "agent")])
                .query("order", order)
        };

        let (status, by_name) = send(&rig, list("#1002")).await;
        let gid = app.shopify.order_gid("demo-us.myshopify.com", "#1001");
        let (_, by_id) = send(&rig, list(&gid)).await;

        assert_eq!(status, 200, "{by_name}");
        let ids = |body: &Value| -> Vec<String> {
            body["actions"].as_array().unwrap().iter().map(|a| a["action_id"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(ids(&by_name), [proposed[1].1.clone()], "only #1002's action: {by_name}");
        assert_eq!(by_name["actions"][0]["order_name"], "#1002");
        assert_eq!(ids(&by_id), [proposed[2].1.clone(), proposed[0].1.clone()], "#1001's two actions, newest first: {by_id}");
        let (_, none) = send(&rig, list("#9999")).await;
        assert_eq!(none["actions"], json!([]));
    }
}
