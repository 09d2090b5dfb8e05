//! The AWS SDK's HTTP client: the `reqwest` stack the Shopify client already links (hyper's
//! HTTP/1.1 client, rustls on ring, the compiled-in roots of [`crate::tls`]), behind the SDK's
//! [`HttpClient`] and [`HttpConnector`] traits.
//!
//! The SDK's own client (`aws-smithy-http-client`) would link a second hyper client, hyper-rustls
//! and hyper's HTTP/2 (h2), which, once enabled, every hyper client in the binary instantiates.
//! AWS's regional endpoints all speak HTTP/1.1, which is what the SDK's client negotiates with
//! them anyway.
//!
//! What the SDK asks of a connector: apply the connect and read timeouts it passes
//! ([`HttpConnectorSettings`]; the attempt and operation timeouts are the orchestrator's), send
//! the request with its body (in memory or streaming), and hand back the response with a
//! streaming body. Failures are classified as the SDK's retry strategy expects: timeouts and
//! transport failures are retried, anything else is not (see [`connector_error`]).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

/// The HTTPS client of every `SdkConfig`, for `SdkConfig::builder().http_client` and
/// `aws_config::ConfigLoader::http_client`.
///
/// Nothing is built before the SDK asks for a connector: then one `reqwest::Client` per distinct
/// pair of connect and read timeouts (in practice one), kept for the life of the container with
/// its connection pool. The TLS roots are parsed at the first handshake (see [`crate::tls`]).
/// Unlike reqwest's default it reads no proxy from `HTTP(S)_PROXY`; none is set on Lambda, and
/// the SDK's own client reads none either.
pub fn http_client() -> SharedHttpClient {
    SharedHttpClient::new(ReqwestHttpClient::default())
}

/// Connect and read timeouts, as the SDK passes them.
type Timeouts = (Option<Duration>, Option<Duration>);

/// The SDK's [`HttpClient`]: one connector per [`Timeouts`], built when first asked for.
#[derive(Debug, Default)]
struct ReqwestHttpClient {
    connectors: Mutex<HashMap<Timeouts, SharedHttpConnector>>,
}

impl HttpClient for ReqwestHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self
            .connectors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        connectors
            .entry(key)
            .or_insert_with(|| SharedHttpConnector::new(ReqwestConnector::new(settings)))
            .clone()
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(metadata())
    }
}

fn metadata() -> ConnectorMetadata {
    static METADATA: OnceLock<ConnectorMetadata> = OnceLock::new();
    METADATA
        .get_or_init(|| ConnectorMetadata::new("reqwest", Some("0.13".into())))
        .clone()
}

/// One `reqwest::Client` (HTTP/1.1, rustls on ring, compiled-in roots) with the SDK's connect
/// and read timeouts.
#[derive(Debug)]
struct ReqwestConnector {
    http: reqwest::Client,
}

impl ReqwestConnector {
    fn new(settings: &HttpConnectorSettings) -> Self {
        let mut builder = reqwest::Client::builder()
            // The SDK follows no redirect: it reads 3xx answers (S3's wrong-region ones) itself.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .tls_backend_preconfigured(crate::tls::reqwest_tls());
        if let Some(timeout) = settings.connect_timeout() {
            builder = builder.connect_timeout(timeout);
        }
        if let Some(timeout) = settings.read_timeout() {
            builder = builder.read_timeout(timeout);
        }
        let http = builder
            .build()
            .expect("the TLS backend is compiled in, so building the client cannot fail");
        Self { http }
    }
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match into_reqwest(request) {
            Ok(request) => request,
            Err(error) => return HttpConnectorFuture::ready(Err(error)),
        };
        let http = self.http.clone();
        HttpConnectorFuture::new(async move {
            let response = http.execute(request).await.map_err(connector_error)?;
            from_reqwest(response)
        })
    }
}

/// The SDK's request as reqwest's: an in-memory body is handed over as bytes (so reqwest knows
/// its length and can resend it), a streaming one (an S3 upload from a file) is streamed.
fn into_reqwest(request: HttpRequest) -> Result<reqwest::Request, ConnectorError> {
    let request = request
        .try_into_http1x()
        .map_err(|error| ConnectorError::user(error.into()))?;
    let request = request.map(|body: SdkBody| match body.bytes() {
        Some(bytes) => reqwest::Body::from(bytes.to_vec()),
        None => reqwest::Body::wrap(body),
    });
    reqwest::Request::try_from(request).map_err(|error| ConnectorError::user(error.into()))
}

/// reqwest's response as the SDK's, its body still streaming.
fn from_reqwest(response: reqwest::Response) -> Result<HttpResponse, ConnectorError> {
    let response: ::http::Response<reqwest::Body> = response.into();
    HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
        .map_err(|error| ConnectorError::other(error.into(), None))
}

