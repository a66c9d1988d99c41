//! Routes for the stock `@capawesome/capacitor-live-update` plugin pointed
//! at liveship with its `serverDomain` setting (read from its native
//! sources, android/ LiveUpdate.java and ios/ LiveUpdate.swift, 8.x):
//! - `GET /v1/apps/{app}/bundles/latest`: the lookup, with the same rules
//!   as every other route. Any non-2xx answer means "no update" to the
//!   plugin, so nothing to install is a 404 `no_update`;
//! - `GET /v1/apps/{app}/bundles/{id}/files?href=...`: the `url` of a
//!   manifest bundle. `href=capawesome-live-update-manifest.json` is the
//!   file list (`[{href, checksum, sizeInBytes}]`), any other `href` a
//!   redirect to that file;
//! - `GET /v1/apps/{app}/channels` without a token: the channels a device
//!   may choose (`[{id, name}]`); with a token it stays the CI listing
//!   (`ci::list_channels` dispatches).
//!
//! Builds with a zip are served as zips: the plugin checks the zip's
//! SHA-256 (`checksum`), or with its `publicKey` set an RSA signature
//! (`signature`, base64 `SHA256withRSA` over the zip bytes, made in CI by
//! `upload-artifact --rsa-signing-key`). Only self-hosted manifest builds,
//! which have no zip, are served per file.

use super::auth::load_app;
use super::error::ApiError;
use super::error::Json;
use super::state::DeviceState;
use super::view::{artifact_base, check_device_id, file_url, lookup_or_default};
use crate::domain::AppId;
use crate::lookup::DeviceQuery;
use crate::manifest::ManifestDocument;
use crate::model::ArtifactType;
use crate::model::Build;
use crate::store::BlobKey;
use crate::store::RecordRead;
use crate::wire::ErrorBody;
use crate::wire::FileSource;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::http::header;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use serde_json::Value;

/// The manifest file name the plugin asks for (its `manifestFileName`).
pub const MANIFEST_HREF: &str = "capawesome-live-update-manifest.json";

/// Query of `GET /v1/apps/{app}/bundles/latest`, as the plugin builds it.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BundleQuery {
    /// The app binary's version code.
    #[serde(default)]
    #[allow(dead_code)] // sent by the plugin and documented; not used
    app_version_code: Option<String>,
    /// The app binary's version name: the native version for limits.
    #[serde(default)]
    app_version_name: Option<String>,
    /// The bundle the device runs (empty: the built-in one).
    #[serde(default)]
    bundle_id: Option<String>,
    /// The channel (empty: the app's default).
    #[serde(default)]
    channel_name: Option<String>,
    /// Ignored.
    #[serde(default)]
    #[allow(dead_code)] // sent by the plugin and documented; not used
    custom_id: Option<String>,
    /// The device id (empty: outside partial rollouts).
    #[serde(default)]
    #[param(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{0,128}$")]
    device_id: Option<String>,
    /// Ignored.
    #[serde(default)]
    #[allow(dead_code)] // sent by the plugin and documented; not used
    os_version: Option<String>,
    /// `0` Android, `1` iOS.
    #[serde(default)]
    platform: Option<String>,
    /// Ignored.
    #[serde(default)]
    #[allow(dead_code)] // sent by the plugin and documented; not used
    plugin_version: Option<String>,
}

fn platform_name(p: Option<&str>) -> Option<String> {
    match p {
        Some("0") => Some("android".into()),
        Some("1") => Some("ios".into()),
        _ => None,
    }
}

fn no_update(message: &str) -> Response {
    ApiError::not_found_with("no_update", message).into_response()
}

