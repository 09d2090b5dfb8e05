//! Compact JWS (RFC 7515) as bearer tokens use it: the header read, the signature checked with
//! ring (RS256: RSASSA-PKCS1-v1_5 with SHA-256, 2048 to 8192-bit keys; ES256: ECDSA P-256 with
//! SHA-256, the fixed 64-byte signature of RFC 7518), and the registered claims (`iss`, `aud`,
//! `exp`, `nbf`) checked as RFC 7519 says. No other algorithm is ever accepted, `none` and
//! shared-secret ones least of all.
//!
//! ring is the crypto library every function already links for TLS; a JWT library would bring a
//! second one (aws-lc) into the MCP function's binary for two verification calls.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};

/// The algorithms a token may be signed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    RS256,
    ES256,
}

impl Algorithm {
    fn named(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::RS256),
            "ES256" => Some(Self::ES256),
            _ => None,
        }
    }
}

/// A public key a token's signature is checked with.
#[derive(Clone, Debug)]
pub enum PublicKey {
    /// The modulus and exponent, big-endian, without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// The uncompressed P-256 point: `0x04 || x || y`.
    P256(Vec<u8>),
}

impl PublicKey {
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Rsa { .. } => Algorithm::RS256,
            Self::P256(_) => Algorithm::ES256,
        }
    }

    /// The key of a JWK's `n` and `e` (base64url): `None` unless the modulus is 256 to 1024
    /// bytes long (2048 to 8192 bits, counted in whole bytes as ring counts them for RS256)
    /// and the exponent is odd, at least 3 and at most 32 bits.
    pub fn rsa(n: &str, e: &str) -> Option<Self> {
        let n = strip_leading_zeros(URL_SAFE_NO_PAD.decode(n).ok()?);
        let e = strip_leading_zeros(URL_SAFE_NO_PAD.decode(e).ok()?);
        let exponent_ok = e.len() <= 4 && e.last().is_some_and(|b| b & 1 == 1) && e != [1];
        ((256..=1024).contains(&n.len()) && exponent_ok).then_some(Self::Rsa { n, e })
    }

    /// The key of a P-256 JWK's `x` and `y` (base64url, 32 bytes each). Whether the point is
    /// on the curve is checked with the first signature (ring validates it there).
    pub fn p256(x: &str, y: &str) -> Option<Self> {
        let (x, y) = (
            URL_SAFE_NO_PAD.decode(x).ok()?,
            URL_SAFE_NO_PAD.decode(y).ok()?,
        );
        if x.len() != 32 || y.len() != 32 {
            return None;
        }
        let mut point = Vec::with_capacity(65);
        point.push(0x04);
        point.extend_from_slice(&x);
        point.extend_from_slice(&y);
        Some(Self::P256(point))
    }

    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, signature)
                .is_ok(),
            Self::P256(point) => UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(message, signature)
                .is_ok(),
        }
    }
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

/// Why a token is refused: a fixed phrase, never the token or its claims.
pub type Refusal = &'static str;

/// A compact JWS split into its parts, its header read; nothing verified yet.
pub struct Token<'a> {
    pub algorithm: Algorithm,
    pub kid: Option<String>,
    signing_input: &'a str,
    payload: &'a str,
    signature: &'a str,
}

