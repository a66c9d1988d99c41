//! Request and response bodies of the HTTP API: the contract between the
//! server, the CLI and the device clients.

use crate::domain::{AppId, BuildVersion};
use crate::hash::Sha256Digest;
use crate::manifest::ManifestDocument;
use crate::model::{
    App, ArtifactType, Build, Channel, EventKind, NativeChanges, NativeLimits, Scope, Timestamp,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /v1/apps`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    /// The new app's id.
    pub app_id: AppId,
    /// Public keys (SPKI PEM) that must have signed every build.
    #[serde(default)]
    #[schema(schema_with = crate::schemas::public_keys)]
    pub public_keys: Vec<String>,
    /// Channel for devices that name none (default `production`).
    #[serde(default)]
    #[schema(
        pattern = "^([A-Za-z0-9_-][A-Za-z0-9._-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}|\\.\\.[A-Za-z0-9._-]{1,62})$"
    )]
    pub default_channel: Option<String>,
    /// RSA public key (SPKI PEM) for the Capawesome plugin's zip signatures.
    #[serde(default)]
    pub rsa_public_key: Option<String>,
    /// Root key (SPKI PEM) the app pins: builds must then be signed by a key
    /// its key set allows (`PUT /v1/apps/{app}/key-set`).
    #[serde(default)]
    pub root_public_key: Option<String>,
}

/// `POST /v1/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Human name.
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    pub name: String,
    /// Limit to one app (`None`: global, admin only).
    #[serde(default)]
    pub app_id: Option<AppId>,
    /// What it may do.
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
}

/// The answer to `POST /v1/tokens`: the secret is shown here once.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// Public id.
    pub id: String,
    /// Human name.
    pub name: String,
    /// App limit.
    pub app_id: Option<AppId>,
    /// Scopes.
    pub scopes: Vec<Scope>,
    /// The secret: send as `Authorization: Bearer <token>`. Not stored.
    pub token: String,
}

/// One file a client wants to upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileRef {
    /// Its SHA-256.
    pub sha256: Sha256Digest,
    /// Its size.
    pub size: u64,
}

/// `POST /v1/apps/{app}/uploads`: the files of a build.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadsRequest {
    /// The files.
    pub files: Vec<FileRef>,
    /// Brotli copies made in CI of files among `files` (those
    /// [`crate::paths::is_compressible`] picks), each stored at its
    /// original's key plus `.br`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub brotli: Vec<BrotliCopy>,
}

/// A brotli copy of a file: `of` is the original's SHA-256, `sha256` and
/// `size` are those of the compressed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrotliCopy {
    /// SHA-256 of the original file.
    pub of: Sha256Digest,
    /// SHA-256 of the compressed bytes.
    pub sha256: Sha256Digest,
    /// Size of the compressed bytes.
    pub size: u64,
}

/// Where and how to upload one missing file.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadTarget {
    /// The file's SHA-256.
    pub sha256: Sha256Digest,
    /// Its size.
    pub size: u64,
    /// HTTP method (`PUT`).
    pub method: String,
    /// Where to send the bytes.
    pub url: String,
    /// Headers to send with them.
    pub headers: BTreeMap<String, String>,
    /// `bearer`: send your liveship token; `none`: the URL is presigned.
    pub auth: String,
    /// Set when this target is the brotli copy of that file (`sha256` and
    /// `size` are then the compressed bytes').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brotli_of: Option<Sha256Digest>,
}

/// The answer to `POST /v1/apps/{app}/uploads`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadsResponse {
    /// Files the store does not have yet, with where to put each.
    pub missing: Vec<UploadTarget>,
    /// How many of the files are already stored.
    pub already_stored: usize,
}

