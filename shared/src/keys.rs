//! Ed25519 signing and verifying keys, stored as PEM: the private key as
//! PKCS#8 (`-----BEGIN PRIVATE KEY-----`), the public key as SPKI
//! (`-----BEGIN PUBLIC KEY-----`), the forms `openssl genpkey -algorithm
//! ed25519` and `openssl pkey -pubout` write.

use crate::hash::Sha256Digest;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::Signer;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The Ed25519 algorithm identifier (RFC 8410).
const OID_ED25519: &str = "1.3.101.112";
const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_ED448: &str = "1.3.101.113";
const OID_X25519: &str = "1.3.101.110";

const GENERATE_HINT: &str =
    "liveship signs with Ed25519; create a key pair with `liveship live-update generate-signing-key`";

/// A key that cannot be used, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The text has no PEM block at all.
    #[error("not a PEM key (expected a '-----BEGIN {expected}-----' block); {GENERATE_HINT}")]
    NotPem {
        /// The PEM label that was expected.
        expected: &'static str,
    },
    /// A public key was given where the private key is needed.
    #[error("this is a public key, but signing needs the private key (the file written as liveship_private.pem)")]
    PublicNotPrivate,
    /// A private key was given where a public key is needed.
    #[error("this is a private key, but verifying needs the public key (liveship_public.pem); never ship the private key in an app")]
    PrivateNotPublic,
    /// A key of another algorithm.
    #[error("this is {what}, not an Ed25519 key; {GENERATE_HINT} (an RSA key that signs zips for the Capawesome plugin goes to --rsa-signing-key / --rsa-public-key)")]
    WrongAlgorithm {
        /// Human name of what was found.
        what: String,
    },
    /// A password-protected PKCS#8 key.
    #[error("encrypted private keys are not supported; decrypt it first: openssl pkey -in KEY.pem -out plain.pem")]
    Encrypted,
    /// A PEM block of another kind (a certificate, an OpenSSH key, ...).
    #[error("a PEM block labelled {label:?} is not a key liveship can use (expected {expected:?}); {GENERATE_HINT}")]
    UnsupportedLabel {
        /// The label found.
        label: String,
        /// The label expected.
        expected: &'static str,
    },
    /// The PEM or DER inside is damaged.
    #[error("the key is damaged or truncated ({0}); re-export it or {GENERATE_HINT}")]
    Malformed(String),
    /// The OS random number generator failed.
    #[error("could not get random bytes from the operating system: {0}")]
    Random(String),
}

/// Identifies a public key: lowercase hex SHA-256 of its DER SubjectPublicKeyInfo,
/// the same value as `openssl pkey -pubin -in KEY.pem -outform DER | sha256sum`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(Sha256Digest);

impl KeyId {
    /// Hex form.
    pub fn as_hex(&self) -> String {
        self.0.to_hex()
    }
}

impl TryFrom<String> for KeyId {
    type Error = crate::hash::DigestParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Ok(Self(Sha256Digest::from_hex(&s)?))
    }
}

impl From<KeyId> for String {
    fn from(k: KeyId) -> String {
        k.as_hex()
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_hex())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.as_hex())
    }
}

/// An Ed25519 private key. Its `Debug` shows only the key id, so it can never
/// end up in a log by accident.
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
    public: PublicKey,
}

