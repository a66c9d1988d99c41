//! One error type for every route, mapped to a status and a JSON body.

pub(crate) use crate::ops::error_chain;
use crate::ops::OpError;
use crate::ops::Refusal;
use crate::store::StoreError;
use crate::wire::ErrorBody;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::FromRequest;
use axum::extract::Request;
use axum::http::header;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// An error answer: status, stable code, and a message saying what to do.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What went wrong and what to do.
    pub message: String,
    /// Facts for programs (`details` in the body).
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }
    /// The same error, with facts for programs in the body's `details`.
    pub fn with_details(mut self, details: impl Serialize) -> Self {
        self.details = serde_json::to_value(details).ok();
        self
    }
    /// 400.
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", m)
    }
    /// 401.
    pub fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", m)
    }
    /// 403.
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", m)
    }
    /// 404.
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", m)
    }
    /// 404 for an app id that is not valid (so no app has it).
    pub fn invalid_app(app: &str) -> Self {
        Self::not_found(format!("unknown app {app:?}"))
    }
    /// 404 for a channel the app does not have: the core's one wording
    /// ([`crate::ops::channels::no_channel`]).
    pub fn no_channel(app_id: &crate::domain::AppId, channel: &str) -> Self {
        crate::ops::channels::no_channel(app_id, channel).into()
    }
    /// 409.
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", m)
    }
    /// 409 with a specific code.
    pub fn conflict_with(code: &'static str, m: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, m)
    }
    /// 404 with a specific code.
    pub fn not_found_with(code: &'static str, m: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, m)
    }
    /// 413.
    pub fn too_large(m: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", m)
    }
    /// 422 with a specific code.
    pub fn unprocessable(code: &'static str, m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, m)
    }
    /// 500; the details go to the log, not to the client.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server could not complete the request; try again, and check the server log if it persists",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_owned(),
            message: self.message,
            details: self.details,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ApiError::conflict(format!("{what} already exists")),
            e @ StoreError::HashMismatch { .. } => {
                ApiError::unprocessable("hash_mismatch", e.to_string())
            }
            e @ StoreError::TooLarge { .. } => ApiError::too_large(e.to_string()),
            e => {
                tracing::error!(error = %e, source = ?std::error::Error::source(&e), "storage failure");
                ApiError::internal()
            }
        }
    }
}

/// `axum::Json`, with rejections answered in our error format: malformed JSON
/// is 400, a well-formed body with wrong fields (or an array where an object
/// belongs) is 422, too large is 413.
///
/// Only for public routes: authenticated handlers take the raw body and call
/// `read_json` after they have checked the token.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        parse_object(&json_bytes(req, state).await?).map(Json)
    }
}

/// Like [`Json`], for the one public route whose body may also be an
/// array (the capgo plugin batches its stats).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct JsonAny<T>(pub T);

impl<S, T> FromRequest<S> for JsonAny<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        parse_any(&json_bytes(req, state).await?).map(JsonAny)
    }
}

/// The body of a public JSON route, within the route's `DefaultBodyLimit`.
async fn json_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    check_json_content_type(req.headers())?;
    Bytes::from_request(req, state)
        .await
        .map_err(|r| body_rejection(r.status(), &r.body_text()))
}

fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false);
    if json {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "send the body as JSON with `Content-Type: application/json`",
        ))
    }
}

fn body_rejection(status: StatusCode, text: &str) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large("the request body is larger than this route accepts")
    } else {
        ApiError::bad_request(format!("the request body could not be read: {text}"))
    }
}

/// Reads a JSON object body of at most `limit` bytes. Authenticated handlers
/// call it only after the token and scope check, so nobody without the
/// right to call a route makes the server read (or describe) its body.
pub(crate) async fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, ApiError> {
    check_json_content_type(headers)?;
    let bytes = read_limited(body, limit).await?;
    parse_object(&bytes)
}

/// Reads a whole body of at most `limit` bytes (413 beyond).
pub(crate) async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::too_large(format!(
                "the request body is larger than this route accepts ({limit} bytes)"
            ))
        } else {
            ApiError::bad_request(format!("the request body could not be read: {e}"))
        }
    })
}

/// Parses a JSON body that must be an object: serde's derived structs also
/// take arrays (`[1]` would be a deploy of build 1), which no route means.
pub(crate) fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        // Still report malformed JSON as such.
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(syntax_error)?;
        return Err(ApiError::unprocessable(
            "invalid_request",
            "the request body must be a JSON object",
        ));
    }
    parse_any(bytes)
}

/// Parses a JSON body of any shape `T` accepts.
pub(crate) fn parse_any<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => {
            de.end().map_err(syntax_error)?;
            Ok(v)
        }
        // JSON has one number type: `1.0` is an integer to JSON Schema (and
        // to JavaScript). Only when a body fails is it read again with
        // integral floats as integers, so the common case parses once.
        Err(e) if e.inner().is_data() && bytes.contains(&b'.') => {
            let mut value: serde_json::Value =
                serde_json::from_slice(bytes).map_err(syntax_error)?;
            integral_floats_to_ints(&mut value);
            serde_path_to_error::deserialize(value).map_err(describe)
        }
        Err(e) => Err(describe(e)),
    }
}

fn integral_floats_to_ints(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() == 0.0 && f >= 0.0 && f < u64::MAX as f64 {
                *v = Value::from(f as u64);
            } else if f.fract() == 0.0 && f < 0.0 && f >= i64::MIN as f64 {
                *v = Value::from(f as i64);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(integral_floats_to_ints),
        Value::Object(o) => o.values_mut().for_each(integral_floats_to_ints),
        _ => {}
    }
}

fn describe(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.is_data() {
        let at = if path == "." {
            String::new()
        } else {
            format!(" at {path}")
        };
        ApiError::unprocessable(
            "invalid_request",
            format!("the request body is not what this route takes{at}: {inner}"),
        )
    } else {
        syntax_error(inner)
    }
}

fn syntax_error(e: serde_json::Error) -> ApiError {
    ApiError::bad_request(format!("the request body is not valid JSON: {e}"))
}

/// Turns every error answer that is not already our JSON (the framework's
/// own rejections of a path, query, method or URL) into `{"error","message"}`
/// with the same status.
pub(crate) async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            // The console's pages explain their own errors.
            v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
        });
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let (code, fallback) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not take that method; see GET /v1/openapi.json",
        ),
        StatusCode::NOT_FOUND => ("not_found", "not found"),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            "the request body is larger than this route accepts",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "send JSON"),
        s if s.is_server_error() => ("internal", "the server could not complete the request"),
        _ => ("bad_request", "the request is malformed"),
    };
    let message = if text.is_empty() {
        fallback.to_owned()
    } else {
        text
    };
    let mut out = ApiError::new(status, code, message).into_response();
    for name in [
        header::ALLOW,
        header::CONTENT_RANGE,
        header::WWW_AUTHENTICATE,
    ] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl IntoResponse for crate::wire::ErrorBody {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Store(e) => e.into(),
            OpError::Refused {
                kind,
                code,
                message,
                details,
            } => {
                let status = match kind {
                    Refusal::BadRequest => StatusCode::BAD_REQUEST,
                    Refusal::NotFound => StatusCode::NOT_FOUND,
                    Refusal::Conflict => StatusCode::CONFLICT,
                    Refusal::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
                };
                ApiError {
                    details,
                    ..ApiError::new(status, code, message)
                }
            }
            OpError::Internal => ApiError::internal(),
        }
    }
}

impl From<crate::domain::DomainError> for ApiError {
    fn from(e: crate::domain::DomainError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}
