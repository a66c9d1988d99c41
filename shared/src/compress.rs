//! Brotli copies of build files.
//!
//! Each file whose name [`crate::paths::is_compressible`] picks is stored a
//! second time, brotli-compressed in CI, at its key plus `.br`. The copy is
//! served as raw bytes (no `Content-Encoding`), so a plugin that
//! decompresses `*.br` itself gets exactly what it expects, and the digest a
//! device checks stays the SHA-256 of the original bytes. The server holds
//! a copy it stores to the same rule: it must decompress to the original.

use crate::hash::Sha256Digest;
use std::io::{self, Read};

/// Why a brotli copy was refused.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The bytes are not a whole brotli stream.
    #[error("the bytes are not a valid brotli stream ({0}); compress the file again with brotli")]
    Corrupt(#[source] io::Error),
    /// The decompressed bytes are not the original file.
    #[error(
        "the copy decompresses to SHA-256 {found}, not {expected}: it is the copy of another file"
    )]
    WrongFile {
        /// The digest the copy is stored under.
        expected: Sha256Digest,
        /// The digest of what it decompresses to.
        found: Sha256Digest,
    },
    /// It decompresses to more than the limit (a decompression bomb, or a
    /// file larger than the server takes).
    #[error("the copy decompresses to more than {0} bytes")]
    TooLarge(u64),
}

/// Checks that `compressed` is a brotli stream of the file `original`,
/// reading at most `max_size` decompressed bytes; returns the original size.
pub fn check_copy(
    compressed: &[u8],
    original: &Sha256Digest,
    max_size: u64,
) -> Result<u64, CopyError> {
    let reader = brotli_decompressor::Decompressor::new(compressed, 64 * 1024);
    // One byte past the limit tells "too large" apart from "exactly the limit".
    let mut limited = reader.take(max_size.saturating_add(1));
    let (found, size) =
        crate::hash::hash_reader(&mut limited, |_| {}).map_err(CopyError::Corrupt)?;
    if size > max_size {
        return Err(CopyError::TooLarge(max_size));
    }
    if &found != original {
        return Err(CopyError::WrongFile {
            expected: *original,
            found,
        });
    }
    Ok(size)
}

/// Decompresses a brotli copy whole (for tests and tools; devices stream).
pub fn decompress(compressed: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    brotli_decompressor::Decompressor::new(compressed, 64 * 1024).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn br(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let params = brotli::enc::BrotliEncoderParams::default();
        brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).unwrap();
        out
    }

    #[test]
    fn a_copy_must_decompress_to_its_original_within_the_limit() {
        let text = b"console.log('hello');\n".repeat(500);
        let sha = Sha256Digest::of(&text);
        let copy = br(&text);
        assert!(copy.len() < text.len() / 10);
        assert_eq!(check_copy(&copy, &sha, 1 << 20).unwrap(), text.len() as u64);
        assert_eq!(decompress(&copy).unwrap(), text);
        // Exactly at the limit is fine; one byte under is not.
        assert!(check_copy(&copy, &sha, text.len() as u64).is_ok());
        assert!(matches!(
            check_copy(&copy, &sha, text.len() as u64 - 1),
            Err(CopyError::TooLarge(_))
        ));
        let other = Sha256Digest::of(b"another file");
        assert!(matches!(
            check_copy(&copy, &other, 1 << 20),
            Err(CopyError::WrongFile { .. })
        ));
        assert!(matches!(
            check_copy(&copy[..copy.len() / 2], &sha, 1 << 20),
            Err(CopyError::Corrupt(_)) | Err(CopyError::WrongFile { .. })
        ));
        assert!(matches!(
            check_copy(b"not brotli at all", &sha, 1 << 20),
            Err(CopyError::Corrupt(_)) | Err(CopyError::WrongFile { .. })
        ));
    }
}
