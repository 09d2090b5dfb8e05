//! A stand-in for the platform's identity provider, for the local run and the tests: a signing
//! key generated at start, its JWKS served over plain `http` on loopback (with the OpenID
//! discovery document pointing at it, as API Gateway's authorizer reads it), and tokens minted
//! with chosen claims.
//!
//! `POST /dev/token` mints one from headers, so a token can be had with curl: `X-Dev-Org-Id`
//! (default `demo-org`; `none` for a token without the org claim), `X-Dev-Role` (default
//! `admin`), `X-Dev-Sub` (default `dev-user`), `X-Dev-Email`, `X-Dev-Email-Verified`
//! (`true`/`false`), `X-Dev-Expires-In` (seconds, default 3600; negative for an expired token),
//! `X-Dev-Issuer` and `X-Dev-Audience` (another issuer or audience, to see the refusal). The
//! answer is the token itself. These headers only shape a token: whatever it says, the gateway
//! and the functions check it like any other.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use shared::bearer::BearerConfig;
use shared::config::AuthConfig;

/// The audience the dev issuer mints for, unless told otherwise.
pub const AUDIENCE: &str = "shopify-connector-local";

/// Which algorithm a signing key is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    /// RSA 2048, RS256: what API Gateway's JWT authorizer verifies.
    Rs256,
    /// P-256, ES256.
    Es256,
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// A signing key with its `kid`.
pub struct DevKey {
    pub kid: String,
    pair: Pair,
}

impl DevKey {
    /// A new key of `kind`.
    pub fn generate(kind: KeyType) -> Self {
        let kid = format!("dev-{}", fastrand::u64(..));
        let pair = match kind {
            KeyType::Rs256 => Pair::Rsa(
                RsaKeyPair::generate(KeySize::Rsa2048).expect("aws-lc generates an RSA key"),
            ),
            KeyType::Es256 => Pair::Ec(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .expect("aws-lc generates a P-256 key"),
            ),
        };
        Self { kid, pair }
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        match &self.pair {
            Pair::Rsa(pair) => {
                let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                json!({"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                       "n": base64url(&public.n), "e": base64url(&public.e)})
            }
            Pair::Ec(pair) => {
                // Uncompressed point: 0x04 || x || y.
                let point = pair.public_key().as_ref();
                json!({"kty": "EC", "kid": self.kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                       "x": base64url(&point[1..33]), "y": base64url(&point[33..65])})
            }
        }
    }

    /// `claims` signed by this key, with `kid` in the header.
    pub fn sign(&self, claims: &Value) -> String {
        let alg = match self.pair {
            Pair::Rsa(_) => "RS256",
            Pair::Ec(_) => "ES256",
        };
        sign_with_header(
            &json!({"alg": alg, "typ": "JWT", "kid": self.kid}),
            claims,
            |input| self.signature(input),
        )
    }

    /// This key's signature over `input` (a token's `header.claims`).
    pub fn signature(&self, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, input, &mut signature)
                    .expect("an RSA key signs");
                signature
            }
            Pair::Ec(pair) => pair
                .sign(&rng, input)
                .expect("a P-256 key signs")
                .as_ref()
                .to_vec(),
        }
    }
}

/// `header.claims.signature`, each part base64url, the signature over the first two by `sign`.
pub fn sign_with_header(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", base64url(&signature))
}

/// Base64url without padding (RFC 7515 §2).
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

struct Issuer {
    issuer: String,
    audience: String,
    org_claim: String,
    role_claim: String,
    /// Published keys; the last one signs.
    keys: Mutex<Vec<Arc<DevKey>>>,
    jwks_reads: AtomicUsize,
    jwks_down: AtomicBool,
}

/// The running dev issuer. Dropping it stops the server.
pub struct DevIssuer {
    /// `iss` of its tokens: its own origin, `http://127.0.0.1:{port}`.
    pub issuer: String,
    /// `aud` of its tokens.
    pub audience: String,
    inner: Arc<Issuer>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DevIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DevIssuer {
    /// On a free loopback port, with an RS256 key and the default claim names.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind the dev issuer");
        Self::serve(listener, &AuthConfig::default())
    }

