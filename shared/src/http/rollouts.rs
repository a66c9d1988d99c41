//! Rollouts: actions on a channel's rollout plan, and its guard settings.

use super::auth::access;
use super::auth::Authorized;
use super::error::read_json;
use super::error::ApiError;
use super::error::Json;
use super::state::CiState;
use super::state::JSON_LIMIT;
use crate::domain::AppId;
use crate::domain::ChannelName;
use crate::model::Channel;
use crate::model::Scope;
use crate::ops;
use crate::ops::audit::record;
use crate::ops::audit::snapshot;
use crate::ops::audit::Change;
use crate::wire::ErrorBody;
use crate::wire::GuardPatch;
use crate::wire::RolloutAction;
use axum::body::Body;
use axum::extract::Path;
use axum::extract::State;
use axum::http::HeaderMap;

#[utoipa::path(post, path = "/v1/apps/{app}/channels/{channel}/rollout", params(("app" = AppId, Path, description = "The app id"), ("channel" = String, Path, pattern = "^([A-Za-z0-9_-][A-Za-z0-9._-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}|\\.\\.[A-Za-z0-9._-]{1,62})$", description = "The channel")), request_body = RolloutAction,
    responses((status = 200, body = Channel), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn rollout_action(
    State(s): State<CiState>,
    Path((app, channel)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Channel>, ApiError> {
    let Authorized { app, token } = access(&s, &headers, &app, Scope::Deploy).await?;
    let app_id = app.app_id;
    let req: RolloutAction = read_json(&headers, body, JSON_LIMIT).await?;
    let name = ChannelName::new(channel.as_str())?;
    super::guard::judge(s.guard.as_deref(), &app_id, &channel).await;
    let (was, ch) = ops::channels::plan_action(&*s.records, &app_id, &name, req.action).await?;
    record(
        &*s.records,
        &token,
        Change {
            app: Some(&app_id),
            action: req.action.action(),
            target: format!("channel {channel}"),
            before: was.as_ref().and_then(snapshot),
            after: ch.current.as_ref().and_then(snapshot),
        },
    )
    .await;
    Ok(Json(ch))
}

#[utoipa::path(patch, path = "/v1/apps/{app}/channels/{channel}/guard", params(("app" = AppId, Path, description = "The app id"), ("channel" = String, Path, pattern = "^([A-Za-z0-9_-][A-Za-z0-9._-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}|\\.\\.[A-Za-z0-9._-]{1,62})$", description = "The channel")), request_body = GuardPatch,
    responses((status = 200, body = Channel), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn patch_guard(
    State(s): State<CiState>,
    Path((app, channel)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Channel>, ApiError> {
    let Authorized { app, token } = access(&s, &headers, &app, Scope::Deploy).await?;
    let app_id = app.app_id;
    let req: GuardPatch = read_json(&headers, body, JSON_LIMIT).await?;
    let name = ChannelName::new(channel.as_str())?;
    let (before, ch) = ops::channels::set_guard(&*s.records, &app_id, &name, &req).await?;
    record(
        &*s.records,
        &token,
        Change {
            app: Some(&app_id),
            action: "channel.guard",
            target: format!("channel {channel}"),
            before,
            after: snapshot(&ch.guard),
        },
    )
    .await;
    Ok(Json(ch))
}
