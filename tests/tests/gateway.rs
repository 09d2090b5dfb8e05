//! The local gateway is as strict as API Gateway: the dashboard routes run only with a bearer
//! token its JWT authorizer accepts, the function sees that token's claims (never a header's
//! say-so), the public routes get the request as it came, and a method a path does not
//! declare is 405 with `Allow`.

mod common;

use std::sync::{Arc, Mutex};

use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use serde_json::{json, Value};
use tests::dev_issuer::{sign_with_header, DevIssuer, DevKey, KeyType};
use tests::fake_shopify::FakeShop;
use tests::gateway::{self, Handler, JwtAuthorizer, Route, WEBHOOKS_ROUTE};

const TOKEN: &str = "shpat_0123456789abcdef0123456789abcdef";
const US: &str = "demo-us.myshopify.com";

/// What a function behind the gateway was handed.
#[derive(Clone, Debug, Default)]
struct Seen {
    claims: Option<std::collections::HashMap<String, String>>,
    authorization: Option<String>,
}

/// A function that records each request it gets and answers 200.
fn probe(method: &'static str, route: &'static str) -> (Route, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = seen.clone();
    let handler: Handler = Arc::new(move |req: lambda_http::Request| {
        let claims = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx
                .authorizer
                .as_ref()
                .and_then(|a| a.jwt.as_ref())
                .map(|jwt| jwt.claims.clone()),
            _ => None,
        };
        let authorization = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        record.lock().unwrap().push(Seen {
            claims,
            authorization,
        });
        Box::pin(async {
            Ok(lambda_http::Response::builder()
                .status(200)
                .body(lambda_http::Body::Text("{}".into()))
                .unwrap())
        })
    });
    (
        Route {
            method,
            route,
            handler,
        },
        seen,
    )
}

/// A gateway over `routes` trusting `issuer`; its base URL.
async fn gateway_of(issuer: &DevIssuer, routes: Vec<Route>) -> String {
    gateway::serve(gateway::routes_app(routes, JwtAuthorizer::of(issuer))).await
}

async fn call(
    method: &str,
    url: &str,
    authorization: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = tests::http_client().request(method, url);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn a_dashboard_request_without_a_token_is_refused_before_the_function_runs() {
    let issuer = DevIssuer::start().await;
    let (route, seen) = probe("GET", "/shopify/stores");
    let base = gateway_of(&issuer, vec![route]).await;

    let (status, _, body) = call("GET", &format!("{base}/shopify/stores"), None).await;

    assert_eq!(status, 401);
    assert_eq!(body, json!({"message": "Unauthorized"}));
    assert!(seen.lock().unwrap().is_empty(), "the function never ran");
}

#[tokio::test]
async fn expired_foreign_and_forged_tokens_are_refused_as_api_gateway_refuses_them() {
    let issuer = DevIssuer::start().await;
    let (route, seen) = probe("GET", "/shopify/stores");
    let base = gateway_of(&issuer, vec![route]).await;
    let mut expired = issuer.claims("acme-org", "admin");
    expired["exp"] = json!(now() - 120);
    let mut foreign = issuer.claims("acme-org", "admin");
    foreign["iss"] = json!("https://other-idp.example.com/");
    let mut elsewhere = issuer.claims("acme-org", "admin");
    elsewhere["aud"] = json!("another-api");
    let kid = jsonwebtoken::decode_header(issuer.token("acme-org", "admin"))
        .unwrap()
        .kid;
    let stranger = DevKey::generate(KeyType::Rs256);
    let forged = sign_with_header(
        &json!({"alg": "RS256", "typ": "JWT", "kid": kid}),
        &issuer.claims("acme-org", "admin"),
        |input| stranger.signature(input),
    );
    issuer.rotate(KeyType::Es256);
    let es256 = issuer.token("acme-org", "admin");

    for (what, token) in [
        ("expired", issuer.sign(&expired)),
        ("another issuer", issuer.sign(&foreign)),
        ("another audience", issuer.sign(&elsewhere)),
        ("signed by an unpublished key", forged),
        ("ES256 (API Gateway verifies RSA only)", es256),
        ("not a JWT", "x".into()),
    ] {
        let (status, headers, body) = call(
            "GET",
            &format!("{base}/shopify/stores"),
            Some(&bearer(&token)),
        )
        .await;

        assert_eq!(status, 401, "{what}");
        assert_eq!(body, json!({"message": "Unauthorized"}), "{what}");
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
            "{what}: {challenge}"
        );
    }
    assert!(seen.lock().unwrap().is_empty(), "the function never ran");
}

#[tokio::test]
async fn the_function_sees_the_tokens_claims_as_api_gateway_hands_them_on() {
    let issuer = DevIssuer::start().await;
    let (route, seen) = probe("GET", "/shopify/stores");
    let base = gateway_of(&issuer, vec![route]).await;
    let mut claims = issuer.claims("acme-org", "agent");
    claims["aud"] = json!(["another-api", issuer.audience]);
    claims["email_verified"] = json!(true);
    let token = issuer.sign(&claims);

    // A token alone decides: no header can name another org or role.
    let response = tests::http_client()
        .get(format!("{base}/shopify/stores"))
        .header("authorization", &token)
        .header("x-dev-org-id", "victim-org")
        .header("x-dev-role", "admin")
        .send()
        .await
        .unwrap();

    assert_eq!(
        response.status(),
        200,
        "a token without `Bearer ` is the identity source too"
    );
    let seen = seen.lock().unwrap().clone();
    let claims = seen[0].claims.clone().expect("an authorizer context");
    assert_eq!(claims["org_id"], "acme-org");
    assert_eq!(claims["role"], "agent");
    assert_eq!(claims["sub"], "dev-user");
    assert_eq!(claims["email_verified"], "true");
    assert_eq!(claims["aud"], format!("[another-api {}]", issuer.audience));
    assert_eq!(seen[0].authorization.as_deref(), Some(token.as_str()));
}

