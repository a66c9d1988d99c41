//! Console sessions: the cookie, CSRF, the write checks, and the
//! in-process API calls a page makes as its session.

use crate::hash::Sha256Digest;
use crate::http::api::api_router;
use crate::http::error::ApiError;
use crate::http::state::CiState;
use crate::http::state::BUILD_LIMIT;
use crate::model::Scope;
use crate::wire::ErrorBody;
use crate::wire::WhoAmI;
use axum::body::Body;
use axum::http::header;
use axum::http::HeaderMap;
use axum::http::HeaderValue;
use axum::http::Method;
use axum::http::Request;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use maud::Markup;
use serde_json::Value;
use std::collections::HashMap;
use subtle::ConstantTimeEq;
use tower::ServiceExt;

/// The session cookie.
pub const COOKIE: &str = "liveship_session";

/// How long a console session lasts.
pub const SESSION_SECONDS: i64 = 8 * 3600;

/// Everything the pages load comes from this server; no inline script or
/// style; no framing; forms post only here.
pub const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
    script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A signed-in browser: the session secret (from the cookie) and who it is.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) secret: String,
    /// The token the session acts as.
    pub who: WhoAmI,
}

impl Session {
    /// The CSRF token of this session's forms: derived from the secret, so
    /// only a page served to this browser can know it.
    pub fn csrf(&self) -> String {
        csrf_of(&self.secret)
    }

    /// True when the session may act with `scope` on `app`.
    pub fn can(&self, app: &str, scope: Scope) -> bool {
        crate::domain::AppId::new(app).is_ok_and(|app| {
            crate::model::grants(
                self.who.app_id.as_ref(),
                &self.who.scopes,
                Some(&app),
                scope,
            )
        })
    }

    /// Calls the API as this session.
    pub async fn api(
        &self,
        s: &CiState,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ErrorBody> {
        call_api(s, &self.secret, method, path, body).await
    }
}

pub(crate) fn csrf_of(secret: &str) -> String {
    Sha256Digest::of(format!("liveship console csrf\n{secret}").as_bytes()).to_hex()
}

/// One API call, in-process, through the same router and handlers as a
/// request from the CLI.
pub(crate) async fn call_api(
    s: &CiState,
    secret: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, ErrorBody> {
    let failed = |message: String| ErrorBody {
        error: "internal".into(),
        message,
        details: None,
    };
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {secret}"));
    let body = match body {
        Some(b) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let req = req
        .body(body)
        .map_err(|e| failed(format!("could not build a request: {e}")))?;
    let resp = api_router(s.clone())
        .oneshot(req)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), BUILD_LIMIT)
        .await
        .map_err(|e| failed(e.to_string()))?;
    if status.is_success() {
        serde_json::from_slice(&bytes).map_err(|e| failed(e.to_string()))
    } else {
        Err(
            serde_json::from_slice(&bytes).unwrap_or_else(|_| ErrorBody {
                error: "error".into(),
                message: String::from_utf8_lossy(&bytes).into_owned(),
                details: None,
            }),
        )
    }
}

pub(crate) fn cookie_secret(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// The session of this request, if it has a live one.
pub(crate) async fn session(s: &CiState, headers: &HeaderMap) -> Option<Session> {
    let secret = cookie_secret(headers)?;
    let who = call_api(s, &secret, Method::GET, "/v1/whoami", None)
        .await
        .ok()?;
    let who: WhoAmI = serde_json::from_value(who).ok()?;
    Some(Session { secret, who })
}

/// Refuses a write that did not come from one of this console's own pages:
/// a cross-site request (by `Sec-Fetch-Site`), one whose `Origin` is neither
/// this request's host nor the public URL's (a proxy may rewrite `Host`),
/// or a form without this session's CSRF token.
pub(crate) fn check_write(
    s: &CiState,
    headers: &HeaderMap,
    session: Option<&Session>,
    form: &HashMap<String, String>,
) -> Result<(), ApiError> {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return Err(ApiError::forbidden(
            "cross-site request refused: use the console's own pages",
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        // The page's own origin is scheme and host: `https://evil` on a
        // plain-HTTP console (or the reverse) is another origin.
        let scheme = if secure(s, headers) { "https" } else { "http" };
        let own = format!("{scheme}://{host}");
        let public = &*s.urls.public_url;
        let public_origin = public
            .find("://")
            .and_then(|i| public[i + 3..].find('/').map(|j| &public[..i + 3 + j]))
            .unwrap_or(public);
        if origin == "null" || (origin != own && origin != public_origin) {
            return Err(ApiError::forbidden(
                "cross-origin request refused: use the console's own pages",
            ));
        }
    }
    if let Some(session) = session {
        let sent = form.get("csrf").map(String::as_str).unwrap_or_default();
        if !bool::from(sent.as_bytes().ct_eq(session.csrf().as_bytes())) {
            return Err(ApiError::forbidden(
                "the form is stale or was not sent by this console; reload the page and try again",
            ));
        }
    }
    Ok(())
}

/// True when the console is reached over HTTPS, so the cookie is `Secure`.
pub(crate) fn secure(s: &CiState, headers: &HeaderMap) -> bool {
    s.urls.public_url.starts_with("https://")
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes() == b"https")
}

pub(crate) fn set_cookie(
    s: &CiState,
    headers: &HeaderMap,
    value: &str,
    max_age: i64,
) -> HeaderValue {
    let secure = if secure(s, headers) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("cookie text is ASCII")
}

/// A 303 to `to`.
pub(crate) fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

/// An HTML page with the console's security headers.
pub(crate) fn html(status: StatusCode, page: Markup) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // `no-referrer` would make browsers send `Origin: null` on the forms.
            (header::REFERRER_POLICY, "same-origin"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        page.into_string(),
    )
        .into_response()
}

/// Query of pages that show the outcome of the action before them.
#[derive(Debug, serde::Deserialize, Default)]
pub(crate) struct Flash {
    /// What was done (a fixed code, never free text).
    pub done: Option<String>,
    /// The audit page's next page.
    pub before: Option<String>,
    /// The audit picker's app.
    pub app: Option<String>,
}

/// Path segments as the API routes take them.
pub(crate) fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
