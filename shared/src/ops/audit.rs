//! The audit log: every write, recorded by the operation or handler that
//! made it.

use crate::domain::AppId;
use crate::model::{AuditEntry, Token};
use crate::store::RecordWrite;
use serde::Serialize;

/// A new audit entry id: milliseconds since the epoch, then randomness, so
/// ids sort by time and never collide.
pub fn entry_id() -> String {
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
pub struct Change<'a> {
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
pub fn snapshot<T: Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}

/// Records a write that has happened. A failure to record is logged as an
/// error, not answered: the change is made and the caller must learn so.
pub async fn record(records: &dyn RecordWrite, token: &Token, change: Change<'_>) {
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
    if let Err(e) = records.append_audit(&entry).await {
        tracing::error!(error = %e, action = %entry.action, target = %entry.target,
            "could not record an audit entry");
    }
}
