//! Building and running the workspace's binaries from the tests, and the
//! one HTTP client they use.

use std::path::Path;

/// A reqwest client builder, with the process's TLS provider installed
/// first (reqwest is built without one; see
/// `liveship_core::https::install_ring_provider`).
pub fn http_builder() -> reqwest::ClientBuilder {
    liveship_core::https::install_ring_provider();
    reqwest::Client::builder()
}

/// A reqwest client with the defaults (see [`http_builder`]).
pub fn http() -> reqwest::Client {
    http_builder()
        .build()
        .expect("a default reqwest client builds")
}

/// The `liveship` binary beside this test binary (`target/<profile>/liveship`),
/// brought up to date once per test process with `cargo build -p liveship`,
/// so `cargo test -p liveship-tests` never runs a stale server.
/// `LIVESHIP_BIN` overrides it.
pub fn liveship_bin() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    if let Ok(p) = std::env::var("LIVESHIP_BIN") {
        return p.into();
    }
    BUILT.get_or_init(|| cargo_build(&["liveship"]));
    let bin = profile_dir().join(format!("liveship{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p liveship` (cargo test --workspace builds it)",
        bin.display()
    );
    bin
}

/// Runs `cmd` to the end and returns its standard output; panics, naming
/// `what` and showing the standard error, if it cannot start or fails.
pub fn run_ok(cmd: &mut std::process::Command, what: &str) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} could not start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs `cargo build -p <package>...` on this workspace, in the profile this
/// test binary was built with; panics with cargo's output if it fails.
pub fn cargo_build(packages: &[&str]) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut cmd = std::process::Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "--manifest-path"])
        .arg(manifest);
    for p in packages {
        cmd.args(["-p", p]);
    }
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    run_ok(
        &mut cmd,
        &format!("cargo build -p {}", packages.join(" -p ")),
    );
}

/// `target/<profile>`: where the binaries are, seen from a test binary
/// (`target/<profile>/deps/...`) or a helper binary (`target/<profile>/...`).
pub fn profile_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let dir = exe.parent().expect("a binary is in a directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().expect("target/<profile>").to_owned()
    } else {
        dir.to_owned()
    }
}
