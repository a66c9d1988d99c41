//! The conformance suite every storage implementation must pass. Generic over
//! the traits; the SQLite/directory backends run it in the tests crate, and
//! the AWS backends run the very same functions against moto.

use super::{
    BlobKey, BlobRead, BlobWrite, BuildInsert, EventWrite, RecordRead, RecordWrite, StoreError,
};
use crate::domain::{AppId, BuildVersion};
use crate::hash::Sha256Digest;
use crate::model::{
    App, ArtifactType, AuditEntry, Build, Channel, Commit, Event, EventKind, Grain, NativeLimit,
    NativeLimits, Scope, Token, UsageBucket,
};
use bytes::Bytes;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

fn unique_app(prefix: &str) -> AppId {
    let mut r = [0u8; 6];
    getrandom::fill(&mut r).expect("random");
    AppId::new(format!("{prefix}-{}", hex::encode(r))).expect("valid app id")
}

fn sample_build(app: &AppId, version: &str, manifest: &[u8]) -> Build {
    Build {
        id: 0,
        app_id: app.clone(),
        version: BuildVersion::new(version).expect("valid version"),
        artifact_type: ArtifactType::Manifest,
        artifact_url: None,
        manifest_sha256: Sha256Digest::of(manifest),
        zip: None,
        zip_rsa_signature: None,
        capgo_encrypted: None,
        brotli: false,
        file_count: 3,
        total_size: 300,
        key_id: None,
        commit: Commit {
            r#ref: Some("main".into()),
            sha: Some("abc123".into()),
            message: Some("Fix login".into()),
        },
        mandatory: false,
        disabled: false,
        native: NativeLimits::new(),
        created_at: 1_700_000_000,
    }
}

/// Runs every record-store check.
pub async fn records<S: RecordWrite + EventWrite>(store: Arc<S>) {
    apps_round_trip(&*store).await;
    tokens_by_hash(&*store).await;
    builds_register_and_update(&*store).await;
    channel_compare_and_set(store.clone()).await;
    concurrent_channel_writers(store.clone()).await;
    exact_counters_under_concurrency(store.clone()).await;
    usage_buckets(&*store).await;
    audit_log(store.clone()).await;
    device_channels(&*store).await;
}

