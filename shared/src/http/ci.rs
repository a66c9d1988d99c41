//! CI and ops handlers: apps, tokens, uploads, builds, channels, stats.

use super::audit::{record, snapshot, Change};
use super::error::error_chain;
use super::error::read_json;
use super::guard;
use super::{
    authenticate, authorize, forbidden, load_app, parse_app, ApiError, CiState, Json, BUILD_LIMIT,
    JSON_LIMIT,
};
use crate::domain::{AppId, BuildVersion};
use crate::hash::Sha256Digest;
use crate::keys::PublicKey;
use crate::manifest::{Manifest, Trust, Verifier, VerifyError};
use crate::model::{
    apply_native_changes, now, App, ArtifactType, Build, Channel, Commit, Deployment, EventKind,
    NativeLimitChange, NativeLimitError, NativeLimits, Scope, Token, DEFAULT_CHANNEL,
};
use crate::paths::is_compressible;
use crate::rollout;
use crate::rsakey::RsaPublic;
use crate::store::{BlobKey, BuildInsert};
use crate::wire::{
    BuildList, BuildStats, ChannelList, ChannelsAnswer, CreateApp, CreateToken, CreatedToken,
    Deploy, DisableImpact, ErrorBody, FileRef, GuardPatch, LiveOn, PatchBuild, PlanAction,
    RegisterBuild, RegisteredBuild, RolloutAction, UploadTarget, UploadsRequest, UploadsResponse,
};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine as _;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use std::collections::BTreeMap;

/// Longest channel name.
const MAX_CHANNEL: usize = 64;
/// Most files in one uploads request.
const MAX_UPLOAD_LIST: usize = 200_000;

pub(super) fn check_channel_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=MAX_CHANNEL).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid channel name {name:?}: use 1-64 letters, digits, '.', '_' or '-'"
        )))
    }
}

#[utoipa::path(post, path = "/v1/apps", request_body = CreateApp,
    responses((status = 201, body = App), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn create_app(
    State(s): State<CiState>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let token = authorize(&*s.records, &headers, None, Scope::Admin).await?;
    let req: CreateApp = read_json(&headers, body, JSON_LIMIT).await?;
    super::admin::check_public_keys(&req.public_keys)?;
    let default_channel = req
        .default_channel
        .unwrap_or_else(|| DEFAULT_CHANNEL.to_owned());
    check_channel_name(&default_channel)?;
    let rsa_public_key = req
        .rsa_public_key
        .as_deref()
        .filter(|k| !k.trim().is_empty())
        .map(super::admin::check_rsa_public_key)
        .transpose()?;
    let root_public_key = req
        .root_public_key
        .as_deref()
        .filter(|k| !k.trim().is_empty())
        .map(super::keys::check_root_key)
        .transpose()?;
    let app = App {
        app_id: req.app_id,
        public_keys: req.public_keys,
        root_public_key,
        default_channel,
        rsa_public_key,
        created_at: now(),
    };
    s.records.create_app(&app).await?;
    record(
        &s,
        &token,
        Change {
            app: Some(&app.app_id),
            action: "app.create",
            target: format!("app {}", app.app_id),
            before: None,
            after: snapshot(&app),
        },
    )
    .await;
    Ok((StatusCode::CREATED, Json(app)))
}

/// A new random secret: `lsp_` and 43 characters of base64url (256 bits).
pub fn new_secret() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        tracing::error!(error = %e, "random number generator failed");
        ApiError::internal()
    })?;
    Ok(format!(
        "lsp_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// A token record for `secret`.
pub fn token_record(secret: &str, name: &str, app_id: Option<AppId>, scopes: Vec<Scope>) -> Token {
    let secret_sha256 = Sha256Digest::of(secret.as_bytes());
    Token {
        id: format!("tok_{}", &secret_sha256.to_hex()[..12]),
        name: name.to_owned(),
        app_id,
        scopes,
        secret_sha256,
        created_at: now(),
        last_used_at: None,
        expires_at: None,
        session_of: None,
    }
}

#[utoipa::path(post, path = "/v1/tokens", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn create_token(
    State(s): State<CiState>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    // Which app the new token is for is in the body: a token with no admin
    // right anywhere is refused before the body is read, the app checked after.
    let caller = authenticate(&*s.records, &headers).await?;
    if !caller.scopes.contains(&Scope::Admin) {
        return Err(forbidden(&caller, None, Scope::Admin));
    }
    let req: CreateToken = read_json(&headers, body, JSON_LIMIT).await?;
    if !caller.allows(req.app_id.as_ref(), Scope::Admin) {
        return Err(forbidden(&caller, req.app_id.as_ref(), Scope::Admin));
    }
    if req.scopes.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "give at least one scope: admin, upload, deploy or read",
        ));
    }
    if req.name.trim().is_empty() || req.name.chars().count() > 128 {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "name must be 1-128 characters",
        ));
    }
    if let Some(app) = &req.app_id {
        load_app(&*s.records, app.as_str()).await?;
    }
    let mut scopes = req.scopes;
    scopes.sort();
    scopes.dedup();
    let created = issue_token(&s, &req.name, req.app_id, scopes).await?;
    tracing::info!(token_id = %created.id, "token created");
    record(
        &s,
        &caller,
        Change {
            app: created.app_id.as_ref(),
            action: "token.create",
            target: format!("token {}", created.id),
            before: None,
            after: snapshot(&serde_json::json!({"id": created.id, "name": created.name,
                "app_id": created.app_id, "scopes": created.scopes})),
        },
    )
    .await;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Makes and stores a new token; the answer carries its secret, the only
