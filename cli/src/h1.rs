//! One connection of `liveship serve`. Device lookups in their plain form
//! are read and answered here ([`FastLookup`]): the request head parsed with
//! `httparse`, the answer written in one `write`. At the first request the
//! fast path does not take (any other route, a body, `Connection: close`, an
//! escaped path, HTTP/1.0, a parse error), the connection goes to hyper and
//! the router for the rest of its life, with the bytes already read.
//!
//! The answers are the router's, byte for byte apart from the date
//! (tests/tests/service.rs holds the two side by side).

use axum::http::{header, Method};
use axum::Router;
use bytes::{Buf, Bytes, BytesMut};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::Watcher;
use liveship_core::http::fast::{Answer, FastLookup};
use liveship_core::http::log_line;
use std::cell::RefCell;
use std::io::Write as _;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// How long a client may take to send a whole request head, counted from
/// when the connection starts waiting for it (hyper's default, the same).
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// A longer head goes to hyper, whose limits then apply.
const MAX_HEAD: usize = 16 * 1024;
/// More headers than this: hyper's turn.
const MAX_HEADERS: usize = 64;

/// What one connection is served with.
#[derive(Clone)]
pub(crate) struct Serving {
    pub(crate) router: Router,
    pub(crate) http: http1::Builder,
    pub(crate) fast: Option<FastLookup>,
}

/// A request head the fast path takes: its length, and where its path (and
/// the app and channel in it) and query lie in the buffer.
struct Head {
    len: usize,
    path: Range<usize>,
    app: Range<usize>,
    channel: Range<usize>,
    query: Range<usize>,
}

enum Parsed {
    Fast(Head),
    Partial,
    Other,
}

/// Serves one connection until the client closes it, a head times out, or
/// shutdown finds it idle.
pub(crate) async fn connection(
    mut stream: TcpStream,
    serving: Serving,
    watcher: Watcher,
    stopped: CancellationToken,
) {
    let Some(fast) = serving.fast.clone() else {
        return hand_over(stream, Bytes::new(), serving, watcher).await;
    };
    let mut buf = BytesMut::with_capacity(4096);
    let mut out = Vec::with_capacity(1024);
    // One timer and one shutdown wait for the connection's life, not one
    // per request: the timer is moved (a second further than needed) only
    // when it would fire too soon, so a head may take 30-31 s.
    let idle = tokio::time::sleep(HEAD_TIMEOUT);
    let shutdown = stopped.clone().cancelled_owned();
    tokio::pin!(idle, shutdown);
    loop {
        let deadline = tokio::time::Instant::now() + HEAD_TIMEOUT;
        if idle.deadline() < deadline {
            idle.as_mut().reset(deadline + Duration::from_secs(1));
        }
        let head = loop {
            if !buf.is_empty() {
                match parse(&buf) {
                    Parsed::Fast(head) => break head,
                    Parsed::Partial if buf.len() < MAX_HEAD => {}
                    _ => return hand_over(stream, buf.freeze(), serving, watcher).await,
                }
            }
            let waiting = buf.is_empty();
            tokio::select! {
                biased;
                read = stream.read_buf(&mut buf) => match read {
                    Ok(n) if n > 0 => {}
                    _ => return, // closed or failed
                },
                _ = &mut idle => return, // too slow
                // Idle between requests: shutdown closes the connection.
                _ = &mut shutdown, if waiting => return,
            }
        };
        let start = Instant::now();
        // The target (path and query) checked as text once; its parts are
        // slices of it.
        let target = text(&buf, &(head.path.start..head.query.end));
        let part =
            |r: &Range<usize>| target.get(r.start - head.path.start..r.end - head.path.start);
        let (path, app, channel, query) = (
            part(&head.path).unwrap_or_default(),
            part(&head.app).unwrap_or_default(),
            part(&head.channel).unwrap_or_default(),
            part(&head.query).unwrap_or_default(),
        );
        let answer = fast.answer(app, channel, query).await;
        let Some(answer) = answer else {
            return hand_over(stream, buf.freeze(), serving, watcher).await;
        };
        let micros = start.elapsed().as_micros() as u64;
        encode(&answer, &mut out);
        if stream.write_all(&out).await.is_err() {
            return;
        }
        log_line(&Method::GET, path, answer.status().as_u16(), micros);
        buf.advance(head.len);
        if stopped.is_cancelled() {
            return; // answered what was in flight; now close
        }
    }
}

/// The text of a range that `parse` found to be a `&str`.
fn text<'a>(buf: &'a [u8], range: &Range<usize>) -> &'a str {
    std::str::from_utf8(&buf[range.clone()]).unwrap_or_default()
}

/// Reads one request head from the start of `buf`, and says whether the
/// fast path may take it.
fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Other,
    };
    if request.method != Some("GET") || request.version != Some(1) {
        return Parsed::Other;
    }
    if !request.headers.iter().all(plain) {
        return Parsed::Other;
    }
    let Some(target) = request.path else {
        return Parsed::Other;
    };
    // No `?`: an empty query at the end of the target (still inside `buf`).
    let (path, query) = target
        .split_once('?')
        .unwrap_or((target, &target[target.len()..]));
    let Some((app, channel)) = FastLookup::route(path) else {
        return Parsed::Other;
    };
    let at = |s: &str| {
        let start = s.as_ptr() as usize - buf.as_ptr() as usize;
        start..start + s.len()
    };
    Parsed::Fast(Head {
        len,
        path: at(path),
        app: at(app),
        channel: at(channel),
        query: at(query),
    })
}

