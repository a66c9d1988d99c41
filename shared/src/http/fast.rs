//! The device lookup route answered without the router, for a server that
//! reads HTTP/1.1 itself (`liveship serve`). The lookup is the one route a
//! fleet calls all the time, and its answer is already shared bytes, so
//! axum's routing, extractors and boxed middleware were most of what a
//! request cost in user space (bench/README.md).
//!
//! The fast path is a strict subset of the router: it answers only what the
//! router would answer the same way, byte for byte, and says `None` for
//! anything else (an escaped path, a query that does not parse), which the
//! server then hands to the router.

use super::error;
use super::error::ApiError;
use super::lookups::{latest_answer, LatestQuery};
use super::state::DeviceState;
use axum::http::Response;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use bytes::Bytes;

/// What the lookup route starts with, before `{app}/channels/{channel}/latest`.
const PREFIX: &str = "/v1/apps/";

/// Answers `GET /v1/apps/{app}/channels/{channel}/latest` on one
/// [`DeviceState`], the one the router's device routes hold.
#[derive(Clone, Debug)]
pub struct FastLookup {
    state: DeviceState,
}

impl FastLookup {
    /// A fast path over the same state as the router's lookup route.
    pub fn new(state: DeviceState) -> Self {
        FastLookup { state }
    }

    /// The app and channel when `path` is the lookup route in its plain
    /// form: two non-empty segments, no percent escape (the router decodes
    /// those, so it answers them).
    pub fn route(path: &str) -> Option<(&str, &str)> {
        let mut segments = path.strip_prefix(PREFIX)?.split('/');
        let app = segments.next()?;
        let channel = match (segments.next(), segments.next(), segments.next()) {
            (Some("channels"), Some(channel), Some("latest")) => channel,
            _ => return None,
        };
        let plain = |s: &str| !s.is_empty() && !s.contains('%');
        (segments.next().is_none() && plain(app) && plain(channel)).then_some((app, channel))
    }

    /// The whole answer to a lookup of `app` and `channel` with `query`
    /// (the part after `?`), errors included as the router renders them;
    /// `None` when the query does not parse: the router then answers, with
    /// its own message.
    pub async fn answer(&self, app: &str, channel: &str, query: &str) -> Option<Answer> {
        let q: LatestQuery = serde_urlencoded::from_str(query).ok()?;
        Some(match latest_answer(&self.state, app, channel, q).await {
            Ok(body) => Answer::Json(body),
            Err(e) => Answer::Error(rendered(e).await),
        })
    }
}

/// What the fast path answers.
#[derive(Debug)]
pub enum Answer {
    /// `200`, `content-type: application/json`, this body (no header map
    /// to build: this is nearly every answer).
    Json(Bytes),
    /// An error, whole, as the router sends it.
    Error(Response<Bytes>),
}

impl Answer {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            Answer::Json(_) => StatusCode::OK,
            Answer::Error(r) => r.status(),
        }
    }
}

/// An error as the router sends it (rare on this route, so the body is
/// collected rather than streamed).
async fn rendered(e: ApiError) -> Response<Bytes> {
    let (parts, body) = error::json_errors(e.into_response()).await.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::FastLookup;

    #[test]
    fn only_the_plain_lookup_route_is_taken() {
        assert_eq!(
            FastLookup::route("/v1/apps/demo/channels/production/latest"),
            Some(("demo", "production"))
        );
        for other in [
            "/v1/apps/demo/channels/production/latest/",
            "/v1/apps/demo/channels//latest",
            "/v1/apps//channels/production/latest",
            "/v1/apps/demo/channels/prod%75ction/latest",
            "/v1/apps/demo/channels/a/b/latest",
            "/v1/apps/demo/bundles/latest",
            "/v1/apps/demo/channels/production",
            "/V1/apps/demo/channels/production/latest",
        ] {
            assert_eq!(FastLookup::route(other), None, "{other}");
        }
    }
}
