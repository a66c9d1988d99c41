//! Builds: a registered set of files, its artifacts and flags.

use super::native::NativeLimits;
use crate::domain::{AppId, BuildVersion};
use crate::hash::Sha256Digest;
use crate::manifest::ZipInfo;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// How a build's files are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactType {
    /// File by file (differential: devices fetch only changed files).
    Manifest,
    /// One zip.
    Zip,
}

/// Where a build came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Commit {
    /// Branch or tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<String>,
    /// Commit SHA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// Commit message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A registered build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Build {
    /// Numeric id, increasing in registration order.
    pub id: u64,
    /// The app.
    pub app_id: AppId,
    /// Version label (from the signed manifest, or given at registration).
    pub version: BuildVersion,
    /// Delivery form.
    pub artifact_type: ArtifactType,
    /// Where the team hosts the artifact itself, if it does.
    pub artifact_url: Option<String>,
    /// SHA-256 of the stored manifest document bytes.
    pub manifest_sha256: Sha256Digest,
    /// The zip, for zip builds.
    pub zip: Option<ZipInfo>,
    /// Base64 RSA signature (PKCS#1 v1.5, SHA-256) of the zip's bytes, made
    /// in CI with the app's RSA key: what `@capawesome/capacitor-live-update`
    /// checks when the app sets its `publicKey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip_rsa_signature: Option<String>,
    /// The zip encrypted in CI for capgo devices with a `publicKey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capgo_encrypted: Option<CapgoEncrypted>,
    /// Every file whose name [`crate::paths::is_compressible`] picks has a
    /// brotli copy stored beside it (`{sha256}.br`), checked at registration:
    /// devices and plugin lines that can take them are sent those.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub brotli: bool,
    /// Number of files and their total size.
    pub file_count: u64,
    /// Total size of all files.
    pub total_size: u64,
    /// Key that signed the manifest, if signed.
    pub key_id: Option<String>,
    /// Source control details.
    pub commit: Commit,
    /// Devices must apply it at once.
    pub mandatory: bool,
    /// Disabled builds are never offered.
    pub disabled: bool,
    /// Native version limits.
    pub native: NativeLimits,
    /// Registration time.
    pub created_at: Timestamp,
}

/// A build's zip as capgo devices with a `publicKey` download it: encrypted
/// in CI with the app's RSA key (`liveship_core::rsakey::CapgoEncryptedZip`),
/// stored content-addressed like any file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CapgoEncrypted {
    /// SHA-256 of the encrypted zip (its storage key).
    pub sha256: Sha256Digest,
    /// Its size in bytes.
    pub size: u64,
    /// `session_key` of the plugin's answer: base64 IV, `:`, base64 of the
    /// AES key encrypted with the RSA private key.
    pub session_key: String,
    /// `checksum` of the plugin's answer: hex of the plain zip's SHA-256
    /// encrypted with the RSA private key.
    pub checksum: String,
}
