//! The records the update service keeps: apps, tokens, builds, channels,
//! events. Plain data with serde, no I/O and no storage types.

use crate::domain::{AppId, BuildVersion};
use crate::hash::Sha256Digest;
use crate::manifest::ZipInfo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Seconds since the Unix epoch.
pub type Timestamp = i64;

static CLOCK_FILE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Makes [`now`] read the time from a file (`LIVESHIP_CLOCK_FILE`: the fleet
/// simulator's clock). Set once at start; later calls are ignored.
pub fn use_clock_file(path: std::path::PathBuf) {
    let _ = CLOCK_FILE.set(path);
}

/// Now, in [`Timestamp`] form.
pub fn now() -> Timestamp {
    if let Some(path) = CLOCK_FILE.get() {
        // A file the simulator is rewriting reads as its old or new
        // content (it renames into place); unreadable falls back to the
        // system clock.
        if let Some(t) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return t;
        }
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The channel devices follow when they name none.
pub const DEFAULT_CHANNEL: &str = "production";

/// An app known to the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct App {
    /// Its id.
    pub app_id: AppId,
    /// Public keys (SPKI PEM); when any are set, builds must be signed by one.
    pub public_keys: Vec<String>,
    /// The root key the app pins (SPKI PEM): when set, builds must be signed
    /// by a key the app's key set allows, and `public_keys` are not asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_public_key: Option<String>,
    /// Channel used when a device names none.
    pub default_channel: String,
    /// RSA public key (SPKI PEM) whose private half signs every zip in CI,
    /// for the stock Capawesome plugin's `publicKey` check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rsa_public_key: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A Unix time as `2026-11-23 19:48 UTC`.
pub fn utc(t: Timestamp) -> String {
    let (y, m, d, hour, minute, _) = utc_parts(t);
    format!("{y:04}-{m:02}-{d:02} {hour:02}:{minute:02} UTC")
}

/// The UTC calendar date and time of a Unix time: (year, month, day, hour,
/// minute, second). One implementation for every place that prints dates
/// (the console, the CLI, log timestamps).
pub fn utc_parts(t: Timestamp) -> (i64, i64, i64, i64, i64, i64) {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
}

/// What a token may do.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Everything (on its app, or everywhere for a global token).
    Admin,
    /// Upload files and register builds.
    Upload,
    /// List builds and channels, deploy, roll back, change builds.
    Deploy,
    /// See apps, builds, channels, stats and the audit log; change nothing
    /// (a release console viewer). `deploy` and `admin` include it.
    Read,
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "admin" => Ok(Scope::Admin),
            "upload" => Ok(Scope::Upload),
            "deploy" => Ok(Scope::Deploy),
            "read" => Ok(Scope::Read),
            other => Err(format!(
                "unknown scope {other:?}: use admin, upload, deploy or read"
            )),
        }
    }
}

/// An API token. Only the SHA-256 of the secret is ever stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// Public identifier, safe to log.
    pub id: String,
    /// Human name.
    pub name: String,
    /// The app it is limited to; `None` for a global token.
    pub app_id: Option<AppId>,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// SHA-256 of the secret.
    pub secret_sha256: Sha256Digest,
    /// Creation time.
    pub created_at: Timestamp,
    /// When it last authenticated a request (to within a minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Timestamp>,
    /// After this time the token is refused (console sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// Set on a console session: the token that signed in. The session acts
    /// with that token's rights and ends when it is revoked or rotated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_of: Option<TokenRef>,
}

/// Names a token without its secret: what the audit log records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenRef {
    /// Token id.
    pub id: String,
    /// Token name.
    pub name: String,
    /// SHA-256 of its secret (kept to check the token still exists; never
    /// serialised out of the store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub secret_sha256: Option<Sha256Digest>,
}

impl Token {
    /// True when the token may act with `scope` on `app` (`None`: a global action).
    pub fn allows(&self, app: Option<&AppId>, scope: Scope) -> bool {
        grants(self.app_id.as_ref(), &self.scopes, app, scope)
    }

