//! The HTTP API: one axum [`Router`], whatever runs it (`liveship serve`, or
//! each Lambda function with its slice). Handlers never know where they run.
//!
//! The router is built from three slices, each with only the store
//! capabilities it needs:
//! - [`CiState`] (CI and ops routes: authenticated writes) holds the writable
//!   record and blob stores;
//! - [`DeviceState`] (device lookups and file downloads: public) holds read
//!   access only, so it cannot write builds or channels;
//! - [`EventState`] (device events: public) holds read access and the
//!   append-only event store.

mod admin;
mod audit;
pub mod cache;
mod capawesome;
mod capgo;
mod ci;
mod compat;
pub mod console;
mod device;
mod error;
pub mod fast;
pub mod guard;
pub(crate) mod keys;
pub mod openapi;
mod zipgen;

pub use ci::{new_secret, token_record, SERVER_ZIP_LIMIT};
pub use error::{ApiError, Json};
pub use openapi::Function;

use crate::domain::AppId;
use crate::hash::Sha256Digest;
use crate::model::{App, Scope, Token};
use crate::store::{BlobRead, BlobWrite, EventWrite, RecordRead, RecordWrite};
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use axum::Router;
use std::sync::Arc;
use std::time::Instant;
use subtle::ConstantTimeEq;

/// Default largest JSON body (apps, tokens, deploys, events).
pub const JSON_LIMIT: usize = 1024 * 1024;
/// Largest build registration or upload plan body: about 200,000 files.
pub const BUILD_LIMIT: usize = 64 * 1024 * 1024;
/// Default largest single uploaded file.
pub const DEFAULT_MAX_FILE: u64 = 2 * 1024 * 1024 * 1024;

/// Where clients reach this server, for the URLs it hands out.
#[derive(Debug, Clone)]
pub struct Urls {
    /// Base URL without a trailing slash, such as `https://updates.example.com`.
    /// Shared, not owned: the state holding it is cloned for every request.
    pub public_url: Arc<str>,
}

impl Urls {
    /// A base URL (a trailing slash is removed).
    pub fn new(public_url: &str) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').into(),
        }
    }
    /// URL of a content-addressed file of an app.
    pub fn file(&self, app: &AppId, sha256: &Sha256Digest) -> String {
        format!("{}/v1/apps/{app}/files/{sha256}", self.public_url)
    }
    /// Prefix of every file URL of an app.
    pub fn files_base(&self, app: &AppId) -> String {
        format!("{}/v1/apps/{app}/files/", self.public_url)
    }
}

/// State of the CI and ops routes.
#[derive(Clone)]
pub struct CiState {
    /// Records, writable.
    pub records: Arc<dyn RecordWrite>,
    /// Blobs, writable.
    pub blobs: Arc<dyn BlobWrite>,
    /// URLs handed out.
    pub urls: Urls,
    /// Largest uploaded file.
    pub max_file: u64,
    /// Invalidates the lookup cache of the same process after writes.
    pub invalidate: Option<cache::Invalidator>,
    /// Judges due rollout plans when a channel is read or written.
    pub guard: Option<Arc<guard::Guard>>,
}

/// State of the public device lookup and download routes: read-only.
#[derive(Clone)]
pub struct DeviceState {
    /// Records, read-only.
    pub records: Arc<dyn RecordRead>,
    /// Blobs, read-only.
    pub blobs: Arc<dyn BlobRead>,
    /// URLs handed out.
    pub urls: Urls,
    /// Short-lived cache of what lookups read.
    pub cache: Option<Arc<cache::LookupCache>>,
    /// Judges a channel's rollout plan when a lookup finds it due (the one
    /// write the lookup side makes: compare-and-set on the channel).
    pub guard: Option<Arc<guard::Guard>>,
}

/// State of the public device event routes: read records, append events.
#[derive(Clone)]
pub struct EventState {
    /// Records, read-only (to check apps and builds).
    pub records: Arc<dyn RecordRead>,
    /// Events, append-only.
    pub events: Arc<dyn EventWrite>,
}

