//! SHA-256 digests and streaming hashing.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Read buffer size for hashing: large enough to amortise syscalls, small
/// enough that two worker threads stay far below a megabyte of memory.
pub(crate) const READ_BUF: usize = 256 * 1024;

/// A SHA-256 digest, written as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Digest([u8; 32]);

/// Text that is not a lowercase hex SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a SHA-256 digest: expected 64 lowercase hex characters")]
pub struct DigestParseError(pub String);

impl Sha256Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Wraps raw digest bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, as used in manifests, URLs and storage keys.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 lowercase hex characters. Uppercase is refused so that one
    /// digest has exactly one spelling (it is used in storage keys).
    pub fn from_hex(s: &str) -> Result<Self, DigestParseError> {
        let err = || DigestParseError(s.to_owned());
        if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(err());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| err())?;
        Ok(Self(out))
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({})", self.to_hex())
    }
}

impl TryFrom<String> for Sha256Digest {
    type Error = DigestParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::from_hex(&s)
    }
}

impl From<Sha256Digest> for String {
    fn from(d: Sha256Digest) -> String {
        d.to_hex()
    }
}

/// Hashes everything `reader` yields, in fixed-size chunks, calling
/// `on_chunk` with each chunk's length. Returns the digest and byte count.
pub fn hash_reader<R: Read>(
    reader: R,
    mut on_chunk: impl FnMut(&[u8]),
) -> io::Result<(Sha256Digest, u64)> {
    let mut hasher = Sha256::new();
    let total = for_each_chunk(reader, |chunk| {
        hasher.update(chunk);
        on_chunk(chunk);
        Ok(())
    })?;
    Ok((Sha256Digest(hasher.finalize().into()), total))
}

/// Reads `reader` to the end in [`READ_BUF`]-sized chunks, passing each to
/// `f`; returns the byte count. Retries reads interrupted by signals.
pub(crate) fn for_each_chunk<R: Read>(
    mut reader: R,
    mut f: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    let mut buf = vec![0u8; READ_BUF];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        f(&buf[..n])?;
        total += n as u64;
    }
}

/// Hashes a file by streaming it; never holds more than one buffer of it.
pub fn hash_file(path: &Path) -> io::Result<(Sha256Digest, u64)> {
    hash_reader(File::open(path)?, |_| {})
}

/// A CRC-32 (IEEE) of a whole file, written as 8 lowercase hex characters.
///
/// Not a security property: older lines of the stock capgo updater plugin
/// check a zip download against it (`String.format("%08x")` of
/// `java.util.zip.CRC32`), so the server must be able to send it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Crc32(pub u32);

/// Text that is not 8 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a CRC-32: expected 8 lowercase hex characters")]
pub struct Crc32ParseError(pub String);

impl Crc32 {
    /// The CRC-32 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(crc32fast::hash(bytes))
    }

    /// Lowercase hex, zero-padded to 8 characters, as the capgo plugin writes it.
    pub fn to_hex(&self) -> String {
        format!("{:08x}", self.0)
    }
}

impl fmt::Display for Crc32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Crc32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Crc32({})", self.to_hex())
    }
}

impl TryFrom<String> for Crc32 {
    type Error = Crc32ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s.len() != 8 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(Crc32ParseError(s));
        }
        u32::from_str_radix(&s, 16)
            .map(Self)
            .map_err(|_| Crc32ParseError(s))
    }
}

impl From<Crc32> for String {
    fn from(c: Crc32) -> String {
        c.to_hex()
    }
}

/// SHA-256, size and CRC-32 of a file in one streaming pass (what a zip
/// artifact is described by).
pub fn hash_file_with_crc32(path: &Path) -> io::Result<(Sha256Digest, u64, Crc32)> {
    let mut crc = crc32fast::Hasher::new();
    let (sha, size) = hash_reader(File::open(path)?, |chunk| crc.update(chunk))?;
    Ok((sha, size, Crc32(crc.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // FIPS 180-2 "abc"
        let d = Sha256Digest::of(b"abc");
        assert_eq!(
            d.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let (streamed, n) = hash_reader(&b"abc"[..], |_| {}).unwrap();
        assert_eq!((streamed, n), (d, 3));
    }

    #[test]
    fn hex_round_trip_and_strictness() {
        let d = Sha256Digest::of(b"x");
        assert_eq!(Sha256Digest::from_hex(&d.to_hex()).unwrap(), d);
        assert!(Sha256Digest::from_hex(&d.to_hex().to_uppercase()).is_err());
        assert!(Sha256Digest::from_hex("abc").is_err());
        assert!(Sha256Digest::from_hex(&"g".repeat(64)).is_err());
    }

    #[test]
    fn crc32_matches_java_format() {
        // java.util.zip.CRC32 of "123456789" is 0xCBF43926 (the check value).
        let c = Crc32::of(b"123456789");
        assert_eq!(c.to_hex(), "cbf43926");
        assert_eq!(Crc32::of(b"").to_hex(), "00000000");
        assert_eq!(Crc32::try_from("cbf43926".to_owned()).unwrap(), c);
        assert!(Crc32::try_from("CBF43926".to_owned()).is_err());
        assert!(Crc32::try_from("cbf4392".to_owned()).is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"123456789").unwrap();
        let (sha, n, crc) = hash_file_with_crc32(&p).unwrap();
        assert_eq!((sha, n, crc), (Sha256Digest::of(b"123456789"), 9, c));
    }

    #[test]
    fn streams_in_chunks() {
        let data = vec![7u8; READ_BUF * 2 + 5];
        let mut chunks = 0;
        let (d, n) = hash_reader(&data[..], |_| chunks += 1).unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(d, Sha256Digest::of(&data));
        assert!(chunks >= 3);
    }
}
