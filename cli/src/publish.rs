//! Publishing builds to a server: Appflow's `live-update upload-artifact`
//! and `register-artifact`.

use crate::client::ServerError;
use crate::keyfile::{load_rsa_signing_key, load_signing_key};
use crate::output::{Failure, Output};
use crate::progress;
use crate::remote::{deploy_to, plain_deploy, runtime, Remote};
use anyhow::{anyhow, bail, Context};
use clap::{Args, ValueEnum};
use futures::StreamExt;
use liveship_core::artifact::{self, BundleRequest};
use liveship_core::domain::{AppId, BuildVersion};
use liveship_core::env;
use liveship_core::hash::Sha256Digest;
use liveship_core::manifest::{Manifest, ManifestDocument};
use liveship_core::model::{ArtifactType, NativeLimits};
use liveship_core::tree;
use liveship_core::wire::{
    FileRef, RegisterBuild, RegisteredBuild, UploadsRequest, UploadsResponse,
};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;

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
    /// Branch or tag the build came from.
    #[arg(long)]
    commit_ref: Option<String>,
    /// Commit SHA the build came from (its first 12 characters are the
    /// default version label).
    #[arg(long)]
    commit_sha: Option<String>,
    /// Commit message (shown in `liveship builds list`).
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
    /// With --channel: create the channel if it does not exist (otherwise a
    /// misspelt channel is an error, not a new channel).
    #[arg(long, requires = "channel")]
    create_channel: bool,
    /// With --channel: staged rollout percentage (1-100).
    #[arg(long, value_name = "PCT", requires = "channel", value_parser = clap::value_parser!(u8).range(1..=100))]
    rollout: Option<u8>,
    /// With --channel: devices must apply this build at once (to mark a
    /// build without deploying it, use `liveship builds set-mandatory`).
    #[arg(long, requires = "channel")]
    mandatory: bool,
    /// Parallel uploads.
    #[arg(long, default_value_t = 8)]
    parallel: usize,
    /// RSA private key (path or PEM) that signs the zip for the stock
    /// Capawesome plugin's `publicKey` check; needed when the app has an
    /// RSA public key. The signature is made here, never on the server.
    #[arg(long, value_name = "KEY", env = env::RSA_SIGNING_KEY, hide_env_values = true, allow_hyphen_values = true)]
    rsa_signing_key: Option<String>,
    #[command(flatten)]
    remote: Remote,
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
    /// With a zip artifact: RSA private key (path or PEM) that signs the zip
    /// for the stock Capawesome plugin (the zip is read from beside the
    /// --manifest, where bundle-artifact wrote both).
    #[arg(long, value_name = "KEY", env = env::RSA_SIGNING_KEY, hide_env_values = true, allow_hyphen_values = true)]
    rsa_signing_key: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