    /// Who acts, for the audit log: the signed-in token for a console
    /// session, this token otherwise.
    pub fn actor(&self) -> TokenRef {
        match &self.session_of {
            Some(parent) => TokenRef {
                secret_sha256: None,
                ..parent.clone()
            },
            None => TokenRef {
                id: self.id.clone(),
                name: self.name.clone(),
                secret_sha256: None,
            },
        }
    }
}

/// True when a token limited to `own_app` (`None`: every app) with `scopes`
/// may act with `scope` on `app` (`None`: a global action).
pub fn grants(
    own_app: Option<&AppId>,
    scopes: &[Scope],
    app: Option<&AppId>,
    scope: Scope,
) -> bool {
    let app_ok = match (own_app, app) {
        (None, _) => true,
        (Some(mine), Some(asked)) => mine == asked,
        (Some(_), None) => false,
    };
    app_ok && scopes.iter().any(|s| s.includes(scope))
}

impl Scope {
    /// True when holding `self` grants `other`: admin grants everything,
    /// deploy grants read.
    pub fn includes(self, other: Scope) -> bool {
        self == other || self == Scope::Admin || (self == Scope::Deploy && other == Scope::Read)
    }
}

/// How a build's files are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactType {
    /// File by file (differential: devices fetch only changed files).
    Manifest,
    /// One zip.
    Zip,
}

/// Native (binary) version limits for one platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NativeLimit {
    /// Lowest native version allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
    /// Highest native version allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
    /// The only native version allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eq: Option<String>,
}

impl NativeLimit {
    /// True when no limit is set.
    pub fn is_empty(&self) -> bool {
        self.min.is_none() && self.max.is_none() && self.eq.is_none()
    }
}

/// Native version limits per platform (`ios`, `android`, ...).
pub type NativeLimits = BTreeMap<String, NativeLimit>;

/// A change to one platform's limits. Each field: absent keeps it, `null`
/// or `""` removes it, a version sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NativeLimitChange {
    /// Lowest native version allowed.
    #[serde(
        default,
        deserialize_with = "set_or_remove",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub min: Option<Option<String>>,
    /// Highest native version allowed.
    #[serde(
        default,
        deserialize_with = "set_or_remove",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub max: Option<Option<String>>,
    /// The only native version allowed.
    #[serde(
        default,
        deserialize_with = "set_or_remove",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub eq: Option<Option<String>>,
}

impl NativeLimitChange {
    /// The change that sets exactly `limit`'s fields (an empty one removes).
    pub fn setting(limit: &NativeLimit) -> Self {
        Self {
            min: Some(limit.min.clone().filter(|v| !v.is_empty())),
            max: Some(limit.max.clone().filter(|v| !v.is_empty())),
            eq: Some(limit.eq.clone().filter(|v| !v.is_empty())),
        }
    }
}

fn set_or_remove<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(
        Option::<String>::deserialize(d)?.filter(|v| !v.is_empty()),
    ))
}

/// Changes per platform; `null` for a platform removes all its limits.
pub type NativeChanges = BTreeMap<String, Option<NativeLimitChange>>;

/// Native limits that cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NativeLimitError {
    /// A platform or version breaks the rules.
    #[error(transparent)]
    Invalid(#[from] crate::domain::DomainError),
    /// The limits of a platform contradict each other.
    #[error("{platform}: {problem}")]
    Inconsistent {
        /// The platform.
        platform: String,
        /// What is wrong, and what to do.
        problem: String,
    },
}

/// Checks every platform name and version of `limits`, and that each
/// platform's limits agree (`min` <= `max`; `eq` alone).
pub fn check_native_limits(limits: &NativeLimits) -> Result<(), NativeLimitError> {
    for (platform, limit) in limits {
        if crate::domain::native_platform(platform)? != platform {
            return Err(crate::domain::DomainError::Platform(platform.clone()).into());
        }
        for v in [&limit.min, &limit.max, &limit.eq].into_iter().flatten() {
            crate::domain::check_native_version(v)?;
        }
        let problem = match (&limit.min, &limit.max, &limit.eq) {
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                Some("eq is the only version allowed, so it cannot be combined with min or max; remove those first")
            }
            (Some(min), Some(max), None)
                if crate::lookup::native_cmp(min, max) == std::cmp::Ordering::Greater =>
            {
                Some("min is above max, so no device could get the build")
            }
            _ => None,
        };
        if let Some(problem) = problem {
            return Err(NativeLimitError::Inconsistent {
                platform: platform.clone(),
                problem: problem.to_owned(),
            });
        }
    }
    Ok(())
}

