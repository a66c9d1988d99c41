//! RSA keys, used for one thing: the zip signature the stock
//! `@capawesome/capacitor-live-update` plugin checks when an app sets its
//! `publicKey` (`java.security.Signature.getInstance("SHA256withRSA")`, i.e.
//! RSASSA-PKCS1-v1_5 with SHA-256 over the zip's bytes, base64 in the
//! answer's `signature`). Liveship's own manifests stay Ed25519.
//!
//! The private key lives on the CI machine: the CLI signs there, and the
//! server only ever verifies, against the app's RSA public key, before it
//! stores a build. Keys are PEM: the private key as PKCS#8 (`-----BEGIN
//! PRIVATE KEY-----`, what `openssl genpkey -algorithm RSA` writes; PKCS#1
//! `-----BEGIN RSA PRIVATE KEY-----` is read too), the public key as SPKI
//! (`-----BEGIN PUBLIC KEY-----`, what the plugin's config takes).

use crate::hash::Sha256Digest;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use std::fmt;

/// Smallest modulus accepted, in bits.
pub const MIN_BITS: usize = 2048;
/// Largest modulus accepted, in bits (verification cost grows with it).
pub const MAX_BITS: usize = 8192;

/// An RSA key that cannot be used, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum RsaKeyError {
    /// Not PEM text of the expected kind.
    #[error("not an RSA {expected} in PEM (expected '-----BEGIN {label}-----'); create a pair with `liveship live-update generate-signing-key --algorithm rsa`")]
    NotPem {
        /// `private key` or `public key`.
        expected: &'static str,
        /// The PEM label expected.
        label: &'static str,
    },
    /// A public key given where the private key is needed, or the reverse.
    #[error("this is {found}, but {needed} is needed here (liveship_rsa_private.pem signs in CI; liveship_rsa_public.pem goes to the app and the server)")]
    WrongHalf {
        /// What was given.
        found: &'static str,
        /// What is needed.
        needed: &'static str,
    },
    /// A modulus outside [`MIN_BITS`]..=[`MAX_BITS`].
    #[error("the RSA key has {0} bits; use {MIN_BITS} to {MAX_BITS} bits")]
    Size(usize),
    /// Damaged, encrypted or of another algorithm.
    #[error("the RSA key cannot be read ({0}); if it is password-protected, decrypt it first: openssl pkey -in KEY.pem -out plain.pem")]
    Malformed(String),
    /// Key generation or signing failed.
    #[error("RSA operation failed: {0}")]
    Crypto(String),
}

/// The public half: SPKI PEM, as the app's config and the server hold it.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPublic {
    inner: RsaPublicKey,
}

/// The private half, for the CI machine only. Its `Debug` shows no secret.
pub struct RsaSigning {
    inner: RsaPrivateKey,
}

fn check_size(bits: usize) -> Result<(), RsaKeyError> {
    if (MIN_BITS..=MAX_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(RsaKeyError::Size(bits))
    }
}

impl RsaPublic {
    /// Reads SPKI (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`) PEM.
    pub fn from_pem(text: &str) -> Result<Self, RsaKeyError> {
        let t = crate::keys::normalize_pem(text);
        if t.contains("PRIVATE KEY-----") {
            return Err(RsaKeyError::WrongHalf {
                found: "a private key",
                needed: "the public key",
            });
        }
        let inner = if t.contains("-----BEGIN PUBLIC KEY-----") {
            RsaPublicKey::from_public_key_pem(&t)
                .map_err(|e| RsaKeyError::Malformed(e.to_string()))?
        } else if t.contains("-----BEGIN RSA PUBLIC KEY-----") {
            RsaPublicKey::from_pkcs1_pem(&t).map_err(|e| RsaKeyError::Malformed(e.to_string()))?
        } else {
            return Err(RsaKeyError::NotPem {
                expected: "public key",
                label: "PUBLIC KEY",
            });
        };
        check_size(inner.size() * 8)?;
        Ok(Self { inner })
    }

    /// SPKI PEM, the form the plugin's `publicKey` setting takes.
    pub fn to_pem(&self) -> String {
        self.inner
            .to_public_key_pem(LineEnding::LF)
            .expect("an RSA public key encodes")
    }

    /// Checks a base64 PKCS#1 v1.5 signature over a message whose SHA-256
    /// is `digest` (the zip's, from its signed manifest: the server never
    /// needs the zip's bytes).
    pub fn verify_digest(&self, digest: &Sha256Digest, signature_b64: &str) -> bool {
        let Ok(sig) = B64.decode(signature_b64.trim()) else {
            return false;
        };
        self.inner
            .verify(Pkcs1v15Sign::new::<sha2::Sha256>(), digest.as_bytes(), &sig)
            .is_ok()
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.inner.size() * 8
    }