/// Explains a 409 on a version that came from the commit SHA.
fn version_hint(e: anyhow::Error, from_commit: Option<&BuildVersion>) -> anyhow::Error {
    let taken = e
        .downcast_ref::<ServerError>()
        .is_some_and(|s| s.status == reqwest::StatusCode::CONFLICT);
    match from_commit {
        Some(v) if taken => e.context(format!(
            "the version {v} came from --commit-sha (its first 12 characters), and that version \
             already holds other files; give this build its own label with --version"
        )),
        _ => e,
    }
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

pub fn upload_artifact(a: UploadArgs, out: &Output) -> Result<Value, Failure> {
    let api = a.remote.api()?;
    let key_arg = a.signing_key.as_deref().ok_or_else(|| {
        anyhow!(
            "upload-artifact needs --signing-key (or {})",
            env::SIGNING_KEY
        )
    })?;
    let key = load_signing_key(key_arg)?;
    let rsa_key = a
        .rsa_signing_key
        .as_deref()
        .map(load_rsa_signing_key)
        .transpose()?;
    let scan = tree::scan(&a.build_dir)?;
    for s in &scan.skipped {
        out.note(format!("skipped {} ({})", s.path, s.reason));
    }
    let from_commit = a.build_version.is_none()
        && a.commit
            .commit_sha
            .as_deref()
            .is_some_and(|s| !s.is_empty());
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
    let zip_rsa_signature = rsa_key
        .as_ref()
        .map(|k| k.sign_digest(&report.zip.sha256))
        .transpose()?;
    // The same key also encrypts the zip for capgo devices with a
    // `publicKey` (2048-bit keys: the plugin insists on 256-byte values).
    let capgo = match &rsa_key {
        Some(k) if k.public().bits() == 2048 => {
            let zip = std::fs::read(&zip_path).context("reading the zip")?;
            let enc = k.capgo_encrypt(&zip)?;
            let path = tmp.path().join("live-update.capgo.zip");
            std::fs::write(&path, &enc.bytes).context("writing the encrypted zip")?;
            Some((
                LocalFile {
                    sha256: Sha256Digest::of(&enc.bytes),
                    size: enc.bytes.len() as u64,
                    path,
                },
                enc,
            ))
        }
        Some(k) => {
            out.note(format!(
                "the RSA key has {} bits: zips are signed for Capawesome, but capgo encryption needs a 2048-bit key",
                k.public().bits()
            ));
            None
        }
        None => None,
    };
    let capgo_encrypted = capgo
        .as_ref()
        .map(|(f, enc)| liveship_core::model::CapgoEncrypted {
            sha256: f.sha256,
            size: f.size,
            session_key: enc.session_key.clone(),
            checksum: enc.checksum.clone(),
        });
    let zip_file = LocalFile {
        sha256: report.zip.sha256,
        size: report.zip.size,
        path: zip_path,
    };
    let by_path: HashMap<&str, &PathBuf> = scan
        .files
        .iter()
        .map(|f| (f.path.as_str(), &f.abs))
        .collect();
    let files = match kind {
        ArtifactType::Manifest => {
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
            files.extend(capgo.map(|(f, _)| f));
            files.sort_by_key(|f| f.sha256);
            files.dedup_by_key(|f| f.sha256);
            files
        }
        ArtifactType::Zip => std::iter::once(zip_file)
            .chain(capgo.map(|(f, _)| f))
            .collect(),
    };
    // Brotli copies of the text files, for devices that can take them.
    let copies = match kind {
        ArtifactType::Manifest => {
            let list: Vec<(&str, Sha256Digest, &std::path::Path)> = report
                .manifest
                .files
                .iter()
                .filter_map(|e| {
                    by_path
                        .get(e.path.as_str())
                        .map(|abs| (e.path.as_str(), e.sha256, abs.as_path()))
                })
                .collect();
            let dir = tmp.path().join("brotli");
            std::fs::create_dir_all(&dir).context("creating a temporary directory")?;
            crate::compress::make_copies(&list, &dir)?
        }
        ArtifactType::Zip => Vec::new(),
    };
    let doc = report.manifest.sign(&key);
    // For manifest builds the counts are of the build's files; the zip,
    // also uploaded, is reported on its own.
    let zip_sha = (kind == ArtifactType::Manifest).then_some(report.zip.sha256);
    let rt = runtime()?;
    let (registered, uploaded, uploaded_bytes, already, channel, zip_uploaded, copies_uploaded) =
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
                brotli: copies.iter().map(|(c, _)| *c).collect(),
            };
            let plan: UploadsResponse = api
                .json(Method::POST, &format!("/v1/apps/{app}/uploads"), Some(&req))
                .await?;
            let local: HashMap<Sha256Digest, &LocalFile> =
                files.iter().map(|f| (f.sha256, f)).collect();
            let copy_paths: HashMap<Sha256Digest, PathBuf> =
                copies.iter().map(|(c, p)| (c.of, p.clone())).collect();
            let bytes: u64 = plan.missing.iter().map(|t| t.size).sum();
            let bar = progress::for_terminal(out.json, "uploading");
            bar.start(bytes);
            let results: Vec<anyhow::Result<()>> = futures::stream::iter(plan.missing.iter())
                .map(|target| {
                    let api = api.clone();
                    let bar = &bar;
                    let path = match target.brotli_of {
                        Some(of) => copy_paths.get(&of).cloned(),
                        None => local.get(&target.sha256).map(|f| f.path.clone()),
                    }
                    .ok_or_else(|| anyhow!("the server asked for a file this build does not have"));
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
                zip_rsa_signature: zip_rsa_signature.clone(),
                capgo_encrypted: capgo_encrypted.clone(),
            };
            let registered: RegisteredBuild = api
                .json(Method::POST, &format!("/v1/apps/{app}/builds"), Some(&body))
                .await
                .map_err(|e| version_hint(e, from_commit.then_some(&version)))?;
            let channel = match &a.channel {
                Some(c) => Some(
                    deploy_to(
                        &api,
                        app,
                        c,
                        &plain_deploy(registered.build.id, a.rollout, a.create_channel),
                    )
                    .await?,
                ),
                None => None,
            };
            // The artifacts beside the build's files (the zip of a manifest
            // build, the capgo-encrypted zip) are not counted as its files.
            let extras: Vec<Sha256Digest> = zip_sha
                .into_iter()
                .chain(capgo_encrypted.as_ref().map(|c| c.sha256))
                .collect();
            let extras_missing = plan
                .missing
                .iter()
                .filter(|t| t.brotli_of.is_none() && extras.contains(&t.sha256))
                .count();
            let copies_missing = plan
                .missing
                .iter()
                .filter(|t| t.brotli_of.is_some())
                .count();
            let zip_uploaded = zip_sha.is_some_and(|z| plan.missing.iter().any(|t| t.sha256 == z));
            anyhow::Ok((
                registered,
                plan.missing.len() - extras_missing - copies_missing,
                bytes,
                plan.already_stored
                    - (extras.len() - extras_missing)
                    - (copies.len() - copies_missing),
                channel,
                zip_uploaded,
                copies_missing,
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
        "brotli_copies": copies.len(),
        "brotli_uploaded": copies_uploaded,
        "brotli_bytes": copies.iter().map(|(c, _)| c.size).sum::<u64>(),
        "already_stored": already,
        "zip_uploaded": zip_uploaded,
        "files": b.file_count,
        "channel": channel.as_ref().map(|c| &c.name),
        "rollout_percent": channel.as_ref().and_then(|c| c.current.as_ref()).map(|d| d.rollout_percent),
    }))
}

pub fn register_artifact(a: RegisterArgs, out: &Output) -> Result<Value, Failure> {
    let api = a.remote.api()?;
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
    // The zip's signature is over its bytes, whose SHA-256 the manifest
    // beside it names: signing that digest needs no copy of the zip.
    let zip_rsa_signature = match a.rsa_signing_key.as_deref() {
        None => None,
        Some(k) => {
            let key = load_rsa_signing_key(k)?;
            let zip = doc
                .decode_unverified()
                .context("reading the manifest")?
                .zip
                .ok_or_else(|| {
                    anyhow!("--rsa-signing-key signs a zip: give --artifact-type zip and the .manifest.json bundle-artifact wrote beside it")
                })?;
            Some(key.sign_digest(&zip.sha256)?)
        }
    };
    let body = RegisterBuild {
        manifest: doc,
        zip_rsa_signature,
        capgo_encrypted: None,
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
