//! A short-lived in-memory cache of what device lookups read (the app, the
//! channel, its builds, and manifest documents), so a busy lookup route does
//! not read the record store on every request.
//!
//! Entries expire after a TTL. Where the writer runs in the same process
//! (`liveship serve`), every successful write through the CI routes bumps a
//! generation counter, which invalidates the cache at once; a separate
//! process (a Lambda function) relies on the TTL alone.

use crate::domain::AppId;
use crate::hash::Sha256Digest;
use crate::model::{App, Build, Channel};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a lookup needs about one channel.
#[derive(Debug)]
pub struct ChannelView {
    /// The app.
    pub app: App,
    /// The channel.
    pub channel: Channel,
    /// Every build the channel refers to.
    pub builds: HashMap<u64, Build>,
}

/// Bumps the cache generation; held by the write side.
#[derive(Debug, Clone, Default)]
pub struct Invalidator(Arc<AtomicU64>);

impl Invalidator {
    /// Invalidates every cached channel view.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

type ViewEntry = (Instant, u64, Arc<ChannelView>);

/// The cache. Manifest documents are immutable (addressed by their hash),
/// so they are kept, already validated as JSON, until the size bound evicts them.
#[derive(Debug)]
pub struct LookupCache {
    ttl: Duration,
    generation: Invalidator,
    views: Mutex<HashMap<(AppId, String), ViewEntry>>,
    manifests: Mutex<HashMap<(AppId, Sha256Digest), Box<RawValue>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Most manifest documents kept.
const MAX_MANIFESTS: usize = 256;
/// Most channel views kept.
const MAX_VIEWS: usize = 4096;

impl LookupCache {
    /// A cache whose channel views live at most `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            generation: Invalidator::default(),
            views: Mutex::new(HashMap::new()),
            manifests: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The handle writers use to invalidate this cache.
    pub fn invalidator(&self) -> Invalidator {
        self.generation.clone()
    }

    /// (hits, misses) of channel views so far.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn view(&self, app: &AppId, channel: &str) -> Option<Arc<ChannelView>> {
        let generation = self.generation.0.load(Ordering::SeqCst);
        let views = self.views.lock().expect("cache lock");
        let found = views
            .get(&(app.clone(), channel.to_owned()))
            .filter(|(at, g, _)| *g == generation && at.elapsed() < self.ttl)
            .map(|(_, _, v)| v.clone());
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        } else {
            self.misses.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// The generation to store a view under: read it before loading, so a
    /// write during the load makes the stored view stale, never wrong.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.0.load(Ordering::SeqCst)
    }

    pub(crate) fn put_view(&self, generation: u64, view: Arc<ChannelView>) {
        let mut views = self.views.lock().expect("cache lock");
        if views.len() >= MAX_VIEWS {
            views.clear();
        }
        views.insert(
            (view.app.app_id.clone(), view.channel.name.clone()),
            (Instant::now(), generation, view),
        );
    }

    pub(crate) fn manifest(&self, app: &AppId, sha: &Sha256Digest) -> Option<Box<RawValue>> {
        self.manifests
            .lock()
            .expect("cache lock")
            .get(&(app.clone(), *sha))
            .cloned()
    }

    pub(crate) fn put_manifest(&self, app: &AppId, sha: Sha256Digest, doc: Box<RawValue>) {
        let mut m = self.manifests.lock().expect("cache lock");
        if m.len() >= MAX_MANIFESTS {
            m.clear();
        }
        m.insert((app.clone(), sha), doc);
    }
}
