//! A Shopify shop's permanent `*.myshopify.com` domain: the only host this project ever contacts.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A normalized, validated `handle.myshopify.com` domain.
///
/// It can only hold `^[a-z0-9][a-z0-9-]*\.myshopify\.com$` with a handle of at most 63
/// characters (one DNS label), so building a URL from it can never reach another host.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ShopDomain(String);

/// Why a shop domain was refused; the message tells the merchant what to paste instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidShopDomain {
    #[error("Enter your store's .myshopify.com domain, for example example.myshopify.com.")]
    Empty,
    #[error("That domain is too long to be a .myshopify.com domain.")]
    TooLong,
    #[error("The domain may only contain letters, digits, '-' and '.'; use your store's .myshopify.com domain, for example example.myshopify.com.")]
    ForbiddenCharacters,
    #[error("Enter the domain only, without a user name, password or port: for example example.myshopify.com.")]
    NotAHost,
    #[error("IP addresses are not accepted; use your store's .myshopify.com domain, for example example.myshopify.com.")]
    IpAddress,
    #[error("This looks like a custom storefront domain. Use your .myshopify.com domain instead (Shopify admin → Settings → Domains).")]
    CustomDomain,
    #[error("A .myshopify.com domain has a single store handle of letters, digits and '-' before .myshopify.com, for example example.myshopify.com.")]
    BadHandle,
}

const SUFFIX: &str = ".myshopify.com";
const MAX_INPUT: usize = 255;
const MAX_HANDLE: usize = 63;

fn is_handle(handle: &str) -> bool {
    let bytes = handle.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_HANDLE
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

impl ShopDomain {
    /// Normalizes what a merchant pasted, then validates it.
    ///
    /// Trims, lower-cases, strips an `https://`/`http://` scheme, a trailing `/` and any path
    /// (`/admin`), and appends `.myshopify.com` to a bare handle. Anything else — ports,
    /// user info, IPs, custom domains, percent-encoding, non-ASCII look-alikes — is refused.
    pub fn parse(raw: &str) -> Result<Self, InvalidShopDomain> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(InvalidShopDomain::Empty);
        }
        if trimmed.len() > MAX_INPUT {
            return Err(InvalidShopDomain::TooLong);
        }
        if !trimmed.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidShopDomain::ForbiddenCharacters);
        }
        let lower = trimmed.to_ascii_lowercase();
        let without_scheme = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"))
            .unwrap_or(&lower);
        let host = without_scheme
            .split_once('/')
            .map_or(without_scheme, |(host, _path)| host);
        if host.is_empty() {
            return Err(InvalidShopDomain::Empty);
        }
        if host.starts_with('[') {
            return Err(InvalidShopDomain::IpAddress);
        }
        if host.contains(['@', ':']) {
            return Err(InvalidShopDomain::NotAHost);
        }
        if !host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            return Err(InvalidShopDomain::ForbiddenCharacters);
        }
        if host.contains('.') && host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(InvalidShopDomain::IpAddress);
        }
        let handle = if host.contains('.') {
            match host.strip_suffix(SUFFIX) {
                Some(handle) if !handle.contains('.') => handle,
                Some(_) => return Err(InvalidShopDomain::BadHandle),
                None if host == "myshopify.com" => return Err(InvalidShopDomain::BadHandle),
                None => return Err(InvalidShopDomain::CustomDomain),
            }
        } else {
            host
        };
        if !is_handle(handle) {
            return Err(InvalidShopDomain::BadHandle);
        }
        Ok(Self(format!("{handle}{SUFFIX}")))
    }

    /// Accepts only an already-normalized domain, as found in a route path (`/stores/{shop}`).
    pub fn parse_exact(raw: &str) -> Result<Self, InvalidShopDomain> {
        let parsed = Self::parse(raw)?;
        if parsed.0 == raw {
            Ok(parsed)
        } else {
            Err(InvalidShopDomain::BadHandle)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The store handle, as used in `https://admin.shopify.com/store/{handle}/...`.
    pub fn handle(&self) -> &str {
        &self.0[..self.0.len() - SUFFIX.len()]
    }
}

impl TryFrom<String> for ShopDomain {
    type Error = InvalidShopDomain;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse_exact(&value)
    }
}

impl From<ShopDomain> for String {
    fn from(value: ShopDomain) -> Self {
        value.0
    }
}

