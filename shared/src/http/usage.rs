//! Usage: the per-bucket counts the console's charts are drawn from.

use super::auth::access;
use super::error::ApiError;
use super::error::Json;
use super::state::CiState;
use crate::domain::AppId;
use crate::domain::ChannelName;
use crate::model::Grain;
use crate::model::Scope;
use crate::wire::ErrorBody;
use crate::wire::UsageAnswer;
use crate::wire::UsageQuery;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::http::HeaderMap;

/// Reads the usage buckets of a channel ending with the current bucket.
#[utoipa::path(get, path = "/v1/apps/{app}/channels/{channel}/usage", params(("app" = AppId, Path, description = "The app id"), ("channel" = String, Path, pattern = "^([A-Za-z0-9_-][A-Za-z0-9._-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}|\\.\\.[A-Za-z0-9._-]{1,62})$", description = "The channel"), UsageQuery),
    responses((status = 200, body = UsageAnswer), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn channel_usage(
    State(s): State<CiState>,
    Path((app, channel)): Path<(String, String)>,
    Query(q): Query<UsageQuery>,
    headers: HeaderMap,
) -> Result<Json<UsageAnswer>, ApiError> {
    let app_id = access(&s, &headers, &app, Scope::Read).await?.app.app_id;
    ChannelName::new(channel.as_str())?;
    let (grain, default, max) = match q.grain.as_deref() {
        None | Some("hour") => (Grain::Hour, 48, 24 * 92),
        Some("day") => (Grain::Day, 90, 400),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "grain must be hour or day, not {other:?}"
            )))
        }
    };
    let n = i64::from(q.buckets.unwrap_or(default).clamp(1, max));
    let to = grain.start(crate::model::now()) + grain.seconds();
    let from = to - n * grain.seconds();
    let buckets = s.records.usage(&app_id, &channel, grain, from, to).await?;
    Ok(Json(UsageAnswer {
        grain: if grain == Grain::Hour { "hour" } else { "day" }.into(),
        from,
        to,
        buckets,
    }))
}