    /// PKCS#1 PEM (`-----BEGIN RSA PUBLIC KEY-----`), the only form the
    /// capgo plugin's `publicKey` setting reads.
    pub fn to_pkcs1_pem(&self) -> String {
        use rsa::pkcs1::EncodeRsaPublicKey;
        self.inner
            .to_pkcs1_pem(LineEnding::LF)
            .expect("an RSA public key encodes")
    }

    /// The key id the capgo plugin sends as `key_id`: the first 20
    /// characters of the base64 body of its PKCS#1 PEM (`calcKeyId`).
    pub fn capgo_key_id(&self) -> String {
        let body: String = self
            .to_pkcs1_pem()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        body.chars().take(20).collect()
    }

    /// Checks a capgo encrypted checksum: hex of the RSA "private-key
    /// encryption" (PKCS#1 v1.5 type 1, no DigestInfo) of the zip's raw
    /// SHA-256, which the plugin decrypts with the public key.
    pub fn verify_capgo_checksum(&self, digest: &Sha256Digest, checksum_hex: &str) -> bool {
        let Ok(bytes) = hex::decode(checksum_hex) else {
            return false;
        };
        self.inner
            .verify(Pkcs1v15Sign::new_unprefixed(), digest.as_bytes(), &bytes)
            .is_ok()
    }
}

impl fmt::Debug for RsaPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaPublic {{ bits: {} }}", self.bits())
    }
}

impl RsaSigning {
    /// A new key of `bits` (2048 to 8192).
    pub fn generate(bits: usize) -> Result<Self, RsaKeyError> {
        check_size(bits)?;
        let inner = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits)
            .map_err(|e| RsaKeyError::Crypto(e.to_string()))?;
        Ok(Self { inner })
    }

    /// Reads PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) PEM.
    pub fn from_pem(text: &str) -> Result<Self, RsaKeyError> {
        let t = crate::keys::normalize_pem(text);
        if t.contains("-----BEGIN PUBLIC KEY-----") || t.contains("-----BEGIN RSA PUBLIC KEY-----")
        {
            return Err(RsaKeyError::WrongHalf {
                found: "a public key",
                needed: "the private key",
            });
        }
        let inner = if t.contains("-----BEGIN PRIVATE KEY-----") {
            RsaPrivateKey::from_pkcs8_pem(&t).map_err(|e| RsaKeyError::Malformed(e.to_string()))?
        } else if t.contains("-----BEGIN RSA PRIVATE KEY-----") {
            RsaPrivateKey::from_pkcs1_pem(&t).map_err(|e| RsaKeyError::Malformed(e.to_string()))?
        } else {
            return Err(RsaKeyError::NotPem {
                expected: "private key",
                label: "PRIVATE KEY",
            });
        };
        check_size(inner.size() * 8)?;
        Ok(Self { inner })
    }

    /// PKCS#8 PEM (zeroized when dropped).
    pub fn to_pem(&self) -> Result<zeroize::Zeroizing<String>, RsaKeyError> {
        self.inner
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| RsaKeyError::Crypto(e.to_string()))
    }

    /// The public half.
    pub fn public(&self) -> RsaPublic {
        RsaPublic {
            inner: self.inner.to_public_key(),
        }
    }

    /// Base64 PKCS#1 v1.5 signature over the message whose SHA-256 is `digest`.
    pub fn sign_digest(&self, digest: &Sha256Digest) -> Result<String, RsaKeyError> {
        let sig = self
            .inner
            .sign(Pkcs1v15Sign::new::<sha2::Sha256>(), digest.as_bytes())
            .map_err(|e| RsaKeyError::Crypto(e.to_string()))?;
        Ok(B64.encode(sig))
    }
}

/// What a capgo device with a `publicKey` checks (its "encryption v2",
/// read from CryptoCipher.java of the current lines): the zip encrypted with
/// a random AES-128 key (CBC, PKCS#7), the key RSA-"encrypted" with the
/// private key so the device recovers it with the public one
/// (`session_key` = base64 IV `:` base64 encrypted key), and the plain
/// zip's SHA-256 RSA-"encrypted" the same way (`checksum`, hex). Only the
/// private key's holder can make a pair that decrypts and matches.
#[derive(Debug)]
pub struct CapgoEncryptedZip {
    /// The encrypted zip's bytes.
    pub bytes: Vec<u8>,
    /// `session_key` of the plugin's answer.
    pub session_key: String,
    /// `checksum` of the plugin's answer (hex, 512 characters for 2048 bits).
    pub checksum: String,
}

