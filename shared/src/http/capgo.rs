//! Routes for the stock `@capgo/capacitor-updater` plugin in self-hosted
//! mode (`updateUrl`, `statsUrl`, `channelUrl`). Each answer is shaped for
//! the plugin line that asks (`plugin_version`, see [`crate::capgo`]): the
//! checksum it computes, per-file manifests only where it reads them, the
//! rollback signal it understands. Decisions go through the same lookup as
//! `GET .../latest`.

use super::auth::load_app;
use super::error::ApiError;
use super::error::Json;
use super::error::JsonAny;
use super::state::DeviceState;
use super::state::EventState;
use super::view::{check_device_id, file_url, lookup_or_default, offered_uncached};
use crate::capgo::PluginLine;
use crate::capgo::StatAction;
use crate::capgo::ZipChecksum;
use crate::domain::AppId;
use crate::domain::BuildVersion;
use crate::lookup::Decision;
use crate::lookup::DeviceQuery;
use crate::manifest::ManifestDocument;
use crate::model::now;
use crate::model::App;
use crate::model::Build;
use crate::model::Event;
use crate::model::EventKind;
use crate::store::RecordRead;
use crate::wire::ErrorBody;
use crate::wire::Latest;
use crate::wire::Status;
use axum::extract::Query;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use serde_json::Value;
use std::sync::Arc;

/// The info object the plugin sends with every request (fields we do not
/// use, such as `is_emulator`, are accepted and ignored).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub(crate) struct CapgoInfo {
    #[schema(value_type = AppId)]
    app_id: String,
    /// Empty when iOS has no `identifierForVendor`: such a device gets only
    /// fully rolled-out builds.
    #[schema(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{0,128}$")]
    device_id: String,
    #[serde(default)]
    platform: Option<String>,
    /// The native (binary) version.
    #[serde(default)]
    version_build: Option<String>,
    /// The bundle the device runs (`builtin` for the one inside the app).
    #[serde(default)]
    version_name: Option<String>,
    /// The channel from the app's config, or (5.34.0, 6.34.0, 7.34.0, 8.0.0
    /// and later) the one the device assigned itself.
    #[serde(default, rename = "defaultChannel")]
    default_channel: Option<String>,
    /// The plugin release, which decides the answer's shape.
    #[serde(default)]
    plugin_version: Option<String>,
    /// Set by lines whose app configures a `publicKey`: such a device
    /// installs only bundles encrypted with the matching private key.
    #[serde(default)]
    key_id: Option<String>,
}

impl CapgoInfo {
    fn line(&self) -> PluginLine {
        PluginLine::parse(self.plugin_version.as_deref())
    }

    fn query(&self) -> DeviceQuery {
        DeviceQuery {
            device_id: self.device_id.clone(),
            platform: self.platform.clone(),
            native_version: self.version_build.clone(),
            current_build: None,
        }
    }

    fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref().filter(|k| !k.is_empty())
    }

    fn config_channel(&self) -> Option<&str> {
        self.default_channel.as_deref().filter(|c| !c.is_empty())
    }
}

/// What the plugin sends to switch its channel (`POST /capgo/channel_self`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct CapgoChannelSet {
    #[serde(flatten)]
    info: CapgoInfo,
    /// The channel to follow.
    #[schema(
        pattern = "^([A-Za-z0-9_-][A-Za-z0-9._-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}|\\.\\.[A-Za-z0-9._-]{1,62})$"
    )]
    channel: String,
}

/// A capgo device id: like any device id, or empty.
fn check_capgo_device_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() {
        Ok(())
    } else {
        check_device_id(id)
    }
}

/// The exact "nothing new" answer every plugin line recognises (legacy
/// lines read any `message` as "no update", current ones the `kind`).
fn no_new_version() -> Value {
    json!({"error": "no_new_version_available", "message": "No new version available", "kind": "up_to_date"})
}

/// The channel a capgo device follows. Lines that keep a self-assigned
/// channel on the device send it as `defaultChannel`; older lines ask the
/// server, which stored it. Then the app's config, then the app's default.
async fn capgo_channel(
    records: &dyn RecordRead,
    app: &App,
    info: &CapgoInfo,
) -> Result<String, ApiError> {
    if !info.line().keeps_channel_on_device() && !info.device_id.is_empty() {
        if let Some(own) = records.device_channel(&app.app_id, &info.device_id).await? {
            return Ok(own);
        }
    }
    Ok(info
        .config_channel()
        .unwrap_or(&app.default_channel)
        .to_owned())
}

