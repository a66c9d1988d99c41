//! Tokens: create, list, revoke, rotate, and who am I.

use super::auth::administers;
use super::auth::authenticate;
use super::auth::forbidden;
use super::auth::load_app;
use super::auth::token_admin;
use super::error::read_json;
use super::error::ApiError;
use super::error::Json;
use super::state::CiState;
use super::state::JSON_LIMIT;
use crate::model::Scope;
use crate::model::Token;
use crate::ops;
use crate::ops::audit::record;
use crate::ops::audit::snapshot;
use crate::ops::audit::Change;
use crate::wire::CreateToken;
use crate::wire::CreatedToken;
use crate::wire::ErrorBody;
use crate::wire::RevokedToken;
use crate::wire::RotatedToken;
use crate::wire::TokenInfo;
use crate::wire::TokenList;
use crate::wire::WhoAmI;
use axum::body::Body;
use axum::extract::Path;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::IntoResponse;

#[utoipa::path(post, path = "/v1/tokens", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn create_token(
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
    let created = ops::tokens::issue_token(&*s.records, &req.name, req.app_id, scopes).await?;
    tracing::info!(token_id = %created.id, "token created");
    record(
        &*s.records,
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

pub(crate) fn info(t: &Token) -> TokenInfo {
    TokenInfo {
        id: t.id.clone(),
        name: t.name.clone(),
        app_id: t.app_id.clone(),
        scopes: t.scopes.clone(),
        created_at: t.created_at,
        last_used_at: t.last_used_at,
    }
}

#[utoipa::path(get, path = "/v1/whoami",
    responses((status = 200, body = WhoAmI), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn whoami(
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
pub(crate) async fn list_tokens(
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
        // Console sessions end with sign-out or with the token that
        // signed in: rotating one would make a permanent token of it.
        .find(|t| t.id == id && t.session_of.is_none() && administers(caller, t))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no token {id:?} that this token administers; `liveship tokens list` shows them"
            ))
        })
}

#[utoipa::path(delete, path = "/v1/tokens/{id}", params(("id" = String, Path, description = "The token id (tok_...)")),
    responses((status = 200, body = RevokedToken), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn revoke_token(
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
        &*s.records,
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
pub(crate) async fn rotate_token(
    State(s): State<CiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let caller = token_admin(&s, &headers).await?;
    let old = administered(&s, &caller, &id).await?;
    // The replacement exists before the old one goes, so a failure between
    // the two leaves both valid (retry revokes), never neither.
    let token = ops::tokens::issue_token(
        &*s.records,
        &old.name,
        old.app_id.clone(),
        old.scopes.clone(),
    )
    .await?;
    s.records.delete_token(&old.secret_sha256).await?;
    tracing::info!(token_id = %token.id, replaces = %old.id, by = %caller.id, "token rotated");
    record(
        &*s.records,
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
