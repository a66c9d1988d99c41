//! Authentication and authorization, in one place every resource uses:
//! the bearer token (stored only as a hash, compared in constant time), its
//! scopes on an app, and console sessions.

use super::error::ApiError;
use super::state::CiState;
use crate::domain::AppId;
use crate::hash::Sha256Digest;
use crate::model::App;
use crate::model::Scope;
use crate::model::Token;
use crate::store::RecordRead;
use crate::store::RecordWrite;
use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

/// Finds the token in `Authorization: Bearer ...`, and checks it may act
/// with `scope` on `app` (`None`: a global action such as creating an app).
/// Unknown or missing tokens are 401; known tokens without the right are 403.
pub(crate) async fn authorize(
    records: &dyn RecordWrite,
    headers: &HeaderMap,
    app: Option<&AppId>,
    scope: Scope,
) -> Result<Token, ApiError> {
    let token = authenticate(records, headers).await?;
    if !token.allows(app, scope) {
        return Err(forbidden(&token, app, scope));
    }
    Ok(token)
}

/// How stale a token's `last_used_at` may get before a request refreshes it
/// (one small write a minute per busy token, not one per request).
const TOKEN_USE_GRANULARITY: i64 = 60;

/// Finds the token of `Authorization: Bearer ...` (401 when missing or
/// unknown, including a revoked one: tokens are read on every request, never
/// cached, so a revocation holds from the next request on) and notes its use.
pub(crate) async fn authenticate(
    records: &dyn RecordWrite,
    headers: &HeaderMap,
) -> Result<Token, ApiError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "send a token as `Authorization: Bearer <token>`",
        ));
    };
    let secret = value.to_str().ok().and_then(bearer_token).ok_or_else(|| {
        ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
    })?;
    let hash = Sha256Digest::of(secret.as_bytes());
    let token = records
        .token_by_secret_hash(&hash)
        .await?
        .filter(|t| bool::from(t.secret_sha256.as_bytes().ct_eq(hash.as_bytes())))
        .ok_or_else(|| {
            ApiError::unauthorized(
                "unknown or revoked token; create one with `liveship tokens create`",
            )
        })?;
    let at = crate::model::now();
    check_session(records, &token, at).await?;
    if token
        .last_used_at
        .is_none_or(|t| at - t >= TOKEN_USE_GRANULARITY)
    {
        // Bookkeeping only: a failure here must not fail the request.
        if let Err(e) = records.touch_token(&hash, at).await {
            tracing::warn!(token_id = %token.id, error = %e, "could not note a token's use");
        }
    }
    Ok(token)
}

/// A console session is refused once it has expired, or once the token that
/// signed in is revoked or rotated (its hash no longer found).
async fn check_session(
    records: &dyn RecordWrite,
    token: &Token,
    at: crate::model::Timestamp,
) -> Result<(), ApiError> {
    let expired = token.expires_at.is_some_and(|e| at >= e);
    let orphaned = match token.session_of.as_ref().and_then(|p| p.secret_sha256) {
        Some(parent) => records.token_by_secret_hash(&parent).await?.is_none(),
        None => token.session_of.is_some(),
    };
    if expired || orphaned {
        if token.session_of.is_some() {
            // Tidy up; the answer is the same whether this works or not.
            let _ = records.delete_token(&token.secret_sha256).await;
        }
        return Err(ApiError::unauthorized(if expired {
            "this token or session has expired; sign in again"
        } else {
            "the token this session signed in with was revoked or rotated; sign in again"
        }));
    }
    Ok(())
}

/// The 403 for a known token without the right.
pub(crate) fn forbidden(token: &Token, app: Option<&AppId>, scope: Scope) -> ApiError {
    let what = match app {
        Some(a) => format!("{scope:?} on app {a}").to_lowercase(),
        None => "global admin".to_owned(),
    };
    ApiError::forbidden(format!(
        "token {} may not do {what}; ask an admin for a token with that scope",
        token.id
    ))
}

/// Parses the `{app}` path segment and loads the app, or answers 404.
pub(crate) async fn load_app(records: &dyn RecordRead, app: &str) -> Result<App, ApiError> {
    let id = AppId::new(app).map_err(|_| ApiError::invalid_app(app))?;
    records.app(&id).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "unknown app {app:?}; create it with `liveship apps create`"
        ))
    })
}

/// The token of an `Authorization` value: the scheme `Bearer` in any letter
/// case (RFC 9110 11.1), then one or more spaces, then the token.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let token = rest.trim_start();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

/// Parses an `{app}` path segment without loading it (for authorisation first).
pub(crate) fn parse_app(app: &str) -> Result<AppId, ApiError> {
    AppId::new(app).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// An app, and the token allowed to act on it.
#[derive(Debug)]
pub(crate) struct Authorized {
    pub app: App,
    pub token: Token,
}

/// Authorises `scope` on the `{app}` path segment (before revealing whether
/// the app exists), then loads the app.
pub(crate) async fn access(
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

/// The caller, if it administers tokens at all (before any body is read).
pub(crate) async fn token_admin(s: &CiState, headers: &HeaderMap) -> Result<Token, ApiError> {
    let caller = authenticate(&*s.records, headers).await?;
    if !caller.scopes.contains(&Scope::Admin) {
        return Err(forbidden(&caller, None, Scope::Admin));
    }
    Ok(caller)
}

/// True when `caller` administers `t`: a global admin every token, an app
/// admin the tokens of its app.
pub(crate) fn administers(caller: &Token, t: &Token) -> bool {
    match &t.app_id {
        Some(app) => caller.allows(Some(app), Scope::Admin),
        None => caller.allows(None, Scope::Admin),
    }
}