macro_rules! debug_state {
    ($($t:ty),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t)).finish_non_exhaustive()
            }
        }
    )*};
}
debug_state!(CiState, DeviceState, EventState);

/// The CI and ops routes.
pub fn ci_router(state: CiState) -> Router {
    let invalidate = state.invalidate.clone();
    Router::new()
        .route("/v1/apps", post(ci::create_app).get(admin::list_apps))
        .route(
            "/v1/apps/{app}",
            get(admin::show_app).patch(admin::patch_app),
        )
        .route("/v1/tokens", post(ci::create_token).get(admin::list_tokens))
        .route("/v1/tokens/{id}", delete(admin::revoke_token))
        .route("/v1/tokens/{id}/rotate", post(admin::rotate_token))
        .route("/v1/whoami", get(admin::whoami))
        .route("/v1/apps/{app}/audit", get(audit::list_audit))
        .route(
            "/v1/apps/{app}/channels/{channel}/usage",
            get(audit::channel_usage),
        )
        .route("/v1/apps/{app}/uploads", post(ci::uploads))
        // Authenticated handlers take the raw body and read it only after
        // the token check, up to their own limit (JSON_LIMIT, or
        // BUILD_LIMIT for upload plans and build registrations).
        .route(
            "/v1/apps/{app}/files/{sha256}",
            put(ci::put_file).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/v1/apps/{app}/builds",
            post(ci::register_build).get(ci::list_builds),
        )
        .route(
            "/v1/apps/{app}/builds/{id}",
            get(ci::show_build).patch(ci::patch_build),
        )
        .route("/v1/apps/{app}/builds/{id}/stats", get(ci::build_stats))
        .route(
            "/v1/apps/{app}/channels",
            get(ci::list_channels).post(admin::create_channel),
        )
        .route(
            "/v1/apps/{app}/channels/{channel}",
            put(ci::deploy).delete(admin::delete_channel),
        )
        .route(
            "/v1/apps/{app}/channels/{channel}/rollback",
            post(ci::rollback),
        )
        .route(
            "/v1/apps/{app}/channels/{channel}/rollout",
            post(ci::rollout_action),
        )
        .route(
            "/v1/apps/{app}/channels/{channel}/guard",
            patch(ci::patch_guard),
        )
        .route("/v1/apps/{app}/key-set", put(keys::put_key_set))
        .merge(console::routes())
        .layer(DefaultBodyLimit::max(JSON_LIMIT))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let invalidate = invalidate.clone();
                async move {
                    let write = req.method() != axum::http::Method::GET;
                    let response = next.run(req).await;
                    if write && response.status().is_success() {
                        if let Some(i) = &invalidate {
                            i.bump();
                        }
                    }
                    response
                }
            },
        ))
        .with_state(state)
}

/// The public device lookup and file download routes.
pub fn device_router(state: DeviceState) -> Router {
    Router::new()
        .route(
            "/v1/apps/{app}/channels/{channel}/latest",
            get(device::latest),
        )
        .route("/v1/apps/{app}/files/{sha256}", get(device::get_file))
        .route("/v1/apps/{app}/key-set", get(keys::get_key_set))
        .route("/capgo/updates", post(capgo::capgo_updates))
        .route(
            "/v1/apps/{app}/bundles/latest",
            get(capawesome::latest_bundle),
        )
        .route(
            "/v1/apps/{app}/bundles/{id}/files",
            get(capawesome::bundle_files),
        )
        .route("/build/latest", get(compat::cartona_latest))
        .route("/build/download", get(compat::cartona_download))
        .layer(DefaultBodyLimit::max(JSON_LIMIT))
        .with_state(state)
}

/// The public device event routes.
pub fn event_router(state: EventState) -> Router {
    Router::new()
        .route("/v1/apps/{app}/events", post(device::event))
        .route("/capgo/stats", post(capgo::capgo_stats))
        .route(
            "/capgo/channel_self",
            post(capgo::capgo_channel_set)
                .put(capgo::capgo_channel_get)
                .get(capgo::capgo_channel_list)
                .delete(capgo::capgo_channel_unset),
        )
        .route("/build/download/complete", get(compat::cartona_complete))
        .layer(DefaultBodyLimit::max(JSON_LIMIT))
        .with_state(state)
}

