//! The state each slice of the router holds: only the store capabilities
//! it needs (the device slice cannot write builds or channels).

use super::{cache, guard};
use crate::domain::AppId;
use crate::hash::Sha256Digest;
use crate::store::BlobRead;
use crate::store::BlobWrite;
use crate::store::EventWrite;
use crate::store::RecordRead;
use crate::store::RecordWrite;
use std::sync::Arc;

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
debug_state!(Stores);