    /// On `listener`, naming the org and the role in `auth`'s claims.
    pub fn serve(listener: tokio::net::TcpListener, auth: &AuthConfig) -> Self {
        let address = listener
            .local_addr()
            .expect("a bound listener has an address");
        let issuer = format!("http://{address}");
        let inner = Arc::new(Issuer {
            issuer: issuer.clone(),
            audience: AUDIENCE.to_owned(),
            org_claim: auth.org_claim.clone(),
            role_claim: auth.role_claim.clone(),
            keys: Mutex::new(vec![Arc::new(DevKey::generate(KeyType::Rs256))]),
            jwks_reads: AtomicUsize::new(0),
            jwks_down: AtomicBool::new(false),
        });
        let app = Router::new()
            .route("/.well-known/jwks.json", get(jwks))
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/dev/token", post(mint))
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            issuer,
            audience: AUDIENCE.to_owned(),
            inner,
            task,
        }
    }

    /// Where its JWKS is served.
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.issuer)
    }

    /// The MCP route's settings for tokens of this issuer, the resource at `resource_url`.
    pub fn bearer_config(&self, resource_url: &str) -> BearerConfig {
        BearerConfig {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            jwks_url: self.jwks_url(),
            resource_url: resource_url.to_owned(),
        }
    }

    /// Claims of a valid token for `role` of `org`: `iss`, `aud`, `sub` `dev-user`, `iat`, and
    /// `exp` an hour away. Change any before [`Self::sign`].
    pub fn claims(&self, org: &str, role: &str) -> Value {
        self.inner.claims(org, role)
    }

    /// `claims` signed by the current key.
    pub fn sign(&self, claims: &Value) -> String {
        self.inner.signing_key().sign(claims)
    }

    /// A valid token for `role` of `org`.
    pub fn token(&self, org: &str, role: &str) -> String {
        self.sign(&self.claims(org, role))
    }

    /// Publishes a new key of `kind` beside the others and signs with it from now on; its kid.
    pub fn rotate(&self, kind: KeyType) -> String {
        let key = Arc::new(DevKey::generate(kind));
        let kid = key.kid.clone();
        self.inner.lock_keys().push(key);
        kid
    }

    /// How many times the JWKS was read.
    pub fn jwks_reads(&self) -> usize {
        self.inner.jwks_reads.load(Ordering::SeqCst)
    }

    /// While `down`, the JWKS answers 503.
    pub fn jwks_down(&self, down: bool) {
        self.inner.jwks_down.store(down, Ordering::SeqCst);
    }
}

impl Issuer {
    fn lock_keys(&self) -> std::sync::MutexGuard<'_, Vec<Arc<DevKey>>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn signing_key(&self) -> Arc<DevKey> {
        self.lock_keys()
            .last()
            .cloned()
            .expect("the issuer always has a key")
    }

    fn claims(&self, org: &str, role: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "iss": self.issuer,
            "aud": self.audience,
            "sub": "dev-user",
            "iat": now,
            "exp": now + 3600,
        });
        claims[&self.org_claim] = json!(org);
        claims[&self.role_claim] = json!(role);
        claims
    }
}

async fn jwks(State(issuer): State<Arc<Issuer>>) -> Response {
    issuer.jwks_reads.fetch_add(1, Ordering::SeqCst);
    if issuer.jwks_down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let keys: Vec<Value> = issuer.lock_keys().iter().map(|k| k.jwk()).collect();
    Json(json!({"keys": keys})).into_response()
}

async fn discovery(State(issuer): State<Arc<Issuer>>) -> Response {
    Json(json!({
        "issuer": issuer.issuer,
        "jwks_uri": format!("{}/.well-known/jwks.json", issuer.issuer),
        "token_endpoint": format!("{}/dev/token", issuer.issuer),
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    }))
    .into_response()
}

/// `POST /dev/token`: a token shaped by the `X-Dev-*` headers (see the module's doc).
async fn mint(State(issuer): State<Arc<Issuer>>, headers: HeaderMap) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let org = header("x-dev-org-id").unwrap_or("demo-org");
    let role = header("x-dev-role").unwrap_or("admin");
    let mut claims = issuer.claims(org, role);
    if org == "none" {
        if let Some(claims) = claims.as_object_mut() {
            claims.remove(&issuer.org_claim);
        }
    }
    if let Some(sub) = header("x-dev-sub") {
        claims["sub"] = json!(sub);
    }
    if let Some(email) = header("x-dev-email") {
        claims["email"] = json!(email);
    }
    if let Some(verified) = header("x-dev-email-verified") {
        claims["email_verified"] = json!(verified == "true");
    }
    if let Some(expires_in) = header("x-dev-expires-in") {
        let Ok(seconds) = expires_in.parse::<i64>() else {
            return (
                StatusCode::BAD_REQUEST,
                "X-Dev-Expires-In is a number of seconds",
            )
                .into_response();
        };
        claims["exp"] = json!(chrono::Utc::now().timestamp() + seconds);
    }
    if let Some(other) = header("x-dev-issuer") {
        claims["iss"] = json!(other);
    }
    if let Some(other) = header("x-dev-audience") {
        claims["aud"] = json!(other);
    }
    issuer.signing_key().sign(&claims).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_has_no_padding_and_the_url_safe_alphabet() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foob"), "Zm9vYg");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }
}
