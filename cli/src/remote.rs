//! Commands that talk to a liveship server: publishing builds (Appflow's
//! `upload-artifact` / `register-artifact`) and release management.

use crate::client::Api;
use crate::live_update::{load_key_from, load_signing_key};
use crate::output::{Failure, Output};
use crate::progress;
use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use futures::StreamExt;
use liveship_core::artifact::{self, BundleRequest};
use liveship_core::domain::{AppId, BuildVersion};
use liveship_core::env;
use liveship_core::hash::Sha256Digest;
use liveship_core::keys::PublicKey;
use liveship_core::manifest::{Manifest, ManifestDocument};
use liveship_core::model::{ArtifactType, Build, Channel, NativeLimit, NativeLimits, Scope};
use liveship_core::tree;
use liveship_core::wire::{
    BuildStats, CreateApp, CreateToken, CreatedToken, Deploy, FileRef, PatchBuild, RegisterBuild,
    RegisteredBuild, UploadsRequest, UploadsResponse,
};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;

/// Where the server is and how to authenticate (global flags).
#[derive(Debug, Args, Clone)]
pub struct Remote {
    /// liveship server URL.
    #[arg(long, global = true, env = env::SERVER, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// API token (Appflow's --token).
    #[arg(long, global = true, env = env::TOKEN, hide_env_values = true)]
    pub token: Option<String>,
}

