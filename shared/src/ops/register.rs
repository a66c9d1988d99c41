//! Registering a build: the checks it passes before anything is stored
//! (signature, app, version, files present, zip and its signatures,
//! encrypted capgo zips), then the build record.

use super::builds::native_error;
use super::{error_chain, OpError};
use crate::domain::{AppId, BuildVersion};
use crate::hash::Sha256Digest;
use crate::keys::PublicKey;
use crate::manifest::{Manifest, Verifier};
use crate::manifest::{Trust, VerifyError};
use crate::model::{
    apply_native_changes, now, ArtifactType, Commit, NativeLimitChange, NativeLimits,
};
use crate::model::{App, Build};
use crate::paths::is_compressible;
use crate::rsakey::RsaPublic;
use crate::store::{BlobKey, BlobRead, BlobWrite, BuildInsert, RecordWrite};
use crate::wire::RegisterBuild;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

/// True when every file of the manifest that [`is_compressible`] picks has
/// its brotli copy stored (and there is at least one): only then are devices
/// sent `.br` names, since a missing copy would fail their download.
pub async fn brotli_complete(
    blobs: &dyn BlobRead,
    app: &AppId,
    manifest: &Manifest,
) -> Result<bool, OpError> {
    let mut shas: Vec<Sha256Digest> = manifest
        .files
        .iter()
        .filter(|f| is_compressible(f.path.as_str()))
        .map(|f| f.sha256)
        .collect();
    shas.sort();
    shas.dedup();
    if shas.is_empty() {
        return Ok(false);
    }
    let heads = heads_of(blobs, shas.iter().map(|sha| BlobKey::brotli(app, sha))).await?;
    Ok(heads.iter().all(|h| h.is_some_and(|n| n > 0)))
}

/// The stored size of each file (`None`: not stored), 32 lookups at a time.
pub async fn sizes_of(
    blobs: &dyn BlobRead,
    app: &AppId,
    shas: Vec<Sha256Digest>,
) -> Result<Vec<Option<u64>>, OpError> {
    heads_of(blobs, shas.iter().map(|sha| BlobKey::file(app, sha))).await
}

/// The stored size of each blob (`None`: not stored), 32 lookups at a time.
pub async fn heads_of(
    blobs: &dyn BlobRead,
    keys: impl Iterator<Item = BlobKey>,
) -> Result<Vec<Option<u64>>, OpError> {
    let keys: Vec<BlobKey> = keys.collect();
    let sizes: Vec<Option<u64>> = futures::stream::iter(keys)
        .map(|key| async move { blobs.head(&key).await })
        .buffered(32)
        .try_collect()
        .await?;
    Ok(sizes)
}

/// The app's plain public keys as a verifier (`None`: the app pins none).
pub fn trusted_keys(app: &App) -> Result<Option<Verifier>, OpError> {
    if app.public_keys.is_empty() {
        return Ok(None);
    }
    let keys = app
        .public_keys
        .iter()
        .map(|pem| PublicKey::from_pem(pem))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            tracing::error!(error = %e, app = %app.app_id, "stored public key unreadable");
            OpError::Internal
        })?;
    Ok(Some(Verifier::new(keys)))
}

/// A self-hosted artifact URL: http(s), no spaces, at most 2048 characters.
pub fn check_artifact_url(url: &str) -> Result<(), OpError> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(OpError::unprocessable(
            "invalid_artifact_url",
            "artifact_url must be an http(s) URL without spaces, at most 2048 characters",
        ))
    }
}

/// The zip's RSA signature, checked against the app's RSA public key over
/// the zip's SHA-256 (from the signed manifest, or the server's own zip).
/// An app with an RSA key gets every zip signed: a build whose zip is not
/// would be refused by every Capawesome device that checks, so it is
/// refused here, at once, with what to do.
/// The app's RSA public key, parsed (it was checked when it was stored).
pub fn app_rsa_key(app: &App) -> Result<Option<RsaPublic>, OpError> {
    app.rsa_public_key
        .as_deref()
        .map(RsaPublic::from_pem)
        .transpose()
        .map_err(|e| {
            tracing::error!(error = %e, app = %app.app_id, "stored RSA public key unreadable");
            OpError::Internal
        })
}

