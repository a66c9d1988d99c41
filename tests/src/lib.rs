//! Helpers for the workspace-level integration tests in `tests/tests/`.

use std::fs;
use std::path::Path;

/// Writes `body` at `root/rel`, creating directories.
pub fn write(root: &Path, rel: &str, body: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("a relative path has a parent")).expect("create dirs");
    fs::write(p, body).expect("write file");
}

/// Deterministic pseudo-random bytes (xorshift64), for incompressible content.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// A web build: many small text files, some binary ones, and one file above
/// the streaming threshold so both compression paths are exercised.
pub fn mixed_build(root: &Path, large_len: usize) {
    write(root, "index.html", b"<!doctype html><title>t</title>");
    for i in 0..300 {
        let body = format!("export const v{i} = {i};\n").repeat(i % 40 + 1);
        write(root, &format!("js/chunk-{i:03}.js"), body.as_bytes());
    }
    for i in 0..20 {
        write(
            root,
            &format!("assets/img/{i}.png"),
            &noise(10_000 + i * 777, i as u64),
        );
    }
    write(root, "assets/video/intro.mp4", &noise(large_len, 99));
}

pub mod build;
pub mod fleet;
pub mod lambda;
pub mod world;

pub use build::{cargo_build, http, http_builder, liveship_bin, profile_dir, run_ok};

/// The moto_server the AWS tests run against (`LIVESHIP_TEST_MOTO_URL`).
/// Missing, the tests fail rather than pass vacuously.
pub fn moto_url() -> String {
    std::env::var("LIVESHIP_TEST_MOTO_URL").unwrap_or_else(|_| {
        panic!("LIVESHIP_TEST_MOTO_URL is not set: run scripts/test, or start `moto_server -H 127.0.0.1 -p 5000` and set it to http://127.0.0.1:5000")
    })
}

/// AWS SDK configuration for moto: its endpoint, a fixed region, and test
/// credentials.
pub async fn moto_sdk_config() -> aws_config::SdkConfig {
    liveship_core::aws::sdk_loader()
        .endpoint_url(moto_url())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .load()
        .await
}

/// An S3 client for moto (path-style addressing, which moto needs).
pub async fn moto_s3() -> aws_sdk_s3::Client {
    let cfg = moto_sdk_config().await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&cfg)
            .force_path_style(true)
            .build(),
    )
}

/// A real `liveship serve` process on a free loopback port, with its own
/// data directory. Killed when dropped.
#[derive(Debug)]
pub struct Server {
    /// Base URL, such as `http://127.0.0.1:41234`.
    pub url: String,
    /// The bootstrap admin token.
    pub admin_token: String,
    /// The data directory (kept across restarts).
    pub data_dir: std::path::PathBuf,
    _tmp: Option<tempfile::TempDir>,
    child: Option<std::process::Child>,
    stderr_path: std::path::PathBuf,
    /// The Lambda deployment, when this server is one ([`Server::start_lambda`]).
    pub stack: Option<lambda::Stack>,
}

impl Server {
    /// Starts a server on a fresh data directory.
    pub fn start() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data_dir = tmp.path().join("data");
        let mut s = Self::start_in(&data_dir, "lsp_test_admin_token_0123456789abcdef");
        s._tmp = Some(tmp);
        s
    }

    /// Starts a server on a fresh data directory with more `serve` flags.
    pub fn start_with_args(args: &[&str]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut s = Self::spawn(
            &tmp.path().join("data"),
            "lsp_test_admin_token_0123456789abcdef",
            &[],
            args,
        );
        s._tmp = Some(tmp);
        s
    }

    /// Starts a server on a fresh data directory with more environment.
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut s = Self::spawn(
            &tmp.path().join("data"),
            "lsp_test_admin_token_0123456789abcdef",
            &env,
            &[],
        );
        s._tmp = Some(tmp);
        s
    }

    /// Starts a server on the AWS backend against moto at `moto_url`, with a
    /// fresh bucket and table prefix (`--create-resources`).
    pub fn start_aws(moto_url: &str) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let env = aws_env(moto_url, &tmp);
        let mut s = Self::spawn(
            &tmp.path().join("data"),
            "lsp_test_admin_token_0123456789abcdef",
            &env,
            &["--create-resources"],
        );
        s._tmp = Some(tmp);
        s
    }

    /// The three Lambda functions behind a local API Gateway, on S3 and
    /// DynamoDB in moto at `moto_url`: a fresh bucket and tables, and the
    /// admin token, made first by `liveship bootstrap --create-resources`.
    /// `extra` is more environment for the functions.
    pub fn start_lambda(moto_url: &str, extra: &[(&str, &str)]) -> Self {
        Self::start_lambda_with_admin(moto_url, extra, "lsp_test_admin_token_0123456789abcdef")
    }

    /// [`Server::start_lambda`] with a given admin token.
    pub fn start_lambda_with_admin(
        moto_url: &str,
        extra: &[(&str, &str)],
        admin_token: &str,
    ) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut env = aws_env(moto_url, &tmp);
        env.retain(|(k, _)| k != "LIVESHIP_BACKEND");
        run_ok(
            std::process::Command::new(liveship_bin())
                .args(["bootstrap", "--backend", "aws", "--create-resources"])
                .env("LIVESHIP_ADMIN_TOKEN", admin_token)
                .envs(env.iter().map(|(k, v)| (k, v))),
            "liveship bootstrap",
        );
        env.retain(|(k, _)| k != "AWS_ENDPOINT_URL");
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let stack = lambda::Stack::start(moto_url, &env, tmp.path());
        Self {
            url: stack.url.clone(),
            admin_token: admin_token.to_owned(),
            data_dir: tmp.path().to_owned(),
            stderr_path: tmp.path().join("none.log"),
            _tmp: Some(tmp),
            child: None,
            stack: Some(stack),
        }
    }
}

