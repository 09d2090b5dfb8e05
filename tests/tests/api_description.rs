//! `openapi.yaml` says what the code accepts: a shop domain matches the spec's pattern exactly
//! when `ShopDomain::parse` takes it, every email the spec's pattern and format take is one the
//! sidebar takes, and what JSON Schema calls valid (a whole number written `120.0`, an order
//! name of 128 characters) the handlers take too. `infra/api-test` holds the running API to the
//! same description with generated data; these pin the cases it found.

mod common;

use serde_json::{json, Value};
use shared::domain::{Email, ShopDomain};
use tests::events::HttpEvent;

/// The `pattern` of one of `openapi.yaml`'s component schemas (written `pattern: '...'`).
fn spec_pattern(schema: &str) -> String {
    let spec = include_str!("../../openapi.yaml");
    let start = spec
        .find(&format!("\n    {schema}:\n"))
        .unwrap_or_else(|| panic!("openapi.yaml has no schema {schema}"));
    let line = spec[start..]
        .lines()
        .find_map(|line| line.trim().strip_prefix("pattern: '"))
        .expect("the schema has a single-quoted pattern");
    line.strip_suffix('\'')
        .expect("the pattern ends its line")
        .replace("''", "'")
}

fn validator(schema: Value) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("a valid JSON Schema")
}

const SHOP_DOMAINS: &[&str] = &[
    "demo-us",
    "demo-us.myshopify.com",
    "DEMO-US.MyShopify.COM",
    "https://demo-us.myshopify.com/admin",
    "http://demo-us/whatever?x=1#y",
    "HTTPS://demo",
    "0",
    "1234",
    "a-",
    "demo--us",
    "demo.myshopify.com/",
    "-demo",
    "demo_us",
    "demo us",
    "demo.example.com",
    "www.demo.myshopify.com",
    "myshopify.com",
    ".myshopify.com",
    "demo.myshopify.com:443",
    "user@demo.myshopify.com",
    "1.2.3.4",
    "[::1]",
    "https://",
    "ftp://demo",
    "démo",
    "demo%2e",
    "demo/",
    "/demo",
    "https:/demo",
    "",
];

#[test]
fn a_shop_domain_matches_the_spec_exactly_when_the_code_takes_it() {
    let spec = validator(json!({
        "type": "string", "minLength": 1, "maxLength": 255,
        "pattern": spec_pattern("ShopDomainInput"),
    }));
    let longest = "a".repeat(63);
    let too_long = "a".repeat(64);
    let long_path = format!("https://{longest}.myshopify.com/{}", "p".repeat(255 - 86));
    let longer_path = format!("{long_path}p");
    let owned = [longest, too_long, long_path, longer_path];
    for raw in SHOP_DOMAINS
        .iter()
        .copied()
        .chain(owned.iter().map(String::as_str))
    {
        assert_eq!(
            spec.is_valid(&json!(raw)),
            ShopDomain::parse(raw).is_ok(),
            "{raw:?}: the spec and ShopDomain::parse disagree"
        );
    }
}

#[test]
fn every_email_the_spec_takes_the_sidebar_takes() {
    let spec = validator(json!({
        "type": "string", "format": "email", "minLength": 5, "maxLength": 254,
        "pattern": spec_pattern("EmailInput"),
    }));
    let local = "l".repeat(64);
    let label = "d".repeat(63);
    let long = format!("{local}@{label}.{label}.{}", "e".repeat(61));
    for raw in [
        "jane@example.com",
        "a@b.c",
        "o'neil+tag@mail.example.co.uk",
        "first.last@x-y.z",
        "!#$%&'*+-/=?^_`{|}~@example.com",
        local.as_str(),
        long.as_str(),
    ] {
        if spec.is_valid(&json!(raw)) {
            assert!(Email::parse(raw).is_ok(), "{raw:?} is valid by the spec");
        }
    }
    assert!(spec.is_valid(&json!(long)), "254 characters fit");
    assert!(spec.is_valid(&json!("jane@example.com")));
    for refused in [
        "jane",
        "jane@",
        "@example.com",
        "jane@example",
        "jane@@example.com",
        "ja ne@example.com",
        "jane@exa..mple.com",
        "jane@.example.com",
        "jane@example.com.",
        "\"jane\"@example.com",
    ] {
        assert!(!spec.is_valid(&json!(refused)), "{refused:?}");
        assert!(Email::parse(refused).is_err(), "{refused:?}");
    }
}

both_backends! {
    async fn a_window_written_as_a_whole_number_with_a_fraction_of_zero_is_saved(app: TestApp) {
        let settings = json!({
            "actions": {"get_order_details": true, "search_products": true, "get_shop_details": true},
            "require_email_match": true,
            "order_actions": {
                "cancel_order": {"enabled": true, "mode": "live", "window_minutes": 120.0},
                "update_shipping_address": {"enabled": false, "mode": "live", "window_minutes": 60, "same_country_only": true},
                "request_return": {"enabled": false, "mode": "live", "window_days": 3e1, "excluded_tags": []}
            }
        });

        let (status, body) = app.put_settings(settings).await;

        assert_eq!(status, 200, "{body}");
        assert_eq!(body["order_actions"]["cancel_order"]["window_minutes"], 120);
        assert_eq!(body["order_actions"]["cancel_order"]["approval_above"], Value::Null);
        assert_eq!(body["order_actions"]["request_return"]["window_days"], 30);
        let (_, stored) = app.send(app.as_admin("GET", "/shopify/settings")).await;
        assert_eq!(stored["order_actions"]["cancel_order"]["window_minutes"], 120);
    }

    async fn a_window_with_a_fraction_is_refused(app: TestApp) {
        let settings = json!({
            "actions": {"get_order_details": true, "search_products": true, "get_shop_details": true},
            "require_email_match": true,
            "order_actions": {
                "cancel_order": {"enabled": true, "mode": "live", "window_minutes": 120.5},
                "update_shipping_address": {"enabled": false, "mode": "live", "window_minutes": 60, "same_country_only": true},
                "request_return": {"enabled": false, "mode": "live", "window_days": 30, "excluded_tags": []}
            }
        });

        let (status, body) = app.put_settings(settings).await;

        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_request");
    }

    async fn an_order_filter_is_measured_in_characters_as_the_spec_measures_it(app: TestApp) {
        let rig = tests::actions::ActionRig::new(&app).await;
        let routes = tests::gateway::action_routes(rig.ports.clone());
        let list = &routes.iter().find(|r| r.route == "/shopify/actions").unwrap().handler;
        let with_order = |order: String| {
            HttpEvent::new("GET", "/shopify/actions")
                .claims(&[("org_id", app.org.as_str()), ("role", "agent")])
                .query("order", &order)
                .into_request()
        };

        let fits = list(with_order("𝕿".repeat(128))).await.unwrap();
        let too_long = list(with_order("#".repeat(129))).await.unwrap();

        assert_eq!(fits.status(), 200, "128 characters of 4 bytes each");
        assert_eq!(too_long.status(), 400);
    }
}
