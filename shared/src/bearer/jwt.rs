//! [`JwtVerifier`]: the [`BearerVerifier`] of the JWKS at `MCP_JWKS_URL`.
//!
//! The keys are read on first use and kept. A token naming a `kid` the kept keys lack makes
//! them be read again, at most once a minute (a key the provider just rotated in verifies
//! without a deploy; a stream of made-up `kid`s costs one read a minute), and keys older than
//! an hour are read again at their next use, so a key the provider withdrew stops verifying.
//! Verifications that need the keys at the same time share one read, and after a read fails
//! none is tried for [`FAILED_READ_PAUSE`]: while the provider is down, a bearer is answered at
//! once (with the kept keys, or as keys unavailable) instead of each waiting out a read.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::jwks::{HttpJwks, JwksSource, KeySet};
use super::jws::{self, Token};
use super::{BearerClaims, BearerConfig, BearerError, BearerVerifier};
use crate::config::{AuthConfig, ConfigError};
use crate::domain::OrganizationId;

/// An unknown `kid` reads the keys again at most this often.
const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(60);
/// Kept keys older than this are read again at their next use.
const MAX_KEY_AGE: Duration = Duration::from_secs(3600);
/// While the keys cannot be read, kept keys verify until they are this old; then bearers wait
/// for a read that works (a key the provider withdrew stops verifying within a day, however
/// long its JWKS stays out of reach).
const MAX_KEPT_KEY_AGE: Duration = Duration::from_secs(24 * 3600);
/// After a failed read, the keys are not read again for this long (the `Retry-After` a caller
/// is given when no kept key verifies its token).
pub const FAILED_READ_PAUSE: Duration = Duration::from_secs(5);
/// Clock skew allowed on `exp` (and `nbf`).
const LEEWAY_SECS: u64 = 60;

/// Checks bearer JWTs against the issuer's JWKS: RS256 or ES256, `iss`, `aud`, `exp` (60 s
/// leeway), `sub`, and the organization in the `ORG_ID_CLAIM` claim.
pub struct JwtVerifier {
    issuer: String,
    audience: String,
    org_claim: String,
    source: Arc<dyn JwksSource>,
    cache: Mutex<Cache>,
    /// Held while the keys are read, so concurrent verifications wait for one read.
    reading: tokio::sync::Mutex<()>,
    failed_read_pause: Duration,
}

#[derive(Default)]
struct Cache {
    keys: Option<Arc<KeySet>>,
    read_at: Option<Instant>,
    /// When an unknown `kid` last made the keys be read.
    unknown_kid_read_at: Option<Instant>,
    /// Reads finished, failed ones included: a verification that waited for another's read
    /// takes that read's outcome.
    reads: u64,
    /// When the last read failed, if it did.
    failed_at: Option<Instant>,
}

/// Why the keys are read now.
#[derive(Clone, Copy, Debug)]
enum Read {
    FirstUse,
    Expired,
    UnknownKid,
}

impl JwtVerifier {
    /// The verifier of `config`'s JWKS (read over HTTPS, or plain `http` on loopback), taking
    /// the organization from `auth`'s org claim.
    pub fn new(config: &BearerConfig, auth: &AuthConfig) -> Result<Self, ConfigError> {
        let source = HttpJwks::new(&config.jwks_url)?;
        Ok(Self::with_source(config, auth, Arc::new(source)))
    }

    /// The verifier of the keys `source` reads.
    pub fn with_source(
        config: &BearerConfig,
        auth: &AuthConfig,
        source: Arc<dyn JwksSource>,
    ) -> Self {
        Self {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            org_claim: auth.org_claim.clone(),
            source,
            cache: Mutex::new(Cache::default()),
            reading: tokio::sync::Mutex::new(()),
            failed_read_pause: FAILED_READ_PAUSE,
        }
    }

    /// This verifier, pausing `pause` after a failed read instead of [`FAILED_READ_PAUSE`].
    pub fn with_failed_read_pause(mut self, pause: Duration) -> Self {
        self.failed_read_pause = pause;
        self
    }