impl<'a> Token<'a> {
    /// `token`'s three parts and its header, when it is a compact JWS of an accepted algorithm.
    pub fn parse(token: &'a str) -> Result<Self, Refusal> {
        const MALFORMED: Refusal = "not a signed JWT of an accepted algorithm";
        let token = token.trim();
        let (signing_input, signature) = token.rsplit_once('.').ok_or(MALFORMED)?;
        let (header, payload) = signing_input.split_once('.').ok_or(MALFORMED)?;
        if payload.contains('.') {
            return Err(MALFORMED);
        }
        let header = URL_SAFE_NO_PAD.decode(header).map_err(|_| MALFORMED)?;
        // A JSON object, read member by member: an array or a `null` where a member is expected
        // is not a header.
        let header: Map<String, Value> = serde_json::from_slice(&header).map_err(|_| MALFORMED)?;
        // Extensions the signer says must be understood: none are, so a token naming any (or
        // naming `crit` at all) is refused (RFC 7515, section 4.1.11).
        if header.contains_key("crit") {
            return Err("critical header extensions not understood");
        }
        let alg = header.get("alg").and_then(Value::as_str).ok_or(MALFORMED)?;
        let algorithm = Algorithm::named(alg).ok_or("algorithm not accepted")?;
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(MALFORMED),
        };
        Ok(Self {
            algorithm,
            kid,
            signing_input,
            payload,
            signature,
        })
    }

    /// The payload's claims once the signature is `key`'s; claims are not checked here.
    pub fn verified_by(&self, key: &PublicKey) -> Result<Map<String, Value>, Refusal> {
        if key.algorithm() != self.algorithm {
            return Err("algorithm does not match the key");
        }
        let signature = URL_SAFE_NO_PAD
            .decode(self.signature)
            .map_err(|_| "bad signature")?;
        if !key.verifies(self.signing_input.as_bytes(), &signature) {
            return Err("bad signature");
        }
        let payload = URL_SAFE_NO_PAD
            .decode(self.payload)
            .map_err(|_| "malformed token")?;
        serde_json::from_slice::<Map<String, Value>>(&payload).map_err(|_| "malformed token")
    }
}

/// What the registered claims must say.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway: u64,
    /// Seconds since the Unix epoch.
    pub now: u64,
}

