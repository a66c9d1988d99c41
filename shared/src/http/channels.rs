//! Channels: list (also the Capawesome plugin's public list), create,
//! delete, deploy and roll back.

use super::auth::access;
use super::auth::load_app;
use super::auth::Authorized;
use super::error::read_json;
use super::error::ApiError;
use super::error::Json;
use super::guard;
use super::state::CiState;
use super::state::JSON_LIMIT;
use crate::domain::AppId;
use crate::domain::ChannelName;
use crate::model::now;
use crate::model::Channel;
use crate::model::Scope;
use crate::ops;
use crate::ops::audit::record;
use crate::ops::audit::snapshot;
use crate::ops::audit::Change;
use crate::rollout;
use crate::store::RecordRead;
use crate::wire::ChannelList;
use crate::wire::ChannelsAnswer;
use crate::wire::CreateChannel;
use crate::wire::Deploy;
use crate::wire::ErrorBody;
use axum::body::Body;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use serde_json::Value;

#[utoipa::path(get, path = "/v1/apps/{app}/channels", params(("app" = AppId, Path, description = "The app id"), ChannelsQuery),
    responses((status = 200, description = "With a token: the CI listing (`ChannelList`). Without one: the channels devices may choose, `[{id, name}]` (the Capawesome plugin's fetchChannels)", body = ChannelsAnswer), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security((), ("bearer" = [])))]