/// True when a per-file list names a file ending in `.br`: the current
/// lines brotli-decompress such a file and check the hash of the result,
/// so a build that really ships `.br` files must go to them as a zip.
fn names_brotli(files: &[Value]) -> bool {
    files
        .iter()
        .any(|e| e["file_name"].as_str().is_some_and(|n| n.ends_with(".br")))
}

/// Why a build cannot be offered to this plugin line, if it cannot.
fn unservable(
    line: PluginLine,
    build: &Build,
    latest: &Latest,
    files: &[Value],
) -> Option<&'static str> {
    let has_zip = latest.zip_url.is_some();
    match line.zip_checksum() {
        ZipChecksum::Crc32 if !has_zip => Some(
            "the build has no zip (a self-hosted manifest build) and this plugin line downloads only zips",
        ),
        ZipChecksum::Crc32 if build.zip.and_then(|z| z.crc32).is_none() => Some(
            "the build's zip has no CRC-32, the only checksum this plugin line computes (bundle it with liveship 0.2 or later)",
        ),
        ZipChecksum::Sha256 if !has_zip && latest.files.is_none() => {
            Some("the build has neither a zip nor per-file URLs")
        }
        ZipChecksum::Sha256 if !has_zip && names_brotli(files) => Some(
            "the build has no zip and ships files ending in .br, which this plugin line would decompress and then refuse",
        ),
        _ => None,
    }
}

/// The per-file `manifest` entries of an offer (lines that read them).
fn manifest_entries(latest: &Latest) -> Result<Vec<Value>, ApiError> {
    let Some(src) = &latest.files else {
        return Ok(Vec::new());
    };
    let doc = latest
        .manifest
        .as_ref()
        .and_then(|raw| ManifestDocument::from_slice(raw.get().as_bytes()).ok())
        .ok_or_else(ApiError::internal)?;
    // The stored document passed verification at registration.
    let manifest = doc.decode_unverified().map_err(|_| ApiError::internal())?;
    Ok(manifest
        .files
        .iter()
        .map(|f| {
            let url = file_url(src, f.path.as_str(), &f.sha256);
            json!({"file_name": f.path, "file_hash": f.sha256, "download_url": url})
        })
        .collect())
}

/// The update answer for one plugin line.
fn answer(
    line: PluginLine,
    build: &Build,
    latest: &Latest,
    files: Vec<Value>,
) -> Result<Value, ApiError> {
    let mut answer = json!({"version": build.version});
    match (line.zip_checksum(), &latest.zip_url) {
        (ZipChecksum::Crc32, Some(url)) => {
            let crc = build
                .zip
                .and_then(|z| z.crc32)
                .ok_or_else(ApiError::internal)?;
            answer["url"] = json!(url);
            answer["checksum"] = json!(crc.to_hex());
        }
        (ZipChecksum::Sha256, Some(url)) => {
            let sha = latest.zip_sha256.ok_or_else(ApiError::internal)?;
            answer["url"] = json!(url);
            answer["checksum"] = json!(sha.to_hex());
        }
        (ZipChecksum::Sha256, None) => {
            // A self-hosted manifest build: the plugin downloads the files
            // and checks each one; `url` must still be a URL, and is the
            // signed manifest's own (never a directory, never unzipped).
            let url = build.artifact_url.clone().ok_or_else(ApiError::internal)?;
            answer["url"] = json!(url);
        }
        (ZipChecksum::Crc32, None) => return Err(ApiError::internal()),
    }
    if line.reads_manifest()
        && !files.is_empty()
        && !(latest.zip_url.is_some() && names_brotli(&files))
    {
        let copies = line.decompresses_brotli() && latest.files.as_ref().is_some_and(|f| f.brotli);
        answer["manifest"] = Value::Array(if copies {
            files.into_iter().map(to_brotli_copy).collect()
        } else {
            files
        });
    }
    Ok(answer)
}

