//! A short-lived in-memory cache of what device lookups read (the app, the
//! channel, its builds, and manifest documents), so a busy lookup route does
//! not read the record store on every request.
//!
//! Entries expire after a TTL. Each entry is refilled once however many
//! lookups miss it at the same moment (single flight): the first miss starts
//! the load, the others wait for its result, so an expiry under load costs
//! one store read per entry, not one per waiting request.
//!
//! Where the writer runs in the same process
//! (`liveship serve`), every successful write through the CI routes bumps a
//! generation counter, which invalidates the cache at once; a separate
//! process (a Lambda function) relies on the TTL alone.

use super::error::ApiError;
use crate::domain::AppId;
use crate::hash::Sha256Digest;
use crate::model::App;
use crate::model::Build;
use crate::model::Channel;
use crate::ops;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

/// What a lookup needs about one channel.
#[derive(Debug)]
pub struct ChannelView {
    /// The app.
    pub app: App,
    /// The channel.
    pub channel: Channel,
    /// Every build the channel refers to.
    pub builds: HashMap<u64, Build>,
    /// The app's key set in force, when it pins a root key.
    pub(crate) keys: Option<ops::keys::AppKeys>,
    /// The serialised update answers of this view, per (build, mandatory):
    /// the answer depends on the device only through which build it is
    /// offered, so each is built once per channel state and then served as
    /// shared bytes. Dropped with the view.
    pub(crate) answers: Mutex<HashMap<(u64, bool), bytes::Bytes>>,
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

/// The result of one load, shared by every lookup waiting for it.
pub(crate) type ViewLoad = futures::future::Shared<
    futures::future::BoxFuture<'static, Result<Arc<ChannelView>, ApiError>>,
>;

#[derive(Debug)]
enum Slot {
    /// Loaded at the instant, under the generation.
    Ready(Instant, u64, Arc<ChannelView>),
    /// Being loaded under the generation.
    Loading(u64, ViewLoad),
}

/// A channel view's key, borrowed: it hashes as `(AppId, String)` does (a
/// newtype and a tuple hash as their fields in order), and compares equal
/// to the owned key with the same strings.
#[derive(Hash)]
struct ViewKey<'a>(&'a str, &'a str);

impl hashbrown::Equivalent<(AppId, String)> for ViewKey<'_> {
    fn equivalent(&self, key: &(AppId, String)) -> bool {
        self.0 == key.0.as_str() && self.1 == key.1
    }
}

/// The cache. Manifest documents are immutable (addressed by their hash),
/// so they are kept, already validated as JSON, until the size bound evicts them.
#[derive(Debug)]
pub struct LookupCache {
    ttl: Duration,
    generation: Invalidator,
    /// hashbrown's map, so a hit is found from borrowed strings
    /// ([`ViewKey`]) with no allocation per lookup.
    views: Mutex<hashbrown::HashMap<(AppId, String), Slot>>,
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
            views: Mutex::new(hashbrown::HashMap::new()),
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

    /// The cached view of a channel, or the result of `load` (given the
    /// checked app id), run once for all lookups that miss it together. A
    /// write in this process (a new generation) never joins a load that
    /// began before it.
    pub(crate) async fn view_or_load<F>(
        &self,
        app: &str,
        channel: &str,
        load: F,
    ) -> Result<Arc<ChannelView>, ApiError>
    where
        F: FnOnce(AppId) -> futures::future::BoxFuture<'static, Result<Arc<ChannelView>, ApiError>>,
    {
        use futures::FutureExt as _;
        let generation = self.generation.0.load(Ordering::SeqCst);
        let (shared, leader) = {
            let mut views = self.views.lock().expect("cache lock");
            match views.get(&ViewKey(app, channel)) {
                Some(Slot::Ready(at, g, v)) if *g == generation && at.elapsed() < self.ttl => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(v.clone());
                }
                Some(Slot::Loading(g, shared)) if *g == generation => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    (shared.clone(), false)
                }
                _ => {
                    self.misses.fetch_add(1, Ordering::Relaxed);
                    if views.len() >= MAX_VIEWS {
                        views.retain(|_, s| matches!(s, Slot::Loading(..)));
                    }
                    // The owned key, and the load, only on a miss.
                    let app = AppId::new(app).map_err(|_| ApiError::invalid_app(app))?;
                    let shared = load(app.clone()).shared();
                    views.insert(
                        (app, channel.to_owned()),
                        Slot::Loading(generation, shared.clone()),
                    );
                    (shared, true)
                }
            }
        };
        let result = shared.await;
        if leader {
            let mut views = self.views.lock().expect("cache lock");
            // Only replace our own load: a newer one may have taken the slot.
            let key = ViewKey(app, channel);
            if let Some(slot) = views.get_mut(&key) {
                if matches!(slot, Slot::Loading(g, _) if *g == generation) {
                    match &result {
                        Ok(v) => *slot = Slot::Ready(Instant::now(), generation, v.clone()),
                        Err(_) => {
                            views.remove(&key);
                        }
                    }
                }
            }
        }
        result
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