/// `POST /v1/apps/{app}/builds`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBuild {
    /// The signed manifest document (for zip builds: the one beside the zip).
    pub manifest: ManifestDocument,
    /// `manifest` or `zip`.
    pub artifact_type: ArtifactType,
    /// Where the team hosts the artifact itself (`register-artifact`).
    #[serde(default)]
    pub artifact_url: Option<String>,
    /// Branch or tag.
    #[serde(default)]
    pub commit_ref: Option<String>,
    /// Commit SHA.
    #[serde(default)]
    pub commit_sha: Option<String>,
    /// Commit message.
    #[serde(default)]
    pub commit_message: Option<String>,
    /// Version label, when the manifest carries none.
    #[serde(default)]
    pub version: Option<BuildVersion>,
    /// Native version limits per platform.
    #[serde(default)]
    pub native: NativeLimits,
    /// Devices must apply it at once.
    #[serde(default)]
    pub mandatory: bool,
    /// Base64 RSA signature (PKCS#1 v1.5, SHA-256) of the zip, made in CI
    /// with the app's RSA key (`--rsa-signing-key`); required when the app
    /// has an RSA public key and the build has a zip.
    #[serde(default)]
    pub zip_rsa_signature: Option<String>,
    /// The zip encrypted for capgo devices with a `publicKey`, uploaded
    /// beforehand like any file (`--rsa-signing-key` with a 2048-bit key).
    #[serde(default)]
    pub capgo_encrypted: Option<crate::model::CapgoEncrypted>,
}

/// The answer to registering a build.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegisteredBuild {
    /// False when the same manifest was already registered.
    pub created: bool,
    /// The build.
    pub build: Build,
}

/// `PATCH /v1/apps/{app}/builds/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchBuild {
    /// Disable (never offered) or enable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Mark mandatory or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mandatory: Option<bool>,
    /// Changes to native limits, merged with the stored ones: per platform,
    /// each of `min`, `max`, `eq` absent keeps it, `null` or `""` removes
    /// it, a version sets it; a platform set to `null` loses all its limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native: Option<NativeChanges>,
    /// Disable even a build that channels serve now (without it, that is
    /// refused with 409 `build_live` and what would happen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
}

/// `PUT /v1/apps/{app}/channels/{channel}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    /// The build to point the channel at.
    pub build_id: u64,
    /// Percentage of devices that get it, 1-100 (default 100). Deploying
    /// the build the channel is rolling out changes only the percentage.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100)]
    pub rollout_percent: Option<u8>,
    /// Let devices switch themselves to this channel.
    #[serde(default)]
    pub allow_self_assign: Option<bool>,
    /// Create the channel if it does not exist (otherwise a channel other
    /// than the app's default must exist: a typo is 404, not a new channel).
    #[serde(default)]
    pub create_channel: Option<bool>,
    /// A rollout plan: increasing percentages, each 1-100, walked one step
    /// at a time while the guard finds the build healthy (instead of
    /// `rollout_percent`, which is a plan of one step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 20)]
    pub plan: Option<Vec<u8>>,
    /// How long each step lasts at least, in seconds (60 to 2592000;
    /// default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 60, maximum = 2592000)]
    pub step_seconds: Option<u64>,
    /// Roll the channel back when the guard halts the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rollback: Option<bool>,
}

/// What `POST /v1/apps/{app}/channels/{channel}/rollout` does to a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanAction {
    /// Stop the step clock (the guard still watches).
    Pause,
    /// Restart a paused plan, or a halted one (judged afresh from now).
    Resume,
    /// Take the next step now.
    Advance,
    /// Stop the plan and roll the channel back to the build before it.
    Abort,
}

impl PlanAction {
    /// The audit action name.
    pub fn action(self) -> &'static str {
        match self {
            PlanAction::Pause => "rollout.pause",
            PlanAction::Resume => "rollout.resume",
            PlanAction::Advance => "rollout.advance",
            PlanAction::Abort => "rollout.abort",
        }
    }
}

/// `POST /v1/apps/{app}/channels/{channel}/rollout`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutAction {
    /// What to do.
    pub action: PlanAction,
}

/// `PATCH /v1/apps/{app}/channels/{channel}/guard`: the fields to change
/// (docs/rollouts.md).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardPatch {
    /// Judge at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Updates before the new build is judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1000000)]
    pub min_devices: Option<u64>,
    /// Ceiling of the failure rate (a fraction, such as 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(exclusive_minimum = 0.0, exclusive_maximum = 1.0)]
    pub max_failure_rate: Option<f64>,
    /// How many times the baseline's failure rate counts as bad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(exclusive_minimum = 1.0, maximum = 1000.0)]
    pub relative_increase: Option<f64>,
    /// ...and at least this much above it (a fraction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0.0, exclusive_maximum = 1.0)]
    pub min_increase: Option<f64>,
    /// Chance a build as good as its baseline is halted (a fraction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(exclusive_minimum = 0.0, exclusive_maximum = 1.0)]
    pub false_halt: Option<f64>,
}