/// Points an entry of a text file at its brotli copy: the line downloads
/// `download_url` + `.br`, decompresses it because `file_name` ends in
/// `.br`, saves it without the suffix and checks `file_hash` (the
/// original's) against the result.
fn to_brotli_copy(mut entry: Value) -> Value {
    let picked = entry["file_name"]
        .as_str()
        .is_some_and(crate::paths::is_compressible);
    if picked {
        for field in ["file_name", "download_url"] {
            if let Some(v) = entry[field].as_str() {
                entry[field] = json!(format!("{v}.br"));
            }
        }
    }
    entry
}

/// The answer for a device with a `publicKey` (it sent `key_id`): the
/// encrypted zip with its session key and encrypted checksum, no per-file
/// list; or why the build cannot go to it.
async fn encrypted_answer(
    s: &DeviceState,
    app: &App,
    info: &CapgoInfo,
    build: &Build,
) -> Result<Result<Value, &'static str>, ApiError> {
    let Some(enc) = &build.capgo_encrypted else {
        return Ok(Err("the device installs only encrypted bundles (it sent key_id) and this build has none: upload with --rsa-signing-key (a 2048-bit key)"));
    };
    let ours = app
        .rsa_public_key
        .as_deref()
        .and_then(|pem| crate::rsakey::RsaPublic::from_pem(pem).ok())
        .map(|k| k.capgo_key_id());
    if ours.as_deref() != info.key_id() {
        return Ok(Err(
            "the device's key_id is not that of the app's RSA key: its publicKey is another key",
        ));
    }
    let key = crate::store::BlobKey::file(&build.app_id, &enc.sha256);
    let url = match s.blobs.download_url(&key).await? {
        Some(direct) => direct,
        None => s.urls.file(&build.app_id, &enc.sha256),
    };
    Ok(Ok(json!({
        "version": build.version,
        "url": url,
        "session_key": enc.session_key,
        "checksum": enc.checksum,
    })))
}

#[utoipa::path(post, path = "/capgo/updates", request_body = CapgoInfo,
    responses((status = 200, description = "The plugin's answer", body = Object), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(crate) async fn capgo_updates(
    State(s): State<DeviceState>,
    Json(info): Json<CapgoInfo>,
) -> Result<Json<Value>, ApiError> {
    check_capgo_device_id(&info.device_id)?;
    let app = match load_app(&*s.records, &info.app_id).await {
        Ok(app) => app,
        // The plugin reads a 404 as a failed download (an error log and a
        // `download_fail` stat on every check): an app liveship does not
        // know has no update, said in the shape the plugin reads so.
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            tracing::info!(app = %info.app_id, "capgo: unknown app; answering no update (create it with `liveship apps create`)");
            return Ok(Json(no_new_version()));
        }
        Err(e) => return Err(e),
    };
    let line = info.line();
    let channel = capgo_channel(&*s.records, &app, &info).await?;
    let current = info
        .version_name
        .as_deref()
        .filter(|v| *v != "builtin" && !v.is_empty());
    let found = lookup_or_default(&s, &app, &channel, info.query(), current).await;
    let (latest, build) = match found {
        Ok(l) => l,
        Err(e) if e.status == StatusCode::NOT_FOUND => return Ok(Json(no_new_version())),
        Err(e) => return Err(e),
    };
    match (latest.status.as_str(), build) {
        ("rollback_to_builtin", _) if line.understands_builtin() => {
            // No `message`, `error` or `kind`: with one, the plugin would
            // read the answer as "no update".
            Ok(Json(json!({"version": "builtin"})))
        }
        ("rollback_to_builtin", _) => {
            tracing::info!(app = %app.app_id, plugin_version = ?info.plugin_version,
                "capgo: the device runs a withdrawn build, but its plugin line has no way back to the built-in bundle");
            Ok(Json(no_new_version()))
        }
        ("update_available", Some(build)) if info.key_id().is_some() => {
            match encrypted_answer(&s, &app, &info, &build).await? {
                Ok(answer) => Ok(Json(answer)),
                Err(reason) => {
                    tracing::warn!(app = %app.app_id, build = build.id, version = %build.version,
                        plugin_version = ?info.plugin_version, reason, "capgo: build not offered to this plugin line");
                    Ok(Json(no_new_version()))
                }
            }
        }
        ("update_available", Some(build)) => {
            let files = if line.reads_manifest() {
                manifest_entries(&latest)?
            } else {
                Vec::new()
            };
            match unservable(line, &build, &latest, &files) {
                Some(reason) => {
                    tracing::warn!(app = %app.app_id, build = build.id, version = %build.version,
                    plugin_version = ?info.plugin_version, reason, "capgo: build not offered to this plugin line");
                    Ok(Json(no_new_version()))
                }
                None => Ok(Json(answer(line, &build, &latest, files)?)),
            }
        }
        _ => Ok(Json(no_new_version())),
    }
}

