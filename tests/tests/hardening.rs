//! The holes an outside probe found (issue 10), each held shut against a
//! real `liveship serve`: authentication before the body, the bearer scheme
//! in any case, JSON for every rejection, objects only, the app-id rule, and
//! upload plans as large as the docs promise.

use liveship_tests::world::World;
use reqwest::Method;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends `head` and then up to `body_len` bytes of body on a raw connection,
/// stopping as soon as the server answers; returns (status, JSON body, bytes
/// of body sent before the answer came).
fn raw_post(addr: &str, head: &str, body_len: usize) -> (u16, Value, usize) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                    break;
                }
                continue;
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("reading the answer: {e}"),
        }
        if !answer.is_empty() {
            continue;
        }
        if sent < body_len {
            let n = chunk.len().min(body_len - sent);
            if s.write_all(&chunk[..n]).is_err() {
                break; // the server closed the connection after answering
            }
            sent += n;
        }
    }
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).to_string();
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (
        status,
        serde_json::from_str(body).unwrap_or(Value::Null),
        sent,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_are_checked_before_a_body_byte_is_read() {
    let w = World::new();
    let t = w.app("com.example.auth");
    let addr = w.server.url.trim_start_matches("http://").to_owned();
    let len = 60 * 1024 * 1024;
    let head = |path: &str, auth: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{auth}Content-Length: {len}\r\n\r\n"
        )
    };
    for path in [
        "/v1/apps",
        "/v1/tokens",
        "/v1/apps/com.example.auth/builds",
        "/v1/apps/com.example.auth/uploads",
    ] {
        let addr = addr.clone();
        let h = head(path, "");
        let (status, body, sent) = tokio::task::spawn_blocking(move || raw_post(&addr, &h, len))
            .await
            .unwrap();
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(body["error"], "unauthorized", "{path}");
        // The answer came before the client had sent even a few MB of 60.
        assert!(
            sent < 8 * 1024 * 1024,
            "{path}: {sent} bytes sent before the 401"
        );
    }
    // A known token without the scope: 403, also before the body.
    let auth = format!("Authorization: Bearer {}\r\n", t.deploy);
    for path in ["/v1/apps", "/v1/tokens", "/v1/apps/com.example.auth/builds"] {
        let addr = addr.clone();
        let h = head(path, &auth);
        let (status, body, sent) = tokio::task::spawn_blocking(move || raw_post(&addr, &h, len))
            .await
            .unwrap();
        assert_eq!(status, 403, "{path}: {body}");
        assert!(
            sent < 8 * 1024 * 1024,
            "{path}: {sent} bytes sent before the 403"
        );
    }
    // Schema errors are shown only to callers who may call the route.
    let (s, v) = w
        .call(Method::POST, "/v1/apps", None, Some(json!({"bogus": 1})))
        .await;
    assert_eq!(s, 401, "{v}");
    assert!(!v["message"].as_str().unwrap().contains("app_id"), "{v}");
    let (s, v) = w
        .call(
            Method::POST,
            "/v1/apps",
            Some(w.admin()),
            Some(json!({"bogus": 1})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(v["message"].as_str().unwrap().contains("app_id"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_bearer_scheme_is_case_insensitive() {
    let w = World::new();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = w
            .http
            .get(format!("{}/v1/apps/com.example.none/builds", w.server.url))
            .header("authorization", format!("{scheme} {}", w.admin()))
            .send()
            .await
            .unwrap();
        // Authenticated (the app does not exist), not refused.
        assert_eq!(r.status(), 404, "{scheme}");
    }
    for bad in ["Basic abc", "Bearer", "Bearer ", "Bearertoken", "Token abc"] {
        let r = w
            .http
            .get(format!("{}/v1/apps/com.example.none/builds", w.server.url))
            .header("authorization", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_rejection_is_json() {
    let w = World::new();
    w.app("com.example.json");
    let cases: &[(Method, &str, u16)] = &[
        (
            Method::GET,
            "/v1/apps/com.example.json/channels/production/latest",
            400,
        ),
        (Method::GET, "/v1/apps/x/files/%c0%ae%c0%ae", 400),
        (
            Method::GET,
            "/v1/apps/%ff/channels/production/latest?device_id=d",
            400,
        ),
        (Method::GET, "/build/latest", 400),
        (Method::GET, "/build/download?id=1", 400),
        (Method::GET, "/capgo/channel_self", 400),
        (Method::DELETE, "/v1/apps", 405),
        (
            Method::GET,
            "/v1/apps/com.example.json/builds/1/stats/extra",
            404,
        ),
        (Method::POST, "/capgo/updates", 400),
    ];
    for (method, path, status) in cases {
        let r = w
            .http
            .request(method.clone(), format!("{}{path}", w.server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), *status, "{method} {path}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("application/json"), "{method} {path}: {ct}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"].is_string() && v["message"].is_string(),
            "{method} {path}: {v}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn arrays_are_refused_where_an_object_belongs() {
    let w = World::new();
    let t = w.app("com.example.arrays");
    let files = liveship_tests::world::sample_files();
    let dir = w.build_dir("www", &liveship_tests::world::as_refs(&files));
    let up = w.upload(&t.ci, "com.example.arrays", &dir, "1.0.0", &[]);
    assert_eq!(up["build_id"], 1);
    for (method, path, body) in [
        (
            Method::PUT,
            "/v1/apps/com.example.arrays/channels/x",
            json!([1]),
        ),
        (Method::POST, "/v1/apps", json!(["com.example.z"])),
        (
            Method::POST,
            "/v1/apps/com.example.arrays/uploads",
            json!([[]]),
        ),
        (
            Method::PATCH,
            "/v1/apps/com.example.arrays/builds/1",
            json!([true]),
        ),
        (
            Method::POST,
            "/v1/apps/com.example.arrays/events",
            json!(["d", 1, "applied"]),
        ),
    ] {
        let (s, v) = w
            .call(method.clone(), path, Some(w.admin()), Some(body))
            .await;
        assert_eq!(s, 422, "{method} {path}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains("JSON object"),
            "{v}"
        );
    }
    let (_, channels) = w
        .call(
            Method::GET,
            "/v1/apps/com.example.arrays/channels",
            Some(w.admin()),
            None,
        )
        .await;
    assert_eq!(channels["channels"], json!([]), "nothing was deployed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn app_ids_follow_one_rule_everywhere() {
    let w = World::new();
    for ok in ["042a1261", "com.example.app", "photo-gallery"] {
        let (s, v) = w
            .call(
                Method::POST,
                "/v1/apps",
                Some(w.admin()),
                Some(json!({"app_id": ok})),
            )
            .await;
        assert_eq!(s, 201, "{ok}: {v}");
    }
    for bad in [".", "..", ".hidden", "-x", "a/b", "é"] {
        let (s, v) = w
            .call(
                Method::POST,
                "/v1/apps",
                Some(w.admin()),
                Some(json!({"app_id": bad})),
            )
            .await;
        assert_eq!(s, 422, "{bad}: {v}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("starting with a letter or digit"),
            "{v}"
        );
    }
    // In a path, a bad id is refused before any store is touched.
    for path in [
        "/v1/apps/../files/x",
        "/v1/apps/.hidden/builds",
        "/v1/apps/%2e%2e/builds",
    ] {
        let (s, v) = w.call(Method::GET, path, Some(w.admin()), None).await;
        assert!(s == 400 || s == 404, "{path}: {s} {v}");
        assert!(v["error"].is_string(), "{path}: {v}");
    }
    // Nothing landed outside apps/ in the blob directory.
    let data = &w.server.data_dir;
    let blobs: Vec<_> = std::fs::read_dir(data.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        blobs.iter().all(|n| n == "apps" || n.starts_with('.')),
        "{blobs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn channel_names_follow_one_rule_everywhere() {
    let w = World::new();
    let app = "com.example.channels";
    w.app(app);
    let path = format!("/v1/apps/{app}/channels");
    let create = |name: &'static str| {
        w.call(
            Method::POST,
            &path,
            Some(w.admin()),
            Some(json!({"name": name})),
        )
    };
    for ok in ["beta", "...", ".beta", "v1.2"] {
        let (s, v) = create(ok).await;
        assert_eq!(s, 201, "{ok}: {v}");
    }
    // `.` and `..` pass the character rule but no URL can reach them.
    for bad in [".", "..", "has space", "a/b"] {
        let (s, v) = create(bad).await;
        assert_eq!(s, 400, "{bad}: {v}");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("invalid channel name"),
            "{v}"
        );
    }
    // A percent-encoded `..` in a path is the same name, refused the same.
    let (s, v) = w
        .call(
            Method::PUT,
            &format!("/v1/apps/{app}/channels/%2e%2e"),
            Some(w.admin()),
            Some(json!({"build_id": 1})),
        )
        .await;
    assert!(s == 400 || s == 404, "{s} {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_plan_of_50000_files_is_accepted() {
    let w = World::new();
    let t = w.app("com.example.many");
    let files: Vec<Value> = (0..50_000u32)
        .map(|i| {
            json!({"sha256": liveship_core::hash::Sha256Digest::of(&i.to_le_bytes()), "size": 4})
        })
        .collect();
    let body = json!({ "files": files });
    assert!(serde_json::to_vec(&body).unwrap().len() > 4 * 1024 * 1024);
    let (s, v) = w
        .call(
            Method::POST,
            "/v1/apps/com.example.many/uploads",
            Some(&t.ci),
            Some(body),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["missing"].as_array().unwrap().len(), 50_000);
    assert_eq!(v["already_stored"], 0);
}

/// Registration answers within API Gateway's 30 s whatever the build size:
/// upload-artifact brings a zip made in CI (named in the signed manifest),
/// so the server only checks hashes; a hosted build too big to zip within
/// the limit, registered without one, is refused at once, not half-done.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn big_builds_register_without_server_side_zipping() {
    use liveship_core::hash::Sha256Digest;
    use liveship_core::manifest::{FileEntry, Manifest};
    use liveship_core::paths::ManifestPath;
    let w = World::new();
    let t = w.app("com.example.big");
    // Over the byte limit (the file-count limit is held by a unit test:
    // thousands of uploads would only slow this one down).
    let (bytes, _) = liveship_core::http::SERVER_ZIP_LIMIT;
    let count = 20;
    let root = w.path().join("big");
    for i in 0..count {
        liveship_tests::write(
            &root,
            &format!("js/chunk-{i:05}.js"),
            format!("export const v = {i};\n").as_bytes(),
        );
    }
    // One incompressible file, so the build is over the byte limit too.
    liveship_tests::write(
        &root,
        "assets/video.mp4",
        &liveship_tests::noise(bytes as usize + 1024, 7),
    );

    let up = w.upload(
        &t.ci,
        "com.example.big",
        "big",
        "1.0.0",
        &["--channel", "production"],
    );
    assert_eq!(up["created"], true, "{up}");
    assert_eq!(up["uploaded"], count as u64 + 1, "{up}");
    assert_eq!(up["zip_uploaded"], true, "{up}");
    // The offer carries the CLI's zip (named in the signed manifest), and
    // every file and the zip hash right.
    let latest = w
        .latest("com.example.big", "production", "device_id=d1")
        .await;
    let doc = liveship_core::manifest::ManifestDocument::from_slice(
        latest.manifest.as_ref().unwrap().get().as_bytes(),
    )
    .unwrap();
    let signed_zip = doc
        .decode_unverified()
        .unwrap()
        .zip
        .expect("the manifest names its zip");
    assert_eq!(latest.zip_sha256, Some(signed_zip.sha256));
    w.check_offer(&latest).await;

    // The same files registered without a zip: refused with what to do.
    let root_files: Vec<FileEntry> = std::iter::once((
        "assets/video.mp4".to_owned(),
        liveship_tests::noise(bytes as usize + 1024, 7),
    ))
    .chain((0..count).map(|i| {
        (
            format!("js/chunk-{i:05}.js"),
            format!("export const v = {i};\n").into_bytes(),
        )
    }))
    .map(|(p, b)| FileEntry {
        path: ManifestPath::new(p).unwrap(),
        sha256: Sha256Digest::of(&b),
        size: b.len() as u64,
    })
    .collect();
    let m = Manifest::new(
        Some("com.example.big".parse().unwrap()),
        Some("1.0.1".parse().unwrap()),
        root_files,
    )
    .unwrap();
    let (s, v) = w
        .call(
            Method::POST,
            "/v1/apps/com.example.big/builds",
            Some(&t.ci),
            Some(json!({"manifest": m.sign(&w.signing_key()), "artifact_type": "manifest"})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"], "zip_required", "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("upload-artifact"),
        "{v}"
    );
}

/// Runs `liveship serve` with `args` on `data`, expecting it to refuse to
/// start within 20 s (a server that starts instead is stopped, and the
/// test fails): its exit code, stdout and stderr.
fn serve_refused(data: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = std::process::Command::new(liveship_tests::liveship_bin())
        .args(["serve", "--data-dir"])
        .arg(data)
        .args(args)
        .env_remove("LIVESHIP_ADMIN_TOKEN")
        .env_remove("LIVESHIP_BACKEND")
        .env_remove("LIVESHIP_SHARE_PORT")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn serve_refuses_a_port_in_use_and_keeps_its_token_for_a_server_that_listens() {
    let w = World::new();
    let tmp = tempfile::tempdir().unwrap();
    // A second server on the first one's port would split requests between
    // two sets of data (SO_REUSEPORT): refused, with what to do.
    let port = w.url().rsplit(':').next().unwrap().to_owned();
    let listen = format!("127.0.0.1:{port}");
    let (code, out, err) = serve_refused(&tmp.path().join("second"), &["--listen", &listen]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("is in use by another process"), "{err}");
    assert!(err.contains("--share-port"), "{err}");
    assert!(!out.contains("admin token"), "{out}");
    // An address it cannot listen on: no one-time admin token is spent.
    let data = tmp.path().join("third");
    let (code, out, err) = serve_refused(&data, &["--listen", "bogus"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(!out.contains("admin token"), "{out}");
    // The same directory, started right, makes and shows the token then.
    let mut child = std::process::Command::new(liveship_tests::liveship_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("LIVESHIP_ADMIN_TOKEN")
        .env_remove("LIVESHIP_BACKEND")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let first = lines.next().unwrap().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(first.contains("admin token (shown once"), "{first}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disabled_build_is_not_deployed() {
    let w = World::new();
    let app = "com.example.disabled";
    let t = w.app(app);
    let (s, v) =
        liveship_tests::world::register(&w, &t.ci, app, "1.0.0", b"<p>1</p>", json!({})).await;
    assert!(s.is_success(), "{v}");
    let id = v["build"]["id"].as_u64().unwrap();
    let (s, v) = w
        .call(
            Method::PATCH,
            &format!("/v1/apps/{app}/builds/{id}"),
            Some(&t.ci),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = w
        .call(
            Method::PUT,
            &format!("/v1/apps/{app}/channels/production"),
            Some(&t.ci),
            Some(json!({"build_id": id})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"], "build_disabled", "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("enable it first"),
        "{v}"
    );
    let (_, v) = w
        .call(
            Method::GET,
            &format!("/v1/apps/{app}/channels"),
            Some(&t.admin),
            None,
        )
        .await;
    assert!(
        v["channels"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["current"].is_null()),
        "nothing deployed: {v}"
    );
}