/// How the SDK's retry strategy should see a failed request: a timeout (connecting or reading)
/// and a failure of the connection (refused, reset, closed early) are transient and retried;
/// anything else (a request reqwest could not build) is not.
fn connector_error(error: reqwest::Error) -> ConnectorError {
    if error.is_timeout() {
        ConnectorError::timeout(error.into())
    } else if error.is_connect() || error.is_request() || error.is_body() {
        ConnectorError::io(error.into())
    } else {
        ConnectorError::other(error.into(), None)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
    use aws_smithy_types::byte_stream::ByteStream;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    fn connector(settings: HttpConnectorSettings) -> ReqwestConnector {
        ReqwestConnector::new(&settings)
    }

    fn get(url: &str) -> HttpRequest {
        let request = ::http::Request::get(url).body(SdkBody::empty()).unwrap();
        HttpRequest::try_from(request).unwrap()
    }

    /// A server on a local port that answers nothing, holding every connection it accepts.
    async fn silent_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        format!("http://{address}/")
    }

    /// A local port nothing listens on.
    async fn closed_port() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        format!("http://{address}/")
    }

    #[tokio::test]
    async fn a_server_that_never_answers_is_a_timeout() {
        let url = silent_server().await;
        let settings = HttpConnectorSettings::builder()
            .connect_timeout(Duration::from_secs(1))
            .read_timeout(Duration::from_millis(200))
            .build();
        let started = Instant::now();
        let error = connector(settings).call(get(&url)).await.unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_io_error() {
        let url = closed_port().await;
        let error = connector(HttpConnectorSettings::default())
            .call(get(&url))
            .await
            .unwrap_err();
        assert!(error.is_io(), "{error:?}");
    }

    #[tokio::test]
    async fn a_connection_closed_before_the_answer_is_an_io_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buffer = [0; 1024];
            let _ = stream.read(&mut buffer).await;
            drop(stream);
        });
        let error = connector(HttpConnectorSettings::default())
            .call(get(&url))
            .await
            .unwrap_err();
        assert!(error.is_io(), "{error:?}");
    }

    #[tokio::test]
    async fn reqwest_s_errors_map_to_the_sdk_s_kinds() {
        let http = connector(HttpConnectorSettings::default()).http;

        let timeout = http
            .get(silent_server().await)
            .timeout(Duration::from_millis(100))
            .send()
            .await
            .unwrap_err();
        assert!(connector_error(timeout).is_timeout());

        let refused = http.get(closed_port().await).send().await.unwrap_err();
        assert!(refused.is_connect());
        assert!(connector_error(refused).is_io());

        // An unsupported scheme: reqwest refuses to build the request, which no retry mends.
        let builder = http.get("ftp://127.0.0.1/").send().await.unwrap_err();
        let error = connector_error(builder);
        assert!(error.is_other() && !error.is_io() && !error.is_timeout());
    }

    #[tokio::test]
    async fn requests_and_answers_keep_their_method_headers_and_bodies() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/path?q=1", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut received = Vec::new();
            let mut buffer = [0; 4096];
            while !String::from_utf8_lossy(&received).contains("hello") {
                let n = stream.read(&mut buffer).await.unwrap();
                assert!(n > 0, "the connection closed early");
                received.extend_from_slice(&buffer[..n]);
            }
            stream
                .write_all(b"HTTP/1.1 201 Created\r\nx-amz-id: 7\r\ncontent-length: 2\r\n\r\nok")
                .await
                .unwrap();
            String::from_utf8(received).unwrap()
        });
        let request = ::http::Request::put(&url)
            .header("x-amz-target", "Test")
            .header("content-length", "5")
            .body(SdkBody::from("hello"))
            .unwrap();
        let response = connector(HttpConnectorSettings::default())
            .call(HttpRequest::try_from(request).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        assert_eq!(response.headers().get("x-amz-id"), Some("7"));
        let body = ByteStream::new(response.into_body())
            .collect()
            .await
            .unwrap();
        assert_eq!(body.into_bytes().as_ref(), b"ok");
        let received = server.await.unwrap().to_ascii_lowercase();
        assert!(
            received.starts_with("put /path?q=1 http/1.1\r\n"),
            "{received}"
        );
        assert!(received.contains("x-amz-target: test\r\n"), "{received}");
        assert!(received.ends_with("\r\n\r\nhello"), "{received}");
    }

    #[tokio::test]
    async fn a_streaming_body_is_sent_whole() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut received = Vec::new();
            let mut buffer = [0; 4096];
            while !String::from_utf8_lossy(&received).contains("streamed") {
                let n = stream.read(&mut buffer).await.unwrap();
                assert!(n > 0, "the connection closed early");
                received.extend_from_slice(&buffer[..n]);
            }
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
        });
        let body = SdkBody::from_body_1_x(reqwest::Body::from("streamed"));
        assert!(body.bytes().is_none(), "a streaming body");
        let request = ::http::Request::put(&url)
            .header("content-length", "8")
            .body(body)
            .unwrap();
        let response = connector(HttpConnectorSettings::default())
            .call(HttpRequest::try_from(request).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        server.await.unwrap();
    }

    #[test]
    fn one_connector_per_pair_of_timeouts() {
        let client = ReqwestHttpClient::default();
        let components = RuntimeComponentsBuilder::for_tests().build().unwrap();
        let short = HttpConnectorSettings::builder()
            .connect_timeout(Duration::from_secs(1))
            .build();
        let _ = client.http_connector(&short, &components);
        let _ = client.http_connector(&short, &components);
        let _ = client.http_connector(&HttpConnectorSettings::default(), &components);
        assert_eq!(client.connectors.lock().unwrap().len(), 2);
        assert_eq!(
            client.connector_metadata().map(|m| m.name()),
            Some("reqwest".into())
        );
    }

    #[tokio::test]
    async fn the_sdk_connects_through_the_reqwest_client() {
        // Nothing listens on port 9, so the call fails fast, as a dispatch failure.
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
                aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "test"),
            ))
            .endpoint_url("https://127.0.0.1:9")
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .http_client(http_client())
            .build();
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let error = client.list_tables().send().await.unwrap_err();
        assert!(matches!(
            error,
            aws_sdk_dynamodb::error::SdkError::DispatchFailure(_)
        ));
    }
}