/// One stats event of the plugin: its info object plus the action.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct CapgoStat {
    action: String,
    #[serde(flatten)]
    info: CapgoInfo,
    /// The bundle left (`reset`, `set`), where the line sends it.
    #[serde(default)]
    old_version_name: Option<String>,
}

/// The plugin sends one event object or, batched, an array of them.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum CapgoStats {
    One(Box<CapgoStat>),
    Many(Vec<CapgoStat>),
}

/// Most events in one stats request.
const MAX_STATS_BATCH: usize = 200;

fn named_version(v: Option<&str>) -> Option<BuildVersion> {
    v.filter(|v| !v.is_empty() && *v != "builtin")
        .and_then(|v| BuildVersion::new(v).ok())
}

/// The build a stats event is about (see [`StatAction`]), if it names one.
async fn stat_build(
    records: &Arc<dyn RecordRead>,
    app: &App,
    st: &CapgoStat,
    action: StatAction,
) -> Result<Option<Build>, ApiError> {
    let by_version = |v: Option<&str>| {
        let v = named_version(v);
        let app = app.app_id.clone();
        async move {
            match v {
                Some(v) => records
                    .build_by_version(&app, &v)
                    .await
                    .map_err(ApiError::from),
                None => Ok(None),
            }
        }
    };
    match action {
        StatAction::Applied | StatAction::UpdateFailed => {
            by_version(st.info.version_name.as_deref()).await
        }
        StatAction::Reset => by_version(st.old_version_name.as_deref()).await,
        StatAction::Downloaded | StatAction::DownloadFailed => {
            // Lines name the running bundle in `version_name` for some of
            // these, the downloaded one for others: the build is the one the
            // lookup offers this device, the same way it answered it.
            let channel = capgo_channel(&**records, app, &st.info).await?;
            let current = st.info.version_name.as_deref().filter(|v| *v != "builtin");
            let offered =
                offered_uncached(records.clone(), app, &channel, st.info.query(), current).await;
            match offered {
                Ok((Decision::Update { .. }, Some(b))) => Ok(Some(b)),
                Ok(_) => by_version(st.info.version_name.as_deref()).await,
                Err(e) if e.status == StatusCode::NOT_FOUND => {
                    by_version(st.info.version_name.as_deref()).await
                }
                Err(e) => Err(e),
            }
        }
    }
}

