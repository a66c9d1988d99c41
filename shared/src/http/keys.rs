//! Key sets over HTTP: the root-signed list of signing keys an app's builds
//! may be signed by (see [`crate::keyset`]). The server checks each new set
//! exactly as a device would, and refuses builds the set in force does not
//! allow; devices still check everything themselves.

use super::audit::{record, Change};
use super::ci::{access, Authorized};
use super::error::read_json;
use super::{load_app, ApiError, CiState, DeviceState, Json};
use crate::keys::{KeyId, PublicKey};
use crate::keyset::{
    accept_update, verify_chain, KeySet, KeySetChain, KeySetDocument, KeySetError, MAX_KEYSET_BYTES,
};
use crate::manifest::{ManifestDocument, Verified, Verifier};
use crate::model::{now, App, Build, Scope, Timestamp};
use crate::store::RecordRead;
use crate::wire::ErrorBody;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The key set in force for an app with a root key, verified from that root.
#[derive(Debug, Clone)]
pub(crate) struct AppKeys {
    /// What devices are served.
    pub chain: KeySetChain,
    /// The set in force.
    pub set: Verified<KeySet>,
}

/// Checks a root public key PEM (create and update share it).
pub(super) fn check_root_key(pem: &str) -> Result<String, ApiError> {
    PublicKey::from_pem(pem).map(|k| k.to_pem()).map_err(|e| {
        ApiError::unprocessable("invalid_root_public_key", format!("root_public_key: {e}"))
    })
}

fn app_root(app: &App) -> Result<Option<PublicKey>, ApiError> {
    app.root_public_key
        .as_deref()
        .map(PublicKey::from_pem)
        .transpose()
        .map_err(|e| {
            tracing::error!(error = %e, app = %app.app_id, "stored root key unreadable");
            ApiError::internal()
        })
}

/// The app's key set in force, when the app has a root key and a set.
pub(crate) async fn app_keys(
    records: &dyn RecordRead,
    app: &App,
) -> Result<Option<AppKeys>, ApiError> {
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

fn key_error(e: &KeySetError) -> ApiError {
    let code = match e {
        KeySetError::Stale { .. } => {
            return ApiError::conflict_with("stale_key_set", e.to_string())
        }
        KeySetError::Revoked(_)
        | KeySetError::Expired { .. }
        | KeySetError::NotYetValid { .. }
        | KeySetError::NotInSet { .. }
        | KeySetError::Unsigned => "key_not_allowed",
        _ => "invalid_key_set",
    };
    ApiError::unprocessable(code, e.to_string()).with_details(json!({ "reason": e.code() }))
}

/// The verifier for a build registered to `app`: `None` when the app
/// pins no root (its plain public keys apply); otherwise the one key the
/// set in force allows for this manifest, or why none is.
pub(super) async fn build_verifier(
    records: &dyn RecordRead,
    app: &App,
    doc: &ManifestDocument,
) -> Result<Option<Verifier>, ApiError> {
    if app.root_public_key.is_none() {
        return Ok(None);
    }
    let keys = app_keys(records, app).await?.ok_or_else(|| {
        ApiError::unprocessable(
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

/// Whether devices of an app with key set `keys` may be offered `build`:
/// not when its signing key is revoked, expired or not in the set, since
/// every device would refuse it.
pub(crate) fn offerable(keys: &AppKeys, build: &Build, at: Timestamp) -> bool {
    let Some(id) = build
        .key_id
        .as_ref()
        .and_then(|k| KeyId::try_from(k.clone()).ok())
    else {
        return false;
    };
    match keys.set.allowed(&id, at) {
        Ok(_) => true,
        Err(e) => {
            // Debug, not warn: it holds for every lookup until a good build
            // is deployed; `keys revoke` says so when it happens.
            tracing::debug!(app = %build.app_id, build = build.id, reason = e.code(),
                "not offering a build its app's key set no longer allows");
            false
        }
    }
}

#[utoipa::path(get, path = "/v1/apps/{app}/key-set", params(("app" = crate::domain::AppId, Path, description = "The app id")),
    responses((status = 200, body = KeySetChain), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(super) async fn get_key_set(
    State(s): State<DeviceState>,
    Path(app): Path<String>,
) -> Result<Response, ApiError> {
    let app = load_app(&*s.records, &app).await?;
    let chain = s.records.key_sets(&app.app_id).await?.ok_or_else(|| {
        ApiError::not_found_with(
            "no_key_set",
            format!(
                "app {} has no key set; delegate a signing key with `liveship keys delegate`",
                app.app_id
            ),
        )
    })?;
    let mut res = Json(chain).into_response();
    // Public and root-signed: caches may keep it a little; a new set is
    // served with every update answer anyway.
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    Ok(res)
}

#[utoipa::path(put, path = "/v1/apps/{app}/key-set", params(("app" = crate::domain::AppId, Path, description = "The app id")), request_body = KeySetDocument,
    responses((status = 200, body = KeySetChain), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(super) async fn put_key_set(
    State(s): State<CiState>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<KeySetChain>, ApiError> {
    let Authorized { app, token } = access(&s, &headers, &app, Scope::Admin).await?;
    let doc: KeySetDocument = read_json(&headers, body, MAX_KEYSET_BYTES).await?;
    let root = app_root(&app)?.ok_or_else(|| {
        ApiError::conflict_with(
            "no_root_key",
            format!(
                "app {} pins no root key; set one first (`liveship apps update --app-id {} --root-public-key ROOT_PUBLIC.pem`)",
                app.app_id, app.app_id
            ),
        )
    })?;
    // Compare-and-set on the stored version: of two writers signing the
    // same next version, the second is told to fetch the new one.
    for _ in 0..16 {
        let stored = s.records.key_sets(&app.app_id).await?;
        let (chain, set) =
            accept_update(&root, stored.as_ref(), &doc, &app.app_id).map_err(|e| key_error(&e))?;
        // What was stored, for the compare-and-set and the audit entry.
        let stored_set = stored
            .as_ref()
            .and_then(|c| c.current.decode_unverified().ok());
        let previous = stored_set.as_ref().map_or(0, |v| v.version);
        if !s
            .records
            .put_key_sets(&app.app_id, &chain, set.version, previous)
            .await?
        {
            continue;
        }
        tracing::info!(app = %app.app_id, version = set.version, keys = set.keys.len(),
            revoked = set.revoked.len(), "key set stored");
        let before = stored_set.as_ref().map(summary);
        record(
            &s,
            &token,
            Change {
                app: Some(&app.app_id),
                action: "keys.update",
                target: format!("key set of app {}", app.app_id),
                before,
                after: Some(summary(&set)),
            },
        )
        .await;
        return Ok(Json(chain));
    }
    Err(ApiError::conflict(
        "the key set kept changing while this one was stored; fetch it and sign again",
    ))
}

/// What the audit log keeps of a set: who signs, which keys, which revoked.
pub(crate) fn summary(set: &KeySet) -> serde_json::Value {
    let root = set
        .root_key()
        .map(|k| k.key_id().as_hex())
        .unwrap_or_default();
    json!({
        "version": set.version,
        "root_key_id": root,
        "keys": set.keys.iter().map(|k| json!({
            "key_id": k.key().map(|p| p.key_id().as_hex()).unwrap_or_default(),
            "name": k.name,
            "not_before": k.not_before,
            "not_after": k.not_after,
        })).collect::<Vec<_>>(),
        "revoked": set.revoked.iter().map(KeyId::as_hex).collect::<Vec<_>>(),
    })
}