impl GuardPatch {
    /// Applies the given fields.
    pub fn apply(&self, g: &mut crate::rollout::GuardSettings) {
        if let Some(v) = self.enabled {
            g.enabled = v;
        }
        if let Some(v) = self.min_devices {
            g.min_devices = v;
        }
        if let Some(v) = self.max_failure_rate {
            g.max_failure_rate = v;
        }
        if let Some(v) = self.relative_increase {
            g.relative_increase = v;
        }
        if let Some(v) = self.min_increase {
            g.min_increase = v;
        }
        if let Some(v) = self.false_halt {
            g.false_halt = v;
        }
    }
}

/// `POST /v1/apps/{app}/channels`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    /// Channel name: 1-64 letters, digits, `.`, `_` or `-`.
    #[schema(
        pattern = "^([A-Za-z0-9_-][A-Za-z0-9._-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}|\\.\\.[A-Za-z0-9._-]{1,62})$"
    )]
    pub name: String,
    /// Let devices switch themselves to this channel.
    #[serde(default)]
    pub allow_self_assign: bool,
}

/// `PATCH /v1/apps/{app}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchApp {
    /// Replace the public keys (SPKI PEM); `[]` lets unsigned builds in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_keys: Option<Vec<String>>,
    /// The channel devices that name none follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        pattern = "^([A-Za-z0-9_-][A-Za-z0-9._-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}|\\.\\.[A-Za-z0-9._-]{1,62})$"
    )]
    pub default_channel: Option<String>,
    /// Replace the RSA public key (SPKI PEM); `""` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rsa_public_key: Option<String>,
    /// Replace the root key (SPKI PEM); `""` removes it, and the app's plain
    /// public keys apply again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_public_key: Option<String>,
}

/// `GET /v1/apps`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppList {
    /// The apps the token may see, by id.
    pub apps: Vec<App>,
}

/// A token as listed: everything but its secret (which is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenInfo {
    /// Public identifier.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The app it is limited to, if any.
    pub app_id: Option<AppId>,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// Creation time (Unix seconds).
    pub created_at: Timestamp,
    /// Last request it authenticated (Unix seconds, to within a minute).
    pub last_used_at: Option<Timestamp>,
}

/// `GET /v1/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenList {
    /// The tokens the caller administers, by id.
    pub tokens: Vec<TokenInfo>,
}

/// `DELETE /v1/tokens/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RevokedToken {
    /// The token revoked.
    pub id: String,
    /// Always true: it no longer authenticates anything.
    pub revoked: bool,
}

/// `POST /v1/tokens/{id}/rotate`: the replacement (its secret shown once).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RotatedToken {
    /// The revoked token.
    pub replaces: String,
    /// The new token, same name, app and scopes.
    #[serde(flatten)]
    pub token: CreatedToken,
}

/// One channel a build is live on (the `details` of a 409 `build_live`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LiveOn {
    /// The channel.
    pub channel: String,
    /// `current` (the build being served) or `baseline` (what devices
    /// outside the current rollout get).
    pub role: String,
    /// Share of the channel's devices the role covers, in percent.
    pub percent: u8,
    /// The build those devices get once this one is disabled (`None`: the
    /// bundle inside the app).
    pub falls_back_to: Option<u64>,
}

/// What disabling a live build would do (the `details` of a 409 `build_live`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DisableImpact {
    /// The build.
    pub build_id: u64,
    /// Channels that serve it now.
    pub channels: Vec<LiveOn>,
    /// Distinct devices that reported applying it.
    pub devices_applied: u64,
    /// Distinct devices that reported downloading it.
    pub devices_downloaded: u64,
}

/// `POST /v1/apps/{app}/events`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceEvent {
    /// The device.
    #[schema(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,128}$")]
    pub device_id: String,
    /// The build it concerns.
    pub build_id: u64,
    /// What happened.
    pub event: EventKind,
    /// The channel the device follows (default: the app's default channel);
    /// the console's per-channel charts count the event there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        pattern = "^([A-Za-z0-9_-][A-Za-z0-9._-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}|\\.\\.[A-Za-z0-9._-]{1,62})$"
    )]
    pub channel: Option<String>,
}

/// The build part of a lookup answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OfferedBuild {
    /// Build id (report it back in events and as `current_build`).
    pub id: u64,
    /// Version label.
    pub version: BuildVersion,
    /// Apply at once.
    pub mandatory: bool,
    /// `manifest` or `zip`.
    pub artifact_type: ArtifactType,
}