/// Environment of the AWS backend against moto, with a fresh bucket and
/// table prefix.
fn aws_env(moto_url: &str, tmp: &tempfile::TempDir) -> Vec<(String, String)> {
    let unique = format!(
        "t{}{}",
        std::process::id(),
        tmp.path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "")
    );
    [
        ("LIVESHIP_BACKEND", "aws".to_owned()),
        ("LIVESHIP_BUCKET", format!("liveship-{unique}")),
        ("LIVESHIP_TABLE_PREFIX", format!("{unique}-")),
        ("AWS_ENDPOINT_URL", moto_url.to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

impl Server {
    /// Starts a server on `data_dir` (which may hold data from an earlier run).
    pub fn start_in(data_dir: &Path, admin_token: &str) -> Self {
        Self::spawn(data_dir, admin_token, &[], &[])
    }

    fn spawn(data_dir: &Path, admin_token: &str, env: &[(String, String)], args: &[&str]) -> Self {
        use std::io::BufRead;
        fs::create_dir_all(data_dir).expect("data dir");
        let stderr_path = data_dir.with_extension(format!("stderr-{}.log", std::process::id()));
        let stderr = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)
            .expect("log file");
        let mut child = std::process::Command::new(liveship_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("LIVESHIP_ADMIN_TOKEN", admin_token)
            .env_remove("LIVESHIP_PUBLIC_URL")
            .env_remove("LIVESHIP_BACKEND")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start liveship serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("liveship serve exited before listening")
                .expect("read stdout");
            if let Some(rest) = line.strip_prefix("liveship listening on ") {
                break rest.split_whitespace().next().expect("url").to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            url,
            admin_token: admin_token.to_owned(),
            data_dir: data_dir.to_owned(),
            _tmp: None,
            child: Some(child),
            stderr_path,
            stack: None,
        }
    }

    /// `kill -9`: no shutdown, no flush, no goodbye.
    pub fn kill_hard(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill(); // SIGKILL on Unix
            let _ = child.wait();
        }
    }

    /// `kill -TERM`, then waits (up to `limit`) for the process to exit;
    /// its exit status, or `None` if it was still running (then killed).
    pub fn stop_gracefully(
        &mut self,
        limit: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = child.try_wait().expect("wait for the server") {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        self.kill_hard();
        None
    }

    /// Everything the server (or each function) logged so far.
    pub fn log(&self) -> String {
        if let Some(stack) = &self.stack {
            return stack.gateway.logs();
        }
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Restarts on the same data directory after [`Server::kill_hard`].
    pub fn restart(mut self) -> Self {
        self.kill_hard();
        let mut next = Self::start_in(&self.data_dir.clone(), &self.admin_token.clone());
        next._tmp = self._tmp.take();
        next
    }

    /// Runs the CLI against this server with `token`; returns (exit code, stdout, stderr).
    pub fn cli(&self, token: &str, cwd: &Path, args: &[&str]) -> (i32, String, String) {
        let out = std::process::Command::new(liveship_bin())
            .current_dir(cwd)
            .args(args)
            .env("LIVESHIP_SERVER", &self.url)
            .env("LIVESHIP_TOKEN", token)
            // Saved logins of the machine's user stay out of the tests.
            .env("LIVESHIP_CONFIG_DIR", cwd.join(".liveship-config"))
            .env_remove("LIVESHIP_PROFILE")
            .env_remove("LIVESHIP_SIGNING_KEY")
            .env_remove("LIVESHIP_APP_ID")
            .output()
            .expect("run liveship");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Like [`Server::cli`] with `--json`, asserting success; the JSON answer.
    pub fn cli_json(&self, token: &str, cwd: &Path, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let (code, out, err) = self.cli(token, cwd, &all);
        assert_eq!(code, 0, "liveship {args:?} failed: {err}\n{out}");
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill_hard();
        let _ = fs::remove_file(&self.stderr_path);
    }
}

/// A plain enabled, unsigned, limit-free build record of `app` (for tests
/// that drive the lookup rules or a store directly).
pub fn build_record(
    app: &liveship_core::domain::AppId,
    id: u64,
    version: &str,
) -> liveship_core::model::Build {
    use liveship_core::model::{ArtifactType, Build, Commit, NativeLimits};
    Build {
        id,
        app_id: app.clone(),
        version: liveship_core::domain::BuildVersion::new(version).expect("a valid version"),
        artifact_type: ArtifactType::Manifest,
        artifact_url: None,
        manifest_sha256: liveship_core::hash::Sha256Digest::of(version.as_bytes()),
        zip: None,
        zip_rsa_signature: None,
        capgo_encrypted: None,
        brotli: false,
        file_count: 1,
        total_size: 1,
        key_id: None,
        commit: Commit::default(),
        mandatory: false,
        disabled: false,
        native: NativeLimits::new(),
        created_at: liveship_core::model::now(),
    }
}
