//! Whom the HTTPS clients trust and with what crypto: Mozilla's root CAs, compiled in
//! (`webpki-root-certs`), one copy for the AWS SDK and the Shopify client alike, verified by
//! rustls on ring.
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
//!
//! Neither client parses the roots at cold start: each builds its trust store at its first
//! connection, once (the roots' parse moves from init to the first HTTPS request).
//!
//! Both clients use ring as rustls' crypto provider, not aws-lc (the default of reqwest and of
//! the SDK's `default-https-client`): one provider, linked once, and ring is much smaller in a
//! binary (see the README, "Bundle size and cold start"). It offers the TLS 1.2/1.3 suites AWS
//! and Shopify negotiate (ECDHE with AES-GCM or ChaCha20-Poly1305).

use std::sync::{Arc, OnceLock};

use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use webpki_root_certs::TLS_SERVER_ROOT_CERTS;

/// The TLS configuration for reqwest's `ClientBuilder::tls_backend_preconfigured`: rustls on
/// ring, HTTP/1.1 by ALPN (as reqwest sets it), verifying servers against the compiled-in
/// roots with rustls' WebPKI verifier.
///
/// The roots are parsed into the verifier's store at the first handshake, not here: a client
/// built at cold start (the Shopify client is, in every function) costs no parsing until it
/// connects, and a container that never connects never parses them.
pub fn reqwest_tls() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(VerifyOnFirstUse {
            provider,
            verifier: OnceLock::new(),
        }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// rustls' WebPKI verifier over the compiled-in roots, built at the first handshake. The
/// handshake signatures are checked as that verifier checks them, with the provider's
/// algorithms.
#[derive(Debug)]
struct VerifyOnFirstUse {
    provider: Arc<CryptoProvider>,
    verifier: OnceLock<Arc<WebPkiServerVerifier>>,
}

impl VerifyOnFirstUse {
    fn verifier(&self) -> &WebPkiServerVerifier {
        self.verifier.get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(TLS_SERVER_ROOT_CERTS.iter().cloned());
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .expect("Mozilla's roots are a non-empty store")
        })
    }
}

impl ServerCertVerifier for VerifyOnFirstUse {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier().verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The AWS SDK's HTTPS client (hyper 1 + rustls on ring) trusting only the compiled-in roots,
/// for `SdkConfig::builder().http_client` and `aws_config::ConfigLoader::http_client`.
///
/// Nothing is built before the first request: then the client (and its PEM trust store), once,
/// and its TLS connector, once, both cached. (The SDK's own client also builds a throw-away
/// connector in every `Client::new`, to load the system roots early.) Unlike the SDK's default
/// it reads no proxy from `HTTP(S)_PROXY`; none is set on Lambda.
pub fn aws_http_client() -> SharedHttpClient {
    SharedHttpClient::new(ConnectOnFirstUse(OnceLock::new()))
}

/// The SDK's hyper client over the compiled-in roots.
fn hyper_client() -> SharedHttpClient {
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(roots_pem());
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a TLS context with a trust store always builds");
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https()
}

/// Builds [`hyper_client`] when it is first asked for a connector, and delegates to it; the
/// default `validate_base_client_config` (which the SDK's own client uses to load roots at
/// `Client::new`) does nothing.
#[derive(Debug)]
struct ConnectOnFirstUse(OnceLock<SharedHttpClient>);

impl ConnectOnFirstUse {
    fn client(&self) -> &SharedHttpClient {
        self.0.get_or_init(hyper_client)
    }
}

impl HttpClient for ConnectOnFirstUse {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.client().http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.client().connector_metadata()
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
    fn the_shopify_client_verifies_against_every_root() {
        let verifier = VerifyOnFirstUse {
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            verifier: OnceLock::new(),
        };
        let mut roots = RootCertStore::empty();
        let (added, ignored) =
            roots.add_parsable_certificates(TLS_SERVER_ROOT_CERTS.iter().cloned());
        assert_eq!((added, ignored), (TLS_SERVER_ROOT_CERTS.len(), 0));
        assert!(
            verifier.verifier.get().is_none(),
            "nothing parsed before use"
        );
        verifier.verifier();
        assert!(verifier.verifier.get().is_some());
    }

    #[test]
    fn reqwest_takes_the_preconfigured_tls() {
        // An unrecognised preconfigured backend (another rustls version) fails `build`.
        reqwest::Client::builder()
            .tls_backend_preconfigured(reqwest_tls())
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
