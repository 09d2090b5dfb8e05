//! Structured logs: JSON in Lambda, readable text locally. `RUST_LOG` sets the level; the AWS
//! SDK and HTTP stack stay at `warn` unless `RUST_LOG` names them itself.

use tracing_subscriber::EnvFilter;

/// Dependencies that log every request at `info`/`debug`; quiet unless asked for by name.
const QUIET_TARGETS: [&str; 10] = [
    "aws_config",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_sdk_dynamodb",
    "aws_sdk_secretsmanager",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
];

/// The filter for a `RUST_LOG` value (or `info` when unset): the given directives, plus
/// `{target}=warn` for every quiet dependency they do not name.
pub fn filter_directives(rust_log: Option<&str>) -> String {
    let base = rust_log
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or("info");
    let named: Vec<&str> = base
        .split(',')
        .filter_map(|d| d.split('=').next())
        .map(str::trim)
        .collect();
    let mut directives = vec![base.to_owned()];
    for target in QUIET_TARGETS {
        if !named.iter().any(|n| n.starts_with(target)) {
            directives.push(format!("{target}=warn"));
        }
    }
    directives.join(",")
}

/// Installs the global subscriber once per cold start.
pub fn init() {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = EnvFilter::try_new(filter_directives(rust_log.as_deref()))
        .unwrap_or_else(|_| EnvFilter::new(filter_directives(None)));
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
    use super::*;

    #[test]
    fn emails_are_masked() {
        assert_eq!(mask_email("jane@example.com"), "j***@example.com");
        assert_eq!(mask_email("nonsense"), "***");
    }

    #[test]
    fn a_plain_level_keeps_the_sdk_and_http_stack_quiet() {
        for rust_log in [None, Some("info"), Some("debug"), Some(" ")] {
            let directives = filter_directives(rust_log);
            for target in QUIET_TARGETS {
                assert!(
                    directives.contains(&format!("{target}=warn")),
                    "{rust_log:?} -> {directives}"
                );
            }
        }
    }

    #[test]
    fn naming_a_dependency_in_rust_log_wins() {
        let directives = filter_directives(Some("info,hyper=debug,aws_smithy_runtime=trace"));
        assert!(!directives.contains("hyper=warn"));
        assert!(!directives.contains("aws_smithy_runtime=warn"));
        assert!(directives.contains("reqwest=warn"));
        assert!(EnvFilter::try_new(&directives).is_ok());
    }

    #[test]
    fn a_debug_level_filter_still_hides_sdk_debug_lines() {
        use tracing::level_filters::LevelFilter;
        use tracing_subscriber::layer::SubscriberExt;
        let filter = EnvFilter::new(filter_directives(Some("debug")));
        assert_eq!(filter.max_level_hint(), Some(LevelFilter::DEBUG));
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(tracing_subscriber::fmt::layer().with_writer(move || Writer(sink.clone())));
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "aws_smithy_runtime::client", "sdk detail");
            tracing::debug!(target: "shared::lifecycle", "our detail");
        });
        let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
        assert!(text.contains("our detail"));
        assert!(!text.contains("sdk detail"));
    }

    struct Writer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
