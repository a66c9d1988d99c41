//! Stock clients against a real `liveship serve`: the `@capgo/capacitor-updater`
//! plugin's exact requests, and the Cartona-style `DeployUpdateService`.

use liveship_core::hash::Sha256Digest;
use liveship_tests::world::{as_refs, sample_files, World};
use reqwest::Method;
use serde_json::{json, Value};

/// The info object the plugin sends (as built by its native code).
fn info(app: &str, device: &str, version_name: &str) -> Value {
    json!({
        "platform": "android",
        "device_id": device,
        "app_id": app,
        "custom_id": "",
        "version_build": "2.4.0",
        "version_code": "240",
        "version_os": "14",
        "version_name": version_name,
        "plugin_version": "7.2.0",
        "is_emulator": false,
        "is_prod": true,
        "defaultChannel": "production"
    })
}

async fn post(w: &World, path: &str, body: Value) -> (u16, Value) {
    w.call(Method::POST, path, None, Some(body)).await.pipe()
}

trait Pipe {
    fn pipe(self) -> (u16, Value);
}
impl Pipe for (reqwest::StatusCode, Value) {
    fn pipe(self) -> (u16, Value) {
        (self.0.as_u16(), self.1)
    }
}

fn published(w: &World, app: &str) -> (liveship_tests::world::Tokens, u64) {
    let t = w.app(app);
    let files = sample_files();
    let dir = w.build_dir("www", &as_refs(&files));
    let v = w.upload(&t.ci, app, &dir, "1.0.0", &["--channel", "production"]);
    (t, v["build_id"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn capgo_updates_answers_what_the_plugin_parses() {
    let w = World::new();
    let app = "com.example.capgo";
    let (_t, build) = published(&w, app);

    let (status, answer) = post(&w, "/capgo/updates", info(app, "dev-1", "builtin")).await;
    assert_eq!(status, 200, "{answer}");
    let keys: Vec<&str> = answer
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["checksum", "manifest", "url", "version"], "{answer}");
    assert_eq!(answer["version"], "1.0.0");
    let url = answer["url"].as_str().unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "url is always a valid URL: {url}"
    );
    let checksum = answer["checksum"].as_str().unwrap();
    assert_eq!(checksum.len(), 64);
    assert_eq!(checksum, checksum.to_lowercase());
    let zip = w.http.get(url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(
        Sha256Digest::of(&zip).to_hex(),
        checksum,
        "checksum is the zip's SHA-256"
    );
    // The zip holds every file and the signed manifest.
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec())).unwrap();
    assert_eq!(archive.len(), 5);
    assert!(archive.by_name("live-update-manifest.json").is_ok());

    let manifest = answer["manifest"].as_array().unwrap();
    assert_eq!(manifest.len(), 4);
    for entry in manifest {
        let keys: Vec<&str> = entry
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["download_url", "file_hash", "file_name"]);
        let bytes = w
            .http
            .get(entry["download_url"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        // 7.2.0 decompresses a `*.br` entry (a text file's brotli copy)
        // and checks the hash of the result, as DownloadService does.
        let name = entry["file_name"].as_str().unwrap();
        let bytes = if name.ends_with(".br") {
            liveship_core::compress::decompress(&bytes).unwrap().into()
        } else {
            bytes
        };
        assert_eq!(
            Sha256Digest::of(&bytes).to_hex(),
            entry["file_hash"].as_str().unwrap(),
            "{entry}"
        );
    }

    // On the current version: exactly the plugin's "no new version" answer.
    let (status, answer) = post(&w, "/capgo/updates", info(app, "dev-1", "1.0.0")).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"error":"no_new_version_available","message":"No new version available","kind":"up_to_date"})
    );

    // Withdrawn build, nothing else: back to the built-in bundle.
    let t = w.app("com.example.capgo2");
    let files = sample_files();
    let dir = w.build_dir("www2", &as_refs(&files));
    let b = w.upload(
        &t.ci,
        "com.example.capgo2",
        &dir,
        "3.0.0",
        &["--channel", "production"],
    );
    w.cli(
        &t.deploy,
        &[
            "builds",
            "disable",
            "--app-id",
            "com.example.capgo2",
            "--build-id",
            &b["build_id"].to_string(),
            "--force",
        ],
    );
    let (_, answer) = post(
        &w,
        "/capgo/updates",
        info("com.example.capgo2", "dev-9", "3.0.0"),
    )
    .await;
    assert_eq!(answer["version"], "builtin", "{answer}");

    // A channel that does not exist (deleted, or misspelt in the app's
    // config): the app's default channel, not silence.
    let mut other = info(app, "dev-2", "builtin");
    other["defaultChannel"] = json!("nightly");
    let (status, answer) = post(&w, "/capgo/updates", other).await;
    assert_eq!(
        (status, answer["version"].as_str()),
        (200, Some("1.0.0")),
        "{answer}"
    );

    // Unknown app, malformed body.
    let (status, answer) = post(
        &w,
        "/capgo/updates",
        info("com.example.unknown", "d", "builtin"),
    )
    .await;
    // The plugin reads a 404 as a failed download: an unknown app has no
    // update, in the shape the plugin reads as "no update".
    assert_eq!(
        (status, answer["kind"].as_str(), answer["error"].as_str()),
        (200, Some("up_to_date"), Some("no_new_version_available")),
        "{answer}"
    );
    let (status, _) = post(&w, "/capgo/updates", json!({"device_id": "x"})).await;
    assert_eq!(status, 422);
    let _ = build;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn capgo_stats_accepts_single_and_batched_events() {
    let w = World::new();
    let app = "com.example.stats";
    let (t, build) = published(&w, app);
    let ev = |action: &str, device: &str| {
        let mut v = info(app, device, "1.0.0");
        v["action"] = json!(action);
        v["old_version_name"] = json!("builtin");
        if action == "reset" {
            // Back to built-in: `version_name` is builtin now, the bundle
            // left is `old_version_name`.
            v["version_name"] = json!("builtin");
            v["old_version_name"] = json!("1.0.0");
        }
        v
    };
    let (status, answer) = post(&w, "/capgo/stats", ev("set", "d1")).await;
    assert_eq!((status, answer), (200, json!({"status": "ok"})));
    let batch = json!([
        ev("download_complete", "d2"),
        ev("set", "d2"),
        ev("checksum_fail", "d3"),
        ev("download_fail", "d4"),
        ev("update_fail", "d5"),
        ev("reset", "d6"),
        ev("app_moved_to_foreground", "d7"),
        ev("get", "d8")
    ]);
    let (status, answer) = post(&w, "/capgo/stats", batch).await;
    assert_eq!((status, answer), (200, json!({"status": "ok"})));
    let stats = w.cli(
        &t.deploy,
        &["stats", "--app-id", app, "--build-id", &build.to_string()],
    );
    assert_eq!(
        stats["counts"],
        json!({"applied": 2, "download_complete": 1, "failed": 3, "rolled_back": 1})
    );
    let (status, _) = w
        .call(Method::POST, "/capgo/stats", None, None)
        .await
        .pipe();
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn capgo_channel_self_set_get_list() {
    let w = World::new();
    let app = "com.example.channels";
    let (t, build) = published(&w, app);
    let list_url = format!(
        "{}/capgo/channel_self?app_id={app}&device_id=d1&platform=ios",
        w.server.url
    );
    let list: Value = w
        .http
        .get(&list_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]), "no channel allows self-assignment yet");

    let mut set = info(app, "d1", "builtin");
    set["channel"] = json!("beta");
    let (status, answer) = post(&w, "/capgo/channel_self", set.clone()).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (404, Some("not_found")),
        "{answer}"
    );
    w.cli(
        &t.deploy,
        &[
            "deploy",
            "--app-id",
            app,
            "--channel",
            "beta",
            "--build-id",
            &build.to_string(),
            "--create-channel",
        ],
    );
    let (status, answer) = post(&w, "/capgo/channel_self", set.clone()).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (403, Some("forbidden")),
        "{answer}"
    );
    w.cli(
        &t.deploy,
        &[
            "deploy",
            "--app-id",
            app,
            "--channel",
            "beta",
            "--build-id",
            &build.to_string(),
            "--allow-self-assign",
            "true",
        ],
    );
    let (status, answer) = post(&w, "/capgo/channel_self", set).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("ok")),
        "{answer}"
    );

    let (status, answer) = w
        .call(
            Method::PUT,
            "/capgo/channel_self",
            None,
            Some(info(app, "d1", "builtin")),
        )
        .await
        .pipe();
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"channel": "beta", "status": "override", "allowSet": true})
    );
    let (_, answer) = w
        .call(
            Method::PUT,
            "/capgo/channel_self",
            None,
            Some(info(app, "d2", "builtin")),
        )
        .await
        .pipe();
    assert_eq!(
        answer,
        json!({"channel": "production", "status": "default", "allowSet": false})
    );

    let list: Value = w
        .http
        .get(&list_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list,
        json!([{"id": "beta", "name": "beta", "public": false, "allow_self_set": true}])
    );

    // The device's own channel now decides its updates.
    let (_, answer) = post(&w, "/capgo/updates", info(app, "d1", "builtin")).await;
    assert_eq!(answer["version"], "1.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cartona_style_client_works_unchanged() {
    let w = World::new();
    let app = "com.example.cartona";
    let (t, build) = published(&w, app);
    let base = &w.server.url;

    // getLatest(): GET /build/latest?app=&device=
    let latest: Value = w
        .http
        .get(format!("{base}/build/latest?app={app}&device=dev-7"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = format!("{app}:{build}");
    assert_eq!(latest, json!({"build": {"id": id, "build": "1.0.0"}}));

    // CapacitorUpdater.download({url: update_url + '/build/download?id=&device='}) follows the redirect.
    let no_redirect = liveship_tests::http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirect
        .get(format!("{base}/build/download"))
        .query(&[("id", id.as_str()), ("device", "dev-7")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let zip = w
        .http
        .get(format!("{base}/build/download"))
        .query(&[("id", id.as_str()), ("device", "dev-7")])
        .send()
        .await
        .unwrap();
    assert_eq!(zip.status(), 200);
    let zip = zip.bytes().await.unwrap();
    let lookup = w.latest(app, "production", "device_id=dev-7").await;
    assert_eq!(Sha256Digest::of(&zip), lookup.zip_sha256.unwrap());

    // saveEvent(): GET /build/download/complete?id=&device= -> {"ok": true}, counted.
    let done: Value = w
        .http
        .get(format!("{base}/build/download/complete"))
        .query(&[("id", id.as_str()), ("device", "dev-7")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done, json!({"ok": true}));
    let stats = w.cli(
        &t.deploy,
        &["stats", "--app-id", app, "--build-id", &build.to_string()],
    );
    assert_eq!(stats["counts"]["download_complete"], 1);

    // Unknown app and build ids.
    let r = w
        .http
        .get(format!("{base}/build/latest?app=com.example.nope&device=d"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = w
        .http
        .get(format!("{base}/build/download?id={app}:999&device=d"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = w
        .http
        .get(format!(
            "{base}/build/download/complete?id=nonsense&device=d"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
