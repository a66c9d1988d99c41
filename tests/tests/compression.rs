//! Brotli copies end to end, on `liveship serve` and on the Lambda stack:
//! the CLI makes them in CI, the store keeps them beside the originals, the
//! answers point the lines that can take them at them, and every device
//! still checks the SHA-256 of the original bytes.

use liveship_core::compress::decompress;
use liveship_core::hash::Sha256Digest;
use liveship_core::wire::Latest;
use liveship_tests::world::World;
use liveship_tests::{moto_url, Server};
use reqwest::Method;
use serde_json::{json, Value};

const APP: &str = "com.example.compress";

/// A web build in miniature: text that compresses, and an image that does not.
fn files() -> Vec<(&'static str, Vec<u8>)> {
    let js: Vec<u8> = (0..4000)
        .flat_map(|i| format!("export function f{i}(x) {{ return x * {i} + 1; }}\n").into_bytes())
        .collect();
    let css = b".button { color: red; padding: 4px; }\n".repeat(300);
    let png: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    vec![
        (
            "index.html",
            b"<html><script src=main.js></script></html>".repeat(20),
        ),
        ("main.js", js),
        ("styles/app.css", css),
        ("assets/logo.png", png),
    ]
}

fn capgo_info(version_name: &str, plugin: &str) -> Value {
    json!({
        "platform": "android", "device_id": format!("dev-{plugin}"), "app_id": APP,
        "custom_id": "", "version_build": "1.0.0", "version_code": "1", "version_os": "14",
        "version_name": version_name, "plugin_version": plugin, "is_emulator": false,
        "is_prod": true, "defaultChannel": "production"
    })
}

async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut rb = liveship_tests::http().get(url);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().await.unwrap()
}

