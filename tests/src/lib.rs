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
