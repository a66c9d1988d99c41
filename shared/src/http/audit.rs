//! The audit log: every write through the API, recorded by the handler
//! that made it, and `GET /v1/apps/{app}/audit`; and the usage buckets the
//! console's charts are drawn from.

use super::ci::access;
use super::{ApiError, CiState, Json};
use crate::domain::AppId;
use crate::model::{AuditEntry, Grain, Scope, Token};
use crate::wire::{AuditList, AuditQuery, ErrorBody, UsageAnswer, UsageQuery};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Serialize;

/// Most entries one page of the audit log holds.
pub const AUDIT_PAGE_MAX: usize = 500;

/// A new audit entry id: milliseconds since the epoch, then randomness, so
/// ids sort by time and never collide.
pub(super) fn entry_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut r = [0u8; 8];
    // An entry without randomness still sorts; collisions then show as a
    // logged conflict rather than a lost request.
    let _ = getrandom::fill(&mut r);
    format!("{millis:013}-{}", hex::encode(r))
}

/// What one write changed, for [`record`].
#[derive(Debug)]
pub(super) struct Change<'a> {
    /// The app concerned (`None`: global).
    pub app: Option<&'a AppId>,
    /// Such as `deploy`.
    pub action: &'a str,
    /// Such as `channel production`.
    pub target: String,
    /// The record before.
    pub before: Option<serde_json::Value>,
    /// The record after.
    pub after: Option<serde_json::Value>,
}

/// A record as the audit log keeps it.
pub(super) fn snapshot<T: Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}

/// Records a write that has happened. A failure to record is logged as an
/// error, not answered: the change is made and the caller must learn so.
pub(super) async fn record(s: &CiState, token: &Token, change: Change<'_>) {
    let entry = AuditEntry {
        id: entry_id(),
        at: crate::model::now(),
        app_id: change.app.cloned(),
        actor: token.actor(),
        via: if token.session_of.is_some() {
            "console"
        } else {
            "api"
        }
        .into(),
        action: change.action.into(),
        target: change.target,
        before: change.before,
        after: change.after,
    };
    if let Err(e) = s.records.append_audit(&entry).await {
        tracing::error!(error = %e, action = %entry.action, target = %entry.target,
            "could not record an audit entry");
    }
}

#[utoipa::path(get, path = "/v1/apps/{app}/audit", params(("app" = AppId, Path, description = "The app id"), AuditQuery),
    responses((status = 200, body = AuditList), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn list_audit(
    State(s): State<CiState>,
    Path(app): Path<String>,
    Query(q): Query<AuditQuery>,
    headers: HeaderMap,
) -> Result<Json<AuditList>, ApiError> {
    let app_id = access(&s, &headers, &app, Scope::Read).await?.app.app_id;
    let limit = q.limit.unwrap_or(100).clamp(1, AUDIT_PAGE_MAX as u32) as usize;
    let entries = s
        .records
        .audit(Some(&app_id), q.before.as_deref(), limit)
        .await?;
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.id.clone()))
        .flatten();
    Ok(Json(AuditList { entries, next }))
}

/// Reads the usage buckets of a channel ending with the current bucket.
#[utoipa::path(get, path = "/v1/apps/{app}/channels/{channel}/usage", params(("app" = AppId, Path, description = "The app id"), ("channel" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "The channel"), UsageQuery),
    responses((status = 200, body = UsageAnswer), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn channel_usage(
    State(s): State<CiState>,
    Path((app, channel)): Path<(String, String)>,
    Query(q): Query<UsageQuery>,
    headers: HeaderMap,
) -> Result<Json<UsageAnswer>, ApiError> {
    let app_id = access(&s, &headers, &app, Scope::Read).await?.app.app_id;
    super::ci::check_channel_name(&channel)?;
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
