//! How liveship is shipped: `--version` names the commit, the container
//! image's health check command, and the Dockerfile held against the code
//! (the release pipeline itself is checked by scripts/test with `dist`).

use liveship_tests::{liveship_bin, run_ok};
use std::process::Command;

fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = run_ok(
        Command::new(liveship_bin()).arg("--version"),
        "liveship --version",
    );
    let out = String::from_utf8(out).unwrap();
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo_root())
        .output()
        .expect("git runs");
    assert!(head.status.success(), "the tests run in a git checkout");
    let head = String::from_utf8(head.stdout).unwrap();
    assert_eq!(
        out.trim(),
        format!(
            "liveship {} (commit {})",
            env!("CARGO_PKG_VERSION"),
            head.trim()
        )
    );
}

#[test]
fn healthcheck_says_whether_a_server_answers() {
    let server = liveship_tests::Server::start();
    let listen = server.url.trim_start_matches("http://").to_owned();
    let ok = Command::new(liveship_bin())
        .args(["healthcheck", "--json"])
        .env("LIVESHIP_LISTEN", &listen)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{ok:?}");
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["url"], format!("{}/healthz", server.url));

    // A wildcard listen address is asked on loopback, as in the image.
    let port = listen.rsplit_once(':').unwrap().1;
    let wildcard = Command::new(liveship_bin())
        .args(["healthcheck", "--listen", &format!("0.0.0.0:{port}")])
        .output()
        .unwrap();
    assert!(wildcard.status.success(), "{wildcard:?}");
    drop(server);

    // Nothing listens on the port any more: exit 1, saying why.
    let down = Command::new(liveship_bin())
        .args(["healthcheck", "--listen", &listen])
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    let err = String::from_utf8_lossy(&down.stderr);
    assert!(err.contains("no answer from"), "{err}");
    assert!(err.contains("is `liveship serve` running?"), "{err}");
}

/// The Dockerfile's settings are the ones `liveship serve` reads, its port
/// is the one it listens on, its health check is `liveship healthcheck`,
/// and it runs as a non-root user with the data on a volume.
#[test]
fn the_dockerfile_matches_the_code() {
    use liveship_core::env;
    let text = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    // The final stage's instructions, continuation lines joined.
    let last_stage = text.rsplit("\nFROM ").next().unwrap();
    let mut logical: Vec<String> = Vec::new();
    let mut continued = false;
    for line in last_stage
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
    {
        let part = line.trim().trim_end_matches('\\').trim();
        match logical.last_mut() {
            Some(last) if continued => {
                last.push(' ');
                last.push_str(part);
            }
            _ => logical.push(part.to_owned()),
        }
        continued = line.trim_end().ends_with('\\');
    }
    let instruction = |name: &str| -> Vec<String> {
        logical
            .iter()
            .filter_map(|l| l.strip_prefix(&format!("{name} ")))
            .map(|l| l.trim().to_owned())
            .collect()
    };
    let env_block = instruction("ENV").join(" ");
    let listen = format!("{}=0.0.0.0:8080", env::LISTEN);
    assert!(env_block.contains(&listen), "{env_block}");
    assert!(
        env_block.contains(&format!("{}=/data", env::DATA_DIR)),
        "{env_block}"
    );
    assert_eq!(instruction("EXPOSE"), ["8080"]);
    assert_eq!(instruction("VOLUME"), [r#"["/data"]"#]);
    let user = instruction("USER");
    assert_eq!(user.len(), 1);
    assert!(
        !user[0].starts_with('0') && !user[0].starts_with("root"),
        "{user:?}"
    );
    let health = instruction("HEALTHCHECK");
    assert_eq!(health.len(), 1);
    assert!(
        health[0].ends_with(r#"CMD ["/usr/local/bin/liveship", "healthcheck"]"#),
        "{health:?}"
    );
    assert_eq!(
        instruction("ENTRYPOINT"),
        [r#"["/usr/local/bin/liveship"]"#]
    );
    assert_eq!(instruction("CMD"), [r#"["serve"]"#]);
}
