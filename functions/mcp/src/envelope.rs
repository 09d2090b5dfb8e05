//! The JSON-RPC envelope of a `POST /mcp` body, checked before rmcp reads it, so that every
//! malformed message is answered with a JSON-RPC error object (rmcp itself answers a body it
//! cannot read with a plain-text 415): `-32700` for a body that is not JSON, `-32600` for one
//! that is not a single JSON-RPC 2.0 request or notification (a batch array included: MCP's
//! revisions since 2025-06-18 have none), `-32602` for a known method whose params do not fit
//! it. Unknown methods pass: the server answers them `-32601`.

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::{Body, Response};
use rmcp::model::{
    CallToolRequestMethod, CancelTaskMethod, CancelledNotificationMethod, ClientJsonRpcMessage,
    ClientNotification, ClientRequest, CompleteRequestMethod, ConstString, DiscoverRequestMethod,
    ErrorCode, GetPromptRequestMethod, GetSkillRequestMethod, GetTaskMethod,
    InitializeResultMethod, InitializedNotificationMethod, ListPromptsRequestMethod,
    ListResourceTemplatesRequestMethod, ListResourcesRequestMethod, ListSkillsRequestMethod,
    ListToolsRequestMethod, PingRequestMethod, ProgressNotificationMethod,
    ReadResourceDirectoryRequestMethod, ReadResourceRequestMethod,
    RootsListChangedNotificationMethod, SetLevelRequestMethod, SubscribeRequestMethod,
    SubscriptionsListenRequestMethod, UnsubscribeRequestMethod, UpdateTaskMethod,
};
use serde_json::{json, Value};

/// Why a body was not handed on.
#[derive(Debug, PartialEq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: &'static str,
    /// The request's id when it could be read, else `null`.
    pub id: Value,
}

impl Refusal {
    fn new(code: ErrorCode, message: &'static str, id: Value) -> Self {
        Self { code, message, id }
    }

    /// The JSON-RPC error object, with HTTP 400 (MCP: a POST the server cannot accept).
    pub fn response(&self) -> Response<Body> {
        error_response(400, self.code, self.message, &self.id)
    }
}

/// A JSON-RPC error response with `status`.
pub fn error_response(status: u16, code: ErrorCode, message: &str, id: &Value) -> Response<Body> {
    let body = json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code.0, "message": message},
    });
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::Text(body.to_string()))
        .expect("a valid status and header always build")
}

/// Where a 2026-07-28 request names its protocol revision itself (in `params._meta`).
const PER_REQUEST_REVISION: &str = "io.modelcontextprotocol/protocolVersion";

/// A message [`check`] let through.
#[derive(Debug)]
pub struct Checked {
    /// The message as checked, to hand on instead of the body: a key sent twice appears once
    /// (its last value, as the check read it), and an `id` written as a whole-number float
    /// (`1.0`, the integer 1 to JSON) as that integer.
    pub body: String,
    /// Whether the message names the revision it asks for itself (`initialize`'s
    /// `protocolVersion`, a 2026-07-28 request's `_meta`): rmcp negotiates those, answering a
    /// revision not served with the ones that are.
    pub names_its_revision: bool,
    /// The request's id (`null` for a notification), for an error answered before rmcp
    /// reads the message.
    pub id: Value,
}

