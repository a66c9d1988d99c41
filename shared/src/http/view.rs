//! Public device handlers: update lookup, file download, events.

use super::auth::load_app;
use super::cache::ChannelView;
use super::error::ApiError;
use super::state::DeviceState;
use crate::domain::AppId;
use crate::domain::BuildVersion;
use crate::hash::Sha256Digest;
use crate::lookup::Decision;
use crate::lookup::DeviceQuery;
use crate::model::now;
use crate::model::App;
use crate::model::ArtifactType;
use crate::model::Build;
use crate::model::Channel;
use crate::ops;
use crate::store::BlobKey;
use crate::store::RecordRead;
use crate::wire::FileSource;
use crate::wire::Latest;
use crate::wire::OfferedBuild;
use axum::http::StatusCode;
use std::collections::HashMap;
use std::sync::Arc;

/// Longest device id accepted.
const MAX_DEVICE_ID: usize = 128;

pub(crate) fn check_device_id(id: &str) -> Result<(), ApiError> {
    // Characters, not bytes, as the OpenAPI schema's maxLength counts them.
    let n = id.chars().count();
    if n == 0 || n > MAX_DEVICE_ID || id.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "device_id must be 1-{MAX_DEVICE_ID} printable characters"
        )));
    }
    Ok(())
}

/// The builds a channel refers to, fetched concurrently.
async fn channel_builds(
    records: &dyn RecordRead,
    app: &AppId,
    ch: &Channel,
    with_log: bool,
) -> Result<HashMap<u64, Build>, ApiError> {
    let log = ch.log.iter().filter_map(|e| e.build_id);
    let mut ids: Vec<u64> = ch
        .current
        .iter()
        .chain(ch.previous.iter())
        .map(|d| d.build_id)
        .chain(log.filter(|_| with_log))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let found = futures::future::try_join_all(ids.iter().map(|id| records.build(app, *id))).await?;
    Ok(found.into_iter().flatten().map(|b| (b.id, b)).collect())
}

/// Resolves `current_build` (a build id, or a version label) to a build id.
async fn current_build_id(
    records: &dyn RecordRead,
    app: &AppId,
    builds: &HashMap<u64, Build>,
    current: Option<&str>,
) -> Result<Option<u64>, ApiError> {
    let Some(c) = current
        .map(str::trim)
        .filter(|c| !c.is_empty() && *c != "builtin")
    else {
        return Ok(None);
    };
    if let Ok(id) = c.parse::<u64>() {
        if builds.contains_key(&id) || records.build(app, id).await?.is_some() {
            return Ok(Some(id));
        }
    }
    if let Some(b) = builds.values().find(|b| b.version.as_str() == c) {
        return Ok(Some(b.id));
    }
    match BuildVersion::new(c) {
        Ok(v) => Ok(records.build_by_version(app, &v).await?.map(|b| b.id)),
        Err(_) => Ok(None),
    }
}

/// Where to fetch the build's zip: the registered URL of a self-hosted zip,
/// else the stored zip (directly from the blob store when it offers URLs).
pub(crate) async fn zip_url(s: &DeviceState, build: &Build) -> Result<Option<String>, ApiError> {
    match (build.artifact_type, &build.artifact_url, &build.zip) {
        (ArtifactType::Zip, Some(url), _) => Ok(Some(url.clone())),
        (_, None, Some(z)) => {
            let key = BlobKey::file(&build.app_id, &z.sha256);
            Ok(Some(match s.blobs.download_url(&key).await? {
                Some(direct) => direct,
                None => s.urls.file(&build.app_id, &z.sha256),
            }))
        }
        _ => Ok(None),
    }
}

