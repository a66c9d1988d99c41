//! The one outbound HTTP client: webhook posts and, with the `aws`
//! feature, every AWS SDK request (S3, DynamoDB, credentials).
//!
//! It is hyper's pooled client over rustls with *ring* and the system's
//! root certificates, HTTP/1.1 only. The SDK's own default client links
//! aws-lc-rs and HTTP/2, which every Lambda bootstrap loaded on each cold
//! start and never needed: S3 and DynamoDB speak HTTP/1.1, and a webhook
//! is one POST. Plain `http://` URLs work too (moto, a local endpoint).

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::time::Duration;

/// Makes *ring* the process's default rustls crypto provider; a no-op when
/// one is installed already. The CLI's reqwest client is built without a
/// provider of its own (its default links aws-lc-rs, a second crypto
/// library in C, for what *ring* does here already), and reqwest panics
/// when it builds a client with none installed: call this first.
pub fn install_ring_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Any error, boxed, as hyper and the SDK pass them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body of the client.
pub type Body = BoxBody<Bytes, BoxError>;

/// A pooled HTTPS (and HTTP) client; clones share the pool.
#[derive(Clone)]
pub struct Https {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>,
}

impl std::fmt::Debug for Https {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Https").finish_non_exhaustive()
    }
}

/// How long a connection may take to open when the caller sets no limit.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

impl Https {
    /// A client whose connections must open within `connect_timeout`.
    ///
    /// Root certificates come from the system store (`SSL_CERT_FILE` and
    /// `SSL_CERT_DIR` override it). When none are found this still works
    /// for `http://` URLs, and every `https://` request fails with an
    /// unknown-issuer error, after one warning here.
    pub fn new(connect_timeout: Duration) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config().clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// Sends one request; the response's body streams as it arrives.
    pub async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<hyper::body::Incoming>, hyper_util::client::legacy::Error> {
        self.client.request(request).await
    }
}

/// The TLS settings of every client in the process, made once: reading
/// the system's root certificates (a few hundred files where
/// `SSL_CERT_DIR` is set) is the slowest part of a cold start's first
/// request, and each SDK client asks for a connector of its own.
fn tls_config() -> &'static rustls::ClientConfig {
    static CONFIG: std::sync::OnceLock<rustls::ClientConfig> = std::sync::OnceLock::new();
    CONFIG.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            tracing::warn!(
                errors = found.errors.len(),
                "no CA certificates found in the system store: HTTPS requests will fail \
                 (install ca-certificates, or set SSL_CERT_FILE)"
            );
        }
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth()
    })
}

/// A body of bytes already in memory.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    use http_body_util::BodyExt;
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// The AWS SDK's requests through [`Https`].
#[cfg(feature = "aws")]
pub mod sdk {
    use super::{BoxError, Https};
    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
        SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::client::retries::ErrorKind;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
    use aws_smithy_types::body::SdkBody;
    use std::error::Error;
    use std::sync::Mutex;
    use std::time::Duration;

    /// The SDK's HTTP client: pass it to `aws_config::ConfigLoader::http_client`.
    pub fn client() -> SharedHttpClient {
        SharedHttpClient::new(SdkClient::default())
    }

    /// Connect and read timeouts: the settings a connector is made for.
    type Timeouts = (Option<Duration>, Option<Duration>);

    #[derive(Debug, Default)]
    pub(super) struct SdkClient {
        connectors: Mutex<Vec<(Timeouts, SharedHttpConnector)>>,
    }