impl Remote {
    fn api(&self) -> anyhow::Result<Api> {
        let api = Api::new(&self.server, self.token.clone())?;
        api.require_token()?;
        Ok(api)
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ArtifactKind {
    /// File by file: devices download only changed files (recommended).
    Manifest,
    /// One zip of the whole build.
    Zip,
}

impl From<ArtifactKind> for ArtifactType {
    fn from(k: ArtifactKind) -> Self {
        match k {
            ArtifactKind::Manifest => ArtifactType::Manifest,
            ArtifactKind::Zip => ArtifactType::Zip,
        }
    }
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Branch or tag.
    #[arg(long)]
    commit_ref: Option<String>,
    /// Commit SHA.
    #[arg(long)]
    commit_sha: Option<String>,
    /// Commit message.
    #[arg(long)]
    commit_message: Option<String>,
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The app id.
    #[arg(long, env = env::APP_ID)]
    app_id: AppId,
    /// The web build directory.
    #[arg(long, value_name = "DIR")]
    build_dir: PathBuf,
    /// Private key: path or PEM text.
    #[arg(long, value_name = "KEY", env = env::SIGNING_KEY, hide_env_values = true, allow_hyphen_values = true)]
    signing_key: Option<String>,
    /// `manifest` (differential, recommended) or `zip`.
    #[arg(long, value_enum, default_value = "manifest")]
    artifact_type: ArtifactKind,
    #[command(flatten)]
    commit: CommitArgs,
    /// Version label [default: the first 12 characters of --commit-sha, else
    /// `c` and 12 hex characters of the build's content hash].
    #[arg(long = "version", value_name = "V")]
    build_version: Option<BuildVersion>,
    /// Deploy to this channel after registering.
    #[arg(long)]
    channel: Option<String>,
    /// Staged rollout percentage for --channel (1-100).
    #[arg(long, value_name = "PCT", value_parser = clap::value_parser!(u8).range(1..=100))]
    rollout: Option<u8>,
    /// Devices must apply this build at once.
    #[arg(long)]
    mandatory: bool,
    /// Parallel uploads.
    #[arg(long, default_value_t = 8)]
    parallel: usize,
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The app id.
    #[arg(long, env = env::APP_ID)]
    app_id: AppId,
    /// Where the artifact is hosted: the live-update-manifest.json URL, or the .zip URL.
    #[arg(long)]
    artifact_url: String,
    /// `manifest` or `zip`.
    #[arg(long, value_enum)]
    artifact_type: ArtifactKind,
    /// The signed manifest file [default for manifest artifacts: fetched from --artifact-url].
    /// For zip artifacts, the .manifest.json written beside the zip by bundle-artifact.
    #[arg(long, value_name = "PATH")]
    manifest: Option<PathBuf>,
    #[command(flatten)]
    commit: CommitArgs,
    /// Version label, when the manifest carries none.
    #[arg(long = "version", value_name = "V")]
    build_version: Option<BuildVersion>,
    /// Devices must apply this build at once.
    #[arg(long)]
    mandatory: bool,
}

#[derive(Debug, Args)]
pub struct NativeArgs {
    /// The app id.
    #[arg(long, env = env::APP_ID)]
    app_id: AppId,
    /// The build.
    #[arg(long)]
    build_id: u64,
    #[arg(long)]
    ios_min: Option<String>,
    #[arg(long)]
    ios_max: Option<String>,
    #[arg(long)]
    ios_eq: Option<String>,
    #[arg(long)]
    android_min: Option<String>,
    #[arg(long)]
    android_max: Option<String>,
    #[arg(long)]
    android_eq: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[arg(long, env = env::APP_ID)]
    app_id: AppId,
    /// The channel.
    #[arg(long)]
    channel: String,
    /// The build to deploy.
    #[arg(long)]
    build_id: u64,
    /// Staged rollout percentage (1-100).
    #[arg(long, value_name = "PCT", value_parser = clap::value_parser!(u8).range(1..=100))]
    rollout: Option<u8>,
    /// Let devices switch themselves to this channel (capgo `setChannel`): true or false.
    #[arg(long, value_name = "BOOL")]
    allow_self_assign: Option<bool>,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[arg(long, env = env::APP_ID)]
    app_id: AppId,
    /// The channel.
    #[arg(long)]
    channel: String,
}

#[derive(Debug, Args)]
pub struct AppArg {
    #[arg(long, env = env::APP_ID)]
    app_id: AppId,
}

#[derive(Debug, Subcommand)]
pub enum BuildsCmd {
    /// List builds, newest first.
    List(AppArg),
    /// Disable a build: it is never offered again.
    Disable(BuildRef),
    /// Enable a disabled build.
    Enable(BuildRef),
}

#[derive(Debug, Args)]
pub struct BuildRef {
    #[arg(long, env = env::APP_ID)]
    app_id: AppId,
    #[arg(long)]
    build_id: u64,
}

#[derive(Debug, Subcommand)]
pub enum ChannelsCmd {
    /// List channels with current build, rollout and history.
    List(AppArg),
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[arg(long, env = env::APP_ID)]
    app_id: AppId,
    #[arg(long)]
    build_id: u64,
}

#[derive(Debug, Subcommand)]
pub enum AppsCmd {
    /// Create an app.
    Create(CreateAppArgs),
}

#[derive(Debug, Args)]
pub struct CreateAppArgs {
    #[arg(long)]
    app_id: AppId,
    /// Public key (path or PEM) that must sign every build; repeat for several.
    #[arg(long, value_name = "PEM", allow_hyphen_values = true)]
    public_key: Vec<String>,
    /// Channel for devices that name none.
    #[arg(long)]
    default_channel: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// Create a token; its secret is printed once.
    Create(CreateTokenArgs),
}

#[derive(Debug, Args)]
pub struct CreateTokenArgs {
    /// A name to recognise it by.
    #[arg(long)]
    name: String,
    /// Limit it to one app.
    #[arg(long)]
    app_id: Option<AppId>,
    /// Comma-separated: admin, upload, deploy.
    #[arg(long, value_delimiter = ',', required = true)]
    scopes: Vec<Scope>,
}

/// A file to upload: hash, size, where it is.
struct LocalFile {
    sha256: Sha256Digest,
    size: u64,
    path: PathBuf,
}

/// The version when none is given: the commit, else the build's content
/// hash. `content` hashes the build; it runs only in that last case, since
/// bundling hashes every file again anyway.
fn default_version(
    commit_sha: Option<&str>,
    content: impl FnOnce() -> anyhow::Result<Manifest>,
) -> anyhow::Result<BuildVersion> {
    if let Some(sha) = commit_sha.filter(|s| !s.is_empty()) {
        let short: String = sha.chars().take(12).collect();
        if let Ok(v) = BuildVersion::new(short) {
            return Ok(v);
        }
    }
    let digest = Sha256Digest::of(&serde_json::to_vec(&content()?.files)?);
    Ok(BuildVersion::new(format!("c{}", &digest.to_hex()[..12]))?)
}

pub fn upload_artifact(a: UploadArgs, remote: &Remote, out: &Output) -> Result<Value, Failure> {
    let api = remote.api()?;
    let key_arg = a.signing_key.as_deref().ok_or_else(|| {
        anyhow!(
            "upload-artifact needs --signing-key (or {})",
            env::SIGNING_KEY
        )
    })?;
    let key = load_signing_key(key_arg)?;
    let scan = tree::scan(&a.build_dir)?;
    for s in &scan.skipped {
        out.note(format!("skipped {} ({})", s.path, s.reason));
    }
    let version = match a.build_version.clone() {
        Some(v) => v,
        None => default_version(a.commit.commit_sha.as_deref(), || {
            let bar = progress::for_terminal(out.json, "hashing");
            let entries = tree::hash_files(&scan, bar.as_ref())?;
            Ok(Manifest::new(Some(a.app_id.clone()), None, entries)?)
        })?,
    };
    let kind: ArtifactType = a.artifact_type.into();
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    // Both kinds are bundled here, in CI: the reproducible zip is named in
    // the signed manifest and uploaded like any file, so the server only
    // checks hashes and registration answers quickly whatever the build size.
    let zip_path = tmp.path().join("live-update.zip");
    let manifest_path = tmp.path().join("live-update.manifest.json");
    let report = {
        let bar = progress::for_terminal(out.json, "bundling");
        artifact::bundle(
            &BundleRequest {
                build_dir: &a.build_dir,
                zip_path: &zip_path,
                manifest_path: &manifest_path,
                app_id: Some(a.app_id.clone()),
                version: Some(version.clone()),
                key: &key,
            },
            bar.as_ref(),
        )?
    };
    let zip_file = LocalFile {
        sha256: report.zip.sha256,
        size: report.zip.size,
        path: zip_path,
    };
    let files = match kind {
        ArtifactType::Manifest => {
            let by_path: HashMap<&str, &PathBuf> = scan
                .files
                .iter()
                .map(|f| (f.path.as_str(), &f.abs))
                .collect();
            let mut files: Vec<LocalFile> = report
                .manifest
                .files
                .iter()
                .map(|e| {
                    let path = by_path.get(e.path.as_str()).ok_or_else(|| {
                        anyhow!("{} changed while it was being uploaded; run again", e.path)
                    })?;
                    Ok(LocalFile {
                        sha256: e.sha256,
                        size: e.size,
                        path: (*path).clone(),
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            files.push(zip_file);
            files.sort_by_key(|f| f.sha256);
            files.dedup_by_key(|f| f.sha256);
            files
        }
        ArtifactType::Zip => vec![zip_file],
    };
    let doc = report.manifest.sign(&key);
    // For manifest builds the counts are of the build's files; the zip,
    // also uploaded, is reported on its own.
    let zip_sha = (kind == ArtifactType::Manifest).then_some(report.zip.sha256);
    let rt = runtime()?;
    let (registered, uploaded, uploaded_bytes, already, channel, zip_uploaded) =
        rt.block_on(async {
            let app = &a.app_id;
            let req = UploadsRequest {
                files: files
                    .iter()
                    .map(|f| FileRef {
                        sha256: f.sha256,
                        size: f.size,
                    })
                    .collect(),
            };
            let plan: UploadsResponse = api
                .json(Method::POST, &format!("/v1/apps/{app}/uploads"), Some(&req))
                .await?;
            let local: HashMap<Sha256Digest, &LocalFile> =
                files.iter().map(|f| (f.sha256, f)).collect();
            let bytes: u64 = plan.missing.iter().map(|t| t.size).sum();
            let bar = progress::for_terminal(out.json, "uploading");
            bar.start(bytes);
            let results: Vec<anyhow::Result<()>> = futures::stream::iter(plan.missing.iter())
                .map(|target| {
                    let api = api.clone();
                    let bar = &bar;
                    let path = local
                        .get(&target.sha256)
                        .map(|f| f.path.clone())
                        .ok_or_else(|| {
                            anyhow!("the server asked for a file this build does not have")
                        });
                    async move {
                        api.upload_file(target, &path?).await?;
                        bar.advance(target.size);
                        Ok(())
                    }
                })
                .buffer_unordered(a.parallel.max(1))
                .collect()
                .await;
            drop(bar);
            for r in results {
                r?;
            }
            let body = RegisterBuild {
                manifest: doc,
                artifact_type: kind,
                artifact_url: None,
                commit_ref: a.commit.commit_ref.clone(),
                commit_sha: a.commit.commit_sha.clone(),
                commit_message: a.commit.commit_message.clone(),
                version: None,
                native: NativeLimits::new(),
                mandatory: a.mandatory,
            };
            let registered: RegisteredBuild = api
                .json(Method::POST, &format!("/v1/apps/{app}/builds"), Some(&body))
                .await?;
            let channel = match &a.channel {
                Some(c) => {
                    Some(deploy_to(&api, app, c, registered.build.id, a.rollout, None).await?)
                }
                None => None,
            };
            let zip_uploaded = zip_sha.is_some_and(|z| plan.missing.iter().any(|t| t.sha256 == z));
            let zip_listed = usize::from(zip_sha.is_some());
            anyhow::Ok((
                registered,
                plan.missing.len() - usize::from(zip_uploaded),
                bytes,
                plan.already_stored - (zip_listed - usize::from(zip_uploaded)),
                channel,
                zip_uploaded,
            ))
        })?;
    let b = &registered.build;
    out.say(format!(
        "{} build {} (version {}): uploaded {uploaded} file(s), {already} already stored",
        if registered.created {
            "Registered"
        } else {
            "Already registered as"
        },
        b.id,
        b.version
    ));
    if let Some(ch) = &channel {
        out.say(format!("Deployed build {} to channel {}", b.id, ch.name));
    }
    Ok(json!({
        "command": "upload-artifact",
        "build_id": b.id,
        "version": b.version,
        "created": registered.created,
        "artifact_type": b.artifact_type,
        "uploaded": uploaded,
        "uploaded_bytes": uploaded_bytes,
        "already_stored": already,
        "zip_uploaded": zip_uploaded,
        "files": b.file_count,
        "channel": channel.as_ref().map(|c| &c.name),
        "rollout_percent": channel.as_ref().and_then(|c| c.current.as_ref()).map(|d| d.rollout_percent),
    }))
}

async fn deploy_to(
    api: &Api,
    app: &AppId,
    channel: &str,
    build_id: u64,
    rollout: Option<u8>,
    allow_self_assign: Option<bool>,
) -> anyhow::Result<Channel> {
    let body = Deploy {
        build_id,
        rollout_percent: rollout,
        allow_self_assign,
    };
    api.json(
        Method::PUT,
        &format!("/v1/apps/{app}/channels/{channel}"),
        Some(&body),
    )
    .await
}

pub fn register_artifact(a: RegisterArgs, remote: &Remote, out: &Output) -> Result<Value, Failure> {
    let api = remote.api()?;
    let rt = runtime()?;
    let doc: ManifestDocument = match (&a.manifest, a.artifact_type) {
        (Some(path), _) => {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            ManifestDocument::from_slice(&bytes).with_context(|| path.display().to_string())?
        }
        (None, ArtifactKind::Manifest) => rt.block_on(async {
            let resp = reqwest::get(&a.artifact_url)
                .await
                .with_context(|| format!("cannot fetch {}", a.artifact_url))?;
            if !resp.status().is_success() {
                bail!("fetching {} answered {}", a.artifact_url, resp.status());
            }
            let bytes = resp.bytes().await?;
            ManifestDocument::from_slice(&bytes).with_context(|| a.artifact_url.clone())
        })?,
        (None, ArtifactKind::Zip) => {
            return Err(anyhow!(
                "a zip artifact needs --manifest: the .manifest.json that bundle-artifact wrote beside the zip (it carries the zip's hash)"
            )
            .into())
        }
    };
    let body = RegisterBuild {
        manifest: doc,
        artifact_type: a.artifact_type.into(),
        artifact_url: Some(a.artifact_url.clone()),
        commit_ref: a.commit.commit_ref,
        commit_sha: a.commit.commit_sha,
        commit_message: a.commit.commit_message,
        version: a.build_version,
        native: NativeLimits::new(),
        mandatory: a.mandatory,
    };
    let app = &a.app_id;
    let registered: RegisteredBuild =
        rt.block_on(api.json(Method::POST, &format!("/v1/apps/{app}/builds"), Some(&body)))?;
    out.say(format!(
        "{} build {} (version {}) at {}",
        if registered.created {
            "Registered"
        } else {
            "Already registered as"
        },
        registered.build.id,
        registered.build.version,
        a.artifact_url
    ));
    Ok(json!({
        "command": "register-artifact",
        "build_id": registered.build.id,
        "version": registered.build.version,
        "created": registered.created,
        "artifact_url": a.artifact_url,
    }))
}

pub fn set_native_versions(a: NativeArgs, remote: &Remote, out: &Output) -> Result<Value, Failure> {
    let api = remote.api()?;
    let mut native = NativeLimits::new();
    for (platform, min, max, eq) in [
        ("ios", a.ios_min, a.ios_max, a.ios_eq),
        ("android", a.android_min, a.android_max, a.android_eq),
    ] {
        if min.is_some() || max.is_some() || eq.is_some() {
            native.insert(platform.into(), NativeLimit { min, max, eq });
        }
    }
    if native.is_empty() {
        return Err(anyhow!("give at least one of --ios-min --ios-max --ios-eq --android-min --android-max --android-eq").into());
    }
    let body = PatchBuild {
        native: Some(native),
        ..Default::default()
    };
    let b: Build = runtime()?.block_on(api.json(
        Method::PATCH,
        &format!("/v1/apps/{}/builds/{}", a.app_id, a.build_id),
        Some(&body),
    ))?;
    out.say(format!(
        "Build {} native limits: {}",
        b.id,
        serde_json::to_string(&b.native).unwrap_or_default()
    ));
    Ok(json!({"command": "set-native-versions", "build_id": b.id, "native": b.native}))
}

pub fn deploy(a: DeployArgs, remote: &Remote, out: &Output) -> Result<Value, Failure> {
    let api = remote.api()?;
    let ch = runtime()?.block_on(deploy_to(
        &api,
        &a.app_id,
        &a.channel,
        a.build_id,
        a.rollout,
        a.allow_self_assign,
    ))?;
    let cur = ch.current.as_ref();
    out.say(format!(
        "Channel {} now serves build {} to {}% of devices",
        ch.name,
        a.build_id,
        cur.map_or(100, |d| d.rollout_percent)
    ));
    Ok(json!({"command": "deploy", "channel": ch}))
}

pub fn rollback(a: RollbackArgs, remote: &Remote, out: &Output) -> Result<Value, Failure> {
    let api = remote.api()?;
    let ch: Channel = runtime()?.block_on(api.json::<(), _>(
        Method::POST,
        &format!("/v1/apps/{}/channels/{}/rollback", a.app_id, a.channel),
        None,
    ))?;
    out.say(format!(
        "Channel {} rolled back to build {}",
        ch.name,
        ch.current
            .as_ref()
            .map_or("none".into(), |d| d.build_id.to_string())
    ));
    Ok(json!({"command": "rollback", "channel": ch}))
}

pub fn builds(cmd: BuildsCmd, remote: &Remote, out: &Output) -> Result<Value, Failure> {
    let api = remote.api()?;
    let rt = runtime()?;
    match cmd {
        BuildsCmd::List(a) => {
            let v: Value = rt.block_on(api.json::<(), _>(
                Method::GET,
                &format!("/v1/apps/{}/builds", a.app_id),
                None,
            ))?;
            let builds: Vec<Build> =
                serde_json::from_value(v["builds"].clone()).context("reading builds")?;
            for b in &builds {
                out.say(format!(
                    "{:>6}  {:<24} {:<8} {:>6} files  {}{}{}",
                    b.id,
                    b.version,
                    format!("{:?}", b.artifact_type).to_lowercase(),
                    b.file_count,
                    b.commit.r#ref.as_deref().unwrap_or("-"),
                    if b.mandatory { "  mandatory" } else { "" },
                    if b.disabled { "  DISABLED" } else { "" },
                ));
            }
            Ok(json!({"command": "builds list", "builds": builds}))
        }
        BuildsCmd::Disable(r) => set_disabled(&rt, &api, r, true, out),
        BuildsCmd::Enable(r) => set_disabled(&rt, &api, r, false, out),
    }
}

fn set_disabled(
    rt: &tokio::runtime::Runtime,
    api: &Api,
    r: BuildRef,
    disabled: bool,
    out: &Output,
) -> Result<Value, Failure> {
    let body = PatchBuild {
        disabled: Some(disabled),
        ..Default::default()
    };
    let b: Build = rt.block_on(api.json(
        Method::PATCH,
        &format!("/v1/apps/{}/builds/{}", r.app_id, r.build_id),
        Some(&body),
    ))?;
    out.say(format!(
        "Build {} is {}",
        b.id,
        if b.disabled { "disabled" } else { "enabled" }
    ));
    Ok(json!({"command": if disabled { "builds disable" } else { "builds enable" }, "build": b}))
}

pub fn channels(cmd: ChannelsCmd, remote: &Remote, out: &Output) -> Result<Value, Failure> {
    let api = remote.api()?;
    let ChannelsCmd::List(a) = cmd;
    let v: Value = runtime()?.block_on(api.json::<(), _>(
        Method::GET,
        &format!("/v1/apps/{}/channels", a.app_id),
        None,
    ))?;
    let channels: Vec<Channel> =
        serde_json::from_value(v["channels"].clone()).context("reading channels")?;
    for c in &channels {
        out.say(format!(
            "{:<16} build {:>6}  rollout {:>3}%  history: {}",
            c.name,
            c.current
                .as_ref()
                .map_or("-".into(), |d| d.build_id.to_string()),
            c.current.as_ref().map_or(0, |d| d.rollout_percent),
            c.previous
                .iter()
                .map(|d| d.build_id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(json!({"command": "channels list", "channels": channels}))
}

pub fn stats(a: StatsArgs, remote: &Remote, out: &Output) -> Result<Value, Failure> {
    let api = remote.api()?;
    let s: BuildStats = runtime()?.block_on(api.json::<(), _>(
        Method::GET,
        &format!("/v1/apps/{}/builds/{}/stats", a.app_id, a.build_id),
        None,
    ))?;
    for (k, n) in &s.counts {
        out.say(format!("{:<18} {n}", k.as_str()));
    }
    Ok(json!({"command": "stats", "build_id": s.build_id, "counts": s.counts}))
}

pub fn apps(cmd: AppsCmd, remote: &Remote, out: &Output) -> Result<Value, Failure> {
    let api = remote.api()?;
    let AppsCmd::Create(a) = cmd;
    let mut keys = Vec::new();
    for k in &a.public_key {
        let pem = load_key_from(k, "public key")?;
        PublicKey::from_pem(&pem).context("--public-key")?;
        keys.push(pem);
    }
    let body = CreateApp {
        app_id: a.app_id,
        public_keys: keys,
        default_channel: a.default_channel,
    };
    let app: liveship_core::model::App =
        runtime()?.block_on(api.json(Method::POST, "/v1/apps", Some(&body)))?;
    out.say(format!(
        "Created app {} ({} public key(s); builds {} be signed)",
        app.app_id,
        app.public_keys.len(),
        if app.public_keys.is_empty() {
            "need not"
        } else {
            "must"
        }
    ));
    Ok(json!({"command": "apps create", "app": app}))
}

pub fn tokens(cmd: TokensCmd, remote: &Remote, out: &Output) -> Result<Value, Failure> {
    let api = remote.api()?;
    let TokensCmd::Create(a) = cmd;
    let body = CreateToken {
        name: a.name,
        app_id: a.app_id,
        scopes: a.scopes,
    };
    let t: CreatedToken = runtime()?.block_on(api.json(Method::POST, "/v1/tokens", Some(&body)))?;
    out.say(format!("Token {} ({}), shown once:", t.id, t.name));
    out.say(&t.token);
    Ok(
        json!({"command": "tokens create", "id": t.id, "name": t.name, "app_id": t.app_id, "scopes": t.scopes, "token": t.token}),
    )
}