/// `limits` with `changes` merged in: untouched fields and platforms stay.
pub fn apply_native_changes(
    limits: &NativeLimits,
    changes: &NativeChanges,
) -> Result<NativeLimits, NativeLimitError> {
    let mut out = limits.clone();
    for (platform, change) in changes {
        let platform = crate::domain::native_platform(platform)?;
        let Some(change) = change else {
            out.remove(platform);
            continue;
        };
        let limit = out.entry(platform.to_owned()).or_default();
        for (field, value) in [
            (&mut limit.min, &change.min),
            (&mut limit.max, &change.max),
            (&mut limit.eq, &change.eq),
        ] {
            if let Some(v) = value {
                *field = v.clone();
            }
        }
        if limit.is_empty() {
            out.remove(platform);
        }
    }
    check_native_limits(&out)?;
    Ok(out)
}

/// A one-line summary of native limits, such as `ios >= 9.0, <= 12; android any`.
pub fn describe_native_limits(limits: &NativeLimits) -> String {
    crate::domain::NATIVE_PLATFORMS
        .iter()
        .map(|p| match limits.get(*p) {
            Some(l) if !l.is_empty() => {
                let mut parts = Vec::new();
                if let Some(v) = &l.eq {
                    parts.push(format!("= {v}"));
                }
                if let Some(v) = &l.min {
                    parts.push(format!(">= {v}"));
                }
                if let Some(v) = &l.max {
                    parts.push(format!("<= {v}"));
                }
                format!("{p} {}", parts.join(", "))
            }
            _ => format!("{p} any"),
        })
        .collect::<Vec<_>>()
        .join("; ")
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

/// One build assignment of a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Deployment {
    /// The build.
    pub build_id: u64,
    /// Percentage of devices that get it (1-100); with a plan, its step's.
    pub rollout_percent: u8,
    /// When.
    pub at: Timestamp,
    /// The rollout plan walking this deployment, if any (docs/rollouts.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<crate::rollout::RolloutPlan>,
}

impl Deployment {
    /// A plan halted it: devices that have the build keep it, no other
    /// device is given it.
    pub fn halted(&self) -> bool {
        self.plan
            .as_ref()
            .is_some_and(|p| p.state == crate::rollout::PlanState::Halted)
    }
}

/// What happened to a channel, for its audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelLogEntry {
    /// `deploy` or `rollback`.
    pub action: String,
    /// The build the channel pointed at afterwards (`None`: nothing).
    pub build_id: Option<u64>,
    /// Rollout afterwards.
    pub rollout_percent: u8,
    /// When.
    pub at: Timestamp,
}

/// A channel: a pointer to a build, with history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Channel {
    /// The app.
    pub app_id: AppId,
    /// Channel name.
    pub name: String,
    /// What devices get now.
    pub current: Option<Deployment>,
    /// Earlier deployments, newest last. Devices outside the current rollout
    /// are served from here as the channel served them before it began;
    /// rollback returns to the newest one of another build.
    pub previous: Vec<Deployment>,
    /// Every deploy and rollback, oldest first.
    pub log: Vec<ChannelLogEntry>,
    /// Devices may switch themselves to this channel (capgo `channel_self`).
    pub allow_self_assign: bool,
    /// Incremented by every write; writes compare and set on it.
    pub revision: u64,
    /// The rollout guard's thresholds for this channel.
    #[serde(default)]
    pub guard: crate::rollout::GuardSettings,
}

impl Channel {
    /// A new, empty channel.
    pub fn new(app_id: AppId, name: impl Into<String>) -> Self {
        Self {
            app_id,
            name: name.into(),
            current: None,
            previous: Vec::new(),
            log: Vec::new(),
            allow_self_assign: false,
            revision: 0,
            guard: crate::rollout::GuardSettings::default(),
        }
    }

