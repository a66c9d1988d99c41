//! Key sets over HTTP: the root-signed list of signing keys an app's builds
//! may be signed by (see [`crate::keyset`]). The server checks each new set
//! exactly as a device would, and refuses builds the set in force does not
//! allow; devices still check everything themselves.

use super::auth::access;
use super::auth::load_app;
use super::auth::Authorized;
use super::error::read_json;
use super::error::ApiError;
use super::error::Json;
use super::state::CiState;
use super::state::DeviceState;
use crate::keys::KeyId;
use crate::keyset::accept_update;
use crate::keyset::KeySet;
use crate::keyset::KeySetChain;
use crate::keyset::KeySetDocument;
use crate::keyset::MAX_KEYSET_BYTES;
use crate::model::Scope;
use crate::ops;
use crate::ops::audit::record;
use crate::ops::audit::Change;
use crate::ops::keys::key_error;
use crate::wire::ErrorBody;
use axum::body::Body;
use axum::extract::Path;
use axum::extract::State;
use axum::http::header;
use axum::http::HeaderMap;
use axum::http::HeaderValue;
use axum::response::IntoResponse;
use axum::response::Response;
use serde_json::json;

#[utoipa::path(get, path = "/v1/apps/{app}/key-set", params(("app" = crate::domain::AppId, Path, description = "The app id")),
    responses((status = 200, body = KeySetChain), (status = "default", description = "An error (docs/api.md)", body = ErrorBody)))]
pub(crate) async fn get_key_set(
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
pub(crate) async fn put_key_set(
    State(s): State<CiState>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<KeySetChain>, ApiError> {
    let Authorized { app, token } = access(&s, &headers, &app, Scope::Admin).await?;
    let doc: KeySetDocument = read_json(&headers, body, MAX_KEYSET_BYTES).await?;
    let root = ops::keys::app_root(&app)?.ok_or_else(|| {
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
            &*s.records,
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
