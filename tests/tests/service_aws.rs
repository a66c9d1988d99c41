//! `liveship serve --backend aws` on S3 and DynamoDB (moto on loopback): the
//! same API, with uploads going straight to S3 through presigned URLs that
//! carry each file's SHA-256. `scripts/test` runs it with `--ignored`.

use liveship_core::hash::Sha256Digest;
use liveship_core::manifest::{ManifestDocument, Verifier};
use liveship_tests::world::{as_refs, sample_files, World};
use liveship_tests::Server;
use reqwest::Method;
use serde_json::json;

fn moto_url() -> String {
    std::env::var("LIVESHIP_TEST_MOTO_URL").unwrap_or_else(|_| {
        panic!(
            "LIVESHIP_TEST_MOTO_URL is not set: run scripts/test, or start moto_server and set it"
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs moto: scripts/test runs it"]
async fn the_story_on_s3_and_dynamodb() {
    let w = World::with_server(Server::start_aws(&moto_url()));
    let app = "com.example.aws";
    let t = w.app(app);

    // Uploads are presigned S3 PUTs: no AWS credentials on the CI side.
    let (status, plan) = w
        .call(
            Method::POST,
            &format!("/v1/apps/{app}/uploads"),
            Some(&t.upload),
            Some(json!({"files": [{"sha256": Sha256Digest::of(b"x"), "size": 1}]})),
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    let target = &plan["missing"][0];
    assert_eq!(target["auth"], "none");
    assert!(
        target["url"].as_str().unwrap().contains("X-Amz-Signature"),
        "{target}"
    );
    assert!(
        target["headers"]["x-amz-checksum-sha256"].is_string(),
        "{target}"
    );

    let files = sample_files();
    let dir = w.build_dir("www", &as_refs(&files));
    let first = w.upload(&t.ci, app, &dir, "1.0.0", &["--channel", "production"]);
    assert_eq!(first["uploaded"], 4);
    let latest = w.latest(app, "production", "device_id=dev-1").await;
    let doc =
        ManifestDocument::from_slice(latest.manifest.as_ref().unwrap().get().as_bytes()).unwrap();
    let verified = Verifier::new([w.public_key()]).verify(&doc).unwrap();
    let src = latest.files.as_ref().unwrap();
    for f in &verified.files {
        let body = w
            .http
            .get(format!("{}{}", src.base_url, f.sha256))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(Sha256Digest::of(&body), f.sha256);
    }
    // The zip URL is a presigned GET straight from the bucket.
    let zip_url = latest.zip_url.clone().unwrap();
    assert!(zip_url.contains("X-Amz-Signature"), "{zip_url}");
    let zip = w
        .http
        .get(&zip_url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(Sha256Digest::of(&zip), latest.zip_sha256.unwrap());

    // Second upload: one changed file, one upload.
    liveship_tests::write(&w.path().join("www"), "js/app.js", b"console.log('v2')");
    let second = w.upload(&t.ci, app, &dir, "1.0.1", &["--channel", "production"]);
    assert_eq!(
        (
            second["uploaded"].as_u64(),
            second["already_stored"].as_u64()
        ),
        (Some(1), Some(3))
    );

    // Events and stats, rollback.
    let build = second["build_id"].as_u64().unwrap();
    let (s, _) = w
        .call(
            Method::POST,
            &format!("/v1/apps/{app}/events"),
            None,
            Some(json!({"device_id": "dev-1", "build_id": build, "event": "applied"})),
        )
        .await;
    assert_eq!(s, 202);
    let stats = w.cli(
        &t.deploy,
        &["stats", "--app-id", app, "--build-id", &build.to_string()],
    );
    assert_eq!(stats["counts"]["applied"], 1);
    let ch = w.cli(
        &t.deploy,
        &["rollback", "--app-id", app, "--channel", "production"],
    );
    assert_eq!(ch["channel"]["current"]["build_id"], first["build_id"]);
}