    /// Every claim of `token` once its signature (RS256 or ES256, by a key of the JWKS), `iss`,
    /// `aud`, `exp` and `nbf` are checked: what API Gateway's JWT authorizer checks, without
    /// this project's own claims.
    pub async fn verified_claims(&self, token: &str) -> Result<Map<String, Value>, BearerError> {
        let token = Token::parse(token).map_err(BearerError::Invalid)?;
        let kid = token
            .kid
            .as_deref()
            .ok_or(BearerError::Invalid("no key id in the token"))?;
        let keys = self.keys_with(kid).await?;
        let key = keys
            .get(kid)
            .ok_or(BearerError::Invalid("signed by an unknown key"))?;
        let claims = token.verified_by(key).map_err(BearerError::Invalid)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let expected = jws::Expected {
            issuer: &self.issuer,
            audience: &self.audience,
            leeway: LEEWAY_SECS,
            now,
        };
        jws::check_claims(&claims, &expected).map_err(BearerError::Invalid)?;
        Ok(claims)
    }

    /// The project's claims of a verified token.
    fn bearer_claims(&self, claims: &Map<String, Value>) -> Result<BearerClaims, BearerError> {
        let org = claims
            .get(&self.org_claim)
            .and_then(Value::as_str)
            .ok_or(BearerError::Invalid("no organization claim"))?;
        let org_id = OrganizationId::parse(org)
            .map_err(|_| BearerError::Invalid("malformed organization claim"))?;
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|sub| !sub.is_empty())
            .ok_or(BearerError::Invalid("no subject"))?;
        let verified_email = match claims.get("email_verified") {
            Some(Value::Bool(true)) => claims
                .get("email")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|email| !email.is_empty())
                .map(str::to_owned),
            _ => None,
        };
        Ok(BearerClaims {
            org_id,
            subject: subject.to_owned(),
            verified_email,
        })
    }

    /// The kept keys, read first if `kid` calls for it.
    async fn keys_with(&self, kid: &str) -> Result<Arc<KeySet>, BearerError> {
        let seen = {
            let cache = self.cache();
            if let Some(keys) = cache.current(kid) {
                return Ok(keys);
            }
            cache.reads
        };
        let _turn = self.reading.lock().await;
        let read = {
            let cache = self.cache();
            if cache.reads != seen {
                // Another verification read the keys while this one waited: its read stands.
                return cache.outcome(kid);
            }
            let now = Instant::now();
            if cache
                .failed_at
                .is_some_and(|at| now.duration_since(at) < self.failed_read_pause)
            {
                // The provider failed a moment ago: the kept keys, or unavailable, at once.
                return cache.outcome(kid);
            }
            let read = match (&cache.keys, cache.read_at) {
                (None, _) => Read::FirstUse,
                (Some(_), Some(at)) if now.duration_since(at) >= MAX_KEY_AGE => Read::Expired,
                (Some(_), _) => {
                    if cache
                        .unknown_kid_read_at
                        .is_some_and(|at| now.duration_since(at) < UNKNOWN_KID_REFETCH)
                    {
                        // The kid is the caller's text, unchecked: its length only.
                        tracing::info!(
                            kid_len = kid.len(),
                            "unknown signing key; the keys were read again less than a minute ago"
                        );
                        return Err(BearerError::Invalid("signed by an unknown key"));
                    }
                    Read::UnknownKid
                }
            };
            (read, now)
        };
        let (read, started) = read;
        let outcome = match self.source.fetch().await {
            Ok(body) => KeySet::parse(&body),
            Err(error) => Err(error),
        };
        let mut cache = self.cache();
        cache.reads += 1;
        match outcome {
            Ok(keys) => {
                tracing::info!(?read, keys = keys.len(), "signing keys read");
                cache.keys = Some(Arc::new(keys));
                cache.read_at = Some(Instant::now());
                cache.failed_at = None;
                if matches!(read, Read::UnknownKid) {
                    // Marked once the read is done: one abandoned half-way read nothing.
                    cache.unknown_kid_read_at = Some(started);
                }
            }
            Err(error) => {
                tracing::warn!(
                    ?read,
                    error = %with_causes(&error),
                    kept_keys = cache.keys.as_ref().map_or(0, |k| k.len()),
                    "signing keys could not be read"
                );
                cache.failed_at = Some(Instant::now());
            }
        }
        cache.outcome(kid)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Cache {
    /// The kept keys when they have `kid` and are not too old to use without a read.
    fn current(&self, kid: &str) -> Option<Arc<KeySet>> {
        let keys = self.keys.as_ref()?;
        let fresh = self.read_at.is_some_and(|at| at.elapsed() < MAX_KEY_AGE);
        (fresh && keys.get(kid).is_some()).then(|| keys.clone())
    }

    /// What the last read means for `kid`: the keys when they have it (kept ones included,
    /// when a read failed), else an unknown key, or unavailable keys when the read failed.
    fn outcome(&self, kid: &str) -> Result<Arc<KeySet>, BearerError> {
        let usable = self
            .read_at
            .is_some_and(|at| at.elapsed() < MAX_KEPT_KEY_AGE);
        match &self.keys {
            Some(keys) if usable && keys.get(kid).is_some() => Ok(keys.clone()),
            _ if self.failed_at.is_some() => Err(BearerError::KeysUnavailable),
            _ => Err(BearerError::Invalid("signed by an unknown key")),
        }
    }
}

/// `error` and its causes, for a log line.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[async_trait]
impl BearerVerifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<BearerClaims, BearerError> {
        let verified = self.verified_claims(token).await;
        let claims = verified.and_then(|claims| self.bearer_claims(&claims));
        match &claims {
            Ok(claims) => tracing::debug!(org_id = %claims.org_id, "bearer token accepted"),
            Err(BearerError::KeysUnavailable) => {
                tracing::warn!("bearer token not checked: signing keys unavailable")
            }
            // The caller answers the refusal and logs it with its request; this is the detail.
            Err(error) => tracing::debug!(reason = %error, "bearer token refused"),
        }
        claims
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::super::jws::tests::TestSigner;
    use super::super::JwksError;
    use super::*;

    /// A P-256 key of the test's own, with its kid.
    struct TestKey {
        kid: String,
        signer: TestSigner,
    }

    impl TestKey {
        fn new(kid: &str) -> Self {
            Self {
                kid: kid.to_owned(),
                signer: TestSigner::new(),
            }
        }

        fn jwk(&self) -> Value {
            self.signer.jwk(&self.kid)
        }

        fn token(&self) -> String {
            let exp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 7200;
            let claims = json!({"iss": ISSUER, "aud": "connector", "sub": "u",
                                "org_id": "acme-org", "exp": exp});
            self.signer
                .sign(&json!({"alg": "ES256", "kid": self.kid}), &claims)
        }
    }

    const ISSUER: &str = "https://idp.example.com/";

    /// A JWKS in memory, counting its reads; one that is down answers HTTP 503.
    #[derive(Default)]
    struct MemoryJwks {
        keys: Mutex<Vec<Value>>,
        reads: AtomicUsize,
        down: std::sync::atomic::AtomicBool,
    }

    impl MemoryJwks {
        fn publish(&self, key: &TestKey) {
            self.keys.lock().unwrap().push(key.jwk());
        }

        fn reads(&self) -> usize {
            self.reads.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl JwksSource for MemoryJwks {
        async fn fetch(&self) -> Result<Vec<u8>, JwksError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(JwksError::Status(503));
            }
            let keys = self.keys.lock().unwrap().clone();
            Ok(json!({ "keys": keys }).to_string().into_bytes())
        }
    }

    fn verifier(jwks: &Arc<MemoryJwks>) -> JwtVerifier {
        let config = BearerConfig {
            issuer: ISSUER.into(),
            audience: "connector".into(),
            jwks_url: "https://idp.example.com/jwks.json".into(),
            resource_url: "https://api.example.com/mcp".into(),
        };
        JwtVerifier::with_source(&config, &AuthConfig::default(), jwks.clone())
    }

    #[tokio::test(start_paused = true)]
    async fn a_minute_after_an_unknown_kid_read_the_keys_another_may_read_them_again() {
        let jwks = Arc::new(MemoryJwks::default());
        let (first, second, third) = (TestKey::new("k1"), TestKey::new("k2"), TestKey::new("k3"));
        jwks.publish(&first);
        let verifier = verifier(&jwks);
        assert!(verifier.verify(&first.token()).await.is_ok());
        jwks.publish(&second);
        assert!(verifier.verify(&second.token()).await.is_ok());
        jwks.publish(&third);
        assert_eq!(
            verifier.verify(&third.token()).await,
            Err(BearerError::Invalid("signed by an unknown key"))
        );
        assert_eq!(jwks.reads(), 2);

        tokio::time::advance(Duration::from_secs(61)).await;
        let verified = verifier.verify(&third.token()).await;

        assert!(verified.is_ok(), "{verified:?}");
        assert_eq!(jwks.reads(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn keys_an_hour_old_are_read_again_so_a_withdrawn_key_stops_verifying() {
        let jwks = Arc::new(MemoryJwks::default());
        let (withdrawn, current) = (TestKey::new("old"), TestKey::new("new"));
        jwks.publish(&withdrawn);
        jwks.publish(&current);
        let verifier = verifier(&jwks);
        assert!(verifier.verify(&withdrawn.token()).await.is_ok());
        jwks.keys.lock().unwrap().remove(0);

        tokio::time::advance(Duration::from_secs(3601)).await;
        let verified = verifier.verify(&withdrawn.token()).await;

        assert_eq!(
            verified,
            Err(BearerError::Invalid("signed by an unknown key"))
        );
        assert!(verifier.verify(&current.token()).await.is_ok());
        assert_eq!(jwks.reads(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_failed_read_none_is_tried_for_the_pause_and_bearers_are_answered_at_once() {
        let jwks = Arc::new(MemoryJwks::default());
        let (kept, rotated) = (TestKey::new("kept"), TestKey::new("rotated"));
        jwks.publish(&kept);
        let verifier = verifier(&jwks);
        assert!(verifier.verify(&kept.token()).await.is_ok());
        jwks.down.store(true, Ordering::SeqCst);
        jwks.publish(&rotated);
        assert_eq!(
            verifier.verify(&rotated.token()).await,
            Err(BearerError::KeysUnavailable)
        );
        assert_eq!(jwks.reads(), 2);

        for _ in 0..9 {
            tokio::time::advance(FAILED_READ_PAUSE / 10).await;
            assert_eq!(
                verifier.verify(&rotated.token()).await,
                Err(BearerError::KeysUnavailable)
            );
            assert!(verifier.verify(&kept.token()).await.is_ok());
        }
        assert_eq!(jwks.reads(), 2, "no read within the pause");

        jwks.down.store(false, Ordering::SeqCst);
        tokio::time::advance(FAILED_READ_PAUSE / 10).await;
        let verified = verifier.verify(&rotated.token()).await;
        assert!(verified.is_ok(), "{verified:?}");
        assert_eq!(jwks.reads(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn kept_keys_verify_through_an_outage_of_the_jwks_for_a_day_and_no_longer() {
        let jwks = Arc::new(MemoryJwks::default());
        let key = TestKey::new("kept");
        jwks.publish(&key);
        let verifier = verifier(&jwks);
        assert!(verifier.verify(&key.token()).await.is_ok());
        jwks.down.store(true, Ordering::SeqCst);

        tokio::time::advance(Duration::from_secs(23 * 3600)).await;
        assert!(
            verifier.verify(&key.token()).await.is_ok(),
            "an hour's read failed: kept"
        );

        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(
            verifier.verify(&key.token()).await,
            Err(BearerError::KeysUnavailable)
        );
    }

    /// A read that never finishes, then reads that answer at once.
    #[derive(Default)]
    struct HangsOnce {
        inner: MemoryJwks,
        hung: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl JwksSource for HangsOnce {
        async fn fetch(&self) -> Result<Vec<u8>, JwksError> {
            if !self.hung.swap(true, Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            self.inner.fetch().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_kid_read_abandoned_half_way_does_not_hold_off_the_next_one() {
        let source = Arc::new(HangsOnce::default());
        let (first, rotated) = (TestKey::new("k1"), TestKey::new("k2"));
        source.inner.publish(&first);
        source.hung.store(true, Ordering::SeqCst);
        let config = BearerConfig {
            issuer: ISSUER.into(),
            audience: "connector".into(),
            jwks_url: "https://idp.example.com/jwks.json".into(),
            resource_url: "https://api.example.com/mcp".into(),
        };
        let verifier = JwtVerifier::with_source(&config, &AuthConfig::default(), source.clone());
        assert!(verifier.verify(&first.token()).await.is_ok());
        source.inner.publish(&rotated);
        source.hung.store(false, Ordering::SeqCst);

        // The caller gives up on the hung read (its request's deadline).
        let abandoned =
            tokio::time::timeout(Duration::from_secs(1), verifier.verify(&rotated.token())).await;
        assert!(abandoned.is_err());

        let verified = verifier.verify(&rotated.token()).await;
        assert!(verified.is_ok(), "{verified:?}");
    }
}
