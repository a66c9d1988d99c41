//! The update service end to end: a real `liveship serve` on a free port,
//! driven by the real CLI and by HTTP as devices would.

use liveship_core::hash::Sha256Digest;
use liveship_core::keys::SigningKey;
use liveship_core::manifest::{FileEntry, Manifest, ManifestDocument, Verifier};
use liveship_core::paths::ManifestPath;
use liveship_tests::world::{as_refs, deploy, register, sample_files, World};
use liveship_tests::write;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_story_publish_deploy_download_report() {
    let w = World::new();
    let t = w.app("com.example.story");
    let files = sample_files();
    let dir = w.build_dir("www", &as_refs(&files));

    let first = w.upload(
        &t.ci,
        "com.example.story",
        &dir,
        "1.0.0",
        &["--channel", "production"],
    );
    assert_eq!(first["created"], true);
    assert_eq!(first["uploaded"], 4);
    assert_eq!(first["already_stored"], 0);
    let build1 = first["build_id"].as_u64().unwrap();

    // A device asks, verifies the signature with the key compiled into the app,
    // then downloads every file and checks its hash.
    let latest = w
        .latest(
            "com.example.story",
            "production",
            "device_id=dev-1&platform=ios&native_version=1.0",
        )
        .await;
    assert_eq!(latest.status, "update_available");
    let offered = latest.build.as_ref().unwrap();
    assert_eq!(offered.id, build1);
    assert_eq!(offered.version.as_str(), "1.0.0");
    let doc =
        ManifestDocument::from_slice(latest.manifest.as_ref().unwrap().get().as_bytes()).unwrap();
    let verified = Verifier::new([w.public_key()]).verify(&doc).unwrap();
    verified
        .expect(
            Some(&"com.example.story".parse().unwrap()),
            Some(&"1.0.0".parse().unwrap()),
        )
        .unwrap();
    let source = latest.files.as_ref().unwrap();
    assert_eq!(source.key, "sha256");
    for f in &verified.files {
        let resp = w
            .http
            .get(format!("{}{}", source.base_url, f.sha256))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let bytes = resp.bytes().await.unwrap();
        assert_eq!(Sha256Digest::of(&bytes), f.sha256, "{}", f.path);
    }
    let up_to_date = w
        .latest(
            "com.example.story",
            "production",
            &format!("device_id=dev-1&current_build={build1}"),
        )
        .await;
    assert_eq!(up_to_date.status, "up_to_date");

    // Events, then stats through the CLI.
    for event in ["download_complete", "applied", "applied"] {
        let (status, _) = w
            .call(
                Method::POST,
                "/v1/apps/com.example.story/events",
                None,
                Some(json!({"device_id": "dev-1", "build_id": build1, "event": event})),
            )
            .await;
        assert_eq!(status, 202);
    }
    let stats = w.cli(
        &t.deploy,
        &[
            "stats",
            "--app-id",
            "com.example.story",
            "--build-id",
            &build1.to_string(),
        ],
    );
    assert_eq!(stats["counts"]["applied"], 2);
    assert_eq!(stats["counts"]["download_complete"], 1);
    assert_eq!(stats["counts"]["failed"], 0);

    // The second upload with one changed file sends one file.
    write(&w.path().join("www"), "js/app.js", b"console.log('v2')");
    let second = w.upload(
        &t.ci,
        "com.example.story",
        &dir,
        "1.0.1",
        &["--channel", "production"],
    );
    assert_eq!(second["uploaded"], 1, "{second}");
    assert_eq!(second["already_stored"], 3);
    // The same manifest again answers the existing build.
    let again = w.upload(&t.upload, "com.example.story", &dir, "1.0.1", &[]);
    assert_eq!(again["created"], false);
    assert_eq!(again["build_id"], second["build_id"]);
    // A different manifest under an existing version is a conflict.
    write(&w.path().join("www"), "js/app.js", b"console.log('v3')");
    let (code, _, err) = w.try_upload(&t.upload, "com.example.story", &dir, "1.0.1", &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("409") && err.contains("already build"),
        "{err}"
    );

    // Zip artifacts: the lookup points at the zip and its signed hash.
    let zip = w.upload(
        &t.ci,
        "com.example.story",
        &dir,
        "1.1.0-zip",
        &[
            "--artifact-type",
            "zip",
            "--channel",
            "zips",
            "--create-channel",
        ],
    );
    // Without the deploy scope, --channel is refused after the build is registered.
    let (code, _, err) = w.try_upload(
        &t.upload,
        "com.example.story",
        &dir,
        "1.1.0-zip",
        &[
            "--artifact-type",
            "zip",
            "--channel",
            "zips",
            "--create-channel",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("403"), "{err}");
    let latest = w
        .latest("com.example.story", "zips", "device_id=dev-2")
        .await;
    assert_eq!(
        latest.build.as_ref().unwrap().id,
        zip["build_id"].as_u64().unwrap()
    );
    let bytes = w.fetch(&latest.zip_url.clone().unwrap()).await;
    assert_eq!(Sha256Digest::of(&bytes), latest.zip_sha256.unwrap());
    assert_eq!(bytes.len() as u64, latest.zip_size.unwrap());

    // Lists.
    let builds = w.cli(
        &t.deploy,
        &["builds", "list", "--app-id", "com.example.story"],
    );
    assert_eq!(builds["builds"].as_array().unwrap().len(), 3);
    let channels = w.cli(
        &t.deploy,
        &["channels", "list", "--app-id", "com.example.story"],
    );
    let names: Vec<_> = channels["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["production", "zips"]);

    // No token ever reaches the log.
    let log = w.server.log();
    assert!(log.contains("request"), "one line per request is logged");
    for secret in [w.admin(), &t.upload, &t.ci, &t.deploy, &t.admin] {
        assert!(!log.contains(secret), "a token leaked into the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_support_etag_and_ranges() {
    let w = World::new();
    let t = w.app("com.example.files");
    let files = sample_files();
    let dir = w.build_dir("www", &as_refs(&files));
    w.upload(&t.upload, "com.example.files", &dir, "1.0.0", &[]);
    let sha = Sha256Digest::of(&files[3].1);
    let url = format!("{}/v1/apps/com.example.files/files/{sha}", w.server.url);
    let r = w
        .http
        .get(&url)
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 10-19/5000");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &files[3].1[10..20]);
    let r = w
        .http
        .get(&url)
        .header("if-none-match", format!("\"{sha}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let r = w
        .http
        .get(&url)
        .header("range", "bytes=9000-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    let r = w
        .http
        .get(format!(
            "{}/v1/apps/com.example.files/files/{}",
            w.server.url,
            Sha256Digest::of(b"nope")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn staged_rollout_is_close_and_stable() {
    let w = World::new();
    let t = w.app("com.example.rollout");
    let app = "com.example.rollout";
    let (_, b1) = register(&w, &t.upload, app, "1.0.0", b"one", json!({})).await;
    let (_, b2) = register(&w, &t.upload, app, "2.0.0", b"two", json!({})).await;
    let (b1, b2) = (
        b1["build"]["id"].as_u64().unwrap(),
        b2["build"]["id"].as_u64().unwrap(),
    );
    deploy(&w, &t.deploy, app, "production", b1, 100).await;
    deploy(&w, &t.deploy, app, "production", b2, 10).await;

    use futures::StreamExt;
    let answers: Vec<u64> = futures::stream::iter(0..10_000)
        .map(|i| {
            let w = &w;
            async move {
                let l = w
                    .latest(app, "production", &format!("device_id=device-{i}"))
                    .await;
                l.build.unwrap().id
            }
        })
        .buffered(32)
        .collect()
        .await;
    let new = answers.iter().filter(|id| **id == b2).count();
    assert!(
        (800..=1200).contains(&new),
        "{new} of 10,000 devices got the 10% build"
    );
    assert_eq!(answers.iter().filter(|id| **id == b1).count(), 10_000 - new);
    for i in (0..10_000).step_by(97) {
        let again = w
            .latest(app, "production", &format!("device_id=device-{i}"))
            .await;
        assert_eq!(
            again.build.unwrap().id,
            answers[i],
            "device-{i} got a different answer"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn native_limits_disabled_builds_rollback_and_mandatory() {
    let w = World::new();
    let t = w.app("com.example.rules");
    let app = "com.example.rules";
    let id = |v: &Value| v["build"]["id"].as_u64().unwrap();
    let (s, b1) = register(&w, &t.upload, app, "1.0.0", b"1", json!({})).await;
    assert_eq!(s, 201);
    let (_, b2) = register(
        &w,
        &t.upload,
        app,
        "1.1.0",
        b"2",
        json!({"mandatory": true}),
    )
    .await;
    let (_, b3) = register(&w, &t.upload, app, "1.2.0", b"3", json!({})).await;
    let (b1, b2, b3) = (id(&b1), id(&b2), id(&b3));
    for b in [b1, b2, b3] {
        deploy(&w, &t.deploy, app, "production", b, 100).await;
    }
    let q =
        |cur: u64| format!("device_id=d&platform=android&native_version=3.1.0&current_build={cur}");

    // Transitive mandatory: 1 -> 3 skips the mandatory 2.
    let l = w.latest(app, "production", &q(b1)).await;
    assert_eq!(
        (l.build.as_ref().unwrap().id, l.build.unwrap().mandatory),
        (b3, true)
    );
    let l = w.latest(app, "production", &q(b2)).await;
    assert!(!l.build.unwrap().mandatory);

    // Native limits through the CLI: build 3 needs Android >= 4.0.
    w.cli(
        &t.deploy,
        &[
            "live-update",
            "set-native-versions",
            "--app-id",
            app,
            "--build-id",
            &b3.to_string(),
            "--android-min",
            "4.0",
        ],
    );
    let l = w.latest(app, "production", &q(b1)).await;
    assert_eq!(
        l.build.unwrap().id,
        b2,
        "Android 3.1 gets the newest build its binary allows"
    );
    let l = w
        .latest(
            app,
            "production",
            "device_id=d&platform=android&native_version=4.10&current_build=1",
        )
        .await;
    assert_eq!(l.build.unwrap().id, b3, "4.10 > 4.0 numerically");
    let l = w
        .latest(
            app,
            "production",
            "device_id=d&platform=ios&native_version=1.0",
        )
        .await;
    assert_eq!(l.build.unwrap().id, b3, "limits are per platform");

    // Disabling: never offered; a device on a disabled build with nothing left goes back to builtin.
    w.cli(
        &t.deploy,
        &[
            "builds",
            "disable",
            "--app-id",
            app,
            "--build-id",
            &b2.to_string(),
        ],
    );
    let l = w.latest(app, "production", &q(b1)).await;
    assert_eq!(
        l.status, "up_to_date",
        "2 disabled, 3 too new: device stays on 1"
    );
    w.cli(
        &t.deploy,
        &[
            "builds",
            "disable",
            "--app-id",
            app,
            "--build-id",
            &b1.to_string(),
        ],
    );
    let l = w.latest(app, "production", &q(b1)).await;
    assert_eq!(l.status, "rollback_to_builtin");
    w.cli(
        &t.deploy,
        &[
            "builds",
            "enable",
            "--app-id",
            app,
            "--build-id",
            &b1.to_string(),
        ],
    );

    // Rollback walks the channel's history.
    let ch = w.cli(
        &t.deploy,
        &["rollback", "--app-id", app, "--channel", "production"],
    );
    assert_eq!(ch["channel"]["current"]["build_id"], b2);
    let ch = w.cli(
        &t.deploy,
        &["rollback", "--app-id", app, "--channel", "production"],
    );
    assert_eq!(ch["channel"]["current"]["build_id"], b1);
    let (code, _, err) = w.server.cli(
        &t.deploy,
        w.path(),
        &["rollback", "--app-id", app, "--channel", "production"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("no earlier build"), "{err}");
    let l = w
        .latest(
            app,
            "production",
            "device_id=d&platform=ios&native_version=9",
        )
        .await;
    assert_eq!(l.build.unwrap().id, b1);
}

/// Every non-public route, with no token, a wrong token, another app's
/// token and a too-small scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn authorization_matrix() {
    use liveship_core::http::openapi::{Access, ROUTES};
    let w = World::new();
    let mine = w.app("com.example.mine");
    let theirs = w.app("com.example.theirs");
    let sha = Sha256Digest::of(b"x").to_hex();
    let mut checked = 0;
    for r in ROUTES {
        let path = r
            .path
            .replace("{app}", "com.example.mine")
            .replace("{sha256}", &sha)
            .replace("{id}", "1")
            .replace("{channel}", "production");
        let method = Method::from_bytes(r.method.as_bytes()).unwrap();
        let body = match (r.method, r.path) {
            ("POST", "/v1/apps") => Some(json!({"app_id": "com.example.new"})),
            ("POST", "/v1/tokens") => {
                Some(json!({"name": "n", "app_id": "com.example.mine", "scopes": ["upload"]}))
            }
            ("POST", p) if p.ends_with("/uploads") => Some(json!({"files": []})),
            ("POST", p) if p.ends_with("/builds") => Some(
                json!({"manifest": {"payload": "", "signature": null}, "artifact_type": "manifest"}),
            ),
            ("PATCH", _) => Some(json!({"disabled": false})),
            ("PUT", p) if p.contains("/channels/") => Some(json!({"build_id": 1})),
            ("POST", p) if p.ends_with("/events") => {
                Some(json!({"device_id": "d", "build_id": 1, "event": "applied"}))
            }
            _ => None,
        };
        let send = |token: Option<String>| {
            let (method, path, body) = (method.clone(), path.clone(), body.clone());
            let w = &w;
            async move {
                let mut rb = w.http.request(method, format!("{}{path}", w.server.url));
                if let Some(t) = token {
                    rb = rb.bearer_auth(t);
                }
                if let Some(b) = body {
                    rb = rb.json(&b);
                } else if r.method == "PUT" {
                    rb = rb.body("x");
                }
                let resp = rb.send().await.unwrap();
                let status = resp.status();
                (status, resp.text().await.unwrap())
            }
        };
        // The route exists: an admin never gets the router's fallback or a 405.
        let (s, text) = send(Some(w.admin().to_owned())).await;
        assert!(
            !text.contains("no such route") && s != 405,
            "{} {}: {s} {text}",
            r.method,
            r.path
        );
        if r.access == Access::Public {
            continue;
        }
        let (s, text) = send(None).await;
        if r.access == Access::ReadOrAnonymous {
            // No Authorization header at all: the public list, nothing more.
            assert_eq!(s, 200, "{} {} without a token: {text}", r.method, r.path);
            assert!(text.starts_with('['), "{text}");
        } else {
            assert_eq!(s, 401, "{} {} without a token: {text}", r.method, r.path);
            assert!(text.contains("\"error\":\"unauthorized\""), "{text}");
        }
        let (s, _) = send(Some("lsp_not_a_real_token".into())).await;
        assert_eq!(s, 401, "{} {} with a wrong token", r.method, r.path);
        // Routes of one app (and creating apps, or tokens for this app)
        // refuse another app's admin; token listing and revocation answer
        // it about its own tokens only (tests/tests/release.rs).
        let cross_app = r.path.contains("{app}")
            || r.access == Access::GlobalAdmin
            || (r.method, r.path) == ("POST", "/v1/tokens");
        if cross_app {
            let (s, _) = send(Some(theirs.admin.clone())).await;
            assert_eq!(
                s, 403,
                "{} {} with another app's admin token",
                r.method, r.path
            );
        }
        let too_small = match r.access {
            Access::Upload => Some(&mine.deploy),
            Access::Deploy
            | Access::Read
            | Access::ReadOrAnonymous
            | Access::Admin
            | Access::GlobalAdmin => Some(&mine.upload),
            Access::Any => None,
            Access::Public => unreachable!(),
        };
        if let Some(too_small) = too_small {
            let (s, _) = send(Some(too_small.clone())).await;
            assert_eq!(s, 403, "{} {} with a too-small scope", r.method, r.path);
        }
        if r.access == Access::GlobalAdmin {
            let (s, _) = send(Some(mine.admin.clone())).await;
            assert_eq!(s, 403, "{} {} needs a global admin", r.method, r.path);
        }
        checked += 1;
    }
    assert_eq!(
        checked,
        ROUTES.iter().filter(|r| r.access != Access::Public).count()
    );
    assert!(checked >= 12, "every protected route was checked");
    // The OpenAPI document lists exactly the routes of the table.
    let (_, doc) = w.call(Method::GET, "/v1/openapi.json", None, None).await;
    let n: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(n, ROUTES.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_clear_errors() {
    let w = World::new();
    let t = w.app("com.example.bad");
    let app = "com.example.bad";
    let url = |p: &str| format!("{}{p}", w.server.url);

    let r = w
        .http
        .post(url("/v1/apps"))
        .bearer_auth(w.admin())
        .header("content-type", "application/json")
        .body("{\"app_id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "bad_request");
    assert!(v["message"].as_str().unwrap().contains("not valid JSON"));

    let (s, v) = w
        .call(
            Method::POST,
            "/v1/apps",
            Some(w.admin()),
            Some(json!({"app_id": "bad id"})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), v["error"].as_str().unwrap()),
        (422, "invalid_request")
    );

    // A body over the limit: 413 (on its own connection, which the server
    // closes rather than read the rest).
    let huge = json!({"app_id": "x".repeat(2 * 1024 * 1024)});
    let once = liveship_tests::http_builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let r = once
        .post(url("/v1/apps"))
        .bearer_auth(w.admin())
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "payload_too_large");

    let (s, v) = w
        .call(
            Method::GET,
            "/v1/apps/com.example.nope/builds",
            Some(w.admin()),
            None,
        )
        .await;
    assert_eq!(s, 404, "{v}");
    let (s, _) = w
        .call(
            Method::GET,
            "/v1/apps/com.example.nope/channels/production/latest?device_id=d",
            None,
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = w
        .call(
            Method::GET,
            &format!("/v1/apps/{app}/channels/nope/latest?device_id=d"),
            None,
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = w
        .call(
            Method::GET,
            &format!("/v1/apps/{app}/channels/production/latest"),
            None,
            None,
        )
        .await;
    assert_eq!(s, 400, "device_id is required");

    let (s, _) = w
        .call(
            Method::POST,
            "/v1/apps",
            Some(w.admin()),
            Some(json!({"app_id": app})),
        )
        .await;
    assert_eq!(s, 409, "app exists");

    // A manifest with a traversal path, correctly signed.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = w.signing_key();
    let h = Sha256Digest::of(b"").to_hex();
    let payload = format!(
        r#"{{"type":"liveship-manifest","schema":1,"version":"6.6.6","files":[{{"path":"../../www/index.html","sha256":"{h}","size":0}}]}}"#
    );
    let doc = json!({"payload": b64.encode(&payload), "signature": {"alg": "ed25519", "key_id": key.public_key().key_id(), "sig": b64.encode(key.sign(payload.as_bytes()))}});
    let (s, v) = w
        .call(
            Method::POST,
            &format!("/v1/apps/{app}/builds"),
            Some(&t.upload),
            Some(json!({"manifest": doc, "artifact_type": "manifest"})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), v["error"].as_str().unwrap()),
        (422, "invalid_manifest"),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("'..'"), "{v}");

    // Signed by a key the app does not list.
    let stranger = SigningKey::generate().unwrap();
    let m = Manifest::new(
        None,
        Some("7.0.0".parse().unwrap()),
        vec![FileEntry {
            path: ManifestPath::new("a.js").unwrap(),
            sha256: Sha256Digest::of(b"a"),
            size: 1,
        }],
    )
    .unwrap();
    let (s, v) = w
        .call(
            Method::POST,
            &format!("/v1/apps/{app}/builds"),
            Some(&t.upload),
            Some(json!({"manifest": m.sign(&stranger), "artifact_type": "manifest"})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), v["error"].as_str().unwrap()),
        (422, "signature_invalid"),
        "{v}"
    );
    // Unsigned, for an app with keys.
    let (s, v) = w
        .call(
            Method::POST,
            &format!("/v1/apps/{app}/builds"),
            Some(&t.upload),
            Some(json!({"manifest": m.unsigned(), "artifact_type": "manifest"})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), v["error"].as_str().unwrap()),
        (422, "signature_invalid"),
        "{v}"
    );
    // Signed correctly, but the file was never uploaded.
    let (s, v) = w
        .call(
            Method::POST,
            &format!("/v1/apps/{app}/builds"),
            Some(&t.upload),
            Some(json!({"manifest": m.sign(&key), "artifact_type": "manifest"})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), v["error"].as_str().unwrap()),
        (422, "files_missing"),
        "{v}"
    );
    // Signed for another app.
    let other = Manifest::new(
        Some("com.example.other".parse().unwrap()),
        Some("7.0.1".parse().unwrap()),
        vec![],
    )
    .unwrap();
    let (s, v) = w
        .call(
            Method::POST,
            &format!("/v1/apps/{app}/builds"),
            Some(&t.upload),
            Some(json!({"manifest": other.sign(&key), "artifact_type": "manifest"})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), v["error"].as_str().unwrap()),
        (422, "app_mismatch"),
        "{v}"
    );

    // Uploaded bytes that do not match their hash are refused and not stored.
    let claimed = Sha256Digest::of(b"the real file");
    let r = w
        .http
        .put(url(&format!("/v1/apps/{app}/files/{claimed}")))
        .bearer_auth(&t.upload)
        .body("evil")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = w
        .http
        .get(url(&format!("/v1/apps/{app}/files/{claimed}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Deploying a build that does not exist, and a rollout out of range.
    let (s, _) = w
        .call(
            Method::PUT,
            &format!("/v1/apps/{app}/channels/production"),
            Some(&t.deploy),
            Some(json!({"build_id": 424242})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = w
        .call(
            Method::PUT,
            &format!("/v1/apps/{app}/channels/production"),
            Some(&t.deploy),
            Some(json!({"build_id": 1, "rollout_percent": 0})),
        )
        .await;
    assert!(s == 422 || s == 404, "{s}");
    let (s, _) = w
        .call(
            Method::POST,
            &format!("/v1/apps/{app}/events"),
            None,
            Some(json!({"device_id": "d", "build_id": 1, "event": "exploded"})),
        )
        .await;
    assert_eq!(s, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deploys_and_events_lose_nothing() {
    let w = World::new();
    let t = w.app("com.example.race");
    let app = "com.example.race";
    let mut ids = Vec::new();
    for i in 0..20 {
        let (_, b) = register(
            &w,
            &t.upload,
            app,
            &format!("1.0.{i}"),
            format!("b{i}").as_bytes(),
            json!({}),
        )
        .await;
        ids.push(b["build"]["id"].as_u64().unwrap());
    }
    let deploys = ids
        .iter()
        .map(|id| deploy(&w, &t.deploy, app, "production", *id, 100));
    futures::future::join_all(deploys).await;
    let (_, v) = w
        .call(
            Method::GET,
            &format!("/v1/apps/{app}/channels"),
            Some(&t.deploy),
            None,
        )
        .await;
    let ch = &v["channels"][0];
    assert_eq!(ch["revision"], 20);
    assert_eq!(ch["log"].as_array().unwrap().len(), 20, "complete history");
    assert_eq!(ch["previous"].as_array().unwrap().len(), 19);
    assert_eq!(
        ch["current"]["build_id"], ch["log"][19]["build_id"],
        "pointer is the last deploy"
    );

    use futures::StreamExt;
    let build = ids[0];
    let statuses: Vec<u16> = futures::stream::iter(0..2000)
        .map(|i| {
            let w = &w;
            async move {
                let kind = ["download_complete", "applied", "failed", "rolled_back"][i % 4];
                w.call(
                    Method::POST,
                    &format!("/v1/apps/{app}/events"),
                    None,
                    Some(json!({"device_id": format!("d{i}"), "build_id": build, "event": kind})),
                )
                .await
                .0
                .as_u16()
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 202));
    let (_, stats) = w
        .call(
            Method::GET,
            &format!("/v1/apps/{app}/builds/{build}/stats"),
            Some(&t.deploy),
            None,
        )
        .await;
    for kind in ["download_complete", "applied", "failed", "rolled_back"] {
        assert_eq!(stats["counts"][kind], 500, "{stats}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9() {
    let mut w = World::new();
    let t = w.app("com.example.durable");
    let app = "com.example.durable";
    let (_, first) = register(&w, &t.upload, app, "0.0.1", b"seed", json!({})).await;
    let seed = first["build"]["id"].as_u64().unwrap();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked_builds = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let acked_events = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let base = w.server.url.clone();
    let key_pem = w.signing_key().to_pem().unwrap();
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let (stop, acked_builds, acked_events, base, token, key_pem) = (
            stop.clone(),
            acked_builds.clone(),
            acked_events.clone(),
            base.clone(),
            t.upload.clone(),
            key_pem.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let http = liveship_tests::http();
            let key = SigningKey::from_pem(&key_pem).unwrap();
            let sha = Sha256Digest::of(b"seed");
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                i += 1;
                let m = Manifest::new(None, Some(format!("{worker}.{i}.0").parse().unwrap()),
                    vec![FileEntry { path: ManifestPath::new("index.html").unwrap(), sha256: sha, size: 4 }]).unwrap();
                let r = http.post(format!("{base}/v1/apps/{app}/builds")).bearer_auth(&token)
                    .json(&json!({"manifest": m.sign(&key), "artifact_type": "manifest"})).send().await;
                if let Ok(r) = r {
                    if r.status() == 201 {
                        if let Ok(v) = r.json::<Value>().await {
                            acked_builds.lock().unwrap().push(v["build"]["id"].as_u64().unwrap());
                        }
                    }
                }
                let r = http.post(format!("{base}/v1/apps/{app}/events"))
                    .json(&json!({"device_id": format!("w{worker}-{i}"), "build_id": seed, "event": "applied"})).send().await;
                if let Ok(r) = r {
                    if r.status() == 202 {
                        acked_events.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    w.server.kill_hard();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let builds = acked_builds.lock().unwrap().clone();
    let events = acked_events.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        builds.len() > 10 && events > 10,
        "the stream ran: {} builds, {events} events",
        builds.len()
    );

    w.server = w.server.restart();
    let (_, listed) = w
        .call(
            Method::GET,
            &format!("/v1/apps/{app}/builds"),
            Some(&t.deploy),
            None,
        )
        .await;
    let stored: std::collections::HashSet<u64> = listed["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_u64().unwrap())
        .collect();
    for id in &builds {
        assert!(stored.contains(id), "acknowledged build {id} was lost");
    }
    let (_, stats) = w
        .call(
            Method::GET,
            &format!("/v1/apps/{app}/builds/{seed}/stats"),
            Some(&t.deploy),
            None,
        )
        .await;
    let applied = stats["counts"]["applied"].as_u64().unwrap();
    assert!(
        applied >= events,
        "{applied} stored < {events} acknowledged events"
    );
}

/// The server's workers (one listening socket each on the same port) all
/// answer, and SIGTERM stops it cleanly: a request already sent is
/// answered, a kept-alive idle connection is closed at once (not held for
/// the 10 s drain), new connections are refused, and the process exits 0
/// having logged that it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_share_the_port_and_sigterm_drains_them() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut server = liveship_tests::Server::start_with_args(&["--workers", "3"]);
    let addr = server.url.trim_start_matches("http://").to_owned();
    // Many connections at once: the kernel spreads them over the three
    // sockets, and every one is answered.
    let http = liveship_tests::http_builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let answers = futures::future::join_all(
        (0..96).map(|_| http.get(format!("{}/healthz", server.url)).send()),
    )
    .await;
    for a in answers {
        assert_eq!(a.expect("answered").status(), 200);
    }
    assert!(server.log().contains("workers=3"), "{}", server.log());

    // A kept-alive connection whose lookups the fast path answered
    // (cli/src/h1.rs), idle when SIGTERM comes.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let unknown = exchange(
        &mut idle,
        "GET /v1/apps/com.example.none/channels/p/latest?device_id=d HTTP/1.1\r\nhost: x\r\n\r\n",
    )
    .await;
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");

    // A request that has fully arrived when SIGTERM does is still answered.
    let mut in_flight = tokio::net::TcpStream::connect(&addr).await.unwrap();
    in_flight
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let status = tokio::task::spawn_blocking(move || {
        let start = std::time::Instant::now();
        let status = server.stop_gracefully(std::time::Duration::from_secs(15));
        (status, start.elapsed(), server)
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        in_flight.read_to_end(&mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer:?}");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        idle.read_to_end(&mut rest),
    )
    .await;
    assert!(
        matches!(closed, Ok(Ok(0))),
        "the idle connection is closed at once: {closed:?}"
    );
    let (status, took, server) = status.await.unwrap();
    let status = status.expect("the server exits within 15 s of SIGTERM");
    assert!(
        took < std::time::Duration::from_secs(5),
        "the stop took {took:?}"
    );
    assert!(status.success(), "{status:?}\n{}", server.log());
    assert!(server.log().contains("stopped"), "{}", server.log());
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "nothing listens after the stop"
    );
}

/// Sends `request` on `stream` and reads one whole response (head and
/// `content-length` body), with the `date` value blanked.
async fn exchange(stream: &mut tokio::net::TcpStream, request: &str) -> String {
    use tokio::io::AsyncWriteExt;
    stream.write_all(request.as_bytes()).await.unwrap();
    read_response(stream).await
}

async fn read_response(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut byte))
            .await
            .expect("an answer within 5 s")
            .unwrap();
        assert_eq!(n, 1, "closed mid-head: {:?}", String::from_utf8_lossy(&got));
        got.push(byte[0]);
    }
    let head = String::from_utf8(got).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("a content-length")
        .parse()
        .unwrap();
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.unwrap();
    let head: Vec<String> = head
        .lines()
        .map(|l| match l.strip_prefix("date: ") {
            Some(d) => {
                assert!(httpdate_ok(d), "{d:?}");
                "date: <now>".to_owned()
            }
            None => l.to_owned(),
        })
        .collect();
    format!("{}{}", head.join("\n"), String::from_utf8(body).unwrap())
}

/// An IMF-fixdate such as `Wed, 02 Dec 2026 07:01:02 GMT`.
fn httpdate_ok(d: &str) -> bool {
    d.len() == 29 && d.ends_with(" GMT") && d.as_bytes()[3] == b','
}

/// `liveship serve` answers plain device lookups without the router
/// (cli/src/h1.rs). Every such answer must be the router's, byte for byte
/// apart from the date: an update, up to date, an unknown app, a bad device
/// id. The router's answer is had by escaping one path character, which
/// only the router decodes. Requests the fast path does not take (a query
/// that does not parse, another route, `Connection: close`) are answered by
/// the router on the same connection, pipelined requests are answered in
/// order, and each fast answer is logged as the router logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fast_lookup_path_answers_as_the_router_does() {
    let w = World::new();
    let t = w.app("com.example.fast");
    let files = sample_files();
    let dir = w.build_dir("www", &as_refs(&files));
    let build = w.upload(
        &t.ci,
        "com.example.fast",
        &dir,
        "1.0.0",
        &["--channel", "production"],
    )["build_id"]
        .as_u64()
        .unwrap();
    let addr = w.server.url.trim_start_matches("http://").to_owned();
    let get = |path: &str, extra: &str| format!("GET {path} HTTP/1.1\r\nhost: x\r\n{extra}\r\n");
    let fast_path = "/v1/apps/com.example.fast/channels/production/latest";
    let router_path = "/v1/apps/com.example%2Efast/channels/production/latest";
    let unknown = "/v1/apps/com.example.none/channels/production/latest";
    let cases = [
        (
            fast_path,
            router_path,
            "device_id=d1&native_version=1.0".to_owned(),
            "200 OK",
            "update_available",
        ),
        (
            fast_path,
            router_path,
            format!("device_id=d1&current_build={build}"),
            "200 OK",
            "up_to_date",
        ),
        (
            unknown,
            "/v1/apps/com.example%2Enone/channels/production/latest",
            "device_id=d1".to_owned(),
            "404 Not Found",
            "not_found",
        ),
        (
            fast_path,
            router_path,
            "device_id=%01".to_owned(),
            "400 Bad Request",
            "device_id must be",
        ),
    ];
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    for (fast, router, query, status, says) in &cases {
        let by_fast = exchange(&mut conn, &get(&format!("{fast}?{query}"), "")).await;
        // A fresh connection each time: the first request the fast path
        // does not take hands its connection to the router for good.
        let mut other = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let by_router = exchange(&mut other, &get(&format!("{router}?{query}"), "")).await;
        assert_eq!(by_fast, by_router, "{query}");
        assert!(
            by_fast.starts_with(&format!("HTTP/1.1 {status}\n")),
            "{by_fast}"
        );
        assert!(by_fast.contains(says), "{by_fast}");
    }
    let log = w.server.log();
    assert!(
        log.contains(&format!("path={fast_path} status=200")),
        "the fast path logs its requests: {log}"
    );
    assert!(!log.contains("device_id=d1"), "no query string in the log");

    // Pipelined: two lookups in one write, then another route, then a
    // lookup again, all on one connection.
    let two = get(&format!("{fast_path}?device_id=d2"), "").repeat(2);
    let first = exchange(&mut conn, &two).await;
    let second = read_response(&mut conn).await;
    assert!(first.starts_with("HTTP/1.1 200 OK"), "{first}");
    assert_eq!(first, second);
    let health = exchange(&mut conn, &get("/healthz", "")).await;
    assert!(health.starts_with("HTTP/1.1 200 OK"), "{health}");
    let again = exchange(&mut conn, &get(&format!("{fast_path}?device_id=d2"), "")).await;
    assert_eq!(again, first, "the router answers after the hand-over");

    // What the fast path leaves to the router is answered by it.
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let missing = exchange(&mut conn, &get(fast_path, "")).await;
    assert!(missing.starts_with("HTTP/1.1 400 Bad Request"), "{missing}");
    assert!(missing.contains("\"error\""), "a JSON error: {missing}");
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let closing = exchange(
        &mut conn,
        &get(
            &format!("{fast_path}?device_id=d3"),
            "connection: close\r\n",
        ),
    )
    .await;
    assert!(closing.contains("connection: close"), "{closing}");
    let mut rest = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut conn, &mut rest)
        .await
        .unwrap();
    assert!(rest.is_empty(), "closed after the answer");
}