/// Everything a device needs to install `build`.
pub(crate) async fn offer(
    s: &DeviceState,
    build: &Build,
    mandatory: bool,
) -> Result<Latest, ApiError> {
    let cached = s
        .cache
        .as_ref()
        .and_then(|c| c.manifest(&build.app_id, &build.manifest_sha256));
    let raw = match cached {
        Some(raw) => raw,
        None => {
            let bytes = s
                .blobs
                .get_bytes(&BlobKey::manifest(&build.app_id, &build.manifest_sha256))
                .await?
                .ok_or_else(|| {
                    tracing::error!(app = %build.app_id, build = build.id, "manifest blob missing");
                    ApiError::internal()
                })?;
            let raw = String::from_utf8(bytes.to_vec())
                .ok()
                .and_then(|t| serde_json::value::RawValue::from_string(t).ok())
                .ok_or_else(|| {
                    tracing::error!(app = %build.app_id, build = build.id, "stored manifest is not JSON");
                    ApiError::internal()
                })?;
            if let Some(c) = &s.cache {
                c.put_manifest(&build.app_id, build.manifest_sha256, raw.clone());
            }
            raw
        }
    };
    let zip_url = zip_url(s, build).await?;
    let (zip_url, files) = match (build.artifact_type, &build.artifact_url, &build.zip) {
        (ArtifactType::Zip, _, _) => (zip_url, None),
        (ArtifactType::Manifest, Some(url), _) => {
            let base = artifact_base(url);
            (
                None,
                Some(FileSource {
                    base_url: base,
                    key: "path".into(),
                    brotli: false,
                }),
            )
        }
        _ => (
            zip_url,
            Some(FileSource {
                // Straight from the CDN when there is one: no API call per file.
                base_url: s
                    .blobs
                    .public_files_base(&build.app_id)
                    .unwrap_or_else(|| s.urls.files_base(&build.app_id)),
                key: "sha256".into(),
                brotli: build.brotli,
            }),
        ),
    };
    Ok(Latest {
        status: "update_available".into(),
        build: Some(OfferedBuild {
            id: build.id,
            version: build.version.clone(),
            mandatory,
            artifact_type: build.artifact_type,
        }),
        manifest: Some(raw),
        zip_sha256: if zip_url.is_some() {
            build.zip.map(|z| z.sha256)
        } else {
            None
        },
        zip_size: if zip_url.is_some() {
            build.zip.map(|z| z.size)
        } else {
            None
        },
        zip_url,
        files,
        key_set: None,
    })
}

/// Where the files of a self-hosted manifest build live: beside its
/// manifest, in the directory of its URL.
pub(crate) fn artifact_base(manifest_url: &str) -> String {
    match manifest_url.rfind('/') {
        Some(i) => manifest_url[..=i].to_owned(),
        None => manifest_url.to_owned(),
    }
}

/// The URL of one file from a file source: by SHA-256, or by path with each
/// segment percent-encoded (RFC 3986 unreserved characters kept), so any
/// path the rules allow makes one unambiguous URL.
pub(crate) fn file_url(src: &FileSource, path: &str, sha256: &Sha256Digest) -> String {
    if src.key != "path" {
        return format!("{}{sha256}", src.base_url);
    }
    let encoded: Vec<String> = path
        .split('/')
        .map(|seg| {
            seg.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect()
        })
        .collect();
    format!("{}{}", src.base_url, encoded.join("/"))
}

fn status_only(status: &str) -> Latest {
    Latest {
        status: status.into(),
        build: None,
        manifest: None,
        zip_url: None,
        zip_sha256: None,
        zip_size: None,
        files: None,
        key_set: None,
    }
}

/// The app, channel and builds a lookup needs: from the cache when fresh,
/// else from the record store (and then cached). A channel whose rollout
/// plan is due is judged first (once per check, whichever lookup comes
/// first); a lookup never fails because the guard could not judge.
pub(crate) async fn channel_view(
    s: &DeviceState,
    app: &str,
    channel: &str,
) -> Result<Arc<ChannelView>, ApiError> {
    let view = cached_view(s, app, channel).await?;
    let Some(guard) = &s.guard else {
        return Ok(view);
    };
    if !guard.worth_judging(&view.app.app_id, &view.channel, now()) {
        return Ok(view);
    }
    match guard.refresh(&view.app.app_id, channel).await {
        // The guard invalidated this process's cache: read the new state.
        Ok(true) => cached_view(s, app, channel).await,
        Ok(false) => Ok(view),
        Err(e) => {
            tracing::warn!(app, channel, error = %e.message, "could not judge a rollout plan");
            Ok(view)
        }
    }
}

async fn cached_view(
    s: &DeviceState,
    app: &str,
    channel: &str,
) -> Result<Arc<ChannelView>, ApiError> {
    let Some(cache) = &s.cache else {
        let app_id = AppId::new(app).map_err(|_| ApiError::invalid_app(app))?;
        return load_view(s.records.clone(), app_id, channel.to_owned(), true).await;
    };
    cache
        .view_or_load(app, channel, |id| {
            Box::pin(load_view(s.records.clone(), id, channel.to_owned(), true))
        })
        .await
}

