//! The AWS SDK's HTTP client: the `reqwest` stack the Shopify client already links (hyper's
//! HTTP/1.1 client, rustls on ring, the compiled-in roots of [`crate::tls`]), behind the SDK's
//! [`HttpClient`] and [`HttpConnector`] traits.
//!
//! The SDK's own client (`aws-smithy-http-client`) would link a second hyper client, hyper-rustls
//! and hyper's HTTP/2 (h2), which, once enabled, every hyper client in the binary instantiates.
//! AWS's regional endpoints all speak HTTP/1.1, which is what the SDK's client negotiates with
//! them anyway.
//!
//! What the SDK asks of a connector, and how this one does it:
//! - apply the connect and read timeouts it passes ([`HttpConnectorSettings`]; the attempt and
//!   operation timeouts are the orchestrator's). The read timeout bounds the wait for the
//!   response's head, as the SDK's own client does, not each read of its body (reqwest's
//!   `read_timeout` would also cut a slow consumer of a streamed body);
//! - send the request with its body, whatever it is, as the SDK's `SdkBody` itself: the SDK
//!   wraps it to watch upload throughput (stalled-stream protection), and a body it never sees
//!   read would count as a stalled upload and fail a slow answer after a few seconds;
//! - send it to the very path and query SigV4 signed: reqwest holds a parsed URL, which resolves
//!   `.` and `..` segments, so a request whose path would change is refused, not sent elsewhere;
//! - let the SDK drop a connection after a transient error (`ReconnectMode`): reqwest does not
//!   expose its connections one by one, so poisoning one replaces the client, and its pool, of
//!   that connection's endpoint (one client per scheme, host and port: a 5xx from S3 leaves the
//!   DynamoDB connections alone), and only if no other poisoning has replaced it since;
//! - hand back the response with a streaming body, and classify failures as the SDK's retry
//!   strategy expects: timeouts and transport failures are retried, a fault of the request
//!   itself or anything else is not (see [`connector_error`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_smithy_runtime_api::client::connection::{CaptureSmithyConnection, ConnectionMetadata};
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

/// `reqwest::Client`s (HTTP/1.1, rustls on ring, compiled-in roots) with the SDK's connect
/// timeout, one per endpoint, and its read timeout applied to each request.
#[derive(Debug)]
struct ReqwestConnector {
    settings: HttpConnectorSettings,
    /// The client of each endpoint (scheme, host and port) for its next request: replaced, with
    /// its pool, when the SDK poisons a connection of that pool; requests under way keep the
    /// client they started with.
    clients: Arc<Mutex<HashMap<String, Pool>>>,
}

/// One endpoint's client, and how many times it has been replaced.
#[derive(Debug, Clone)]
struct Pool {
    generation: u64,
    http: reqwest::Client,
}

impl ReqwestConnector {
    fn new(settings: &HttpConnectorSettings) -> Self {
        Self {
            settings: settings.clone(),
            clients: Arc::default(),
        }
    }

    #[cfg(test)]
    fn client(&self) -> reqwest::Client {
        build_client(&self.settings)
    }

    fn pool(&self, endpoint: &str) -> Pool {
        lock(&self.clients)
            .entry(endpoint.to_owned())
            .or_insert_with(|| Pool {
                generation: 0,
                http: build_client(&self.settings),
            })
            .clone()
    }

