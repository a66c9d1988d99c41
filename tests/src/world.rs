//! A running server with a key pair, an HTTP client, and helpers, shared by
//! the service and device tests.

use crate::{write, Server};
use liveship_core::hash::Sha256Digest;
use liveship_core::keys::{PublicKey, SigningKey};
use liveship_core::manifest::{FileEntry, Manifest, ManifestDocument, Verifier};
use liveship_core::paths::ManifestPath;
use liveship_core::wire::Latest;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::Path;

/// A server, a working directory with a key pair, and a client.
#[derive(Debug)]
pub struct World {
    /// The server.
    pub server: Server,
    /// Working directory (keys, builds).
    pub dir: tempfile::TempDir,
    /// HTTP client.
    pub http: reqwest::Client,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

#[allow(missing_docs)]
impl World {
    pub fn new() -> Self {
        Self::with_server(Server::start())
    }

    /// A world around a given server (for example one on the AWS backend).
    pub fn with_server(server: Server) -> Self {
        let dir = tempfile::tempdir().unwrap();
        crate::build::run_ok(
            std::process::Command::new(crate::build::liveship_bin())
                .current_dir(dir.path())
                .args(["live-update", "generate-signing-key"]),
            "liveship live-update generate-signing-key",
        );
        Self {
            server,
            dir,
            http: crate::build::http(),
        }
    }
    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.server.url
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn admin(&self) -> &str {
        &self.server.admin_token
    }
    pub fn cli(&self, token: &str, args: &[&str]) -> Value {
        self.server.cli_json(token, self.path(), args)
    }
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_pem(
            &std::fs::read_to_string(self.path().join("liveship_public.pem")).unwrap(),
        )
        .unwrap()
    }
    pub fn signing_key(&self) -> SigningKey {
        SigningKey::from_pem(
            &std::fs::read_to_string(self.path().join("liveship_private.pem")).unwrap(),
        )
        .unwrap()
    }
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.server.url));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    /// An app signed by the world's key, and tokens for it.
    pub fn app(&self, app: &str) -> Tokens {
        self.app_with(app, &["--public-key", "liveship_public.pem"])
    }
    /// An app created with these `apps create` flags, and tokens for it.
    pub fn app_with(&self, app: &str, create: &[&str]) -> Tokens {
        let mut args = vec!["apps", "create", "--app-id", app];
        args.extend_from_slice(create);
        self.cli(self.admin(), &args);
        let token = |scopes: &str, name: &str| {
            self.cli(
                self.admin(),
                &[
                    "tokens", "create", "--name", name, "--app-id", app, "--scopes", scopes,
                ],
            )["token"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        Tokens {
            upload: token("upload", "ci"),
            ci: token("upload,deploy", "ci-deploy"),
            deploy: token("deploy", "release"),
            admin: token("admin", "app-admin"),
        }
    }
    pub fn build_dir(&self, name: &str, files: &[(&str, &[u8])]) -> String {
        let dir = self.path().join(name);
        for (p, body) in files {
            write(&dir, p, body);
        }
        name.to_owned()
    }
    /// `liveship deploy` of `build` (an id or a version) to `channel`,
    /// asserting success; the JSON answer.
    pub fn cli_deploy(
        &self,
        token: &str,
        app: &str,
        channel: &str,
        build: &str,
        extra: &[&str],
    ) -> Value {
        self.cli(token, &Self::deploy_args(app, channel, build, extra))
    }

    /// `liveship deploy` that may fail: (exit code, stdout, stderr).
    pub fn try_cli_deploy(
        &self,
        token: &str,
        app: &str,
        channel: &str,
        build: &str,
        extra: &[&str],
    ) -> (i32, String, String) {
        self.server.cli(
            token,
            self.path(),
            &Self::deploy_args(app, channel, build, extra),
        )
    }

    /// The arguments of `liveship deploy`, for callers with their own runner.
    pub fn deploy_args<'a>(
        app: &'a str,
        channel: &'a str,
        build: &'a str,
        extra: &[&'a str],
    ) -> Vec<&'a str> {
        let mut args = vec![
            "deploy",
            "--app-id",
            app,
            "--channel",
            channel,
            "--build-id",
            build,
        ];
        args.extend_from_slice(extra);
        args
    }

    /// `upload-artifact` of `dir`, asserting success; the JSON answer.
    pub fn upload(
        &self,
        token: &str,
        app: &str,
        dir: &str,
        version: &str,
        extra: &[&str],
    ) -> Value {
        self.cli(token, &Self::upload_args(app, dir, version, extra))
    }

    /// `upload-artifact` of `dir` that may fail: (exit code, stdout, stderr).
    pub fn try_upload(
        &self,
        token: &str,
        app: &str,
        dir: &str,
        version: &str,
        extra: &[&str],
    ) -> (i32, String, String) {
        self.server.cli(
            token,
            self.path(),
            &Self::upload_args(app, dir, version, extra),
        )
    }

    fn upload_args<'a>(
        app: &'a str,
        dir: &'a str,
        version: &'a str,
        extra: &[&'a str],
    ) -> Vec<&'a str> {
        let mut args = vec![
            "live-update",
            "upload-artifact",
            "--app-id",
            app,
            "--build-dir",
            dir,
            "--signing-key",
            "liveship_private.pem",
            "--version",
            version,
            "--commit-ref",
            "main",
            "--commit-sha",
            "0123abc",
            "--commit-message",
            "test build",
        ];
        args.extend_from_slice(extra);
        args
    }
    pub async fn latest(&self, app: &str, channel: &str, query: &str) -> Latest {
        let (status, v) = self
            .call(
                Method::GET,
                &format!("/v1/apps/{app}/channels/{channel}/latest?{query}"),
                None,
                None,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        serde_json::from_value(v).unwrap()
    }

    /// GET `url` (redirects followed), asserting 200; the body.
    pub async fn fetch(&self, url: &str) -> bytes::Bytes {
        let resp = self.http.get(url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "GET {url}");
        resp.bytes().await.unwrap()
    }

    /// Checks an offered build as a device would: its manifest verifies
    /// with this world's key, every file at the offered file source (by
    /// SHA-256) hashes right, and so does the zip, when there is one.
    pub async fn check_offer(&self, latest: &Latest) {
        let doc = ManifestDocument::from_slice(
            latest
                .manifest
                .as_ref()
                .expect("a manifest")
                .get()
                .as_bytes(),
        )
        .unwrap();
        let verified = Verifier::new([self.public_key()]).verify(&doc).unwrap();
        if let Some(src) = &latest.files {
            assert_eq!(src.key, "sha256");
            for f in &verified.files {
                let body = self.fetch(&format!("{}{}", src.base_url, f.sha256)).await;
                assert_eq!(Sha256Digest::of(&body), f.sha256, "{}", f.path);
            }
        }
        if let Some(url) = &latest.zip_url {
            let zip = self.fetch(url).await;
            assert_eq!(Some(Sha256Digest::of(&zip)), latest.zip_sha256);
            assert_eq!(Some(zip.len() as u64), latest.zip_size);
        }
    }
}

