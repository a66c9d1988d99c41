//! Key sets and their rules: the document, the parsed set, checking a
//! set against the rules and a manifest against the set.

use crate::domain::AppId;
use crate::keys::{KeyId, PublicKey, SigningKey};
use crate::manifest::{ManifestDocument, SignatureBlock, Verifier, ALG_ED25519};
use crate::time::{utc, Timestamp};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The `type` field of every key set payload: part of the signed bytes, so a
/// root signature over anything else never passes as a key set.
pub const KEYSET_TYPE: &str = "liveship-keyset";
/// The payload schema this crate writes and understands.
pub const KEYSET_SCHEMA: u32 = 1;
/// Largest key set document or chain accepted.
pub const MAX_KEYSET_BYTES: usize = 256 * 1024;
/// Most signing keys one set may name.
pub const MAX_KEYS: usize = 64;
/// Most revoked key ids one set may carry.
pub const MAX_REVOKED: usize = 1024;
/// Most signatures on one document (a hand-over has two).
pub const MAX_SIGNATURES: usize = 4;
/// Most root hand-overs a chain may carry.
pub const MAX_ROTATIONS: usize = 64;
/// A key's `not_before` is honoured this many seconds early, so a device
/// whose clock is a few minutes behind still takes a key delegated just now.
pub const CLOCK_SKEW_SECONDS: i64 = 600;

/// A signing key the root delegates, with its validity window.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DelegatedKey {
    /// The key (SPKI PEM, as `liveship_public.pem`).
    pub public_key: String,
    /// Valid from (Unix seconds).
    pub not_before: Timestamp,
    /// Valid until, exclusive (Unix seconds); none: until revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Timestamp>,
    /// A label for people (`ci-2026`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl DelegatedKey {
    /// The parsed key.
    pub fn key(&self) -> Result<PublicKey, KeySetError> {
        PublicKey::from_pem(&self.public_key)
            .map_err(|e| KeySetError::Invalid(format!("a delegated key: {e}")))
    }
}

/// A parsed, rule-checked key set payload. Not trusted until verified.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeySet {
    #[serde(rename = "type")]
    kind: String,
    schema: u32,
    /// The app whose builds these keys sign.
    pub app_id: AppId,
    /// Grows by one with every change; a device never goes back.
    pub version: u64,
    /// The root key that signs this set (SPKI PEM).
    pub root: String,
    /// When the root signed it (Unix seconds; informative).
    pub issued_at: Timestamp,
    /// The signing keys builds may be signed by.
    pub keys: Vec<DelegatedKey>,
    /// Key ids never to trust again, whatever an older set said.
    #[serde(default)]
    pub revoked: Vec<KeyId>,
}

/// Where a delegated key stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Builds it signs are accepted now.
    Valid,
    /// Its window has not opened.
    NotYetValid,
    /// Its window closed.
    Expired,
}

/// The key set file as stored and served: the raw, untrusted stage.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeySetDocument {
    /// Base64 of the key set JSON; these decoded bytes are what is signed.
    pub payload: String,
    /// By the root; a hand-over to a new root carries both roots' signatures.
    pub signatures: Vec<SignatureBlock>,
}

/// What the server serves: the root hand-overs in version order, then the
/// current set (which may itself be the last hand-over).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeySetChain {
    /// Every set that handed over to a new root, oldest first.
    #[serde(default)]
    pub rotations: Vec<KeySetDocument>,
    /// The set in force.
    pub current: KeySetDocument,
}

/// What a device (or the server) remembers of the last set it accepted, so
/// an older set is never accepted again.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TrustState {
    /// The root in force after that set (SPKI PEM).
    pub root: String,
    /// That set's version.
    pub version: u64,
}