/// time it is ever shown (only its hash is stored).
pub(super) async fn issue_token(
    s: &CiState,
    name: &str,
    app_id: Option<AppId>,
    scopes: Vec<Scope>,
) -> Result<CreatedToken, ApiError> {
    let secret = new_secret()?;
    let token = token_record(&secret, name, app_id, scopes);
    s.records.create_token(&token).await?;
    Ok(CreatedToken {
        id: token.id,
        name: token.name,
        app_id: token.app_id,
        scopes: token.scopes,
        token: secret,
    })
}

#[utoipa::path(post, path = "/v1/apps/{app}/uploads", params(("app" = AppId, Path, description = "The app id")), request_body = UploadsRequest,
    responses((status = 200, body = UploadsResponse), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn uploads(
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
    let heads = sizes_of(&s, &app_id, unique.iter().map(|f| f.sha256).collect()).await?;
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
        &s,
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
    let heads = heads_of(s, originals.iter().map(|sha| BlobKey::brotli(app, sha))).await?;
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

/// True when every file of the manifest that [`is_compressible`] picks has
/// its brotli copy stored (and there is at least one): only then are devices
/// sent `.br` names, since a missing copy would fail their download.
async fn brotli_complete(s: &CiState, app: &AppId, manifest: &Manifest) -> Result<bool, ApiError> {
    let mut shas: Vec<Sha256Digest> = manifest
        .files
        .iter()
        .filter(|f| is_compressible(f.path.as_str()))
        .map(|f| f.sha256)
        .collect();
    shas.sort();
    shas.dedup();
    if shas.is_empty() {
        return Ok(false);
    }
    let heads = heads_of(s, shas.iter().map(|sha| BlobKey::brotli(app, sha))).await?;
    Ok(heads.iter().all(|h| h.is_some_and(|n| n > 0)))
}

/// The stored size of each file (`None`: not stored), 32 lookups at a time.
async fn sizes_of(
    s: &CiState,
    app: &AppId,
    shas: Vec<Sha256Digest>,
) -> Result<Vec<Option<u64>>, ApiError> {
    heads_of(s, shas.iter().map(|sha| BlobKey::file(app, sha))).await
}

/// The stored size of each blob (`None`: not stored), 32 lookups at a time.
async fn heads_of(
    s: &CiState,
    keys: impl Iterator<Item = BlobKey>,
) -> Result<Vec<Option<u64>>, ApiError> {
    let keys: Vec<BlobKey> = keys.collect();
    let sizes: Vec<Option<u64>> = futures::stream::iter(keys)
        .map(|key| {
            let blobs = s.blobs.clone();
            async move { blobs.head(&key).await }
        })
        .buffered(32)
        .try_collect()
        .await?;
    Ok(sizes)
}

#[utoipa::path(put, path = "/v1/apps/{app}/files/{sha256}",
    params(("app" = AppId, Path, description = "The app id"), ("sha256" = Sha256Digest, Path, description = "SHA-256 of the bytes")),
    request_body(content = String, content_type = "application/octet-stream", description = "The file's bytes"),
    responses((status = 201, body = FileRef), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn put_file(
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

fn trusted_keys(app: &App) -> Result<Option<Verifier>, ApiError> {
    if app.public_keys.is_empty() {
        return Ok(None);
    }
    let keys = app
        .public_keys
        .iter()
        .map(|pem| PublicKey::from_pem(pem))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            tracing::error!(error = %e, app = %app.app_id, "stored public key unreadable");
            ApiError::internal()
        })?;
    Ok(Some(Verifier::new(keys)))
}

fn check_artifact_url(url: &str) -> Result<(), ApiError> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "invalid_artifact_url",
            "artifact_url must be an http(s) URL without spaces, at most 2048 characters",
        ))
    }
}

