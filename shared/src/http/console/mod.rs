//! The release console: server-rendered pages under `/console` to deploy,
//! change rollouts, roll back, disable builds, set native-version limits and
//! watch adoption and failures.
//!
//! The console holds no rights of its own. Signing in with a token creates a
//! console session: a short-lived token with the same app and scopes, whose
//! secret lives only in an `HttpOnly`, `SameSite=Strict` cookie, and which
//! ends when the signing-in token is revoked or rotated. Every page reads,
//! and every action writes, through the very API route the CLI calls
//! (dispatched in-process with the session as the bearer token), so the
//! console can never do more than its token, and the audit log records each
//! action like any other API call. Every form carries a CSRF token derived
//! from the session secret, and cross-site requests are refused.

mod audit;
mod builds;
mod channels;
mod charts;
mod home;
mod layout;
mod session;

use crate::hash::Sha256Digest;
use crate::http::error::ApiError;
use crate::http::state::CiState;
use crate::model::now;
use crate::model::Timestamp;
use crate::model::TokenRef;
use crate::ops::audit::record;
use crate::ops::audit::Change;
use crate::ops::tokens::new_secret;
use crate::ops::tokens::token_record;
use axum::extract::State;
use axum::http::header;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use axum::routing::post;
use axum::Form;
use axum::Router;
use session::check_write;
use session::html;
use session::see_other;
use session::session;
use session::set_cookie;
pub use session::COOKIE;
pub use session::CSP;
pub use session::SESSION_SECONDS;
use std::collections::HashMap;

const CSS: &str = include_str!("console.css");

/// The console routes (merged into the CI router, so they run wherever it
/// runs: `liveship serve` and the register function).
pub(crate) fn routes() -> Router<CiState> {
    Router::new()
        .route("/console", get(home::home))
        .route("/console/console.css", get(css))
        .route("/console/login", post(login))
        .route("/console/logout", post(logout))
        .route("/console/audit", get(audit::audit_pick))
        .route("/console/apps/{app}", get(home::app_page))
        .route("/console/apps/{app}/audit", get(audit::audit_page))
        .route(
            "/console/apps/{app}/channels/{channel}",
            get(channels::channel_page).post(channels::channel_action),
        )
        .route(
            "/console/apps/{app}/builds/{id}",
            get(builds::build_page).post(builds::build_action),
        )
}

/// The API Gateway route keys that send the console to the register
/// function (infra/api.tf; tests/tests/infra.rs checks them).
pub const CONSOLE_ROUTES: &[&str] = &[
    "GET /console",
    "GET /console/{proxy+}",
    "POST /console/{proxy+}",
];
async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        CSS,
    )
        .into_response()
}

/// `POST /console/login`: a token in the form body (never in a URL) opens
/// a session with its rights.
async fn login(
    State(s): State<CiState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    check_write(&s, &headers, None, &form)?;
    let token = form.get("token").map(|t| t.trim()).unwrap_or_default();
    let refused = |msg: &str| html(StatusCode::UNAUTHORIZED, layout::sign_in(Some(msg)));
    if token.is_empty() {
        return Ok(refused("Paste a token to sign in."));
    }
    let hash = Sha256Digest::of(token.as_bytes());
    let Some(parent) = s.records.token_by_secret_hash(&hash).await? else {
        return Ok(refused(
            "That token is unknown or revoked. Create one with `liveship tokens create`, or ask an admin.",
        ));
    };
    if parent.session_of.is_some() || parent.expires_at.is_some_and(|e| now() >= e) {
        return Ok(refused("That token cannot sign in: use an API token."));
    }
    let secret = new_secret()?;
    let expires: Timestamp = now() + SESSION_SECONDS;
    let mut session = token_record(
        &secret,
        &format!("console session of {}", parent.name),
        parent.app_id.clone(),
        parent.scopes.clone(),
    );
    session.expires_at = Some(expires);
    session.session_of = Some(TokenRef {
        id: parent.id.clone(),
        name: parent.name.clone(),
        secret_sha256: Some(parent.secret_sha256),
    });
    s.records.create_token(&session).await?;
    record(
        &*s.records,
        &session,
        Change {
            app: parent.app_id.as_ref(),
            action: "console.sign_in",
            target: format!("token {}", parent.id),
            before: None,
            after: Some(serde_json::json!({ "expires_at": expires })),
        },
    )
    .await;
    tracing::info!(token_id = %parent.id, "console sign-in");
    let mut resp = see_other("/console");
    resp.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&s, &headers, &secret, SESSION_SECONDS),
    );
    Ok(resp)
}

/// `POST /console/logout`: ends the session at once.
async fn logout(
    State(s): State<CiState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let session = session(&s, &headers).await;
    check_write(&s, &headers, session.as_ref(), &form)?;
    if let Some(sess) = &session {
        let hash = Sha256Digest::of(sess.secret.as_bytes());
        if let Some(t) = s.records.token_by_secret_hash(&hash).await? {
            s.records.delete_token(&hash).await?;
            record(
                &*s.records,
                &t,
                Change {
                    app: t.app_id.as_ref(),
                    action: "console.sign_out",
                    target: format!("token {}", t.actor().id),
                    before: None,
                    after: None,
                },
            )
            .await;
        }
    }
    let mut resp = see_other("/console");
    resp.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&s, &headers, "", 0));
    Ok(resp)
}