#[utoipa::path(get, path = "/v1/apps/{app}/bundles/latest", params(("app" = AppId, Path, description = "The app id"), BundleQuery),
    responses((status = 200, description = "The bundle to install: {artifactType, bundleId, channelName, checksum, signature, url, customProperties}", body = Object),
              (status = 404, description = "Nothing to install (`no_update`), or an unknown app", body = ErrorBody),
              (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(crate) async fn latest_bundle(
    State(s): State<DeviceState>,
    Path(app): Path<String>,
    Query(q): Query<BundleQuery>,
) -> Result<Response, ApiError> {
    let device_id = q.device_id.clone().unwrap_or_default();
    if !device_id.is_empty() {
        check_device_id(&device_id)?;
    }
    let app = load_app(&*s.records, &app).await?;
    let channel = q
        .channel_name
        .as_deref()
        .filter(|c| !c.is_empty())
        .unwrap_or(&app.default_channel)
        .to_owned();
    let query = DeviceQuery {
        device_id,
        platform: platform_name(q.platform.as_deref()),
        native_version: q.app_version_name.clone().filter(|v| !v.is_empty()),
        current_build: None,
    };
    let current = q.bundle_id.as_deref().filter(|b| !b.is_empty());
    let found = lookup_or_default(&s, &app, &channel, query, current).await;
    let (latest, build) = match found {
        Ok(f) => f,
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            return Ok(no_update("this app has no such channel"))
        }
        Err(e) => return Err(e),
    };
    let Some(build) = build.filter(|_| latest.status == "update_available") else {
        // Up to date, or a withdrawn build with nothing left: the plugin
        // has no way back to its built-in bundle from the server.
        return Ok(no_update(&format!("no update ({})", latest.status)));
    };
    let answer = match &latest.zip_url {
        Some(url) => json!({
            "artifactType": "zip",
            "bundleId": build.version,
            "channelName": channel,
            "checksum": latest.zip_sha256.map(|d| d.to_hex()),
            "signature": build.zip_rsa_signature,
            "url": url,
            "customProperties": {},
        }),
        None => json!({
            "artifactType": "manifest",
            "bundleId": build.version,
            "channelName": channel,
            "checksum": null,
            "signature": null,
            "url": format!("{}/v1/apps/{}/bundles/{}/files", s.urls.public_url, build.app_id, build.id),
            "customProperties": {},
        }),
    };
    Ok(Json(answer).into_response())
}

/// Query of `GET /v1/apps/{app}/bundles/{id}/files`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FilesQuery {
    /// `capawesome-live-update-manifest.json`, or a path the manifest lists.
    href: String,
}

async fn load_offerable(
    records: &dyn RecordRead,
    app: &AppId,
    id: &str,
) -> Result<Build, ApiError> {
    let not_found = || ApiError::not_found(format!("app {app} has no bundle {id:?}"));
    let id: u64 = id.parse().map_err(|_| not_found())?;
    records
        .build(app, id)
        .await?
        .filter(|b| !b.disabled)
        .ok_or_else(not_found)
}

#[utoipa::path(get, path = "/v1/apps/{app}/bundles/{id}/files",
    params(("app" = AppId, Path, description = "The app id"), ("id" = u64, Path, description = "The build id"), FilesQuery),
    responses((status = 200, description = "The file list", body = Vec<Object>),
              (status = 302, description = "A redirect to the file"),
              (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(crate) async fn bundle_files(
    State(s): State<DeviceState>,
    Path((app, id)): Path<(String, String)>,
    Query(q): Query<FilesQuery>,
) -> Result<Response, ApiError> {
    let app = load_app(&*s.records, &app).await?;
    let build = load_offerable(&*s.records, &app.app_id, &id).await?;
    let bytes = s
        .blobs
        .get_bytes(&BlobKey::manifest(&build.app_id, &build.manifest_sha256))
        .await?
        .ok_or_else(ApiError::internal)?;
    let doc = ManifestDocument::from_slice(&bytes).map_err(|_| ApiError::internal())?;
    // The stored document passed verification at registration.
    let manifest = doc.decode_unverified().map_err(|_| ApiError::internal())?;
    if q.href == MANIFEST_HREF {
        let items: Vec<Value> = manifest
            .files
            .iter()
            .map(|f| json!({"href": f.path, "checksum": f.sha256, "sizeInBytes": f.size}))
            .collect();
        return Ok(Json(Value::Array(items)).into_response());
    }
    // Only paths the signed manifest lists: the rule is the manifest's own.
    let file = manifest
        .files
        .iter()
        .find(|f| f.path.as_str() == q.href)
        .ok_or_else(|| ApiError::not_found(format!("bundle {id} has no file {:?}", q.href)))?;
    let url = match (build.artifact_type, &build.artifact_url) {
        (ArtifactType::Manifest, Some(url)) => {
            let src = FileSource {
                base_url: artifact_base(url),
                key: "path".into(),
                brotli: false,
            };
            file_url(&src, file.path.as_str(), &file.sha256)
        }
        _ => {
            let key = BlobKey::file(&build.app_id, &file.sha256);
            match s.blobs.download_url(&key).await? {
                Some(direct) => direct,
                None => s.urls.file(&build.app_id, &file.sha256),
            }
        }
    };
    Ok((StatusCode::FOUND, [(header::LOCATION, url)]).into_response())
}