#[utoipa::path(post, path = "/v1/apps/{app}/builds", params(("app" = AppId, Path, description = "The app id")), request_body = RegisterBuild,
    responses((status = 201, body = RegisteredBuild), (status = 200, body = RegisteredBuild), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn register_build(
    State(s): State<CiState>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let Authorized { app, token } = access(&s, &headers, &app, Scope::Upload).await?;
    let req: RegisterBuild = read_json(&headers, body, BUILD_LIMIT).await?;
    let app_id = app.app_id.clone();
    // An app that pins a root key trusts the key its key set allows now;
    // one without, its plain public keys.
    let verifier = match super::keys::build_verifier(&*s.records, &app, &req.manifest).await? {
        Some(v) => Some(v),
        None => trusted_keys(&app)?,
    };
    let trust = Trust::open(&req.manifest, verifier.as_ref()).map_err(|e| {
        let code = match e {
            VerifyError::Manifest(_) => "invalid_manifest",
            _ => "signature_invalid",
        };
        ApiError::unprocessable(code, error_chain(&e))
    })?;
    let manifest: &Manifest = trust.manifest();
    if let Some(m_app) = &manifest.app_id {
        if m_app != &app_id {
            return Err(ApiError::unprocessable(
                "app_mismatch",
                format!("the signed manifest is for app {m_app}, not {app_id}"),
            ));
        }
    }
    let version: BuildVersion =
        match (&manifest.version, &req.version) {
            (Some(m), Some(r)) if m != r => {
                return Err(ApiError::unprocessable(
                    "version_mismatch",
                    format!("the signed manifest says version {m}, the request {r}"),
                ))
            }
            (Some(m), _) => m.clone(),
            (None, Some(r)) => r.clone(),
            (None, None) => return Err(ApiError::unprocessable(
                "version_required",
                "give a version: in the manifest (--version when generating it) or in the request",
            )),
        };
    if let Some(url) = &req.artifact_url {
        check_artifact_url(url)?;
    }
    let native = apply_native_changes(
        &NativeLimits::new(),
        &req.native
            .iter()
            .map(|(p, l)| (p.clone(), Some(NativeLimitChange::setting(l))))
            .collect(),
    )
    .map_err(native_error)?;
    if req.artifact_type == ArtifactType::Zip && manifest.zip.is_none() {
        return Err(ApiError::unprocessable(
            "zip_hash_required",
            "a zip build needs the manifest written beside the zip by bundle-artifact (it carries the zip's SHA-256)",
        ));
    }
    if req.artifact_url.is_none() {
        // Hosted here: every file the build names must be stored, and the
        // zip too when the manifest names one (the CLI makes it in CI).
        let wanted: Vec<(Sha256Digest, u64)> = match (req.artifact_type, &manifest.zip) {
            (ArtifactType::Zip, Some(z)) => vec![(z.sha256, z.size)],
            _ => manifest
                .files
                .iter()
                .map(|f| (f.sha256, f.size))
                .chain(manifest.zip.map(|z| (z.sha256, z.size)))
                .collect(),
        };
        let heads = sizes_of(&s, &app_id, wanted.iter().map(|(sha, _)| *sha).collect()).await?;
        let missing: Vec<String> = wanted
            .iter()
            .zip(heads)
            .filter(|((_, size), head)| *head != Some(*size))
            .map(|((sha, _), _)| sha.to_hex())
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::unprocessable(
                "files_missing",
                format!(
                    "{} file(s) of the manifest are not stored yet (first: {}); upload them (POST /v1/apps/{app_id}/uploads) and register again",
                    missing.len(),
                    missing[0]
                ),
            ));
        }
    }
    // Stored compact: devices get it inside every update answer.
    let doc_bytes =
        Bytes::from(serde_json::to_vec(&req.manifest).map_err(|_| ApiError::internal())?);
    let manifest_sha256 = Sha256Digest::of(&doc_bytes);
    s.blobs
        .put_bytes(&BlobKey::manifest(&app_id, &manifest_sha256), doc_bytes)
        .await?;
    // Every hosted build can also be fetched as one zip: zip builds bring
    // theirs; for manifest builds the server makes it from the stored files
    // (the same manifest already registered: nothing to redo).
    let zip = match (req.artifact_type, &req.artifact_url, manifest.zip) {
        (_, _, Some(z)) => Some(z),
        (ArtifactType::Manifest, None, None) => match s
            .records
            .build_by_version(&app_id, &version)
            .await?
        {
            Some(existing) if existing.manifest_sha256 == manifest_sha256 => existing.zip,
            _ if !server_may_zip(manifest) => {
                return Err(ApiError::unprocessable(
                    "zip_required",
                    format!(
                        "this build ({} files, {} bytes) is too big for the server to zip within the \
                         API's time limit; upload it with `liveship live-update upload-artifact`, which \
                         makes the zip in CI, or name a zip in the signed manifest and upload it too",
                        manifest.files.len(),
                        manifest.total_size()
                    ),
                ))
            }
            _ => Some(
                super::zipgen::make_zip(&*s.blobs, &app_id, manifest, req.manifest.to_json_bytes())
                    .await?,
            ),
        },
        _ => None,
    };
    let zip = match (zip, &req.artifact_url) {
        (Some(z), None) => Some(super::zipgen::with_crc32(&*s.blobs, &app_id, z).await?),
        (z, _) => z,
    };
    let rsa_key = app_rsa_key(&app)?;
    let zip_rsa_signature =
        check_zip_signature(&app, rsa_key.as_ref(), zip.as_ref(), req.zip_rsa_signature)?;
    let capgo_encrypted = match req.capgo_encrypted {
        None => None,
        Some(enc) => Some(
            check_capgo_encrypted(
                &s,
                &app,
                rsa_key.as_ref(),
                zip.as_ref(),
                req.artifact_url.is_some(),
                enc,
            )
            .await?,
        ),
    };
    let brotli = req.artifact_type == ArtifactType::Manifest
        && req.artifact_url.is_none()
        && brotli_complete(&s, &app_id, manifest).await?;
    let build = Build {
        id: 0,
        app_id: app_id.clone(),
        version,
        artifact_type: req.artifact_type,
        artifact_url: req.artifact_url,
        manifest_sha256,
        zip,
        zip_rsa_signature,
        capgo_encrypted,
        brotli,
        file_count: manifest.files.len() as u64,
        total_size: manifest.total_size(),
        key_id: trust.key_id().map(|k| k.to_string()),
        commit: Commit {
            r#ref: req.commit_ref,
            sha: req.commit_sha,
            message: req.commit_message,
        },
        mandatory: req.mandatory,
        disabled: false,
        native,
        created_at: now(),
    };
    match s.records.insert_build(build).await? {
        BuildInsert::Created(b) => {
            tracing::info!(app = %app_id, build = b.id, version = %b.version, "build registered");
            record(&s, &token, Change {
                app: Some(&app_id),
                action: "build.register",
                target: format!("build {}", b.id),
                before: None,
                after: snapshot(&build_summary(&b)),
            })
            .await;
            Ok((StatusCode::CREATED, Json(RegisteredBuild { created: true, build: b })))
        }
        BuildInsert::Existing(b) => Ok((StatusCode::OK, Json(RegisteredBuild { created: false, build: b }))),
        BuildInsert::VersionTaken(b) => Err(ApiError::conflict(format!(
            "version {} is already build {} with a different manifest; give this build another version",
            b.version, b.id
        ))),
    }
}

