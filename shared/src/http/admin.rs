//! Ops handlers: listing, changing and removing apps, tokens and channels.
//! Every one is the call the CLI (and the console) makes.

use super::audit::{record, snapshot, Change};
use super::ci::{access, check_channel_name, issue_token, Authorized};
use super::error::read_json;
use super::{authenticate, forbidden, ApiError, CiState, Json, JSON_LIMIT};
use crate::domain::AppId;
use crate::keys::PublicKey;
use crate::model::{App, Channel, Scope, Token};
use crate::wire::{
    AppList, CreateChannel, ErrorBody, PatchApp, RevokedToken, RotatedToken, TokenInfo, TokenList,
    WhoAmI,
};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;

/// Checks every PEM of an app's key list (the same rule on create and update).
pub(super) fn check_public_keys(keys: &[String]) -> Result<(), ApiError> {
    for (i, pem) in keys.iter().enumerate() {
        PublicKey::from_pem(pem).map_err(|e| {
            ApiError::unprocessable("invalid_public_key", format!("public_keys[{i}]: {e}"))
        })?;
    }
    Ok(())
}

#[utoipa::path(get, path = "/v1/apps",
    responses((status = 200, body = AppList), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn list_apps(
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
pub(super) async fn show_app(
    State(s): State<CiState>,
    Path(app): Path<String>,
    headers: HeaderMap,
) -> Result<Json<App>, ApiError> {
    Ok(Json(access(&s, &headers, &app, Scope::Read).await?.app))
}

#[utoipa::path(patch, path = "/v1/apps/{app}", params(("app" = AppId, Path, description = "The app id")), request_body = PatchApp,
    responses((status = 200, body = App), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn patch_app(
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
        check_channel_name(&ch)?;
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
            Some(super::keys::check_root_key(&pem)?)
        };
    }
    if !s.records.update_app(&app).await? {
        return Err(ApiError::not_found(format!("unknown app {:?}", app.app_id)));
    }
    tracing::info!(app = %app.app_id, keys = app.public_keys.len(), default_channel = %app.default_channel, "app updated");
    record(
        &s,
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

pub(super) fn info(t: &Token) -> TokenInfo {
    TokenInfo {
        id: t.id.clone(),
        name: t.name.clone(),
        app_id: t.app_id.clone(),
        scopes: t.scopes.clone(),
        created_at: t.created_at,
        last_used_at: t.last_used_at,
    }
}

/// The caller, if it administers tokens at all (before any body is read).
async fn token_admin(s: &CiState, headers: &HeaderMap) -> Result<Token, ApiError> {
    let caller = authenticate(&*s.records, headers).await?;
    if !caller.scopes.contains(&Scope::Admin) {
        return Err(forbidden(&caller, None, Scope::Admin));
    }
    Ok(caller)
}

/// True when `caller` administers `t`: a global admin every token, an app
/// admin the tokens of its app.
fn administers(caller: &Token, t: &Token) -> bool {
    match &t.app_id {
        Some(app) => caller.allows(Some(app), Scope::Admin),
        None => caller.allows(None, Scope::Admin),
    }
}

#[utoipa::path(get, path = "/v1/whoami",
    responses((status = 200, body = WhoAmI), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn whoami(
    State(s): State<CiState>,
    headers: HeaderMap,
) -> Result<Json<WhoAmI>, ApiError> {
    let t = authenticate(&*s.records, &headers).await?;
    let actor = t.actor();
    Ok(Json(WhoAmI {
        id: actor.id,
        name: actor.name,
        app_id: t.app_id,
        scopes: t.scopes,
        expires_at: t.expires_at,
    }))
}

#[utoipa::path(get, path = "/v1/tokens",
    responses((status = 200, body = TokenList), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn list_tokens(
    State(s): State<CiState>,
    headers: HeaderMap,
) -> Result<Json<TokenList>, ApiError> {
    let caller = token_admin(&s, &headers).await?;
    let tokens = s
        .records
        .tokens()
        .await?
        .iter()
        // Console sessions end with the token that signed in; they are not
        // tokens to manage.
        .filter(|t| t.session_of.is_none() && administers(&caller, t))
        .map(info)
        .collect();
    Ok(Json(TokenList { tokens }))
}

/// The token `id` names, if the caller administers it (404 otherwise, so
/// app admins learn nothing of other apps' tokens).
async fn administered(s: &CiState, caller: &Token, id: &str) -> Result<Token, ApiError> {
    s.records
        .tokens()
        .await?
        .into_iter()
        .find(|t| t.id == id && administers(caller, t))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no token {id:?} that this token administers; `liveship tokens list` shows them"
            ))
        })
}

#[utoipa::path(delete, path = "/v1/tokens/{id}", params(("id" = String, Path, description = "The token id (tok_...)")),
    responses((status = 200, body = RevokedToken), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn revoke_token(
    State(s): State<CiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<RevokedToken>, ApiError> {
    let caller = token_admin(&s, &headers).await?;
    let t = administered(&s, &caller, &id).await?;
    if !s.records.delete_token(&t.secret_sha256).await? {
        return Err(ApiError::not_found(format!(
            "token {id:?} was already revoked"
        )));
    }
    tracing::info!(token_id = %t.id, by = %caller.id, "token revoked");
    record(
        &s,
        &caller,
        Change {
            app: t.app_id.as_ref(),
            action: "token.revoke",
            target: format!("token {}", t.id),
            before: snapshot(&info(&t)),
            after: None,
        },
    )
    .await;
    Ok(Json(RevokedToken {
        id: t.id,
        revoked: true,
    }))
}

#[utoipa::path(post, path = "/v1/tokens/{id}/rotate", params(("id" = String, Path, description = "The token id (tok_...)")),
    responses((status = 201, body = RotatedToken), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn rotate_token(
    State(s): State<CiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let caller = token_admin(&s, &headers).await?;
    let old = administered(&s, &caller, &id).await?;
    // The replacement exists before the old one goes, so a failure between
    // the two leaves both valid (retry revokes), never neither.
    let token = issue_token(&s, &old.name, old.app_id.clone(), old.scopes.clone()).await?;
    s.records.delete_token(&old.secret_sha256).await?;
    tracing::info!(token_id = %token.id, replaces = %old.id, by = %caller.id, "token rotated");
    record(
        &s,
        &caller,
        Change {
            app: old.app_id.as_ref(),
            action: "token.rotate",
            target: format!("token {}", old.id),
            before: snapshot(&info(&old)),
            after: snapshot(&serde_json::json!({"id": token.id, "name": token.name,
                "app_id": token.app_id, "scopes": token.scopes})),
        },
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(RotatedToken {
            replaces: old.id,
            token,
        }),
    ))
}

#[utoipa::path(post, path = "/v1/apps/{app}/channels", params(("app" = AppId, Path, description = "The app id")), request_body = CreateChannel,
    responses((status = 201, body = Channel), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn create_channel(
    State(s): State<CiState>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let Authorized { app, token } = access(&s, &headers, &app, Scope::Deploy).await?;
    let app_id = app.app_id;
    let req: CreateChannel = read_json(&headers, body, JSON_LIMIT).await?;
    check_channel_name(&req.name)?;
    let mut ch = Channel::new(app_id.clone(), req.name.clone());
    ch.allow_self_assign = req.allow_self_assign;
    if !s.records.put_channel(&ch).await? {
        return Err(ApiError::conflict(format!(
            "app {app_id} already has a channel {:?}",
            req.name
        )));
    }
    ch.revision = 1;
    tracing::info!(app = %app_id, channel = %ch.name, "channel created");
    record(
        &s,
        &token,
        Change {
            app: Some(&app_id),
            action: "channel.create",
            target: format!("channel {}", ch.name),
            before: None,
            after: snapshot(&ch),
        },
    )
    .await;
    Ok((StatusCode::CREATED, Json(ch)))
}

#[utoipa::path(delete, path = "/v1/apps/{app}/channels/{channel}", params(("app" = AppId, Path, description = "The app id"), ("channel" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "The channel")),
    responses((status = 200, body = Channel), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn delete_channel(
    State(s): State<CiState>,
    Path((app, channel)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Channel>, ApiError> {
    let Authorized { app, token } = access(&s, &headers, &app, Scope::Deploy).await?;
    check_channel_name(&channel)?;
    if channel == app.default_channel {
        return Err(ApiError::conflict(format!(
            "{channel:?} is the default channel of app {}: devices that name no channel follow it; \
             make another channel the default first (`liveship apps update --default-channel`)",
            app.app_id
        )));
    }
    for _ in 0..16 {
        let Some(found) = s.records.channel(&app.app_id, &channel).await? else {
            return Err(ApiError::no_channel(&app.app_id, &channel));
        };
        if s.records.delete_channel(&found).await? {
            tracing::info!(app = %app.app_id, channel = %channel, "channel deleted");
            record(
                &s,
                &token,
                Change {
                    app: Some(&app.app_id),
                    action: "channel.delete",
                    target: format!("channel {channel}"),
                    before: snapshot(&found),
                    after: None,
                },
            )
            .await;
            return Ok(Json(found));
        }
    }
    Err(ApiError::conflict(
        "the channel is being changed by many writers at once; try again",
    ))
}

/// An RSA public key as stored: checked, in SPKI PEM.
pub(super) fn check_rsa_public_key(pem: &str) -> Result<String, ApiError> {
    crate::rsakey::RsaPublic::from_pem(pem)
        .map(|k| k.to_pem())
        .map_err(|e| ApiError::unprocessable("invalid_rsa_public_key", e.to_string()))
}
