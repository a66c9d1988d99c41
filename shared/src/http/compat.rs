//! Routes for clients that do not speak our own API:
//! - the stock `@capgo/capacitor-updater` plugin in self-hosted mode
//!   (`updateUrl`, `statsUrl`, `channelUrl`);
//! - apps that ship the Cartona-style `DeployUpdateService`.
//!
//! Both decide through the same lookup as `GET .../latest`.

use super::device::{check_device_id, lookup, zip_url};
use super::error::JsonAny;
use super::{load_app, ApiError, DeviceState, EventState, Json};
use crate::domain::{AppId, BuildVersion};
use crate::lookup::DeviceQuery;
use crate::manifest::ManifestDocument;
use crate::model::{now, Event, EventKind};
use crate::wire::{ErrorBody, Status};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

/// The info object the capgo plugin sends with every request (fields we
/// do not use are accepted and ignored).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct CapgoInfo {
    #[schema(value_type = AppId)]
    app_id: String,
    #[schema(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,128}$")]
    device_id: String,
    #[serde(default)]
    platform: Option<String>,
    /// The native (binary) version.
    #[serde(default)]
    version_build: Option<String>,
    /// The bundle the device runs (`builtin` for the one inside the app).
    #[serde(default)]
    version_name: Option<String>,
    #[serde(default, rename = "defaultChannel")]
    default_channel: Option<String>,
}

/// What the plugin sends to switch its channel (`POST /capgo/channel_self`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct CapgoChannelSet {
    #[serde(flatten)]
    info: CapgoInfo,
    /// The channel to follow.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    channel: String,
}

/// The exact "nothing new" answer the plugin recognises.
fn no_new_version() -> Value {
    json!({"error": "no_new_version_available", "message": "No new version available", "kind": "up_to_date"})
}

/// The channel a capgo device follows: its own assignment, else the one in
/// its config, else the app's default.
async fn capgo_channel(
    records: &dyn crate::store::RecordRead,
    app: &AppId,
    info: &CapgoInfo,
    app_default: &str,
) -> Result<String, ApiError> {
    if let Some(own) = records.device_channel(app, &info.device_id).await? {
        return Ok(own);
    }
    Ok(info
        .default_channel
        .clone()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| app_default.to_owned()))
}

#[utoipa::path(post, path = "/capgo/updates", request_body = CapgoInfo,
    responses((status = 200, description = "The plugin's answer", body = Object), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(super) async fn capgo_updates(
    State(s): State<DeviceState>,
    Json(info): Json<CapgoInfo>,
) -> Result<Json<Value>, ApiError> {
    check_device_id(&info.device_id)?;
    let app = load_app(&*s.records, &info.app_id).await?;
    let channel = capgo_channel(&*s.records, &app.app_id, &info, &app.default_channel).await?;
    let q = DeviceQuery {
        device_id: info.device_id.clone(),
        platform: info.platform.clone(),
        native_version: info.version_build.clone(),
        current_build: None,
    };
    let current = info
        .version_name
        .as_deref()
        .filter(|v| *v != "builtin" && !v.is_empty());
    let latest = match lookup(&s, app.app_id.as_str(), &channel, q, current).await {
        Ok(l) => l,
        Err(e) if e.status == StatusCode::NOT_FOUND => return Ok(Json(no_new_version())),
        Err(e) => return Err(e),
    };
    match latest.status.as_str() {
        "rollback_to_builtin" => Ok(Json(json!({
            "version": "builtin",
            "message": "The bundle this device runs was withdrawn; go back to the one inside the app",
        }))),
        "update_available" => {
            let build = latest.build.as_ref().ok_or_else(ApiError::internal)?;
            let doc = latest
                .manifest
                .as_ref()
                .and_then(|raw| ManifestDocument::from_slice(raw.get().as_bytes()).ok())
                .ok_or_else(ApiError::internal)?;
            // The stored document passed verification at registration.
            let manifest = doc.decode_unverified().map_err(|_| ApiError::internal())?;
            let files: Vec<Value> = match &latest.files {
                Some(src) => manifest
                    .files
                    .iter()
                    .map(|f| {
                        let key = if src.key == "path" { f.path.to_string() } else { f.sha256.to_hex() };
                        json!({"file_name": f.path, "file_hash": f.sha256, "download_url": format!("{}{key}", src.base_url)})
                    })
                    .collect(),
                None => Vec::new(),
            };
            let url = latest
                .zip_url
                .clone()
                .or_else(|| latest.files.as_ref().map(|f| f.base_url.clone()))
                .ok_or_else(ApiError::internal)?;
            let mut answer = json!({"version": build.version, "url": url});
            if let Some(sha) = latest.zip_sha256 {
                answer["checksum"] = json!(sha.to_hex());
            }
            if !files.is_empty() {
                answer["manifest"] = Value::Array(files);
            }
            Ok(Json(answer))
        }
        _ => Ok(Json(no_new_version())),
    }
}

/// One stats event of the plugin.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct CapgoStat {
    action: String,
    #[serde(default)]
    version_name: Option<String>,
    #[schema(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,128}$")]
    device_id: String,
    app_id: String,
}

/// The plugin sends one event object or, batched, an array of them.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(super) enum CapgoStats {
    One(CapgoStat),
    Many(Vec<CapgoStat>),
}

fn capgo_kind(action: &str) -> Option<EventKind> {
    match action {
        "download_complete" => Some(EventKind::DownloadComplete),
        "set" => Some(EventKind::Applied),
        "update_fail" | "download_fail" | "checksum_fail" => Some(EventKind::Failed),
        "reset" => Some(EventKind::RolledBack),
        _ => None,
    }
}

/// Most events in one stats request.
const MAX_STATS_BATCH: usize = 200;