/// How to fetch the files of a manifest build.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileSource {
    /// Prefix of every file URL.
    pub base_url: String,
    /// What follows the prefix: `sha256` (the file's hash) or `path` (its
    /// manifest path, for builds the team hosts itself).
    pub key: String,
    /// True when each file [`crate::paths::is_compressible`] picks also has
    /// a brotli copy at the same URL plus `.br` (raw brotli bytes, served
    /// without `Content-Encoding`); the device checks the SHA-256 of the
    /// decompressed bytes as usual.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub brotli: bool,
}

/// The answer to `GET .../channels/{channel}/latest`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Latest {
    /// `up_to_date`, `update_available` or `rollback_to_builtin`.
    pub status: String,
    /// The build to install.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<OfferedBuild>,
    /// Its signed manifest document, exactly as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<ManifestDocument>)]
    pub manifest: Option<Box<serde_json::value::RawValue>>,
    /// Where the zip is (zip builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip_url: Option<String>,
    /// The zip's SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip_sha256: Option<Sha256Digest>,
    /// The zip's size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip_size: Option<u64>,
    /// Where the individual files are (manifest builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<FileSource>,
    /// The app's key set chain, when the app pins a root key: the device
    /// verifies it from its pinned root, then the manifest with a key it allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_set: Option<crate::keyset::KeySetChain>,
}

/// `GET .../builds/{id}/stats`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BuildStats {
    /// The build.
    pub build_id: u64,
    /// Events received per kind (a device reporting twice counts twice).
    pub counts: BTreeMap<EventKind, u64>,
    /// Distinct devices that reported each kind.
    pub devices: BTreeMap<EventKind, u64>,
}

/// Every error answer: `{"error": "<code>", "message": "<what to do>"}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code.
    pub error: String,
    /// What went wrong and what to do about it.
    pub message: String,
    /// Facts for programs, on some errors (such as the channels that exist,
    /// or what disabling a live build would do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// `GET /v1/apps/{app}/builds`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BuildList {
    /// Newest first.
    pub builds: Vec<Build>,
}

/// `GET /v1/apps/{app}/channels`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelList {
    /// By name.
    pub channels: Vec<Channel>,
}

/// One channel a device may choose (the public channel listing).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicChannel {
    /// The channel name (channels have no other id).
    pub id: String,
    /// The channel name.
    pub name: String,
}

/// `GET /v1/apps/{app}/channels`: the CI listing with a token, the public
/// list of self-assignable channels without one.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ChannelsAnswer {
    /// With a token.
    Ci(ChannelList),
    /// Without a token.
    Public(Vec<PublicChannel>),
}

/// A short acknowledgement, such as `{"status": "accepted"}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Status {
    /// `accepted`, `ok`.
    pub status: String,
}

/// `GET /v1/apps/{app}/audit`: newest first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditList {
    /// Entries, newest first.
    pub entries: Vec<crate::model::AuditEntry>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Query of `GET /v1/apps/{app}/audit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries older than this entry id (the previous page's `next`).
    #[param(pattern = "^[0-9]{13}-[0-9a-f]{16}$")]
    pub before: Option<String>,
    /// Entries per page (1-500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// `GET /v1/whoami`: the token that authenticated the request.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WhoAmI {
    /// Token id.
    pub id: String,
    /// Token name.
    pub name: String,
    /// The app it is limited to (absent: every app).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<AppId>,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// When it expires (console sessions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// Query of `GET /v1/apps/{app}/channels/{channel}/usage`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// `hour` (default: the last 48 hours) or `day` (default: the last 90 days).
    #[param(pattern = "^(hour|day)$")]
    pub grain: Option<String>,
    /// How many buckets back from now (1-2208 hours, 1-400 days).
    #[param(minimum = 1, maximum = 2208)]
    pub buckets: Option<u32>,
}

/// `GET /v1/apps/{app}/channels/{channel}/usage`: device events per build
/// in time buckets, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsageAnswer {
    /// `hour` or `day`.
    pub grain: String,
    /// Start of the first bucket (Unix seconds).
    pub from: Timestamp,
    /// End of the last bucket (exclusive).
    pub to: Timestamp,
    /// Non-empty buckets, by start then build.
    pub buckets: Vec<crate::model::UsageBucket>,
}
