//! Key sets: an offline root key delegates the signing keys CI uses, so a
//! team can rotate or revoke a CI key in minutes, with no store release,
//! while neither a stolen CI key alone nor the server can make devices trust
//! a key the root did not name (TUF's root and targets roles, reduced to one
//! document).
//!
//! The stages are those of manifests:
//! 1. [`KeySetDocument`]: the raw file, as stored and served: a base64
//!    `payload` beside one or more Ed25519 `signatures`.
//! 2. [`KeySet`]: the payload parsed and checked against the rules, not trusted.
//! 3. [`Verified<KeySet>`]: built only by [`verify_chain`], once the trusted
//!    root signed it and its version is not below one already seen.
//!
//! Root rotation: a set naming a new `root` must be signed by the trusted
//! root and by the new one. The server keeps every such set and serves them
//! with the current one ([`KeySetChain`]), so a device that pinned the first
//! root walks the hand-overs up to today's root.
//!
//! The device runs the same rules (clients/capacitor `keyset.ts`);
//! tests/vectors/keysets holds both to the same answers.

use crate::domain::AppId;
use crate::keys::{KeyId, PublicKey, SigningKey};
use crate::manifest::{ManifestDocument, SignatureBlock, Verified, Verifier, ALG_ED25519};
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

fn invalid(m: impl Into<String>) -> KeySetError {
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
    /// Use it on a [`Verified<KeySet>`] only.
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

    fn signed_by(&self, key: &PublicKey) -> Result<bool, KeySetError> {
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
    fn open(&self, trusted: &PublicKey) -> Result<KeySet, KeySetError> {
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

impl KeySetChain {
    /// Parses a received chain (size-limited; nothing trusted).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeySetError> {
        if bytes.len() > MAX_KEYSET_BYTES {
            return Err(invalid(format!(
                "it is larger than {MAX_KEYSET_BYTES} bytes"
            )));
        }
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("not a key set chain ({e})")))
    }

    /// This chain with `next` in force: kept among the hand-overs too when it
    /// names a new root. `next` must have been verified against this chain.
    pub fn advance(&self, next: KeySetDocument, rotates: bool) -> Self {
        let mut rotations = self.rotations.clone();
        if rotates {
            rotations.push(next.clone());
        }
        Self {
            rotations,
            current: next,
        }
    }
}

/// The root `set` hands over to: the trusted one, or a new one that signed
/// `doc` too.
fn hand_over(
    doc: &KeySetDocument,
    set: &KeySet,
    trusted: &PublicKey,
) -> Result<PublicKey, KeySetError> {
    let root = set.root_key()?;
    if root == *trusted {
        return Ok(root);
    }
    if doc.signed_by(&root)? {
        Ok(root)
    } else {
        Err(KeySetError::BadRotation {
            new_root: root.key_id().clone(),
        })
    }
}

/// Verifies a chain as a device does: from the pinned root (or the root and
/// version remembered in `seen`), through every root hand-over not yet
/// taken, to the current set, which must not be older than `seen`. Returns
/// the verified set and what to remember from now on.
///
/// Hand-overs that the trusted root did not sign are skipped: they are
/// history from before that root, or junk, and change nothing.
pub fn verify_chain(
    pinned_root: &PublicKey,
    seen: Option<&TrustState>,
    chain: &KeySetChain,
    app_id: &AppId,
) -> Result<(Verified<KeySet>, TrustState), KeySetError> {
    let (mut trusted, mut seen_version) = match seen {
        Some(s) => (
            PublicKey::from_pem(&s.root)
                .map_err(|e| invalid(format!("the remembered root: {e}")))?,
            s.version,
        ),
        None => (pinned_root.clone(), 0),
    };
    if chain.rotations.len() > MAX_ROTATIONS {
        return Err(invalid(format!(
            "it carries more than {MAX_ROTATIONS} root hand-overs"
        )));
    }
    let same_app = |set: &KeySet| {
        if set.app_id == *app_id {
            Ok(())
        } else {
            Err(KeySetError::AppMismatch {
                expected: app_id.to_string(),
                found: set.app_id.to_string(),
            })
        }
    };
    for doc in &chain.rotations {
        let Ok(set) = doc.open(&trusted) else {
            continue;
        };
        if set.version <= seen_version {
            continue;
        }
        same_app(&set)?;
        trusted = hand_over(doc, &set, &trusted)?;
        seen_version = set.version;
    }
    let set = chain.current.open(&trusted)?;
    same_app(&set)?;
    if set.version < seen_version {
        return Err(KeySetError::Rollback {
            version: set.version,
            seen: seen_version,
        });
    }
    let root = hand_over(&chain.current, &set, &trusted)?;
    let state = TrustState {
        root: root.to_pem(),
        version: set.version,
    };
    Ok((Verified::new(set, root.key_id().clone()), state))
}

