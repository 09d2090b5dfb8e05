//! [`LazyClient`]: an AWS SDK client built at its first call instead of at cold start.
//!
//! Building a client is not free: each service crate parses its endpoint partitions (a JSON
//! document) and compiles their region patterns the first time one of its clients is made
//! (its service plugin builds the default endpoint resolver even when another is configured),
//! about 0.67 million instructions per service under callgrind, more than a bare
//! `lambda_runtime` start. A function builds every client its IAM policy allows, but a
//! container calls some of them rarely or never: EventBridge only when a store's status
//! changes, Secrets Manager only when credentials are not cached yet, or are written, SQS only
//! when a job is queued, S3 only when a sync writes, deletes or lists documents. Those clients
//! are built by the first call that needs them; a container that never needs one never pays
//! for it. DynamoDB, which nearly every invocation calls, is built at init.

use std::fmt;
use std::sync::{Arc, OnceLock};

use aws_config::SdkConfig;

/// A client of type `C`, built from an `SdkConfig` by the first [`LazyClient::get`]. Clones
/// share the one client.
pub struct LazyClient<C> {
    inner: Arc<Inner<C>>,
}

/// Makes a client of an `SdkConfig` (`aws_sdk_*::Client::new`).
type Build<C> = fn(&SdkConfig) -> C;

struct Inner<C> {
    client: OnceLock<C>,
    /// How to build the client; `None` for one given ready.
    build: Option<(SdkConfig, Build<C>)>,
}

impl<C> LazyClient<C> {
    /// A client `build` makes from `sdk` at the first call (for example
    /// `LazyClient::new(sdk, aws_sdk_eventbridge::Client::new)`).
    pub fn new(sdk: &SdkConfig, build: Build<C>) -> Self {
        Self {
            inner: Arc::new(Inner {
                client: OnceLock::new(),
                build: Some((sdk.clone(), build)),
            }),
        }
    }

    /// A client built already (tests, tools).
    pub fn ready(client: C) -> Self {
        Self {
            inner: Arc::new(Inner {
                client: OnceLock::from(client),
                build: None,
            }),
        }
    }

    /// The client, built now if this is the first call.
    pub fn get(&self) -> &C {
        self.inner.client.get_or_init(|| {
            let (sdk, build) = self
                .inner
                .build
                .as_ref()
                .expect("a client given ready is always set");
            build(sdk)
        })
    }

    /// Whether the client has been built.
    pub fn is_built(&self) -> bool {
        self.inner.client.get().is_some()
    }
}

impl<C> Clone for LazyClient<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<C> From<C> for LazyClient<C> {
    fn from(client: C) -> Self {
        Self::ready(client)
    }
}

impl<C> fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyClient")
            .field("built", &self.is_built())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    static BUILDS: AtomicUsize = AtomicUsize::new(0);

    fn counted(sdk: &SdkConfig) -> Option<String> {
        BUILDS.fetch_add(1, Ordering::SeqCst);
        sdk.region().map(|r| r.to_string())
    }

    #[test]
    fn the_client_is_built_by_the_first_call_once_for_every_clone() {
        let sdk = SdkConfig::builder()
            .region(aws_config::Region::new("eu-west-1"))
            .build();
        let lazy = LazyClient::new(&sdk, counted);
        let clone = lazy.clone();
        assert!(!lazy.is_built());
        assert_eq!(BUILDS.load(Ordering::SeqCst), 0, "nothing built up front");

        assert_eq!(clone.get().as_deref(), Some("eu-west-1"));
        assert_eq!(lazy.get().as_deref(), Some("eu-west-1"));
        assert!(lazy.is_built());
        assert_eq!(BUILDS.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_ready_client_is_used_as_given() {
        let lazy: LazyClient<&str> = "given".into();
        assert!(lazy.is_built());
        assert_eq!(*lazy.get(), "given");
    }
}