impl fmt::Display for ShopDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(raw: &str) -> String {
        ShopDomain::parse(raw)
            .unwrap_or_else(|e| panic!("{raw:?} should parse: {e}"))
            .to_string()
    }

    #[test]
    fn pasted_forms_are_normalized_to_the_myshopify_domain() {
        for raw in [
            "example.myshopify.com",
            "  Example.MyShopify.com ",
            "https://example.myshopify.com",
            "http://example.myshopify.com/",
            "https://example.myshopify.com/admin",
            "https://example.myshopify.com/admin/orders?x=1",
            "example",
            "EXAMPLE",
        ] {
            assert_eq!(ok(raw), "example.myshopify.com", "input {raw:?}");
        }
        assert_eq!(ok("my-shop-2"), "my-shop-2.myshopify.com");
        assert_eq!(ShopDomain::parse("uk-store").unwrap().handle(), "uk-store");
    }

    #[test]
    fn connecting_with_a_custom_domain_is_rejected_with_a_hint() {
        let err = ShopDomain::parse("www.example.com").unwrap_err();
        assert_eq!(err, InvalidShopDomain::CustomDomain);
        assert!(
            err.to_string().contains("use your .myshopify.com domain")
                || err.to_string().contains("Use your .myshopify.com domain")
        );
    }

    #[test]
    fn hostile_inputs_are_rejected() {
        let cases = [
            ("", InvalidShopDomain::Empty),
            ("   ", InvalidShopDomain::Empty),
            ("https://", InvalidShopDomain::Empty),
            ("a.myshopify.com@evil.com", InvalidShopDomain::NotAHost),
            ("user:pw@a.myshopify.com", InvalidShopDomain::NotAHost),
            ("a.myshopify.com:443", InvalidShopDomain::NotAHost),
            ("myshopify.com.evil.com", InvalidShopDomain::CustomDomain),
            ("evil.com/.myshopify.com", InvalidShopDomain::CustomDomain),
            ("127.0.0.1", InvalidShopDomain::IpAddress),
            ("169.254.169.254", InvalidShopDomain::IpAddress),
            ("[::1]", InvalidShopDomain::IpAddress),
            ("a%2emyshopify.com", InvalidShopDomain::ForbiddenCharacters),
            ("a.myshopify.com%00", InvalidShopDomain::ForbiddenCharacters),
            ("a b.myshopify.com", InvalidShopDomain::ForbiddenCharacters),
            ("a\t.myshopify.com", InvalidShopDomain::ForbiddenCharacters),
            (
                "a.myshopify.com\u{0}",
                InvalidShopDomain::ForbiddenCharacters,
            ),
            (
                "exаmple.myshopify.com",
                InvalidShopDomain::ForbiddenCharacters,
            ),
            (
                "example.myshopify.cοm",
                InvalidShopDomain::ForbiddenCharacters,
            ),
            ("a.b.myshopify.com", InvalidShopDomain::BadHandle),
            ("myshopify.com", InvalidShopDomain::BadHandle),
            (".myshopify.com", InvalidShopDomain::BadHandle),
            ("-abc.myshopify.com", InvalidShopDomain::BadHandle),
            ("a_b.myshopify.com", InvalidShopDomain::ForbiddenCharacters),
            ("example.myshopify.com.", InvalidShopDomain::CustomDomain),
            ("ftp://example.myshopify.com", InvalidShopDomain::NotAHost),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                ShopDomain::parse(raw),
                Err(expected.clone()),
                "input {raw:?}"
            );
        }
        assert_eq!(
            ShopDomain::parse(&"a".repeat(256)),
            Err(InvalidShopDomain::TooLong)
        );
        assert_eq!(
            ShopDomain::parse(&format!("{}.myshopify.com", "a".repeat(64))),
            Err(InvalidShopDomain::BadHandle)
        );
    }

    #[test]
    fn path_parameters_must_already_be_normalized() {
        assert!(ShopDomain::parse_exact("example.myshopify.com").is_ok());
        assert!(ShopDomain::parse_exact("example").is_err());
        assert!(ShopDomain::parse_exact("Example.myshopify.com").is_err());
    }

    const VALID: &str = r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$";

    fn holds_only_valid_domains(domain: &ShopDomain) -> bool {
        let s = domain.as_str();
        let handle = s.strip_suffix(".myshopify.com").unwrap_or("");
        is_handle(handle) && s.len() == handle.len() + ".myshopify.com".len() && !VALID.is_empty()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_input_either_fails_or_yields_a_myshopify_domain(raw in "\\PC{0,80}") {
            if let Ok(domain) = ShopDomain::parse(&raw) {
                prop_assert!(holds_only_valid_domains(&domain), "{raw:?} -> {domain}");
            }
        }

        #[test]
        fn a_foreign_host_around_myshopify_never_parses(
            evil in "[a-z]{1,10}\\.(com|net|io)",
            handle in "[a-z0-9]{1,10}",
            glue in prop::sample::select(vec!["@", ":443@", ".", "/", "#", "?", "\\", "%2f", " ", "\u{3002}"]),
        ) {
            let attacks = [
                format!("{handle}.myshopify.com{glue}{evil}"),
                format!("https://{handle}.myshopify.com{glue}{evil}"),
                format!("{evil}{glue}{handle}.myshopify.com"),
                format!("https://{evil}{glue}{handle}.myshopify.com"),
            ];
            for attack in attacks {
                if let Ok(domain) = ShopDomain::parse(&attack) {
                        // Only a path after a real myshopify host may be stripped; the host kept
                        // must be the merchant's own and never the foreign one.
                        prop_assert_eq!(domain.as_str(), format!("{handle}.myshopify.com"), "input {:?}", attack);
                        let kept_host = format!("{}.myshopify.com/", handle);
                        prop_assert!(attack.contains(&kept_host), "only a path may be stripped from {:?}", attack);
                }
            }
        }

        #[test]
        fn non_ascii_look_alikes_are_refused(handle in "[a-z]{1,8}", lookalike in "[\u{0400}-\u{04ff}\u{0370}-\u{03ff}\u{ff00}-\u{ffef}]") {
            let raw = format!("{handle}{lookalike}.myshopify.com");
            prop_assert!(ShopDomain::parse(&raw).is_err());
        }

        #[test]
        fn numbers_and_dots_never_parse_as_a_shop(a in 0u8.., b in 0u8.., c in 0u8.., d in 0u8..) {
            prop_assert_eq!(ShopDomain::parse(&format!("{a}.{b}.{c}.{d}")), Err(InvalidShopDomain::IpAddress));
        }

        #[test]
        fn valid_handles_round_trip(handle in "[a-z0-9][a-z0-9-]{0,62}") {
            let domain = ShopDomain::parse(&format!("https://{handle}.myshopify.com/admin")).unwrap();
            prop_assert_eq!(domain.handle(), handle.as_str());
            prop_assert_eq!(ShopDomain::parse_exact(domain.as_str()).unwrap(), domain.clone());
        }
    }
}