impl SigningKey {
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self::from_dalek(ed25519_dalek::SigningKey::from_bytes(
            &seed,
        )))
    }

    fn from_dalek(inner: ed25519_dalek::SigningKey) -> Self {
        let public = PublicKey::from_dalek(inner.verifying_key());
        Self { inner, public }
    }

    /// Parses a PKCS#8 PEM private key, explaining what is wrong when the
    /// text holds a public key, an RSA or EC key, or something else.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let text = normalize_pem(text);
        let (label, der) = decode_pem(&text, "PRIVATE KEY")?;
        match label.as_str() {
            "PRIVATE KEY" => {}
            "PUBLIC KEY" => return Err(KeyError::PublicNotPrivate),
            "RSA PRIVATE KEY" => return Err(wrong("an RSA private key")),
            "EC PRIVATE KEY" => return Err(wrong("an EC private key")),
            "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
            other => {
                return Err(KeyError::UnsupportedLabel {
                    label: other.to_owned(),
                    expected: "PRIVATE KEY",
                })
            }
        }
        match ed25519_dalek::SigningKey::from_pkcs8_der(&der) {
            Ok(k) => Ok(Self::from_dalek(k)),
            Err(e) => {
                let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice())
                    .map_err(|_| KeyError::Malformed(e.to_string()))?;
                let oid = info.algorithm.oid.to_string();
                if oid == OID_ED25519 {
                    Err(KeyError::Malformed(e.to_string()))
                } else {
                    Err(wrong(&format!("{} private key", algorithm_name(&oid))))
                }
            }
        }
    }

    /// The PKCS#8 v1 (RFC 5208) PEM text of this key, the form OpenSSL,
    /// Node's `crypto` and Python's `cryptography` all read (v2, with the
    /// public key inside, is refused by OpenSSL 3.0). Both are read.
    /// Handle with care: this is the secret.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        let bytes = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: self.inner.to_bytes(),
            public_key: None,
        };
        let pem = bytes
            .to_pkcs8_pem(LineEnding::LF)
            .map(|z| z.as_str().to_owned())
            .map_err(|e| KeyError::Malformed(e.to_string()));
        drop(bytes); // KeypairBytes zeroises its secret on drop
        pem
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `message` (deterministic, RFC 8032).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.inner.sign(message).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey {{ key_id: {} }}", self.public.key_id())
    }
}

/// An Ed25519 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    inner: ed25519_dalek::VerifyingKey,
    key_id: KeyId,
}

impl PublicKey {
    fn from_dalek(inner: ed25519_dalek::VerifyingKey) -> Self {
        let der = inner
            .to_public_key_der()
            .expect("encoding a valid Ed25519 key as SPKI cannot fail");
        let key_id = KeyId(Sha256Digest::of(der.as_bytes()));
        Self { inner, key_id }
    }

    /// Parses an SPKI PEM public key, explaining what is wrong when the text
    /// holds a private key or a key of another algorithm.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let text = normalize_pem(text);
        let (label, der) = decode_pem(&text, "PUBLIC KEY")?;
        match label.as_str() {
            "PUBLIC KEY" => {}
            "PRIVATE KEY"
            | "RSA PRIVATE KEY"
            | "EC PRIVATE KEY"
            | "ENCRYPTED PRIVATE KEY"
            | "OPENSSH PRIVATE KEY" => return Err(KeyError::PrivateNotPublic),
            "RSA PUBLIC KEY" => return Err(wrong("an RSA public key")),
            other => {
                return Err(KeyError::UnsupportedLabel {
                    label: other.to_owned(),
                    expected: "PUBLIC KEY",
                })
            }
        }
        match ed25519_dalek::VerifyingKey::from_public_key_der(&der) {
            Ok(k) => Ok(Self::from_dalek(k)),
            Err(e) => {
                let spki = pkcs8::spki::SubjectPublicKeyInfoRef::try_from(der.as_slice())
                    .map_err(|_| KeyError::Malformed(e.to_string()))?;
                let oid = spki.algorithm.oid.to_string();
                if oid == OID_ED25519 {
                    Err(KeyError::Malformed(e.to_string()))
                } else {
                    Err(wrong(&format!("{} public key", algorithm_name(&oid))))
                }
            }
        }
    }

    /// The SPKI PEM text of this key.
    pub fn to_pem(&self) -> String {
        self.inner
            .to_public_key_pem(LineEnding::LF)
            .expect("encoding a valid Ed25519 key as PEM cannot fail")
    }

    /// This key's id.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// Checks an Ed25519 signature with the strict rules (no malleable or
    /// small-order forms), so one message has one valid signature per key.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.inner.verify_strict(message, &sig).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey {{ key_id: {} }}", self.key_id)
    }
}

fn wrong(what: &str) -> KeyError {
    KeyError::WrongAlgorithm {
        what: what.to_owned(),
    }
}