/// Checks `iss` (required, equal), `aud` (required: the audience, or an array holding it),
/// `exp` (required, not past more than the leeway) and `nbf` (when present, not ahead more
/// than the leeway) of verified `claims`.
pub fn check_claims(claims: &Map<String, Value>, expected: &Expected<'_>) -> Result<(), Refusal> {
    const MISSING: Refusal = "a required claim is missing";
    // NumericDate: seconds since the epoch, within what a JSON number holds exactly (2^53).
    const LATEST: f64 = 9_007_199_254_740_991.0;
    let time = |name: &str| -> Result<Option<f64>, Refusal> {
        match claims.get(name) {
            None => Ok(None),
            Some(value) => value
                .as_f64()
                .filter(|t| t.is_finite() && t.abs() <= LATEST)
                .map(Some)
                .ok_or("malformed token"),
        }
    };
    let now = expected.now as f64;
    let leeway = expected.leeway as f64;
    let exp = time("exp")?.ok_or(MISSING)?;
    if exp < now - leeway {
        return Err("expired");
    }
    if time("nbf")?.is_some_and(|nbf| nbf > now + leeway) {
        return Err("not valid yet");
    }
    match claims.get("iss") {
        None => return Err(MISSING),
        Some(Value::String(iss)) if iss == expected.issuer => {}
        Some(_) => return Err("another issuer"),
    }
    let audience_ok = match claims.get("aud") {
        None => return Err(MISSING),
        Some(Value::String(aud)) => aud == expected.audience,
        Some(Value::Array(auds)) => auds.iter().any(|aud| aud == expected.audience),
        Some(_) => false,
    };
    if !audience_ok {
        return Err("another audience");
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
    use serde_json::json;

    use super::*;

    /// A P-256 signing key of a test's own.
    pub struct TestSigner {
        pair: EcdsaKeyPair,
    }

    impl TestSigner {
        pub fn new() -> Self {
            let rng = SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .expect("ring generates a P-256 key");
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                    .expect("the key just generated");
            Self { pair }
        }

        /// The public key as a JWK with `kid`.
        pub fn jwk(&self, kid: &str) -> Value {
            let point = self.pair.public_key().as_ref();
            json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
                   "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                   "y": URL_SAFE_NO_PAD.encode(&point[33..])})
        }

        pub fn public_key(&self) -> PublicKey {
            PublicKey::P256(self.pair.public_key().as_ref().to_vec())
        }

        /// A compact JWS of `header` and `claims`, signed ES256 whatever the header says.
        pub fn sign(&self, header: &Value, claims: &Value) -> String {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let signature = self
                .pair
                .sign(&SystemRandom::new(), input.as_bytes())
                .expect("ring signs");
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
        }
    }

    fn expected(now: u64) -> Expected<'static> {
        Expected {
            issuer: "https://idp.example.com/",
            audience: "connector",
            leeway: 60,
            now,
        }
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn a_token_signed_by_the_key_verifies_and_one_byte_changed_anywhere_does_not() {
        let signer = TestSigner::new();
        let token = signer.sign(
            &json!({"alg": "ES256", "kid": "k"}),
            &json!({"sub": "u", "exp": NOW}),
        );
        let parsed = Token::parse(&token).unwrap();
        assert_eq!(parsed.algorithm, Algorithm::ES256);
        assert_eq!(parsed.kid.as_deref(), Some("k"));
        assert_eq!(
            parsed.verified_by(&signer.public_key()).unwrap()["sub"],
            "u"
        );

        let other = TestSigner::new();
        assert_eq!(
            Token::parse(&token)
                .unwrap()
                .verified_by(&other.public_key())
                .err(),
            Some("bad signature")
        );
        let (input, _) = token.rsplit_once('.').unwrap();
        let (header, payload) = input.split_once('.').unwrap();
        let forged_payload =
            URL_SAFE_NO_PAD.encode(json!({"sub": "admin", "exp": NOW}).to_string());
        let forged = token.replacen(payload, &forged_payload, 1);
        assert_eq!(
            Token::parse(&forged)
                .unwrap()
                .verified_by(&signer.public_key())
                .err(),
            Some("bad signature")
        );
        assert!(header.len() > 2);
    }

    #[test]
    fn none_shared_secret_and_unknown_algorithms_and_critical_extensions_are_refused() {
        let signer = TestSigner::new();
        for alg in ["none", "HS256", "RS512", "ES384", "PS256", "es256"] {
            let token = signer.sign(&json!({"alg": alg, "kid": "k"}), &json!({}));
            assert_eq!(
                Token::parse(&token).err(),
                Some("algorithm not accepted"),
                "{alg}"
            );
        }
        let token = signer.sign(
            &json!({"alg": "ES256", "crit": ["b64"], "b64": false}),
            &json!({}),
        );
        assert_eq!(
            Token::parse(&token).err(),
            Some("critical header extensions not understood")
        );
    }

    #[test]
    fn an_es256_header_over_an_rsa_key_is_refused_before_any_check() {
        let signer = TestSigner::new();
        let token = signer.sign(&json!({"alg": "ES256"}), &json!({}));
        let rsa = PublicKey::Rsa {
            n: vec![0xc5; 256],
            e: vec![1, 0, 1],
        };
        assert_eq!(
            Token::parse(&token).unwrap().verified_by(&rsa).err(),
            Some("algorithm does not match the key")
        );
    }

    #[test]
    fn what_is_not_a_compact_jws_is_refused_without_panicking() {
        let signer = TestSigner::new();
        let good = signer.sign(&json!({"alg": "ES256"}), &json!({"exp": NOW}));
        let cases = [
            String::new(),
            ".".into(),
            "..".into(),
            "a.b".into(),
            format!("{good}.extra"),
            "eyJhbGciOiJFUzI1NiJ9.e30.!!!".into(),
            "!!!.e30.sig".into(),
            format!("{}.e30.", URL_SAFE_NO_PAD.encode("[1]")),
            format!("{}.e30.", URL_SAFE_NO_PAD.encode("{\"alg\":7}")),
            "\u{1F600}.\u{1F600}.\u{1F600}".into(),
        ];
        for case in cases {
            let outcome = Token::parse(&case).and_then(|t| t.verified_by(&signer.public_key()));
            assert!(outcome.is_err(), "{case:?}");
        }
        // A signed payload that is not a JSON object.
        let array = signer.sign(&json!({"alg": "ES256"}), &json!([1, 2]));
        assert_eq!(
            Token::parse(&array)
                .unwrap()
                .verified_by(&signer.public_key())
                .err(),
            Some("malformed token")
        );
    }

    #[test]
    fn rsa_keys_outside_2048_to_8192_bits_or_with_a_bad_exponent_are_not_keys() {
        let n = |bytes: usize| URL_SAFE_NO_PAD.encode(vec![0xc5u8; bytes]);
        let e = URL_SAFE_NO_PAD.encode([1, 0, 1]);
        assert!(PublicKey::rsa(&n(256), &e).is_some());
        assert!(PublicKey::rsa(&n(1024), &e).is_some());
        assert!(PublicKey::rsa(&n(128), &e).is_none());
        // Nothing, or only zeros, is no modulus (and no arithmetic on its length).
        assert!(PublicKey::rsa("", &e).is_none());
        assert!(PublicKey::rsa("AA", &e).is_none());
        // 2041 to 2048 bits: 256 bytes, as ring counts a modulus.
        let short_top = URL_SAFE_NO_PAD.encode([vec![0x01u8], vec![0xc5; 255]].concat());
        assert!(PublicKey::rsa(&short_top, &e).is_some());
        assert!(PublicKey::rsa(&n(1025), &e).is_none());
        // Leading zero bytes do not count towards the size.
        let padded = URL_SAFE_NO_PAD.encode([vec![0u8; 200], vec![0xc5; 128]].concat());
        assert!(PublicKey::rsa(&padded, &e).is_none());
        for exponent in [
            vec![1u8],
            vec![2],
            vec![1, 0, 0],
            vec![],
            vec![1, 0, 0, 0, 1],
        ] {
            let exponent = URL_SAFE_NO_PAD.encode(&exponent);
            assert!(PublicKey::rsa(&n(256), &exponent).is_none(), "{exponent}");
        }
        assert!(PublicKey::rsa("not base64!", &e).is_none());
        assert!(PublicKey::p256(
            &URL_SAFE_NO_PAD.encode([1; 32]),
            &URL_SAFE_NO_PAD.encode([1; 31])
        )
        .is_none());
    }

    #[test]
    fn expiry_and_not_before_allow_the_leeway_and_no_more() {
        let base = json!({"iss": "https://idp.example.com/", "aud": "connector"});
        let with = |extra: Value| {
            let mut all = claims(base.clone());
            all.extend(claims(extra));
            check_claims(&all, &expected(NOW))
        };
        assert_eq!(with(json!({"exp": NOW + 1})), Ok(()));
        assert_eq!(with(json!({"exp": NOW - 60})), Ok(()));
        assert_eq!(with(json!({"exp": NOW - 61})), Err("expired"));
        assert_eq!(with(json!({"exp": (NOW as f64) + 0.5})), Ok(()));
        assert_eq!(with(json!({})), Err("a required claim is missing"));
        assert_eq!(with(json!({"exp": "tomorrow"})), Err("malformed token"));
        assert_eq!(with(json!({"exp": NOW + 10, "nbf": NOW + 60})), Ok(()));
        assert_eq!(
            with(json!({"exp": NOW + 10, "nbf": NOW + 61})),
            Err("not valid yet")
        );
        assert_eq!(
            with(json!({"exp": NOW + 10, "nbf": null})),
            Err("malformed token")
        );
    }

    #[test]
    fn issuer_and_audience_must_be_the_expected_ones() {
        let check = |value: Value| check_claims(&claims(value), &expected(NOW));
        let exp = NOW + 100;
        assert_eq!(
            check(json!({"iss": "https://idp.example.com/", "aud": "connector", "exp": exp})),
            Ok(())
        );
        assert_eq!(
            check(
                json!({"iss": "https://idp.example.com/", "aud": ["x", "connector"], "exp": exp})
            ),
            Ok(())
        );
        assert_eq!(
            check(json!({"iss": "https://idp.example.com", "aud": "connector", "exp": exp})),
            Err("another issuer")
        );
        assert_eq!(
            check(json!({"iss": ["https://idp.example.com/"], "aud": "connector", "exp": exp})),
            Err("another issuer")
        );
        assert_eq!(
            check(json!({"iss": "https://idp.example.com/", "aud": ["x"], "exp": exp})),
            Err("another audience")
        );
        assert_eq!(
            check(json!({"iss": "https://idp.example.com/", "aud": 7, "exp": exp})),
            Err("another audience")
        );
        assert_eq!(
            check(json!({"aud": "connector", "exp": exp})),
            Err("a required claim is missing")
        );
        assert_eq!(
            check(json!({"iss": "https://idp.example.com/", "exp": exp})),
            Err("a required claim is missing")
        );
    }
}
