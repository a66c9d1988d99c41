//! Records the commit `liveship --version` names: `LIVESHIP_COMMIT` when
//! set (a build from a source archive, a container build), else what git
//! says of the checkout, else `unknown` (a crates.io source has no git).

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=LIVESHIP_COMMIT");
    let commit = std::env::var("LIVESHIP_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=LIVESHIP_COMMIT={commit}");
    // Run again when HEAD moves: HEAD itself (a checkout), the branch it
    // names (a commit), packed refs. Only files that exist: cargo reruns a
    // script on every build while a watched path is missing.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let dir = Path::new(&dir);
        let mut watched = vec![dir.join("HEAD"), dir.join("packed-refs")];
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(dir.join(branch));
        }
        for path in watched.iter().filter(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