/// Tokens of one app.
#[derive(Debug)]
#[allow(missing_docs)]
pub struct Tokens {
    pub upload: String,
    pub ci: String,
    pub deploy: String,
    pub admin: String,
}

/// A small web build.
pub fn sample_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "index.html",
            b"<!doctype html><script src=js/app.js></script>".to_vec(),
        ),
        ("js/app.js", b"console.log('v1')".to_vec()),
        ("js/vendor.js", b"/* vendor */ function v(){}".repeat(100)),
        ("assets/logo.png", (0..=255u8).cycle().take(5000).collect()),
    ]
}

/// Borrowed view of [`sample_files`].
pub fn as_refs<'a>(files: &'a [(&'static str, Vec<u8>)]) -> Vec<(&'static str, &'a [u8])> {
    files.iter().map(|(p, b)| (*p, b.as_slice())).collect()
}

/// Registers a build directly over HTTP: one small file, a signed manifest.
pub async fn register(
    w: &World,
    token: &str,
    app: &str,
    version: &str,
    body: &[u8],
    extra: Value,
) -> (StatusCode, Value) {
    let sha = Sha256Digest::of(body);
    let resp = w
        .http
        .put(format!("{}/v1/apps/{app}/files/{sha}", w.server.url))
        .bearer_auth(token)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let m = Manifest::new(
        Some(app.parse().unwrap()),
        Some(version.parse().unwrap()),
        vec![FileEntry {
            path: ManifestPath::new("index.html").unwrap(),
            sha256: sha,
            size: body.len() as u64,
        }],
    )
    .unwrap();
    let mut req = json!({"manifest": m.sign(&w.signing_key()), "artifact_type": "manifest"});
    if let (Some(r), Some(e)) = (req.as_object_mut(), extra.as_object()) {
        r.extend(e.clone());
    }
    w.call(
        Method::POST,
        &format!("/v1/apps/{app}/builds"),
        Some(token),
        Some(req),
    )
    .await
}

/// Deploys over HTTP, asserting success.
pub async fn deploy(w: &World, token: &str, app: &str, channel: &str, build: u64, pct: u8) {
    let (s, v) = w
        .call(
            Method::PUT,
            &format!("/v1/apps/{app}/channels/{channel}"),
            Some(token),
            Some(json!({"build_id": build, "rollout_percent": pct})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}