/// Hourly and daily usage per channel and build: events per kind, and
/// distinct devices per bucket.
async fn usage_buckets<S: RecordRead + EventWrite>(s: &S) {
    let app = unique_app("usage");
    let day = 20_000 * 86_400;
    let ev = |build, device: &str, channel: &str, kind, at| Event {
        app_id: app.clone(),
        build_id: build,
        device_id: device.into(),
        channel: channel.into(),
        kind,
        at,
    };
    use EventKind::*;
    s.record_events(&[
        ev(1, "a", "production", DownloadComplete, day + 10),
        ev(1, "a", "production", Applied, day + 20),
        ev(1, "b", "production", DownloadComplete, day + 30),
        ev(2, "a", "production", Failed, day + 3_600 + 5),
        ev(1, "a", "production", Applied, day + 3_600 + 6),
        ev(1, "c", "beta", Applied, day + 40),
    ])
    .await
    .unwrap();
    s.record_events(&[ev(1, "b", "production", RolledBack, day + 86_400 + 1)])
        .await
        .unwrap();
    let counts = |b: &UsageBucket| {
        EventKind::ALL
            .iter()
            .map(|k| b.events.get(k).copied().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    // (start after `day`, build, events per kind, devices) of two days.
    let read = |grain| {
        let app = app.clone();
        async move {
            s.usage(&app, "production", grain, day, day + 2 * 86_400)
                .await
                .unwrap()
                .iter()
                .map(|b| (b.start - day, b.build_id, counts(b), b.devices))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        read(Grain::Hour).await,
        vec![
            (0, 1, vec![2, 1, 0, 0], 2),
            (3_600, 1, vec![0, 1, 0, 0], 1),
            (3_600, 2, vec![0, 0, 1, 0], 1),
            (86_400, 1, vec![0, 0, 0, 1], 1),
        ]
    );
    // Device "a" reported build 1 in two hours of the day: one device.
    assert_eq!(
        read(Grain::Day).await,
        vec![
            (0, 1, vec![2, 2, 0, 0], 2),
            (0, 2, vec![0, 0, 1, 0], 1),
            (86_400, 1, vec![0, 0, 0, 1], 1),
        ]
    );
    // The window is half-open, and channels are apart.
    let first_hour = s
        .usage(&app, "production", Grain::Hour, day, day + 3_600)
        .await
        .unwrap();
    assert_eq!(first_hour.len(), 1);
    let beta = s
        .usage(&app, "beta", Grain::Day, day, day + 86_400)
        .await
        .unwrap();
    assert_eq!((beta.len(), beta[0].devices), (1, 1));
}

async fn audit_log<S: RecordWrite>(s: Arc<S>) {
    let app = unique_app("audit");
    let entry = |i: u32, app: Option<AppId>| AuditEntry {
        id: format!("{:013}-{i:08x}", 1_000 + i),
        at: 1_000 + i64::from(i),
        app_id: app,
        actor: crate::model::TokenRef {
            id: "tok_1".into(),
            name: "ci".into(),
            secret_sha256: None,
        },
        via: "api".into(),
        action: "deploy".into(),
        target: format!("channel c{i}"),
        before: None,
        after: Some(serde_json::json!({ "n": i })),
    };
    // Concurrent writers lose nothing.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (s, e) = (s.clone(), entry(i, Some(app.clone())));
        tasks.push(tokio::spawn(
            async move { s.append_audit(&e).await.unwrap() },
        ));
    }
    for t in tasks {
        t.await.unwrap();
    }
    s.append_audit(&entry(99, None)).await.unwrap();
    assert!(matches!(
        s.append_audit(&entry(3, Some(app.clone()))).await,
        Err(StoreError::Conflict(_))
    ));
    let page = s.audit(Some(&app), None, 5).await.unwrap();
    let targets: Vec<_> = page.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "channel c11",
            "channel c10",
            "channel c9",
            "channel c8",
            "channel c7"
        ]
    );
    assert_eq!(page[0], entry(11, Some(app.clone())));
    let next = s.audit(Some(&app), Some(&page[4].id), 100).await.unwrap();
    assert_eq!(next.len(), 7);
    assert_eq!(next[0].target, "channel c6");
    let global = s.audit(None, None, 1000).await.unwrap();
    assert!(global.contains(&entry(99, None)));
    assert!(global.iter().all(|e| e.app_id.is_none()));
}

async fn device_channels<S: RecordRead + EventWrite>(s: &S) {
    let app = unique_app("devch");
    assert_eq!(s.device_channel(&app, "d1").await.unwrap(), None);
    s.set_device_channel(&app, "d1", Some("beta"))
        .await
        .unwrap();
    s.set_device_channel(&app, "d2", Some("alpha"))
        .await
        .unwrap();
    assert_eq!(
        s.device_channel(&app, "d1").await.unwrap().as_deref(),
        Some("beta")
    );
    s.set_device_channel(&app, "d1", Some("gamma"))
        .await
        .unwrap();
    assert_eq!(
        s.device_channel(&app, "d1").await.unwrap().as_deref(),
        Some("gamma")
    );
    s.set_device_channel(&app, "d1", None).await.unwrap();
    assert_eq!(s.device_channel(&app, "d1").await.unwrap(), None);
    assert_eq!(
        s.device_channel(&app, "d2").await.unwrap().as_deref(),
        Some("alpha")
    );
    assert_eq!(
        s.device_channel(&unique_app("other"), "d2").await.unwrap(),
        None
    );
}

/// Runs every blob-store check.
pub async fn blobs<B: BlobWrite>(store: Arc<B>) {
    blob_round_trip(&*store).await;
    blob_verified_upload(&*store).await;
}

