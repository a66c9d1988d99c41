//! Apps: create, list, show, change.

use super::auth::access;
use super::auth::authenticate;
use super::auth::authorize;
use super::auth::Authorized;
use super::error::read_json;
use super::error::ApiError;
use super::error::Json;
use super::state::CiState;
use super::state::JSON_LIMIT;
use crate::domain::AppId;
use crate::domain::ChannelName;
use crate::keys::PublicKey;
use crate::model::now;
use crate::model::App;
use crate::model::Scope;
use crate::model::DEFAULT_CHANNEL;
use crate::ops::audit::record;
use crate::ops::audit::snapshot;
use crate::ops::audit::Change;
use crate::wire::AppList;
use crate::wire::CreateApp;
use crate::wire::ErrorBody;
use crate::wire::PatchApp;
use axum::body::Body;
use axum::extract::Path;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::IntoResponse;

#[utoipa::path(post, path = "/v1/apps", request_body = CreateApp,
    responses((status = 201, body = App), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn create_app(
    State(s): State<CiState>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let token = authorize(&*s.records, &headers, None, Scope::Admin).await?;
    let req: CreateApp = read_json(&headers, body, JSON_LIMIT).await?;
    check_public_keys(&req.public_keys)?;
    let default_channel = req
        .default_channel
        .unwrap_or_else(|| DEFAULT_CHANNEL.to_owned());
    ChannelName::new(default_channel.as_str())?;
    let rsa_public_key = req
        .rsa_public_key
        .as_deref()
        .filter(|k| !k.trim().is_empty())
        .map(check_rsa_public_key)
        .transpose()?;
    let root_public_key = req
        .root_public_key
        .as_deref()
        .filter(|k| !k.trim().is_empty())
        .map(check_root_key)
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
        &*s.records,
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

/// Checks every PEM of an app's key list (the same rule on create and update).
pub(crate) fn check_public_keys(keys: &[String]) -> Result<(), ApiError> {
    for (i, pem) in keys.iter().enumerate() {
        PublicKey::from_pem(pem).map_err(|e| {
            ApiError::unprocessable("invalid_public_key", format!("public_keys[{i}]: {e}"))
        })?;
    }
    Ok(())
}

#[utoipa::path(get, path = "/v1/apps",
    responses((status = 200, body = AppList), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_apps(
    State(s): State<CiState>,
    headers: HeaderMap,
) -> Result<Json<AppList>, ApiError> {
    let caller = authenticate(&*s.records, &headers).await?;
    let apps = match &caller.app_id {
        None => s.records.apps().await?,
        Some(own) => s.records.app(own).await?.into_iter().collect(),
    };
    Ok(Json(AppList { apps }))
}

#[utoipa::path(get, path = "/v1/apps/{app}", params(("app" = AppId, Path, description = "The app id")),
    responses((status = 200, body = App), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn show_app(
    State(s): State<CiState>,
    Path(app): Path<String>,
    headers: HeaderMap,
) -> Result<Json<App>, ApiError> {
    Ok(Json(access(&s, &headers, &app, Scope::Read).await?.app))
}

#[utoipa::path(patch, path = "/v1/apps/{app}", params(("app" = AppId, Path, description = "The app id")), request_body = PatchApp,
    responses((status = 200, body = App), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn patch_app(
    State(s): State<CiState>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<App>, ApiError> {
    let Authorized { mut app, token } = access(&s, &headers, &app, Scope::Admin).await?;
    let req: PatchApp = read_json(&headers, body, JSON_LIMIT).await?;
    let before = snapshot(&app);
    if let Some(keys) = req.public_keys {
        check_public_keys(&keys)?;
        app.public_keys = keys;
    }
    if let Some(ch) = req.default_channel {
        ChannelName::new(ch.as_str())?;
        app.default_channel = ch;
    }
    if let Some(pem) = req.rsa_public_key {
        app.rsa_public_key = if pem.trim().is_empty() {
            None
        } else {
            Some(check_rsa_public_key(&pem)?)
        };
    }
    if let Some(pem) = req.root_public_key {
        app.root_public_key = if pem.trim().is_empty() {
            None
        } else {
            Some(check_root_key(&pem)?)
        };
    }
    if !s.records.update_app(&app).await? {
        return Err(ApiError::not_found(format!("unknown app {:?}", app.app_id)));
    }
    tracing::info!(app = %app.app_id, keys = app.public_keys.len(), default_channel = %app.default_channel, "app updated");
    record(
        &*s.records,
        &token,
        Change {
            app: Some(&app.app_id),
            action: "app.update",
            target: format!("app {}", app.app_id),
            before,
            after: snapshot(&app),
        },
    )
    .await;
    Ok(Json(app))
}

/// An RSA public key as stored: checked, in SPKI PEM.
pub(crate) fn check_rsa_public_key(pem: &str) -> Result<String, ApiError> {
    crate::rsakey::RsaPublic::from_pem(pem)
        .map(|k| k.to_pem())
        .map_err(|e| ApiError::unprocessable("invalid_rsa_public_key", e.to_string()))
}

/// Checks a root public key PEM (create and update share it).
pub(crate) fn check_root_key(pem: &str) -> Result<String, ApiError> {
    PublicKey::from_pem(pem).map(|k| k.to_pem()).map_err(|e| {
        ApiError::unprocessable("invalid_root_public_key", format!("root_public_key: {e}"))
    })
}