/// The zip's RSA signature, checked against the app's RSA public key over
/// the zip's SHA-256 (from the signed manifest, or the server's own zip).
/// An app with an RSA key gets every zip signed: a build whose zip is not
/// would be refused by every Capawesome device that checks, so it is
/// refused here, at once, with what to do.
/// The app's RSA public key, parsed (it was checked when it was stored).
fn app_rsa_key(app: &App) -> Result<Option<RsaPublic>, ApiError> {
    app.rsa_public_key
        .as_deref()
        .map(RsaPublic::from_pem)
        .transpose()
        .map_err(|e| {
            tracing::error!(error = %e, app = %app.app_id, "stored RSA public key unreadable");
            ApiError::internal()
        })
}

fn check_zip_signature(
    app: &App,
    key: Option<&RsaPublic>,
    zip: Option<&crate::manifest::ZipInfo>,
    signature: Option<String>,
) -> Result<Option<String>, ApiError> {
    let signature = signature.filter(|s| !s.trim().is_empty());
    match (key, zip, signature) {
        (_, None, Some(_)) => Err(ApiError::unprocessable(
            "rsa_signature_without_zip",
            "the build has no zip to sign; leave out --rsa-signing-key for self-hosted manifest builds",
        )),
        (None, _, Some(_)) => Err(ApiError::unprocessable(
            "rsa_key_missing",
            format!(
                "app {} has no RSA public key to check the zip signature with; add it with `liveship apps update --rsa-public-key liveship_rsa_public.pem`",
                app.app_id
            ),
        )),
        (Some(_), Some(_), None) => Err(ApiError::unprocessable(
            "rsa_signature_required",
            format!(
                "app {} signs its zips with RSA for the Capawesome plugin; upload with `--rsa-signing-key liveship_rsa_private.pem`",
                app.app_id
            ),
        )),
        (Some(key), Some(z), Some(sig)) => {
            if key.verify_digest(&z.sha256, &sig) {
                Ok(Some(sig.trim().to_owned()))
            } else {
                Err(ApiError::unprocessable(
                    "rsa_signature_invalid",
                    "the zip's RSA signature does not verify with the app's RSA public key; sign with the private half of the key the app holds (`liveship apps show`)",
                ))
            }
        }
        (_, _, None) => Ok(None),
    }
}

/// The capgo-encrypted zip: stored here, for a hosted build with a zip, and
/// its encrypted checksum made by the app's RSA key over that zip's SHA-256.
/// (A session key that does not decrypt it fails on the device, closed.)
async fn check_capgo_encrypted(
    s: &CiState,
    app: &App,
    key: Option<&RsaPublic>,
    zip: Option<&crate::manifest::ZipInfo>,
    self_hosted: bool,
    enc: crate::model::CapgoEncrypted,
) -> Result<crate::model::CapgoEncrypted, ApiError> {
    let bad = |m: String| ApiError::unprocessable("invalid_capgo_encryption", m);
    if self_hosted {
        return Err(bad(
            "capgo-encrypted zips are stored by liveship; upload the build with `upload-artifact`"
                .into(),
        ));
    }
    let zip = zip.ok_or_else(|| bad("the build has no zip to encrypt".into()))?;
    let key = key.ok_or_else(|| {
        ApiError::unprocessable(
            "rsa_key_missing",
            format!(
                "app {} has no RSA public key; add it with `liveship apps update --rsa-public-key`",
                app.app_id
            ),
        )
    })?;
    if !key.verify_capgo_checksum(&zip.sha256, &enc.checksum) {
        return Err(bad("the encrypted checksum does not decrypt to the zip's SHA-256 with the app's RSA public key".into()));
    }
    let parts: Vec<&str> = enc.session_key.split(':').collect();
    if parts.len() != 2 || parts.iter().any(|p| p.is_empty() || p.len() > 1024) {
        return Err(bad("session_key must be base64 IV ':' base64 key".into()));
    }
    let stored = s
        .blobs
        .head(&BlobKey::file(&app.app_id, &enc.sha256))
        .await?;
    if stored != Some(enc.size) {
        return Err(ApiError::unprocessable(
            "files_missing",
            format!(
                "the encrypted zip {} is not stored yet; upload it first",
                enc.sha256
            ),
        ));
    }
    Ok(enc)
}