/// Reads what a lookup needs about one channel from the record store.
/// `with_log`: also the builds of the channel's history, which only decide
/// whether an update is mandatory (a skipped mandatory build).
async fn load_view(
    records: Arc<dyn RecordRead>,
    app_id: AppId,
    channel: String,
    with_log: bool,
) -> Result<Arc<ChannelView>, ApiError> {
    let app = load_app(&*records, app_id.as_str()).await?;
    let ch = records
        .channel(&app.app_id, &channel)
        .await?
        .ok_or_else(|| ApiError::no_channel(&app.app_id, &channel))?;
    let builds = channel_builds(&*records, &app.app_id, &ch, with_log).await?;
    let keys = ops::keys::app_keys(&*records, &app).await?;
    Ok(Arc::new(ChannelView {
        app,
        channel: ch,
        builds,
        keys,
        answers: Default::default(),
    }))
}

/// Decides for one device in a channel view; shared by every lookup route
/// and by the capgo stats route (which asks what a device was offered).
/// Returns the decision and the build it names.
pub(crate) async fn decide_in_view(
    records: &dyn RecordRead,
    view: &ChannelView,
    q: DeviceQuery,
    current: Option<&str>,
) -> Result<(Decision, Option<Build>), ApiError> {
    let app = &view.app.app_id;
    let current_build = current_build_id(records, app, &view.builds, current).await?;
    let extra = match current_build.filter(|id| !view.builds.contains_key(id)) {
        Some(id) => records.build(app, id).await?,
        None => None,
    };
    let get = |id: u64| {
        view.builds
            .get(&id)
            .or(extra.as_ref().filter(|b| b.id == id))
    };
    let q = DeviceQuery { current_build, ..q };
    let keys = view.keys.as_ref().map(|k| &k.set);
    let decision = crate::predict::device_gets(&view.channel, get, keys, &q, now());
    let build = match decision {
        Decision::Update { build_id, .. } => {
            Some(get(build_id).ok_or_else(ApiError::internal)?.clone())
        }
        _ => None,
    };
    Ok((decision, build))
}

/// True for the error of a lookup on a channel that does not exist, when
/// that channel is not already the app's default: the stock plugins' routes
/// then ask the default channel instead (a channel deleted, or misspelt in
/// an app's config, is kinder as the default than as silence).
fn retry_on_default(e: &ApiError, app: &App, channel: &str) -> bool {
    e.status == StatusCode::NOT_FOUND && channel != app.default_channel
}

/// Which build a device on `channel` (or the app's default channel, when
/// `channel` does not exist) is offered, not whether it is mandatory, read
/// from the record store without the lookup cache (the event routes have
/// none).
pub(crate) async fn offered_uncached(
    records: Arc<dyn RecordRead>,
    app: &App,
    channel: &str,
    q: DeviceQuery,
    current: Option<&str>,
) -> Result<(Decision, Option<Build>), ApiError> {
    // Which build, not whether it is mandatory: the channel's current and
    // previous deployments only, however long its history.
    let load = |name: &str| load_view(records.clone(), app.app_id.clone(), name.to_owned(), false);
    let view = match load(channel).await {
        Err(e) if retry_on_default(&e, app, channel) => load(&app.default_channel).await?,
        other => other?,
    };
    decide_in_view(&*records, &view, q, current).await
}

/// [`lookup_with_build`] on `channel`, or on the app's default channel when
/// `channel` does not exist (the stock plugins' routes).
pub(crate) async fn lookup_or_default(
    s: &DeviceState,
    app: &App,
    channel: &str,
    q: DeviceQuery,
    current: Option<&str>,
) -> Result<(Latest, Option<Build>), ApiError> {
    let id = app.app_id.as_str();
    match lookup_with_build(s, id, channel, q.clone(), current).await {
        Err(e) if retry_on_default(&e, app, channel) => {
            lookup_with_build(s, id, &app.default_channel, q, current).await
        }
        other => other,
    }
}

