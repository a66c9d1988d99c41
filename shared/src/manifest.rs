//! The signed manifest.
//!
//! Three stages, after rust-tuf:
//! 1. [`ManifestDocument`]: the raw file, as stored (`live-update-manifest.json`):
//!    a base64 `payload` beside an Ed25519 `signature` (or `null`).
//! 2. [`Manifest`]: the payload parsed and checked against the path rules,
//!    but not trusted.
//! 3. [`Verified<Manifest>`]: built only by [`Verifier::verify`], after the
//!    signature over the exact payload bytes checked out against a trusted key.
//!
//! Signing the stored bytes means no JSON canonicalisation is ever needed:
//! every implementation (Rust, TypeScript on the device) verifies the same
//! bytes, then parses them.

use crate::domain::{AppId, BuildVersion};
use crate::hash::{Crc32, Sha256Digest};
use crate::keys::{KeyId, PublicKey, SigningKey};
use crate::paths::ManifestPath;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::ops::Deref;

/// The `type` field of every manifest payload. Part of the signed bytes, so a
/// signature over some other JSON document can never pass as a manifest.
pub const MANIFEST_TYPE: &str = "liveship-manifest";
/// The payload schema this crate writes and understands.
pub const SCHEMA: u32 = 1;
/// The only signature algorithm.
pub const ALG_ED25519: &str = "ed25519";
/// Largest manifest document accepted (about 200,000 files).
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024 * 1024;

/// One file of a build.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative path, `/`-separated; see [`crate::paths`].
    pub path: ManifestPath,
    /// SHA-256 of the file's bytes.
    pub sha256: Sha256Digest,
    /// Size in bytes.
    pub size: u64,
}

/// The zip artifact a manifest describes (only in the manifest written beside a zip).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZipInfo {
    /// SHA-256 of the whole zip file.
    pub sha256: Sha256Digest,
    /// Size of the zip file in bytes.
    pub size: u64,
    /// CRC-32 of the whole zip file, for the stock plugin lines that check
    /// only that (written by liveship 0.2 on; absent in older manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^[0-9a-f]{8}$")]
    pub crc32: Option<Crc32>,
}

/// A parsed, rule-checked manifest payload. Not trusted until verified.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "type")]
    kind: String,
    schema: u32,
    /// The app this build belongs to, when given at generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<AppId>,
    /// The build's version label, when given at generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<BuildVersion>,
    /// Every file, sorted by path (byte order).
    pub files: Vec<FileEntry>,
    /// The zip artifact, in the manifest written beside a bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<ZipInfo>,
}

