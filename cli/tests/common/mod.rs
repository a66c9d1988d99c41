//! Helpers for driving the real `liveship` binary.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns the single JSON object on stdout.
    pub fn ok_json(&self) -> serde_json::Value {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self.json()
    }

    /// The single JSON object on stdout (exactly one line, nothing else).
    pub fn json(&self) -> serde_json::Value {
        let lines: Vec<_> = self.stdout.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one JSON line on stdout, got: {:?}",
            self.stdout
        );
        let v: serde_json::Value = serde_json::from_str(lines[0]).expect("stdout is JSON");
        assert!(v.is_object());
        v
    }

    /// Asserts a verification failure (exit 3) and returns stderr.
    pub fn verify_failed(&self) -> &str {
        assert_eq!(
            self.code, 3,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self.one_line_error()
    }

    /// Asserts a plain error (exit 1) and returns stderr.
    pub fn failed(&self) -> &str {
        assert_eq!(
            self.code, 1,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self.one_line_error()
    }

    fn one_line_error(&self) -> &str {
        let errors: Vec<_> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert_eq!(errors.len(), 1, "one error line expected: {}", self.stderr);
        errors[0]
    }
}

pub fn liveship(cwd: &Path, args: &[&str]) -> Run {
    liveship_env(cwd, args, &[])
}

pub fn liveship_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_liveship"));
    cmd.current_dir(cwd).args(args);
    for var in [
        "LIVESHIP_SIGNING_KEY",
        "LIVESHIP_PUBLIC_KEY",
        "LIVESHIP_APP_ID",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run liveship");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

pub fn write(root: &Path, rel: &str, body: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, body).unwrap();
}

/// A small web build with nested directories, text and binary files.
pub fn sample_build(root: &Path) -> PathBuf {
    let www = root.join("www");
    write(
        &www,
        "index.html",
        b"<!doctype html><html><body>app</body></html>\n",
    );
    write(
        &www,
        "js/main.4f2a.js",
        &b"console.log('hello');\n".repeat(200),
    );
    write(
        &www,
        "js/vendor.js",
        &b"function f(){return 1}\n".repeat(500),
    );
    write(
        &www,
        "assets/icon/favicon.png",
        &(0..=255u8).cycle().take(3000).collect::<Vec<_>>(),
    );
    write(&www, "assets/i18n/en.json", br#"{"hello":"Hello"}"#);
    write(&www, "empty.txt", b"");
    www
}

/// A temp dir with a key pair and the sample build.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        sample_build(dir.path());
        let r = liveship(
            dir.path(),
            &["live-update", "generate-signing-key", "--json"],
        );
        r.ok_json();
        Self { dir }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn www(&self) -> PathBuf {
        self.dir.path().join("www")
    }
    pub fn run(&self, args: &[&str]) -> Run {
        liveship(self.path(), args)
    }
    fn run_prefixed(&self, prefix: &[&str], extra: &[&str]) -> Run {
        let args: Vec<&str> = prefix.iter().chain(extra).copied().collect();
        self.run(&args)
    }
    /// `generate-manifest` of www/ with extra arguments (no key).
    pub fn manifest_with(&self, extra: &[&str]) -> Run {
        self.run_prefixed(
            &["live-update", "generate-manifest", "--build-dir", "www"],
            extra,
        )
    }
    /// `generate-manifest` of www/ signed with the fixture's key.
    pub fn manifest(&self, extra: &[&str]) -> Run {
        let key = ["--signing-key", "liveship_private.pem"];
        self.manifest_with(&[&key[..], extra].concat())
    }
    /// `bundle-artifact` of www/ with extra arguments (no key).
    pub fn bundle_with(&self, extra: &[&str]) -> Run {
        self.run_prefixed(
            &["live-update", "bundle-artifact", "--build-dir", "www"],
            extra,
        )
    }
    /// `bundle-artifact` of www/ signed with the fixture's key.
    pub fn bundle(&self, extra: &[&str]) -> Run {
        let key = ["--signing-key", "liveship_private.pem"];
        self.bundle_with(&[&key[..], extra].concat())
    }
    /// `verify --build-dir www` with extra arguments (no key).
    pub fn verify_www_with(&self, extra: &[&str]) -> Run {
        self.run_prefixed(&["live-update", "verify", "--build-dir", "www"], extra)
    }
    /// `verify --build-dir www` against the fixture's public key.
    pub fn verify_www(&self, extra: &[&str]) -> Run {
        let key = ["--public-key", "liveship_public.pem"];
        self.verify_www_with(&[&key[..], extra].concat())
    }
}

pub fn fixture_key(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}