/// Checks the zip's RSA signature (see above); returns the one to store.
pub fn check_zip_signature(
    app: &App,
    key: Option<&RsaPublic>,
    zip: Option<&crate::manifest::ZipInfo>,
    signature: Option<String>,
) -> Result<Option<String>, OpError> {
    let signature = signature.filter(|s| !s.trim().is_empty());
    match (key, zip, signature) {
        (_, None, Some(_)) => Err(OpError::unprocessable(
            "rsa_signature_without_zip",
            "the build has no zip to sign; leave out --rsa-signing-key for self-hosted manifest builds",
        )),
        (None, _, Some(_)) => Err(OpError::unprocessable(
            "rsa_key_missing",
            format!(
                "app {} has no RSA public key to check the zip signature with; add it with `liveship apps update --rsa-public-key liveship_rsa_public.pem`",
                app.app_id
            ),
        )),
        (Some(_), Some(_), None) => Err(OpError::unprocessable(
            "rsa_signature_required",
            format!(
                "app {} signs its zips with RSA for the Capawesome plugin; upload with `--rsa-signing-key liveship_rsa_private.pem`",
                app.app_id
            ),
        )),
        (Some(key), Some(z), Some(sig)) => {
            if key.verify_digest(&z.sha256, &sig) {
                Ok(Some(sig.trim().to_owned()))
            } else {
                Err(OpError::unprocessable(
                    "rsa_signature_invalid",
                    "the zip's RSA signature does not verify with the app's RSA public key; sign with the private half of the key the app holds (`liveship apps show`)",
                ))
            }
        }
        (_, _, None) => Ok(None),
    }
}

/// The capgo-encrypted zip: stored here, for a hosted build with a zip, and
/// its encrypted checksum made by the app's RSA key over that zip's SHA-256.
/// (A session key that does not decrypt it fails on the device, closed.)
pub async fn check_capgo_encrypted(
    blobs: &dyn BlobRead,
    app: &App,
    key: Option<&RsaPublic>,
    zip: Option<&crate::manifest::ZipInfo>,
    self_hosted: bool,
    enc: crate::model::CapgoEncrypted,
) -> Result<crate::model::CapgoEncrypted, OpError> {
    let bad = |m: String| OpError::unprocessable("invalid_capgo_encryption", m);
    if self_hosted {
        return Err(bad(
            "capgo-encrypted zips are stored by liveship; upload the build with `upload-artifact`"
                .into(),
        ));
    }
    let zip = zip.ok_or_else(|| bad("the build has no zip to encrypt".into()))?;
    let key = key.ok_or_else(|| {
        OpError::unprocessable(
            "rsa_key_missing",
            format!(
                "app {} has no RSA public key; add it with `liveship apps update --rsa-public-key`",
                app.app_id
            ),
        )
    })?;
    if !key.verify_capgo_checksum(&zip.sha256, &enc.checksum) {
        return Err(bad("the encrypted checksum does not decrypt to the zip's SHA-256 with the app's RSA public key".into()));
    }
    let parts: Vec<&str> = enc.session_key.split(':').collect();
    if parts.len() != 2 || parts.iter().any(|p| p.is_empty() || p.len() > 1024) {
        return Err(bad("session_key must be base64 IV ':' base64 key".into()));
    }
    let stored = blobs.head(&BlobKey::file(&app.app_id, &enc.sha256)).await?;
    if stored != Some(enc.size) {
        return Err(OpError::unprocessable(
            "files_missing",
            format!(
                "the encrypted zip {} is not stored yet; upload it first",
                enc.sha256
            ),
        ));
    }
    Ok(enc)
}