fn algorithm_name(oid: &str) -> String {
    match oid {
        OID_RSA => "an RSA".to_owned(),
        OID_EC => "an EC (ECDSA)".to_owned(),
        OID_ED448 => "an Ed448".to_owned(),
        OID_X25519 => "an X25519".to_owned(),
        other => format!("an unknown-algorithm ({other})"),
    }
}

/// CI systems often store a PEM in one line with literal `\n`; accept that,
/// and surrounding whitespace.
pub(crate) fn normalize_pem(text: &str) -> String {
    let t = text.trim();
    if !t.contains('\n') && t.contains("\\n") {
        t.replace("\\n", "\n")
    } else {
        t.replace("\r\n", "\n")
    }
}

fn decode_pem(text: &str, expected: &'static str) -> Result<(String, Vec<u8>), KeyError> {
    if !text.contains("-----BEGIN ") {
        return Err(KeyError::NotPem { expected });
    }
    let (label, der) = pkcs8::der::pem::decode_vec(text.as_bytes())
        .map_err(|e| KeyError::Malformed(format!("PEM: {e}")))?;
    Ok((label.to_owned(), der))
}

/// True when `text` looks like PEM text rather than a path to a file.
pub fn looks_like_pem(text: &str) -> bool {
    text.contains("-----BEGIN ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_pem_and_sign() {
        let sk = SigningKey::generate().unwrap();
        let pem = sk.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        // PKCS#8 v1: version 0 and no public key, 48 bytes in all.
        let (_, der) = decode_pem(&pem, "PRIVATE KEY").unwrap();
        assert_eq!(der.len(), 48);
        assert_eq!(&der[..7], &[0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05]);
        let sk2 = SigningKey::from_pem(&pem).unwrap();
        let pub_pem = sk.public_key().to_pem();
        assert!(pub_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let pk = PublicKey::from_pem(&pub_pem).unwrap();
        assert_eq!(pk.key_id(), sk2.public_key().key_id());
        let sig = sk2.sign(b"hello");
        assert!(pk.verify(b"hello", &sig));
        assert!(!pk.verify(b"hellO", &sig));
        assert!(!pk.verify(b"hello", &sig[..63]));
    }

    #[test]
    fn reads_pkcs8_v2_too() {
        let sk = SigningKey::generate().unwrap();
        let v2 = sk.inner.to_pkcs8_pem(LineEnding::LF).unwrap();
        let (_, der) = decode_pem(&v2, "PRIVATE KEY").unwrap();
        assert_eq!(der[4], 0x01, "ed25519-dalek writes v2");
        let back = SigningKey::from_pem(&v2).unwrap();
        assert_eq!(back.public_key().key_id(), sk.public_key().key_id());
    }

    #[test]
    fn escaped_newlines_accepted() {
        let sk = SigningKey::generate().unwrap();
        let one_line = sk.to_pem().unwrap().replace('\n', "\\n");
        assert!(SigningKey::from_pem(&one_line).is_ok());
    }

    #[test]
    fn debug_never_shows_secret() {
        let sk = SigningKey::generate().unwrap();
        let dbg = format!("{sk:?}");
        let pem = sk.to_pem().unwrap();
        let body: String = pem.lines().nth(1).unwrap().chars().take(20).collect();
        assert!(!dbg.contains(&body));
        assert!(dbg.contains(&sk.public_key().key_id().as_hex()));
    }

    #[test]
    fn wrong_kinds_explained() {
        let sk = SigningKey::generate().unwrap();
        let pub_pem = sk.public_key().to_pem();
        assert!(matches!(
            SigningKey::from_pem(&pub_pem),
            Err(KeyError::PublicNotPrivate)
        ));
        assert!(matches!(
            PublicKey::from_pem(&sk.to_pem().unwrap()),
            Err(KeyError::PrivateNotPublic)
        ));
        assert!(matches!(
            SigningKey::from_pem("hello"),
            Err(KeyError::NotPem { .. })
        ));
        assert!(matches!(
            SigningKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            Err(KeyError::Malformed(_))
        ));
    }
}