    /// What the SDK's `ConnectionPoisoningInterceptor` reads after an attempt: a way to close
    /// the connection that attempt used. Replacing the endpoint's client drops its pool (and
    /// its idle connections) once the requests under way on it end; a pool already replaced
    /// since the attempt began is left alone.
    fn offer_poisoning(
        &self,
        capture: &CaptureSmithyConnection,
        endpoint: String,
        generation: u64,
    ) {
        let clients = Arc::clone(&self.clients);
        let settings = self.settings.clone();
        capture.set_connection_retriever(move || {
            let clients = Arc::clone(&clients);
            let settings = settings.clone();
            let endpoint = endpoint.clone();
            Some(
                ConnectionMetadata::builder()
                    .proxied(false)
                    .poison_fn(move || {
                        let mut clients = lock(&clients);
                        if let Some(pool) = clients.get_mut(&endpoint) {
                            if pool.generation == generation {
                                *pool = Pool {
                                    generation: generation + 1,
                                    http: build_client(&settings),
                                };
                            }
                        }
                    })
                    .build(),
            )
        });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn build_client(settings: &HttpConnectorSettings) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        // The SDK follows no redirect: it reads 3xx answers (S3's wrong-region ones) itself.
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tls_backend_preconfigured(crate::tls::reqwest_tls());
    if let Some(timeout) = settings.connect_timeout() {
        builder = builder.connect_timeout(timeout);
    }
    builder
        .build()
        .expect("the TLS backend is compiled in, so building the client cannot fail")
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let capture = request.extension::<CaptureSmithyConnection>().cloned();
        let request = match into_reqwest(request) {
            Ok(request) => request,
            Err(error) => return HttpConnectorFuture::ready(Err(error)),
        };
        let endpoint = request.url().origin().ascii_serialization();
        let pool = self.pool(&endpoint);
        if let Some(capture) = capture {
            self.offer_poisoning(&capture, endpoint, pool.generation);
        }
        let http = pool.http;
        let read_timeout = self.settings.read_timeout();
        HttpConnectorFuture::new(async move {
            let sent = http.execute(request);
            let response = match read_timeout {
                Some(timeout) => tokio::time::timeout(timeout, sent)
                    .await
                    .map_err(|elapsed| ConnectorError::timeout(elapsed.into()))?,
                None => sent.await,
            };
            from_reqwest(response.map_err(connector_error)?)
        })
    }
}

/// The SDK's request as reqwest's, its body the SDK's own (see the module's notes), refused if
/// reqwest's URL would not send it to the path and query that were signed.
fn into_reqwest(request: HttpRequest) -> Result<reqwest::Request, ConnectorError> {
    let request = request
        .try_into_http1x()
        .map_err(|error| ConnectorError::user(error.into()))?;
    let signed = (
        request.uri().path().to_owned(),
        request.uri().query().map(str::to_owned),
    );
    let request = reqwest::Request::try_from(request.map(reqwest::Body::wrap))
        .map_err(|error| ConnectorError::user(error.into()))?;
    let url = request.url();
    if (url.path(), url.query()) != (signed.0.as_str(), signed.1.as_deref()) {
        return Err(ConnectorError::user(
            format!(
                "the request's path would be sent as {:?}, not as it was signed ({:?})",
                url.path(),
                signed.0
            )
            .into(),
        ));
    }
    Ok(request)
}

/// reqwest's response as the SDK's, its body still streaming.
fn from_reqwest(response: reqwest::Response) -> Result<HttpResponse, ConnectorError> {
    let response: ::http::Response<reqwest::Body> = response.into();
    HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
        .map_err(|error| ConnectorError::other(error.into(), None))
}

/// How the SDK's retry strategy should see a failed request, as its own client classified
/// hyper's errors: a timeout (connecting or reading) and a failure of the connection (refused,
/// reset, closed early) are transient and retried; a fault of the request itself (its body
/// failed while being sent) is the caller's and not retried, nor is anything else (a request
/// reqwest could not build).
fn connector_error(error: reqwest::Error) -> ConnectorError {
    if error.is_timeout() {
        ConnectorError::timeout(error.into())
    } else if hyper_error(&error).is_some_and(hyper::Error::is_user) {
        ConnectorError::user(error.into())
    } else if error.is_connect() || error.is_request() || error.is_body() {
        ConnectorError::io(error.into())
    } else {
        ConnectorError::other(error.into(), None)
    }
}

