//! Real API Gateway HTTP API (payload v2) events, as the service sends them to a function,
//! parsed by `lambda_http` exactly as in Lambda.

use std::collections::HashMap;

use lambda_http::Request;
use serde_json::{json, Value};

/// One request to a dashboard route.
#[derive(Clone, Debug)]
pub struct HttpEvent {
    pub method: String,
    /// The route as configured, e.g. `/shopify/stores/{shop}`.
    pub route: String,
    /// The concrete path, e.g. `/shopify/stores/example.myshopify.com`.
    pub path: String,
    pub path_parameters: HashMap<String, String>,
    pub query: Vec<(String, String)>,
    pub body: Option<String>,
    /// JWT claims the authorizer validated; `None` means no authorizer context at all.
    pub claims: Option<HashMap<String, String>>,
    pub headers: HashMap<String, String>,
}

impl HttpEvent {
    pub fn new(method: &str, route: &str) -> Self {
        Self {
            method: method.into(),
            route: route.into(),
            path: route.into(),
            path_parameters: HashMap::new(),
            query: Vec::new(),
            body: None,
            claims: None,
            headers: HashMap::new(),
        }
    }

    pub fn path_param(mut self, name: &str, value: &str) -> Self {
        self.path = self.path.replace(&format!("{{{name}}}"), value);
        self.path_parameters.insert(name.into(), value.into());
        self
    }

    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.body = Some(body.to_string());
        self.headers
            .insert("content-type".into(), "application/json".into());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_ascii_lowercase(), value.into());
        self
    }

    pub fn raw_body(mut self, body: &str) -> Self {
        self.body = Some(body.into());
        self
    }

    pub fn claims(mut self, claims: &[(&str, &str)]) -> Self {
        self.claims = Some(
            claims
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        );
        self
    }

    /// The event JSON API Gateway would deliver.
    pub fn to_json(&self) -> Value {
        let raw_query = self
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut query_parameters = serde_json::Map::new();
        for (k, v) in &self.query {
            query_parameters.insert(k.clone(), Value::String(v.clone()));
        }
        let route_key = format!("{} {}", self.method, self.route);
        let mut context = json!({
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {"method": self.method, "path": self.path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "tests"},
            "requestId": format!("req-{}", fastrand::u64(..)),
            "routeKey": route_key,
            "stage": "$default",
            "time": "25/Nov/2026:20:00:00 +0000",
            "timeEpoch": 1_795_636_800_000u64,
        });
        if let Some(claims) = &self.claims {
            context["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
        }
        let mut event = json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": self.path,
            "rawQueryString": raw_query,
            "headers": self.headers,
            "requestContext": context,
            "isBase64Encoded": false,
        });
        if !query_parameters.is_empty() {
            event["queryStringParameters"] = Value::Object(query_parameters);
        }
        if !self.path_parameters.is_empty() {
            event["pathParameters"] = json!(self.path_parameters);
        }
        if let Some(body) = &self.body {
            event["body"] = Value::String(body.clone());
        }
        event
    }

    /// The `lambda_http::Request` the function receives.
    pub fn into_request(self) -> Request {
        lambda_http::request::from_str(&self.to_json().to_string())
            .expect("a valid API Gateway v2 event")
    }

    /// The request as Lambda delivers it to an invocation that times out in `timeout`.
    pub fn into_invocation(self, timeout: std::time::Duration) -> Request {
        use lambda_http::RequestExt;
        let mut context = lambda_http::Context::default();
        context.request_id = format!("invocation-{}", fastrand::u64(..));
        context.deadline = deadline_ms(timeout);
        self.into_request().with_lambda_context(context)
    }
}

/// Lambda's `deadline` for an invocation starting now with `timeout`: ms since the epoch.
pub fn deadline_ms(timeout: std::time::Duration) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    (now + timeout).as_millis() as u64
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