/// Largest build the server zips itself at registration (bytes, files):
/// zipping reads every file from the blob store, and API Gateway cuts a
/// request at 30 s. Bigger builds carry a zip made by the CLI in CI.
pub const SERVER_ZIP_LIMIT: (u64, usize) = (32 * 1024 * 1024, 2_000);

fn server_may_zip(m: &Manifest) -> bool {
    m.total_size() <= SERVER_ZIP_LIMIT.0 && m.files.len() <= SERVER_ZIP_LIMIT.1
}

/// An app, and the token allowed to act on it.
#[derive(Debug)]
pub(super) struct Authorized {
    pub app: App,
    pub token: Token,
}

/// Authorises `scope` on the `{app}` path segment (before revealing whether
/// the app exists), then loads the app.
pub(super) async fn access(
    s: &CiState,
    headers: &HeaderMap,
    app: &str,
    scope: Scope,
) -> Result<Authorized, ApiError> {
    let app_id = parse_app(app)?;
    let token = authorize(&*s.records, headers, Some(&app_id), scope).await?;
    let app = load_app(&*s.records, app).await?;
    Ok(Authorized { app, token })
}

/// A build as the audit log records its registration.
fn build_summary(b: &Build) -> serde_json::Value {
    serde_json::json!({
        "id": b.id, "version": b.version, "artifact_type": b.artifact_type,
        "manifest_sha256": b.manifest_sha256, "commit": b.commit,
    })
}

/// The fields of a build a patch changes.
fn build_flags(b: &Build) -> serde_json::Value {
    serde_json::json!({ "disabled": b.disabled, "mandatory": b.mandatory, "native": b.native })
}

fn native_error(e: NativeLimitError) -> ApiError {
    ApiError::unprocessable("invalid_native_limits", e.to_string())
}

/// A build named in a path: a number is a build id, anything else a version
/// label.
pub(super) async fn load_build_ref(s: &CiState, app: &AppId, r: &str) -> Result<Build, ApiError> {
    if let Ok(id) = r.parse::<u64>() {
        return load_build(s, app, id).await;
    }
    let version = BuildVersion::new(r).map_err(|_| {
        ApiError::not_found(format!(
            "no build {r:?}: name a build by its id (a number) or its version label"
        ))
    })?;
    s.records
        .build_by_version(app, &version)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("app {app} has no build with version {r:?}")))
}

async fn load_build(s: &CiState, app: &AppId, id: u64) -> Result<Build, ApiError> {
    s.records
        .build(app, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("app {app} has no build {id}")))
}

/// Where a build is live now: channels serving it as their current build,
/// or as the baseline of a partial rollout, and what those devices get once
/// it is gone.
fn live_on(build_id: u64, channels: &[Channel], builds: &[Build]) -> Vec<LiveOn> {
    let usable = |id: u64| id != build_id && builds.iter().any(|b| b.id == id && !b.disabled);
    let mut out = Vec::new();
    for ch in channels {
        let Some(cur) = &ch.current else { continue };
        let stack: Vec<u64> = ch.stack().map(|d| d.build_id).collect();
        let after = |id: u64| {
            stack
                .iter()
                .skip_while(|b| **b != id)
                .skip(1)
                .copied()
                .find(|b| usable(*b))
        };
        if cur.build_id == build_id {
            out.push(LiveOn {
                channel: ch.name.clone(),
                role: "current".into(),
                percent: cur.rollout_percent,
                falls_back_to: after(build_id),
            });
        } else if cur.rollout_percent < 100 && ch.baseline().is_some_and(|b| b.build_id == build_id)
        {
            out.push(LiveOn {
                channel: ch.name.clone(),
                role: "baseline".into(),
                percent: 100 - cur.rollout_percent,
                falls_back_to: after(build_id),
            });
        }
    }
    out
}

