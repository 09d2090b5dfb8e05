//! `POST /admin/oauth/access_token`: the client-credentials exchange.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{faults, Received, Shared};

#[derive(Deserialize)]
pub struct TokenRequest {
    grant_type: String,
    client_id: String,
    client_secret: String,
}

pub async fn access_token(
    State(inner): State<Shared>,
    Path(shop): Path<String>,
    Form(request): Form<TokenRequest>,
) -> Response {
    inner.lock().unwrap().received.push(Received {
        shop: shop.clone(),
        path: "oauth/access_token".into(),
        operation: None,
        access_token: None,
        api_version: None,
        variables: Value::Null,
    });
    if let Some(answer) = super::misbehave(&inner, &shop).await {
        return answer;
    }
    let mut guard = inner.lock().unwrap();
    let state = &mut *guard;
    let Some(record) = state.shops.get_mut(&shop) else {
        return faults::shopify_error(404, None);
    };
    let valid = request.grant_type == "client_credentials"
        && record.client.as_ref().is_some_and(|(id, secret)| {
            *id == request.client_id && *secret == request.client_secret
        });
    if !valid {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_client", "error_description": "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."})),
        )
            .into_response();
    }
    state.issued += 1;
    let token = format!(
        "shpat_cc_{}_{}",
        record.domain.split('.').next().unwrap(),
        state.issued
    );
    record.issued_tokens.push(token.clone());
    Json(json!({"access_token": token, "scope": record.scopes.join(","), "expires_in": record.token_ttl}))
        .into_response()
}
