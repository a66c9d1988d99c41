//! The CI and ops API routes (authenticated writes and reads), one
//! resource module each. The console calls them in-process through
//! [`api_router`], so it shares every rule with the CLI.

use super::apps;
use super::audit;
use super::builds;
use super::channels;
use super::keys;
use super::rollouts;
use super::state::CiState;
use super::state::JSON_LIMIT;
use super::tokens;
use super::uploads;
use super::usage;
use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::middleware::Next;
use axum::routing::delete;
use axum::routing::get;
use axum::routing::patch;
use axum::routing::post;
use axum::routing::put;
use axum::Router;

/// The API routes, before their state and layers.
pub(crate) fn api_routes() -> Router<CiState> {
    Router::new()
        .route("/v1/apps", post(apps::create_app).get(apps::list_apps))
        .route("/v1/apps/{app}", get(apps::show_app).patch(apps::patch_app))
        .route(
            "/v1/tokens",
            post(tokens::create_token).get(tokens::list_tokens),
        )
        .route("/v1/tokens/{id}", delete(tokens::revoke_token))
        .route("/v1/tokens/{id}/rotate", post(tokens::rotate_token))
        .route("/v1/whoami", get(tokens::whoami))
        .route("/v1/apps/{app}/audit", get(audit::list_audit))
        .route(
            "/v1/apps/{app}/channels/{channel}/usage",
            get(usage::channel_usage),
        )
        .route("/v1/apps/{app}/uploads", post(uploads::uploads))
        // Authenticated handlers take the raw body and read it only after
        // the token check, up to their own limit (JSON_LIMIT, or
        // BUILD_LIMIT for upload plans and build registrations).
        .route(
            "/v1/apps/{app}/files/{sha256}",
            put(uploads::put_file).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/v1/apps/{app}/builds",
            post(builds::register_build).get(builds::list_builds),
        )
        .route(
            "/v1/apps/{app}/builds/{id}",
            get(builds::show_build).patch(builds::patch_build),
        )
        .route("/v1/apps/{app}/builds/{id}/stats", get(builds::build_stats))
        .route(
            "/v1/apps/{app}/channels",
            get(channels::list_channels).post(channels::create_channel),
        )
        .route(
            "/v1/apps/{app}/channels/{channel}",
            put(channels::deploy).delete(channels::delete_channel),
        )
        .route(
            "/v1/apps/{app}/channels/{channel}/rollback",
            post(channels::rollback),
        )
        .route(
            "/v1/apps/{app}/channels/{channel}/rollout",
            post(rollouts::rollout_action),
        )
        .route(
            "/v1/apps/{app}/channels/{channel}/guard",
            patch(rollouts::patch_guard),
        )
        .route("/v1/apps/{app}/key-set", put(keys::put_key_set))
}

/// Adds what every CI route has: the JSON body limit, and invalidation of
/// this process's lookup cache after each successful write.
pub(crate) fn with_ci_layers(routes: Router<CiState>, state: CiState) -> Router {
    let invalidate = state.invalidate.clone();
    routes
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

/// The API alone (what the console calls in-process).
pub(crate) fn api_router(state: CiState) -> Router {
    with_ci_layers(api_routes(), state)
}
