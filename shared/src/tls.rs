//! Whom the HTTPS clients trust: Mozilla's root CAs, compiled in (`webpki-root-certs`), one
//! copy for the AWS SDK and the Shopify client alike.
//!
//! Left to their defaults, both clients read the system store while they are built, each on its
//! own: reqwest's `rustls` feature through `rustls-platform-verifier` (at
//! `ClientBuilder::build`) and aws-smithy-http-client through `rustls-native-certs` (its default
//! `TrustStore`, loaded when `Client::new` validates the config). That was two scans of
//! `/etc/ssl/certs` and two parses of the bundle: most of a cold start. Compiled-in roots cost
//! no file I/O. AWS endpoints (Amazon Trust Services) and Shopify chain to public CAs in
//! Mozilla's set; the price is that a change to that set reaches the functions with the next
//! build (keep `webpki-root-certs` current), and a private CA (a TLS-inspecting proxy) is not
//! trusted. Verification itself is unchanged: rustls' WebPKI verifier in both clients.

use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use webpki_root_certs::TLS_SERVER_ROOT_CERTS;

/// The roots for reqwest's `ClientBuilder::tls_certs_only`.
pub fn reqwest_roots() -> impl Iterator<Item = reqwest::Certificate> {
    TLS_SERVER_ROOT_CERTS.iter().map(|der| {
        reqwest::Certificate::from_der(der).expect("with rustls, from_der only copies the bytes")
    })
}

/// The AWS SDK's default HTTPS client (hyper 1 + rustls on aws-lc) trusting only the
/// compiled-in roots, for `aws_config::ConfigLoader::http_client`.
///
/// Its TLS connector is built at the first request, once, and cached. (The SDK's own client
/// also builds a throw-away one in every `Client::new`, to load the system roots early.)
/// Unlike the SDK's default it reads no proxy from `HTTP(S)_PROXY`; none is set on Lambda.
pub fn aws_http_client() -> SharedHttpClient {
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(roots_pem());
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a TLS context with a trust store always builds");
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https();
    SharedHttpClient::new(ConnectOnFirstUse(client))
}

/// Delegates everything but `validate_base_client_config`, whose default does nothing.
#[derive(Debug)]
struct ConnectOnFirstUse(SharedHttpClient);

impl HttpClient for ConnectOnFirstUse {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// The compiled-in roots as one PEM bundle: the only form the SDK's `TrustStore` takes.
fn roots_pem() -> Vec<u8> {
    let mut pem = Vec::with_capacity(TLS_SERVER_ROOT_CERTS.len() * 2100);
    for der in TLS_SERVER_ROOT_CERTS {
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        let encoded = aws_smithy_types::base64::encode(der.as_ref());
        for line in encoded.as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_round_trips_every_root() {
        use aws_smithy_types::base64;
        let pem = String::from_utf8(roots_pem()).unwrap();
        let decoded: Vec<Vec<u8>> = pem
            .split("-----BEGIN CERTIFICATE-----\n")
            .skip(1)
            .map(|block| {
                let body = block.split("-----END CERTIFICATE-----").next().unwrap();
                base64::decode(body.replace('\n', "")).unwrap()
            })
            .collect();
        assert!(decoded.len() > 100, "Mozilla's set has well over 100 roots");
        assert_eq!(decoded.len(), TLS_SERVER_ROOT_CERTS.len());
        for (got, want) in decoded.iter().zip(TLS_SERVER_ROOT_CERTS) {
            assert_eq!(got.as_slice(), want.as_ref());
        }
    }

    #[test]
    fn reqwest_accepts_every_root() {
        // `build` adds each root to a rustls store and fails on one it cannot parse.
        reqwest::Client::builder()
            .tls_certs_only(reqwest_roots())
            .build()
            .unwrap();
    }

    #[tokio::test]
    async fn the_sdk_accepts_every_root() {
        // The first request builds the TLS connector, and the SDK panics there if a root in the
        // trust store does not parse. Nothing listens on port 9, so the call itself fails fast.
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
                aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "test"),
            ))
            .endpoint_url("https://127.0.0.1:9")
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .http_client(aws_http_client())
            .build();
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let error = client.list_tables().send().await.unwrap_err();
        assert!(matches!(
            error,
            aws_sdk_dynamodb::error::SdkError::DispatchFailure(_)
        ));
    }
}