/// The hyper error under reqwest's, if there is one.
fn hyper_error(error: &reqwest::Error) -> Option<&hyper::Error> {
    let mut source = std::error::Error::source(error);
    while let Some(error) = source {
        if let Some(hyper) = error.downcast_ref::<hyper::Error>() {
            return Some(hyper);
        }
        source = error.source();
    }
    None
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
        let http = connector(HttpConnectorSettings::default()).client();

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
            let received = read_request(&mut stream)
                .await
                .expect("the connection closed early");
            stream
                .write_all(b"HTTP/1.1 201 Created\r\nx-amz-id: 7\r\ncontent-length: 2\r\n\r\nok")
                .await
                .unwrap();
            received
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
            read_request(&mut stream)
                .await
                .expect("the connection closed early");
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
        let sdk = crate::aws::unreachable_sdk();
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let error = client.list_tables().send().await.unwrap_err();
        assert!(matches!(
            error,
            aws_sdk_dynamodb::error::SdkError::DispatchFailure(_)
        ));
    }

    /// Reads one HTTP/1.1 request (head, then a body of its `content-length`); `None` once the
    /// client closes the connection.
    async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<String> {
        let mut received = Vec::new();
        let mut buffer = [0; 8192];
        loop {
            let text = String::from_utf8_lossy(&received).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|line| {
                        let line = line.to_ascii_lowercase();
                        line.strip_prefix("content-length:")
                            .map(|value| value.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if received.len() >= end + 4 + length {
                    return Some(text);
                }
            }
            let n = stream.read(&mut buffer).await.ok()?;
            if n == 0 {
                return None;
            }
            received.extend_from_slice(&buffer[..n]);
        }
    }

    /// A DynamoDB client on `url` with `attempt` as its attempt timeout.
    fn dynamodb(
        url: &str,
        attempt: Duration,
        retries: aws_config::retry::RetryConfig,
    ) -> aws_sdk_dynamodb::Client {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
                aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "test"),
            ))
            .endpoint_url(url)
            .retry_config(retries)
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(attempt)
                    .operation_timeout(attempt * 3)
                    .build(),
            )
            .http_client(http_client())
            .build();
        aws_sdk_dynamodb::Client::new(&sdk)
    }

    const LIST_TABLES: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: 17\r\n\r\n{\"TableNames\":[]}";

    #[tokio::test]
    async fn a_slow_answer_to_a_request_with_a_body_is_not_a_stalled_upload() {
        // The SDK watches the upload's throughput through the body it hands over: a body it
        // never sees read counts as stalled, and the request fails after the 1 s window and
        // 5 s grace period however long the attempt may take.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_request(&mut stream).await.unwrap();
            tokio::time::sleep(Duration::from_secs(8)).await;
            stream.write_all(LIST_TABLES).await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let client = dynamodb(
            &url,
            Duration::from_secs(60),
            aws_config::retry::RetryConfig::disabled(),
        );
        let answer = client.list_tables().send().await;
        assert!(
            answer.is_ok(),
            "{}",
            aws_smithy_types::error::display::DisplayErrorContext(answer.unwrap_err())
        );
    }

    #[tokio::test]
    async fn a_retry_after_a_server_error_opens_a_new_connection() {
        // The SDK's standard retries drop the connection a transient error came from.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let first = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
                tokio::spawn(async move {
                    while read_request(&mut stream).await.is_some() {
                        let answer: &[u8] = if first {
                            b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: 2\r\n\r\n{}"
                        } else {
                            LIST_TABLES
                        };
                        stream.write_all(answer).await.unwrap();
                    }
                });
            }
        });
        let retries = aws_config::retry::RetryConfig::standard()
            .with_max_attempts(2)
            .with_initial_backoff(Duration::from_millis(1));
        let client = dynamodb(&url, Duration::from_secs(30), retries);
        client.list_tables().send().await.unwrap();
        assert_eq!(
            accepted.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "the retry reused the connection that answered 500"
        );
    }

    #[tokio::test]
    async fn a_path_the_url_would_rewrite_is_refused_not_sent_elsewhere() {
        // SigV4 signs S3 paths as they are; reqwest's URL resolves `.` and `..` segments.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let request = ::http::Request::put(format!("http://{address}/bucket/../org/./1.md"))
            .body(SdkBody::from("x"))
            .unwrap();
        let error = connector(HttpConnectorSettings::default())
            .call(HttpRequest::try_from(request).unwrap())
            .await
            .unwrap_err();
        assert!(error.is_user(), "{error:?}");
        let nothing = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(nothing.is_err(), "a request reached the server");

        // A path without such segments, with its query, goes as it is.
        let request = ::http::Request::get(format!(
            "http://{address}/bucket/a.b/..c?list-type=2&prefix=o%2F"
        ))
        .body(SdkBody::empty())
        .unwrap();
        assert!(into_reqwest(HttpRequest::try_from(request).unwrap()).is_ok());
    }

    #[tokio::test]
    async fn the_read_timeout_bounds_the_wait_for_the_head_not_the_reading_of_the_body() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let request = read_request(&mut stream).await.unwrap();
                    if request.starts_with("GET /slow-head") {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nbo")
                        .await
                        .unwrap();
                    // The rest of the body comes well after the read timeout.
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    stream.write_all(b"dy").await.unwrap();
                });
            }
        });
        let settings = HttpConnectorSettings::builder()
            .read_timeout(Duration::from_millis(500))
            .build();
        let connector = connector(settings);

        let error = connector
            .call(get(&format!("{url}slow-head")))
            .await
            .unwrap_err();
        assert!(error.is_timeout(), "{error:?}");

        let response = connector.call(get(&url)).await.unwrap();
        let body = ByteStream::new(response.into_body())
            .collect()
            .await
            .unwrap();
        assert_eq!(body.into_bytes().as_ref(), b"body");
    }

    #[tokio::test]
    async fn a_request_body_that_fails_is_the_caller_s_fault_not_retried() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let chunks: Vec<Result<http_body::Frame<bytes::Bytes>, std::io::Error>> = vec![
            Ok(http_body::Frame::data(bytes::Bytes::from_static(b"part"))),
            Err(std::io::Error::other("the file went away")),
        ];
        let body = SdkBody::from_body_1_x(http_body_util::StreamBody::new(futures::stream::iter(
            chunks,
        )));
        let request = ::http::Request::put(&url)
            .header("content-length", "8")
            .body(body)
            .unwrap();
        let error = connector(HttpConnectorSettings::default())
            .call(HttpRequest::try_from(request).unwrap())
            .await
            .unwrap_err();
        assert!(error.is_user(), "{error:?}");
    }

    /// `url` as a request carrying the capture the SDK reads after the attempt.
    fn captured(url: &str) -> (HttpRequest, CaptureSmithyConnection) {
        let capture = CaptureSmithyConnection::new();
        let mut request = get(url);
        request.add_extension(capture.clone());
        (request, capture)
    }

    /// Hands `url` to the connector (which picks its endpoint's client and registers how to
    /// poison it), without sending it; returns the capture the SDK would poison through.
    fn attempt(connector: &ReqwestConnector, url: &str) -> CaptureSmithyConnection {
        let (request, capture) = captured(url);
        drop(connector.call(request));
        capture
    }

    fn generation(connector: &ReqwestConnector, endpoint: &str) -> Option<u64> {
        lock(&connector.clients)
            .get(endpoint)
            .map(|pool| pool.generation)
    }

    #[tokio::test]
    async fn poisoning_one_endpoint_s_connection_keeps_another_endpoint_s_pool() {
        let connector = connector(HttpConnectorSettings::default());
        attempt(&connector, "http://127.0.0.1:9/");
        let failing = attempt(&connector, "http://127.0.0.1:10/");
        failing
            .get()
            .expect("the connector set a retriever")
            .poison();
        assert_eq!(generation(&connector, "http://127.0.0.1:10"), Some(1));
        assert_eq!(
            generation(&connector, "http://127.0.0.1:9"),
            Some(0),
            "poisoning a connection to another endpoint replaced this one's pool"
        );
    }

    #[tokio::test]
    async fn a_stale_poisoning_leaves_the_fresh_pool_alone() {
        let connector = connector(HttpConnectorSettings::default());
        let first = attempt(&connector, "http://127.0.0.1:9/");
        let second = attempt(&connector, "http://127.0.0.1:9/");
        first.get().unwrap().poison();
        assert_eq!(generation(&connector, "http://127.0.0.1:9"), Some(1));
        // The second attempt's connection was in the pool the first poisoning already dropped.
        second.get().unwrap().poison();
        assert_eq!(
            generation(&connector, "http://127.0.0.1:9"),
            Some(1),
            "a poisoning of a pool already replaced replaced its successor"
        );
        // An attempt on the new pool can poison it in turn.
        attempt(&connector, "http://127.0.0.1:9/")
            .get()
            .unwrap()
            .poison();
        assert_eq!(generation(&connector, "http://127.0.0.1:9"), Some(2));
    }
}
