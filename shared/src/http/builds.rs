//! Builds: register, list, show, change (disable, mandatory, native
//! limits), and their device counts.

use super::auth::access;
use super::auth::Authorized;
use super::error::read_json;
use super::error::ApiError;
use super::error::Json;
use super::state::CiState;
use super::state::BUILD_LIMIT;
use super::state::JSON_LIMIT;
use crate::domain::AppId;
use crate::model::Build;
use crate::model::Scope;
use crate::ops;
use crate::ops::audit::record;
use crate::ops::audit::snapshot;
use crate::ops::audit::Change;
use crate::ops::builds::{build_flags, build_summary};
use crate::store::BuildInsert;
use crate::wire::BuildList;
use crate::wire::BuildStats;
use crate::wire::ErrorBody;
use crate::wire::PatchBuild;
use crate::wire::RegisterBuild;
use crate::wire::RegisteredBuild;
use axum::body::Body;
use axum::extract::Path;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::IntoResponse;

#[utoipa::path(post, path = "/v1/apps/{app}/builds", params(("app" = AppId, Path, description = "The app id")), request_body = RegisterBuild,
    responses((status = 201, body = RegisteredBuild), (status = 200, body = RegisteredBuild), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn register_build(
    State(s): State<CiState>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let Authorized { app, token } = access(&s, &headers, &app, Scope::Upload).await?;
    let req: RegisterBuild = read_json(&headers, body, BUILD_LIMIT).await?;
    let insert = ops::register::register(&*s.records, &*s.blobs, &app, req).await?;
    let app_id = app.app_id;
    match insert {
        BuildInsert::Created(b) => {
            tracing::info!(app = %app_id, build = b.id, version = %b.version, "build registered");
            record(&*s.records, &token, Change {
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

#[utoipa::path(get, path = "/v1/apps/{app}/builds", params(("app" = AppId, Path, description = "The app id")),
    responses((status = 200, body = BuildList), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_builds(
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
pub(crate) async fn show_build(
    State(s): State<CiState>,
    Path((app, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Build>, ApiError> {
    let app_id = access(&s, &headers, &app, Scope::Read).await?.app.app_id;
    Ok(Json(
        ops::builds::load_build_ref(&*s.records, &app_id, &id).await?,
    ))
}

#[utoipa::path(patch, path = "/v1/apps/{app}/builds/{id}", params(("app" = AppId, Path, description = "The app id"), ("id" = u64, Path, description = "The build id")), request_body = PatchBuild,
    responses((status = 200, body = Build), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn patch_build(
    State(s): State<CiState>,
    Path((app, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Build>, ApiError> {
    let Authorized { app, token } = access(&s, &headers, &app, Scope::Deploy).await?;
    let app_id = app.app_id.clone();
    let req: PatchBuild = read_json(&headers, body, JSON_LIMIT).await?;
    let (before, build) = ops::builds::patch(&*s.records, &app, &id, &req).await?;
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
            &*s.records,
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
pub(crate) async fn build_stats(
    State(s): State<CiState>,
    Path((app, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<BuildStats>, ApiError> {
    let app_id = access(&s, &headers, &app, Scope::Read).await?.app.app_id;
    let build = ops::builds::load_build_ref(&*s.records, &app_id, &id).await?;
    let counts = s.records.counters(&app_id, build.id).await?;
    Ok(Json(BuildStats {
        build_id: build.id,
        counts: counts.events,
        devices: counts.devices,
    }))
}