/// Why a key set, or a build under it, is refused. [`KeySetError::code`] is
/// the stable code the device client gives for the same case.
#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    /// Not a key set document, or its payload breaks the rules.
    #[error("not a valid key set: {0}; write key sets with `liveship keys delegate`")]
    Invalid(String),
    /// No signature by the trusted root.
    #[error("the key set is not signed by the app's root key {trusted} (signed by: {signed_by}); sign it with the root key whose public half the app pins")]
    WrongRoot {
        /// The root key expected.
        trusted: KeyId,
        /// The key ids that did sign, comma-separated.
        signed_by: String,
    },
    /// The root's signature does not match the payload.
    #[error("the key set's root signature is not valid for its contents: the key set was altered after signing")]
    BadSignature,
    /// A set naming a new root, not signed by that new root.
    #[error("the key set hands over to root {new_root} without that root's signature; sign the hand-over with both the old and the new root key (`liveship keys rotate-root`)")]
    BadRotation {
        /// The new root named.
        new_root: KeyId,
    },
    /// Older than one already accepted.
    #[error("key set version {version} is older than version {seen}, already accepted: an old key set was replayed; serve the current one")]
    Rollback {
        /// The version offered.
        version: u64,
        /// The highest version seen.
        seen: u64,
    },
    /// Not above the stored version (server side: every change must grow it).
    #[error("key set version {version} does not follow the stored version {stored}; fetch the current set (`liveship keys show --json`) and sign version {next}", next = stored + 1)]
    Stale {
        /// The version offered.
        version: u64,
        /// The version stored.
        stored: u64,
    },
    /// For another app.
    #[error("the key set is for app {found}, expected {expected}")]
    AppMismatch {
        /// Expected app id.
        expected: String,
        /// App id in the set.
        found: String,
    },
    /// The build's key is revoked.
    #[error("the build is signed by key {0}, which the app's key set revokes; sign with a delegated key (see `liveship keys show`)")]
    Revoked(KeyId),
    /// The build's key has expired.
    #[error("the build is signed by key {key}, which expired at {}; delegate a new signing key (`liveship keys delegate`) and sign with it", utc(*.at))]
    Expired {
        /// The key.
        key: KeyId,
        /// When it expired.
        at: Timestamp,
    },
    /// The build's key is not valid yet.
    #[error("the build is signed by key {key}, valid only from {}; wait, or check this machine's clock", utc(*.from))]
    NotYetValid {
        /// The key.
        key: KeyId,
        /// When it becomes valid.
        from: Timestamp,
    },
    /// The build's key is not in the set.
    #[error("the build is signed by key {key}, which is not in the app's key set (version {version}); delegate it with `liveship keys delegate --public-key`, or sign with a delegated key")]
    NotInSet {
        /// The key.
        key: KeyId,
        /// The set's version.
        version: u64,
    },
    /// The build is not signed at all.
    #[error("the manifest is not signed, but the app has a key set: sign it with a delegated key (--signing-key)")]
    Unsigned,
}

impl KeySetError {
    /// The stable code, the same as the device client's.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "malformed",
            Self::WrongRoot { .. } => "wrong_root",
            Self::BadSignature => "bad_signature",
            Self::BadRotation { .. } => "bad_rotation",
            Self::Rollback { .. } => "rollback",
            Self::Stale { .. } => "stale_key_set",
            Self::AppMismatch { .. } => "app_mismatch",
            Self::Revoked(_) => "revoked",
            Self::Expired { .. } => "expired",
            Self::NotYetValid { .. } => "not_yet_valid",
            Self::NotInSet { .. } => "key_not_in_set",
            Self::Unsigned => "unsigned",
        }
    }
}

pub(crate) fn invalid(m: impl Into<String>) -> KeySetError {
    KeySetError::Invalid(m.into())
}

impl KeySet {
    /// Version 1 for `app_id`, signed by `root`, naming no key yet.
    pub fn first(app_id: AppId, root: &PublicKey, now: Timestamp) -> Self {
        Self {
            kind: KEYSET_TYPE.to_owned(),
            schema: KEYSET_SCHEMA,
            app_id,
            version: 1,
            root: root.to_pem(),
            issued_at: now,
            keys: Vec::new(),
            revoked: Vec::new(),
        }
    }

    /// The next version of this set, to change and sign.
    pub fn next(&self, now: Timestamp) -> Self {
        Self {
            version: self.version + 1,
            issued_at: now,
            ..self.clone()
        }
    }

    /// The root this set names.
    pub fn root_key(&self) -> Result<PublicKey, KeySetError> {
        PublicKey::from_pem(&self.root).map_err(|e| invalid(format!("its root: {e}")))
    }

    /// Names `key` (or changes its window when already named).
    pub fn delegate(
        &mut self,
        key: &PublicKey,
        not_before: Timestamp,
        not_after: Option<Timestamp>,
        name: Option<String>,
    ) -> Result<(), KeySetError> {
        let entry = DelegatedKey {
            public_key: key.to_pem(),
            not_before,
            not_after,
            name,
        };
        let mut keys: Vec<DelegatedKey> = self
            .keys
            .iter()
            .filter(|k| k.key().map(|p| p.key_id() != key.key_id()).unwrap_or(true))
            .cloned()
            .collect();
        keys.push(entry);
        let before = std::mem::replace(&mut self.keys, keys);
        if let Err(e) = self.validate() {
            self.keys = before;
            return Err(e);
        }
        Ok(())
    }