async fn story(w: World, direct_s3: bool) {
    let t = w.app(APP);
    let files = files();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, b)| (*p, b.as_slice())).collect();
    let dir = w.build_dir("www", &refs);
    let first = w.upload(&t.ci, APP, &dir, "1.0.0", &["--channel", "production"]);
    // One copy per text file; the png gets none.
    assert_eq!(first["brotli_copies"], 3, "{first}");
    let raw_text: u64 = files[..3].iter().map(|(_, b)| b.len() as u64).sum();
    let br_bytes = first["brotli_bytes"].as_u64().unwrap();
    assert!(br_bytes * 5 < raw_text, "{br_bytes} of {raw_text}");

    // The answer says so, and each copy is beside its file.
    let latest: Latest = w.latest(APP, "production", "device_id=d1").await;
    let src = latest.files.clone().unwrap();
    assert!(src.brotli, "{latest:?}");
    w.check_offer(&latest).await;
    for (path, body) in &files {
        let sha = Sha256Digest::of(body);
        let url = format!("{}{sha}.br", src.base_url);
        let resp = get(&url, &[]).await;
        if path.ends_with(".png") {
            assert!(!resp.status().is_success(), "{path}: no copy for an image");
            continue;
        }
        assert_eq!(resp.status(), 200, "{url}");
        assert!(
            resp.headers().get("content-encoding").is_none(),
            "raw brotli bytes"
        );
        let copy = resp.bytes().await.unwrap();
        assert_eq!(decompress(&copy).unwrap(), *body, "{path}");
        assert!(copy.len() < body.len());
    }

    // Uploading the same build again sends no copy twice.
    let again = w.upload(&t.ci, APP, &dir, "1.0.1", &["--channel", "production"]);
    assert_eq!(again["uploaded"], 0, "{again}");
    assert_eq!(again["brotli_copies"], 3, "{again}");
    assert_eq!(again["brotli_uploaded"], 0, "{again}");
    assert_eq!(first["brotli_uploaded"], 3, "{first}");

    // The stock capgo lines: those that decompress `*.br` entries get them.
    for (plugin, copies) in [
        ("8.51.23", true),
        ("7.0.50", true),
        ("7.0.30", false),
        ("5.10.0", false),
    ] {
        let (status, answer) = w
            .call(
                Method::POST,
                "/capgo/updates",
                None,
                Some(capgo_info("builtin", plugin)),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        let entries = answer["manifest"].as_array().unwrap();
        for e in entries {
            let name = e["file_name"].as_str().unwrap();
            let url = e["download_url"].as_str().unwrap();
            let text = !name.contains(".png");
            assert_eq!(name.ends_with(".br"), copies && text, "{plugin}: {e}");
            assert_eq!(url.ends_with(".br"), copies && text, "{plugin}: {e}");
            // What the plugin does: fetch, decompress `*.br`, check the hash.
            let resp = liveship_tests::http().get(url).send().await.unwrap();
            let body = resp.bytes().await.unwrap();
            let body = if name.ends_with(".br") {
                decompress(&body).unwrap().into()
            } else {
                body
            };
            assert_eq!(
                Sha256Digest::of(&body).to_hex(),
                e["file_hash"].as_str().unwrap(),
                "{plugin}: {name}"
            );
        }
    }

    if !direct_s3 {
        // On serve, the file URL negotiates: `Accept-Encoding: br` gets the
        // copy as `Content-Encoding: br`; a range or no br gets the file.
        let (_, js) = &files[1];
        let url = format!("{}{}", src.base_url, Sha256Digest::of(js));
        let resp = get(&url, &[("accept-encoding", "gzip, br")]).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-encoding"], "br");
        assert_eq!(resp.headers()["vary"], "accept-encoding");
        let body = resp.bytes().await.unwrap();
        assert_eq!(decompress(&body).unwrap(), *js);
        for headers in [
            vec![("accept-encoding", "gzip")],
            vec![("accept-encoding", "br;q=0, *")],
            vec![("accept-encoding", "br"), ("range", "bytes=0-9")],
        ] {
            let resp = get(&url, &headers).await;
            assert!(
                resp.headers().get("content-encoding").is_none(),
                "{headers:?}"
            );
            assert_eq!(resp.headers()["vary"], "accept-encoding");
            let body = resp.bytes().await.unwrap();
            assert!(js.starts_with(&body), "{headers:?}");
        }

        // The server keeps only true copies: a copy of another file, bytes
        // that are not brotli, no token, and a decompression bomb are refused.
        let target = Sha256Digest::of(b"a file never uploaded");
        let put = |body: Vec<u8>, token: Option<&str>| {
            let mut rb = liveship_tests::http()
                .put(format!("{}/v1/apps/{APP}/files/{target}.br", w.url()))
                .body(body);
            if let Some(t) = token {
                rb = rb.bearer_auth(t);
            }
            rb.send()
        };
        let other = brotli_of(b"something else");
        let r = put(other.clone(), Some(&t.upload)).await.unwrap();
        assert_eq!(r.status(), 422);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "invalid_brotli_copy", "{v}");
        let r = put(b"plain text".to_vec(), Some(&t.upload)).await.unwrap();
        assert_eq!(r.status(), 422);
        let r = put(other, None).await.unwrap();
        assert_eq!(r.status(), 401);
        let bomb = brotli_of(&vec![0u8; 20 << 20]);
        assert!(bomb.len() < 1 << 20);
        let r = put(bomb, Some(&t.upload)).await.unwrap();
        assert_eq!(
            r.status(),
            422,
            "more than the file limit once decompressed"
        );
        let r = get(&format!("{}{target}.br", src.base_url), &[]).await;
        assert_eq!(r.status(), 404, "nothing was stored");
    }

    // A copy must belong to a file of the same upload.
    let stray = Sha256Digest::of(b"stray");
    let (status, v) = w
        .call(
            Method::POST,
            &format!("/v1/apps/{APP}/uploads"),
            Some(&t.upload),
            Some(json!({"files": [], "brotli": [{"of": stray, "sha256": stray, "size": 10}]})),
        )
        .await;
    assert_eq!(status, 400, "{v}");

    // A build whose copies are not all stored is served without them.
    let lone = b"console.log('registered without its copy');\n".repeat(50);
    let (status, v) =
        liveship_tests::world::register(&w, &t.upload, APP, "2.0.0", &lone, json!({})).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["build"].get("brotli"), None, "{v}");
}

fn brotli_of(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 5,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn brotli_copies_reach_the_lines_that_take_them() {
    // A 10 MB file limit, so a small decompression bomb passes it.
    let server = Server::start_with_args(&["--max-file-size", "10000000"]);
    story(World::with_server(server), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs moto: scripts/test runs it"]
async fn brotli_copies_reach_the_lines_that_take_them_on_lambda() {
    story(
        World::with_server(Server::start_lambda(&moto_url(), &[])),
        true,
    )
    .await;
}