#[utoipa::path(post, path = "/capgo/stats", request_body = CapgoStats,
    responses((status = 200, body = Status), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(crate) async fn capgo_stats(
    State(s): State<EventState>,
    JsonAny(body): JsonAny<CapgoStats>,
) -> Result<Json<Status>, ApiError> {
    let stats = match body {
        CapgoStats::One(e) => vec![*e],
        CapgoStats::Many(v) => v,
    };
    if stats.len() > MAX_STATS_BATCH {
        return Err(ApiError::too_large(format!(
            "at most {MAX_STATS_BATCH} events per request"
        )));
    }
    let mut events = Vec::new();
    for st in stats {
        check_capgo_device_id(&st.info.device_id)?;
        let Some(action) = StatAction::of(&st.action) else {
            continue;
        };
        let Ok(app_id) = AppId::new(st.info.app_id.as_str()) else {
            continue;
        };
        let Some(app) = s.records.app(&app_id).await? else {
            continue;
        };
        let Some(build) = stat_build(&s.records, &app, &st, action).await? else {
            continue;
        };
        let channel = capgo_channel(&*s.records, &app, &st.info).await?;
        let kind = match action {
            StatAction::Downloaded => EventKind::DownloadComplete,
            StatAction::Applied => EventKind::Applied,
            StatAction::DownloadFailed | StatAction::UpdateFailed => EventKind::Failed,
            StatAction::Reset => EventKind::RolledBack,
        };
        events.push(Event {
            app_id,
            build_id: build.id,
            device_id: st.info.device_id,
            channel,
            kind,
            at: now(),
        });
    }
    if !events.is_empty() {
        s.events.record_events(&events).await?;
    }
    Ok(Json(Status {
        status: "ok".into(),
    }))
}

/// `POST /capgo/channel_self`: a device assigns itself to a channel that
/// allows it. Lines that keep the channel on the device are only told yes
/// or no; older lines have it stored here. Asking for the app's default
/// channel removes an assignment (`"unset": true` for the lines that read it).
#[utoipa::path(post, path = "/capgo/channel_self", request_body = CapgoChannelSet,
    responses((status = 200, description = "The plugin's answer", body = Object), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(crate) async fn capgo_channel_set(
    State(s): State<EventState>,
    Json(CapgoChannelSet { info, channel }): Json<CapgoChannelSet>,
) -> Result<Json<Value>, ApiError> {
    check_capgo_device_id(&info.device_id)?;
    let app = load_app(&*s.records, &info.app_id).await?;
    let name = channel.as_str();
    if name.is_empty() {
        return Err(ApiError::bad_request(
            "give the channel to switch to in `channel`",
        ));
    }
    let on_device = info.line().keeps_channel_on_device();
    if !on_device && info.device_id.is_empty() {
        return Err(ApiError::forbidden(
            "a device without an id cannot be assigned a channel (this plugin line keeps the choice on the server, by device id)",
        ));
    }
    if name == app.default_channel {
        if !on_device {
            s.events
                .set_device_channel(&app.app_id, &info.device_id, None)
                .await?;
        }
        return Ok(Json(json!({"status": "ok", "unset": true,
            "message": format!("device follows the app's default channel {name}")})));
    }
    let ch = s
        .records
        .channel(&app.app_id, name)
        .await?
        .ok_or_else(|| ApiError::no_channel(&app.app_id, name))?;
    if !ch.allow_self_assign {
        return Err(ApiError::forbidden(format!(
            "channel {name:?} does not allow devices to assign themselves; a release manager can allow it with `liveship deploy --allow-self-assign`"
        )));
    }
    if !on_device {
        s.events
            .set_device_channel(&app.app_id, &info.device_id, Some(name))
            .await?;
    }
    Ok(Json(
        json!({"status": "ok", "message": format!("device now follows channel {name}")}),
    ))
}

/// `DELETE /capgo/channel_self`: back to the default channel (`unsetChannel`
/// of the lines before 5.34.0, 6.34.0 and 7.34.0; later lines unset on the
/// device and never call this).
#[utoipa::path(delete, path = "/capgo/channel_self", request_body = CapgoInfo,
    responses((status = 200, description = "The plugin's answer", body = Object), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(crate) async fn capgo_channel_unset(
    State(s): State<EventState>,
    Json(info): Json<CapgoInfo>,
) -> Result<Json<Value>, ApiError> {
    check_capgo_device_id(&info.device_id)?;
    let app = load_app(&*s.records, &info.app_id).await?;
    if !info.device_id.is_empty() {
        s.events
            .set_device_channel(&app.app_id, &info.device_id, None)
            .await?;
    }
    Ok(Json(json!({"status": "ok", "message": format!(
        "device follows the default channel again"
    )})))
}

/// `PUT /capgo/channel_self`: which channel the device follows.
#[utoipa::path(put, path = "/capgo/channel_self", request_body = CapgoInfo,
    responses((status = 200, description = "The plugin's answer", body = Object), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(crate) async fn capgo_channel_get(
    State(s): State<EventState>,
    Json(info): Json<CapgoInfo>,
) -> Result<Json<Value>, ApiError> {
    check_capgo_device_id(&info.device_id)?;
    let app = load_app(&*s.records, &info.app_id).await?;
    let channel = capgo_channel(&*s.records, &app, &info).await?;
    let status = if channel == app.default_channel {
        "default"
    } else {
        "override"
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

/// Query of `GET /capgo/channel_self` (the plugin sends its info as query
/// parameters; only the app id is used).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CapgoListQuery {
    /// The app id.
    #[param(value_type = AppId)]
    app_id: String,
}

/// `GET /capgo/channel_self`: the channels a device may assign itself to.
#[utoipa::path(get, path = "/capgo/channel_self", params(CapgoListQuery),
    responses((status = 200, description = "The channels", body = Vec<Object>), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(crate) async fn capgo_channel_list(
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