async fn apps_round_trip<S: RecordWrite>(s: &S) {
    let id = unique_app("apps");
    assert_eq!(s.app(&id).await.unwrap(), None, "unknown app is None");
    let app = App {
        app_id: id.clone(),
        public_keys: vec!["-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----\n".into()],
        default_channel: "production".into(),
        rsa_public_key: Some("-----BEGIN PUBLIC KEY-----\nr\n-----END PUBLIC KEY-----\n".into()),
        root_public_key: Some(
            "-----BEGIN PUBLIC KEY-----\nroot\n-----END PUBLIC KEY-----\n".into(),
        ),
        created_at: 1,
    };
    s.create_app(&app).await.unwrap();
    assert_eq!(s.app(&id).await.unwrap(), Some(app.clone()));
    assert!(matches!(
        s.create_app(&app).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(s.apps().await.unwrap().contains(&app));
    let changed = App {
        public_keys: vec![],
        default_channel: "beta".into(),
        rsa_public_key: None,
        root_public_key: None,
        ..app.clone()
    };
    assert!(s.update_app(&changed).await.unwrap());
    assert_eq!(s.app(&id).await.unwrap(), Some(changed));
    let ghost = App {
        app_id: unique_app("ghost"),
        ..app
    };
    assert!(!s.update_app(&ghost).await.unwrap(), "update never creates");
    assert_eq!(s.app(&ghost.app_id).await.unwrap(), None);
    key_sets(s, &id).await;
    assert!(
        !s.put_key_sets(&ghost.app_id, &chain("ghost"), 1, 0)
            .await
            .unwrap(),
        "a key set never creates an app"
    );
    assert_eq!(s.app(&ghost.app_id).await.unwrap(), None);
}

fn chain(tag: &str) -> crate::keyset::KeySetChain {
    crate::keyset::KeySetChain {
        rotations: Vec::new(),
        current: crate::keyset::KeySetDocument {
            payload: tag.to_owned(),
            signatures: Vec::new(),
        },
    }
}

/// Key sets: compare-and-set on the version, and untouched by app updates.
async fn key_sets<S: RecordWrite>(s: &S, id: &AppId) {
    assert_eq!(s.key_sets(id).await.unwrap(), None);
    assert!(s.put_key_sets(id, &chain("v1"), 1, 0).await.unwrap());
    assert!(
        !s.put_key_sets(id, &chain("v1b"), 1, 0).await.unwrap(),
        "a second first set loses"
    );
    assert!(!s.put_key_sets(id, &chain("v3"), 3, 2).await.unwrap());
    assert_eq!(s.key_sets(id).await.unwrap(), Some(chain("v1")));
    let app = s.app(id).await.unwrap().unwrap();
    assert!(s.update_app(&app).await.unwrap());
    assert_eq!(
        s.key_sets(id).await.unwrap(),
        Some(chain("v1")),
        "an app update keeps the key set"
    );
    assert!(s.put_key_sets(id, &chain("v2"), 2, 1).await.unwrap());
    assert!(!s.put_key_sets(id, &chain("v2b"), 2, 1).await.unwrap());
    assert_eq!(s.key_sets(id).await.unwrap(), Some(chain("v2")));
    assert_eq!(
        s.app(id).await.unwrap(),
        Some(app),
        "and a key set keeps the app"
    );
}

async fn tokens_by_hash<S: RecordWrite>(s: &S) {
    let before = s.token_count().await.unwrap();
    let secret = unique_app("secret").to_string();
    let token = Token {
        id: unique_app("tok").to_string(),
        name: "ci".into(),
        app_id: Some(unique_app("tokapp")),
        scopes: vec![Scope::Upload, Scope::Deploy],
        secret_sha256: Sha256Digest::of(secret.as_bytes()),
        created_at: 2,
        last_used_at: None,
        expires_at: None,
        session_of: None,
    };
    // A console session keeps its expiry and the token it came from.
    let session = Token {
        id: unique_app("ses").to_string(),
        secret_sha256: Sha256Digest::of(unique_app("sessecret").as_str().as_bytes()),
        expires_at: Some(4_000_000_000),
        session_of: Some(crate::model::TokenRef {
            id: token.id.clone(),
            name: token.name.clone(),
            secret_sha256: Some(token.secret_sha256),
        }),
        ..token.clone()
    };
    s.create_token(&session).await.unwrap();
    assert_eq!(
        s.token_by_secret_hash(&session.secret_sha256)
            .await
            .unwrap(),
        Some(session.clone())
    );
    assert!(s.delete_token(&session.secret_sha256).await.unwrap());
    s.create_token(&token).await.unwrap();
    assert_eq!(s.token_count().await.unwrap(), before + 1);
    let found = s
        .token_by_secret_hash(&Sha256Digest::of(secret.as_bytes()))
        .await
        .unwrap();
    assert_eq!(found, Some(token.clone()));
    assert_eq!(
        s.token_by_secret_hash(&Sha256Digest::of(b"wrong"))
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        s.create_token(&token).await,
        Err(StoreError::Conflict(_))
    ));
    // Listed without anything secret beyond the hash; use is noted.
    assert!(s.tokens().await.unwrap().contains(&token));
    s.touch_token(&token.secret_sha256, 50).await.unwrap();
    let used = s
        .token_by_secret_hash(&token.secret_sha256)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.last_used_at, Some(50));
    // Revoked at once; noting a use afterwards does not bring it back.
    assert!(s.delete_token(&token.secret_sha256).await.unwrap());
    assert!(!s.delete_token(&token.secret_sha256).await.unwrap());
    s.touch_token(&token.secret_sha256, 60).await.unwrap();
    assert_eq!(
        s.token_by_secret_hash(&token.secret_sha256).await.unwrap(),
        None
    );
    assert!(!s.tokens().await.unwrap().iter().any(|t| t.id == token.id));
    assert_eq!(s.token_count().await.unwrap(), before);
}