#[utoipa::path(get, path = "/v1/apps/{app}/builds", params(("app" = AppId, Path, description = "The app id")),
    responses((status = 200, body = BuildList), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn list_builds(
    State(s): State<CiState>,
    Path(app): Path<String>,
    headers: HeaderMap,
) -> Result<Json<BuildList>, ApiError> {
    let app_id = access(&s, &headers, &app, Scope::Read).await?.app.app_id;
    let builds = s.records.builds(&app_id).await?;
    Ok(Json(BuildList { builds }))
}

#[utoipa::path(get, path = "/v1/apps/{app}/builds/{id}", params(("app" = AppId, Path, description = "The app id"), ("id" = u64, Path, description = "The build id")),
    responses((status = 200, body = Build), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn show_build(
    State(s): State<CiState>,
    Path((app, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Build>, ApiError> {
    let app_id = access(&s, &headers, &app, Scope::Read).await?.app.app_id;
    Ok(Json(load_build_ref(&s, &app_id, &id).await?))
}

#[utoipa::path(patch, path = "/v1/apps/{app}/builds/{id}", params(("app" = AppId, Path, description = "The app id"), ("id" = u64, Path, description = "The build id")), request_body = PatchBuild,
    responses((status = 200, body = Build), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn patch_build(
    State(s): State<CiState>,
    Path((app, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Build>, ApiError> {
    let Authorized { app, token } = access(&s, &headers, &app, Scope::Deploy).await?;
    let app_id = app.app_id;
    let req: PatchBuild = read_json(&headers, body, JSON_LIMIT).await?;
    let mut build = load_build_ref(&s, &app_id, &id).await?;
    let before = build.clone();
    if req.disabled == Some(true) && !build.disabled && req.force != Some(true) {
        let channels = live_on(
            build.id,
            &s.records.channels(&app_id).await?,
            &s.records.builds(&app_id).await?,
        );
        if !channels.is_empty() {
            let counts = s.records.counters(&app_id, build.id).await?;
            let impact = DisableImpact {
                build_id: build.id,
                devices_applied: counts.devices[&EventKind::Applied],
                devices_downloaded: counts.devices[&EventKind::DownloadComplete],
                channels,
            };
            let said: Vec<String> = impact
                .channels
                .iter()
                .map(|l| {
                    format!(
                        "channel {} serves it to {}% of its devices ({}), who would get {}",
                        l.channel,
                        l.percent,
                        l.role,
                        l.falls_back_to
                            .map_or("the bundle inside the app".to_owned(), |b| format!(
                                "build {b}"
                            ))
                    )
                })
                .collect();
            return Err(ApiError::conflict_with(
                "build_live",
                format!(
                    "build {} is live: {}; {} device(s) have reported applying it. \
                     Roll back or deploy another build first, or disable it anyway with force \
                     (`--force`)",
                    build.id,
                    said.join("; "),
                    impact.devices_applied
                ),
            )
            .with_details(impact));
        }
    }
    if let Some(d) = req.disabled {
        build.disabled = d;
    }
    if let Some(m) = req.mandatory {
        build.mandatory = m;
    }
    if let Some(changes) = &req.native {
        build.native = apply_native_changes(&build.native, changes).map_err(native_error)?;
    }
    if !s.records.update_build(&build).await? {
        return Err(ApiError::not_found(format!(
            "app {app_id} has no build {}",
            build.id
        )));
    }
    let mut actions = Vec::new();
    if build.disabled != before.disabled {
        actions.push(if build.disabled {
            "build.disable"
        } else {
            "build.enable"
        });
    }
    if build.native != before.native {
        actions.push("build.native_limits");
    }
    if build.mandatory != before.mandatory {
        actions.push("build.mandatory");
    }
    if !actions.is_empty() {
        record(
            &s,
            &token,
            Change {
                app: Some(&app_id),
                action: &actions.join("+"),
                target: format!("build {}", build.id),
                before: snapshot(&build_flags(&before)),
                after: snapshot(&build_flags(&build)),
            },
        )
        .await;
    }
    Ok(Json(build))
}

#[utoipa::path(get, path = "/v1/apps/{app}/builds/{id}/stats", params(("app" = AppId, Path, description = "The app id"), ("id" = u64, Path, description = "The build id")),
    responses((status = 200, body = BuildStats), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn build_stats(
    State(s): State<CiState>,
    Path((app, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<BuildStats>, ApiError> {
    let app_id = access(&s, &headers, &app, Scope::Read).await?.app.app_id;
    let build = load_build_ref(&s, &app_id, &id).await?;
    let counts = s.records.counters(&app_id, build.id).await?;
    Ok(Json(BuildStats {
        build_id: build.id,
        counts: counts.events,
        devices: counts.devices,
    }))
}

#[utoipa::path(get, path = "/v1/apps/{app}/channels", params(("app" = AppId, Path, description = "The app id"), super::capawesome::ChannelsQuery),
    responses((status = 200, description = "With a token: the CI listing (`ChannelList`). Without one: the channels devices may choose, `[{id, name}]` (the Capawesome plugin's fetchChannels)", body = ChannelsAnswer), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security((), ("bearer" = [])))]
pub(super) async fn list_channels(
    State(s): State<CiState>,
    Path(app): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Json<serde_json::Value>, ApiError> {
    // The stock Capawesome plugin lists channels on this same path with no
    // token: without an Authorization header the answer is the public list
    // of channels devices may choose, as `[{id, name}]`; with one, the CI
    // listing, behind the token and scope checks.
    if !headers.contains_key(axum::http::header::AUTHORIZATION) {
        let Query(q) = Query::<super::capawesome::ChannelsQuery>::try_from_uri(&uri)
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        return Ok(Json(
            super::capawesome::public_channels(&*s.records, &app, q).await?,
        ));
    }
    let app_id = access(&s, &headers, &app, Scope::Read).await?.app.app_id;
    let mut channels = s.records.channels(&app_id).await?;
    let at = now();
    let mut judged = false;
    for ch in channels.iter().filter(|c| guard::due(c, at)) {
        judge(&s, &app_id, &ch.name).await;
        judged = true;
    }
    if judged {
        channels = s.records.channels(&app_id).await?;
    }
    Ok(Json(
        serde_json::to_value(ChannelList { channels }).map_err(|_| ApiError::internal())?,
    ))
}

/// Reads, changes and compare-and-sets a channel until it wins (bounded).
/// A channel that does not exist is created only with `create`; otherwise
/// the answer is `None`, decided on the same read the change applies to, so
/// a channel deleted meanwhile is never brought back. With the channel as
/// stored, the current deployment it replaced (for the audit log).
async fn update_channel(
    s: &CiState,
    app: &AppId,
    name: &str,
    create: bool,
    mut change: impl FnMut(&mut Channel) -> Result<(), ApiError>,
) -> Result<Option<(Option<Deployment>, Channel)>, ApiError> {
    for attempt in 0..64u32 {
        let mut ch = match s.records.channel(app, name).await? {
            Some(ch) => ch,
            None if create => Channel::new(app.clone(), name),
            None => return Ok(None),
        };
        let was = ch.current.clone();
        change(&mut ch)?;
        if s.records.put_channel(&ch).await? {
            ch.revision += 1;
            return Ok(Some((was, ch)));
        }
        tokio::time::sleep(std::time::Duration::from_millis(
            u64::from(attempt.min(10)) * 2,
        ))
        .await;
    }
    Err(ApiError::conflict(
        "the channel is being changed by many writers at once; try again",
    ))
}

#[utoipa::path(put, path = "/v1/apps/{app}/channels/{channel}", params(("app" = AppId, Path, description = "The app id"), ("channel" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "The channel")), request_body = Deploy,
    responses((status = 200, body = Channel), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn deploy(
    State(s): State<CiState>,
    Path((app, channel)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Channel>, ApiError> {
    let Authorized { app, token } = access(&s, &headers, &app, Scope::Deploy).await?;
    let app_id = app.app_id.clone();
    let req: Deploy = read_json(&headers, body, JSON_LIMIT).await?;
    check_channel_name(&channel)?;
    let pct = req.rollout_percent.unwrap_or(100);
    if !(1..=100).contains(&pct) {
        return Err(ApiError::unprocessable(
            "invalid_rollout",
            "rollout_percent must be 1-100",
        ));
    }
    if req.plan.is_some() && req.rollout_percent.is_some() {
        return Err(ApiError::unprocessable(
            "invalid_plan",
            "give either rollout_percent or plan: a percentage is a plan of one step",
        ));
    }
    let build = load_build(&s, &app_id, req.build_id).await?;
    // A plain percentage is a plan of one step, which the guard watches.
    let steps = req.plan.clone().unwrap_or_else(|| vec![pct]);
    let step_seconds = req.step_seconds.unwrap_or(rollout::DEFAULT_STEP_SECONDS);
    rollout::check_plan(&steps, step_seconds)
        .map_err(|e| ApiError::unprocessable("invalid_plan", e.to_string()))?;
    judge(&s, &app_id, &channel).await;
    if build.disabled {
        return Err(ApiError::unprocessable(
            "build_disabled",
            format!("build {} is disabled; enable it first", build.id),
        ));
    }
    let may_create = req.create_channel == Some(true) || channel == app.default_channel;
    let Some((was, ch)) = update_channel(&s, &app_id, &channel, may_create, |ch| {
        ch.deploy_plan(
            build.id,
            steps.clone(),
            step_seconds,
            req.auto_rollback.unwrap_or(false),
            now(),
        );
        if let Some(a) = req.allow_self_assign {
            ch.allow_self_assign = a;
        }
        Ok(())
    })
    .await?
    else {
        let names: Vec<String> = s
            .records
            .channels(&app_id)
            .await?
            .into_iter()
            .map(|c| c.name)
            .collect();
        return Err(ApiError::not_found_with(
            "channel_not_found",
            format!(
                "app {app_id} has no channel {channel:?} (channels: {}); check the name, or create it \
                 (`--create-channel`, or `liveship channels create`)",
                if names.is_empty() { "none yet".to_owned() } else { names.join(", ") }
            ),
        )
        .with_details(serde_json::json!({ "channels": names })));
    };
    tracing::info!(app = %app_id, channel = %channel, build = build.id, plan = ?steps, "deployed");
    let action = match &was {
        Some(w) if w.build_id == build.id => "rollout",
        _ => "deploy",
    };
    record(
        &s,
        &token,
        Change {
            app: Some(&app_id),
            action,
            target: format!("channel {channel}"),
            before: was.as_ref().and_then(snapshot),
            after: ch.current.as_ref().and_then(snapshot),
        },
    )
    .await;
    Ok(Json(ch))
}

#[utoipa::path(post, path = "/v1/apps/{app}/channels/{channel}/rollback", params(("app" = AppId, Path, description = "The app id"), ("channel" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "The channel")),
    responses((status = 200, body = Channel), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn rollback(
    State(s): State<CiState>,
    Path((app, channel)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Channel>, ApiError> {
    let Authorized { app, token } = access(&s, &headers, &app, Scope::Deploy).await?;
    let app_id = app.app_id;
    check_channel_name(&channel)?;
    judge(&s, &app_id, &channel).await;
    let (was, ch) = update_channel(&s, &app_id, &channel, false, |ch| {
        if ch.rollback(now()) {
            Ok(())
        } else {
            Err(ApiError::conflict(format!(
                "channel {:?} has no earlier build to roll back to",
                ch.name
            )))
        }
    })
    .await?
    .ok_or_else(|| ApiError::no_channel(&app_id, &channel))?;
    tracing::info!(app = %app_id, channel = %channel, "rolled back");
    record(
        &s,
        &token,
        Change {
            app: Some(&app_id),
            action: "rollback",
            target: format!("channel {channel}"),
            before: was.as_ref().and_then(snapshot),
            after: ch.current.as_ref().and_then(snapshot),
        },
    )
    .await;
    Ok(Json(ch))
}

/// Judges the channel's rollout plan if it is due, so what a CI call reads
/// or changes is up to date. The guard failing to judge never fails the
/// call: the next read judges again.
pub(super) async fn judge(s: &CiState, app: &AppId, channel: &str) {
    if let Some(g) = &s.guard {
        if let Err(e) = g.refresh(app, channel).await {
            tracing::warn!(app = %app, channel, error = %e.message, "could not judge a rollout plan");
        }
    }
}

#[utoipa::path(post, path = "/v1/apps/{app}/channels/{channel}/rollout", params(("app" = AppId, Path, description = "The app id"), ("channel" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "The channel")), request_body = RolloutAction,
    responses((status = 200, body = Channel), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn rollout_action(
    State(s): State<CiState>,
    Path((app, channel)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Channel>, ApiError> {
    let Authorized { app, token } = access(&s, &headers, &app, Scope::Deploy).await?;
    let app_id = app.app_id;
    let req: RolloutAction = read_json(&headers, body, JSON_LIMIT).await?;
    check_channel_name(&channel)?;
    judge(&s, &app_id, &channel).await;
    let (was, ch) = update_channel(&s, &app_id, &channel, false, |ch| {
        let at = now();
        let cur = ch.current.as_mut().ok_or_else(|| {
            ApiError::conflict_with("no_plan", format!("channel {:?} serves no build", ch.name))
        })?;
        let plan = cur.plan.as_mut().ok_or_else(|| {
            ApiError::conflict_with(
                "no_plan",
                "the channel's build has no rollout plan; deploy it with a plan (`--plan 1,5,25,100`)",
            )
        })?;
        match req.action {
            PlanAction::Pause => plan.pause(at),
            PlanAction::Resume => plan.resume(at),
            PlanAction::Advance => plan.advance(at),
            PlanAction::Abort if plan.active() => {
                plan.halt_by_hand(at);
                Ok(())
            }
            PlanAction::Abort => Err(format!("the plan is {:?}: nothing to abort", plan.state).to_lowercase()),
        }
        .map_err(|m| ApiError::conflict_with("plan_state", m))?;
        cur.rollout_percent = plan.percent();
        ch.log_plan(req.action.action(), at);
        if req.action == PlanAction::Abort {
            // Devices that took the build go back; with nothing to go back
            // to the halt alone stands (no new device gets the build).
            ch.rollback(at);
        }
        Ok(())
    })
    .await?
    .ok_or_else(|| ApiError::no_channel(&app_id, &channel))?;
    record(
        &s,
        &token,
        Change {
            app: Some(&app_id),
            action: req.action.action(),
            target: format!("channel {channel}"),
            before: was.as_ref().and_then(snapshot),
            after: ch.current.as_ref().and_then(snapshot),
        },
    )
    .await;
    Ok(Json(ch))
}

#[utoipa::path(patch, path = "/v1/apps/{app}/channels/{channel}/guard", params(("app" = AppId, Path, description = "The app id"), ("channel" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "The channel")), request_body = GuardPatch,
    responses((status = 200, body = Channel), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn patch_guard(
    State(s): State<CiState>,
    Path((app, channel)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Channel>, ApiError> {
    let Authorized { app, token } = access(&s, &headers, &app, Scope::Deploy).await?;
    let app_id = app.app_id;
    let req: GuardPatch = read_json(&headers, body, JSON_LIMIT).await?;
    check_channel_name(&channel)?;
    let mut before = None;
    let (_, ch) = update_channel(&s, &app_id, &channel, false, |ch| {
        before = snapshot(&ch.guard);
        req.apply(&mut ch.guard);
        ch.guard
            .check()
            .map_err(|e| ApiError::unprocessable("invalid_guard", e.to_string()))
    })
    .await?
    .ok_or_else(|| ApiError::no_channel(&app_id, &channel))?;
    record(
        &s,
        &token,
        Change {
            app: Some(&app_id),
            action: "channel.guard",
            target: format!("channel {channel}"),
            before,
            after: snapshot(&ch.guard),
        },
    )
    .await;
    Ok(Json(ch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::FileEntry;
    use crate::paths::ManifestPath;

    fn manifest(files: usize, size: u64) -> Manifest {
        let entries = (0..files)
            .map(|i| FileEntry {
                path: ManifestPath::new(format!("f{i}")).unwrap(),
                sha256: Sha256Digest::of(&i.to_le_bytes()),
                size,
            })
            .collect();
        Manifest::new(None, None, entries).unwrap()
    }

    #[test]
    fn the_server_zips_only_what_it_can_within_the_gateway_limit() {
        let (bytes, files) = SERVER_ZIP_LIMIT;
        assert!(server_may_zip(&manifest(files, 1)));
        assert!(!server_may_zip(&manifest(files + 1, 1)));
        assert!(server_may_zip(&manifest(1, bytes)));
        assert!(!server_may_zip(&manifest(1, bytes + 1)));
    }
}