    /// Points the channel at `build_id` at one percentage, with no plan.
    pub fn deploy(&mut self, build_id: u64, rollout_percent: u8, at: Timestamp) {
        self.deploy_planned(build_id, rollout_percent, None, at);
    }

    /// Points the channel at `build_id` under a rollout plan: `steps`,
    /// `step_seconds`, `auto_rollback`. Deploying the build the channel is
    /// already rolling out changes only its plan (which keeps its health
    /// window and starts at the current percentage) or percentage: the
    /// baseline (what devices outside the rollout keep getting) stays, so
    /// widening never hands the build to devices outside the new percentage.
    pub fn deploy_plan(
        &mut self,
        build_id: u64,
        steps: Vec<u8>,
        step_seconds: u64,
        auto_rollback: bool,
        at: Timestamp,
    ) {
        use crate::rollout::RolloutPlan;
        let plan = match self.current.as_ref() {
            Some(cur) if cur.build_id == build_id => match &cur.plan {
                Some(old) => {
                    let mut p = RolloutPlan::edited(old, steps, step_seconds, auto_rollback, at);
                    if !old.active() {
                        p.window_start = at;
                        p.reading = None;
                    }
                    p
                }
                None => {
                    let base = self.baseline().map(|d| d.build_id);
                    RolloutPlan::new(steps, step_seconds, auto_rollback, base, at)
                }
            },
            cur => RolloutPlan::new(
                steps,
                step_seconds,
                auto_rollback,
                cur.map(|d| d.build_id),
                at,
            ),
        };
        self.deploy_planned(build_id, plan.percent(), Some(plan), at);
    }

    fn deploy_planned(
        &mut self,
        build_id: u64,
        rollout_percent: u8,
        plan: Option<crate::rollout::RolloutPlan>,
        at: Timestamp,
    ) {
        let action = match self.current.as_mut() {
            Some(cur) if cur.build_id == build_id => {
                cur.rollout_percent = rollout_percent;
                cur.plan = plan;
                "rollout"
            }
            _ => {
                if let Some(cur) = self.current.take() {
                    self.previous.push(cur);
                }
                self.current = Some(Deployment {
                    build_id,
                    rollout_percent,
                    at,
                    plan,
                });
                "deploy"
            }
        };
        self.log.push(ChannelLogEntry {
            action: action.into(),
            build_id: Some(build_id),
            rollout_percent,
            at,
        });
    }

    /// Records a change the rollout plan made on its own (or by hand) in
    /// the channel's history, with the percentage it left.
    pub fn log_plan(&mut self, action: &str, at: Timestamp) {
        if let Some(cur) = &self.current {
            self.log.push(ChannelLogEntry {
                action: action.into(),
                build_id: Some(cur.build_id),
                rollout_percent: cur.rollout_percent,
                at,
            });
        }
    }

    /// The deployment devices outside the current rollout fall back to: the
    /// newest earlier one of another build (channels written before widening
    /// kept its baseline may hold the current build in `previous` too).
    pub fn baseline(&self) -> Option<&Deployment> {
        let cur = self.current.as_ref()?;
        self.previous
            .iter()
            .rev()
            .find(|d| d.build_id != cur.build_id)
    }

    /// Returns the channel to where it was before the current build's rollout
    /// began (its baseline, with that deployment's own rollout); false when
    /// there is none.
    pub fn rollback(&mut self, at: Timestamp) -> bool {
        let Some(cur) = self.current.as_ref().map(|d| d.build_id) else {
            return false;
        };
        let Some(pos) = self.previous.iter().rposition(|d| d.build_id != cur) else {
            return false;
        };
        self.previous.truncate(pos + 1);
        let prev = self.previous.pop().expect("pos is in range");
        self.log.push(ChannelLogEntry {
            action: "rollback".into(),
            build_id: Some(prev.build_id),
            rollout_percent: prev.rollout_percent,
            at,
        });
        self.current = Some(prev);
        true
    }