/// The server's check of a new set for an app whose pinned root is
/// `app_root`: it must verify as a device that saw the stored chain would
/// verify it, and grow the version. Returns the chain to store and the
/// verified new set.
pub fn accept_update(
    app_root: &PublicKey,
    stored: Option<&KeySetChain>,
    next: &KeySetDocument,
    app_id: &AppId,
) -> Result<(KeySetChain, Verified<KeySet>), KeySetError> {
    let seen = match stored {
        Some(chain) => match verify_chain(app_root, None, chain, app_id) {
            Ok((_, state)) => Some(state),
            // A chain the app's root no longer reaches (the root was
            // replaced after it was lost): start from the app's root, but
            // never below the stored version, which devices may have seen.
            Err(_) => None,
        },
        None => None,
    };
    let stored_version = match (stored, &seen) {
        (_, Some(s)) => Some(s.version),
        (Some(chain), None) => chain.current.decode_unverified().map(|s| s.version).ok(),
        (None, None) => None,
    };
    let single = KeySetChain {
        rotations: Vec::new(),
        current: next.clone(),
    };
    let before_root = seen.as_ref().map(|s| s.root.clone());
    let (verified, state) =
        verify_chain(app_root, seen.as_ref(), &single, app_id).map_err(|e| match e {
            // For a writer, an old version is a stale one: fetch and re-sign.
            KeySetError::Rollback { version, seen } => KeySetError::Stale {
                version,
                stored: seen,
            },
            e => e,
        })?;
    if let Some(stored) = stored_version {
        if verified.version <= stored {
            return Err(KeySetError::Stale {
                version: verified.version,
                stored,
            });
        }
    }
    let rotates = before_root.as_ref().is_some_and(|r| *r != state.root)
        || (before_root.is_none() && verified.root_key()? != *app_root);
    let chain = match stored.filter(|_| seen.is_some()) {
        Some(chain) => chain.advance(next.clone(), rotates),
        None => KeySetChain {
            rotations: if rotates {
                vec![next.clone()]
            } else {
                Vec::new()
            },
            current: next.clone(),
        },
    };
    Ok((chain, verified))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Sha256Digest;
    use crate::manifest::{FileEntry, Manifest};
    use crate::paths::ManifestPath;

    const NOW: Timestamp = 1_800_000_000;

    fn app() -> AppId {
        AppId::new("com.example.keys").unwrap()
    }

    fn key() -> SigningKey {
        SigningKey::generate().unwrap()
    }

    fn chain(current: KeySetDocument) -> KeySetChain {
        KeySetChain {
            rotations: Vec::new(),
            current,
        }
    }

    fn manifest(signer: &SigningKey) -> ManifestDocument {
        Manifest::new(
            Some(app()),
            None,
            vec![FileEntry {
                path: ManifestPath::new("index.html").unwrap(),
                sha256: Sha256Digest::of(b"x"),
                size: 1,
            }],
        )
        .unwrap()
        .sign(signer)
    }

    #[test]
    fn a_delegated_key_signs_builds_the_root_does_not() {
        let (root, a) = (key(), key());
        let mut set = KeySet::first(app(), root.public_key(), NOW);
        set.delegate(a.public_key(), NOW, Some(NOW + 86_400), Some("ci".into()))
            .unwrap();
        let doc = set.sign(&[&root]);
        let (v, state) = verify_chain(root.public_key(), None, &chain(doc), &app()).unwrap();
        assert_eq!(state.version, 1);
        assert_eq!(v.key_id(), root.public_key().key_id());
        let verifier = v.manifest_verifier(&manifest(&a), NOW).unwrap();
        verifier.verify(&manifest(&a)).unwrap();
        // The root itself is not a signing key, and cannot be delegated.
        assert_eq!(
            v.manifest_verifier(&manifest(&root), NOW)
                .unwrap_err()
                .code(),
            "key_not_in_set"
        );
        let mut bad = set.clone();
        assert_eq!(
            bad.delegate(root.public_key(), NOW, None, None)
                .unwrap_err()
                .code(),
            "malformed"
        );
        assert_eq!(bad, set, "a refused change changes nothing");
    }

    #[test]
    fn windows_revocation_and_skew() {
        let (root, a, b) = (key(), key(), key());
        let mut set = KeySet::first(app(), root.public_key(), NOW);
        set.delegate(a.public_key(), NOW, Some(NOW + 100), None)
            .unwrap();
        let id = a.public_key().key_id();
        assert!(set.allowed(id, NOW + 99).is_ok());
        assert_eq!(set.allowed(id, NOW + 100).unwrap_err().code(), "expired");
        // A clock up to ten minutes behind still takes a fresh key.
        assert!(set.allowed(id, NOW - CLOCK_SKEW_SECONDS).is_ok());
        assert_eq!(
            set.allowed(id, NOW - CLOCK_SKEW_SECONDS - 1)
                .unwrap_err()
                .code(),
            "not_yet_valid"
        );
        assert_eq!(
            set.allowed(b.public_key().key_id(), NOW)
                .unwrap_err()
                .code(),
            "key_not_in_set"
        );
        assert!(set.revoke(id));
        assert!(!set.revoke(id), "twice is once");
        assert_eq!(set.allowed(id, NOW).unwrap_err().code(), "revoked");
        // Delegating a revoked key again is refused: revocation is for good.
        assert_eq!(
            set.delegate(a.public_key(), NOW, None, None)
                .unwrap_err()
                .code(),
            "malformed"
        );
        // A window that ends before it starts is refused.
        assert!(set.delegate(b.public_key(), NOW, Some(NOW), None).is_err());
        // The manifest must be signed at all.
        let unsigned = ManifestDocument {
            signature: None,
            ..manifest(&b)
        };
        assert_eq!(
            set.manifest_verifier(&unsigned, NOW).unwrap_err().code(),
            "unsigned"
        );
    }

    #[test]
    fn wrong_root_tampering_rollback_and_other_apps() {
        let (root, other, a) = (key(), key(), key());
        let mut v1 = KeySet::first(app(), root.public_key(), NOW);
        v1.delegate(a.public_key(), NOW, None, None).unwrap();
        let d1 = v1.sign(&[&root]);
        let err = |r: Result<(Verified<KeySet>, TrustState), KeySetError>| r.unwrap_err().code();
        assert_eq!(
            err(verify_chain(
                other.public_key(),
                None,
                &chain(d1.clone()),
                &app()
            )),
            "wrong_root"
        );
        let mut tampered = d1.clone();
        let mut changed = v1.clone();
        changed.revoked.push(other.public_key().key_id().clone());
        tampered.payload = B64.encode(changed.to_payload_bytes());
        assert_eq!(
            err(verify_chain(
                root.public_key(),
                None,
                &chain(tampered),
                &app()
            )),
            "bad_signature"
        );
        let (_, state) = verify_chain(root.public_key(), None, &chain(d1.clone()), &app()).unwrap();
        let mut v2 = v1.next(NOW + 1);
        v2.revoke(a.public_key().key_id());
        let d2 = v2.sign(&[&root]);
        let (_, state2) =
            verify_chain(root.public_key(), Some(&state), &chain(d2), &app()).unwrap();
        assert_eq!(state2.version, 2);
        // Having seen version 2, version 1 is a replay.
        assert_eq!(
            err(verify_chain(
                root.public_key(),
                Some(&state2),
                &chain(d1.clone()),
                &app()
            )),
            "rollback"
        );
        // The same version again is fine (every lookup carries it).
        assert!(verify_chain(root.public_key(), Some(&state), &chain(d1.clone()), &app()).is_ok());
        let other_app = KeySet::first(AppId::new("com.other").unwrap(), root.public_key(), NOW);
        assert_eq!(
            err(verify_chain(
                root.public_key(),
                None,
                &chain(other_app.sign(&[&root])),
                &app()
            )),
            "app_mismatch"
        );
        // Garbage is malformed, never a panic.
        let junk = KeySetDocument {
            payload: "!!".into(),
            signatures: d1.signatures.clone(),
        };
        assert_eq!(
            err(verify_chain(root.public_key(), None, &chain(junk), &app())),
            "malformed"
        );
        assert!(KeySetDocument::from_slice(&vec![b' '; MAX_KEYSET_BYTES + 1]).is_err());
    }

    #[test]
    fn root_hand_over_needs_both_roots_and_is_walked_by_old_devices() {
        let (r0, r1, r2, a) = (key(), key(), key(), key());
        let mut v1 = KeySet::first(app(), r0.public_key(), NOW);
        v1.delegate(a.public_key(), NOW, None, None).unwrap();
        let d1 = v1.sign(&[&r0]);
        let mut v2 = v1.next(NOW);
        v2.rotate_root(r1.public_key()).unwrap();
        // Signed by the new root only, or by the old root only: refused.
        assert_eq!(
            verify_chain(r0.public_key(), None, &chain(v2.sign(&[&r1])), &app())
                .unwrap_err()
                .code(),
            "wrong_root"
        );
        assert_eq!(
            verify_chain(r0.public_key(), None, &chain(v2.sign(&[&r0])), &app())
                .unwrap_err()
                .code(),
            "bad_rotation"
        );
        let d2 = v2.sign(&[&r0, &r1]);
        let v3 = v2.next(NOW);
        let d3 = v3.sign(&[&r1]);
        let walked = KeySetChain {
            rotations: vec![d2.clone()],
            current: d3.clone(),
        };
        // A device that pinned r0 walks to r1.
        let (v, state) = verify_chain(r0.public_key(), None, &walked, &app()).unwrap();
        assert_eq!(v.version, 3);
        assert_eq!(state.root, r1.public_key().to_pem());
        // Without the hand-over, it cannot.
        assert_eq!(
            verify_chain(r0.public_key(), None, &chain(d3.clone()), &app())
                .unwrap_err()
                .code(),
            "wrong_root"
        );
        // Once on r1, r0 alone no longer signs anything it accepts.
        let mut forged = v3.next(NOW);
        forged.rotate_root(r2.public_key()).unwrap();
        assert_eq!(
            verify_chain(
                r0.public_key(),
                Some(&state),
                &chain(forged.sign(&[&r0, &r2])),
                &app()
            )
            .unwrap_err()
            .code(),
            "wrong_root"
        );
        // The server: builds on the stored chain, version by version.
        let (c1, _) = accept_update(r0.public_key(), None, &d1, &app()).unwrap();
        assert!(c1.rotations.is_empty());
        let (c2, _) = accept_update(r0.public_key(), Some(&c1), &d2, &app()).unwrap();
        assert_eq!(c2.rotations, vec![d2.clone()]);
        let (c3, _) = accept_update(r0.public_key(), Some(&c2), &d3, &app()).unwrap();
        assert_eq!(c3, walked);
        assert_eq!(
            accept_update(r0.public_key(), Some(&c3), &d3, &app())
                .unwrap_err()
                .code(),
            "stale_key_set"
        );
        assert_eq!(
            accept_update(
                r0.public_key(),
                Some(&c3),
                &v3.next(NOW).sign(&[&r0]),
                &app()
            )
            .unwrap_err()
            .code(),
            "wrong_root"
        );
    }
}