    /// Why `key_id` cannot be revoked from this set, if it cannot: the
    /// root's own key (hand over to a new root instead), or a key the set
    /// does not delegate (the answer names the keys it does). A key already
    /// revoked is revocable (nothing changes).
    pub fn revocable(&self, key_id: &KeyId) -> Result<(), String> {
        if self.root_key().is_ok_and(|r| r.key_id() == key_id) {
            return Err(format!(
                "key {key_id} is the root key of this set, not a signing key: it cannot be revoked; \
                 hand over to a new root with `liveship keys rotate-root`"
            ));
        }
        let delegated: Vec<String> = self
            .keys
            .iter()
            .filter_map(|k| k.key().ok())
            .map(|k| k.key_id().to_string())
            .collect();
        if self.revoked.contains(key_id) || delegated.contains(&key_id.to_string()) {
            return Ok(());
        }
        Err(format!(
            "key {key_id} is not a signing key of app {}'s key set: it delegates {}; \
             `liveship keys show` lists them",
            self.app_id,
            if delegated.is_empty() {
                "no key yet".to_owned()
            } else {
                delegated.join(", ")
            }
        ))
    }

    /// Revokes `key_id`: drops it from the keys and lists it as revoked.
    /// False when it was already revoked.
    pub fn revoke(&mut self, key_id: &KeyId) -> bool {
        self.keys
            .retain(|k| k.key().map(|p| p.key_id() != key_id).unwrap_or(true));
        if self.revoked.contains(key_id) {
            return false;
        }
        self.revoked.push(key_id.clone());
        self.revoked.sort();
        true
    }

    /// Hands over to `new_root`; the result must be signed by both roots.
    pub fn rotate_root(&mut self, new_root: &PublicKey) -> Result<(), KeySetError> {
        let before = std::mem::replace(&mut self.root, new_root.to_pem());
        if let Err(e) = self.validate() {
            self.root = before;
            return Err(e);
        }
        Ok(())
    }

    /// Checks what single fields cannot: type, schema, keys that parse, no
    /// key twice, no key both named and revoked, the root not delegated
    /// (it stays offline: it never signs builds), sane windows.
    fn validate(&self) -> Result<(), KeySetError> {
        if self.kind != KEYSET_TYPE {
            return Err(invalid(format!(
                "its type is {:?}, expected {KEYSET_TYPE:?}",
                self.kind
            )));
        }
        if self.schema != KEYSET_SCHEMA {
            return Err(invalid(format!(
                "schema {} is not supported (this liveship reads schema {KEYSET_SCHEMA}); upgrade liveship",
                self.schema
            )));
        }
        if self.version == 0 {
            return Err(invalid("versions start at 1"));
        }
        let root = self.root_key()?;
        if self.keys.len() > MAX_KEYS {
            return Err(invalid(format!("it names more than {MAX_KEYS} keys")));
        }
        if self.revoked.len() > MAX_REVOKED {
            return Err(invalid(format!("it revokes more than {MAX_REVOKED} keys")));
        }
        let mut seen = std::collections::BTreeSet::new();
        for k in &self.keys {
            let id = k.key()?.key_id().clone();
            if id == *root.key_id() {
                return Err(invalid(
                    "the root key is delegated as a signing key; the root stays offline and signs only key sets",
                ));
            }
            if self.revoked.contains(&id) {
                return Err(invalid(format!("key {id} is both delegated and revoked")));
            }
            if !seen.insert(id.clone()) {
                return Err(invalid(format!("key {id} is named twice")));
            }
            if k.not_after.is_some_and(|t| t <= k.not_before) {
                return Err(invalid(format!("key {id} expires before it is valid")));
            }
            if let Some(n) = &k.name {
                if n.chars().count() > 128 || n.chars().any(char::is_control) {
                    return Err(invalid(
                        "a key name is longer than 128 characters or holds control characters",
                    ));
                }
            }
        }
        let mut revoked = self.revoked.clone();
        revoked.sort();
        revoked.dedup();
        if revoked.len() != self.revoked.len() {
            return Err(invalid("a key id is revoked twice"));
        }
        Ok(())
    }

