//! One structured log line per request (never headers, so never a token;
//! never the query string).

use super::error;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

pub(crate) async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let start = Instant::now();
    let response = error::json_errors(next.run(req).await).await;
    let status = response.status().as_u16();
    log_line(&method, &path, status, start.elapsed().as_micros() as u64);
    response
}

/// The one log line of a request (the router's, and the fast path's of
/// `liveship serve`): method, path without the query, status, time taken.
pub fn log_line(method: &axum::http::Method, path: &str, status: u16, micros: u64) {
    if status >= 500 {
        tracing::error!(%method, %path, status, micros, "request");
    } else {
        tracing::info!(%method, %path, status, micros, "request");
    }
}