impl RsaSigning {
    /// Encrypts a zip for capgo devices with `publicKey` set (2048-bit keys
    /// only: the plugin insists on a 256-byte checksum).
    pub fn capgo_encrypt(&self, zip: &[u8]) -> Result<CapgoEncryptedZip, RsaKeyError> {
        use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
        if self.inner.size() != 256 {
            return Err(RsaKeyError::Size(self.inner.size() * 8));
        }
        let mut key = zeroize::Zeroizing::new([0u8; 16]);
        let mut iv = [0u8; 16];
        getrandom::fill(key.as_mut()).map_err(|e| RsaKeyError::Crypto(e.to_string()))?;
        getrandom::fill(&mut iv).map_err(|e| RsaKeyError::Crypto(e.to_string()))?;
        let bytes = cbc::Encryptor::<aes::Aes128>::new(key.as_ref().into(), &iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(zip);
        let raw_sign = |data: &[u8]| {
            self.inner
                .sign(Pkcs1v15Sign::new_unprefixed(), data)
                .map_err(|e| RsaKeyError::Crypto(e.to_string()))
        };
        let session_key = format!("{}:{}", B64.encode(iv), B64.encode(raw_sign(key.as_ref())?));
        let checksum = hex::encode(raw_sign(Sha256Digest::of(zip).as_bytes())?);
        Ok(CapgoEncryptedZip {
            bytes,
            session_key,
            checksum,
        })
    }
}

impl fmt::Debug for RsaSigning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaSigning {{ bits: {}, .. }}", self.inner.size() * 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_round_trip_and_refusals() {
        let key = RsaSigning::generate(2048).unwrap();
        let pem = key.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let key = RsaSigning::from_pem(&pem).unwrap();
        let public = RsaPublic::from_pem(&key.public().to_pem()).unwrap();
        assert_eq!(public.bits(), 2048);
        let d = Sha256Digest::of(b"zip bytes");
        let sig = key.sign_digest(&d).unwrap();
        assert!(public.verify_digest(&d, &sig));
        assert!(!public.verify_digest(&Sha256Digest::of(b"other"), &sig));
        assert!(!public.verify_digest(&d, "not base64!"));
        let other = RsaSigning::generate(2048).unwrap();
        assert!(!other.public().verify_digest(&d, &sig));
        // The halves are told apart, and small keys refused.
        assert!(matches!(
            RsaPublic::from_pem(&pem),
            Err(RsaKeyError::WrongHalf { .. })
        ));
        assert!(matches!(
            RsaSigning::from_pem(&public.to_pem()),
            Err(RsaKeyError::WrongHalf { .. })
        ));
        assert!(matches!(
            RsaSigning::generate(1024),
            Err(RsaKeyError::Size(1024))
        ));
        assert!(matches!(
            RsaPublic::from_pem("hello"),
            Err(RsaKeyError::NotPem { .. })
        ));
        // capgo encryption: the checksum verifies over the plain zip's digest,
        // and the key id is what the plugin computes from the PKCS#1 PEM.
        let zip = b"PK zip bytes".repeat(100);
        let enc = key.capgo_encrypt(&zip).unwrap();
        assert_ne!(&enc.bytes[..16], &zip[..16]);
        assert_eq!(enc.bytes.len() % 16, 0);
        assert_eq!(enc.checksum.len(), 512);
        assert!(public.verify_capgo_checksum(&Sha256Digest::of(&zip), &enc.checksum));
        assert!(!public.verify_capgo_checksum(&Sha256Digest::of(b"x"), &enc.checksum));
        assert!(!other
            .public()
            .verify_capgo_checksum(&Sha256Digest::of(&zip), &enc.checksum));
        let (iv, k) = enc.session_key.split_once(':').unwrap();
        assert_eq!(B64.decode(iv).unwrap().len(), 16);
        assert_eq!(B64.decode(k).unwrap().len(), 256);
        assert!(public
            .to_pkcs1_pem()
            .starts_with("-----BEGIN RSA PUBLIC KEY-----"));
        assert_eq!(public.capgo_key_id().len(), 20);
        assert!(public.capgo_key_id().starts_with("MIIBCgKCAQEA"));
        assert!(matches!(
            RsaSigning::generate(3072).unwrap().capgo_encrypt(&zip),
            Err(RsaKeyError::Size(3072))
        ));
        // Secrets never in Debug.
        let dbg = format!("{key:?}");
        let line: String = pem.lines().nth(1).unwrap().chars().take(16).collect();
        assert!(!dbg.contains(&line));
    }
}
