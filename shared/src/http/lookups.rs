//! The device lookup of our own client: `GET .../channels/{channel}/latest`.

use super::error::ApiError;
use super::state::DeviceState;
use super::view::{check_device_id, lookup_bytes};
use crate::domain::AppId;
use crate::lookup::DeviceQuery;
use crate::wire::ErrorBody;
use crate::wire::Latest;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::http::header;
use axum::http::HeaderValue;
use axum::response::IntoResponse;
use axum::response::Response;
use serde::Deserialize;

/// Query of `GET .../latest`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LatestQuery {
    /// A stable id of the device: 1-128 printable characters.
    #[param(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,128}$")]
    device_id: String,
    #[serde(default)]
    platform: Option<String>,
    #[serde(default)]
    native_version: Option<String>,
    #[serde(default)]
    current_build: Option<String>,
}

#[utoipa::path(get, path = "/v1/apps/{app}/channels/{channel}/latest", params(("app" = AppId, Path, description = "The app id"), ("channel" = String, Path, pattern = "^([A-Za-z0-9_-][A-Za-z0-9._-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}|\\.\\.[A-Za-z0-9._-]{1,62})$", description = "The channel"), LatestQuery),
    responses((status = 200, body = Latest), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(crate) async fn latest(
    State(s): State<DeviceState>,
    Path((app, channel)): Path<(String, String)>,
    Query(q): Query<LatestQuery>,
) -> Result<Response, ApiError> {
    let body = latest_answer(&s, &app, &channel, q).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

/// The body of a `200` answer to `GET .../latest`: the handler above and
/// the fast path of `liveship serve` ([`super::fast`]) both answer with it.
pub(crate) async fn latest_answer(
    s: &DeviceState,
    app: &str,
    channel: &str,
    q: LatestQuery,
) -> Result<bytes::Bytes, ApiError> {
    check_device_id(&q.device_id)?;
    let query = DeviceQuery {
        device_id: q.device_id,
        platform: q.platform,
        native_version: q.native_version,
        current_build: None,
    };
    lookup_bytes(s, app, channel, query, q.current_build.as_deref()).await
}