#[utoipa::path(post, path = "/capgo/stats", request_body = CapgoStats,
    responses((status = 200, body = Status), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(super) async fn capgo_stats(
    State(s): State<EventState>,
    JsonAny(body): JsonAny<CapgoStats>,
) -> Result<Json<Status>, ApiError> {
    let stats = match body {
        CapgoStats::One(e) => vec![e],
        CapgoStats::Many(v) => v,
    };
    if stats.len() > MAX_STATS_BATCH {
        return Err(ApiError::too_large(format!(
            "at most {MAX_STATS_BATCH} events per request"
        )));
    }
    let mut events = Vec::new();
    for st in stats {
        check_device_id(&st.device_id)?;
        let Some(kind) = capgo_kind(&st.action) else {
            continue;
        };
        let Ok(app) = AppId::new(st.app_id.as_str()) else {
            continue;
        };
        let Some(version) = st
            .version_name
            .as_deref()
            .and_then(|v| BuildVersion::new(v).ok())
        else {
            continue;
        };
        if let Some(build) = s.records.build_by_version(&app, &version).await? {
            events.push(Event {
                app_id: app,
                build_id: build.id,
                device_id: st.device_id,
                kind,
                at: now(),
            });
        }
    }
    if !events.is_empty() {
        s.events.record_events(&events).await?;
    }
    Ok(Json(Status {
        status: "ok".into(),
    }))
}

/// `POST /capgo/channel_self`: a device assigns itself to a channel that allows it.
#[utoipa::path(post, path = "/capgo/channel_self", request_body = CapgoChannelSet,
    responses((status = 200, description = "The plugin's answer", body = Object), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(super) async fn capgo_channel_set(
    State(s): State<EventState>,
    Json(CapgoChannelSet { info, channel }): Json<CapgoChannelSet>,
) -> Result<Json<Value>, ApiError> {
    check_device_id(&info.device_id)?;
    let app = load_app(&*s.records, &info.app_id).await?;
    let name = channel.as_str();
    if name.is_empty() {
        return Err(ApiError::bad_request(
            "give the channel to switch to in `channel`",
        ));
    }
    let ch = s.records.channel(&app.app_id, name).await?.ok_or_else(|| {
        ApiError::not_found(format!("app {} has no channel {name:?}", app.app_id))
    })?;
    if !ch.allow_self_assign {
        return Err(ApiError::forbidden(format!(
            "channel {name:?} does not allow devices to assign themselves; a release manager can allow it with `liveship deploy --allow-self-assign`"
        )));
    }
    s.events
        .set_device_channel(&app.app_id, &info.device_id, Some(name))
        .await?;
    Ok(Json(
        json!({"status": "ok", "message": format!("device now follows channel {name}")}),
    ))
}

/// `PUT /capgo/channel_self`: which channel the device follows.
#[utoipa::path(put, path = "/capgo/channel_self", request_body = CapgoInfo,
    responses((status = 200, description = "The plugin's answer", body = Object), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(super) async fn capgo_channel_get(
    State(s): State<EventState>,
    Json(info): Json<CapgoInfo>,
) -> Result<Json<Value>, ApiError> {
    check_device_id(&info.device_id)?;
    let app = load_app(&*s.records, &info.app_id).await?;
    let own = s
        .records
        .device_channel(&app.app_id, &info.device_id)
        .await?;
    let (channel, status) = match own {
        Some(c) => (c, "override"),
        None => (
            info.default_channel
                .clone()
                .filter(|c| !c.is_empty())
                .unwrap_or(app.default_channel.clone()),
            "default",
        ),
    };
    let allow = s
        .records
        .channel(&app.app_id, &channel)
        .await?
        .is_some_and(|c| c.allow_self_assign);
    Ok(Json(
        json!({"channel": channel, "status": status, "allowSet": allow}),
    ))
}

/// Query of `GET /capgo/channel_self` (the plugin sends its info as query parameters).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct CapgoListQuery {
    /// The app id.
    #[param(value_type = AppId)]
    app_id: String,
}

/// `GET /capgo/channel_self`: the channels a device may assign itself to.
#[utoipa::path(get, path = "/capgo/channel_self", params(CapgoListQuery),
    responses((status = 200, description = "The channels", body = Vec<Object>), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(super) async fn capgo_channel_list(
    State(s): State<EventState>,
    Query(q): Query<CapgoListQuery>,
) -> Result<Json<Value>, ApiError> {
    let app = load_app(&*s.records, &q.app_id).await?;
    let channels: Vec<Value> = s
        .records
        .channels(&app.app_id)
        .await?
        .into_iter()
        .filter(|c| c.allow_self_assign)
        .map(|c| {
            json!({"id": c.name, "name": c.name, "public": c.name == app.default_channel, "allow_self_set": true})
        })
        .collect();
    Ok(Json(Value::Array(channels)))
}

/// Query of `GET /build/latest`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct CartonaLatestQuery {
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
pub(super) struct CartonaBuildQuery {
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
pub(super) async fn cartona_latest(
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
pub(super) async fn cartona_download(
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
pub(super) async fn cartona_complete(
    State(s): State<EventState>,
    Query(q): Query<CartonaBuildQuery>,
) -> Result<Json<Value>, ApiError> {
    check_device_id(&q.device)?;
    let (app, id) = cartona_id(&q.id)?;
    if s.records.build(&app, id).await?.is_none() {
        return Err(ApiError::not_found(format!("app {app} has no build {id}")));
    }
    s.events
        .record_events(&[Event {
            app_id: app,
            build_id: id,
            device_id: q.device,
            kind: EventKind::DownloadComplete,
            at: now(),
        }])
        .await?;
    Ok(Json(json!({"ok": true})))
}