/// Checks a build registration and stores its manifest (and the zip the
/// server makes of a small hosted manifest build), then inserts the build:
/// the same version with the same manifest is the existing build again.
pub async fn register(
    records: &dyn RecordWrite,
    blobs: &dyn BlobWrite,
    app: &App,
    req: RegisterBuild,
) -> Result<BuildInsert, OpError> {
    let app_id = app.app_id.clone();
    // An app that pins a root key trusts the key its key set allows now;
    // one without, its plain public keys.
    let verifier = match super::keys::build_verifier(records, app, &req.manifest).await? {
        Some(v) => Some(v),
        None => trusted_keys(app)?,
    };
    let trust = Trust::open(&req.manifest, verifier.as_ref()).map_err(|e| {
        let code = match e {
            VerifyError::Manifest(_) => "invalid_manifest",
            _ => "signature_invalid",
        };
        OpError::unprocessable(code, error_chain(&e))
    })?;
    let manifest: &Manifest = trust.manifest();
    if let Some(m_app) = &manifest.app_id {
        if m_app != &app_id {
            return Err(OpError::unprocessable(
                "app_mismatch",
                format!("the signed manifest is for app {m_app}, not {app_id}"),
            ));
        }
    }
    let version: BuildVersion =
        match (&manifest.version, &req.version) {
            (Some(m), Some(r)) if m != r => {
                return Err(OpError::unprocessable(
                    "version_mismatch",
                    format!("the signed manifest says version {m}, the request {r}"),
                ))
            }
            (Some(m), _) => m.clone(),
            (None, Some(r)) => r.clone(),
            (None, None) => return Err(OpError::unprocessable(
                "version_required",
                "give a version: in the manifest (--version when generating it) or in the request",
            )),
        };
    if let Some(url) = &req.artifact_url {
        check_artifact_url(url)?;
    }
    let native = apply_native_changes(
        &NativeLimits::new(),
        &req.native
            .iter()
            .map(|(p, l)| (p.clone(), Some(NativeLimitChange::setting(l))))
            .collect(),
    )
    .map_err(native_error)?;
    if req.artifact_type == ArtifactType::Zip && manifest.zip.is_none() {
        return Err(OpError::unprocessable(
            "zip_hash_required",
            "a zip build needs the manifest written beside the zip by bundle-artifact (it carries the zip's SHA-256)",
        ));
    }
    if req.artifact_url.is_none() {
        // Hosted here: every file the build names must be stored, and the
        // zip too when the manifest names one (the CLI makes it in CI).
        let wanted: Vec<(Sha256Digest, u64)> = match (req.artifact_type, &manifest.zip) {
            (ArtifactType::Zip, Some(z)) => vec![(z.sha256, z.size)],
            _ => manifest
                .files
                .iter()
                .map(|f| (f.sha256, f.size))
                .chain(manifest.zip.map(|z| (z.sha256, z.size)))
                .collect(),
        };
        let heads = sizes_of(blobs, &app_id, wanted.iter().map(|(sha, _)| *sha).collect()).await?;
        let missing: Vec<String> = wanted
            .iter()
            .zip(heads)
            .filter(|((_, size), head)| *head != Some(*size))
            .map(|((sha, _), _)| sha.to_hex())
            .collect();
        if !missing.is_empty() {
            return Err(OpError::unprocessable(
                "files_missing",
                format!(
                    "{} file(s) of the manifest are not stored yet (first: {}); upload them (POST /v1/apps/{app_id}/uploads) and register again",
                    missing.len(),
                    missing[0]
                ),
            ));
        }
    }
    // Stored compact: devices get it inside every update answer.
    let doc_bytes = Bytes::from(serde_json::to_vec(&req.manifest).map_err(|_| OpError::Internal)?);
    let manifest_sha256 = Sha256Digest::of(&doc_bytes);
    blobs
        .put_bytes(&BlobKey::manifest(&app_id, &manifest_sha256), doc_bytes)
        .await?;
    // Every hosted build can also be fetched as one zip: zip builds bring
    // theirs; for manifest builds the server makes it from the stored files
    // (the same manifest already registered: nothing to redo).
    let zip = match (req.artifact_type, &req.artifact_url, manifest.zip) {
        (_, _, Some(z)) => Some(z),
        (ArtifactType::Manifest, None, None) => match records
            .build_by_version(&app_id, &version)
            .await?
        {
            Some(existing) if existing.manifest_sha256 == manifest_sha256 => existing.zip,
            _ if !server_may_zip(manifest) => {
                return Err(OpError::unprocessable(
                    "zip_required",
                    format!(
                        "this build ({} files, {} bytes) is too big for the server to zip within the \
                         API's time limit; upload it with `liveship live-update upload-artifact`, which \
                         makes the zip in CI, or name a zip in the signed manifest and upload it too",
                        manifest.files.len(),
                        manifest.total_size()
                    ),
                ))
            }
            _ => Some(
                super::zip::make_zip(blobs, &app_id, manifest, req.manifest.to_json_bytes())
                    .await?,
            ),
        },
        _ => None,
    };
    let zip = match (zip, &req.artifact_url) {
        (Some(z), None) => Some(super::zip::with_crc32(blobs, &app_id, z).await?),
        (z, _) => z,
    };
    let rsa_key = app_rsa_key(app)?;
    let zip_rsa_signature =
        check_zip_signature(app, rsa_key.as_ref(), zip.as_ref(), req.zip_rsa_signature)?;
    let capgo_encrypted = match req.capgo_encrypted {
        None => None,
        Some(enc) => Some(
            check_capgo_encrypted(
                blobs,
                app,
                rsa_key.as_ref(),
                zip.as_ref(),
                req.artifact_url.is_some(),
                enc,
            )
            .await?,
        ),
    };
    let brotli = req.artifact_type == ArtifactType::Manifest
        && req.artifact_url.is_none()
        && brotli_complete(blobs, &app_id, manifest).await?;
    let build = Build {
        id: 0,
        app_id: app_id.clone(),
        version,
        artifact_type: req.artifact_type,
        artifact_url: req.artifact_url,
        manifest_sha256,
        zip,
        zip_rsa_signature,
        capgo_encrypted,
        brotli,
        file_count: manifest.files.len() as u64,
        total_size: manifest.total_size(),
        key_id: trust.key_id().map(|k| k.to_string()),
        commit: Commit {
            r#ref: req.commit_ref,
            sha: req.commit_sha,
            message: req.commit_message,
        },
        mandatory: req.mandatory,
        disabled: false,
        native,
        created_at: now(),
    };
    Ok(records.insert_build(build).await?)
}