/// A header that leaves the request a plain GET with no body, on a
/// connection that stays open.
fn plain(h: &httparse::Header<'_>) -> bool {
    let value = std::str::from_utf8(h.value).unwrap_or("?").trim();
    if h.name.eq_ignore_ascii_case("content-length") {
        value == "0"
    } else if h.name.eq_ignore_ascii_case("connection") {
        value
            .split(',')
            .all(|t| t.trim().eq_ignore_ascii_case("keep-alive"))
    } else {
        !["transfer-encoding", "expect", "upgrade"]
            .iter()
            .any(|n| h.name.eq_ignore_ascii_case(n))
    }
}

/// Writes the answer as hyper writes a response: status line, the headers
/// in order, `content-length`, then `date`.
fn encode(answer: &Answer, out: &mut Vec<u8>) {
    out.clear();
    let body = match answer {
        Answer::Json(body) => {
            out.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n");
            body
        }
        Answer::Error(response) => {
            let status = response.status();
            let _ = write!(
                out,
                "HTTP/1.1 {} {}\r\n",
                status.as_str(),
                status.canonical_reason().unwrap_or("")
            );
            for (name, value) in response.headers() {
                if name != header::CONTENT_LENGTH {
                    out.extend_from_slice(name.as_str().as_bytes());
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(value.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
            }
            response.body()
        }
    };
    let _ = write!(out, "content-length: {}\r\ndate: ", body.len());
    date(out);
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
}

thread_local! {
    /// The `date` value of the current second, per worker thread.
    static DATE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

fn date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let second = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != second {
            *d = (second, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(d.1.as_bytes());
    });
}

/// Serves the rest of the connection with hyper and the router, starting
/// with the bytes already read.
async fn hand_over(stream: TcpStream, read: Bytes, serving: Serving, watcher: Watcher) {
    let router = serving.router;
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        tower::ServiceExt::oneshot(router.clone(), req.map(axum::body::Body::new))
    });
    let io = TokioIo::new(Rewind {
        read,
        inner: stream,
    });
    let conn = watcher.watch(serving.http.serve_connection(io, service));
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "a connection ended with an error");
    }
}

/// A stream that first gives back the bytes already read from it.
struct Rewind {
    read: Bytes,
    inner: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.read.is_empty() {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        let n = self.read.len().min(buf.remaining());
        buf.put_slice(&self.read[..n]);
        self.read.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::{parse, plain, Parsed};

    fn fast(request: &str) -> bool {
        matches!(parse(request.as_bytes()), Parsed::Fast(_))
    }

    #[test]
    fn plain_lookups_are_taken_and_everything_else_is_left_to_hyper() {
        let lookup = "GET /v1/apps/demo/channels/production/latest?device_id=d HTTP/1.1\r\n";
        assert!(fast(&format!("{lookup}Host: x\r\n\r\n")));
        assert!(fast(&format!("{lookup}Connection: Keep-Alive\r\n\r\n")));
        assert!(fast(&format!("{lookup}Content-Length: 0\r\n\r\n")));
        assert!(matches!(parse(lookup.as_bytes()), Parsed::Partial));
        for other in [
            format!("{lookup}Connection: close\r\n\r\n"),
            format!("{lookup}Content-Length: 2\r\n\r\n{{}}"),
            format!("{lookup}Transfer-Encoding: chunked\r\n\r\n"),
            format!("{lookup}Expect: 100-continue\r\n\r\n"),
            format!("{lookup}Upgrade: h2c\r\nConnection: upgrade\r\n\r\n"),
            lookup.replace("GET", "HEAD") + "\r\n",
            lookup.replace("HTTP/1.1", "HTTP/1.0") + "\r\n",
            lookup.replace("production", "prod%75ction") + "\r\n",
            "GET /healthz HTTP/1.1\r\n\r\n".to_owned(),
            "GET /v1/apps/demo/channels/production/latest HTTP/1.1\r\nBad Header\r\n\r\n"
                .to_owned(),
        ] {
            assert!(!fast(&other), "{other:?}");
        }
    }

    #[test]
    fn the_query_and_path_are_found_in_the_buffer() {
        let request = b"GET /v1/apps/a/channels/b/latest?device_id=d&x=1 HTTP/1.1\r\n\r\nGET";
        let Parsed::Fast(head) = parse(request) else {
            panic!("not taken");
        };
        assert_eq!(&request[head.path], b"/v1/apps/a/channels/b/latest");
        assert_eq!(
            (&request[head.app], &request[head.channel]),
            (&b"a"[..], &b"b"[..])
        );
        assert_eq!(&request[head.query], b"device_id=d&x=1");
        assert_eq!(head.len, request.len() - 3);
        let bare = b"GET /v1/apps/a/channels/b/latest HTTP/1.1\r\n\r\n";
        let Parsed::Fast(head) = parse(bare) else {
            panic!("not taken");
        };
        assert_eq!(&bare[head.query], b"");
        assert!(plain(&httparse::Header {
            name: "Accept",
            value: b"*/*"
        }));
    }
}