/// A manifest that breaks the format or the rules.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The document is larger than [`MAX_MANIFEST_BYTES`].
    #[error("manifest is larger than {MAX_MANIFEST_BYTES} bytes")]
    TooLarge,
    /// The document is not the expected JSON.
    #[error("manifest file is not a liveship manifest document (regenerate it with `liveship live-update generate-manifest`)")]
    Document(#[source] serde_json::Error),
    /// The payload is not base64.
    #[error("manifest payload is not valid base64")]
    Base64(#[source] base64::DecodeError),
    /// The payload is not a valid manifest (includes path rule violations).
    #[error("manifest payload is invalid")]
    Payload(#[source] serde_json::Error),
    /// The payload's `type` is not [`MANIFEST_TYPE`].
    #[error("manifest payload has type {0:?}, expected {MANIFEST_TYPE:?}")]
    WrongType(String),
    /// A schema newer than this build understands.
    #[error("manifest schema {0} is not supported (this liveship reads schema {SCHEMA}); upgrade liveship")]
    UnsupportedSchema(u32),
    /// Paths that cannot all be written to one device (the same path twice,
    /// paths that collide on iOS and macOS, a file that is also a directory).
    #[error("manifest {0}")]
    PathSet(#[from] crate::paths::SetError),
    /// A signature algorithm other than Ed25519.
    #[error("manifest signature algorithm {0:?} is not supported (expected \"ed25519\")")]
    UnsupportedAlgorithm(String),
    /// The signature is not base64 of 64 bytes.
    #[error("manifest signature is not base64 of a 64-byte Ed25519 signature")]
    SignatureEncoding,
}

impl Manifest {
    /// A manifest for `files` (sorted here), checked against every rule.
    pub fn new(
        app_id: Option<AppId>,
        version: Option<BuildVersion>,
        mut files: Vec<FileEntry>,
    ) -> Result<Self, ManifestError> {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let m = Self {
            kind: MANIFEST_TYPE.to_owned(),
            schema: SCHEMA,
            app_id,
            version,
            files,
            zip: None,
        };
        m.validate()?;
        Ok(m)
    }

    /// This manifest, describing the given zip too.
    pub fn with_zip(mut self, zip: ZipInfo) -> Self {
        self.zip = Some(zip);
        self
    }

    /// Total size of all files in bytes.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Checks the rules that single fields cannot: type, schema, duplicates,
    /// case collisions, and a path used both as file and as directory.
    fn validate(&self) -> Result<(), ManifestError> {
        if self.kind != MANIFEST_TYPE {
            return Err(ManifestError::WrongType(self.kind.clone()));
        }
        if self.schema != SCHEMA {
            return Err(ManifestError::UnsupportedSchema(self.schema));
        }
        crate::paths::check_path_set(self.files.iter().map(|f| f.path.as_str()))?;
        Ok(())
    }

    /// The payload bytes: compact JSON, fields in a fixed order, files sorted.
    /// Deterministic, so the same build always yields the same signed bytes.
    pub fn to_payload_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest always serialises")
    }

    fn from_payload_bytes(bytes: &[u8]) -> Result<Self, ManifestError> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(ManifestError::Payload)?;
        m.validate()?;
        Ok(m)
    }

    /// The signed document for this manifest.
    pub fn sign(&self, key: &SigningKey) -> ManifestDocument {
        ManifestDocument::sign_payload(&self.to_payload_bytes(), key)
    }

    /// The document for this manifest without a signature.
    pub fn unsigned(&self) -> ManifestDocument {
        ManifestDocument {
            payload: B64.encode(self.to_payload_bytes()),
            signature: None,
        }
    }
}

/// The signature beside a payload.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureBlock {
    /// Always `"ed25519"`.
    pub alg: String,
    /// Which key signed (see [`KeyId`]).
    pub key_id: KeyId,
    /// Base64 of the 64-byte signature over the decoded payload bytes.
    pub sig: String,
}

/// The manifest file exactly as stored: the raw, untrusted stage.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestDocument {
    /// Base64 of the manifest JSON; these decoded bytes are what is signed.
    pub payload: String,
    /// The signature, or `null` for an unsigned manifest.
    pub signature: Option<SignatureBlock>,
}

impl ManifestDocument {
    /// Signs payload bytes exactly as given, without checking that they are a
    /// manifest: [`Manifest::sign`] uses it, and so do tests and test-vector
    /// tools that need correctly signed documents the verifier must refuse.
    pub fn sign_payload(payload: &[u8], key: &SigningKey) -> ManifestDocument {
        ManifestDocument {
            payload: B64.encode(payload),
            signature: Some(SignatureBlock {
                alg: ALG_ED25519.to_owned(),
                key_id: key.public_key().key_id().clone(),
                sig: B64.encode(key.sign(payload)),
            }),
        }
    }

    /// Parses a stored document (size-limited; nothing is trusted yet).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge);
        }
        serde_json::from_slice(bytes).map_err(ManifestError::Document)
    }

    /// The bytes to store: pretty JSON with a trailing newline.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a document always serialises");
        v.push(b'\n');
        v
    }

    /// True when the document carries a signature (not necessarily a valid one).
    pub fn is_signed(&self) -> bool {
        self.signature.is_some()
    }

    fn payload_bytes(&self) -> Result<Vec<u8>, ManifestError> {
        B64.decode(self.payload.as_bytes())
            .map_err(ManifestError::Base64)
    }

    /// Parses the payload WITHOUT checking the signature: for integrity-only
    /// checks when no public key is configured, and for showing what a
    /// manifest claims. Nothing parsed this way should be applied or trusted.
    pub fn decode_unverified(&self) -> Result<Manifest, ManifestError> {
        Manifest::from_payload_bytes(&self.payload_bytes()?)
    }
}

