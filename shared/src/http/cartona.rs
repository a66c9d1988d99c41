//! Routes for apps that ship the Cartona-style `DeployUpdateService`
//! (the stock capgo plugin's are in `capgo`). They decide through the same
//! lookup as `GET .../latest`.

use super::auth::load_app;
use super::error::ApiError;
use super::error::Json;
use super::state::DeviceState;
use super::state::EventState;
use super::view::{check_device_id, lookup, zip_url};
use crate::domain::AppId;
use crate::lookup::DeviceQuery;
use crate::model::now;
use crate::model::Event;
use crate::model::EventKind;
use crate::wire::ErrorBody;
use axum::extract::Query;
use axum::extract::State;
use axum::http::header;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use serde_json::Value;

/// Query of `GET /build/latest`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CartonaLatestQuery {
    /// The app id.
    #[param(value_type = AppId)]
    app: String,
    /// The device id.
    #[param(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,128}$")]
    device: String,
}

/// Query of `GET /build/download` and `GET /build/download/complete`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CartonaBuildQuery {
    /// The build id `{app}:{build}` that `/build/latest` answered.
    #[param(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*:[0-9]+$")]
    id: String,
    /// The device id.
    #[param(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,128}$")]
    device: String,
}

/// Cartona-style build ids carry the app: `{app}:{build id}`.
fn cartona_id(id: &str) -> Result<(AppId, u64), ApiError> {
    let bad = || ApiError::not_found(format!("no build {id:?}"));
    let (app, n) = id.rsplit_once(':').ok_or_else(bad)?;
    Ok((
        AppId::new(app).map_err(|_| bad())?,
        n.parse().map_err(|_| bad())?,
    ))
}

/// `GET /build/latest?app=&device=`.
#[utoipa::path(get, path = "/build/latest", params(CartonaLatestQuery),
    responses((status = 200, description = "The plugin's answer", body = Object), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(crate) async fn cartona_latest(
    State(s): State<DeviceState>,
    Query(q): Query<CartonaLatestQuery>,
) -> Result<Json<Value>, ApiError> {
    check_device_id(&q.device)?;
    let app = load_app(&*s.records, &q.app).await?;
    let query = DeviceQuery {
        device_id: q.device,
        ..Default::default()
    };
    let latest = match lookup(&s, app.app_id.as_str(), &app.default_channel, query, None).await {
        Ok(l) => l,
        Err(e) if e.status == StatusCode::NOT_FOUND => return Ok(Json(json!({"build": null}))),
        Err(e) => return Err(e),
    };
    Ok(Json(match latest.build {
        Some(b) => json!({"build": {"id": format!("{}:{}", app.app_id, b.id), "build": b.version}}),
        None => json!({"build": null}),
    }))
}

/// `GET /build/download?id=&device=`: a redirect to the build's zip.
#[utoipa::path(get, path = "/build/download", params(CartonaBuildQuery),
    responses((status = 302, description = "A redirect to the build's zip"), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(crate) async fn cartona_download(
    State(s): State<DeviceState>,
    Query(q): Query<CartonaBuildQuery>,
) -> Result<Response, ApiError> {
    check_device_id(&q.device)?;
    let (app, id) = cartona_id(&q.id)?;
    let view_app = load_app(&*s.records, app.as_str()).await?;
    let build = s
        .records
        .build(&view_app.app_id, id)
        .await?
        .filter(|b| !b.disabled)
        .ok_or_else(|| ApiError::not_found(format!("app {app} has no build {id}")))?;
    let url = zip_url(&s, &build)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("build {id} has no zip to download")))?;
    Ok((StatusCode::FOUND, [(header::LOCATION, url)]).into_response())
}

/// `GET /build/download/complete?id=&device=`: counts the download.
#[utoipa::path(get, path = "/build/download/complete", params(CartonaBuildQuery),
    responses((status = 200, description = "The plugin's answer", body = Object), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(crate) async fn cartona_complete(
    State(s): State<EventState>,
    Query(q): Query<CartonaBuildQuery>,
) -> Result<Json<Value>, ApiError> {
    check_device_id(&q.device)?;
    let (app, id) = cartona_id(&q.id)?;
    let view_app = load_app(&*s.records, app.as_str()).await?;
    if s.records.build(&app, id).await?.is_none() {
        return Err(ApiError::not_found(format!("app {app} has no build {id}")));
    }
    s.events
        .record_events(&[Event {
            app_id: app,
            build_id: id,
            device_id: q.device,
            // The plugin does not say which channel it follows.
            channel: view_app.default_channel,
            kind: EventKind::DownloadComplete,
            at: now(),
        }])
        .await?;
    Ok(Json(json!({"ok": true})))
}
