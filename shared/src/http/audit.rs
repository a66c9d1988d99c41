//! The audit log: every write through the API, recorded by the handler
//! that made it, and `GET /v1/apps/{app}/audit`; and the usage buckets the
//! console's charts are drawn from.

use super::auth::access;
use super::error::ApiError;
use super::error::Json;
use super::state::CiState;
use crate::domain::AppId;
use crate::model::Scope;
use crate::wire::AuditList;
use crate::wire::AuditQuery;
use crate::wire::ErrorBody;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::http::HeaderMap;

/// Most entries one page of the audit log holds.
pub const AUDIT_PAGE_MAX: usize = 500;

#[utoipa::path(get, path = "/v1/apps/{app}/audit", params(("app" = AppId, Path, description = "The app id"), AuditQuery),
    responses((status = 200, body = AuditList), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_audit(
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
