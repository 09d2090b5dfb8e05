//! Structured logs: JSON in Lambda, readable text locally. `RUST_LOG` overrides the level.

use tracing_subscriber::EnvFilter;

/// The default filter: our crates at `info`, the SDKs and HTTP stack at `warn`.
pub const DEFAULT_FILTER: &str =
    "info,aws_config=warn,aws_smithy_runtime=warn,hyper=warn,reqwest=warn";

/// Installs the global subscriber once per cold start.
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = if in_lambda {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_ansi(false)
            .without_time()
            .try_init()
    } else {
        builder.compact().try_init()
    };
    // A second init (tests, a local server hosting several handlers) keeps the first one.
    let _ = result;
}

/// `jane@example.com` → `j***@example.com`, for log lines.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first = local.chars().next().map(String::from).unwrap_or_default();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn emails_are_masked() {
        assert_eq!(super::mask_email("jane@example.com"), "j***@example.com");
        assert_eq!(super::mask_email("nonsense"), "***");
    }
}