/// Checks that `body` is one JSON-RPC 2.0 request or notification rmcp can read.
pub fn check(body: &[u8]) -> Result<Checked, Refusal> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        Refusal::new(
            ErrorCode::PARSE_ERROR,
            "Parse error: the body is not JSON.",
            Value::Null,
        )
    })?;
    let mut message = match value {
        Value::Object(message) => message,
        Value::Array(_) => return Err(Refusal::new(
            ErrorCode::INVALID_REQUEST,
            "Invalid request: batches are not supported; send one JSON-RPC message per request.",
            Value::Null,
        )),
        _ => {
            return Err(Refusal::new(
                ErrorCode::INVALID_REQUEST,
                "Invalid request: the body must be a JSON-RPC 2.0 message object.",
                Value::Null,
            ))
        }
    };
    // Ids are strings or integers JSON carries exactly everywhere (|id| ≤ 2^53 - 1, as I-JSON
    // asks); MCP forbids null ones.
    let id = match message.get("id") {
        None => Value::Null,
        Some(id @ Value::String(_)) => id.clone(),
        Some(Value::Number(n)) if exact_integer(n).is_some() => {
            let id = Value::from(exact_integer(n).unwrap_or_default());
            message.insert("id".into(), id.clone());
            id
        }
        Some(_) => return Err(Refusal::new(
            ErrorCode::INVALID_REQUEST,
            "Invalid request: id must be a string or an integer between -(2^53 - 1) and 2^53 - 1.",
            Value::Null,
        )),
    };
    let invalid = |message| {
        Err(Refusal::new(
            ErrorCode::INVALID_REQUEST,
            message,
            id.clone(),
        ))
    };
    if message.get("jsonrpc") != Some(&json!("2.0")) {
        return invalid("Invalid request: jsonrpc must be \"2.0\".");
    }
    match message.get("method") {
        Some(Value::String(_)) => {}
        Some(_) => return invalid("Invalid request: method must be a string."),
        None => {
            return invalid("Invalid request: this server takes requests and notifications only.")
        }
    }
    match message.get("params") {
        None | Some(Value::Object(_)) => {}
        Some(_) => {
            return Err(Refusal::new(
                ErrorCode::INVALID_PARAMS,
                "Invalid params: params must be an object.",
                id,
            ))
        }
    }
    let names_its_revision = message.get("method") == Some(&json!("initialize"))
        || message
            .get("params")
            .and_then(|params| params.get("_meta"))
            .and_then(|meta| meta.get(PER_REQUEST_REVISION))
            .is_some();
    // rmcp reads a standard method whose params do not fit it as a custom method (which the
    // server would answer -32601): that is a params error.
    let restated = Value::Object(message.clone()).to_string();
    let fits = match serde_json::from_value::<ClientJsonRpcMessage>(Value::Object(message)) {
        Ok(ClientJsonRpcMessage::Request(request)) => match &request.request {
            ClientRequest::CustomRequest(custom) => {
                !STANDARD_METHODS.contains(&custom.method.as_str())
            }
            _ => true,
        },
        Ok(ClientJsonRpcMessage::Notification(notification)) => match &notification.notification {
            ClientNotification::CustomNotification(custom) => {
                !STANDARD_METHODS.contains(&custom.method.as_str())
            }
            _ => true,
        },
        Ok(_) => true,
        Err(_) => false,
    };
    if !fits {
        return Err(Refusal::new(
            ErrorCode::INVALID_PARAMS,
            "Invalid params: the params do not fit the method.",
            id,
        ));
    }
    Ok(Checked {
        body: restated,
        names_its_revision,
        id,
    })
}

/// The largest integer every JSON reader holds exactly (2^53 - 1).
pub const MAX_SAFE_ID: i64 = (1 << 53) - 1;

/// The integer `n` is, written as one (`7`) or as a whole-number float (`7.0`, `7e0`), when
/// it is within ±[`MAX_SAFE_ID`]; beyond, a float no longer tells one integer from the next.
fn exact_integer(n: &serde_json::Number) -> Option<i64> {
    let integer = match n.as_i64() {
        Some(integer) => integer,
        None => {
            let float = n.as_f64()?;
            if float.fract() != 0.0 || float.abs() > MAX_SAFE_ID as f64 {
                return None;
            }
            float as i64
        }
    };
    (-MAX_SAFE_ID..=MAX_SAFE_ID)
        .contains(&integer)
        .then_some(integer)
}

