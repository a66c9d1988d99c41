//! Brotli copies of a build's text files, made in CI beside the upload
//! (`liveship_core::compress` has the rule; the server checks each copy).

use anyhow::Context;
use liveship_core::hash::Sha256Digest;
use liveship_core::paths::is_compressible;
use liveship_core::wire::BrotliCopy;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Brotli quality for copies: the highest, since a copy is made once in CI
/// and downloaded by every device.
pub const QUALITY: i32 = 11;
/// Window (log2 bytes): 16 MiB, so a large vendor bundle still finds its
/// repeats; every brotli decoder takes it.
pub const WINDOW: i32 = 24;

/// Compresses `bytes` as the copies are made.
pub fn brotli(bytes: &[u8]) -> Vec<u8> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: QUALITY,
        lgwin: WINDOW,
        size_hint: bytes.len(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(bytes.len() / 3 + 64);
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)
        .expect("compressing into memory cannot fail");
    out
}

/// Writes a brotli copy of every file (path in the build, digest, file on
/// disk) the rule picks into `dir`, each once, in parallel; returns what to
/// declare and where each copy is.
pub fn make_copies(
    files: &[(&str, Sha256Digest, &Path)],
    dir: &Path,
) -> anyhow::Result<Vec<(BrotliCopy, PathBuf)>> {
    let mut wanted: Vec<(Sha256Digest, &Path)> = files
        .iter()
        .filter(|(path, _, _)| is_compressible(path))
        .map(|(_, sha, abs)| (*sha, *abs))
        .collect();
    wanted.sort_by_key(|(sha, _)| *sha);
    wanted.dedup_by_key(|(sha, _)| *sha);
    wanted
        .par_iter()
        .map(|(sha, abs)| {
            let bytes =
                std::fs::read(abs).with_context(|| format!("cannot read {}", abs.display()))?;
            if Sha256Digest::of(&bytes) != *sha {
                anyhow::bail!(
                    "{} changed while it was being uploaded; run again",
                    abs.display()
                );
            }
            let copy = brotli(&bytes);
            let out = dir.join(format!("{sha}.br"));
            std::fs::write(&out, &copy)
                .with_context(|| format!("cannot write {}", out.display()))?;
            Ok((
                BrotliCopy {
                    of: *sha,
                    sha256: Sha256Digest::of(&copy),
                    size: copy.len() as u64,
                },
                out,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_made_for_text_files_only_and_decompress_to_them() {
        let dir = tempfile::tempdir().unwrap();
        let js = dir.path().join("a.js");
        let png = dir.path().join("b.png");
        let text = b"export const greeting = 'hello';\n".repeat(200);
        std::fs::write(&js, &text).unwrap();
        std::fs::write(&png, &text).unwrap();
        let sha = Sha256Digest::of(&text);
        let out = tempfile::tempdir().unwrap();
        let copies = make_copies(
            &[
                ("a.js", sha, &js),
                ("again/a.js", sha, &js),
                ("b.png", sha, &png),
            ],
            out.path(),
        )
        .unwrap();
        assert_eq!(copies.len(), 1, "one copy per digest, none for the png");
        let (c, path) = &copies[0];
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(c.size, bytes.len() as u64);
        assert!(c.size * 10 < text.len() as u64);
        assert_eq!(
            liveship_core::compress::check_copy(&bytes, &sha, 1 << 20).unwrap(),
            text.len() as u64
        );
        // A file that changed after hashing is refused, not copied.
        std::fs::write(&js, b"changed").unwrap();
        assert!(make_copies(&[("a.js", sha, &js)], out.path()).is_err());
    }
}