/// Largest build the server zips itself at registration (bytes, files):
/// zipping reads every file from the blob store, and API Gateway cuts a
/// request at 30 s. Bigger builds carry a zip made by the CLI in CI.
pub const SERVER_ZIP_LIMIT: (u64, usize) = (32 * 1024 * 1024, 2_000);

/// True when the server may zip the build itself ([`SERVER_ZIP_LIMIT`]).
pub fn server_may_zip(m: &Manifest) -> bool {
    m.total_size() <= SERVER_ZIP_LIMIT.0 && m.files.len() <= SERVER_ZIP_LIMIT.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::FileEntry;
    use crate::paths::ManifestPath;

    fn manifest(files: usize, size: u64) -> Manifest {
        let entries = (0..files)
            .map(|i| FileEntry {
                path: ManifestPath::new(format!("f{i}")).unwrap(),
                sha256: Sha256Digest::of(&i.to_le_bytes()),
                size,
            })
            .collect();
        Manifest::new(None, None, entries).unwrap()
    }

    #[test]
    fn the_server_zips_only_what_it_can_within_the_gateway_limit() {
        let (bytes, files) = SERVER_ZIP_LIMIT;
        assert!(server_may_zip(&manifest(files, 1)));
        assert!(!server_may_zip(&manifest(files + 1, 1)));
        assert!(server_may_zip(&manifest(1, bytes)));
        assert!(!server_may_zip(&manifest(1, bytes + 1)));
    }
}