/// A value whose signature was checked. Only [`Verifier`] builds one; code
/// outside this module cannot forge it:
///
/// ```compile_fail
/// use liveship_core::keys::KeyId;
/// use liveship_core::manifest::{Manifest, Verified};
/// fn forge(value: Manifest, key_id: KeyId) -> Verified<Manifest> {
///     Verified { value, key_id } // error[E0451]: fields are private
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<T> {
    value: T,
    key_id: KeyId,
}

impl<T> Verified<T> {
    /// For the verifiers of this crate only (manifests and key sets).
    pub(crate) fn new(value: T, key_id: KeyId) -> Self {
        Self { value, key_id }
    }

    /// The key that signed it.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// Leaves the verified world, explicitly.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// Why a manifest failed verification.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No signature, but a key was given.
    #[error("the manifest is not signed, but a public key was given: sign it with --signing-key")]
    Unsigned,
    /// Signed by a key that is not trusted.
    #[error("the manifest is signed by key {signed_by}, not by the given public key ({trusted}); check that the app's public key matches the CI signing key")]
    UnknownKey {
        /// The key id in the document.
        signed_by: KeyId,
        /// The trusted key ids, comma-separated.
        trusted: String,
    },
    /// The signature does not match the payload.
    #[error("the manifest signature is not valid for its contents: the manifest was altered after signing")]
    BadSignature,
    /// The document itself is malformed.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Signed for another app.
    #[error("the manifest is for app {found:?}, expected {expected:?}")]
    AppMismatch {
        /// Expected app id.
        expected: String,
        /// App id in the signed manifest (or "none").
        found: String,
    },
    /// Signed for another version.
    #[error("the manifest is for version {found:?}, expected {expected:?}")]
    VersionMismatch {
        /// Expected version.
        expected: String,
        /// Version in the signed manifest (or "none").
        found: String,
    },
}

/// Checks manifest signatures against a set of trusted public keys.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: Vec<PublicKey>,
}

impl Verifier {
    /// A verifier trusting exactly these keys.
    pub fn new(keys: impl IntoIterator<Item = PublicKey>) -> Self {
        Self {
            keys: keys.into_iter().collect(),
        }
    }