async fn builds_register_and_update<S: RecordWrite>(s: &S) {
    let app = unique_app("builds");
    let b1 = match s
        .insert_build(sample_build(&app, "1.0.0", b"m1"))
        .await
        .unwrap()
    {
        BuildInsert::Created(b) => b,
        other => panic!("expected Created, got {other:?}"),
    };
    let b2 = match s
        .insert_build(sample_build(&app, "1.0.1", b"m2"))
        .await
        .unwrap()
    {
        BuildInsert::Created(b) => b,
        other => panic!("expected Created, got {other:?}"),
    };
    assert!(b2.id > b1.id, "ids increase");
    assert_eq!(s.build(&app, b1.id).await.unwrap(), Some(b1.clone()));
    assert_eq!(s.build(&app, 999_999_999).await.unwrap(), None);
    assert_eq!(
        s.build(&unique_app("other"), b1.id).await.unwrap(),
        None,
        "builds are per app"
    );
    assert_eq!(
        s.insert_build(sample_build(&app, "1.0.0", b"m1"))
            .await
            .unwrap(),
        BuildInsert::Existing(b1.clone())
    );
    assert_eq!(
        s.insert_build(sample_build(&app, "1.0.0", b"different"))
            .await
            .unwrap(),
        BuildInsert::VersionTaken(b1.clone())
    );
    let list = s.builds(&app).await.unwrap();
    assert_eq!(
        list.iter().map(|b| b.id).collect::<Vec<_>>(),
        vec![b2.id, b1.id]
    );
    let v = BuildVersion::new("1.0.1").unwrap();
    assert_eq!(
        s.build_by_version(&app, &v).await.unwrap(),
        Some(b2.clone())
    );

    let mut changed = b1.clone();
    changed.disabled = true;
    changed.mandatory = true;
    changed.native.insert(
        "ios".into(),
        NativeLimit {
            min: Some("2.0".into()),
            ..Default::default()
        },
    );
    changed.version = BuildVersion::new("9.9.9").unwrap(); // immutable: ignored
    assert!(s.update_build(&changed).await.unwrap());
    let stored = s.build(&app, b1.id).await.unwrap().unwrap();
    assert!(stored.disabled && stored.mandatory);
    assert_eq!(stored.native["ios"].min.as_deref(), Some("2.0"));
    assert_eq!(stored.version.as_str(), "1.0.0");
    let mut ghost = b1;
    ghost.id = 999_999_999;
    assert!(!s.update_build(&ghost).await.unwrap());
}

