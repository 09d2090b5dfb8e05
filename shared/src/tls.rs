//! Whom the HTTPS clients trust and with what crypto: Mozilla's root CAs, compiled in
//! (`webpki-root-certs`), verified by rustls on ring, for every HTTPS client of a function: the
//! Shopify client and the AWS SDK's (both `reqwest`, see [`crate::aws::http_client`]).
//!
//! Left to its defaults, reqwest reads the system store while a client is built (its `rustls`
//! feature, through `rustls-platform-verifier`, at `ClientBuilder::build`), as the SDK's own
//! client does through `rustls-native-certs`: scans of `/etc/ssl/certs` and parses of the bundle,
//! most of a cold start. Compiled-in roots cost no file I/O. AWS endpoints (Amazon Trust
//! Services) and Shopify chain to public CAs in Mozilla's set; the price is that a change to
//! that set reaches the functions with the next build (keep `webpki-root-certs` current), and a
//! private CA (a TLS-inspecting proxy) is not trusted. Verification itself is rustls' WebPKI
//! verifier.
//!
//! No client parses the roots at cold start: the trust store is built at the first handshake of
//! any client, once per process, and shared by all of them (the roots' parse moves from init to
//! the first HTTPS request).
//!
//! The clients use ring as rustls' crypto provider, not aws-lc (the default of reqwest and of
//! the SDK's `default-https-client`): one provider, linked once, and ring is much smaller in a
//! binary (see the README, "Bundle size and cold start"). It offers the TLS 1.2/1.3 suites AWS
//! and Shopify negotiate (ECDHE with AES-GCM or ChaCha20-Poly1305).

use std::sync::{Arc, OnceLock};

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
/// connects, and a container that never connects never parses them. Every configuration shares
/// one verifier, so the roots are parsed once per process however many clients connect.
pub fn reqwest_tls() -> rustls::ClientConfig {
    let verifier = shared_verifier();
    let mut config = rustls::ClientConfig::builder_with_provider(verifier.provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// The process's one [`VerifyOnFirstUse`], on ring.
fn shared_verifier() -> Arc<VerifyOnFirstUse> {
    static VERIFIER: OnceLock<Arc<VerifyOnFirstUse>> = OnceLock::new();
    VERIFIER
        .get_or_init(|| {
            Arc::new(VerifyOnFirstUse {
                provider: Arc::new(rustls::crypto::ring::default_provider()),
                verifier: OnceLock::new(),
            })
        })
        .clone()
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
