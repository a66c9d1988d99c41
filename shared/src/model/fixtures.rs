//! Records for unit tests: one build a test can change field by field.

use super::{ArtifactType, Build, Commit, NativeLimits};
use crate::domain::{AppId, BuildVersion};
use crate::hash::Sha256Digest;

/// Build `id` of app `a`, version `1.0.{id}`: enabled, no limits, no key.
pub(crate) fn build(id: u64) -> Build {
    Build {
        id,
        app_id: AppId::new("a").unwrap(),
        version: BuildVersion::new(format!("1.0.{id}")).unwrap(),
        artifact_type: ArtifactType::Manifest,
        artifact_url: None,
        manifest_sha256: Sha256Digest::of(b""),
        zip: None,
        zip_rsa_signature: None,
        capgo_encrypted: None,
        brotli: false,
        file_count: 1,
        total_size: 1,
        key_id: None,
        commit: Commit::default(),
        mandatory: false,
        disabled: false,
        native: NativeLimits::new(),
        created_at: 0,
    }
}