async fn channel_compare_and_set<S: RecordWrite>(s: Arc<S>) {
    let app = unique_app("chan");
    assert_eq!(s.channel(&app, "production").await.unwrap(), None);
    let mut ch = Channel::new(app.clone(), "production");
    ch.deploy(1, 100, 10);
    assert!(s.put_channel(&ch).await.unwrap(), "create");
    assert!(!s.put_channel(&ch).await.unwrap(), "create twice loses");
    let stored = s.channel(&app, "production").await.unwrap().unwrap();
    assert_eq!(stored.revision, 1);
    assert_eq!(stored.current.as_ref().unwrap().build_id, 1);
    let mut next = stored.clone();
    next.deploy(2, 50, 11);
    assert!(s.put_channel(&next).await.unwrap());
    let mut stale = stored;
    stale.deploy(3, 100, 12);
    assert!(
        !s.put_channel(&stale).await.unwrap(),
        "stale revision loses"
    );
    let now = s.channel(&app, "production").await.unwrap().unwrap();
    assert_eq!(now.revision, 2);
    assert_eq!(now.current.as_ref().unwrap().build_id, 2);
    assert_eq!(now.previous.len(), 1);
    let mut other = Channel::new(app.clone(), "beta");
    other.deploy(7, 100, 1);
    assert!(s.put_channel(&other).await.unwrap());
    let names: Vec<_> = s
        .channels(&app)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, vec!["beta".to_string(), "production".to_string()]);
    let beta = s.channel(&app, "beta").await.unwrap().unwrap();
    let stale = Channel {
        revision: beta.revision + 1,
        ..beta.clone()
    };
    assert!(
        !s.delete_channel(&stale).await.unwrap(),
        "stale delete loses"
    );
    assert!(s.delete_channel(&beta).await.unwrap());
    assert_eq!(s.channel(&app, "beta").await.unwrap(), None);
    assert!(!s.delete_channel(&beta).await.unwrap());
}

