//! Device events, the audit log and usage buckets.

use super::token::TokenRef;
use crate::domain::AppId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a device reports.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The build finished downloading.
    DownloadComplete,
    /// The build was applied.
    Applied,
    /// Download or apply failed.
    Failed,
    /// The device went back from the build.
    RolledBack,
}

impl EventKind {
    /// Every kind, in a fixed order.
    pub const ALL: [EventKind; 4] = [
        EventKind::DownloadComplete,
        EventKind::Applied,
        EventKind::Failed,
        EventKind::RolledBack,
    ];

    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::DownloadComplete => "download_complete",
            EventKind::Applied => "applied",
            EventKind::Failed => "failed",
            EventKind::RolledBack => "rolled_back",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One device event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The app.
    pub app_id: AppId,
    /// The build.
    pub build_id: u64,
    /// The device (opaque, from the device).
    pub device_id: String,
    /// The channel the device reported from (its own, or the app's default).
    pub channel: String,
    /// What happened.
    pub kind: EventKind,
    /// When it was received.
    pub at: Timestamp,
}

/// One write through the API, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Unique, sortable by time (`{at}-{random}`).
    pub id: String,
    /// When.
    pub at: Timestamp,
    /// The app it concerns (`None`: a global action such as an admin token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub app_id: Option<AppId>,
    /// The token that acted (id and name, never the secret).
    pub actor: TokenRef,
    /// `api` or `console`.
    pub via: String,
    /// What was done, such as `deploy`, `rollback`, `build.disable`.
    pub action: String,
    /// What it was done to, such as `channel production` or `build 7`.
    pub target: String,
    /// The record before (absent for a creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The record after (absent for a deletion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

/// The width of a usage bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grain {
    /// One hour.
    Hour,
    /// One day (UTC).
    Day,
}

impl Grain {
    /// Seconds in one bucket.
    pub fn seconds(self) -> i64 {
        match self {
            Grain::Hour => 3600,
            Grain::Day => 86_400,
        }
    }
    /// The start of the bucket holding `at`.
    pub fn start(self, at: Timestamp) -> Timestamp {
        at - at.rem_euclid(self.seconds())
    }
    /// A one-letter code for keys.
    pub fn code(self) -> &'static str {
        match self {
            Grain::Hour => "h",
            Grain::Day => "d",
        }
    }
}

/// The device events of one build on one channel in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsageBucket {
    /// Start of the bucket (Unix seconds).
    pub start: Timestamp,
    /// The build.
    pub build_id: u64,
    /// Events per kind (hourly buckets; summed for days).
    #[schema(value_type = Object)]
    pub events: BTreeMap<EventKind, u64>,
    /// Distinct devices that reported anything about the build in the bucket.
    pub devices: u64,
}
