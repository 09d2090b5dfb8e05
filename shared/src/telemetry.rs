//! Structured logs: JSON in Lambda, readable text locally. `RUST_LOG` sets the level; the AWS
//! SDK and HTTP stack stay at `warn` unless `RUST_LOG` names them itself.
//!
//! `RUST_LOG` holds comma-separated `level` and `target=level` directives (the longest matching
//! target wins), read by `tracing_subscriber`'s [`Targets`] rather than its `EnvFilter`, whose
//! span and field-value filters need a regex engine in every function for what no one sets.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Dependencies that log every request at `info`/`debug`; quiet unless asked for by name.
const QUIET_TARGETS: [&str; 8] = [
    "aws_config",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_sdk_dynamodb",
    "aws_sdk_secretsmanager",
    "hyper",
    "hyper_util",
    "reqwest",
];

/// The filter for a `RUST_LOG` value (or `info` when unset): the given directives, plus
/// `{target}=warn` for every quiet dependency they do not name.
pub fn filter_directives(rust_log: Option<&str>) -> String {
    let mut given: Vec<&str> = rust_log
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    if given.is_empty() {
        given.push("info");
    }
    let named: Vec<&str> = given
        .iter()
        .filter_map(|d| d.split('=').next())
        .map(str::trim)
        .collect();
    let mut directives: Vec<String> = given.iter().map(|d| (*d).to_owned()).collect();
    for target in QUIET_TARGETS {
        if !named.iter().any(|n| n.starts_with(target)) {
            directives.push(format!("{target}=warn"));
        }
    }
    directives.join(",")
}

/// The filter for a `RUST_LOG` value; one that does not parse counts as unset.
pub fn filter(rust_log: Option<&str>) -> Targets {
    filter_directives(rust_log)
        .parse()
        .unwrap_or_else(|_| default_filter())
}

fn default_filter() -> Targets {
    filter_directives(None)
        .parse()
        .expect("the default directives parse")
}

/// Installs the global subscriber once per cold start.
pub fn init() {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter(rust_log.as_deref());
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let registry = tracing_subscriber::registry().with(filter);
    let result = if in_lambda {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_ansi(false)
                    .without_time(),
            )
            .try_init()
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().compact())
            .try_init()
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
        assert!(directives.parse::<Targets>().is_ok());
    }

    #[test]
    fn a_debug_level_filter_still_hides_sdk_debug_lines() {
        let text = logged(filter(Some("debug")), || {
            tracing::debug!(target: "aws_smithy_runtime::client", "sdk detail");
            tracing::debug!(target: "shared::lifecycle", "our detail");
        });
        assert!(text.contains("our detail"));
        assert!(!text.contains("sdk detail"));
    }

    #[test]
    fn a_dependency_named_at_debug_logs_its_debug_lines() {
        let text = logged(filter(Some("info, hyper=debug")), || {
            tracing::debug!(target: "hyper::proto::h1", "hyper detail");
            tracing::debug!(target: "aws_smithy_runtime::client", "sdk detail");
            tracing::debug!(target: "shared::lifecycle", "our detail");
            tracing::info!(target: "shared::lifecycle", "our news");
        });
        assert!(text.contains("hyper detail"), "{text}");
        assert!(text.contains("our news"), "{text}");
        assert!(!text.contains("sdk detail"), "{text}");
        assert!(!text.contains("our detail"), "{text}");
    }

    #[test]
    fn a_more_specific_target_wins_over_a_broader_one() {
        let text = logged(
            filter(Some("warn,shared=info,shared::lifecycle=debug")),
            || {
                tracing::debug!(target: "shared::lifecycle::connect", "lifecycle detail");
                tracing::debug!(target: "shared::store", "store detail");
                tracing::info!(target: "shared::store", "store news");
                tracing::info!(target: "lookup", "lookup news");
            },
        );
        assert!(text.contains("lifecycle detail"), "{text}");
        assert!(text.contains("store news"), "{text}");
        assert!(!text.contains("store detail"), "{text}");
        assert!(!text.contains("lookup news"), "{text}");
    }

    #[test]
    fn an_unreadable_rust_log_logs_at_info_with_the_sdk_quiet() {
        let text = logged(filter(Some("hyper=loud")), || {
            tracing::debug!(target: "shared::lifecycle", "our detail");
            tracing::info!(target: "shared::lifecycle", "our news");
            tracing::info!(target: "aws_smithy_runtime::client", "sdk news");
        });
        assert!(text.contains("our news"), "{text}");
        assert!(!text.contains("our detail"), "{text}");
        assert!(!text.contains("sdk news"), "{text}");
    }

    /// What `emit` logs through `filter`.
    fn logged(filter: Targets, emit: impl FnOnce()) -> String {
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(tracing_subscriber::fmt::layer().with_writer(move || Writer(sink.clone())));
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
        text
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