    /// The deployments a device may be served from, newest first, each build
    /// once (its newest deployment): a device outside a build's newest
    /// rollout must not get that build from an older entry.
    pub fn stack(&self) -> impl Iterator<Item = &Deployment> {
        let mut seen: Vec<u64> = Vec::new();
        self.current
            .iter()
            .chain(self.previous.iter().rev())
            .filter(move |d| {
                if seen.contains(&d.build_id) {
                    false
                } else {
                    seen.push(d.build_id);
                    true
                }
            })
    }
}

/// What a device reports.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The build finished downloading.
    DownloadComplete,
    /// The build was applied.
    Applied,
    /// Download or apply failed.
    Failed,
    /// The device went back from the build.
    RolledBack,
}

impl EventKind {
    /// Every kind, in a fixed order.
    pub const ALL: [EventKind; 4] = [
        EventKind::DownloadComplete,
        EventKind::Applied,
        EventKind::Failed,
        EventKind::RolledBack,
    ];

    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::DownloadComplete => "download_complete",
            EventKind::Applied => "applied",
            EventKind::Failed => "failed",
            EventKind::RolledBack => "rolled_back",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One device event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The app.
    pub app_id: AppId,
    /// The build.
    pub build_id: u64,
    /// The device (opaque, from the device).
    pub device_id: String,
    /// The channel the device reported from (its own, or the app's default).
    pub channel: String,
    /// What happened.
    pub kind: EventKind,
    /// When it was received.
    pub at: Timestamp,
}

/// One write through the API, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Unique, sortable by time (`{at}-{random}`).
    pub id: String,
    /// When.
    pub at: Timestamp,
    /// The app it concerns (`None`: a global action such as an admin token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub app_id: Option<AppId>,
    /// The token that acted (id and name, never the secret).
    pub actor: TokenRef,
    /// `api` or `console`.
    pub via: String,
    /// What was done, such as `deploy`, `rollback`, `build.disable`.
    pub action: String,
    /// What it was done to, such as `channel production` or `build 7`.
    pub target: String,
    /// The record before (absent for a creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The record after (absent for a deletion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

/// The width of a usage bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grain {
    /// One hour.
    Hour,
    /// One day (UTC).
    Day,
}

impl Grain {
    /// Seconds in one bucket.
    pub fn seconds(self) -> i64 {
        match self {
            Grain::Hour => 3600,
            Grain::Day => 86_400,
        }
    }
    /// The start of the bucket holding `at`.
    pub fn start(self, at: Timestamp) -> Timestamp {
        at - at.rem_euclid(self.seconds())
    }
    /// A one-letter code for keys.
    pub fn code(self) -> &'static str {
        match self {
            Grain::Hour => "h",
            Grain::Day => "d",
        }
    }
}

