//! `liveship serve --backend aws` on S3 and DynamoDB (moto on loopback): the
//! same API, with uploads going straight to S3 through presigned URLs that
//! carry each file's SHA-256. `scripts/test` runs it with `--ignored`.

use liveship_core::hash::Sha256Digest;
use liveship_tests::moto_url;
use liveship_tests::world::{as_refs, sample_files, World};
use liveship_tests::Server;
use reqwest::Method;
use serde_json::json;

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
    // Files through the API's redirect to S3; the zip URL is a presigned
    // GET straight from the bucket.
    let zip_url = latest.zip_url.clone().unwrap();
    assert!(zip_url.contains("X-Amz-Signature"), "{zip_url}");
    assert!(latest.files.is_some());
    w.check_offer(&latest).await;

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

/// Appflow's self-hosted storage flow: `generate-manifest`, then
/// `live-update upload --to s3://BUCKET/PREFIX` with AWS credentials (only
/// missing or changed files go up; a tampered build goes nowhere), then
/// `register-artifact --artifact-url`; devices fetch the files by path from
/// the team's bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs moto: scripts/test runs it"]
async fn self_hosted_upload_to_s3_then_register() {
    let moto = moto_url();
    let w = World::new();
    let app = "com.example.selfhosted";
    let t = w.app(app);
    let bucket = format!("selfhosted-{}", std::process::id());
    let aws_env = [
        ("AWS_ENDPOINT_URL", moto.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    let s3 = liveship_tests::moto_s3().await;
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    // Devices read the team's bucket anonymously (in production through
    // CloudFront; here a public-read policy stands in for it).
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": "*", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}]});
    s3.put_bucket_policy()
        .bucket(&bucket)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();

    let files = sample_files();
    let dir = w.build_dir("www", &as_refs(&files));
    let run = |args: &[&str]| {
        let out = std::process::Command::new(liveship_tests::liveship_bin())
            .current_dir(w.path())
            .args(args)
            .arg("--json")
            .envs(aws_env)
            .env("LIVESHIP_SERVER", &w.server.url)
            .env("LIVESHIP_TOKEN", &t.upload)
            .env_remove("LIVESHIP_PUBLIC_BASE_URL")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let v: serde_json::Value = serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text}"));
        (out.status.code(), v)
    };
    let to = format!("s3://{bucket}/releases/1.0.0");
    // Not signed yet: refused, with the way forward.
    let (code, v) = run(&["live-update", "upload", "--build-dir", &dir, "--to", &to]);
    assert_eq!(code, Some(1), "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("generate-manifest"),
        "{v}"
    );

    let (code, v) = run(&[
        "live-update",
        "generate-manifest",
        "--build-dir",
        &dir,
        "--signing-key",
        "liveship_private.pem",
        "--app-id",
        app,
        "--version",
        "1.0.0",
    ]);
    assert_eq!(code, Some(0), "{v}");
    let (code, first) = run(&["live-update", "upload", "--build-dir", &dir, "--to", &to]);
    assert_eq!(code, Some(0), "{first}");
    assert_eq!(
        (first["uploaded"].as_u64(), first["already_stored"].as_u64()),
        (Some(4), Some(0))
    );
    let (_, again) = run(&["live-update", "upload", "--build-dir", &dir, "--to", &to]);
    assert_eq!(
        (again["uploaded"].as_u64(), again["already_stored"].as_u64()),
        (Some(0), Some(4))
    );
    let url = first["artifact_url"].as_str().unwrap().to_owned();
    assert_eq!(
        url,
        format!("{moto}/{bucket}/releases/1.0.0/live-update-manifest.json")
    );

    // Bytes that no longer match the signed manifest never leave the machine.
    liveship_tests::write(&w.path().join("www"), "js/app.js", b"tampered");
    let (code, v) = run(&["live-update", "upload", "--build-dir", &dir, "--to", &to]);
    assert_eq!(code, Some(3), "{v}");
    liveship_tests::write(&w.path().join("www"), "js/app.js", b"console.log('v1')");

    let (code, reg) = run(&[
        "live-update",
        "register-artifact",
        "--app-id",
        app,
        "--artifact-type",
        "manifest",
        "--artifact-url",
        &url,
    ]);
    assert_eq!(code, Some(0), "{reg}");
    let build = reg["build_id"].as_u64().unwrap().to_string();
    w.cli(
        &t.deploy,
        &[
            "deploy",
            "--app-id",
            app,
            "--channel",
            "production",
            "--build-id",
            &build,
        ],
    );
    let latest = w.latest(app, "production", "device_id=dev-1").await;
    let src = latest.files.unwrap();
    assert_eq!(src.key, "path");
    for (path, body) in &files {
        let got = w
            .http
            .get(format!("{}{path}", src.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200, "{path}");
        assert_eq!(&got.bytes().await.unwrap()[..], &body[..], "{path}");
    }
}