pub(crate) async fn list_channels(
    State(s): State<CiState>,
    Path(app): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Json<serde_json::Value>, ApiError> {
    // The stock Capawesome plugin lists channels on this same path with no
    // token: without an Authorization header the answer is the public list
    // of channels devices may choose, as `[{id, name}]`; with one, the CI
    // listing, behind the token and scope checks.
    if !headers.contains_key(axum::http::header::AUTHORIZATION) {
        let Query(q) = Query::<ChannelsQuery>::try_from_uri(&uri)
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        return Ok(Json(public_channels(&*s.records, &app, q).await?));
    }
    let app_id = access(&s, &headers, &app, Scope::Read).await?.app.app_id;
    let mut channels = s.records.channels(&app_id).await?;
    let at = now();
    let mut judged = false;
    for ch in channels.iter().filter(|c| guard::due(c, at)) {
        super::guard::judge(s.guard.as_deref(), &app_id, &ch.name).await;
        judged = true;
    }
    if judged {
        channels = s.records.channels(&app_id).await?;
    }
    Ok(Json(
        serde_json::to_value(ChannelList { channels }).map_err(|_| ApiError::internal())?,
    ))
}

#[utoipa::path(put, path = "/v1/apps/{app}/channels/{channel}", params(("app" = AppId, Path, description = "The app id"), ("channel" = String, Path, pattern = "^([A-Za-z0-9_-][A-Za-z0-9._-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}|\\.\\.[A-Za-z0-9._-]{1,62})$", description = "The channel")), request_body = Deploy,
    responses((status = 200, body = Channel), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn deploy(
    State(s): State<CiState>,
    Path((app, channel)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Channel>, ApiError> {
    let Authorized { app, token } = access(&s, &headers, &app, Scope::Deploy).await?;
    let app_id = app.app_id.clone();
    let req: Deploy = read_json(&headers, body, JSON_LIMIT).await?;
    let name = ChannelName::new(channel.as_str())?;
    let pct = req.rollout_percent.unwrap_or(100);
    if !(1..=100).contains(&pct) {
        return Err(ApiError::unprocessable(
            "invalid_rollout",
            "rollout_percent must be 1-100",
        ));
    }
    if req.plan.is_some() && req.rollout_percent.is_some() {
        return Err(ApiError::unprocessable(
            "invalid_plan",
            "give either rollout_percent or plan: a percentage is a plan of one step",
        ));
    }
    let build = ops::builds::load_build(&*s.records, &app_id, req.build_id).await?;
    // A plain percentage is a plan of one step, which the guard watches.
    let steps = req.plan.clone().unwrap_or_else(|| vec![pct]);
    let step_seconds = req.step_seconds.unwrap_or(rollout::DEFAULT_STEP_SECONDS);
    rollout::check_plan(&steps, step_seconds)
        .map_err(|e| ApiError::unprocessable("invalid_plan", e.to_string()))?;
    super::guard::judge(s.guard.as_deref(), &app_id, &channel).await;
    // A disabled build is refused by the operation.
    let may_create = req.create_channel == Some(true) || channel == app.default_channel;
    let plan = ops::channels::DeployPlan {
        steps: steps.clone(),
        step_seconds,
        auto_rollback: req.auto_rollback.unwrap_or(false),
        allow_self_assign: req.allow_self_assign,
        create: may_create,
    };
    let (was, ch) = ops::channels::deploy(&*s.records, &app_id, &name, &build, &plan).await?;
    tracing::info!(app = %app_id, channel = %channel, build = build.id, plan = ?steps, "deployed");
    let action = match &was {
        Some(w) if w.build_id == build.id => "rollout",
        _ => "deploy",
    };
    record(
        &*s.records,
        &token,
        Change {
            app: Some(&app_id),
            action,
            target: format!("channel {channel}"),
            before: was.as_ref().and_then(snapshot),
            after: ch.current.as_ref().and_then(snapshot),
        },
    )
    .await;
    Ok(Json(ch))
}

#[utoipa::path(post, path = "/v1/apps/{app}/channels/{channel}/rollback", params(("app" = AppId, Path, description = "The app id"), ("channel" = String, Path, pattern = "^([A-Za-z0-9_-][A-Za-z0-9._-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}|\\.\\.[A-Za-z0-9._-]{1,62})$", description = "The channel")),
    responses((status = 200, body = Channel), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn rollback(
    State(s): State<CiState>,
    Path((app, channel)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Channel>, ApiError> {
    let Authorized { app, token } = access(&s, &headers, &app, Scope::Deploy).await?;
    let app_id = app.app_id;
    let name = ChannelName::new(channel.as_str())?;
    super::guard::judge(s.guard.as_deref(), &app_id, &channel).await;
    let (was, ch) = ops::channels::rollback(&*s.records, &app_id, &name).await?;
    tracing::info!(app = %app_id, channel = %channel, "rolled back");
    record(
        &*s.records,
        &token,
        Change {
            app: Some(&app_id),
            action: "rollback",
            target: format!("channel {channel}"),
            before: was.as_ref().and_then(snapshot),
            after: ch.current.as_ref().and_then(snapshot),
        },
    )
    .await;
    Ok(Json(ch))
}

#[utoipa::path(post, path = "/v1/apps/{app}/channels", params(("app" = AppId, Path, description = "The app id")), request_body = CreateChannel,
    responses((status = 201, body = Channel), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn create_channel(
    State(s): State<CiState>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let Authorized { app, token } = access(&s, &headers, &app, Scope::Deploy).await?;
    let app_id = app.app_id;
    let req: CreateChannel = read_json(&headers, body, JSON_LIMIT).await?;
    ChannelName::new(req.name.as_str())?;
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
        &*s.records,
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

#[utoipa::path(delete, path = "/v1/apps/{app}/channels/{channel}", params(("app" = AppId, Path, description = "The app id"), ("channel" = String, Path, pattern = "^([A-Za-z0-9_-][A-Za-z0-9._-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}|\\.\\.[A-Za-z0-9._-]{1,62})$", description = "The channel")),
    responses((status = 200, body = Channel), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn delete_channel(
    State(s): State<CiState>,
    Path((app, channel)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Channel>, ApiError> {
    let Authorized { app, token } = access(&s, &headers, &app, Scope::Deploy).await?;
    ChannelName::new(channel.as_str())?;
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
                &*s.records,
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

/// Query of the public `GET /v1/apps/{app}/channels` (the plugin's
/// `fetchChannels`).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ChannelsQuery {
    /// At most this many.
    #[serde(default)]
    #[param(minimum = 0, maximum = 1000000)]
    limit: Option<u32>,
    /// Skip this many.
    #[serde(default)]
    #[param(minimum = 0, maximum = 1000000)]
    offset: Option<u32>,
    /// Only names containing this.
    #[serde(default)]
    query: Option<String>,
}

/// The channels a device may choose: those that allow self-assignment.
pub(crate) async fn public_channels(
    records: &dyn RecordRead,
    app: &str,
    q: ChannelsQuery,
) -> Result<Value, ApiError> {
    let app = load_app(records, app).await?;
    let needle = q.query.unwrap_or_default();
    let list: Vec<Value> = records
        .channels(&app.app_id)
        .await?
        .into_iter()
        .filter(|c| c.allow_self_assign && c.name.contains(&needle))
        .skip(q.offset.unwrap_or(0) as usize)
        .take(q.limit.map_or(usize::MAX, |l| l as usize))
        .map(|c| json!({"id": c.name, "name": c.name}))
        .collect();
    Ok(Value::Array(list))
}