/// Decides for one device on one channel and builds the answer, with the
/// build it offers (if any).
pub(crate) async fn lookup_with_build(
    s: &DeviceState,
    app: &str,
    channel: &str,
    q: DeviceQuery,
    current: Option<&str>,
) -> Result<(Latest, Option<Build>), ApiError> {
    let view = channel_view(s, app, channel).await?;
    match offered(s, &view, q, current).await? {
        Offered::Status(status) => Ok((status_only(status), None)),
        Offered::Build(build, mandatory) => {
            let latest = offer_in_view(s, &view, &build, mandatory).await?;
            Ok((latest, Some(*build)))
        }
    }
}

/// What a lookup answers: a bare status, or a build to install.
enum Offered {
    Status(&'static str),
    Build(Box<Build>, bool),
}

/// Decides for one device in a view (builds whose signing key the app's
/// key set no longer allows are left out by the decision itself).
async fn offered(
    s: &DeviceState,
    view: &ChannelView,
    q: DeviceQuery,
    current: Option<&str>,
) -> Result<Offered, ApiError> {
    Ok(match decide_in_view(&*s.records, view, q, current).await? {
        (Decision::UpToDate, _) => Offered::Status("up_to_date"),
        (Decision::RollbackToBuiltin, _) => Offered::Status("rollback_to_builtin"),
        (Decision::Update { mandatory, .. }, Some(build)) => {
            Offered::Build(Box::new(build), mandatory)
        }
        (Decision::Update { .. }, None) => return Err(ApiError::internal()),
    })
}

/// The update answer for `build` in `view`, with the app's key set.
async fn offer_in_view(
    s: &DeviceState,
    view: &ChannelView,
    build: &Build,
    mandatory: bool,
) -> Result<Latest, ApiError> {
    let mut latest = offer(s, build, mandatory).await?;
    latest.key_set = view.keys.as_ref().map(|k| k.chain.clone());
    Ok(latest)
}

/// `status_only("up_to_date")` as JSON (a test holds the two together).
const UP_TO_DATE: &[u8] = br#"{"status":"up_to_date"}"#;
/// `status_only("rollback_to_builtin")` as JSON.
const ROLLBACK_TO_BUILTIN: &[u8] = br#"{"status":"rollback_to_builtin"}"#;

/// The lookup answer as JSON bytes: a status is a constant; an update is
/// serialised once per channel view and build, then shared by every device
/// offered the same build until the view is refreshed.
pub(crate) async fn lookup_bytes(
    s: &DeviceState,
    app: &str,
    channel: &str,
    q: DeviceQuery,
    current: Option<&str>,
) -> Result<bytes::Bytes, ApiError> {
    let view = channel_view(s, app, channel).await?;
    let (build, mandatory) = match offered(s, &view, q, current).await? {
        Offered::Status("up_to_date") => return Ok(bytes::Bytes::from_static(UP_TO_DATE)),
        Offered::Status(_) => return Ok(bytes::Bytes::from_static(ROLLBACK_TO_BUILTIN)),
        Offered::Build(b, m) => (b, m),
    };
    let key = (build.id, mandatory);
    if let Some(b) = view.answers.lock().ok().and_then(|a| a.get(&key).cloned()) {
        return Ok(b);
    }
    let latest = offer_in_view(s, &view, &build, mandatory).await?;
    let body = bytes::Bytes::from(serde_json::to_vec(&latest).map_err(|_| ApiError::internal())?);
    if let Ok(mut a) = view.answers.lock() {
        a.insert(key, body.clone());
    }
    Ok(body)
}

/// Decides for one device on one channel; shared by every lookup route.
pub(crate) async fn lookup(
    s: &DeviceState,
    app: &str,
    channel: &str,
    q: DeviceQuery,
    current: Option<&str>,
) -> Result<Latest, ApiError> {
    Ok(lookup_with_build(s, app, channel, q, current).await?.0)
}

#[cfg(test)]
mod tests {
    use super::{status_only, ROLLBACK_TO_BUILTIN, UP_TO_DATE};

    #[test]
    fn the_constant_status_answers_are_what_serde_writes() {
        for (status, constant) in [
            ("up_to_date", UP_TO_DATE),
            ("rollback_to_builtin", ROLLBACK_TO_BUILTIN),
        ] {
            assert_eq!(serde_json::to_vec(&status_only(status)).unwrap(), constant);
        }
    }
}