/// 20 writers deploy to one channel at once, each retrying on conflict: no
/// deploy is lost and the history holds all 20.
async fn concurrent_channel_writers<S: RecordWrite>(s: Arc<S>) {
    let app = unique_app("race");
    let mut tasks = Vec::new();
    for i in 1..=20u64 {
        let s = s.clone();
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..1000 {
                let mut ch = s
                    .channel(&app, "production")
                    .await
                    .unwrap()
                    .unwrap_or_else(|| Channel::new(app.clone(), "production"));
                ch.deploy(i, 100, i as i64);
                if s.put_channel(&ch).await.unwrap() {
                    return;
                }
                tokio::task::yield_now().await;
            }
            panic!("writer {i} never won");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let ch = s.channel(&app, "production").await.unwrap().unwrap();
    assert_eq!(ch.revision, 20);
    assert_eq!(ch.log.len(), 20, "every deploy is in the history");
    let mut ids: Vec<u64> = ch.log.iter().filter_map(|e| e.build_id).collect();
    ids.sort();
    assert_eq!(ids, (1..=20).collect::<Vec<_>>());
    assert_eq!(ch.previous.len(), 19);
    assert_eq!(
        ch.current.unwrap().build_id,
        ch.log.last().unwrap().build_id.unwrap()
    );
}

/// 2,000 events from concurrent tasks, some batched: counters are exact.
async fn exact_counters_under_concurrency<S: RecordRead + EventWrite>(s: Arc<S>) {
    let app = unique_app("events");
    let mut tasks = Vec::new();
    for t in 0..40 {
        let s = s.clone();
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let kind = EventKind::ALL[(t + i) % 4];
                let ev = Event {
                    app_id: app.clone(),
                    build_id: 5,
                    device_id: format!("d{t}-{i}"),
                    channel: "production".into(),
                    kind,
                    at: 100,
                };
                // Half the calls carry two events, as the capgo plugin batches.
                if i % 2 == 0 {
                    s.record_events(&[ev.clone(), ev]).await.unwrap();
                } else {
                    s.record_events(&[ev]).await.unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let counts = s.counters(&app, 5).await.unwrap();
    let total: u64 = counts.events.values().sum();
    // 40 tasks x 25 calls, 13 of them doubled.
    assert_eq!(total, 40 * (25 + 13));
    for kind in EventKind::ALL {
        assert!(counts.events[&kind] > 0);
    }
    // Each call came from its own device: a doubled event is one device.
    assert_eq!(counts.devices.values().sum::<u64>(), 40 * 25);
    // The usage bucket the events fell in is just as exact.
    let hour = s
        .usage(&app, "production", Grain::Hour, 0, 3_600)
        .await
        .unwrap();
    assert_eq!(hour.len(), 1);
    assert_eq!(hour[0].events.values().sum::<u64>(), total);
    assert_eq!(hour[0].devices, 40 * 25);
    let empty = s.counters(&app, 6).await.unwrap();
    assert_eq!(empty, crate::store::BuildCounts::default());
    // The same device reporting again counts as an event, not as a device.
    let again = Event {
        app_id: app.clone(),
        build_id: 5,
        device_id: "d0-0".into(),
        channel: "production".into(),
        kind: EventKind::ALL[0],
        at: 100,
    };
    s.record_events(std::slice::from_ref(&again)).await.unwrap();
    let after = s.counters(&app, 5).await.unwrap();
    assert_eq!(after.events[&again.kind], counts.events[&again.kind] + 1);
    assert_eq!(after.devices, counts.devices);
    let pruned = s.prune_events(101).await.unwrap();
    assert!(pruned > total, "{pruned}");
    assert_eq!(
        s.counters(&app, 5).await.unwrap(),
        after,
        "pruning keeps counters"
    );
}

async fn read_all<B: BlobRead>(b: &B, key: &BlobKey, range: Option<(u64, u64)>) -> Option<Vec<u8>> {
    let mut body = b.open(key, range).await.unwrap()?;
    let mut out = Vec::new();
    body.body.read_to_end(&mut out).await.unwrap();
    Some(out)
}

async fn blob_round_trip<B: BlobWrite>(b: &B) {
    let app = unique_app("blobs");
    let data = Bytes::from_static(b"{\"payload\":\"x\",\"signature\":null}");
    let key = BlobKey::manifest(&app, &Sha256Digest::of(&data));
    assert_eq!(b.head(&key).await.unwrap(), None);
    assert_eq!(b.get_bytes(&key).await.unwrap(), None);
    assert!(b.open(&key, None).await.unwrap().is_none());
    b.put_bytes(&key, data.clone()).await.unwrap();
    assert_eq!(b.head(&key).await.unwrap(), Some(data.len() as u64));
    assert_eq!(b.get_bytes(&key).await.unwrap(), Some(data.clone()));
    assert_eq!(read_all(b, &key, None).await.unwrap(), data.to_vec());
    assert_eq!(
        read_all(b, &key, Some((2, 8))).await.unwrap(),
        data[2..=8].to_vec()
    );
    let opened = b.open(&key, Some((0, 0))).await.unwrap().unwrap();
    assert_eq!(opened.total_size, data.len() as u64);
}

async fn blob_verified_upload<B: BlobWrite>(b: &B) {
    let app = unique_app("uploads");
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let sha = Sha256Digest::of(&body);
    let key = BlobKey::file(&app, &sha);
    let chunks: Vec<Bytes> = body.chunks(64 * 1024).map(Bytes::copy_from_slice).collect();
    let stream_of = |c: &Vec<Bytes>| Box::pin(futures::stream::iter(c.clone().into_iter().map(Ok)));

    // Wrong bytes for the key: refused, nothing stored.
    let wrong_key = BlobKey::file(&app, &Sha256Digest::of(b"something else"));
    let stream = stream_of(&chunks);
    let err = b
        .put_verified(
            &wrong_key,
            stream,
            &Sha256Digest::of(b"something else"),
            1 << 30,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::HashMismatch { .. }), "{err}");
    assert_eq!(b.head(&wrong_key).await.unwrap(), None);

    // Too large: refused, nothing stored.
    let stream = stream_of(&chunks);
    let err = b.put_verified(&key, stream, &sha, 1000).await.unwrap_err();
    assert!(matches!(err, StoreError::TooLarge { .. }), "{err}");
    assert_eq!(b.head(&key).await.unwrap(), None);

    let stream = stream_of(&chunks);
    assert_eq!(
        b.put_verified(&key, stream, &sha, 1 << 30).await.unwrap(),
        body.len() as u64
    );
    assert_eq!(read_all(b, &key, None).await.unwrap(), body);
}
