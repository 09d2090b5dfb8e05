//! Which browser origins may call the MCP route: a request without `Origin` (an agent's own
//! HTTP client) passes; one with it passes only when it is one of `MCP_ALLOWED_ORIGINS`
//! (comma-separated; default: the origin of `MCP_RESOURCE_URL`). This keeps a web page a
//! shopper visits from driving the route with a token the browser holds (DNS rebinding, CSRF).

/// The allowed origins, each as `scheme://host[:port]`, lower-cased, default ports left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    /// `MCP_ALLOWED_ORIGINS`, or the origin of `resource_url` when it is unset or blank.
    /// Entries that are not origins are left out (and logged).
    pub fn parse(allowed: Option<&str>, resource_url: &str) -> Self {
        let listed: Vec<&str> = allowed
            .into_iter()
            .flat_map(|raw| raw.split(','))
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .collect();
        let entries = if listed.is_empty() {
            vec![resource_url]
        } else {
            listed
        };
        let origins = entries
            .into_iter()
            .filter_map(|entry| {
                let origin = normalize(entry);
                if origin.is_none() {
                    tracing::warn!(entry, "an allowed MCP origin is not an origin; left out");
                }
                origin
            })
            .collect();
        Self(origins)
    }

    /// Reads `MCP_ALLOWED_ORIGINS`, defaulting to the origin of `resource_url`.
    pub fn from_env(resource_url: &str) -> Self {
        Self::parse(
            std::env::var("MCP_ALLOWED_ORIGINS").ok().as_deref(),
            resource_url,
        )
    }

    /// Whether a request with this `Origin` header value (`None`: without one) may pass.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        match origin {
            None => true,
            Some(raw) => normalize(raw).is_some_and(|origin| self.0.contains(&origin)),
        }
    }
}

/// `scheme://host[:port]` of an origin or a URL (its path dropped), lower-cased, the scheme's
/// default port left out; `None` for anything else (`null`, no scheme, no host, userinfo).
fn normalize(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let (scheme, rest) = raw.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    Some(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_urls_origin_is_allowed_by_default_and_an_absent_origin_always_passes() {
        let allowed = AllowedOrigins::parse(None, "https://API.example.com/mcp");
        assert!(allowed.allows(None));
        assert!(allowed.allows(Some("https://api.example.com")));
        assert!(allowed.allows(Some("https://api.example.com:443")));
        assert!(!allowed.allows(Some("http://api.example.com")));
        assert!(!allowed.allows(Some("https://api.example.com.evil.test")));
        assert!(!allowed.allows(Some("https://evil.test")));
        assert!(!allowed.allows(Some("null")));
        assert!(!allowed.allows(Some("")));
    }

    #[test]
    fn a_listed_origin_replaces_the_default() {
        let allowed = AllowedOrigins::parse(
            Some(" https://app.example.com , http://localhost:5173,not an origin"),
            "https://api.example.com/mcp",
        );
        assert!(allowed.allows(Some("https://app.example.com")));
        assert!(allowed.allows(Some("http://localhost:5173")));
        assert!(!allowed.allows(Some("http://localhost:5174")));
        assert!(!allowed.allows(Some("https://api.example.com")));
        let blank = AllowedOrigins::parse(Some(" , "), "https://api.example.com/mcp");
        assert!(blank.allows(Some("https://api.example.com")));
    }
}