#[tokio::test]
async fn public_routes_get_the_authorization_header_untouched_and_no_claims() {
    let issuer = DevIssuer::start().await;
    let (webhooks, webhooks_seen) = probe("POST", WEBHOOKS_ROUTE);
    let (mcp, mcp_seen) = probe("POST", "/mcp");
    let (document, document_seen) = probe("GET", "/.well-known/oauth-protected-resource/mcp");
    let base = gateway_of(&issuer, vec![webhooks, mcp, document]).await;

    let (status, _, _) = call(
        "POST",
        &format!("{base}{WEBHOOKS_ROUTE}"),
        Some("Bearer not-checked-here"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = call("POST", &format!("{base}/mcp"), Some("Bearer opaque")).await;
    assert_eq!(status, 200);
    let (status, _, _) = call(
        "GET",
        &format!("{base}/.well-known/oauth-protected-resource/mcp"),
        None,
    )
    .await;
    assert_eq!(status, 200);

    let webhook = webhooks_seen.lock().unwrap()[0].clone();
    assert_eq!(
        webhook.authorization.as_deref(),
        Some("Bearer not-checked-here")
    );
    assert!(webhook.claims.is_none());
    let mcp = mcp_seen.lock().unwrap()[0].clone();
    assert_eq!(mcp.authorization.as_deref(), Some("Bearer opaque"));
    assert!(mcp.claims.is_none());
    assert!(document_seen.lock().unwrap()[0].claims.is_none());
}

#[tokio::test]
async fn a_method_a_path_does_not_declare_is_405_with_the_declared_methods() {
    let issuer = DevIssuer::start().await;
    let routes = [
        ("GET", "/shopify/stores"),
        ("POST", "/shopify/stores"),
        ("GET", "/shopify/stores/{shop}"),
        ("DELETE", "/shopify/stores/{shop}"),
    ]
    .into_iter()
    .map(|(method, route)| probe(method, route).0)
    .collect();
    let base = gateway_of(&issuer, routes).await;
    let token = bearer(&issuer.token("acme-org", "admin"));

    let (status, headers, _) = call("TRACE", &format!("{base}/shopify/stores"), Some(&token)).await;
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "GET, POST");

    let (status, headers, _) = call("PATCH", &format!("{base}/shopify/stores/{US}"), None).await;
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "DELETE, GET");

    let (status, _, body) = call("GET", &format!("{base}/shopify/nowhere"), Some(&token)).await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"message": "Not Found"}));
}

both_backends! {
    async fn the_org_the_functions_serve_is_the_one_the_token_names(app: TestApp) {
        app.shopify.add_shop(FakeShop::new("demo-us").with_token(TOKEN));
        assert_eq!(
            app.connect(json!({"shop_domain": US, "access_token": TOKEN})).await.0,
            201
        );
        let issuer = DevIssuer::start().await;
        let base = gateway_of(&issuer, gateway::dashboard_routes(app.services.clone())).await;
        let ours = bearer(&issuer.token(&app.org, "admin"));
        let theirs = bearer(&issuer.token(&app.other_org(), "admin"));

        let (status, _, body) = call("GET", &format!("{base}/shopify/stores"), Some(&ours)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["stores"][0]["shop_domain"], US);

        let (status, _, body) = call("GET", &format!("{base}/shopify/stores"), Some(&theirs)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["stores"], json!([]));
        let (status, _, body) =
            call("DELETE", &format!("{base}/shopify/stores/{US}"), Some(&theirs)).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(app.records().await.len(), 1, "another org's token removed nothing");
    }

    async fn a_valid_token_without_the_org_claim_reaches_the_function_which_refuses_it(app: TestApp) {
        let issuer = DevIssuer::start().await;
        let base = gateway_of(&issuer, gateway::dashboard_routes(app.services.clone())).await;
        let mut claims = issuer.claims(&app.org, "admin");
        claims.as_object_mut().unwrap().remove("org_id");

        let (status, _, body) = call(
            "GET",
            &format!("{base}/shopify/stores"),
            Some(&bearer(&issuer.sign(&claims))),
        )
        .await;

        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "unauthorized");
    }

    async fn an_agents_token_may_read_but_not_disconnect(app: TestApp) {
        app.shopify.add_shop(FakeShop::new("demo-us").with_token(TOKEN));
        assert_eq!(
            app.connect(json!({"shop_domain": US, "access_token": TOKEN})).await.0,
            201
        );
        let issuer = DevIssuer::start().await;
        let base = gateway_of(&issuer, gateway::dashboard_routes(app.services.clone())).await;
        let agent = bearer(&issuer.token(&app.org, "agent"));

        let (status, _, _) = call("GET", &format!("{base}/shopify/stores"), Some(&agent)).await;
        assert_eq!(status, 200);
        let (status, _, body) =
            call("DELETE", &format!("{base}/shopify/stores/{US}"), Some(&agent)).await;

        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");
        assert_eq!(app.records().await.len(), 1);
    }
}