/// Routes every deployment serves: liveness and the API description.
pub fn common_router() -> Router {
    Router::new()
        .route("/healthz", get(openapi::healthz))
        .route("/v1/openapi.json", get(openapi::openapi_json))
}

/// Adds what every deployment wants around a router: a JSON 404 for unknown
/// routes and one structured log line per request (never headers, so never a
/// token; never the query string).
pub fn finish(router: Router) -> Router {
    router
        .fallback(|| async {
            ApiError::not_found("no such route; see GET /v1/openapi.json for the API")
        })
        // One layer for both (every layer costs each request a boxed future).
        .layer(axum::middleware::from_fn(log_request))
}

/// The whole API on one set of stores, as `liveship serve` runs it.
pub fn router(ci: CiState, device: DeviceState, events: EventState) -> Router {
    finish(
        common_router()
            .merge(ci_router(ci))
            .merge(device_router(device))
            .merge(event_router(events)),
    )
}

/// The stores of a deployment, from which each Lambda function's slice takes
/// only the capabilities it needs.
#[derive(Clone)]
pub struct Stores {
    /// Records.
    pub records: Arc<dyn RecordWrite>,
    /// Device events.
    pub events: Arc<dyn EventWrite>,
    /// Blobs.
    pub blobs: Arc<dyn BlobWrite>,
}
debug_state!(Stores);

/// The router one Lambda function runs: its slice and the common routes.
/// The writer runs in another process, so the lookup cache of [`Function::Latest`]
/// relies on `cache_ttl` alone (zero: no cache).
pub fn function_router(
    function: Function,
    stores: Stores,
    urls: Urls,
    cache_ttl: std::time::Duration,
    webhook: Option<guard::Webhook>,
) -> Router {
    function_app(function, stores, urls, cache_ttl, webhook).0
}

/// [`function_router`] and the function's rollout guard, which the
/// register function also runs on EventBridge's schedule.
// Inlined so that a caller with a constant `function` (each Lambda binary,
// through [`crate::lambda::run`]) keeps only its own arm: the other slices'
// handlers are then unreferenced and the linker drops them.
#[inline(always)]
pub fn function_app(
    function: Function,
    stores: Stores,
    urls: Urls,
    cache_ttl: std::time::Duration,
    webhook: Option<guard::Webhook>,
) -> (Router, Option<Arc<guard::Guard>>) {
    // Only the device function caches lookups; both functions that read
    // channels judge their plans.
    let cache = (function == Function::Latest && !cache_ttl.is_zero())
        .then(|| Arc::new(cache::LookupCache::new(cache_ttl)));
    let guard = (function != Function::DownloadComplete).then(|| {
        Arc::new(guard::Guard::new(
            stores.records.clone(),
            webhook,
            cache.as_ref().map(|c| c.invalidator()),
        ))
    });
    let slice = match function {
        Function::Register => ci_router(CiState {
            guard: guard.clone(),
            records: stores.records,
            blobs: stores.blobs,
            urls,
            max_file: DEFAULT_MAX_FILE,
            invalidate: None,
        }),
        Function::Latest => device_router(DeviceState {
            guard: guard.clone(),
            records: stores.records,
            blobs: stores.blobs,
            urls,
            cache,
        }),
        Function::DownloadComplete => event_router(EventState {
            records: stores.records,
            events: stores.events,
        }),
    };
    (finish(common_router().merge(slice)), guard)
}

async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let start = Instant::now();
    let response = error::json_errors(next.run(req).await).await;
    let status = response.status().as_u16();
    log_line(&method, &path, status, start.elapsed().as_micros() as u64);
    response
}

/// The one log line of a request (the router's, and the fast path's of
/// `liveship serve`): method, path without the query, status, time taken.
pub fn log_line(method: &axum::http::Method, path: &str, status: u16, micros: u64) {
    if status >= 500 {
        tracing::error!(%method, %path, status, micros, "request");
    } else {
        tracing::info!(%method, %path, status, micros, "request");
    }
}

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

impl IntoResponse for crate::wire::ErrorBody {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}