    impl SdkClient {
        /// The connector for these timeouts, made once: the SDK asks on
        /// every attempt of every request, and a new connector would be a
        /// new pool, so a new TCP and TLS handshake each time.
        pub(super) fn connector_for(&self, timeouts: Timeouts) -> SharedHttpConnector {
            let mut connectors = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, c)) = connectors.iter().find(|(t, _)| *t == timeouts) {
                return c.clone();
            }
            let connector = SharedHttpConnector::new(SdkConnector {
                https: Https::new(timeouts.0.unwrap_or(super::DEFAULT_CONNECT_TIMEOUT)),
                read_timeout: timeouts.1,
            });
            connectors.push((timeouts, connector.clone()));
            connector
        }
    }

    impl HttpClient for SdkClient {
        fn http_connector(
            &self,
            settings: &HttpConnectorSettings,
            _components: &RuntimeComponents,
        ) -> SharedHttpConnector {
            self.connector_for((settings.connect_timeout(), settings.read_timeout()))
        }
    }

    #[derive(Debug)]
    pub(super) struct SdkConnector {
        pub(super) https: Https,
        pub(super) read_timeout: Option<Duration>,
    }

    impl HttpConnector for SdkConnector {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let request = match request.try_into_http1x() {
                Ok(r) => r.map(|body: SdkBody| super::Body::new(body)),
                Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
            };
            let https = self.https.clone();
            let read_timeout = self.read_timeout;
            HttpConnectorFuture::new(async move {
                let sent = https.send(request);
                let response = match read_timeout {
                    Some(limit) => tokio::time::timeout(limit, sent)
                        .await
                        .map_err(|e| ConnectorError::timeout(e.into()))?,
                    None => sent.await,
                }
                .map_err(classify)?;
                HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                    .map_err(|e| ConnectorError::other(e.into(), None))
            })
        }
    }

    /// What the SDK may retry, as its own client decides: failures to
    /// connect and broken connections are I/O errors (retried), a message
    /// cut short is transient (retried), the rest are not.
    fn classify(error: hyper_util::client::legacy::Error) -> ConnectorError {
        let hyper_error = find::<hyper::Error>(&error);
        let io = error.is_connect()
            || find::<std::io::Error>(&error).is_some()
            || hyper_error.is_some_and(|e| e.is_closed() || e.is_canceled());
        let incomplete = hyper_error.is_some_and(|e| e.is_incomplete_message());
        let user = hyper_error.is_some_and(|e| e.is_user());
        let error: BoxError = error.into();
        if io {
            ConnectorError::io(error)
        } else if incomplete {
            ConnectorError::other(error, Some(ErrorKind::TransientError))
        } else if user {
            ConnectorError::user(error)
        } else {
            ConnectorError::other(error, None)
        }
    }

    fn find<'a, E: Error + 'static>(error: &'a (dyn Error + 'static)) -> Option<&'a E> {
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(found) = e.downcast_ref::<E>() {
                return Some(found);
            }
            next = e.source();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server that answers each connection's first request with `answer`
    /// (or never, for `None`), and hands back what it was sent.
    async fn server(answer: Option<&'static str>) -> (String, tokio::sync::mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    tx.send(String::from_utf8_lossy(&buf[..n]).into_owned())
                        .await
                        .ok();
                    match answer {
                        Some(a) => socket.write_all(a.as_bytes()).await.unwrap(),
                        None => tokio::time::sleep(Duration::from_secs(30)).await,
                    }
                });
            }
        });
        (url, rx)
    }

    #[tokio::test]
    async fn posts_over_plain_http_and_reads_the_status() {
        let (url, mut seen) = server(Some("HTTP/1.1 204 No Content\r\n\r\n")).await;
        let https = Https::new(DEFAULT_CONNECT_TIMEOUT);
        let request = http::Request::post(format!("{url}/hook"))
            .header("content-type", "application/json")
            .body(full(r#"{"a":1}"#))
            .unwrap();
        let response = https.send(request).await.unwrap();
        assert_eq!(response.status(), 204);
        let sent = seen.recv().await.unwrap();
        assert!(sent.starts_with("POST /hook HTTP/1.1\r\n"), "{sent}");
        assert!(sent.ends_with("\r\n\r\n{\"a\":1}"), "{sent}");
    }

    #[tokio::test]
    async fn https_checks_the_certificate() {
        // A TLS handshake with a server that speaks no TLS fails, and the
        // message says so; a plaintext answer is never taken for TLS.
        let (url, _seen) = server(Some("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")).await;
        let https = Https::new(DEFAULT_CONNECT_TIMEOUT);
        let request = http::Request::get(url.replace("http://", "https://"))
            .body(full(""))
            .unwrap();
        let error = https.send(request).await.unwrap_err();
        assert!(error.is_connect(), "{error:?}");
    }

    #[cfg(feature = "aws")]
    mod sdk {
        use super::super::sdk::*;
        use super::*;
        use aws_smithy_runtime_api::client::http::HttpConnector;
        use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
        use aws_smithy_types::body::SdkBody;
        use http_body_util::BodyExt;

        fn request(url: &str) -> HttpRequest {
            let mut r = HttpRequest::new(SdkBody::from("hello"));
            r.set_uri(url).unwrap();
            r
        }

        fn connector(read_timeout: Option<Duration>) -> impl HttpConnector {
            SdkConnector {
                https: Https::new(Duration::from_millis(500)),
                read_timeout,
            }
        }

        #[tokio::test]
        async fn the_sdk_gets_status_headers_and_body() {
            let (url, mut seen) = server(Some(
                "HTTP/1.1 200 OK\r\nx-amz-request-id: r1\r\ncontent-length: 2\r\n\r\nok",
            ))
            .await;
            let response = connector(None).call(request(&url)).await.unwrap();
            assert_eq!(response.status().as_u16(), 200);
            assert_eq!(response.headers().get("x-amz-request-id"), Some("r1"));
            assert_eq!(response.body().bytes(), None, "the body streams");
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"ok");
            assert!(seen.recv().await.unwrap().ends_with("\r\n\r\nhello"));
        }

        #[tokio::test]
        async fn requests_with_the_same_timeouts_share_one_pool() {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let counter = accepted.clone();
            tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 4096];
                        while let Ok(n) = socket.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                            let ok = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if socket.write_all(ok.as_bytes()).await.is_err() {
                                break;
                            }
                        }
                    });
                }
            });
            let client = SdkClient::default();
            let timeouts = (Some(Duration::from_secs(1)), None);
            for _ in 0..3 {
                // As the SDK does: a connector asked for on every attempt.
                let response = client
                    .connector_for(timeouts)
                    .call(request(&url))
                    .await
                    .unwrap();
                response.into_body().collect().await.unwrap();
            }
            assert_eq!(
                accepted.load(std::sync::atomic::Ordering::SeqCst),
                1,
                "one connection, kept alive"
            );
            // Other timeouts get a connector of their own.
            client
                .connector_for((Some(Duration::from_secs(2)), None))
                .call(request(&url))
                .await
                .unwrap();
            assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
        }

        #[tokio::test]
        async fn a_refused_connection_is_an_io_error_the_sdk_retries() {
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap().port()
            };
            let error = connector(None)
                .call(request(&format!("http://127.0.0.1:{port}/")))
                .await
                .unwrap_err();
            assert!(error.is_io(), "{error:?}");
        }

        #[tokio::test]
        async fn a_silent_server_is_a_timeout() {
            let (url, _seen) = server(None).await;
            let error = connector(Some(Duration::from_millis(200)))
                .call(request(&url))
                .await
                .unwrap_err();
            assert!(error.is_timeout(), "{error:?}");
        }

        #[tokio::test]
        async fn a_cut_answer_is_transient() {
            let (url, _seen) = server(Some("HTTP/1.1 200 OK\r\ncontent-le")).await;
            let error = connector(None).call(request(&url)).await.unwrap_err();
            assert!(error.is_other() || error.is_io(), "{error:?}");
            assert!(
                error.is_io()
                    || error.as_other()
                        == Some(aws_smithy_runtime_api::client::retries::ErrorKind::TransientError),
                "{error:?}"
            );
        }
    }
}