/// The device events of one build on one channel in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsageBucket {
    /// Start of the bucket (Unix seconds).
    pub start: Timestamp,
    /// The build.
    pub build_id: u64,
    /// Events per kind (hourly buckets; summed for days).
    #[schema(value_type = Object)]
    pub events: BTreeMap<EventKind, u64>,
    /// Distinct devices that reported anything about the build in the bucket.
    pub devices: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_and_rollback_walk_history() {
        let app = AppId::new("a").unwrap();
        let mut ch = Channel::new(app, "production");
        assert!(!ch.rollback(0));
        ch.deploy(1, 100, 1);
        ch.deploy(2, 100, 2);
        ch.deploy(3, 10, 3);
        assert!(ch.rollback(4));
        assert_eq!(ch.current.as_ref().unwrap().build_id, 2);
        assert!(ch.rollback(5));
        assert_eq!(ch.current.as_ref().unwrap().build_id, 1);
        assert!(!ch.rollback(6));
        assert_eq!(ch.log.len(), 5);
    }

    #[test]
    fn widening_a_rollout_keeps_its_baseline_and_rollback_returns_to_it() {
        let mut ch = Channel::new(AppId::new("a").unwrap(), "production");
        ch.deploy(2, 100, 1);
        ch.deploy(3, 20, 2);
        ch.deploy(3, 50, 3);
        assert_eq!(ch.previous.len(), 1, "re-deploying 3 keeps one baseline");
        assert_eq!(ch.baseline().unwrap().build_id, 2);
        assert_eq!(ch.current.as_ref().unwrap().rollout_percent, 50);
        assert_eq!(ch.log.last().unwrap().action, "rollout");
        assert!(ch.rollback(4));
        let cur = ch.current.as_ref().unwrap();
        assert_eq!((cur.build_id, cur.rollout_percent), (2, 100));
        assert!(!ch.rollback(5), "nothing before build 2");
    }

    #[test]
    fn rollback_skips_a_baseline_of_the_same_build_written_by_older_versions() {
        let mut ch = Channel::new(AppId::new("a").unwrap(), "production");
        ch.deploy(2, 100, 1);
        ch.deploy(3, 20, 2);
        // What versions before the fix stored after `deploy 3 --rollout 50`.
        ch.previous.push(ch.current.clone().unwrap());
        ch.current.as_mut().unwrap().rollout_percent = 50;
        assert_eq!(ch.baseline().unwrap().build_id, 2);
        assert_eq!(
            ch.stack().map(|d| d.build_id).collect::<Vec<_>>(),
            vec![3, 2]
        );
        assert!(ch.rollback(3));
        assert_eq!(ch.current.as_ref().unwrap().build_id, 2);
    }

    #[test]
    fn token_scopes() {
        let a = AppId::new("a").unwrap();
        let b = AppId::new("b").unwrap();
        let t = Token {
            id: "t".into(),
            name: "ci".into(),
            app_id: Some(a.clone()),
            scopes: vec![Scope::Upload],
            secret_sha256: Sha256Digest::of(b"x"),
            created_at: 0,
            last_used_at: None,
            expires_at: None,
            session_of: None,
        };
        assert!(t.allows(Some(&a), Scope::Upload));
        assert!(!t.allows(Some(&a), Scope::Deploy));
        assert!(!t.allows(Some(&b), Scope::Upload));
        assert!(!t.allows(None, Scope::Upload));
        // Deploy includes read; read includes nothing else.
        let d = Token {
            scopes: vec![Scope::Deploy],
            ..t.clone()
        };
        assert!(d.allows(Some(&a), Scope::Read));
        let r = Token {
            scopes: vec![Scope::Read],
            ..t.clone()
        };
        assert!(r.allows(Some(&a), Scope::Read));
        assert!(!r.allows(Some(&a), Scope::Deploy) && !r.allows(Some(&a), Scope::Upload));
        let admin = Token {
            app_id: None,
            scopes: vec![Scope::Admin],
            ..t
        };
        assert!(admin.allows(Some(&b), Scope::Deploy));
        assert!(admin.allows(None, Scope::Admin));
    }

    fn change(json: &str) -> NativeChanges {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn native_changes_merge_validate_and_remove() {
        let l = apply_native_changes(&NativeLimits::new(), &change(r#"{"ios":{"min":"9.0"}}"#))
            .unwrap();
        // Setting max keeps min.
        let l = apply_native_changes(&l, &change(r#"{"ios":{"max":"12"}}"#)).unwrap();
        assert_eq!(describe_native_limits(&l), "android any; ios >= 9.0, <= 12");
        // "" and null remove one field; a null platform removes all.
        let l2 = apply_native_changes(&l, &change(r#"{"ios":{"min":""}}"#)).unwrap();
        assert_eq!(
            l2["ios"],
            NativeLimit {
                max: Some("12".into()),
                ..Default::default()
            }
        );
        let l3 = apply_native_changes(&l2, &change(r#"{"ios":{"max":null}}"#)).unwrap();
        assert!(l3.is_empty(), "{l3:?}");
        assert!(apply_native_changes(&l, &change(r#"{"ios":null}"#))
            .unwrap()
            .is_empty());
        // Refused: not a version, unknown platform, contradictions.
        for bad in [
            r#"{"ios":{"min":"banana"}}"#,
            r#"{"iso":{"min":"1"}}"#,
            r#"{"ios":{"min":"13"}}"#,
            r#"{"ios":{"eq":"10"}}"#,
        ] {
            assert!(apply_native_changes(&l, &change(bad)).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<NativeChanges>(r#"{"ios":{"minimum":"1"}}"#).is_err());
    }
}