/// The methods a client sends that rmcp models (its requests and notifications).
const STANDARD_METHODS: [&str; 25] = [
    PingRequestMethod::VALUE,
    InitializeResultMethod::VALUE,
    DiscoverRequestMethod::VALUE,
    CompleteRequestMethod::VALUE,
    SetLevelRequestMethod::VALUE,
    GetPromptRequestMethod::VALUE,
    ListPromptsRequestMethod::VALUE,
    ListResourcesRequestMethod::VALUE,
    ListResourceTemplatesRequestMethod::VALUE,
    ReadResourceRequestMethod::VALUE,
    SubscriptionsListenRequestMethod::VALUE,
    SubscribeRequestMethod::VALUE,
    UnsubscribeRequestMethod::VALUE,
    CallToolRequestMethod::VALUE,
    ListToolsRequestMethod::VALUE,
    GetTaskMethod::VALUE,
    UpdateTaskMethod::VALUE,
    CancelTaskMethod::VALUE,
    ListSkillsRequestMethod::VALUE,
    GetSkillRequestMethod::VALUE,
    ReadResourceDirectoryRequestMethod::VALUE,
    CancelledNotificationMethod::VALUE,
    ProgressNotificationMethod::VALUE,
    InitializedNotificationMethod::VALUE,
    RootsListChangedNotificationMethod::VALUE,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> Option<i32> {
        check(body.as_bytes()).err().map(|refusal| refusal.code.0)
    }

    #[test]
    fn the_id_is_kept_for_an_answer_given_before_rmcp_reads_the_message() {
        let id = |body: &str| check(body.as_bytes()).map(|checked| checked.id).ok();
        assert_eq!(
            id(r#"{"jsonrpc":"2.0","id":"a-1","method":"ping"}"#),
            Some(json!("a-1"))
        );
        assert_eq!(
            id(r#"{"jsonrpc":"2.0","id":1.0,"method":"ping"}"#),
            Some(json!(1))
        );
        assert_eq!(
            id(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Some(Value::Null),
            "a notification has none"
        );
    }

    #[test]
    fn well_formed_requests_and_notifications_pass_unknown_methods_too() {
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"x","arguments":{}}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"no/such/method","params":{}}"#,
        ] {
            assert_eq!(code(body), None, "{body}");
        }
    }

    #[test]
    fn each_kind_of_malformed_body_gets_its_json_rpc_code() {
        assert_eq!(code(""), Some(-32700));
        assert_eq!(code("{\"jsonrpc\":"), Some(-32700));
        assert_eq!(
            code(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#),
            Some(-32600)
        );
        assert_eq!(code("7"), Some(-32600));
        assert_eq!(
            code(r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#),
            Some(-32600)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1e40,"method":"ping"}"#),
            Some(-32600)
        );
        for beyond in [i64::MIN.to_string(), i64::MAX.to_string()] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{beyond},"method":"ping"}}"#);
            assert_eq!(code(&body), Some(-32600), "{body}");
        }
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#),
            Some(-32600)
        );
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"method":7}"#), Some(-32600));
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
            Some(-32600)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1]}"#),
            Some(-32602)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}"#),
            Some(-32602)
        );
        assert_eq!(
            code(
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":"y"}}"#
            ),
            Some(-32602)
        );
    }

    #[test]
    fn a_whole_number_float_id_is_restated_as_the_integer_it_is() {
        let restated = check(br#"{"jsonrpc":"2.0","id":1.0,"method":"ping"}"#).unwrap();
        let restated: Value = serde_json::from_str(&restated.body).unwrap();
        assert_eq!(restated["id"], json!(1));
        assert!(restated["id"].is_i64());
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#),
            Some(-32600)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1e19,"method":"ping"}"#),
            Some(-32600)
        );
    }

    #[test]
    fn ids_beyond_what_json_carries_exactly_are_invalid_requests() {
        for id in [
            "9007199254740991",
            "-9007199254740991",
            "9007199254740991.0",
        ] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
            assert_eq!(code(&body), None, "{id}");
        }
        for id in [
            "9007199254740992",
            "-9007199254740992",
            "9223372036854775807",
            "-9223372036854775809",
            "18446744073709551615",
            "9007199254740992.0",
        ] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
            assert_eq!(code(&body), Some(-32600), "{id}");
        }
    }

    #[test]
    fn a_key_sent_twice_is_handed_on_once_as_the_check_read_it() {
        let restated =
            check(br#"{"jsonrpc":"2.0","id":1,"id":"two","method":"tools/list","method":"ping"}"#)
                .unwrap()
                .body;
        assert_eq!(
            serde_json::from_str::<Value>(&restated).unwrap(),
            json!({"jsonrpc": "2.0", "id": "two", "method": "ping"})
        );
        assert_eq!(restated.matches("\"id\"").count(), 1);
    }

    #[test]
    fn initialize_and_requests_with_a_per_request_revision_name_their_revision_themselves() {
        let names = |body: &str| check(body.as_bytes()).unwrap().names_its_revision;
        assert!(names(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"a","version":"1"}}}"#
        ));
        assert!(names(
            r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2027-01-01"}}}"#
        ));
        assert!(!names(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#));
        assert!(!names(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"progressToken":1}}}"#
        ));
        assert!(!names(
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#
        ));
    }

    #[test]
    fn the_id_is_echoed_when_it_can_be_read() {
        let refusal =
            check(br#"{"jsonrpc":"2.0","id":"r-1","method":"tools/call","params":{"name":5}}"#)
                .unwrap_err();
        assert_eq!(refusal.id, json!("r-1"));
    }
}
