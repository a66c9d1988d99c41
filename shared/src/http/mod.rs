//! The HTTP API: one axum [`Router`], whatever runs it (`liveship serve`, or
//! each Lambda function with its slice). Handlers never know where they run.
//!
//! The router is built from three slices, each with only the store
//! capabilities it needs ([`state`]):
//! - [`CiState`] (CI and ops routes: authenticated writes) holds the writable
//!   record and blob stores;
//! - [`DeviceState`] (device lookups and file downloads: public) holds read
//!   access only, so it cannot write builds or channels;
//! - [`EventState`] (device events: public) holds read access and the
//!   append-only event store.
//!
//! One module per resource (apps, tokens, uploads, builds, channels,
//! rollouts, keys, audit, usage, lookups, events, files) and per device
//! protocol (capgo, capawesome, cartona); [`auth`] authorizes for all of
//! them, `view` is the channel view every lookup route decides in. This
//! file only assembles the routers: no module below imports from it.

mod api;
mod apps;
mod audit;
pub mod auth;
mod builds;
pub mod cache;
mod capawesome;
mod capgo;
mod cartona;
mod channels;
pub mod console;
mod error;
mod events;
pub mod fast;
mod files;
pub mod guard;
mod keys;
mod logging;
mod lookups;
pub mod openapi;
mod rollouts;
pub mod state;
mod tokens;
mod uploads;
mod usage;
mod view;

pub use crate::ops::register::SERVER_ZIP_LIMIT;
pub use crate::ops::tokens::new_secret;
pub use crate::ops::tokens::token_record;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::routing::post;
use axum::Router;
pub use error::ApiError;
pub use error::Json;
pub use logging::log_line;
pub use openapi::Function;
pub use state::CiState;
pub use state::DeviceState;
pub use state::EventState;
pub use state::Stores;
pub use state::Urls;
pub use state::BUILD_LIMIT;
pub use state::DEFAULT_MAX_FILE;
pub use state::JSON_LIMIT;
use std::sync::Arc;

/// The CI and ops routes, with the console.
pub fn ci_router(state: CiState) -> Router {
    api::with_ci_layers(api::api_routes().merge(console::routes()), state)
}

/// The public device lookup and file download routes.
pub fn device_router(state: DeviceState) -> Router {
    Router::new()
        .route(
            "/v1/apps/{app}/channels/{channel}/latest",
            get(lookups::latest),
        )
        .route("/v1/apps/{app}/files/{sha256}", get(files::get_file))
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
        .route("/build/latest", get(cartona::cartona_latest))
        .route("/build/download", get(cartona::cartona_download))
        .layer(DefaultBodyLimit::max(JSON_LIMIT))
        .with_state(state)
}

/// The public device event routes.
pub fn event_router(state: EventState) -> Router {
    Router::new()
        .route("/v1/apps/{app}/events", post(events::event))
        .route("/capgo/stats", post(capgo::capgo_stats))
        .route(
            "/capgo/channel_self",
            post(capgo::capgo_channel_set)
                .put(capgo::capgo_channel_get)
                .get(capgo::capgo_channel_list)
                .delete(capgo::capgo_channel_unset),
        )
        .route("/build/download/complete", get(cartona::cartona_complete))
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
        .layer(axum::middleware::from_fn(logging::log_request))
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
