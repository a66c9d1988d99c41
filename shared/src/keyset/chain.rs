//! Walking a chain of key sets from a pinned root: root hand-overs, the
//! version that only grows, and accepting a new set as the server does.

use super::set::*;
use crate::domain::AppId;
use crate::keys::PublicKey;
use crate::manifest::Verified;

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
