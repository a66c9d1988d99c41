//! Files: content-addressed downloads (plain, brotli copies, ranges, 304s).

use super::error::ApiError;
use super::state::DeviceState;
use crate::domain::AppId;
use crate::hash::Sha256Digest;
use crate::store::BlobKey;
use crate::wire::ErrorBody;
use axum::body::Body;
use axum::extract::Path;
use axum::extract::State;
use axum::http::header;
use axum::http::HeaderMap;
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;

/// True when `Accept-Encoding` lists `br` (or `*`) with a non-zero weight.
fn accepts_brotli(headers: &HeaderMap) -> bool {
    let (mut br, mut star) = (None, None);
    for item in headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let weight = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|q| q.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        if coding.eq_ignore_ascii_case("br") {
            br = Some(weight);
        } else if coding == "*" {
            star = Some(weight);
        }
    }
    // An explicit `br;q=0` wins over `*`.
    br.or(star).is_some_and(|w| w > 0.0)
}

/// Parses a single `bytes=a-b` range (also `a-` and `-n`) against `size`.
fn parse_range(value: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // several ranges: serve the whole file
    }
    let (a, b) = spec.split_once('-')?;
    let range = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            if n == 0 || size == 0 {
                return Some(Err(()));
            }
            (size.saturating_sub(n), size - 1)
        }
        (a, "") => (a.parse().ok()?, size.saturating_sub(1)),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.min(size.saturating_sub(1)),
        ),
    };
    if range.0 > range.1 || range.0 >= size {
        return Some(Err(()));
    }
    Some(Ok(range))
}

#[utoipa::path(get, path = "/v1/apps/{app}/files/{sha256}",
    params(("app" = AppId, Path, description = "The app id"), ("sha256" = Sha256Digest, Path, description = "SHA-256 of the file")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
              (status = 206, content_type = "application/octet-stream", body = Vec<u8>),
              (status = 304, description = "Not modified"),
              (status = 416, description = "Range not satisfiable"), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(crate) async fn get_file(
    State(s): State<DeviceState>,
    Path((app, sha)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found(format!("app {app:?} has no file {sha:?}"));
    let app_id = AppId::new(app.as_str()).map_err(|_| not_found())?;
    // `{sha256}.br` is the brotli copy itself, as raw bytes (for plugins
    // that decompress `*.br` files themselves).
    let (hex, copy) = match sha.strip_suffix(".br") {
        Some(hex) => (hex, true),
        None => (sha.as_str(), false),
    };
    let digest = Sha256Digest::from_hex(hex).map_err(|_| not_found())?;
    // Anyone else asking for the file with `Accept-Encoding: br` gets the
    // copy as `Content-Encoding: br` when there is one (never for a range:
    // ranges are of the file's own bytes).
    let copy_size = if !copy && !headers.contains_key(header::RANGE) && accepts_brotli(&headers) {
        s.blobs
            .head(&BlobKey::brotli(&app_id, &digest))
            .await?
            .filter(|n| *n > 0)
    } else {
        None
    };
    let encoded = copy_size.is_some();
    let (key, etag) = if copy || encoded {
        (
            BlobKey::brotli(&app_id, &digest),
            format!("\"{digest}.br\""),
        )
    } else {
        (BlobKey::file(&app_id, &digest), format!("\"{digest}\""))
    };
    // One size lookup serves the 304, the range and the length (the copy's
    // was read above when it is what goes out).
    let size = match copy_size {
        Some(n) => n,
        None => s.blobs.head(&key).await?.ok_or_else(not_found)?,
    };
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag),
                (header::VARY, "accept-encoding".to_owned()),
            ],
        )
            .into_response());
    }
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(v) => match parse_range(v, size) {
            Some(Ok(r)) => Some(r),
            Some(Err(())) => {
                return Ok((
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [(header::CONTENT_RANGE, format!("bytes */{size}"))],
                )
                    .into_response())
            }
            None => None,
        },
        None => None,
    };
    let blob = s.blobs.open(&key, range).await?.ok_or_else(not_found)?;
    let stream = tokio_util::io::ReaderStream::with_capacity(blob.body, 64 * 1024);
    let mut response = Response::new(Body::from_stream(stream));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if !copy {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if encoded {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
    }
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex etag"),
    );
    match range {
        Some((a, b)) => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = response.headers_mut();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(b - a + 1));
            h.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {a}-{b}/{}", blob.total_size))
                    .expect("ascii"),
            );
        }
        None => {
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(blob.total_size));
        }
    }
    Ok(response)
}