    /// Verifies the signature over the exact payload bytes, then parses them.
    /// The payload is not even parsed before the signature checks out.
    pub fn verify(&self, doc: &ManifestDocument) -> Result<Verified<Manifest>, VerifyError> {
        let sig = doc.signature.as_ref().ok_or(VerifyError::Unsigned)?;
        if sig.alg != ALG_ED25519 {
            return Err(ManifestError::UnsupportedAlgorithm(sig.alg.clone()).into());
        }
        let key = self
            .keys
            .iter()
            .find(|k| k.key_id() == &sig.key_id)
            .ok_or_else(|| VerifyError::UnknownKey {
                signed_by: sig.key_id.clone(),
                trusted: self
                    .keys
                    .iter()
                    .map(|k| k.key_id().as_hex())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let sig_bytes = B64
            .decode(sig.sig.as_bytes())
            .map_err(|_| ManifestError::SignatureEncoding)?;
        if sig_bytes.len() != 64 {
            return Err(ManifestError::SignatureEncoding.into());
        }
        let payload = doc.payload_bytes()?;
        if !key.verify(&payload, &sig_bytes) {
            return Err(VerifyError::BadSignature);
        }
        Ok(Verified {
            value: Manifest::from_payload_bytes(&payload)?,
            key_id: key.key_id().clone(),
        })
    }
}

/// A manifest read either with a signature check (a key was configured) or,
/// when no key is configured, only parsed. Callers that apply or publish a
/// build must insist on [`Trust::Verified`].
#[derive(Debug, Clone)]
pub enum Trust {
    /// The signature checked out.
    Verified(Verified<Manifest>),
    /// No key was configured; only integrity can be checked.
    Unverified(Manifest),
}

impl Trust {
    /// Verifies with `verifier` when there is one; otherwise only parses.
    pub fn open(doc: &ManifestDocument, verifier: Option<&Verifier>) -> Result<Self, VerifyError> {
        match verifier {
            Some(v) => Ok(Self::Verified(v.verify(doc)?)),
            None => Ok(Self::Unverified(doc.decode_unverified()?)),
        }
    }

    /// The manifest, trusted or not.
    pub fn manifest(&self) -> &Manifest {
        match self {
            Self::Verified(v) => v,
            Self::Unverified(m) => m,
        }
    }

    /// The signing key, when verified.
    pub fn key_id(&self) -> Option<&KeyId> {
        match self {
            Self::Verified(v) => Some(v.key_id()),
            Self::Unverified(_) => None,
        }
    }
}

impl Manifest {
    /// Checks that the manifest is for the app and version asked for. On a
    /// [`Verified`] manifest this stops a validly signed build of one app
    /// from being replayed to another.
    pub fn expect(
        &self,
        app_id: Option<&AppId>,
        version: Option<&BuildVersion>,
    ) -> Result<(), VerifyError> {
        fn show<T: std::fmt::Display>(v: Option<&T>) -> String {
            v.map_or_else(|| "none".to_owned(), |v| v.to_string())
        }
        if let Some(expected) = app_id {
            if self.app_id.as_ref() != Some(expected) {
                return Err(VerifyError::AppMismatch {
                    expected: expected.to_string(),
                    found: show(self.app_id.as_ref()),
                });
            }
        }
        if let Some(expected) = version {
            if self.version.as_ref() != Some(expected) {
                return Err(VerifyError::VersionMismatch {
                    expected: expected.to_string(),
                    found: show(self.version.as_ref()),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::SetError;

    fn entry(path: &str, body: &[u8]) -> FileEntry {
        FileEntry {
            path: ManifestPath::new(path).unwrap(),
            sha256: Sha256Digest::of(body),
            size: body.len() as u64,
        }
    }

    fn sample() -> Manifest {
        Manifest::new(
            Some(AppId::new("com.example").unwrap()),
            Some(BuildVersion::new("1.0.0").unwrap()),
            vec![entry("js/app.js", b"app"), entry("index.html", b"<html>")],
        )
        .unwrap()
    }

    #[test]
    fn sign_and_verify() {
        let key = SigningKey::generate().unwrap();
        let doc = sample().sign(&key);
        let bytes = doc.to_json_bytes();
        let doc2 = ManifestDocument::from_slice(&bytes).unwrap();
        let v = Verifier::new([key.public_key().clone()])
            .verify(&doc2)
            .unwrap();
        assert_eq!(*v, sample());
        assert_eq!(v.files[0].path.as_str(), "index.html", "files sorted");
        assert_eq!(v.key_id(), key.public_key().key_id());
        v.expect(Some(&AppId::new("com.example").unwrap()), None)
            .unwrap();
        assert!(matches!(
            v.expect(Some(&AppId::new("other").unwrap()), None),
            Err(VerifyError::AppMismatch { .. })
        ));
        assert!(matches!(
            v.expect(None, Some(&BuildVersion::new("2").unwrap())),
            Err(VerifyError::VersionMismatch { .. })
        ));
    }

    #[test]
    fn deterministic_signature() {
        let key = SigningKey::generate().unwrap();
        assert_eq!(sample().sign(&key), sample().sign(&key));
    }

    #[test]
    fn altered_payload_refused() {
        let key = SigningKey::generate().unwrap();
        let mut doc = sample().sign(&key);
        let mut m = sample();
        m.files[0].size += 1;
        doc.payload = m.unsigned().payload;
        let err = Verifier::new([key.public_key().clone()])
            .verify(&doc)
            .unwrap_err();
        assert!(matches!(err, VerifyError::BadSignature), "{err}");
    }

    #[test]
    fn wrong_key_and_unsigned_refused() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let v = Verifier::new([other.public_key().clone()]);
        assert!(matches!(
            v.verify(&sample().sign(&key)),
            Err(VerifyError::UnknownKey { .. })
        ));
        assert!(matches!(
            v.verify(&sample().unsigned()),
            Err(VerifyError::Unsigned)
        ));
        // A signature by another key relabelled with the trusted key id.
        let mut doc = sample().sign(&key);
        doc.signature.as_mut().unwrap().key_id = other.public_key().key_id().clone();
        assert!(matches!(v.verify(&doc), Err(VerifyError::BadSignature)));
    }

    #[test]
    fn rules_enforced_on_parse() {
        let key = SigningKey::generate().unwrap();
        let verifier = Verifier::new([key.public_key().clone()]);
        let sign_raw = |payload: &str| ManifestDocument {
            payload: B64.encode(payload),
            signature: Some(SignatureBlock {
                alg: ALG_ED25519.into(),
                key_id: key.public_key().key_id().clone(),
                sig: B64.encode(key.sign(payload.as_bytes())),
            }),
        };
        let h = Sha256Digest::of(b"").to_hex();
        let bad_paths = [
            "../evil.js",
            "/etc/passwd",
            "a\\\\b",
            "C:/x",
            "a\\u0000b",
            "a/../../b",
            "live-update-manifest.json",
        ];
        for p in bad_paths {
            let payload = format!(
                r#"{{"type":"liveship-manifest","schema":1,"files":[{{"path":"{p}","sha256":"{h}","size":0}}]}}"#
            );
            let err = verifier.verify(&sign_raw(&payload)).unwrap_err();
            assert!(
                matches!(err, VerifyError::Manifest(ManifestError::Payload(_))),
                "{p}: {err}"
            );
        }
        let dup = format!(
            r#"{{"type":"liveship-manifest","schema":1,"files":[{{"path":"a","sha256":"{h}","size":0}},{{"path":"a","sha256":"{h}","size":0}}]}}"#
        );
        assert!(matches!(
            verifier.verify(&sign_raw(&dup)),
            Err(VerifyError::Manifest(ManifestError::PathSet(
                SetError::Duplicate(_)
            )))
        ));
        let case = dup.replacen("\"a\"", "\"A\"", 1);
        assert!(matches!(
            verifier.verify(&sign_raw(&case)),
            Err(VerifyError::Manifest(ManifestError::PathSet(
                SetError::Collision(..)
            )))
        ));
        let nested = dup.replacen("\"a\"", "\"a/b\"", 1);
        assert!(matches!(
            verifier.verify(&sign_raw(&nested)),
            Err(VerifyError::Manifest(ManifestError::PathSet(
                SetError::FileDirConflict(..)
            )))
        ));
        let other_type = r#"{"type":"something-else","schema":1,"files":[]}"#;
        assert!(matches!(
            verifier.verify(&sign_raw(other_type)),
            Err(VerifyError::Manifest(ManifestError::WrongType(_)))
        ));
        let newer = r#"{"type":"liveship-manifest","schema":2,"files":[]}"#;
        assert!(matches!(
            verifier.verify(&sign_raw(newer)),
            Err(VerifyError::Manifest(ManifestError::UnsupportedSchema(2)))
        ));
    }

    #[test]
    fn oversized_documents_refused_before_parsing() {
        let big = vec![b' '; MAX_MANIFEST_BYTES + 1];
        assert!(matches!(
            ManifestDocument::from_slice(&big),
            Err(ManifestError::TooLarge)
        ));
    }

    #[test]
    fn garbage_documents_refused() {
        assert!(matches!(
            ManifestDocument::from_slice(b"{not json"),
            Err(ManifestError::Document(_))
        ));
        assert!(matches!(
            ManifestDocument::from_slice(br#"{"payload":"x","signature":null,"extra":1}"#),
            Err(ManifestError::Document(_))
        ));
        let doc = ManifestDocument::from_slice(br#"{"payload":"!!!","signature":null}"#).unwrap();
        assert!(matches!(
            doc.decode_unverified(),
            Err(ManifestError::Base64(_))
        ));
    }
}