    /// The payload bytes: compact JSON, fields in a fixed order.
    pub fn to_payload_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a key set always serialises")
    }

    fn from_payload_bytes(bytes: &[u8]) -> Result<Self, KeySetError> {
        let set: KeySet = serde_json::from_slice(bytes)
            .map_err(|e| invalid(format!("its payload is not a key set ({e})")))?;
        set.validate()?;
        Ok(set)
    }

    /// Signs this set: by its root, and for a hand-over by the old root too.
    pub fn sign(&self, signers: &[&SigningKey]) -> KeySetDocument {
        let payload = self.to_payload_bytes();
        KeySetDocument {
            payload: B64.encode(&payload),
            signatures: signers
                .iter()
                .map(|k| SignatureBlock {
                    alg: ALG_ED25519.to_owned(),
                    key_id: k.public_key().key_id().clone(),
                    sig: B64.encode(k.sign(&payload)),
                })
                .collect(),
        }
    }

    /// Where `key` stands at `now` (with [`CLOCK_SKEW_SECONDS`] of grace
    /// before its window opens).
    pub fn status(key: &DelegatedKey, now: Timestamp) -> KeyStatus {
        if now + CLOCK_SKEW_SECONDS < key.not_before {
            KeyStatus::NotYetValid
        } else if key.not_after.is_some_and(|t| now >= t) {
            KeyStatus::Expired
        } else {
            KeyStatus::Valid
        }
    }

    /// The key `key_id`, if this set lets it sign builds at `now`.
    pub fn allowed(&self, key_id: &KeyId, now: Timestamp) -> Result<PublicKey, KeySetError> {
        if self.revoked.contains(key_id) {
            return Err(KeySetError::Revoked(key_id.clone()));
        }
        for k in &self.keys {
            let key = k.key()?;
            if key.key_id() != key_id {
                continue;
            }
            return match Self::status(k, now) {
                KeyStatus::Valid => Ok(key),
                KeyStatus::NotYetValid => Err(KeySetError::NotYetValid {
                    key: key_id.clone(),
                    from: k.not_before,
                }),
                KeyStatus::Expired => Err(KeySetError::Expired {
                    key: key_id.clone(),
                    at: k.not_after.unwrap_or_default(),
                }),
            };
        }
        Err(KeySetError::NotInSet {
            key: key_id.clone(),
            version: self.version,
        })
    }

    /// Every key this set lets sign builds at `now`.
    pub fn allowed_keys(&self, now: Timestamp) -> Vec<PublicKey> {
        self.keys
            .iter()
            .filter(|k| Self::status(k, now) == KeyStatus::Valid)
            .filter_map(|k| k.key().ok())
            .filter(|k| !self.revoked.contains(k.key_id()))
            .collect()
    }

    /// A verifier for `doc` if this set lets its signing key sign at `now`.
    /// Use it on a [`Verified<KeySet>`](crate::manifest::Verified) only.
    pub fn manifest_verifier(
        &self,
        doc: &ManifestDocument,
        now: Timestamp,
    ) -> Result<Verifier, KeySetError> {
        let sig = doc.signature.as_ref().ok_or(KeySetError::Unsigned)?;
        Ok(Verifier::new([self.allowed(&sig.key_id, now)?]))
    }
}

impl KeySetDocument {
    /// Parses a stored or received document (size-limited; nothing trusted).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeySetError> {
        if bytes.len() > MAX_KEYSET_BYTES {
            return Err(invalid(format!(
                "it is larger than {MAX_KEYSET_BYTES} bytes"
            )));
        }
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("not a key set document ({e})")))
    }

    /// The bytes to store: pretty JSON with a trailing newline.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a document always serialises");
        v.push(b'\n');
        v
    }

    /// Parses the payload WITHOUT checking any signature: for showing what a
    /// set claims, never for trusting it.
    pub fn decode_unverified(&self) -> Result<KeySet, KeySetError> {
        KeySet::from_payload_bytes(&self.payload_bytes()?)
    }

    fn payload_bytes(&self) -> Result<Vec<u8>, KeySetError> {
        B64.decode(self.payload.as_bytes())
            .map_err(|_| invalid("its payload is not base64"))
    }

    pub(crate) fn signed_by(&self, key: &PublicKey) -> Result<bool, KeySetError> {
        let Some(sig) = self.signatures.iter().find(|s| s.key_id == *key.key_id()) else {
            return Ok(false);
        };
        if sig.alg != ALG_ED25519 {
            return Err(invalid(format!(
                "signature algorithm {:?} is not supported (expected \"ed25519\")",
                sig.alg
            )));
        }
        let bytes = B64
            .decode(sig.sig.as_bytes())
            .map_err(|_| invalid("a signature is not base64"))?;
        Ok(bytes.len() == 64 && key.verify(&self.payload_bytes()?, &bytes))
    }

    /// The payload, once `trusted` signed it; parsed only after that.
    pub(crate) fn open(&self, trusted: &PublicKey) -> Result<KeySet, KeySetError> {
        if self.signatures.len() > MAX_SIGNATURES {
            return Err(invalid(format!(
                "it carries more than {MAX_SIGNATURES} signatures"
            )));
        }
        if !self
            .signatures
            .iter()
            .any(|s| s.key_id == *trusted.key_id())
        {
            return Err(KeySetError::WrongRoot {
                trusted: trusted.key_id().clone(),
                signed_by: self
                    .signatures
                    .iter()
                    .map(|s| s.key_id.as_hex())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if !self.signed_by(trusted)? {
            return Err(KeySetError::BadSignature);
        }
        KeySet::from_payload_bytes(&self.payload_bytes()?)
    }
}
