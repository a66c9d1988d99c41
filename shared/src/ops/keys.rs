//! The key set in force for an app: its root-signed list of signing keys,
//! verified from the app's pinned root exactly as a device verifies it.

use super::{OpError, Refusal};
use crate::keys::PublicKey;
use crate::keyset::{verify_chain, KeySet, KeySetChain, KeySetError};
use crate::manifest::{ManifestDocument, Verified, Verifier};
use crate::model::{now, App};
use crate::store::RecordRead;
use serde_json::json;

/// The key set in force for an app with a root key, verified from that root.
#[derive(Debug, Clone)]
pub struct AppKeys {
    /// What devices are served.
    pub chain: KeySetChain,
    /// The set in force.
    pub set: Verified<KeySet>,
}

/// The app's pinned root key, parsed (it was checked when it was stored).
pub fn app_root(app: &App) -> Result<Option<PublicKey>, OpError> {
    app.root_public_key
        .as_deref()
        .map(PublicKey::from_pem)
        .transpose()
        .map_err(|e| {
            tracing::error!(error = %e, app = %app.app_id, "stored root key unreadable");
            OpError::Internal
        })
}

/// The app's key set in force, when the app has a root key and a set.
pub async fn app_keys(records: &dyn RecordRead, app: &App) -> Result<Option<AppKeys>, OpError> {
    let Some(root) = app_root(app)? else {
        return Ok(None);
    };
    let Some(chain) = records.key_sets(&app.app_id).await? else {
        return Ok(None);
    };
    match verify_chain(&root, None, &chain, &app.app_id) {
        Ok((set, _)) => Ok(Some(AppKeys { chain, set })),
        // Only after the app's root was replaced without a new set: nothing
        // the stored set allows can be trusted under the new root.
        Err(e) => {
            tracing::warn!(app = %app.app_id, error = %e, "the stored key set does not verify from the app's root");
            Ok(None)
        }
    }
}

/// The refusal of a key set or a key the set does not allow.
pub fn key_error(e: &KeySetError) -> OpError {
    let code = match e {
        KeySetError::Stale { .. } => {
            return OpError::refused(Refusal::Conflict, "stale_key_set", e.to_string())
        }
        KeySetError::Revoked(_)
        | KeySetError::Expired { .. }
        | KeySetError::NotYetValid { .. }
        | KeySetError::NotInSet { .. }
        | KeySetError::Unsigned => "key_not_allowed",
        _ => "invalid_key_set",
    };
    OpError::unprocessable(code, e.to_string()).with_details(json!({ "reason": e.code() }))
}

/// The verifier for a build registered to `app`: `None` when the app
/// pins no root (its plain public keys apply); otherwise the one key the
/// set in force allows for this manifest, or why none is.
pub async fn build_verifier(
    records: &dyn RecordRead,
    app: &App,
    doc: &ManifestDocument,
) -> Result<Option<Verifier>, OpError> {
    if app.root_public_key.is_none() {
        return Ok(None);
    }
    let keys = app_keys(records, app).await?.ok_or_else(|| {
        OpError::unprocessable(
            "no_key_set",
            format!(
                "app {} pins a root key but has no key set yet: delegate the CI signing key first \
                 (`liveship keys delegate --app-id {} --root-key ROOT_PRIVATE.pem --public-key SIGNING_PUBLIC.pem`)",
                app.app_id, app.app_id
            ),
        )
    })?;
    keys.set
        .manifest_verifier(doc, now())
        .map(Some)
        .map_err(|e| key_error(&e))
}
