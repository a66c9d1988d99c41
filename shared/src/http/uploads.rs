//! Uploads: the plan of which files a build still needs, and the files
//! (and their brotli copies) themselves.

use super::auth::access;
use super::auth::Authorized;
use super::error::error_chain;
use super::error::read_json;
use super::error::ApiError;
use super::error::Json;
use super::state::CiState;
use super::state::BUILD_LIMIT;
use crate::domain::AppId;
use crate::hash::Sha256Digest;
use crate::model::Scope;
use crate::ops::audit::record;
use crate::ops::audit::snapshot;
use crate::ops::audit::Change;
use crate::ops::register::{heads_of, sizes_of};
use crate::store::BlobKey;
use crate::wire::ErrorBody;
use crate::wire::FileRef;
use crate::wire::UploadTarget;
use crate::wire::UploadsRequest;
use crate::wire::UploadsResponse;
use axum::body::Body;
use axum::extract::Path;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use futures::StreamExt;
use futures::TryStreamExt;
use std::collections::BTreeMap;

/// Most files in one uploads request.
const MAX_UPLOAD_LIST: usize = 200_000;

#[utoipa::path(post, path = "/v1/apps/{app}/uploads", params(("app" = AppId, Path, description = "The app id")), request_body = UploadsRequest,
    responses((status = 200, body = UploadsResponse), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn uploads(
    State(s): State<CiState>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<UploadsResponse>, ApiError> {
    let Authorized { app, token } = access(&s, &headers, &app, Scope::Upload).await?;
    let app_id = app.app_id;
    let req: UploadsRequest = read_json(&headers, body, BUILD_LIMIT).await?;
    if req.files.len() > MAX_UPLOAD_LIST {
        return Err(ApiError::too_large(format!(
            "at most {MAX_UPLOAD_LIST} files per request"
        )));
    }
    let mut unique: Vec<_> = req.files.clone();
    unique.sort_by_key(|f| f.sha256);
    unique.dedup_by_key(|f| f.sha256);
    let heads = sizes_of(
        &*s.blobs,
        &app_id,
        unique.iter().map(|f| f.sha256).collect(),
    )
    .await?;
    let mut missing = Vec::new();
    let mut already = 0;
    for (f, head) in unique.iter().zip(heads) {
        if head == Some(f.size) {
            already += 1;
            continue;
        }
        let key = BlobKey::file(&app_id, &f.sha256);
        let url = s.urls.file(&app_id, &f.sha256);
        missing.push(upload_target(&s, &key, f.sha256, f.size, url, None).await?);
    }
    let copies = brotli_targets(&s, &app_id, &req).await?;
    already += req.brotli.len() - copies.len();
    missing.extend(copies);
    record(
        &*s.records,
        &token,
        Change {
            app: Some(&app_id),
            action: "upload.plan",
            target: format!("{} file(s)", unique.len()),
            before: None,
            after: snapshot(&serde_json::json!({"files": unique.len(),
                "already_stored": already, "to_upload": missing.len()})),
        },
    )
    .await;
    Ok(Json(UploadsResponse {
        missing,
        already_stored: already,
    }))
}

/// Where to put one blob: a presigned URL when the store gives one (S3),
/// else `url` on this server with the uploader's token.
async fn upload_target(
    s: &CiState,
    key: &BlobKey,
    sha256: Sha256Digest,
    size: u64,
    url: String,
    brotli_of: Option<Sha256Digest>,
) -> Result<UploadTarget, ApiError> {
    Ok(match s.blobs.direct_upload(key, &sha256, size).await? {
        Some(direct) => UploadTarget {
            sha256,
            size,
            method: direct.method,
            url: direct.url,
            headers: direct.headers,
            auth: "none".into(),
            brotli_of,
        },
        None => UploadTarget {
            sha256,
            size,
            method: "PUT".into(),
            url,
            headers: BTreeMap::from([(
                "content-type".to_owned(),
                "application/octet-stream".to_owned(),
            )]),
            auth: "bearer".into(),
            brotli_of,
        },
    })
}

/// Where to upload each brotli copy the store lacks. A copy already stored
/// is kept whatever its size: another brotli release may have made it, and
/// it decompresses to the same file.
async fn brotli_targets(
    s: &CiState,
    app: &AppId,
    req: &UploadsRequest,
) -> Result<Vec<UploadTarget>, ApiError> {
    let mut copies = req.brotli.clone();
    copies.sort_by_key(|c| c.of);
    copies.dedup_by_key(|c| c.of);
    for c in &copies {
        if !req.files.iter().any(|f| f.sha256 == c.of) {
            return Err(ApiError::bad_request(format!(
                "brotli copy of {} names a file that is not in this upload; list the file in `files` too",
                c.of
            )));
        }
        if c.size == 0 || c.size > s.max_file {
            return Err(ApiError::too_large(format!(
                "brotli copy of {} is {} bytes; copies must be 1 to {} bytes",
                c.of, c.size, s.max_file
            )));
        }
    }
    let originals: Vec<Sha256Digest> = copies.iter().map(|c| c.of).collect();
    let heads = heads_of(
        &*s.blobs,
        originals.iter().map(|sha| BlobKey::brotli(app, sha)),
    )
    .await?;
    let mut targets = Vec::new();
    for (c, head) in copies.iter().zip(heads) {
        if head.is_some_and(|n| n > 0) {
            continue;
        }
        let key = BlobKey::brotli(app, &c.of);
        let url = format!("{}.br", s.urls.file(app, &c.of));
        targets.push(upload_target(s, &key, c.sha256, c.size, url, Some(c.of)).await?);
    }
    Ok(targets)
}

#[utoipa::path(put, path = "/v1/apps/{app}/files/{sha256}",
    params(("app" = AppId, Path, description = "The app id"), ("sha256" = Sha256Digest, Path, description = "SHA-256 of the bytes")),
    request_body(content = String, content_type = "application/octet-stream", description = "The file's bytes"),
    responses((status = 201, body = FileRef), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn put_file(
    State(s): State<CiState>,
    Path((app, sha)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::response::Response, ApiError> {
    let app_id = access(&s, &headers, &app, Scope::Upload).await?.app.app_id;
    if let Some(original) = sha.strip_suffix(".br") {
        let original =
            Sha256Digest::from_hex(original).map_err(|e| ApiError::bad_request(e.to_string()))?;
        return put_brotli_copy(&s, &app_id, &original, body).await;
    }
    let sha = Sha256Digest::from_hex(&sha).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let stream = body
        .into_data_stream()
        .map_err(|e| std::io::Error::other(e.to_string()))
        .boxed();
    let size = s
        .blobs
        .put_verified(&BlobKey::file(&app_id, &sha), stream, &sha, s.max_file)
        .await?;
    Ok((StatusCode::CREATED, Json(FileRef { sha256: sha, size })).into_response())
}

/// Stores a brotli copy after checking, off the async threads, that it
/// decompresses to the file it is named after (within the file size limit).
async fn put_brotli_copy(
    s: &CiState,
    app: &AppId,
    original: &Sha256Digest,
    body: Body,
) -> Result<axum::response::Response, ApiError> {
    let limit = usize::try_from(s.max_file).unwrap_or(usize::MAX);
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::too_large(format!("a brotli copy is at most {} bytes", s.max_file))
    })?;
    let (copy, want, max) = (bytes.clone(), *original, s.max_file);
    tokio::task::spawn_blocking(move || crate::compress::check_copy(&copy, &want, max))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| ApiError::unprocessable("invalid_brotli_copy", error_chain(&e)))?;
    let (sha256, size) = (Sha256Digest::of(&bytes), bytes.len() as u64);
    s.blobs
        .put_bytes(&BlobKey::brotli(app, original), bytes)
        .await?;
    Ok((StatusCode::CREATED, Json(FileRef { sha256, size })).into_response())
}
