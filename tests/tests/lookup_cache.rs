//! The lookup cache refills each entry once however many lookups miss it
//! together (single flight): 200 concurrent lookups, at a cold start and
//! again across an expiry, cost exactly one read of the channel each time.

use async_trait::async_trait;
use axum::body::Body;
use axum::http::Request;
use liveship_core::domain::{AppId, BuildVersion};
use liveship_core::hash::Sha256Digest;
use liveship_core::http::{cache::LookupCache, device_router, DeviceState, Urls};
use liveship_core::model::{
    now, App, AuditEntry, Build, Channel, Grain, Timestamp, Token, UsageBucket,
};
use liveship_core::store::fs::FsBlobs;
use liveship_core::store::sqlite::SqliteRecords;
use liveship_core::store::{BuildCounts, RecordRead, RecordWrite, StoreError};
use liveship_tests::build_record;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt as _;

/// A record store that counts channel and app reads, and is slow enough
/// (5 ms a read) that concurrent misses really overlap.
struct Counting {
    inner: SqliteRecords,
    channel_reads: AtomicU64,
    app_reads: AtomicU64,
}

#[async_trait]
impl RecordRead for Counting {
    async fn app(&self, app: &AppId) -> Result<Option<App>, StoreError> {
        self.app_reads.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.inner.app(app).await
    }
    async fn key_sets(
        &self,
        app: &AppId,
    ) -> Result<Option<liveship_core::keyset::KeySetChain>, StoreError> {
        self.inner.key_sets(app).await
    }
    async fn build(&self, app: &AppId, id: u64) -> Result<Option<Build>, StoreError> {
        self.inner.build(app, id).await
    }
    async fn builds(&self, app: &AppId) -> Result<Vec<Build>, StoreError> {
        self.inner.builds(app).await
    }
    async fn build_by_version(
        &self,
        app: &AppId,
        version: &BuildVersion,
    ) -> Result<Option<Build>, StoreError> {
        self.inner.build_by_version(app, version).await
    }
    async fn channel(&self, app: &AppId, name: &str) -> Result<Option<Channel>, StoreError> {
        self.channel_reads.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.inner.channel(app, name).await
    }
    async fn channels(&self, app: &AppId) -> Result<Vec<Channel>, StoreError> {
        self.inner.channels(app).await
    }
    async fn token_by_secret_hash(&self, h: &Sha256Digest) -> Result<Option<Token>, StoreError> {
        self.inner.token_by_secret_hash(h).await
    }
    async fn token_count(&self) -> Result<u64, StoreError> {
        self.inner.token_count().await
    }
    async fn device_channel(&self, app: &AppId, d: &str) -> Result<Option<String>, StoreError> {
        self.inner.device_channel(app, d).await
    }
    async fn counters(&self, app: &AppId, build_id: u64) -> Result<BuildCounts, StoreError> {
        self.inner.counters(app, build_id).await
    }
    async fn apps(&self) -> Result<Vec<App>, StoreError> {
        self.inner.apps().await
    }
    async fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        self.inner.tokens().await
    }
    async fn usage(
        &self,
        app: &AppId,
        channel: &str,
        grain: Grain,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<UsageBucket>, StoreError> {
        self.inner.usage(app, channel, grain, from, to).await
    }
    async fn audit(
        &self,
        app: Option<&AppId>,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.audit(app, before, limit).await
    }
}

async fn lookups(router: &axum::Router, n: usize) {
    let all = (0..n).map(|i| {
        let r = router.clone();
        async move {
            let uri = format!(
                "/v1/apps/com.example.cache/channels/production/latest?device_id=d{i}&current_build=1"
            );
            let resp = r
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["status"], "up_to_date", "{v}");
        }
    });
    futures::future::join_all(all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_read_the_store_once() {
    let dir = tempfile::tempdir().unwrap();
    let records = SqliteRecords::open(&dir.path().join("db")).unwrap();
    let app = AppId::new("com.example.cache").unwrap();
    records
        .create_app(&App {
            app_id: app.clone(),
            public_keys: vec![],
            default_channel: "production".into(),
            rsa_public_key: None,
            root_public_key: None,
            created_at: now(),
        })
        .await
        .unwrap();
    records
        .insert_build(build_record(&app, 0, "1.0.0"))
        .await
        .unwrap();
    let mut ch = Channel::new(app.clone(), "production");
    ch.deploy(1, 100, now());
    assert!(records.put_channel(&ch).await.unwrap());

    let counting = Arc::new(Counting {
        inner: records,
        channel_reads: AtomicU64::new(0),
        app_reads: AtomicU64::new(0),
    });
    let ttl = Duration::from_millis(300);
    let router = device_router(DeviceState {
        records: counting.clone(),
        blobs: Arc::new(FsBlobs::open(&dir.path().join("blobs")).unwrap()),
        urls: Urls::new("http://127.0.0.1"),
        cache: Some(Arc::new(LookupCache::new(ttl))),
        guard: None,
    });

    lookups(&router, 200).await;
    assert_eq!(
        counting.channel_reads.load(Ordering::SeqCst),
        1,
        "cold start"
    );
    assert_eq!(counting.app_reads.load(Ordering::SeqCst), 1, "cold start");
    lookups(&router, 200).await;
    assert_eq!(
        counting.channel_reads.load(Ordering::SeqCst),
        1,
        "while fresh"
    );

    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    lookups(&router, 200).await;
    assert_eq!(
        counting.channel_reads.load(Ordering::SeqCst),
        2,
        "across the expiry"
    );
    assert_eq!(
        counting.app_reads.load(Ordering::SeqCst),
        2,
        "across the expiry"
    );
}
